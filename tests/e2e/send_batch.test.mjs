// Sending: POST /v1/messages/batch.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { msgdTest, assertError, assertStatus, snapshot, sendMessage, waitMessage } from './lib.mjs';
import { sendSetup, goldenText } from './fake_graph.mjs';

describe('send batch', () => {
	msgdTest('3 valid + 2 invalid → 207 with per-index results; exactly the 3 valid ones are sent', async (h) => {
		const { d, fake } = await sendSetup(h);
		const items = [
			{ channel: 'wa', to: '15550400000', text: 'batch zero' },
			{ channel: 'wa', text: 'no recipient' },
			{ channel: 'wa', to: '15550400002', text: 'batch two' },
			{ channel: 'no-such-channel', to: '15550400003', text: 'bad channel' },
			{ channel: 'wa', to: '15550400004', text: 'batch four', client_id: 'batch-cid-4' },
		];
		const r = await d.api('POST', '/v1/messages/batch', { messages: items });
		assertStatus(r, 207, 'batch');
		const res = r.json.results;
		assert.equal(res.length, 5, r.text);
		res.forEach((x, i) => assert.equal(x.index, i, r.text));
		for (const i of [0, 2, 4]) {
			assert.ok(res[i].message, `item ${i}: ${JSON.stringify(res[i])}`);
			assert.equal(res[i].error, undefined);
			assert.equal(res[i].message.status, 'queued');
			assert.equal(res[i].message.to, items[i].to);
			assert.equal(res[i].message.text, items[i].text);
		}
		assert.equal(res[4].message.client_id, 'batch-cid-4');
		for (const [i, field] of [[1, 'to'], [3, 'channel']]) {
			assert.equal(res[i].message, undefined);
			assert.ok(res[i].error, `item ${i}: ${JSON.stringify(res[i])}`);
			assert.equal(res[i].error.code, 'validation_failed');
			assert.equal(res[i].error.field, field);
			assert.equal(typeof res[i].error.message, 'string');
		}
		const ids = new Set([0, 2, 4].map((i) => res[i].message.id));
		assert.equal(ids.size, 3, 'distinct ids');
		for (const i of [0, 2, 4]) await waitMessage(d, res[i].message.id, 'accepted');
		assert.equal(fake.sends().length, 3, fake.summary());
		for (const i of [0, 2, 4]) {
			const rq = fake.to(items[i].to);
			assert.equal(rq.length, 1);
			assert.deepEqual(rq[0].body, goldenText(items[i].to, items[i].text));
		}
		// client_id given in a batch counts for a later single send.
		const again = await sendMessage(d, items[4], { status: 200 });
		assert.equal(again.id, res[4].message.id);
	});

	msgdTest('malformed batches → 4xx and nothing queued', async (h) => {
		const { d, fake } = await sendSetup(h);
		const before = await snapshot(d);
		assertError(await d.api('POST', '/v1/messages/batch', { messages: 'nope' }), 422, 'validation_failed');
		assertError(await d.api('POST', '/v1/messages/batch', {}), 422, 'validation_failed');
		assertError(await d.api('POST', '/v1/messages/batch', { messages: [], extra: 1 }), 422, 'validation_failed');
		const tooMany = Array.from({ length: 1001 }, (_, i) => ({ channel: 'wa', to: `1555050${String(i).padStart(4, '0')}`, text: 'x' }));
		const r = await d.api('POST', '/v1/messages/batch', { messages: tooMany });
		assert.ok(r.status === 422 || r.status === 413, `1001 messages: ${r.status} ${r.text.slice(0, 300)}`);
		assert.deepEqual(await snapshot(d), before);
		const b = await sendMessage(d, { channel: 'wa', to: '15550009999', text: 'barrier' });
		await waitMessage(d, b.id, 'accepted');
		assert.equal(fake.sends().length, 1, fake.summary());
	});
});
