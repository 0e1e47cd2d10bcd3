// soak.mjs - msgd under a steady mixed load for a long time, restarted
// gracefully at intervals, with its resources sampled: RSS and open fds must
// stay flat after warm-up, and nothing acknowledged may be lost on the way.
//
//   node tests/soak/soak.mjs          (make soak; not part of make test)
//
// Env: SOAK_S (total seconds, default 3600), SOAK_RESTART_S (a graceful
// restart every so many seconds, default 600), SOAK_SAMPLE_S (sample period,
// default 60), SOAK_RATE (load multiplier, default 1), MSGD_BIN (make soak
// uses the release build build/msgd), CORPUS.
//
// The load (traffic.mjs): signed WhatsApp Cloud webhooks (messages and
// statuses), sends and batches through a whatsapp_cloud channel aimed at the
// fake Graph API (tests/e2e/fake_graph.mjs; a transient 500 now and then and
// a rare 429, so retries and throttling run) and through the sandbox, reads,
// and short-lived SSE/WebSocket connections; besides, two SSE and two
// WebSocket followers (followers.mjs) read the whole event log from seq 0
// and resume with their cursor after each restart.
//
// Restarts: SIGTERM, exit 0 required, then msgd again on the same data
// directory and port (a new port if that one is taken; the load follows).
// The load sends nothing while msgd is down; a request that fails in a
// restart window is counted as refused (never acknowledged), not an error.
//
// Samples (every SOAK_SAMPLE_S): msgd's VmRSS and RssAnon, open fds (in all,
// its established TCP connections, and the rest: "base"), threads, CPU use
// since the previous sample, the data directory's size, the "wa" channel's
// queue depth, the followers' cursor, the machine's load average and the
// client's own event-loop lag, and per traffic kind the requests of that
// period with client-side latency p50/p99/max. One line each on stdout and
// in build/soak/soak.csv; build/soak/summary.json at the end; each life's
// log in build/soak/msgd-lifeN.log.
//
// Checks at the end (verify.mjs), after the load stopped and the outbox
// drained: every acknowledged webhook message is stored; every accepted send
// reached a final status (accepted or later for "wa", and it reached the fake
// under its key; not failed); the fake got each key at most once (graceful
// restarts allow no duplicate: only requests whose answer msgd lost, or
// entries msgd found in flight at a start, may go twice); every follower saw
// every seq of the log in order, with no gap and no repeat; no traffic errors
// outside restart windows; flatness after warm-up (the first life is left
// out; verify.mjs's flatness()): the last life against the second, sample by
// sample at the same age, and within each later life its last sample against
// its second (a leak per request or connection, which each restart resets):
// RSS may grow at most RSS_GROWTH_MAX (20%), the base fds at most
// FD_GROWTH_MAX (10). Exit 1 on any problem, each printed as "PROBLEM: ...".

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { MSGD_BIN, createSendChannel, startMsgd } from '../e2e/lib.mjs';
import { startFakeGraph } from '../e2e/fake_graph.mjs';
import { follow } from './followers.mjs';
import { KINDS, SEND_PNID, Stats, startTraffic } from './traffic.mjs';
import { verify, flatness } from './verify.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const OUT = path.resolve(HERE, '..', '..', 'build', 'soak');

const STOP_MS = 30_000;          // SIGTERM to exit (msgd's shutdown_timeout is 10 s)
const RESTART_GRACE_MS = 1500;   // failures this soon after a restart was ready still count as refused
const CLK_TCK = 100;             // /proc/PID/stat ticks per second (USER_HZ on Linux)
const FAIL_EVERY = 23;           // the fake answers one send in this many with a 500
const THROTTLE_EVERY = 401;      // and one in this many with a 429 (Retry-After: 1)
const DELAYS_MS = [0, 2, 5, 15]; // the fake's answer delay, by request number

const num = (name, dflt) => {
	const v = process.env[name] === undefined || process.env[name] === '' ? dflt : Number(process.env[name]);
	if (!Number.isFinite(v) || v <= 0) { console.error(`soak: ${name} must be a positive number`); process.exit(2); }
	return v;
};
const cfg = {
	S: num('SOAK_S', 3600), RESTART_S: num('SOAK_RESTART_S', 600), SAMPLE_S: num('SOAK_SAMPLE_S', 60), RATE: num('SOAK_RATE', 1),
};
if (cfg.SAMPLE_S > cfg.RESTART_S || cfg.RESTART_S > cfg.S) {
	console.error('soak: need SOAK_SAMPLE_S <= SOAK_RESTART_S <= SOAK_S');
	process.exit(2);
}

const t0 = Date.now();
const say = (m) => console.log(`[soak ${((Date.now() - t0) / 1000).toFixed(0).padStart(5)}s] ${m}`);

fs.mkdirSync(OUT, { recursive: true });
for (const f of fs.readdirSync(OUT)) if (/^(soak\.csv|summary\.json|msgd-life\d+\.log)$/.test(f)) fs.rmSync(path.join(OUT, f));
const CSV = path.join(OUT, 'soak.csv');
const csvHead = ['t_s', 'life', 'life_sample', 'pid', 'rss_kb', 'rss_anon_kb', 'fds', 'fds_conns', 'fds_close_wait', 'fds_base', 'threads', 'cpu_pct', 'data_kb', 'queue_wa', 'events_seq', 'load1', 'client_lag_max_ms',
	...KINDS.flatMap((k) => [`${k}_n`, `${k}_err`, `${k}_refused`, `${k}_skipped`, `${k}_p50_ms`, `${k}_p99_ms`, `${k}_max_ms`])];
fs.writeFileSync(CSV, csvHead.join(',') + '\n');

// ------------------------------------------------------------ msgd lives

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-soak-'));
const token = `adm_${crypto.randomBytes(12).toString('hex')}`;
const lives = [];       // {n, pid, port, startedWall, readyWall, stoppedWall, stopMs, exit, uncertain, log}
const windows = [];     // restart windows: {from, to} (to = Infinity while down)
let cur = null;         // the live daemon, null while restarting
let upResolve;
let upPromise = new Promise((r) => { upResolve = r; });

async function startLife(port) {
	const n = lives.length;
	const startedWall = Date.now();
	let d;
	try {
		d = await startMsgd({ dataDir, token, port, name: `soak-life${n}`, keepDataDir: true });
	} catch (e) {
		if (!port) throw e;
		say(`port ${port} not available again (${e.message.split('\n')[0]}); a new port`);
		d = await startMsgd({ dataDir, token, name: `soak-life${n}`, keepDataDir: true });
	}
	const life = { n, pid: d.proc.pid, port: d.port, startedWall, readyWall: Date.now(), d, samples: 0 };
	lives.push(life);
	cur = d;
	upResolve(d);
	upPromise = new Promise((r) => { upResolve = r; });
	return life;
}

/** SIGTERM the live daemon, wait for its exit (must be 0), keep its log. */
async function stopLife(reason) {
	const life = lives.at(-1);
	const d = life.d;
	cur = null;
	const t = Date.now();
	d.proc.kill('SIGTERM');
	let timer;
	const r = await Promise.race([d.exited, new Promise((res) => { timer = setTimeout(res, STOP_MS, 'timeout'); })]);
	clearTimeout(timer);
	if (r === 'timeout') {
		d.proc.kill('SIGKILL');
		await d.exited;
	}
	life.stopMs = Date.now() - t;
	life.stoppedWall = Date.now();
	life.exit = r === 'timeout' ? { timeout: true } : d.exitInfo;
	const log = d.logs();
	const m = [...log.matchAll(/marked uncertain.*?count=(\d+)/g)];
	life.uncertain = m.reduce((s, x) => s + Number(x[1]), 0);
	life.log = path.join(OUT, `msgd-life${life.n}.log`);
	fs.writeFileSync(life.log, `# ${MSGD_BIN} ${d.argv.join(' ')}\n# ${reason}; exit ${JSON.stringify(life.exit)} after ${life.stopMs} ms\n${log}`);
	life.d = null;
	const ok = !life.exit.timeout && life.exit.signal === null && life.exit.code === 0;
	if (!ok) problems.push(`life ${life.n} (${reason}) did not stop cleanly: ${JSON.stringify(life.exit)}; log ${life.log}`);
	return ok;
}

async function restart() {
	const win = { from: Date.now(), to: Infinity };
	windows.push(win);
	const prev = lives.at(-1);
	const ok = await stopLife('restart');
	const life = await startLife(prev.port);
	win.to = life.readyWall + RESTART_GRACE_MS;
	say(`restart: life ${prev.n} stopped in ${prev.stopMs} ms (${ok ? 'exit 0' : 'NOT CLEAN'}), life ${life.n} ready in ${life.readyWall - prev.stoppedWall} ms on port ${life.port}`);
}

const ctx = {
	current: () => cur,
	whenUp: () => (cur ? Promise.resolve(cur) : upPromise),
	isRestarting: (a, b) => windows.some((w) => a <= w.to && b >= w.from),
	runId: crypto.randomBytes(3).toString('hex'),
	rate: cfg.RATE,
	stats: new Stats(),
	track: {
		ingested: [], statuses: 0, sends: [], repeats: 0, problems: [], shortStreams: { sse: 0, ws: 0 },
		recentProviderIds: [], recentKeys: [], recentConversations: [],
		fakeKeyCounts: new Map(), fakeLost: 0, fakeAccepted: 0, fakeRequests: 0, fakeFaults: 0,
	},
};
const problems = ctx.track.problems;

// ------------------------------------------------------------ the fake Graph

const fake = await startFakeGraph();
fake.rule((r) => r.kind === 'send' && r.n % THROTTLE_EVERY === THROTTLE_EVERY - 1, fake.corpusError('130429', { headers: { 'retry-after': '1' } }));
fake.rule((r) => r.kind === 'send' && r.n % FAIL_EVERY === FAIL_EVERY - 1, fake.serverError(500));
DELAYS_MS.forEach((ms, i) => fake.rule((r) => r.n % DELAYS_MS.length === i, ms ? { delayMs: ms } : {}));
const keyByN = new Map();
fake.onRequest((rec) => {
	const m = /^soak (\S+)$/.exec(rec.body?.text?.body ?? '');
	if (rec.kind === 'send') keyByN.set(rec.n, m ? m[1] : null);
});

/** Fold the fake's records into counters and drop them (an hour of them
 *  would hold hundreds of MB): acceptances per key, recent provider ids. */
function harvestFake() {
	const t = ctx.track;
	for (const a of fake.accepted.splice(0)) {
		const key = keyByN.get(a.n) ?? null;
		t.fakeKeyCounts.set(key, (t.fakeKeyCounts.get(key) ?? 0) + 1);
		t.fakeAccepted++;
		t.recentProviderIds.push(a.id);
	}
	if (t.recentProviderIds.length > 500) t.recentProviderIds.splice(0, t.recentProviderIds.length - 500);
	const pending = [];
	for (const r of fake.requests) {
		if (r.endT === undefined && !r.aborted) { pending.push(r); continue; }
		if (r.kind !== 'send') continue;
		t.fakeRequests++;
		if (r.aborted || r.reset) t.fakeLost++;       // msgd did not get this answer
		else if (r.status !== 200) t.fakeFaults++;
		if (r.status === 200 || r.aborted || r.reset) keyByN.delete(r.n);
	}
	fake.requests.length = 0;
	fake.requests.push(...pending);
	for (const n of keyByN.keys()) { if (fake.requests.length && n < fake.requests[0].n - 100_000) keyByN.delete(n); else break; }
}
const harvestTimer = setInterval(harvestFake, 1000);

// ------------------------------------------------------------ sampling

/** TCP socket inode → state (hex, "01" ESTABLISHED, "08" CLOSE_WAIT, ...). */
function tcpStates() {
	const m = new Map();
	for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
		let text;
		try { text = fs.readFileSync(f, 'utf8'); } catch { continue; }
		for (const line of text.split('\n').slice(1)) {
			const c = line.trim().split(/\s+/);
			if (c.length > 9) m.set(c[9], c[3]);
		}
	}
	return m;
}

/** msgd's VmRSS/RssAnon (kB), threads, and open fds: in all, its
 *  established TCP connections (clients, the fake Graph API: they come and
 *  go with the load), and the rest ("base": what a leak would grow; a
 *  socket msgd forgot to close ends up there, in CLOSE_WAIT). */
function procStatus(pid) {
	const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
	const field = (name) => { const m = new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(s); return m ? Number(m[1]) : null; };
	const fds = fs.readdirSync(`/proc/${pid}/fd`);
	const tcp = tcpStates();
	let conns = 0, closeWait = 0;
	for (const fd of fds) {
		let link;
		try { link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }
		const m = /^socket:\[(\d+)\]$/.exec(link);
		const st = m ? tcp.get(m[1]) : undefined;
		if (st === '01') conns++;
		else if (st === '08') closeWait++;
	}
	return { rss: field('VmRSS'), anon: field('RssAnon'), threads: field('Threads'), fds: fds.length, conns, closeWait, base: fds.length - conns };
}

function dirKb(dir) {
	let total = 0;
	for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
		const p = path.join(dir, e.name);
		try {
			if (e.isDirectory()) total += dirKb(p) * 1024;
			else total += fs.lstatSync(p).size;
		} catch { /* removed meanwhile (the WAL after a checkpoint) */ }
	}
	return Math.round(total / 1024);
}

const samples = [];
// The client's own event-loop delay: a latency spike with a large lag was
// the load generator stalling (a busy machine), not msgd.
const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();
let cpuMark = null;    // {pid, ticks, wall} at the previous sample

/** msgd's CPU use since the previous sample (percent of one core). */
function cpuPct(pid) {
	const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
	const c = f.slice(f.lastIndexOf(')') + 2).split(' ');
	const ticks = Number(c[11]) + Number(c[12]);    // utime + stime
	const now = Date.now();
	const prev = cpuMark && cpuMark.pid === pid ? cpuMark : { ticks: 0, wall: lives.at(-1).startedWall };
	cpuMark = { pid, ticks, wall: now };
	return Math.round(((ticks - prev.ticks) / CLK_TCK) / ((now - prev.wall) / 1000) * 1000) / 10;
}
const followers = [];

async function sample() {
	const life = lives.at(-1);
	const d = cur;
	let ps = { rss: null, anon: null, threads: null, fds: null, conns: null, closeWait: null, base: null };
	let queue = null, cpu = null;
	if (d) {
		try { ps = procStatus(life.pid); cpu = cpuPct(life.pid); } catch (e) { problems.push(`cannot read /proc/${life.pid}: ${e.message}`); }
		try {
			const r = await d.api('GET', '/v1/channels/wa');
			queue = r.json?.state?.queue_depth ?? null;
		} catch { /* counted by the load */ }
	}
	const w = ctx.stats.window();
	const lagMax = lag.max / 1e6;
	lag.reset();
	const s = {
		t: Math.round((Date.now() - t0) / 1000), life: life.n, lifeSample: life.samples++, pid: life.pid,
		rss: ps.rss, anon: ps.anon, fds: ps.fds, conns: ps.conns, closeWait: ps.closeWait, fdsBase: ps.base, threads: ps.threads, dataKb: dirKb(dataDir), queue,
		seq: Math.min(...followers.map((f) => f.last)), cpu, load1: os.loadavg()[0], lagMax, kinds: w,
	};
	samples.push(s);
	const row = [s.t, s.life, s.lifeSample, s.pid, s.rss, s.anon, s.fds, s.conns, s.closeWait, s.fdsBase, s.threads, s.cpu, s.dataKb, s.queue, s.seq, s.load1.toFixed(2), s.lagMax.toFixed(1),
		...KINDS.flatMap((k) => [w[k].n, w[k].err, w[k].refused, w[k].skipped, w[k].p50.toFixed(1), w[k].p99.toFixed(1), w[k].max.toFixed(1)])];
	fs.appendFileSync(CSV, row.join(',') + '\n');
	const lat = KINDS.map((k) => `${k} ${w[k].n}${w[k].err ? `/${w[k].err}err` : ''} ${w[k].p50.toFixed(0)}/${w[k].p99.toFixed(0)}/${w[k].max.toFixed(0)}`).join(', ');
	say(`life ${s.life}.${s.lifeSample} rss ${(s.rss / 1024).toFixed(1)} MB (anon ${(s.anon / 1024).toFixed(1)}) fds ${s.fds} (${s.conns} conns, base ${s.fdsBase}${s.closeWait ? `, ${s.closeWait} CLOSE_WAIT` : ''}) thr ${s.threads} cpu ${s.cpu}% ` +
	    `data ${(s.dataKb / 1024).toFixed(1)} MB queue ${s.queue} seq ${s.seq} load ${s.load1.toFixed(1)} lag ${s.lagMax.toFixed(0)} ms | n p50/p99/max ms: ${lat}`);
}

// ------------------------------------------------------------ the run

let traffic = null;
let failed = false;
let verdict = null;
try {
	say(`msgd ${MSGD_BIN}; ${cfg.S} s, a restart every ${cfg.RESTART_S} s, a sample every ${cfg.SAMPLE_S} s, rate x${cfg.RATE}; data dir ${dataDir}`);
	await startLife(null);
	await createSendChannel(cur, fake.url, { phone_number_id: SEND_PNID, rate_per_second: 0 });
	for (const [kind, i] of [['sse', 0], ['sse', 1], ['ws', 0], ['ws', 1]]) followers.push(follow(ctx, kind, `${kind}${i}`));
	traffic = startTraffic(ctx);

	const endAt = t0 + cfg.S * 1000;
	let nextSample = t0 + cfg.SAMPLE_S * 1000;
	let nextRestart = t0 + cfg.RESTART_S * 1000;
	while (Date.now() < endAt - 50 || nextSample <= endAt) {
		const wake = Math.min(nextSample, nextRestart, endAt);
		if (wake > Date.now()) await new Promise((r) => setTimeout(r, wake - Date.now()));
		if (Date.now() >= nextSample - 5) {
			await sample();
			nextSample += cfg.SAMPLE_S * 1000;
		}
		if (Date.now() >= nextRestart - 5 && nextRestart < endAt - 1000) {
			await restart();
			nextRestart += cfg.RESTART_S * 1000;
		} else if (nextRestart < Date.now()) {
			nextRestart = Infinity;
		}
		if (Date.now() >= endAt && nextSample > endAt) break;
	}

	say('load stopping');
	await traffic.stop();
	traffic = null;
	harvestFake();
	verdict = await verify({ ...ctx, d: cur, fake, harvestFake, followers, lives, say });
	for (const f of followers) await f.stop();
	clearInterval(harvestTimer);
	await stopLife('end');
} catch (e) {
	failed = true;
	problems.push(`harness stopped: ${e.stack ?? e}`);
	if (traffic) await traffic.stop().catch(() => {});
	for (const f of followers) await f.stop().catch(() => {});
	clearInterval(harvestTimer);
	const life = lives.at(-1);
	if (life?.d) await stopLife('harness failure').catch(() => {});
}
await fake.close();

const flat = flatness(samples, lives.length);
problems.push(...flat.problems);
const totals = Object.fromEntries(KINDS.map((k) => [k, ctx.stats.k[k].total]));
for (const k of KINDS) {
	const s = ctx.stats.k[k];
	if (s.total.err) problems.push(`${k}: ${s.total.err} errors outside restart windows, e.g. ${s.samples.slice(0, 3).join(' | ')}`);
}
for (const f of followers) if (f.errors) problems.push(`follower ${f.name}: ${f.errors} connection errors, e.g. ${f.errorSamples.slice(0, 3).join(' | ')}`);

const summary = {
	config: { ...cfg, msgd: MSGD_BIN, node: process.version, started: new Date(t0).toISOString(), seconds: Math.round((Date.now() - t0) / 1000) },
	lives: lives.map(({ d, ...l }) => l),
	totals,
	followers: followers.map(({ stop, ...f }) => f),
	accounting: verdict?.accounting ?? null,
	flatness: flat.report,
	samples,
	problems,
	passed: !failed && problems.length === 0,
};
fs.writeFileSync(path.join(OUT, 'summary.json'), JSON.stringify(summary, null, 1) + '\n');

say(`totals: ${KINDS.map((k) => `${k} ${totals[k].n} ok${totals[k].refused ? ` (${totals[k].refused} refused in restarts)` : ''}${totals[k].skipped ? ` ${totals[k].skipped} skipped` : ''}`).join(', ')}`);
for (const x of verdict?.notes ?? []) say(x);
for (const x of flat.notes) say(x);
for (const x of problems) say(`PROBLEM: ${x}`);
if (summary.passed) fs.rmSync(dataDir, { recursive: true, force: true });
else say(`data dir kept: ${dataDir}`);
say(`csv ${CSV}, summary ${path.join(OUT, 'summary.json')}`);
console.log(summary.passed ? 'soak: passed' : 'soak: FAILED');
process.exit(summary.passed ? 0 : 1);
