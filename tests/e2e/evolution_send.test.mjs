// The evolution channel type (WhatsApp Web through the Evolution API) against
// the fake Evolution server: creating the channel, sending text and media with
// the instance's apikey, and the outcome of a number that is not on WhatsApp.
// (Webhooks and QR pairing need the per-channel routes: see evolution_pair.)
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { msgdTest, assertStatus, assertError, sendMessage, waitMessage, waitFor, channelState, allEvents } from './lib.mjs';
import { startFakeEvolution } from './fake_evolution.mjs';

const KEY = 'evo-key-e2e-0001';

async function setup(h) {
	const fake = await startFakeEvolution({ instance: 'tigo1', apikey: KEY });
	h.t.after(() => fake.close());
	const d = await h.start();
	const res = await d.api('POST', '/v1/channels', {
		name: 'wweb', type: 'evolution',
		config: { api_base_url: `${fake.url}/`, api_key: KEY, instance: 'tigo1', rate_per_second: 50, recipient_gap_ms: 0 },
	});
	assertStatus(res, 201, 'create the evolution channel');
	assert.equal(res.json.config.api_key, '********', 'the api_key is never shown');
	return { d, fake, ch: res.json };
}

describe('evolution channel: sending', () => {
	msgdTest('text and media go to sendText/sendMedia with the apikey header; accepted with Evolution\'s key.id', async (h) => {
		const { d, fake } = await setup(h);
		const m0 = await sendMessage(d, { channel: 'wweb', to: '+55 31 9829-6801', text: 'Olá!' });
		assert.equal(m0.to, '553198296801');
		const m = await waitMessage(d, m0.id, 'accepted');
		const rq = fake.sends()[0];
		assert.equal(rq.method, 'POST');
		assert.equal(rq.path, '/message/sendText/tigo1');
		assert.equal(rq.apikey, KEY);
		assert.deepEqual(rq.body, { number: '553198296801', text: 'Olá!', delay: 1200, linkPreview: false });
		assert.equal(m.provider_message_id, rq.id);

		const i0 = await sendMessage(d, { channel: 'wweb', to: '553198296801', type: 'image', media: { url: 'https://files.example/p.jpg', caption: 'a photo' } });
		const i = await waitMessage(d, i0.id, 'accepted');
		const mq = fake.sends().find((r) => r.endpoint === 'sendMedia');
		assert.ok(mq, 'a sendMedia request');
		assert.deepEqual(mq.body, { number: '553198296801', mediatype: 'image', caption: 'a photo', media: 'https://files.example/p.jpg' });
		assert.equal(i.provider_message_id, mq.id);
	});

	msgdTest('a number that is not on WhatsApp fails that message for good; the next one still goes', async (h) => {
		const { d, fake } = await setup(h);
		fake.notOnWhatsApp.add('5511999999999');
		const bad = await sendMessage(d, { channel: 'wweb', to: '5511999999999', text: 'hello?' });
		const failed = await waitMessage(d, bad.id, 'failed');
		assert.ok(failed.error, JSON.stringify(failed));
		assert.match(JSON.stringify(failed.error), /not on WhatsApp/);
		assert.equal(fake.sends().filter((r) => r.to === '5511999999999').length, 1, 'never retried');
		const ok = await sendMessage(d, { channel: 'wweb', to: '15550100001', text: 'hi' });
		await waitMessage(d, ok.id, 'accepted');
	});

	msgdTest('a refused api_key pauses the channel instead of failing the message', async (h) => {
		const { d, fake } = await setup(h);
		fake.next(1, fake.errors.unauthorized(), (r) => r.endpoint === 'sendText');
		const m0 = await sendMessage(d, { channel: 'wweb', to: '15550100001', text: 'paused?' });
		await waitFor(async () => (await channelState(d, 'wweb')).sending.state === 'paused', 5000, { what: 'wweb paused' });
		const st = await channelState(d, 'wweb');
		assert.match(JSON.stringify(st.sending.reason), /api_key/);
		assert.ok(!JSON.stringify(st).includes(KEY), 'the key is never shown');
		const m = assertStatus(await d.api('GET', `/v1/messages/${m0.id}`), 200);
		assert.notEqual(m.status, 'failed');
	});

	msgdTest('Evolution\'s echo of a message msgd sent is the same message, not a new one', async (h) => {
		const { d, fake, ch } = await setup(h);
		const m0 = await sendMessage(d, { channel: 'wweb', to: '15550100001', text: 'only once' });
		const m = await waitMessage(d, m0.id, 'accepted');
		const r = await fake.upsert('tigo1', { from: '15550100001', text: 'only once', id: m.provider_message_id, fromMe: true }, { url: `${d.url}${ch.webhook_path}` });
		assert.equal(r.status, 200, r.text);
		const same = assertStatus(await d.api('GET', `/v1/messages?provider_message_id=${m.provider_message_id}`), 200).messages;
		assert.deepEqual(same.map((x) => x.id), [m0.id]);
		assert.equal(fake.sends().length, 1);
	});

	msgdTest('an echo that arrives before msgd recorded the acceptance is merged into the sent message', async (h) => {
		const { d, fake, ch } = await setup(h);
		// Evolution posts its fromMe upsert while msgd still waits for sendText's answer.
		fake.rule((r) => r.endpoint === 'sendText', { delayMs: 1500 });
		const m0 = await sendMessage(d, { channel: 'wweb', to: '15550100001', text: 'raced' });
		await waitFor(() => fake.sends().length === 1, 5000, { what: 'sendText in flight' });
		const id = 'BAE5FAKE00000001';  // the fake's first key id
		const echoed = await fake.upsert('tigo1', { from: '15550100001', text: 'raced', id, fromMe: true }, { url: `${d.url}${ch.webhook_path}` });
		assert.equal(echoed.status, 200, echoed.text);
		const early = assertStatus(await d.api('GET', `/v1/messages?provider_message_id=${id}`), 200).messages;
		assert.equal(early.length, 1);
		assert.notEqual(early[0].id, m0.id, 'the echo was stored first, as a message of its own');
		const m = await waitMessage(d, m0.id, 'accepted');
		assert.equal(m.provider_message_id, id);
		const same = assertStatus(await d.api('GET', `/v1/messages?provider_message_id=${id}`), 200).messages;
		assert.deepEqual(same.map((x) => x.id), [m0.id]);
		const merged = (await allEvents(d)).filter((e) => e.type === 'message.merged');
		assert.deepEqual(merged.map((e) => e.data), [{ id: early[0].id, into: m0.id }]);
		// The conversation shows one message, not two.
		const { messages } = assertStatus(await d.api('GET', `/v1/conversations/${m.conversation_id}/messages`), 200);
		assert.equal(messages.filter((x) => x.provider_message_id === id).length, 1);
		assertError(await d.api('GET', `/v1/messages/${early[0].id}`), 404, 'not_found');
		assert.equal(fake.sends().length, 1);
	});

	msgdTest('5xx is retried until Evolution takes it', async (h) => {
		const { d, fake } = await setup(h);
		fake.next(1, fake.errors.serverError(500), (r) => r.endpoint === 'sendText');
		const m0 = await sendMessage(d, { channel: 'wweb', to: '15550100001', text: 'retry me' });
		const m = await waitMessage(d, m0.id, 'accepted', 30_000);
		const tries = fake.sends();
		assert.equal(tries.length, 2);
		assert.equal(tries[0].status, 500);
		assert.equal(m.provider_message_id, tries[1].id);
	});
});
