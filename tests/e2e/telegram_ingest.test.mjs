// Telegram updates through the real per-channel webhook: every corpus file
// accepted and normalized (field values checked in tests/unit/test_telegram.c;
// here: what the API shows), redeliveries deduplicated by update_id, groups
// and topics, a bot kicked by a user refusing sends until the user writes.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
	msgdTest, allEvents, assertError, assertStatus, corpusFiles, corpusFile, messagesByProviderId,
	request, sendMessage, waitFor,
} from './lib.mjs';
import { startFakeTelegram } from './fake_telegram.mjs';

const SECRET = 'corpus_fake_secret_token';

async function setup(h) {
	const tg = await startFakeTelegram();
	h.t.after(() => tg.close());
	const d = await h.start();
	const r = await d.api('POST', '/v1/channels', { name: 'tg', type: 'telegram', config: {
		bot_token: tg.token, webhook_secret: SECRET, api_base_url: tg.url, public_url: d.url,
		rate_per_second: 0, recipient_gap_ms: 0, group_gap_ms: 0 } });
	assertStatus(r, 201, 'create telegram channel');
	const post = (body, secret = SECRET) => request(d.url, 'POST', r.json.webhook_path,
		typeof body === 'string' ? body : JSON.stringify(body),
		{ 'Content-Type': 'application/json', ...(secret ? { 'X-Telegram-Bot-Api-Secret-Token': secret } : {}) });
	return { d, tg, ch: r.json, post };
}

function update(id, message) {
	return { update_id: id, message: { message_id: id, date: Math.floor(Date.now() / 1000), ...message } };
}

describe('telegram ingest', () => {
	msgdTest('every corpus update is accepted (200); redelivering all of them stores nothing new', async (h) => {
		const { d, post } = await setup(h);
		const files = corpusFiles('telegram/inbound');
		assert.ok(files.length >= 15, files.map((f) => f.name).join());
		for (const f of files)
			assertStatus(await post(f.buf.toString()), 200, f.name);
		const first = await allEvents(d);
		const msgs = first.filter((e) => e.type === 'message.received');
		assert.ok(msgs.length >= 10, `stored ${msgs.length}`);
		for (const f of files)
			assertStatus(await post(f.buf.toString()), 200, `${f.name} again`);
		const again = await allEvents(d);
		assert.equal(again.filter((e) => e.type === 'message.received').length, msgs.length, 'no new messages');
		assert.equal(again.filter((e) => e.type === 'message.edited').length,
			first.filter((e) => e.type === 'message.edited').length, 'no new edits');
		// What the API shows for a few of them.
		const photo = JSON.parse(corpusFile('telegram/inbound/photo_with_caption.json').toString());
		const pm = photo.message;
		const [p] = await messagesByProviderId(d, `${pm.chat.id}:${pm.message_id}`);
		assert.equal(p.type, 'image');
		assert.equal(p.text, pm.caption);
		assert.equal(p.from, String(pm.from.id));
		const biggest = pm.photo.reduce((a, b) => ((b.width * b.height) > (a.width * a.height) ? b : a));
		assert.equal(p.media.id, biggest.file_id);
		const cb = JSON.parse(corpusFile('telegram/inbound/callback_query.json').toString());
		const b = msgs.map((e) => e.data).find((m) => m.type === 'button');
		assert.ok(b, 'a button message');
		assert.equal(b.button.payload, cb.callback_query.data);
	});

	msgdTest('not an Update (array, string, no update_id) → 400 and nothing stored; a wrong secret → 401', async (h) => {
		const { d, post } = await setup(h);
		assertError(await post('[1,2]'), 400, undefined);
		assertError(await post('"hello"'), 400, undefined);
		assertError(await post({ message: { text: 'x' } }), 400, undefined);
		assertError(await post('{"update_id":'), 400, undefined);
		const r = await post(update(1, { chat: { id: 7, type: 'private' }, from: { id: 7 }, text: 'hi' }), 'wrong');
		assert.equal(r.status, 401);
		const r2 = await post(update(1, { chat: { id: 7, type: 'private' }, from: { id: 7 }, text: 'hi' }), null);
		assert.equal(r2.status, 401);
		assert.equal((await allEvents(d)).filter((e) => e.type === 'message.received').length, 0);
		// An unknown kind of update: 200, ignored.
		assertStatus(await post({ update_id: 5, some_future_kind: { x: 1 } }), 200, 'unknown kind');
	});

	msgdTest('groups and forum topics: one conversation per chat, the sender kept, thread_id', async (h) => {
		const { d, post } = await setup(h);
		const chat = { id: -1001234, type: 'supergroup', title: 'Team', is_forum: true };
		await post(update(10, { chat, from: { id: 11, first_name: 'Ann' }, text: 'one', message_thread_id: 3 }));
		await post(update(11, { chat, from: { id: 12, first_name: 'Bob', username: 'bob' }, text: 'two' }));
		const [a] = await messagesByProviderId(d, '-1001234:10');
		const [b] = await messagesByProviderId(d, '-1001234:11');
		assert.equal(a.conversation_id, b.conversation_id);
		assert.equal(a.from, '11');
		assert.equal(b.from, '12');
		assert.equal(a.sender.name, 'Ann');
		assert.equal(b.sender.username, 'bob');
		assert.equal(String(a.thread_id), '3');
		const conv = assertStatus(await d.api('GET', `/v1/conversations/${a.conversation_id}`), 200);
		assert.equal(conv.contact.address, '-1001234');
		assert.equal(conv.contact.name, 'Team');
	});

	msgdTest('a user who blocks the bot (my_chat_member kicked): sends refused 422 recipient_blocked until they write again', async (h) => {
		const { d, post } = await setup(h);
		const user = { id: 777, is_bot: false, first_name: 'Kim' };
		const chat = { id: 777, type: 'private', first_name: 'Kim' };
		await post(update(20, { chat, from: user, text: 'hello bot' }));
		const kicked = JSON.parse(corpusFile('telegram/inbound/my_chat_member_kicked.json').toString());
		kicked.update_id = 21;
		kicked.my_chat_member.chat = chat;
		kicked.my_chat_member.from = user;
		assertStatus(await post(kicked), 200, 'kicked');
		await waitFor(async () => (await allEvents(d)).some((e) => e.type === 'contact.status' && e.data.status === 'blocked'),
			5000, { what: 'contact.status blocked' });
		assertError(await d.api('POST', '/v1/messages', { channel: 'tg', to: '777', text: 'are you there?' }), 422, 'recipient_blocked');
		// Someone else is still reachable.
		await sendMessage(d, { channel: 'tg', to: '778', text: 'hi' });
		// The user writes again: reachable.
		await post(update(22, { chat, from: user, text: 'back' }));
		await sendMessage(d, { channel: 'tg', to: '777', text: 'welcome back' });
		const st = (await allEvents(d)).filter((e) => e.type === 'contact.status').map((e) => e.data.status);
		assert.deepEqual(st, ['blocked', 'active']);
	});
});
