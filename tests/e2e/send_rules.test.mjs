// Sending: rules found in review — fields of other types are refused, a
// deleted channel fails its pending sends, idempotent repeats survive config
// changes, a rendered template cannot overflow silently.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { msgdTest, sendMessage, waitMessage, assertError } from './lib.mjs';
import { sendSetup } from './fake_graph.mjs';

const TO = '16505551234';

describe('send rules', () => {
	msgdTest('fields that belong to another message type → 422 naming the field, nothing stored', async (h) => {
		const { d, fake } = await sendSetup(h);
		const cases = [
			[{ channel: 'wa', to: TO, type: 'text', text: 'hi', media: { url: 'https://x/y.jpg' } }, 'media'],
			[{ channel: 'wa', to: TO, type: 'text', text: 'hi', location: { latitude: 1, longitude: 2 } }, 'location'],
			[{ channel: 'wa', to: TO, type: 'image', media: { url: 'https://x/y.jpg' }, preview_url: true }, 'preview_url'],
			[{ channel: 'wa', to: TO, type: 'audio', media: { id: '123' }, text: 'caption?' }, 'text'],
			[{ channel: 'wa', to: TO, type: 'text', text: 'hi', reaction: { message_id: 'wamid.x', emoji: 'x' } }, 'reaction'],
		];
		for (const [body, field] of cases) {
			const r = await d.api('POST', '/v1/messages', body);
			assertError(r, 422, 'validation_failed');
			assert.equal(r.json.error.field, field, JSON.stringify(body));
		}
		const conv = await d.api('GET', '/v1/conversations');
		assert.deepEqual(conv.json.conversations, []);
		assert.equal(fake.sends().length, 0);
	});

	msgdTest('deleting a channel fails its queued messages with "channel deleted"', async (h) => {
		const { d, fake } = await sendSetup(h);
		fake.always({ status: 500 });  // keep them queued, retrying
		const m = await sendMessage(d, { channel: 'wa', to: TO, text: 'stuck' });
		await fake.until(() => fake.sends().length >= 1, 10_000);
		const del = await d.api('DELETE', '/v1/channels/wa');
		assert.equal(del.status, 204);
		const failed = await waitMessage(d, m.id, 'failed');
		assert.equal(failed.error.title, 'channel deleted');
	});

	msgdTest('an idempotent repeat returns the original even after the window rule changed', async (h) => {
		const { d } = await sendSetup(h);
		const body = { channel: 'wa', to: TO, text: 'before the change', client_id: 'repeat-1' };
		const a = await sendMessage(d, body);
		const p = await d.api('PATCH', '/v1/channels/wa', { config: { enforce_window: true } });
		assert.equal(p.status, 200);
		// A new free-form message is refused now...
		assertError(await d.api('POST', '/v1/messages', { channel: 'wa', to: TO, text: 'new' }), 422, 'window_closed');
		// ...but the repeat is answered with the original.
		const b = await sendMessage(d, body, { status: 200 });
		assert.equal(b.id, a.id);
	});

	msgdTest('a local template rendering past the text limit → 422, never truncated', async (h) => {
		const { d, fake } = await sendSetup(h);
		const t = await d.api('POST', '/v1/templates', { name: 'big', language: 'en', body: 'Hi {{a}} bye' });
		assert.equal(t.status, 201);
		const r = await d.api('POST', '/v1/messages', {
			channel: 'wa', to: TO, template: { name: 'big', language: 'en', variables: { a: 'x'.repeat(17000) } },
		});
		assertError(r, 422, 'validation_failed');
		assert.equal(r.json.error.field, 'template');
		const ok = await sendMessage(d, { channel: 'wa', to: TO, template: { name: 'big', language: 'en', variables: { a: 'Ada' } } });
		const sent = await waitMessage(d, ok.id, 'accepted');
		assert.equal(sent.text, 'Hi Ada bye');
		assert.equal(fake.sends().at(-1).body.text.body, 'Hi Ada bye');
	});

	msgdTest('WhatsApp template variables must be strings or numbers → 422 at the API', async (h) => {
		const { d } = await sendSetup(h);
		const r = await d.api('POST', '/v1/messages', { channel: 'wa', to: TO, template: { name: 'hsm', variables: [true] } });
		assertError(r, 422, 'validation_failed');
		assert.equal(r.json.error.field, 'template.variables');
		const conv = await d.api('GET', '/v1/conversations');
		assert.deepEqual(conv.json.conversations, [], 'nothing stored');
	});
});
