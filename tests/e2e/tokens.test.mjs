// Access tokens (JWT, HS256): POST /v1/auth/token exchanges a password or
// an API key for a 15-minute token, accepted as a bearer; what it may do is
// decided again at each request (a new role, a revoked key). Forged, altered,
// "alg: none" and other organizations' tokens are refused.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { msgdTest, request, assertError, assertStatus } from './lib.mjs';

const PW = 'correct horse battery';
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');

function bearer(d, t, headers = {}) {
	return (method, p, body, more = {}) => request(d.url, method, p, body, { authorization: `Bearer ${t}`, ...headers, ...more });
}

describe('access tokens', () => {
	msgdTest('a user\'s password or an API key → a token; roles and revocation hold at once', async (h) => {
		const d = await h.start();
		assertStatus(await d.api('POST', '/v1/users', { name: 'vic', password: PW, role: 'viewer' }), 201);
		const r = assertStatus(await request(d.url, 'POST', '/v1/auth/token', { user: 'vic', password: PW }), 200);
		assert.equal(r.token_type, 'Bearer');
		assert.equal(r.expires_in, 900);
		const [hd, pl] = r.access_token.split('.').map((x, i) => (i < 2 ? JSON.parse(Buffer.from(x, 'base64url')) : x));
		assert.equal(hd.alg, 'HS256');
		assert.ok(hd.kid);
		assert.equal(pl.sub, 'vic');
		assert.equal(pl.org, 'default');
		assert.equal(pl.exp - pl.iat, 900);
		const t = bearer(d, r.access_token);
		let me = assertStatus(await t('GET', '/v1/auth/me'), 200);
		assert.equal(me.kind, 'user');
		assert.equal(me.role, 'viewer');
		assertStatus(await t('GET', '/v1/conversations'), 200);
		assertError(await t('POST', '/v1/messages', { channel: 'sandbox', to: '15550003333', text: 'x' }), 403, 'forbidden');
		// A new role holds for the same token at once.
		assertStatus(await d.api('PATCH', '/v1/users/vic', { role: 'agent' }), 200);
		me = assertStatus(await t('GET', '/v1/auth/me'), 200);
		assert.equal(me.role, 'agent');
		assertStatus(await t('POST', '/v1/messages', { channel: 'sandbox', to: '15550003333', text: 'x' }), 202);
		assertError(await request(d.url, 'POST', '/v1/auth/token', { user: 'vic', password: 'wrong password' }), 401, 'invalid_credentials');
		assertError(await request(d.url, 'POST', '/v1/auth/token', { user: 'vic' }), 422, 'validation_failed');

		const key = assertStatus(await d.api('POST', '/v1/keys', { name: 'ci', scopes: ['events:read'] }), 201);
		const kr = assertStatus(await request(d.url, 'POST', '/v1/auth/token', { key: key.key }), 200);
		const kt = bearer(d, kr.access_token);
		me = assertStatus(await kt('GET', '/v1/auth/me'), 200);
		assert.equal(me.kind, 'key');
		assert.deepEqual(me.scopes, ['events:read']);
		assertStatus(await kt('GET', '/v1/events?since=0'), 200);
		assertError(await kt('GET', '/v1/conversations'), 403, 'forbidden');
		assertStatus(await d.api('DELETE', `/v1/keys/${key.id}`), 204);
		assertError(await kt('GET', '/v1/events?since=0'), 401, 'unauthorized');
		assertError(await request(d.url, 'POST', '/v1/auth/token', { key: key.key }), 401, 'invalid_credentials');
		assertError(await request(d.url, 'POST', '/v1/auth/token', { key: d.token }), 401, 'invalid_credentials');
	});

	msgdTest('forged, altered, alg none, wrong key, another organization: refused', async (h) => {
		const d = await h.start();
		assertStatus(await d.api('POST', '/v1/orgs', { name: 'acme' }), 201);
		assertStatus(await d.api('POST', '/v1/users', { name: 'amy', password: PW, role: 'admin' }, { 'msgd-org': 'acme' }), 201);
		const r = assertStatus(await request(d.url, 'POST', '/v1/auth/token', { user: 'amy', password: PW }), 200);
		const [hd, pl, sig] = r.access_token.split('.');
		const claims = JSON.parse(Buffer.from(pl, 'base64url'));
		assert.equal(claims.org, 'acme', 'a member of acme only gets a token for acme');
		const t = bearer(d, r.access_token);
		assertStatus(await t('GET', '/v1/channels'), 200);
		assertError(await t('GET', '/v1/channels', undefined, { 'msgd-org': 'default' }), 404, 'not_found');

		const header = JSON.parse(Buffer.from(hd, 'base64url'));
		const bad = [
			// alg none, no signature
			`${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...claims, org: 'default', org_id: 1 })}.`,
			// the payload changed, the signature kept
			`${hd}.${b64({ ...claims, org: 'default', org_id: 1, role: 'owner' })}.${sig}`,
			// signed with another key under the same kid
			(() => {
				const body = `${hd}.${b64({ ...claims, org: 'default', org_id: 1 })}`;
				return `${body}.${crypto.createHmac('sha256', crypto.randomBytes(32)).update(body).digest('base64url')}`;
			})(),
			// HS384 with the same (unknown to us) key
			`${b64({ ...header, alg: 'HS384' })}.${pl}.${sig}`,
			// expired long ago (and so re-signed wrongly too)
			`${hd}.${b64({ ...claims, exp: 1000, nbf: 0, iat: 0 })}.${sig}`,
		];
		for (const tok of bad) {
			const res = await bearer(d, tok)('GET', '/v1/channels');
			assertError(res, 401, 'unauthorized');
			assert.match(res.json.error.message, /access token/);
		}
	});
});
