// msgd panel: the templates a channel can send, shared by the composer
// (app.js) and the campaign form (campaigns.js). Loaded before both (plain
// ES2020). The organization's local templates (GET /v1/templates: a body
// with {{name}} placeholders msgd fills) and the channel's provider
// templates as last synced (GET /v1/channels/{name}/templates), APPROVED
// ones only, each with the variables it needs.
'use strict';
window.MsgdTemplates = (function MsgdTemplates() {
	const VARS_MAX = 20;
	const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_.]+)\s*\}\}/g;
	// A local template's variables: its distinct {{names}}, in order.
	const localVars = (body) => [...new Set([...String(body || '').matchAll(PLACEHOLDER)].map((x) => x[1]))];
	// A synced provider template's values: its placeholders in order ({{1}} or
	// {{name}}) over header, body and button URLs, as many as it needs (params).
	function providerVars(t) {
		const texts = [];
		for (const c of t.components || []) {
			if (c.text) texts.push(c.text);
			for (const b of c.buttons || []) if (b.url) texts.push(b.url);
		}
		const names = [...new Set(texts.flatMap((x) => [...x.matchAll(/\{\{([A-Za-z0-9_]+)\}\}/g)].map((m) => m[1])))];
		return Array.from({ length: Math.min(t.params || 0, VARS_MAX) }, (_, i) => names[i] || String(i + 1));
	}
	// Named ({{first_name}}) rather than numbered ({{1}}) variables.
	const isNamed = (vars) => vars.some((n) => !/^\d+$/.test(n));
	// A provider template's body text (its BODY component), '' when none.
	function providerBody(t) {
		const b = (t.components || []).find((c) => String(c.type).toUpperCase() === 'BODY');
		return (b && b.text) || '';
	}
	const plural = (n) => `${n} variable${n === 1 ? '' : 's'}`;
	const providerLabel = (t) => `${t.name} (${t.language}) \u00B7 ${plural(t.params || 0)}`;
	// {local, provider}: the organization's templates and, for a channel
	// whose type has provider templates, its approved ones. A list that
	// cannot be read is empty.
	async function load(api, ch) {
		let local = [];
		let provider = [];
		try { local = (await api('GET', '/v1/templates')).templates || []; } catch { local = []; }
		if (ch && ch.capabilities && ch.capabilities.templates) {
			try {
				const l = await api('GET', `/v1/channels/${encodeURIComponent(ch.name)}/templates`);
				provider = (l.templates || []).filter((t) => t.status === 'APPROVED');
			} catch { provider = []; }
		}
		return { local, provider };
	}
	// The composer's template box (app.js): pick a template, fill its
	// variables with a live preview, send it. ctx: app.js's helpers and state.
	function composer(ctx) {
		const { api, h, $, show, S, send } = ctx;
		const TPL = { load, localVars, providerVars, providerBody, providerLabel, isNamed, PLACEHOLDER };
		async function openTemplates(forced) {
			S.tplMode = forced ? 'forced' : true;
			show('tpl-box', true);
			$('tpl-btn').setAttribute('aria-expanded', 'true');
			const ch = S.cur && S.channels.get(S.cur.channel);
			({ local: S.templates, provider: S.provider } = await TPL.load(api, ch));
			const sel = $('tpl-select');
			const opts = S.templates.map((t, i) => h('option', { value: 'l' + i, text: `${t.name}${t.language ? ` (${t.language})` : ''}` }));
			// The provider's approved templates as last synced, each with how many
			// values it needs; then any other by name.
			if (ch && ch.capabilities && ch.capabilities.templates) {
				opts.push(...S.provider.map((t, i) => h('option', { value: 'p' + i, text: TPL.providerLabel(t) })));
				opts.push(h('option', { value: 'wa', text: 'Provider template\u2026' }));
			}
			sel.replaceChildren(...opts);
			if (!opts.length) sel.append(h('option', { value: '', text: 'No templates' }));
			tplChanged();
			if (!forced) sel.focus();
		}
		function closeTemplates() {
			S.tplMode = false;
			show('tpl-box', false);
			$('tpl-btn').setAttribute('aria-expanded', 'false');
		}
		const providerOf = (v) => (v && v[0] === 'p' ? S.provider[Number(v.slice(1))] : null);
		function tplChanged() {
			const v = $('tpl-select').value;
			const wa = v === 'wa';
			show('tpl-wa', wa);
			const box = $('tpl-vars');
			let names = [];
			const pt = providerOf(v);
			if (wa) names = Array.from({ length: Math.max(0, Math.min(10, Number($('tpl-count').value) || 0)) }, (_, i) => String(i + 1));
			else if (pt) names = TPL.providerVars(pt);
			else if (v) names = TPL.localVars(S.templates[Number(v.slice(1))].body);
			const old = new Map([...box.querySelectorAll('input')].map((i) => [i.dataset.name, i.value]));
			box.replaceChildren(...names.flatMap((n, i) => [
				h('label', { for: 'tplv' + i, text: wa || pt ? `{{${n}}}` : n }),
				h('input', { id: 'tplv' + i, 'data-name': n, value: old.get(n) || '', oninput: tplPreview }),
			]));
			tplPreview();
		}
		function tplPreview() {
			const v = $('tpl-select').value;
			const vals = Object.fromEntries([...$('tpl-vars').querySelectorAll('input')].map((i) => [i.dataset.name, i.value]));
			const pt = providerOf(v);
			const body = pt ? TPL.providerBody(pt) : v && v !== 'wa' ? S.templates[Number(v.slice(1))].body : '';
			$('tpl-preview').textContent = body ? body.replace(TPL.PLACEHOLDER, (all, n) => vals[n] || all) : '';
		}
		async function sendTemplate() {
			const v = $('tpl-select').value;
			if (!v) return;
			const inputs = [...$('tpl-vars').querySelectorAll('input')];
			let template;
			const pt = providerOf(v);
			if (pt) {
				template = { name: pt.name, language: pt.language };
				const named = TPL.isNamed(inputs.map((i) => i.dataset.name));
				if (inputs.length) template.variables = named ? Object.fromEntries(inputs.map((i) => [i.dataset.name, i.value])) : inputs.map((i) => i.value);
			} else if (v === 'wa') {
				const name = $('tpl-name').value.trim();
				if (!name) { $('composer-error').textContent = 'Template name is required.'; $('tpl-name').focus(); return; }
				template = { name, language: $('tpl-lang').value.trim() || 'en_US' };
				if (inputs.length) template.variables = inputs.map((i) => i.value);
			} else {
				const t = S.templates[Number(v.slice(1))];
				template = { name: t.name };
				if (t.language) template.language = t.language;
				if (inputs.length) template.variables = Object.fromEntries(inputs.map((i) => [i.dataset.name, i.value]));
			}
			$('tpl-send').disabled = true;
			const m = await send({ type: 'template', template });
			$('tpl-send').disabled = false;
			if (m) { for (const i of inputs) i.value = ''; if (S.tplMode !== 'forced') { closeTemplates(); $('composer-text').focus(); } }
		}
		return { openTemplates, closeTemplates, tplChanged, sendTemplate };
	}
	return { load, localVars, providerVars, providerBody, providerLabel, isNamed, plural, PLACEHOLDER, composer };
})();
