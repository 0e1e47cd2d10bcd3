// path_campaigns.mjs - the crash loop's campaign path (issue 14): campaigns
// of 20..300 recipients created at a steady pace through the fake Graph API
// (some paced by a rate, so they span kills), paused and resumed at random,
// msgd killed anywhere: while a campaign's messages are being made (just
// after its 202, or a few ms after the POST left), while its sends are in
// flight at the fake. See driver.mjs for the module contract.
//
// Accounting: acknowledged = campaigns answered 202, plus those a cut-off
// POST stored anyway (GET /v1/campaigns lists them). At the end every paused
// campaign is resumed and each must complete with every recipient sent:
// each recipient's key ("camp K I" in the text) accepted by the fake, and
// shown in msgd with one message of its own. Duplicates: fake acceptances
// beyond the first per key, allowed up to the entries msgd found in flight
// at its restarts ("marked uncertain"), and only across a kill.

import { waitFor } from '../e2e/lib.mjs';
import { startFakeGraph } from '../e2e/fake_graph.mjs';
import { createSendChannel } from '../e2e/lib.mjs';

const CREATE_EVERY_MS = 250;     // a new campaign this often
const CONTROL_SHARE = 0.3;       // a pause or resume between creations
const DELAYS_MS = [0, 3, 10, 30];
const DRAIN_MS = 240_000;

const keyOf = (rec) => {
	const m = /^camp (\d+) (\d+)$/.exec(rec.body?.text?.body ?? '');
	return m ? `${m[1]}/${m[2]}` : null;
};
const numberOf = (k, i) => `1556${String(k).padStart(4, '0')}${String(i).padStart(4, '0')}`;

export const name = 'campaigns';
export const killPoints = ['client-mid-post', 'after-ack', 'provider-in-flight'];

export async function setup(ctx) {
	const fake = await startFakeGraph();
	DELAYS_MS.forEach((ms, i) => fake.rule((r) => r.n % DELAYS_MS.length === i, ms ? { delayMs: ms } : {}));
	fake.onRequest((rec) => {
		const t = ctx.trigger;
		if (!t || t.fired || rec.kind !== 'send' || t.point !== 'provider-in-flight') return;
		t.countdown ??= 1 + Math.floor(t.r * 20);
		if (--t.countdown <= 0) ctx.kill(t.point);
	});
	await createSendChannel(ctx.d, fake.url, { rate_per_second: 0 });
	return { fake, camps: new Map(), seq: 0, posts: 0, unanswered: 0, controls: 0, refused: [] };
}

export async function teardown(ctx) {
	await ctx.state?.fake.close();
}

export function snapshot(ctx) {
	const st = ctx.state;
	return { acked: [...st.camps.values()].filter((c) => c.id).length, sends: st.fake.sends().length };
}

export function progressed(ctx, mark) {
	const now = snapshot(ctx);
	return ctx.d && now.acked >= mark.acked + 1 && now.sends >= mark.sends + 10;
}

export function atKill(ctx) {
	const f = ctx.state.fake;
	return { fakeInFlight: f.inFlight(), fakeSends: f.sends().length };
}

async function create(ctx, d) {
	const st = ctx.state;
	const k = ++st.seq;
	const n = ctx.rng.int(20, 300);
	const camp = { k, n, id: null, name: `camp-${k}` };
	st.camps.set(camp.name, camp);
	const body = { name: camp.name, channel: 'wa', text: 'camp {{k}} {{i}}',
		recipients: Array.from({ length: n }, (_, i) => ({ to: numberOf(k, i), variables: { k, i } })) };
	if (ctx.rng() < 0.3) body.rate = 3000;  // 50 a second: spans kills
	st.posts++;
	const p = d.api('POST', '/v1/campaigns', body);
	const t = ctx.trigger;
	if (t && !t.fired && t.point === 'client-mid-post') setTimeout(() => ctx.kill(t.point), Math.floor(t.r * 8));
	let r;
	try {
		r = await p;
	} catch {
		st.unanswered++;  // maybe stored: verify() looks for it by name
		return;
	}
	if (r.status === 202 && typeof r.json?.id === 'number') {
		camp.id = r.json.id;
		const ta = ctx.trigger;
		if (ta && !ta.fired && ta.point === 'after-ack') {
			ta.countdown ??= 1 + Math.floor(ta.r * 3);
			if (--ta.countdown <= 0) ctx.kill(ta.point);
		}
	} else {
		st.refused.push(`campaign ${k}: ${r.status} ${r.text.slice(0, 200)}`);
	}
}

async function control(ctx, d) {
	const st = ctx.state;
	const ids = [...st.camps.values()].filter((c) => c.id).map((c) => c.id);
	if (!ids.length) return;
	const id = ids[ctx.rng.int(0, ids.length - 1)];
	const what = ctx.rng() < 0.5 ? 'pause' : 'resume';
	st.controls++;
	try {
		const r = await d.api('POST', `/v1/campaigns/${id}/${what}`);
		// 409: a completed campaign cannot be paused any more.
		if (r.status !== 200 && r.status !== 409) st.refused.push(`${what} ${id}: ${r.status} ${r.text.slice(0, 200)}`);
	} catch { /* cut off by a kill */ }
}

export async function load(ctx) {
	let stopped = false;
	const run = (async () => {
		while (!stopped) {
			const d = await ctx.whenUp();
			if (stopped || !d) break;
			if (ctx.rng() < CONTROL_SHARE) await control(ctx, d);
			else await create(ctx, d);
			await new Promise((r) => setTimeout(r, CREATE_EVERY_MS));
		}
	})();
	return { async stop() { stopped = true; await run; } };
}

async function listAll(d) {
	const out = [];
	let before = 0;
	for (;;) {
		const r = await d.api('GET', `/v1/campaigns?limit=200${before ? `&before=${before}` : ''}`);
		if (r.status !== 200) throw new Error(`GET /v1/campaigns: ${r.status} ${r.text}`);
		out.push(...r.json.campaigns);
		if (r.json.next === null) return out;
		before = r.json.next;
	}
}

async function recipientsOf(d, id) {
	const out = [];
	let after = -1;
	for (;;) {
		const r = await d.api('GET', `/v1/campaigns/${id}/recipients?limit=1000${after >= 0 ? `&after=${after}` : ''}`);
		if (r.status !== 200) throw new Error(`recipients of ${id}: ${r.status} ${r.text}`);
		out.push(...r.json.recipients);
		if (r.json.next === null) return out;
		after = r.json.next;
	}
}

export async function verify(ctx) {
	const st = ctx.state;
	const fake = st.fake;
	const d = ctx.d;
	const problems = [...st.refused.map((x) => `refused: ${x}`)];
	const notes = [];

	// Every campaign msgd has (acknowledged, or stored by a cut-off POST).
	const stored = await listAll(d);
	const byName = new Map(stored.map((c) => [c.name, c]));
	for (const c of st.camps.values()) {
		const s = byName.get(c.name);
		if (c.id && !s) problems.push(`LOST: campaign ${c.name} (id ${c.id}) acknowledged but not stored`);
		if (c.id && s && s.id !== c.id) problems.push(`campaign ${c.name} acknowledged as ${c.id}, stored as ${s.id}`);
		if (s && byName.get(c.name) !== s) problems.push(`campaign ${c.name} stored twice`);
	}
	if (stored.length !== byName.size) problems.push(`${stored.length} campaigns stored for ${byName.size} names`);
	const mine = stored.filter((s) => st.camps.has(s.name));
	for (const s of mine) {
		const r = await d.api('POST', `/v1/campaigns/${s.id}/resume`);
		if (r.status !== 200 && r.status !== 409) problems.push(`resume ${s.id}: ${r.status} ${r.text.slice(0, 200)}`);
	}
	try {
		await waitFor(async () => (await listAll(d)).every((c) => c.status === 'completed'), DRAIN_MS,
			{ what: 'every campaign completed', intervalMs: 200 });
	} catch (e) { notes.push(e.message); }

	const accepted = new Map();  // key -> [request]
	for (const a of fake.accepted) {
		const rec = fake.requests[a.n];
		const k = keyOf(rec);
		if (k === null) { problems.push(`the fake accepted a send nobody made: ${rec.body?.text?.body}`); continue; }
		if (!accepted.has(k)) accepted.set(k, []);
		accepted.get(k).push(rec);
	}
	let lost = 0, recipients = 0, delivered = 0;
	for (const s of await listAll(d)) {
		const c = st.camps.get(s.name);
		if (!c) continue;
		if (s.status !== 'completed') problems.push(`campaign ${s.id} is ${s.status}: ${JSON.stringify(s.counters)}`);
		if (s.counters.total !== c.n || s.counters.sent !== c.n || s.counters.queued !== 0)
			problems.push(`campaign ${s.id} counters ${JSON.stringify(s.counters)} for ${c.n} recipients`);
		const rs = await recipientsOf(d, s.id);
		if (rs.length !== c.n) problems.push(`campaign ${s.id}: ${rs.length} recipients for ${c.n}`);
		if (new Set(rs.map((r) => r.message_id)).size !== rs.length) problems.push(`campaign ${s.id}: a message shared by two recipients`);
		for (let i = 0; i < c.n; i++) {
			recipients++;
			const got = accepted.get(`${c.k}/${i}`);
			if (!got) { if (++lost <= 10) problems.push(`LOST: campaign ${s.id} recipient ${i} never accepted by the provider`); continue; }
			delivered++;
			if (got[0].to !== numberOf(c.k, i)) problems.push(`campaign ${s.id} recipient ${i} sent to ${got[0].to}`);
		}
	}
	let duplicates = 0, sameLife = 0;
	for (const [k, recs] of accepted) {
		duplicates += recs.length - 1;
		for (let i = 1; i < recs.length; i++) {
			const a = recs[i - 1], b = recs[i];
			if (!ctx.kills.some((kl, j) => a.wall <= ctx.lives[j + 1].readyWall && b.wall >= kl.wall))
				if (++sameLife <= 5) problems.push(`${k} accepted twice without a kill in between (#${a.n}, #${b.n})`);
		}
	}
	const uncertainIn = (life) => [...life.logs().matchAll(/marked uncertain.*?count=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
	let allowed = 0;
	ctx.lives.forEach((life, i) => {
		const n = uncertainIn(life);
		allowed += n;
		if (i > 0 && ctx.kills[i - 1]) ctx.kills[i - 1].uncertain = n;
	});
	if (ctx.companion) allowed += uncertainIn(ctx.companion);
	if (duplicates > allowed) problems.push(`EXCESS DUPLICATES: ${duplicates} provider acceptances twice > ${allowed} sends in flight at the kills`);
	const acked = [...st.camps.values()].filter((c) => c.id).length;
	notes.push(`${st.posts} campaigns posted (${st.unanswered} cut off by a kill, ${mine.length - acked} of them stored), ` +
	    `${st.controls} pauses/resumes; ${recipients} recipients, ${fake.sends().length} provider requests, ` +
	    `${allowed} entries found in flight by msgd at restart`);
	return { acknowledged: recipients, delivered, lost, duplicates, allowed, notes, problems };
}
