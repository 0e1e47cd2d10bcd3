// inbound_load.mjs - the steady load of sandbox inbound messages that the
// crash loop's event paths share (path_hooks, path_exports,
// path_exports_amqp): one POST /v1/sandbox/sandbox/inbound (or, for
// path_hooks, a sandbox send now and then) every 1/RATE s with at most
// MAX_OUTSTANDING in flight, while msgd is up; kill points 'client-mid-post'
// (a few ms after a POST left) and 'after-ack' (as its answer arrives:
// committed, most likely not delivered yet) fired from here.
//
// ctx.state gets: seq (the last number used), acked [{n, id}] (inbound
// answered 201 with the message's id), refused [text], unanswered (cut off
// by a kill: not an error).

import { allEvents, waitFor } from '../e2e/lib.mjs';

const RATE_PER_S = 80;
const MAX_OUTSTANDING = 6;

export const inboundFrom = (n) => `1777${String(n % 50).padStart(7, '0')}`;

/** One request made by make(d, n) (a promise of lib.mjs's answer); its
 *  answer, or null when a kill cut it off. okStatus: the answer that
 *  counts as committed, for 'after-ack'. */
export async function posted(ctx, d, make, okStatuses = [201]) {
	const st = ctx.state;
	const n = ++st.seq;
	const p = make(d, n);
	const t = ctx.trigger;
	if (t && !t.fired && t.point === 'client-mid-post')
		setTimeout(() => ctx.kill(t.point), Math.floor(t.r * 8));
	let r;
	try { r = await p; } catch { st.unanswered++; return null; }
	const ta = ctx.trigger;
	if (ta && !ta.fired && ta.point === 'after-ack' && okStatuses.includes(r.status)) {
		ta.countdown ??= 1 + Math.floor(ta.r * 4);
		if (--ta.countdown <= 0) ctx.kill(ta.point);
	}
	return { n, r };
}

/** A sandbox inbound message, recorded as acknowledged or refused. */
export async function postInbound(ctx, d) {
	const st = ctx.state;
	const got = await posted(ctx, d, (dd, n) => dd.api('POST', '/v1/sandbox/sandbox/inbound',
		{ from: inboundFrom(n), text: `in ${n}`, id: `in-${n}` }));
	if (got) recordInbound(st, got.n, got.r);
}

export function recordInbound(st, n, r) {
	if (r.status === 201 && typeof r.json?.message?.id === 'number') st.acked.push({ n, id: r.json.message.id });
	else st.refused.push(`inbound ${n}: ${r.status} ${r.text.slice(0, 200)}`);
}

/** post(ctx, d) at a steady rate while msgd is up; { run, stop() }. */
export function steadyLoad(ctx, post = postInbound) {
	const out = new Set();
	let stopped = false;
	const run = (async () => {
		while (!stopped) {
			const d = await ctx.whenUp();
			if (stopped || !d) break;
			while (out.size >= MAX_OUTSTANDING) await Promise.race(out);
			const p = post(ctx, d).finally(() => out.delete(p));
			out.add(p);
			await new Promise((r) => setTimeout(r, 1000 / RATE_PER_S));
		}
		await Promise.all(out);
	})();
	return { run, get stopped() { return stopped; }, async stop() { stopped = true; await run; } };
}

/** The drain at verify(): read the whole log every 500 ms until it stops
 *  growing and caughtUp(evs, head) says the sink has its last event (async
 *  allowed); the log as last read. A timeout goes into problems. */
export async function settledLog(d, caughtUp, what, problems, deadlineMs = 180_000) {
	let evs = [];
	let lastHead = -1;
	try {
		await waitFor(async () => {
			evs = await allEvents(d);
			const head = evs.at(-1)?.seq ?? 0;
			const stable = head === lastHead;
			lastHead = head;
			return stable && caughtUp(evs, head);
		}, deadlineMs, { what, intervalMs: 500 });
	} catch (e) { problems.push(e.message); }
	return evs;
}
