// msgd panel: campaigns (issue 14). Loaded before app.js (plain ES2020),
// which creates it with its helpers.
// - #/campaigns: every campaign with a progress bar (sent, failed, skipped
//   and cancelled against the total; queued is what is left), its counters
//   and Pause / Resume / Cancel (with messages:send); campaign.* events keep
//   the bars live.
// - A campaign from an upload: the file (CSV or XLSX) is uploaded
//   (POST /v1/files) and imported (POST /v1/imports: the phone column, every
//   other column kept as a variable), the import's counts and first row
//   errors are shown, and only then "Send to N recipients" creates the
//   campaign from the import's valid rows.
// - What it sends: a text, or a template picked from the channel's approved
//   provider templates and the organization's local ones (templates.js,
//   shared with the composer), refreshed when the channel changes. Each
//   variable the template needs gets a select of the import's columns, and
//   Send stays disabled, saying why, until every one is mapped.
// - #/campaigns/ID: the campaign, and its recipients page by page, filtered
//   by status (failed ones show the provider's error, skipped ones why).
'use strict';
window.MsgdCampaigns = function MsgdCampaigns(ctx) {
	const { api, h, $, show, S } = ctx;
	const TPL = window.MsgdTemplates;
	const FINAL = ['completed', 'cancelled'];
	const ERRORS_SHOWN = 20;
	const PAGE = 100;
	const C = { list: new Map(), detail: null, next: null, filter: '', imp: null, tpls: { local: [], provider: [] }, tplSeq: 0 };
	const enc = encodeURIComponent;

	const n = (c, k) => (c.counters && c.counters[k]) || 0;
	// The bar: segments by share of the total.
	function bar(c) {
		const total = n(c, 'total') || 1;
		// Widths through the CSSOM: the page's CSP refuses style attributes.
		const seg = (k, cls) => { const el = h('span', { class: `seg ${cls}` }); el.style.width = `${(100 * n(c, k) / total).toFixed(2)}%`; return el; };
		const done = n(c, 'sent') + n(c, 'failed') + n(c, 'skipped') + n(c, 'cancelled');
		return h('div', { class: 'camp-bar', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': String(n(c, 'total')),
			'aria-valuenow': String(done), 'aria-label': `${c.name}: ${done} of ${n(c, 'total')} done` },
		seg('sent', 'sent'), seg('failed', 'failed'), seg('skipped', 'skipped'), seg('cancelled', 'skipped'));
	}
	function countersText(c) {
		const parts = ['sent', 'delivered', 'read', 'failed', 'replied', 'skipped', 'queued'].map((k) => `${k} ${n(c, k)}`);
		return `${parts.join(' \u00b7 ')} of ${n(c, 'total')}`;
	}
	function actions(c, err) {
		if (!S.canSend || FINAL.includes(c.status)) return null;
		const btn = (verb, label) => h('button', { type: 'button', class: 'icon', 'data-action': verb, text: label,
			onclick: () => control(c, verb, err) });
		return h('span', { class: 'camp-actions' },
			c.status === 'paused' ? btn('resume', 'Resume') : btn('pause', 'Pause'), btn('cancel', 'Cancel'));
	}
	async function control(c, verb, err) {
		err.textContent = '';
		if (verb === 'cancel' && !window.confirm(`Cancel campaign ${c.name}? Its waiting messages are not sent.`)) return;
		try {
			put(await api('POST', `/v1/campaigns/${c.id}/${verb}`, {}));
			ctx.announce(`${c.name}: ${verb}d`);
		} catch (e) {
			err.textContent = e.status === 403 ? `Only someone who may send can ${verb} a campaign.` : `Could not ${verb}: ${e.message}`;
		}
	}
	function rowEl(c) {
		const err = h('span', { class: 'error small', role: 'alert' });
		return h('tr', { 'data-campaign': c.id },
			h('td', {}, h('a', { href: `#/campaigns/${c.id}`, text: c.name })),
			h('td', { text: c.channel }),
			h('td', { class: 'camp-status', text: c.status }),
			h('td', { class: 'camp-progress' }, bar(c), h('span', { class: 'small muted camp-counters', text: countersText(c) })),
			h('td', {}, actions(c, err), err));
	}
	function paintList() {
		const rows = [...C.list.values()].sort((a, b) => b.id - a.id);
		$('camp-list').replaceChildren(...rows.map(rowEl));
		show('camp-empty', rows.length === 0);
	}
	function paintDetail() {
		const c = C.detail;
		if (!c) return;
		const err = h('span', { class: 'error small', role: 'alert' });
		$('camp-title').textContent = c.name;
		$('camp-head').replaceChildren(h('p', {}, `${c.channel} \u00b7 `, h('strong', { class: 'camp-status', text: c.status }),
			c.rate ? ` \u00b7 ${c.rate} a minute` : '', ' ', actions(c, err), err),
		bar(c), h('p', { class: 'small camp-counters', text: countersText(c) }),
		...(Object.keys((c.counters && c.counters.skipped_reasons) || {}).length
			? [h('p', { class: 'small muted', text: 'Skipped: ' + Object.entries(c.counters.skipped_reasons).map(([k, v]) => `${k.replace(/_/g, ' ')} ${v}`).join(', ') })] : []));
	}
	// A campaign read or changed: the list and the open detail follow.
	function put(c) {
		if (!c || !c.id) return;
		C.list.set(c.id, c);
		if (!$('campaigns').hidden) paintList();
		if (C.detail && C.detail.id === c.id) {
			const was = C.detail;
			C.detail = c;
			paintDetail();
			// Recipients made or moved on since the page was read (one opened
			// while "creating" has none yet): read them again.
			if (was.created !== c.created || was.status !== c.status) loadRecipients(true);
		}
	}

	async function loadList() {
		try {
			const j = await api('GET', '/v1/campaigns?limit=200');
			C.list = new Map(j.campaigns.map((c) => [c.id, c]));
			paintList();
		} catch (e) { $('camp-error').textContent = `Could not read campaigns: ${e.message}`; }
	}
	async function loadDetail(id) {
		C.detail = null;
		C.next = null;
		$('camp-rcpts').replaceChildren();
		$('camp-title').textContent = `Campaign ${id}`;
		$('camp-head').replaceChildren();
		try { C.detail = await api('GET', `/v1/campaigns/${id}`); } catch (e) { $('camp-head').replaceChildren(h('p', { class: 'error', text: e.message })); return; }
		paintDetail();
		loadRecipients(true);
	}
	async function loadRecipients(reset) {
		const c = C.detail;
		if (!c) return;
		const q = new URLSearchParams({ limit: String(PAGE) });
		if (C.filter) q.set('status', C.filter);
		if (!reset && C.next !== null) q.set('after', String(C.next));
		try {
			const j = await api('GET', `/v1/campaigns/${c.id}/recipients?${q}`);
			const rows = j.recipients.map((r) => h('tr', { 'data-idx': r.idx, 'data-status': r.status },
				h('td', { text: String(r.idx + 1) }), h('td', { text: r.to }), h('td', { text: r.status }),
				h('td', { class: 'small', text: r.skip_reason ? r.skip_reason.replace(/_/g, ' ')
					: r.error ? `${r.error.code != null ? r.error.code + ' ' : ''}${r.error.title || ''}${r.error.detail ? ': ' + r.error.detail : ''}` : '' }),
				h('td', {}, r.message_id ? h('span', { class: 'small muted', text: `message ${r.message_id}` }) : null)));
			if (reset) $('camp-rcpts').replaceChildren(...rows);
			else $('camp-rcpts').append(...rows);
			C.next = j.next;
			show('camp-more', j.next !== null);
			show('camp-rcpts-empty', reset && rows.length === 0);
		} catch (e) { $('camp-rcpts-error').textContent = `Could not read recipients: ${e.message}`; }
	}

	// ------------------------------------------------------- templates
	// The template an option names: {t, local, vars}, or null for a text.
	function pick(v) {
		const t = v && (v[0] === 'p' ? C.tpls.provider : C.tpls.local)[Number(v.slice(1))];
		if (!t) return null;
		const local = v[0] === 'l';
		return { t, local, vars: local ? TPL.localVars(t.body) : TPL.providerVars(t) };
	}
	const chosen = () => pick($('camp-tpl').value);
	const tplKey = (c) => (c ? `${c.local ? 'l' : 'p'}/${c.t.name}/${c.t.language || ''}` : '');
	// The channel's templates, read again when the channel changes; the
	// template picked stays picked when the new list has it.
	async function loadTemplates() {
		const seq = ++C.tplSeq;
		const was = tplKey(chosen());
		const tpls = await TPL.load(api, S.channels.get($('camp-channel').value));
		if (seq !== C.tplSeq) return;
		C.tpls = tpls;
		const opt = (value, text) => h('option', { value, text });
		const groups = [opt('', 'Text')];
		if (tpls.provider.length) groups.push(h('optgroup', { label: `Approved on ${$('camp-channel').value}` },
			...tpls.provider.map((t, i) => opt('p' + i, TPL.providerLabel(t)))));
		if (tpls.local.length) groups.push(h('optgroup', { label: 'Local templates' },
			...tpls.local.map((t, i) => {
				const vars = TPL.localVars(t.body);
				return opt('l' + i, `${t.name}${t.language ? ` (${t.language})` : ''} \u00B7 ${vars.length ? vars.map((n) => `{{${n}}}`).join(', ') : 'no variables'}`);
			})));
		$('camp-tpl').replaceChildren(...groups);
		const keep = was && [...$('camp-tpl').options].find((o) => tplKey(pick(o.value)) === was);
		$('camp-tpl').value = keep ? keep.value : '';
		tplChanged();
	}
	function tplChanged() {
		const c = chosen();
		show('camp-text-row', !c);
		$('camp-tpl-info').textContent = c ? (c.vars.length
			? `needs ${TPL.plural(c.vars.length)}: ${c.vars.map((n) => `{{${n}}}`).join(', ')}` : 'needs no variables') : '';
		const body = c ? (c.local ? c.t.body : TPL.providerBody(c.t)) : '';
		$('camp-tpl-body').textContent = body;
		show('camp-tpl-body', !!body);
		paintVars();
	}
	// One select of the import's columns per variable (the phone column is
	// not a variable); a column named as the variable is picked for it.
	function paintVars() {
		const c = chosen();
		const imp = C.imp && C.imp.status === 'validated' ? C.imp : null;
		const on = !!(c && imp && c.vars.length);
		show('camp-vars', on);
		if (!on) { $('camp-vars-rows').replaceChildren(); checkReady(); return; }
		const phone = imp.mapping && imp.mapping.phone;
		const cols = (imp.columns || []).filter((col) => col !== String(phone));
		const old = new Map([...$('camp-vars-rows').querySelectorAll('select')].map((s) => [s.dataset.name, s.value]));
		$('camp-vars-rows').replaceChildren(...c.vars.map((n, i) => {
			const sel = h('select', { id: `campv${i}`, 'data-name': n, onchange: checkReady },
				h('option', { value: '', text: '(choose a column)' }), ...cols.map((col) => h('option', { value: col, text: col })));
			const prev = old.get(n);
			sel.value = prev && cols.includes(prev) ? prev : cols.includes(n) ? n : '';
			return h('div', { class: 'camp-var' }, h('label', { for: `campv${i}`, text: `{{${n}}}` }), sel);
		}));
		checkReady();
	}
	// Send is enabled once the content is complete; else it says what is missing.
	function checkReady() {
		const c = chosen();
		let why = '';
		if (c) {
			const missing = [...$('camp-vars-rows').querySelectorAll('select')].filter((s) => !s.value).map((s) => `{{${s.dataset.name}}}`);
			if (missing.length) why = `Choose a column for ${missing.join(', ')}.`;
		} else if (!$('camp-text').value.trim()) {
			why = 'Write the text, or pick a template.';
		}
		$('camp-send').disabled = !!why;
		$('camp-send-why').textContent = why;
	}

	// ------------------------------------------------ from an upload
	async function upload(file) {
		const headers = { Accept: 'application/json', 'Content-Type': file.type || 'application/octet-stream' };
		if (S.csrf) headers['X-Msgd-CSRF'] = S.csrf;
		if (S.bearer) headers.Authorization = 'Bearer ' + S.bearer;
		if (S.org) headers['Msgd-Org'] = S.org;
		const res = await fetch(`/v1/files?filename=${enc(file.name)}`, { method: 'POST', headers, body: file, credentials: 'same-origin' });
		const j = await res.json().catch(() => null);
		if (!res.ok) throw new Error((j && j.error && j.error.message) || `HTTP ${res.status}`);
		return j;
	}
	async function importFile(ev) {
		ev.preventDefault();
		const err = $('camp-form-error');
		err.textContent = '';
		show('camp-import', false);
		show('camp-send', false);
		C.imp = null;
		paintVars();
		const file = $('camp-file').files[0];
		if (!file) { err.textContent = 'Choose a CSV or XLSX file.'; return; }
		$('camp-import-state').textContent = 'Uploading\u2026';
		show('camp-import', true);
		try {
			const f = await upload(file);
			let imp = await api('POST', '/v1/imports', { file_id: f.id, channel: $('camp-channel').value,
				mapping: { phone: $('camp-phone').value.trim() || 'phone' }, unknown_columns: 'keep_as_variables' });
			$('camp-import-state').textContent = 'Checking the rows\u2026';
			while (imp.status === 'parsing') {
				await new Promise((r) => setTimeout(r, 300));
				imp = await api('GET', `/v1/imports/${imp.id}`);
			}
			C.imp = imp;
			if (imp.status !== 'validated') {
				$('camp-import-state').textContent = `The file was refused: ${(imp.error && imp.error.message) || imp.status}`;
				return;
			}
			const k = imp.counts;
			$('camp-import-state').textContent = `${k.rows} rows: ${k.valid} valid, ${k.invalid} invalid, ${k.duplicates} duplicates.`;
			const errs = k.errors ? (await api('GET', `/v1/imports/${imp.id}/errors?limit=${ERRORS_SHOWN}`)).data : [];
			$('camp-import-errors').replaceChildren(...errs.map((e) => h('li', { text: `row ${e.row}${e.column ? `, ${e.column}` : ''}: ${e.message}` })));
			if (k.errors > errs.length) $('camp-import-errors').append(h('li', { class: 'muted', text: `\u2026 and ${k.errors - errs.length} more` }));
			$('camp-send').textContent = `Send to ${k.valid} recipients`;
			show('camp-send', k.valid > 0);
			paintVars();
		} catch (e) {
			$('camp-import-state').textContent = '';
			err.textContent = `Could not import the file: ${e.message}`;
		}
	}
	async function create() {
		const err = $('camp-form-error');
		err.textContent = '';
		const body = { name: $('camp-name').value.trim() || $('camp-file').files[0].name, channel: $('camp-channel').value,
			import_id: C.imp.id };
		const c = chosen();
		if (c) {
			body.template = { name: c.t.name };
			if (c.t.language) body.template.language = c.t.language;
			const sels = [...$('camp-vars-rows').querySelectorAll('select')];
			if (sels.length) body.variables = Object.fromEntries(sels.map((s) => [s.dataset.name, s.value]));
		} else {
			body.text = $('camp-text').value;
		}
		if ($('camp-rate').value) body.rate = Number($('camp-rate').value);
		try {
			const c = await api('POST', '/v1/campaigns', body);
			put(c);
			show('camp-send', false);
			show('camp-import', false);
			$('camp-form').reset();
			C.imp = null;
			tplChanged();
			location.hash = `#/campaigns/${c.id}`;
		} catch (e) {
			err.textContent = `Not created${e.field ? ` (${e.field})` : ''}: ${e.message}`;
		}
	}

	// ---------------------------------------------------------- routing
	// #/campaigns and #/campaigns/ID: true when shown.
	function route(hash) {
		const list = hash === '#/campaigns';
		const m = /^#\/campaigns\/(\d+)$/.exec(hash);
		show('campaigns', list);
		show('campaign', !!m);
		$('nav-campaigns').setAttribute('aria-current', list || m ? 'page' : 'false');
		if (list) {
			show('camp-form', S.canSend);
			const was = $('camp-channel').value;
			$('camp-channel').replaceChildren(...[...S.channels.keys()].sort().map((c) => h('option', { value: c, text: c })));
			if (was && S.channels.has(was)) $('camp-channel').value = was;
			loadTemplates();
			loadList();
		}
		if (m) loadDetail(Number(m[1]));
		return list || !!m;
	}
	// campaign.progress and the lifecycle events: read it again (at most a few a second).
	const pending = new Set();
	let timer = 0;
	function onEvent(e) {
		const id = e.data && e.data.id;
		if (!id || ($('campaigns').hidden && $('campaign').hidden)) return;
		if (e.type === 'campaign.progress' && C.list.has(id)) put({ ...C.list.get(id), status: e.data.status, counters: e.data.counters });
		pending.add(id);
		if (!timer) timer = setTimeout(async () => {
			timer = 0;
			const ids = [...pending];
			pending.clear();
			for (const x of ids) { try { put(await api('GET', `/v1/campaigns/${x}`)); } catch { /* gone */ } }
		}, 250);
	}
	function wire() {
		$('camp-form').addEventListener('submit', importFile);
		$('camp-send').addEventListener('click', create);
		$('camp-tpl').addEventListener('change', tplChanged);
		$('camp-text').addEventListener('input', checkReady);
		// Another channel: its templates, and the file checked again for it
		// (an import validates the phones for one channel).
		$('camp-channel').addEventListener('change', () => {
			if (C.imp && C.imp.channel !== $('camp-channel').value) {
				C.imp = null;
				show('camp-import', false);
			}
			loadTemplates();
		});
		$('camp-filter').addEventListener('change', () => { C.filter = $('camp-filter').value; loadRecipients(true); });
		$('camp-more').addEventListener('click', () => loadRecipients(false));
	}
	return { route, onEvent, wire };
};
