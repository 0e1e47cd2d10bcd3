// Invites: an admin makes a user with a one-time password (shown once,
// never listed); that user logs in with it, may then only read who they
// are and set a password of their own (403 password_change_required on
// every other route, whatever carries the login: cookie or access token);
// setting it checks the current one (401 when wrong) and ends every
// session of theirs; afterwards the old password is refused and the new
// one works. An admin's reset may ask for the same change.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { msgdTest, request, assertError, assertStatus } from './lib.mjs';

const PW = 'correct horse battery';
const NEW_PW = 'my very own password';

async function login(d, user, password) {
	const r = await request(d.url, 'POST', '/v1/session', { user, password });
	if (r.status !== 201) return { status: r.status, res: r };
	const cookie = r.headers.get('set-cookie').split(';')[0];
	const base = { cookie, 'x-msgd-csrf': r.json.csrf };
	const as = (method, p, body, headers = {}) => request(d.url, method, p, body, { ...base, ...headers });
	return { status: 201, body: r.json, as, cookie };
}

// Routes a user must not reach before changing their password (each
// reachable by an admin otherwise).
const BLOCKED = [
	['GET', '/v1/conversations'],
	['GET', '/v1/channels'],
	['GET', '/v1/events?since=0'],
	['GET', '/v1/stream'],
	['POST', '/v1/messages', { channel: 'sandbox', to: '+15551234567', text: 'hi' }],
	['GET', '/v1/users'],
	['POST', '/v1/keys', { name: 'k', scopes: ['messages:read'] }],
	['PUT', '/v1/users/newbie/password', { password: NEW_PW }],
];

describe('invites', () => {
	msgdTest('a one-time password logs in once, allows only the password change, then is gone', async (h) => {
		const d = await h.start();
		const inv = assertStatus(await d.api('POST', '/v1/users', { name: 'newbie', role: 'admin', invite: true }),
			201, 'invite');
		assert.equal(inv.name, 'newbie');
		assert.equal(inv.role, 'admin');
		assert.equal(inv.must_change_password, true);
		assert.match(inv.one_time_password, /^[A-Za-z0-9_-]{22}$/);
		const otp = inv.one_time_password;

		// Never shown again: not in the list, nor in anything the daemon answers about the user.
		const list = assertStatus(await d.api('GET', '/v1/users'), 200);
		assert.ok(!JSON.stringify(list).includes(otp), 'the list never shows the one-time password');
		const listed = list.users.find((u) => u.name === 'newbie');
		assert.equal(listed.must_change_password, true);
		assert.equal(listed.one_time_password, undefined);
		assert.equal(listed.role, 'admin');

		// A login with it works, and says a change is required.
		const s = await login(d, 'newbie', otp);
		assert.equal(s.status, 201);
		assert.equal(s.body.password_change_required, true);
		const sess = assertStatus(await s.as('GET', '/v1/session'), 200);
		assert.equal(sess.password_change_required, true);
		const me = assertStatus(await s.as('GET', '/v1/auth/me'), 200);
		assert.equal(me.password_change_required, true);
		assert.equal(me.role, 'admin');

		// Everything else: 403 password_change_required (the role would allow it).
		for (const [method, p, body] of BLOCKED)
			assertError(await s.as(method, p, body), 403, 'password_change_required');
		// An access token made with it is held to the same rule.
		const tok = assertStatus(await request(d.url, 'POST', '/v1/auth/token', { user: 'newbie', password: otp }), 200);
		const bearer = { authorization: `Bearer ${tok.access_token}` };
		assertError(await request(d.url, 'GET', '/v1/conversations', undefined, bearer), 403, 'password_change_required');
		assert.equal((await request(d.url, 'GET', '/v1/auth/me', undefined, bearer)).json.password_change_required, true);

		// Bad input changes nothing.
		assertError(await s.as('PUT', '/v1/auth/password', { current: otp }), 422, 'validation_failed');
		assertError(await s.as('PUT', '/v1/auth/password', { current: otp, new: 'short' }), 422, 'validation_failed');
		assertError(await s.as('PUT', '/v1/auth/password', { current: otp, new: otp }), 422, 'validation_failed');
		assertError(await s.as('PUT', '/v1/auth/password', { current: otp, new: NEW_PW, x: 1 }), 422, 'validation_failed');
		// The session's CSRF token is needed, as for every change.
		assertError(await s.as('PUT', '/v1/auth/password', { current: otp, new: NEW_PW }, { 'x-msgd-csrf': null }),
			403, 'csrf_failed');
		// A wrong current password: 401, and nothing changed.
		assertError(await s.as('PUT', '/v1/auth/password', { current: 'not the password', new: NEW_PW }),
			401, 'invalid_credentials');
		assertError(await s.as('GET', '/v1/conversations'), 403, 'password_change_required');

		// The change: 204, the cookie cleared, every session of theirs ended (this one too).
		const other = await login(d, 'newbie', otp);
		assert.equal(other.status, 201);
		const ch = await s.as('PUT', '/v1/auth/password', { current: otp, new: NEW_PW });
		assert.equal(ch.status, 204, ch.text);
		assert.match(ch.headers.get('set-cookie') ?? '', /msgd_session=;/);
		assertError(await s.as('GET', '/v1/auth/me'), 401, 'unauthorized');
		assertError(await other.as('GET', '/v1/auth/me'), 401, 'unauthorized');

		// The one-time password is spent; the new one works, with the role's rights.
		assertError(await request(d.url, 'POST', '/v1/session', { user: 'newbie', password: otp }), 401, 'invalid_credentials');
		const s2 = await login(d, 'newbie', NEW_PW);
		assert.equal(s2.status, 201);
		assert.equal(s2.body.password_change_required, false);
		assert.equal((await s2.as('GET', '/v1/auth/me')).json.password_change_required, false);
		assertStatus(await s2.as('GET', '/v1/conversations'), 200);
		const after = assertStatus(await s2.as('GET', '/v1/users'), 200);
		assert.equal(after.users.find((u) => u.name === 'newbie').must_change_password, false);
		// The token made before the change is no longer held back either (it is the user's).
		assertStatus(await request(d.url, 'GET', '/v1/conversations', undefined, bearer), 200);
	});

	msgdTest('invite input: no password with an invite, names unique, roles within reach; only users change their own', async (h) => {
		const d = await h.start();
		assertError(await d.api('POST', '/v1/users', { name: 'x', invite: true, password: PW }), 422, 'validation_failed');
		assertError(await d.api('POST', '/v1/users', { name: 'x', invite: 'yes' }), 422, 'validation_failed');
		assertError(await d.api('POST', '/v1/users', { name: 'bad name', invite: true }), 422, 'validation_failed');
		assertStatus(await d.api('POST', '/v1/users', { name: 'ada', password: PW, role: 'admin' }), 201);
		assertError(await d.api('POST', '/v1/users', { name: 'ada', invite: true }), 409, 'conflict');
		const ada = await login(d, 'ada', PW);
		assert.equal(ada.body.password_change_required, false);
		assertError(await ada.as('POST', '/v1/users', { name: 'boss', invite: true, role: 'owner' }), 403, 'forbidden');
		const v = assertStatus(await ada.as('POST', '/v1/users', { name: 'vi', invite: true, role: 'viewer' }), 201);
		assert.equal(v.role, 'viewer');
		// Default role: agent.
		assert.equal(assertStatus(await ada.as('POST', '/v1/users', { name: 'ag', invite: true }), 201).role, 'agent');
		// A key or the admin token has no password of its own.
		assertError(await d.api('PUT', '/v1/auth/password', { current: PW, new: NEW_PW }), 403, 'forbidden');
		// Unauthenticated: 401.
		assertError(await request(d.url, 'PUT', '/v1/auth/password', { current: PW, new: NEW_PW }), 401, 'unauthorized');
		// A user without the flag changes theirs too; the old one is refused afterwards.
		assert.equal((await ada.as('PUT', '/v1/auth/password', { current: PW, new: NEW_PW })).status, 204);
		assertError(await request(d.url, 'POST', '/v1/session', { user: 'ada', password: PW }), 401, 'invalid_credentials');
		assert.equal((await login(d, 'ada', NEW_PW)).status, 201);
	});

	msgdTest('an admin\'s reset may require a change; a plain reset does not', async (h) => {
		const d = await h.start();
		assertStatus(await d.api('POST', '/v1/users', { name: 'cy', password: PW, role: 'agent' }), 201);
		assertError(await d.api('PUT', '/v1/users/cy/password', { password: PW, must_change_password: 1 }),
			422, 'validation_failed');
		assert.equal((await d.api('PUT', '/v1/users/cy/password', { password: PW + '1', must_change_password: true })).status, 204);
		const s = await login(d, 'cy', PW + '1');
		assert.equal(s.body.password_change_required, true);
		assertError(await s.as('GET', '/v1/conversations'), 403, 'password_change_required');
		assert.equal((await d.api('PUT', '/v1/users/cy/password', { password: PW + '2' })).status, 204);
		const s2 = await login(d, 'cy', PW + '2');
		assert.equal(s2.body.password_change_required, false);
		assertStatus(await s2.as('GET', '/v1/conversations'), 200);
	});

	msgdTest('the flag survives a restart', async (h) => {
		const d = await h.start();
		const otp = assertStatus(await d.api('POST', '/v1/users', { name: 'dee', invite: true, role: 'viewer' }), 201)
			.one_time_password;
		await d.stop();
		const d2 = await h.start({ dataDir: d.dataDir, token: d.token });
		const s = await login(d2, 'dee', otp);
		assert.equal(s.body.password_change_required, true);
		assertError(await s.as('GET', '/v1/conversations'), 403, 'password_change_required');
	});
});
