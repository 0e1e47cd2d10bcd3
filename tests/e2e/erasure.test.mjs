// Right to erasure: DELETE /v1/contacts/{id} removes a contact's messages'
// content, profile and events' data everywhere; nothing of it can be read
// back through any route, by cursor or live stream, or an event webhook;
// a contact.erased event says so without content. Viewers and agents may
// not; another organization's contact is 404.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { msgdTest, request, assertError, assertStatus, followStream, waitFor, sendMessage, waitMessage, fakeClock, FAKETIME, loginAs } from './lib.mjs';

const PW = 'correct horse battery';
const PHONE = '15550404040';
const SECRET = 'Elm Street 12';

function session(d, user, org) {
	return loginAs(d, user, PW, org);
}

function clean(text, what) {
	assert.ok(!text.includes(SECRET), `${what} still shows the erased text: ${text.slice(0, 400)}`);
	assert.ok(!text.includes(PHONE), `${what} still shows the erased number: ${text.slice(0, 400)}`);
}

describe('erasure', () => {
	msgdTest('DELETE /v1/contacts/{id}: gone from every route, stream and webhook; roles; organizations', async (h) => {
		const d = await h.start();
		const inb = assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: PHONE, text: `ship to ${SECRET}`, name: 'Ana Secret' }), 201).message;
		const out = await sendMessage(d, { channel: 'sandbox', to: PHONE, text: `shipping to ${SECRET}` });
		await waitMessage(d, out.id, (m) => m.status !== 'queued', 10_000);
		const later = await sendMessage(d, { channel: 'sandbox', to: PHONE, text: `reminder ${SECRET}`, scheduled_at: '2099-01-01T00:00:00Z' });
		const conv = assertStatus(await d.api('GET', `/v1/conversations/${inb.conversation_id}`), 200);
		const contactId = conv.contact.id;
		assert.ok(contactId > 0);

		for (const role of ['viewer', 'agent']) {
			assertStatus(await d.api('POST', '/v1/users', { name: role, password: PW, role }), 201);
			const as = await session(d, role);
			const r = await as('DELETE', `/v1/contacts/${contactId}`);
			assertError(r, 403, 'forbidden');
			assert.match(r.json.error.message, /contacts:erase/);
		}
		assertStatus(await d.api('POST', '/v1/orgs', { name: 'acme' }), 201);
		assertError(await d.api('DELETE', `/v1/contacts/${contactId}`, undefined, { 'msgd-org': 'acme' }), 404, 'not_found');

		const live = followStream(d);  // from now: the erasure's own event arrives
		h.t.after(() => live.stop());
		await waitFor(() => live.status === 200, 5000, { what: 'stream open' });
		const res = assertStatus(await d.api('DELETE', `/v1/contacts/${contactId}`), 200);
		assert.equal(res.contact_id, contactId);
		assert.equal(res.conversation_id, inb.conversation_id);
		assert.ok(res.messages_erased >= 3);
		assertError(await d.api('DELETE', '/v1/contacts/999999'), 404, 'not_found');

		// Every read route.
		for (const p of ['/v1/conversations', `/v1/conversations/${inb.conversation_id}`,
			`/v1/conversations/${inb.conversation_id}/messages`, `/v1/messages/${inb.id}`, `/v1/messages/${out.id}`,
			`/v1/messages/${later.id}`, `/v1/messages?provider_message_id=${encodeURIComponent(inb.provider_message_id)}`,
			'/v1/events?since=0', '/v1/messages?state=retrying']) {
			const r = await d.api('GET', p);
			assert.equal(r.status, 200, `${p}: ${r.text}`);
			clean(r.text, p);
		}
		const m = assertStatus(await d.api('GET', `/v1/messages/${inb.id}`), 200);
		assert.equal(m.erased, true);
		assert.equal(m.text, undefined);
		assert.equal(assertStatus(await d.api('GET', `/v1/messages/${later.id}`), 200).status, 'failed', 'its scheduled send is dropped');
		const ev = assertStatus(await d.api('GET', '/v1/events?since=0'), 200).events;
		const e = ev.find((x) => x.type === 'contact.erased');
		assert.deepEqual(e.data, { contact_id: contactId, conversation_id: inb.conversation_id, messages_erased: res.messages_erased });
		await waitFor(() => live.events.some((x) => x.type === 'contact.erased'), 5000, { what: 'contact.erased live' });

		// A stream resuming from the start, and an event webhook replaying the log.
		const again = followStream(d, { query: '?since=0' });
		h.t.after(() => again.stop());
		await waitFor(() => again.events.some((x) => x.type === 'contact.erased'), 5000, { what: 'replay' });
		clean(JSON.stringify(again.events), 'SSE replay');
		const got = [];
		const srv = http.createServer((req, rs) => { let b = ''; req.on('data', (c) => { b += c; }); req.on('end', () => { got.push(b); rs.end('ok'); }); });
		await new Promise((r) => srv.listen(0, '127.0.0.1', r));
		h.t.after(() => new Promise((r) => srv.close(r)));
		assertStatus(await d.api('POST', '/v1/webhooks', { url: `http://127.0.0.1:${srv.address().port}/h`, events: ['*'], secret: 'erasure-secret-1', since: 0 }), 201);
		await waitFor(() => got.some((b) => b.includes('contact.erased')), 10_000, { what: 'webhook replay' });
		clean(got.join('\n'), 'event webhook');
	});

	msgdTest('retention: content older than the organization\'s retention_days goes in the background', async (h, t) => {
		const clk = fakeClock(t);
		const d = await h.start({ env: clk.env });
		const old = assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: PHONE, text: `old ${SECRET}` }), 201).message;
		const out = await sendMessage(d, { channel: 'sandbox', to: PHONE, text: `old reply ${SECRET}` });
		await waitMessage(d, out.id, (m) => m.status !== 'queued', 10_000);
		// The sandbox echoes a reply back: let it arrive before the clock moves.
		await waitFor(async () => (await d.api('GET', `/v1/conversations/${old.conversation_id}/messages`)).json.messages.length >= 3,
			10_000, { what: 'the echo' });
		assertStatus(await d.api('PATCH', '/v1/orgs/default', { settings: { retention_days: 1 } }), 200);
		await clk.set(d, 2 * 86400);
		const fresh = assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '15550505050', text: 'fresh words' }), 201).message;
		await waitFor(async () => (await d.api('GET', `/v1/messages/${old.id}`)).json.erased === true, 20_000, { what: 'old content removed' });
		await waitFor(async () => (await d.api('GET', `/v1/messages/${out.id}`)).json.erased === true, 20_000, { what: 'old reply removed' });
		const f = assertStatus(await d.api('GET', `/v1/messages/${fresh.id}`), 200);
		assert.equal(f.text, 'fresh words');
		const ev = assertStatus(await d.api('GET', '/v1/events?since=0'), 200);
		assert.ok(!ev.text || true);
		const all = JSON.stringify(ev);
		assert.ok(!all.includes(SECRET), `old events' data removed: ${JSON.stringify(ev.events.filter((e) => JSON.stringify(e).includes(SECRET)))}`);
		assert.ok(all.includes('fresh words'), 'new events kept');
		const m = assertStatus(await d.api('GET', `/v1/messages/${old.id}`), 200);
		assert.equal(m.id, old.id, 'the skeleton stays');
		assert.equal(m.direction, 'in');
	}, { skip: FAKETIME ? false : 'libfaketime is not installed (apt-get install libfaketime)' });
});
