// fake_telegram.mjs - a fake Telegram Bot API server for msgd's end-to-end
// tests of the `telegram` channel type.
//
//   const tg = await startFakeTelegram();          // or sendSetup-style: telegramSetup(h)
//   ... channel config {bot_token: tg.token, api_base_url: tg.url, ...}
//   tg.push({message: {...}});                      // queue an Update for getUpdates
//                                                   // (update_id assigned when absent)
//   tg.next(1, tg.error(429, {retryAfter: 2}));     // the next send is throttled
//   tg.next(1, tg.corpusError('403_blocked'));      // corpus telegram/errors/<name>
//   tg.rule('-1005', tg.error(400, {description: 'Bad Request: chat not found'}));
//   tg.next(2, tg.error(409), {methods: ['getUpdates']});
//   tg.next(1, {delayMs: 500}); tg.next(1, {reset: true}); tg.always(tg.error(502));
//   await tg.deliver(update);                       // POST it to the webhook setWebhook named,
//                                                   // with its secret_token: {status, body}
//   await tg.close();
//
// Files (issue 14): tg.addFile(file_id, bytes, path) makes getFile answer
// {file_path} and GET /file/bot<token>/<path> the bytes (method 'file' for
// next()/rule()); a multipart send (sendPhoto with the photo as a file
// part) is recorded with rec.files {field: {filename, type, bytes}}.
//
// Every request {api}/bot<token>/<method> (POST JSON, form-encoded, or GET
// with a query) is answered like the Bot API: {"ok":true,"result":...} or
// {"ok":false,"error_code","description"[,"parameters"]}:
//   sendMessage, sendPhoto, sendDocument, sendVideo, sendAudio, sendVoice,
//   sendSticker, sendLocation, sendVenue, sendAnimation  → a Message
//       {message_id (per chat, from 1), date, chat {id, type}, text|caption...}
//   setMessageReaction, answerCallbackQuery, sendChatAction → true
//   setWebhook {url, secret_token, allowed_updates}   → true (kept in tg.webhook)
//   deleteWebhook                                      → true (tg.webhook = null)
//   getWebhookInfo → {url, pending_update_count}; getMe → {id, is_bot, username}
//   getUpdates {offset, limit, timeout, allowed_updates}: confirms (drops)
//       queued updates below offset, answers the rest at once, else holds the
//       request until push() or `timeout` s (capped by maxHoldMs) and answers
//       []. While a webhook is set: 409 "can't use getUpdates method while
//       webhook is active"; a newer getUpdates ends a held one with 409
//       "terminated by other getUpdates request".
//   another method: 404 Not Found. A token in tg.badTokens, or not tg.token
//   when strictToken (the default): 401 Unauthorized.
//
// Which reply a request gets: the first queued next() entry, else the first
// matching rule(), else always(), else the answer above. A reply is
// {status, body, headers, delayMs, reset} as in fake_graph.mjs (status 200
// without a body: the normal answer, after delayMs). Entries apply to the
// send methods (send*, setMessageReaction) unless {methods: [...]} (or '*')
// says otherwise; rule(match) takes a chat id string or fn(rec).
//
// Every request is recorded in tg.requests:
//   {n, t, wall, httpMethod, path, token, method, headers, raw, body,
//    params, chatId, status, result, aborted, reset, endT}
// body is the request as sent (JSON-serialized fields stay strings), params
// the same with reply_markup, reply_parameters, reaction, allowed_updates
// ... parsed. tg.calls(method), tg.sends(), tg.to(chatId) filter them.
// tg.onRequest(fn) calls fn(rec) as each request arrives (before it is
// handled: a getUpdates offset not yet applied); tg.onAnswer(fn) calls
// fn(rec) just after each answer was written (rec.status, rec.result set).

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { CORPUS } from './lib.mjs';

const SEND_METHODS = new Set(['sendMessage', 'sendPhoto', 'sendDocument', 'sendVideo', 'sendAudio',
	'sendVoice', 'sendSticker', 'sendLocation', 'sendVenue', 'sendAnimation', 'sendVideoNote',
	'setMessageReaction']);
const SERIALIZED = ['reply_markup', 'reply_parameters', 'reaction', 'allowed_updates',
	'link_preview_options', 'entities', 'caption_entities'];
const TRUE_METHODS = new Set(['setMessageReaction', 'answerCallbackQuery', 'sendChatAction']);

/** {status, body: Buffer, headers} of corpus telegram/errors/<name>.response.* */
export function corpusError(name, extra = {}) {
	const dir = path.join(CORPUS, 'telegram', 'errors');
	const body = fs.readFileSync(path.join(dir, `${name}.response.json`));
	const txt = fs.readFileSync(path.join(dir, `${name}.response.txt`), 'utf8');
	const m = txt.match(/^HTTP\/\d(?:\.\d)?\s+(\d{3})/m);
	if (!m) throw new Error(`no status line in ${name}.response.txt`);
	return { status: Number(m[1]), body, ...extra };
}

const DESCRIPTIONS = {
	400: 'Bad Request: message text is empty',
	401: 'Unauthorized',
	403: 'Forbidden: bot was blocked by the user',
	404: 'Not Found',
	409: 'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running',
	429: 'Too Many Requests: retry after 1',
	500: 'Internal Server Error',
	502: 'Bad Gateway',
};

/** A Bot API error reply: error(429, {retryAfter: 3}), error(400, {description}). */
export function error(code, { description, retryAfter, migrateTo, status } = {}) {
	const body = { ok: false, error_code: code, description: description ?? DESCRIPTIONS[code] ?? `Error ${code}` };
	if (retryAfter !== undefined) {
		body.parameters = { retry_after: retryAfter };
		if (description === undefined) body.description = `Too Many Requests: retry after ${retryAfter}`;
	}
	if (migrateTo !== undefined) body.parameters = { ...(body.parameters ?? {}), migrate_to_chat_id: migrateTo };
	return { status: status ?? code, body };
}

/** multipart/form-data: {fields: {name: text}, files: {name: {filename, type, bytes}}}. */
export function parseMultipart(contentType, raw) {
	const m = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType ?? '');
	const out = { fields: {}, files: {} };
	if (!m) return out;
	const delim = Buffer.from(`--${m[1] ?? m[2]}`);
	let i = raw.indexOf(delim);
	while (i >= 0) {
		let start = i + delim.length;
		if (raw.slice(start, start + 2).toString() === '--') break;
		start += 2;  // CRLF
		const next = raw.indexOf(delim, start);
		if (next < 0) break;
		const part = raw.slice(start, next - 2);
		const he = part.indexOf('\r\n\r\n');
		const head = part.slice(0, he).toString('utf8');
		const content = part.slice(he + 4);
		const name = /name="([^"]*)"/.exec(head)?.[1];
		const filename = /filename="([^"]*)"/.exec(head)?.[1];
		const type = /content-type:\s*([^\r\n]+)/i.exec(head)?.[1];
		if (name !== undefined) {
			if (filename !== undefined) out.files[name] = { filename, type, bytes: content };
			else out.fields[name] = content.toString('utf8');
		}
		i = next;
	}
	return out;
}

function parseParams(req, raw) {
	const type = (req.headers['content-type'] ?? '').split(';')[0].trim();
	const q = new URL(req.url, 'http://x').searchParams;
	let body = Object.fromEntries(q.entries());
	if (raw.length > 0 && type === 'multipart/form-data') {
		const mp = parseMultipart(req.headers['content-type'], raw);
		body = { ...body, ...mp.fields };
		for (const [k, f] of Object.entries(mp.files)) body[k] = `attach:${f.filename}`;
		const params = { ...body };
		for (const k of SERIALIZED) {
			if (typeof params[k] === 'string') { try { params[k] = JSON.parse(params[k]); } catch { /* as sent */ } }
		}
		return { body, params, files: mp.files };
	}
	if (raw.length > 0) {
		if (type === 'application/x-www-form-urlencoded') body = { ...body, ...Object.fromEntries(new URLSearchParams(raw.toString('utf8')).entries()) };
		else {
			try { const j = JSON.parse(raw.toString('utf8')); body = j && typeof j === 'object' ? { ...body, ...j } : j; } catch { body = undefined; }
		}
	}
	if (!body || typeof body !== 'object') return { body, params: body };
	const params = { ...body };
	for (const k of SERIALIZED) {
		if (typeof params[k] === 'string') { try { params[k] = JSON.parse(params[k]); } catch { /* as sent */ } }
	}
	return { body, params };
}

function matches(entry, rec) {
	const methods = entry.methods ?? null;
	if (methods === '*') { /* every method */ } else if (methods) { if (!methods.includes(rec.method)) return false; } else if (!SEND_METHODS.has(rec.method)) return false;
	if (entry.match === undefined) return true;
	if (typeof entry.match === 'function') return !!entry.match(rec);
	return rec.chatId === String(entry.match);
}

export async function startFakeTelegram({ host = '127.0.0.1', token = '123456:FAKE-e2e-token', strictToken = true, maxHoldMs = 30_000 } = {}) {
	const requests = [];
	const badTokens = new Set();
	const queue = [];
	const rules = [];
	const updates = [];   // pending Updates (not yet confirmed by an offset)
	const waiters = [];   // held getUpdates: {resolve}
	const perChat = new Map();
	const sockets = new Set();
	const requestHooks = [];
	const answerHooks = [];
	const files = new Map();  // file_id -> {bytes, path}: getFile, then GET /file/bot<token>/<path>
	let dflt = null;
	let seq = 0;
	let updateSeq = 1000;
	let uploadSeq = 0;
	const botId = Number(token.split(':')[0]) || 123456;

	const fake = {
		url: undefined,
		token,
		botId,
		requests,
		badTokens,
		webhook: null,
		updates,
		corpusError,
		error,
	};

	function pick(rec) {
		for (let i = 0; i < queue.length; i++) {
			const q = queue[i];
			if (!matches(q, rec)) continue;
			if (--q.left <= 0) queue.splice(i, 1);
			return q.reply;
		}
		for (let i = 0; i < rules.length; i++) {
			const r = rules[i];
			if (!matches(r, rec)) continue;
			if (r.left !== Infinity && --r.left <= 0) rules.splice(i, 1);
			return r.reply;
		}
		return dflt;
	}

	function send(res, rec, status, body, headers = {}) {
		if (res.writableEnded || res.destroyed) return;
		const buf = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
		rec.status = status;
		rec.endT = performance.now();
		rec.responseBody = buf.toString('utf8');
		res.writeHead(status, { 'content-type': 'application/json', 'content-length': buf.length, ...headers });
		res.end(buf);
		for (const fn of answerHooks) fn(rec);
	}

	function chatOf(chatId) {
		const s = String(chatId);
		const id = /^-?\d+$/.test(s) ? Number(s) : -1009000000000 - s.length;
		return { id, type: id < 0 ? 'supergroup' : 'private', ...(s.startsWith('@') ? { username: s.slice(1) } : {}) };
	}

	function message(rec) {
		const p = rec.params;
		const chat = chatOf(p.chat_id);
		const n = (perChat.get(chat.id) ?? 0) + 1;
		perChat.set(chat.id, n);
		const m = { message_id: n, from: { id: botId, is_bot: true, first_name: 'Fake Bot', username: 'fake_bot' }, chat, date: Math.floor(Date.now() / 1000) };
		if (p.text !== undefined) m.text = p.text;
		if (p.caption !== undefined) m.caption = p.caption;
		// A file uploaded with the send (multipart) gets a file_id of its own.
		const file = (v) => ({ file_id: String(v).startsWith('attach:') ? `AgACupload${++uploadSeq}` : String(v), file_unique_id: `u${n}` });
		if (p.photo !== undefined) m.photo = [{ ...file(p.photo), width: 90, height: 90 }];
		for (const k of ['document', 'video', 'audio', 'voice', 'sticker', 'animation']) if (p[k] !== undefined) m[k] = file(p[k]);
		if (rec.method === 'sendLocation' || rec.method === 'sendVenue') m.location = { latitude: Number(p.latitude), longitude: Number(p.longitude) };
		if (rec.method === 'sendVenue') m.venue = { location: m.location, title: p.title, address: p.address };
		if (p.reply_parameters?.message_id) m.reply_to_message = { message_id: p.reply_parameters.message_id, chat, date: m.date };
		if (p.reply_markup?.inline_keyboard) m.reply_markup = { inline_keyboard: p.reply_markup.inline_keyboard };
		return m;
	}

	function confirm(offset) {
		if (!Number.isInteger(offset)) return;
		while (updates.length && updates[0].update_id < offset) updates.shift();
	}

	function available(rec) {
		const limit = Math.min(Math.max(Number(rec.params.limit ?? 100) || 100, 1), 100);
		const allowed = Array.isArray(rec.params.allowed_updates) && rec.params.allowed_updates.length ? rec.params.allowed_updates : null;
		return updates.filter((u) => !allowed || Object.keys(u).some((k) => k !== 'update_id' && allowed.includes(k))).slice(0, limit);
	}

	async function getUpdates(req, res, rec) {
		if (fake.webhook) {
			send(res, rec, 409, error(409, { description: "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first" }).body);
			return;
		}
		// A newer poll ends the held one, as Telegram does.
		for (const w of waiters.splice(0)) w.conflict();
		if (rec.params.offset !== undefined) confirm(Number(rec.params.offset));
		let list = available(rec);
		const timeoutS = Number(rec.params.timeout ?? 0) || 0;
		if (list.length === 0 && timeoutS > 0) {
			const outcome = await new Promise((resolve) => {
				const w = { conflict: () => { clearTimeout(timer); resolve('conflict'); }, wake: () => { clearTimeout(timer); resolve('wake'); } };
				const timer = setTimeout(() => { const i = waiters.indexOf(w); if (i >= 0) waiters.splice(i, 1); resolve('timeout'); }, Math.min(timeoutS * 1000, maxHoldMs));
				waiters.push(w);
				res.once('close', () => { const i = waiters.indexOf(w); if (i >= 0) waiters.splice(i, 1); clearTimeout(timer); resolve('closed'); });
			});
			if (outcome === 'closed') { rec.aborted = true; rec.endT = performance.now(); return; }
			if (outcome === 'conflict') { send(res, rec, 409, error(409).body); return; }
			list = available(rec);
		}
		rec.result = list;
		send(res, rec, 200, { ok: true, result: list });
	}

	async function handle(req, res, raw) {
		const t = performance.now();
		const fm = req.method === 'GET' && req.url.match(/^\/file\/bot([^/?]+)\/(.+)$/);
		if (fm) {
			// A file download (after getFile): the bytes of the file at that path.
			const rec = { n: seq++, t, wall: Date.now(), httpMethod: 'GET', path: req.url, token: fm[1], method: 'file',
				headers: req.headers, params: {}, status: undefined };
			requests.push(rec);
			const f = [...files.values()].find((x) => x.path === fm[2]);
			const reply = pick(rec) ?? {};
			if ((reply.status ?? 200) !== 200) { send(res, rec, reply.status, reply.body ?? ''); return; }
			if (!f || rec.token !== token) { send(res, rec, 404, error(404).body); return; }
			rec.status = 200;
			rec.endT = performance.now();
			res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': f.bytes.length });
			res.end(f.bytes);
			return;
		}
		const m = req.url.match(/^\/bot([^/?]+)\/([A-Za-z]+)(?:\?.*)?$/);
		const { body, params, files: upload } = parseParams(req, raw);
		const rec = {
			n: seq++, t, wall: Date.now(), httpMethod: req.method, path: req.url, headers: req.headers,
			files: upload,
			token: m?.[1], method: m?.[2], raw: raw.toString('utf8'), body, params: params ?? {},
			chatId: params?.chat_id !== undefined ? String(params.chat_id) : undefined,
			status: undefined, result: undefined, aborted: false, reset: false, endT: undefined,
		};
		requests.push(rec);
		for (const fn of requestHooks) fn(rec);
		let closed = false;
		res.once('close', () => { if (!res.writableFinished) closed = true; });

		const reply = (m ? pick(rec) : null) ?? {};
		if (reply.delayMs) {
			await new Promise((resolve) => {
				const timer = setTimeout(resolve, reply.delayMs);
				res.once('close', () => { clearTimeout(timer); resolve(); });
			});
		}
		if (closed || res.destroyed || req.socket.destroyed) { rec.aborted = true; rec.endT = performance.now(); return; }
		if (reply.reset) { rec.reset = true; rec.endT = performance.now(); req.socket.destroy(); return; }
		const status = reply.status ?? 200;
		if (status !== 200 || reply.body !== undefined) { send(res, rec, status, reply.body ?? '', reply.headers); return; }

		if (!m) { send(res, rec, 404, error(404).body); return; }
		if (badTokens.has(rec.token) || (strictToken && rec.token !== token)) { send(res, rec, 401, error(401).body); return; }
		if (!params || typeof params !== 'object') { send(res, rec, 400, error(400, { description: 'Bad Request: invalid JSON' }).body); return; }
		const ok = (result, extra = {}) => { rec.result = result; send(res, rec, 200, { ok: true, result, ...extra }); };
		const meth = rec.method;
		if (meth === 'getUpdates') return getUpdates(req, res, rec);
		if (meth === 'getMe') return ok({ id: botId, is_bot: true, first_name: 'Fake Bot', username: 'fake_bot', can_join_groups: true });
		if (meth === 'setWebhook') {
			if (!params.url) { send(res, rec, 400, error(400, { description: 'Bad Request: bad webhook: An HTTPS URL must be provided for webhook' }).body); return; }
			fake.webhook = { url: params.url, secret_token: params.secret_token, allowed_updates: params.allowed_updates };
			for (const w of waiters.splice(0)) w.conflict();
			return ok(true, { description: 'Webhook was set' });
		}
		if (meth === 'deleteWebhook') {
			const had = !!fake.webhook;
			fake.webhook = null;
			if (params.drop_pending_updates === true || params.drop_pending_updates === 'true') updates.length = 0;
			return ok(true, { description: had ? 'Webhook was deleted' : 'Webhook is already deleted' });
		}
		if (meth === 'getFile') {
			const f = files.get(String(params.file_id ?? ''));
			if (!f) { send(res, rec, 400, error(400, { description: 'Bad Request: invalid file_id' }).body); return; }
			return ok({ file_id: params.file_id, file_unique_id: `u-${params.file_id}`, file_size: f.bytes.length, file_path: f.path });
		}
		if (meth === 'getWebhookInfo') return ok({ url: fake.webhook?.url ?? '', has_custom_certificate: false, pending_update_count: updates.length });
		if (TRUE_METHODS.has(meth)) return ok(true);
		if (SEND_METHODS.has(meth)) {
			if (rec.chatId === undefined || rec.chatId === '') { send(res, rec, 400, error(400, { description: 'Bad Request: chat_id is empty' }).body); return; }
			if (meth === 'sendMessage' && !params.text) { send(res, rec, 400, error(400).body); return; }
			return ok(message(rec));
		}
		send(res, rec, 404, error(404).body);
	}

	const server = http.createServer((req, res) => {
		const chunks = [];
		req.on('data', (c) => chunks.push(c));
		req.on('end', () => { handle(req, res, Buffer.concat(chunks)).catch(() => { try { req.socket.destroy(); } catch { /* gone */ } }); });
		req.on('error', () => { /* client went away */ });
	});
	server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
	server.keepAliveTimeout = 60_000;
	await new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(0, host, resolve);
	});
	const { port } = server.address();
	fake.url = `http://${host}:${port}`;
	fake.port = port;

	Object.assign(fake, {
		/** Queue Updates for getUpdates (update_id assigned when absent); returns them. */
		push(...list) {
			const out = list.flat().map((u) => ({ update_id: u.update_id ?? ++updateSeq, ...u }));
			for (const u of out) { updates.push(u); if (u.update_id > updateSeq) updateSeq = u.update_id; }
			for (const w of waiters.splice(0)) w.wake();
			return out;
		},
		/** POST an Update to the webhook setWebhook registered, as Telegram does. */
		async deliver(update, { secret, url } = {}) {
			const target = url ?? fake.webhook?.url;
			if (!target) throw new Error('fake Telegram: no webhook set');
			const s = secret === undefined ? fake.webhook?.secret_token : secret;
			const headers = { 'content-type': 'application/json' };
			if (s !== null && s !== undefined) headers['x-telegram-bot-api-secret-token'] = s;
			const r = await fetch(target, { method: 'POST', headers, body: typeof update === 'string' ? update : JSON.stringify(update) });
			return { status: r.status, body: await r.text() };
		},
		/** Serve bytes as file_id (getFile → file_path, then the download). */
		addFile(fileId, bytes, filePath = `photos/file_${files.size}.jpg`) { files.set(fileId, { bytes: Buffer.from(bytes), path: filePath }); return fake; },
		next(n, reply = {}, { methods } = {}) { queue.push({ left: n, reply, methods }); return fake; },
		rule(match, reply = {}, { times = Infinity, methods } = {}) {
			const r = { match, reply, left: times, methods };
			rules.push(r);
			return { remove() { const i = rules.indexOf(r); if (i >= 0) rules.splice(i, 1); } };
		},
		always(reply) { dflt = reply ?? null; return fake; },
		clearFaults() { queue.length = 0; rules.length = 0; dflt = null; return fake; },
		onRequest(fn) { requestHooks.push(fn); return fake; },
		onAnswer(fn) { answerHooks.push(fn); return fake; },
		calls(method) { return requests.filter((r) => r.method === method); },
		sends() { return requests.filter((r) => SEND_METHODS.has(r.method)); },
		to(chatId) { return requests.filter((r) => SEND_METHODS.has(r.method) && r.chatId === String(chatId)); },
		/** Held getUpdates requests right now. */
		polling() { return waiters.length; },
		async until(fn, deadlineMs = 5000, what = 'fake condition') {
			const end = Date.now() + deadlineMs;
			for (;;) {
				const v = fn(fake);
				if (v) return v;
				if (Date.now() >= end)
					throw new Error(`fake Telegram: ${what} not met within ${deadlineMs} ms (${requests.length} requests: ${summary(requests.slice(-6))})`);
				await new Promise((r) => setTimeout(r, 10));
			}
		},
		summary() { return summary(requests); },
		async close() {
			for (const w of waiters.splice(0)) w.wake();
			await new Promise((resolve) => {
				server.close(() => resolve());
				for (const s of sockets) s.destroy();
				server.closeAllConnections?.();
			});
		},
	});
	return fake;
}

function summary(list) {
	return list.map((r) => `#${r.n} ${r.method ?? r.path}${r.chatId ? ' chat=' + r.chatId : ''} → ${r.aborted ? 'aborted' : r.reset ? 'reset' : r.status ?? 'pending'}`).join('; ');
}

/** A private text message Update from user `from` (a number), for push()/deliver(). */
export function textUpdate(from, text, { updateId, messageId = 1, chat, date } = {}) {
	const u = { message: { message_id: messageId, from: { id: from, is_bot: false, first_name: `User${from}` }, chat: chat ?? { id: from, type: 'private', first_name: `User${from}` }, date: date ?? Math.floor(Date.now() / 1000), text } };
	if (updateId !== undefined) u.update_id = updateId;
	return u;
}
