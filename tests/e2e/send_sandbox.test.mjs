// Sending on the built-in sandbox channel: simulated delivery and an echo reply.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { msgdTest, assertStatus, allEvents, sendMessage, waitMessage, waitFor, statusEventsOf } from './lib.mjs';

describe('sandbox sending', () => {
	msgdTest('POST /v1/messages to "sandbox" → accepted → sent → delivered → read; an echo arrives in the same conversation', async (h) => {
		const d = await h.start();
		const m0 = await sendMessage(d, { channel: 'sandbox', to: '15550007777', text: 'ping sandbox' });
		assert.ok(['queued', 'accepted'].includes(m0.status), m0.status);
		assert.equal(m0.channel, 'sandbox');
		assert.equal(m0.direction, 'out');
		const m = await waitMessage(d, m0.id, 'read', 8000);
		assert.equal(typeof m.provider_message_id, 'string');
		assert.ok(m.provider_message_id.length > 0);
		const hist = m.status_history.map((s) => s.status);
		const order = ['sent', 'delivered', 'read'].map((s) => hist.indexOf(s));
		assert.ok(order.every((i) => i >= 0) && order[0] < order[1] && order[1] < order[2], `status_history ${JSON.stringify(hist)}`);

		const echo = await waitFor(async () => {
			const ms = assertStatus(await d.api('GET', `/v1/conversations/${m0.conversation_id}/messages`), 200);
			return ms.messages.find((x) => x.direction === 'in');
		}, 8000, { what: 'echo inbound message' });
		assert.equal(echo.channel, 'sandbox');
		assert.equal(echo.from, '15550007777');
		assert.match(echo.text, /ping sandbox/);
		assert.equal(echo.conversation_id, m0.conversation_id);

		const ev = await allEvents(d);
		const seq = statusEventsOf(ev, m0.id).map((e) => e.data.status);
		for (const s of ['accepted', 'sent', 'delivered', 'read']) assert.ok(seq.includes(s), `events ${seq}`);
		assert.ok(ev.some((e) => e.type === 'message.received' && e.message_id === echo.id), 'no message.received for the echo');
		const cv = assertStatus(await d.api('GET', '/v1/conversations?channel=sandbox'), 200);
		assert.equal(cv.conversations.length, 1, 'outbound and echo share one conversation');
	});
});
