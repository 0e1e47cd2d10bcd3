// path_send.mjs - the crash loop's send path: single sends and batches with
// client_id keys at a steady rate, through the fake Graph API (which records
// every request), msgd killed anywhere between the API call and the outcome's
// commit. See driver.mjs for the module contract.
//
// A tenth of the items carry a scheduled_at 1-3 s ahead.
//
// Kill points: 'timer' and 'early' (driver), 'client-mid-post' (a few ms
// after a POST /v1/messages[/batch] left the client: before, during or after
// its commit), 'after-ack' (as a 202/207 arrives: committed, most likely not
// dispatched yet), 'provider-in-flight' (from the fake's request handler, the
// request not answered yet), 'provider-answered' (just after the fake
// answered: between the provider's acceptance and msgd's commit of it).
//
// Accounting: acknowledged = client_ids answered 202/200 or 207 with a
// message; each must be accepted by the fake exactly under its key (its
// client_id in the text) and shown `accepted` by msgd with the fake's id.
// A request cut off by the kill is retried with the same client_id after the
// restart half of the time; whatever msgd stored for it must be delivered
// too. Duplicates: fake acceptances beyond the first per key; allowed by the
// window: the entries msgd found in flight at each restart (its "marked
// uncertain" count), summed.

import { allEvents, createSendChannel, getMessage, rfc3339, waitFor } from '../e2e/lib.mjs';
import { startFakeGraph } from '../e2e/fake_graph.mjs';

const RATE_PER_S = 100;          // items per second offered (singles and batches)
const MAX_OUTSTANDING = 6;       // API requests in flight from the load
const BATCH_MAX = 8;
const SCHEDULED_SHARE = 0.1;     // items with a scheduled_at
const DELAYS_MS = [0, 5, 20, 60]; // the fake's answer delay, by request number
const FAIL_EVERY = 17;           // the fake answers 500 to one request in this many
const DRAIN_MS = 180_000;        // for the fake to accept every acknowledged send
const ACCEPT_MS = 60_000;        // then for msgd to show them all accepted

const keyOf = (rec) => {
	const m = /^crash (c\d+)$/.exec(rec.body?.text?.body ?? '');
	return m ? m[1] : null;
};

export const name = 'send';
export const killPoints = ['client-mid-post', 'after-ack', 'provider-in-flight', 'provider-answered'];

export async function setup(ctx) {
	const fake = await startFakeGraph();
	// One request in FAIL_EVERY gets a transient 500: retries (with their
	// backoff state on disk) cross the kills too.
	fake.rule((r) => r.kind === 'send' && r.n % FAIL_EVERY === FAIL_EVERY - 1, fake.serverError(500));
	DELAYS_MS.forEach((ms, i) => fake.rule((r) => r.n % DELAYS_MS.length === i, ms ? { delayMs: ms } : {}));
	const st = { fake, items: new Map(), retry: [], seq: 0, requests: 0, unanswered: 0, retried: 0, refused: [] };
	fake.onRequest((rec) => {
		const t = ctx.trigger;
		if (!t || t.fired || rec.kind !== 'send') return;
		if (t.point === 'provider-in-flight') {
			t.countdown ??= 1 + Math.floor(t.r * 8);
			if (--t.countdown <= 0) ctx.kill(t.point);
		} else if (t.point === 'provider-answered') {
			t.countdown ??= 1 + Math.floor(t.r * 8);
			if (--t.countdown <= 0) {
				const delay = DELAYS_MS[rec.n % DELAYS_MS.length];
				setTimeout(() => ctx.kill(t.point), delay + Math.floor(t.r * 3));
			}
		}
	});
	// Quotas (never reached), duplicate detection and the bulk cooldown on:
	// their rows are written with every send and claim, across the kills.
	await createSendChannel(ctx.d, fake.url, { rate_per_second: 0, quota_per_day: 100000000 });
	const set = await ctx.d.api('PATCH', '/v1/orgs/default', { settings: {
		messages_per_day: 100000000, duplicate_window_seconds: 3600, bulk_cooldown_seconds: 1 } });
	if (set.status !== 200) throw new Error(`organization settings: ${set.status} ${set.text}`);
	return st;
}

export async function teardown(ctx) {
	await ctx.state?.fake.close();
}

export function snapshot(ctx) {
	const st = ctx.state;
	return { acked: countAcked(st), sends: st.fake.sends().length };
}

export function progressed(ctx, mark) {
	const now = snapshot(ctx);
	return ctx.d && now.acked >= mark.acked + 3 && now.sends >= mark.sends + 3;
}

export function atKill(ctx) {
	const f = ctx.state.fake;
	return { fakeInFlight: f.inFlight(), fakeSends: f.sends().length };
}

function countAcked(st) {
	let n = 0;
	for (const it of st.items.values()) if (it.ids.size) n++;
	return n;
}

function newItem(st, rng) {
	const cid = `c${++st.seq}`;
	const it = { cid, to: `1555${String(st.seq).padStart(7, '0')}`, ids: new Set(), unanswered: 0, retried: 0, at: 0 };
	// A few are scheduled 1-3 s ahead: they wait in the outbox across kills.
	if (rng() < SCHEDULED_SHARE) it.at = Math.floor(Date.now() / 1000) + rng.int(1, 3);
	st.items.set(cid, it);
	return it;
}

const bodyOf = (it) => ({ channel: 'wa', to: it.to, text: `crash ${it.cid}`, client_id: it.cid,
	...(it.at ? { scheduled_at: rfc3339(it.at) } : {}) });

async function post(ctx, d, items, isRetry) {
	const st = ctx.state;
	const batch = items.length > 1;
	st.requests++;
	const p = batch
		? d.api('POST', '/v1/messages/batch', { messages: items.map(bodyOf) })
		: d.api('POST', '/v1/messages', bodyOf(items[0]));
	const t = ctx.trigger;
	if (t && !t.fired && t.point === 'client-mid-post')
		setTimeout(() => ctx.kill(t.point), Math.floor(t.r * 8));
	let r;
	try {
		r = await p;
	} catch {
		// Cut off by a kill: maybe stored, maybe not. Retry half of them.
		st.unanswered++;
		for (const it of items) it.unanswered++;
		if (ctx.rng() < 0.5 && !isRetry) st.retry.push(items);
		return;
	}
	if (isRetry) { st.retried++; for (const it of items) it.retried++; }
	// 'after-ack': the send is committed, most likely not claimed or sent yet.
	const ta = ctx.trigger;
	if (ta && !ta.fired && ta.point === 'after-ack' && (r.status === 202 || r.status === 207)) {
		ta.countdown ??= 1 + Math.floor(ta.r * 4);
		if (--ta.countdown <= 0) ctx.kill(ta.point);
	}
	if (!batch && (r.status === 202 || r.status === 200) && typeof r.json?.id === 'number') {
		items[0].ids.add(r.json.id);
	} else if (batch && r.status === 207 && Array.isArray(r.json?.results)) {
		for (const x of r.json.results) {
			if (x.message && typeof x.message.id === 'number') items[x.index].ids.add(x.message.id);
			else st.refused.push(`batch item ${items[x.index]?.cid}: ${JSON.stringify(x)}`);
		}
	} else {
		st.refused.push(`${batch ? 'batch' : 'send'} ${items.map((i) => i.cid).join(',')}: ${r.status} ${r.text.slice(0, 200)}`);
	}
}

export async function load(ctx) {
	const st = ctx.state;
	const out = new Set();
	let stopped = false;
	const interval = 1000 / RATE_PER_S;
	const run = (async () => {
		while (!stopped) {
			const d = await ctx.whenUp();
			if (stopped || !d) break;
			while (out.size >= MAX_OUTSTANDING) await Promise.race(out);
			let items;
			if (st.retry.length) items = st.retry.shift();
			else if (ctx.rng() < 0.3) items = Array.from({ length: ctx.rng.int(2, BATCH_MAX) }, () => newItem(st, ctx.rng));
			else items = [newItem(st, ctx.rng)];
			const retry = items.some((it) => it.unanswered > 0);
			const p = post(ctx, d, items, retry).finally(() => out.delete(p));
			out.add(p);
			await new Promise((r) => setTimeout(r, interval * items.length));
		}
		await Promise.all(out);
	})();
	return { async stop() { stopped = true; await run; } };
}

export async function verify(ctx) {
	const st = ctx.state;
	const fake = st.fake;
	const d = ctx.d;
	const problems = [...st.refused.map((x) => `refused: ${x}`)];
	const notes = [];
	const acked = [...st.items.values()].filter((it) => it.ids.size);

	// Drain: every acknowledged key accepted by the fake, then every stored
	// outbound message (also those whose request was cut off) accepted by msgd.
	const acceptedKeys = () => new Set(fake.accepted.map((a) => keyOf(fake.requests[a.n])));
	try {
		await waitFor(() => { const k = acceptedKeys(); return acked.every((it) => k.has(it.cid)); }, DRAIN_MS,
		    { what: 'every acknowledged send accepted by the fake', intervalMs: 50 });
	} catch (e) { notes.push(e.message); }

	const outIds = new Set();
	for (const it of acked) for (const id of it.ids) outIds.add(id);
	for (const ev of await allEvents(d))
		if (ev.type === 'message.status' && ev.channel === 'wa' && typeof ev.message_id === 'number') outIds.add(ev.message_id);
	const stored = new Map();  // cid -> [message]
	let notAccepted = 0;
	// Poll them all until each is accepted, under one deadline.
	const msgs = new Map();
	let pending = [...outIds].sort((a, b) => a - b);
	const until = Date.now() + ACCEPT_MS;
	for (;;) {
		const still = [];
		for (const id of pending) {
			const m = await getMessage(d, id);
			msgs.set(id, m);
			if (m.status !== 'accepted') still.push(id);
		}
		pending = still;
		if (!pending.length || Date.now() >= until) break;
		await new Promise((r) => setTimeout(r, 200));
	}
	for (const id of pending) {
		const m = msgs.get(id);
		if (++notAccepted <= 10) problems.push(`stored message ${id} (${m.client_id}) never accepted: ${m.status}, attempts ${m.attempts}`);
	}
	for (const m of msgs.values()) {
		if (!stored.has(m.client_id)) stored.set(m.client_id, []);
		stored.get(m.client_id).push(m);
	}
	// Each stored message shows the id the fake gave to its own request.
	const byProviderId = new Map(fake.accepted.map((a) => [a.id, fake.requests[a.n]]));
	for (const [cid, ms] of stored)
		for (const m of ms) {
			const rec = byProviderId.get(m.provider_message_id);
			if (m.status !== 'accepted') continue;
			if (!rec || keyOf(rec) !== cid || rec.to !== m.to || rec.to !== st.items.get(cid)?.to)
				problems.push(`message ${m.id} (${cid} to ${m.to}) shows provider id ${m.provider_message_id}, which the fake gave to ${rec ? `${keyOf(rec)} to ${rec.to}` : 'nobody'}`);
		}

	// Losses: acknowledged but not accepted by the fake or not stored.
	const keys = acceptedKeys();
	const isDelivered = (it) => keys.has(it.cid) && (stored.get(it.cid) ?? []).some((m) => m.status === 'accepted');
	let lost = 0;
	for (const it of acked) {
		if (!isDelivered(it)) {
			lost++;
			if (lost <= 10) problems.push(`LOST: ${it.cid} acknowledged as ${[...it.ids]} but ${!keys.has(it.cid) ? 'never accepted by the provider' : !stored.has(it.cid) ? 'not stored' : 'not accepted in msgd'}`);
		}
		if (it.ids.size > 1) problems.push(`${it.cid} acknowledged with two ids: ${[...it.ids]}`);
	}
	for (const [cid, ms] of stored) {
		if (ms.length > 1) problems.push(`client_id ${cid} stored ${ms.length} times: ${ms.map((m) => m.id)}`);
		if (!st.items.has(cid)) problems.push(`a message nobody sent: ${cid}`);
	}
	const unansweredStored = [...st.items.values()].filter((it) => !it.ids.size && stored.has(it.cid)).length;
	const unansweredNot = [...st.items.values()].filter((it) => !it.ids.size).length - unansweredStored;

	// Duplicates against the window.
	const counts = new Map();
	for (const a of fake.accepted) { const k = keyOf(fake.requests[a.n]); counts.set(k, (counts.get(k) ?? 0) + 1); }
	let duplicates = 0;
	for (const [k, c] of counts) {
		if (k === null || !st.items.has(k)) problems.push(`the fake accepted a send nobody made: ${k}`);
		duplicates += c - 1;
	}
	// A key goes out twice only across a kill: its earlier request reached
	// the fake before the next life was up (a request the killed msgd wrote
	// may be read just after the kill, never after the restart: the fake's
	// loop runs all through it), the later one after the kill.
	let sameLife = 0;
	const reqsByKey = new Map();
	for (const a of fake.accepted) {
		const rec = fake.requests[a.n];
		const k = keyOf(rec);
		if (!reqsByKey.has(k)) reqsByKey.set(k, []);
		reqsByKey.get(k).push(rec);
	}
	for (const [k, recs] of reqsByKey) {
		for (let i = 1; i < recs.length; i++) {
			const a = recs[i - 1], b = recs[i];
			if (!ctx.kills.some((kl, i) => a.wall <= ctx.lives[i + 1].readyWall && b.wall >= kl.wall)) {
				if (++sameLife <= 5) problems.push(`${k} accepted twice without a kill in between (requests #${a.n} and #${b.n})`);
			}
		}
	}
	// Every entry an instance found in flight and sent again: at a restart
	// (its own), and with two instances, expired leases of the other.
	const uncertainIn = (life) => [...life.logs().matchAll(/marked uncertain.*?count=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
	let allowed = 0;
	ctx.lives.forEach((life, i) => {
		const n = uncertainIn(life);
		allowed += n;
		if (i > 0 && ctx.kills[i - 1]) ctx.kills[i - 1].uncertain = n;
	});
	if (ctx.companion) allowed += uncertainIn(ctx.companion);
	if (duplicates > allowed) problems.push(`EXCESS DUPLICATES: ${duplicates} provider acceptances twice > ${allowed} sends in flight at the kills`);
	const fakeInFlight = ctx.kills.reduce((s, k) => s + (k.at.fakeInFlight ?? 0), 0);
	notes.push(`${st.requests} API requests (${st.unanswered} cut off by a kill, ${st.retried} retried with their client_id); ` +
	    `${st.items.size - acked.length} items never acknowledged: ${unansweredStored} of them stored and delivered, ${unansweredNot} not stored`,
	    `${fake.sends().length} provider requests, ${fake.accepted.length} accepted; at the kills: ${fakeInFlight} requests in flight at the fake, ` +
	    `${allowed} entries found in flight by msgd at restart`);
	return {
		acknowledged: acked.length,
		delivered: acked.filter(isDelivered).length,
		lost, duplicates, allowed, notes, problems, notAccepted,
	};
}
