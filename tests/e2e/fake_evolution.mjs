// fake_evolution.mjs - a fake Evolution API (v2) server for msgd's
// end-to-end tests of the `evolution` channel type.
//
//   const fake = await startFakeEvolution({ instance: 'tigo1', apikey: 'k1' });
//   ... channel config {api_base_url: fake.url, api_key: 'k1', instance: 'tigo1'} ...
//   fake.notOnWhatsApp.add('5511999999999');   // sends to it: 400 exists:false
//   fake.next(2, { status: 500 });             // the next 2 requests fail
//   fake.next(1, fake.errors.unauthorized());  // 401 as Evolution answers it
//   fake.rule((r) => r.endpoint === 'sendMedia', { delayMs: 3000 });
//   fake.always(null);                         // back to normal answers
//   await fake.upsert('tigo1', { from: '15550100001', text: 'hi' }, url);  // a webhook to msgd
//   await fake.close();
//
// Endpoints, answered like Evolution v2 when no fault applies:
//   POST   /message/sendText/{instance}    {number, text, ...} → 201 {key:{remoteJid,fromMe,id},
//          message, messageTimestamp, status:"PENDING"}; a number in notOnWhatsApp → 400
//          {"status":400,"error":"Bad Request","response":{"message":[{"exists":false,"jid","number"}]}}
//   POST   /message/sendMedia/{instance}   {number, mediatype, media, ...} → 201 likewise
//   POST   /message/sendSticker|sendLocation/{instance} → 201 likewise
//   GET    /instance/connect/{instance}    → {pairingCode, code, count} (the instance goes to
//          "connecting"), or {instance:{instanceName,state:"open"}} when it is paired
//   GET    /instance/connectionState/{instance} → {instance:{instanceName, state}}
//   DELETE /instance/logout/{instance}     → 200 (state "close"), 400 when not connected
//   POST   /webhook/set/{instance}         {webhook:{enabled,url,events,...}} → 201; kept in
//          fake.instances.get(name).webhook
//   POST   /chat/getBase64FromMediaMessage/{instance} {message:{key:{id}}} → 201 {base64,
//          mimetype, mediaType} of the media fake.addMedia(keyId, bytes, mimetype) stored;
//          400 for another id
// A multipart/form-data send (sendMedia with a "file" part) is recorded with its text
// fields as rec.body and rec.files {name: {filename, type, bytes}}.
// Every request must carry the instance's `apikey` header (or fake.globalKey): else 401
// {"status":401,"error":"Unauthorized","response":{"message":"Unauthorized"}}. An unknown
// instance → 404 {"status":404,"error":"Not Found","response":{"message":["The \"x\"
// instance does not exist"]}}. Unknown paths → 404.
//
// Faults: the first queued next() entry (FIFO, each good for n requests), else the first
// matching rule(fn(rec)), else always(), else the normal answer. A reply is
// {status, body, headers, delayMs, reset} (see fake_graph.mjs); fake.errors has the
// Evolution-shaped ones.
//
// Every request is recorded in fake.requests:
//   {n, t, method, path, endpoint, instance, apikey, headers, raw, body, to, status, id,
//    responseBody, endT, aborted, reset}
//
// Webhooks: fake.emit(instance, event, data, {url, apikey, sender}) POSTs
// {event, instance, data, destination, date_time, sender, server_url, apikey} to url
// (default: the URL webhook/set registered) with the instance's apikey in the body, as
// Evolution does, and resolves to {status, text, json}. fake.upsert(), fake.update(),
// fake.connection(), fake.qrcode() build the usual events; fake.pair(instance) marks the
// instance open and emits connection.update.

import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { parseMultipart } from './fake_telegram.mjs';

const SEND_ENDPOINTS = new Set(['sendText', 'sendMedia', 'sendSticker', 'sendLocation']);

export const errors = {
	unauthorized: () => ({ status: 401, body: { status: 401, error: 'Unauthorized', response: { message: 'Unauthorized' } } }),
	forbidden: () => ({ status: 403, body: { status: 403, error: 'Forbidden', response: { message: ['Missing global api key'] } } }),
	instanceNotFound: (name) => ({ status: 404, body: { status: 404, error: 'Not Found', response: { message: [`The "${name}" instance does not exist`] } } }),
	notOnWhatsApp: (number) => ({ status: 400, body: { status: 400, error: 'Bad Request', response: { message: [{ exists: false, jid: `${number}@s.whatsapp.net`, number }] } } }),
	badRequest: (msg = 'Bad Request') => ({ status: 400, body: { status: 400, error: 'Bad Request', response: { message: [msg] } } }),
	throttled: (retryAfter = '1') => ({ status: 429, body: { status: 429, error: 'Too Many Requests', response: { message: ['rate limit'] } }, headers: { 'retry-after': retryAfter } }),
	serverError: (status = 500) => ({ status, body: { status, error: 'Internal Server Error', response: { message: 'Connection Closed' } } }),
};

export async function startFakeEvolution({ host = '127.0.0.1', instance = 'tigo1', apikey = 'evo-key-1', number = '15550100002' } = {}) {
	const requests = [];
	const queue = [];
	const rules = [];
	const instances = new Map();
	const notOnWhatsApp = new Set();
	const sockets = new Set();
	let dflt = null;
	let seq = 0;
	let idSeq = 0;
	let qrSeq = 0;
	const media = new Map();  // message key id -> {bytes, mimetype}

	function addInstance(name, key, ownNumber = number) {
		instances.set(name, { name, apikey: key, number: ownNumber, state: 'close', webhook: null, qr: null, count: 0 });
		return instances.get(name);
	}
	if (instance) addInstance(instance, apikey);

	function pick(rec) {
		for (let i = 0; i < queue.length; i++) {
			const q = queue[i];
			if (q.match && !q.match(rec)) continue;
			if (--q.left <= 0) queue.splice(i, 1);
			return q.reply;
		}
		for (let i = 0; i < rules.length; i++) {
			const r = rules[i];
			if (!r.match(rec)) continue;
			if (r.left !== Infinity && --r.left <= 0) rules.splice(i, 1);
			return r.reply;
		}
		return dflt;
	}

	function send(res, rec, status, body, headers = {}) {
		const buf = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
		rec.status = status;
		rec.endT = performance.now();
		rec.responseBody = buf.toString('utf8');
		res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': buf.length, ...headers });
		res.end(buf);
	}

	function sent(rec, inst) {
		const number = String(rec.body?.number ?? '');
		if (!number) return errors.badRequest('number is required');
		if (notOnWhatsApp.has(number.replace(/@.*$/, ''))) return errors.notOnWhatsApp(number);
		const id = `BAE5FAKE${String(++idSeq).padStart(8, '0')}`;
		rec.id = id;
		const jid = number.includes('@') ? number : `${number}@s.whatsapp.net`;
		const message = rec.endpoint === 'sendText'
			? { extendedTextMessage: { text: rec.body.text } }
			: { [`${rec.body.mediatype ?? 'image'}Message`]: { url: rec.body.media, caption: rec.body.caption } };
		return { status: 201, body: { key: { remoteJid: jid, fromMe: true, id }, message, messageTimestamp: String(Math.floor(Date.now() / 1000)), status: 'PENDING', instance: inst.name } };
	}

	// The answer Evolution would give when no fault applies.
	function normal(rec) {
		const inst = instances.get(rec.instance);
		if (!rec.group || !rec.endpoint || !rec.instance) return { status: 404, body: { status: 404, error: 'Not Found', response: { message: [`Cannot ${rec.method} ${rec.path}`] } } };
		if (!inst) return errors.instanceNotFound(rec.instance);
		if (rec.apikey !== inst.apikey && !(fake.globalKey && rec.apikey === fake.globalKey)) return errors.unauthorized();
		const route = `${rec.method} ${rec.group}/${rec.endpoint}`;
		if (rec.group === 'message' && rec.method === 'POST' && SEND_ENDPOINTS.has(rec.endpoint)) return sent(rec, inst);
		switch (route) {
		case 'GET instance/connect':
			if (inst.state === 'open') return { status: 200, body: { instance: { instanceName: inst.name, state: 'open' } } };
			inst.state = 'connecting';
			inst.count++;
			inst.qr = `2@FAKEqr${++qrSeq},FAKEnoiseKey=,FAKEidentityKey=,FAKEadvSecret=`;
			return { status: 200, body: { pairingCode: `FAKE${String(qrSeq).padStart(4, '0')}`, code: inst.qr, count: inst.count } };
		case 'POST chat/getBase64FromMediaMessage': {
			const m = media.get(String(rec.body?.message?.key?.id ?? ''));
			if (!m) return errors.badRequest('Message not found');
			return { status: 201, body: { mediaType: 'imageMessage', fileName: null, caption: null, size: {}, mimetype: m.mimetype, base64: m.bytes.toString('base64') } };
		}
		case 'GET instance/connectionState':
			return { status: 200, body: { instance: { instanceName: inst.name, state: inst.state } } };
		case 'DELETE instance/logout':
			if (inst.state !== 'open' && inst.state !== 'connecting') return errors.badRequest(`The "${inst.name}" instance is not connected`);
			inst.state = 'close';
			return { status: 200, body: { status: 'SUCCESS', error: false, response: { message: 'Instance logged out' } } };
		case 'POST webhook/set': {
			const w = rec.body?.webhook ?? rec.body;
			if (!w || typeof w.url !== 'string') return errors.badRequest('webhook.url is required');
			inst.webhook = { enabled: w.enabled !== false, url: w.url, events: w.events ?? [], byEvents: !!w.byEvents, base64: !!w.base64 };
			return { status: 201, body: { webhook: { instanceName: inst.name, webhook: inst.webhook } } };
		}
		default:
			return { status: 404, body: { status: 404, error: 'Not Found', response: { message: [`Cannot ${rec.method} ${rec.path}`] } } };
		}
	}

	async function handle(req, res, raw) {
		const url = new URL(req.url, 'http://fake');
		const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
		const rec = {
			n: seq++, t: performance.now(), method: req.method, path: req.url,
			group: parts[0], endpoint: parts[1], instance: parts[2], apikey: req.headers.apikey,
			headers: req.headers, raw: raw.toString('utf8'), body: undefined, to: undefined,
			status: undefined, id: undefined, endT: undefined, aborted: false, reset: false,
		};
		if (/^multipart\/form-data/.test(req.headers['content-type'] ?? '')) {
			const mp = parseMultipart(req.headers['content-type'], raw);
			rec.body = mp.fields;
			rec.files = mp.files;
		} else {
			try { rec.body = rec.raw ? JSON.parse(rec.raw) : undefined; } catch { /* recorded raw */ }
		}
		if (rec.group === 'message' && typeof rec.body?.number === 'string') rec.to = rec.body.number;
		requests.push(rec);

		let closed = false;
		res.once('close', () => { if (!res.writableFinished) closed = true; });
		const reply = pick(rec) ?? {};
		if (reply.delayMs) {
			await new Promise((resolve) => {
				const timer = setTimeout(resolve, reply.delayMs);
				res.once('close', () => { clearTimeout(timer); resolve(); });
			});
		}
		if (closed || res.destroyed || req.socket.destroyed) {
			rec.aborted = true;
			rec.endT = performance.now();
			return;
		}
		if (reply.reset) {
			rec.reset = true;
			rec.endT = performance.now();
			req.socket.destroy();
			return;
		}
		const answer = reply.status !== undefined ? reply : normal(rec);
		send(res, rec, answer.status, answer.body ?? '', { ...(answer.headers ?? {}), ...(reply.headers ?? {}) });
	}

	const server = http.createServer((req, res) => {
		const chunks = [];
		req.on('data', (c) => chunks.push(c));
		req.on('end', () => { handle(req, res, Buffer.concat(chunks)).catch(() => { try { req.socket.destroy(); } catch { /* gone */ } }); });
		req.on('error', () => { /* client went away */ });
	});
	server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
	await new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(0, host, resolve);
	});
	const { port } = server.address();
	const base = `http://${host}:${port}`;

	// POST an event to msgd as Evolution does: the apikey in the body.
	async function emit(name, event, data, { url, apikey: key, sender, body: override } = {}) {
		const inst = instances.get(name);
		const target = url ?? inst?.webhook?.url;
		if (!target) throw new Error(`no webhook URL for instance ${name}: pass {url} or connect first`);
		const body = override ?? {
			event, instance: name, data, destination: target,
			date_time: new Date().toISOString(),
			sender: sender === undefined ? `${inst?.number ?? number}@s.whatsapp.net` : sender,
			server_url: base, apikey: key ?? inst?.apikey,
		};
		const text = typeof body === 'string' ? body : JSON.stringify(body);
		const r = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
		const rtext = await r.text();
		let json;
		try { json = JSON.parse(rtext); } catch { /* not JSON */ }
		return { status: r.status, text: rtext, json };
	}

	const fake = {
		url: base,
		port,
		requests,
		instances,
		notOnWhatsApp,
		errors,
		globalKey: null,
		addInstance,
		/** Media of message key id, for getBase64FromMediaMessage. */
		addMedia(keyId, bytes, mimetype) { media.set(keyId, { bytes: Buffer.from(bytes), mimetype }); return fake; },
		/** The next n requests (matching fn(rec), if given) get `reply`. */
		next(n, reply = {}, match) { queue.push({ left: n, reply, match }); return fake; },
		/** Every request matching fn(rec) gets `reply` (times: how many). Returns {remove()}. */
		rule(match, reply = {}, { times = Infinity } = {}) {
			const r = { match, reply, left: times };
			rules.push(r);
			return { remove() { const i = rules.indexOf(r); if (i >= 0) rules.splice(i, 1); } };
		},
		always(reply) { dflt = reply ?? null; return fake; },
		clearFaults() { queue.length = 0; rules.length = 0; dflt = null; return fake; },
		sends() { return requests.filter((r) => r.group === 'message' && SEND_ENDPOINTS.has(r.endpoint)); },
		emit,
		/** messages.upsert of a 1:1 or group message ({group, participant}) or an echo ({fromMe}). */
		upsert(name, { from = '15550100001', text = 'hello', id, fromMe = false, pushName = 'Test Customer', group, participant, message, timestamp } = {}, opts = {}) {
			const key = { remoteJid: group ?? `${from}@s.whatsapp.net`, fromMe, id: id ?? `3EB0FAKE${String(++idSeq).padStart(8, '0')}` };
			if (group) key.participant = participant ?? `${from}@s.whatsapp.net`;
			return emit(name, 'messages.upsert', {
				key, pushName, message: message ?? { conversation: text },
				messageType: message ? Object.keys(message)[0] : 'conversation',
				messageTimestamp: timestamp ?? Math.floor(Date.now() / 1000), owner: name, source: 'web',
			}, opts);
		},
		/** messages.update: status SERVER_ACK | DELIVERY_ACK | READ | PLAYED | ERROR | DELETED. */
		update(name, { keyId, status, remoteJid = '15550100001@s.whatsapp.net', fromMe = true } = {}, opts = {}) {
			return emit(name, 'messages.update', { keyId, remoteJid, fromMe, participant: remoteJid, status, instanceId: 'fake', messageId: `db${keyId}` }, opts);
		},
		connection(name, state, statusReason, opts = {}) {
			const inst = instances.get(name);
			if (inst) inst.state = state;
			return emit(name, 'connection.update', { instance: name, state, statusReason: statusReason ?? (state === 'open' ? 200 : undefined) }, opts);
		},
		qrcode(name, { code, pairingCode = null } = {}, opts = {}) {
			const inst = instances.get(name);
			const c = code ?? `2@FAKEqr${++qrSeq},FAKEnoiseKey=,FAKEidentityKey=,FAKEadvSecret=`;
			if (inst) inst.qr = c;
			return emit(name, 'qrcode.updated', { qrcode: { instance: name, pairingCode, code: c, base64: 'data:image/png;base64,' } }, opts);
		},
		/** The phone scanned the code: the instance opens. */
		pair(name, opts = {}) { return fake.connection(name, 'open', 200, opts); },
		async close() {
			for (const s of sockets) s.destroy();
			await new Promise((resolve) => server.close(resolve));
		},
	};
	return fake;
}
