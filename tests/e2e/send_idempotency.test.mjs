// Sending: idempotency by client_id / Idempotency-Key, also across a restart.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { msgdTest, sendMessage, waitMessage } from './lib.mjs';
import { sendSetup } from './fake_graph.mjs';

const TO = '16505551234';

/** A different message sent and accepted after everything else: once it is
 *  accepted, the outbox has had its chance to send any stray duplicate. */
async function barrier(d, fake, label = 'barrier') {
	const b = await sendMessage(d, { channel: 'wa', to: '15550009999', text: label });
	await waitMessage(d, b.id, 'accepted');
	return b;
}

function sendsOf(fake, text) {
	return fake.sends().filter((r) => r.body?.text?.body === text);
}

describe('send idempotency', () => {
	msgdTest('the same client_id twice → 200 with the same message; one provider request', async (h) => {
		const { d, fake } = await sendSetup(h);
		const body = { channel: 'wa', to: TO, text: 'once only', client_id: 'order-42-confirmation' };
		const a = await sendMessage(d, body);
		assert.equal(a.client_id, 'order-42-confirmation');
		const b = await sendMessage(d, body, { status: 200 });  // immediate repeat
		assert.equal(b.id, a.id);
		await waitMessage(d, a.id, 'accepted');
		const c = await sendMessage(d, body, { status: 200 });  // repeat after sending
		assert.equal(c.id, a.id);
		assert.equal(c.client_id, 'order-42-confirmation');
		assert.equal(c.status, 'accepted', 'a repeat returns the message as it is now');
		await barrier(d, fake);
		assert.equal(sendsOf(fake, 'once only').length, 1, fake.summary());
		// A different client_id is a different message.
		const other = await sendMessage(d, { ...body, client_id: 'order-43-confirmation' });
		assert.notEqual(other.id, a.id);
		await waitMessage(d, other.id, 'accepted');
		assert.equal(sendsOf(fake, 'once only').length, 2);
	});

	msgdTest('the same Idempotency-Key header twice → 200 with the same message; one provider request', async (h) => {
		const { d, fake } = await sendSetup(h);
		const body = { channel: 'wa', to: TO, text: 'keyed once' };
		const headers = { 'Idempotency-Key': 'idem-7f3a-0001' };
		const a = await sendMessage(d, body, { headers });
		const b = await sendMessage(d, body, { headers, status: 200 });
		assert.equal(b.id, a.id);
		await waitMessage(d, a.id, 'accepted');
		const c = await sendMessage(d, body, { headers, status: 200 });
		assert.equal(c.id, a.id);
		await barrier(d, fake);
		assert.equal(sendsOf(fake, 'keyed once').length, 1, fake.summary());
		// Without the key the same body is a new message.
		const fresh = await sendMessage(d, body);
		assert.notEqual(fresh.id, a.id);
	});

	msgdTest('a repeat after a graceful restart → 200 with the same id; still one provider request', async (h) => {
		const { d, fake } = await sendSetup(h);
		const body = { channel: 'wa', to: TO, text: 'survives restart', client_id: 'restart-cid-1' };
		const headers = { 'Idempotency-Key': 'restart-key-1' };
		const hdrBody = { channel: 'wa', to: TO, text: 'keyed survives restart' };
		const a = await sendMessage(d, body);
		const k = await sendMessage(d, hdrBody, { headers });
		await waitMessage(d, a.id, 'accepted');
		await waitMessage(d, k.id, 'accepted');
		await d.stop();

		const d2 = await h.start({ dataDir: d.dataDir });
		const b = await sendMessage(d2, body, { status: 200 });
		assert.equal(b.id, a.id);
		assert.equal(b.status, 'accepted');
		const k2 = await sendMessage(d2, hdrBody, { headers, status: 200 });
		assert.equal(k2.id, k.id);
		await barrier(d2, fake);
		assert.equal(sendsOf(fake, 'survives restart').length, 1, fake.summary());
		assert.equal(sendsOf(fake, 'keyed survives restart').length, 1, fake.summary());
	});
});
