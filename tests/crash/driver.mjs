// driver.mjs - the crash-loop harness: run msgd under load, kill -9 it at
// seeded-random instants, restart it on the same data directory, and after
// the last cycle hand over to the durable path's own accounting.
//
// A durable path is a module exporting (see path_send.mjs, path_hooks.mjs):
//
//   name          'send', 'hooks', ...: the row's name in the table.
//   killPoints    names of the kill points the path arms itself, e.g.
//                 'provider-in-flight' (fired from a fake's request handler).
//                 The driver adds 'timer' and 'early' to every path.
//   env           optional extra environment for every msgd life.
//   setup(ctx)    once, with the first daemon up: start fakes and receivers,
//                 create channels/subscriptions. Returns the path's state,
//                 kept as ctx.state.
//   load(ctx)     start the continuous load; returns {stop(): Promise}. The
//                 load waits for ctx.whenUp() while msgd is down and treats a
//                 request cut off by a kill as unanswered (not as an error).
//   progressed(ctx, mark)  true once enough work was done since `mark` (what
//                 snapshot(ctx) returned right after a restart): a cycle is
//                 killed only after that, so every life does something.
//   snapshot(ctx) a plain object: progress counters now (used for `mark`).
//   atKill(ctx)   called synchronously at the kill: what was in flight (the
//                 driver stores it in ctx.kills[i].at).
//   verify(ctx)   after the load stopped and msgd runs again: wait for the
//                 drain (conditions with generous deadlines), then check and
//                 return {acknowledged, delivered, lost, duplicates, allowed,
//                 notes: [strings], problems: [strings]} (problems fail the run).
//
// Kill points: each cycle the driver picks one of ['timer', 'early',
// ...killPoints] with the seeded PRNG and sets ctx.trigger = {point, r,
// cycle, fired}; r is a fresh random number in [0, 1) the path uses to vary
// the instant (which request, how many ms later). 'timer' fires 20..1500 ms
// after the life made progress (path.progressed()); 'early' fires 0..150 ms
// after the restarted msgd answered /healthz, while it recovers (no progress
// asked). The path's hooks test ctx.trigger.point and call ctx.kill(point)
// (a no-op unless that point is armed). If the armed point does not fire
// within FALLBACK_MS the driver kills on a timer anyway (counted as
// 'fallback'). Everything random comes from the seed, so CRASH_SEED replays
// a run's choices (not its timing).
//
// A new durable path plugs in by writing such a module (tests/crash/
// path_NAME.mjs) and adding it to PATHS in crash_loop.mjs and to the list in
// tests/e2e/crash_loop.test.mjs.
//
// Two instances (PostgreSQL): with {instances: 2} and a database (the
// option, or this run's own on MSGD_TEST_DATABASE's cluster) a second
// msgd, the companion (instance id "b", its own data dir), shares the
// database from after setup() to the end and is never killed; the killed
// one is instance "a". Load goes to "a" and, while "a" is down, to the
// companion (whenUp()). Each restart of "a" waits 0 ms or, one time in
// three, longer than the leases, so that the companion's sweep and the
// channel's dispatch lease take over its sends (outbox_lease_ms and
// dispatch_lease_ms are short here: LEASE_MS). ctx.companion is the
// companion; lives holds only "a"'s lives.
//
// ctx: {seed, rng, cycles, dataDir, token, d (the live daemon or null), lives (every
// daemon started: its logs(), readyWall when /healthz answered), kills: [{cycle, point, wall, at}],
// killCount, trigger, cycle, state, companion, log(msg), whenUp(), kill(point)}.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { freshDatabaseFor, startMsgd, waitFor } from '../e2e/lib.mjs';

const FALLBACK_MS = 20_000;     // an armed point that never fires: kill anyway
const PROGRESS_MS = 120_000;    // a life must make progress within this
const TIMER_MIN_MS = 20;
const TIMER_MAX_MS = 1500;
const EARLY_MAX_MS = 150;     // 'early': this soon after a restart was ready
const LEASE_MS = { MSGD_OUTBOX_LEASE_MS: '2000', MSGD_DISPATCH_LEASE_MS: '1500' };
const TAKEOVER_WAIT_MS = 2500;  // a restart this late lets the companion take over

/** A seeded PRNG (xorshift32 stepped, output scrambled): r() in [0,1). */
export function makeRng(seed) {
	let s = (seed >>> 0) || 0x9e3779b9;
	const r = () => {
		s ^= s << 13; s >>>= 0;
		s ^= s >>> 17;
		s ^= s << 5; s >>>= 0;
		const x = Math.imul(s ^ (s >>> 16), 0x45d9f3b) >>> 0;
		return ((x ^ (x >>> 16)) >>> 0) / 4294967296;
	};
	r.int = (lo, hi) => lo + Math.floor(r() * (hi - lo + 1));
	r.pick = (arr) => arr[Math.floor(r() * arr.length)];
	return r;
}

export function newSeed() {
	return crypto.randomBytes(4).readUInt32BE(0);
}

/**
 * Run `cycles` kill -9 cycles of one durable path. Returns
 * {name, cycles, acknowledged, delivered, lost, duplicates, allowed, notes,
 *  problems, points}. Throws only when the harness itself cannot go on
 * (msgd does not start, a life makes no progress): that is a failure too.
 */
export async function runCrashLoop(mod, { cycles = 50, seed = newSeed(), log = console.log, quiet = false,
	database = null, instances = 1 } = {}) {
	const rng = makeRng(seed);
	const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `msgd-crash-${mod.name}-`));
	const token = `adm_${crypto.randomBytes(12).toString('hex')}`;
	const t0 = Date.now();
	const say = (m) => { if (!quiet) log(`[crash ${mod.name} ${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}`); };
	say(`seed ${seed}, ${cycles} cycles, data dir ${dataDir}`);

	let upResolve;
	let upPromise = new Promise((r) => { upResolve = r; });
	const ctx = {
		seed, rng, cycles, dataDir, token, d: null, lives: [], kills: [], killCount: 0,
		trigger: null, state: null, cycle: 0, log: say, companion: null,
		whenUp() { return ctx.d ? Promise.resolve(ctx.d) : ctx.companion ? Promise.resolve(ctx.companion) : upPromise; },
		/** SIGKILL the live daemon if `point` is the armed one. Synchronous. */
		kill(point) {
			const t = ctx.trigger;
			if (!t || t.fired || (point !== t.point && point !== 'fallback') || !ctx.d) return false;
			t.fired = true;
			const d = ctx.d;
			d.proc.kill('SIGKILL');
			ctx.d = null;
			ctx.killCount++;
			ctx.kills.push({ cycle: ctx.cycle, point, wall: Date.now(), at: mod.atKill ? mod.atKill(ctx) : {} });
			return true;
		},
	};
	database ??= freshDatabaseFor(dataDir) ?? null;  // PostgreSQL runs: this run's own database
	const pair = database !== null && instances > 1;
	const env = { ...(mod.env ?? {}), ...(database ? { MSGD_DATABASE: database } : {}),
		...(pair ? { ...LEASE_MS, MSGD_INSTANCE_ID: 'a' } : {}) };
	const start = async () => {
		const d = await startMsgd({ dataDir, token, env, name: `crash-${mod.name}-${ctx.lives.length}`, keepDataDir: true });
		d.readyWall = Date.now();
		ctx.lives.push(d);
		ctx.d = d;
		upResolve(d);
		upPromise = new Promise((r) => { upResolve = r; });
		return d;
	};

	const points = ['timer', 'early', ...(mod.killPoints ?? [])];
	const counts = Object.fromEntries(points.map((p) => [p, 0]));
	counts.fallback = 0;
	let loader = null;
	let result;
	try {
		await start();
		ctx.state = await mod.setup(ctx);
		if (pair) {
			const dir = fs.mkdtempSync(path.join(os.tmpdir(), `msgd-crash-${mod.name}-b-`));
			ctx.companion = await startMsgd({ dataDir: dir, token, env: { ...env, MSGD_INSTANCE_ID: 'b' },
				name: `crash-${mod.name}-companion`, keepDataDir: true });
			say(`companion instance b on the same database, data dir ${dir}`);
		}
		loader = await mod.load(ctx);
		for (let c = 1; c <= cycles; c++) {
			ctx.cycle = c;
			const point = rng.pick(points);
			const r = rng();
			// 'early' kills the new life while it recovers (no progress asked).
			if (point !== 'early') {
				const mark = mod.snapshot(ctx);
				await waitFor(() => mod.progressed(ctx, mark), PROGRESS_MS, { what: `${mod.name} progress in cycle ${c}`, intervalMs: 5 });
			}
			const d = ctx.d;
			ctx.trigger = { point, r, cycle: c, fired: false };
			let timer;
			if (point === 'timer')
				timer = setTimeout(() => ctx.kill('timer'), TIMER_MIN_MS + Math.floor(r * (TIMER_MAX_MS - TIMER_MIN_MS)));
			else if (point === 'early')
				timer = setTimeout(() => ctx.kill('early'), Math.floor(r * EARLY_MAX_MS));
			const fallback = setTimeout(() => ctx.kill('fallback'), FALLBACK_MS);
			await d.exited;
			clearTimeout(timer);
			clearTimeout(fallback);
			if (!ctx.trigger.fired) {
				throw new Error(`msgd exited by itself in cycle ${c}: ${JSON.stringify(d.exitInfo)}\n${d.logs().slice(-3000)}`);
			}
			const k = ctx.kills.at(-1);
			counts[k.point]++;
			ctx.trigger = null;
			if (pair && rng() < 1 / 3) await new Promise((r) => setTimeout(r, TAKEOVER_WAIT_MS));
			await start();
			if (c % 10 === 0 || c === cycles) say(`cycle ${c}/${cycles} done`);
		}
		await loader.stop();
		loader = null;
		say('load stopped; draining and checking');
		result = await mod.verify(ctx);
		say('checked');
		// A clean stop of the last life: sanitizer reports and leaks show here.
		const last = ctx.d;
		ctx.d = null;
		last.proc.kill('SIGTERM');
		const ex = await last.exited;
		if (ex.signal !== null || ex.code !== 0)
			result.problems.push(`the last msgd did not stop cleanly: ${JSON.stringify(ex)}\n${last.logs().slice(-3000)}`);
		if (ctx.companion) {
			const c = ctx.companion;
			ctx.companion = null;
			c.proc.kill('SIGTERM');
			const cx = await c.exited;
			if (cx.signal !== null || cx.code !== 0)
				result.problems.push(`the companion did not stop cleanly: ${JSON.stringify(cx)}\n${c.logs().slice(-3000)}`);
			if (!result.problems.length) fs.rmSync(c.dataDir, { recursive: true, force: true });
		}
	} catch (e) {
		upResolve(null);  // a load waiting for msgd gives up
		if (loader) await loader.stop().catch(() => {});
		for (const d of [...ctx.lives, ctx.companion]) if (d?.alive) { d.proc.kill('SIGKILL'); await d.exited; }
		saveLogs(ctx, mod.name);
		throw e;
	} finally {
		if (mod.teardown) await mod.teardown(ctx).catch(() => {});
	}
	if (result.problems.length) saveLogs(ctx, mod.name);
	else fs.rmSync(dataDir, { recursive: true, force: true });
	return { name: pair ? `${mod.name} (2 instances)` : mod.name, seed, cycles, points: counts, ...result };
}

function saveLogs(ctx, name) {
	ctx.lives.forEach((d, i) => {
		const f = d.saveLog(`${name}-life${i}`);
		if (f) ctx.log(`daemon log: ${f}`);
	});
	const f = ctx.companion?.saveLog(`${name}-companion`);
	if (f) ctx.log(`companion log: ${f}`);
	ctx.log(`data dir kept: ${ctx.dataDir}`);
}

/** The results table, one row per path. */
export function formatTable(rows) {
	const head = ['path', 'cycles', 'acknowledged', 'delivered', 'lost', 'duplicates', 'allowed-by-window'];
	const data = rows.map((r) => [r.name, r.cycles, r.acknowledged, r.delivered, r.lost, r.duplicates, r.allowed].map(String));
	const w = head.map((h, i) => Math.max(h.length, ...data.map((d) => d[i].length)));
	const line = (cells) => '| ' + cells.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' | ') + ' |';
	return [line(head), '|' + w.map((n, i) => (i === 0 ? '-'.repeat(n + 2) : '-'.repeat(n + 1) + ':')).join('|') + '|', ...data.map(line)].join('\n');
}
