// Event webhooks: subscriptions (/v1/webhooks) and their deliveries to a
// local receiver: signed, in order per subscription, retried with backoff
// (later events wait), resumed after a crash (at least once, duplicates
// carry the same X-Msgd-Delivery), stopped by DELETE; validation errors.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { msgdTest, assertStatus, assertError, waitFor, allEvents } from './lib.mjs';

const SECRET = 'whsec_' + crypto.randomBytes(16).toString('hex');

// A receiver on 127.0.0.1 that records every request. respond(rec) decides
// the answer: a status number, or null to hold the request unanswered.
async function receiver(t) {
	const r = {
		requests: [],
		held: [],
		respond: () => 200,
		url: '',
		on(path) { return r.requests.filter((x) => x.path === path); },
	};
	const srv = http.createServer((req, res) => {
		const chunks = [];
		req.on('data', (c) => chunks.push(c));
		req.on('end', () => {
			const raw = Buffer.concat(chunks);
			const rec = { path: req.url, method: req.method, headers: req.headers, raw, body: JSON.parse(raw.toString('utf8')) };
			r.requests.push(rec);
			const status = r.respond(rec);
			if (status === null) { r.held.push(res); return; }
			res.writeHead(status, { 'content-type': 'text/plain' });
			res.end(status < 300 ? 'ok' : 'nope');
		});
	});
	await new Promise((ok) => srv.listen(0, '127.0.0.1', ok));
	r.url = `http://127.0.0.1:${srv.address().port}`;
	t.after(() => new Promise((ok) => {
		for (const res of r.held) res.destroy();
		srv.closeAllConnections();
		srv.close(ok);
	}));
	return r;
}

function sign(raw, secret = SECRET) {
	return 'sha256=' + crypto.createHmac('sha256', secret).update(raw).digest('hex');
}

async function subscribe(d, body) {
	const r = await d.api('POST', '/v1/webhooks', { secret: SECRET, ...body });
	assertStatus(r, 201, `POST /v1/webhooks ${JSON.stringify(body)}`);
	return r.json;
}

async function inbound(d, text, from = '15550001111') {
	const r = await d.api('POST', '/v1/sandbox/sandbox/inbound', { from, text });
	assertStatus(r, 201, `sandbox inbound ${text}`);
	return r.json.message;
}

// Every delivery is signed, typed and identified as documented.
function checkDelivery(rec, subId) {
	assert.equal(rec.method, 'POST');
	assert.equal(rec.headers['content-type'], 'application/json');
	assert.equal(rec.headers['x-msgd-signature'], sign(rec.raw), 'X-Msgd-Signature is the HMAC of the body');
	assert.equal(rec.headers['x-msgd-event'], rec.body.type);
	assert.equal(rec.headers['x-msgd-delivery'], `${subId}-${rec.body.seq}`);
}

const texts = (recs) => recs.map((x) => x.body.data?.text);

describe('event webhooks', () => {
	msgdTest('deliveries in order, signed, filtered; since:0 and "*" get the backlog; the secret is never shown', async (h, t) => {
		const rcv = await receiver(t);
		const d = await h.start();
		const head = (await allEvents(d)).at(-1)?.seq ?? 0;
		const sub = await subscribe(d, { url: `${rcv.url}/a`, events: ['message.received'] });
		assert.equal(sub.secret, '********');
		assert.equal(sub.url, `${rcv.url}/a`);
		assert.deepEqual(sub.events, ['message.received']);
		assert.equal(sub.delivered_seq, head, 'a new subscription starts at the head of the log');
		assert.equal(sub.state.attempts, 0);
		assert.equal(typeof sub.created_at, 'string');

		// An outbound send makes message.status events (and the sandbox's echo reply).
		const sent = await d.api('POST', '/v1/messages', { channel: 'sandbox', to: '15550009999', text: 'out' });
		assertStatus(sent, 202, 'send');
		const want = [];
		for (let i = 0; i < 5; i++) {
			want.push(`in ${i}`);
			await inbound(d, `in ${i}`);
		}
		await waitFor(() => want.every((w) => texts(rcv.on('/a')).includes(w)), 10_000, { what: 'the 5 inbound messages delivered' });
		await waitFor(async () => (await allEvents(d)).some((e) => e.type === 'message.status' && e.data.status === 'read'), 10_000, { what: 'the send read' });

		const events = await allEvents(d);
		const got = rcv.on('/a');
		for (const rec of got) checkDelivery(rec, sub.id);
		assert.ok(got.every((x) => x.body.type === 'message.received'), 'only message.received is sent');
		const seqs = got.map((x) => x.body.seq);
		assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'in seq order');
		assert.equal(new Set(seqs).size, seqs.length, 'each once');
		// The body is the event exactly as GET /v1/events shows it.
		for (const rec of got)
			assert.deepEqual(rec.body, events.find((e) => e.seq === rec.body.seq));
		const inbounds = got.filter((x) => x.body.data.text.startsWith('in '));
		assert.deepEqual(texts(inbounds), want);

		// A second subscription from seq 0, every type: the whole backlog, in order.
		const all = await subscribe(d, { url: `${rcv.url}/b`, events: ['*'], since: 0 });
		assert.equal(all.delivered_seq, 0);
		const last = events.at(-1).seq;
		await waitFor(() => rcv.on('/b').some((x) => x.body.seq === last), 10_000, { what: 'backlog delivered' });
		const b = rcv.on('/b');
		for (const rec of b) checkDelivery(rec, all.id);
		assert.deepEqual(b.map((x) => x.body.seq).slice(0, events.length), events.map((e) => e.seq));
		assert.ok(b.some((x) => x.body.type === 'message.status'));

		// The cursor is visible once committed.
		await waitFor(async () => (await d.api('GET', `/v1/webhooks/${sub.id}`)).json.delivered_seq >= inbounds.at(-1).body.seq,
		    5000, { what: 'cursor committed' });
		const list = await d.api('GET', '/v1/webhooks');
		assertStatus(list, 200, 'list');
		assert.deepEqual(list.json.webhooks.map((w) => w.id), [sub.id, all.id]);
		const one = await d.api('GET', `/v1/webhooks/${sub.id}`);
		assertStatus(one, 200, 'get');
		for (const text of [list.text, one.text]) assert.ok(!text.includes(SECRET), 'no secret in API answers');
		await d.stop();
		assert.ok(!d.logs().includes(SECRET), 'no secret in the daemon log');
	});

	msgdTest('500 three times then 200: delivered after retries, later events wait behind it', async (h, t) => {
		const rcv = await receiver(t);
		let fails = 3;
		rcv.respond = () => (fails-- > 0 ? 500 : 200);
		const d = await h.start();
		const sub = await subscribe(d, { url: `${rcv.url}/r`, events: ['message.received'] });
		for (const w of ['first', 'second', 'third']) await inbound(d, w);
		// While it fails, the state says so.
		await waitFor(async () => {
			const s = (await d.api('GET', `/v1/webhooks/${sub.id}`)).json.state;
			return s.attempts >= 1 && s.last_error === 'HTTP 500' && s.next_attempt_at;
		}, 5000, { what: 'retry state recorded' });
		await waitFor(() => rcv.requests.length >= 6, 20_000, { what: '6 requests (3 failed, 3 delivered)' });
		const seen = rcv.requests.map((x) => x.body.data.text);
		assert.deepEqual(seen.slice(0, 6), ['first', 'first', 'first', 'first', 'second', 'third']);
		for (const rec of rcv.requests) checkDelivery(rec, sub.id);
		const ids = rcv.requests.slice(0, 4).map((x) => x.headers['x-msgd-delivery']);
		assert.equal(new Set(ids).size, 1, 'the same delivery id on every attempt');
		// Backoff: ~1 s, ~2 s, ~4 s (+-20%) between the attempts.
		await waitFor(async () => (await d.api('GET', `/v1/webhooks/${sub.id}`)).json.state.attempts === 0, 5000, { what: 'state reset' });
		const s = (await d.api('GET', `/v1/webhooks/${sub.id}`)).json.state;
		assert.equal(s.last_error, null);
		assert.equal(s.next_attempt_at, null);
	}, { timeout: 60_000 });

	msgdTest('kill -9 during a delivery: after a restart it resumes, nothing lost, the duplicate has the same delivery id', async (h, t) => {
		const rcv = await receiver(t);
		let hold = true;
		rcv.respond = (rec) => (hold && rec.body.data.text === 'm2' ? null : 200);
		const d = await h.start();
		const sub = await subscribe(d, { url: `${rcv.url}/k`, events: ['message.received'] });
		for (let i = 0; i < 5; i++) await inbound(d, `m${i}`);
		await waitFor(() => rcv.held.length === 1, 10_000, { what: 'the request for m2 held' });
		await d.kill9();
		hold = false;
		const d2 = await h.start({ dataDir: d.dataDir });
		await waitFor(() => texts(rcv.requests).filter((x) => x === 'm4').length >= 1, 10_000, { what: 'm4 delivered after the restart' });
		const seen = texts(rcv.requests);
		assert.deepEqual(seen, ['m0', 'm1', 'm2', 'm2', 'm3', 'm4'], 'in order; only the cut-off delivery repeated');
		const m2 = rcv.requests.filter((x) => x.body.data.text === 'm2');
		assert.equal(m2[0].headers['x-msgd-delivery'], m2[1].headers['x-msgd-delivery']);
		assert.equal(m2[0].raw.toString(), m2[1].raw.toString(), 'the same body');
		for (const rec of rcv.requests) checkDelivery(rec, sub.id);
		await d2.stop();
	});

	msgdTest('DELETE stops deliveries; unknown ids are 404', async (h, t) => {
		const rcv = await receiver(t);
		const d = await h.start();
		const a = await subscribe(d, { url: `${rcv.url}/a`, events: ['message.received'] });
		const b = await subscribe(d, { url: `${rcv.url}/b`, events: ['message.received'] });
		await inbound(d, 'one');
		await waitFor(() => rcv.on('/a').length === 1 && rcv.on('/b').length === 1, 10_000, { what: 'both got one' });
		const del = await d.api('DELETE', `/v1/webhooks/${a.id}`);
		assert.equal(del.status, 204, del.text);
		assertError(await d.api('GET', `/v1/webhooks/${a.id}`), 404, 'not_found');
		assertError(await d.api('DELETE', `/v1/webhooks/${a.id}`), 404, 'not_found');
		assertError(await d.api('GET', '/v1/webhooks/abc'), 404, 'not_found');
		await inbound(d, 'two');
		// b is the witness: once it has "two", a would have had it too.
		await waitFor(() => rcv.on('/b').length === 2, 10_000, { what: 'b got two' });
		await waitFor(async () => (await d.api('GET', `/v1/webhooks/${b.id}`)).json.delivered_seq === rcv.on('/b')[1].body.seq, 5000, { what: 'b committed' });
		assert.equal(rcv.on('/a').length, 1, 'nothing after DELETE');
		const list = await d.api('GET', '/v1/webhooks');
		assert.deepEqual(list.json.webhooks.map((w) => w.id), [b.id]);
		// Still gone after a restart.
		await d.stop();
		const d2 = await h.start({ dataDir: d.dataDir });
		assert.deepEqual((await d2.api('GET', '/v1/webhooks')).json.webhooks.map((w) => w.id), [b.id]);
	});

	msgdTest('validation: 422 naming the field', async (h) => {
		const d = await h.start();
		const ok = { url: 'https://example.com/hook', events: ['message.received'], secret: SECRET };
		const cases = [
			[{ ...ok, extra: 1 }, 'extra'],
			[{ ...ok, url: undefined }, 'url'],
			[{ ...ok, url: 'ftp://example.com/x' }, 'url'],
			[{ ...ok, url: 'https://' }, 'url'],
			[{ ...ok, url: 'https://example.com/a b' }, 'url'],
			[{ ...ok, url: 'https://example.com/' + 'x'.repeat(2048) }, 'url'],
			[{ ...ok, url: 42 }, 'url'],
			[{ ...ok, events: undefined }, 'events'],
			[{ ...ok, events: [] }, 'events'],
			[{ ...ok, events: 'message.received' }, 'events'],
			[{ ...ok, events: ['message.received', 'Message.Received'] }, 'events[1]'],
			[{ ...ok, events: ['message'] }, 'events[0]'],
			[{ ...ok, events: [7] }, 'events[0]'],
			[{ ...ok, secret: undefined }, 'secret'],
			[{ ...ok, secret: 'x'.repeat(15) }, 'secret'],
			[{ ...ok, secret: 'x'.repeat(257) }, 'secret'],
			[{ ...ok, since: -1 }, 'since'],
			[{ ...ok, since: '3' }, 'since'],
		];
		for (const [body, field] of cases) {
			const r = await d.api('POST', '/v1/webhooks', body);
			const err = assertError(r, 422, 'validation_failed');
			assert.equal(err.field, field, `${JSON.stringify(body).slice(0, 120)} → field ${err.field}`);
			assert.ok(!r.text.includes(SECRET));
		}
		assertError(await d.api('POST', '/v1/webhooks', '{"url":'), 400, 'invalid_json');
		assertError(await d.anon('GET', '/v1/webhooks'), 401, 'unauthorized');
		assert.deepEqual((await d.api('GET', '/v1/webhooks')).json, { webhooks: [] });
		// The limits themselves are accepted.
		const edge = await d.api('POST', '/v1/webhooks', { ...ok, url: 'http://example.com/' + 'x'.repeat(2048 - 19), secret: 'y'.repeat(16), events: ['*'] });
		assertStatus(edge, 201, 'edge values');
		assert.equal(edge.json.secret, '********');
	});
});
