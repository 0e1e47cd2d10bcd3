// Reads run on the store's reader pool, off the event loop: a request whose
// read waits does not hold up the others, and a client that goes away while
// its read is in flight costs nothing (its deferred request stays valid
// until the reply; the sanitizer build checks no freed request is touched).
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { msgdTest, waitFor, assertStatus, databaseFor } from './lib.mjs';

const CLUSTER = process.env.MSGD_TEST_DATABASE;

/** Send a GET with the admin token and close the socket at once. */
function getAndVanish(d, p) {
	return new Promise((resolve) => {
		const s = net.connect(d.port, '127.0.0.1', () => {
			s.write(`GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${d.token}\r\n\r\n`);
			s.destroy();
			resolve();
		});
		s.on('error', () => resolve());
	});
}

describe('reads on the reader pool', () => {
	msgdTest('clients that close right after a GET: msgd stays well and answers the rest', async (h) => {
		const d = await h.start();
		const r = assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '15550002222', text: 'x' }), 201);
		const id = r.message.id;
		const paths = [`/v1/messages/${id}`, '/v1/conversations', '/v1/events?since=0', '/readyz',
			'/v1/templates', '/v1/users'];
		for (let round = 0; round < 10; round++) {
			const all = [];
			for (let i = 0; i < 30; i++) all.push(getAndVanish(d, paths[i % paths.length]));
			await Promise.all(all);
		}
		// The daemon still serves, and reads give what was stored.
		const m = assertStatus(await d.api('GET', `/v1/messages/${id}`), 200);
		assert.equal(m.id, id);
		assert.equal(m.text, 'x');
		// Every vanished request was accounted for (the shutdown at the end of
		// the test waits for in-flight requests and must exit 0, leak-free).
		await waitFor(async () => (await d.api('GET', '/healthz')).status === 200, 5000, { what: 'healthz' });
	});

	msgdTest('a read held by a lock on PostgreSQL does not block the loop', async (h) => {
		const d = await h.start();
		const r = assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '15550003333', text: 'held' }), 201);
		const id = r.message.id;
		// A second session holds messages locked until we end its transaction.
		const psql = spawn('psql', [databaseFor(d.dataDir), '-qAt', '-v', 'ON_ERROR_STOP=1'],
			{ stdio: ['pipe', 'pipe', 'pipe'] });
		let out = '';
		psql.stdout.on('data', (c) => { out += c; });
		const exited = new Promise((res) => psql.on('exit', res));
		h.t.after(() => { if (psql.exitCode === null) psql.kill('SIGKILL'); });
		psql.stdin.write('BEGIN;\nLOCK TABLE messages IN ACCESS EXCLUSIVE MODE;\nSELECT \'locked\';\n');
		await waitFor(() => out.includes('locked'), 10_000, { what: 'the lock' });

		// This read waits for the lock on one of the pool's two threads (the
		// other stays free for the channel list's queue depths)...
		const held = [d.api('GET', `/v1/messages/${id}`)];
		let heldDone = 0;
		for (const p of held) p.then(() => { heldDone++; }, () => {});
		// ...while the loop keeps answering what needs no read, and reads
		// that do not touch the locked table.
		for (let i = 0; i < 20; i++) {
			assertStatus(await d.api('GET', '/healthz'), 200);
			assertStatus(await d.api('GET', '/v1/channels'), 200);
		}
		assert.equal(heldDone, 0, 'the held reads finished before the lock was released');

		psql.stdin.end('COMMIT;\n');
		await exited;
		for (const res of await Promise.all(held)) {
			assertStatus(res, 200);
			assert.equal(res.json.text, 'held');
		}
	}, { skip: CLUSTER ? false : 'PostgreSQL only (a table lock held by another session)' });
});
