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
	return { load, localVars, providerVars, providerBody, providerLabel, isNamed, plural, PLACEHOLDER };
})();
