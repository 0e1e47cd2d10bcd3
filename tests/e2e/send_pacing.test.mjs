// Sending: pacing per channel (rate_per_second) and per recipient (recipient_gap_ms).
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { msgdTest, assertStatus, waitMessage } from './lib.mjs';
import { sendSetup } from './fake_graph.mjs';

// Start times are measured where the provider sees them: at the fake, on
// arrival. Between the daemon's timer and that arrival lie curl's connection
// set-up and the loopback hop, which vary by a few ms (tens under ASan on a
// busy machine). With sends spaced 1/rate apart, a request that arrives a
// little late can put 21 in one 1 s window; that much is allowed (JITTER).
// A pacer that starts `rate` sends at once each second is not: its first
// group spreads out on arrival (new connections) while the next one, a
// second later, comes bunched, so the provider sees up to ~2x the rate in
// one second.
const JITTER = 1;
const GAP_JITTER_MS = 50;

async function batch(d, messages) {
	const r = await d.api('POST', '/v1/messages/batch', { messages });
	assertStatus(r, 207, 'POST /v1/messages/batch');
	assert.equal(r.json.results.length, messages.length);
	return r.json.results.map((x, i) => {
		assert.equal(x.index, i);
		assert.ok(x.message, `batch item ${i} not queued: ${JSON.stringify(x)}`);
		return x.message;
	});
}

/** Number of requests starting in each `bucketMs` slice since the first. */
function histogram(reqs, bucketMs) {
	const t0 = reqs[0].t;
	const out = [];
	for (const r of reqs) {
		const i = Math.floor((r.t - t0) / bucketMs);
		while (out.length <= i) out.push(0);
		out[i]++;
	}
	return out;
}

describe('send pacing', () => {
	msgdTest('rate_per_second 20: 100 messages are all accepted and never more than 20 start in any 1 s', async (h) => {
		const { d, fake } = await sendSetup(h, { config: { rate_per_second: 20 } });
		const N = 100;
		const msgs = await batch(d, Array.from({ length: N }, (_, i) => ({ channel: 'wa', to: `1555010${String(i).padStart(4, '0')}`, text: `paced ${i}` })));
		await fake.until(() => fake.accepted.length >= N, 25_000, `${N} messages accepted`);
		for (const m of msgs) await waitMessage(d, m.id, 'accepted', 5000);
		const s = fake.sends();
		assert.equal(s.length, N, 'one request per message');
		const span = s[s.length - 1].t - s[0].t;
		const peak = fake.peakRate(1000);
		h.t.diagnostic(`peak ${peak} requests in a 1 s window (${fake.peakRate(500)} in 500 ms); ${N} requests over ${Math.round(span)} ms`);
		assert.ok(peak <= 20 + JITTER, `the provider saw ${peak} requests within one second (rate_per_second 20): ` +
		    `starts per 100 ms: ${histogram(s, 100).join(' ')}`);
		// No 1 s window above 20 → 100 requests span at least 4 s.
		assert.ok(span >= 4000 - GAP_JITTER_MS, `100 requests at 20/s took only ${Math.round(span)} ms`);
	});

	msgdTest('recipient_gap_ms 300: messages to one recipient are spaced; all accepted', async (h) => {
		const { d, fake } = await sendSetup(h, { config: { recipient_gap_ms: 300 } });
		const SAME = '16505551234';
		const items = [];
		for (let i = 0; i < 5; i++) {
			items.push({ channel: 'wa', to: SAME, text: `same ${i}` });
			items.push({ channel: 'wa', to: `1555020000${i}`, text: `other ${i}` });
		}
		const msgs = await batch(d, items);
		for (const m of msgs) await waitMessage(d, m.id, 'accepted', 10_000);
		const same = fake.to(SAME);
		assert.equal(same.length, 5);
		const gaps = same.slice(1).map((r, i) => r.t - same[i].t);
		h.t.diagnostic(`gaps to one recipient: ${gaps.map(Math.round).join(', ')} ms`);
		// One late arrival shortens the next gap as seen here: allow that much
		// per gap, but not overall.
		for (const g of gaps) assert.ok(g >= 300 - GAP_JITTER_MS, `requests to one recipient ${Math.round(g)} ms apart (recipient_gap_ms 300)`);
		const total = same[4].t - same[0].t;
		assert.ok(total >= 4 * 300 - GAP_JITTER_MS, `5 requests to one recipient within ${Math.round(total)} ms (recipient_gap_ms 300)`);
		// Order per recipient is kept.
		assert.deepEqual(same.map((r) => r.body.text.body), ['same 0', 'same 1', 'same 2', 'same 3', 'same 4']);
	});
});
