// msgd panel: who is signed in and the people pages. After a login it reads
// GET /v1/auth/me: the permissions decide what shows (Users with
// users:write, API keys with keys:write, the composer with messages:send),
// the organizations fill the switcher (a user's own; every one for a
// platform admin), and password_change_required shows the password screen
// first. The organization chosen is kept for the tab (sessionStorage) and
// sent by app.js on every call (Msgd-Org; ?org= on the event stream); a
// switch reloads the page, so nothing of the other organization stays.
// Secrets (one-time passwords, new keys) are shown once, never kept.
'use strict';
window.MsgdAdmin = function MsgdAdmin(ctx) {
	const { api, h, $, show, S } = ctx;
	const ORG_KEY = 'msgd-org';
	const ROLES = ['viewer', 'agent', 'admin', 'owner'];
	const SCOPES = ['messages:read', 'messages:send', 'events:read', 'channels:write', 'templates:write',
		'webhooks:write', 'files:write', 'campaigns:write', 'admin'];
	let perms = new Set();
	const can = (p) => perms.has(p);
	const when = (iso) => (iso ? new Date(iso).toLocaleString() : '');

	// The highest role the caller may grant (api_rank() in api_users.c).
	function rank() {
		const me = S.me;
		if (!me) return -1;
		if (me.kind === 'admin' || me.platform_admin) return ROLES.length - 1;
		if (me.kind === 'key') return (me.scopes || []).includes('admin') ? ROLES.indexOf('admin') : -1;
		return ROLES.indexOf(me.role);
	}

	function savedOrg() {
		try { return sessionStorage.getItem(ORG_KEY); } catch { return null; }
	}
	function saveOrg(name) {
		try { if (name) sessionStorage.setItem(ORG_KEY, name); else sessionStorage.removeItem(ORG_KEY); } catch { /* private mode */ }
	}

	// 'pwchange' when the user must choose a password first, else 'app'.
	async function start() {
		S.org = S.org || savedOrg();
		let me = null;
		try {
			me = await api('GET', '/v1/auth/me');
		} catch (e) {
			// An organization no longer ours: back to the default one.
			if (e.status === 404 && S.org) { S.org = null; saveOrg(null); return start(); }
		}
		S.me = me;
		// A msgd without /v1/auth/me: the inbox as before, no people pages.
		perms = new Set(me ? me.permissions : ['messages:read', 'messages:send', 'events:read']);
		S.canSend = can('messages:send');
		if (me && me.password_change_required) return 'pwchange';
		$('who').textContent = me ? `${me.subject} \u00B7 ${me.role || me.kind}` : (S.user || '');
		show('composer', S.canSend);
		show('nav-users', can('users:write'));
		show('nav-keys', can('keys:write'));
		await fillOrgs(me);
		return 'app';
	}
	async function fillOrgs(me) {
		const sel = $('org-switch');
		let names = me && me.orgs ? me.orgs.map((o) => o.name) : [];
		if (can('platform')) {
			try { names = (await api('GET', '/v1/orgs')).orgs.map((o) => o.name); } catch { /* keep ours */ }
		}
		if (me && !names.includes(me.org)) names.push(me.org);
		sel.replaceChildren(...names.map((n) => h('option', { value: n, text: n })));
		if (me) sel.value = me.org;
		show(sel, names.length > 1);
	}
	function switchOrg() {
		saveOrg($('org-switch').value);
		location.hash = '#/';
		location.reload();
	}
	function forget() {
		S.org = null;
		S.me = null;
		saveOrg(null);
	}

	// The people pages: true when the hash names one the caller may see.
	function route(hash) {
		const page = hash === '#/users' && can('users:write') ? 'users' : hash === '#/keys' && can('keys:write') ? 'keys' : '';
		show('users', page === 'users');
		show('keys', page === 'keys');
		$('nav-users').setAttribute('aria-current', page === 'users' ? 'page' : 'false');
		$('nav-keys').setAttribute('aria-current', page === 'keys' ? 'page' : 'false');
		if (page === 'users') loadUsers();
		if (page === 'keys') loadKeys();
		return page !== '';
	}

	// ------------------------------------------------------------- users
	function roleSelect(current, onchange, label) {
		const top = rank();
		const sel = h('select', { 'aria-label': label, onchange });
		sel.append(...ROLES.map((r, i) => h('option', { value: r, text: r, disabled: i > top && r !== current })));
		sel.value = current;
		return sel;
	}
	async function loadUsers() {
		$('users-org').textContent = S.me ? `in ${S.me.org}` : '';
		const inv = $('invite-role');
		if (!inv.options.length) {
			inv.append(...ROLES.filter((r, i) => i <= rank()).map((r) => h('option', { value: r, text: r })));
			inv.value = rank() >= ROLES.indexOf('agent') ? 'agent' : ROLES[0];
		}
		let list;
		try { list = (await api('GET', '/v1/users')).users; } catch (e) { $('users-error').textContent = 'Could not list users: ' + e.message; return; }
		$('users-list').replaceChildren(...list.map((u) => {
			const above = ROLES.indexOf(u.role) > rank();
			const sel = roleSelect(u.role, () => setRole(u, sel), `Role of ${u.name}`);
			sel.disabled = above;
			return h('tr', { 'data-user': u.name },
				h('th', { scope: 'row' }, u.name, u.must_change_password ? h('span', { class: 'pending', text: 'has not chosen a password yet' }) : null),
				h('td', {}, sel), h('td', { text: when(u.created_at) }),
				h('td', {}, above ? null : h('button', { type: 'button', class: 'danger', onclick: () => removeUser(u), text: 'Remove' })));
		}));
	}
	async function setRole(u, sel) {
		$('users-error').textContent = '';
		try {
			await api('PATCH', `/v1/users/${encodeURIComponent(u.name)}`, { role: sel.value });
			u.role = sel.value;
			ctx.announce(`${u.name} is now ${u.role}`);
		} catch (e) {
			sel.value = u.role;
			$('users-error').textContent = e.message;
		}
	}
	async function removeUser(u) {
		if (!confirm(`Remove ${u.name} from ${S.me ? S.me.org : 'this organization'}?`)) return;
		$('users-error').textContent = '';
		try { await api('DELETE', `/v1/users/${encodeURIComponent(u.name)}`); } catch (e) { $('users-error').textContent = e.message; }
		loadUsers();
	}
	async function invite(ev) {
		ev.preventDefault();
		const name = $('invite-name').value.trim();
		$('users-error').textContent = '';
		let j;
		try {
			j = await api('POST', '/v1/users', { name, role: $('invite-role').value, invite: true });
		} catch (e) { $('users-error').textContent = e.message; return; }
		$('invite-name').value = '';
		$('invite-who').textContent = j.name;
		$('invite-otp').value = j.one_time_password;
		$('invite-copy').textContent = 'Copy';
		show('invite-done', true);
		$('invite-otp').select();
		loadUsers();
	}
	function copy(input, button) {
		const done = () => { button.textContent = 'Copied'; ctx.announce('Copied'); };
		const fallback = () => { input.select(); if (document.execCommand('copy')) done(); };
		if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(input.value).then(done, fallback);
		else fallback();
	}
	function closeSecret(box, input) {
		input.value = '';
		show(box, false);
	}

	// -------------------------------------------------------------- keys
	async function loadKeys() {
		$('keys-org').textContent = S.me ? `of ${S.me.org}` : '';
		let list;
		try { list = (await api('GET', '/v1/keys')).keys; } catch (e) { $('keys-error').textContent = 'Could not list keys: ' + e.message; return; }
		$('keys-list').replaceChildren(...list.map((k) => h('tr', { 'data-key': k.id },
			h('th', { scope: 'row', text: k.name }), h('td', {}, h('code', { text: k.prefix + '\u2026' })),
			h('td', { text: k.scopes.join(', ') }), h('td', { text: when(k.created_at) }),
			h('td', { text: when(k.last_used_at) || 'never' }), h('td', { text: when(k.expires_at) || 'never' }),
			h('td', {}, h('button', { type: 'button', class: 'danger', onclick: () => revoke(k), text: 'Revoke' })))));
		if (!list.length) $('keys-list').replaceChildren(h('tr', {}, h('td', { colspan: 7, class: 'muted', text: 'No keys.' })));
	}
	async function revoke(k) {
		if (!confirm(`Revoke the key ${k.name} (${k.prefix}\u2026)? Every client using it is refused at once.`)) return;
		$('keys-error').textContent = '';
		try { await api('DELETE', `/v1/keys/${k.id}`); } catch (e) { $('keys-error').textContent = e.message; }
		loadKeys();
	}
	async function createKey(ev) {
		ev.preventDefault();
		const scopes = [...$('key-scopes').querySelectorAll('input:checked')].map((i) => i.value);
		const body = { name: $('key-name').value.trim(), scopes };
		const exp = $('key-expires').value;
		$('keys-error').textContent = '';
		if (!scopes.length) { $('keys-error').textContent = 'Choose at least one scope.'; return; }
		if (exp) body.expires_at = new Date(exp).toISOString().replace(/\.\d{3}Z$/, 'Z');
		let j;
		try { j = await api('POST', '/v1/keys', body); } catch (e) { $('keys-error').textContent = e.message; return; }
		$('key-form').reset();
		$('key-secret').value = j.key;
		$('key-copy').textContent = 'Copy';
		show('key-done', true);
		$('key-secret').select();
		loadKeys();
	}

	// ---------------------------------------------------------- password
	function showPwChange() {
		show('app', false);
		show('login', false);
		show('pwchange', true);
		$('pw-error').textContent = '';
		$('pw-current').focus();
	}
	async function changePassword(ev) {
		ev.preventDefault();
		const current = $('pw-current').value;
		const next = $('pw-new').value;
		const err = $('pw-error');
		if (next !== $('pw-repeat').value) { err.textContent = 'The new passwords differ.'; return; }
		if (next.length < 8) { err.textContent = 'Choose at least 8 characters.'; return; }
		if (next === current) { err.textContent = 'Choose a password other than the one you were given.'; return; }
		try {
			await api('PUT', '/v1/auth/password', { current, new: next });
		} catch (e) {
			err.textContent = e.status === 401 ? 'The current password is wrong.' : e.message;
			return;
		}
		for (const id of ['pw-current', 'pw-new', 'pw-repeat']) $(id).value = '';
		show('pwchange', false);
		// Every session of ours ended with the change, this one too: sign in with the new password.
		try {
			const j = await api('POST', '/v1/session', { user: S.user, password: next });
			S.csrf = j.csrf;
		} catch {
			ctx.loggedOut('Password changed; sign in with it.');
			return;
		}
		ctx.start();
	}

	function wire() {
		$('org-switch').addEventListener('change', switchOrg);
		$('invite-form').addEventListener('submit', invite);
		$('invite-copy').addEventListener('click', () => copy($('invite-otp'), $('invite-copy')));
		$('invite-close').addEventListener('click', () => closeSecret($('invite-done'), $('invite-otp')));
		$('key-form').addEventListener('submit', createKey);
		$('key-copy').addEventListener('click', () => copy($('key-secret'), $('key-copy')));
		$('key-close').addEventListener('click', () => closeSecret($('key-done'), $('key-secret')));
		$('key-scopes').append(...SCOPES.map((s) => h('label', {},
			h('input', { type: 'checkbox', value: s, 'data-scope': s, checked: s === 'messages:read' }), ' ' + s)));
		$('pw-form').addEventListener('submit', changePassword);
		$('pw-cancel').addEventListener('click', () => ctx.logout());
	}

	return { start, route, wire, showPwChange, forget };
};
