// API keys: made with scopes in the caller's organization, shown once, used
// as a bearer token with exactly the scopes' permissions, listed with when
// they were last used (never the secret), revoked at once, expiring.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { msgdTest, request, assertError, assertStatus, waitFor } from './lib.mjs';

function as(d, key, headers = {}) {
	return (method, p, body, more = {}) => request(d.url, method, p, body,
		{ authorization: `Bearer ${key}`, ...headers, ...more });
}

describe('API keys', () => {
	msgdTest('create (secret once), use with its scopes only, list with last_used_at, revoke at once', async (h) => {
		const d = await h.start();
		const made = assertStatus(await d.api('POST', '/v1/keys', { name: 'shop backend', scopes: ['messages:send', 'messages:read'] }), 201);
		assert.match(made.key, /^msgd_[0-9a-f]{64}$/);
		assert.equal(made.prefix, made.key.slice(0, 13));
		assert.deepEqual(made.scopes, ['messages:send', 'messages:read']);
		assert.equal(made.expires_at, null);
		const k = as(d, made.key);
		const me = assertStatus(await k('GET', '/v1/auth/me'), 200);
		assert.equal(me.kind, 'key');
		assert.equal(me.org, 'default');
		assert.equal(me.role, null);
		assert.deepEqual(me.scopes, ['messages:send', 'messages:read']);
		assertStatus(await k('GET', '/v1/conversations'), 200);
		assertStatus(await k('POST', '/v1/sandbox/sandbox/inbound', { from: '15550002222', text: 'hi' }), 201);
		let r = await k('POST', '/v1/channels', { name: 'x', type: 'sandbox' });
		assertError(r, 403, 'forbidden');
		assert.match(r.json.error.message, /channels:write/);
		assertError(await k('GET', '/v1/events?since=0'), 403, 'forbidden');
		assertError(await k('GET', '/v1/keys'), 403, 'forbidden');
		assertError(await k('GET', '/v1/channels', undefined, { 'msgd-org': 'other' }), 404, 'not_found');

		// Listed without the secret; its use is written within seconds.
		const listed = await waitFor(async () => {
			const l = assertStatus(await d.api('GET', '/v1/keys'), 200).keys;
			return l.length === 1 && l[0].last_used_at !== null && l;
		}, 15_000, { what: 'last_used_at written' });
		assert.equal(listed[0].id, made.id);
		assert.equal(listed[0].name, 'shop backend');
		assert.equal(listed[0].prefix, made.prefix);
		const text = JSON.stringify(listed);
		assert.ok(!text.includes(made.key) && !text.includes(made.key.slice(13)), 'the secret is never listed');
		assert.ok(Math.abs(Date.parse(listed[0].last_used_at) - Date.now()) < 60_000);

		assert.equal((await d.api('DELETE', `/v1/keys/${made.id}`)).status, 204);
		assertError(await k('GET', '/v1/conversations'), 401, 'unauthorized');
		assertError(await d.api('DELETE', `/v1/keys/${made.id}`), 404, 'not_found');
		assert.deepEqual(assertStatus(await d.api('GET', '/v1/keys'), 200).keys, []);
		// A session a key made ends with it.
		const again = assertStatus(await d.api('POST', '/v1/keys', { name: 'panel', scopes: ['messages:read'] }), 201);
		const s = await request(d.url, 'POST', '/v1/session', { token: again.key });
		assert.equal(s.status, 201, s.text);
		const cookie = s.headers.get('set-cookie').split(';')[0];
		assertStatus(await request(d.url, 'GET', '/v1/conversations', undefined, { cookie }), 200);
		assertError(await request(d.url, 'POST', '/v1/channels', { name: 'y', type: 'sandbox' },
			{ cookie, 'x-msgd-csrf': s.json.csrf }), 403, 'forbidden');
		assert.equal((await d.api('DELETE', `/v1/keys/${again.id}`)).status, 204);
		assertError(await request(d.url, 'GET', '/v1/conversations', undefined, { cookie }), 401, 'unauthorized');
	});

	msgdTest('validation, scopes above the caller\'s, expiry, and organizations', async (h) => {
		const d = await h.start();
		assertError(await d.api('POST', '/v1/keys', { name: 'x', scopes: [] }), 422, 'validation_failed');
		assertError(await d.api('POST', '/v1/keys', { name: 'x', scopes: ['messages:write'] }), 422, 'validation_failed');
		assertError(await d.api('POST', '/v1/keys', { scopes: ['admin'] }), 422, 'validation_failed');
		assertError(await d.api('POST', '/v1/keys', { name: 'x', scopes: ['admin'], owner: 'me' }), 422, 'validation_failed');
		assertError(await d.api('POST', '/v1/keys', { name: 'x', scopes: ['admin'], expires_at: '2001-01-01T00:00:00Z' }), 422, 'validation_failed');

		// An admin-scoped key makes keys, but none with more than it holds.
		const adm = assertStatus(await d.api('POST', '/v1/keys', { name: 'ops', scopes: ['admin'] }), 201);
		const ka = as(d, adm.key);
		assertStatus(await ka('POST', '/v1/keys', { name: 'ci', scopes: ['messages:send'] }), 201);
		assertStatus(await ka('POST', '/v1/channels', { name: 'sb2', type: 'sandbox' }), 201);

		// Expiry: accepted until then, 401 after.
		const soon = new Date(Date.now() + 2000).toISOString().replace(/\.\d+Z$/, 'Z');
		const exp = assertStatus(await d.api('POST', '/v1/keys', { name: 'short', scopes: ['messages:read'], expires_at: soon }), 201);
		assert.equal(exp.expires_at, soon);
		await waitFor(async () => (await as(d, exp.key)('GET', '/v1/channels')).status === 401, 10_000, { what: 'expired key refused' });

		// A key of another organization sees only that one.
		assertStatus(await d.api('POST', '/v1/orgs', { name: 'acme' }), 201);
		const kb = assertStatus(await d.api('POST', '/v1/keys', { name: 'b', scopes: ['messages:read'] }, { 'msgd-org': 'acme' }), 201);
		const b = as(d, kb.key);
		assert.equal(assertStatus(await b('GET', '/v1/auth/me'), 200).org, 'acme');
		assert.deepEqual(assertStatus(await b('GET', '/v1/channels'), 200).channels, []);
		assertStatus(await b('GET', '/v1/channels', undefined, { 'msgd-org': 'acme' }), 200);
		assertError(await b('GET', '/v1/channels', undefined, { 'msgd-org': 'default' }), 404, 'not_found');
		assert.equal(assertStatus(await d.api('GET', '/v1/keys'), 200).keys.every((k) => k.name !== 'b'), true);
		assertError(await d.api('DELETE', `/v1/keys/${kb.id}`), 404, 'not_found');

		// Agents make no keys.
		assertStatus(await d.api('POST', '/v1/users', { name: 'al', password: 'correct horse battery', role: 'agent' }), 201);
		const s = await request(d.url, 'POST', '/v1/session', { user: 'al', password: 'correct horse battery' });
		const cookie = s.headers.get('set-cookie').split(';')[0];
		assertError(await request(d.url, 'POST', '/v1/keys', { name: 'z', scopes: ['messages:send'] },
			{ cookie, 'x-msgd-csrf': s.json.csrf }), 403, 'forbidden');
	});
});
