// Reactions name their target twice: reaction.message_id is msgd's id of
// the message reacted to (null when msgd does not know it) and
// reaction.provider_message_id the provider's id. Inbound and outbound alike.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
	msgdTest, assertStatus, postWebhook, waMessageBody, messagesByProviderId, sendMessage, waitMessage,
	allEvents, SEND_PNID,
} from './lib.mjs';
import { sendSetup } from './fake_graph.mjs';

const FROM = '16505551234';

function reactionBody(id, target, emoji) {
	return waMessageBody({
		pnid: SEND_PNID,
		message: { from: FROM, id, timestamp: String(Math.floor(Date.now() / 1000)), type: 'reaction', reaction: { message_id: target, emoji } },
	});
}

async function ingest(d, body) {
	assertStatus(await postWebhook(d.url, JSON.stringify(body)), 200, 'signed webhook');
}

async function one(d, pmid) {
	const ms = await messagesByProviderId(d, pmid);
	assert.equal(ms.length, 1, JSON.stringify(ms));
	return ms[0];
}

describe('reactions', () => {
	msgdTest('inbound: a reaction to a known message carries its msgd id and provider id; unknown target → message_id null', async (h) => {
		const { d } = await sendSetup(h);
		await ingest(d, waMessageBody({ pnid: SEND_PNID, id: 'wamid.target.1', from: FROM, text: 'react to me' }));
		const target = await one(d, 'wamid.target.1');

		await ingest(d, reactionBody('wamid.react.1', 'wamid.target.1', '\u{1F44D}'));
		const r = await one(d, 'wamid.react.1');
		assert.equal(r.type, 'reaction');
		assert.deepEqual(r.reaction, { emoji: '\u{1F44D}', message_id: target.id, provider_message_id: 'wamid.target.1' });
		assert.equal(r.conversation_id, target.conversation_id);
		// The same by id, in the conversation's list and in the event.
		assert.deepEqual(assertStatus(await d.api('GET', `/v1/messages/${r.id}`), 200).reaction, r.reaction);
		const list = assertStatus(await d.api('GET', `/v1/conversations/${r.conversation_id}/messages`), 200).messages;
		assert.deepEqual(list.find((m) => m.id === r.id).reaction, r.reaction);
		const ev = (await allEvents(d)).find((e) => e.type === 'message.received' && e.data.id === r.id);
		assert.deepEqual(ev.data.reaction, r.reaction);

		await ingest(d, reactionBody('wamid.react.2', 'wamid.nobody.knows', '\u{1F62E}'));
		const u = await one(d, 'wamid.react.2');
		assert.deepEqual(u.reaction, { emoji: '\u{1F62E}', message_id: null, provider_message_id: 'wamid.nobody.knows' });

		// Removing the reaction: emoji "", same target.
		await ingest(d, reactionBody('wamid.react.3', 'wamid.target.1', ''));
		assert.deepEqual((await one(d, 'wamid.react.3')).reaction, { emoji: '', message_id: target.id, provider_message_id: 'wamid.target.1' });
	});

	msgdTest('outbound: reacting by msgd id or by provider id stores both ids; the provider gets its own id', async (h) => {
		const { d, fake } = await sendSetup(h);
		await ingest(d, waMessageBody({ pnid: SEND_PNID, id: 'wamid.target.2', from: FROM, text: 'hello' }));
		const target = await one(d, 'wamid.target.2');

		const byId = await sendMessage(d, { channel: 'wa', to: FROM, type: 'reaction', reaction: { message_id: target.id, emoji: '\u2764\uFE0F' } });
		assert.deepEqual(byId.reaction, { message_id: target.id, provider_message_id: 'wamid.target.2', emoji: '\u2764\uFE0F' });
		const byPid = await sendMessage(d, { channel: 'wa', to: FROM, type: 'reaction', reaction: { message_id: 'wamid.target.2', emoji: '' } });
		assert.deepEqual(byPid.reaction, { message_id: target.id, provider_message_id: 'wamid.target.2', emoji: '' });
		const unknown = await sendMessage(d, { channel: 'wa', to: FROM, type: 'reaction', reaction: { message_id: 'wamid.elsewhere', emoji: 'x' } });
		assert.deepEqual(unknown.reaction, { message_id: null, provider_message_id: 'wamid.elsewhere', emoji: 'x' });

		for (const m of [byId, byPid, unknown]) await waitMessage(d, m.id, 'accepted');
		const sent = fake.sends().map((r) => r.body.reaction).sort((a, b) => a.emoji.localeCompare(b.emoji));
		assert.deepEqual(sent, [
			{ message_id: 'wamid.target.2', emoji: '' },
			{ message_id: 'wamid.elsewhere', emoji: 'x' },
			{ message_id: 'wamid.target.2', emoji: '\u2764\uFE0F' },
		].sort((a, b) => a.emoji.localeCompare(b.emoji)));
		assert.deepEqual((await d.api('GET', `/v1/messages/${byPid.id}`)).json.reaction, byPid.reaction);
	});
});
