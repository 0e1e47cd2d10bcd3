// One msgd per data directory (DATA/msgd.lock), and the generated admin
// token never printed to a pipe.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { msgdTest, MSGD_BIN, freePort } from './lib.mjs';

/** Run `msgd serve` to its exit (it is expected to exit by itself). */
function serveToExit(args, env = {}) {
	return new Promise((resolve, reject) => {
		const p = spawn(MSGD_BIN, ['serve', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
		let out = '', err = '';
		p.stdout.on('data', (c) => { out += c; });
		p.stderr.on('data', (c) => { err += c; });
		const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error('second msgd did not exit')); }, 15_000);
		p.on('exit', (code) => { clearTimeout(timer); resolve({ code, out, err }); });
	});
}

describe('data directory lock', () => {
	msgdTest('a second msgd on the same data directory exits non-zero, naming the holder', async (h) => {
		const d = await h.start();
		const port = await freePort();
		const r = await serveToExit(['--listen', `127.0.0.1:${port}`, '--data', d.dataDir], { MSGD_ADMIN_TOKEN: d.token });
		assert.notEqual(r.code, 0);
		assert.match(r.err, new RegExp(`data directory .* is in use by msgd \\(pid ${d.proc.pid}\\)`));
		// The lock file names the holder and where it listens.
		const lock = fs.readFileSync(path.join(d.dataDir, 'msgd.lock'), 'utf8').split('\n');
		assert.equal(Number(lock[0]), d.proc.pid);
		assert.equal(lock[1], `127.0.0.1:${d.port}`);
		// The first one is unharmed, and after it stops another may start.
		assert.equal((await d.api('GET', '/v1/channels')).status, 200);
		await d.stop();
		const d2 = await h.start({ dataDir: d.dataDir, token: d.token });
		assert.equal((await d2.api('GET', '/v1/channels')).status, 200);
	});

	msgdTest('the generated admin token is not printed when stdout is a pipe; its file is named', async (h) => {
		const d = await h.start({ env: { MSGD_ADMIN_TOKEN: '' } });
		const file = path.join(d.dataDir, 'admin.token');
		const token = fs.readFileSync(file, 'utf8').trim();
		assert.match(token, /^msgd_[0-9a-f]{48}$/);
		assert.equal(fs.statSync(file).mode & 0o777, 0o600);
		const logs = d.logs();
		assert.ok(!logs.includes(token), 'the token is not in stdout/stderr');
		assert.ok(logs.includes(file), `the token file is named: ${logs.slice(0, 500)}`);
		// And it works.
		const r = await fetch(`${d.url}/v1/channels`, { headers: { authorization: `Bearer ${token}` } });
		assert.equal(r.status, 200);
	});
});
