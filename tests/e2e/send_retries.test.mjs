// Sending: what each provider answer leads to (corpus README decision table):
// retries with backoff, Retry-After, permanent failures, network errors,
// timeouts, and the channel pause on an expired token.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
	msgdTest, assertStatus, allEvents, sendMessage, getMessage, waitMessage, waitFor, sleepTick,
	statusEventsOf, channelState, SEND_TOKEN,
} from './lib.mjs';
import { sendSetup } from './fake_graph.mjs';

const TO = '16505551234';
const RETRY_DEADLINE = 30_000;  // a few backoff steps

describe('send retries and provider errors', () => {
	msgdTest('500 twice then 200 → accepted after 3 attempts, accepted exactly once', async (h) => {
		const { d, fake } = await sendSetup(h);
		fake.next(2, fake.serverError(500));
		const m0 = await sendMessage(d, { channel: 'wa', to: TO, text: 'third time lucky' });
		const m = await waitMessage(d, m0.id, 'accepted', RETRY_DEADLINE);
		const rq = fake.to(TO);
		assert.deepEqual(rq.map((r) => r.status), [500, 500, 200], fake.summary());
		assert.equal(fake.accepted.length, 1);
		assert.equal(m.provider_message_id, fake.accepted[0].id);
		if ('attempts' in m) assert.equal(m.attempts, 3);
		for (let i = 1; i < rq.length; i++)
			assert.ok(rq[i].t >= rq[i - 1].endT, `attempt ${i + 1} started before attempt ${i} was answered`);
		const st = statusEventsOf(await allEvents(d), m0.id).map((e) => e.data.status);
		assert.ok(!st.includes('failed'), `a retried message must not be reported failed: ${st}`);
		assert.equal(st.filter((s) => s === 'accepted').length, 1, `${st}`);
	});

	msgdTest('429 with the 130429 body and Retry-After: 2 → the next attempt ≥ 2 s later, then accepted', async (h) => {
		const { d, fake } = await sendSetup(h);
		fake.next(1, fake.corpusError('130429', { headers: { 'retry-after': '2' } }));
		assert.equal(fake.corpusError('130429').status, 429);
		const m0 = await sendMessage(d, { channel: 'wa', to: TO, text: 'throttled' });
		await waitMessage(d, m0.id, 'accepted', 15_000);
		const rq = fake.to(TO);
		assert.equal(rq.length, 2, fake.summary());
		assert.equal(rq[0].status, 429);
		const gap = rq[1].t - rq[0].endT;
		h.t.diagnostic(`Retry-After 2 → next attempt ${Math.round(gap)} ms after the 429`);
		assert.ok(gap >= 1900, `next attempt only ${Math.round(gap)} ms after "Retry-After: 2"`);
	});

	msgdTest('permanent error (131026, HTTP 400) → failed with error.code 131026 after one request, no retry', async (h) => {
		const { d, fake } = await sendSetup(h);
		fake.rule(TO, fake.corpusError('131026'));
		const m0 = await sendMessage(d, { channel: 'wa', to: TO, text: 'undeliverable' });
		const m = await waitMessage(d, m0.id, 'failed', 10_000);
		assert.ok(m.error && typeof m.error === 'object', `no error on a failed message: ${JSON.stringify(m)}`);
		assert.equal(Number(m.error.code), 131026, JSON.stringify(m.error));
		assert.equal(typeof m.error.title, 'string');
		assert.match(`${m.error.title} ${m.error.detail ?? ''}`, /undeliverable/i);
		assert.equal(m.provider_message_id, null);
		const f = (m.status_history ?? []).find((s) => s.status === 'failed');
		assert.ok(f, `no failed entry in status_history: ${JSON.stringify(m.status_history)}`);
		assert.equal(Number(f.error?.code), 131026);
		const fe = statusEventsOf(await allEvents(d), m0.id).find((e) => e.data.status === 'failed');
		assert.ok(fe, 'no message.status failed event');
		assert.equal(Number(fe.data.error.code), 131026);
		// Barrier: another message goes through; the failed one was tried once only.
		const ok = await sendMessage(d, { channel: 'wa', to: '15550009999', text: 'fine' });
		await waitMessage(d, ok.id, 'accepted');
		assert.equal(fake.to(TO).length, 1, fake.summary());
		assert.equal((await getMessage(d, m0.id)).status, 'failed');
	});

	msgdTest('connection reset without an answer → retried and accepted', async (h) => {
		const { d, fake } = await sendSetup(h);
		fake.next(1, { reset: true });
		const m0 = await sendMessage(d, { channel: 'wa', to: TO, text: 'reset me' });
		const m = await waitMessage(d, m0.id, 'accepted', RETRY_DEADLINE);
		const rq = fake.to(TO);
		assert.equal(rq.length, 2, fake.summary());
		assert.equal(rq[0].reset, true);
		assert.equal(rq[1].status, 200);
		assert.equal(fake.accepted.length, 1);
		assert.equal(m.provider_message_id, fake.accepted[0].id);
	});

	msgdTest('a response slower than request_timeout_ms → the attempt is abandoned and retried', async (h) => {
		const { d, fake } = await sendSetup(h, { config: { request_timeout_ms: 500 } });
		fake.next(1, { delayMs: 3000 });
		const m0 = await sendMessage(d, { channel: 'wa', to: TO, text: 'slow provider' });
		const m = await waitMessage(d, m0.id, 'accepted', RETRY_DEADLINE);
		const rq = fake.to(TO);
		assert.ok(rq.length >= 2, fake.summary());
		assert.equal(rq[0].aborted, true, `msgd waited for the slow answer instead of timing out: ${fake.summary()}`);
		const waited = rq[0].endT - rq[0].t;
		h.t.diagnostic(`first attempt abandoned after ${Math.round(waited)} ms`);
		assert.ok(waited >= 400 && waited < 2500, `first attempt abandoned after ${Math.round(waited)} ms (timeout 500)`);
		assert.equal(fake.accepted.length, 1);
		assert.equal(m.provider_message_id, fake.accepted[0].id);
	});

	msgdTest('190 (expired token) → message not failed, channel paused with a reason; PATCH access_token → resumes', async (h) => {
		const { d, fake } = await sendSetup(h);
		const NEW_TOKEN = 'tok-fresh-456';
		fake.rule((r) => r.token !== NEW_TOKEN, fake.corpusError('190'));
		const m0 = await sendMessage(d, { channel: 'wa', to: TO, text: 'token trouble' });
		await fake.until(() => fake.to(TO).some((r) => r.status === 401), 10_000, 'the 190 answer');
		const st = await waitFor(async () => {
			const s = await channelState(d);
			return s.sending.state === 'paused' && s;
		}, 5000, { what: 'channel state.sending "paused"' });
		const why = st.sending.reason;
		assert.equal(why.code, 190, JSON.stringify(st.sending));
		assert.match(why.title, /Session has expired/, 'paused without the provider\'s reason');
		// The Graph error has no details: its message is said once, not twice.
		assert.equal(why.detail, null, JSON.stringify(why));
		assert.equal(st.sending.until, null, 'a credentials pause lasts until the config changes');
		assert.ok(Date.parse(st.sending.since) > 0);
		assert.ok(!JSON.stringify(st).includes(SEND_TOKEN));

		// While paused: another message is still accepted by the API, nothing fails,
		// and the old token is not hammered.
		const m1 = await sendMessage(d, { channel: 'wa', to: '15550002222', text: 'queued behind the pause' });
		const sentWhilePaused = fake.requests.length;
		const watchEnd = Date.now() + 1500;
		while (Date.now() < watchEnd) {
			for (const id of [m0.id, m1.id]) {
				const m = await getMessage(d, id);
				assert.notEqual(m.status, 'failed', `message failed while the channel was paused: ${JSON.stringify(m)}`);
			}
			assert.equal((await channelState(d)).sending.state, 'paused');
			await sleepTick(100);
		}
		assert.ok(fake.requests.length <= sentWhilePaused + 1,
		    `${fake.requests.length - sentWhilePaused} requests while paused: ${fake.summary()}`);

		const p = await d.api('PATCH', '/v1/channels/wa', { config: { access_token: NEW_TOKEN } });
		assertStatus(p, 200, 'PATCH access_token');
		assert.ok(!p.text.includes(NEW_TOKEN), 'PATCH answer shows the new token');
		const a0 = await waitMessage(d, m0.id, 'accepted', 15_000);
		const a1 = await waitMessage(d, m1.id, 'accepted', 15_000);
		const ok = fake.requests.filter((r) => r.status === 200);
		assert.equal(ok.length, 2, fake.summary());
		for (const r of ok) assert.equal(r.headers.authorization, `Bearer ${NEW_TOKEN}`);
		assert.deepEqual([a0.provider_message_id, a1.provider_message_id].sort(), fake.accepted.map((x) => x.id).sort());
		await waitFor(async () => (await channelState(d)).sending.state === 'ok', 5000, { what: 'state.sending back to "ok"' });
	});
});
