// Recipient numbers: every spelling of one phone number is one contact and
// one conversation; anything that is not a phone number is refused (422
// invalid_recipient) and stores nothing.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
	msgdTest, assertError, assertStatus, sendMessage, waitMessage, snapshot, postWebhook, waMessageBody,
	SEND_PNID,
} from './lib.mjs';
import { sendSetup } from './fake_graph.mjs';

const BAD = [
	['letters', '1555000111a'],
	['a name', 'ada lovelace'],
	['too short', '123456'],
	['too long', '1234567890123456'],
	['two pluses', '++15550001111'],
	['a plus inside', '1555+0001111'],
	['an embedded NUL', '1555\u00000001111'],
	['a tab', '1555\t0001111'],
	['a slash', '1555/000/1111'],
	['non-ASCII digits', '١٥٥٥٠٠٠١١١١'],
	['only formatting', '+() -.'],
];

async function conversationsOf(d) {
	return assertStatus(await d.api('GET', '/v1/conversations?limit=200'), 200).conversations;
}

describe('recipient numbers', () => {
	msgdTest('WhatsApp: "+1 555 000 1111" and "15550001111" are one contact and one conversation; the provider gets digits', async (h) => {
		const { d, fake } = await sendSetup(h);
		const a = await sendMessage(d, { channel: 'wa', to: '+1 555 000 1111', text: 'first' });
		const b = await sendMessage(d, { channel: 'wa', to: '15550001111', text: 'second' });
		const c = await sendMessage(d, { channel: 'wa', to: '1 (555) 000-1111', text: 'third' });
		for (const m of [a, b, c]) assert.equal(m.to, '15550001111');
		assert.equal(b.conversation_id, a.conversation_id);
		assert.equal(c.conversation_id, a.conversation_id);
		const convs = await conversationsOf(d);
		assert.equal(convs.length, 1, JSON.stringify(convs));
		assert.equal(convs[0].contact.address, '15550001111');
		for (const m of [a, b, c]) await waitMessage(d, m.id, 'accepted');
		assert.equal(fake.to('15550001111').length, 3, fake.summary());

		// An inbound message from that number lands in the same conversation.
		const hook = waMessageBody({ pnid: SEND_PNID, id: 'wamid.rcpt.1', from: '15550001111', text: 'reply' });
		assertStatus(await postWebhook(d.url, hook), 200);
		const convs2 = await conversationsOf(d);
		assert.equal(convs2.length, 1, JSON.stringify(convs2));
		assert.equal(convs2[0].last_message.text, 'reply');
	});

	msgdTest('not a phone number → 422 invalid_recipient (field "to"); nothing stored or sent', async (h) => {
		const { d, fake } = await sendSetup(h);
		const before = await snapshot(d);
		for (const channel of ['wa', 'sandbox']) {
			for (const [what, to] of BAD) {
				const r = await d.api('POST', '/v1/messages', { channel, to, text: 'x' });
				const e = assertError(r, 422, 'invalid_recipient');
				assert.equal(e.field, 'to', `${channel} ${what}`);
				assert.match(e.message, /phone number/, `${channel} ${what}`);
			}
		}
		// A recipient that is missing or not a string stays validation_failed.
		assertError(await d.api('POST', '/v1/messages', { channel: 'wa', text: 'x' }), 422, 'validation_failed');
		assertError(await d.api('POST', '/v1/messages', { channel: 'wa', to: 15550001111, text: 'x' }), 422, 'validation_failed');
		assert.deepEqual(await snapshot(d), before, 'nothing stored');
		assert.equal(fake.sends().length, 0, fake.summary());
	});

	msgdTest('batch: each item normalized or refused on its own', async (h) => {
		const { d } = await sendSetup(h);
		const r = await d.api('POST', '/v1/messages/batch', { messages: [
			{ channel: 'wa', to: '+44 20 7946 0000', text: 'one' },
			{ channel: 'wa', to: '44.20.7946.0000', text: 'two' },
			{ channel: 'wa', to: '44-20-7946-000O', text: 'letter O' },
			{ channel: 'sandbox', to: '+1 555 000 2222', text: 'three' },
		] });
		const res = assertStatus(r, 207).results;
		assert.equal(res[0].message.to, '442079460000');
		assert.equal(res[1].message.to, '442079460000');
		assert.equal(res[1].message.conversation_id, res[0].message.conversation_id);
		assert.equal(res[2].error.code, 'invalid_recipient');
		assert.equal(res[2].error.field, 'to');
		assert.equal(res[3].message.to, '15550002222');
		assert.equal((await conversationsOf(d)).length, 2);
	});

	msgdTest('sandbox: a formatted sender and a formatted recipient are one conversation', async (h) => {
		const d = await h.start();
		const inb = assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '+1 555 000 3333', text: 'hi' }), 201).message;
		assert.equal(inb.from, '15550003333');
		const out = await sendMessage(d, { channel: 'sandbox', to: '1 555 000 3333', text: 'hello' });
		assert.equal(out.conversation_id, inb.conversation_id);
		const convs = await conversationsOf(d);
		assert.equal(convs.length, 1);
		assert.equal(convs[0].contact.address, '15550003333');
	});

	msgdTest('inbound WhatsApp sender ids that carry formatting are normalized; other ids kept', async (h) => {
		const { d } = await sendSetup(h);
		const fmt = waMessageBody({ pnid: SEND_PNID, id: 'wamid.rcpt.fmt', from: '+1 555-000-4444', text: 'formatted' });
		assertStatus(await postWebhook(d.url, fmt), 200);
		const plain = waMessageBody({ pnid: SEND_PNID, id: 'wamid.rcpt.plain', from: '15550004444', text: 'plain' });
		assertStatus(await postWebhook(d.url, plain), 200);
		const convs = await conversationsOf(d);
		assert.equal(convs.length, 1, JSON.stringify(convs));
		assert.equal(convs[0].contact.address, '15550004444');
		assert.equal(convs[0].contact.name, 'Test Contact');
	});
});
