// Wall-clock jumps (a manual fix, a VM resumed, NTP stepping the clock):
// delays keep their length, calendar times keep their time. msgd runs under
// Debian's libfaketime (LD_PRELOAD), whose offset the test changes while it
// runs; the monotonic clock stays real (FAKETIME_DONT_FAKE_MONOTONIC), as it
// does on a real machine when someone sets the date.
//
// - a retry's backoff (Retry-After 10 s) after the clock is set back an
//   hour still comes 10 s later, not an hour and 10 s later;
// - a channel throttled by the provider for 10 s, the same;
// - the clock set forward a day does not fire a retry early: its
//   next_attempt_at moves with the clock;
// - a scheduled send follows the calendar: the clock set forward past its
//   scheduled_at sends it at once;
// - an event webhook's retry after the clock is set back an hour.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import {
	msgdTest, waitFor, sendMessage, getMessage, waitMessage, channelState, assertStatus, rfc3339,
	fakeClock, FAKETIME,
} from './lib.mjs';
import { sendSetup, serverError, corpusError } from './fake_graph.mjs';

const TO = '16505551234';
const HOUR = 3600;
const WAIT_S = 10;  // a delay long enough to set the clock (≤ 2 s) while it runs

/** A failed first attempt with its retry pending: the message as shown. */
function waitRetrying(d, id) {
	return waitMessage(d, id, (m) => m.status === 'queued' && m.last_error !== null && m.next_attempt_at !== null, 15_000);
}

describe('wall-clock jumps', { skip: FAKETIME ? false : 'libfaketime is not installed (apt-get install libfaketime)' }, () => {
	msgdTest('the clock set back an hour: a retry due in 10 s still comes in about 10 s', async (h, t) => {
		const clk = fakeClock(t);
		const { d, fake } = await sendSetup(h, { start: { env: clk.env } });
		await clk.set(d, 0);
		fake.next(1, { ...serverError(500), headers: { 'retry-after': String(WAIT_S) } });
		const m0 = await sendMessage(d, { channel: 'wa', to: TO, text: 'backoff across a jump' });
		await waitRetrying(d, m0.id);
		await clk.set(d, -HOUR);
		const m = await waitMessage(d, m0.id, 'accepted', 30_000);
		const rq = fake.to(TO);
		assert.equal(rq.length, 2, fake.summary());
		assert.ok(rq[1].t > clk.setAt, 'the retry came before msgd saw the jump: nothing was tested');
		const gap = rq[1].t - rq[0].endT;
		h.t.diagnostic(`retry ${Math.round(gap)} ms after the 500 (Retry-After ${WAIT_S}, clock set back 1 h meanwhile)`);
		assert.ok(gap >= WAIT_S * 1000 - 1000, `retried only ${Math.round(gap)} ms after a Retry-After of ${WAIT_S} s`);
		assert.equal(m.provider_message_id, fake.accepted[0].id);
	});

	msgdTest('the clock set back an hour: a channel throttled for 10 s sends again in about 10 s', async (h, t) => {
		const clk = fakeClock(t);
		const { d, fake } = await sendSetup(h, { start: { env: clk.env } });
		await clk.set(d, 0);
		fake.next(1, corpusError('130429', { headers: { 'retry-after': String(WAIT_S) } }));
		const m0 = await sendMessage(d, { channel: 'wa', to: TO, text: 'throttled across a jump' });
		await waitFor(async () => (await channelState(d)).sending.state === 'throttled', 10_000,
		    { what: 'state.sending "throttled"' });
		await clk.set(d, -HOUR);
		const until = (await channelState(d)).sending.until;
		assert.ok(until === null || Date.parse(until) < clk.now() + 60_000,
		    `throttled until ${until}, an hour after msgd's clock`);
		await waitMessage(d, m0.id, 'accepted', 30_000);
		const rq = fake.to(TO);
		assert.equal(rq.length, 2, fake.summary());
		assert.ok(rq[1].t > clk.setAt, 'sent again before msgd saw the jump: nothing was tested');
	});

	msgdTest('the clock set forward a day: a retry due in 20 s is not fired early, its next_attempt_at moves with the clock', async (h, t) => {
		const clk = fakeClock(t);
		const { d, fake } = await sendSetup(h, { start: { env: clk.env } });
		await clk.set(d, 0);
		fake.next(1, { ...serverError(500), headers: { 'retry-after': '20' } });
		const m0 = await sendMessage(d, { channel: 'wa', to: TO, text: 'not before its time' });
		const before = Date.parse((await waitRetrying(d, m0.id)).next_attempt_at);
		await clk.set(d, 24 * HOUR);
		// The dispatcher looks at least every few seconds: the due time moves by the jump.
		const r = await waitFor(async () => {
			const m = await getMessage(d, m0.id);
			return m.next_attempt_at && Date.parse(m.next_attempt_at) > before + 23 * HOUR * 1000 && m;
		}, 15_000, { what: 'next_attempt_at a day later' });
		assert.equal(r.status, 'queued');
		assert.equal(fake.to(TO).length, 1, `retried at the jump: ${fake.summary()}`);
		const left = Date.parse(r.next_attempt_at) - clk.now();
		assert.ok(left > 0 && left <= 21_000, `next attempt ${left} ms away after the jump`);
	});

	msgdTest('a scheduled send follows the calendar: the clock set forward past scheduled_at sends it at once', async (h, t) => {
		const clk = fakeClock(t);
		const { d, fake } = await sendSetup(h, { start: { env: clk.env } });
		await clk.set(d, 0);
		const at = rfc3339(Math.floor(clk.now() / 1000) + 2 * HOUR);
		const m0 = await sendMessage(d, { channel: 'wa', to: TO, text: 'at two', scheduled_at: at });
		assert.equal((await getMessage(d, m0.id)).status, 'scheduled');
		await clk.set(d, 2 * HOUR + 5);
		await waitMessage(d, m0.id, 'accepted', 20_000);
		assert.equal(fake.to(TO).length, 1, fake.summary());
	});

	msgdTest('the clock set back an hour: an event webhook\'s retry (Retry-After 10) comes in about 10 s', async (h, t) => {
		const clk = fakeClock(t);
		const got = [];
		const srv = http.createServer((req, res) => {
			req.resume();
			req.on('end', () => {
				got.push(performance.now());
				if (got.length === 1) {
					res.writeHead(503, { 'retry-after': String(WAIT_S) });
					res.end('later');
				} else {
					res.writeHead(200);
					res.end('ok');
				}
			});
		});
		await new Promise((ok) => srv.listen(0, '127.0.0.1', ok));
		t.after(() => new Promise((ok) => { srv.closeAllConnections(); srv.close(ok); }));
		const d = await h.start({ env: clk.env });
		await clk.set(d, 0);
		const sub = await d.api('POST', '/v1/webhooks', {
			url: `http://127.0.0.1:${srv.address().port}/hook`, events: ['message.received'], secret: 'clock-jump-secret',
		});
		assertStatus(sub, 201, 'POST /v1/webhooks');
		assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '15550001111', text: 'hi' }), 201, 'inbound');
		await waitFor(async () => {
			const s = await d.api('GET', `/v1/webhooks/${sub.json.id}`);
			return s.json?.state?.next_attempt_at;
		}, 10_000, { what: 'the webhook retry pending' });
		await clk.set(d, -HOUR);
		await waitFor(() => got.length >= 2, 30_000, { what: 'the webhook retried' });
		assert.ok(got[1] > clk.setAt, 'the retry came before msgd saw the jump: nothing was tested');
		const gap = got[1] - got[0];
		h.t.diagnostic(`webhook retried ${Math.round(gap)} ms after the 503 (Retry-After ${WAIT_S}, clock set back 1 h)`);
		assert.ok(gap >= WAIT_S * 1000 - 1000, `retried after ${Math.round(gap)} ms`);
	});
});
