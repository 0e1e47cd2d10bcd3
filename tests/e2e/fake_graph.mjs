// fake_graph.mjs - a fake WhatsApp Cloud (Graph API) server for msgd's
// outbound end-to-end tests.
//
//   const fake = await startFakeGraph();
//   ... channel config api_base_url: fake.url ...
//   fake.next(2, { status: 500 });              // the next 2 requests fail
//   fake.next(1, fake.corpusError('130429', { headers: { 'retry-after': '2' } }));
//   fake.rule('16505551234', { reset: true });  // every request to that number: socket reset
//   fake.rule((r) => r.token === 'old', fake.corpusError('190'));
//   fake.always({ status: 500 });               // default for everything else (null: back to 200)
//   await fake.close();
//
// POST /{version}/{phone_number_id}/messages is answered like the Graph API:
// a send → 200 {"messaging_product":"whatsapp","contacts":[{"input","wa_id"}],
// "messages":[{"id":"wamid.fake.<n>"}]} with a unique id; a mark-read body
// ({"status":"read"}) → 200 {"success":true}. Anything else → a Graph-shaped
// 404/400 error.
//
// GET /{version}/{phone_number_id} (msgd's credential check) is answered
// like the Graph API: 200 {"verified_name","display_phone_number","id"} for
// a good token, 401 with an OAuthException (code 190) for a bad one: a token
// in fake.badTokens, or a placeholder (one containing "..."). These requests
// are recorded in fake.checks, not in fake.requests, and take no faults.
//
// Which reply a request gets: the first queued next() entry (FIFO, each good
// for n requests), else the first matching rule(), else always(), else the
// success answer above. A reply is {status, body, headers, delayMs, reset}:
//   status   HTTP status (default 200); with status 200 and no body the
//            success body is generated (so {delayMs: 50} is "slow but fine").
//   body     object (JSON-encoded), string or Buffer.
//   headers  extra response headers (e.g. {'retry-after': '2'}).
//   delayMs  wait this long before answering; if the client gives up
//            meanwhile (timeout) the request is recorded as aborted and
//            nothing is answered. A large delayMs makes a request hang.
//   reset    destroy the socket instead of answering (after delayMs).
// next()/rule() entries may also carry `kinds: ['send'|'read'|'other']`
// (default: sends only for rule() by recipient, everything for next()).
//
// Every request is recorded in fake.requests:
//   {n, t, wall, method, path, version, pnid, headers, raw, body, kind, to,
//    token, status, id, endT, aborted, reset}
// t/endT are performance.now() ms (start / answered), wall is Date.now().
//
// GET /{version}/{waba_id}/message_templates (issue 14's template sync) is
// answered from fake.templates (set it: [{name, language, status, category,
// components}]), fake.templatePageSize per page (default 100, or the
// request's limit if smaller) with paging.cursors.after and paging.next as
// the Graph API gives them; its requests have kind 'templates' (recorded in
// fake.requests) and take faults only from entries with kinds
// ['templates'], e.g. fake.next(1, corpusError('190'), { kinds: ['templates'] }).

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { CORPUS, createSendChannel } from './lib.mjs';

const ERR_DIR = () => path.join(CORPUS, 'whatsapp_cloud', 'errors');

/** {status, body: Buffer, headers} of corpus whatsapp_cloud/errors/<code>.response.* */
export function corpusError(code, extra = {}) {
	const dir = ERR_DIR();
	const body = fs.readFileSync(path.join(dir, `${code}.response.json`));
	const txt = fs.readFileSync(path.join(dir, `${code}.response.txt`), 'utf8');
	const m = txt.match(/^HTTP\/\d(?:\.\d)?\s+(\d{3})/m);
	if (!m) throw new Error(`no status line in ${code}.response.txt`);
	const headers = {};
	for (const line of txt.split(/\r?\n/).slice(1)) {
		const i = line.indexOf(':');
		if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
	}
	return { status: Number(m[1]), body, ...extra, headers: { ...headers, ...(extra.headers ?? {}) } };
}

/** A Graph-shaped transient server error (HTTP 500 by default). */
export function serverError(status = 500) {
	return {
		status,
		body: { error: { message: 'An unexpected error has occurred. Please retry your request later.', type: 'OAuthException', code: 2, is_transient: true, fbtrace_id: 'AFAKEtransient' } },
	};
}

function matches(entry, rec) {
	const kinds = entry.kinds ?? ['send', 'read', 'other'];
	if (!kinds.includes(rec.kind)) return false;
	if (entry.match === undefined) return true;
	if (typeof entry.match === 'function') return !!entry.match(rec);
	return rec.to === entry.match;
}

export async function startFakeGraph({ host = '127.0.0.1' } = {}) {
	const requests = [];
	const checks = [];    // credential checks: {t, path, pnid, token, status}
	const badTokens = new Set();
	const accepted = [];  // {id, to, n} for every send answered 200
	const queue = [];     // {left, reply, kinds}
	const rules = [];     // {match, reply, kinds, left}
	let dflt = null;
	let seq = 0;
	let idSeq = 0;
	const hooks = [];
	const sockets = new Set();

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
		const buf = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
		rec.status = status;
		rec.endT = performance.now();
		rec.responseBody = buf.toString('utf8');
		res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': buf.length, ...headers });
		res.end(buf);
	}

	// GET /{version}/{pnid}[?fields=...]: the phone number, if the token is good.
	function check(req, res, m) {
		const auth = req.headers.authorization ?? '';
		const token = /^Bearer /.test(auth) ? auth.slice(7) : undefined;
		const rec = { t: performance.now(), path: req.url, version: m[1], pnid: m[2], token, status: undefined };
		checks.push(rec);
		if (!token || badTokens.has(token) || token.includes('...')) {
			send(res, rec, 401, { error: { message: 'Invalid OAuth access token - Cannot parse access token', type: 'OAuthException', code: 190, fbtrace_id: 'AFAKEcheck' } });
			return;
		}
		send(res, rec, 200, { verified_name: 'Fake Business', display_phone_number: '+1 555-078-3881', id: m[2] });
	}

	async function handle(req, res, raw) {
		const t = performance.now();
		const cm = req.method === 'GET' && req.url.match(/^\/([^/?]+)\/([^/?]+)(?:\?.*)?$/);
		if (cm) {
			check(req, res, cm);
			return;
		}
		const rec = {
			n: seq++, t, wall: Date.now(), method: req.method, path: req.url, headers: req.headers,
			raw: raw.toString('utf8'), body: undefined, kind: 'other', to: undefined, version: undefined, pnid: undefined,
			token: undefined, status: undefined, id: undefined, endT: undefined, aborted: false, reset: false,
		};
		try { rec.body = JSON.parse(rec.raw); } catch { /* recorded raw */ }
		const m = req.url.match(/^\/([^/?]+)\/([^/?]+)\/messages(?:\?.*)?$/);
		const tm = req.method === 'GET' && req.url.match(/^\/([^/?]+)\/([^/?]+)\/message_templates(?:\?(.*))?$/);
		if (tm) { rec.kind = 'templates'; rec.version = tm[1]; rec.waba = tm[2]; rec.query = new URLSearchParams(tm[3] ?? ''); }
		if (m) { rec.version = m[1]; rec.pnid = m[2]; }
		const auth = req.headers.authorization ?? '';
		if (/^Bearer /.test(auth)) rec.token = auth.slice(7);
		if (m && req.method === 'POST' && rec.body && typeof rec.body === 'object') {
			if (rec.body.status === 'read') rec.kind = 'read';
			else if (typeof rec.body.to === 'string') { rec.kind = 'send'; rec.to = rec.body.to; }
		}
		requests.push(rec);
		for (const h of hooks) { try { h(rec); } catch { /* a hook's problem */ } }

		// ServerResponse 'close' also fires when the connection drops before
		// the answer (client timeout): then nothing is answered.
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
		const status = reply.status ?? 200;
		if (status === 200 && reply.body === undefined && tm) {
			send(res, rec, 200, templatesPage(rec.query), reply.headers);
			return;
		}
		if (status === 200 && reply.body === undefined) {
			if (!m || req.method !== 'POST') {
				send(res, rec, 404, { error: { message: `Unknown path components: ${req.url}`, type: 'OAuthException', code: 2500 } });
				return;
			}
			if (rec.kind === 'read') {
				send(res, rec, 200, { success: true }, reply.headers);
				return;
			}
			if (rec.kind !== 'send') {
				send(res, rec, 400, { error: { message: '(#100) The parameter to is required.', type: 'OAuthException', code: 100 } });
				return;
			}
			const id = `wamid.fake.${++idSeq}`;
			rec.id = id;
			accepted.push({ id, to: rec.to, n: rec.n });
			send(res, rec, 200, {
				messaging_product: 'whatsapp',
				contacts: [{ input: rec.to, wa_id: rec.to }],
				messages: [{ id }],
			}, reply.headers);
			return;
		}
		send(res, rec, status, reply.body ?? '', reply.headers);
	}

	// One page of fake.templates after the cursor (the index, base64 as Meta's look).
	function templatesPage(q) {
		const size = Math.min(fake.templatePageSize, Number(q.get('limit') ?? 100) || 100);
		const after = q.get('after');
		const start = after ? Number(Buffer.from(after, 'base64').toString('utf8')) : 0;
		const data = fake.templates.slice(start, start + size).map((t, i) => ({ id: String(9000 + start + i), ...t }));
		const cur = (n) => Buffer.from(String(n)).toString('base64');
		const body = { data, paging: { cursors: { before: cur(start), after: cur(start + data.length) } } };
		if (start + data.length < fake.templates.length)
			body.paging.next = `https://graph.facebook.com/${'v21.0'}/x/message_templates?after=${cur(start + data.length)}`;
		return body;
	}

	const server = http.createServer((req, res) => {
		const chunks = [];
		req.on('data', (c) => chunks.push(c));
		req.on('end', () => { handle(req, res, Buffer.concat(chunks)).catch(() => { try { req.socket.destroy(); } catch { /* gone */ } }); });
		req.on('error', () => { /* client went away */ });
	});
	server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
	server.keepAliveTimeout = 30_000;
	await new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(0, host, resolve);
	});
	const { port } = server.address();

	const fake = {
		url: `http://${host}:${port}`,
		port,
		templates: [],
		templatePageSize: 100,
		/** GET .../message_templates requests. */
		templateReqs() { return requests.filter((r) => r.kind === 'templates'); },
		requests,
		checks,
		badTokens,
		accepted,
		corpusError,
		serverError,
		/** The next n matching requests get `reply`. */
		next(n, reply = {}, { kinds } = {}) {
			queue.push({ left: n, reply, kinds });
			return fake;
		},
		/** Every request matching `match` (recipient string or fn(rec)) gets `reply`
		 *  (times: how many, default forever). Returns {remove()}. */
		rule(match, reply = {}, { times = Infinity, kinds } = {}) {
			const r = { match, reply, left: times, kinds: kinds ?? (typeof match === 'string' ? ['send'] : undefined) };
			rules.push(r);
			return { remove() { const i = rules.indexOf(r); if (i >= 0) rules.splice(i, 1); } };
		},
		/** Default reply for everything not queued or ruled (null: success). */
		always(reply) { dflt = reply ?? null; return fake; },
		/** Drop all queued replies, rules and the default. */
		clearFaults() { queue.length = 0; rules.length = 0; dflt = null; return fake; },
		/** fn(rec) runs synchronously as each request arrives (before it is answered). */
		onRequest(fn) { hooks.push(fn); return () => { const i = hooks.indexOf(fn); if (i >= 0) hooks.splice(i, 1); }; },
		sends() { return requests.filter((r) => r.kind === 'send'); },
		reads() { return requests.filter((r) => r.kind === 'read'); },
		to(addr) { return requests.filter((r) => r.kind === 'send' && r.to === addr); },
		/** Requests started but not answered, reset or aborted yet. */
		inFlight() { return requests.filter((r) => r.endT === undefined).length; },
		/** Max number of requests (optionally filtered) started in any window [t, t+windowMs). */
		peakRate(windowMs = 1000, filter = (r) => r.kind === 'send') {
			const ts = requests.filter(filter).map((r) => r.t).sort((a, b) => a - b);
			let best = 0;
			for (let i = 0, j = 0; i < ts.length; i++) {
				while (ts[i] - ts[j] >= windowMs) j++;
				best = Math.max(best, i - j + 1);
			}
			return best;
		},
		/** Wait until fn(fake) is truthy (polling), or throw after deadlineMs. */
		async until(fn, deadlineMs = 5000, what = 'fake condition') {
			const end = Date.now() + deadlineMs;
			for (;;) {
				const v = fn(fake);
				if (v) return v;
				if (Date.now() >= end)
					throw new Error(`fake Graph: ${what} not met within ${deadlineMs} ms (${requests.length} requests so far: ${summary(requests.slice(-5))})`);
				await new Promise((r) => setTimeout(r, 10));
			}
		},
		summary() { return summary(requests); },
		async close() {
			await new Promise((resolve) => {
				server.close(() => resolve());
				for (const s of sockets) s.destroy();
				server.closeAllConnections?.();
			});
		},
	};
	return fake;
}

function summary(list) {
	return list.map((r) => `#${r.n} ${r.method} ${r.path} ${r.kind}${r.to ? ' to=' + r.to : ''} → ${r.aborted ? 'aborted' : r.reset ? 'reset' : r.status ?? 'pending'}`).join('; ');
}

/**
 * For a msgdTest body: start a fake Graph server (closed after the test, once
 * the daemons are stopped), a daemon, and the sending channel "wa" aimed at
 * the fake. config: extra/overriding channel config keys (null removes one);
 * start: h.start() options; channel: false to skip creating the channel.
 */
export async function sendSetup(h, { config = {}, start = {}, channel = true, name = 'wa' } = {}) {
	const fake = await startFakeGraph();
	h.t.after(() => fake.close());
	const d = await h.start(start);
	const ch = channel ? await createSendChannel(d, fake.url, config, name) : null;
	return { d, fake, ch };
}

/** The golden text body (corpus outbound/text.request.json) for `to`/`text`. */
export function goldenText(to, text, previewUrl = false) {
	const g = JSON.parse(fs.readFileSync(path.join(CORPUS, 'whatsapp_cloud', 'outbound', 'text.request.json'), 'utf8'));
	g.to = to;
	g.text.body = text;
	g.text.preview_url = previewUrl;
	return g;
}
