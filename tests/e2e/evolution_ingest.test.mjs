// Evolution API webhooks through the real per-channel route: every corpus
// event accepted and normalized as the API shows it (field values are
// checked in tests/unit/test_evolution.c), redeliveries store nothing new,
// echoes are never queued, and a number that is not on WhatsApp is refused
// with 422 recipient_invalid until it writes.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
	msgdTest, allEvents, assertError, assertStatus, corpusFiles, corpusFile, messagesByProviderId,
	request, sendMessage, waitMessage,
} from './lib.mjs';
import { startFakeEvolution } from './fake_evolution.mjs';

// The corpus's own key and instance.
const KEY = '00000000-0000-4000-8000-000000000000';
const INSTANCE = 'tigo1';

async function setup(h) {
	const fake = await startFakeEvolution({ instance: INSTANCE, apikey: KEY, number: '15550100002' });
	h.t.after(() => fake.close());
	const d = await h.start();
	const r = await d.api('POST', '/v1/channels', { name: 'wweb', type: 'evolution', config: {
		api_base_url: fake.url, api_key: KEY, instance: INSTANCE, rate_per_second: 0, recipient_gap_ms: 0 } });
	const ch = assertStatus(r, 201, 'create the evolution channel');
	const post = (body) => request(d.url, 'POST', ch.webhook_path, body, { 'Content-Type': 'application/json' });
	return { d, fake, ch, post };
}

describe('evolution ingest', () => {
	msgdTest('every corpus event is accepted (200); redelivering them stores nothing new', async (h) => {
		const { d, fake, post } = await setup(h);
		// Two of the files come from another instance, whose key is its name.
		const r = await d.api('POST', '/v1/channels', { name: 'wweb2', type: 'evolution', config: {
			api_base_url: fake.url, api_key: 'myinstance', instance: 'myinstance' } });
		const ch2 = assertStatus(r, 201, 'the second instance');
		const post2 = (body) => request(d.url, 'POST', ch2.webhook_path, body, { 'Content-Type': 'application/json' });
		const deliver = (f) => (JSON.parse(f.buf).instance === 'myinstance' ? post2 : post)(f.buf.toString());
		const files = corpusFiles('evolution/inbound');
		assert.ok(files.length >= 9, files.map((f) => f.name).join());
		for (const f of files)
			assertStatus(await deliver(f), 200, f.name);
		const first = await allEvents(d);
		for (const f of files)
			assertStatus(await deliver(f), 200, `${f.name} again`);
		const again = await allEvents(d);
		const count = (evs, type) => evs.filter((e) => e.type === type).length;
		for (const t of ['message.received', 'message.deleted', 'message.edited'])
			assert.equal(count(again, t), count(first, t), `no new ${t}`);

		const text = JSON.parse(corpusFile('evolution/inbound/messages.upsert.text.json').toString());
		const [m] = await messagesByProviderId(d, text.data.key.id);
		assert.equal(m.direction, 'in');
		assert.equal(m.type, 'text');
		assert.equal(m.text, text.data.message.conversation);
		assert.equal(m.from, '15550100001', 'the author, without @s.whatsapp.net (not the envelope sender)');
		assert.equal(m.timestamp, new Date(text.data.messageTimestamp * 1000).toISOString().replace('.000', ''));

		// fromMe: an echo of what the business sent from its phone, stored as sent, never queued.
		const echo = JSON.parse(corpusFile('evolution/inbound/messages.upsert.from_me_text.json').toString());
		const [e] = await messagesByProviderId(d, echo.data.key.id);
		assert.equal(e.direction, 'out');
		assert.equal(e.status, 'sent');
		assert.equal(e.attempts, 0);
		const queue = assertStatus(await d.api('GET', '/v1/channels/wweb'), 200).state;
		assert.equal(queue.queue_depth, 0, 'nothing in the outbox');

		// The connection and QR events became the channel's state.
		assert.ok(count(again, 'channel.state') >= 1);
	});

	msgdTest('a body that is not an event object → 400; a wrong apikey or instance → 401; nothing stored', async (h) => {
		const { d, post } = await setup(h);
		const text = JSON.parse(corpusFile('evolution/inbound/messages.upsert.text.json').toString());
		assertError(await post('[1]'), 400, undefined);
		assertError(await post('"x"'), 400, undefined);
		assert.equal((await post(JSON.stringify({ ...text, apikey: 'nope' }))).status, 401);
		assert.equal((await post(JSON.stringify({ ...text, instance: 'other' }))).status, 401);
		const { apikey, ...nokey } = text;
		assert.equal((await post(JSON.stringify(nokey))).status, 401);
		assert.equal((await allEvents(d)).filter((ev) => ev.type === 'message.received').length, 0);
	});

	msgdTest('a number not on WhatsApp: that message fails, later sends are refused with 422 recipient_invalid until it writes', async (h) => {
		const { d, fake, post } = await setup(h);
		fake.notOnWhatsApp.add('15550109999');
		const a = await sendMessage(d, { channel: 'wweb', to: '15550109999', text: 'hello?' });
		await waitMessage(d, a.id, 'failed');
		assertError(await d.api('POST', '/v1/messages', { channel: 'wweb', to: '15550109999', text: 'again' }), 422, 'recipient_invalid');
		// It writes: reachable again.
		const text = JSON.parse(corpusFile('evolution/inbound/messages.upsert.text.json').toString());
		text.data.key.id = 'WRITES-AGAIN-1';
		text.data.key.remoteJid = '15550109999@s.whatsapp.net';
		assertStatus(await post(JSON.stringify(text)), 200, 'inbound');
		fake.notOnWhatsApp.delete('15550109999');
		await sendMessage(d, { channel: 'wweb', to: '15550109999', text: 'welcome' });
	});
});
