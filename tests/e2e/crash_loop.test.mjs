// Crash loops, short: a few kill -9 cycles on every durable path under load
// (tests/crash/: the driver and one module per path; `make crash-loop` runs
// the long version). Nothing acknowledged is lost; duplicates stay within
// the documented window. CRASH_SEED replays a failing run. On PostgreSQL
// (make test-pg) the send and channels paths run with two msgd instances on one database.
import { describe, test } from 'node:test';
import { runCrashLoop, formatTable, newSeed } from '../crash/driver.mjs';
import * as send from '../crash/path_send.mjs';
import * as hooks from '../crash/path_hooks.mjs';
import * as channels from '../crash/path_channels.mjs';
import * as campaigns from '../crash/path_campaigns.mjs';  // issue 14
import * as exports_ from '../crash/path_exports.mjs';  // issue 15 (h15sink)
import * as exports_amqp from '../crash/path_exports_amqp.mjs';  // issue 15, h15amqp: RabbitMQ exports

const CYCLES = Number(process.env.CRASH_TEST_CYCLES ?? 8);
const PG = (process.env.MSGD_TEST_DATABASE || '').startsWith('postgres');
const SEED = process.env.CRASH_SEED ? Number(process.env.CRASH_SEED) : newSeed();

describe('crash loops', () => {
	for (const mod of [send, hooks, channels, campaigns, exports_,
		exports_amqp]) {
		// No upper time bound of substance: a slow machine only makes it slower.
		// On PostgreSQL the send and channels paths run with two instances sharing the database.
		const instances = PG && (mod === send || mod === channels) ? 2 : 1;
		test(`${mod.name}${instances > 1 ? ' (two instances)' : ''}: ${CYCLES} kill -9 cycles under load → nothing acknowledged lost, duplicates within the window`, { timeout: 900_000 }, async (t) => {
			const lines = [];
			const r = await runCrashLoop(mod, { cycles: CYCLES, seed: SEED, instances, log: (m) => lines.push(m) });
			t.diagnostic(`seed ${SEED} (CRASH_SEED=${SEED} replays it); kill points ${JSON.stringify(r.points)}`);
			for (const n of r.notes) t.diagnostic(n);
			for (const l of formatTable([r]).split('\n')) t.diagnostic(l);
			if (r.problems.length)
				throw new Error(`crash loop ${mod.name} (seed ${SEED}):\n${r.problems.join('\n')}\n${lines.join('\n')}`);
		});
	}
});
