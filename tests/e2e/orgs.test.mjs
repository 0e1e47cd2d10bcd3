// Organizations: the admin token creates and lists them and acts in the one
// the Msgd-Org header names; two organizations with the same channel names,
// contacts and client_ids never see each other's data (reads, sends,
// cancels, events, streams, event webhooks), and another organization's ids
// read as 404.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
	msgdTest, assertError, assertStatus, followStream, waitFor, createWaChannel, request,
} from './lib.mjs';
import { wsConnect } from './wsclient.mjs';

const B = { 'msgd-org': 'acme' };

/** A local HTTP receiver for event webhooks. */
async function receiver() {
	const got = [];
	const srv = http.createServer((req, res) => {
		let body = '';
		req.on('data', (c) => { body += c; });
		req.on('end', () => { got.push(JSON.parse(body)); res.end('ok'); });
	});
	await new Promise((r) => srv.listen(0, '127.0.0.1', r));
	return { url: `http://127.0.0.1:${srv.address().port}/hook`, got, close: () => new Promise((r) => srv.close(r)) };
}

describe('organizations', () => {
	msgdTest('a fresh install has "default"; the admin token creates, lists and acts in organizations', async (h) => {
		const d = await h.start();
		let r = assertStatus(await d.api('GET', '/v1/orgs'), 200);
		assert.deepEqual(r.orgs.map((o) => o.name), ['default']);
		const me = assertStatus(await d.api('GET', '/v1/auth/me'), 200);
		assert.equal(me.org, 'default');
		assert.equal(me.kind, 'admin');
		assert.equal(me.role, 'owner');
		assert.equal(me.platform_admin, true);
		assert.ok(me.permissions.includes('platform'));

		const made = assertStatus(await d.api('POST', '/v1/orgs', { name: 'acme' }), 201);
		assert.equal(made.name, 'acme');
		assert.ok(made.id > 1);
		assertError(await d.api('POST', '/v1/orgs', { name: 'acme' }), 409, 'conflict');
		assertError(await d.api('POST', '/v1/orgs', { name: 'Acme Corp' }), 422, 'validation_failed');
		assertError(await d.api('POST', '/v1/orgs', { name: 'x', plan: 'gold' }), 422, 'validation_failed');
		r = assertStatus(await d.api('GET', '/v1/orgs'), 200);
		assert.deepEqual(r.orgs.map((o) => o.name), ['default', 'acme']);

		const inB = assertStatus(await d.api('GET', '/v1/auth/me', undefined, B), 200);
		assert.equal(inB.org, 'acme');
		assertError(await d.api('GET', '/v1/channels', undefined, { 'msgd-org': 'nope' }), 404, 'not_found');
		// A new organization has no channel, not even the sandbox.
		assert.deepEqual(assertStatus(await d.api('GET', '/v1/channels', undefined, B), 200).channels, []);

		// A platform admin user: made by the admin token (not by an owner), then
		// acts in any organization and lists them all.
		const PW = 'correct horse battery';
		assertStatus(await d.api('POST', '/v1/users', { name: 'pat', password: PW, role: 'viewer' }), 201);
		assertStatus(await d.api('POST', '/v1/users', { name: 'own', password: PW, role: 'owner' }), 201);
		const tok = async (u) => assertStatus(await request(d.url, 'POST', '/v1/auth/token', { user: u, password: PW }), 200).access_token;
		const own = await tok('own');
		assertError(await request(d.url, 'PATCH', '/v1/users/pat', { platform_admin: true }, { authorization: `Bearer ${own}` }), 403, 'forbidden');
		assertError(await request(d.url, 'GET', '/v1/orgs', undefined, { authorization: `Bearer ${own}` }), 403, 'forbidden');
		assert.equal(assertStatus(await d.api('PATCH', '/v1/users/pat', { platform_admin: true }), 200).platform_admin, true);
		const pat = await tok('pat');
		assertStatus(await request(d.url, 'GET', '/v1/orgs', undefined, { authorization: `Bearer ${pat}` }), 200);
		const meB = assertStatus(await request(d.url, 'GET', '/v1/auth/me', undefined, { authorization: `Bearer ${await (async () => {
			const t = await request(d.url, 'POST', '/v1/auth/token', { user: 'pat', password: PW }, { 'msgd-org': 'acme' });
			return assertStatus(t, 200).access_token;
		})()}` }), 200);
		assert.equal(meB.org, 'acme');
		assert.equal(meB.platform_admin, true);
		assert.ok(meB.permissions.includes('org:manage'));
		assertStatus(await d.api('PATCH', '/v1/users/pat', { platform_admin: false }), 200);
		assertError(await request(d.url, 'GET', '/v1/orgs', undefined, { authorization: `Bearer ${pat}` }), 403, 'forbidden');
	});

	msgdTest('isolation: same names, contacts and client_ids in two organizations; 404 across', async (h) => {
		const d = await h.start();
		assertStatus(await d.api('POST', '/v1/orgs', { name: 'acme' }), 201);
		assertStatus(await d.api('POST', '/v1/channels', { name: 'sandbox', type: 'sandbox' }, B), 201);
		const sa = followStream(d);
		const sb = followStream(d, { headers: B });
		h.t.after(() => Promise.all([sa.stop(), sb.stop()]));
		const hookA = await receiver();
		const hookB = await receiver();
		h.t.after(() => Promise.all([hookA.close(), hookB.close()]));
		assertStatus(await d.api('POST', '/v1/webhooks', { url: hookA.url, events: ['*'], secret: 'sa-secret-123456' }), 201);
		assertStatus(await d.api('POST', '/v1/webhooks', { url: hookB.url, events: ['*'], secret: 'sb-secret-123456' }, B), 201);
		await waitFor(() => sa.status === 200 && sb.status === 200, 5000, { what: 'both streams open' });

		const inA = assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '15550001111', text: 'for A' }), 201).message;
		const inB = assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '15550001111', text: 'for B' }, B), 201).message;
		assert.notEqual(inA.conversation_id, inB.conversation_id);
		const outA = assertStatus(await d.api('POST', '/v1/messages', { channel: 'sandbox', to: '15550001111', text: 'A says', client_id: 'order-1' }), 202);
		const outB = assertStatus(await d.api('POST', '/v1/messages', { channel: 'sandbox', to: '15550001111', text: 'B says', client_id: 'order-1' }, B), 202);
		assert.notEqual(outA.id, outB.id, 'a client_id is unique per organization');
		assert.equal(outB.text, 'B says');

		// Lists show only one's own.
		const convA = assertStatus(await d.api('GET', '/v1/conversations'), 200).conversations;
		const convB = assertStatus(await d.api('GET', '/v1/conversations', undefined, B), 200).conversations;
		assert.deepEqual(convA.map((c) => c.id), [inA.conversation_id]);
		assert.deepEqual(convB.map((c) => c.id), [inB.conversation_id]);
		// Another organization's ids are 404, for reads and for changes.
		assertError(await d.api('GET', `/v1/messages/${inB.id}`), 404, 'not_found');
		assertError(await d.api('GET', `/v1/conversations/${inB.conversation_id}`), 404, 'not_found');
		assertError(await d.api('GET', `/v1/conversations/${inB.conversation_id}/messages`), 404, 'not_found');
		assertError(await d.api('POST', `/v1/conversations/${inB.conversation_id}/read`), 404, 'not_found');
		assertError(await d.api('DELETE', `/v1/messages/${outB.id}`), 404, 'not_found');
		assert.deepEqual(assertStatus(await d.api('GET', `/v1/messages?provider_message_id=${encodeURIComponent(inB.provider_message_id)}`), 200).messages, []);
		assertStatus(await d.api('GET', `/v1/messages/${inB.id}`, undefined, B), 200);

		// Events, by cursor and live, and event webhooks: each its own.
		const evA = assertStatus(await d.api('GET', '/v1/events?since=0'), 200).events;
		const evB = assertStatus(await d.api('GET', '/v1/events?since=0', undefined, B), 200).events;
		const idsA = new Set(evA.map((e) => e.message_id));
		const idsB = new Set(evB.map((e) => e.message_id));
		assert.ok(idsA.has(inA.id) && idsA.has(outA.id) && !idsA.has(inB.id) && !idsA.has(outB.id));
		assert.ok(idsB.has(inB.id) && idsB.has(outB.id) && !idsB.has(inA.id) && !idsB.has(outA.id));
		const lastA = evA[evA.length - 1].seq, lastB = evB[evB.length - 1].seq;
		await waitFor(() => sa.events.some((e) => e.seq === lastA) && sb.events.some((e) => e.seq === lastB), 5000, { what: 'live events' });
		assert.ok(sa.events.every((e) => !idsB.has(e.message_id) || e.message_id === null));
		assert.ok(sb.events.every((e) => !idsA.has(e.message_id) || e.message_id === null));
		// WebSocket replays from the start, per organization.
		const wa = await wsConnect(d, { query: '?since=0' });
		const wb = await wsConnect(d, { query: '?since=0&org=acme' });
		assert.equal(wa.status, 101);
		assert.equal(wb.status, 101);
		h.t.after(() => { wa.ws.socket.destroy(); wb.ws.socket.destroy(); });
		await waitFor(() => wa.ws.texts.some((e) => e.seq === lastA) && wb.ws.texts.some((e) => e.seq === lastB), 5000, { what: 'WebSocket replays' });
		assert.ok(wa.ws.texts.every((e) => !e.message_id || !idsB.has(e.message_id)));
		assert.ok(wb.ws.texts.every((e) => !e.message_id || !idsA.has(e.message_id)));
		assert.ok(wb.ws.texts.filter((e) => e.seq).every((e) => evB.some((x) => x.seq === e.seq)), 'B\'s socket: B\'s events only');
		await waitFor(() => hookA.got.some((e) => e.seq === lastA) && hookB.got.some((e) => e.seq === lastB), 10_000, { what: 'webhook deliveries' });
		assert.ok(hookA.got.every((e) => e.message_id === null || !idsB.has(e.message_id)));
		assert.ok(hookB.got.every((e) => e.message_id === null || !idsA.has(e.message_id)));
		// Webhook subscriptions themselves: B's are not A's.
		const whB = assertStatus(await d.api('GET', '/v1/webhooks', undefined, B), 200).webhooks;
		assert.equal(whB.length, 1);
		assertError(await d.api('GET', `/v1/webhooks/${whB[0].id}`), 404, 'not_found');
		// Templates of one name in both.
		assertStatus(await d.api('POST', '/v1/templates', { name: 'hello', body: 'Hi A' }), 201);
		assertStatus(await d.api('POST', '/v1/templates', { name: 'hello', body: 'Hi B' }, B), 201);
		assert.equal(assertStatus(await d.api('GET', '/v1/templates/hello', undefined, B), 200).body, 'Hi B');
		// Channels: B's patch and delete do not reach A's channel of that name.
		assertStatus(await d.api('DELETE', '/v1/channels/sandbox', undefined, B), 204);
		assertStatus(await d.api('GET', '/v1/channels/sandbox'), 200);
	});

	msgdTest('a WhatsApp phone_number_id is claimed by one channel, across organizations', async (h) => {
		const d = await h.start();
		assertStatus(await d.api('POST', '/v1/orgs', { name: 'acme' }), 201);
		await createWaChannel((m, p, b) => d.api(m, p, b), 'wa', 'PNID-SHARED');
		const r = await createWaChannel((m, p, b) => d.api(m, p, b, B), 'wa', 'PNID-SHARED').catch((e) => e);
		assert.ok(r instanceof Error && /409/.test(r.message), String(r));
		await createWaChannel((m, p, b) => d.api(m, p, b, B), 'wa', 'PNID-OTHER');
		// Nor by a change.
		const res = await d.api('PATCH', '/v1/channels/wa', { config: { phone_number_id: 'PNID-SHARED', access_token: 'x' } }, B);
		assertError(res, 409, 'conflict');
	});
});

describe('isolation matrix', () => {
	msgdTest('A\'s owner, on every route that names an object, gets 404 for B\'s (and changes nothing)', async (h) => {
		const d = await h.start();
		const B = { 'msgd-org': 'acme' };
		assertStatus(await d.api('POST', '/v1/orgs', { name: 'acme' }), 201);
		// B's objects, with names A does not have.
		assertStatus(await d.api('POST', '/v1/channels', { name: 'b-only', type: 'sandbox' }, B), 201);
		const msg = assertStatus(await d.api('POST', '/v1/sandbox/b-only/inbound', { from: '15550606060', text: 'B private' }, B), 201).message;
		const out = assertStatus(await d.api('POST', '/v1/messages', { channel: 'b-only', to: '15550606060', text: 'B out', scheduled_at: '2099-01-01T00:00:00Z' }, B), 202);
		const conv = assertStatus(await d.api('GET', `/v1/conversations/${msg.conversation_id}`, undefined, B), 200);
		assertStatus(await d.api('POST', '/v1/templates', { name: 'b-tpl', body: 'B' }, B), 201);
		const hook = assertStatus(await d.api('POST', '/v1/webhooks', { url: 'http://127.0.0.1:9/b', events: ['*'], secret: 'b-secret-1234567' }, B), 201);
		const bkey = assertStatus(await d.api('POST', '/v1/keys', { name: 'b', scopes: ['messages:read'] }, B), 201);
		assertStatus(await d.api('POST', '/v1/users', { name: 'b-user', password: 'correct horse battery', role: 'agent' }, B), 201);
		// A's principal: an owner of default (not a platform admin), by access token.
		assertStatus(await d.api('POST', '/v1/users', { name: 'a-owner', password: 'correct horse battery', role: 'owner' }), 201);
		const a = assertStatus(await request(d.url, 'POST', '/v1/auth/token', { user: 'a-owner', password: 'correct horse battery' }), 200).access_token;
		const A = (m, p, body) => request(d.url, m, p, body, { authorization: `Bearer ${a}` });
		const calls = [
			['GET', `/v1/channels/b-only`], ['PATCH', `/v1/channels/b-only`, { config: {} }], ['DELETE', `/v1/channels/b-only`],
			['POST', '/v1/sandbox/b-only/inbound', { from: '1', text: 'x' }],
			['GET', `/v1/conversations/${conv.id}`], ['GET', `/v1/conversations/${conv.id}/messages`],
			['POST', `/v1/conversations/${conv.id}/read`],
			['GET', `/v1/messages/${msg.id}`], ['DELETE', `/v1/messages/${out.id}`],
			['GET', '/v1/templates/b-tpl'], ['DELETE', '/v1/templates/b-tpl'],
			['GET', `/v1/webhooks/${hook.id}`], ['DELETE', `/v1/webhooks/${hook.id}`],
			['DELETE', `/v1/keys/${bkey.id}`],
			['PATCH', '/v1/users/b-user', { role: 'viewer' }], ['DELETE', '/v1/users/b-user'],
			['PUT', '/v1/users/b-user/password', { password: 'another horse battery' }],
			['POST', '/v1/users/b-user/logout'],
			['DELETE', `/v1/contacts/${conv.contact.id}`],
			['GET', '/v1/orgs/acme'], ['PATCH', '/v1/orgs/acme', { settings: { messages_per_day: 1 } }],
			['GET', '/v1/orgs/acme/usage'],
		];
		for (const [m, p, body] of calls) {
			const r = await A(m, p, body);
			assert.equal(r.status, 404, `${m} ${p} → ${r.status} ${r.text}`);
		}
		// Lists and the log show none of B's.
		for (const p of ['/v1/channels', '/v1/conversations', '/v1/templates', '/v1/webhooks', '/v1/keys', '/v1/users',
			'/v1/events?since=0', '/v1/audit?since=0', `/v1/messages?provider_message_id=${encodeURIComponent(msg.provider_message_id)}`]) {
			const r = await A('GET', p);
			assert.equal(r.status, 200, `${p}: ${r.text}`);
			assert.ok(!/b-only|B private|b-tpl|b-user|acme/.test(r.text), `${p} shows B's: ${r.text.slice(0, 300)}`);
		}
		// Nothing of B's changed.
		assertStatus(await d.api('GET', '/v1/channels/b-only', undefined, B), 200);
		assert.equal(assertStatus(await d.api('GET', `/v1/messages/${out.id}`, undefined, B), 200).status, 'scheduled');
		assertStatus(await d.api('GET', '/v1/templates/b-tpl', undefined, B), 200);
		assertStatus(await d.api('GET', `/v1/webhooks/${hook.id}`, undefined, B), 200);
		assert.equal(assertStatus(await d.api('GET', '/v1/keys', undefined, B), 200).keys.length, 1);
		assert.equal(assertStatus(await d.api('GET', '/v1/users', undefined, B), 200).users[0].role, 'agent');
	});
});
