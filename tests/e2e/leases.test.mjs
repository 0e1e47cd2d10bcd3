// Several instances on one PostgreSQL database: one of them at a time
// dispatches a channel (its dispatch lease); the other takes the channel
// over at once after a clean stop, and within dispatch_lease_ms after a
// kill -9. Runs only with MSGD_TEST_DATABASE (SQLite has one process per
// database).
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { msgdTest, assertStatus, databaseFor, sendMessage, waitMessage, waitFor } from './lib.mjs';

const PG = !!process.env.MSGD_TEST_DATABASE;
const LEASE_MS = 1000;

/** The sandbox channel's dispatch as instance d sees it: "held", "elsewhere". */
async function dispatch(d) {
	const r = assertStatus(await d.api('GET', '/readyz'), 200, 'GET /readyz');
	return r.channels?.sandbox?.dispatch;
}

describe('dispatch leases between instances', { skip: !PG && 'PostgreSQL only (MSGD_TEST_DATABASE)' }, () => {
	msgdTest('one instance dispatches a channel; the other takes over after a stop and after kill -9', async (h) => {
		const dsn = databaseFor(`/leases-${crypto.randomBytes(6).toString('hex')}`);
		const opts = (id) => ({ env: { MSGD_DATABASE: dsn, MSGD_DISPATCH_LEASE_MS: String(LEASE_MS) },
			args: ['--instance-id', id] });
		const a = await h.start(opts('A'));
		await waitFor(async () => (await dispatch(a)) === 'held', 5000, { what: 'A holds sandbox' });
		const b = await h.start(opts('B'));
		assert.equal(await dispatch(b), 'elsewhere');
		// B asks for the lease every third of it: still A's while A lives.
		const until = Date.now() + 3 * LEASE_MS;
		while (Date.now() < until) {
			assert.equal(await dispatch(b), 'elsewhere', 'B took a live lease');
			assert.equal(await dispatch(a), 'held', 'A lost a lease it renews');
			await new Promise((r) => setTimeout(r, 100));
		}
		// A message sent through B is dispatched by A, the holder.
		const m1 = await sendMessage(b, { channel: 'sandbox', to: '15550001111', text: 'via B' });
		await waitMessage(b, m1.id, 'read', 10_000);

		// A clean stop releases the lease: B takes over at its next tick.
		const stopped = Date.now();
		await a.stop();
		await waitFor(async () => (await dispatch(b)) === 'held', 3000, { what: 'B holds sandbox after A stopped' });
		assert.ok(Date.now() - stopped < 3000);
		const m2 = await sendMessage(b, { channel: 'sandbox', to: '15550002222', text: 'B alone' });
		await waitMessage(b, m2.id, 'read', 10_000);

		// A again (same id); then B dies: A waits for the lease to run out.
		const a2 = await h.start(opts('A'));
		await waitFor(async () => (await dispatch(a2)) === 'elsewhere' && (await dispatch(b)) === 'held', 3000,
			{ what: 'B keeps sandbox when A returns' });
		await b.kill9();
		await waitFor(async () => (await dispatch(a2)) === 'held', 5 * LEASE_MS, { what: 'A takes sandbox after B died' });
		const m3 = await sendMessage(a2, { channel: 'sandbox', to: '15550003333', text: 'A after B died' });
		await waitMessage(a2, m3.id, 'read', 10_000);
	});
});
