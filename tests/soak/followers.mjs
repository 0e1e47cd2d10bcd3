// followers.mjs - the soak's event-stream clients: long-lived followers of
// GET /v1/stream (SSE) and GET /v1/ws (WebSocket) that read every event from
// seq 0 on and resume with their cursor after each restart, and short-lived
// ones opened and closed all the time (an fd or memory leak per connection
// shows in the samples).
//
// A follower keeps no events, only its cursor and counters: `last` (the last
// seq), `events`, `connections`, and `gaps`/`repeats` (a seq that is not
// last + 1 is recorded, at most MAX_KEPT of each, and counted).
//
// ctx (from soak.mjs): whenUp() → the live daemon {url, token} (waits while
// msgd restarts), isRestarting(t0, t1) (a failure between t0 and t1 came
// from a restart), stopped (true once the load stops), stats (traffic.mjs).

import crypto from 'node:crypto';
import http from 'node:http';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_KEPT = 20;
const RECONNECT_MS = 200;       // after a failed connect that was not a restart
const CONNECT_TIMEOUT_MS = 10_000;
const WS_FRAME_MAX = 4 << 20;   // a sane cap for one server frame

function track(f, seq) {
	if (seq === f.last + 1) {
		f.last = seq;
		f.events++;
		return;
	}
	if (seq <= f.last) {
		f.repeatCount++;
		if (f.repeats.length < MAX_KEPT) f.repeats.push({ after: f.last, got: seq });
		return;
	}
	f.gapCount++;
	if (f.gaps.length < MAX_KEPT) f.gaps.push({ after: f.last, got: seq });
	f.last = seq;
	f.events++;
}

/** Parse SSE text blocks; onEvent(seq) for each block with data, onId(seq) for the greeting. */
function sseParser(onEvent, onId) {
	let buf = '';
	return (chunk) => {
		buf += chunk;
		let i;
		while ((i = buf.indexOf('\n\n')) >= 0) {
			const block = buf.slice(0, i);
			buf = buf.slice(i + 2);
			let id = null, data = false;
			for (const line of block.split('\n')) {
				if (line.startsWith('id: ')) id = Number(line.slice(4));
				else if (line.startsWith('data: ')) data = true;
			}
			if (id === null) continue;
			if (data) onEvent(id);
			else if (onId) onId(id);
		}
	};
}

/** One SSE connection from `since` (null: from now on). Resolves when it ends. */
async function sseOnce(d, since, onEvent, { signal, onOpen, onId } = {}) {
	const q = since === null ? '' : `?since=${since}`;
	const res = await fetch(`${d.url}/v1/stream${q}`, {
		headers: { authorization: `Bearer ${d.token}` },
		signal,
	});
	if (res.status !== 200) {
		const text = await res.text().catch(() => '');
		throw new Error(`GET /v1/stream${q}: ${res.status} ${text.slice(0, 200)}`);
	}
	if (onOpen) onOpen();
	const reader = res.body.getReader();
	const dec = new TextDecoder();
	const feed = sseParser(onEvent, onId);
	const cancel = () => reader.cancel().catch(() => {});
	// Node 18's fetch does not always wake a pending read() on abort.
	signal?.addEventListener('abort', cancel, { once: true });
	try {
		for (;;) {
			const { value, done } = await reader.read();
			if (done) return;
			feed(dec.decode(value, { stream: true }));
		}
	} finally {
		signal?.removeEventListener('abort', cancel);
	}
}

/** A minimal RFC 6455 client over node:http (masked client frames). */
function wsOpen(d, query, onText) {
	const key = crypto.randomBytes(16).toString('base64');
	const u = new URL(d.url);
	return new Promise((resolve, reject) => {
		const req = http.request({
			host: u.hostname, port: u.port, path: `/v1/ws${query}`, agent: false,
			headers: {
				authorization: `Bearer ${d.token}`, connection: 'Upgrade', upgrade: 'websocket',
				'sec-websocket-version': '13', 'sec-websocket-key': key,
			},
		});
		req.setTimeout(CONNECT_TIMEOUT_MS, () => req.destroy(new Error('ws connect timeout')));
		req.on('error', reject);
		req.on('response', (res) => {
			res.resume();
			reject(new Error(`GET /v1/ws${query}: ${res.statusCode} (no upgrade)`));
		});
		req.on('upgrade', (res, socket, head) => {
			req.setTimeout(0);
			const want = crypto.createHash('sha1').update(key + GUID).digest('base64');
			if (res.headers['sec-websocket-accept'] !== want) {
				socket.destroy();
				reject(new Error('bad Sec-WebSocket-Accept'));
				return;
			}
			resolve(new WsConn(socket, head, onText));
		});
		req.end();
	});
}

class WsConn {
	constructor(socket, head, onText) {
		this.socket = socket;
		this.buf = Buffer.alloc(0);
		this.onText = onText;
		this.closeCode = null;
		this.closeSent = false;
		this.frag = null;
		this.error = null;
		this.ended = new Promise((resolve) => {
			socket.on('close', resolve);
			socket.on('error', (e) => { this.error = e; resolve(); });
		});
		socket.setNoDelay(true);
		socket.on('data', (c) => this.onData(c));
		if (head && head.length) this.onData(head);
	}

	onData(chunk) {
		this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
		for (;;) {
			if (this.buf.length < 2) return;
			const fin = (this.buf[0] & 0x80) !== 0, op = this.buf[0] & 0x0f;
			let len = this.buf[1] & 0x7f, off = 2;
			if (len === 126) {
				if (this.buf.length < 4) return;
				len = this.buf.readUInt16BE(2); off = 4;
			} else if (len === 127) {
				if (this.buf.length < 10) return;
				len = Number(this.buf.readBigUInt64BE(2)); off = 10;
			}
			if (len > WS_FRAME_MAX) { this.error = new Error(`ws frame of ${len} bytes`); this.socket.destroy(); return; }
			if (this.buf.length < off + len) return;
			const payload = Buffer.from(this.buf.subarray(off, off + len));
			this.buf = this.buf.subarray(off + len);
			this.onFrame(fin, op, payload);
		}
	}

	onFrame(fin, op, payload) {
		if (op === 0x9) { this.sendFrame(0xA, payload); return; }
		if (op === 0xA) return;
		if (op === 0x8) {
			this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
			if (!this.closeSent) this.sendFrame(0x8, payload.subarray(0, 2));
			this.socket.end();
			return;
		}
		if (op === 0x1 || op === 0x2) this.frag = [payload];
		else if (op === 0x0 && this.frag) this.frag.push(payload);
		if (!fin || !this.frag) return;
		const text = Buffer.concat(this.frag).toString('utf8');
		this.frag = null;
		this.onText(text);
	}

	sendFrame(op, payload) {
		if (this.socket.destroyed) return;
		const data = Buffer.from(payload);
		if (data.length >= 126) throw new Error('soak ws client sends only small frames');
		const mask = crypto.randomBytes(4);
		const masked = Buffer.alloc(data.length);
		for (let i = 0; i < data.length; i++) masked[i] = data[i] ^ mask[i & 3];
		if (op === 0x8) this.closeSent = true;
		this.socket.write(Buffer.concat([Buffer.from([0x80 | op, 0x80 | data.length]), mask, masked]));
	}

	/** Close handshake (1000), then wait for the socket to end (bounded). */
	async close() {
		this.sendFrame(0x8, Buffer.from([0x03, 0xe8]));
		const t = setTimeout(() => this.socket.destroy(), 5000);
		await this.ended;
		clearTimeout(t);
	}

	drop() { this.socket.destroy(); }
}

const seqOf = (text) => {
	// Events are {"seq":N,...}; replies ({"op":...}) carry no seq.
	try {
		const v = JSON.parse(text);
		return v && typeof v.seq === 'number' ? v.seq : null;
	} catch { return null; }
};

/**
 * A long-lived follower from seq 0: reconnects with its cursor whenever its
 * connection ends (a restart), until stop(). kind: 'sse' or 'ws'.
 */
export function follow(ctx, kind, name) {
	const f = {
		name, kind, last: 0, events: 0, connections: 0, gapCount: 0, gaps: [], repeatCount: 0, repeats: [],
		errors: 0, errorSamples: [], closeCodes: {},
	};
	let stopping = false;
	let ctl = null;
	let ws = null;
	const onSeq = (seq) => track(f, seq);
	const run = (async () => {
		while (!stopping) {
			const d = await ctx.whenUp();
			if (stopping || !d) break;
			const t0 = Date.now();
			try {
				if (kind === 'sse') {
					ctl = new AbortController();
					await sseOnce(d, f.last, onSeq, { signal: ctl.signal, onOpen: () => f.connections++ });
				} else {
					ws = await wsOpen(d, `?since=${f.last}`, (text) => { const s = seqOf(text); if (s !== null) onSeq(s); });
					f.connections++;
					await ws.ended;
					const code = ws.closeCode ?? 'none';
					f.closeCodes[code] = (f.closeCodes[code] ?? 0) + 1;
					if (ws.error && !stopping && !ctx.isRestarting(t0, Date.now())) throw ws.error;
				}
			} catch (e) {
				if (stopping || e.name === 'AbortError') break;
				if (!ctx.isRestarting(t0, Date.now())) {
					f.errors++;
					if (f.errorSamples.length < MAX_KEPT) f.errorSamples.push(`${new Date().toISOString()} ${e.message}`);
				}
			}
			// The stream ended: msgd is stopping (the next whenUp() waits for
			// the restart), or a failure: retry shortly.
			if (!stopping) await new Promise((r) => setTimeout(r, RECONNECT_MS));
		}
	})();
	f.stop = async () => {
		stopping = true;
		if (ctl) ctl.abort();
		if (ws) ws.drop();
		await run;
	};
	return f;
}

/**
 * One short-lived stream: open (SSE or WS, from now on), read for holdMs,
 * then close (WS: with the close handshake or by dropping the socket).
 * Resolves {ok, ms (time to open), events} or throws.
 */
export async function shortStream(d, kind, holdMs, graceful) {
	const t0 = performance.now();
	let opened = 0, events = 0;
	if (kind === 'sse') {
		const ctl = new AbortController();
		const timer = setTimeout(() => ctl.abort(), holdMs);
		try {
			await sseOnce(d, null, () => { events++; }, {
				signal: ctl.signal,
				onId: () => { if (!opened) opened = performance.now() - t0; },
			});
		} catch (e) {
			if (e.name !== 'AbortError') throw e;
		} finally {
			clearTimeout(timer);
		}
		if (!opened) throw new Error('SSE stream ended before its greeting');
		return { ms: opened, events };
	}
	const ws = await wsOpen(d, '', () => { events++; });
	opened = performance.now() - t0;
	await new Promise((r) => setTimeout(r, holdMs));
	if (graceful) await ws.close();
	else ws.drop();
	return { ms: opened, events };
}
