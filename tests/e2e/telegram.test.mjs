// The telegram channel type against a fake Bot API (fake_telegram.mjs):
// connect → setWebhook, updates delivered to the per-channel webhook with
// the secret token, redeliveries deduplicated, button presses answered,
// edits in place, a bot blocked by a user, sends and their outcomes.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
	msgdTest, allEvents, assertError, assertStatus, corpusFile, messagesByProviderId, sendMessage, waitMessage, waitFor,
} from './lib.mjs';
import { startFakeTelegram, textUpdate } from './fake_telegram.mjs';

const SECRET = 'e2e_secret-token';

/** A daemon, a fake Bot API and the channel "tg" aimed at it (not connected). */
async function tgSetup(h, { config = {}, start = {} } = {}) {
	const tg = await startFakeTelegram();
	h.t.after(() => tg.close());
	const d = await h.start(start);
	const cfg = { bot_token: tg.token, webhook_secret: SECRET, api_base_url: tg.url, public_url: d.url, rate_per_second: 0, recipient_gap_ms: 0, group_gap_ms: 0, ...config };
	for (const [k, v] of Object.entries(cfg)) if (v === null) delete cfg[k];
	const r = await d.api('POST', '/v1/channels', { name: 'tg', type: 'telegram', config: cfg });
	assertStatus(r, 201, 'create telegram channel');
	return { d, tg, ch: r.json };
}

/** The channel's last reported connection state: the last channel.state
 *  event (the registry's copy, GET /v1/channels/tg .connection, follows
 *  commits made by the API; adapters' own commits reach it later). */
async function connection(d) {
	const evs = (await allEvents(d)).filter((e) => e.type === 'channel.state');
	const last = evs[evs.length - 1];
	return last ? { state: last.data?.state, reason: last.data?.reason } : { state: 'none' };
}

/** Connect: setWebhook answered, the channel connected. */
async function connect(d, tg) {
	assertStatus(await d.api('POST', '/v1/channels/tg/connect'), 202, 'connect');
	await tg.until(() => tg.webhook, 5000, 'setWebhook');
	await waitFor(async () => (await connection(d)).state === 'connected', 5000, { what: 'connected' });
}

describe('telegram webhook mode', () => {
	msgdTest('connect calls setWebhook with the channel URL and secret; the secret guards the route', async (h) => {
		const { d, tg, ch } = await tgSetup(h);
		assert.equal(ch.config.bot_token, '********');
		assert.equal(ch.config.webhook_secret, '********');
		await connect(d, tg);
		assert.equal(tg.webhook.url, `${d.url}/webhooks/telegram/${ch.id}`);
		assert.equal(tg.webhook.secret_token, SECRET);
		assert.deepEqual(tg.webhook.allowed_updates, ['message', 'edited_message', 'channel_post', 'edited_channel_post', 'callback_query', 'message_reaction', 'my_chat_member']);

		const body = corpusFile('telegram/inbound/text.json').toString('utf8');
		assertError(await d.anon('POST', `/webhooks/telegram/${ch.id}`, body, { 'content-type': 'application/json' }), 401, 'unauthorized');
		const wrong = await tg.deliver(body, { secret: `${SECRET}x` });
		assert.equal(wrong.status, 401);
		assert.equal((await messagesByProviderId(d, '100000001:6557')).length, 0, 'nothing stored without the secret');

		for (const bad of ['[]', '"x"', '{}', '{"update_id":"1"}']) {
			const r = await tg.deliver(bad);
			assert.equal(r.status, 400, `${bad} → ${r.status}`);
			assert.equal(JSON.parse(r.body).error.code, 'invalid_update');
		}
		const unknown = await tg.deliver({ update_id: 5, chat_boost: {} });
		assert.equal(unknown.status, 200);

		const ok = await tg.deliver(body);
		assert.equal(ok.status, 200);
		const again = await tg.deliver(body);
		assert.equal(again.status, 200);
		const msgs = await messagesByProviderId(d, '100000001:6557');
		assert.equal(msgs.length, 1, 'a redelivered update is stored once');
		assert.equal(msgs[0].text, 'hello there');
		assert.equal(msgs[0].from, '100000001');
		assert.equal(msgs[0].direction, 'in');
	});

	msgdTest('a button press is stored as type button and answered once; an edit changes the message in place', async (h) => {
		const { d, tg } = await tgSetup(h);
		await connect(d, tg);
		assert.equal((await tg.deliver(textUpdate(77, 'first', { updateId: 10, messageId: 3 }))).status, 200);
		const cb = {
			update_id: 11,
			callback_query: {
				id: 'cbq-1', from: { id: 77, first_name: 'User77' }, chat_instance: '1', data: 'yes',
				message: { message_id: 4, date: 1, chat: { id: 77, type: 'private', first_name: 'User77' }, text: 'Sure?', reply_markup: { inline_keyboard: [[{ text: 'Yes!', callback_data: 'yes' }]] } },
			},
		};
		assert.equal((await tg.deliver(cb)).status, 200);
		assert.equal((await tg.deliver(cb)).status, 200);
		await tg.until(() => tg.calls('answerCallbackQuery').length >= 1, 5000, 'answerCallbackQuery');
		const [btn] = await messagesByProviderId(d, 'cb:cbq-1');
		assert.equal(btn.type, 'button');
		assert.equal(tg.calls('answerCallbackQuery')[0].params.callback_query_id, 'cbq-1');

		const edit = textUpdate(77, 'first, edited', { updateId: 12, messageId: 3 });
		edit.edited_message = { ...edit.message, edit_date: edit.message.date + 5 };
		delete edit.message;
		assert.equal((await tg.deliver(edit)).status, 200);
		await waitFor(async () => (await messagesByProviderId(d, '77:3'))[0]?.text === 'first, edited', 5000, { what: 'edited text' });
		assert.equal((await messagesByProviderId(d, '77:3')).length, 1, 'an edit makes no new message');
		// The redelivered button press was not answered twice.
		assert.equal(tg.calls('answerCallbackQuery').length, 1);
	});

	msgdTest('setWebhook refused → channel state error with Telegram\'s description', async (h) => {
		const { d, tg } = await tgSetup(h);
		tg.next(1, tg.error(400, { description: 'Bad Request: bad webhook: HTTPS url must be provided for webhook' }), { methods: ['setWebhook'] });
		assertStatus(await d.api('POST', '/v1/channels/tg/connect'), 202, 'connect');
		await waitFor(async () => (await connection(d)).state === 'error', 5000, { what: 'error state' });
		assert.match((await connection(d)).reason, /HTTPS url must be provided/);
	});
});

describe('telegram sending', () => {
	msgdTest('text with reply and buttons → sendMessage; the provider id is "<chat>:<message_id>"', async (h) => {
		const { d, tg } = await tgSetup(h);
		const m = await sendMessage(d, { channel: 'tg', to: '4242', type: 'interactive', interactive: { type: 'button', body: { text: 'Pick one' }, action: { buttons: [{ type: 'reply', reply: { id: 'a', title: 'A' } }] } } });
		const sent = await waitMessage(d, m.id, ['sent', 'accepted', 'delivered']);
		assert.equal(sent.provider_message_id, '4242:1');
		const [req] = tg.calls('sendMessage');
		assert.equal(req.params.chat_id, '4242');
		assert.equal(req.params.text, 'Pick one');
		assert.deepEqual(req.params.reply_markup, { inline_keyboard: [[{ text: 'A', callback_data: 'a' }]] });
	});

	msgdTest('403 "bot was blocked by the user" fails that message and marks the contact; others still go', async (h) => {
		const { d, tg } = await tgSetup(h);
		tg.rule('500', tg.corpusError('403_blocked'));
		const a = await sendMessage(d, { channel: 'tg', to: '500', text: 'hello' });
		const failed = await waitMessage(d, a.id, 'failed');
		assert.match(JSON.stringify(failed.error ?? {}), /blocked/);
		const b = await sendMessage(d, { channel: 'tg', to: '501', text: 'hello' });
		await waitMessage(d, b.id, ['sent', 'accepted', 'delivered']);
		const r = await d.api('POST', '/v1/messages', { channel: 'tg', to: '500', text: 'again' });
		assertError(r, 422, 'recipient_blocked');
	});

	msgdTest('429 with retry_after is retried; the send then succeeds', async (h) => {
		const { d, tg } = await tgSetup(h);
		tg.next(1, tg.error(429, { retryAfter: 1 }));
		const m = await sendMessage(d, { channel: 'tg', to: '600', text: 'later' });
		await waitMessage(d, m.id, ['sent', 'accepted', 'delivered'], 15_000);
		const calls = tg.to('600');
		assert.ok(calls.length >= 2);
		assert.ok(calls[1].t - calls[0].t >= 900, `retried after ${calls[1].t - calls[0].t} ms, before retry_after`);
	});
});

// Needs the outbox to call ops->on_lease (the lease holder polls): enable
// once main wires it.

describe('telegram polling mode', () => {
	msgdTest('getUpdates: updates stored, the offset committed and moved on, a 409 reported as error', async (h) => {
		const { d, tg } = await tgSetup(h, { config: { mode: 'polling', webhook_secret: null, public_url: null } });
		await tg.until(() => tg.polling() === 1, 10_000, 'a held getUpdates');
		const [u1, u2] = tg.push(textUpdate(900, 'one', { messageId: 1 }), textUpdate(900, 'two', { messageId: 2 }));
		await waitFor(async () => (await messagesByProviderId(d, '900:2')).length === 1, 10_000, { what: 'polled messages' });
		await tg.until(() => tg.calls('getUpdates').some((r) => r.params.offset === u2.update_id + 1), 10_000, 'offset moved on');
		assert.equal(u1.update_id + 1, u2.update_id);
		await waitFor(async () => (await connection(d)).state === 'connected', 5000, { what: 'connected' });
		// A webhook set elsewhere: 409 → state error with the description.
		tg.next(1, tg.error(409, { description: "Conflict: can't use getUpdates method while webhook is active" }), { methods: ['getUpdates'] });
		tg.push(textUpdate(901, 'three'));
		await waitFor(async () => (await messagesByProviderId(d, '901:1')).length === 1, 15_000, { what: 'polling resumed after the conflict' });
		assert.ok((await allEvents(d)).some((e) => e.type === 'channel.state' && e.data?.state === 'error'));
	});

	msgdTest('getUpdates: an update msgd cannot read is skipped and confirmed, never asked for again', async (h) => {
		const { d, tg } = await tgSetup(h, { config: { mode: 'polling', webhook_secret: null, public_url: null } });
		await tg.until(() => tg.polling() === 1, 10_000, 'a held getUpdates');
		const [good] = tg.push(textUpdate(902, 'fine', { messageId: 1 }));
		const bad = { update_id: good.update_id + 1, message: 'not an object' };
		tg.push(bad);
		await tg.until(() => tg.calls('getUpdates').some((r) => r.params.offset === bad.update_id + 1), 10_000, 'offset past the bad update');
		assert.equal((await messagesByProviderId(d, '902:1')).length, 1);
		const asked = tg.calls('getUpdates').length;
		await tg.until(() => tg.polling() === 1, 10_000, 'polling held again');
		assert.ok(tg.calls('getUpdates').length <= asked + 1, 'no spinning');
	});
});
