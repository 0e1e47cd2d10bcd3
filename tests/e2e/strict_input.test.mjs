// Strict input: duplicate JSON keys, numeric query parameters, the
// WhatsApp verification handshake's challenge.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
	msgdTest, assertError, assertStatus, createWaChannel, postWebhook, waMessageBody, snapshot,
	messagesByProviderId,
} from './lib.mjs';

const PNID = '1122334455667';

describe('duplicate JSON object keys are refused', () => {
	msgdTest('POST /v1/messages with "to" twice → 400 invalid_json naming the key; nothing stored', async (h) => {
		const d = await h.start();
		const before = await snapshot(d);
		const body = '{"channel":"sandbox","to":"15550001111","text":"x","to":"15550002222"}';
		const e = assertError(await d.api('POST', '/v1/messages', body), 400, 'invalid_json');
		assert.match(e.message, /duplicate object key 'to'/);
		// Nested, and in a batch item, and on the sandbox inbound endpoint.
		const nested = '{"messages":[{"channel":"sandbox","to":"15550001111","text":"a","text":"b"}]}';
		assert.match(assertError(await d.api('POST', '/v1/messages/batch', nested), 400, 'invalid_json').message, /'text'/);
		const sbx = '{"from":"15550001111","text":"a","from":"15550003333"}';
		assert.match(assertError(await d.api('POST', '/v1/sandbox/sandbox/inbound', sbx), 400, 'invalid_json').message, /'from'/);
		// A surrogate escape takes the other parser: it refuses duplicates too.
		const sur = '{"channel":"sandbox","to":"15550001111","text":"\\ud83d\\ude00","to":"15550002222"}';
		assertError(await d.api('POST', '/v1/messages', sur), 400, 'invalid_json');
		assert.deepEqual(await snapshot(d), before, 'nothing stored');
		// The same key in different objects is fine.
		assertStatus(await d.api('POST', '/v1/messages', { channel: 'sandbox', to: '15550001111', text: 'ok', metadata: { text: 'inner' } }), 202);
	});

	msgdTest('a signed webhook with a duplicate key → 400 invalid_json; nothing stored', async (h) => {
		const d = await h.start();
		await createWaChannel(d.api, 'wa', PNID);
		const before = await snapshot(d);
		const good = JSON.stringify(waMessageBody({ pnid: PNID, id: 'wamid.dup.1', text: 'hello' }));
		// The message's "id" twice: which one would be stored?
		const dup = good.replace('"id":"wamid.dup.1"', '"id":"wamid.dup.1","id":"wamid.dup.2"');
		assert.notEqual(dup, good);
		const e = assertError(await postWebhook(d.url, dup), 400, 'invalid_json');
		assert.match(e.message, /duplicate object key 'id'/);
		assert.deepEqual(await snapshot(d), before, 'nothing stored');
		assertStatus(await postWebhook(d.url, good), 200);
		assert.equal((await messagesByProviderId(d, 'wamid.dup.1')).length, 1);
	});
});

describe('numeric query parameters are digits only', () => {
	msgdTest('limit, since, conversation_id with a sign, spaces or too many digits → 400 invalid_parameter naming it', async (h) => {
		const d = await h.start();
		const conv = assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '15550001111', text: 'hi' }), 201).message.conversation_id;
		const bad = ['%2B5', '+5', '%205', '5%20', '-5', '5x', '0x5', '', '1e2', '5.0', '%EF%BC%95', '0000000000000000005'];
		const urls = [
			(v) => ['limit', `/v1/conversations?limit=${v}`],
			(v) => ['limit', `/v1/conversations/${conv}/messages?limit=${v}`],
			(v) => ['limit', `/v1/events?limit=${v}`],
			(v) => ['since', `/v1/events?since=${v}`],
			(v) => ['since', `/v1/stream?since=${v}`],
			(v) => ['conversation_id', `/v1/stream?conversation_id=${v}`],
		];
		for (const u of urls) {
			for (const v of bad) {
				const [name, url] = u(v);
				const e = assertError(await d.api('GET', url), 400, 'invalid_parameter');
				assert.equal(e.field, name, `${url}: ${JSON.stringify(e)}`);
				assert.ok(e.message.includes(name), `${url}: ${e.message}`);
			}
		}
		// Last-Event-ID is a number too.
		const e = assertError(await d.api('GET', '/v1/stream', undefined, { 'last-event-id': '+1' }), 400, 'invalid_parameter');
		assert.equal(e.field, 'Last-Event-ID');
		// Plain digits still work (leading zeros included).
		assert.equal(assertStatus(await d.api('GET', '/v1/conversations?limit=5'), 200).conversations.length, 1);
		assert.equal(assertStatus(await d.api('GET', '/v1/conversations?limit=005'), 200).conversations.length, 1);
		assertStatus(await d.api('GET', `/v1/conversations/${conv}/messages?limit=1`), 200);
		assert.ok(assertStatus(await d.api('GET', '/v1/events?since=0&limit=10'), 200).events.length >= 1);
	});
});

describe('WhatsApp verification handshake', () => {
	const verify = (c) => `/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=meatyhamhock&hub.challenge=${c}`;

	msgdTest('the echoed challenge is text/plain with X-Content-Type-Options: nosniff', async (h) => {
		const d = await h.start();
		await createWaChannel(d.api, 'wa', PNID);
		const r = await d.anon('GET', verify('1158201444'));
		assertStatus(r, 200);
		assert.equal(r.text, '1158201444');
		assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
		assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
		// Visible ASCII is a token: echoed as plain text the browser will not sniff.
		const tag = await d.anon('GET', verify(encodeURIComponent('<b>x</b>')));
		assertStatus(tag, 200);
		assert.equal(tag.text, '<b>x</b>');
		assert.equal(tag.headers.get('x-content-type-options'), 'nosniff');
		// Refusals carry it too.
		const no = await d.anon('GET', verify('1').replace('meatyhamhock', 'wrong'));
		assertError(no, 403, 'forbidden');
		assert.equal(no.headers.get('x-content-type-options'), 'nosniff');
	});

	msgdTest('a challenge that is not a token (spaces, control or non-ASCII bytes, too long, empty) → 400', async (h) => {
		const d = await h.start();
		await createWaChannel(d.api, 'wa', PNID);
		for (const c of ['12%2034', '12%0A34', 'caf%C3%A9', '%7F', '%00abc', '7'.repeat(257), '']) {
			const r = await d.anon('GET', verify(c));
			// An encoded NUL is refused before routing, by the HTTP layer.
			assertError(r, 400, c.startsWith('%00') ? 'bad_request' : 'invalid_request');
			assert.ok(!r.text.includes('caf'), r.text);
		}
		assertStatus(await d.anon('GET', verify('7'.repeat(256))), 200);
	});
});
