// bench/export.mjs - scenario "export" of `make bench` (issue 15): the
// ingest load of scenario "ingest" (signed webhooks, 64 connections,
// BENCH_SECONDS after the warm-up) with an event export to a private
// nats-server (JetStream: a stream takes msgd.>, so every event is published
// with an acknowledgement) and, when the private RabbitMQ of the e2e suite
// can start (tests/e2e/rabbit.mjs), to RabbitMQ with publisher confirms and
// a durable queue.
//
// Measured: ingest throughput with the export on; the export's lag (events
// after its cursor, GET /v1/exports/{id}, sampled every 200 ms during the
// load): median, p99 and maximum; the time from the end of the load until
// the lag is 0; and a check that the broker holds every event of the log
// (the stream's message count, the queue's depth). The /metrics text after
// the load is saved beside the results (bench/results/metrics-sample.txt).
// The helpers (h) are bench.mjs's.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const SAMPLE_MS = 200;
const DRAIN_DEADLINE_MS = 120_000;

// The npm clients of the e2e suite (make e2e-npm).
const requireE2e = createRequire(path.resolve('tests/e2e/package.json'));

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
	await jsm.streams.add({ name: 'MSGD', subjects: ['msgd.>'] });
	return { url: `nats://127.0.0.1:${port}`, count: async () => (await jsm.streams.info('MSGD')).state.messages,
		close: () => nc.close() };
}

async function startRabbit(h) {
	let rabbit;
	try {
		const mod = await import(path.resolve('tests/e2e/rabbit.mjs'));
		rabbit = await mod.startRabbit();
	} catch (e) {
		h.progress(`export: no RabbitMQ (${String(e.message).split('\n')[0]}); NATS only`);
		return null;
	}
	const amqp = requireE2e('amqplib');
	const conn = await amqp.connect(rabbit.url);
	const ch = await conn.createChannel();
	return { url: rabbit.url, queue: 'bench_events',
		count: async () => (await ch.checkQueue('bench_events')).messageCount,
		close: async () => { await conn.close().catch(() => {}); await rabbit.stop(); } };
}

// One load run with the given exports; returns its rows.
async function run(h, tag, brokers) {
	const m = await h.startMsgd(`export-${tag}`);
	await h.createChannel(m);
	const ids = [];
	for (const b of brokers)
		ids.push((await h.api(m.port, 'POST', '/v1/exports', b.create)).id);
	const lags = ids.map(() => []);
	let sampling = true;
	const sampler = (async () => {
		while (sampling) {
			for (let i = 0; i < ids.length; i++) {
				const e = await h.api(m.port, 'GET', `/v1/exports/${ids[i]}`).catch(() => null);
				if (e) lags[i].push(e.lag);
			}
			await h.sleep(SAMPLE_MS);
		}
	})();
	const args = ['-m', 'ingest', '--secret', h.SECRET, '--pnid', h.PNID, '--prefix', h.uniq(tag), '-c', String(h.CONNS),
		'-d', String(h.SECONDS)];
	const load = await h.measuredLoad(m.pid, m.url, args);
	sampling = false;
	await sampler;
	const end = performance.now();
	const drain = [];
	for (let i = 0; i < ids.length; i++) {
		for (;;) {
			const e = await h.api(m.port, 'GET', `/v1/exports/${ids[i]}`);
			if (e.lag === 0) break;
			if (performance.now() - end > DRAIN_DEADLINE_MS) throw new Error(`export ${brokers[i].name} still lags ${e.lag} after ${DRAIN_DEADLINE_MS} ms`);
			await h.sleep(20);
		}
		drain.push((performance.now() - end) / 1000);
	}
	const events = h.sqlNumber(m.db, 'SELECT count(*) FROM events');
	try {
		const res = await fetch(`${m.url}/metrics`, { headers: { authorization: `Bearer ${h.TOKEN}` } });
		if (res.ok) {
			fs.mkdirSync('bench/results', { recursive: true });
			fs.writeFileSync('bench/results/metrics-sample.txt', await res.text());
		}
	} catch { /* no metrics: not this scenario's row */ }
	await h.stopMsgd(m);
	const rows = [];
	for (let i = 0; i < brokers.length; i++) {
		const s = stats(lags[i]);
		const held = await brokers[i].count();
		const loss = held >= events ? `ok (${held} of ${events} events held)` : `LOST ${events - held}`;
		rows.push(h.row('export', `ingest with a ${brokers[i].name} export: lag p50 ${s.p50}, p99 ${s.p99}, max ${s.max} events; `
			+ `0 ${h.round(drain[i], 2)} s after the load`, { ...h.fromLoadgen({ lg: load.lg, cpu_s: load.cpu_s, peak_rss_kb: load.peak_rss_kb }),
			loss, target: 'keeps up, no loss', met: loss.startsWith('ok') && drain[i] < 5 }));
	}
	return { rows, details: { lags, drain, events, load: load.lg } };
}

export async function exportScenario(h) {
	const nats = await startNats(h);
	const rabbit = await startRabbit(h);
	const brokers = [{ name: 'NATS JetStream', count: nats.count,
		create: { kind: 'nats', events: ['*'], config: { url: nats.url } } }];
	if (rabbit)
		brokers.push({ name: 'RabbitMQ', count: rabbit.count,
			create: { kind: 'amqp', events: ['*'], config: { url: rabbit.url, exchange: 'msgd', queue: rabbit.queue, binding_key: '#' } } });
	try {
		return await run(h, 'both', brokers);
	} finally {
		await nats.close();
		if (rabbit) await rabbit.close();
	}
}
