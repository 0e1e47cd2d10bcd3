// PostgreSQL restarted under webhook load: while it is down msgd answers 503
// storage_unavailable (providers redeliver), never 200 for what it did not
// commit; it reconnects by itself; every acknowledged message is stored.
// The test restarts a cluster of its own (tools/pg.sh), not the one the
// other tests share; it runs in the PostgreSQL pass (make test-pg).
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { msgdTest, waitFor, createWaChannel, waMessageBody, postWebhook, messagesByProviderId } from './lib.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PG_SH = path.resolve(HERE, '..', '..', 'tools', 'pg.sh');
const CLUSTER = process.env.MSGD_TEST_DATABASE;
const PNID = 'PNID_PGR';
const WRITERS = 4;

describe('PostgreSQL restart', { skip: CLUSTER ? false : 'runs on PostgreSQL only (make test-pg)' }, () => {
	msgdTest('restarted under webhook load: 503 while down, reconnects, nothing acknowledged lost', async (h) => {
		const pgdir = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-pgr-'));
		const started = spawnSync('sh', [PG_SH, 'start', pgdir], { encoding: 'utf8' });
		assert.equal(started.status, 0, started.stderr);
		h.t.after(() => spawnSync('sh', [PG_SH, 'stop', pgdir]));
		const d = await h.start({ env: { MSGD_DATABASE: started.stdout.trim() } });
		await createWaChannel(d.api, 'wa', PNID);
		const acked = [];
		const statuses = {};
		let stop = false;
		const writer = async (w) => {
			for (let i = 0; !stop; i++) {
				const id = `wamid.pgr.${w}.${i}.${crypto.randomBytes(3).toString('hex')}`;
				let r;
				try {
					r = await postWebhook(d.url, waMessageBody({ pnid: PNID, id, from: `1555100${w}`, text: `m ${i}` }));
				} catch {
					continue;
				}
				statuses[r.status] = (statuses[r.status] ?? 0) + 1;
				if (r.status === 200) acked.push(id);
				else assert.equal(r.json?.error?.code, 'storage_unavailable', `${r.status} ${r.text}`);
			}
		};
		const writers = Array.from({ length: WRITERS }, (_, w) => writer(w));
		await waitFor(() => acked.length >= 50, 20_000, { what: '50 webhooks before the restart' });
		const before = acked.length;
		const r = spawnSync('sh', [PG_SH, 'restart', pgdir], { encoding: 'utf8' });
		assert.equal(r.status, 0, r.stderr);
		// Acknowledged again after the restart, by itself.
		await waitFor(() => acked.length >= before + 100, 30_000, { what: '100 more webhooks after the restart' });
		stop = true;
		await Promise.all(writers);
		h.t.diagnostic(`answers: ${JSON.stringify(statuses)}`);
		const ready = await d.api('GET', '/readyz');
		assert.equal(ready.status, 200, ready.text);
		for (const id of acked)
			assert.equal((await messagesByProviderId(d, id)).length, 1, `acknowledged ${id} is not stored`);
	}, { timeout: 120_000 });
});
