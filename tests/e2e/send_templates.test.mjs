// Sending: local templates (/v1/templates, rendered by msgd into text) and
// WhatsApp-approved templates (sent as type "template").
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { msgdTest, assertError, assertStatus, snapshot, sendMessage, waitMessage } from './lib.mjs';
import { sendSetup, goldenText } from './fake_graph.mjs';

const TO = '16505551234';
const ORDER_READY = { name: 'order_ready', language: 'en', body: 'Hello {{name}}, your order {{order}} ships today' };

describe('templates', () => {
	msgdTest('local template: create, list, render into a text message; missing variable → 422; delete', async (h) => {
		const { d, fake } = await sendSetup(h);
		const c = await d.api('POST', '/v1/templates', ORDER_READY);
		assertStatus(c, 201, 'POST /v1/templates');
		assert.equal(c.json.name, 'order_ready');
		assert.equal(c.json.language, 'en');
		assert.equal(c.json.body, ORDER_READY.body);
		const list = assertStatus(await d.api('GET', '/v1/templates'), 200);
		assert.ok(Array.isArray(list.templates), list);
		assert.deepEqual(list.templates.map((t) => t.name), ['order_ready']);
		const one = assertStatus(await d.api('GET', '/v1/templates/order_ready'), 200);
		assert.equal(one.body, ORDER_READY.body);
		assertError(await d.api('GET', '/v1/templates/nope'), 404, 'not_found');
		assertError(await d.api('POST', '/v1/templates', ORDER_READY), 409, 'conflict');

		const m0 = await sendMessage(d, { channel: 'wa', to: TO, template: { name: 'order_ready', variables: { name: 'Ada', order: '#42' } } });
		assert.equal(m0.type, 'text', 'a local template is sent as text');
		assert.equal(m0.text, 'Hello Ada, your order #42 ships today');
		await waitMessage(d, m0.id, 'accepted');
		assert.equal(fake.sends().length, 1);
		assert.deepEqual(fake.sends()[0].body, goldenText(TO, 'Hello Ada, your order #42 ships today'));

		const before = await snapshot(d);
		const e = assertError(await d.api('POST', '/v1/messages', { channel: 'wa', to: TO, template: { name: 'order_ready', variables: { name: 'Ada' } } }), 422, 'validation_failed');
		assert.match(String(e.field), /^template/, JSON.stringify(e));
		assert.match(e.message, /order/, 'the message names the missing variable');
		assert.deepEqual(await snapshot(d), before);

		const del = await d.api('DELETE', '/v1/templates/order_ready');
		assert.ok(del.status === 204 || del.status === 200, `DELETE template: ${del.status} ${del.text}`);
		assertError(await d.api('GET', '/v1/templates/order_ready'), 404, 'not_found');
		assert.deepEqual(assertStatus(await d.api('GET', '/v1/templates'), 200).templates, []);
		assertError(await d.api('DELETE', '/v1/templates/order_ready'), 404, 'not_found');
		assert.equal(fake.sends().length, 1, fake.summary());
	});

	msgdTest('invalid templates → 422 naming the field', async (h) => {
		const { d } = await sendSetup(h);
		for (const [body, field] of [
			[{ language: 'en', body: 'x' }, 'name'],
			[{ name: 'a', language: 'en' }, 'body'],
			[{ name: 'a', language: 'en', body: 'x', colour: 'red' }, 'colour'],
			[{ name: 'a', language: 'en', body: 42 }, 'body'],
			// A placeholder without a name could never render (found by fuzz_template).
			[{ name: 'a', language: 'en', body: 'Hi {{}}' }, 'body'],
			[{ name: 'a', language: 'en', body: 'Hi {{  }}!' }, 'body'],
		]) {
			const e = assertError(await d.api('POST', '/v1/templates', body), 422, 'validation_failed');
			assert.equal(e.field, field, JSON.stringify(body));
		}
		assert.deepEqual(assertStatus(await d.api('GET', '/v1/templates'), 200).templates, []);
	});

	msgdTest('a WhatsApp template (not local) with variables ["a","b"] → type template with body parameters', async (h) => {
		const { d, fake } = await sendSetup(h);
		const m0 = await sendMessage(d, { channel: 'wa', to: TO, template: { name: 'shipping_update', language: 'en_US', variables: ['a', 'b'] } });
		assert.equal(m0.type, 'template');
		await waitMessage(d, m0.id, 'accepted');
		assert.deepEqual(fake.sends()[0].body, {
			messaging_product: 'whatsapp',
			recipient_type: 'individual',
			to: TO,
			type: 'template',
			template: {
				name: 'shipping_update',
				language: { code: 'en_US' },
				components: [{ type: 'body', parameters: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }],
			},
		}, fake.sends()[0].raw);

		// components are passed as given.
		const components = [
			{ type: 'header', parameters: [{ type: 'image', image: { link: 'https://example.com/a.png' } }] },
			{ type: 'button', sub_type: 'quick_reply', index: '0', parameters: [{ type: 'payload', payload: 'YES' }] },
		];
		const m1 = await sendMessage(d, { channel: 'wa', to: TO, template: { name: 'promo', language: 'en', components } });
		await waitMessage(d, m1.id, 'accepted');
		const b = fake.sends()[1].body;
		assert.equal(b.type, 'template');
		assert.equal(b.template.name, 'promo');
		assert.deepEqual(b.template.language, { code: 'en' });
		assert.deepEqual(b.template.components, components);
	});
});
