// Sending: the WhatsApp 24 h customer-service window (enforce_window, default true).
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
	msgdTest, assertError, assertStatus, postWebhook, waMessageBody, snapshot, sendMessage, waitMessage,
	SEND_PNID,
} from './lib.mjs';
import { sendSetup } from './fake_graph.mjs';

const X = '16505551234';

describe('24 h window', () => {
	msgdTest('enforce_window (default): free-form text to a contact who never wrote → 422 window_closed; after they write → 202; templates always allowed', async (h) => {
		const { d, fake } = await sendSetup(h, { config: { enforce_window: null } });
		const before = await snapshot(d);
		const e = assertError(await d.api('POST', '/v1/messages', { channel: 'wa', to: X, text: 'cold open' }), 422, 'window_closed');
		assert.ok(e.message.length > 0);
		assert.deepEqual(await snapshot(d), before, 'a window_closed send stored something');

		// A WhatsApp template is fine without any window.
		const t = await sendMessage(d, { channel: 'wa', to: '15550006666', template: { name: 'hello_world', language: 'en_US' } });
		await waitMessage(d, t.id, 'accepted');
		assert.equal(fake.sends().length, 1);
		assert.equal(fake.sends()[0].body.type, 'template');

		// The contact writes: the same send is now allowed.
		const w = await postWebhook(d.url, waMessageBody({ pnid: SEND_PNID, id: 'wamid.window-in-1', from: X, text: 'hi, anyone there?' }));
		assertStatus(w, 200, 'inbound webhook');
		const m = await sendMessage(d, { channel: 'wa', to: X, text: 'yes, we are' });
		await waitMessage(d, m.id, 'accepted');
		assert.equal(fake.to(X).length, 1);
		assert.equal(fake.to(X)[0].body.text.body, 'yes, we are');
		// The reply joins the contact's conversation.
		const cv = assertStatus(await d.api('GET', '/v1/conversations?channel=wa'), 200);
		const conv = cv.conversations.find((c) => c.contact.address === X);
		assert.ok(conv, JSON.stringify(cv));
		assert.equal(m.conversation_id, conv.id);
	});

	msgdTest('a last inbound message older than 24 h → window_closed; enforce_window false → allowed', async (h) => {
		const { d, fake } = await sendSetup(h, { config: { enforce_window: true } });
		const old = Math.floor(Date.now() / 1000) - 25 * 3600;
		assertStatus(await postWebhook(d.url, waMessageBody({ pnid: SEND_PNID, id: 'wamid.window-old-1', from: X, text: 'yesterday', timestamp: old })), 200);
		assertError(await d.api('POST', '/v1/messages', { channel: 'wa', to: X, text: 'too late' }), 422, 'window_closed');
		assertStatus(await d.api('PATCH', '/v1/channels/wa', { config: { enforce_window: false } }), 200);
		const m = await sendMessage(d, { channel: 'wa', to: X, text: 'sent anyway' });
		await waitMessage(d, m.id, 'accepted');
		assert.equal(fake.sends().length, 1, fake.summary());
	});
});
