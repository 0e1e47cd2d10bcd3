// Backup and restore on PostgreSQL, as README's "Backup and restore" says:
// pg_dump -Fc of msgd's database, pg_restore into an empty one, the files
// store copied alongside; msgd started on the restored database serves the
// messages and the file. msgd backup itself refuses and names pg_dump.
// The test runs pg_dump/pg_restore of postgresql-15 against a cluster of
// its own (tools/pg.sh); it runs in the PostgreSQL pass (make test-pg).
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
	msgdTest, runMsgd, assertStatus, createWaChannel, waMessageBody, postWebhook, messagesByProviderId, allEvents,
} from './lib.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PG_SH = path.resolve(HERE, '..', '..', 'tools', 'pg.sh');
const PG_BIN = process.env.PG_BIN || '/usr/lib/postgresql/15/bin';
const CLUSTER = process.env.MSGD_TEST_DATABASE;
const PNID = 'PNID_PGDUMP';

function run(cmd, args) {
	const r = spawnSync(cmd, args, { encoding: 'utf8' });
	assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
	return r.stdout;
}

describe('pg_dump and pg_restore', { skip: CLUSTER ? false : 'runs on PostgreSQL only (make test-pg)' }, () => {
	msgdTest('pg_dump -Fc, pg_restore into an empty database, files copied: msgd serves the same data', async (h) => {
		const work = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-pgdump-'));
		h.t.after(() => fs.rmSync(work, { recursive: true, force: true }));
		const pgdir = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-pgdump-pg-'));  // chowned to the cluster's user
		const started = spawnSync('sh', [PG_SH, 'start', pgdir], { encoding: 'utf8' });
		assert.equal(started.status, 0, started.stderr);
		h.t.after(() => spawnSync('sh', [PG_SH, 'stop', pgdir]));
		const base = started.stdout.trim();            // postgres://msgd@127.0.0.1:PORT/msgd
		const dsn = (db) => base.replace(/\/msgd$/, `/${db}`);
		run('psql', [base, '-qc', 'CREATE DATABASE src']);
		run('psql', [base, '-qc', 'CREATE DATABASE dst']);

		const srcData = path.join(work, 'src');
		const d = await h.start({ dataDir: srcData, env: { MSGD_DATABASE: dsn('src') } });
		await createWaChannel(d.api, 'wa', PNID);
		const ids = [];
		for (let i = 0; i < 20; i++) {
			const id = `wamid.pgdump.${i}`;
			assertStatus(await postWebhook(d.url, waMessageBody({ pnid: PNID, id, from: `1555400${i % 3}`, text: `m ${i}` })),
				200, 'webhook');
			ids.push(id);
		}
		const blob = crypto.randomBytes(3000);
		const up = assertStatus(await d.api('POST', '/v1/files?filename=x.bin', blob,
			{ 'content-type': 'application/octet-stream' }), 201, 'upload');
		const events = await allEvents(d);

		// msgd backup does not pretend: it names pg_dump.
		const refused = runMsgd(['backup', '--to', path.join(work, 'x.zip'), '--data', srcData],
			{ env: { MSGD_DATABASE: dsn('src') } });
		assert.equal(refused.status, 2);
		assert.match(refused.stderr, /pg_dump -Fc/);

		// README's procedure (pg_dump runs while msgd runs: one snapshot).
		const dump = path.join(work, 'msgd.dump');
		run(path.join(PG_BIN, 'pg_dump'), ['-Fc', '-f', dump, dsn('src')]);
		await d.stop();
		run(path.join(PG_BIN, 'pg_restore'), ['--exit-on-error', '--no-owner', '-d', dsn('dst'), dump]);
		const dstData = path.join(work, 'dst');
		fs.mkdirSync(dstData);
		fs.cpSync(path.join(srcData, 'files'), path.join(dstData, 'files'), { recursive: true });

		const e = await h.start({ dataDir: dstData, token: d.token, env: { MSGD_DATABASE: dsn('dst') } });
		for (const id of ids)
			assert.equal((await messagesByProviderId(e, id)).length, 1, `${id} is in the restored database`);
		assert.deepEqual((await allEvents(e)).map((x) => [x.seq, x.type]), events.map((x) => [x.seq, x.type]));
		const f = await fetch(`${e.url}/v1/files/${up.id}`, { headers: { authorization: `Bearer ${e.token}` } });
		assert.equal(f.status, 200);
		assert.ok(Buffer.from(await f.arrayBuffer()).equals(blob));
		// The channel's secrets came with the dump: a signed webhook is taken.
		assertStatus(await postWebhook(e.url, waMessageBody({ pnid: PNID, id: 'wamid.pgdump.after' })), 200, 'webhook');
	}, { timeout: 120_000 });
});
