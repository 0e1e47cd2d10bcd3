// bench/bench.mjs - msgd's benchmark harness (`make bench`).
//
//   node bench/bench.mjs [ingest] [send] [live] [read] [footprint] [slow] [pg]
//                        [import_csv_1m] [import_xlsx_100k] [campaign_100k] [export]  (default: all)
//
// Every scenario starts a fresh msgd (env MSGD, default build/msgd) on
// 127.0.0.1 with a fresh data directory and a signed whatsapp_cloud channel
// "bench", and drives it with the C load generator (env LOADGEN, default
// build/bench/loadgen). Per measured line it records throughput, latency
// p50/p99/p99.9, the CPU time msgd used during the measured phase (utime +
// stime from /proc/PID/stat), its peak RSS (VmHWM, reset through
// /proc/PID/clear_refs before the phase) and a loss check read back from
// msgd's SQLite database with the sqlite3 CLI.
//
//  ingest     loadgen -m ingest (signed ~1.5 KB webhooks, unique wamids),
//             64 connections, BENCH_SECONDS (default 10) after a 2 s warm-up:
//             (a) against nginx answering a static 200 (bench/nginx-ref.conf:
//             the cost of HTTP alone), (b) against msgd, (c) msgd again open
//             loop (-R) at half of (b)'s rate. Loss: stored inbound messages
//             = 2xx answers over (b) and (c), warm-up included.
//  send       POST /v1/messages to a channel whose Graph API is nginx
//             (bench/fake-graph-nginx.conf), pacing off. From msgd's own
//             records, for messages created after the warm-up: acceptance
//             throughput = accepted / (last acceptance - first creation), and
//             the call -> provider acceptance latency (statuses.created_ms -
//             messages.created_ms). Then open loop at half that rate on a
//             fresh msgd. Loss: every 202 reached 'accepted'.
//  live       bench/live.mjs: webhook 200 -> event on an SSE and on a
//             WebSocket client at 1,000 webhooks/s; then msgd's RSS with
//             10,000 idle SSE streams (BENCH_IDLE_STREAMS).
//  read       1,000,000 messages in 100,000 conversations loaded through the
//             ingest path (BENCH_READ_MESSAGES), then GET load on the
//             conversation list, a conversation's last 50 messages (1,000
//             random conversations) and the event log from 1,000 random
//             cursors; the conversation list also at 10,000 messages.
//  pg         bench/pg.mjs: ingest and send on PostgreSQL 15 (a private
//             cluster), with one msgd and with two sharing the database.
//  campaign_100k  bench/campaign.mjs: a 100,000-recipient campaign made
//             (202, then every message and outbox entry), SQLite and PostgreSQL.
//  import_csv_1m, import_xlsx_100k  bench/imports.mjs: a 1,000,000-row CSV
//             and a 100,000-row XLSX imported and validated, on SQLite and on
//             PostgreSQL: rows/s, seconds, msgd's RSS growth.
//  export     bench/export.mjs: the ingest load with an event export to a
//             private nats-server (JetStream) and RabbitMQ: the export's lag
//             during the load, the time until it is 0 after, nothing lost.
//  footprint  5 starts on fresh data dirs: spawn -> first 200 from /healthz
//             (polled every 2 ms) and VmRSS 1 s later, medians; binary size.
//
// Output: one table on stdout (progress on stderr), the same data as JSON in
// bench/results/<YYYYmmdd-HHMMSS>.json and bench/results/latest.json. Exits
// non-zero only when a scenario failed to run, not for a missed target.
// Every child process is killed on exit, errors and Ctrl-C included.
// Node 20, only node: built-ins.
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { pg } from './pg.mjs';
import { campaign100k } from './campaign.mjs';  // issue 14: campaigns
import { importCsv1m, importXlsx100k } from './imports.mjs';
import { exportScenario } from './export.mjs';  // issue 15: exports to NATS and RabbitMQ

// ---------------------------------------------------------------- configuration

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(ROOT);

const MSGD = path.resolve(process.env.MSGD || 'build/msgd');
const LOADGEN = path.resolve(process.env.LOADGEN || 'build/bench/loadgen');
const SECONDS = Number(process.env.BENCH_SECONDS || 10);
const WARMUP = 2;
const CONNS = 64;
const READ_MESSAGES = Number(process.env.BENCH_READ_MESSAGES || 1_000_000);
const READ_CONTACTS = Math.max(1, Math.round(READ_MESSAGES / 10));
const READ_SMALL = Math.min(10_000, READ_MESSAGES);
const IDLE_STREAMS = Number(process.env.BENCH_IDLE_STREAMS || 10_000);
const LIVE_RATE = 1000;
const SLOW_CLIENTS = Number(process.env.BENCH_SLOW_CLIENTS || 1000);
const SLOW_RATE = 1000;
const FOOTPRINT_STARTS = 5;

const TOKEN = 'bench-admin-' + crypto.randomBytes(12).toString('hex');
const SECRET = 'bench-app-secret-' + crypto.randomBytes(12).toString('hex');
const PNID = 'bench-number';
const AUTH = `Authorization: Bearer ${TOKEN}`;
const ULIMIT = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"';

const SCENARIOS = { ingest, send, live, read, footprint, slow, pg: () => pg(pgHelpers()),
	// imports (issue 14, bench/imports.mjs)
	import_csv_1m: () => importCsv1m(importHelpers()), import_xlsx_100k: () => importXlsx100k(importHelpers()),
	campaign_100k: () => campaign100k({ ...pgHelpers(), api }),  // campaigns (issue 14, bench/campaign.mjs)
	export: () => exportScenario(exportHelpers()) };  // exports (issue 15, bench/export.mjs)
const TOOLS = { // what each scenario needs besides msgd
	ingest: ['nginx', 'sqlite3', 'loadgen'], send: ['nginx', 'sqlite3', 'loadgen'],
	live: [], read: ['sqlite3', 'loadgen'], footprint: [], slow: ['sqlite3', 'loadgen'], pg: ['nginx', 'psql', 'loadgen'],
	import_csv_1m: ['psql'], import_xlsx_100k: ['psql'],
	campaign_100k: ['sqlite3'], export: ['sqlite3', 'loadgen', 'nats-server'],
};

// ---------------------------------------------------------------- small helpers

const T0 = performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const progress = (msg) => process.stderr.write(`[bench ${((performance.now() - T0) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`);
const round = (x, d = 2) => (x === null || x === undefined || Number.isNaN(x) ? null : Math.round(x * 10 ** d) / 10 ** d);
const median = (xs) => { const v = [...xs].sort((a, b) => a - b); return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2; };
const uniq = (tag) => `${tag}-${crypto.randomBytes(6).toString('hex')}`; // a loadgen --prefix: unique ids per run

// Nearest-rank percentiles of a list of milliseconds.
function percentiles(values) {
	const v = Float64Array.from(values).sort();
	const at = (q) => (v.length ? v[Math.min(v.length - 1, Math.ceil(q * v.length) - 1)] : null);
	return { p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: v.length ? v[v.length - 1] : null };
}

function which(cmd) {
	try { return execFileSync('sh', ['-c', `command -v "${cmd}"`], { encoding: 'utf8' }).trim() || null; } catch { return null; }
}

function checkTools(names) {
	const missing = [];
	if (!isExecutable(MSGD)) missing.push(`msgd: ${MSGD} is not an executable (build it with make, or set MSGD)`);
	for (const t of new Set(names.flatMap((n) => TOOLS[n]))) {
		if (t === 'loadgen') {
			if (!isExecutable(LOADGEN)) missing.push(`loadgen: ${LOADGEN} is not an executable (build bench/loadgen.c, or set LOADGEN)`);
		} else if (!which(t)) {
			missing.push(t === 'nginx' ? 'nginx: apt-get install nginx-light (or nginx)' : t === 'psql' ? 'psql: apt-get install postgresql-15' : `${t}: apt-get install ${t}`);
		}
	}
	if (missing.length) {
		console.error('bench: missing tools:\n  ' + missing.join('\n  '));
		process.exit(2);
	}
}

function isExecutable(p) {
	try { fs.accessSync(p, fs.constants.X_OK); return fs.statSync(p).isFile(); } catch { return false; }
}

// ---------------------------------------------------------------- child processes and temp dirs

const children = new Set();   // { proc, name, exited: Promise }
let stopping = false;         // set by a signal: nothing new is started
const TMP_ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-bench-'));

function tmpDir(tag) {
	return fs.mkdtempSync(path.join(TMP_ROOT, `${tag}-`));
}

// spawn() that remembers the child until it exits, so that every exit path can kill it.
function start(name, cmd, args, { env = {}, logFile = null, stdout = 'ignore', stderr = null } = {}) {
	if (stopping) throw new Error('interrupted');
	const log = logFile ? fs.openSync(logFile, 'a') : 'ignore';
	const proc = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', stdout === 'pipe' ? 'pipe' : log, stderr ?? log] });
	if (logFile) fs.closeSync(log);
	const child = { proc, name, code: null, helpers: [] }; // helpers: pids it forked (nginx workers)
	child.exited = new Promise((resolve) => proc.on('close', (code, signal) => {
		child.code = code ?? signal;
		children.delete(child);
		resolve(child.code);
	}));
	proc.on('error', (e) => progress(`${name}: ${e.message}`));
	children.add(child);
	return child;
}

async function stop(child, graceMs = 15000) {
	if (!children.has(child)) return;
	child.proc.kill('SIGTERM');
	const timer = setTimeout(() => child.proc.kill('SIGKILL'), graceMs);
	await child.exited;
	clearTimeout(timer);
}

const stopAll = () => Promise.all([...children].map((c) => stop(c)));

function emptyTmp() {
	for (const e of fs.readdirSync(TMP_ROOT)) fs.rmSync(path.join(TMP_ROOT, e), { recursive: true, force: true });
}

// Last resort: synchronous, for 'exit'.
process.on('exit', () => {
	for (const c of children) {
		c.proc.kill('SIGKILL');
		for (const pid of c.helpers) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
	}
	fs.rmSync(TMP_ROOT, { recursive: true, force: true });
});

// Signals and unexpected errors: SIGTERM every child, give them 3 s, exit.
async function abort(code, why) {
	if (stopping) return;
	stopping = true;
	progress(`${why}: stopping ${children.size} child process(es)`);
	for (const c of children) c.proc.kill('SIGTERM');
	await Promise.race([Promise.all([...children].map((c) => c.exited)), sleep(3000)]);
	process.exit(code);
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => abort(130, sig));
process.on('uncaughtException', (e) => { console.error('bench:', e); abort(1, 'error'); });
process.on('unhandledRejection', (e) => { console.error('bench:', e); abort(1, 'error'); });

// ---------------------------------------------------------------- /proc

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })) || 100;

function cpuSeconds(pid) {
	const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
	const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3
	return (Number(f[11]) + Number(f[12])) / CLK_TCK;             // 14 utime, 15 stime
}

function statusKb(pid, key) {
	const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
	return m ? Number(m[1]) : null;
}

function resetPeakRss(pid) {
	try { fs.writeFileSync(`/proc/${pid}/clear_refs`, '5'); } catch { /* peak since start then */ }
}

// The children of pid (nginx's worker under its master).
function childPids(pid) {
	const out = [];
	for (const e of fs.readdirSync('/proc')) {
		if (!/^\d+$/.test(e)) continue;
		try {
			const s = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
			if (Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(e));
		} catch { /* gone */ }
	}
	return out;
}

// ---------------------------------------------------------------- ports and HTTP

let nextPort = 18080;

async function freePort() {
	for (;;) {
		const port = nextPort++;
		const ok = await new Promise((resolve) => {
			const s = net.createServer().once('error', () => resolve(false));
			s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
		});
		if (ok) return port;
	}
}

// GET -> status code, or null when the connection fails.
function httpStatus(port, p) {
	return new Promise((resolve) => {
		const req = http.get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => { res.resume(); resolve(res.statusCode); });
		req.on('error', () => resolve(null));
		req.setTimeout(2000, () => req.destroy());
	});
}

async function api(port, method, p, body) {
	const res = await fetch(`http://127.0.0.1:${port}${p}`, {
		method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	const text = await res.text();
	if (!res.ok) throw new Error(`${method} ${p} answered ${res.status}: ${text}`);
	return JSON.parse(text);
}

function waitForPort(port, child, ms = 5000) {
	const deadline = performance.now() + ms;
	return new Promise((resolve, reject) => {
		const attempt = () => {
			if (child.code !== null) return reject(new Error(`${child.name} exited (${child.code}) before listening on ${port}`));
			const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(); });
			s.on('error', () => (performance.now() > deadline
				? reject(new Error(`${child.name} is not listening on ${port} after ${ms} ms`)) : setTimeout(attempt, 10)));
		};
		attempt();
	});
}

// ---------------------------------------------------------------- sqlite3

// db: a SQLite file's path, or { dsn } for PostgreSQL (psql, unaligned: the
// same "a|b" rows as the sqlite3 CLI).
function sql(db, query) {
	if (typeof db === 'object')
		return execFileSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', db.dsn, '-c', query], { encoding: 'utf8', maxBuffer: 1 << 28 }).trim();
	return execFileSync('sqlite3', ['-bail', '-cmd', '.timeout 10000', db, query], { encoding: 'utf8', maxBuffer: 1 << 28 }).trim();
}
const sqlNumber = (db, query) => Number(sql(db, query) || 0);

// ---------------------------------------------------------------- msgd

// A fresh msgd: temp data dir, admin token, warn logs to a file, high fd
// limit; resolves once /healthz answers 200.
// database: a PostgreSQL DSN (several msgd may share one), or none for
// SQLite in the data directory.
async function startMsgd(tag, { database = null, env = {} } = {}) {
	const dir = tmpDir(`msgd-${tag}`);
	const port = await freePort();
	const log = path.join(dir, 'msgd.log');
	const child = start(`msgd (${tag})`, 'sh', ['-c', `${ULIMIT}; exec "$0" "$@"`, MSGD, 'serve',
		'--listen', `127.0.0.1:${port}`, '--data', path.join(dir, 'data')],
	// No credential checks nor media fetches: they would try the real Graph API (loopback only here).
	{ env: { MSGD_ADMIN_TOKEN: TOKEN, MSGD_LOG_LEVEL: 'warn', MSGD_CREDENTIAL_CHECKS: 'off', MSGD_MEDIA_FETCH: 'off',
		...(database ? { MSGD_DATABASE: database } : {}), ...env }, logFile: log });
	const deadline = performance.now() + 10000;
	while ((await httpStatus(port, '/healthz')) !== 200) {
		if (child.code !== null || performance.now() > deadline) {
			const tail = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').slice(-10).join('\n') : '';
			throw new Error(`msgd did not become healthy (exit ${child.code}):\n${tail}`);
		}
		await sleep(10);
	}
	return { child, pid: child.proc.pid, port, url: `http://127.0.0.1:${port}`,
		db: database ? { dsn: database } : path.join(dir, 'data', 'msgd.db'), log };
}

// Stops msgd (SIGTERM, its graceful shutdown) and shows what it logged at warn and above.
async function stopMsgd(m) {
	await stop(m.child);
	const lines = fs.readFileSync(m.log, 'utf8').split('\n').filter(Boolean);
	if (lines.length) progress(`${m.child.name} logged ${lines.length} line(s):\n  ${lines.slice(0, 5).join('\n  ')}`);
}

function createChannel(m, extra = {}) {
	return api(m.port, 'POST', '/v1/channels', { name: 'bench', type: 'whatsapp_cloud', config: {
		phone_number_id: PNID, access_token: 'x', verify_token: 'y', app_secret: SECRET, ...extra } });
}

// ---------------------------------------------------------------- nginx

// nginx with one of our configs, its listen port rewritten; pid is its worker.
async function startNginx(conf, tag) {
	const dir = tmpDir(`nginx-${tag}`);
	const port = await freePort();
	const text = fs.readFileSync(path.join('bench', conf), 'utf8').replace(/listen\s+127\.0\.0\.1:\d+;/, `listen 127.0.0.1:${port};`);
	fs.writeFileSync(path.join(dir, 'nginx.conf'), text);
	const child = start(`nginx (${tag})`, 'nginx', ['-e', 'stderr', '-p', dir + '/', '-c', path.join(dir, 'nginx.conf'),
		'-g', `pid ${path.join(dir, 'nginx.pid')};`], { logFile: path.join(dir, 'nginx.log') });
	await waitForPort(port, child);
	const workers = childPids(child.proc.pid);
	child.helpers = workers;
	return { child, port, url: `http://127.0.0.1:${port}`, pid: workers[0] ?? child.proc.pid };
}

// ---------------------------------------------------------------- loadgen

// Runs loadgen to completion; resolves with its JSON report.
async function loadgen(url, args, tag = 'loadgen') {
	const dir = tmpDir('loadgen');
	const child = start(tag, LOADGEN, ['-u', url, ...args], { stdout: 'pipe', logFile: path.join(dir, 'stderr') });
	let out = '';
	child.proc.stdout.on('data', (d) => { out += d; });
	const code = await child.exited;
	const err = fs.readFileSync(path.join(dir, 'stderr'), 'utf8').trim();
	if (code !== 0) {
		progress(`failed: ${LOADGEN} -u ${url} ${args.join(' ')}`);
		throw new Error(`loadgen ${args.slice(0, 2).join(' ')} exited ${code}: ${err.split('\n').slice(-3).join(' | ')}`);
	}
	try { return JSON.parse(out); } catch { throw new Error(`loadgen printed no JSON: ${out.slice(0, 200)} ${err.slice(0, 200)}`); }
}

// A measured load phase against server pid: peak RSS reset at the start, CPU
// counted from the end of the warm-up to loadgen's exit. phaseStartMs is the
// wall clock (ms since epoch) when the measured phase began.
async function measuredLoad(pid, url, args, warmup = WARMUP) {
	resetPeakRss(pid);
	let cpu0 = cpuSeconds(pid), phaseStartMs = Date.now();
	const timer = setTimeout(() => { cpu0 = cpuSeconds(pid); phaseStartMs = Date.now(); }, warmup * 1000);
	const lg = await loadgen(url, [...args, '-w', String(warmup)]).finally(() => clearTimeout(timer));
	return { lg, cpu0, cpu_s: cpuSeconds(pid) - cpu0, peak_rss_kb: statusKb(pid, 'VmHWM'), phaseStartMs };
}

const non2xx = (lg) => Object.entries(lg.status || {}).reduce((n, [s, c]) => n + (s.startsWith('2') ? 0 : c), 0);
const lgErrors = (lg) => Object.values(lg.errors || {}).reduce((a, b) => a + b, 0);

// Does this loadgen take -n TOTAL? (It may not at first: then loop -d chunks.)
let loadgenHasN = null;
function checkLoadgenN() {
	if (loadgenHasN === null) {
		let usage = '';
		try { usage = execFileSync(LOADGEN, ['-h'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }); }
		catch (e) { usage = `${e.stdout || ''}${e.stderr || ''}`; }
		loadgenHasN = /[\s[]-n\b/.test(usage);
		if (!loadgenHasN) progress('loadgen has no -n: loading in -d chunks');
	}
	return loadgenHasN;
}

// Posts signed webhooks until msgd holds `target` inbound messages: with -n
// when loadgen has it; else closed-loop -d chunks sized from the last rate
// while far from the target, then open-loop (-R x 2 s) chunks that land on it.
// Returns { acked, seconds, lg (the report of the largest run) }.
async function ingestUntil(m, target, contacts) {
	const t0 = performance.now();
	let acked = 0, lg = null, biggest = null, rate = 20000;
	for (;;) {
		const left = target - sqlNumber(m.db, "SELECT count(*) FROM messages WHERE direction = 'in'");
		if (left <= 0) break;
		const args = ['-m', 'ingest', '--secret', SECRET, '--pnid', PNID, '--contacts', String(contacts),
			'--prefix', uniq('load'), '-c', String(CONNS)];
		if (checkLoadgenN()) args.push('-n', String(left), '-d', '3600'); // -d caps -n too
		else if (left > 4 * rate) args.push('-d', String(Math.min(30, Math.floor((0.8 * left) / rate))));
		else args.push('-R', String(Math.ceil(left / 2)), '-d', '2');
		lg = await loadgen(m.url, args);
		acked += lg.acked_total;
		if (!biggest || lg.requests > biggest.requests) biggest = lg;
		if (lg.acked_total === 0) throw new Error(`ingest load made no progress: ${JSON.stringify(lg.status)} ${JSON.stringify(lg.errors)}`);
		if (!args.includes('-R')) rate = Math.max(1000, lg.rps);
	}
	return { acked, seconds: (performance.now() - t0) / 1000, lg: biggest };
}

// ---------------------------------------------------------------- result rows

// One measured line of the table.
function row(scenario, what, o = {}) {
	return {
		scenario, what,
		throughput: o.throughput ?? null, p50: o.p50 ?? null, p99: o.p99 ?? null, p999: o.p999 ?? null,
		cpu_s: o.cpu_s ?? null, peak_rss_mb: o.rss_kb != null ? round(o.rss_kb / 1024, 1) : null,
		loss: o.loss ?? '', target: o.target ?? '', met: o.met === undefined ? '' : o.met ? 'yes' : 'no',
	};
}

const lossText = (stored, acked) => (stored === acked ? 'ok' : stored < acked ? `LOST ${acked - stored}` : `ok (+${stored - acked} unacked stored)`);
// Open loop: requests loadgen never started because every connection was busy.
const unsentText = (lg) => (lg.unsent ? `, ${lg.unsent} unsent` : '');
const fromLoadgen = (r) => ({ throughput: r.lg.rps, p50: r.lg.latency_ms.p50, p99: r.lg.latency_ms.p99, p999: r.lg.latency_ms.p999,
	cpu_s: round(r.cpu_s), rss_kb: r.peak_rss_kb });

// ---------------------------------------------------------------- 1. ingest

async function ingest() {
	const args = (prefix) => ['-m', 'ingest', '--secret', SECRET, '--pnid', PNID, '--prefix', uniq(prefix), '-c', String(CONNS), '-d', String(SECONDS)];
	progress('ingest: nginx reference (static 200)');
	const ngx = await startNginx('nginx-ref.conf', 'ref');
	const ref = await measuredLoad(ngx.pid, ngx.url, args('ref'));
	await stop(ngx.child);

	progress('ingest: msgd, closed loop');
	const m = await startMsgd('ingest');
	await createChannel(m);
	const full = await measuredLoad(m.pid, m.url, args('full'));
	const storedFull = sqlNumber(m.db, "SELECT count(*) FROM messages WHERE direction = 'in'");
	const half = Math.max(1, Math.round(full.lg.rps / 2));
	progress(`ingest: msgd, open loop at ${half}/s`);
	const open = await measuredLoad(m.pid, m.url, [...args('half'), '-R', String(half)]);
	const stored = sqlNumber(m.db, "SELECT count(*) FROM messages WHERE direction = 'in'");
	await stopMsgd(m);

	const ratio = full.lg.rps / ref.lg.rps;
	const lossFull = lossText(storedFull, full.lg.acked_total);
	const lossAll = lossText(stored, full.lg.acked_total + open.lg.acked_total);
	const clean = (r) => non2xx(r.lg) === 0 && lgErrors(r.lg) === 0;
	return {
		rows: [
			row('ingest', `nginx static 200 (reference), ${CONNS} conns`, { ...fromLoadgen(ref), loss: non2xx(ref.lg) ? `${non2xx(ref.lg)} non-2xx` : '' }),
			row('ingest', `msgd signed webhooks, ${CONNS} conns (${round(ratio, 2)}x nginx)`, { ...fromLoadgen(full), loss: lossFull,
				target: '>=25,000/s, >=0.2x nginx, no loss', met: full.lg.rps >= 25000 && ratio >= 0.2 && lossFull.startsWith('ok') && clean(full) }),
			row('ingest', `msgd at half rate, open loop -R ${half}`, { ...fromLoadgen(open), loss: lossAll + ' (both runs)' + unsentText(open.lg),
				target: 'p99 < 5 ms, no loss', met: open.lg.latency_ms.p99 < 5 && lossAll.startsWith('ok') && clean(open) && !open.lg.unsent }),
		],
		details: { nginx: ref, msgd: full, half_rate: open, ratio, stored_in: stored },
	};
}

// ---------------------------------------------------------------- 2. send

// From msgd's records: messages created since phaseStartMs, their
// acceptance by the provider, throughput and call -> acceptance latency.
function acceptance(db, phaseStartMs) {
	const acc = `SELECT m.id, m.created_ms AS q, min(s.created_ms) AS acc FROM messages m
		JOIN statuses s ON s.message_id = m.id AND s.status = 'accepted'
		WHERE m.direction = 'out' AND m.created_ms >= ${phaseStartMs} GROUP BY m.id`;
	const [created, first] = sql(db, `SELECT count(*), min(created_ms) FROM messages WHERE direction = 'out' AND created_ms >= ${phaseStartMs}`).split('|').map(Number);
	const deltas = sql(db, `SELECT acc - q FROM (${acc}) AS t`).split('\n').filter(Boolean).map(Number);
	const last = sqlNumber(db, `SELECT max(acc) FROM (${acc}) AS t`);
	const span = (last - first) / 1000;
	return { created, accepted: deltas.length, span_s: span, throughput: span > 0 ? deltas.length / span : null, latency_ms: percentiles(deltas) };
}

// Waits (at most 60 s) for the outbox to empty; returns the rows left.
async function drainOutbox(db) {
	const deadline = performance.now() + 60000;
	let left;
	while ((left = sqlNumber(db, 'SELECT count(*) FROM outbox')) > 0 && performance.now() < deadline) await sleep(100);
	return left;
}

// Every 202 (acked) must be an outbound message that reached 'accepted'.
function sendLoss(db, acked, left) {
	const out = sqlNumber(db, "SELECT count(*) FROM messages WHERE direction = 'out'");
	const accepted = sqlNumber(db, `SELECT count(DISTINCT m.id) FROM messages m JOIN statuses s ON s.message_id = m.id
		AND s.status = 'accepted' WHERE m.direction = 'out'`);
	let text = accepted >= acked && out >= acked ? 'ok' : `LOST ${acked - Math.min(out, accepted)}` + (out < acked ? ` (${acked - out} not stored)` : '');
	if (left) text += `, ${left} still in outbox`;
	return { out, accepted, text };
}

async function sendRun(graph, tag, extraArgs) {
	const m = await startMsgd(tag);
	await createChannel(m, { api_base_url: graph.url, rate_per_second: 0, enforce_window: false });
	const r = await measuredLoad(m.pid, m.url, ['-m', 'send', '--channel', 'bench', '-c', String(CONNS), '-d', String(SECONDS),
		'-H', AUTH, ...extraArgs]);
	const left = await drainOutbox(m.db);
	r.cpu_s = cpuSeconds(m.pid) - r.cpu0;        // the dispatcher's work continues after the API calls
	r.peak_rss_kb = statusKb(m.pid, 'VmHWM');
	r.acceptance = acceptance(m.db, r.phaseStartMs);
	r.loss = sendLoss(m.db, r.lg.acked_total, left);
	await stopMsgd(m);
	return r;
}

async function send() {
	const graph = await startNginx('fake-graph-nginx.conf', 'graph');
	progress('send: msgd -> fake Graph API (nginx), closed loop');
	const full = await sendRun(graph, 'send', []);
	const half = Math.max(1, Math.round((full.acceptance.throughput || full.lg.rps) / 2));
	progress(`send: fresh msgd, open loop at ${half}/s`);
	const open = await sendRun(graph, 'send-half', ['-R', String(half)]);
	await stop(graph.child);

	const a = full.acceptance, h = open.acceptance;
	return {
		rows: [
			row('send', `API POST /v1/messages -> 202, ${CONNS} conns`, { ...fromLoadgen(full), cpu_s: null, rss_kb: null,
				loss: non2xx(full.lg) ? `${non2xx(full.lg)} non-2xx` : '' }),
			row('send', `call -> provider acceptance (${a.accepted} msgs)`, { throughput: round(a.throughput, 1), p50: a.latency_ms.p50,
				p99: a.latency_ms.p99, p999: a.latency_ms.p999, cpu_s: round(full.cpu_s), rss_kb: full.peak_rss_kb, loss: full.loss.text,
				target: '>=10,000 msg/s, no loss', met: a.throughput >= 10000 && full.loss.text === 'ok' }),
			row('send', `half rate -R ${half}: call -> acceptance`, { throughput: round(h.throughput, 1), p50: h.latency_ms.p50,
				p99: h.latency_ms.p99, p999: h.latency_ms.p999, cpu_s: round(open.cpu_s), rss_kb: open.peak_rss_kb,
				loss: open.loss.text + unsentText(open.lg),
				target: 'p99 < 20 ms', met: h.latency_ms.p99 !== null && h.latency_ms.p99 < 20 && open.loss.text === 'ok' && !open.lg.unsent }),
		],
		details: { full, half_rate: open },
	};
}

// ---------------------------------------------------------------- 3. live

async function live() {
	const m = await startMsgd('live');
	await createChannel(m);
	progress(`live: SSE + WebSocket at ${LIVE_RATE} webhooks/s for ${SECONDS} s, then ${IDLE_STREAMS} idle SSE streams`);
	const child = start('live.mjs', 'sh', ['-c', `${ULIMIT}; exec "$0" "$@"`, process.execPath, path.join('bench', 'live.mjs'),
		'--url', m.url, '--token', TOKEN, '--secret', SECRET, '--pnid', PNID, '--rate', String(LIVE_RATE),
		'--seconds', String(SECONDS), '--idle', String(IDLE_STREAMS), '--pid', String(m.pid)],
	{ stdout: 'pipe', stderr: 'inherit' });
	let out = '';
	child.proc.stdout.on('data', (d) => { out += d; });
	const code = await child.exited;
	if (code !== 0) throw new Error(`live.mjs exited ${code} (its errors are above)`);
	await stopMsgd(m);
	const r = JSON.parse(out);

	const client = (name, c) => row('live', `webhook 200 -> ${name} event, ${r.webhooks.acked} at ${r.webhooks.rate}/s`, {
		throughput: r.webhooks.rate, p50: c.latency_ms.p50, p99: c.latency_ms.p99, p999: c.latency_ms.p999,
		cpu_s: r.msgd?.cpu_s, rss_kb: r.msgd?.peak_rss_kb, loss: c.missing === 0 ? 'ok' : `MISSING ${c.missing}`,
		target: 'p99 < 5 ms, none missing', met: c.latency_ms.p99 !== null && c.latency_ms.p99 < 5 && c.missing === 0 && r.webhooks.acked === r.webhooks.sent });
	const i = r.idle;
	const rows = [client('SSE', r.sse), client('WebSocket', r.ws)];
	if (i) {
		rows.push(row('live', `${i.open}/${i.n} idle SSE streams: VmRSS (${i.per_conn_kb} kB/stream)`, { rss_kb: i.rss_kb,
			loss: i.open === i.n ? 'ok' : `${i.n - i.open} not opened`,
			target: `${i.n} streams < 100 MB`, met: i.open === i.n && i.rss_kb / 1024 < 100 }));
	}
	return { rows, details: r };
}

// ---------------------------------------------------------------- 4. read

async function getLoad(m, what, pathArgs) {
	progress(`read: ${what}`);
	const r = await measuredLoad(m.pid, m.url, ['-m', 'get', '-c', String(CONNS), '-d', String(SECONDS), '-H', AUTH, ...pathArgs]);
	const bad = non2xx(r.lg) + lgErrors(r.lg);
	return { r, bad };
}

function writePaths(file, paths) {
	fs.writeFileSync(file, paths.join('\n') + '\n');
	return file;
}

async function read() {
	const m = await startMsgd('read');
	await createChannel(m);
	const readRow = (what, { r, bad }, target) => row('read', what, { ...fromLoadgen(r), loss: bad ? `${bad} not 200` : 'all 200',
		...(target ? { target, met: r.lg.rps >= 20000 && r.lg.latency_ms.p99 < 10 && bad === 0 } : {}) });
	const fmtN = (n) => n.toLocaleString('en-US');
	const list = ['--path', '/v1/conversations?limit=50'];

	progress(`read: loading ${fmtN(READ_SMALL)} messages through the ingest path`);
	resetPeakRss(m.pid);
	const cpu0 = cpuSeconds(m.pid);
	const small = await ingestUntil(m, READ_SMALL, READ_CONTACTS);
	let loadCpu = cpuSeconds(m.pid) - cpu0;
	const storedSmall = sqlNumber(m.db, "SELECT count(*) FROM messages WHERE direction = 'in'");
	const listSmall = await getLoad(m, `conversation list at ${fmtN(storedSmall)} messages`, list);

	progress(`read: loading up to ${fmtN(READ_MESSAGES)} messages in ${fmtN(READ_CONTACTS)} conversations`);
	resetPeakRss(m.pid);
	const cpu1 = cpuSeconds(m.pid);
	const rest = await ingestUntil(m, READ_MESSAGES, READ_CONTACTS);
	loadCpu += cpuSeconds(m.pid) - cpu1;
	const loadRss = statusKb(m.pid, 'VmHWM');
	const stored = sqlNumber(m.db, "SELECT count(*) FROM messages WHERE direction = 'in'");
	const conversations = sqlNumber(m.db, 'SELECT count(*) FROM conversations');
	const loadSeconds = small.seconds + rest.seconds;

	const dir = tmpDir('paths');
	const ids = sql(m.db, 'SELECT id FROM conversations ORDER BY random() LIMIT 1000').split('\n');
	const maxSeq = sqlNumber(m.db, 'SELECT max(seq) FROM events');
	const convPaths = writePaths(path.join(dir, 'conversations'), ids.map((id) => `/v1/conversations/${id}/messages?limit=50`));
	const eventPaths = writePaths(path.join(dir, 'events'), Array.from({ length: 1000 }, () => `/v1/events?since=${Math.floor(Math.random() * maxSeq)}&limit=50`));

	const listBig = await getLoad(m, `conversation list at ${fmtN(stored)} messages`, list);
	const thread = await getLoad(m, 'last 50 messages of 1,000 random conversations', ['--paths', convPaths, '--random']);
	const events = await getLoad(m, 'events since 1,000 random cursors', ['--paths', eventPaths, '--random']);
	await stopMsgd(m);

	const acked = small.acked + rest.acked;
	const bigLoad = rest.lg || small.lg;  // its latencies stand for the load's
	return {
		rows: [
			row('read', `load ${fmtN(stored)} msgs / ${fmtN(conversations)} convs via ingest`, {
				throughput: round(acked / loadSeconds, 1), p50: bigLoad?.latency_ms.p50, p99: bigLoad?.latency_ms.p99,
				p999: bigLoad?.latency_ms.p999, cpu_s: round(loadCpu), rss_kb: loadRss, loss: lossText(stored, acked) }),
			readRow(`GET /v1/conversations?limit=50 at ${fmtN(storedSmall)} msgs`, listSmall),
			readRow(`GET /v1/conversations?limit=50 at ${fmtN(stored)} msgs`, listBig, '>=20,000 req/s, p99 < 10 ms'),
			readRow('GET /v1/conversations/{id}/messages?limit=50', thread),
			readRow('GET /v1/events?since=N&limit=50', events),
		],
		details: { load: { stored, conversations, acked, seconds: loadSeconds, cpu_s: loadCpu, peak_rss_kb: loadRss, largest_run: bigLoad },
			list_small: listSmall.r, list: listBig.r, messages: thread.r, events: events.r, max_seq: maxSeq },
	};
}

// ---------------------------------------------------------------- 5. footprint

// One start on a fresh dir: ms from spawn to the first 200, VmRSS 1 s after spawn.
async function startOnce(i) {
	const dir = tmpDir(`footprint-${i}`);
	const port = await freePort();
	const t0 = performance.now();
	const child = start('msgd (footprint)', MSGD, ['serve', '--listen', `127.0.0.1:${port}`, '--data', path.join(dir, 'data')],
		{ env: { MSGD_ADMIN_TOKEN: TOKEN, MSGD_LOG_LEVEL: 'warn' }, logFile: path.join(dir, 'msgd.log') });
	while ((await httpStatus(port, '/healthz')) !== 200) {
		if (child.code !== null || performance.now() - t0 > 10000) throw new Error(`msgd did not start (exit ${child.code})`);
		await sleep(2);
	}
	const startMs = performance.now() - t0;
	await sleep(Math.max(0, 1000 - (performance.now() - t0)));
	const rssKb = statusKb(child.proc.pid, 'VmRSS');
	await stop(child);
	return { startMs, rssKb };
}

async function footprint() {
	const runs = [];
	for (let i = 0; i < FOOTPRINT_STARTS; i++) runs.push(await startOnce(i));
	const startMs = median(runs.map((r) => r.startMs)), rssKb = median(runs.map((r) => r.rssKb));
	const size = fs.statSync(MSGD).size;
	let stripped = null;
	if (which('strip')) {
		const out = path.join(tmpDir('strip'), 'msgd');
		execFileSync('strip', ['-o', out, MSGD]);
		stripped = fs.statSync(out).size;
	}
	progress(`footprint: starts ${runs.map((r) => r.startMs.toFixed(1)).join(', ')} ms; RSS ${runs.map((r) => r.rssKb).join(', ')} kB`);
	const sizeText = `binary ${size.toLocaleString('en-US')} B` + (stripped === null ? '' : stripped === size ? ' (already stripped)' : `, stripped ${stripped.toLocaleString('en-US')} B`);
	return {
		rows: [
			row('footprint', `spawn -> first /healthz 200, median of ${runs.length} (ms in p50)`, { p50: round(startMs, 2),
				target: '< 100 ms', met: startMs < 100 }),
			row('footprint', `idle VmRSS 1 s after start, median of ${runs.length}`, { rss_kb: rssKb, target: '< 10 MB', met: rssKb / 1024 < 10 }),
			row('footprint', sizeText),
		],
		details: { runs, start_ms_median: startMs, idle_rss_kb_median: rssKb, binary_bytes: size, stripped_bytes: stripped },
	};
}

// ---------------------------------------------------------------- report

function systemInfo() {
	const git = (args) => { try { return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { return null; } };
	const commit = git(['rev-parse', '--short', 'HEAD']);
	const dirty = git(['status', '--porcelain', '--untracked-files=no']);
	const cpuModel = (/^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8')) || [])[1] || os.cpus()[0]?.model || '?';
	return {
		date: new Date().toISOString(), commit: commit ? commit + (dirty ? '-dirty' : '') : 'unknown',
		cpu: cpuModel.trim(), cores: os.cpus().length, kernel: `${os.type()} ${os.release()}`,
		loadavg: os.loadavg().map((x) => round(x, 2)), msgd: MSGD, loadgen: LOADGEN, bench_seconds: SECONDS, warmup_seconds: WARMUP,
	};
}

const COLUMNS = [
	['scenario', 'scenario', 'l'], ['what', 'what', 'l'], ['throughput', 'throughput/s', 'r'],
	['p50', 'p50 ms', 'r'], ['p99', 'p99 ms', 'r'], ['p999', 'p99.9 ms', 'r'], ['cpu_s', 'msgd CPU s', 'r'],
	['peak_rss_mb', 'peak RSS MB', 'r'], ['loss', 'loss check', 'l'], ['target', 'target', 'l'], ['met', 'met', 'l'],
];

function cell(key, v) {
	if (v === null || v === undefined) return '-';
	if (typeof v !== 'number') return String(v);
	if (key === 'throughput') return Math.round(v).toLocaleString('en-US');
	if (key === 'peak_rss_mb') return v.toFixed(1);
	return v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US');
}

function table(info, rows) {
	const cells = rows.map((r) => COLUMNS.map(([k]) => cell(k, r[k])));
	const widths = COLUMNS.map(([, h], i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
	const line = (vals) => vals.map((v, i) => (COLUMNS[i][2] === 'r' ? v.padStart(widths[i]) : v.padEnd(widths[i]))).join('  ').trimEnd();
	return [
		`msgd bench ${info.date} | commit ${info.commit} | ${info.cpu}, ${info.cores} cores | ${info.kernel} | load avg ${info.loadavg[0]} at start | ${SECONDS} s per run after ${WARMUP} s warm-up`,
		line(COLUMNS.map(([, h]) => h)),
		line(widths.map((w) => '-'.repeat(w))),
		...cells.map(line),
	].join('\n');
}

function writeResults(info, results) {
	const dir = path.join('bench', 'results');
	fs.mkdirSync(dir, { recursive: true });
	const stamp = info.date.replace(/\.\d+Z$/, '').replace(/[-:]/g, '').replace('T', '-');
	const file = path.join(dir, `${stamp}.json`);
	fs.writeFileSync(file, JSON.stringify({ ...info, ...results }, null, '\t') + '\n');
	fs.copyFileSync(file, path.join(dir, 'latest.json'));
	return file;
}

// ---------------------------------------------------------------- 6. slow clients

// SLOW_CLIENTS slow connections held open (bench/slow.mjs: slowloris, idle
// keep-alive, slow bodies; each one msgd cuts is opened again) while signed
// webhooks arrive at SLOW_RATE/s, open loop: the others must still be served.
async function slow() {
	const m = await startMsgd('slow');
	await createChannel(m);
	progress(`slow: ${SLOW_CLIENTS} slow clients, signed webhooks at ${SLOW_RATE}/s beside them`);
	const rss0 = statusKb(m.pid, 'VmRSS');
	const adv = start('slow.mjs', 'sh', ['-c', `${ULIMIT}; exec "$0" "$@"`, process.execPath, path.join('bench', 'slow.mjs'),
		'--port', String(m.port), '--n', String(SLOW_CLIENTS)], { stdout: 'pipe', stderr: 'inherit' });
	let out = '';
	adv.proc.stdout.on('data', (d) => { out += d; });
	const deadline = performance.now() + 60_000;
	while (!out.includes('"ready"')) {
		if (adv.code !== null || performance.now() > deadline) throw new Error(`slow.mjs did not get ready (exit ${adv.code})`);
		await sleep(50);
	}
	const r = await measuredLoad(m.pid, m.url, ['-m', 'ingest', '--secret', SECRET, '--pnid', PNID, '--prefix', uniq('slow'),
		'-c', String(CONNS), '-d', String(SECONDS), '-R', String(SLOW_RATE)]);
	const rssSlow = statusKb(m.pid, 'VmRSS');
	adv.proc.kill('SIGTERM');
	await adv.exited;
	const adversary = JSON.parse(out.trim().split('\n').pop());
	const stored = sqlNumber(m.db, "SELECT count(*) FROM messages WHERE direction = 'in'");
	await stopMsgd(m);
	const loss = lossText(stored, r.lg.acked_total);
	const clean = non2xx(r.lg) === 0 && lgErrors(r.lg) === 0 && !r.lg.unsent;
	return {
		rows: [
			row('slow', `webhooks -R ${SLOW_RATE} beside ${SLOW_CLIENTS} slow clients (${adversary.cut} cut, reopened)`, {
				...fromLoadgen(r), loss: loss + unsentText(r.lg), target: 'p99 < 100 ms, no loss',
				met: r.lg.latency_ms.p99 !== null && r.lg.latency_ms.p99 < 100 && loss.startsWith('ok') && clean }),
		],
		details: { load: r, adversary, rss_before_kb: rss0, rss_with_slow_kb: rssSlow },
	};
}

// ---------------------------------------------------------------- 7. PostgreSQL (bench/pg.mjs)

function pgHelpers() {
	return { progress, sql, sqlNumber, startMsgd, stopMsgd, createChannel, startNginx, stop, loadgen, cpuSeconds, statusKb,
		row, fromLoadgen, lossText, non2xx, lgErrors, acceptance, drainOutbox, sendLoss, uniq, round,
		WARMUP, CONNS, SECONDS, SECRET, PNID, AUTH };
}

// ---------------------------------------------------------------- 8. imports (bench/imports.mjs)

function importHelpers() {
	return { progress, sql, startMsgd, stopMsgd, api, statusKb, resetPeakRss, row, round, sleep, TOKEN, TMP_ROOT };
}

// ---------------------------------------------------------------- 9. exports (bench/export.mjs)

function exportHelpers() {
	return { ...pgHelpers(), api, tmpDir, freePort, start, waitForPort, sleep, measuredLoad, TOKEN };
}

// ---------------------------------------------------------------- main

async function main() {
	const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(SCENARIOS);
	const unknown = names.filter((n) => !SCENARIOS[n]);
	if (unknown.length) {
		console.error(`bench: unknown scenario ${unknown.join(', ')}; choose from ${Object.keys(SCENARIOS).join(', ')}`);
		process.exit(2);
	}
	checkTools(names);
	const info = systemInfo();
	progress(`${info.commit} on ${info.cpu} (${info.cores} cores); msgd ${MSGD}; loadgen ${LOADGEN}`);
	const rows = [], scenarios = {};
	let failed = 0;
	for (const name of names) {
		const t0 = performance.now();
		try {
			const r = await SCENARIOS[name]();
			rows.push(...r.rows);
			scenarios[name] = { ok: true, seconds: 0, details: r.details };
		} catch (e) {
			failed++;
			progress(`${name} FAILED: ${e.stack || e.message}`);
			rows.push(row(name, `FAILED: ${String(e.message).split('\n')[0].slice(0, 70)}`));
			scenarios[name] = { ok: false, seconds: 0, error: String(e.stack || e.message) };
		}
		await stopAll();
		emptyTmp();
		scenarios[name].seconds = round((performance.now() - t0) / 1000, 1);
		progress(`${name}: done in ${scenarios[name].seconds} s`);
	}
	const total = round((performance.now() - T0) / 1000, 1);
	const file = writeResults(info, { total_seconds: total, rows, scenarios });
	console.log(table(info, rows));
	console.log(`\n${names.map((n) => `${n} ${scenarios[n].seconds} s`).join(', ')}; total ${total} s. Results: ${file}`);
	process.exit(failed ? 1 : 0);
}

await main();
