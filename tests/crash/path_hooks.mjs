// path_hooks.mjs - the crash loop's event-webhook path: sandbox inbound
// messages (and a few sandbox sends, whose simulated far end appends status
// events and echo replies) at a steady rate, two subscriptions ("*" and
// message.received) POSTing to a local receiver that records every delivery,
// msgd killed anywhere. See driver.mjs for the module contract.
//
// Kill points: 'timer' and 'early' (driver), 'client-mid-post' (a few ms
// after an inbound POST left the client), 'after-ack' (as its 201 arrives:
// committed, most likely not delivered yet), 'receiver-in-flight' (from the
// receiver's handler, before it answers), 'receiver-answered' (just after
// the receiver's 200: between the 2xx and msgd's commit of the cursor).
//
// The receiver answers 503 to one request in 97 (msgd retries it with
// backoff); only the deliveries it answered 200 count below.
//
// Checks, per subscription, over the deliveries in the order received: every
// event of the log it asked for arrives (nothing skipped: a delivery of a new
// seq is always the next wanted seq after the highest one so far, so first
// deliveries come in increasing seq order); going back is allowed only to
// seqs already delivered (redeliveries), each with the same X-Msgd-Delivery
// and body, and only across a kill (the earlier delivery read before the
// next life was up, the later one after the kill). Acknowledged = inbound
// POSTs answered 201; each must be in the log and delivered as
// message.received. Duplicates = redeliveries; allowed by the window: one
// request in flight per subscription per kill.

import http from 'node:http';
import crypto from 'node:crypto';
import { assertStatus } from '../e2e/lib.mjs';
import { inboundFrom, posted, recordInbound, settledLog, steadyLoad } from './inbound_load.mjs';

const SECRET = 'whsec_' + crypto.randomBytes(16).toString('hex');
const FAIL_EVERY = 97;           // the receiver answers 503 to one request in this many
                                 // (each costs ~1 s of backoff, later events waiting)
const DRAIN_MS = 180_000;
const SUBS = [
	{ path: '/all', events: ['*'] },
	{ path: '/received', events: ['message.received'] },
];

export const name = 'hooks';
export const killPoints = ['client-mid-post', 'after-ack', 'receiver-in-flight', 'receiver-answered'];

export async function setup(ctx) {
	const st = { deliveries: [], received: 0, failedAnswers: 0, acked: [], unanswered: 0, refused: [], seq: 0, subs: [], srv: null };
	const srv = http.createServer((req, res) => {
		const chunks = [];
		req.on('data', (c) => chunks.push(c));
		req.on('end', () => {
			const raw = Buffer.concat(chunks);
			let body;
			try { body = JSON.parse(raw.toString('utf8')); } catch { body = null; }
			// One request in FAIL_EVERY is refused: msgd retries it with its
			// backoff (on disk, across the kills), later events waiting.
			if (++st.received % FAIL_EVERY === 0) {
				st.failedAnswers++;
				res.writeHead(503, { 'content-type': 'text/plain' });
				res.end('try later');
				return;
			}
			st.deliveries.push({ path: req.url, wall: Date.now(), headers: req.headers, raw: raw.toString('utf8'), seq: body?.seq, type: body?.type, body });
			const t = ctx.trigger;
			const countdown = () => { t.countdown ??= 1 + Math.floor(t.r * 6); return --t.countdown <= 0; };
			if (t && !t.fired && t.point === 'receiver-in-flight' && countdown()) ctx.kill(t.point);
			res.writeHead(200, { 'content-type': 'text/plain' });
			res.end('ok');
			if (t && !t.fired && t.point === 'receiver-answered' && countdown()) {
				const ms = Math.floor(t.r * 4);
				if (ms === 0) setImmediate(() => ctx.kill(t.point));
				else setTimeout(() => ctx.kill(t.point), ms);
			}
		});
	});
	await new Promise((ok) => srv.listen(0, '127.0.0.1', ok));
	st.srv = srv;
	const url = `http://127.0.0.1:${srv.address().port}`;
	for (const s of SUBS) {
		const r = await ctx.d.api('POST', '/v1/webhooks', { url: url + s.path, events: s.events, secret: SECRET, since: 0 });
		assertStatus(r, 201, 'POST /v1/webhooks');
		st.subs.push({ ...s, id: r.json.id });
	}
	return st;
}

export async function teardown(ctx) {
	const srv = ctx.state?.srv;
	if (!srv) return;
	srv.closeAllConnections?.();
	await new Promise((ok) => srv.close(ok));
}

export function snapshot(ctx) {
	const st = ctx.state;
	return { acked: st.acked.length, deliveries: st.deliveries.length };
}

export function progressed(ctx, mark) {
	const now = snapshot(ctx);
	return ctx.d && now.acked >= mark.acked + 3 && now.deliveries >= mark.deliveries + 3;
}

export function atKill(ctx) {
	return { deliveries: ctx.state.deliveries.length };
}

// Mostly inbound messages; one request in seven a sandbox send (its far
// end appends status events and echo replies).
async function post(ctx, d) {
	const send = ctx.rng() < 0.15;
	const got = await posted(ctx, d, (dd, n) => (send
		? dd.api('POST', '/v1/messages', { channel: 'sandbox', to: `1666${String(n % 50).padStart(7, '0')}`, text: `out ${n}` })
		: dd.api('POST', '/v1/sandbox/sandbox/inbound', { from: inboundFrom(n), text: `in ${n}`, id: `in-${n}` })), [201, 202]);
	if (!got) return;
	if (!send) recordInbound(ctx.state, got.n, got.r);
	else if (got.r.status !== 202) ctx.state.refused.push(`send ${got.n}: ${got.r.status} ${got.r.text.slice(0, 200)}`);
}

export async function load(ctx) {
	return steadyLoad(ctx, post);
}

function wants(sub, ev) {
	if (ev.type === 'webhook.failed') return false;  // none expected: the receiver always says 200
	return sub.events.includes('*') || sub.events.includes(ev.type);
}

export async function verify(ctx) {
	const st = ctx.state;
	const d = ctx.d;
	const problems = [...st.refused.map((x) => `refused: ${x}`)];
	const notes = [];

	// Drain: the log stops growing (the sandbox's far end settles) and every
	// subscription got its last wanted event.
	const evs = await settledLog(d, (all) => st.subs.every((s) => {
		const want = all.filter((e) => wants(s, e));
		const last = want.at(-1)?.seq;
		return last === undefined || st.deliveries.some((x) => x.path === s.path && x.seq === last);
	}), 'every subscription caught up with a settled log', problems, DRAIN_MS);

	const failed = evs.filter((e) => e.type === 'webhook.failed');
	if (failed.length) problems.push(`${failed.length} webhook.failed events (given up): ${JSON.stringify(failed[0])}`);

	let lost = 0;
	let duplicates = 0;
	let delivered = 0;
	for (const s of st.subs) {
		const want = evs.filter((e) => wants(s, e)).map((e) => e.seq);
		// Events appended after the snapshot (the sandbox's far end may still
		// act) are left out: the checks cover the log up to its head.
		const head = evs.at(-1)?.seq ?? 0;
		const mine = st.deliveries.filter((x) => x.path === s.path && x.seq <= head);
		const first = new Map();  // seq -> first delivery
		let next = 0;             // index in want of the next new seq
		let max = -1;
		let bad = 0;
		const complain = (m) => { if (++bad <= 5) problems.push(`${s.path}: ${m}`); };
		for (const x of mine) {
			if (x.headers['x-msgd-delivery'] !== `${s.id}-${x.seq}`)
				complain(`delivery of seq ${x.seq} has X-Msgd-Delivery ${x.headers['x-msgd-delivery']}`);
			const sig = 'sha256=' + crypto.createHmac('sha256', SECRET).update(x.raw).digest('hex');
			if (x.headers['x-msgd-signature'] !== sig) complain(`seq ${x.seq}: bad signature`);
			if (x.seq > max) {
				if (want[next] !== x.seq) {
					complain(`SKIPPED: got seq ${x.seq}, wanted ${want[next]} next`);
					const i = want.indexOf(x.seq, next);  // go on from there
					if (i >= 0) next = i;
				}
				next++;
				max = x.seq;
				first.set(x.seq, x);
			} else {
				duplicates++;
				const f = first.get(x.seq);
				if (!f) complain(`seq ${x.seq} arrived after ${max} and was never delivered before (out of order)`);
				else if (f.raw !== x.raw) complain(`redelivery of seq ${x.seq} has another body`);
				// Only across a kill: the receiver said 200 at once every time.
				else if (!ctx.kills.some((kl, i) => f.wall <= ctx.lives[i + 1].readyWall && x.wall >= kl.wall))
					complain(`seq ${x.seq} delivered again without a kill in between`);
			}
		}
		const got = new Set(first.keys());
		const missing = want.filter((q) => !got.has(q));
		if (missing.length) complain(`LOST: ${missing.length} events never delivered, e.g. ${missing.slice(0, 5)}`);
		lost += missing.length;
		notes.push(`${s.path} (${s.events}): ${want.length} events wanted, ${mine.length} deliveries, ${mine.length - got.size} redeliveries`);
	}

	// Ingest: every acknowledged inbound message is in the log and reached
	// the message.received subscription.
	const recv = st.subs.find((s) => s.path === '/received');
	const deliveredIds = new Set(st.deliveries.filter((x) => x.path === recv.path).map((x) => x.body?.message_id));
	const logIds = new Set(evs.filter((e) => e.type === 'message.received').map((e) => e.message_id));
	for (const a of st.acked) {
		if (!logIds.has(a.id)) { lost++; problems.push(`LOST: inbound ${a.n} acknowledged as message ${a.id}, not in the log`); }
		else if (deliveredIds.has(a.id)) delivered++;
	}
	const allowed = ctx.kills.length * st.subs.length;
	if (duplicates > allowed) problems.push(`EXCESS DUPLICATES: ${duplicates} redeliveries > ${allowed} (one per subscription per kill)`);
	notes.push(`${st.acked.length} inbound acknowledged, ${st.unanswered} requests cut off by a kill; ${evs.length} events in the log; ` +
	    `the receiver refused ${st.failedAnswers} requests (503, retried)`);
	return { acknowledged: st.acked.length, delivered, lost, duplicates, allowed, notes, problems };
}
