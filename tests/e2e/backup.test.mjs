// msgd backup / msgd restore (src/backup/): a backup taken while webhooks
// pour in holds every webhook acknowledged before it started, and nothing
// half-written; a restore checks everything before the target appears, and
// refuses a wrong passphrase, a damaged or hostile archive and a non-empty
// target, leaving nothing behind. On PostgreSQL msgd backup points at
// pg_dump (its round trip is tested in pg_dump.test.mjs).
// The backups run on SQLite whatever the suite's backend.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
	MSGD_BIN, msgdTest, assertStatus, createWaChannel, waMessageBody, postWebhook, allEvents,
	messagesByProviderId, waitFor,
} from './lib.mjs';

const PNID = 'PNID_BACKUP';
const SQLITE = { MSGD_DATABASE: 'sqlite:' };
const PASS = 'correct horse battery staple\n';

function tmpdir(h, prefix) {
	const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
	h.t.after(() => fs.rmSync(d, { recursive: true, force: true }));
	return d;
}

/** msgd with args, without blocking the loop (the load goes on meanwhile). */
function runAsync(args, env = {}) {
	return new Promise((resolve, reject) => {
		const p = spawn(MSGD_BIN, args, { env: { ...process.env, ...SQLITE, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
		let out = '', err = '';
		p.stdout.on('data', (c) => { out += c; });
		p.stderr.on('data', (c) => { err += c; });
		p.on('error', reject);
		p.on('exit', (status, signal) => resolve({ status, signal, stdout: out, stderr: err }));
	});
}

/** msgd with args, waiting (not lib's runMsgd: that would make a
 *  PostgreSQL database for each --data directory in the PostgreSQL pass). */
function runMsgd(args, { env = SQLITE, timeout = 60_000 } = {}) {
	const r = spawnSync(MSGD_BIN, args, { env: { ...process.env, ...env }, timeout, encoding: 'utf8' });
	if (r.error) throw r.error;
	return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

function restore(archive, dir, pass) {
	return runMsgd(['restore', archive, '--data', dir, ...(pass ? ['--passphrase-file', pass] : [])]);
}

/** A member of a zip archive, read with Python's zipfile (the stdlib). */
function zipMember(archive, name) {
	const r = spawnSync('python3', ['-c', 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))',
		archive, name], { maxBuffer: 1 << 28 });
	assert.equal(r.status, 0, String(r.stderr));
	return r.stdout;
}

/** The offset of the middle of a member's stored (compressed) bytes. */
function memberDataMiddle(archive, name) {
	const r = spawnSync('python3', ['-c', `
import struct, sys, zipfile
i = zipfile.ZipFile(sys.argv[1]).getinfo(sys.argv[2])
with open(sys.argv[1], 'rb') as f:
    f.seek(i.header_offset)
    h = f.read(30)
n, e = struct.unpack('<HH', h[26:30])
print(i.header_offset + 30 + n + e + i.compress_size // 2)`, archive, name], { encoding: 'utf8' });
	assert.equal(r.status, 0, String(r.stderr));
	return Number(r.stdout.trim());
}

/** A zip made by Python from [[name, bytes | {size}], ...]: the hostile
 *  archives (a size makes that many zero bytes, deflated). */
function makeZip(file, members) {
	const spec = members.map(([n, v]) => [n, Buffer.isBuffer(v) || typeof v === 'string' ? Buffer.from(v).toString('base64') : { size: v.size }]);
	const py = `
import base64, json, sys, zipfile
spec = json.load(sys.stdin)
with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:
    for name, v in spec:
        data = bytes(v['size']) if isinstance(v, dict) else base64.b64decode(v)
        z.writestr(zipfile.ZipInfo(name), data, zipfile.ZIP_DEFLATED)
`;
	const r = spawnSync('python3', ['-c', py, file], { input: JSON.stringify(spec) });
	assert.equal(r.status, 0, String(r.stderr));
}

/** The parent holds no staging directory left by a failed restore. */
function noLeftovers(dir) {
	const base = path.basename(dir);
	const left = fs.readdirSync(path.dirname(dir)).filter((f) => f.startsWith(`${base}.restore.`));
	assert.deepEqual(left, [], 'a failed restore left its staging directory');
}

msgdTest('a backup under webhook load holds every webhook acknowledged before it; the restore serves them', async (h) => {
	const work = tmpdir(h, 'msgd-bk-');
	const data = path.join(work, 'data');
	const conf = path.join(work, 'msgd.conf');
	fs.writeFileSync(conf, 'log_level = "info";\n');
	fs.writeFileSync(path.join(work, 'pass'), PASS);
	const d = await h.start({ dataDir: data, env: SQLITE });
	await createWaChannel(d.api, 'wa', PNID);
	// A stored file: the files store goes into the archive too.
	const blob = crypto.randomBytes(5000);
	const up = assertStatus(await d.api('POST', '/v1/files?filename=b.bin', blob,
		{ 'content-type': 'application/octet-stream' }), 201, 'upload');

	// An export whose config holds a password: it travels with the secrets only.
	const ex = assertStatus(await d.api('POST', '/v1/exports', { kind: 'nats', events: ['*'],
		config: { url: 'nats://127.0.0.1:9', user: 'u', password: 'export-secret-pw' } }), 201, 'export');
	// An event webhook (to nowhere: paused, so it gives nothing up meanwhile).
	const wh = assertStatus(await d.api('POST', '/v1/webhooks', { url: 'http://127.0.0.1:9/hook', events: ['*'],
		secret: 'webhook-secret-0123456789' }), 201, 'webhook');

	// The load: four writers posting signed webhooks until told to stop.
	const acked = [];
	let stop = false, n = 0;
	const writer = async () => {
		while (!stop) {
			const id = `wamid.bk.${n++}`;
			const r = await postWebhook(d.url, waMessageBody({ pnid: PNID, id, from: `1555300${n % 7}`, text: `load ${id}` }));
			assert.equal(r.status, 200, r.text);
			acked.push(id);
		}
	};
	const writers = [writer(), writer(), writer(), writer()];
	await waitFor(() => acked.length >= 100, 20_000, { what: '100 webhooks acknowledged' });

	const before = [...acked];
	const during = acked.length;
	const bk = await runAsync(['backup', '--to', path.join(work, 'full.zip'), '--data', data, '--config', conf,
		'--include-secrets', '--passphrase-file', path.join(work, 'pass')]);
	const plain = await runAsync(['backup', '--to', path.join(work, 'plain.zip'), '--data', data]);
	const whileBackingUp = acked.length - during;
	stop = true;
	await Promise.all(writers);
	assert.equal(bk.status, 0, bk.stderr);
	assert.match(bk.stdout, /backup written to .*full\.zip: schema \d+, 1 files, \d+ bytes, secrets included/);
	assert.equal(plain.status, 0, plain.stderr);
	assert.ok(whileBackingUp > 0, 'the load went on while the backups ran');
	assert.ok(!fs.existsSync(path.join(work, 'full.zip.tmp')), 'no FILE.tmp left');
	for (const a of ['full.zip', 'plain.zip'])
		assert.equal(fs.statSync(path.join(work, a)).mode & 0o777, 0o600, `${a} is its owner's only`);
	assert.deepEqual(fs.readdirSync(work).filter((f) => f.includes('.staging.')), [], 'no staging directory left');
	await d.stop();

	// The manifest names every member with its hash; the database in the
	// archive holds no secret in the clear.
	const manifest = JSON.parse(zipMember(path.join(work, 'full.zip'), 'manifest.json'));
	assert.equal(manifest.format, 'msgd-backup');
	assert.ok(manifest.schema_version > 0);
	const paths = manifest.members.map((m) => m.path).sort();
	const blobSha = crypto.createHash('sha256').update(blob).digest('hex');
	assert.deepEqual(paths, [`files/${blobSha.slice(0, 2)}/${blobSha.slice(2)}`, 'msgd.db', 'secrets.bin'].sort());
	for (const m of manifest.members)
		assert.equal(crypto.createHash('sha256').update(zipMember(path.join(work, 'full.zip'), m.path)).digest('hex'), m.sha256);
	for (const a of ['full.zip', 'plain.zip']) {
		const db = zipMember(path.join(work, a), 'msgd.db');
		assert.ok(!db.includes('corpus_fake_app_secret'), `${a}: the app secret is in msgd.db`);
		assert.ok(!db.includes('EAAtest_'), `${a}: the access token is in msgd.db`);
		assert.ok(!db.includes('export-secret-pw'), `${a}: the export's password is in msgd.db`);
		assert.ok(!db.includes('webhook-secret-0123456789'), `${a}: the webhook's secret is in msgd.db`);
	}

	// Restored with the secrets: every acknowledged webhook, nothing partial.
	const r1 = path.join(work, 'restored');
	const rr = restore(path.join(work, 'full.zip'), r1, path.join(work, 'pass'));
	assert.equal(rr.status, 0, rr.stderr);
	assert.match(rr.stdout, /secrets restored/);
	assert.equal(fs.readFileSync(path.join(r1, 'msgd.conf'), 'utf8'), 'log_level = "info";\n');
	const e = await h.start({ dataDir: r1, token: d.token, env: SQLITE });
	for (const id of before)
		assert.equal((await messagesByProviderId(e, id)).length, 1, `${id} acknowledged before the backup is missing`);
	const events = await allEvents(e);
	events.forEach((ev, i) => assert.equal(ev.seq, events[0].seq + i, 'the restored log has no gap'));
	const received = events.filter((ev) => ev.type === 'message.received');
	assert.ok(received.length >= before.length && received.length <= acked.length + 4,
		`${received.length} messages restored; ${before.length} acked before, ${acked.length} in all`);
	for (const ev of received.slice(-5))   // the newest are whole: their message is there
		assertStatus(await e.api('GET', `/v1/messages/${ev.message_id}`), 200, 'message');
	// The file, and the channel's secrets: a webhook signed with the app secret is taken.
	const f = await fetch(`${e.url}/v1/files/${up.id}`, { headers: { authorization: `Bearer ${e.token}` } });
	assert.equal(f.status, 200);
	assert.ok(Buffer.from(await f.arrayBuffer()).equals(blob), 'the stored file comes back whole');
	assertStatus(await postWebhook(e.url, waMessageBody({ pnid: PNID, id: 'wamid.after.restore' })), 200, 'signed webhook on the restored copy');
	const ex1 = assertStatus(await e.api('GET', `/v1/exports/${ex.id}`), 200, 'the export restored');
	assert.equal(ex1.config.url, 'nats://127.0.0.1:9');
	assert.equal(ex1.config.password, '********');
	assert.equal(ex1.state.paused, false);
	assert.equal((await e.api('GET', `/v1/webhooks/${wh.id}`)).json.state.paused, false, 'the webhook runs with its secret');
	await e.stop();

	// Restored without secrets: the data is there, the credentials are not.
	const r2 = path.join(work, 'plain-restored');
	const rp = restore(path.join(work, 'plain.zip'), r2);
	assert.equal(rp.status, 0, rp.stderr);
	assert.match(rp.stdout, /set channel credentials and webhook secrets again/);
	const g = await h.start({ dataDir: r2, token: d.token, env: SQLITE });
	assert.equal((await messagesByProviderId(g, before[0])).length, 1);
	const refused = await postWebhook(g.url, waMessageBody({ pnid: PNID, id: 'wamid.nosecret' }));
	assert.equal(refused.status, 403, `the app secret is not in a backup without secrets: ${refused.text}`);
	// The export is there, paused, without its config: set it again to resume.
	const ex2 = assertStatus(await g.api('GET', `/v1/exports/${ex.id}`), 200, 'the export without secrets');
	assert.equal(ex2.state.paused, true);
	assert.equal(ex2.config.password, undefined);
	assertStatus(await g.api('GET', '/healthz'), 200, 'healthy with a paused, empty export');
	// The webhook too: its secret is a stand-in nobody knows, so it waits paused.
	assert.equal((await g.api('GET', `/v1/webhooks/${wh.id}`)).json.state.paused, true, 'the webhook is paused without its secret');
}, { timeout: 180_000 });

msgdTest('restore refuses a wrong passphrase, a damaged archive and a non-empty target, leaving nothing', async (h) => {
	const work = tmpdir(h, 'msgd-bk-bad-');
	const data = path.join(work, 'data');
	fs.writeFileSync(path.join(work, 'pass'), PASS);
	fs.writeFileSync(path.join(work, 'wrong'), 'not it\n');
	const d = await h.start({ dataDir: data, env: SQLITE });
	await createWaChannel(d.api, 'wa', PNID);
	assertStatus(await postWebhook(d.url, waMessageBody({ pnid: PNID, id: 'wamid.bad.1' })), 200, 'webhook');
	const archive = path.join(work, 'b.zip');
	const bk = runMsgd(['backup', '--to', archive, '--data', data, '--include-secrets', '--passphrase-file',
		path.join(work, 'pass')], { env: SQLITE, timeout: 60_000 });
	assert.equal(bk.status, 0, bk.stderr);
	await d.stop();

	const target = path.join(work, 'target');
	let r = restore(archive, target, path.join(work, 'wrong'));
	assert.equal(r.status, 1);
	assert.match(r.stderr, /wrong passphrase/);
	assert.ok(!fs.existsSync(target), 'a failed restore made the target');
	noLeftovers(target);

	r = restore(archive, target);
	assert.equal(r.status, 1);
	assert.match(r.stderr, /--passphrase-file/);
	assert.ok(!fs.existsSync(target));

	// One byte flipped in the middle of msgd.db's stored data (the middle of
	// the whole archive may be a header field nothing reads, a timestamp).
	const buf = fs.readFileSync(archive);
	const bad = path.join(work, 'flipped.zip');
	const at = memberDataMiddle(archive, 'msgd.db');
	buf[at] ^= 0x55;
	fs.writeFileSync(bad, buf);
	r = restore(bad, target, path.join(work, 'pass'));
	assert.equal(r.status, 1);
	assert.match(r.stderr, /damaged|sha256|not a readable backup|integrity/);
	assert.ok(!fs.existsSync(target));
	noLeftovers(target);

	// A flipped byte inside the sealed secrets: its hash catches it.
	fs.mkdirSync(path.join(work, 'empty'));
	const m = JSON.parse(zipMember(archive, 'manifest.json'));
	const sealed = Buffer.from(zipMember(archive, 'secrets.bin'));
	sealed[sealed.length - 3] ^= 1;
	const alt = path.join(work, 'alt.zip');
	m.members.find((x) => x.path === 'secrets.bin').sha256 = crypto.createHash('sha256').update(sealed).digest('hex');
	makeZip(alt, [['manifest.json', JSON.stringify(m)], ['msgd.db', zipMember(archive, 'msgd.db')], ['secrets.bin', sealed]]);
	r = restore(alt, path.join(work, 'empty'), path.join(work, 'pass'));
	assert.equal(r.status, 1);
	assert.match(r.stderr, /do not decrypt/, 'an altered secrets.bin (hash updated too) fails authentication');
	assert.deepEqual(fs.readdirSync(path.join(work, 'empty')), [], 'the empty target stays empty');

	// A non-empty target is refused and left alone.
	fs.mkdirSync(path.join(work, 'full'));
	fs.writeFileSync(path.join(work, 'full', 'keep'), 'mine');
	r = restore(archive, path.join(work, 'full'), path.join(work, 'pass'));
	assert.equal(r.status, 1);
	assert.match(r.stderr, /not empty/);
	assert.deepEqual(fs.readdirSync(path.join(work, 'full')), ['keep']);

	// The good archive into the empty directory: fine.
	r = restore(archive, path.join(work, 'empty'), path.join(work, 'pass'));
	assert.equal(r.status, 0, r.stderr);
	assert.ok(fs.existsSync(path.join(work, 'empty', 'msgd.db')));
}, { timeout: 120_000 });

msgdTest('restore into an existing empty directory (kept: a mount point), a symlink to one, and DIR/; a failure leaves it empty', async (h) => {
	const work = tmpdir(h, 'msgd-bk-in-');
	const data = path.join(work, 'data');
	fs.writeFileSync(path.join(work, 'pass'), PASS);
	fs.writeFileSync(path.join(work, 'wrong'), 'not it\n');
	const d = await h.start({ dataDir: data, env: SQLITE });
	await createWaChannel(d.api, 'wa', PNID);
	assertStatus(await postWebhook(d.url, waMessageBody({ pnid: PNID, id: 'wamid.in.1' })), 200, 'webhook');
	const archive = path.join(work, 'b.zip');
	const bk = runMsgd(['backup', '--to', archive, '--data', data, '--include-secrets', '--passphrase-file',
		path.join(work, 'pass')]);
	assert.equal(bk.status, 0, bk.stderr);
	await d.stop();

	/** msgd serves the restored copy at dir: the message and the secrets. */
	const serves = async (dir, what) => {
		const e = await h.start({ dataDir: dir, token: d.token, env: SQLITE });
		assert.equal((await messagesByProviderId(e, 'wamid.in.1')).length, 1, `${what}: the message is there`);
		assertStatus(await postWebhook(e.url, waMessageBody({ pnid: PNID, id: `wamid.in.${what}` })), 200,
			`${what}: a signed webhook`);
		await e.stop();
	};
	const hidden = (dir) => fs.readdirSync(dir).filter((f) => f.startsWith('.restore.'));

	// A failure into an existing empty directory: it stays, empty.
	const mnt = path.join(work, 'mnt');
	fs.mkdirSync(mnt, { mode: 0o750 });
	const ino = fs.statSync(mnt).ino;
	let r = restore(archive, mnt, path.join(work, 'wrong'));
	assert.equal(r.status, 1);
	assert.match(r.stderr, /wrong passphrase/);
	assert.ok(fs.statSync(mnt).isDirectory(), 'the target is still there');
	assert.deepEqual(fs.readdirSync(mnt), [], 'a failed restore left the target empty');
	noLeftovers(mnt);

	// An existing empty directory: the same directory (not replaced, as a
	// mount point cannot be) gets the content; no stage is left in it.
	r = restore(archive, mnt, path.join(work, 'pass'));
	assert.equal(r.status, 0, r.stderr);
	assert.equal(fs.statSync(mnt).ino, ino, 'the directory itself was kept');
	assert.equal(fs.statSync(mnt).mode & 0o777, 0o750, 'its mode too');
	assert.deepEqual(hidden(mnt), []);
	assert.ok(fs.existsSync(path.join(mnt, 'msgd.db')));
	noLeftovers(mnt);
	await serves(mnt, 'mnt');

	// A symlink to an empty directory (systemd DynamicUser: /var/lib/msgd -> private/msgd).
	const real = path.join(work, 'private', 'msgd');
	fs.mkdirSync(real, { recursive: true });
	const link = path.join(work, 'link');
	fs.symlinkSync(real, link);
	r = restore(archive, link, path.join(work, 'pass'));
	assert.equal(r.status, 0, r.stderr);
	assert.ok(fs.lstatSync(link).isSymbolicLink(), 'the link is still a link');
	assert.ok(fs.existsSync(path.join(real, 'msgd.db')), 'the content is in the directory it points to');
	assert.deepEqual(hidden(real), []);
	noLeftovers(link);
	await serves(link, 'link');

	// A trailing slash: into an existing empty directory, and a new one.
	const slash = path.join(work, 'slash');
	fs.mkdirSync(slash);
	r = restore(archive, `${slash}/`, path.join(work, 'pass'));
	assert.equal(r.status, 0, r.stderr);
	assert.ok(fs.existsSync(path.join(slash, 'msgd.db')));
	assert.deepEqual(hidden(slash), []);
	await serves(slash, 'slash');
	const fresh = path.join(work, 'fresh');
	r = restore(archive, `${fresh}//`, path.join(work, 'pass'));
	assert.equal(r.status, 0, r.stderr);
	assert.ok(fs.existsSync(path.join(fresh, 'msgd.db')));
	noLeftovers(fresh);
	await serves(fresh, 'fresh');
}, { timeout: 120_000 });

msgdTest('hostile archives: paths with .. or absolute, unlisted and oversize members are refused', async (h) => {
	const work = tmpdir(h, 'msgd-bk-hostile-');
	const data = path.join(work, 'data');
	const d = await h.start({ dataDir: data, env: SQLITE });
	await d.stop();
	const archive = path.join(work, 'ok.zip');
	const bk = runMsgd(['backup', '--to', archive, '--data', data], { env: SQLITE, timeout: 60_000 });
	assert.equal(bk.status, 0, bk.stderr);
	const db = zipMember(archive, 'msgd.db');
	const good = JSON.parse(zipMember(archive, 'manifest.json'));
	const sha = (b) => crypto.createHash('sha256').update(b).digest('hex');
	const withMember = (p, bytes) => ({ ...good, members: [...good.members, { path: p, size: bytes.length, sha256: sha(bytes) }] });

	const cases = [
		['dot-dot path', [['manifest.json', JSON.stringify(withMember('../evil', Buffer.from('x')))], ['msgd.db', db], ['../evil', 'x']], /not allowed/],
		['dot-dot in files/', [['manifest.json', JSON.stringify(good)], ['msgd.db', db], ['files/ab/../../../evil', 'x']], /not allowed/],
		['absolute path', [['manifest.json', JSON.stringify(good)], ['msgd.db', db], ['/tmp/evil', 'x']], /not allowed/],
		['unlisted member', [['manifest.json', JSON.stringify(good)], ['msgd.db', db], ['files/ab/cdef', 'x']], /not in the manifest/],
		['listed, missing', [['manifest.json', JSON.stringify(withMember('files/ab/cd', Buffer.from('y')))], ['msgd.db', db]], /missing/],
		['member over its cap', [['manifest.json', JSON.stringify({ ...good, members: [...good.members,
			{ path: 'files/ab/cd', size: 5 * 2 ** 30, sha256: sha(Buffer.alloc(0)) }] })], ['msgd.db', db]], /over its size cap/],
		['member larger than listed', [['manifest.json', JSON.stringify(withMember('files/ab/cd', Buffer.from('y')))],
			['msgd.db', db], ['files/ab/cd', { size: 1 << 20 }]], /size differs|larger than/],
		['manifest over its cap', [['manifest.json', { size: 65 << 20 }], ['msgd.db', db]], /manifest.json is over its cap/],
		['not a backup', [['hello.txt', 'hi']], /no manifest/],
	];
	for (const [what, members, re] of cases) {
		const f = path.join(work, `${what.replace(/\W+/g, '-')}.zip`);
		makeZip(f, members);
		const target = path.join(work, `t-${what.replace(/\W+/g, '-')}`);
		const r = restore(f, target);
		assert.equal(r.status, 1, `${what}: ${r.stdout}`);
		assert.match(r.stderr, re, what);
		assert.ok(!fs.existsSync(target), `${what}: the target was made`);
		noLeftovers(target);
	}
	assert.ok(!fs.existsSync(path.join(work, 'evil')) && !fs.existsSync('/tmp/evil'), 'nothing written outside');
}, { timeout: 120_000 });

msgdTest('msgd backup on PostgreSQL says to use pg_dump', async () => {
	const r = runMsgd(['backup', '--to', path.join(os.tmpdir(), 'never.zip'), '--data', os.tmpdir()],
		{ env: { MSGD_DATABASE: 'postgres://msgd@127.0.0.1:9/msgd' } });
	assert.equal(r.status, 2);
	assert.match(r.stderr, /pg_dump -Fc/);
	assert.ok(!fs.existsSync(path.join(os.tmpdir(), 'never.zip')));
});
