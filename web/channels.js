// msgd panel: channels as their capabilities and connection state describe
// them (GET /v1/channels: capabilities, actions, connection). Loaded before
// app.js (plain ES2020), which creates it with its helpers.
// - The composer offers what the open conversation's channel can send
//   (send_types, replies, reactions) and counts its text against
//   max_text_length; the service window comes from window_hours (app.js).
// - A connection badge (connected green; connecting/pairing amber;
//   disconnected/paused/error red, with the reason) wherever a channel is
//   shown: every element [data-conn-channel] is redrawn when a channel.state
//   event arrives, so they stay live.
// - Connect / Disconnect for channels with actions (admins: channels:write;
//   a 403 says so), and the QR pairing page (#/pair/NAME) for channels whose
//   capabilities say pairing: it connects, shows the code as an image
//   (GET .../qr?format=svg; the raw code and the pairing code when the image
//   cannot load), takes a new one on channel.state events with qr_updated
//   (and every 20 s), and says "Connected" when the phone pairs.
'use strict';
window.MsgdChannels = function MsgdChannels(ctx) {
	const { api, h, $, show, S } = ctx;
	const TONE = { connected: 'ok', connecting: 'wait', pairing: 'wait', disconnected: 'bad', paused: 'bad', error: 'bad' };
	const WORDS = { unknown: 'unknown', connecting: 'connecting\u2026', pairing: 'waiting for pairing', connected: 'connected',
		disconnected: 'disconnected', paused: 'paused', error: 'error' };
	const EMOJI = ['\u{1F44D}', '\u2764\uFE0F', '\u{1F602}', '\u{1F62E}', '\u{1F64F}'];
	const MEDIA = ['image', 'document', 'video', 'audio'];
	const QR_REFRESH_MS = 20_000;

	const chan = (name) => S.channels.get(name) || null;
	const caps = (name) => { const c = chan(name); return (c && c.capabilities) || null; };
	// What the channel can send (a channel not known here: everything, the API decides).
	const can = (name, type) => { const c = caps(name); return !c || (c.send_types || []).includes(type); };
	const canManage = () => !S.me || (S.me.permissions || []).includes('channels:write');
	const conn = (name) => { const c = chan(name); return (c && c.connection) || { state: 'unknown' }; };
	const enc = encodeURIComponent;

	// ------------------------------------------------------------ badges
	// compact: a dot with its words as a tooltip (the conversation list).
	function badge(name, compact) {
		const st = conn(name);
		const s = st.state || 'unknown';
		const words = WORDS[s] || s;
		const tip = `${name}: ${words}${st.reason ? ` \u2014 ${st.reason}` : ''}${st.since ? ` (since ${new Date(st.since).toLocaleString()})` : ''}`;
		return h('span', {
			class: `conn conn-${TONE[s] || 'unknown'}${compact ? ' dot' : ''}`, 'data-conn-channel': name, 'data-state': s,
			'data-compact': compact ? '1' : null, title: tip, 'aria-label': compact ? tip : null,
			text: compact ? '' : words + (TONE[s] === 'bad' && st.reason ? `: ${st.reason}` : ''),
		});
	}
	function paint(name) {
		for (const el of document.querySelectorAll(`[data-conn-channel="${CSS.escape(name)}"]`)) el.replaceWith(badge(name, el.dataset.compact === '1'));
		if (S.pair && S.pair.name === name) pairPaint();
	}
	function setConn(name, connection) {
		const c = chan(name);
		if (!c || !connection) return;
		c.connection = connection;
		paint(name);
	}

	// --------------------------------------------------------- actions
	// Connect / Disconnect (and Pair… when it pairs) for a channel with actions.
	function actionsEl(name) {
		const c = chan(name);
		if (!c || !c.actions || !canManage()) return null;
		const err = h('span', { class: 'error small conn-err', role: 'alert' });
		const btn = (verb, label) => h('button', { type: 'button', class: 'icon', 'data-action': verb, onclick: () => act(name, verb, err), text: label });
		return h('span', { class: 'conn-actions', 'data-actions-channel': name },
			btn('connect', 'Connect'), btn('disconnect', 'Disconnect'),
			c.capabilities && c.capabilities.pairing ? h('a', { href: `#/pair/${enc(name)}`, class: 'pair-link', text: 'Pair\u2026' }) : null, err);
	}
	async function act(name, verb, err) {
		err.textContent = '';
		try {
			// 202: the outcome comes as channel.state events (the reply's
			// connection is the state before, and may be older than one already here).
			await api('POST', `/v1/channels/${enc(name)}/${verb}`, {});
			ctx.announce(`${name}: ${verb} started`);
			return true;
		} catch (e) {
			err.textContent = e.status === 403 ? `Only an admin can ${verb} a channel.`
				: e.code === 'unsupported_by_channel' ? `${name} has no ${verb} action.` : `Could not ${verb} ${name}: ${e.message}`;
			return false;
		}
	}
	// The thread header: the open conversation's channel, its state, its actions.
	function headEl(name) {
		if (!name || !chan(name)) return [];
		return [badge(name, false), actionsEl(name)].filter(Boolean);
	}

	// channel.state {state, reason, qr_updated}, from the event stream.
	async function onState(e) {
		const d = e.data || {};
		const name = e.channel;
		if (!name) return;
		if (!chan(name)) await ctx.loadChannels();
		setConn(name, { state: d.state || 'unknown', reason: d.reason || null, since: e.at || null });
		if (S.pair && S.pair.name === name && d.qr_updated) pairQr();
	}

	// --------------------------------------------------------- composer
	// Show what the open conversation's channel can send.
	function applyComposer(name) {
		const c = caps(name);
		const media = MEDIA.filter((t) => can(name, t));
		const sel = $('attach-type');
		for (const o of sel.options) o.hidden = o.disabled = !media.includes(o.value);
		if (media.length && !media.includes(sel.value)) sel.value = media[0];
		show('attach-btn', media.length > 0);
		if (!media.length) show('attach-row', false);
		show('loc-btn', can(name, 'location'));
		if (!can(name, 'location')) show('loc-row', false);
		S.maxText = (c && c.max_text_length) || 0;
		if (S.replyTo && c && !c.replies) cancelReply();
		counter();
	}
	// The text against max_text_length (code points, as msgd counts): true when it fits.
	function counter() {
		const el = $('text-count');
		const max = S.maxText;
		const n = [...$('composer-text').value].length;
		if (!max) { show(el, false); return true; }
		el.textContent = `${n} / ${max}`;
		el.classList.toggle('over', n > max);
		show(el, n > max * 0.8);
		return n <= max;
	}
	const tooLong = () => `Too long for this channel: at most ${S.maxText} characters.`;
	// An API refusal, said plainly in the composer.
	function sendError(e) {
		const f = e.field ? ` (${e.field})` : '';
		if (e.code === 'unsupported_by_channel') return `Not sent: this channel cannot do that${f}. ${e.message}`;
		if (e.code === 'recipient_blocked') return `Not sent: this contact has blocked the channel; nothing can be sent until they write again. ${e.message}`;
		if (e.code === 'recipient_invalid') return `Not sent: this contact cannot be reached on this channel. ${e.message}`;
		return `Not sent: ${e.message}`;
	}

	// Reply and React under a message, when the channel can.
	function msgActions(m) {
		const name = m.channel || (S.cur && S.cur.channel);
		const c = caps(name);
		if (!S.canSend || !c || !m.provider_message_id || m.type === 'reaction' || m.type === 'system') return null;
		const reply = c.replies ? h('button', { type: 'button', class: 'link act reply', title: 'Reply to this message', onclick: () => startReply(m), text: 'Reply' }) : null;
		const react = c.reactions && can(name, 'reaction')
			? h('button', { type: 'button', class: 'link act react', title: 'React to this message', 'aria-expanded': 'false', onclick: (ev) => pickEmoji(ev.currentTarget, m), text: 'React' }) : null;
		return reply || react ? h('span', { class: 'acts' }, reply, react) : null;
	}
	function pickEmoji(btn, m) {
		const open = btn.nextElementSibling && btn.nextElementSibling.classList.contains('emoji-pick');
		if (open) { btn.nextElementSibling.remove(); btn.setAttribute('aria-expanded', 'false'); return; }
		btn.setAttribute('aria-expanded', 'true');
		btn.after(h('span', { class: 'emoji-pick', role: 'group', 'aria-label': 'Choose a reaction' },
			...EMOJI.map((e) => h('button', { type: 'button', class: 'link', 'aria-label': `React ${e}`, text: e,
				onclick: () => ctx.send({ type: 'reaction', reaction: { message_id: m.id, emoji: e } }) }))));
	}
	function startReply(m) {
		S.replyTo = m;
		$('reply-text').textContent = ctx.preview(m);
		show('reply-bar', true);
		$('composer-text').focus();
	}
	function cancelReply() {
		S.replyTo = null;
		show('reply-bar', false);
	}
	// The location composer: {latitude, longitude, name}.
	async function sendLocation() {
		const lat = Number($('loc-lat').value);
		const lng = Number($('loc-lng').value);
		if (!$('loc-lat').value.trim() || !$('loc-lng').value.trim() || !(lat >= -90 && lat <= 90) || !(lng >= -180 && lng <= 180)) {
			$('composer-error').textContent = 'A location needs a latitude (-90..90) and a longitude (-180..180).';
			return;
		}
		const location = { latitude: lat, longitude: lng };
		if ($('loc-name').value.trim()) location.name = $('loc-name').value.trim();
		if (await ctx.send({ type: 'location', location })) {
			for (const id of ['loc-lat', 'loc-lng', 'loc-name']) $(id).value = '';
			show('loc-row', false);
		}
	}

	// --------------------------------------------------------- pairing
	// #/pair/NAME: true when the hash is the pairing page (shown), else false.
	function route(hash) {
		const m = /^#\/pair\/(.+)$/.exec(hash);
		show('pair', !!m);
		if (!m) { pairStop(); return false; }
		const name = decodeURIComponent(m[1]);
		if (!S.pair || S.pair.name !== name) pairStart(name);
		return true;
	}
	function pairStop() {
		if (S.pair) clearInterval(S.pair.timer);
		S.pair = null;
	}
	async function pairStart(name) {
		pairStop();
		S.pair = { name, timer: setInterval(pairQr, QR_REFRESH_MS) };
		$('pair-title').textContent = `Pair ${name}`;
		$('pair-error').textContent = '';
		$('pair-img').removeAttribute('src');
		for (const id of ['pair-img', 'pair-raw', 'pair-code-box', 'pair-done']) show(id, false);
		if (!chan(name)) await ctx.loadChannels();
		const c = chan(name);
		if (!c || !(c.capabilities && c.capabilities.pairing)) {
			$('pair-error').textContent = c ? `${name} does not pair with a QR code.` : `No channel named ${name}.`;
			pairPaint();
			show('pair-wait', false);
			return;
		}
		pairPaint();
		if (conn(name).state !== 'connected') await act(name, 'connect', $('pair-error'));
		pairQr();
	}
	function pairPaint() {
		const p = S.pair;
		if (!p) return;
		$('pair-state').replaceChildren(badge(p.name, false));
		const done = conn(p.name).state === 'connected';
		show('pair-done', done);
		show('pair-wait', !done);
		if (done) for (const id of ['pair-img', 'pair-raw', 'pair-code-box']) show(id, false);
	}
	// The current code: JSON for the raw text and the pairing code, then the image.
	async function pairQr() {
		const p = S.pair;
		if (!p || conn(p.name).state === 'connected') return;
		let j;
		try {
			j = await api('GET', `/v1/channels/${enc(p.name)}/qr`);
		} catch (e) {
			if (S.pair !== p) return;
			$('pair-error').textContent = e.code === 'no_qr' ? '' : `Could not read the QR code: ${e.message}`;
			$('pair-note').textContent = e.code === 'no_qr' ? 'Waiting for a QR code from the provider\u2026' : '';
			return;
		}
		if (S.pair !== p) return;
		$('pair-note').textContent = 'Open WhatsApp on the phone: Linked devices \u2192 Link a device, and scan this code.';
		$('pair-raw-text').textContent = j.qr || '';
		$('pair-code').textContent = j.pairing_code || '';
		show('pair-code-box', !!j.pairing_code);
		const q = new URLSearchParams({ format: 'svg', t: String(Date.now()) });
		if (S.org) q.set('org', S.org);
		const img = $('pair-img');
		img.onload = () => { if (S.pair === p) { show(img, true); show('pair-raw', false); } };
		img.onerror = () => { if (S.pair === p) { show(img, false); show('pair-raw', !!j.qr); } };
		img.src = `/v1/channels/${enc(p.name)}/qr?${q}`;
		img.dataset.qrUpdatedAt = j.qr_updated_at || '';
	}

	function wire() {
		$('composer-text').addEventListener('input', counter);
		$('reply-cancel').addEventListener('click', () => { cancelReply(); $('composer-text').focus(); });
		$('loc-btn').addEventListener('click', () => { show('loc-row', $('loc-row').hidden); if (!$('loc-row').hidden) $('loc-lat').focus(); });
		$('loc-send').addEventListener('click', sendLocation);
		$('loc-close').addEventListener('click', () => show('loc-row', false));
		$('pair-retry').addEventListener('click', () => { if (S.pair) pairStart(S.pair.name); });
	}

	return { badge, headEl, actionsEl, onState, applyComposer, counter, tooLong, sendError, msgActions, cancelReply, route, wire, caps };
};
