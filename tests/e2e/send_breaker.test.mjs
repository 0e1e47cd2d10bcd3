// Sending: the per-channel circuit breaker (breaker_threshold, breaker_cooldown_s).
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { msgdTest, waitFor, waitMessage, channelState } from './lib.mjs';
import { sendSetup } from './fake_graph.mjs';

const COOLDOWN_MS = 1000;
const SLACK_MS = 120;  // timer and loopback latency

describe('send circuit breaker', () => {
	msgdTest('3 consecutive failures open the circuit; nothing is sent while open; one probe per cooldown; recovery sends everything', async (h) => {
		const { d, fake } = await sendSetup(h, { config: { breaker_threshold: 3, breaker_cooldown_s: 1 } });
		fake.always(fake.serverError(500));
		const tos = ['15550300001', '15550300002', '15550300003'];
		const ids = [];
		for (const to of tos) {
			const r = await d.api('POST', '/v1/messages', { channel: 'wa', to, text: `breaker ${to}` });
			assert.equal(r.status, 202, r.text);
			ids.push(r.json.id);
		}
		await fake.until(() => fake.requests.filter((r) => r.status === 500).length >= 3, 15_000, '3 failed requests');
		const seen = new Set();
		const open = await waitFor(async () => {
			const s = await channelState(d);
			seen.add(s.sending.state);
			return s.sending.state === 'circuit_open' && s;
		}, 5000, { what: 'state.sending "circuit_open"', intervalMs: 10 });
		// An open circuit says why (the error that opened it) and until when.
		assert.equal(open.sending.reason.code, 2, JSON.stringify(open.sending));
		assert.match(open.sending.reason.title, /unexpected error/, JSON.stringify(open.sending));
		assert.ok(Date.parse(open.sending.since) > 0 && Date.parse(open.sending.until) >= Date.parse(open.sending.since),
		    JSON.stringify(open.sending));

		// Watch two more cooldowns: only single probes, spaced by the cooldown.
		const third = fake.requests.filter((r) => r.status === 500).map((r) => r.endT).sort((a, b) => a - b)[2];
		await fake.until(() => fake.requests.filter((r) => r.t > third + SLACK_MS).length >= 2, 8000, 'two probes after the circuit opened');
		const later = fake.requests.filter((r) => r.t > third + SLACK_MS);
		h.t.diagnostic(`after opening: requests at +${later.map((r) => Math.round(r.t - third)).join(', +')} ms`);
		assert.ok(later[0].t - third >= COOLDOWN_MS - SLACK_MS,
		    `first request ${Math.round(later[0].t - third)} ms after the circuit opened (cooldown ${COOLDOWN_MS})`);
		for (let i = 1; i < later.length; i++) {
			const gap = later[i].t - (later[i - 1].endT ?? later[i - 1].t);
			assert.ok(gap >= COOLDOWN_MS - SLACK_MS, `probe ${i + 1} only ${Math.round(gap)} ms after probe ${i}: ${fake.summary()}`);
		}
		for (const id of ids) {
			const m = (await d.api('GET', `/v1/messages/${id}`)).json;
			assert.notEqual(m?.status, 'failed', `a message failed while the circuit was open: ${JSON.stringify(m)}`);
		}

		// The provider recovers: the next probe closes the circuit and everything goes out.
		fake.always(null);
		for (const id of ids) await waitMessage(d, id, 'accepted', 30_000);
		assert.equal(fake.accepted.length, tos.length, 'each message accepted exactly once');
		for (const to of tos) assert.equal(fake.to(to).filter((r) => r.status === 200).length, 1);
		await waitFor(async () => (await channelState(d)).sending.state === 'ok', 5000, { what: 'state.sending back to "ok"' });
		h.t.diagnostic(`states seen while waiting for circuit_open: ${[...seen].join(', ')}`);
	});

	msgdTest('successes in between reset the count: alternating failures never open the circuit', async (h) => {
		const { d, fake } = await sendSetup(h, { config: { breaker_threshold: 3, breaker_cooldown_s: 1 } });
		// fail, ok, fail, ok ... for 6 requests
		for (let i = 0; i < 3; i++) { fake.next(1, fake.serverError(500)); fake.next(1, {}); }
		const ids = [];
		for (let i = 0; i < 3; i++) {
			const r = await d.api('POST', '/v1/messages', { channel: 'wa', to: `1555031000${i}`, text: `alt ${i}` });
			assert.equal(r.status, 202, r.text);
			ids.push(r.json.id);
		}
		for (const id of ids) await waitMessage(d, id, 'accepted', 30_000);
		const st = await channelState(d);
		assert.equal(st.sending.state, 'ok', JSON.stringify(st));
	});
});
