// path_channels.mjs - the crash loop's provider-channel path: Telegram and
// Evolution webhooks to their per-channel routes and Telegram getUpdates
// polling, msgd killed anywhere. See driver.mjs for the module contract.
//
// Channels: `tg` (telegram, webhook mode, secret token), `tgp` (telegram,
// polling mode, its own fake Bot API and token), `evo` (evolution). The load
// is a steady mix of:
//   - Telegram text updates POSTed to tg's webhook with the secret header
//     (unique update_ids; some acknowledged ones sent again on purpose, the
//     same body), and edits (edited_message, a new update_id) of messages
//     already acknowledged, one edit of a message in flight at a time, so
//     the order they are applied in is the order they were made;
//   - Evolution messages.upsert POSTed to evo's webhook (unique key ids,
//     some acknowledged ones sent again);
//   - updates (texts, and edits of earlier ones) appended to the polling
//     fake's getUpdates queue, which keeps each until a getUpdates with a
//     higher offset confirms it, as Telegram does.
// A webhook POST not answered 200 (cut off by a kill) is delivered again
// later until it is, as the providers do; so at the end every update was
// acknowledged, and what is stored can be checked exactly.
//
// Kill points: 'timer' and 'early' (driver), 'client-mid-post' (a few ms
// after a webhook POST left), 'after-ack' (as a webhook's 200 arrives),
// 'poll-answered' (just after the fake answered a getUpdates with updates:
// msgd has them in memory, not committed), 'poll-confirmed' (as the fake
// receives a getUpdates with a new offset: the batch and the cursor were
// committed, the kill lands right after).
//
// Checks (after the drain, msgd up again): every update is acknowledged
// (webhooks: 200; polling: handed out and confirmed by a higher offset),
// and each message is stored exactly once under its provider id
// ("{chat}:{message_id}" for Telegram, key.id for Evolution) with one
// message.received event; its text is the last edit's, its edit_history
// as long as its distinct edits, with one message.edited event per edit;
// an update handed out but not confirmed before a kill is handed out again
// after it; the offsets msgd asks with never go back. Duplicates (extra
// rows or events) must be 0: dedup is exact here.
//
// On PostgreSQL with two instances (driver.mjs) the companion takes the
// webhooks while the killed one is down, and the polling channel's lease
// (with its persisted offset) when a restart comes late.

import { allEvents, messagesByProviderId, request, waitFor, assertStatus } from '../e2e/lib.mjs';
import { startFakeTelegram } from '../e2e/fake_telegram.mjs';
import { startFakeEvolution } from '../e2e/fake_evolution.mjs';

const RATE_PER_S = 150;          // load operations per second
const MAX_OUTSTANDING = 8;       // webhook POSTs in flight
const SECRET = 'crash_tg_secret_token';
const EVO_KEY = 'crash-evo-key-1';
const EVO_INSTANCE = 'crashinst';
const TG_CHATS = 25;             // webhook chats 100001..
const TGP_CHATS = 10;            // polled chats 200001..
const EVO_NUMBERS = 25;
const REACH_CHATS = 4;           // chats 300001..: kicked / writes again, one at a time
const EVO_STATES = { open: 'connected', connecting: 'connecting', close: 'disconnected' };
const DRAIN_MS = 120_000;        // for every update to be acknowledged
const CHECK_CONCURRENCY = 8;

export const name = 'channels';
export const killPoints = ['client-mid-post', 'after-ack', 'poll-answered', 'poll-confirmed'];

export async function setup(ctx) {
	const tg = await startFakeTelegram({ token: '111111:CRASH-webhook' });
	const tgp = await startFakeTelegram({ token: '222222:CRASH-polling' });
	const evo = await startFakeEvolution({ instance: EVO_INSTANCE, apikey: EVO_KEY });
	const st = {
		tg, tgp, evo, ch: {}, seq: 0, updateId: 5000, evoSeq: 0,
		items: [],            // webhook deliveries: {kind, key, body, acks, attempts, pid, ...}
		retry: [],            // items to deliver again (not answered 200)
		tgMsgs: new Map(),    // pid -> {pid, text, acked, edits: [item], editPending}
		tgPerChat: new Map(),
		evoMsgs: new Map(),   // key id -> item
		polled: new Map(),    // update_id -> {u, pid, kind, text, handouts: [wall], confirmedWall}
		pMsgs: new Map(),     // pid -> {pid, text, edits: [text]}
		pPerChat: new Map(),
		acked: 0, confirmed: 0, redelivered: 0, retried: 0, unanswered: 0, non200: [],
		maxOffset: 0, offsetsBack: [], answers: 0, rePolled: 0,
		reach: new Map(),     // reachability chats: chat -> {pending, items: [item]}
		conn: { pending: false, items: [] },  // evo connection.update, one at a time
	};
	for (let i = 0; i < REACH_CHATS; i++) st.reach.set(300001 + i, { pending: false, items: [] });
	const mk = async (body) => {
		const r = await ctx.d.api('POST', '/v1/channels', body);
		assertStatus(r, 201, `create channel ${body.name}`);
		return r.json;
	};
	const pace = { rate_per_second: 0, recipient_gap_ms: 0, group_gap_ms: 0 };
	st.ch.tg = await mk({ name: 'tg', type: 'telegram', config: { bot_token: tg.token, webhook_secret: SECRET,
		api_base_url: tg.url, public_url: ctx.d.url, ...pace } });
	st.ch.tgp = await mk({ name: 'tgp', type: 'telegram', config: { bot_token: tgp.token, api_base_url: tgp.url,
		mode: 'polling', ...pace } });
	st.ch.evo = await mk({ name: 'evo', type: 'evolution', config: { api_base_url: evo.url, api_key: EVO_KEY,
		instance: EVO_INSTANCE, rate_per_second: 0, recipient_gap_ms: 0 } });

	// Polling: what the fake handed out, and what a higher offset confirmed.
	tgp.onRequest((rec) => {
		if (rec.method !== 'getUpdates' || rec.params.offset === undefined) return;
		const off = Number(rec.params.offset);
		if (off < st.maxOffset) st.offsetsBack.push(`${st.maxOffset} → ${off} (request #${rec.n})`);
		if (off <= st.maxOffset) return;
		st.maxOffset = off;
		const now = Date.now();
		for (const p of st.polled.values()) {
			if (p.u.update_id >= off || p.confirmedWall !== null) continue;
			p.confirmedWall = now;
			st.confirmed++;
		}
		const t = ctx.trigger;
		if (t && !t.fired && t.point === 'poll-confirmed') {
			t.countdown ??= 1 + Math.floor(t.r * 3);
			if (--t.countdown <= 0) ctx.kill(t.point);
		}
	});
	tgp.onAnswer((rec) => {
		if (rec.method !== 'getUpdates' || rec.status !== 200 || !Array.isArray(rec.result) || !rec.result.length) return;
		st.answers++;
		const now = Date.now();
		for (const u of rec.result) {
			const p = st.polled.get(u.update_id);
			if (!p) continue;
			if (p.handouts.length) st.rePolled++;
			p.handouts.push(now);
		}
		const t = ctx.trigger;
		if (t && !t.fired && t.point === 'poll-answered') {
			t.countdown ??= 1 + Math.floor(t.r * 3);
			if (--t.countdown <= 0) {
				// At once (msgd most likely has not read the answer yet), on
				// the next turn (reading it, committing it), or 1 ms later
				// (a commit on a fast disk takes about that).
				const x = (t.r * 7) % 1;
				if (x < 0.4) ctx.kill(t.point);
				else if (x < 0.8) setImmediate(() => ctx.kill(t.point));
				else setTimeout(() => ctx.kill(t.point), 1);
			}
		}
	});
	return st;
}

export async function teardown(ctx) {
	const st = ctx.state;
	if (!st) return;
	await Promise.all([st.tg.close(), st.tgp.close(), st.evo.close()]);
}

export function snapshot(ctx) {
	const st = ctx.state;
	return { acked: st.acked, confirmed: st.confirmed };
}

export function progressed(ctx, mark) {
	const now = snapshot(ctx);
	return ctx.d && now.acked >= mark.acked + 3 && now.confirmed >= mark.confirmed + 1;
}

export function atKill(ctx) {
	const st = ctx.state;
	let out = 0;
	for (const p of st.polled.values()) if (p.handouts.length && p.confirmedWall === null) out++;
	return { handedOutUnconfirmed: out, acked: st.acked, confirmed: st.confirmed };
}

// ---------------------------------------------------------------- the load

const now = () => Math.floor(Date.now() / 1000);

function tgNew(st, chat = 100001 + (st.seq++ % TG_CHATS)) {
	const mid = (st.tgPerChat.get(chat) ?? 0) + 1;
	st.tgPerChat.set(chat, mid);
	const pid = `${chat}:${mid}`;
	const uid = ++st.updateId;
	const text = `tg ${pid} u${uid}`;
	const body = JSON.stringify({ update_id: uid, message: { message_id: mid, date: now(),
		from: { id: chat, is_bot: false, first_name: `U${chat}` }, chat: { id: chat, type: 'private', first_name: `U${chat}` }, text } });
	const m = { pid, text, acked: false, edits: [], editPending: false };
	st.tgMsgs.set(pid, m);
	return { kind: 'tg', key: `u${uid}`, body, acks: 0, attempts: 0, msg: m };
}

function tgEdit(st, m) {
	const [chat, mid] = m.pid.split(':').map(Number);
	const uid = ++st.updateId;
	const text = `tg ${m.pid} edit ${m.edits.length + 1} u${uid}`;
	const t = now();
	const body = JSON.stringify({ update_id: uid, edited_message: { message_id: mid, date: t - 1, edit_date: t,
		from: { id: chat, is_bot: false, first_name: `U${chat}` }, chat: { id: chat, type: 'private', first_name: `U${chat}` }, text } });
	const it = { kind: 'tge', key: `u${uid}`, body, acks: 0, attempts: 0, msg: m, text };
	m.edits.push(it);
	m.editPending = true;
	return it;
}

function evoNew(st) {
	const n = ++st.evoSeq;
	const from = `1555020${String(n % EVO_NUMBERS).padStart(4, '0')}`;
	const id = `3EB0CRASH${String(n).padStart(8, '0')}`;
	const text = `evo ${id}`;
	const body = JSON.stringify({ event: 'messages.upsert', instance: EVO_INSTANCE, data: {
		key: { remoteJid: `${from}@s.whatsapp.net`, fromMe: false, id }, pushName: `C${from}`,
		message: { conversation: text }, messageType: 'conversation', messageTimestamp: now(),
		owner: EVO_INSTANCE, source: 'android' }, destination: 'http://x', date_time: new Date().toISOString(),
	sender: '15550100002@s.whatsapp.net', server_url: 'http://x', apikey: EVO_KEY });
	const it = { kind: 'evo', key: id, body, acks: 0, attempts: 0, pid: id, text };
	st.evoMsgs.set(id, it);
	return it;
}

/** The bot blocked by a user (my_chat_member kicked): its contact becomes blocked. */
function tgKicked(st, chat) {
	const uid = ++st.updateId;
	const user = { id: chat, is_bot: false, first_name: `U${chat}` };
	const bot = { id: 111111, is_bot: true, first_name: 'bot', username: 'crash_bot' };
	const body = JSON.stringify({ update_id: uid, my_chat_member: { chat: { id: chat, type: 'private', first_name: `U${chat}` },
		from: user, date: now(), old_chat_member: { user: bot, status: 'member' },
		new_chat_member: { user: bot, status: 'kicked', until_date: 0 } } });
	return { kind: 'tgk', key: `u${uid}`, body, acks: 0, attempts: 0 };
}

/** A reachability chat's next update (kicked, or a message: reachable again). */
function reachOp(st, rng) {
	const free = [...st.reach.entries()].filter(([, r]) => !r.pending);
	if (!free.length) return null;
	const [chat, r] = free[Math.floor(rng() * free.length)];
	const it = rng() < 0.5 ? tgKicked(st, chat) : tgNew(st, chat);
	it.reach = r;
	r.pending = true;
	r.items.push(it);
	return it;
}

/** An Evolution connection.update (no id to dedup by: one at a time, never resent). */
function evoConn(st, rng) {
	if (st.conn.pending) return null;
	const state = ['open', 'connecting', 'close'][Math.floor(rng() * 3)];
	const body = JSON.stringify({ event: 'connection.update', instance: EVO_INSTANCE,
		data: { instance: EVO_INSTANCE, state, ...(state === 'close' ? { statusReason: 428 } : state === 'open' ? { statusReason: 200 } : {}) },
		destination: 'http://x', date_time: new Date().toISOString(), sender: '15550100002@s.whatsapp.net',
		server_url: 'http://x', apikey: EVO_KEY });
	const it = { kind: 'evoc', key: `conn${st.conn.items.length + 1}`, body, acks: 0, attempts: 0, state };
	st.conn.pending = true;
	st.conn.items.push(it);
	return it;
}

/** Append 1..3 updates to the polling fake's queue: texts, a fifth edits. */
function pollPush(ctx) {
	const st = ctx.state;
	const n = ctx.rng.int(1, 3);
	for (let i = 0; i < n; i++) {
		const uid = ++st.updateId;
		const prev = [...st.pMsgs.values()];
		let u, p;
		if (prev.length && ctx.rng() < 0.2) {
			const m = prev[Math.floor(ctx.rng() * prev.length)];
			const [chat, mid] = m.pid.split(':').map(Number);
			const text = `tgp ${m.pid} edit ${m.edits.length + 1} u${uid}`;
			m.edits.push(text);
			const t = now();
			u = { update_id: uid, edited_message: { message_id: mid, date: t - 1, edit_date: t,
				from: { id: chat, is_bot: false, first_name: `P${chat}` }, chat: { id: chat, type: 'private' }, text } };
			p = { u, pid: m.pid, kind: 'edit', text };
		} else {
			const chat = 200001 + (uid % TGP_CHATS);
			const mid = (st.pPerChat.get(chat) ?? 0) + 1;
			st.pPerChat.set(chat, mid);
			const pid = `${chat}:${mid}`;
			const text = `tgp ${pid} u${uid}`;
			st.pMsgs.set(pid, { pid, text, edits: [] });
			u = { update_id: uid, message: { message_id: mid, date: now(),
				from: { id: chat, is_bot: false, first_name: `P${chat}` }, chat: { id: chat, type: 'private' }, text } };
			p = { u, pid, kind: 'new', text };
		}
		st.polled.set(uid, { ...p, handouts: [], confirmedWall: null });
		st.tgp.push(u);
	}
}

function pathOf(st, it) {
	return it.kind.startsWith('evo') ? st.ch.evo.webhook_path : st.ch.tg.webhook_path;
}

/** Deliver one webhook item to msgd `d`; not answered 200: delivered again later. */
async function deliver(ctx, d, it, { again = false } = {}) {
	const st = ctx.state;
	it.attempts++;
	const headers = { 'Content-Type': 'application/json' };
	if (!it.kind.startsWith('evo')) headers['X-Telegram-Bot-Api-Secret-Token'] = SECRET;
	const p = request(d.url, 'POST', pathOf(st, it), it.body, headers);
	const t = ctx.trigger;
	if (t && !t.fired && t.point === 'client-mid-post')
		setTimeout(() => ctx.kill(t.point), Math.floor(t.r * 8));
	let r;
	try { r = await p; } catch { st.unanswered++; if (!it.acks) st.retry.push(it); return false; }
	if (r.status !== 200) {
		if (st.non200.length < 20) st.non200.push(`${it.kind} ${it.key}: ${r.status} ${r.text.slice(0, 200)}`);
		if (!it.acks) st.retry.push(it);
		return false;
	}
	const ta = ctx.trigger;
	if (ta && !ta.fired && ta.point === 'after-ack') {
		ta.countdown ??= 1 + Math.floor(ta.r * 4);
		if (--ta.countdown <= 0) ctx.kill(ta.point);
	}
	if (again) st.redelivered++;
	if (it.acks++ === 0) {
		st.acked++;
		if (it.attempts > 1) st.retried++;
		if (it.kind === 'tg') it.msg.acked = true;
		if (it.kind === 'tge') it.msg.editPending = false;
		if (it.reach) it.reach.pending = false;
		if (it.kind === 'evoc') st.conn.pending = false;
	}
	return true;
}

/** The next load operation: a webhook item to deliver (or null: a poll push done). */
function nextOp(ctx) {
	const st = ctx.state;
	const rng = ctx.rng;
	if (st.retry.length && rng() < 0.5) return { it: st.retry.shift(), again: false };
	const x = rng();
	const ackedOf = (kind) => {
		// A recent acknowledged item of this kind, sent again on purpose.
		for (let i = 0; i < 8; i++) {
			const it = st.items[st.items.length - 1 - Math.floor(rng() * Math.min(st.items.length, 200))];
			if (it && it.kind.startsWith(kind) && it.acks) return it;
		}
		return null;
	};
	if (x < 0.32) return { it: add(st, tgNew(st)) };
	if (x < 0.40) { const it = ackedOf('tg'); if (it) return { it, again: true }; return { it: add(st, tgNew(st)) }; }
	if (x < 0.50) {
		const ms = [...st.tgMsgs.values()].slice(-100).filter((m) => m.acked && !m.editPending);
		if (ms.length) return { it: add(st, tgEdit(st, ms[Math.floor(rng() * ms.length)])) };
		return { it: add(st, tgNew(st)) };
	}
	if (x < 0.74) return { it: add(st, evoNew(st)) };
	if (x < 0.80) { const it = ackedOf('evo'); if (it && it.kind === 'evo') return { it, again: true }; return { it: add(st, evoNew(st)) }; }
	if (x < 0.83) { const it = reachOp(st, rng); return { it: add(st, it ?? tgNew(st)) }; }
	if (x < 0.85) { const it = evoConn(st, rng); return { it: add(st, it ?? evoNew(st)) }; }
	pollPush(ctx);
	return null;
}

function add(st, it) { st.items.push(it); return it; }

export async function load(ctx) {
	const out = new Set();
	let stopped = false;
	const run = (async () => {
		while (!stopped) {
			const d = await ctx.whenUp();
			if (stopped || !d) break;
			while (out.size >= MAX_OUTSTANDING) await Promise.race(out);
			const op = nextOp(ctx);
			if (op) {
				const p = deliver(ctx, d, op.it, { again: op.again }).finally(() => out.delete(p));
				out.add(p);
			}
			await new Promise((r) => setTimeout(r, 1000 / RATE_PER_S));
		}
		await Promise.all(out);
	})();
	return { async stop() { stopped = true; await run; } };
}

// ---------------------------------------------------------------- checks

async function pool(list, n, fn) {
	let i = 0;
	await Promise.all(Array.from({ length: n }, async () => { while (i < list.length) { const x = list[i++]; await fn(x); } }));
}

export async function verify(ctx) {
	const st = ctx.state;
	const d = ctx.d;
	const problems = [];
	const notes = [];

	// Drain: every webhook item delivered until answered 200 (in the order
	// the retries were queued: an edit's original went first), every polled
	// update confirmed (the fake's queue empty).
	try {
		const end = Date.now() + DRAIN_MS;
		while (st.retry.length) {
			if (Date.now() > end) throw new Error(`${st.retry.length} webhook deliveries still not answered 200`);
			const it = st.retry.shift();
			if (it.acks) continue;
			if (!(await deliver(ctx, d, it))) await new Promise((r) => setTimeout(r, 200));
		}
		await waitFor(() => st.tgp.updates.length === 0 && [...st.polled.values()].every((p) => p.confirmedWall !== null),
			DRAIN_MS, { what: 'every polled update confirmed by a later offset', intervalMs: 50 });
	} catch (e) { problems.push(`DRAIN: ${e.message}`); }
	for (const x of st.non200) problems.push(`webhook answered non-200: ${x}`);
	const unacked = st.items.filter((it) => !it.acks);
	if (unacked.length) problems.push(`${unacked.length} webhook deliveries never answered 200, e.g. ${unacked.slice(0, 3).map((i) => i.key)}`);

	// What msgd should hold: provider id -> {channel, text, edits}.
	const want = new Map();
	for (const m of st.tgMsgs.values()) if (m.acked)
		want.set(m.pid, { channel: 'tg', text: m.edits.filter((e) => e.acks).at(-1)?.text ?? m.text, edits: m.edits.filter((e) => e.acks).length });
	for (const it of st.evoMsgs.values()) if (it.acks) want.set(it.pid, { channel: 'evo', text: it.text, edits: 0 });
	const firstPoll = new Map();
	for (const p of st.polled.values()) if (p.kind === 'new') firstPoll.set(p.pid, p);
	for (const m of st.pMsgs.values()) {
		if (firstPoll.get(m.pid)?.confirmedWall != null) want.set(m.pid, { channel: 'tgp', text: m.edits.at(-1) ?? m.text, edits: m.edits.length });
	}

	let lost = 0, duplicates = 0, delivered = 0, wrong = 0;
	const complain = (m) => { if (problems.length < 40) problems.push(m); };
	let evs = [];
	try { evs = await allEvents(d); } catch (e) { problems.push(`events: ${e.message}`); }
	const received = new Map();  // provider id -> count of message.received
	const edited = new Map();    // message id -> count of message.edited
	for (const e of evs) {
		if (e.type === 'message.received') {
			const pid = e.data?.provider_message_id;
			received.set(pid, (received.get(pid) ?? 0) + 1);
		} else if (e.type === 'message.edited') {
			edited.set(e.message_id, (edited.get(e.message_id) ?? 0) + 1);
		}
	}
	await pool([...want.entries()], CHECK_CONCURRENCY, async ([pid, w]) => {
		let rows;
		try { rows = await messagesByProviderId(d, pid); } catch (e) { complain(`${pid}: ${e.message}`); return; }
		if (rows.length === 0) { lost++; complain(`LOST: ${w.channel} ${pid} acknowledged, not stored`); return; }
		if (rows.length > 1) { duplicates += rows.length - 1; complain(`DUPLICATE: ${w.channel} ${pid} stored ${rows.length} times (ids ${rows.map((r) => r.id)})`); }
		const m = rows[0];
		const nrec = received.get(pid) ?? 0;
		if (nrec !== 1) {
			if (nrec > 1) duplicates += nrec - 1;
			complain(`${w.channel} ${pid}: ${nrec} message.received events`);
		}
		const hist = Array.isArray(m.edit_history) ? m.edit_history.length : 0;
		const nedit = edited.get(m.id) ?? 0;
		let ok = true;
		if (m.text !== w.text) { ok = false; complain(`${w.channel} ${pid}: text ${JSON.stringify(m.text)}, wanted ${JSON.stringify(w.text)}`); }
		if (hist !== w.edits) { ok = false; complain(`${w.channel} ${pid}: edit_history has ${hist} entries, ${w.edits} edits acknowledged`); }
		if (nedit !== w.edits) {
			ok = false;
			if (nedit > w.edits) duplicates += nedit - w.edits;
			complain(`${w.channel} ${pid}: ${nedit} message.edited events, ${w.edits} edits acknowledged`);
		}
		if (m.direction !== 'in') { ok = false; complain(`${w.channel} ${pid}: direction ${m.direction}`); }
		if (ok) delivered += 1 + w.edits; else wrong++;
	});
	// Nothing stored that nobody sent (a message per provider id we know).
	for (const pid of received.keys()) if (!want.has(pid)) complain(`message.received for unknown provider id ${pid}`);

	// Polling: an update handed out but not confirmed before a kill is
	// handed out again after it, unless the killed life had committed it
	// (with the cursor, in one transaction): then the restart's persisted
	// offset confirms it without asking again. Either way it must be stored
	// once (checked above); here: never confirmed without one of the two.
	let reHanded = 0, committedBefore = 0;
	for (const k of ctx.kills) {
		for (const p of st.polled.values()) {
			const before = p.handouts.some((w) => w <= k.wall);
			if (!before || (p.confirmedWall !== null && p.confirmedWall <= k.wall)) continue;
			if (p.handouts.some((w) => w > k.wall)) reHanded++;
			else if (want.has(p.pid)) committedBefore++;
			else complain(`update ${p.u.update_id} (${p.pid}) handed out before the kill of cycle ${k.cycle}, unconfirmed, never handed out again`);
		}
	}
	for (const x of st.offsetsBack.slice(0, 5)) complain(`getUpdates offset went back: ${x}`);

	// Reachability: a contact's status follows its chat's last update (they
	// were made one at a time): kicked → blocked (sends refused 422
	// recipient_blocked), a message → reachable; one contact.status blocked
	// event per change to blocked (a redelivered kick changes nothing).
	let reachChecked = 0, reachUpdates = 0;
	for (const [chat, r] of st.reach) {
		const done = r.items.filter((i) => i.acks);
		reachUpdates += done.length;
		let blocked = false, toBlocked = 0;
		for (const i of done) {
			if (i.kind === 'tgk') { if (!blocked) toBlocked++; blocked = true; } else blocked = false;
		}
		const got = evs.filter((e) => e.type === 'contact.status' && e.channel === 'tg' && e.data?.address === String(chat) &&
			e.data?.status === 'blocked').length;
		let ok = got === toBlocked;
		if (!ok) complain(`contact ${chat}: ${got} contact.status blocked events, ${toBlocked} changes to blocked acknowledged`);
		if (!done.length) continue;
		const probe = await d.api('POST', '/v1/messages', { channel: 'tg', to: String(chat), text: 'probe' });
		const isBlocked = probe.status === 422 && probe.json?.error?.code === 'recipient_blocked';
		if (isBlocked !== blocked || (!blocked && probe.status !== 202)) {
			ok = false;
			complain(`contact ${chat}: a send answered ${probe.status} ${probe.text.slice(0, 120)}, its last update (${done.at(-1).kind}) says ${blocked ? 'blocked' : 'reachable'}`);
		}
		if (ok) { reachChecked++; delivered += done.filter((i) => i.kind === 'tgk').length; }
	}

	// Channel state: Evolution's connection.update, one at a time: the
	// channel shows the last one's state, one channel.state event per change.
	const conns = st.conn.items.filter((i) => i.acks);
	if (conns.length) {
		let prev = null, changes = 0;
		for (const c of conns) { if (c.state !== prev) changes++; prev = c.state; }
		const wantState = EVO_STATES[conns.at(-1).state];
		const ch = await d.api('GET', '/v1/channels/evo');
		if (ch.json?.connection?.state !== wantState)
			complain(`evo: connection ${JSON.stringify(ch.json?.connection)}, the last connection.update said ${wantState}`);
		const stEvs = evs.filter((e) => e.type === 'channel.state' && e.channel === 'evo');
		if (stEvs.at(-1)?.data?.state !== wantState) complain(`evo: last channel.state event ${JSON.stringify(stEvs.at(-1)?.data)}, wanted ${wantState}`);
		if (stEvs.length !== changes) complain(`evo: ${stEvs.length} channel.state events, ${changes} changes acknowledged`);
		else if (ch.json?.connection?.state === wantState && stEvs.at(-1)?.data?.state === wantState) delivered += conns.length;
	}

	const edits = st.items.filter((i) => i.kind === 'tge' && i.acks).length;
	const pEdits = [...st.polled.values()].filter((p) => p.kind === 'edit').length;
	notes.push(`webhooks: ${st.items.filter((i) => i.kind === 'tg').length} telegram messages, ${edits} edits, ` +
	    `${st.evoMsgs.size} evolution messages; ${st.redelivered} sent again on purpose, ${st.unanswered} cut off by a kill, ` +
	    `${st.retried} acknowledged only on a later delivery`);
	notes.push(`polling: ${st.polled.size} updates (${pEdits} edits) in ${st.answers} getUpdates answers, all confirmed: ` +
	    `${st.rePolled} handed out again; at the kills, ${reHanded} in flight handed out again after, ${committedBefore} committed just before ` +
	    `and skipped by the persisted offset; offset ${st.maxOffset}`);
	notes.push(`reachability: ${reachUpdates} updates on ${st.reach.size} chats, ${reachChecked} contacts checked; ` +
	    `channel state: ${conns.length} connection.update`);
	notes.push(`${want.size} messages checked: ${want.size - wrong - lost} exact (${delivered} updates), ${wrong} wrong, ${lost} lost, ${duplicates} duplicates`);
	const acknowledged = st.acked + st.confirmed;
	return { acknowledged, delivered, lost, duplicates, allowed: 0, notes, problems };
}
