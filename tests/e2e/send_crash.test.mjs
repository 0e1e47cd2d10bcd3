// Sending: kill -9 in the middle of 1,000 sends; after a restart every
// message is accepted, none is lost, and only messages whose request was
// in flight at the kill may have gone out twice.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { msgdTest, assertStatus, getMessage } from './lib.mjs';
import { sendSetup } from './fake_graph.mjs';

const N = 1000;
const CHUNK = 100;
const RATE = 200;              // paced so that the run outlasts the submission
const KILL_AFTER = 300;        // sends seen by the fake before the kill
const UNCERTAIN_MS = 250;      // answered this shortly before the kill: maybe not committed yet

const key = (r) => `${r.body?.to}|${r.body?.text?.body}`;

describe('send crash safety', () => {
	msgdTest('kill -9 during 1,000 sends → after restart all accepted, none lost, duplicates only from the in-flight window', async (h) => {
		const { d, fake } = await sendSetup(h, { config: { rate_per_second: RATE } });
		fake.always({ delayMs: 5 });
		const items = Array.from({ length: N }, (_, i) => ({ channel: 'wa', to: `1555060${String(i).padStart(4, '0')}`, text: `crash ${i}` }));
		const keys = new Set(items.map((m) => `${m.to}|${m.text}`));

		// The kill is armed once every message is acknowledged, and fires from
		// the fake's request handler, i.e. while a request is in flight.
		let armed = false;
		let kill = null;
		fake.onRequest((rec) => {
			if (!armed || kill || rec.kind !== 'send' || fake.sends().length < KILL_AFTER) return;
			d.proc.kill('SIGKILL');
			kill = { at: rec.t, sends: fake.sends().length, inFlight: fake.inFlight() };
		});

		const ids = [];
		for (let i = 0; i < N; i += CHUNK) {
			const r = await d.api('POST', '/v1/messages/batch', { messages: items.slice(i, i + CHUNK) });
			assertStatus(r, 207, `batch ${i / CHUNK}`);
			for (const x of r.json.results) {
				assert.ok(x.message, `batch item not queued: ${JSON.stringify(x)}`);
				ids.push(x.message.id);
			}
		}
		assert.equal(new Set(ids).size, N);
		const sentBeforeArm = fake.sends().length;
		armed = true;
		if (sentBeforeArm >= N) h.t.diagnostic('WARNING: every message was sent before the kill could be armed');
		await fake.until(() => kill !== null || fake.accepted.length >= N, 60_000, 'the kill point');
		if (!kill) {
			d.proc.kill('SIGKILL');
			kill = { at: performance.now(), sends: fake.sends().length, inFlight: fake.inFlight() };
		}
		await d.exited;
		assert.equal(d.exitInfo.signal, 'SIGKILL');

		// What the first daemon may not have recorded: requests in flight at
		// the kill, requests it had already started that reached the fake
		// after it, and answers given shortly before it (the daemon may not
		// have committed them yet).
		const restartAt = performance.now();
		const firstLife = fake.requests.filter((r) => r.kind === 'send' && r.t < restartAt);
		const uncertain = firstLife.filter((r) => r.endT === undefined || r.endT >= kill.at - UNCERTAIN_MS || r.status !== 200);
		const bound = new Set(uncertain.map(key));
		const arrivedAfter = firstLife.filter((r) => r.t > kill.at).length;

		const d2 = await h.start({ dataDir: d.dataDir });
		await fake.until(() => new Set(fake.accepted.map((a) => {
			const r = fake.requests[a.n];
			return key(r);
		})).size >= N, 90_000, `all ${N} messages accepted by the fake`);
		const byId = new Map();
		for (const a of fake.accepted) byId.set(a.id, key(fake.requests[a.n]));
		let notYet = 0;
		for (const id of ids) {
			let m = await getMessage(d2, id);
			for (let i = 0; m.status !== 'accepted' && i < 250; i++) {  // its commit may trail the fake's answer
				await new Promise((r) => setTimeout(r, 20));
				m = await getMessage(d2, id);
			}
			if (m.status !== 'accepted') { notYet++; continue; }
			const k = byId.get(m.provider_message_id);
			assert.equal(k, `${m.to}|${m.text}`, `message ${id} has provider id ${m.provider_message_id} of another request`);
		}
		assert.equal(notYet, 0, `${notYet} messages not accepted`);

		// Duplicates: the same to+text sent more than once.
		const counts = new Map();
		for (const r of fake.sends()) counts.set(key(r), (counts.get(key(r)) ?? 0) + 1);
		for (const k of counts.keys()) assert.ok(keys.has(k), `the fake saw a message nobody sent: ${k}`);
		assert.equal(counts.size, N, 'lost messages');
		const dups = [...counts].filter(([, c]) => c > 1);
		const maxSeen = Math.max(...counts.values());
		h.t.diagnostic(`kill after ${kill.sends} sends (${sentBeforeArm} before the kill was armed); ` +
		    `in flight at the kill: ${kill.inFlight}, reaching the fake after it: ${arrivedAfter}, ` +
		    `uncertain in all (incl. answered within ${UNCERTAIN_MS} ms before it): ${bound.size}; ` +
		    `duplicates: ${dups.length} (max ${maxSeen} requests for one message); total requests ${fake.requests.length}`);
		assert.ok(maxSeen <= 2, `a message was sent ${maxSeen} times`);
		for (const [k] of dups)
			assert.ok(bound.has(k), `${k} was sent twice but was not in flight at the kill`);
		assert.ok(dups.length <= bound.size, `${dups.length} duplicates > ${bound.size} uncertain requests`);
		// Only the first life's uncertain requests are repeated: after the restart
		// each message went out at most once more, and not at all if it was settled.
		const settled = new Set(firstLife.filter((r) => !bound.has(key(r))).map(key));
		const again = fake.requests.filter((r) => r.kind === 'send' && r.t >= restartAt && settled.has(key(r)));
		assert.equal(again.length, 0, `settled messages sent again after the restart: ${again.slice(0, 5).map(key)}`);
	}, { timeout: 150_000 });
});
