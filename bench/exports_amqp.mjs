// bench/exports_amqp.mjs - the lag of a RabbitMQ export (kind "amqp",
// src/hooks/sink_amqp.c) while msgd ingests signed WhatsApp webhooks at a
// fixed rate (the load `make bench`'s ingest scenario sustains).
//
//   node bench/exports_amqp.mjs        (after make build/msgd build/bench/loadgen)
//
// A release msgd (env MSGD, default build/msgd) on SQLite in a temp dir, a
// private rabbitmq-server (tests/e2e/rabbit.mjs), an export of every event
// into a durable queue wa_messages drained by a consumer; loadgen -m ingest
// open loop at BENCH_RATE webhooks/s (default 14000) for BENCH_SECONDS (10).
// Samples GET /v1/exports/{id} every 250 ms: the lag (events not yet
// confirmed by the broker), its peak and how long after the load it is 0.
// Then the capacity: a second export (into a durable queue of its own) made
// with since 0 drains the whole log with no ingest running.
// Prints a table and one JSON line. Node 18+, tests/e2e's npm packages.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { startRabbit, consumer } from '../tests/e2e/rabbit.mjs';
import { freePort, request, waitFor } from '../tests/e2e/lib.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MSGD = path.resolve(ROOT, process.env.MSGD || 'build/msgd');
const LOADGEN = path.resolve(ROOT, process.env.LOADGEN || 'build/bench/loadgen');
const RATE = Number(process.env.BENCH_RATE || 14000);
const SECONDS = Number(process.env.BENCH_SECONDS || 10);
const TOKEN = 'bench-admin-' + crypto.randomBytes(12).toString('hex');
const SECRET = 'bench-app-secret-' + crypto.randomBytes(12).toString('hex');
const PNID = 'bench-number';
const SAMPLE_MS = 250;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-bench-amqp-'));
const procs = [];
process.on('exit', () => { for (const p of procs) try { p.kill('SIGKILL'); } catch { /* gone */ } });

const api = (url, method, p, body) => request(url, method, p, body, { authorization: `Bearer ${TOKEN}` });

async function main() {
	const rabbit = await startRabbit();
	let m;
	let c;
	try {
		const port = await freePort();
		const url = `http://127.0.0.1:${port}`;
		const log = fs.openSync(path.join(dir, 'msgd.log'), 'a');
		m = spawn('sh', ['-c', 'ulimit -n 65536 2>/dev/null; exec "$0" "$@"', MSGD, 'serve', '--listen', `127.0.0.1:${port}`,
			'--data', path.join(dir, 'data')], { env: { ...process.env, MSGD_ADMIN_TOKEN: TOKEN, MSGD_LOG_LEVEL: 'warn',
			MSGD_CREDENTIAL_CHECKS: 'off', MSGD_MEDIA_FETCH: 'off' }, stdio: ['ignore', log, log] });
		procs.push(m);
		await waitFor(async () => (await request(url, 'GET', '/healthz')).status === 200, 10_000, { what: 'msgd up' });
		let r = await api(url, 'POST', '/v1/channels', { name: 'bench', type: 'whatsapp_cloud', config: {
			phone_number_id: PNID, access_token: 'x', verify_token: 'y', app_secret: SECRET } });
		if (r.status !== 201) throw new Error(`channel: ${r.status} ${r.text}`);
		r = await api(url, 'POST', '/v1/exports', { kind: 'amqp', events: ['*'], config: { url: rabbit.url, queue: 'wa_messages' } });
		if (r.status !== 201) throw new Error(`export: ${r.status} ${r.text}`);
		const id = r.json.id;
		await waitFor(async () => (await api(url, 'GET', `/v1/exports/${id}`)).json.state.connected, 20_000, { what: 'export connected' });
		c = consumer(rabbit.url, 'wa_messages', { keep: false, prefetch: 2000 });
		await waitFor(() => c.connected, 20_000, { what: 'consumer' });

		const samples = [];
		let sampling = true;
		const t0 = Date.now();
		const sampler = (async () => {
			while (sampling) {
				const x = await api(url, 'GET', `/v1/exports/${id}`);
				samples.push({ t: Date.now() - t0, lag: x.json.lag, seq: x.json.delivered_seq });
				await new Promise((ok) => setTimeout(ok, SAMPLE_MS));
			}
		})();
		const lg = spawn(LOADGEN, ['-u', url, '-m', 'ingest', '--secret', SECRET, '--pnid', PNID,
			'--prefix', 'amqp' + crypto.randomBytes(4).toString('hex'), '-c', '64', '-w', '0', '-d', String(SECONDS), '-R', String(RATE)],
			{ stdio: ['ignore', 'pipe', 'ignore'] });
		procs.push(lg);
		let out = '';
		lg.stdout.on('data', (b) => { out += b; });
		await new Promise((ok) => lg.on('close', ok));
		const loadEnd = Date.now() - t0;
		const rep = JSON.parse(out);
		await waitFor(async () => (await api(url, 'GET', `/v1/exports/${id}`)).json.lag === 0, 300_000,
			{ what: 'lag back to 0', intervalMs: 100 });
		const zeroAt = Date.now() - t0;
		sampling = false;
		await sampler;
		// Capacity: a second export of the whole log (since 0), drained
		// with no ingest running.
		const head = samples.at(-1).seq;
		r = await api(url, 'POST', '/v1/exports', { kind: 'amqp', events: ['*'], since: 0,
			config: { url: rabbit.url, exchange: 'msgd_backlog', queue: 'wa_backlog' } });
		if (r.status !== 201) throw new Error(`backlog export: ${r.status} ${r.text}`);
		const b0 = Date.now();
		await waitFor(async () => (await api(url, 'GET', `/v1/exports/${r.json.id}`)).json.lag === 0, 600_000,
			{ what: 'backlog drained', intervalMs: 50 });
		const backlogMs = Date.now() - b0;
		const during = samples.filter((s) => s.t <= loadEnd);
		const peak = Math.max(...samples.map((s) => s.lag));
		const first = samples[0].seq;
		const last = samples.at(-1).seq;
		const res = {
			rate_target: RATE, seconds: SECONDS, webhooks_acked: rep.acked_total,
			ingest_per_s: Math.round(rep.acked_total / (loadEnd / 1000)),
			lag_peak: peak, lag_p50_during: during.map((s) => s.lag).sort((a, b) => a - b)[Math.floor(during.length / 2)],
			lag_at_load_end: during.at(-1)?.lag, zero_after_load_ms: zeroAt - loadEnd,
			exported_per_s: Math.round((last - first) / ((samples.at(-1).t - samples[0].t) / 1000)),
			consumed: c.count,
			backlog_events: head, backlog_drain_ms: backlogMs,
			backlog_exported_per_s: Math.round(head / (backlogMs / 1000)),
		};
		console.log('| metric | value |\n|---|---:|');
		for (const [k, v] of Object.entries(res)) console.log(`| ${k} | ${v} |`);
		console.log('lag samples (ms: lag): ' + samples.filter((_, i) => i % 4 === 0).map((s) => `${s.t}: ${s.lag}`).join(', '));
		console.log(JSON.stringify(res));
	} finally {
		if (c) await c.stop();
		if (m) { m.kill('SIGTERM'); await new Promise((ok) => (m.exitCode !== null ? ok() : m.on('close', ok))); }
		await rabbit.stop();
		fs.rmSync(dir, { recursive: true, force: true });
	}
}

await main();
