// I/O errors and slow disks, through an LD_PRELOAD shim (tests/faults/
// fsfault.c) that fails or delays fsync/fdatasync and write/pwrite on the
// database files on command. The affected requests fail cleanly (503
// storage_unavailable, so providers redeliver), nothing acknowledged is
// lost, msgd keeps serving meanwhile and recovers by itself.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { msgdTest, waitFor, createWaChannel, waMessageBody, postWebhook, messagesByProviderId } from './lib.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SO = process.env.FSFAULT_SO || path.resolve(HERE, '..', '..', 'build', 'test', 'fsfault.so');
const PNID = 'PNID_IO';

const wamid = () => `wamid.io.${crypto.randomBytes(8).toString('hex')}`;

/** Set the shim's mode; mtime must change even within one clock tick. */
function setMode(ctl, mode) {
	fs.writeFileSync(ctl, `${mode}\n`);
	const t = new Date(Date.now() + Math.floor(Math.random() * 1e6));
	fs.utimesSync(ctl, t, t);
}

const hits = (ctl) => Number((fs.existsSync(`${ctl}.n`) && fs.readFileSync(`${ctl}.n`, 'utf8').trim()) || 0);

const skip = process.env.MSGD_TEST_DATABASE ? 'the data directory holds no database on PostgreSQL'
	: fs.existsSync(SO) ? false : `no ${SO} (make build/test/fsfault.so)`;
describe('disk I/O faults', { skip }, () => {
	msgdTest('fsync and write errors → 503 storage_unavailable, /readyz io_error, recovery by itself; a slow fsync never stops the loop; nothing acknowledged lost', async (h) => {
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-io-'));
		const ctl = path.join(dir, 'ctl');
		setMode(ctl, 'off');
		const env = {
			LD_PRELOAD: SO, FSFAULT_CTL: ctl,
			// The sanitizer runtime is not first in the preload list then.
			ASAN_OPTIONS: `${process.env.ASAN_OPTIONS ? process.env.ASAN_OPTIONS + ':' : ''}verify_asan_link_order=0`,
		};
		const d = await h.start({ env, keepDataDir: true });
		await createWaChannel(d.api, 'wa', PNID);
		const acked = [];
		const post = async () => {
			const id = wamid();
			const r = await postWebhook(d.url, waMessageBody({ pnid: PNID, id, text: `io ${id}` }));
			if (r.status === 200) acked.push(id);
			return r;
		};
		for (let i = 0; i < 3; i++) assert.equal((await post()).status, 200);

		for (const mode of ['sync-eio', 'write-eio']) {
			const before = hits(ctl);
			setMode(ctl, mode);
			const r = await post();
			assert.equal(r.status, 503, `${mode}: ${r.text}`);
			assert.equal(r.json.error.code, 'storage_unavailable');
			assert.ok(hits(ctl) > before, `${mode}: the shim was hit`);
			const ready = await d.api('GET', '/readyz');
			assert.equal(ready.status, 503, ready.text);
			assert.equal(ready.json.storage, 'io_error', ready.text);
			const send = await d.api('POST', '/v1/messages', { channel: 'sandbox', to: '15550001111', text: `during ${mode}` });
			assert.equal(send.status, 503, send.text);
			assert.equal((await d.api('GET', '/healthz')).status, 200, 'still serving');
			setMode(ctl, 'off');
			await waitFor(async () => (await d.api('GET', '/readyz')).status === 200, 15_000, { what: `${mode}: ready again` });
			assert.equal((await post()).status, 200, `${mode}: webhooks stored again`);
		}

		// A slow disk: a commit waits 1.5 s in fsync; the loop keeps answering.
		const before = hits(ctl);
		setMode(ctl, 'delay 1500');
		let slowDone = false;
		const slow = post().then((r) => { slowDone = true; return r; });
		await waitFor(() => hits(ctl) > before, 5000, { what: 'the slow fsync' });
		const hz = await d.anon('GET', '/healthz');
		assert.equal(hz.status, 200);
		assert.equal(slowDone, false, '/healthz answered while the webhook still waited for its fsync');
		assert.equal((await slow).status, 200, 'a slow disk only delays');
		setMode(ctl, 'off');

		// Everything acknowledged is there, also after a restart without the shim.
		await d.stop();
		const d2 = await h.start({ dataDir: d.dataDir });
		for (const id of acked)
			assert.equal((await messagesByProviderId(d2, id)).length, 1, `acknowledged ${id} stored once`);
		fs.rmSync(dir, { recursive: true, force: true });
	}, { timeout: 120_000 });
});
