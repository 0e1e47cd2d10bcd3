// GET /metrics (Prometheus text format 0.0.4) and GET /health (issue 15).
//
// The text is parsed with a real parser (npm parse-prometheus-text-format):
// every scrape must parse, and the values must move as the test does
// things: a webhook ingested, a bad signature, a duplicate, a send through
// the fake Graph API, HTTP route counters, the store's commit histograms,
// an SSE subscriber, the process gauges; /metrics needs the platform
// permission unless metrics_public is on; /health answers the seeds' shape
// and shows an open breaker.
//
// The parser flattens a histogram's label sets into one (it handles
// unlabeled histograms only), so hist() hands it one label set at a time,
// with those labels taken off: still its parser, one series at a time.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import {
	msgdTest, waitFor, assertError, assertStatus, createWaChannel, postWebhook, waMessageBody,
	followStream, waitMessage,
} from './lib.mjs';
import { sendSetup, serverError } from './fake_graph.mjs';
import { wsConnect } from './wsclient.mjs';

const require = createRequire(import.meta.url);
const parsePrometheus = require('parse-prometheus-text-format');

/** GET /metrics with the admin token: { text, families: Map name -> family }. */
async function scrape(d, headers) {
	const r = headers ? await d.anon('GET', '/metrics', undefined, headers) : await d.api('GET', '/metrics');
	assertStatus(r, 200, 'GET /metrics');
	assert.equal(r.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
	const families = new Map();
	for (const f of parsePrometheus(r.text)) {
		assert.ok(!families.has(f.name), `family ${f.name} twice`);
		families.set(f.name, f);
	}
	return { text: r.text, families };
}

/** The value of the sample of family `name` whose labels include `labels`
 *  (undefined when there is none); asserts at most one matches. */
function value(m, name, labels = {}) {
	const f = m.families.get(name);
	assert.ok(f, `no family ${name} in:\n${m.text.slice(0, 2000)}`);
	const hits = f.metrics.filter((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
	assert.ok(hits.length <= 1, `${name} ${JSON.stringify(labels)} matches ${hits.length} samples`);
	return hits.length ? Number(hits[0].value) : undefined;
}

/** A histogram series (the label set `labels`, written in the order msgd
 *  writes them): { buckets: {le: n}, count, sum }, parsed by the parser. */
function hist(m, name, labels = {}) {
	const set = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',');
	const lines = [];
	for (const line of m.text.split('\n')) {
		const mm = line.match(/^([a-z_]+)(?:\{(.*)\})? (.*)$/);
		if (!mm || ![`${name}_bucket`, `${name}_sum`, `${name}_count`].includes(mm[1])) continue;
		const rest = mm[2] ?? '';
		if (set && !(rest === set || rest.startsWith(set + ','))) continue;
		if (!set && rest !== '' && !rest.startsWith('le=')) continue;
		const left = set ? rest.slice(set.length).replace(/^,/, '') : rest;
		lines.push(`${mm[1]}${left ? `{${left}}` : ''} ${mm[3]}`);
	}
	assert.ok(lines.length > 0, `no histogram ${name}{${set}}`);
	const [f] = parsePrometheus(`# TYPE ${name} histogram\n${lines.join('\n')}\n`);
	const s = f.metrics[0];
	return { buckets: s.buckets, count: Number(s.count), sum: Number(s.sum) };
}

async function waitMetric(d, what, pred, deadlineMs = 10_000) {
	return waitFor(async () => {
		const m = await scrape(d);
		return pred(m) ? m : false;
	}, deadlineMs, { what });
}

describe('GET /metrics and GET /health', () => {
	msgdTest('webhooks, HTTP routes, commits, streams and the process, as Prometheus text', async (h) => {
		const d = await h.start();
		// Without a token: 401 (the platform permission by default).
		assertError(await d.anon('GET', '/metrics'), 401, 'unauthorized');
		const m0 = await scrape(d);
		const pnid = 'PNIDM1';
		const ch = await createWaChannel(d.api, 'wa-metrics', pnid);
		const labels = { channel_id: String(ch.id), channel: 'wa-metrics', type: 'whatsapp_cloud' };
		const hook = (outcome) => ({ type: 'whatsapp_cloud', outcome });
		assert.equal(value(m0, 'msgd_webhook_requests_total', hook('accepted')), 0);
		const ingest0 = hist(m0, 'msgd_processing_duration_seconds', { stage: 'ingest' }).count;
		const commits0 = hist(m0, 'msgd_store_commit_duration_seconds').count;

		const body = waMessageBody({ pnid, id: 'wamid.metrics.1', text: 'count me' });
		assertStatus(await postWebhook(d.url, body), 200, 'signed webhook');
		assertStatus(await postWebhook(d.url, body), 200, 'the same again');
		assertError(await postWebhook(d.url, body, 'not_the_secret'), 403, 'forbidden');
		assertError(await postWebhook(d.url, body, null), 401, 'unauthorized');
		assertStatus(await postWebhook(d.url, '{"object":'), 400, 'malformed');
		assertError(await postWebhook(d.url, Buffer.alloc(1100 * 1024, 0x20)), 413, 'body_too_large');

		const m1 = await scrape(d);
		assert.equal(value(m1, 'msgd_webhook_requests_total', hook('accepted')), 1);
		assert.equal(value(m1, 'msgd_webhook_requests_total', hook('duplicate')), 1);
		assert.equal(value(m1, 'msgd_webhook_requests_total', hook('bad_signature')), 2);
		assert.equal(value(m1, 'msgd_webhook_requests_total', hook('invalid')), 1);
		assert.equal(value(m1, 'msgd_webhook_requests_total', hook('too_large')), 1);
		const received = { ...labels, direction: 'inbound', status: 'received' };
		assert.equal(value(m1, 'msgd_messages_processed_total', received), 1);
		assert.equal(value(m1, 'message_service_processed_total', received), 1);
		const ingest = hist(m1, 'msgd_processing_duration_seconds', { stage: 'ingest' });
		assert.equal(ingest.count, ingest0 + 2, 'both committed webhooks timed');
		assert.equal(Number(ingest.buckets['+Inf']), ingest.count);
		assert.ok(ingest.sum > 0);
		assert.equal(hist(m1, 'message_service_processing_duration_seconds', { stage: 'ingest' }).count, ingest.count);
		// The store's writer counted its groups (the channel, both webhooks).
		const commits = hist(m1, 'msgd_store_commit_duration_seconds');
		assert.ok(commits.count >= commits0 + 3, `commits ${commits0} -> ${commits.count}`);
		const groups = hist(m1, 'msgd_store_group_size');
		assert.equal(groups.count, commits.count, 'one group per commit');
		assert.ok(groups.sum >= groups.count, 'a group holds at least one op');
		// HTTP: by route pattern and status, with a latency histogram.
		const route = (r, method, status) => ({ route: r, method, status: String(status) });
		assert.equal(value(m1, 'msgd_http_requests_total', route('/webhooks/*', 'POST', 200)), 2);
		assert.equal(value(m1, 'msgd_http_requests_total', route('/webhooks/*', 'POST', 403)), 1);
		assert.equal(value(m1, 'msgd_http_requests_total', route('/webhooks/*', 'POST', 401)), 1);
		assert.equal(value(m1, 'msgd_http_requests_total', route('/v1/channels', 'POST', 201)), 1);
		assert.equal(value(m1, 'msgd_http_requests_total', route('/metrics', 'GET', 401)), 1);
		assert.ok(value(m1, 'msgd_http_requests_total', route('/metrics', 'GET', 200)) >= 1);
		await d.anon('GET', '/no/such/thing');
		const m2 = await scrape(d);
		assert.equal(value(m2, 'msgd_http_requests_total', route('none', '', 404)), 1);
		assert.equal(value(m2, 'msgd_http_requests_total', route('/webhooks/*', 'POST', 413)), 1);
		assert.equal(hist(m2, 'msgd_http_request_duration_seconds', { route: '/webhooks/*', method: 'POST' }).count, 6);

		// The process and the build.
		assert.ok(value(m2, 'msgd_process_resident_memory_bytes') > 1e6);
		assert.ok(value(m2, 'msgd_process_open_fds') > 3);
		assert.ok(value(m2, 'msgd_process_uptime_seconds') > 0);
		assert.ok(Math.abs(value(m2, 'msgd_process_start_time_seconds') - Date.now() / 1000) < 600);
		assert.equal(value(m2, 'msgd_build_info'), 1);
		assert.equal(value(m2, 'msgd_metrics_truncated'), 0);
		assert.equal(value(m2, 'msgd_storage_healthy'), 1);
		assert.equal(value(m2, 'msgd_active_batches'), 0);
		assert.equal(value(m2, 'message_service_active_batches'), 0);
		assert.equal(value(m2, 'msgd_outbox_depth', labels), 0);
		assert.equal(value(m2, 'msgd_breaker_state', labels), 0);

		// An SSE subscriber is counted while it is open.
		assert.equal(value(m2, 'msgd_stream_subscribers', { kind: 'sse' }), 0);
		const st = followStream(d);
		try {
			await waitMetric(d, 'one SSE subscriber', (m) => value(m, 'msgd_stream_subscribers', { kind: 'sse' }) === 1);
			assert.equal(value(await scrape(d), 'msgd_stream_lag_events', { kind: 'sse' }), 0);
		} finally {
			// (msgd notices a client gone at its next write: the heartbeat.)
			await st.stop();
		}

		// A WebSocket too, until it closes.
		const ws = await wsConnect(d);
		assert.equal(ws.status, 101, ws.text);
		await waitMetric(d, 'one WebSocket subscriber', (m) => value(m, 'msgd_stream_subscribers', { kind: 'ws' }) === 1);
		await ws.ws.closeAndWait();
		await waitMetric(d, 'no WebSocket subscriber', (m) => value(m, 'msgd_stream_subscribers', { kind: 'ws' }) === 0);

		// /health: public, the seeds' shape.
		const hr = await d.anon('GET', '/health');
		assertStatus(hr, 200, 'GET /health');
		assert.deepEqual(hr.json, { status: 'ok', version: hr.json.version,
			metrics: { active_batches: 0, circuit_breaker_state: 'closed' } });
		assert.match(hr.json.version, /^\d+\.\d+\.\d+/);
	});

	msgdTest('a send through the fake Graph API: processed by status, its duration; an open breaker in /metrics and /health', async (h) => {
		const { d, fake, ch } = await sendSetup(h, { config: { breaker_threshold: 2, breaker_cooldown_s: 600 } });
		const labels = { channel_id: String(ch.id), channel: 'wa', type: 'whatsapp_cloud' };
		const r = await d.api('POST', '/v1/messages', { channel: 'wa', to: '15550400001', text: 'metrics' });
		assertStatus(r, 202, 'send');
		await waitMessage(d, r.json.id, 'accepted', 15_000);
		const m = await waitMetric(d, 'the send counted', (s) =>
		    value(s, 'msgd_messages_processed_total', { ...labels, status: 'sent' }) === 1);
		assert.equal(value(m, 'msgd_messages_processed_total', { ...labels, direction: 'outbound', status: 'sent' }), 1);
		assert.equal(value(m, 'msgd_messages_processed_total', { ...labels, status: 'failed' }), 0);
		assert.equal(value(m, 'msgd_send_attempts_total', { ...labels, outcome: 'ok' }), 1);
		const send = hist(m, 'msgd_processing_duration_seconds', { stage: 'send' });
		assert.equal(send.count, 1);
		assert.ok(send.sum > 0 && send.sum < 60, `send took ${send.sum} s`);
		assert.equal(value(m, 'msgd_outbox_inflight', labels), 0);
		assert.equal(value(m, 'msgd_http_requests_total', { route: '/v1/messages', method: 'POST', status: '202' }), 1);

		// The provider fails: two failures open the breaker (cooldown 10 min).
		fake.always(serverError(500));
		for (const to of ['15550400002', '15550400003'])
			assertStatus(await d.api('POST', '/v1/messages', { channel: 'wa', to, text: 'fail' }), 202, 'send');
		await waitFor(async () => {
			const hr = await d.anon('GET', '/health');
			return hr.status === 200 && hr.json.metrics.circuit_breaker_state === 'open' && hr.json;
		}, 15_000, { what: '/health circuit_breaker_state "open"' }).then((j) => assert.equal(j.status, 'degraded'));
		const mo = await scrape(d);
		assert.equal(value(mo, 'msgd_breaker_state', labels), 2);
		assert.equal(value(mo, 'msgd_send_attempts_total', { ...labels, outcome: 'tempfail' }), 2);
		assert.equal(value(mo, 'msgd_outbox_depth', labels), 2, 'both wait in the queue');
	});

	msgdTest('a running campaign is an active batch in /metrics and /health until it is cancelled', async (h) => {
		const d = await h.start();
		const r = await d.api('POST', '/v1/campaigns', { name: 'slow', channel: 'sandbox', text: 'hi', rate: 1,
			recipients: [1, 2, 3].map((i) => ({ to: `1555060000${i}` })) });
		assertStatus(r, 202, 'POST /v1/campaigns');
		const active = (m) => value(m, 'msgd_active_batches') === 1 && value(m, 'message_service_active_batches') === 1;
		await waitMetric(d, 'one active batch', active, 20_000);
		assert.equal((await d.anon('GET', '/health')).json.metrics.active_batches, 1);
		assertStatus(await d.api('POST', `/v1/campaigns/${r.json.id}/cancel`), 200, 'cancel');
		await waitMetric(d, 'no active batch', (m) => value(m, 'msgd_active_batches') === 0, 20_000);
		assert.equal((await d.anon('GET', '/health')).json.metrics.active_batches, 0);
	});

	msgdTest('metrics_public serves /metrics without a token (applied on SIGHUP); otherwise an organization key gets 403', async (h) => {
		const d = await h.start({ env: { MSGD_METRICS_PUBLIC: 'on' } });
		const m = await scrape(d, {});
		assert.equal(value(m, 'msgd_http_requests_total', { route: '/metrics', method: 'GET', status: '200' }), undefined,
		    'this scrape is counted once it ends');
		assert.equal(value(await scrape(d, {}), 'msgd_http_requests_total', { route: '/metrics', method: 'GET', status: '200' }), 1);

		// Turned on by SIGHUP (the setting applies without a restart).
		const conf = path.join(d.dataDir, 'msgd.conf');
		fs.writeFileSync(conf, 'metrics_public = "off";\n');
		const d3 = await h.start({ args: ['--config', conf] });
		assertError(await d3.anon('GET', '/metrics'), 401, 'unauthorized');
		fs.writeFileSync(conf, 'metrics_public = "on";\n');
		d3.proc.kill('SIGHUP');
		await waitFor(async () => (await d3.anon('GET', '/metrics')).status === 200, 10_000,
		    { what: '/metrics public after SIGHUP' });

		const d2 = await h.start();
		const k = await d2.api('POST', '/v1/keys', { name: 'ops', scopes: ['messages:read'] });
		assertStatus(k, 201, 'an organization key');
		assertError(await d2.anon('GET', '/metrics', undefined, { authorization: `Bearer ${k.json.key}` }), 403, 'forbidden');
	});
});
