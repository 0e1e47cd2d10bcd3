// path_exports_amqp.mjs - the crash loop's RabbitMQ export path: sandbox
// inbound messages at a steady rate, an export of kind "amqp" (every event,
// since 0) into a durable queue wa_messages of a private rabbitmq-server
// (tests/e2e/rabbit.mjs), a consumer that acks every message; msgd killed
// anywhere, and the broker restarted under the load every third cycle
// (gracefully, then with SIGKILL, in turn). See driver.mjs for the module
// contract.
//
// Kill points: 'timer' and 'early' (driver), 'client-mid-post' (a few ms
// after an inbound POST left the client), 'after-ack' (as its 201 arrives:
// committed, most likely not exported yet), 'consumer-got' (as the consumer
// receives a message: the broker confirmed it, msgd's cursor may not be
// committed yet, so the batch goes again after the restart).
//
// Checks over the messages in the order the consumer received them: every
// event of the log arrives (a message of a new seq is always the next seq
// after the highest one so far: first arrivals in increasing order, no
// gaps); going back is allowed only to seqs already received (redeliveries:
// a batch sent again after a kill or a broker restart, or the broker's own
// redelivery of unacked messages), each with the same message_id and body.
// Acknowledged = inbound POSTs answered 201; each must be in the log and
// exported as message.received. Duplicates are allowed up to a batch
// (SINK_AMQP_BATCH_MAX) per msgd kill and a batch plus the consumer's
// prefetch per broker restart.

import { assertStatus, waitFor } from '../e2e/lib.mjs';
import { startRabbit, consumer } from '../e2e/rabbit.mjs';
import { settledLog, steadyLoad } from './inbound_load.mjs';

const QUEUE = 'wa_messages';
const PREFETCH = 100;
const BATCH_MAX = 256;           // SINK_AMQP_BATCH_MAX
const BROKER_EVERY = 3;          // restart the broker in every third cycle
const DRAIN_MS = 180_000;

export const name = 'exports_amqp';
export const killPoints = ['client-mid-post', 'after-ack', 'consumer-got'];

function consume(ctx, st) {
	st.consumer = consumer(st.rabbit.url, QUEUE, {
		prefetch: PREFETCH,
		onMessage() {
			const t = ctx.trigger;
			if (t && !t.fired && t.point === 'consumer-got') {
				t.countdown ??= 1 + Math.floor(t.r * 20);
				if (--t.countdown <= 0) ctx.kill(t.point);
			}
		},
	});
	st.got = st.consumer.got;
}

export async function setup(ctx) {
	const st = { got: [], acked: [], unanswered: 0, refused: [], seq: 0, restarts: [], rabbit: null, consumer: null };
	st.rabbit = await startRabbit();
	const r = await ctx.d.api('POST', '/v1/exports', { kind: 'amqp', events: ['*'], since: 0,
		config: { url: st.rabbit.url, queue: QUEUE } });
	assertStatus(r, 201, 'POST /v1/exports');
	st.exportId = r.json.id;
	await waitFor(async () => (await ctx.d.api('GET', `/v1/exports/${st.exportId}`)).json?.state?.connected,
		30_000, { what: 'the export connected' });
	consume(ctx, st);
	return st;
}

export async function teardown(ctx) {
	const st = ctx.state;
	if (!st) return;
	if (st.consumer) await st.consumer.stop();
	if (st.rabbit) await st.rabbit.stop();
}

export function snapshot(ctx) {
	const st = ctx.state;
	return { acked: st.acked.length, got: st.got.length };
}

export function progressed(ctx, mark) {
	const now = snapshot(ctx);
	return ctx.d && now.acked >= mark.acked + 3 && now.got >= mark.got + 3;
}

export function atKill(ctx) {
	return { got: ctx.state.got.length };
}

export async function load(ctx) {
	const st = ctx.state;
	const inbound = steadyLoad(ctx);
	// The broker restarts under the load, in every BROKER_EVERY-th cycle,
	// while msgd is being killed and restarted on its own schedule.
	const broker = (async () => {
		let done = 0;
		while (!inbound.stopped) {
			if (ctx.cycle >= BROKER_EVERY * (done + 1) - 1) {
				const kill = done % 2 === 1;
				const t0 = Date.now();
				await st.rabbit.restart({ kill });
				st.restarts.push({ wall: t0, kill, ms: Date.now() - t0 });
				ctx.log(`broker restarted (${kill ? 'SIGKILL' : 'graceful'}) in ${Date.now() - t0} ms`);
				done++;
			}
			await new Promise((r) => setTimeout(r, 100));
		}
	})();
	return { async stop() { await inbound.stop(); await broker; } };
}

export async function verify(ctx) {
	const st = ctx.state;
	const d = ctx.d;
	const problems = [...st.refused.map((x) => `refused: ${x}`)];
	const notes = [];

	// Drain: the log stops growing and the consumer got its last event.
	const evs = await settledLog(d, (all, head) => head === 0 || st.got.some((x) => x.seq === head),
		'the consumer caught up with a settled log', problems, DRAIN_MS);
	const x = await d.api('GET', `/v1/exports/${st.exportId}`);
	if (x.json?.lag !== 0) problems.push(`the export's lag is ${x.json?.lag}, not 0`);

	const want = evs.map((e) => e.seq);
	const head = want.at(-1) ?? 0;
	const byseq = new Map(evs.map((e) => [e.seq, e]));
	const first = new Map();
	let next = 0;
	let max = -1;
	let bad = 0;
	let duplicates = 0;
	const complain = (m) => { if (++bad <= 5) problems.push(m); };
	for (const x of st.got.filter((g) => g.seq <= head)) {
		if (x.messageId !== `${st.exportId}-${x.seq}`) complain(`seq ${x.seq} has message_id ${x.messageId}`);
		if (x.deliveryMode !== 2) complain(`seq ${x.seq} is not persistent`);
		if (x.routingKey !== byseq.get(x.seq)?.type) complain(`seq ${x.seq}: routing key ${x.routingKey}`);
		if (x.seq > max) {
			if (want[next] !== x.seq) {
				complain(`SKIPPED: got seq ${x.seq}, wanted ${want[next]} next`);
				const i = want.indexOf(x.seq, next);
				if (i >= 0) next = i;
			}
			next++;
			max = x.seq;
			first.set(x.seq, x);
		} else {
			duplicates++;
			const f = first.get(x.seq);
			if (!f) complain(`seq ${x.seq} arrived after ${max} and was never received before (out of order)`);
			else if (f.raw !== x.raw) complain(`redelivery of seq ${x.seq} has another body`);
		}
	}
	const missing = want.filter((q) => !first.has(q));
	if (missing.length) complain(`LOST: ${missing.length} events never exported, e.g. ${missing.slice(0, 5)}`);
	let lost = missing.length;

	const exported = new Set([...first.values()].filter((x) => x.body?.type === 'message.received').map((x) => x.body?.message_id));
	const logIds = new Set(evs.filter((e) => e.type === 'message.received').map((e) => e.message_id));
	let delivered = 0;
	for (const a of st.acked) {
		if (!logIds.has(a.id)) { lost++; problems.push(`LOST: inbound ${a.n} acknowledged as message ${a.id}, not in the log`); }
		else if (exported.has(a.id)) delivered++;
	}
	const allowed = ctx.kills.length * BATCH_MAX + st.restarts.length * (BATCH_MAX + PREFETCH);
	if (duplicates > allowed) problems.push(`EXCESS DUPLICATES: ${duplicates} > ${allowed}`);
	notes.push(`${want.length} events in the log, ${st.got.length} messages consumed, ${duplicates} redeliveries; ` +
	    `${st.acked.length} inbound acknowledged, ${st.unanswered} cut off by a kill; broker restarts: ` +
	    st.restarts.map((r) => `${r.kill ? 'SIGKILL' : 'graceful'} ${r.ms} ms`).join(', '));
	return { acknowledged: st.acked.length, delivered, lost, duplicates, allowed, notes, problems };
}
