// verify.mjs - the soak's end checks (see soak.mjs's header): the drain,
// the accounting of everything acknowledged, the followers, and flatness.

import { waitFor } from '../e2e/lib.mjs';

const DRAIN_MS = 180_000;        // for the outbox to empty and the fake to get every key
const CATCH_UP_MS = 120_000;     // for the followers to reach the end of the log
const SPOT_CHECKS = 300;         // acknowledged items also read back one by one
const MAX_LISTED = 10;           // problems listed per kind
// Flatness: the last life against the second, at the same ages.
export const RSS_GROWTH_MAX = Number(process.env.SOAK_RSS_GROWTH_MAX ?? 0.20);
export const FD_GROWTH_MAX = Number(process.env.SOAK_FD_GROWTH_MAX ?? 10);
const SETTLED = new Set(['accepted', 'sent', 'delivered', 'read']);

function sampleOf(arr, n) {
	if (arr.length <= n) return arr.slice();
	const out = [];
	const step = arr.length / n;
	for (let i = 0; i < n; i++) out.push(arr[Math.floor(i * step + Math.random() * step)]);
	return out;
}

function listed(problems, label, items, fmt) {
	if (!items.length) return;
	problems.push(`${label}: ${items.length}, e.g. ${items.slice(0, MAX_LISTED).map(fmt).join('; ')}`);
}

async function channelIdle(d, name) {
	const r = await d.api('GET', `/v1/channels/${name}`);
	if (r.status !== 200) return false;
	const st = r.json.state;
	if (!st) return true;
	return st.queue_depth === 0 && st.inflight === 0;
}

/** ctx: soak.mjs's ctx plus {d, fake, harvestFake, followers, lives, say}. */
export async function verify(ctx) {
	const { d, track, say } = ctx;
	const problems = track.problems;
	const notes = [];
	const waKeys = track.sends.filter((s) => s.channel === 'wa').map((s) => s.cid);

	// 1. The drain: both channels idle, the fake holds every acknowledged key.
	const t = Date.now();
	try {
		await waitFor(async () => {
			ctx.harvestFake();
			return (await channelIdle(d, 'wa')) && (await channelIdle(d, 'sandbox'))
			    && waKeys.every((k) => track.fakeKeyCounts.has(k));
		}, DRAIN_MS, { what: 'the outbox drained and the fake got every acknowledged key', intervalMs: 250 });
		say(`outbox drained in ${Date.now() - t} ms`);
	} catch (e) {
		problems.push(`STUCK OUTBOX: ${e.message}`);
	}
	ctx.harvestFake();

	// 2. One pass over the event log: contiguity, received ids, last status per message.
	const wanted = new Set(track.ingested);
	const lastStatus = new Map();
	let cursor = 0, events = 0, logGaps = 0;
	for (;;) {
		const r = await d.api('GET', `/v1/events?since=${cursor}&limit=1000`);
		if (r.status !== 200) throw new Error(`GET /v1/events?since=${cursor}: ${r.status} ${r.text.slice(0, 200)}`);
		const evs = r.json.events;
		if (!evs.length) break;
		for (const ev of evs) {
			if (ev.seq !== cursor + 1 && logGaps++ < MAX_LISTED) problems.push(`the event log jumps from ${cursor} to ${ev.seq}`);
			cursor = ev.seq;
			events++;
			if (ev.type === 'message.received' && ev.data?.direction === 'in') wanted.delete(ev.data.provider_message_id);
			else if (ev.type === 'message.status' && typeof ev.data?.id === 'number') lastStatus.set(ev.data.id, ev.data.status);
		}
	}
	const logEnd = cursor;
	listed(problems, 'LOST: acknowledged webhook messages with no message.received event', [...wanted], (x) => x);

	// 3. Every accepted send settled (and reached the fake, for "wa").
	const unsettled = [], failed = [], notAtFake = [];
	for (const s of track.sends) {
		const st = lastStatus.get(s.id);
		if (st === 'failed') failed.push(s);
		else if (!SETTLED.has(st)) unsettled.push({ ...s, st });
		if (s.channel === 'wa' && !track.fakeKeyCounts.has(s.cid)) notAtFake.push(s);
	}
	listed(problems, 'sends that never settled (queued or retrying at the end)', unsettled, (s) => `${s.cid} (message ${s.id}): ${s.st ?? 'no status event'}`);
	listed(problems, 'sends that failed', failed, (s) => `${s.cid} (message ${s.id})`);
	listed(problems, 'LOST: acknowledged sends the fake Graph API never accepted', notAtFake, (s) => `${s.cid} (message ${s.id})`);

	// 4. Duplicates: a key the fake accepted twice.
	const known = new Set(waKeys);
	let duplicates = 0;
	const dupKeys = [], strangers = [];
	for (const [k, c] of track.fakeKeyCounts) {
		if (c > 1) { duplicates += c - 1; dupKeys.push(`${k} x${c}`); }
		// A key whose request got no answer (a restart) may be stored and sent without being acknowledged.
		if (k === null || (!known.has(k) && !/^w/.test(k))) strangers.push(k);
	}
	const uncertain = ctx.lives.reduce((s, l) => s + (l.uncertain ?? 0), 0);
	const allowed = uncertain + track.fakeLost;
	if (duplicates > allowed)
		problems.push(`DUPLICATES: the fake accepted ${duplicates} sends twice (${dupKeys.slice(0, MAX_LISTED).join(', ')}); allowed by the window: ${allowed} (${uncertain} found in flight at starts, ${track.fakeLost} answers msgd lost)`);
	listed(problems, 'the fake accepted sends nobody made', strangers, (k) => String(k));

	// 5. Spot checks through the API, one item at a time.
	let spotIn = 0, spotOut = 0;
	for (const id of sampleOf(track.ingested, SPOT_CHECKS)) {
		const r = await d.api('GET', `/v1/messages?provider_message_id=${encodeURIComponent(id)}`);
		const ms = r.json?.messages ?? [];
		if (r.status !== 200 || ms.length !== 1 || ms[0].direction !== 'in')
			problems.push(`GET /v1/messages?provider_message_id=${id}: ${r.status}, ${ms.length} messages`);
		spotIn++;
	}
	for (const s of sampleOf(track.sends, SPOT_CHECKS)) {
		const r = await d.api('GET', `/v1/messages/${s.id}`);
		if (r.status !== 200 || r.json.text !== `soak ${s.cid}` || !SETTLED.has(r.json.status))
			problems.push(`GET /v1/messages/${s.id} (${s.cid}): ${r.status} ${r.text.slice(0, 200)}`);
		spotOut++;
	}

	// 6. The followers: every seq up to the end of the log, in order, once.
	try {
		await waitFor(() => ctx.followers.every((f) => f.last >= logEnd), CATCH_UP_MS, { what: `followers at seq ${logEnd}`, intervalMs: 100 });
	} catch {
		for (const f of ctx.followers) if (f.last < logEnd) problems.push(`follower ${f.name} stopped at seq ${f.last} of ${logEnd}`);
	}
	for (const f of ctx.followers) {
		if (f.gapCount) problems.push(`follower ${f.name}: ${f.gapCount} gaps, e.g. ${JSON.stringify(f.gaps.slice(0, 5))}`);
		if (f.repeatCount) problems.push(`follower ${f.name}: ${f.repeatCount} repeated or out-of-order seqs, e.g. ${JSON.stringify(f.repeats.slice(0, 5))}`);
	}

	const accounting = {
		webhooks_acknowledged: track.ingested.length, webhooks_missing: wanted.size, statuses_acknowledged: track.statuses,
		sends_acknowledged: track.sends.length, sends_wa: waKeys.length, sends_settled: track.sends.length - unsettled.length - failed.length,
		repeats: track.repeats, provider_requests: track.fakeRequests, provider_accepted: track.fakeAccepted,
		provider_faults: track.fakeFaults, provider_answers_lost: track.fakeLost, duplicates, allowed_by_window: allowed,
		events: events, log_end: logEnd, short_streams: track.shortStreams, spot_checked: spotIn + spotOut,
	};
	notes.push(`${track.ingested.length} webhook messages and ${track.statuses} statuses acknowledged (${wanted.size} missing); ` +
	    `${track.sends.length} sends accepted (${waKeys.length} via wa), ${unsettled.length + failed.length} unsettled; ${track.repeats} repeats answered with the original`,
	    `fake Graph: ${track.fakeRequests} send requests, ${track.fakeAccepted} accepted, ${track.fakeFaults} 5xx/429 answers; duplicates ${duplicates} (allowed ${allowed})`,
	    `event log: ${events} events; followers ${ctx.followers.map((f) => `${f.name} ${f.events} ev/${f.connections} conn`).join(', ')}; ` +
	    `short-lived streams: ${track.shortStreams.sse} SSE, ${track.shortStreams.ws} WS`);
	return { accounting, notes };
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const mb = (kb) => (kb / 1024).toFixed(1);

/**
 * Flatness, after warm-up (the first life is left out):
 *  - across lives: the last life against the second, sample by sample at
 *    the same age: growth that follows the data (the database grows all
 *    along) or the uptime of the machine;
 *  - within each later life: its last sample against its second (the first
 *    is the life's own warm-up): a leak per request or per connection, which
 *    every restart resets and the comparison across lives would not see.
 * RSS by at most RSS_GROWTH_MAX, fds ("base": without the established
 * connections, which follow the load) by at most FD_GROWTH_MAX.
 */
export function flatness(samples, nLives) {
	const problems = [], notes = [];
	const ofLife = (n) => samples.filter((s) => s.life === n && s.rss !== null);
	const perLife = [];
	for (let n = 0; n < nLives; n++) {
		const ss = ofLife(n);
		if (!ss.length) continue;
		const l = {
			life: n, samples: ss.length, rss_first_kb: ss[0].rss, rss_last_kb: ss.at(-1).rss, rss_max_kb: Math.max(...ss.map((s) => s.rss)),
			fds_max: Math.max(...ss.map((s) => s.fds)), fds_base_max: Math.max(...ss.map((s) => s.fdsBase)),
			close_wait_max: Math.max(...ss.map((s) => s.closeWait)),
		};
		perLife.push(l);
		notes.push(`life ${n}: ${l.samples} samples, RSS ${mb(l.rss_first_kb)} → ${mb(l.rss_last_kb)} MB (max ${mb(l.rss_max_kb)}), ` +
		    `fds max ${l.fds_max} (base max ${l.fds_base_max}${l.close_wait_max ? `, CLOSE_WAIT max ${l.close_wait_max}` : ''})`);
		if (n === 0 || ss.length < 3) continue;
		const a = ss[1], b = ss.at(-1);
		const g = b.rss / a.rss - 1;
		l.within = { rss_kb: [a.rss, b.rss], rss_growth: g, fds_base: [a.fdsBase, b.fdsBase] };
		if (g > RSS_GROWTH_MAX) problems.push(`RSS GREW within life ${n}: ${mb(a.rss)} MB at sample ${a.lifeSample}, ${mb(b.rss)} MB at sample ${b.lifeSample} (+${(g * 100).toFixed(1)}% > ${(RSS_GROWTH_MAX * 100).toFixed(0)}%)`);
		if (b.fdsBase - a.fdsBase > FD_GROWTH_MAX) problems.push(`FDS GREW within life ${n}: ${a.fdsBase} at sample ${a.lifeSample}, ${b.fdsBase} at sample ${b.lifeSample} (without connections; +${b.fdsBase - a.fdsBase} > ${FD_GROWTH_MAX})`);
	}
	const report = { rss_growth_max: RSS_GROWTH_MAX, fd_growth_max: FD_GROWTH_MAX, lives: perLife, compared: null };
	if (nLives < 3) {
		notes.push(`flatness across lives: not checked (${nLives} lives; the first is warm-up, and the comparison needs two more)`);
		return { problems, notes, report };
	}
	const a = ofLife(1), b = ofLife(nLives - 1);
	const pairs = [];
	for (const x of b) {
		const y = a.find((s) => s.lifeSample === x.lifeSample);
		if (y) pairs.push([y, x]);
	}
	if (!pairs.length) {
		problems.push('flatness: no samples of the same age in the second and the last life');
		return { problems, notes, report };
	}
	const rssA = mean(pairs.map(([y]) => y.rss)), rssB = mean(pairs.map(([, x]) => x.rss));
	const fdA = Math.max(...pairs.map(([y]) => y.fdsBase)), fdB = Math.max(...pairs.map(([, x]) => x.fdsBase));
	const growth = rssB / rssA - 1;
	report.compared = { lives: [1, nLives - 1], pairs: pairs.length, rss_mean_kb: [Math.round(rssA), Math.round(rssB)], rss_growth: growth, fds_base_max: [fdA, fdB] };
	notes.push(`flatness: life ${nLives - 1} vs life 1 over ${pairs.length} samples: mean RSS ${mb(rssA)} → ${mb(rssB)} MB ` +
	    `(${(growth * 100).toFixed(1)}%, limit ${(RSS_GROWTH_MAX * 100).toFixed(0)}%), fds without connections max ${fdA} → ${fdB} (limit +${FD_GROWTH_MAX})`);
	if (growth > RSS_GROWTH_MAX) problems.push(`RSS GREW: mean ${mb(rssA)} MB in life 1, ${mb(rssB)} MB in life ${nLives - 1} (+${(growth * 100).toFixed(1)}% > ${(RSS_GROWTH_MAX * 100).toFixed(0)}%)`);
	if (fdB - fdA > FD_GROWTH_MAX) problems.push(`FDS GREW: max ${fdA} in life 1, ${fdB} in life ${nLives - 1} (without connections; +${fdB - fdA} > ${FD_GROWTH_MAX})`);
	return { problems, notes, report };
}
