// Disk full: the data directory on a small tmpfs that fills up while
// webhooks arrive. Webhooks get 503 (the provider retries) and sends 503
// storage_unavailable, never a 500 nor a 200 for what was not stored;
// /readyz says why; when space returns msgd recovers by itself (its health
// probe notices without any request) and nothing acknowledged is lost or
// corrupted, across a restart too. Needs root (mount); skipped otherwise.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { msgdTest, waitFor, createWaChannel, waMessageBody, postWebhook, messagesByProviderId } from './lib.mjs';

const PNID = 'PNID_FULL';
const TMPFS_SIZE = '8m';
const MAX_POSTS = 4000;        // bound on the posts it takes to fill the WAL's room

const root = typeof process.getuid === 'function' && process.getuid() === 0;

function mountTmpfs() {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-full-'));
	const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE},mode=0700`, 'tmpfs', dir], { encoding: 'utf8' });
	if (r.status !== 0) {
		fs.rmdirSync(dir);
		return null;
	}
	return dir;
}

function unmount(dir) {
	spawnSync('umount', ['-l', dir]);
	try { fs.rmdirSync(dir); } catch { /* gone */ }
}

/** Fill the file system holding dir: returns the filler's path. */
function fill(dir) {
	const f = path.join(dir, 'filler');
	const fd = fs.openSync(f, 'w');
	const chunk = Buffer.alloc(64 * 1024, 0x61);
	try {
		for (;;) fs.writeSync(fd, chunk);
	} catch (e) {
		if (e.code !== 'ENOSPC') throw e;
	}
	// The last bytes too, a small write at a time.
	try {
		for (;;) fs.writeSync(fd, chunk, 0, 512);
	} catch (e) {
		if (e.code !== 'ENOSPC') throw e;
	}
	fs.closeSync(fd);
	return f;
}

const wamid = () => `wamid.full.${crypto.randomBytes(8).toString('hex')}`;

// On PostgreSQL (MSGD_TEST_DATABASE) the database is not in the data
// directory: filling it proves nothing (the server's own disk is its own).
const skip = process.env.MSGD_TEST_DATABASE ? 'the data directory holds no database on PostgreSQL'
	: root ? false : 'needs root to mount a tmpfs';
describe('disk full', { skip }, () => {
	msgdTest('webhooks 503 and sends 503 storage_unavailable while full; /readyz says why; recovers by itself; nothing acknowledged lost', async (h) => {
		const mnt = mountTmpfs();
		if (mnt === null) { h.t.skip('cannot mount a tmpfs here'); return; }
		try {
			const dataDir = path.join(mnt, 'var');
			const d = await h.start({ dataDir, keepDataDir: true });
			await createWaChannel(d.api, 'wa', PNID);
			const acked = [];
			let cur = d;   // the daemon running now
			const post = async () => {
				const id = wamid();
				const r = await postWebhook(cur.url, waMessageBody({ pnid: PNID, id, text: `full ${id}` }));
				if (r.status === 200) acked.push(id);
				return r;
			};
			for (let i = 0; i < 5; i++) assert.equal((await post()).status, 200);

			let filler = fill(mnt);
			// Webhooks until the WAL has no room left: 200 while it fits, then 503.
			let refused = null;
			for (let i = 0; i < MAX_POSTS && !refused; i++) {
				const r = await post();
				if (r.status !== 200) refused = r;
			}
			assert.ok(refused, `no webhook was refused after ${MAX_POSTS} posts on a full disk`);
			assert.equal(refused.status, 503, refused.text);
			assert.equal(refused.json.error.code, 'storage_unavailable');
			assert.equal(refused.headers.get('retry-after'), '30');
			// While full: every webhook and send is refused the same way.
			for (let i = 0; i < 5; i++) {
				const r = await post();
				assert.equal(r.status, 503, r.text);
			}
			const send = await d.api('POST', '/v1/messages', { channel: 'sandbox', to: '15550001111', text: 'no room' });
			assert.equal(send.status, 503, send.text);
			assert.equal(send.json.error.code, 'storage_unavailable');
			const ready = await d.api('GET', '/readyz');
			assert.equal(ready.status, 503, ready.text);
			assert.equal(ready.json.storage, 'full');
			assert.match(ready.json.storage_error, /full/i);
			const anon = await d.anon('GET', '/readyz');
			assert.deepEqual(anon.json, { status: 'not_ready' });
			// GET /health (issue 15, h15metrics): degraded while storage fails.
			const health = await d.anon('GET', '/health');
			assert.equal(health.status, 200, health.text);
			assert.equal(health.json.status, 'degraded', health.text);

			// Space returns: msgd notices by itself (no request needed) ...
			fs.unlinkSync(filler);
			await waitFor(async () => (await d.api('GET', '/readyz')).status === 200, 15_000, { what: '/readyz ready again' });
			assert.equal((await d.anon('GET', '/health')).json.status, 'ok');
			// ... and takes webhooks and sends again.
			for (let i = 0; i < 5; i++) assert.equal((await post()).status, 200);
			const ok = await d.api('POST', '/v1/messages', { channel: 'sandbox', to: '15550001111', text: 'room again' });
			assert.equal(ok.status, 202, ok.text);

			// Nothing acknowledged is lost, before and after a restart.
			const check = async (dd) => {
				for (const id of acked) {
					const m = await messagesByProviderId(dd, id);
					assert.equal(m.length, 1, `acknowledged ${id} is stored once`);
				}
			};
			await check(d);
			await d.stop();
			const d2 = await h.start({ dataDir, keepDataDir: true });
			cur = d2;
			await check(d2);
			// Full once more, then a clean stop while full: the database stays readable.
			filler = fill(mnt);
			let r;
			for (let i = 0; i < MAX_POSTS; i++) if ((r = await post()).status !== 200) break;
			assert.equal(r.status, 503);
			await d2.stop();
			fs.unlinkSync(filler);
			const d3 = await h.start({ dataDir, keepDataDir: true });
			await check(d3);
			await d3.stop();
		} finally {
			unmount(mnt);
		}
	}, { timeout: 180_000 });
});
