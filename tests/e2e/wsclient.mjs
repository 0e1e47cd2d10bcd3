// wsclient.mjs - a minimal RFC 6455 WebSocket client for the e2e tests
// (Node 18 and 20 have none): node:http upgrade, masked client frames.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { waitFor } from './lib.mjs';

export const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Open a WebSocket to d's /v1/ws. Resolves {status, ws} (ws when 101) or
 *  {status, json} when the server answered without upgrading. */
export function wsConnect(d, { query = '', headers } = {}) {
	const key = crypto.randomBytes(16).toString('base64');
	const u = new URL(d.url);
	const h = headers ?? {
		authorization: `Bearer ${d.token}`, connection: 'Upgrade', upgrade: 'websocket',
		'sec-websocket-version': '13', 'sec-websocket-key': key,
	};
	return new Promise((resolve, reject) => {
		const req = http.request({ host: u.hostname, port: u.port, path: `/v1/ws${query}`, headers: h, agent: false });
		req.setTimeout(15_000, () => req.destroy(new Error('ws connect timeout')));
		req.on('error', reject);
		req.on('response', (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => {
				const text = Buffer.concat(chunks).toString('utf8');
				let json;
				try { json = JSON.parse(text); } catch { json = undefined; }
				resolve({ status: res.statusCode, headers: res.headers, json, text });
			});
		});
		req.on('upgrade', (res, socket, head) => {
			const want = crypto.createHash('sha1').update(key + GUID).digest('base64');
			assert.equal(res.headers['sec-websocket-accept'], want, 'Sec-WebSocket-Accept');
			resolve({ status: res.statusCode, headers: res.headers, ws: new WsClient(socket, head) });
		});
		req.end();
	});
}

export class WsClient {
	constructor(socket, head) {
		this.socket = socket;
		this.buf = Buffer.alloc(0);
		this.texts = [];          // every text message, parsed when JSON
		this.close = null;        // {code, reason} once a close frame arrived
		this.ended = false;
		this.frag = null;
		socket.setNoDelay(true);
		socket.on('data', (c) => this.onData(c));
		socket.on('close', () => { this.ended = true; });
		socket.on('error', () => { this.ended = true; });
		if (head && head.length) this.onData(head);
	}

	onData(chunk) {
		this.buf = Buffer.concat([this.buf, chunk]);
		for (;;) {
			if (this.stopped) return;
			if (this.buf.length < 2) return;
			const fin = (this.buf[0] & 0x80) !== 0, op = this.buf[0] & 0x0f;
			assert.equal(this.buf[1] & 0x80, 0, 'server frames are not masked');
			let len = this.buf[1] & 0x7f, off = 2;
			if (len === 126) {
				if (this.buf.length < 4) return;
				len = this.buf.readUInt16BE(2); off = 4;
			} else if (len === 127) {
				if (this.buf.length < 10) return;
				len = Number(this.buf.readBigUInt64BE(2)); off = 10;
			}
			if (this.buf.length < off + len) return;
			const payload = this.buf.subarray(off, off + len);
			this.buf = this.buf.subarray(off + len);
			this.onFrame(fin, op, Buffer.from(payload));
		}
	}

	onFrame(fin, op, payload) {
		if (op === 0x9) { this.sendFrame(0xA, payload); return; }
		if (op === 0xA) return;
		if (op === 0x8) {
			this.close = { code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005, reason: payload.subarray(2).toString('utf8') };
			if (!this.closeSent) this.sendFrame(0x8, payload.subarray(0, 2));
			this.socket.end();
			return;
		}
		if (op === 0x1 || op === 0x2) this.frag = { op, parts: [payload] };
		else if (op === 0x0) this.frag.parts.push(payload);
		if (!fin) return;
		const text = Buffer.concat(this.frag.parts).toString('utf8');
		this.frag = null;
		let v;
		try { v = JSON.parse(text); } catch { v = text; }
		this.texts.push(v);
		// stopAt: read no further than that many events (the rest is lost with the socket).
		if (this.stopAt && this.events.length >= this.stopAt) {
			this.stopped = true;
			this.socket.pause();
		}
	}

	sendFrame(op, payload, fin = true) {
		if (this.socket.destroyed) return;
		const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
		const mask = crypto.randomBytes(4);
		let head;
		if (data.length < 126) {
			head = Buffer.from([(fin ? 0x80 : 0) | op, 0x80 | data.length]);
		} else if (data.length < 65536) {
			head = Buffer.alloc(4);
			head[0] = (fin ? 0x80 : 0) | op; head[1] = 0x80 | 126; head.writeUInt16BE(data.length, 2);
		} else {
			head = Buffer.alloc(10);
			head[0] = (fin ? 0x80 : 0) | op; head[1] = 0x80 | 127; head.writeBigUInt64BE(BigInt(data.length), 2);
		}
		const masked = Buffer.alloc(data.length);
		for (let i = 0; i < data.length; i++) masked[i] = data[i] ^ mask[i & 3];
		if (op === 0x8) this.closeSent = true;
		this.socket.write(Buffer.concat([head, mask, masked]));
	}

	send(obj) { this.sendFrame(0x1, typeof obj === 'string' ? obj : JSON.stringify(obj)); }

	/** Events received so far (text frames with a seq). */
	get events() { return this.texts.filter((t) => t && typeof t === 'object' && typeof t.seq === 'number'); }
	/** Replies (text frames with an op). */
	replies(op) { return this.texts.filter((t) => t && typeof t === 'object' && t.op === op); }

	async closeAndWait(code = 1000) {
		this.sendFrame(0x8, Buffer.from([code >> 8, code & 0xff]));
		await waitFor(() => this.ended || this.close, 5000, { what: 'close answered' });
		this.socket.destroy();
	}

	drop() { this.socket.destroy(); }
}
