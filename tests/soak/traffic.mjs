// traffic.mjs - the soak's steady mixed load, and its per-kind statistics.
//
// Kinds (requests per second at SOAK_RATE=1):
//   ingest   signed WhatsApp Cloud webhooks, each one inbound message with a
//            unique id from one of SENDERS senders (a 200 = acknowledged)
//   status   signed status webhooks (delivered/read) for ids the fake Graph
//            API gave to recent sends
//   send     POST /v1/messages: a single text, with a client_id (or the same
//            key as an Idempotency-Key header), mostly to the whatsapp_cloud
//            channel "wa" (the fake Graph API), some to the sandbox; now and
//            then a repeat of a recent key, which must return the original
//   batch    POST /v1/messages/batch of 2..BATCH_MAX such items
//   read     GET /v1/conversations, a conversation's messages, a message
//   stream   a short-lived SSE or WebSocket connection (followers.mjs)
// Each kind fires on its own timer; a tick finds at most MAX_INFLIGHT of its
// kind outstanding (else it is counted as skipped: msgd fell behind). While
// msgd restarts nothing is sent; a request that fails during a restart
// window (a refused connection, 503 shutting_down) counts as refused, not as
// an error: it was not acknowledged, so nothing is expected of it.

import fs from 'node:fs';
import path from 'node:path';
import { CORPUS, WA_SECRET, request, signWa, toBuf, waMessageBody } from '../e2e/lib.mjs';
import { shortStream } from './followers.mjs';

export const KINDS = ['ingest', 'status', 'send', 'batch', 'read', 'stream'];
const RATES = { ingest: 100, status: 30, send: 40, batch: 8, read: 15, stream: 4 };
const MAX_INFLIGHT = 16;
const SENDERS = 6;
const RECIPIENTS = 12;
const BATCH_MAX = 5;
const SANDBOX_SHARE = 0.2;       // sends to the sandbox channel instead of "wa"
const REPEAT_SHARE = 0.02;       // sends that repeat a recent key
const HEADER_KEY_SHARE = 0.25;   // keys sent as Idempotency-Key instead of client_id
const RECENT_MAX = 500;          // recent provider ids / keys / conversations kept
const KEPT_MAX = 20;             // error samples kept per kind
export const SEND_PNID = 'PNID_SOAK';

const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : 0);

/** Per-kind counters: a window (reset at each sample) and the totals. */
export class Stats {
	constructor() {
		this.k = {};
		for (const k of KINDS) this.k[k] = { win: [], err: 0, refused: 0, skipped: 0, total: { n: 0, err: 0, refused: 0, skipped: 0, max: 0 }, samples: [] };
	}
	ok(kind, ms) {
		const s = this.k[kind];
		s.win.push(ms);
		s.total.n++;
		if (ms > s.total.max) s.total.max = ms;
	}
	error(kind, msg) {
		const s = this.k[kind];
		s.err++;
		s.total.err++;
		if (s.samples.length < KEPT_MAX) s.samples.push(`${new Date().toISOString()} ${msg}`);
	}
	refused(kind) { this.k[kind].refused++; this.k[kind].total.refused++; }
	skipped(kind) { this.k[kind].skipped++; this.k[kind].total.skipped++; }
	/** {kind: {n, err, refused, skipped, p50, p99, max}} since the last call. */
	window() {
		const out = {};
		for (const [kind, s] of Object.entries(this.k)) {
			const v = s.win.sort((a, b) => a - b);
			out[kind] = { n: v.length, err: s.err, refused: s.refused, skipped: s.skipped, p50: pct(v, 0.5), p99: pct(v, 0.99), max: v.length ? v[v.length - 1] : 0 };
			s.win = [];
			s.err = s.refused = s.skipped = 0;
		}
		return out;
	}
}

function statusTemplate(name) {
	return fs.readFileSync(path.join(CORPUS, 'whatsapp_cloud', 'statuses', name), 'utf8');
}

/**
 * Start the load. ctx: {current() → live daemon or null, isRestarting(t0, t1),
 * stats, track (the shared accounting, see soak.mjs), fake, rate, runId}.
 * Returns {stop(): Promise} (resolves once every request in flight ended).
 */
export function startTraffic(ctx) {
	const { stats, track, fake } = ctx;
	const tpl = { delivered: statusTemplate('delivered.json'), read: statusTemplate('read.json') };
	const inflight = Object.fromEntries(KINDS.map((k) => [k, new Set()]));
	const timers = [];
	let n = 0;
	let stopped = false;
	const pick = (arr) => arr[Math.floor(Math.random() * arr.length)];
	const remember = (arr, v) => { arr.push(v); if (arr.length > RECENT_MAX) arr.splice(0, arr.length - RECENT_MAX); };

	const fail = (what, r) => { const e = new Error(`${what}: ${r.status} ${r.text.slice(0, 200)}`); e.status = r.status; throw e; };

	async function webhook(d, body) {
		const buf = toBuf(body);
		return request(d.url, 'POST', '/webhooks/whatsapp', buf, { 'content-type': 'application/json', 'x-hub-signature-256': signWa(buf, WA_SECRET) });
	}

	const ops = {
		async ingest(d) {
			const id = `wamid.soak.${ctx.runId}.in${++n}`;
			const from = `1650555${String(n % SENDERS).padStart(4, '0')}`;
			const r = await webhook(d, waMessageBody({ pnid: SEND_PNID, id, from, name: `Sender ${n % SENDERS}`, text: `soak inbound ${n}` }));
			if (r.status !== 200) fail('webhook', r);
			track.ingested.push(id);
		},
		async status(d) {
			const id = track.recentProviderIds.length ? pick(track.recentProviderIds) : null;
			if (!id) return ops.ingest(d);
			const body = JSON.parse(Math.random() < 0.5 ? tpl.delivered : tpl.read);
			for (const e of body.entry)
				for (const c of e.changes) {
					c.value.metadata.phone_number_id = SEND_PNID;
					for (const s of c.value.statuses ?? []) s.id = id;
				}
			const r = await webhook(d, body);
			if (r.status !== 200) fail('status webhook', r);
			track.statuses++;
		},
		async send(d) {
			if (track.recentKeys.length && Math.random() < REPEAT_SHARE) {
				const k = pick(track.recentKeys);
				const r = await d.api('POST', '/v1/messages', k.body, k.header ? { 'idempotency-key': k.cid } : undefined);
				if (r.status !== 200) fail(`repeat of ${k.cid}`, r);
				if (r.json?.id !== k.id) track.problems.push(`repeat of ${k.cid} returned message ${r.json?.id}, the original is ${k.id}`);
				track.repeats++;
				return;
			}
			const it = newItem();
			const r = await d.api('POST', '/v1/messages', it.body, it.header ? { 'idempotency-key': it.cid } : undefined);
			if (r.status !== 202 || typeof r.json?.id !== 'number') fail('POST /v1/messages', r);
			acked(it, r.json.id);
		},
		async batch(d) {
			const items = Array.from({ length: 2 + Math.floor(Math.random() * (BATCH_MAX - 1)) }, () => newItem(true));
			const r = await d.api('POST', '/v1/messages/batch', { messages: items.map((it) => it.body) });
			if (r.status !== 207 || !Array.isArray(r.json?.results)) fail('POST /v1/messages/batch', r);
			for (const x of r.json.results) {
				if (x.message && typeof x.message.id === 'number') acked(items[x.index], x.message.id);
				else track.problems.push(`batch item refused: ${JSON.stringify(x).slice(0, 300)}`);
			}
		},
		async read(d) {
			const which = Math.random();
			if (which < 0.4 || !track.recentConversations.length) {
				const r = await d.api('GET', '/v1/conversations?limit=50');
				if (r.status !== 200) fail('GET /v1/conversations', r);
				for (const c of r.json.conversations ?? []) if (!track.recentConversations.includes(c.id)) remember(track.recentConversations, c.id);
			} else if (which < 0.8) {
				const id = pick(track.recentConversations);
				const r = await d.api('GET', `/v1/conversations/${id}/messages?limit=50`);
				if (r.status !== 200) fail(`GET /v1/conversations/${id}/messages`, r);
			} else {
				const k = track.recentKeys.length ? pick(track.recentKeys) : null;
				if (!k) return;
				const r = await d.api('GET', `/v1/messages/${k.id}`);
				if (r.status !== 200) fail(`GET /v1/messages/${k.id}`, r);
			}
		},
		async stream(d) {
			const kind = Math.random() < 0.5 ? 'sse' : 'ws';
			const r = await shortStream(d, kind, 200 + Math.floor(Math.random() * 1300), Math.random() < 0.5);
			track.shortStreams[kind]++;
			return r.ms;   // the time to open is the latency
		},
	};

	function newItem(inBatch = false) {
		const sandbox = Math.random() < SANDBOX_SHARE;
		const cid = `${sandbox ? 's' : 'w'}${ctx.runId}-${++n}`;
		const to = `1555${sandbox ? '7' : '8'}${String(n % RECIPIENTS).padStart(6, '0')}`;
		const header = !inBatch && Math.random() < HEADER_KEY_SHARE;
		const body = { channel: sandbox ? 'sandbox' : 'wa', to, text: `soak ${cid}`, ...(header ? {} : { client_id: cid }) };
		return { cid, channel: body.channel, header, body };
	}

	function acked(it, id) {
		track.sends.push({ cid: it.cid, id, channel: it.channel });
		remember(track.recentKeys, { cid: it.cid, id, body: it.body, header: it.header });
	}

	async function run(kind) {
		const d = ctx.current();
		if (!d) return;                     // msgd restarting: nothing sent
		const set = inflight[kind];
		if (set.size >= MAX_INFLIGHT) { stats.skipped(kind); return; }
		const t0 = Date.now(), p0 = performance.now();
		const p = (async () => {
			try {
				const ms = await ops[kind](d);
				stats.ok(kind, typeof ms === 'number' ? ms : performance.now() - p0);
			} catch (e) {
				if (ctx.isRestarting(t0, Date.now()) && (e.status === undefined || e.status === 503)) stats.refused(kind);
				else stats.error(kind, e.message);
			}
		})();
		set.add(p);
		p.finally(() => set.delete(p));
	}

	for (const kind of KINDS) {
		const rate = RATES[kind] * ctx.rate;
		if (rate <= 0) continue;
		timers.push(setInterval(() => { if (!stopped) run(kind); }, Math.max(1, Math.round(1000 / rate))));
	}
	return {
		async stop() {
			stopped = true;
			for (const t of timers) clearInterval(t);
			for (const set of Object.values(inflight)) await Promise.allSettled([...set]);
		},
	};
}
