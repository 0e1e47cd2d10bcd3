// Exports to RabbitMQ (kind "amqp", src/hooks/sink_amqp.c) against a private
// rabbitmq-server (rabbit.mjs): MSG Manager's recipe (a durable queue
// wa_messages bound to the exchange) gets every event in order, persistent,
// with message_id = the delivery id and routing key = the event type; a
// broker restarted under ingest loses nothing and the export catches up
// (redeliveries keep their message_id); a broker that hangs holds no
// webhook back and loses nothing; a broker gone while idle shows in
// the export and /readyz; a wrong password shows in the export
// and in /readyz without the password; a queue declared by its consumer
// with other properties is used as it is; bad configs are 422 and change
// nothing. With build/test/unit/test_sink_amqp (make unit), its live part
// runs against the same broker.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import amqp from 'amqplib';

import { msgdTest, assertStatus, assertError, waitFor, allEvents } from './lib.mjs';
import { startRabbit, consumer } from './rabbit.mjs';

const QUEUE = 'wa_messages';
const UNIT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'build', 'test', 'unit', 'test_sink_amqp');

// The seqs in the order they first arrived; every duplicate carries the
// message_id of its seq.
function firstArrivals(got, exportId) {
	const seen = new Set();
	const order = [];
	for (const m of got) {
		assert.equal(m.messageId, `${exportId}-${m.body.seq}`, 'message_id is the delivery id');
		if (seen.has(m.body.seq)) continue;
		seen.add(m.body.seq);
		order.push(m.body.seq);
	}
	return order;
}

async function inbound(d, text, from = '15550001111') {
	const r = await d.api('POST', '/v1/sandbox/sandbox/inbound', { from, text });
	assertStatus(r, 201, `sandbox inbound ${text}`);
	return r.json.message;
}

// n inbound messages, `width` requests at a time.
async function ingest(d, n, tag, width = 8) {
	let next = 0;
	const worker = async () => {
		while (next < n) {
			const i = next++;
			await inbound(d, `${tag} ${i}`, `1555${String(i % 50).padStart(7, '0')}`);
		}
	};
	await Promise.all(Array.from({ length: width }, worker));
}

async function createExport(d, config, extra = {}) {
	const r = await d.api('POST', '/v1/exports', { kind: 'amqp', events: ['*'], config, ...extra });
	assertStatus(r, 201, `POST /v1/exports ${JSON.stringify({ ...config, url: '…' })}`);
	return r.json;
}

async function getExport(d, id) {
	const r = await d.api('GET', `/v1/exports/${id}`);
	assertStatus(r, 200, `GET /v1/exports/${id}`);
	return r.json;
}

// The export has delivered every event of the log: lag 0, cursor at the head.
async function caughtUp(d, id, deadlineMs) {
	return waitFor(async () => {
		const last = (await allEvents(d)).at(-1)?.seq ?? 0;
		const x = await getExport(d, id);
		return x.lag === 0 && x.delivered_seq >= last ? x : null;
	}, deadlineMs, { what: 'export caught up (lag 0)', intervalMs: 200 });
}

describe('exports to RabbitMQ', () => {
	let rabbit;
	before(async () => { rabbit = await startRabbit(); });
	after(async () => { if (rabbit) await rabbit.stop(); });

	msgdTest('wa_messages gets every event in order, persistent, with message_id and routing key = type; the password is never shown', async (h) => {
		const d = await h.start();
		const x = await createExport(d, { url: rabbit.url, queue: QUEUE });
		assert.equal(x.kind, 'amqp');
		assert.deepEqual(x.events, ['*']);
		assert.equal(x.config.url, rabbit.urlWith(rabbit.user, '********'), 'the password is masked');
		assert.equal(x.config.exchange, 'msgd');
		assert.equal(x.config.exchange_type, 'topic');
		assert.equal(x.config.queue, QUEUE);
		assert.equal(x.config.binding_key, '#');
		assert.ok(!JSON.stringify(x).includes(rabbit.password), 'no password in the export');
		const list = assertStatus(await d.api('GET', '/v1/exports'), 200, 'GET /v1/exports');
		assert.ok(!JSON.stringify(list).includes(rabbit.password), 'no password in the list');

		// msgd connects, declares the exchange, the queue and the binding.
		await waitFor(async () => (await getExport(d, x.id)).state.connected, 20_000, { what: 'export connected' });
		const c = consumer(rabbit.url, QUEUE);
		try {
			await waitFor(() => c.connected, 20_000, { what: 'consumer on wa_messages' });
			await ingest(d, 300, 'hello');
			const want = (await allEvents(d, x.delivered_seq)).map((e) => e.seq);
			assert.ok(want.length >= 300, `events after the export's start: ${want.length}`);
			await waitFor(() => c.got.length >= want.length, 30_000, { what: `${want.length} messages on ${QUEUE}` });
			assert.deepEqual(firstArrivals(c.got, x.id), want, 'every event, in order');
			const events = new Map((await allEvents(d, x.delivered_seq)).map((e) => [e.seq, e]));
			for (const m of c.got) {
				assert.deepEqual(m.body, events.get(m.body.seq), 'the body is the event as GET /v1/events shows it');
				assert.equal(m.deliveryMode, 2, 'persistent');
				assert.equal(m.contentType, 'application/json');
				assert.equal(m.type, m.body.type);
				assert.equal(m.routingKey, m.body.type, 'routing key = event type');
				assert.equal(m.exchange, 'msgd');
				assert.equal(m.headers['msgd-seq'], String(m.body.seq));
				assert.equal(m.headers['msgd-org'], 'default');
			}
			assert.ok(c.got.some((m) => m.routingKey === 'message.received'));
			const done = await caughtUp(d, x.id, 20_000);
			assert.equal(done.state.connected, true);
			assert.equal(done.state.last_error, null);
		} finally {
			await c.stop();
		}
	}, { timeout: 120_000 });

	msgdTest('a broker restarted under ingest: nothing lost, in order, the lag back to 0', async (h) => {
		const d = await h.start();
		const x = await createExport(d, { url: rabbit.url, queue: `${QUEUE}_restart`, binding_key: 'message.#' },
			{ events: ['message.received'] });
		await waitFor(async () => (await getExport(d, x.id)).state.connected, 20_000, { what: 'export connected' });
		const c = consumer(rabbit.url, `${QUEUE}_restart`);
		try {
			await waitFor(() => c.connected, 20_000, { what: 'consumer connected' });
			// Ingest all along; the broker goes down (graceful) and comes back
			// in the middle, then is killed (SIGKILL) and comes back.
			let ingesting = true;
			let sent = 0;
			const load = (async () => {
				while (ingesting) {
					await ingest(d, 20, `load ${sent}`, 4);
					sent += 20;
				}
			})();
			await waitFor(() => c.got.length >= 40, 20_000, { what: 'first deliveries' });
			await rabbit.restart();
			await waitFor(() => c.got.length >= sent / 2 + 40, 60_000, { what: 'deliveries after a restart' });
			await rabbit.restart({ kill: true });
			const mark = sent;
			await waitFor(() => sent >= mark + 100, 30_000, { what: 'more ingest' });
			ingesting = false;
			await load;

			const want = (await allEvents(d, x.delivered_seq)).filter((e) => e.type === 'message.received').map((e) => e.seq);
			assert.ok(want.length >= sent, `${want.length} message.received events for ${sent} messages`);
			await caughtUp(d, x.id, 60_000);
			await waitFor(() => new Set(c.got.map((m) => m.body.seq)).size >= want.length, 30_000,
				{ what: `${want.length} distinct events consumed` });
			assert.deepEqual(firstArrivals(c.got, x.id), want, 'every event, in order, across restarts');
			for (const m of c.got) assert.equal(m.routingKey, 'message.received');
			const after = await getExport(d, x.id);
			assert.equal(after.lag, 0);
			assert.equal(after.state.connected, true);
		} finally {
			await c.stop();
		}
	}, { timeout: 240_000 });

	msgdTest('a broker that hangs (SIGSTOP) does not hold ingest back; the batch gives up at its deadline and nothing is lost', async (h) => {
		const d = await h.start();
		const x = await createExport(d, { url: rabbit.url, queue: `${QUEUE}_hang` });
		await waitFor(async () => (await getExport(d, x.id)).state.connected, 20_000, { what: 'export connected' });
		const c = consumer(rabbit.url, `${QUEUE}_hang`);
		try {
			await waitFor(() => c.connected, 20_000, { what: 'consumer connected' });
			rabbit.pause();
			try {
				// Every webhook is answered while the broker answers nothing.
				await ingest(d, 60, 'while hung', 4);
				const stuck = await getExport(d, x.id);
				assert.ok(stuck.lag > 0, `lag ${stuck.lag} while the broker hangs`);
				// The batch in flight waits for its confirms until the deadline.
				const gave = await waitFor(async () => {
					const e = await getExport(d, x.id);
					return !e.state.connected && e.state.last_error ? e : null;
				}, 30_000, { what: 'the batch gave up on its confirms' });
				assert.match(gave.state.last_error, /confirm|timed out|timeout|socket|login|connect/i);
			} finally {
				rabbit.resume();
			}
			await caughtUp(d, x.id, 60_000);
			const want = (await allEvents(d, x.delivered_seq)).map((e) => e.seq);
			await waitFor(() => new Set(c.got.map((m) => m.body.seq)).size >= want.length, 30_000,
				{ what: `${want.length} events consumed` });
			assert.deepEqual(firstArrivals(c.got, x.id), want, 'every event, in order');
		} finally {
			await c.stop();
		}
	}, { timeout: 180_000 });

	msgdTest('a broker that goes away while nothing is exported shows in the export and /readyz; back, the export connects again by itself', async (h) => {
		const d = await h.start();
		const x = await createExport(d, { url: rabbit.url });
		await waitFor(async () => (await getExport(d, x.id)).state.connected, 20_000, { what: 'export connected' });
		const readyHealth = async () => (await d.api('GET', '/readyz')).json.exports?.[String(x.id)];
		assert.equal((await readyHealth()).connected, true);
		await rabbit.halt();
		try {
			// No event to export: the sink's thread notices on its own.
			const down = await waitFor(async () => {
				const e = await getExport(d, x.id);
				return !e.state.connected ? e : null;
			}, 20_000, { what: 'the export shows the broker down' });
			assert.equal(down.lag, 0);
			const health = await readyHealth();
			assert.equal(health.connected, false);
			assert.ok(health.last_error, `/readyz says why: ${JSON.stringify(health)}`);
			assert.ok(!JSON.stringify(health).includes(rabbit.password));
			const ready = await d.api('GET', '/readyz');
			assert.equal(ready.status, 200, 'a broker down does not make msgd unready');
		} finally {
			await rabbit.start();
		}
		await waitFor(async () => (await getExport(d, x.id)).state.connected, 30_000, { what: 'the export connected again' });
		assert.equal((await readyHealth()).connected, true);
	}, { timeout: 120_000 });

	msgdTest('a queue its consumer declared with other properties is used as it is', async (h) => {
		// A consumer that came first: not durable, a TTL, a length limit.
		const conn = await amqp.connect(rabbit.url);
		const ch = await conn.createChannel();
		await ch.assertQueue('wa_legacy', { durable: false, arguments: { 'x-message-ttl': 600000, 'x-max-length': 100000 } });
		await conn.close();
		const d = await h.start();
		const x = await createExport(d, { url: rabbit.url, queue: 'wa_legacy', binding_key: 'message.received' });
		await waitFor(async () => (await getExport(d, x.id)).state.connected, 20_000, { what: 'export connected' });
		const c = consumer(rabbit.url, 'wa_legacy');
		try {
			await waitFor(() => c.connected, 20_000, { what: 'consumer on wa_legacy' });
			await ingest(d, 20, 'legacy');
			const want = (await allEvents(d, x.delivered_seq)).filter((e) => e.type === 'message.received').map((e) => e.seq);
			await waitFor(() => c.got.length >= want.length, 20_000, { what: `${want.length} messages on wa_legacy` });
			assert.deepEqual(firstArrivals(c.got, x.id), want);
			// Its properties are still the consumer's.
			const again = await amqp.connect(rabbit.url);
			const ch2 = await again.createChannel();
			await ch2.assertQueue('wa_legacy', { durable: false, arguments: { 'x-message-ttl': 600000, 'x-max-length': 100000 } });
			await again.close();
		} finally {
			await c.stop();
		}
	}, { timeout: 90_000 });

	msgdTest('a full queue refusing publishes (basic.nack): attempts counted with backoff while connected; drained, every event arrives in order', async (h) => {
		// A queue of at most 5 that refuses the rest (reject-publish): its
		// consumer comes later.
		const conn = await amqp.connect(rabbit.url);
		const ch = await conn.createChannel();
		await ch.assertQueue('wa_full', { durable: true, arguments: { 'x-max-length': 5, 'x-overflow': 'reject-publish' } });
		await conn.close();
		const d = await h.start();
		const x = await createExport(d, { url: rabbit.url, exchange: 'full', queue: 'wa_full', binding_key: 'message.received' },
			{ events: ['message.received'] });
		await waitFor(async () => (await getExport(d, x.id)).state.connected, 20_000, { what: 'export connected' });
		await ingest(d, 12, 'full');
		const refused = await waitFor(async () => {
			const e = await getExport(d, x.id);
			return e.state.attempts >= 1 && e ? e : null;
		}, 20_000, { what: 'a refused publish counted as an attempt' });
		assert.equal(refused.state.connected, true, 'a refusal is not a broken connection');
		assert.match(refused.state.last_error, /refused|nack/);
		assert.ok(refused.lag > 0);
		const c = consumer(rabbit.url, 'wa_full');
		try {
			const want = (await allEvents(d, x.delivered_seq)).filter((e) => e.type === 'message.received').map((e) => e.seq);
			await waitFor(async () => (await getExport(d, x.id)).lag === 0 && c.got.length >= want.length, 60_000,
				{ what: 'the queue drained and the rest exported' });
			assert.deepEqual(firstArrivals(c.got, x.id), want);
		} finally {
			await c.stop();
		}
	}, { timeout: 120_000 });

	// The sink on its own, through its thread and back to a loop: the live
	// part of the unit test, given this broker (skipped without make unit).
	test('the sink on its own: a batch, a wrong password, close() with a batch in flight (tests/unit/test_sink_amqp)', { skip: !fs.existsSync(UNIT) && `no ${UNIT} (make unit)` }, () => {
		const r = spawnSync(UNIT, [], { env: { ...process.env, MSGD_TEST_AMQP_URL: rabbit.url, ASAN_OPTIONS: 'detect_leaks=1' },
			encoding: 'utf8', timeout: 60_000 });
		assert.equal(r.status, 0, `${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
		assert.match(r.stdout, /\[ {7}OK \] test_live/);
	});

	msgdTest('a wrong password: connected false and last_error in the export and /readyz, never the password', async (h) => {
		const d = await h.start();
		const bad = 'hunter2-wrong-' + Date.now();
		const x = await createExport(d, { url: rabbit.urlWith(rabbit.user, bad) });
		await inbound(d, 'to nowhere');
		const shown = await waitFor(async () => {
			const e = await getExport(d, x.id);
			return !e.state.connected && e.state.last_error ? e : null;
		}, 20_000, { what: 'the export shows the refused login' });
		assert.match(shown.state.last_error, /ACCESS_REFUSED|login/i);
		assert.ok(!JSON.stringify(shown).includes(bad), 'no password in the export');
		assert.ok(shown.lag > 0, `lag ${shown.lag}`);
		const ready = await d.api('GET', '/readyz');
		const text = ready.text;
		assert.ok(!text.includes(bad), 'no password in /readyz');
		const health = ready.json.exports?.[String(x.id)];
		assert.ok(health, `/readyz names the export: ${text}`);
		assert.equal(health.kind, 'amqp');
		assert.equal(health.connected, false);
		assert.match(health.last_error, /ACCESS_REFUSED|login/i);
		assert.ok(!d.logs().includes(bad), 'no password in the log');
		const del = await d.api('DELETE', `/v1/exports/${x.id}`);
		assert.equal(del.status, 204);
	}, { timeout: 90_000 });

	msgdTest('bad configs are 422 and change nothing', async (h) => {
		const d = await h.start();
		const before = assertStatus(await d.api('GET', '/v1/exports'), 200, 'list').exports.length;
		const bad = [
			[{}, 'config.url'],
			[{ url: 'http://127.0.0.1:1' }, 'config.url'],
			[{ url: 'amqps://u:hunter2@127.0.0.1:1' }, 'config.url'],
			[{ url: 'amqp://u:hunter2@127.0.0.1:99999' }, 'config.url'],
			[{ url: 'amqp://u:hunter2@127.0.0.1 :1' }, 'config.url'],
			[{ url: 42 }, 'config.url'],
			[{ url: rabbit.url, exchange: '' }, 'config.exchange'],
			[{ url: rabbit.url, exchange: 'a/b' }, 'config.exchange'],
			[{ url: rabbit.url, exchange: 'x'.repeat(256) }, 'config.exchange'],
			[{ url: rabbit.url, exchange_type: 'x-delayed-message' }, 'config.exchange_type'],
			[{ url: rabbit.url, queue: 'wa messages' }, 'config.queue'],
			[{ url: rabbit.url, binding_key: '#' }, 'config.binding_key'],
			[{ url: rabbit.url, queue: 'q', binding_key: 'a b' }, 'config.binding_key'],
			[{ url: rabbit.url, durable: false }, 'config'],
		];
		for (const [config, field] of bad) {
			const r = await d.api('POST', '/v1/exports', { kind: 'amqp', events: ['*'], config });
			const e = assertError(r, 422, 'validation_failed');
			assert.equal(e.field, field, `${JSON.stringify(config)}: ${r.text}`);
			assert.ok(!r.text.includes('hunter2'), `no password echoed: ${r.text}`);
			assert.ok(!r.text.includes(rabbit.password), `no password echoed: ${r.text}`);
		}
		const after = assertStatus(await d.api('GET', '/v1/exports'), 200, 'list').exports.length;
		assert.equal(after, before, 'nothing was created');
	});
});
