// Two msgd instances on one PostgreSQL database, sending: every message
// accepted through either instance reaches the provider exactly once; and
// when the instance that holds the channel's dispatch lease dies (kill -9)
// mid-send, the other takes the channel over once the leases lapse and
// completes every message, duplicates only within the in-flight window.
// PostgreSQL only (make test-pg); on SQLite one database has one msgd.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { msgdTest, assertStatus, getMessage, databaseFor, waitFor } from './lib.mjs';
import { sendSetup } from './fake_graph.mjs';

const PG = (process.env.MSGD_TEST_DATABASE || '').startsWith('postgres');
const key = (r) => `${r.body?.to}|${r.body?.text?.body}`;
const LEASES = { MSGD_OUTBOX_LEASE_MS: '2000', MSGD_DISPATCH_LEASE_MS: '1500' };
const UNCERTAIN_MS = 250;  // answered this shortly before the kill: maybe not committed yet

// A second instance on the first one's database: its own data dir and port,
// the same admin token.
function second(h, a, env = {}) {
	return h.start({ token: a.token, env: { MSGD_DATABASE: databaseFor(a.dataDir), MSGD_INSTANCE_ID: 'b', ...env } });
}

async function queue(ds, items, chunk = 100) {
	const ids = [];
	for (let i = 0, k = 0; i < items.length; i += chunk, k++) {
		const d = ds[k % ds.length];
		const r = await d.api('POST', '/v1/messages/batch', { messages: items.slice(i, i + chunk) });
		assertStatus(r, 207, `batch ${k} on ${d.name}`);
		for (const x of r.json.results) {
			assert.ok(x.message, `batch item not queued: ${JSON.stringify(x)}`);
			ids.push(x.message.id);
		}
	}
	assert.equal(new Set(ids).size, items.length);
	return ids;
}

// The dispatch state of channel "wa" as an instance reports it.
async function dispatch(d) {
	const r = await d.api('GET', '/v1/channels/wa');
	return r.status === 200 ? r.json.state?.dispatch : undefined;
}

describe('two instances sending', { skip: PG ? false : 'runs on PostgreSQL only (make test-pg)' }, () => {
	msgdTest('2,000 sends spread over A and B reach the provider exactly once each', async (h) => {
		const { d: a, fake } = await sendSetup(h, { start: { env: { ...LEASES, MSGD_INSTANCE_ID: 'a' } } });
		const b = await second(h, a, LEASES);
		const N = 2000;
		const items = Array.from({ length: N }, (_, i) => ({ channel: 'wa', to: `1555070${String(i).padStart(4, '0')}`, text: `both ${i}` }));
		const ids = await queue([a, b], items);
		await fake.until(() => fake.accepted.length >= N, 90_000, `${N} sends accepted by the fake`);
		const counts = new Map();
		for (const r of fake.sends()) counts.set(key(r), (counts.get(key(r)) ?? 0) + 1);
		assert.equal(counts.size, N, 'messages never sent');
		const twice = [...counts].filter(([, c]) => c > 1);
		assert.deepEqual(twice, [], 'messages sent more than once');
		// Both instances answer for every message, whoever sent it.
		for (const id of [ids[0], ids[N - 1]])
			for (const d of [a, b])
				await waitFor(async () => (await getMessage(d, id)).status === 'accepted', 10_000, { what: `message ${id} accepted on ${d.name}` });
		const holders = [await dispatch(a), await dispatch(b)];
		h.t.diagnostic(`dispatch lease: a ${holders[0]}, b ${holders[1]}; requests ${fake.requests.length}`);
		assert.equal(holders.filter((x) => x === 'held').length, 1, `one instance holds the channel: ${holders}`);
	}, { timeout: 150_000 });

	msgdTest('kill -9 of the sending instance: the other completes its sends after the leases lapse', async (h) => {
		const { d: a, fake } = await sendSetup(h, { config: { rate_per_second: 200 }, start: { env: { ...LEASES, MSGD_INSTANCE_ID: 'a' } } });
		const b = await second(h, a, LEASES);
		fake.always({ delayMs: 5 });
		const N = 1000;
		const items = Array.from({ length: N }, (_, i) => ({ channel: 'wa', to: `1555080${String(i).padStart(4, '0')}`, text: `kill ${i}` }));
		const keys = new Set(items.map((m) => `${m.to}|${m.text}`));
		await waitFor(async () => (await dispatch(a)) === 'held' || (await dispatch(b)) === 'held', 10_000, { what: 'a dispatch lease holder' });
		const [holder, other] = (await dispatch(a)) === 'held' ? [a, b] : [b, a];

		let armed = false, kill = null;
		fake.onRequest((rec) => {
			if (!armed || kill || rec.kind !== 'send' || fake.sends().length < 300) return;
			holder.proc.kill('SIGKILL');
			kill = { at: rec.t, sends: fake.sends().length, inFlight: fake.inFlight() };
		});
		const ids = await queue([a, b], items);
		armed = true;
		await fake.until(() => kill !== null || fake.accepted.length >= N, 60_000, 'the kill point');
		if (!kill) {
			holder.proc.kill('SIGKILL');
			kill = { at: performance.now(), sends: fake.sends().length, inFlight: fake.inFlight() };
		}
		await holder.exited;
		const killedAt = performance.now();
		const firstLife = fake.requests.filter((r) => r.kind === 'send' && r.t < killedAt);
		const uncertain = new Set(firstLife.filter((r) => r.endT === undefined || r.endT >= kill.at - UNCERTAIN_MS || r.status !== 200).map(key));

		await fake.until(() => new Set(fake.accepted.map((x) => key(fake.requests[x.n]))).size >= N, 90_000, `all ${N} messages accepted`);
		const took = await dispatch(other);
		let notYet = 0;
		for (const id of ids) {
			let m = await getMessage(other, id);
			for (let i = 0; m.status !== 'accepted' && i < 250; i++) {
				await new Promise((r) => setTimeout(r, 20));
				m = await getMessage(other, id);
			}
			if (m.status !== 'accepted') notYet++;
		}
		assert.equal(notYet, 0, `${notYet} messages not accepted`);
		const counts = new Map();
		for (const r of fake.sends()) counts.set(key(r), (counts.get(key(r)) ?? 0) + 1);
		for (const k of counts.keys()) assert.ok(keys.has(k), `the fake saw a message nobody sent: ${k}`);
		assert.equal(counts.size, N, 'lost messages');
		const dups = [...counts].filter(([, c]) => c > 1);
		h.t.diagnostic(`killed ${holder.name} after ${kill.sends} sends; in flight at the kill: ${kill.inFlight}; ` +
		    `uncertain: ${uncertain.size}; duplicates: ${dups.length}; the other instance's dispatch: ${took}`);
		assert.equal(took, 'held');
		assert.ok(Math.max(...counts.values()) <= 2, 'a message was sent more than twice');
		for (const [k] of dups) assert.ok(uncertain.has(k), `${k} was sent twice but was not in flight at the kill`);
	}, { timeout: 180_000 });
});
