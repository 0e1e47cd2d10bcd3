// Sending: POST /v1/messages → durable outbox → WhatsApp Cloud (fake Graph).
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
	msgdTest, assertError, assertStatus, allEvents, snapshot, sendMessage, getMessage, waitMessage,
	statusEventsOf, SEND_PNID, SEND_TOKEN,
} from './lib.mjs';
import { sendSetup, goldenText } from './fake_graph.mjs';

const TO = '16505551234';

describe('send API', () => {
	msgdTest('POST /v1/messages text → 202 queued; one golden-shaped Graph request; accepted with the wamid; status events', async (h) => {
		const { d, fake } = await sendSetup(h);
		const m0 = await sendMessage(d, { channel: 'wa', to: TO, text: 'hello from msgd' });
		assert.equal(m0.status, 'queued', JSON.stringify(m0));
		assert.equal(m0.direction, 'out');
		assert.equal(m0.channel, 'wa');
		assert.equal(m0.to, TO);
		assert.equal(m0.type, 'text');
		assert.equal(m0.text, 'hello from msgd');
		assert.equal(m0.provider_message_id, null);
		assert.equal(typeof m0.conversation_id, 'number');

		const m = await waitMessage(d, m0.id, 'accepted');
		assert.equal(fake.requests.length, 1, `fake saw: ${fake.summary()}`);
		const rq = fake.requests[0];
		assert.equal(rq.method, 'POST');
		assert.equal(rq.path, `/v21.0/${SEND_PNID}/messages`);
		assert.equal(rq.headers.authorization, `Bearer ${SEND_TOKEN}`);
		assert.match(rq.headers['content-type'] ?? '', /^application\/json/i);
		assert.ok(!rq.path.includes(SEND_TOKEN), 'access token in the URL');
		assert.deepEqual(rq.body, goldenText(TO, 'hello from msgd'), `body: ${rq.raw}`);

		assert.equal(fake.accepted.length, 1);
		assert.equal(m.provider_message_id, fake.accepted[0].id);
		assert.equal(m.id, m0.id);
		assert.equal(m.conversation_id, m0.conversation_id);
		if ('attempts' in m) assert.equal(m.attempts, 1);
		assert.deepEqual((await getMessage(d, m0.id)).provider_message_id, fake.accepted[0].id);
		const byPid = assertStatus(await d.api('GET', `/v1/messages?provider_message_id=${encodeURIComponent(m.provider_message_id)}`), 200);
		assert.deepEqual(byPid.messages.map((x) => x.id), [m0.id]);

		const ev = statusEventsOf(await allEvents(d), m0.id);
		const seq = ev.map((e) => e.data.status);
		assert.ok(seq.indexOf('queued') >= 0 && seq.indexOf('accepted') > seq.indexOf('queued'),
		    `message.status events should include queued then accepted: ${JSON.stringify(ev)}`);
		const acc = ev.find((e) => e.data.status === 'accepted');
		assert.equal(acc.data.id, m0.id);
		assert.equal(acc.data.provider_message_id, fake.accepted[0].id);
		assert.equal(acc.channel, 'wa');
		assert.equal(acc.conversation_id, m0.conversation_id);

		// The conversation with the contact shows the outbound message.
		const cm = assertStatus(await d.api('GET', `/v1/conversations/${m0.conversation_id}/messages`), 200);
		assert.ok(cm.messages.some((x) => x.id === m0.id), JSON.stringify(cm));
	});

	msgdTest('validation errors → 422 naming the field; nothing sent or stored; a 4096-char text is fine', async (h) => {
		const { d, fake } = await sendSetup(h);
		const before = await snapshot(d);
		const cases = [
			[{ channel: 'nope', to: TO, text: 'x' }, 'channel'],
			[{ to: TO, text: 'x' }, 'channel'],
			[{ channel: 'wa', text: 'x' }, 'to'],
			[{ channel: 'wa', to: '', text: 'x' }, 'to'],
			[{ channel: 'wa', to: 16505551234, text: 'x' }, 'to'],
			[{ channel: 'wa', to: TO, text: 'y'.repeat(4097) }, 'text'],
			[{ channel: 'wa', to: TO, text: 'x', scheduled_at: 'tomorrow' }, 'scheduled_at'],
			[{ channel: 'wa', to: TO, text: 'x', scheduled_at: '2030-13-45T99:00:00Z' }, 'scheduled_at'],
			[{ channel: 'wa', to: TO, text: 'x', colour: 'red' }, 'colour'],
			[{ channel: 'wa', to: TO, type: 'image' }, 'media'],
			[{ channel: 'wa', to: TO, type: 'bogus', text: 'x' }, 'type'],
			[{ channel: 'wa', to: TO, text: 42 }, 'text'],
		];
		for (const [body, field] of cases) {
			const r = await d.api('POST', '/v1/messages', body);
			const e = assertError(r, 422, 'validation_failed');
			assert.ok(e.field === field || String(e.field).startsWith(field + '.'),
			    `${JSON.stringify(body).slice(0, 120)}: error.field ${JSON.stringify(e.field)}, wanted ${field}`);
			assert.ok(e.message.includes(field), `message does not name ${field}: ${e.message}`);
		}
		assertError(await d.api('POST', '/v1/messages', '{"channel":"wa",'), 400, 'invalid_json');
		assertError(await d.anon('POST', '/v1/messages', { channel: 'wa', to: TO, text: 'x' }), 401, 'unauthorized');
		assert.deepEqual(await snapshot(d), before, 'a rejected send stored something');

		// Barrier: a valid message (exactly 4096 characters) is the only one ever sent.
		const long = 'é'.repeat(4096);
		const ok = await sendMessage(d, { channel: 'wa', to: TO, text: long });
		await waitMessage(d, ok.id, 'accepted');
		assert.equal(fake.requests.length, 1, `fake saw: ${fake.summary()}`);
		assert.equal(fake.requests[0].body.text.body, long);
	});

	msgdTest('the access token never appears in an API response or the daemon log', async (h) => {
		const { d, fake, ch } = await sendSetup(h);
		const texts = [JSON.stringify(ch)];
		const m0 = await sendMessage(d, { channel: 'wa', to: TO, text: 'secret check' });
		texts.push(JSON.stringify(m0));
		await waitMessage(d, m0.id, 'accepted');
		// An auth failure from the provider must not echo the token either.
		fake.next(1, fake.corpusError('190_invalid_token'));
		const m1 = await sendMessage(d, { channel: 'wa', to: '16505550000', text: 'second' });
		texts.push(JSON.stringify(m1));
		await fake.until(() => fake.requests.length >= 2 && fake.requests[1].status !== undefined, 10_000, 'second request answered');
		for (const p of ['/v1/channels', '/v1/channels/wa', `/v1/messages/${m0.id}`, `/v1/messages/${m1.id}`,
			'/v1/events?since=0&limit=1000', '/v1/conversations', `/v1/conversations/${m0.conversation_id}/messages`])
			texts.push((await d.api('GET', p)).text);
		for (const t of texts) assert.ok(!t.includes(SEND_TOKEN), `token in an API response: ${t.slice(0, 300)}`);
		assert.equal(fake.requests[0].headers.authorization, `Bearer ${SEND_TOKEN}`);
		await d.stop();
		assert.ok(!d.logs().includes(SEND_TOKEN), 'access token in the daemon log');
	});
});
