// ?org=NAME names the organization a request acts in exactly as the
// Msgd-Org header does (for a browser's EventSource, which sends no
// headers): the header wins when both are given; an organization the caller
// may not act in answers 404, as with the header; the event stream follows it.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { msgdTest, request, assertError, assertStatus, followStream, waitFor } from './lib.mjs';

const PW = 'correct horse battery';

describe('org query parameter', () => {
	msgdTest('?org= acts as Msgd-Org for users, keys and the admin token, and on the stream', async (h) => {
		const d = await h.start();
		const acme = { 'msgd-org': 'acme' };
		assertStatus(await d.api('POST', '/v1/orgs', { name: 'acme' }), 201);
		assertStatus(await d.api('POST', '/v1/orgs', { name: 'other' }), 201);
		assertStatus(await d.api('POST', '/v1/channels', { name: 'sandbox', type: 'sandbox', config: {} }, acme), 201);
		assertStatus(await d.api('POST', '/v1/users', { name: 'ada', password: PW, role: 'agent' }), 201);
		assertStatus(await d.api('POST', '/v1/users', { name: 'ada', role: 'viewer' }, acme), 201);
		const r = await request(d.url, 'POST', '/v1/session', { user: 'ada', password: PW });
		const cookie = { cookie: r.headers.get('set-cookie').split(';')[0] };

		const me = async (q, headers = {}) => request(d.url, 'GET', '/v1/auth/me' + q, undefined, { ...cookie, ...headers });
		assert.equal(assertStatus(await me(''), 200).org, 'default');
		const inAcme = assertStatus(await me('?org=acme'), 200);
		assert.equal(inAcme.org, 'acme');
		assert.equal(inAcme.role, 'viewer');
		assert.equal(assertStatus(await me('?org=acme', { 'msgd-org': 'default' }), 200).org, 'default', 'the header wins');
		assert.equal(assertStatus(await me('?org=nowhere', { 'msgd-org': 'acme' }), 200).org, 'acme');
		assert.equal(assertError(await me('?org=other'), 404, 'not_found').field, 'Msgd-Org', 'not a member: 404');
		assertError(await me('?org=nowhere'), 404, 'not_found');
		// The role is the one there: a viewer in acme may not send.
		assertError(await request(d.url, 'POST', '/v1/sandbox/sandbox/inbound?org=acme', { from: '1555', text: 'x' },
			{ ...cookie, 'x-msgd-csrf': r.json.csrf }), 403, 'forbidden');

		// A key acts in its own organization only, named by either.
		const key = assertStatus(await d.api('POST', '/v1/keys', { name: 'k', scopes: ['messages:read'] }), 201).key;
		const bearer = { authorization: `Bearer ${key}` };
		assertStatus(await request(d.url, 'GET', '/v1/channels?org=default', undefined, bearer), 200);
		assertError(await request(d.url, 'GET', '/v1/channels?org=acme', undefined, bearer), 404, 'not_found');

		// The stream: acme's events only with ?org=acme.
		const st = followStream(d, { query: '?org=acme' });
		h.t.after(() => st.stop());
		await waitFor(() => st.status === 200 && st.lastId !== undefined, 5000, { what: 'the stream open' });
		assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '15550001111', text: 'in default' }), 201);
		assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '15550002222', text: 'in acme' }, acme), 201);
		await waitFor(() => st.events.some((e) => e.data?.text === 'in acme'), 5000, { what: 'acme\'s event' });
		assert.ok(!st.events.some((e) => e.data?.text === 'in default'), 'nothing of default');
		await st.stop();
	});
});
