// A private nats-server for the tests (issue 15): Debian's binary on a free
// loopback port, JetStream with a temporary store directory when asked,
// stopped by cleanup() (callers put it in after() so a failing test stops
// it too). restart() stops it and starts it again on the same port and
// store, as a broker restart looks to msgd.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitFor } from './lib.mjs';

export const NATS_BIN = ['/usr/sbin/nats-server', '/usr/bin/nats-server'].find((p) => fs.existsSync(p)) ?? 'nats-server';

// opts: jetstream (bool), user/password, token.
export async function startNats(opts = {}) {
	const s = {
		port: await freePort(),
		dir: fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-nats-')),
		alive: false,
		logText: '',
		log: () => s.logText,
		get url() { return `nats://127.0.0.1:${s.port}`; },
		async start() {
			const args = ['-a', '127.0.0.1', '-p', String(s.port), '-m', '0'];
			if (opts.jetstream) args.push('-js', '-sd', path.join(s.dir, 'js'));
			if (opts.user) args.push('--user', opts.user, '--pass', opts.password);
			if (opts.token) args.push('--auth', opts.token);
			const proc = spawn(NATS_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
			let out = '';
			const add = (c) => { out += c; s.logText += c; };
			proc.stdout.on('data', add);
			proc.stderr.on('data', add);
			s.proc = proc;
			s.alive = true;
			s.exited = new Promise((ok) => proc.on('exit', () => { s.alive = false; ok(); }));
			await waitFor(() => /Server is ready/.test(out) || !s.alive, 10_000, { what: 'nats-server ready' });
			if (!/Server is ready/.test(out)) throw new Error(`nats-server did not start: ${out}`);
		},
		async stop() {
			if (!s.alive) return;
			s.proc.kill('SIGTERM');
			await s.exited;
		},
		async kill() {
			if (!s.alive) return;
			s.proc.kill('SIGKILL');
			await s.exited;
		},
		// Stopped, then started again on the same port and store.
		async restart() {
			await s.stop();
			await s.start();
		},
		// Stopped, and its store removed (in after()).
		async cleanup() {
			await s.stop();
			fs.rmSync(s.dir, { recursive: true, force: true });
		},
	};
	await s.start();
	return s;
}
