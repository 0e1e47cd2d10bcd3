/* docs.js - GET /docs: renders msgd's OpenAPI document (/openapi.json) as a
 * browsable reference: areas (tags), routes with their permission,
 * parameters, request body and answers, schemas expanded ($ref resolved),
 * and a search box. Everything is built with DOM calls and textContent (no
 * HTML from the document is ever parsed); nothing is fetched but
 * /openapi.json. */
'use strict';

(function () {
	const MAX_DEPTH = 8;   /* schema nesting shown before "…" */
	let doc = null;

	function el(tag, cls, text) {
		const e = document.createElement(tag);
		if (cls) e.className = cls;
		if (text !== undefined && text !== null) e.textContent = String(text);
		return e;
	}

	function resolve(ref) {
		if (typeof ref !== 'string' || !ref.startsWith('#/')) return null;
		let cur = doc;
		for (const part of ref.slice(2).split('/')) {
			if (cur === null || typeof cur !== 'object') return null;
			cur = cur[part.replace(/~1/g, '/').replace(/~0/g, '~')];
		}
		return cur ?? null;
	}

	function refName(ref) {
		return ref.split('/').pop();
	}

	function typeText(s) {
		if (s.const !== undefined) return JSON.stringify(s.const);
		let t = Array.isArray(s.type) ? s.type.join(' | ') : (s.type || 'any');
		if (s.type === 'array' || (Array.isArray(s.type) && s.type.includes('array')))
			t += s.items ? ' of ' + (s.items.$ref ? refName(s.items.$ref) : typeText(s.items)) : '';
		return t;
	}

	function facts(s) {
		const f = [];
		if (s.enum) f.push('one of ' + s.enum.map((v) => JSON.stringify(v)).join(', '));
		for (const k of ['minimum', 'maximum', 'minLength', 'maxLength', 'minItems', 'maxItems', 'pattern', 'default'])
			if (s[k] !== undefined) f.push(k + ' ' + JSON.stringify(s[k]));
		if (s.additionalProperties === false) f.push('no other fields');
		return f.join('; ');
	}

	/* A schema as a nested list: one line per property. */
	function schemaView(s, depth, seen) {
		const box = el('div', 'schema');
		if (!s || typeof s !== 'object') return box;
		if (s.$ref) {
			const name = refName(s.$ref);
			const target = resolve(s.$ref);
			box.appendChild(el('span', 'ref', name));
			if (target && depth < MAX_DEPTH && !seen.has(s.$ref)) {
				const inner = new Set(seen);
				inner.add(s.$ref);
				box.appendChild(schemaView(target, depth + 1, inner));
			} else if (seen.has(s.$ref)) {
				box.appendChild(el('span', 'muted', ' (as above)'));
			}
			return box;
		}
		for (const key of ['oneOf', 'anyOf', 'allOf']) {
			if (!Array.isArray(s[key])) continue;
			const list = el('ol', 'alts');
			box.appendChild(el('div', 'muted', key === 'allOf' ? 'all of:' : 'one of:'));
			for (const alt of s[key]) {
				const li = el('li');
				li.appendChild(schemaView(alt, depth + 1, seen));
				list.appendChild(li);
			}
			box.appendChild(list);
			return box;
		}
		const head = el('div', 'shead');
		head.appendChild(el('span', 'type', typeText(s)));
		const f = facts(s);
		if (f) head.appendChild(el('span', 'facts', ' ' + f));
		if (s.description) head.appendChild(el('span', 'desc', ' — ' + s.description));
		box.appendChild(head);
		if (depth >= MAX_DEPTH) return box;
		if (s.properties && Object.keys(s.properties).length) {
			const req = new Set(s.required || []);
			const list = el('ul', 'props');
			for (const [name, sub] of Object.entries(s.properties)) {
				const li = el('li');
				li.appendChild(el('code', 'pname', name));
				if (req.has(name)) li.appendChild(el('span', 'req', ' required'));
				li.appendChild(schemaView(sub, depth + 1, seen));
				list.appendChild(li);
			}
			box.appendChild(list);
		}
		if (s.additionalProperties && typeof s.additionalProperties === 'object') {
			const li = el('div', 'props');
			li.appendChild(el('code', 'pname', '<any key>'));
			li.appendChild(schemaView(s.additionalProperties, depth + 1, seen));
			box.appendChild(li);
		}
		if (s.items && (s.items.$ref || s.items.properties || s.items.oneOf)) {
			const li = el('div', 'props');
			li.appendChild(el('span', 'muted', 'each item: '));
			li.appendChild(schemaView(s.items, depth + 1, seen));
			box.appendChild(li);
		}
		return box;
	}

	function contentView(content) {
		const box = el('div');
		for (const [type, media] of Object.entries(content || {})) {
			box.appendChild(el('div', 'ctype', type));
			if (media.schema) box.appendChild(schemaView(media.schema, 0, new Set()));
		}
		return box;
	}

	function paramsView(params) {
		const table = el('table', 'params');
		const hr = el('tr');
		for (const h of ['name', 'in', 'type', '']) hr.appendChild(el('th', '', h));
		table.appendChild(hr);
		for (let p of params) {
			if (p.$ref) p = resolve(p.$ref) || {};
			const tr = el('tr');
			const name = el('td');
			name.appendChild(el('code', '', p.name));
			if (p.required) name.appendChild(el('span', 'req', ' required'));
			tr.appendChild(name);
			tr.appendChild(el('td', '', p.in));
			const s = p.schema || {};
			tr.appendChild(el('td', '', typeText(s) + (facts(s) ? ' (' + facts(s) + ')' : '')));
			tr.appendChild(el('td', 'desc', p.description || ''));
			table.appendChild(tr);
		}
		return table;
	}

	function operationView(method, path, o) {
		const d = el('details', 'op');
		d.dataset.route = method.toUpperCase() + ' ' + path;
		d.dataset.search = [method, path, o.summary, o.description, (o.tags || []).join(' '), o['x-msgd-permission']]
			.join(' ').toLowerCase();
		const sum = el('summary');
		sum.appendChild(el('span', 'method m-' + method, method.toUpperCase()));
		sum.appendChild(el('code', 'path', path));
		sum.appendChild(el('span', 'summary', o.summary || ''));
		d.appendChild(sum);
		const body = el('div', 'opbody');
		if (o.description) body.appendChild(el('p', '', o.description));
		const perm = o['x-msgd-permission'];
		body.appendChild(el('p', 'perm', perm === 'none' ? 'Public: no authentication.' :
			'Needs the permission ' + perm + ' (bearer token, or session cookie' +
			(method === 'get' ? ')' : ' with X-Msgd-CSRF)') + '.'));
		if (o['x-msgd-coming']) body.appendChild(el('p', 'muted', 'Added by a branch not merged yet.'));
		if (o.parameters && o.parameters.length) {
			body.appendChild(el('h4', '', 'Parameters'));
			body.appendChild(paramsView(o.parameters));
		}
		if (o.requestBody) {
			body.appendChild(el('h4', '', 'Request body' + (o.requestBody.required ? ' (required)' : '')));
			body.appendChild(contentView(o.requestBody.content));
		}
		body.appendChild(el('h4', '', 'Responses'));
		const list = el('dl', 'responses');
		for (let [code, r] of Object.entries(o.responses || {})) {
			if (r.$ref) r = resolve(r.$ref) || {};
			const dt = el('dt', 'code c' + code[0], code);
			const dd = el('dd');
			dd.appendChild(el('div', '', r.description || ''));
			if (r.content && !(o.responses[code].$ref)) dd.appendChild(contentView(r.content));
			list.appendChild(dt);
			list.appendChild(dd);
		}
		body.appendChild(list);
		body.appendChild(el('p', 'muted', 'Errors are {"error":{"code","message","field"?}} (schema Error).'));
		d.appendChild(body);
		return d;
	}

	function render() {
		const main = document.getElementById('ops');
		const nav = document.getElementById('tags');
		main.textContent = '';
		const byTag = new Map((doc.tags || []).map((t) => [t.name, []]));
		for (const [path, item] of Object.entries(doc.paths || {}))
			for (const [method, o] of Object.entries(item)) {
				const tag = (o.tags && o.tags[0]) || 'other';
				if (!byTag.has(tag)) byTag.set(tag, []);
				byTag.get(tag).push(operationView(method, path, o));
			}
		const intro = el('section', 'intro');
		intro.appendChild(el('h2', '', (doc.info && doc.info.title) || 'API'));
		intro.appendChild(el('p', '', doc.info && doc.info.description));
		main.appendChild(intro);
		for (const [tag, opsOf] of byTag) {
			if (!opsOf.length) continue;
			const id = 'tag-' + tag.replace(/[^a-z0-9]+/gi, '-');
			const sec = el('section', 'tag');
			sec.id = id;
			sec.appendChild(el('h2', '', tag));
			for (const o of opsOf) sec.appendChild(o);
			main.appendChild(sec);
			const a = el('a', '', tag + ' (' + opsOf.length + ')');
			a.href = '#' + id;
			nav.appendChild(a);
		}
		const schemas = el('section', 'tag');
		schemas.id = 'schemas';
		schemas.appendChild(el('h2', '', 'Schemas'));
		for (const [name, s] of Object.entries((doc.components && doc.components.schemas) || {})) {
			const d = el('details', 'op');
			d.dataset.search = ('schema ' + name).toLowerCase();
			const sum = el('summary');
			sum.appendChild(el('code', 'path', name));
			d.appendChild(sum);
			d.appendChild(schemaView(s, 0, new Set(['#/components/schemas/' + name])));
			schemas.appendChild(d);
		}
		main.appendChild(schemas);
		const a = el('a', '', 'Schemas');
		a.href = '#schemas';
		nav.appendChild(a);
	}

	function filter(q) {
		const words = q.toLowerCase().split(/\s+/).filter(Boolean);
		for (const d of document.querySelectorAll('details.op')) {
			const hit = words.every((w) => d.dataset.search.includes(w));
			d.hidden = !hit;
			if (words.length && hit) d.open = true;
		}
		for (const sec of document.querySelectorAll('section.tag'))
			sec.hidden = !sec.querySelector('details.op:not([hidden])');
	}

	async function load() {
		const status = document.getElementById('status');
		try {
			const res = await fetch('/openapi.json', { credentials: 'same-origin' });
			if (!res.ok) throw new Error('HTTP ' + res.status);
			doc = await res.json();
		} catch (e) {
			status.textContent = 'Could not load /openapi.json: ' + e.message;
			return;
		}
		render();
		const search = document.getElementById('search');
		search.addEventListener('input', () => filter(search.value));
		if (search.value) filter(search.value);
	}

	document.addEventListener('DOMContentLoaded', load);
})();
