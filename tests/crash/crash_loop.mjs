// crash_loop.mjs - kill -9 msgd over and over under load, on every durable
// path, and check that nothing acknowledged is lost and that duplicates stay
// within the documented window (docs/ARCHITECTURE.md, "The exactly-once
// window"; docs/RELIABILITY.md, "Crash loops").
//
//   node tests/crash/crash_loop.mjs            (make crash-loop)
//
// Env: CRASH_CYCLES (kills per path, default 50), CRASH_SEED (the PRNG seed;
// random and printed by default, so a failing run can be replayed),
// CRASH_PATHS (comma-separated, default every path), MSGD_BIN (default
// build/test/msgd; make crash-loop uses the release build build/msgd),
// MSGD_TEST_DATABASE (a postgres:// DSN of a cluster: PostgreSQL, the send
// and channels paths with two instances; default SQLite).
//
// The harness is driver.mjs (spawn, kill, restart, seeded randomness, the
// table); each durable path is one module (path_send.mjs, path_hooks.mjs)
// exporting {setup, load, verify, ...}: driver.mjs's header says what a new
// path (campaigns, exports, a second storage backend) must export. Add it to
// PATHS below and to tests/e2e/crash_loop.test.mjs.
import * as send from './path_send.mjs';
import * as hooks from './path_hooks.mjs';
import * as channels from './path_channels.mjs';
import * as campaigns from './path_campaigns.mjs';  // issue 14
import * as exports_ from './path_exports.mjs';  // issue 15 (h15sink)
import * as exports_amqp from './path_exports_amqp.mjs';  // issue 15, h15amqp: RabbitMQ exports
import { runCrashLoop, formatTable, newSeed } from './driver.mjs';

export const PATHS = { send, hooks, channels, campaigns, exports: exports_,
	exports_amqp };
// On PostgreSQL these run with two instances (the companion takes over
// sends, and the polling channel's lease, while the killed one is down).
export const PAIRED = ['send', 'channels'];

const cycles = Number(process.env.CRASH_CYCLES ?? 50);
const seed = process.env.CRASH_SEED ? Number(process.env.CRASH_SEED) : newSeed();
// MSGD_TEST_DATABASE=postgres://... (a cluster, as make test-pg sets it):
// each path on a database of its own there, send and channels with two instances.
const pg = (process.env.MSGD_TEST_DATABASE || '').startsWith('postgres');
const names = (process.env.CRASH_PATHS ?? Object.keys(PATHS).join(',')).split(',').filter(Boolean);
if (!Number.isInteger(cycles) || cycles < 1 || !Number.isInteger(seed) || names.some((n) => !PATHS[n])) {
	console.error(`crash_loop: CRASH_CYCLES must be >= 1, CRASH_SEED an integer, CRASH_PATHS among ${Object.keys(PATHS)}`);
	process.exit(2);
}
console.log(`crash loop: seed ${seed} (CRASH_SEED=${seed} replays it), ${cycles} cycles per path, msgd ${process.env.MSGD_BIN ?? 'build/test/msgd'}`);
const rows = [];
let failed = false;
for (const n of names) {
	const t0 = Date.now();
	let r;
	try {
		r = await runCrashLoop(PATHS[n], { cycles, seed, instances: pg && PAIRED.includes(n) ? 2 : 1 });
	} catch (e) {
		console.error(`[crash ${n}] harness stopped: ${e.stack ?? e}`);
		failed = true;
		continue;
	}
	rows.push(r);
	console.log(`[crash ${n}] ${((Date.now() - t0) / 1000).toFixed(0)} s; kill points: ${JSON.stringify(r.points)}`);
	for (const x of r.notes) console.log(`[crash ${n}] ${x}`);
	for (const x of r.problems) console.log(`[crash ${n}] PROBLEM: ${x}`);
	if (r.problems.length) failed = true;
}
console.log('\n' + formatTable(rows));
console.log(failed ? '\ncrash loop: FAILED' : '\ncrash loop: passed');
process.exit(failed ? 1 : 0);
