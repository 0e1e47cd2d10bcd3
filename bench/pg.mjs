// bench/pg.mjs - the PostgreSQL rows of `make bench` (scenario "pg").
//
// A private PostgreSQL 15 cluster (tools/pg.sh: its own data directory and
// port, synchronous_commit and fsync on, as in production) on the same two
// cores as msgd and the load generator. Each run gets a fresh database:
//
//  ingest x1   signed webhooks, 64 connections, BENCH_SECONDS, one msgd
//  ingest x2   the same load split over two msgd instances sharing one
//              database (32 connections each, at the same time)
//  send x1     POST /v1/messages to a channel whose Graph API is nginx;
//              throughput and latency from the API call to provider
//              acceptance, from msgd's own records (as the SQLite rows)
//  send x2     the same split over two instances: both take API calls,
//              the channel's dispatch lease decides who sends
//
// Loss checks read the database with psql. The helpers (h) are bench.mjs's.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function cluster(h) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-bench-pg-'));
	const dsn = execFileSync('sh', ['tools/pg.sh', 'start', dir], { encoding: 'utf8' }).trim();
	const stop = () => { try { execFileSync('sh', ['tools/pg.sh', 'stop', dir], { stdio: 'ignore' }); } catch { /* gone */ } };
	process.on('exit', stop);
	let n = 0;
	// A fresh database on the cluster: its DSN.
	const fresh = (tag) => {
		const name = `bench_${tag.replace(/[^a-z0-9]/g, '_')}_${++n}`;
		h.sql({ dsn }, `CREATE DATABASE ${name}`);
		return dsn.replace(/\/[^/?]*(\?|$)/, `/${name}$1`);
	};
	h.progress(`pg: private PostgreSQL 15 cluster at ${dsn}`);
	return { dsn, fresh, stop };
}

// Runs loadgen against each instance at once (conns split between them);
// CPU is the instances' total after the warm-up. Returns per-run reports and
// a combined one (throughput summed, latency the worst instance's).
async function loadBoth(h, ms, argsFor) {
	const cpu = () => ms.reduce((s, m) => s + h.cpuSeconds(m.pid), 0);
	let cpu0 = cpu(), phaseStartMs = Date.now();
	const timer = setTimeout(() => { cpu0 = cpu(); phaseStartMs = Date.now(); }, h.WARMUP * 1000);
	const lgs = await Promise.all(ms.map((m, i) => h.loadgen(m.url, [...argsFor(m, i), '-w', String(h.WARMUP)], `loadgen ${i}`)))
		.finally(() => clearTimeout(timer));
	const worst = (k) => Math.max(...lgs.map((l) => l.latency_ms[k] ?? 0));
	const lg = {
		rps: lgs.reduce((s, l) => s + l.rps, 0), acked_total: lgs.reduce((s, l) => s + l.acked_total, 0),
		latency_ms: { p50: worst('p50'), p99: worst('p99'), p999: worst('p999') },
		status: lgs.reduce((o, l) => { for (const [k, v] of Object.entries(l.status || {})) o[k] = (o[k] || 0) + v; return o; }, {}),
		errors: lgs.reduce((o, l) => { for (const [k, v] of Object.entries(l.errors || {})) o[k] = (o[k] || 0) + v; return o; }, {}),
	};
	return { lg, lgs, cpu0, cpu_s: cpu() - cpu0, peak_rss_kb: Math.max(...ms.map((m) => h.statusKb(m.pid, 'VmHWM') || 0)), phaseStartMs, cpu };
}

// n instances on one fresh database; the channel is created on the first
// before the others start, so every instance has it from its start.
async function instances(h, pg, tag, n, channelExtra) {
	const database = pg.fresh(tag);
	const first = await h.startMsgd(`${tag}-a`, { database });
	await h.createChannel(first, channelExtra);
	const ms = [first];
	for (let i = 1; i < n; i++) ms.push(await h.startMsgd(`${tag}-${String.fromCharCode(97 + i)}`, { database }));
	return ms;
}

async function ingestRun(h, pg, n) {
	const ms = await instances(h, pg, `ingest${n}`, n, {});
	const conns = Math.round(h.CONNS / n);
	const r = await loadBoth(h, ms, () => ['-m', 'ingest', '--secret', h.SECRET, '--pnid', h.PNID, '--prefix', h.uniq(`pg${n}`),
		'-c', String(conns), '-d', String(h.SECONDS)]);
	const stored = h.sqlNumber(ms[0].db, "SELECT count(*) FROM messages WHERE direction = 'in'");
	for (const m of ms) await h.stopMsgd(m);
	r.loss = h.lossText(stored, r.lg.acked_total);
	return r;
}

async function sendRun(h, pg, graph, n) {
	const ms = await instances(h, pg, `send${n}`, n, { api_base_url: graph.url, rate_per_second: 0, enforce_window: false });
	const conns = Math.round(h.CONNS / n);
	const r = await loadBoth(h, ms, () => ['-m', 'send', '--channel', 'bench', '-c', String(conns), '-d', String(h.SECONDS), '-H', h.AUTH]);
	const left = await h.drainOutbox(ms[0].db);
	r.cpu_s = r.cpu() - r.cpu0;
	r.acceptance = h.acceptance(ms[0].db, r.phaseStartMs);
	r.loss = h.sendLoss(ms[0].db, r.lg.acked_total, left);
	// Exactly once: one 'accepted' status per message, whoever sent it.
	r.twice = h.sqlNumber(ms[0].db, `SELECT count(*) FROM (SELECT message_id FROM statuses WHERE status = 'accepted'
		AND provider_message_id IS NULL GROUP BY message_id HAVING count(*) > 1) AS t`);
	for (const m of ms) await h.stopMsgd(m);
	return r;
}

export async function pg(h) {
	const pgc = cluster(h);
	try {
		const rows = [], details = {};
		const clean = (r) => h.non2xx(r.lg) === 0 && h.lgErrors(r.lg) === 0;
		const ingest = {};
		for (const n of [1, 2]) {
			h.progress(`pg: ingest, ${n} instance(s)`);
			const r = ingest[n] = details[`ingest_${n}`] = await ingestRun(h, pgc, n);
			const slower = n === 2 && r.lg.rps < 0.95 * ingest[1].lg.rps;
			rows.push(h.row('pg', `PostgreSQL: signed webhooks, ${n} instance${n > 1 ? 's' : ''}, ${h.CONNS} conns`, {
				...h.fromLoadgen(r), loss: r.loss, target: n === 1 ? '>=10,000/s, no loss' : '>= 1 instance, no loss',
				met: (n === 1 ? r.lg.rps >= 10000 : !slower) && r.loss.startsWith('ok') && clean(r) }));
		}
		const graph = await h.startNginx('fake-graph-nginx.conf', 'pg-graph');
		const send = {};
		for (const n of [1, 2]) {
			h.progress(`pg: send, ${n} instance(s)`);
			const r = send[n] = details[`send_${n}`] = await sendRun(h, pgc, graph, n);
			const a = r.acceptance;
			const slower = n === 2 && a.throughput < 0.95 * send[1].acceptance.throughput;
			const loss = r.loss.text + (r.twice ? `, ${r.twice} accepted twice` : '');
			rows.push(h.row('pg', `PostgreSQL: call -> provider acceptance, ${n} instance${n > 1 ? 's' : ''} (${a.accepted} msgs)`, {
				throughput: h.round(a.throughput, 1), p50: a.latency_ms.p50, p99: a.latency_ms.p99, p999: a.latency_ms.p999,
				cpu_s: h.round(r.cpu_s), rss_kb: r.peak_rss_kb, loss,
				target: n === 1 ? '>=5,000 msg/s, no loss' : '>= 1 instance, no loss',
				met: (n === 1 ? a.throughput >= 5000 : !slower) && loss === 'ok' }));
		}
		await h.stop(graph.child);
		return { rows, details };
	} finally {
		pgc.stop();
	}
}
