// Several msgd instances on one PostgreSQL database: what one commits, the
// others hear of within a second (LISTEN/NOTIFY): events on their live
// streams (SSE and WebSocket, in seq order, resumable) and event webhooks;
// channels created, patched and deleted; users and sessions.
// One instance at a time dispatches a channel and delivers a subscription
// (leases; leases.test.mjs): these tests assert visibility, never who delivers.
// Deadlines are a few seconds (the sanitizer build is slow); the 1 s
// guarantee is the listener's (src/store/pg_listen.c).
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import { msgdTest, waitFor, request, assertStatus, followStream, startPeer, databaseFor } from './lib.mjs';
import { wsConnect } from './wsclient.mjs';

const PG = /^postgres(ql)?:\/\//.test(process.env.MSGD_TEST_DATABASE || '');
const SEEN_MS = 5000;

async function inbound(d, text, from = '15550001111') {
	const r = await d.api('POST', '/v1/sandbox/sandbox/inbound', { from, text });
	assertStatus(r, 201, `sandbox inbound ${text}`);
	return r.json.message;
}

function cookieOf(res) {
	const sc = res.headers.get('set-cookie');
	assert.ok(sc, 'a Set-Cookie header');
	return sc.split(';')[0];
}

async function pair(h) {
	const a = await h.start();
	const b = await startPeer(h, a);
	return { a, b };
}

describe('several instances on one database', { skip: PG ? false : 'runs on PostgreSQL only (MSGD_TEST_DATABASE=postgres://...)' }, () => {
	msgdTest('events ingested on A reach B\'s SSE stream and WebSocket in seq order; Last-Event-ID resumes on B', async (h) => {
		const { a, b } = await pair(h);
		const sse = followStream(b);
		await waitFor(() => sse.lastId !== undefined, SEEN_MS, { what: 'the stream greeting on B' });
		const ws = await wsConnect(b);
		assert.equal(ws.status, 101, ws.text);

		const sent = [];
		for (let i = 0; i < 10; i++) sent.push(await inbound(a, `from A ${i}`, `1555000${i % 3}`));
		const texts = sent.map((m) => m.text);
		const received = (evs) => evs.filter((e) => e.type === 'message.received').map((e) => e.data.text);
		await waitFor(() => received(sse.events).length >= 10, SEEN_MS, { what: 'A\'s 10 events on B\'s SSE stream' });
		await waitFor(() => received(ws.ws.events).length >= 10, SEEN_MS, { what: 'A\'s 10 events on B\'s WebSocket' });
		assert.deepEqual(received(sse.events), texts);
		assert.deepEqual(received(ws.ws.events), texts);
		for (const evs of [sse.events, ws.ws.events])
			for (let i = 1; i < evs.length; i++) assert.ok(evs[i].seq > evs[i - 1].seq, 'seqs increase');
		// What A's own stream shows is what B's shows.
		const onA = (await a.api('GET', `/v1/events?since=${sse.lastId}`)).json.events;
		assert.deepEqual(sse.events.map((e) => e.seq), onA.map((e) => e.seq));
		await sse.stop();
		await ws.ws.closeAndWait();

		// Resume on B with Last-Event-ID after more events on A: only the new ones.
		const last = sse.events.at(-1).seq;
		for (let i = 0; i < 3; i++) await inbound(a, `later ${i}`);
		const again = followStream(b, { headers: { 'last-event-id': String(last) } });
		await waitFor(() => received(again.events).length >= 3, SEEN_MS, { what: 'the 3 later events on B' });
		assert.deepEqual(received(again.events), ['later 0', 'later 1', 'later 2']);
		assert.ok(again.events.every((e) => e.seq > last), 'nothing before Last-Event-ID again');
		await again.stop();
	});

	msgdTest('the listener\'s connection cut: it reconnects and takes what it may have missed', async (h) => {
		const { a, b } = await pair(h);
		const sse = followStream(b);
		await waitFor(() => sse.lastId !== undefined, SEEN_MS, { what: 'the stream greeting on B' });
		// Every listener on this database (A's and B's) loses its connection.
		const cut = spawnSync('psql', [databaseFor(a.dataDir), '-qAtc',
			"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'msgd listener' AND datname = current_database()"],
			{ encoding: 'utf8' });
		assert.equal(cut.status, 0, cut.stderr);
		assert.equal(cut.stdout.trim(), '2', 'two listeners cut');
		// Changes while B may not be listening: taken at its reconnect at the latest.
		assertStatus(await a.api('POST', '/v1/channels', { name: 'during', type: 'sandbox', config: {} }), 201, 'create on A');
		await inbound(a, 'during the cut');
		await waitFor(async () => (await b.api('GET', '/v1/channels/during')).status === 200, SEEN_MS,
			{ what: 'the channel on B' });
		await waitFor(() => sse.events.some((e) => e.data?.text === 'during the cut'), SEEN_MS, { what: 'the event on B' });
		await waitFor(() => /hearing other instances again/.test(b.logs()), SEEN_MS, { what: 'B listening again' });
		// And it hears new changes again.
		await inbound(a, 'after the cut');
		await waitFor(() => sse.events.some((e) => e.data?.text === 'after the cut'), SEEN_MS, { what: 'a later event on B' });
		await sse.stop();
	});

	msgdTest('a channel created on B is usable on A; patched and deleted on A, changed and gone on B', async (h) => {
		const { a, b } = await pair(h);
		assertStatus(await b.api('POST', '/v1/channels', { name: 'sb2', type: 'sandbox', config: {} }), 201, 'create on B');
		await waitFor(async () => (await a.api('GET', '/v1/channels/sb2')).status === 200, SEEN_MS,
			{ what: 'B\'s channel on A' });
		const send = await a.api('POST', '/v1/messages', { channel: 'sb2', to: '15550002222', text: 'via A' });
		assertStatus(send, 202, 'send through A on the channel made on B');

		assertStatus(await a.api('PATCH', '/v1/channels/sb2', { config: { rate_per_second: 7 } }), 200, 'patch on A');
		await waitFor(async () => (await b.api('GET', '/v1/channels/sb2')).json?.config?.rate_per_second === 7,
			SEEN_MS, { what: 'the patch on B' });
		// A second patch in the same second (updated_at has whole seconds).
		assertStatus(await a.api('PATCH', '/v1/channels/sb2', { config: { rate_per_second: 8 } }), 200, 'patch again');
		await waitFor(async () => (await b.api('GET', '/v1/channels/sb2')).json?.config?.rate_per_second === 8,
			SEEN_MS, { what: 'the second patch on B' });

		assert.equal((await a.api('DELETE', '/v1/channels/sb2')).status, 204);
		await waitFor(async () => (await b.api('GET', '/v1/channels/sb2')).status === 404, SEEN_MS,
			{ what: 'the channel gone on B' });
		const refused = await b.api('POST', '/v1/messages', { channel: 'sb2', to: '15550002222', text: 'gone' });
		assert.ok(refused.status >= 400 && refused.status < 500, refused.text);
		// A name deleted and made again is another channel, on both.
		const again = await a.api('POST', '/v1/channels', { name: 'sb2', type: 'sandbox', config: {} });
		assertStatus(again, 201, 'create again on A');
		await waitFor(async () => (await b.api('GET', '/v1/channels/sb2')).json?.id === again.json.id, SEEN_MS,
			{ what: 'the new sb2 on B' });
	});

	msgdTest('sessions: a login on B works on A; a logout, a new password or a removed user on A ends it on B', async (h) => {
		const { a, b } = await pair(h);
		const PW = 'correct horse battery';
		assertStatus(await a.api('POST', '/v1/users', { name: 'ana', password: PW }), 201, 'user on A');
		const login = async () => {
			const r = await request(b.url, 'POST', '/v1/session', { user: 'ana', password: PW });
			assertStatus(r, 201, 'login on B');
			return cookieOf(r);
		};
		const status = async (d, cookie) => (await request(d.url, 'GET', '/v1/session', undefined, { cookie })).status;

		let cookie = await login();
		assert.equal(await status(b, cookie), 200);
		await waitFor(async () => await status(a, cookie) === 200, SEEN_MS, { what: 'B\'s session on A' });
		assertStatus(await a.api('POST', '/v1/users/ana/logout'), 200, 'logout everywhere on A');
		await waitFor(async () => await status(b, cookie) === 401, SEEN_MS, { what: 'the session ended on B' });

		cookie = await login();
		assertStatus(await a.api('PUT', '/v1/users/ana/password', { password: PW + ' 2' }), 204, 'new password on A');
		await waitFor(async () => await status(b, cookie) === 401, SEEN_MS, { what: 'ended on B by the new password' });

		const r = await request(b.url, 'POST', '/v1/session', { user: 'ana', password: PW + ' 2' });
		assertStatus(r, 201, 'login on B with the new password');
		cookie = cookieOf(r);
		assert.equal((await a.api('DELETE', '/v1/users/ana')).status, 204);
		await waitFor(async () => await status(b, cookie) === 401, SEEN_MS, { what: 'ended on B by the removal' });
	});

	msgdTest('an event webhook subscription made on A gets events ingested on B; deleted on A, gone on B', async (h) => {
		const got = [];
		const srv = http.createServer((req, res) => {
			const chunks = [];
			req.on('data', (c) => chunks.push(c));
			req.on('end', () => {
				got.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
				res.writeHead(200);
				res.end('ok');
			});
		});
		await new Promise((ok) => srv.listen(0, '127.0.0.1', ok));
		h.t.after(() => new Promise((ok) => { srv.closeAllConnections(); srv.close(ok); }));
		const { a, b } = await pair(h);
		const sub = await a.api('POST', '/v1/webhooks', {
			url: `http://127.0.0.1:${srv.address().port}/hook`, events: ['message.received'],
			secret: 'whsec_' + crypto.randomBytes(16).toString('hex'),
		});
		assertStatus(sub, 201, 'subscribe on A');
		await waitFor(async () => (await b.api('GET', `/v1/webhooks/${sub.json.id}`)).status === 200, SEEN_MS,
			{ what: 'the subscription on B' });
		await inbound(b, 'ingested on B');
		await waitFor(() => got.some((e) => e.data?.text === 'ingested on B'), SEEN_MS, { what: 'B\'s event delivered' });
		// The cursor moved on: both instances show it (never behind).
		const seq = got.find((e) => e.data?.text === 'ingested on B').seq;
		for (const d of [a, b])
			await waitFor(async () => (await d.api('GET', `/v1/webhooks/${sub.json.id}`)).json?.delivered_seq >= seq,
				SEEN_MS, { what: `the cursor on ${d === a ? 'A' : 'B'}` });

		assert.equal((await a.api('DELETE', `/v1/webhooks/${sub.json.id}`)).status, 204);
		await waitFor(async () => (await b.api('GET', `/v1/webhooks/${sub.json.id}`)).status === 404, SEEN_MS,
			{ what: 'the subscription gone on B' });
	});
});
