// The built-in sandbox channel: POST /v1/sandbox/{channel}/inbound.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { msgdTest, assertError, assertStatus, allEvents, snapshot } from './lib.mjs';

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

describe('sandbox inbound', () => {
	msgdTest('POST /v1/sandbox/sandbox/inbound → 201 {message, duplicate:false}; conversation and messages visible', async (h) => {
		const d = await h.start();
		const t0 = Date.now();
		const r = await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '15550001111', text: 'hi there' });
		assertStatus(r, 201, 'sandbox inbound');
		assert.equal(r.json.duplicate, false);
		const m = r.json.message;
		assert.equal(m.text, 'hi there');
		assert.equal(m.from, '15550001111');
		assert.equal(m.type, 'text');
		assert.equal(m.direction, 'in');
		assert.equal(m.channel, 'sandbox');
		assert.equal(m.status, 'received');
		assert.equal(typeof m.id, 'number');
		assert.equal(typeof m.provider_message_id, 'string');
		assert.ok(m.provider_message_id.length > 0);
		assert.match(m.timestamp, RFC3339);
		assert.ok(Math.abs(Date.parse(m.timestamp) - t0) < 60_000, `timestamp ${m.timestamp} is not now`);

		const cv = assertStatus(await d.api('GET', '/v1/conversations'), 200);
		assert.equal(cv.conversations.length, 1);
		const c = cv.conversations[0];
		assert.equal(c.contact.address, '15550001111');
		assert.equal(c.unread_count, 1);
		assert.equal(c.channel, 'sandbox');
		assert.equal(c.id, m.conversation_id);
		assert.equal(c.last_message.id, m.id);
		assert.match(c.updated_at, RFC3339);

		const ms = assertStatus(await d.api('GET', `/v1/conversations/${c.id}/messages`), 200);
		assert.equal(ms.messages.length, 1);
		assert.deepEqual(ms.messages[0], m);
		assert.equal(ms.next, null);
		assert.deepEqual(assertStatus(await d.api('GET', `/v1/messages/${m.id}`), 200), m);

		const ev = (await allEvents(d)).filter((e) => e.type === 'message.received');
		assert.equal(ev.length, 1);
		assert.equal(ev[0].channel, 'sandbox');
		assert.equal(ev[0].message_id, m.id);
		assert.equal(ev[0].conversation_id, c.id);
		assert.match(ev[0].at, RFC3339);
		assert.deepEqual(ev[0].data, m);
	});

	msgdTest('a second message from the same contact joins the conversation; "name" sets the contact name', async (h) => {
		const d = await h.start();
		const a = assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '15550001111', text: 'one', name: 'Ada Lovelace' }), 201);
		const b = assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '15550001111', text: 'two' }), 201);
		assert.equal(a.message.conversation_id, b.message.conversation_id);
		const cv = assertStatus(await d.api('GET', '/v1/conversations'), 200);
		assert.equal(cv.conversations.length, 1);
		assert.equal(cv.conversations[0].unread_count, 2);
		assert.equal(cv.conversations[0].contact.name, 'Ada Lovelace');
		assert.equal(cv.conversations[0].last_message.text, 'two');
		const ms = assertStatus(await d.api('GET', `/v1/conversations/${a.message.conversation_id}/messages`), 200);
		assert.deepEqual(ms.messages.map((m) => m.text), ['one', 'two'], 'messages should be oldest to newest');
	});

	msgdTest('the same "id" twice → duplicate:true and only one message', async (h) => {
		const d = await h.start();
		const a = await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '15550001111', text: 'hello', id: 'sbx-fixed-1' });
		assertStatus(a, 201);
		assert.equal(a.json.duplicate, false);
		assert.equal(a.json.message.provider_message_id, 'sbx-fixed-1');
		const b = await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '15550001111', text: 'hello', id: 'sbx-fixed-1' });
		assert.ok([200, 201].includes(b.status), `${b.status} ${b.text}`);
		assert.equal(b.json.duplicate, true);
		assert.equal(b.json.message.id, a.json.message.id);
		const ms = assertStatus(await d.api('GET', `/v1/conversations/${a.json.message.conversation_id}/messages`), 200);
		assert.equal(ms.messages.length, 1);
		const cv = assertStatus(await d.api('GET', '/v1/conversations'), 200);
		assert.equal(cv.conversations[0].unread_count, 1);
		const ev = (await allEvents(d)).filter((e) => e.type === 'message.received');
		assert.equal(ev.length, 1);
		const byPid = assertStatus(await d.api('GET', '/v1/messages?provider_message_id=sbx-fixed-1'), 200);
		assert.equal(byPid.messages.length, 1);
	});

	msgdTest('missing "from", missing "text", unknown field, wrong types → 422 naming the field; nothing stored', async (h) => {
		const d = await h.start();
		const before = await snapshot(d);
		let e = assertError(await d.api('POST', '/v1/sandbox/sandbox/inbound', { text: 'no sender' }), 422, 'validation_failed');
		assert.equal(e.field, 'from');
		assert.match(e.message, /from/);
		e = assertError(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '1555' }), 422, 'validation_failed');
		assert.equal(e.field, 'text');
		e = assertError(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '1555', text: 'x', color: 'red' }), 422, 'validation_failed');
		assert.equal(e.field, 'color');
		e = assertError(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: 15550001111, text: 'x' }), 422, 'validation_failed');
		assert.equal(e.field, 'from');
		e = assertError(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '', text: 'x' }), 422, 'validation_failed');
		assert.equal(e.field, 'from');
		assertError(await d.api('POST', '/v1/sandbox/sandbox/inbound', 'not json'), 400, 'invalid_json');
		assert.deepEqual(await snapshot(d), before);
	});

	msgdTest('unknown channel → 404; non-sandbox channel → 4xx; no token → 401', async (h) => {
		const d = await h.start();
		assertError(await d.api('POST', '/v1/sandbox/no-such-channel/inbound', { from: '1555', text: 'x' }), 404, 'not_found');
		assertStatus(await d.api('POST', '/v1/channels', { name: 'wa1', type: 'whatsapp_cloud', config: { phone_number_id: '1', access_token: 'a', app_secret: 'b', verify_token: 'c' } }), 201);
		const r = await d.api('POST', '/v1/sandbox/wa1/inbound', { from: '1555', text: 'x' });
		assert.ok(r.status >= 400 && r.status < 500, `sandbox inbound on a whatsapp channel: ${r.status} ${r.text}`);
		assertError(await d.anon('POST', '/v1/sandbox/sandbox/inbound', { from: '1555', text: 'x' }), 401, 'unauthorized');
		const cv = assertStatus(await d.api('GET', '/v1/conversations'), 200);
		assert.deepEqual(cv.conversations, []);
	});

	msgdTest('a second sandbox channel keeps its own conversations; ?channel= filters', async (h) => {
		const d = await h.start();
		assertStatus(await d.api('POST', '/v1/channels', { name: 'sb2', type: 'sandbox', config: { contact_name: 'Bot Tester' } }), 201);
		assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '1555', text: 'a' }), 201);
		const r = assertStatus(await d.api('POST', '/v1/sandbox/sb2/inbound', { from: '1555', text: 'b' }), 201);
		assert.equal(r.message.channel, 'sb2');
		const all = assertStatus(await d.api('GET', '/v1/conversations'), 200);
		assert.equal(all.conversations.length, 2);
		const only = assertStatus(await d.api('GET', '/v1/conversations?channel=sb2'), 200);
		assert.equal(only.conversations.length, 1);
		assert.equal(only.conversations[0].channel, 'sb2');
		assert.equal(only.conversations[0].contact.name, 'Bot Tester');
	});

	msgdTest('?q= finds conversations by contact name or address', async (h) => {
		const d = await h.start();
		assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '15550001111', text: 'a', name: 'Grace Hopper' }), 201);
		assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '15550002222', text: 'b', name: 'Alan Turing' }), 201);
		const byName = assertStatus(await d.api('GET', '/v1/conversations?q=Hopper'), 200);
		assert.deepEqual(byName.conversations.map((c) => c.contact.address), ['15550001111']);
		const byAddr = assertStatus(await d.api('GET', '/v1/conversations?q=2222'), 200);
		assert.deepEqual(byAddr.conversations.map((c) => c.contact.name), ['Alan Turing']);
		const none = assertStatus(await d.api('GET', `/v1/conversations?q=${encodeURIComponent("%' OR 1=1 --")}`), 200);
		assert.deepEqual(none.conversations, []);
	});
});
