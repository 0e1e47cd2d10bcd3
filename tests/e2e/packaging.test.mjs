// Packaging (issue 15): the systemd unit passes systemd-analyze verify and
// msgd speaks sd_notify to it (READY=1, WATCHDOG=1, STOPPING=1); the
// Dockerfile and compose.yaml have the shape the README promises (there is
// no Docker here: they are parsed, not run); msgd version names the build's
// commit and the libraries' versions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { MSGD_BIN, msgdTest, runMsgd, waitFor } from './lib.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const UNIT = path.join(REPO, 'contrib', 'systemd', 'msgd.service');
const ANALYZE = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => fs.existsSync(p));

/** [section, key, value] of every setting of a unit file. */
function unitSettings(text) {
	const out = [];
	let section = '';
	for (const raw of text.split('\n')) {
		const line = raw.trim();
		if (!line || line.startsWith('#') || line.startsWith(';')) continue;
		const m = /^\[(.+)\]$/.exec(line);
		if (m) { section = m[1]; continue; }
		const i = line.indexOf('=');
		out.push([section, line.slice(0, i), line.slice(i + 1)]);
	}
	return out;
}

test('contrib/systemd/msgd.service: Type=notify, restart and hardening, and systemd-analyze verify passes',
	{ skip: ANALYZE ? false : 'systemd-analyze not installed (apt-get install systemd)' }, () => {
		const text = fs.readFileSync(UNIT, 'utf8');
		const s = unitSettings(text);
		const get = (sec, key) => s.filter(([a, k]) => a === sec && k === key).map(([, , v]) => v);
		assert.deepEqual(get('Service', 'Type'), ['notify']);
		assert.deepEqual(get('Service', 'Restart'), ['on-failure']);
		for (const [k, v] of [['ProtectSystem', 'strict'], ['NoNewPrivileges', 'yes'], ['DynamicUser', 'yes'],
			['StateDirectory', 'msgd'], ['ConfigurationDirectory', 'msgd'], ['PrivateTmp', 'yes'], ['ProtectHome', 'yes']])
			assert.deepEqual(get('Service', k), [v], k);
		assert.ok(get('Service', 'LimitNOFILE').length === 1);
		assert.ok(get('Service', 'WatchdogSec').length === 1);
		assert.match(get('Service', 'ExecStart')[0], /^\/usr\/local\/bin\/msgd serve --data \/var\/lib\/msgd$/);
		assert.deepEqual(get('Install', 'WantedBy'), ['multi-user.target']);

		// verify needs ExecStart's binary: the same unit aimed at this build.
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-unit-'));
		try {
			const f = path.join(dir, 'msgd.service');
			fs.writeFileSync(f, text.replaceAll('/usr/local/bin/msgd', MSGD_BIN));
			const r = spawnSync(ANALYZE, ['verify', f], { encoding: 'utf8' });
			assert.equal(r.status, 0, r.stderr);
			assert.doesNotMatch(r.stderr, /msgd\.service/, `systemd-analyze complained:\n${r.stderr}`);
			// The check can fail: a unit with a bad line is refused.
			fs.writeFileSync(f, text.replaceAll('/usr/local/bin/msgd', MSGD_BIN).replace('Type=notify', 'Type=notifyy'));
			const bad = spawnSync(ANALYZE, ['verify', f], { encoding: 'utf8' });
			assert.match(bad.stderr, /msgd\.service:\d+: Failed to parse service type/);
		} finally {
			fs.rmSync(dir, { recursive: true, force: true });
		}
	});

/** A NOTIFY_SOCKET (a Unix datagram socket, which Node cannot open: a small
 *  Python listener) whose messages arrive as lines. */
async function notifySocket(dir) {
	const sock = path.join(dir, 'notify.sock');
	const py = spawn('python3', ['-u', '-c', `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("BOUND", flush=True)
while True:
    m = s.recv(4096).decode()
    for line in m.split("\\n"):
        print(line, flush=True)
`, sock], { stdio: ['ignore', 'pipe', 'inherit'] });
	const lines = [];
	readline.createInterface({ input: py.stdout }).on('line', (l) => lines.push(l));
	await waitFor(() => lines.includes('BOUND'), 5000, { what: 'the notify socket bound' });
	return { sock, lines, close: () => py.kill('SIGTERM') };
}

msgdTest('sd_notify: READY=1 once listening, WATCHDOG=1 from the loop, STOPPING=1 on SIGTERM', async (h) => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-notify-'));
	h.t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
	const n = await notifySocket(dir);
	h.t.after(() => n.close());
	const d = await h.start({ env: { NOTIFY_SOCKET: n.sock, WATCHDOG_USEC: '200000' } });
	await waitFor(() => n.lines.includes('READY=1'), 5000, { what: 'READY=1' });
	assert.ok(n.lines.some((l) => l === `STATUS=listening on port ${d.port}`), n.lines.join('|'));
	// READY=1 came once msgd listened: /healthz answered before startMsgd returned.
	await waitFor(() => n.lines.filter((l) => l === 'WATCHDOG=1').length >= 3, 5000, { what: 'three WATCHDOG=1' });
	assert.ok(!n.lines.includes('STOPPING=1'));
	await d.stop();
	await waitFor(() => n.lines.includes('STOPPING=1'), 5000, { what: 'STOPPING=1' });
	assert.ok(n.lines.indexOf('READY=1') < n.lines.indexOf('STOPPING=1'));
});

msgdTest('without NOTIFY_SOCKET msgd runs as before', async (h) => {
	const d = await h.start({ env: { NOTIFY_SOCKET: '' } });
	assert.equal((await d.anon('GET', '/healthz')).status, 200);
});

function yamlToJson(file) {
	const r = spawnSync('python3', ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', file],
		{ encoding: 'utf8' });
	assert.equal(r.status, 0, `python3 with yaml (apt-get install python3-yaml): ${r.stderr}`);
	return JSON.parse(r.stdout);
}

test('compose.yaml: msgd with PostgreSQL, NATS (JetStream) and RabbitMQ, healthchecks, restart policies, volumes', () => {
	const c = yamlToJson(path.join(REPO, 'compose.yaml'));
	const s = c.services;
	assert.deepEqual(Object.keys(s).sort(), ['msgd', 'nats', 'postgres', 'rabbitmq']);
	for (const [name, svc] of Object.entries(s)) {
		assert.ok(['always', 'unless-stopped', 'on-failure'].includes(svc.restart), `${name}: restart policy`);
		assert.ok(Array.isArray(svc.healthcheck?.test) && svc.healthcheck.test[0] === 'CMD', `${name}: healthcheck`);
		for (const v of svc.volumes ?? []) {
			const vol = v.split(':')[0];
			assert.ok(vol in c.volumes, `${name}: volume ${vol} is declared`);
		}
	}
	assert.ok(s.msgd.build, 'msgd is built from the Dockerfile');
	for (const dep of ['postgres', 'nats', 'rabbitmq'])
		assert.equal(s.msgd.depends_on[dep].condition, 'service_healthy', `msgd waits for ${dep}`);
	assert.match(s.msgd.environment.MSGD_DATABASE, /^postgres:\/\/[^@]+@postgres:5432\/msgd$/);
	assert.equal(s.msgd.environment.MSGD_DATA, '/var/lib/msgd');
	assert.match(s.msgd.environment.MSGD_LISTEN, /^0\.0\.0\.0:8080$/);
	assert.ok(s.msgd.volumes.some((v) => v.endsWith(':/var/lib/msgd')));
	assert.ok(s.msgd.healthcheck.test.some((a) => /\/healthz$/.test(a)));
	assert.match(s.postgres.image, /^postgres:15/);
	assert.ok(s.nats.command.includes('--jetstream') || s.nats.command.includes('-js'), 'NATS with JetStream');
	assert.match(s.rabbitmq.image, /^rabbitmq:/);
	assert.equal(s.postgres.environment.POSTGRES_DB, 'msgd');
});

test('Dockerfile: bookworm, multi-stage, runtime without -dev packages, non-root, HEALTHCHECK, data volume', () => {
	const text = fs.readFileSync(path.join(REPO, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
	const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
	const ins = lines.map((l) => { const i = l.search(/\s/); return [l.slice(0, i).toUpperCase(), l.slice(i + 1).trim()]; });
	const known = new Set(['FROM', 'RUN', 'COPY', 'WORKDIR', 'ARG', 'ENV', 'VOLUME', 'EXPOSE', 'USER', 'HEALTHCHECK',
		'STOPSIGNAL', 'ENTRYPOINT', 'CMD', 'LABEL']);
	for (const [i] of ins) assert.ok(known.has(i), `unknown instruction ${i}`);
	const froms = ins.filter(([i]) => i === 'FROM').map(([, a]) => a);
	assert.equal(froms.length, 2, 'two stages');
	assert.match(froms[0], /^debian:bookworm\S* AS build$/);
	assert.match(froms[1], /^debian:bookworm\S*( AS \w+)?$/);
	const stage2 = ins.slice(ins.findIndex(([i, a]) => i === 'FROM' && a === froms[1]));
	const run2 = stage2.filter(([i]) => i === 'RUN').map(([, a]) => a).join(' ');
	assert.doesNotMatch(run2, /-dev\b/, 'the runtime stage installs no -dev package');
	for (const lib of ['libmicrohttpd12', 'libsqlite3-0', 'libpq5', 'libsodium23', 'libnats3.4', 'librabbitmq4', 'libzip4'])
		assert.ok(run2.includes(lib), `runtime library ${lib}`);
	assert.ok(stage2.some(([i, a]) => i === 'COPY' && a.startsWith('--from=build ')), 'the binary comes from the build stage');
	const user = stage2.filter(([i]) => i === 'USER').map(([, a]) => a);
	assert.equal(user.length, 1);
	assert.ok(!/^(root|0)(:|$)/.test(user[0]), 'runs as non-root');
	assert.ok(stage2.some(([i, a]) => i === 'HEALTHCHECK' && /\/healthz/.test(a)), 'HEALTHCHECK on /healthz');
	assert.ok(stage2.some(([i, a]) => i === 'VOLUME' && a.includes('/var/lib/msgd')), 'the data dir is a VOLUME');
	// The build stage's -dev packages are the ones tools/deps.sh lists for a build.
	const deps = /BUILD="([^"]+)"/.exec(fs.readFileSync(path.join(REPO, 'tools', 'deps.sh'), 'utf8'))[1].split(/\s+/)
		.filter((p) => p.endsWith('-dev'));
	const run1 = ins.slice(0, ins.findIndex(([i, a]) => i === 'FROM' && a === froms[1])).filter(([i]) => i === 'RUN')
		.map(([, a]) => a).join(' ');
	for (const p of deps) assert.ok(run1.split(/\s+/).includes(p), `the build stage installs ${p}`);
});

test('msgd version: the commit and the libraries, also as JSON', () => {
	const r = runMsgd(['version']);
	assert.equal(r.status, 0, r.stderr);
	const m = /^msgd (\S+) \(commit (\S+)\)\n/.exec(r.stdout);
	assert.ok(m, r.stdout);
	for (const lib of ['libmicrohttpd', 'libevent', 'jansson', 'sqlite', 'libpq', 'libcurl', 'openssl', 'libsodium',
		'libnats', 'librabbitmq'])
		assert.match(r.stdout, new RegExp(`^  ${lib} +\\S`, 'm'), lib);
	const j = runMsgd(['version', '--json']);
	assert.equal(j.status, 0, j.stderr);
	const v = JSON.parse(j.stdout);
	assert.equal(v.version, m[1]);
	assert.equal(v.commit, m[2]);
	assert.match(v.libraries.sqlite, /^3\.\d+\.\d+$/);
	assert.match(v.libraries.libsodium, /^1\.\d+\.\d+$/);
	assert.match(v.libraries.libpq, /^\d+\.\d+$/);
	// The commit is this checkout's (the build bakes git describe in).
	const g = spawnSync('git', ['-C', REPO, 'describe', '--always'], { encoding: 'utf8' });
	if (g.status === 0) assert.equal(v.commit.replace(/-dirty$/, ''), g.stdout.trim());
	else assert.equal(v.commit, 'unknown');
	assert.equal(runMsgd(['version', '--bogus']).status, 2);
});
