// Sending: delivery status webhooks for an accepted outbound message.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
	msgdTest, assertStatus, postWebhook, waStatusBody, allEvents, sendMessage, getMessage, waitMessage,
	statusEventsOf, SEND_PNID,
} from './lib.mjs';
import { sendSetup } from './fake_graph.mjs';

const TO = '16505551234';

/** A corpus status body for `wamid`, with a current timestamp. */
function statusBody(file, wamid, offsetS = 0) {
	const b = waStatusBody(file, wamid, SEND_PNID);
	for (const e of b.entry)
		for (const c of e.changes)
			for (const s of c.value.statuses ?? []) {
				s.timestamp = String(Math.floor(Date.now() / 1000) + offsetS);
				s.recipient_id = TO;
			}
	return b;
}

describe('outbound delivery statuses', () => {
	msgdTest('sent / delivered / read webhooks for an accepted message → status read, status_history, one event each', async (h) => {
		const { d } = await sendSetup(h);
		const m0 = await sendMessage(d, { channel: 'wa', to: TO, text: 'track me' });
		const acc = await waitMessage(d, m0.id, 'accepted');
		const W = acc.provider_message_id;
		assert.match(W, /^wamid\.fake\.\d+$/);
		let off = 0;
		for (const [file, want] of [['sent.json', 'sent'], ['delivered.json', 'delivered'], ['read.json', 'read']]) {
			assertStatus(await postWebhook(d.url, statusBody(file, W, off++)), 200, file);
			assert.equal((await getMessage(d, m0.id)).status, want, `after ${file}`);
		}
		const m = await getMessage(d, m0.id);
		assert.equal(m.status, 'read');
		assert.equal(m.provider_message_id, W);
		const hist = m.status_history.map((s) => s.status);
		for (const s of ['sent', 'delivered', 'read']) assert.ok(hist.includes(s), `status_history ${JSON.stringify(m.status_history)}`);
		assert.ok(hist.indexOf('sent') < hist.indexOf('delivered') && hist.indexOf('delivered') < hist.indexOf('read'), JSON.stringify(hist));
		for (const s of m.status_history) assert.match(s.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

		const ev = statusEventsOf(await allEvents(d), m0.id);
		const seq = ev.map((e) => e.data.status);
		for (const s of ['queued', 'accepted', 'sent', 'delivered', 'read'])
			assert.equal(seq.filter((x) => x === s).length, 1, `one ${s} event: ${JSON.stringify(seq)}`);
		for (const e of ev) {
			assert.equal(e.data.id, m0.id);
			assert.equal(e.message_id, m0.id);
		}
		for (const e of ev.filter((x) => ['sent', 'delivered', 'read'].includes(x.data.status)))
			assert.equal(e.data.provider_message_id, W);

		// Out-of-order or repeated reports do not move it backwards.
		assertStatus(await postWebhook(d.url, statusBody('delivered.json', W)), 200);
		assert.equal((await getMessage(d, m0.id)).status, 'read');
	});

	msgdTest('a failed status webhook after acceptance → failed with the provider error', async (h) => {
		const { d } = await sendSetup(h);
		const m0 = await sendMessage(d, { channel: 'wa', to: TO, text: 'will bounce' });
		const W = (await waitMessage(d, m0.id, 'accepted')).provider_message_id;
		assertStatus(await postWebhook(d.url, statusBody('failed_130472.json', W)), 200);
		const m = await getMessage(d, m0.id);
		assert.equal(m.status, 'failed');
		assert.equal(Number(m.error?.code), 130472, JSON.stringify(m));
		const fe = statusEventsOf(await allEvents(d), m0.id).find((e) => e.data.status === 'failed');
		assert.ok(fe);
		assert.equal(Number(fe.data.error.code), 130472);
	});
});
