// GET /v1/ws: the event stream over a WebSocket (resume, filters), sending
// through it, errors that keep the connection open, and shutdown.
// Node 20 has no WebSocket client: a minimal RFC 6455 client is in
// wsclient.mjs (node:http upgrade, masked client frames).
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import { msgdTest, waitFor, waitMessage, allEvents } from './lib.mjs';
import { GUID, WsClient, wsConnect } from './wsclient.mjs';

async function inbound(d, from, text) {
	const r = await d.api('POST', '/v1/sandbox/sandbox/inbound', { from, text });
	assert.ok(r.status === 201 || r.status === 200, r.text);
	return r.json.message;
}

async function open(d, query = '') {
	const r = await wsConnect(d, { query });
	assert.equal(r.status, 101, `upgrade answered ${r.status}: ${r.text}`);
	return r.ws;
}

describe('WebSocket (/v1/ws)', () => {
	msgdTest('live events arrive as text frames; no auth → 401 and a bad handshake → 400 before any upgrade', async (h) => {
		const d = await h.start();
		const anon = await wsConnect(d, { headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': crypto.randomBytes(16).toString('base64') } });
		assert.equal(anon.status, 401);
		assert.equal(anon.json.error.code, 'unauthorized');
		const plain = await d.api('GET', '/v1/ws');
		assert.equal(plain.status, 400, plain.text);
		assert.equal(plain.json.error.code, 'invalid_request');
		const v8 = await wsConnect(d, { headers: { authorization: `Bearer ${d.token}`, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '8', 'sec-websocket-key': crypto.randomBytes(16).toString('base64') } });
		assert.equal(v8.status, 400);
		assert.equal(v8.json.error.field, 'Sec-WebSocket-Version');

		const ws = await open(d);
		await inbound(d, '15550000001', 'one');
		await inbound(d, '15550000002', 'two');
		await waitFor(() => ws.events.length >= 2, 5000, { what: '2 events' });
		assert.deepEqual(ws.events.map((e) => e.type), ['message.received', 'message.received']);
		assert.equal(ws.events[0].data.text, 'one');
		assert.ok(ws.events[1].seq > ws.events[0].seq);
		// Filters, as on /v1/stream.
		const f = await open(d, `?conversation_id=${ws.events[1].conversation_id ?? ws.events[1].data.conversation_id}`);
		await inbound(d, '15550000001', 'three');
		await inbound(d, '15550000002', 'four');
		await waitFor(() => f.events.length >= 1 && ws.events.length >= 4, 5000, { what: 'filtered event' });
		assert.deepEqual(f.events.map((e) => e.data.text), ['four']);
		await f.closeAndWait();
		await ws.closeAndWait();
		assert.equal(ws.close?.code, 1000);
	});

	msgdTest('resume with ?since across disconnects: 2,000+ events, every seq exactly once', async (h) => {
		const d = await h.start();
		const p = await d.api('PATCH', '/v1/channels/sandbox', { config: { rate_per_second: 0 } });
		assert.equal(p.status, 200, p.text);
		for (let b = 0; b < 2; b++) {
			const messages = Array.from({ length: 400 }, (_, i) => ({ channel: 'sandbox', to: `1555${b}${String(i).padStart(6, '0')}`, text: `n${i}` }));
			const r = await d.api('POST', '/v1/messages/batch', { messages });
			assert.equal(r.status, 207, r.text);
		}
		const want = 3000;
		const seen = [];
		let cursor = 0, connections = 0;
		const deadline = Date.now() + 60_000;
		while (seen.length < want && Date.now() < deadline) {
			const ws = await open(d, `?since=${cursor}`);
			const target = Math.min(want, seen.length + 700);
			ws.stopAt = target - seen.length;
			await waitFor(() => seen.length + ws.events.length >= target || ws.ended, 30_000, { what: `events up to ${target}` });
			ws.drop();  // mid-stream, without a close handshake
			for (const e of ws.events) { seen.push(e.seq); cursor = e.seq; }
			connections++;
		}
		assert.ok(seen.length >= want, `got ${seen.length} events`);
		// Exactly the log's events, each once, in order (the audit event of the
		// PATCH above takes a seq the streams never show: GET /v1/events says which).
		const listed = (await allEvents(d)).map((e) => e.seq);
		for (let i = 0; i < seen.length; i++) assert.equal(seen[i], listed[i], `event #${i + 1} (seq ${listed[i]}) exactly once, in order`);
		assert.ok(connections >= 4, 'the test did reconnect');
		h.t.diagnostic(`${seen.length} events over ${connections} connections`);
	}, { timeout: 120_000 });

	msgdTest('a send through the socket returns the message, which reaches read; errors keep the socket open', async (h) => {
		const d = await h.start();
		const ws = await open(d);
		ws.send({ op: 'send', id: 'c1', channel: 'sandbox', to: '15551230000', text: 'via ws', client_id: 'ws-1' });
		const r1 = await waitFor(() => ws.replies('result').find((r) => r.id === 'c1'), 5000, { what: 'result c1' });
		assert.equal(r1.status, 202, JSON.stringify(r1));
		assert.equal(r1.message.text, 'via ws');
		assert.equal(r1.message.status, 'queued');
		await waitMessage(d, r1.message.id, 'read');
		// Its status events come over the same socket.
		await waitFor(() => ws.events.some((e) => e.type === 'message.status' && e.data.id === r1.message.id && e.data.status === 'read'), 5000, { what: 'read event' });
		// A repeat (same client_id) returns the original with 200.
		ws.send({ op: 'send', id: 2, channel: 'sandbox', to: '15551230000', text: 'via ws', client_id: 'ws-1' });
		const r2 = await waitFor(() => ws.replies('result').find((r) => r.id === 2), 5000, { what: 'result 2' });
		assert.equal(r2.status, 200);
		assert.equal(r2.message.id, r1.message.id);
		// Validation as POST /v1/messages does it.
		ws.send({ op: 'send', id: 'bad', channel: 'nope', to: '1', text: 'x' });
		const r3 = await waitFor(() => ws.replies('result').find((r) => r.id === 'bad'), 5000, { what: 'result bad' });
		assert.equal(r3.status, 422);
		assert.equal(r3.error.field, 'channel');
		// Recipients are normalized as on POST /v1/messages: one conversation.
		ws.send({ op: 'send', id: 'fmt', channel: 'sandbox', to: '+1 (555) 123-0000', text: 'formatted' });
		const r4 = await waitFor(() => ws.replies('result').find((r) => r.id === 'fmt'), 5000, { what: 'result fmt' });
		assert.equal(r4.status, 202, JSON.stringify(r4));
		assert.equal(r4.message.to, '15551230000');
		assert.equal(r4.message.conversation_id, r1.message.conversation_id);
		ws.send({ op: 'send', id: 'nophone', channel: 'sandbox', to: '++15551230000', text: 'x' });
		const r5 = await waitFor(() => ws.replies('result').find((r) => r.id === 'nophone'), 5000, { what: 'result nophone' });
		assert.equal(r5.status, 422);
		assert.equal(r5.error.code, 'invalid_recipient');
		assert.equal(r5.error.field, 'to');
		// Bad JSON, unknown op: an error, and the socket still works.
		ws.send('{"op": "send", ');
		await waitFor(() => ws.replies('error').length >= 1, 5000, { what: 'op error' });
		assert.equal(ws.replies('error')[0].error.code, 'invalid_json');
		ws.send({ op: 'dance', id: 'x' });
		await waitFor(() => ws.replies('error').length >= 2, 5000, { what: 'unknown op error' });
		assert.equal(ws.replies('error')[1].error.code, 'unknown_op');
		assert.equal(ws.replies('error')[1].id, 'x');
		// An empty text frame is malformed JSON too (it once reached the parser
		// as a NULL buffer: UBSan aborted the test build; found by fuzz_ws).
		ws.send('');
		await waitFor(() => ws.replies('error').length >= 3, 5000, { what: 'empty frame error' });
		assert.equal(ws.replies('error')[2].error.code, 'invalid_json');
		ws.send({ op: 'ping' });
		await waitFor(() => ws.replies('pong').length === 1, 5000, { what: 'pong' });
		assert.equal(ws.close, null);
		// A frame over 1 MiB closes with 1009.
		ws.sendFrame(0x1, Buffer.alloc(1024 * 1024 + 10, 0x20));
		await waitFor(() => ws.close, 5000, { what: 'close 1009' });
		assert.equal(ws.close.code, 1009);
	});

	msgdTest('a frame sent right behind the handshake (before the 101) is not lost', async (h) => {
		const d = await h.start();
		const key = crypto.randomBytes(16).toString('base64');
		const u = new URL(d.url);
		const sock = net.connect(Number(u.port), u.hostname);
		await new Promise((r) => sock.once('connect', r));
		const ws = new WsClient(sock);
		ws.buf = null;  // the HTTP head first
		let head = Buffer.alloc(0);
		ws.onData = function (c) {
			if (this.buf === null) {
				head = Buffer.concat([head, c]);
				const i = head.indexOf('\r\n\r\n');
				if (i < 0) return;
				this.head = head.subarray(0, i).toString('latin1');
				this.buf = Buffer.alloc(0);
				c = head.subarray(i + 4);
			}
			WsClient.prototype.onData.call(this, c);
		};
		sock.write(`GET /v1/ws HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${d.token}\r\nUpgrade: websocket\r\n` +
		    `Connection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`);
		ws.send({ op: 'ping' });
		await waitFor(() => ws.replies('pong').length === 1, 5000, { what: 'pong' });
		assert.match(ws.head, /^HTTP\/1\.1 101 /);
		assert.match(ws.head, new RegExp(`Sec-WebSocket-Accept: ${crypto.createHash('sha1').update(key + GUID).digest('base64').replace(/[+/]/g, '\\$&')}`, 'i'));
		ws.drop();
	});

	msgdTest('SIGTERM with open sockets: clients get close 1001 with a resume cursor, msgd exits 0', async (h) => {
		const d = await h.start();
		await inbound(d, '15550000001', 'one');
		const a = await open(d, '?since=0');
		const b = await open(d);
		await waitFor(() => a.events.length >= 1, 5000, { what: 'backlog' });
		const t0 = Date.now();
		await d.stop();
		await waitFor(() => a.close && b.close, 5000, { what: 'close frames' });
		assert.equal(a.close.code, 1001);
		assert.equal(b.close.code, 1001);
		assert.match(a.close.reason, new RegExp(`since=${a.events.at(-1).seq}$`));
		assert.ok(Date.now() - t0 < 5000, `exit took ${Date.now() - t0} ms`);
	});
});
