// API rate limits: token buckets per key (or user) and per organization,
// set in the organization's settings; over either, 429 rate_limited with
// Retry-After and RateLimit-* headers. The admin token is not limited.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { msgdTest, request, assertError, assertStatus, waitFor, startPeer } from './lib.mjs';

const PG = /^postgres(ql)?:\/\//.test(process.env.MSGD_TEST_DATABASE || '');

function as(d, key) {
	return (method, p, body) => request(d.url, method, p, body, { authorization: `Bearer ${key}` });
}

describe('API rate limits', () => {
	msgdTest('per key, then per organization; headers; refill; the admin token is not limited', async (h) => {
		const d = await h.start();
		const org = assertStatus(await d.api('PATCH', '/v1/orgs/default', { settings: {
			api_requests_per_second_per_key: 1, api_burst_per_key: 3,
			api_requests_per_second: 1, api_burst: 5,
		} }), 200);
		assert.equal(org.settings.api_burst_per_key, 3);
		assertError(await d.api('PATCH', '/v1/orgs/default', { settings: { api_burst: -1 } }), 422, 'validation_failed');
		assertError(await d.api('PATCH', '/v1/orgs/default', { settings: { nope: 1 } }), 422, 'validation_failed');
		assertError(await d.api('PATCH', '/v1/orgs/default', { name: 'x' }), 422, 'validation_failed');
		const k1 = as(d, assertStatus(await d.api('POST', '/v1/keys', { name: 'a', scopes: ['messages:read'] }), 201).key);
		const k2 = as(d, assertStatus(await d.api('POST', '/v1/keys', { name: 'b', scopes: ['messages:read'] }), 201).key);

		const got = [];
		for (let i = 0; i < 4; i++) got.push(await k1('GET', '/v1/channels'));
		assert.deepEqual(got.map((r) => r.status), [200, 200, 200, 429]);
		assert.equal(got[0].headers.get('ratelimit-limit'), '3');
		assert.equal(got[2].headers.get('ratelimit-remaining'), '0');
		assertError(got[3], 429, 'rate_limited');
		assert.ok(Number(got[3].headers.get('retry-after')) >= 1);
		assert.ok(Number(got[3].headers.get('ratelimit-reset')) >= 1);
		// The organization's bucket: 5 in all (refilling 1/s), k1 spent 3:
		// k2, with a bucket of its own, soon meets the organization's end.
		let ok2 = 0, last;
		for (let i = 0; i < 6; i++) {
			last = await k2('GET', '/v1/channels');
			if (last.status !== 200) break;
			ok2++;
		}
		assertError(last, 429, 'rate_limited');
		assert.match(last.json.error.message, /organization/);
		assert.ok(ok2 >= 1 && ok2 <= 3, `k2 got ${ok2} before the organization's limit`);
		// The admin token is the operator: never limited.
		for (let i = 0; i < 10; i++) assertStatus(await d.api('GET', '/v1/channels'), 200);
		// Tokens come back with time.
		await waitFor(async () => (await k1('GET', '/v1/channels')).status === 200, 10_000, { what: 'refill' });
		// Another organization has its own buckets.
		assertStatus(await d.api('POST', '/v1/orgs', { name: 'acme' }), 201);
		const kb = as(d, assertStatus(await d.api('POST', '/v1/keys', { name: 'c', scopes: ['messages:read'] }, { 'msgd-org': 'acme' }), 201).key);
		for (let i = 0; i < 5; i++) assertStatus(await kb('GET', '/v1/channels'), 200);
		assert.equal(assertStatus(await d.api('GET', '/v1/orgs/acme'), 200).settings.api_burst_per_key, 100);
	});

	msgdTest('settings: owners change them; admins and agents cannot; other organizations are 404', async (h) => {
		const d = await h.start();
		const PW = 'correct horse battery';
		assertStatus(await d.api('POST', '/v1/users', { name: 'adm', password: PW, role: 'admin' }), 201);
		const s = await request(d.url, 'POST', '/v1/session', { user: 'adm', password: PW });
		const h2 = { cookie: s.headers.get('set-cookie').split(';')[0], 'x-msgd-csrf': s.json.csrf };
		assertStatus(await request(d.url, 'GET', '/v1/orgs/default', undefined, h2), 200);
		const r = await request(d.url, 'PATCH', '/v1/orgs/default', { settings: { messages_per_day: 100 } }, h2);
		assertError(r, 403, 'forbidden');
		assert.match(r.json.error.message, /org:manage/);
		assertStatus(await d.api('POST', '/v1/orgs', { name: 'acme' }), 201);
		assertError(await request(d.url, 'GET', '/v1/orgs/acme', undefined, h2), 404, 'not_found');
		const ok = assertStatus(await d.api('PATCH', '/v1/orgs/default', { settings: { messages_per_day: 100, retention_days: 30 } }), 200);
		assert.equal(ok.settings.messages_per_day, 100);
		assert.equal(ok.settings.retention_days, 30);
		assert.equal(ok.settings.messages_per_hour, 0);
	});

	msgdTest('two instances: each enforces half, so the organization never gets more than its limit', async (h) => {
		const a = await h.start();
		const b = await startPeer(h, a);
		assertStatus(await a.api('PATCH', '/v1/orgs/default', { settings: {
			api_requests_per_second_per_key: 10, api_burst_per_key: 40, api_requests_per_second: 100, api_burst: 1000,
		} }), 200);
		const key = assertStatus(await a.api('POST', '/v1/keys', { name: 'k', scopes: ['messages:read'] }), 201).key;
		// Both hear of the other (their instance leases) and of the settings.
		for (const d of [a, b]) {
			await waitFor(async () => (await as(d, key)('GET', '/v1/channels')).headers.get('ratelimit-limit') === '20',
				15_000, { what: 'half the burst on each instance' });
		}
	}, { skip: PG ? false : 'runs on PostgreSQL only (MSGD_TEST_DATABASE=postgres://...)' });
});
