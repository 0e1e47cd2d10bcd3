// bench/live.mjs - the live-stream benchmark (run by bench/bench.mjs; runnable alone).
//
//   node bench/live.mjs --url http://127.0.0.1:PORT --token ADMIN_TOKEN --secret APP_SECRET
//        [--pnid bench-number] [--rate 1000] [--seconds 10] [--idle 10000] [--pid MSGD_PID]
//
// 1. Latency. One Server-Sent Events client (GET /v1/stream) and one WebSocket
//    client (GET /v1/ws) follow the event log while this script posts SIGNED
//    WhatsApp text webhooks (X-Hub-Signature-256 = HMAC-SHA256 of the body
//    bytes with the channel's app secret) at --rate per second for --seconds,
//    open loop, over a keep-alive agent. For every acknowledged webhook the
//    latency is: time its message.received event (matched by
//    provider_message_id) reached the client - time the webhook's 200 was
//    received; negative (the event beat the ack) counts as 0. Events that never
//    arrive (5 s grace after the last ack) are reported as missing.
// 2. Idle streams. --idle SSE connections are opened and held until every one
//    got its greeting; msgd's VmRSS (from /proc/PID/status, --pid) is read
//    before and after, then they are closed.
// With --pid, msgd's CPU time (utime+stime) and peak RSS (VmHWM, reset first)
// during the latency phase are reported too.
//
// It prints ONE JSON object on stdout; progress goes to stderr. Needs a high
// `ulimit -n` for --idle (bench.mjs runs it under `ulimit -n 65536`).
// Only node: built-ins.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();
const log = (...a) => console.error('live:', ...a);

// ---------------------------------------------------------------- /proc

const CLK_TCK = (() => {
	try { return Number(execFileSync('getconf', ['CLK_TCK']).toString()) || 100; } catch { return 100; }
})();

function cpuSeconds(pid) {
	const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
	const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
	return (Number(f[11]) + Number(f[12])) / CLK_TCK;             // fields 14 utime, 15 stime
}

function statusKb(pid, key) {
	const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
	return m ? Number(m[1]) : null;
}

function resetPeakRss(pid) {
	try { fs.writeFileSync(`/proc/${pid}/clear_refs`, '5'); } catch { /* not permitted: peak since start */ }
}

// ---------------------------------------------------------------- statistics

function percentiles(values) {
	const v = Float64Array.from(values).sort();
	const at = (q) => (v.length ? v[Math.min(v.length - 1, Math.ceil(q * v.length) - 1)] : null);
	const r3 = (x) => (x === null ? null : Math.round(x * 1000) / 1000);
	return { p50: r3(at(0.5)), p90: r3(at(0.9)), p99: r3(at(0.99)), p999: r3(at(0.999)), max: r3(v.length ? v[v.length - 1] : null) };
}

// ---------------------------------------------------------------- HTTP/1.1 response head + chunked bodies

// Reads "HTTP/1.1 200 ...\r\nheaders\r\n\r\n" off a socket's first bytes.
// Returns { status, headers, rest } or null while incomplete.
function parseHead(buf) {
	const end = buf.indexOf('\r\n\r\n');
	if (end < 0) return null;
	const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
	const status = Number(lines[0].split(' ')[1]);
	const headers = {};
	for (const l of lines.slice(1)) {
		const i = l.indexOf(':');
		if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
	}
	return { status, headers, rest: buf.subarray(end + 4) };
}

// Incremental Transfer-Encoding: chunked decoder: push(bytes) -> decoded bytes.
function chunkedDecoder() {
	let pending = Buffer.alloc(0), left = 0, state = 'size'; // size | data | crlf
	return (input) => {
		pending = pending.length ? Buffer.concat([pending, input]) : input;
		const out = [];
		for (;;) {
			if (state === 'size') {
				const i = pending.indexOf('\r\n');
				if (i < 0) break;
				left = parseInt(pending.subarray(0, i).toString('latin1'), 16);
				pending = pending.subarray(i + 2);
				state = left > 0 ? 'data' : 'crlf';
			} else if (state === 'data') {
				if (!pending.length) break;
				const n = Math.min(left, pending.length);
				out.push(pending.subarray(0, n));
				pending = pending.subarray(n);
				left -= n;
				if (left === 0) state = 'crlf';
			} else {
				if (pending.length < 2) break;
				pending = pending.subarray(2);
				state = 'size';
			}
		}
		return out.length === 1 ? out[0] : Buffer.concat(out);
	};
}

// ---------------------------------------------------------------- SSE client

// GET /v1/stream; calls onEvent(eventJson, arrivalTime) per `data:` event.
// Resolves once the greeting (the first block, ": connected") arrived.
function sseClient(u, token, onEvent = null) {
	return new Promise((resolve, reject) => {
		const sock = net.connect(Number(u.port), u.hostname);
		let head = Buffer.alloc(0), decode = null, text = '', greeted = false;
		sock.setNoDelay(true);
		sock.on('error', (e) => (greeted ? log(`SSE socket error: ${e.message}`) : reject(e)));
		sock.once('connect', () => sock.write(`GET /v1/stream HTTP/1.1\r\nHost: ${u.host}\r\n` +
			`Authorization: Bearer ${token}\r\nAccept: text/event-stream\r\n\r\n`));
		sock.on('data', (d) => {
			const t = now();
			if (!decode) {
				head = Buffer.concat([head, d]);
				const h = parseHead(head);
				if (!h) return;
				if (h.status !== 200) return reject(new Error(`GET /v1/stream answered ${h.status}`));
				decode = h.headers['transfer-encoding'] === 'chunked' ? chunkedDecoder() : (b) => b;
				d = h.rest;
			}
			if (!onEvent && greeted) return; // idle client: nothing to parse after the greeting
			text += decode(d).toString('utf8');
			let i;
			while ((i = text.indexOf('\n\n')) >= 0) {
				const block = text.slice(0, i);
				text = text.slice(i + 2);
				if (!greeted) { greeted = true; resolve(sock); }
				const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
				if (data && onEvent) onEvent(JSON.parse(data), t);
			}
		});
		sock.on('close', () => { if (!greeted) reject(new Error('SSE stream closed before its greeting')); });
	});
}

// ---------------------------------------------------------------- WebSocket client (RFC 6455, minimal)

// A client frame: FIN set, masked with a random key, as RFC 6455 requires.
function wsFrame(opcode, payload) {
	const len = payload.length;
	const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
	const f = Buffer.alloc(2 + ext + 4 + len);
	f[0] = 0x80 | opcode;
	if (ext === 0) f[1] = 0x80 | len;
	else if (ext === 2) { f[1] = 0x80 | 126; f.writeUInt16BE(len, 2); }
	else { f[1] = 0x80 | 127; f.writeBigUInt64BE(BigInt(len), 2); }
	const mask = crypto.randomBytes(4);
	mask.copy(f, 2 + ext);
	for (let i = 0; i < len; i++) f[2 + ext + 4 + i] = payload[i] ^ mask[i & 3];
	return f;
}

// Incremental frame parser: push(bytes) -> [{ fin, opcode, payload }].
function wsFrameParser() {
	let buf = Buffer.alloc(0);
	return (input) => {
		buf = buf.length ? Buffer.concat([buf, input]) : input;
		const frames = [];
		for (;;) {
			if (buf.length < 2) break;
			const fin = (buf[0] & 0x80) !== 0, opcode = buf[0] & 0x0f, masked = (buf[1] & 0x80) !== 0;
			let len = buf[1] & 0x7f, off = 2;
			if (len === 126) { if (buf.length < 4) break; len = buf.readUInt16BE(2); off = 4; }
			else if (len === 127) { if (buf.length < 10) break; len = Number(buf.readBigUInt64BE(2)); off = 10; }
			const maskOff = off;
			if (masked) off += 4;
			if (buf.length < off + len) break;
			let payload = buf.subarray(off, off + len);
			if (masked) { // servers must not mask; unmask anyway
				payload = Buffer.from(payload);
				for (let i = 0; i < len; i++) payload[i] ^= buf[maskOff + (i & 3)];
			}
			frames.push({ fin, opcode, payload });
			buf = buf.subarray(off + len);
		}
		return frames;
	};
}

// GET /v1/ws with an Upgrade handshake (no Origin: an API client). Calls
// onMessage(json, arrivalTime) per text message (fragments reassembled);
// answers pings; resolves with { send, close } once {"op":"ping"} got its
// {"op":"pong"}, i.e. the socket is live.
function wsClient(u, token, onMessage) {
	return new Promise((resolve, reject) => {
		const key = crypto.randomBytes(16).toString('base64');
		const expect = crypto.createHash('sha1').update(key + WS_GUID).digest('base64');
		const sock = net.connect(Number(u.port), u.hostname);
		const parse = wsFrameParser();
		let head = Buffer.alloc(0), upgraded = false, ready = false, parts = [], partOp = 0;
		const send = (obj) => sock.write(wsFrame(1, Buffer.from(JSON.stringify(obj))));
		const api = { send, close: () => { sock.end(wsFrame(8, Buffer.from([0x03, 0xe8]))); setTimeout(() => sock.destroy(), 200).unref(); } };
		sock.setNoDelay(true);
		sock.on('error', (e) => (ready ? log(`WebSocket error: ${e.message}`) : reject(e)));
		sock.once('connect', () => sock.write(`GET /v1/ws HTTP/1.1\r\nHost: ${u.host}\r\n` +
			`Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n` +
			`Sec-WebSocket-Key: ${key}\r\nAuthorization: Bearer ${token}\r\n\r\n`));
		const onText = (msg, t) => {
			if (!ready && msg.op === 'pong') { ready = true; resolve(api); return; }
			if (msg.op === undefined) onMessage(msg, t);
		};
		sock.on('data', (d) => {
			const t = now();
			if (!upgraded) {
				head = Buffer.concat([head, d]);
				const h = parseHead(head);
				if (!h) return;
				if (h.status !== 101) return reject(new Error(`GET /v1/ws answered ${h.status}, not 101`));
				if (h.headers['sec-websocket-accept'] !== expect) return reject(new Error('bad Sec-WebSocket-Accept'));
				upgraded = true;
				send({ op: 'ping' });
				d = h.rest;
			}
			for (const f of parse(d)) {
				if (f.opcode === 9) sock.write(wsFrame(10, f.payload));           // ping -> pong
				else if (f.opcode === 8) { if (!sock.writableEnded) sock.end(wsFrame(8, f.payload.subarray(0, 2))); }
				else if (f.opcode === 1 || f.opcode === 2 || f.opcode === 0) {
					if (f.opcode !== 0) { parts = []; partOp = f.opcode; }
					parts.push(f.payload);
					if (f.fin && partOp === 1) onText(JSON.parse(Buffer.concat(parts).toString('utf8')), t);
					if (f.fin) parts = [];
				}
			}
		});
		sock.on('close', () => { if (!ready) reject(new Error('WebSocket closed before it was ready')); });
	});
}

// ---------------------------------------------------------------- signed webhooks

function webhookBody(pnid, wamid, from) {
	return JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: '102290129340398', changes: [{ field: 'messages', value: {
		messaging_product: 'whatsapp', metadata: { display_phone_number: '15550783881', phone_number_id: pnid },
		contacts: [{ profile: { name: 'Live Bench' }, wa_id: from }],
		messages: [{ from, id: wamid, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text',
			text: { body: 'live latency probe' } }] } }] }] });
}

function postWebhook(u, agent, secret, body) {
	const bytes = Buffer.from(body);
	const sig = 'sha256=' + crypto.createHmac('sha256', secret).update(bytes).digest('hex');
	return new Promise((resolve, reject) => {
		const req = http.request({ host: u.hostname, port: u.port, path: '/webhooks/whatsapp', method: 'POST', agent,
			headers: { 'content-type': 'application/json', 'content-length': bytes.length, 'x-hub-signature-256': sig } }, (res) => {
			const t = now();
			res.resume();
			res.on('end', () => resolve({ status: res.statusCode, t }));
		});
		req.on('error', reject);
		req.end(bytes);
	});
}

// ---------------------------------------------------------------- phase 1: latency

// Per client: the arrival time of each probe's event, and the latency list.
function tracker() {
	return { arrived: new Map(), lat: [] };
}

function record(tr, acks, id, t) {
	const ack = acks.get(id);
	if (ack === undefined) tr.arrived.set(id, t);       // the event beat the ack
	else tr.lat.push(Math.max(0, t - ack));
}

function settle(tr, id, ackT) {
	const t = tr.arrived.get(id);
	if (t !== undefined) { tr.lat.push(Math.max(0, t - ackT)); tr.arrived.delete(id); }
}

async function latencyPhase(o) {
	const u = new URL(o.url);
	const prefix = `wamid.live.${process.pid}.${Date.now()}.`;
	const acks = new Map(), sse = tracker(), ws = tracker();
	const onEvent = (tr) => (ev, t) => {
		const id = ev.type === 'message.received' ? ev.data?.provider_message_id : null;
		if (id && id.startsWith(prefix)) record(tr, acks, id, t);
	};
	const sseSock = await sseClient(u, o.token, onEvent(sse));
	const wsConn = await wsClient(u, o.token, onEvent(ws));
	log(`SSE and WebSocket clients ready; posting ${o.rate}/s signed webhooks for ${o.seconds} s`);

	const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
	const total = Math.round(o.rate * o.seconds);
	const cpu0 = o.pid ? cpuSeconds(o.pid) : null;
	if (o.pid) resetPeakRss(o.pid);
	const t0 = now();
	let failed = 0, errors = 0, acked = 0;
	const inflight = new Set();
	for (let n = 0; n < total; n++) {
		const wait = t0 + (n * 1000) / o.rate - now();
		if (wait > 1) await sleep(wait);
		const id = prefix + n;
		const p = postWebhook(u, agent, o.secret, webhookBody(o.pnid, id, `1650555${String(n % 1000).padStart(4, '0')}`))
			.then(({ status, t }) => {
				if (status !== 200) { failed++; return; }
				acked++;
				acks.set(id, t);
				settle(sse, id, t);
				settle(ws, id, t);
			}, () => { errors++; })
			.finally(() => inflight.delete(p));
		inflight.add(p);
	}
	await Promise.all(inflight);
	const elapsed = (now() - t0) / 1000;
	const deadline = now() + 5000;
	while ((sse.lat.length < acked || ws.lat.length < acked) && now() < deadline) await sleep(20);
	const msgd = o.pid ? { cpu_s: Math.round((cpuSeconds(o.pid) - cpu0) * 100) / 100, peak_rss_kb: statusKb(o.pid, 'VmHWM') } : null;
	sseSock.destroy();
	wsConn.close();
	agent.destroy();
	const result = (tr) => ({ events: tr.lat.length, missing: acked - tr.lat.length, latency_ms: percentiles(tr.lat) });
	return {
		rate_target: o.rate, seconds: o.seconds,
		webhooks: { sent: total, acked, non_200: failed, errors, rate: Math.round(total / elapsed) },
		sse: result(sse), ws: result(ws), msgd,
	};
}

// ---------------------------------------------------------------- phase 2: idle streams

async function idlePhase(o) {
	const u = new URL(o.url);
	const rssBefore = o.pid ? statusKb(o.pid, 'VmRSS') : null;
	const socks = [], pending = [];
	let failed = 0, firstError = null;
	const t0 = now();
	for (let i = 0; i < o.idle; i++) {
		pending.push(sseClient(u, o.token).then((s) => { socks.push(s); }, (e) => { failed++; firstError ??= e.message; }));
		if (i % 500 === 499) { await Promise.all(pending.splice(0)); } // 500 handshakes at a time
	}
	await Promise.all(pending);
	const openS = (now() - t0) / 1000;
	log(`${socks.length} of ${o.idle} idle SSE streams greeted in ${openS.toFixed(1)} s` + (failed ? ` (${failed} failed: ${firstError})` : ''));
	await sleep(500);
	const rss = o.pid ? statusKb(o.pid, 'VmRSS') : null;
	for (const s of socks) s.destroy();
	return {
		n: o.idle, open: socks.length, failed, first_error: firstError, open_s: Math.round(openS * 100) / 100,
		rss_before_kb: rssBefore, rss_kb: rss,
		per_conn_kb: rss !== null && socks.length ? Math.round(((rss - rssBefore) / socks.length) * 100) / 100 : null,
	};
}

// ---------------------------------------------------------------- main

const { values: a } = parseArgs({ options: {
	url: { type: 'string' }, token: { type: 'string' }, secret: { type: 'string' },
	pnid: { type: 'string', default: 'bench-number' }, rate: { type: 'string', default: '1000' },
	seconds: { type: 'string', default: '10' }, idle: { type: 'string', default: '10000' }, pid: { type: 'string' },
} });
if (!a.url || !a.token || !a.secret) {
	console.error('usage: node bench/live.mjs --url http://HOST:PORT --token TOKEN --secret APP_SECRET ' +
		'[--pnid ID] [--rate N] [--seconds S] [--idle N] [--pid MSGD_PID]');
	process.exit(2);
}
const opts = { url: a.url, token: a.token, secret: a.secret, pnid: a.pnid, rate: Number(a.rate),
	seconds: Number(a.seconds), idle: Number(a.idle), pid: a.pid ? Number(a.pid) : null };
const out = await latencyPhase(opts);
if (opts.idle > 0) out.idle = await idlePhase(opts);
process.stdout.write(JSON.stringify(out) + '\n');
process.exit(0);
