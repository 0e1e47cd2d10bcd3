// Durability (restart, kill -9 under load) and paging.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
	msgdTest, assertStatus, assertError, createWaChannel, postWebhook, waitFor,
	allEvents, messagesByProviderId, waMessageBody, corpusFile,
} from './lib.mjs';

const PNID = '106540352242922';

async function sandboxIn(d, from, text, extra = {}) {
	const r = await d.api('POST', '/v1/sandbox/sandbox/inbound', { from, text, ...extra });
	assertStatus(r, 201, `sandbox inbound from ${from}`);
	return r.json.message;
}

describe('durability', () => {
	msgdTest('data survives a graceful restart; event seqs keep increasing', async (h) => {
		const d = await h.start();
		await createWaChannel(d.api, 'wa1', PNID);
		const m1 = await sandboxIn(d, '15550001111', 'first', { name: 'Ada' });
		await sandboxIn(d, '15550002222', 'second');
		await sandboxIn(d, '15550001111', 'third');
		assertStatus(await postWebhook(d.url, corpusFile('whatsapp_cloud/inbound/text.json')), 200);

		const conv1 = assertStatus(await d.api('GET', '/v1/conversations'), 200);
		const msgs1 = assertStatus(await d.api('GET', `/v1/conversations/${m1.conversation_id}/messages`), 200);
		const ev1 = await allEvents(d);
		const ch1 = assertStatus(await d.api('GET', '/v1/channels'), 200);
		assert.equal(conv1.conversations.length, 3);
		assert.ok(ev1.length >= 4);

		await d.stop();  // SIGTERM → exit 0 (asserted)

		const d2 = await h.start({ dataDir: d.dataDir });
		assert.deepEqual(assertStatus(await d2.api('GET', '/v1/conversations'), 200), conv1);
		assert.deepEqual(assertStatus(await d2.api('GET', `/v1/conversations/${m1.conversation_id}/messages`), 200), msgs1);
		assert.deepEqual(await allEvents(d2), ev1);
		assert.deepEqual(assertStatus(await d2.api('GET', '/v1/channels'), 200), ch1);
		assert.deepEqual(assertStatus(await d2.api('GET', `/v1/messages/${m1.id}`), 200), m1);

		// New writes continue the sequence.
		const m4 = await sandboxIn(d2, '15550003333', 'after restart');
		const ev2 = await allEvents(d2);
		const maxOld = Math.max(...ev1.map((e) => e.seq));
		const fresh = ev2.filter((e) => e.seq > maxOld);
		assert.ok(fresh.some((e) => e.type === 'message.received' && e.message_id === m4.id), JSON.stringify(fresh));
		assert.ok(m4.id > m1.id, 'message ids went backwards after restart');
		// The stored channel secret still verifies webhooks; redelivery is still a duplicate.
		assertStatus(await postWebhook(d2.url, corpusFile('whatsapp_cloud/inbound/text.json')), 200);
		assert.equal((await messagesByProviderId(d2, 'wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=')).length, 1);
		assert.equal((await allEvents(d2)).length, ev2.length, 'redelivery after restart appended an event');
		await d2.stop();
	});

	msgdTest('kill -9 during a stream of webhooks: every acknowledged message survives', async (h) => {
		const d = await h.start();
		await createWaChannel(d.api, 'wa1', PNID);

		const SENDERS = 8;
		const acked = [];
		const attempted = new Set();
		const badStatus = [];
		let stopAt = Infinity;
		const t0 = Date.now();
		const deadline = t0 + 1500;
		const senders = Array.from({ length: SENDERS }, (_, w) => (async () => {
			for (let i = 0; Date.now() < Math.min(deadline, stopAt); i++) {
				const id = `wamid.k9-${w}-${i}`;
				attempted.add(id);
				let r;
				try {
					r = await postWebhook(d.url, waMessageBody({ pnid: PNID, id, from: `1555000${w}`, text: `msg ${w}/${i}` }));
				} catch {
					return;  // the daemon is gone
				}
				if (r.status === 200) acked.push(id);
				else if (d.alive) badStatus.push(`${id}: ${r.status} ${r.text.slice(0, 200)}`);
			}
		})());

		// Kill mid-stream: once ~1 s passed and the stream is flowing.
		await waitFor(() => Date.now() - t0 >= 1000 && acked.length >= 8, 10_000, { what: 'stream flowing for 1 s' });
		const ackedBeforeKill = acked.length;
		await d.kill9();
		stopAt = Date.now();
		await Promise.all(senders);
		h.t.diagnostic(`acked ${acked.length} (${ackedBeforeKill} before SIGKILL), attempted ${attempted.size}`);
		assert.deepEqual(badStatus, [], 'non-200 answers while the daemon was alive');
		assert.ok(acked.length > 0);

		const d2 = await h.start({ dataDir: d.dataDir });
		const events = await allEvents(d2);
		const seqs = events.map((e) => e.seq);
		for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], `event seqs not increasing at ${i}`);
		const received = events.filter((e) => e.type === 'message.received').map((e) => e.data.provider_message_id);
		const stored = new Set(received);
		assert.equal(stored.size, received.length, 'a message was received twice');
		const lost = acked.filter((id) => !stored.has(id));
		assert.deepEqual(lost, [], `${lost.length} of ${acked.length} acknowledged messages lost after kill -9`);
		for (const id of stored) assert.ok(attempted.has(id), `stored message ${id} was never sent`);
		// Spot-check through the message lookup too.
		for (const id of acked.filter((_, i) => i % Math.max(1, Math.floor(acked.length / 20)) === 0)) {
			const m = await messagesByProviderId(d2, id);
			assert.equal(m.length, 1, id);
			assert.equal(m[0].text, `msg ${id.split('-')[1]}/${id.split('-')[2]}`);
		}
		// And the daemon still works after recovery.
		assertStatus(await postWebhook(d2.url, waMessageBody({ pnid: PNID, id: 'wamid.after-recovery', text: 'ok' })), 200);
		const last = await allEvents(d2, seqs.length ? seqs[seqs.length - 1] : 0);
		assert.equal(last.length, 1);
		assert.equal(last[0].data.provider_message_id, 'wamid.after-recovery');
	}, { timeout: 90_000 });
});

describe('paging', () => {
	msgdTest('/v1/conversations?limit=2 walks all 5 conversations with the next cursor, most recent first, no repeats', async (h) => {
		const d = await h.start();
		const froms = ['15550000001', '15550000002', '15550000003', '15550000004', '15550000005'];
		const convIds = [];
		for (const f of froms) convIds.push((await sandboxIn(d, f, `hello from ${f}`)).conversation_id);
		assert.equal(new Set(convIds).size, 5);

		const seen = [];
		const pages = [];
		let cursor = null;
		for (let i = 0; i < 10; i++) {
			const q = `/v1/conversations?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
			const r = assertStatus(await d.api('GET', q), 200, q);
			assert.ok(r.conversations.length <= 2);
			pages.push(r.conversations.length);
			seen.push(...r.conversations.map((c) => c.id));
			cursor = r.next;
			if (cursor === null) break;
			assert.equal(typeof cursor, 'string', `next must be a string cursor or null: ${JSON.stringify(r.next)}`);
		}
		assert.equal(cursor, null, 'paging did not end');
		assert.equal(new Set(seen).size, seen.length, `repeats: ${seen}`);
		assert.deepEqual([...seen].sort((a, b) => a - b), [...convIds].sort((a, b) => a - b));
		assert.deepEqual(seen, [...convIds].reverse(), 'not most recent activity first');
		assert.deepEqual(pages.filter((n) => n > 0), [2, 2, 1]);

		// New activity moves a conversation to the front.
		await sandboxIn(d, froms[0], 'again');
		const top = assertStatus(await d.api('GET', '/v1/conversations?limit=1'), 200);
		assert.equal(top.conversations[0].id, convIds[0]);
		assert.equal(top.conversations[0].unread_count, 2);
	});

	msgdTest('/v1/conversations/{id}/messages?limit=2: newest first page, oldest→newest within a page, next goes back', async (h) => {
		const d = await h.start();
		const ids = [];
		for (let i = 1; i <= 5; i++) ids.push((await sandboxIn(d, '15550009999', `m${i}`)).id);
		const conv = (await d.api('GET', '/v1/conversations')).json.conversations[0].id;
		const pages = [];
		let cursor = null;
		for (let i = 0; i < 10; i++) {
			const q = `/v1/conversations/${conv}/messages?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
			const r = assertStatus(await d.api('GET', q), 200, q);
			pages.push(r.messages.map((m) => m.text));
			cursor = r.next;
			if (cursor === null) break;
		}
		assert.deepEqual(pages.filter((p) => p.length), [['m4', 'm5'], ['m2', 'm3'], ['m1']]);
		assertError(await d.api('GET', `/v1/conversations/${conv}/messages?limit=0`), 400, 'invalid_parameter');
		assertError(await d.api('GET', `/v1/conversations/${conv}/messages?cursor=notacursor`), 400, 'invalid_request');
	});

	msgdTest('/v1/events?since=&limit= pages ascending; next is the last seq (or since when empty)', async (h) => {
		const d = await h.start();
		for (let i = 0; i < 7; i++) await sandboxIn(d, `1555000100${i}`, `event ${i}`);
		const all = assertStatus(await d.api('GET', '/v1/events?since=0&limit=1000'), 200);
		assert.ok(all.events.length >= 7);
		const allSeqs = all.events.map((e) => e.seq);
		for (let i = 1; i < allSeqs.length; i++) assert.ok(allSeqs[i] > allSeqs[i - 1]);
		assert.equal(all.next, allSeqs[allSeqs.length - 1]);
		for (const e of all.events) {
			assert.equal(typeof e.seq, 'number');
			assert.equal(typeof e.type, 'string');
			assert.match(e.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
		}

		const walked = [];
		let since = 0;
		for (let i = 0; i < 100; i++) {
			const r = assertStatus(await d.api('GET', `/v1/events?since=${since}&limit=2`), 200);
			if (r.events.length === 0) {
				assert.equal(r.next, since, 'next must equal since when nothing is returned');
				break;
			}
			assert.ok(r.events.length <= 2);
			assert.ok(r.events.every((e) => e.seq > since));
			assert.equal(r.next, r.events[r.events.length - 1].seq);
			walked.push(...r.events);
			since = r.next;
		}
		assert.deepEqual(walked, all.events);

		// Default limit (100) and far-future since.
		const dflt = assertStatus(await d.api('GET', '/v1/events?since=0'), 200);
		assert.deepEqual(dflt.events.map((e) => e.seq), allSeqs);
		const future = assertStatus(await d.api('GET', '/v1/events?since=999999999'), 200);
		assert.deepEqual(future.events, []);
		assert.equal(future.next, 999999999);
		assertError(await d.api('GET', '/v1/events?since=-5x'), 400, 'invalid_parameter');
	});
});
