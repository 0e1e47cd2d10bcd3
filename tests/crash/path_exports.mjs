// path_exports.mjs - the crash loop's export path (issue 15): sandbox
// inbound messages at a steady rate, an export of message.received to a
// private nats-server with JetStream (a stream made before the export takes
// "msgd.>"), msgd killed anywhere and the broker restarted under the load.
// See driver.mjs for the module contract.
//
// Kill points: 'timer' and 'early' (driver), 'after-ack' (as an inbound's
// 201 arrives: committed, most likely not exported yet), 'broker-restart'
// (nats-server stopped and started again on its port and store, msgd killed
// a few ms after it is back: publishes and acknowledgements cut off on both
// sides).
//
// Checks, over the stream read back from its start by a consumer of the
// test's own: every message.received of the log is there (nothing lost), the
// first copy of each seq comes in increasing seq order (in order), every
// copy carries Nats-Msg-Id "<export id>-<seq>" and the event's body; a seq
// seen again is a redelivery (JetStream drops most of them by their id) and
// counts as a duplicate. Acknowledged = inbound POSTs answered 201; each must
// be in the log and in the stream.

import { createRequire } from 'node:module';
import { assertStatus } from '../e2e/lib.mjs';
import { startNats } from '../e2e/nats.mjs';
import { postInbound, settledLog, steadyLoad } from './inbound_load.mjs';

const DRAIN_MS = 180_000;
const BATCH_MAX = 256;           // the NATS sink's batch: at most this many cut off per break
// The npm client lives with the e2e tests' packages (make e2e-npm).
const { connect, StringCodec, AckPolicy, DeliverPolicy } = createRequire(new URL('../e2e/package.json', import.meta.url))('nats');
const sc = StringCodec();

export const name = 'exports';
export const killPoints = ['after-ack', 'broker-restart'];

export async function setup(ctx) {
	const st = { acked: [], unanswered: 0, refused: [], seq: 0, restarts: 0, restarting: null, ns: null, exportId: 0 };
	st.ns = await startNats({ jetstream: true });
	const nc = await connect({ servers: st.ns.url });
	const jsm = await nc.jetstreamManager();
	await jsm.streams.add({ name: 'MSGD', subjects: ['msgd.>'], storage: 'file', duplicate_window: 120e9 });
	await nc.close();
	const r = await ctx.d.api('POST', '/v1/exports', { kind: 'nats', events: ['message.received'], since: 0,
	    config: { url: st.ns.url } });
	assertStatus(r, 201, 'POST /v1/exports');
	st.exportId = r.json.id;
	return st;
}

export async function teardown(ctx) {
	const st = ctx.state;
	if (st?.restarting) await st.restarting.catch(() => {});
	if (st?.ns) await st.ns.cleanup();
}

async function exportState(d, id) {
	const r = await d.api('GET', `/v1/exports/${id}`);
	return r.status === 200 ? r.json : null;
}

export function snapshot(ctx) {
	return { acked: ctx.state.acked.length };
}

export function progressed(ctx, mark) {
	return ctx.d && snapshot(ctx).acked >= mark.acked + 5;
}

export function atKill(ctx) {
	return { acked: ctx.state.acked.length, restarts: ctx.state.restarts };
}

// 'broker-restart': nats-server goes down and comes back (r decides how
// long it stays down), then msgd is killed a few ms later.
function brokerRestart(ctx, t) {
	const st = ctx.state;
	if (st.restarting) return;
	t.countdown = Infinity;  // once per cycle
	st.restarting = (async () => {
		await st.ns.stop();
		await new Promise((r) => setTimeout(r, Math.floor(t.r * 800)));
		await st.ns.start();
		st.restarts++;
		await new Promise((r) => setTimeout(r, Math.floor(t.r * 50)));
		ctx.kill(t.point);
	})().finally(() => { st.restarting = null; });
}

// An inbound message; a 'broker-restart' trigger starts its restart here.
async function post(ctx, d) {
	const t = ctx.trigger;
	if (t && !t.fired && t.point === 'broker-restart' && t.countdown === undefined) brokerRestart(ctx, t);
	await postInbound(ctx, d);
}

export async function load(ctx) {
	return steadyLoad(ctx, post);
}

// Every message in the stream, from its first.
async function readStream(url) {
	const nc = await connect({ servers: url });
	try {
		const jsm = await nc.jetstreamManager();
		const info = await jsm.streams.info('MSGD');
		const total = info.state.messages;
		const durable = `check-${Date.now()}`;
		await jsm.consumers.add('MSGD', { durable_name: durable, ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All });
		const consumer = await nc.jetstream().consumers.get('MSGD', durable);
		const got = [];
		while (got.length < total) {
			const msgs = await consumer.fetch({ max_messages: Math.min(1000, total - got.length), expires: 5000 });
			let n = 0;
			for await (const m of msgs) {
				n++;
				got.push({ id: m.headers?.get('Nats-Msg-Id'), subject: m.subject, raw: sc.decode(m.data) });
			}
			if (n === 0) break;
		}
		return got;
	} finally {
		await nc.close();
	}
}

export async function verify(ctx) {
	const st = ctx.state;
	const d = ctx.d;
	const problems = [...st.refused.map((x) => `refused: ${x}`)];
	const notes = [];
	if (st.restarting) await st.restarting.catch(() => {});
	if (!st.ns.alive) await st.ns.start();

	// Drain: the log settles and the export has nothing left.
	const evs = await settledLog(d, async (all, head) => {
		const ex = await exportState(d, st.exportId);
		return ex && ex.lag === 0 && ex.delivered_seq >= head;
	}, 'the export caught up with a settled log', problems, DRAIN_MS);
	const failed = evs.filter((e) => e.type === 'webhook.failed');
	if (failed.length) problems.push(`${failed.length} deliveries given up: ${JSON.stringify(failed[0])}`);

	const got = await readStream(st.ns.url);
	const want = evs.filter((e) => e.type === 'message.received');
	const bySeq = new Map(want.map((e) => [e.seq, e]));
	const first = new Map();
	let max = -1;
	let duplicates = 0;
	let bad = 0;
	const complain = (m) => { if (++bad <= 5) problems.push(m); };
	for (const m of got) {
		let body;
		try { body = JSON.parse(m.raw); } catch { complain(`not JSON: ${m.raw.slice(0, 80)}`); continue; }
		if (m.id !== `${st.exportId}-${body.seq}`) complain(`seq ${body.seq} has Nats-Msg-Id ${m.id}`);
		if (m.subject !== 'msgd.default.message.received') complain(`seq ${body.seq} on ${m.subject}`);
		const e = bySeq.get(body.seq);
		if (!e) { complain(`seq ${body.seq} is not a message.received of the log`); continue; }
		if (JSON.stringify(e) !== JSON.stringify(body)) complain(`seq ${body.seq}: another body than the log's`);
		if (first.has(body.seq)) { duplicates++; continue; }
		if (body.seq < max) complain(`OUT OF ORDER: seq ${body.seq} first arrived after ${max}`);
		max = Math.max(max, body.seq);
		first.set(body.seq, m);
	}
	const missing = want.filter((e) => !first.has(e.seq));
	if (missing.length) complain(`LOST: ${missing.length} events never in the stream, e.g. ${missing.slice(0, 5).map((e) => e.seq)}`);
	let lost = missing.length;
	let delivered = 0;
	const logIds = new Map(want.map((e) => [e.message_id, e.seq]));
	for (const a of st.acked) {
		if (!logIds.has(a.id)) { lost++; problems.push(`LOST: inbound ${a.n} acknowledged as message ${a.id}, not in the log`); }
		else if (first.has(logIds.get(a.id))) delivered++;
	}
	const allowed = (ctx.kills.length + st.restarts) * BATCH_MAX;
	if (duplicates > allowed) problems.push(`EXCESS DUPLICATES: ${duplicates} > ${allowed} (a batch per kill or broker restart)`);
	notes.push(`${st.acked.length} inbound acknowledged, ${st.unanswered} requests cut off by a kill; ${want.length} message.received in the log, ` +
	    `${got.length} messages in the stream (${duplicates} redeliveries); the broker restarted ${st.restarts} times`);
	return { acknowledged: st.acked.length, delivered, lost, duplicates, allowed, notes, problems };
}
