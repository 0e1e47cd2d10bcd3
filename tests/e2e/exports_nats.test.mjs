// Exports to NATS (/v1/exports, kind "nats"; issue 15): a private
// nats-server per test (tests/e2e/nats.mjs). Core NATS and JetStream
// (a stream made by the test before the export); every event in order with
// its subject and Nats-Msg-Id; a broker restart under ingest loses nothing;
// a stream refusing part of a batch; filters by type and channel; pause,
// resume, delete; organizations; validation; secrets never shown; /readyz
// shows a broker that is down.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { connect, StringCodec, AckPolicy, DeliverPolicy } from 'nats';
import { msgdTest, assertStatus, assertError, waitFor, allEvents, startPeer } from './lib.mjs';
import { startNats } from './nats.mjs';
import { createRequire } from 'node:module';

const parsePrometheus = createRequire(import.meta.url)('parse-prometheus-text-format');

const sc = StringCodec();
const PG = /^postgres(ql)?:\/\//.test(process.env.MSGD_TEST_DATABASE || '');

async function inbound(d, text, channel = 'sandbox', from = '15550001111') {
	const r = await d.api('POST', `/v1/sandbox/${channel}/inbound`, { from, text });
	assertStatus(r, 201, `sandbox inbound ${text}`);
	return r.json.message;
}

async function exportOf(d, body) {
	const r = await d.api('POST', '/v1/exports', body);
	assertStatus(r, 201, `POST /v1/exports ${JSON.stringify(body)}`);
	return r.json;
}

// A core NATS subscriber recording every message on subject.
async function subscriber(t, url, subject = 'msgd.>', opts = {}) {
	const nc = await connect({ servers: url, ...opts });
	const got = [];
	const sub = nc.subscribe(subject);
	(async () => {
		for await (const m of sub)
			got.push({ subject: m.subject, id: m.headers?.get('Nats-Msg-Id'), body: JSON.parse(sc.decode(m.data)) });
	})();
	await nc.flush();
	t.after(() => nc.close());
	return got;
}

// The first delivery of each seq, in arrival order, must be ascending; a
// repeated seq must carry the same id (a redelivery).
function checkOrder(got, exportId) {
	const seen = new Map();
	const firsts = [];
	for (const m of got) {
		assert.equal(m.id, `${exportId}-${m.body.seq}`, 'Nats-Msg-Id is "<export id>-<seq>"');
		if (seen.has(m.body.seq)) continue;
		seen.set(m.body.seq, m.id);
		firsts.push(m.body.seq);
	}
	assert.deepEqual(firsts, [...firsts].sort((a, b) => a - b), 'in seq order');
	return firsts;
}

const texts = (got) => got.map((m) => m.body.data?.text);

describe('exports to NATS', () => {
	msgdTest('core NATS: every event in order, subject and Nats-Msg-Id, the body as GET /v1/events; lag 0; secrets never shown', async (h, t) => {
		const ns = await startNats({ user: 'msgd', password: 'nats-pass-0123456789' });
		t.after(() => ns.cleanup());
		const got = await subscriber(t, ns.url, 'msgd.>', { user: 'msgd', pass: 'nats-pass-0123456789' });
		const d = await h.start();
		const head = (await allEvents(d)).at(-1)?.seq ?? 0;
		const ex = await exportOf(d, { kind: 'nats', events: ['*'],
		    config: { url: ns.url, user: 'msgd', password: 'nats-pass-0123456789' } });
		assert.equal(ex.kind, 'nats');
		assert.deepEqual(ex.events, ['*']);
		assert.equal(ex.channels, null);
		assert.equal(ex.delivered_seq, head, 'a new export starts at the head of the log');
		assert.equal(ex.config.password, '********');
		assert.equal(ex.config.subject_prefix, 'msgd');
		assert.equal(ex.config.user, 'msgd');
		assert.equal(typeof ex.state.connected, 'boolean');
		assert.equal(ex.state.paused, false);
		assert.equal(typeof ex.lag, 'number');

		const want = [];
		for (let i = 0; i < 20; i++) {
			want.push(`core ${i}`);
			await inbound(d, `core ${i}`);
		}
		await waitFor(() => want.every((w) => texts(got).includes(w)), 15_000, { what: 'the 20 inbound messages published' });
		const events = await allEvents(d);
		const mine = events.filter((e) => e.seq > head);
		await waitFor(() => got.length >= mine.length, 10_000, { what: 'every event after the head' });
		const firsts = checkOrder(got, ex.id);
		assert.deepEqual(firsts, mine.map((e) => e.seq), 'every event after the head, once each, in order');
		for (const m of got) {
			const e = events.find((x) => x.seq === m.body.seq);
			assert.deepEqual(m.body, e, 'the body is the event as GET /v1/events shows it');
			assert.equal(m.subject, `msgd.default.${e.type}`);
		}
		await waitFor(async () => {
			const r = await d.api('GET', `/v1/exports/${ex.id}`);
			return r.json.lag === 0 && r.json.delivered_seq >= mine.at(-1).seq && r.json.state.connected;
		}, 10_000, { what: 'lag back to 0, connected' });

		const list = await d.api('GET', '/v1/exports');
		assertStatus(list, 200, 'list');
		assert.deepEqual(list.json.exports.map((x) => x.id), [ex.id]);
		const one = await d.api('GET', `/v1/exports/${ex.id}`);
		const audit = await d.api('GET', '/v1/audit');
		const rz = await d.api('GET', '/readyz');
		assertStatus(rz, 200, 'readyz');
		assert.equal(rz.json.exports[String(ex.id)].connected, true);
		assert.equal(rz.json.exports[String(ex.id)].kind, 'nats');
		for (const text of [list.text, one.text, audit.text, ex && JSON.stringify(ex), rz.text])
			assert.ok(!text.includes('nats-pass-0123456789'), 'no secret in API answers');
		// An export is not a webhook, and the other way round.
		assertError(await d.api('GET', `/v1/webhooks/${ex.id}`), 404, 'not_found');
		assert.deepEqual((await d.api('GET', '/v1/webhooks')).json.webhooks, []);
		await d.stop();
		assert.ok(!d.logs().includes('nats-pass-0123456789'), 'no secret in the daemon log');
	});

	msgdTest('JetStream: acknowledged into the stream; nats-server restarted under ingest: nothing lost, in order, lag back to 0', async (h, t) => {
		const ns = await startNats({ jetstream: true });
		t.after(() => ns.cleanup());
		const admin = await connect({ servers: ns.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
		t.after(() => admin.close());
		const jsm = await admin.jetstreamManager();
		await jsm.streams.add({ name: 'MSGD', subjects: ['msgd.>'], storage: 'file', duplicate_window: 120e9 });
		const d = await h.start();
		const ex = await exportOf(d, { kind: 'nats', events: ['message.received'], since: 0, config: { url: ns.url } });

		// Ingest in the background while the broker restarts twice.
		const want = [];
		let stopIngest = false;
		const ingest = (async () => {
			for (let i = 0; !stopIngest && i < 400; i++) {
				want.push(`js ${i}`);
				await inbound(d, `js ${i}`);
			}
		})();
		await waitFor(() => want.length >= 60, 20_000, { what: 'ingest under way' });
		await ns.restart();
		await waitFor(() => want.length >= 140, 20_000, { what: 'more ingest' });
		await ns.kill();
		await waitFor(async () => !(await d.api('GET', `/v1/exports/${ex.id}`)).json.state.connected, 10_000,
		    { what: 'the export sees the broker down' });
		// Down: /readyz shows it, msgd stays ready (ingest goes on).
		const rz = await d.api('GET', '/readyz');
		assertStatus(rz, 200, 'readyz with a broker down');
		assert.equal(rz.json.status, 'ready');
		assert.equal(rz.json.exports[String(ex.id)].connected, false);
		assert.ok(rz.json.exports[String(ex.id)].last_error, 'why it is down');
		const during = want.length;
		await waitFor(() => want.length >= during + 30, 20_000, { what: 'ingest while the broker is down' });
		await ns.start();
		stopIngest = true;
		await ingest;

		const events = (await allEvents(d)).filter((e) => e.type === 'message.received');
		const lastSeq = events.at(-1).seq;
		await waitFor(async () => {
			const r = await d.api('GET', `/v1/exports/${ex.id}`);
			return r.json.lag === 0 && r.json.delivered_seq >= lastSeq;
		}, 30_000, { what: 'the export caught up' });

		// Read the stream back with a consumer of its own.
		const js = admin.jetstream();
		await jsm.consumers.add('MSGD', { durable_name: 'check', ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All });
		const consumer = await js.consumers.get('MSGD', 'check');
		const got = [];
		const info = await jsm.streams.info('MSGD');
		const msgs = await consumer.fetch({ max_messages: info.state.messages, expires: 5000 });
		for await (const m of msgs) {
			got.push({ subject: m.subject, id: m.headers?.get('Nats-Msg-Id'), body: JSON.parse(sc.decode(m.data)) });
			m.ack();
			if (got.length === info.state.messages) break;
		}
		const firsts = checkOrder(got, ex.id);
		assert.deepEqual(firsts, events.map((e) => e.seq), 'every message.received, in order, across the restarts');
		assert.deepEqual(texts(got.filter((m, i) => firsts.indexOf(m.body.seq) === i)).filter((x) => x?.startsWith('js ')), want);
		for (const m of got) assert.equal(m.subject, 'msgd.default.message.received');
	}, { timeout: 120_000 });

	msgdTest('JetStream refuses part of a batch: the cursor moves past the acknowledged events, the rest is retried until taken', async (h, t) => {
		const ns = await startNats({ jetstream: true });
		t.after(() => ns.cleanup());
		const admin = await connect({ servers: ns.url });
		t.after(() => admin.close());
		const jsm = await admin.jetstreamManager();
		const stream = { name: 'SMALL', subjects: ['msgd.>'], storage: 'file', max_msgs: 5, discard: 'new' };
		await jsm.streams.add(stream);
		const d = await h.start();
		const ex = await exportOf(d, { kind: 'nats', events: ['message.received'], config: { url: ns.url } });
		// Ingested while paused: one batch of 8 when resumed.
		assertStatus(await d.api('POST', `/v1/exports/${ex.id}/pause`), 200, 'pause');
		for (let i = 0; i < 8; i++) await inbound(d, `small ${i}`);
		const seqs = (await allEvents(d)).filter((e) => e.type === 'message.received').map((e) => e.seq);
		assertStatus(await d.api('POST', `/v1/exports/${ex.id}/resume`), 200, 'resume');
		const refused = await waitFor(async () => {
			const x = (await d.api('GET', `/v1/exports/${ex.id}`)).json;
			return x.state.attempts >= 1 && x;
		}, 15_000, { what: 'a refused event counted as an attempt' });
		assert.ok(refused.delivered_seq >= seqs[4] && refused.delivered_seq < seqs[5], 'the cursor is past the acknowledged events, before the refused one');
		assert.equal(refused.state.connected, true);
		assert.match(refused.state.last_error, /JetStream|maximum/i);
		assert.ok(refused.lag >= 3);
		// Room in the stream: the rest goes in, in order.
		await jsm.streams.update('SMALL', { ...stream, max_msgs: 100 });
		await waitFor(async () => (await d.api('GET', `/v1/exports/${ex.id}`)).json.lag === 0, 20_000, { what: 'the rest taken after the retry' });
		const info = await jsm.streams.info('SMALL');
		assert.equal(info.state.messages, 8);
		const one = (await d.api('GET', `/v1/exports/${ex.id}`)).json;
		assert.equal(one.state.attempts, 0);
		assert.equal(one.state.last_error, null);
	});

	msgdTest('filters by event type and channel; pause, resume (idempotent) and delete', async (h, t) => {
		const ns = await startNats();
		t.after(() => ns.cleanup());
		const got = await subscriber(t, ns.url, 'f.>');
		const d = await h.start();
		assertStatus(await d.api('POST', '/v1/channels', { name: 'side', type: 'sandbox', config: {} }), 201, 'second channel');
		const ex = await exportOf(d, { kind: 'nats', events: ['message.received'], channels: ['side'],
		    config: { url: ns.url, subject_prefix: 'f' } });
		assert.deepEqual(ex.channels, ['side']);
		await inbound(d, 'main 1');
		await inbound(d, 'side 1', 'side');
		await inbound(d, 'main 2');
		await inbound(d, 'side 2', 'side');
		await waitFor(() => texts(got).includes('side 2'), 10_000, { what: 'side 2' });
		assert.deepEqual(texts(got), ['side 1', 'side 2'], 'only message.received of channel side');
		assert.ok(got.every((m) => m.subject === 'f.default.message.received' && m.body.channel === 'side'));

		// Paused: nothing goes out; the cursor waits. Twice is the same.
		let r = await d.api('POST', `/v1/exports/${ex.id}/pause`);
		assertStatus(r, 200, 'pause');
		assert.equal(r.json.state.paused, true);
		assertStatus(await d.api('POST', `/v1/exports/${ex.id}/pause`), 200, 'pause again');
		await inbound(d, 'side 3', 'side');
		await waitFor(async () => (await d.api('GET', `/v1/exports/${ex.id}`)).json.lag > 0, 5000, { what: 'lag while paused' });
		assert.deepEqual(texts(got), ['side 1', 'side 2']);
		// The same lag in /metrics (msgd_export_lag, parsed by a real parser), connected.
		const lagNow = (await d.api('GET', `/v1/exports/${ex.id}`)).json.lag;
		const m = await d.api('GET', '/metrics');
		assertStatus(m, 200, 'GET /metrics');
		const fams = new Map(parsePrometheus(m.text).map((f) => [f.name, f]));
		const sample = (name) => fams.get(name)?.metrics.find((x) => x.labels.id === String(ex.id));
		assert.equal(sample('msgd_export_lag')?.labels.kind, 'nats');
		assert.equal(Number(sample('msgd_export_lag').value), lagNow);
		assert.equal(Number(sample('msgd_export_connected')?.value), 1);
		r = await d.api('POST', `/v1/exports/${ex.id}/resume`);
		assertStatus(r, 200, 'resume');
		assert.equal(r.json.state.paused, false);
		assertStatus(await d.api('POST', `/v1/exports/${ex.id}/resume`), 200, 'resume again');
		await waitFor(() => texts(got).includes('side 3'), 10_000, { what: 'side 3 after resume' });

		// Deleted: gone, and nothing more goes out.
		assertStatus(await d.api('DELETE', `/v1/exports/${ex.id}`), 204, 'delete');
		assertError(await d.api('GET', `/v1/exports/${ex.id}`), 404, 'not_found');
		assertError(await d.api('DELETE', `/v1/exports/${ex.id}`), 404, 'not_found');
		assertError(await d.api('POST', `/v1/exports/${ex.id}/pause`), 404, 'not_found');
		// A marker export proves later events went out while the deleted one sent nothing.
		const marker = await subscriber(t, ns.url, 'm.>');
		await exportOf(d, { kind: 'nats', events: ['message.received'], config: { url: ns.url, subject_prefix: 'm' } });
		await inbound(d, 'side 4', 'side');
		await waitFor(() => texts(marker).includes('side 4'), 10_000, { what: 'the marker export' });
		assert.deepEqual(texts(got), ['side 1', 'side 2', 'side 3']);

		const audit = await d.api('GET', '/v1/audit');
		assert.ok(audit.json.events.some((e) => e.type === 'audit.export.created'));
		assert.ok(audit.json.events.some((e) => e.type === 'audit.export.deleted'));
	});

	msgdTest('organizations: each sees only its own exports and exports only its own events; its name is one subject token', async (h, t) => {
		const ns = await startNats();
		t.after(() => ns.cleanup());
		const got = await subscriber(t, ns.url, 'o.>');
		const d = await h.start();
		assertStatus(await d.api('POST', '/v1/orgs', { name: 'acme.eu' }), 201, 'org');
		const B = { 'msgd-org': 'acme.eu' };
		assertStatus(await d.api('POST', '/v1/channels', { name: 'sandbox', type: 'sandbox', config: {} }, B), 201, 'channel in acme.eu');
		const cfg = { url: ns.url, subject_prefix: 'o' };
		const exA = await exportOf(d, { kind: 'nats', events: ['message.received'], config: cfg });
		const r = await d.api('POST', '/v1/exports', { kind: 'nats', events: ['message.received'], config: cfg }, B);
		assertStatus(r, 201, 'export in acme.eu');
		const exB = r.json;
		assert.deepEqual((await d.api('GET', '/v1/exports')).json.exports.map((x) => x.id), [exA.id]);
		assert.deepEqual((await d.api('GET', '/v1/exports', undefined, B)).json.exports.map((x) => x.id), [exB.id]);
		assertError(await d.api('GET', `/v1/exports/${exB.id}`), 404, 'not_found');
		assertError(await d.api('DELETE', `/v1/exports/${exB.id}`), 404, 'not_found');
		assertError(await d.api('POST', `/v1/exports/${exA.id}/pause`, undefined, B), 404, 'not_found');
		// A channel of another organization is no channel here.
		assertStatus(await d.api('POST', '/v1/channels', { name: 'only-default', type: 'sandbox', config: {} }), 201);
		const e = assertError(await d.api('POST', '/v1/exports', { ...{ kind: 'nats', events: ['*'], config: cfg }, channels: ['only-default'] }, B), 422, 'validation_failed');
		assert.equal(e.field, 'channels[0]');
		const rz = await d.api('GET', '/readyz', undefined, B);
		assert.deepEqual(Object.keys(rz.json.exports), [String(exB.id)]);

		await inbound(d, 'to default');
		const rb = await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '15550001111', text: 'to acme' }, B);
		assertStatus(rb, 201, 'inbound in acme.eu');
		await waitFor(() => got.length >= 2, 10_000, { what: 'both published' });
		const bySubject = Object.fromEntries(got.map((m) => [m.body.data.text, m]));
		assert.equal(bySubject['to default'].subject, 'o.default.message.received');
		assert.equal(bySubject['to default'].id, `${exA.id}-${bySubject['to default'].body.seq}`);
		assert.equal(bySubject['to acme'].subject, 'o.acme_eu.message.received');
		assert.equal(bySubject['to acme'].id, `${exB.id}-${bySubject['to acme'].body.seq}`);
		await waitFor(async () => (await d.api('GET', `/v1/exports/${exA.id}`)).json.lag === 0, 5000, { what: 'lag 0 in default' });
		assert.equal(got.length, 2, 'each event once, by its own organization\'s export');
	});

	msgdTest('an organization has at most 50 event webhooks and exports together: 409 limit_reached, nothing made', async (h) => {
		const d = await h.start();
		for (let i = 0; i < 25; i++) {
			assertStatus(await d.api('POST', '/v1/webhooks', { url: `http://127.0.0.1:9/h${i}`, events: ['*'],
				secret: 'a-webhook-secret-0123' }), 201, `webhook ${i}`);
			assertStatus(await d.api('POST', '/v1/exports', { kind: 'nats', events: ['*'],
				config: { url: 'nats://127.0.0.1:9' } }), 201, `export ${i}`);
		}
		assertError(await d.api('POST', '/v1/exports', { kind: 'nats', events: ['*'], config: { url: 'nats://127.0.0.1:9' } }),
			409, 'limit_reached');
		assertError(await d.api('POST', '/v1/webhooks', { url: 'http://127.0.0.1:9/x', events: ['*'], secret: 'a-webhook-secret-0123' }),
			409, 'limit_reached');
		assert.equal((await d.api('GET', '/v1/exports')).json.exports.length, 25);
		assert.equal((await d.api('GET', '/v1/webhooks')).json.webhooks.length, 25);
		// One deleted: room for one more.
		const first = (await d.api('GET', '/v1/exports')).json.exports[0];
		assertStatus(await d.api('DELETE', `/v1/exports/${first.id}`), 204, 'delete');
		assertStatus(await d.api('POST', '/v1/exports', { kind: 'nats', events: ['*'], config: { url: 'nats://127.0.0.1:9' } }),
			201, 'one more after a delete');
	});

	msgdTest('validation: 422 naming the field, nothing made', async (h) => {
		const d = await h.start();
		const ok = { kind: 'nats', events: ['*'], config: { url: 'nats://127.0.0.1:1' } };
		const cases = [
			[{ ...ok, kind: 'kafka' }, 'kind'],
			[{ ...ok, kind: 'webhook' }, 'kind'],
			[{ ...ok, kind: undefined }, 'kind'],
			[{ ...ok, events: [] }, 'events'],
			[{ ...ok, events: ['Message'] }, 'events[0]'],
			[{ ...ok, channels: ['nope'] }, 'channels[0]'],
			[{ ...ok, channels: 'sandbox' }, 'channels'],
			[{ ...ok, since: -1 }, 'since'],
			[{ ...ok, config: undefined }, 'config'],
			[{ ...ok, config: { url: 'http://127.0.0.1:4222' } }, 'config.url'],
			[{ ...ok, config: { url: 'nats://127.0.0.1:1', subject_prefix: 'a.*' } }, 'config.subject_prefix'],
			[{ ...ok, config: { url: 'nats://127.0.0.1:1', user: 'u' } }, 'config.password'],
			[{ ...ok, config: { url: 'nats://127.0.0.1:1', extra: 1 } }, 'config.extra'],
			[{ ...ok, surprise: 1 }, 'surprise'],
		];
		for (const [body, field] of cases) {
			const e = assertError(await d.api('POST', '/v1/exports', body), 422, 'validation_failed');
			assert.equal(e.field, field, JSON.stringify(body));
		}
		assert.deepEqual((await d.api('GET', '/v1/exports')).json.exports, []);
		assertError(await d.api('GET', '/v1/exports/999'), 404, 'not_found');
		const secret = 'tok-0123456789abcdef';
		const ex = await exportOf(d, { kind: 'nats', events: ['*'], channels: ['sandbox'], config: { url: 'nats://127.0.0.1:1', token: secret } });
		assert.equal(ex.config.token, '********');
		assert.equal(ex.state.connected, false, 'nothing listens there');
		const rz = await d.api('GET', '/readyz');
		assert.equal(rz.json.status, 'ready', 'a broker down does not make msgd unready');
		assert.equal(rz.json.exports[String(ex.id)].connected, false);
		assert.ok(!rz.text.includes(secret));
		const anon = await d.anon('GET', '/readyz');
		assert.equal(anon.json.exports, undefined, 'only callers with a token see exports');
	});

	msgdTest('two instances on one database: an export made on A is shown and paused on B; each event goes out once', async (h, t) => {
		const ns = await startNats();
		t.after(() => ns.cleanup());
		const got = await subscriber(t, ns.url, 'msgd.>');
		const a = await h.start();
		const b = await startPeer(h, a);
		const ex = await exportOf(a, { kind: 'nats', events: ['message.received'], config: { url: ns.url } });
		await waitFor(async () => (await b.api('GET', `/v1/exports/${ex.id}`)).status === 200, 10_000, { what: 'B shows the export' });
		for (let i = 0; i < 5; i++) await inbound(i % 2 ? a : b, `pair ${i}`);
		await waitFor(() => texts(got).includes('pair 4'), 15_000, { what: 'published' });
		await waitFor(async () => (await a.api('GET', `/v1/exports/${ex.id}`)).json.lag === 0, 10_000, { what: 'lag 0 on A' });
		checkOrder(got, ex.id);
		assert.deepEqual(texts(got), ['pair 0', 'pair 1', 'pair 2', 'pair 3', 'pair 4'], 'each once, in order, by one instance');
		// Paused on B: A (or whoever delivers) stops too.
		assertStatus(await b.api('POST', `/v1/exports/${ex.id}/pause`), 200, 'pause on B');
		await waitFor(async () => (await a.api('GET', `/v1/exports/${ex.id}`)).json.state.paused, 10_000, { what: 'A sees it paused' });
		await inbound(a, 'paused 1');
		await inbound(b, 'paused 2');
		await waitFor(async () => (await a.api('GET', `/v1/exports/${ex.id}`)).json.lag >= 2, 10_000, { what: 'lag grows while paused' });
		assert.ok(!texts(got).includes('paused 1'));
		assertStatus(await a.api('POST', `/v1/exports/${ex.id}/resume`), 200, 'resume on A');
		await waitFor(() => texts(got).includes('paused 2'), 15_000, { what: 'resumed' });
		// Deleted on A: gone on B.
		assertStatus(await a.api('DELETE', `/v1/exports/${ex.id}`), 204, 'delete on A');
		await waitFor(async () => (await b.api('GET', `/v1/exports/${ex.id}`)).status === 404, 10_000, { what: 'gone on B' });
	}, { skip: PG ? false : 'runs on PostgreSQL only (MSGD_TEST_DATABASE=postgres://...)' });
});
