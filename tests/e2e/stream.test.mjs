// GET /v1/stream: Server-Sent Events with resume, filters, heartbeats, and
// slow clients that cost nothing.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { msgdTest, waitFor, allEvents, followStream as follow } from './lib.mjs';

/** Lift the sandbox's pacing so volume tests are not bound by 80 sends/s. */
async function unpaced(d) {
	const r = await d.api('PATCH', '/v1/channels/sandbox', { config: { rate_per_second: 0 } });
	assert.equal(r.status, 200, r.text);
}

async function inbound(d, from, text) {
	const r = await d.api('POST', '/v1/sandbox/sandbox/inbound', { from, text });
	assert.ok(r.status === 201 || r.status === 200, r.text);
	return r.json.message;
}

describe('event stream (SSE)', () => {
	msgdTest('live: new events arrive with id = seq, as text/event-stream; no token → 401', async (h) => {
		const d = await h.start();
		const anon = await d.anon('GET', '/v1/stream');
		assert.equal(anon.status, 401);
		const s = follow(d);
		await waitFor(() => s.status === 200, 5000, { what: 'stream open' });
		assert.match(s.contentType, /^text\/event-stream/);
		await inbound(d, '15550000001', 'one');
		await inbound(d, '15550000002', 'two');
		await waitFor(() => s.events.length >= 2, 5000, { what: '2 events' });
		assert.deepEqual(s.events.map((e) => e.type), ['message.received', 'message.received']);
		assert.equal(s.events[0].data.text, 'one');
		assert.ok(s.events[1].seq > s.events[0].seq);
		await s.stop();
	});

	msgdTest('resume with Last-Event-ID and ?since: events written while away arrive, none skipped or repeated', async (h) => {
		const d = await h.start();
		for (let i = 0; i < 5; i++) await inbound(d, `1555000000${i}`, `m${i}`);
		// From the start of the log.
		const a = follow(d, { query: '?since=0' });
		await waitFor(() => a.events.length >= 5, 5000, { what: 'backlog' });
		await a.stop();
		const last = a.events.at(-1).seq;
		// Away: more events.
		for (let i = 5; i < 9; i++) await inbound(d, `1555000000${i}`, `m${i}`);
		const b = follow(d, { headers: { 'Last-Event-ID': String(last) } });
		await waitFor(() => b.events.length >= 4, 5000, { what: 'the missed events' });
		await b.stop();
		const seqs = [...a.events, ...b.events].map((e) => e.seq);
		assert.deepEqual(seqs, [...new Set(seqs)].sort((x, y) => x - y), 'no repeats, in order');
		assert.deepEqual(seqs, Array.from({ length: 9 }, (_, i) => i + 1), 'no gaps');
		// Without a cursor: only what happens from now on.
		const c = follow(d);
		await waitFor(() => c.status === 200, 5000);
		await inbound(d, '15550000099', 'new');
		await waitFor(() => c.events.length >= 1, 5000);
		assert.equal(c.events[0].data.text, 'new');
		await c.stop();
		// Bad cursors.
		const bad = await d.api('GET', '/v1/stream?since=abc');
		assert.equal(bad.status, 400);
	});

	msgdTest('10,000 events with disconnects along the way: every seq exactly once', async (h) => {
		const d = await h.start();
		await unpaced(d);
		// Sends to the sandbox make ~6 events each (queued, accepted, sent, delivered, read, echo).
		const batches = 2;
		for (let b = 0; b < batches; b++) {
			const messages = Array.from({ length: 900 }, (_, i) => ({ channel: 'sandbox', to: `1555${b}${String(i).padStart(6, '0')}`, text: `n${i}` }));
			const r = await d.api('POST', '/v1/messages/batch', { messages });
			assert.equal(r.status, 207);
		}
		const want = 10_000;
		const seen = [];
		let cursor = 0;
		let reconnects = 0;
		const deadline = Date.now() + 60_000;
		while (seen.length < want && Date.now() < deadline) {
			const s = follow(d, { query: `?since=${cursor}` });
			// Read a slice, then drop the connection mid-stream.
			const target = Math.min(want, seen.length + 2500);
			await waitFor(() => seen.length + s.events.length >= target || s.error, 30_000, { what: `events up to ${target}` });
			await s.stop();
			for (const e of s.events) { seen.push(e.seq); cursor = e.seq; }
			reconnects++;
		}
		assert.ok(seen.length >= want, `got ${seen.length} events`);
		// Exactly the log's events, each once, in order (the audit event of the
		// PATCH above takes a seq the streams never show: GET /v1/events says which).
		const listed = (await allEvents(d)).map((e) => e.seq);
		for (let i = 0; i < seen.length; i++) assert.equal(seen[i], listed[i], `event #${i + 1} (seq ${listed[i]}) exactly once, in order`);
		/* A fast reader may take more than a slice per connection; what matters is
		 * that it did drop and resume mid-log at least once. */
		assert.ok(reconnects >= 2, 'the test did reconnect');
		h.t.diagnostic(`${seen.length} events over ${reconnects} connections`);
	}, { timeout: 120_000 });

	msgdTest('a stalled client does not slow the others or grow the daemon', async (h) => {
		const d = await h.start();
		await unpaced(d);
		// A client that asks for the whole log and never reads.
		const port = Number(new URL(d.url).port);
		const stalled = net.connect(port, '127.0.0.1');
		await new Promise((r) => stalled.once('connect', r));
		stalled.write(`GET /v1/stream?since=0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${d.token}\r\n\r\n`);
		stalled.pause();
		const live = follow(d);
		await waitFor(() => live.status === 200, 5000);
		const messages = Array.from({ length: 400 }, (_, i) => ({ channel: 'sandbox', to: `1556${String(i).padStart(6, '0')}`, text: 'x'.repeat(500) }));
		const t0 = Date.now();
		assert.equal((await d.api('POST', '/v1/messages/batch', { messages })).status, 207);
		await waitFor(() => live.events.filter((e) => e.type === 'message.received').length >= 400, 30_000, { what: 'all echoes live' });
		h.t.diagnostic(`live client got ${live.events.length} events in ${Date.now() - t0} ms while another stalled`);
		// The daemon still answers promptly.
		const t1 = Date.now();
		assert.equal((await d.anon('GET', '/healthz')).status, 200);
		assert.ok(Date.now() - t1 < 1000);
		await live.stop();
		stalled.destroy();
	}, { timeout: 90_000 });

	msgdTest('filters: channel and conversation_id', async (h) => {
		const d = await h.start();
		const m1 = await inbound(d, '15550000001', 'a');
		const byConv = follow(d, { query: `?since=0&conversation_id=${m1.conversation_id}` });
		const byChan = follow(d, { query: '?since=0&channel=nope' });
		await inbound(d, '15550000002', 'b');
		await inbound(d, '15550000001', 'c');
		await waitFor(() => byConv.events.length >= 2, 5000);
		assert.deepEqual(byConv.events.map((e) => e.data.text), ['a', 'c']);
		const all = await allEvents(d);
		assert.equal(all.length, 3);
		assert.equal(byChan.events.length, 0);
		await byConv.stop();
		await byChan.stop();
	});

	msgdTest('SIGTERM with open streams: they end and msgd exits 0 promptly', async (h) => {
		const d = await h.start();
		const s1 = follow(d, { query: '?since=0' });
		const s2 = follow(d);
		await waitFor(() => s1.status === 200 && s2.status === 200, 5000);
		const t0 = Date.now();
		await d.stop();
		assert.ok(Date.now() - t0 < 5000, `stopped in ${Date.now() - t0} ms`);
		await s1.done;
		await s2.done;
	});
});
