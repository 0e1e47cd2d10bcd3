// msgd web inbox: plain ES2020, no framework, no build step, nothing external.
// All message content goes into the page as text nodes (never innerHTML).
'use strict';
(() => {
	const $ = (id) => document.getElementById(id);
	const DAY = 864e5;
	const RANK = { scheduled: 0, queued: 0, accepted: 1, sent: 2, delivered: 3, read: 4, failed: 5, cancelled: 5 };
	const TICKS = {
		queued: ['\u25F7', 'queued'], scheduled: ['\u25F7', 'scheduled'], accepted: ['\u2713', 'accepted by the provider'],
		sent: ['\u2713', 'sent'], delivered: ['\u2713\u2713', 'delivered'], read: ['\u2713\u2713', 'read'],
		failed: ['\u26A0', 'failed'], cancelled: ['\u2298', 'cancelled'],
	};
	// msgparts.js: a bubble's content, edits, deletions, group senders. A stored
	// file's URL names the organization (an <img> sends no Msgd-Org header).
	const parts = window.MsgdParts(h, { fileUrl: (u) => (S.org ? `${u}?org=${encodeURIComponent(S.org)}` : u) });
	const KIND = parts.KIND;
	const STATE = { ok: 'connected', circuit_open: 'circuit open', half_open: 'half open (probing)', paused: 'paused', throttled: 'throttled' };
	const CREDS = { unchecked: 'not checked', checking: 'checking\u2026', ok: 'ok', invalid_credentials: 'invalid credentials', unreachable: 'provider unreachable', error: 'check failed' };

	const S = {
		user: null, csrf: null, bearer: null, channels: new Map(),
		convs: new Map(), next: null, listGen: 0, listLoading: false, listLoaded: false, q: '', channel: '',
		cur: null, msgs: new MsgdThread(), els: new Map(), older: null, threadGen: 0,
		lastSeq: 0, es: null, esErrors: 0, polling: false, pollTimer: 0, refresh: new Set(), refreshTimer: 0,
		templates: [], provider: [], tplMode: false, org: null, me: null, canSend: true,
	};

	// ------------------------------------------------------------ helpers
	function h(tag, attrs, ...kids) {
		const el = document.createElement(tag);
		for (const [k, v] of Object.entries(attrs || {})) {
			if (v === null || v === undefined || v === false) continue;
			if (k === 'class') el.className = v;
			else if (k === 'text') el.textContent = v;
			else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
			else el.setAttribute(k, v === true ? '' : String(v));
		}
		for (const c of kids.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
		return el;
	}
	const show = (el, on) => { (typeof el === 'string' ? $(el) : el).hidden = !on; };
	function randomId() {
		const b = new Uint8Array(16);
		crypto.getRandomValues(b);
		return 'ui-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
	}
	const pad = (n) => String(n).padStart(2, '0');
	const dayKey = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
	function fmtTime(ts) {
		if (!ts) return '';
		const d = new Date(ts);
		const now = new Date();
		if (dayKey(d) === dayKey(now)) return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
		if (now - d < 6 * DAY) return d.toLocaleDateString(undefined, { weekday: 'short' });
		return d.toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: d.getFullYear() === now.getFullYear() ? undefined : 'numeric' });
	}
	function dayLabel(d) {
		const today = new Date();
		const y = new Date(today.getTime() - DAY);
		if (dayKey(d) === dayKey(today)) return 'Today';
		if (dayKey(d) === dayKey(y)) return 'Yesterday';
		return d.toLocaleDateString(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
	}
	const clock = (ts) => { const d = new Date(ts); return `${pad(d.getHours())}:${pad(d.getMinutes())}`; };
	function announce(text) {
		const a = $('announce');
		a.textContent = '';
		setTimeout(() => { a.textContent = text; }, 30);
	}

	// ---------------------------------------------------------------- API
	class ApiError extends Error {}
	async function api(method, path, body) {
		const headers = { Accept: 'application/json' };
		if (body !== undefined) headers['Content-Type'] = 'application/json';
		if (method !== 'GET' && method !== 'HEAD' && S.csrf) headers['X-Msgd-CSRF'] = S.csrf;
		if (S.bearer) headers.Authorization = 'Bearer ' + S.bearer;
		if (S.org) headers['Msgd-Org'] = S.org;
		const res = await fetch(path, {
			method, headers, credentials: 'same-origin', cache: 'no-store',
			body: body === undefined ? undefined : JSON.stringify(body),
		});
		let json = null;
		if (res.status !== 204) { try { json = await res.json(); } catch { json = null; } }
		if (!res.ok) {
			const err = new ApiError((json && json.error && json.error.message) || `HTTP ${res.status}`);
			err.status = res.status;
			err.code = json && json.error ? json.error.code : null;
			err.field = json && json.error ? json.error.field : null;
			if (res.status === 401 && err.code !== 'invalid_credentials' && path !== '/v1/session' && (S.user || S.bearer)) loggedOut('Your session has ended; sign in again.');
			throw err;
		}
		return json;
	}

	// -------------------------------------------------------------- login
	const admin = window.MsgdAdmin({ api, h, $, show, S, announce, start: () => start(), logout: () => logout(), loggedOut: (m) => loggedOut(m) });
	const chanUi = window.MsgdChannels({ api, h, $, show, S, announce, send: (b) => send(b), preview: (m) => preview(m), loadChannels: () => loadChannels() });
	const campUi = window.MsgdCampaigns({ api, h, $, show, S, announce });  // campaigns.js (issue 14)
	async function boot() {
		wire();
		admin.wire();
		chanUi.wire();
		campUi.wire();
		try {
			const res = await fetch('/v1/session', { credentials: 'same-origin', cache: 'no-store' });
			if (res.ok) {
				const j = await res.json();
				S.user = j.user || 'admin';
				S.csrf = j.csrf || null;
				return start();
			}
		} catch { /* fall through to the login form */ }
		showLogin('');
	}
	function showLogin(msg) {
		show('app', false);
		show('login', true);
		$('login-error').textContent = msg || '';
		const mode = document.querySelector('input[name=mode]:checked').value;
		(mode === 'token' ? $('token') : $('user')).focus();
	}
	function loggedOut(msg) {
		stopLive();
		admin.forget();
		show('pwchange', false);
		S.user = S.csrf = S.bearer = null;
		S.listLoaded = false;
		S.cur = null;
		showLogin(msg);
	}
	async function login(ev) {
		ev.preventDefault();
		const mode = document.querySelector('input[name=mode]:checked').value;
		const body = mode === 'token' ? { token: $('token').value.trim() } : { user: $('user').value.trim(), password: $('password').value };
		$('login-error').textContent = '';
		try {
			const j = await api('POST', '/v1/session', body);
			S.user = j.user || 'admin';
			S.csrf = j.csrf || null;
		} catch (e) {
			// A msgd without sessions: keep the token in memory and send it as a bearer token.
			if ((e.status === 404 || e.status === 405) && mode === 'token' && body.token) {
				S.bearer = body.token;
				try { await api('GET', '/v1/channels'); } catch (e2) {
					S.bearer = null;
					$('login-error').textContent = e2.status === 401 ? 'Wrong token.' : e2.message;
					return;
				}
				S.user = 'token';
			} else {
				$('login-error').textContent = e.status === 401 ? (mode === 'token' ? 'Wrong token.' : 'Wrong user or password.') : e.message;
				return;
			}
		}
		$('token').value = $('password').value = '';
		start();
	}
	async function logout() {
		try { if (!S.bearer) await api('DELETE', '/v1/session'); } catch { /* gone anyway */ }
		loggedOut('Signed out.');
		location.hash = '#/';
	}

	async function start() {
		show('login', false);
		if (await admin.start() === 'pwchange') return admin.showPwChange();
		show('app', true);
		await loadChannels();
		startLive();
		route();
	}
	async function loadChannels() {
		try {
			const j = await api('GET', '/v1/channels');
			S.channels = new Map(j.channels.map((c) => [c.name, c]));
		} catch { return; }
		const sel = $('channel-filter');
		const keep = sel.value;
		sel.replaceChildren(h('option', { value: '', text: 'All channels' }),
			...[...S.channels.keys()].sort().map((n) => h('option', { value: n, text: n })));
		sel.value = S.channels.has(keep) ? keep : '';
	}

	// ------------------------------------------------------------ routing
	function route() {
		if (!S.user && !S.bearer) return;
		const hash = location.hash || '#/';
		if (!hash.startsWith('#/')) return;  // in-page anchors (skip link)
		const status = hash === '#/status';
		const people = admin.route(hash);  // the Users and API keys pages
		const pair = [chanUi.route(hash), campUi.route(hash)].some(Boolean);   // QR pairing; campaigns
		show('inbox', !status && !people && !pair);
		show('status', status);
		$('nav-status').setAttribute('aria-current', status ? 'page' : 'false');
		$('nav-inbox').setAttribute('aria-current', status || people || pair ? 'false' : 'page');
		if (status || people || pair) { $('app').classList.remove('has-thread'); return status ? loadStatus() : undefined; }
		if (!S.listLoaded) { S.listLoaded = true; loadList(true); }
		const m = /^#\/c\/(\d+)$/.exec(hash);
		if (m) openConv(Number(m[1]));
		else closeThread();
	}

	// -------------------------------------------------- conversation list
	async function loadList(reset) {
		if (!reset && (S.listLoading || !S.next)) return;
		const gen = ++S.listGen;
		S.listLoading = true;
		const p = new URLSearchParams({ limit: '50' });
		if (S.q) p.set('q', S.q);
		if (S.channel) p.set('channel', S.channel);
		if (!reset) p.set('cursor', S.next);
		try {
			const j = await api('GET', '/v1/conversations?' + p);
			if (gen !== S.listGen) return;
			if (reset) S.convs.clear();
			for (const c of j.conversations) S.convs.set(c.id, c);
			S.next = j.next || null;
			renderList();
		} catch (e) {
			if (gen === S.listGen) $('list-empty').textContent = 'Could not load conversations: ' + e.message;
			show('list-empty', true);
		} finally {
			if (gen === S.listGen) S.listLoading = false;
		}
		// Keep filling while the sentinel is still visible (tall screens).
		if (gen === S.listGen && S.next && sentinelVisible()) loadList(false);
	}
	function sentinelVisible() {
		const pane = $('list-pane').getBoundingClientRect();
		const s = $('list-more').getBoundingClientRect();
		return pane.height > 0 && s.top <= pane.bottom + 200;
	}
	const convTime = (c) => c.updated_at || (c.last_message && c.last_message.timestamp) || '';
	function sortedConvs() {
		return [...S.convs.values()].sort((a, b) => (convTime(b) > convTime(a) ? 1 : convTime(b) < convTime(a) ? -1 : b.id - a.id));
	}
	function preview(m) {
		if (!m) return '';
		if (m.deleted) return 'Message deleted';
		if (m.type === 'button') return `[Button] ${m.text || (m.button && (m.button.text || m.button.payload)) || ''}`.trim();
		const kind = KIND[m.type];
		if (m.type === 'reaction') return `Reacted ${(m.reaction && m.reaction.emoji) || ''}`.trim();
		if (m.type === 'location') return '[Location] ' + ((m.location && (m.location.name || m.location.address)) || '');
		if (m.type === 'contacts') return '[Contact] ' + ((m.contacts && m.contacts[0] && m.contacts[0].name && m.contacts[0].name.formatted_name) || '');
		if (m.type === 'template' && !m.text) return 'Template ' + ((m.template && m.template.name) || '');
		if (kind) return `[${kind}] ${m.text || (m.media && m.media.filename) || ''}`.trim();
		return m.text || `(${m.type})`;
	}
	function convEl(c, focusable) {
		const name = (c.contact && (c.contact.name || c.contact.address)) || '(unknown)';
		const m = c.last_message;
		const sel = S.cur && S.cur.id === c.id;
		const lm = m && m.direction === 'out' ? [tickEl(m.status), ' You: '] : [];
		const li = h('li', {
			class: 'conv', role: 'option', 'data-id': c.id, tabindex: focusable ? 0 : -1, 'aria-selected': sel ? 'true' : 'false',
			'aria-label': `${name}, ${c.channel}${c.unread_count ? `, ${c.unread_count} unread` : ''}: ${preview(m)}`,
		},
		h('span', { class: 'name', text: name, title: c.contact && c.contact.address }),
		h('span', { class: 'time', text: fmtTime(convTime(c)) }),
		h('span', { class: 'preview' }, ...lm, preview(m)),
		h('span', { class: 'meta' },
			h('span', { class: 'chan', text: c.channel }), chanUi.badge(c.channel, true),
			c.unread_count ? h('span', { class: 'badge', text: String(c.unread_count), 'aria-hidden': 'true' }) : null));
		return li;
	}
	function renderList() {
		const ul = $('conversations');
		const focusedId = document.activeElement && document.activeElement.closest && document.activeElement.closest('.conv')
			? document.activeElement.closest('.conv').dataset.id : null;
		const list = sortedConvs();
		const focusIdx = Math.max(0, list.findIndex((c) => String(c.id) === focusedId || (!focusedId && S.cur && S.cur.id === c.id)));
		ul.replaceChildren(...list.map((c, i) => convEl(c, i === focusIdx)));
		show('list-empty', list.length === 0);
		if (list.length === 0) $('list-empty').textContent = S.q || S.channel ? 'No conversation matches.' : 'No conversations yet.';
		if (focusedId) { const el = ul.querySelector(`[data-id="${CSS.escape(focusedId)}"]`); if (el) el.focus(); }
		const unread = list.reduce((n, c) => n + (c.unread_count || 0), 0);
		document.title = (unread ? `(${unread}) ` : '') + 'msgd inbox';
	}
	function listKeys(ev) {
		const li = ev.target.closest('.conv');
		if (!li) return;
		const items = [...$('conversations').children];
		let i = items.indexOf(li);
		if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); location.hash = `#/c/${li.dataset.id}`; return; }
		if (ev.key === 'ArrowDown') i++;
		else if (ev.key === 'ArrowUp') i--;
		else if (ev.key === 'Home') i = 0;
		else if (ev.key === 'End') i = items.length - 1;
		else return;
		ev.preventDefault();
		i = Math.max(0, Math.min(items.length - 1, i));
		for (const it of items) it.tabIndex = -1;
		items[i].tabIndex = 0;
		items[i].focus();
		if (i >= items.length - 3) loadList(false);
	}
	function matchesFilter(c) {
		if (S.channel && c.channel !== S.channel) return false;
		if (!S.q) return true;
		const q = S.q.toLowerCase();
		return [c.contact && c.contact.name, c.contact && c.contact.address, c.last_message && c.last_message.text]
			.some((s) => s && String(s).toLowerCase().includes(q));
	}
	// Re-read the conversations events touched, a moment later, in one go.
	function refreshConv(id) {
		if (!id) return;
		S.refresh.add(id);
		if (!S.refreshTimer) S.refreshTimer = setTimeout(flushRefresh, 120);
	}
	async function flushRefresh() {
		const ids = [...S.refresh];
		S.refresh.clear();
		S.refreshTimer = 0;
		const got = await Promise.all(ids.map((id) => api('GET', `/v1/conversations/${id}`).catch(() => null)));
		for (const c of got) {
			if (!c) continue;
			if (S.convs.has(c.id) || matchesFilter(c)) S.convs.set(c.id, c);
			if (S.cur && S.cur.id === c.id) { S.cur = c; updateHead(); }
		}
		renderList();
	}

	// ------------------------------------------------------------- thread
	function closeThread() {
		S.cur = null;
		S.threadGen++;
		$('app').classList.remove('has-thread');
		show('thread', false);
		show('thread-none', true);
		renderList();
	}
	async function openConv(id) {
		if (S.cur && S.cur.id === id && !$('thread').hidden) return;
		const gen = ++S.threadGen;
		S.cur = S.convs.get(id) || { id, channel: '', contact: {} };
		S.msgs = new MsgdThread();
		S.els = new Map();
		S.older = null;
		S.tplMode = false;
		chanUi.cancelReply();
		show('loc-row', false);
		$('messages').replaceChildren();
		$('composer-error').textContent = '';
		show('thread-none', false);
		show('thread', true);
		$('app').classList.add('has-thread');
		updateHead();
		renderList();
		try {
			const [c, j] = await Promise.all([api('GET', `/v1/conversations/${id}`), api('GET', `/v1/conversations/${id}/messages?limit=50`)]);
			if (gen !== S.threadGen) return;
			S.cur = c;
			if (S.convs.has(c.id) || matchesFilter(c)) S.convs.set(c.id, c);
			for (const m of j.messages) S.msgs.put(m);
			S.older = j.next || null;
		} catch (e) {
			if (gen === S.threadGen) $('composer-error').textContent = 'Could not open the conversation: ' + e.message;
			return;
		}
		renderThread(true);
		await findLastInbound(gen);
		if (gen !== S.threadGen) return;
		updateHead();
		renderList();
		markRead();
		if (matchMedia('(max-width: 720px)').matches) $('messages').focus({ preventScroll: true });
		else $('composer-text').focus({ preventScroll: true });
	}
	// The 24 h window needs the newest inbound message: page back until one
	// is loaded or the loaded messages reach back more than a day.
	async function findLastInbound(gen) {
		for (let i = 0; i < 10 && S.older && !lastInbound(); i++) {
			const oldest = sortedMsgs()[0];
			if (oldest && Date.now() - Date.parse(oldest.timestamp) > DAY) return;
			if (!(await loadOlder(gen))) return;
		}
	}
	async function loadOlder(gen = S.threadGen) {
		if (!S.older || S.loadingOlder) return false;
		S.loadingOlder = true;
		try {
			const j = await api('GET', `/v1/conversations/${S.cur.id}/messages?limit=50&cursor=${encodeURIComponent(S.older)}`);
			if (gen !== S.threadGen) return false;
			for (const m of j.messages) if (!S.msgs.has(m.id)) S.msgs.put(m);
			S.older = j.next || null;
			const box = $('messages');
			const before = box.scrollHeight - box.scrollTop;
			renderThread(false);
			box.scrollTop = box.scrollHeight - before;
			return true;
		} catch { return false; } finally { S.loadingOlder = false; }
	}
	async function markRead() {
		const c = S.cur;
		if (!c || !c.unread_count || document.hidden || !S.canSend) return;
		try {
			const r = await api('POST', `/v1/conversations/${c.id}/read`, {});
			if (r && r.id) { S.convs.has(r.id) && S.convs.set(r.id, r); if (S.cur && S.cur.id === r.id) S.cur = r; }
			else { c.unread_count = 0; }
			renderList();
		} catch { /* shown as unread still; harmless */ }
	}
	function updateHead() {
		const c = S.cur;
		if (!c) return;
		const name = (c.contact && (c.contact.name || c.contact.address)) || '';
		$('thread-title').textContent = name;
		const ch = S.channels.get(c.channel);
		$('thread-sub').textContent = [c.contact && c.contact.name ? c.contact.address : null, c.channel, ch ? ch.type : null].filter(Boolean).join(' \u00B7 ');
		$('thread-conn').replaceChildren(...chanUi.headEl(c.channel));
		chanUi.applyComposer(c.channel);
		updateWindow();
	}
	const byTime = MsgdThread.byTime;
	const sortedMsgs = () => S.msgs.sorted();
	function lastInbound() {
		let t = null;
		for (const m of S.msgs.values()) if (m.direction === 'in' && (!t || m.timestamp > t)) t = m.timestamp;
		return t;
	}
	function windowState() {
		const c = S.cur;
		const ch = c && S.channels.get(c.channel);
		// A service window (capabilities.window_hours; null: none) after the contact's last message.
		const hours = (ch && ch.capabilities && ch.capabilities.window_hours) || 0;
		const enforced = hours > 0 && !(ch.config && ch.config.enforce_window === false);
		const li = lastInbound();
		const closes = li ? Date.parse(li) + hours * 36e5 : 0;
		return { hours, enforced, closes, open: closes > Date.now() && !S.windowClosedByServer };
	}
	function updateWindow() {
		const w = windowState();
		const el = $('window');
		el.className = 'window small';
		if (!w.hours) { el.textContent = ''; } else if (w.open) {
			const left = w.closes - Date.now();
			el.classList.add('open');
			el.textContent = `${w.hours} h window open \u00B7 ${Math.floor(left / 36e5)} h ${Math.floor((left % 36e5) / 6e4)} min left`;
		} else {
			el.classList.add('closed');
			el.textContent = w.enforced ? `${w.hours} h window closed \u00B7 templates only` : `${w.hours} h window closed (not enforced)`;
		}
		const closed = w.enforced && !w.open;
		show('text-row', !closed);
		if (closed && $('tpl-box').hidden) openTemplates(true);
		show('tpl-close', !closed);
		if (!closed && S.tplMode === 'forced') closeTemplates();
	}

	// ----------------------------------------------------------- messages
	function tickEl(status) {
		const t = TICKS[status];
		if (!t) return null;
		return h('span', { class: `tick ${status}`, title: t[1], role: 'img', 'aria-label': t[1], 'data-status': status, text: t[0] });
	}
	function summary(m) {
		return m ? preview(m) : 'a message that is not loaded';
	}
	// An error's words without saying the same thing twice: providers often
	// repeat the title in the detail.
	function errText(e) {
		if (!e) return '';
		if (typeof e === 'string') return e;
		const t = String(e.title || e.message || '');
		const d = String(e.detail || (e.error_data && e.error_data.details) || '');
		const lt = t.toLowerCase(), ld = d.toLowerCase();
		const words = !d || lt.includes(ld) ? t : (!t || ld.includes(lt) ? d : `${t} \u2014 ${d}`);
		return words || (e.code !== undefined && e.code !== null ? `error ${e.code}` : 'unknown error');
	}
	function hms(iso) {
		const d = new Date(iso);
		return [d.getHours(), d.getMinutes(), d.getSeconds()].map((x) => String(x).padStart(2, '0')).join(':');
	}
	// "retrying (attempt 2): Could not resolve host — next try at 10:40:12"
	function retryText(m) {
		return `retrying (attempt ${m.attempts || 0}): ${errText(m.last_error)}` +
			(m.next_attempt_at ? ` \u2014 next try at ${hms(m.next_attempt_at)}` : ' \u2014 waiting for the channel');
	}
	// Why a message nobody has tried yet waits: its channel's hold, from the
	// channel states loadChannels/loadStatus/pollWaiting read ('' while it sends).
	function holdText(name) {
		const ch = S.channels.get(name);
		const st = (ch && ch.state) || {};
		const snd = st.sending && typeof st.sending === 'object' ? st.sending : null;
		if (!snd || !snd.state || snd.state === 'ok') return '';
		const r = snd.reason;
		const why = r ? ': ' + errText(r) + (r.code !== null && r.code !== undefined ? ` (code ${r.code})` : '') : '';
		const creds = snd.state === 'paused' && (!snd.until || (st.credentials && st.credentials.state === 'invalid_credentials'));
		const then = creds ? ' \u2014 its credentials need fixing' : snd.until ? ` \u2014 until ${hms(snd.until)}` : '';
		return `waiting: channel ${STATE[snd.state] || snd.state}${why}${then}`;
	}
	const unattempted = (m) => m.direction === 'out' && m.status === 'queued' && !m.attempts;
	function failReason(m) {
		let e = m.error;
		if (!e && Array.isArray(m.status_history)) for (const s of m.status_history) if (s.error) e = s.error;
		if (!e && Array.isArray(m.errors) && m.errors.length) e = m.errors[0];
		if (!e) return 'no reason given';
		if (typeof e === 'string') return e;
		return errText(e) + (e.code !== undefined && e.code !== null ? ` (code ${e.code})` : '');
	}
	const reactionTarget = (m) => S.msgs.target(m);
	// A reaction to a message not shown here: one small line.
	function reactionNote(m) {
		const who = m.direction === 'out' ? 'You' : (S.cur && S.cur.contact && S.cur.contact.name) || m.from;
		const e = m.reaction && m.reaction.emoji;
		return h('li', { class: 'note reaction-note', id: 'm' + m.id, 'data-id': m.id, text: e ? `${who} reacted ${e} to a message not shown` : `${who} removed a reaction` });
	}
	function msgEl(m) {
		if (m.type === 'system') return h('li', { class: 'note', id: 'm' + m.id, 'data-id': m.id, text: m.text || (m.system && m.system.body) || 'System message' });
		if (m.type === 'reaction') return reactionNote(m);
		const out = m.direction === 'out';
		const li = h('li', { class: `msg ${out ? 'out' : 'in'}${m.status === 'failed' ? ' failed' : ''}`, id: 'm' + m.id, 'data-id': m.id, 'data-status': m.status || '' });
		li.append(h('span', { class: 'sr', text: out ? 'You: ' : `${(S.cur && S.cur.contact && S.cur.contact.name) || m.from}: ` }));
		if (!out && (m.sender || m.sender_name)) li.append(parts.senderEl(m) || '');
		if (m.deleted) li.classList.add('deleted');
		if (m.reply_to) {
			const q = m.reply_to.message_id ? S.msgs.get(m.reply_to.message_id) : null;
			li.append(h('div', { class: 'quote' }, h('span', { class: 'sr', text: 'In reply to: ' }), summary(q)));
		}
		if (m.forwarded) li.append(h('div', { class: 'muted small', text: 'Forwarded' }));
		li.append(...(m.deleted ? parts.deletedEls(m) : parts.contentEls(m)));
		if (m.edited_at && !m.deleted) li.append(parts.editedEl(m));
		const reacts = S.msgs.emojiFor(m);
		if (reacts.length) li.append(h('div', { class: 'reactions', 'aria-label': 'Reactions' }, ...reacts.map((e) => h('span', { text: e }))));
		li.append(h('div', { class: 'foot' },
			m.status === 'scheduled' && m.scheduled_at ? h('span', { text: 'scheduled ' + fmtTime(m.scheduled_at) }) : null,
			h('time', { datetime: m.timestamp, title: new Date(m.timestamp).toLocaleString(), text: clock(m.timestamp) }),
			out ? tickEl(m.status) : null, m.deleted ? null : chanUi.msgActions(m)));
		if (out && m.status === 'failed') {
			li.append(h('div', { class: 'fail', role: 'status' },
				h('span', { class: 'reason', text: 'Not sent: ' + failReason(m) }),
				S.canSend ? h('button', { type: 'button', class: 'retry', onclick: () => retry(m), text: 'Retry' }) : null));
		} else if (out && (m.status === 'queued' || m.status === 'scheduled') && m.last_error) {
			li.append(h('div', { class: 'fail retrying', role: 'status' }, h('span', { class: 'reason', text: retryText(m) })));
		} else if (unattempted(m) && holdText(m.channel || (S.cur && S.cur.channel))) {
			li.append(h('div', { class: 'fail retrying hold', role: 'status' }, h('span', { class: 'reason', text: holdText(m.channel || S.cur.channel) })));
		} else if (!out && Array.isArray(m.errors) && m.errors.length) {
			li.append(h('div', { class: 'fail', text: failReason(m) }));
		}
		return li;
	}
	const isBubble = (m) => !reactionTarget(m);
	function renderThread(toBottom) {
		const box = $('messages');
		box.setAttribute('aria-busy', 'true');
		const kids = [];
		if (S.older) kids.push(h('li', { class: 'older' }, h('button', { type: 'button', class: 'link', onclick: () => loadOlder(), text: 'Load older messages' })));
		let day = null;
		S.els = new Map();
		for (const m of sortedMsgs()) {
			if (!isBubble(m)) continue;
			const d = new Date(m.timestamp);
			if (dayKey(d) !== day) { day = dayKey(d); kids.push(h('li', { class: 'day', role: 'separator', text: dayLabel(d) })); }
			const el = msgEl(m);
			S.els.set(m.id, el);
			kids.push(el);
		}
		box.replaceChildren(...kids);
		if (toBottom) box.scrollTop = box.scrollHeight;
		setTimeout(() => box.removeAttribute('aria-busy'), 0);
	}
	// Add or update one message of the open thread without redrawing the rest.
	function upsertMsg(m) {
		const old = S.msgs.get(m.id);
		if (old && (RANK[old.status] || 0) > (RANK[m.status] || 0) && m.status !== 'failed') m = { ...m, status: old.status, error: old.error };
		S.msgs.put(m);
		const box = $('messages');
		const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
		// A message some shown reaction line was waiting for: redraw to attach it.
		if (!old && m.type !== 'reaction' && S.msgs.reactionsOf(m).length) { renderThread(atBottom); return; }
		const t = reactionTarget(m);
		if (t) {
			const el = S.els.get(t.id);
			if (el) { const n = msgEl(t); el.replaceWith(n); S.els.set(t.id, n); }
			return;
		}
		const el = S.els.get(m.id);
		if (el) { const n = msgEl(m); el.replaceWith(n); S.els.set(m.id, n); return; }
		// Appended only when it is the newest bubble; else the thread is redrawn.
		let last = null;
		let prev = null;
		for (const x of S.msgs.values()) {
			if (!isBubble(x)) continue;
			if (!last || byTime(x, last) > 0) { prev = last; last = x; } else if (!prev || byTime(x, prev) > 0) prev = x;
		}
		if (last !== m) { renderThread(atBottom); return; }
		const d = new Date(m.timestamp);
		if (!prev || dayKey(new Date(prev.timestamp)) !== dayKey(d)) box.append(h('li', { class: 'day', role: 'separator', text: dayLabel(d) }));
		const n = msgEl(m);
		S.els.set(m.id, n);
		box.append(n);
		if (atBottom || m.direction === 'out') n.scrollIntoView({ block: 'end' });
	}

	// ------------------------------------------------------------ sending
	async function send(body) {
		const c = S.cur;
		if (!c) return null;
		$('composer-error').textContent = '';
		const full = { channel: c.channel, to: c.contact.address, client_id: randomId(), ...body };
		try {
			const m = await api('POST', '/v1/messages', full);
			if (S.cur && S.cur.id === m.conversation_id) upsertMsg(m);
			refreshConv(m.conversation_id);
			announce('Message queued');
			return m;
		} catch (e) {
			$('composer-error').textContent = chanUi.sendError(e);
			if (e.code === 'window_closed') { S.windowClosedByServer = true; updateWindow(); }
			return null;
		}
	}
	async function sendComposer(ev) {
		if (ev) ev.preventDefault();
		const ta = $('composer-text');
		const text = ta.value;
		const url = $('attach-row').hidden ? '' : $('attach-url').value.trim();
		const file = $('attach-row').hidden ? null : ($('attach-file').files || [])[0] || null;
		if (!text.trim() && !url && !file) return;
		let body;
		if (file) {
			// Attach: the file is uploaded (POST /v1/files), then sent by its id.
			const type = $('attach-type').value;
			$('send').disabled = true;
			const f = await uploadFile(file);
			$('send').disabled = false;
			if (!f) return;
			body = { type, media: { file_id: f.id } };
			if (text.trim() && type !== 'audio') body.media.caption = text;
		} else if (url) {
			const type = $('attach-type').value;
			body = { type, media: { url } };
			if (text.trim() && type !== 'audio') body.media.caption = text;
			if (type === 'document') body.media.filename = decodeURIComponent(url.split(/[?#]/)[0].split('/').pop() || 'document');
		} else body = { type: 'text', text };
		if (!chanUi.counter()) { $('composer-error').textContent = chanUi.tooLong(); return; }
		if (S.replyTo) body.reply_to = S.replyTo.id;
		$('send').disabled = true;
		const m = await send(body);
		$('send').disabled = false;
		if (m) { ta.value = ''; $('attach-url').value = ''; $('attach-file').value = ''; toggleAttach(false); grow(); chanUi.cancelReply(); chanUi.counter(); }
		ta.focus();
	}
	// POST /v1/files with the file as the raw body: the stored file, or null (the error shown).
	async function uploadFile(file) {
		const headers = { Accept: 'application/json', 'Content-Type': 'application/octet-stream' };
		if (S.csrf) headers['X-Msgd-CSRF'] = S.csrf;
		if (S.bearer) headers.Authorization = 'Bearer ' + S.bearer;
		if (S.org) headers['Msgd-Org'] = S.org;
		try {
			const res = await fetch('/v1/files?filename=' + encodeURIComponent(file.name || 'file'), {
				method: 'POST', headers, credentials: 'same-origin', cache: 'no-store', body: file,
			});
			const json = await res.json().catch(() => null);
			if (!res.ok) throw new Error((json && json.error && json.error.message) || `HTTP ${res.status}`);
			return json;
		} catch (e) {
			$('composer-error').textContent = 'Could not upload the file: ' + e.message;
			return null;
		}
	}
	// The attachment type a chosen file suggests.
	function typeOfFile(file) {
		const t = file.type || '';
		const want = t.startsWith('image/') ? 'image' : t.startsWith('video/') ? 'video' : t.startsWith('audio/') ? 'audio' : 'document';
		const sel = $('attach-type');
		if ([...sel.options].some((o) => o.value === want && !o.hidden && !o.disabled)) sel.value = want;
	}
	function retry(m) {
		const body = { type: m.type };
		if (m.text !== undefined && m.text !== null && ['text'].includes(m.type)) body.text = m.text;
		if (m.media) { body.media = {}; for (const k of (m.media.file_id ? ['file_id', 'caption', 'filename'] : ['url', 'id', 'caption', 'filename'])) if (m.media[k]) body.media[k] = m.media[k]; if (!m.media.caption && m.text) body.media.caption = m.text; }
		if (m.location) body.location = { latitude: m.location.latitude, longitude: m.location.longitude, name: m.location.name, address: m.location.address };
		if (m.template) body.template = { name: m.template.name, language: m.template.language, components: m.template.components };
		if (m.interactive && m.type === 'interactive') body.interactive = m.interactive;
		if (m.reply_to && m.reply_to.message_id) body.reply_to = m.reply_to.message_id;
		if (m.type === 'template' && !m.template) { body.type = 'text'; body.text = m.text; }
		send(body);
	}
	function grow() {
		const ta = $('composer-text');
		ta.rows = Math.min(6, Math.max(1, ta.value.split('\n').length));
	}
	function toggleAttach(on) {
		show('attach-row', on);
		$('attach-btn').setAttribute('aria-expanded', String(on));
		if (on) $('attach-url').focus();
	}

	// ---------------------------------------------------------- templates
	// The composer's template box (templates.js, shared with the campaign form).
	const { openTemplates, closeTemplates, tplChanged, sendTemplate } =
		window.MsgdTemplates.composer({ api, h, $, show, S, send: (b) => send(b) });

	// --------------------------------------------------------------- live
	function setLive(state) {
		const el = $('live');
		el.textContent = state;
		el.classList.toggle('on', state === 'live' || state === 'polling');
	}
	function stopLive() {
		if (S.es) { S.es.close(); S.es = null; }
		S.polling = false;
		clearTimeout(S.pollTimer);
		setLive('offline');
	}
	function startLive() {
		stopLive();
		if (S.bearer || !window.EventSource) { startPolling(); return; }
		// ?since= resumes after what polling saw; the browser's own reconnects send Last-Event-ID.
		// EventSource sends no headers: the organization goes in ?org= (as Msgd-Org).
		const q = new URLSearchParams(S.lastSeq ? { since: String(S.lastSeq) } : {});
		if (S.org) q.set('org', S.org);
		const es = new EventSource('/v1/stream' + (q.toString() ? '?' + q : ''));
		S.es = es;
		S.esErrors = 0;
		es.onopen = () => setLive('live');
		es.onmessage = (ev) => {
			S.esErrors = 0;
			let e;
			try { e = JSON.parse(ev.data); } catch { return; }
			if (e && e.seq === undefined && ev.lastEventId) e.seq = Number(ev.lastEventId);
			handleEvent(e);
		};
		es.onerror = () => {
			S.esErrors++;
			setLive('reconnecting');
			// No stream on this server, or it keeps failing: poll instead.
			if (es.readyState === EventSource.CLOSED || S.esErrors >= 3) {
				es.close();
				if (S.es === es) { S.es = null; startPolling(); }
			}
		};
	}
	// The newest event seq, found with limit=1 probes (no event log download).
	async function headSeq() {
		const has = async (n) => (await api('GET', `/v1/events?since=${n}&limit=1`)).events.length > 0;
		if (!(await has(0))) return 0;
		let lo = 0;
		let hi = 1;
		while (await has(hi)) { lo = hi; hi *= 2; }
		while (hi - lo > 1) { const mid = Math.floor((lo + hi) / 2); if (await has(mid)) lo = mid; else hi = mid; }
		return hi;
	}
	async function startPolling() {
		if (S.polling) return;
		S.polling = true;
		S.pollStarted = Date.now();
		setLive('polling');
		try { if (!S.lastSeq) S.lastSeq = await headSeq(); } catch { /* retried by the loop */ }
		const tick = async () => {
			if (!S.polling) return;
			// Every 30 s, try the stream again (it resumes from lastSeq).
			if (!S.bearer && window.EventSource && Date.now() - S.pollStarted > 30_000) { startLive(); return; }
			try {
				for (let i = 0; i < 20; i++) {
					const j = await api('GET', `/v1/events?since=${S.lastSeq}&limit=500`);
					for (const e of j.events) handleEvent(e);
					if (j.next > S.lastSeq) S.lastSeq = j.next;
					if (j.events.length < 500) break;
				}
				setLive('polling');
			} catch { setLive('offline'); }
			if (S.polling) S.pollTimer = setTimeout(tick, 2000);
		};
		tick();
	}
	function handleEvent(e) {
		if (!e || typeof e !== 'object') return;
		if (e.seq) { if (e.seq <= S.lastSeq) return; S.lastSeq = e.seq; }
		const d = e.data || {};
		const cid = e.conversation_id || (d.conversation_id) || (d.message && d.message.conversation_id);
		const open = S.cur && cid === S.cur.id && !$('thread').hidden;
		if (e.type === 'message.received') {
			if (open && d.id) {
				upsertMsg(d);
				if (d.direction === 'in') { S.windowClosedByServer = false; updateWindow(); S.cur.unread_count = (S.cur.unread_count || 0) + 1; markRead(); }
			} else if (d.direction === 'in') {
				const c = S.convs.get(cid);
				announce(`New message from ${(c && c.contact && (c.contact.name || c.contact.address)) || d.from || 'a contact'}`);
			}
		} else if (e.type === 'message.status' && open) {
			const id = d.id || e.message_id;
			const m = id && S.msgs.get(id);
			if (d.message && d.message.id) upsertMsg(d.message);
			else if (m) upsertMsg({ ...m, status: d.status, error: d.error || m.error, status_history: [...(m.status_history || []), { status: d.status, at: e.at, error: d.error || null }] });
			else if (id) api('GET', `/v1/messages/${id}`).then((x) => { if (S.cur && x.conversation_id === S.cur.id) upsertMsg(x); }).catch(() => {});
		} else if ((e.type === 'message.edited' || e.type === 'message.deleted' || e.type === 'message.media') && d.message && d.message.id) {
			// Changed in place (an edit, a deletion, its media stored): the same bubble, redrawn.
			if (open && d.message.conversation_id === S.cur.id) upsertMsg(d.message);
		} else if (e.type === 'channel.state') {
			chanUi.onState(e);
		} else if (e.type.startsWith('campaign.')) {
			campUi.onEvent(e);
		} else if (e.type === 'channel.error') {
			if (!$('status').hidden) loadStatus();
		}
		if (cid) refreshConv(cid);
	}

	// ------------------------------------------------------------- status
	async function loadStatus() {
		const tb = $('status-channels');
		let chans = [];
		try { chans = (await api('GET', '/v1/channels')).channels; } catch (e) { $('ready').textContent = 'Could not read channels: ' + e.message; }
		let ready = null;
		try { const r = await fetch('/readyz', { cache: 'no-store', headers: S.org ? { 'Msgd-Org': S.org } : {} }); ready = { status: r.status, body: await r.json() }; } catch { /* shown below */ }
		$('ready').textContent = ready ? `msgd is ${ready.status === 200 ? 'ready' : 'not ready'} (storage ${ready.body.storage || '?'})` : 'msgd did not answer /readyz';
		const rz = (ready && ready.body && ready.body.channels) || {};
		await Promise.all(chans.filter((c) => !c.state).map(async (c) => {
			try { c.state = (await api('GET', `/v1/channels/${encodeURIComponent(c.name)}`)).state; } catch { /* none */ }
			if (!c.state && rz[c.name]) c.state = rz[c.name];
		}));
		for (const c of chans) S.channels.set(c.name, c);
		tb.replaceChildren(...chans.map((c) => {
			const st = c.state || {};
			const snd = (st.sending && typeof st.sending === 'object') ? st.sending : { state: st.sending || 'unknown', reason: st.reason };
			const s = snd.state || 'unknown';
			const cr = st.credentials;
			const why = snd.reason ? errText(snd.reason) + (snd.reason.code !== null && snd.reason.code !== undefined ? ` (code ${snd.reason.code})` : '') : '';
			const when = [snd.since ? `since ${hms(snd.since)}` : '', snd.until ? `until ${hms(snd.until)}` : ''].filter(Boolean).join(', ');
			return h('tr', { 'data-channel': c.name, 'data-state': s },
				h('th', { scope: 'row', text: c.name }), h('td', { text: c.type }),
				h('td', { class: 'connection' }, chanUi.badge(c.name, false), ' ', chanUi.actionsEl(c.name)),
				h('td', { class: s === 'ok' ? 'state-ok' : 'state-bad', text: STATE[s] || s }),
				h('td', { class: 'reason' }, why, when ? h('div', { class: 'muted small', text: when }) : null),
				h('td', { class: cr ? (cr.state === 'ok' ? 'state-ok' : cr.state === 'invalid_credentials' ? 'state-bad' : '') : 'muted',
					title: (cr && cr.message) || '', text: cr ? (CREDS[cr.state] || cr.state) + (cr.state !== 'ok' && cr.message ? `: ${cr.message}` : '') : '\u2014' }),
				h('td', { text: st.queue_depth ?? '' }), h('td', { text: st.inflight ?? '' }));
		}));
		const ul = $('status-failures');
		try {
			const head = S.lastSeq || await headSeq();
			const j = await api('GET', `/v1/events?since=${Math.max(0, head - 1000)}&limit=1000`);
			const fails = j.events.filter((e) => (e.type === 'message.status' && e.data && e.data.status === 'failed') || e.type === 'channel.error').slice(-20).reverse();
			// Messages still retrying come first: they are not lost yet.
			let retrying = [];
			try { retrying = (await api('GET', '/v1/messages?state=retrying&limit=20')).messages || []; } catch { /* older msgd */ }
			const label = (kind, text) => h('span', { class: `label ${kind}`, text });
			ul.replaceChildren(
				...retrying.map((m) => h('li', { 'data-kind': 'retrying', 'data-id': m.id }, label('retrying', 'retrying'), ' ',
					h('time', { datetime: m.timestamp, text: new Date(m.timestamp).toLocaleString() }), ` ${m.channel || ''} `,
					h('a', { href: `#/c/${m.conversation_id}`, text: `message ${m.id}` }), ': ', retryText(m))),
				...fails.map((e) => h('li', { 'data-kind': e.type === 'channel.error' ? 'channel_error' : 'failed' },
					e.type === 'channel.error' ? label('failed', 'channel error') : label('failed', 'failed'), ' ',
					h('time', { datetime: e.at, text: new Date(e.at).toLocaleString() }), ` ${e.channel || ''} `,
					e.conversation_id ? h('a', { href: `#/c/${e.conversation_id}`, text: `message ${e.message_id || ''}` }) : null, ': ',
					e.type === 'channel.error' ? ((e.data.errors || []).map((x) => x.title || x.message || x.code).join('; ') || 'channel error') : failReason(e.data))));
			if (!fails.length && !retrying.length) ul.replaceChildren(h('li', { class: 'muted', text: 'None recently.' }));
		} catch (e) { ul.replaceChildren(h('li', { text: 'Could not read events: ' + e.message })); }
	}

	// A failed attempt and its retry make no event: while the open thread
	// has outbound messages waiting, re-read them (a few at a time). While
	// one has never been tried, re-read its channel too: its hold says why.
	let pollBusy = false;
	async function pollWaiting() {
		if (pollBusy || !S.cur || $('thread').hidden || document.hidden) return;
		const cur = S.cur.id;
		const waiting = [...S.msgs.values()].filter((m) => m.direction === 'out' && m.status === 'queued').slice(-10);
		if (!waiting.length) return;
		pollBusy = true;
		try {
			const name = S.cur.channel;
			if (name && waiting.some(unattempted)) {
				const before = holdText(name);
				const c = await api('GET', `/v1/channels/${encodeURIComponent(name)}`).catch(() => null);
				if (c && c.name === name) S.channels.set(name, c);
				if (!S.cur || S.cur.id !== cur) return;
				if (holdText(name) !== before) {
					for (const m of waiting) { const x = S.msgs.get(m.id); if (x && S.els.has(x.id) && unattempted(x)) upsertMsg(x); }
				}
			}
			for (const m of waiting) {
				const x = await api('GET', `/v1/messages/${m.id}`).catch(() => null);
				if (!x || !S.cur || S.cur.id !== cur) break;
				const o = S.msgs.get(m.id);
				if (!o || o.status !== x.status || o.attempts !== x.attempts || JSON.stringify(o.last_error) !== JSON.stringify(x.last_error) || o.next_attempt_at !== x.next_attempt_at) upsertMsg(x);
			}
		} finally { pollBusy = false; }
	}

	// ------------------------------------------------------------- wiring
	function wire() {
		$('login-form').addEventListener('submit', login);
		for (const r of document.querySelectorAll('input[name=mode]')) r.addEventListener('change', () => {
			const tok = document.querySelector('input[name=mode]:checked').value === 'token';
			show('login-token', tok);
			show('login-password', !tok);
		});
		$('logout').addEventListener('click', logout);
		window.addEventListener('hashchange', route);
		let qt = 0;
		$('search').addEventListener('input', () => {
			clearTimeout(qt);
			qt = setTimeout(() => { S.q = $('search').value.trim(); loadList(true); }, 250);
		});
		$('channel-filter').addEventListener('change', () => { S.channel = $('channel-filter').value; loadList(true); });
		const ul = $('conversations');
		ul.addEventListener('click', (ev) => { const li = ev.target.closest('.conv'); if (li) location.hash = `#/c/${li.dataset.id}`; });
		ul.addEventListener('keydown', listKeys);
		new IntersectionObserver((es) => { if (es.some((x) => x.isIntersecting)) loadList(false); }, { root: $('list-pane'), rootMargin: '200px' }).observe($('list-more'));
		$('messages').addEventListener('scroll', () => { if ($('messages').scrollTop < 40) loadOlder(); });
		$('back').addEventListener('click', () => { location.hash = '#/'; });
		$('composer').addEventListener('submit', sendComposer);
		const ta = $('composer-text');
		ta.addEventListener('keydown', (ev) => {
			if (ev.key === 'Enter' && !ev.shiftKey && !ev.ctrlKey && !ev.altKey && !ev.metaKey && !ev.isComposing) { ev.preventDefault(); sendComposer(); }
		});
		ta.addEventListener('input', grow);
		$('thread').addEventListener('keydown', (ev) => {
			if (ev.key === 'Escape') {
				ev.preventDefault();
				const id = S.cur && S.cur.id;
				location.hash = '#/';
				setTimeout(() => { const li = id && ul.querySelector(`[data-id="${id}"]`); if (li) li.focus(); }, 0);
			}
		});
		$('attach-btn').addEventListener('click', () => toggleAttach($('attach-row').hidden));
		$('attach-clear').addEventListener('click', () => { $('attach-url').value = ''; $('attach-file').value = ''; toggleAttach(false); ta.focus(); });
		$('attach-file').addEventListener('change', () => { const f = ($('attach-file').files || [])[0]; if (f) typeOfFile(f); });
		$('tpl-btn').addEventListener('click', () => ($('tpl-box').hidden ? openTemplates(false) : closeTemplates()));
		$('tpl-close').addEventListener('click', () => { closeTemplates(); ta.focus(); });
		$('tpl-select').addEventListener('change', tplChanged);
		$('tpl-count').addEventListener('input', tplChanged);
		$('tpl-send').addEventListener('click', sendTemplate);
		$('status-refresh').addEventListener('click', loadStatus);
		document.addEventListener('visibilitychange', () => { if (!document.hidden) markRead(); });
		setInterval(() => { if (S.cur) updateWindow(); if (!$('status').hidden) loadStatus(); }, 60_000);
		setInterval(pollWaiting, 2000);
	}

	if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
	else boot();
})();
