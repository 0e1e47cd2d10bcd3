// Sending: read receipts (POST /v1/conversations/{id}/read → Graph mark-read).
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
	msgdTest, assertError, assertStatus, postWebhook, waMessageBody, sendMessage, waitMessage,
	SEND_PNID, SEND_TOKEN,
} from './lib.mjs';
import { sendSetup } from './fake_graph.mjs';

const X = '16505551234';

describe('read receipts', () => {
	msgdTest('POST /v1/conversations/{id}/read → unread_count 0; the provider gets a mark-read for the last inbound message', async (h) => {
		const { d, fake } = await sendSetup(h);
		const now = Math.floor(Date.now() / 1000);
		assertStatus(await postWebhook(d.url, waMessageBody({ pnid: SEND_PNID, id: 'wamid.read-in-1', from: X, text: 'one', timestamp: now - 5 })), 200);
		assertStatus(await postWebhook(d.url, waMessageBody({ pnid: SEND_PNID, id: 'wamid.read-in-2', from: X, text: 'two', timestamp: now - 1 })), 200);
		const cv = assertStatus(await d.api('GET', '/v1/conversations?channel=wa'), 200);
		assert.equal(cv.conversations.length, 1);
		const c = cv.conversations[0];
		assert.equal(c.unread_count, 2);

		const r = await d.api('POST', `/v1/conversations/${c.id}/read`);
		assertStatus(r, 200, 'mark read');
		assert.equal(r.json.id, c.id);
		assert.equal(r.json.unread_count, 0);
		assert.equal(assertStatus(await d.api('GET', `/v1/conversations/${c.id}`), 200).unread_count, 0);

		await fake.until(() => fake.reads().length >= 1, 10_000, 'a mark-read request');
		const rq = fake.reads()[0];
		assert.equal(rq.path, `/v21.0/${SEND_PNID}/messages`);
		assert.equal(rq.headers.authorization, `Bearer ${SEND_TOKEN}`);
		assert.deepEqual(rq.body, { messaging_product: 'whatsapp', status: 'read', message_id: 'wamid.read-in-2' }, rq.raw);
		assert.equal(rq.status, 200);

		// Barrier: a send goes through after it; still exactly one receipt, no message sent for it.
		const m = await sendMessage(d, { channel: 'wa', to: X, text: 'thanks' });
		await waitMessage(d, m.id, 'accepted');
		assert.equal(fake.reads().length, 1, fake.summary());
		assert.equal(fake.sends().length, 1, fake.summary());

		assertError(await d.api('POST', '/v1/conversations/987654/read'), 404, 'not_found');
	});

	msgdTest('marking a sandbox conversation read needs no provider call', async (h) => {
		const { d, fake } = await sendSetup(h);
		const inb = assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '1555', text: 'hi' }), 201);
		const r = await d.api('POST', `/v1/conversations/${inb.message.conversation_id}/read`);
		assertStatus(r, 200);
		assert.equal(r.json.unread_count, 0);
		assert.equal(fake.requests.length, 0);
	});
});
