// Sending: scheduled_at, restart with scheduled messages, DELETE (cancel).
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
	msgdTest, assertError, assertStatus, allEvents, rfc3339, sendMessage, getMessage, waitMessage,
	waitFor, statusEventsOf,
} from './lib.mjs';
import { sendSetup } from './fake_graph.mjs';

const TO = '16505551234';
const CLOCK_SLACK_MS = 50;

/** Unix seconds at least `ahead` s from now (whole seconds: RFC 3339 has no fraction here). */
function secondsAhead(ahead) {
	return Math.ceil(Date.now() / 1000) + ahead;
}

describe('scheduled sends and cancel', () => {
	msgdTest('scheduled_at 2 s ahead → 202 scheduled; nothing reaches the provider before then; then accepted', async (h) => {
		const { d, fake } = await sendSetup(h);
		const at = secondsAhead(2);
		const m0 = await sendMessage(d, { channel: 'wa', to: TO, text: 'later', scheduled_at: rfc3339(at) });
		assert.equal(m0.status, 'scheduled', JSON.stringify(m0));
		assert.equal(m0.scheduled_at, rfc3339(at));
		assert.equal((await getMessage(d, m0.id)).status, 'scheduled');
		const m = await waitMessage(d, m0.id, 'accepted', 10_000);
		const rq = fake.to(TO);
		assert.equal(rq.length, 1, fake.summary());
		assert.ok(rq[0].wall >= at * 1000 - CLOCK_SLACK_MS,
		    `sent ${at * 1000 - rq[0].wall} ms before scheduled_at ${rfc3339(at)}`);
		assert.equal(m.provider_message_id, fake.accepted[0].id);
		const st = statusEventsOf(await allEvents(d), m0.id).map((e) => e.data.status);
		assert.ok(st.indexOf('scheduled') >= 0 && st.indexOf('accepted') > st.indexOf('scheduled'), `events: ${st}`);

		// scheduled_at in the past (or now) is simply queued.
		const p = await sendMessage(d, { channel: 'wa', to: '15550001111', text: 'past', scheduled_at: rfc3339(Math.floor(Date.now() / 1000) - 60) });
		assert.equal(p.status, 'queued');
		await waitMessage(d, p.id, 'accepted');
	});

	msgdTest('a scheduled message survives a graceful restart and is sent once when due', async (h) => {
		const { d, fake } = await sendSetup(h);
		const at = secondsAhead(3);
		const m0 = await sendMessage(d, { channel: 'wa', to: TO, text: 'across restart', scheduled_at: rfc3339(at) });
		assert.equal(m0.status, 'scheduled');
		await d.stop();
		assert.equal(fake.requests.length, 0, 'sent before its time');
		const d2 = await h.start({ dataDir: d.dataDir });
		const now = await getMessage(d2, m0.id);
		if (Date.now() < at * 1000 - 200) assert.equal(now.status, 'scheduled');
		await waitMessage(d2, m0.id, 'accepted', 10_000);
		const rq = fake.to(TO);
		assert.equal(rq.length, 1, fake.summary());
		assert.ok(rq[0].wall >= at * 1000 - CLOCK_SLACK_MS, 'sent before scheduled_at');
	});

	msgdTest('DELETE a scheduled message → 200 cancelled; it is never sent', async (h) => {
		const { d, fake } = await sendSetup(h);
		const at = secondsAhead(2);
		const m0 = await sendMessage(d, { channel: 'wa', to: TO, text: 'never', scheduled_at: rfc3339(at) });
		const r = await d.api('DELETE', `/v1/messages/${m0.id}`);
		assertStatus(r, 200, 'DELETE scheduled');
		assert.equal(r.json.id, m0.id);
		assert.equal(r.json.status, 'cancelled');
		assert.equal((await getMessage(d, m0.id)).status, 'cancelled');
		const st = statusEventsOf(await allEvents(d), m0.id).map((e) => e.data.status);
		assert.ok(st.includes('cancelled'), `events: ${st}`);

		// Past its time, a later message goes out and the cancelled one still has not.
		await waitFor(() => Date.now() > at * 1000 + 300, 5000, { what: 'scheduled time passed' });
		const b = await sendMessage(d, { channel: 'wa', to: '15550009999', text: 'barrier' });
		await waitMessage(d, b.id, 'accepted');
		assert.equal(fake.to(TO).length, 0, fake.summary());
		assert.equal((await getMessage(d, m0.id)).status, 'cancelled');
	});

	msgdTest('DELETE an accepted message → 409 conflict, unchanged; unknown id → 404', async (h) => {
		const { d } = await sendSetup(h);
		const m0 = await sendMessage(d, { channel: 'wa', to: TO, text: 'already gone' });
		const m = await waitMessage(d, m0.id, 'accepted');
		assertError(await d.api('DELETE', `/v1/messages/${m0.id}`), 409, 'conflict');
		assert.deepEqual(await getMessage(d, m0.id), m);
		assertError(await d.api('DELETE', '/v1/messages/987654321'), 404, 'not_found');
		// Inbound messages cannot be cancelled either.
		const inb = assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '1555', text: 'hi' }), 201);
		const r = await d.api('DELETE', `/v1/messages/${inb.message.id}`);
		assert.ok([404, 409, 422].includes(r.status), `DELETE an inbound message: ${r.status} ${r.text}`);
		assert.equal((await getMessage(d, inb.message.id)).status, 'received');
	});
});
