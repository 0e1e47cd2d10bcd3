// bench/export.mjs - scenario "export" of `make bench` (issue 15): event
// exports under the ingest load of scenario "ingest".
//
// A private nats-server with JetStream (a stream takes msgd.>: every event
// is published with an acknowledgement) and a private rabbitmq-server
// (tests/e2e/rabbit.mjs: publisher confirms into a durable queue, drained by
// a consumer). One msgd with an export of every event to each; then:
//  1. load: loadgen -m ingest, 64 connections, closed loop, BENCH_SECONDS
//     after the warm-up (as the ingest row, with both exports on). Each
//     export's lag (events after its cursor, GET /v1/exports/{id} every
//     200 ms) during the load: median, p99, maximum; and the time from the
//     end of the load until it is 0. Loss: the stream and the consumer hold
//     every event of the log.
//  2. capacity: with no load, a new export of each kind made with since 0
//     sends the whole log again; events/s until its lag is 0.
// The /metrics text after the load is saved as
// bench/results/metrics-sample.txt. The helpers (h) are bench.mjs's.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const SAMPLE_MS = 200;
const DRAIN_DEADLINE_MS = 300_000;

// The npm clients of the e2e suite (make e2e-npm).
const requireE2e = createRequire(path.resolve('tests/e2e/package.json'));

// CPU seconds of pid and its descendants (the brokers run under wrappers).
function treeCpu(h, pid) {
	const kids = new Map();
	for (const e of fs.readdirSync('/proc')) {
		if (!/^\d+$/.test(e)) continue;
		try {
			const st = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
			const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
			if (!kids.has(ppid)) kids.set(ppid, []);
			kids.get(ppid).push(Number(e));
		} catch { /* gone */ }
	}
	let sum = 0;
	for (const todo = [pid]; todo.length;) {
		const p = todo.pop();
		try { sum += h.cpuSeconds(p); } catch { /* gone */ }
		todo.push(...(kids.get(p) ?? []));
	}
	return sum;
}

function stats(xs) {
	const v = [...xs].sort((a, b) => a - b);
	const at = (q) => (v.length ? v[Math.min(v.length - 1, Math.ceil(q * v.length) - 1)] : null);
	return { p50: at(0.5), p99: at(0.99), max: v.length ? v[v.length - 1] : null, samples: v.length };
}

async function startNats(h) {
	const dir = h.tmpDir('nats');
	const port = await h.freePort();
	const child = h.start('nats-server', 'nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir],
		{ logFile: path.join(dir, 'nats.log') });
	await h.waitForPort(port, child);
	const { connect } = requireE2e('nats');
	const nc = await connect({ servers: `127.0.0.1:${port}` });
	const jsm = await nc.jetstreamManager();
	// A stream per phase: JetStream deduplicates by Nats-Msg-Id, and each
	// phase's msgd numbers its exports and events from 1 again.
	const nats = { url: `nats://127.0.0.1:${port}`, close: () => nc.close(), prefix: 'msgd0', pid: child.proc.pid,
		async phase(n) {
			this.prefix = `msgd${n}`;
			await jsm.streams.add({ name: `MSGD${n}`, subjects: [`${this.prefix}.>`] });
			await jsm.streams.add({ name: `CAPACITY${n}`, subjects: [`capacity${n}.>`] });
		},
		held: async () => (await jsm.streams.info(`MSGD${nats.prefix.slice(4)}`)).state.messages };
	return nats;
}

async function startRabbit(h) {
	const { startRabbit: start, consumer } = await import(path.resolve('tests/e2e/rabbit.mjs'));
	const rabbit = await start();
	const c = consumer(rabbit.url, 'bench_events', { keep: false, prefetch: 2000 });
	return { url: rabbit.url, held: async () => c.count, consumer: c, pid: rabbit.proc.pid,
		close: async () => { await c.stop(); await rabbit.stop(); } };
}

// Until export id's lag is 0; seconds since t0.
async function drained(h, m, id, t0) {
	for (;;) {
		const e = await h.api(m.port, 'GET', `/v1/exports/${id}`);
		if (e.lag === 0) return (performance.now() - t0) / 1000;
		if (performance.now() - t0 > DRAIN_DEADLINE_MS) throw new Error(`export ${id} still lags ${e.lag} after ${DRAIN_DEADLINE_MS} ms`);
		await h.sleep(20);
	}
}

// One msgd under the ingest load with exports to the given brokers (none:
// the baseline); capacity: then send the whole log again to each.
async function phase(h, label, brokers, { capacity = false, sample = false } = {}) {
	const m = await h.startMsgd(`export-${brokers.length}`);
	try {
		await h.createChannel(m);
		for (const x of brokers) {
			const made = await h.api(m.port, 'POST', '/v1/exports', x.create);
			x.id = made.id;
			x.start = made.delivered_seq;  /* it exports what comes after */
			for (const t0 = performance.now(); !(await h.api(m.port, 'GET', `/v1/exports/${x.id}`)).state.connected;) {
				if (performance.now() - t0 > 20_000) throw new Error(`${x.name} export not connected`);
				await h.sleep(50);
			}
			x.lags = [];
			x.held0 = await x.b.held();
		}
		h.progress(`export: ingest load, ${label}`);
		let sampling = false, stopSampling = false;
		const warm = setTimeout(() => { sampling = true; }, h.WARMUP * 1000);
		const sampler = (async () => {
			while (!stopSampling && brokers.length) {
				for (const x of brokers) {
					const e = await h.api(m.port, 'GET', `/v1/exports/${x.id}`).catch(() => null);
					if (e && sampling) x.lags.push(e.lag);
				}
				await h.sleep(SAMPLE_MS);
			}
		})();
		const args = ['-m', 'ingest', '--secret', h.SECRET, '--pnid', h.PNID, '--prefix', h.uniq('export'), '-c', String(h.CONNS),
			'-d', String(h.SECONDS)];
		const cpu0 = brokers.map((x) => treeCpu(h, x.b.pid));
		const load = await h.measuredLoad(m.pid, m.url, args).finally(() => clearTimeout(warm));
		brokers.forEach((x, i) => { x.cpu = treeCpu(h, x.b.pid) - cpu0[i]; });
		stopSampling = true;
		await sampler;
		const end = performance.now();
		for (const x of brokers)
			x.drain = await drained(h, m, x.id, end);
		if (sample) {
			try {
				const res = await fetch(`${m.url}/metrics`, { headers: { authorization: `Bearer ${h.TOKEN}` } });
				if (res.ok) {
					fs.mkdirSync('bench/results', { recursive: true });
					fs.writeFileSync('bench/results/metrics-sample.txt', await res.text());
				}
			} catch { /* no sample: not this scenario's row */ }
		}
		const rows = [h.row('export', `ingest, ${h.CONNS} conns, ${label}`, {
			...h.fromLoadgen({ lg: load.lg, cpu_s: load.cpu_s, peak_rss_kb: load.peak_rss_kb }),
			loss: h.lossText(h.sqlNumber(m.db, "SELECT count(*) FROM messages WHERE direction = 'in'"), load.lg.acked_total) })];
		for (const x of brokers) {
			const want = h.sqlNumber(m.db, `SELECT count(*) FROM events WHERE seq > ${x.start} AND type NOT LIKE 'audit.%'`);
			// A consumer may still be taking the last confirmed messages.
			for (const t0 = performance.now(); (await x.b.held()) - x.held0 < want && performance.now() - t0 < 30_000;)
				await h.sleep(50);
			const held = (await x.b.held()) - x.held0;
			const s = stats(x.lags);
			const loss = held >= want ? `ok (${held} of ${want} events)` : `LOST ${want - held}`;
			rows.push(h.row('export', `${x.name}: lag p50 ${s.p50}, p99 ${s.p99}, max ${s.max} events; 0 ${h.round(x.drain, 2)} s after; `
				+ `broker CPU ${h.round(x.cpu, 1)} s`,
				{ loss, target: 'keeps up (0 < 5 s after), no loss', met: loss.startsWith('ok') && x.drain < 5 }));
		}
		if (capacity) {
			const events = h.sqlNumber(m.db, "SELECT count(*) FROM events WHERE type NOT LIKE 'audit.%'");
			h.progress(`export: capacity (the whole log, ${events} events, again)`);
			for (const x of brokers) {
				const t0 = performance.now();
				const id = (await h.api(m.port, 'POST', '/v1/exports', x.capacity)).id;
				x.capacity_s = await drained(h, m, id, t0);
				rows.push(h.row('export', `${x.name}: a backlog of ${events} events sent`, { throughput: h.round(events / x.capacity_s, 0) }));
			}
		}
		return { rows, load: load.lg };
	} finally {
		await h.stopMsgd(m);
	}
}

export async function exportScenario(h) {
	const nats = await startNats(h);
	const rabbit = await startRabbit(h);
	const NATS = (n) => ({ name: 'NATS JetStream', b: nats,
		create: { kind: 'nats', events: ['*'], config: { url: nats.url, subject_prefix: `msgd${n}` } },
		capacity: { kind: 'nats', events: ['*'], since: 0, config: { url: nats.url, subject_prefix: `capacity${n}` } } });
	const RABBIT = { name: 'RabbitMQ', b: rabbit,
		create: { kind: 'amqp', events: ['*'], config: { url: rabbit.url, exchange: 'msgd', queue: 'bench_events' } },
		capacity: { kind: 'amqp', events: ['*'], since: 0, config: { url: rabbit.url, exchange: 'capacity', queue: 'capacity_events' } } };
	try {
		const base = await phase(h, 'no export (the baseline, brokers idle)', []);
		await nats.phase(1);
		const one = await phase(h, 'a NATS JetStream export', [NATS(1)], { sample: true });
		await nats.phase(2);
		const both = await phase(h, 'NATS JetStream and RabbitMQ exports', [NATS(2), RABBIT], { capacity: true });
		return { rows: [...base.rows, ...one.rows, ...both.rows], details: { baseline: base.load, nats: one.load, both: both.load } };
	} finally {
		await nats.close();
		await rabbit.close();
	}
}
