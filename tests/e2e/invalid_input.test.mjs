// Hostile or broken webhook bodies: correctly signed (so it is the body that
// is wrong), each must get a 4xx JSON error, store nothing, and leave the
// daemon serving. Plus byte-exact text handling.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
	msgdTest, assertError, assertStatus, createWaChannel, postWebhook, signWa, rawRequest,
	corpusFile, snapshot, messagesByProviderId, waMessageBody,
} from './lib.mjs';

const PNID = '106540352242922';
const TEXT_ID = 'wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=';

async function setup(h) {
	const d = await h.start();
	await createWaChannel(d.api, 'wa1', PNID);
	const before = await snapshot(d);
	return { d, before };
}

async function assertNothingStoredAndServing(d, before) {
	assertStatus(await d.anon('GET', '/healthz'), 200, 'healthz after bad input');
	assert.deepEqual(await snapshot(d), before, 'a rejected request stored something');
	// And it still accepts a good webhook afterwards.
	assertStatus(await postWebhook(d.url, corpusFile('whatsapp_cloud/inbound/text.json')), 200, 'good webhook after bad input');
	assert.equal((await messagesByProviderId(d, TEXT_ID)).length, 1);
}

/** text.json with `insert` bytes spliced into the text body. */
function textJsonWith(insert) {
	const src = corpusFile('whatsapp_cloud/inbound/text.json');
	const at = src.indexOf('another color');
	return Buffer.concat([src.subarray(0, at), insert, src.subarray(at)]);
}

const CASES = [
	{ name: 'truncated JSON', status: 400, code: 'invalid_json',
		body: () => corpusFile('whatsapp_cloud/inbound/text.json').subarray(0, 400) },
	{ name: '10,000-deep nested arrays', status: 400, code: 'invalid_json',
		body: () => Buffer.from('['.repeat(10_000) + ']'.repeat(10_000)) },
	{ name: '10,000-deep nesting inside a valid envelope', status: 400, code: 'invalid_json',
		body: () => Buffer.from('{"object":"whatsapp_business_account","entry":' + '['.repeat(10_000) + ']'.repeat(10_000) + '}') },
	{ name: 'unclosed 10,000-deep [[[[', status: 400, code: 'invalid_json',
		body: () => Buffer.from('['.repeat(10_000)) },
	{ name: 'invalid UTF-8 byte 0xff inside a string', status: 400, code: 'invalid_json',
		body: () => textJsonWith(Buffer.from([0xff])) },
	{ name: 'overlong UTF-8 encoding (0xc0 0xaf) inside a string', status: 400, code: 'invalid_json',
		body: () => textJsonWith(Buffer.from([0xc0, 0xaf])) },
	{ name: 'raw NUL byte inside a string', status: 400, code: 'invalid_json',
		body: () => textJsonWith(Buffer.from([0x00])) },
	{ name: 'raw control character (0x01) inside a string', status: 400, code: 'invalid_json',
		body: () => textJsonWith(Buffer.from([0x01])) },
	{ name: 'wrong "object"', status: [400, 422],
		body: () => Buffer.from(corpusFile('whatsapp_cloud/inbound/text.json').toString('utf8').replace('"whatsapp_business_account"', '"instagram"')) },
	{ name: 'valid JSON that is not an object', status: [400, 422],
		body: () => Buffer.from('[1,2,3]') },
	{ name: 'non-JSON garbage', status: 400, code: 'invalid_json',
		body: () => Buffer.from('\x89PNG\r\n\x1a\n garbage <html> not json at all', 'latin1') },
	{ name: 'empty body', status: 400, code: 'invalid_json',
		body: () => Buffer.alloc(0) },
];

describe('malformed webhook bodies (signed) → 4xx, nothing stored, daemon keeps serving', () => {
	for (const c of CASES) {
		msgdTest(c.name, async (h) => {
			const { d, before } = await setup(h);
			const body = c.body();
			const r = await postWebhook(d.url, body);
			assertError(r, c.status, c.code);
			await assertNothingStoredAndServing(d, before);
		});
	}

	msgdTest('5 MB body with Expect: 100-continue → 413 body_too_large before the body is sent', async (h) => {
		const { d, before } = await setup(h);
		const big = waMessageBody({ pnid: PNID, id: 'wamid.big-2', text: 'x'.repeat(5 * 1024 * 1024) });
		const body = Buffer.from(JSON.stringify(big));
		const r = await rawRequest(d.url, {
			method: 'POST', path: '/webhooks/whatsapp', body, expectContinue: true,
			headers: { 'content-type': 'application/json', 'x-hub-signature-256': signWa(body) },
		});
		assertError(r, 413, 'body_too_large');
		assert.deepEqual(await messagesByProviderId(d, 'wamid.big-2'), []);
		await assertNothingStoredAndServing(d, before);
	});

	msgdTest('5 MB body sent without waiting → 413 body_too_large (read and discarded), nothing stored', async (h) => {
		const { d, before } = await setup(h);
		// A well-formed, correctly signed 5 MB webhook: only its size is wrong.
		const big = waMessageBody({ pnid: PNID, id: 'wamid.big-1', text: 'x'.repeat(5 * 1024 * 1024) });
		const body = Buffer.from(JSON.stringify(big));
		const r = await rawRequest(d.url, {
			method: 'POST', path: '/webhooks/whatsapp', body,
			headers: { 'content-type': 'application/json', 'x-hub-signature-256': signWa(body) },
		});
		assertError(r, 413, 'body_too_large');
		assert.deepEqual(await messagesByProviderId(d, 'wamid.big-1'), []);
		await assertNothingStoredAndServing(d, before);
	});

	msgdTest('5 MB unsigned body → 413 (the size is checked first), never stored', async (h) => {
		const { d, before } = await setup(h);
		const body = Buffer.alloc(5 * 1024 * 1024, 0x20);
		const r = await rawRequest(d.url, { method: 'POST', path: '/webhooks/whatsapp', body, headers: { 'content-type': 'application/json' } });
		assertError(r, 413, 'body_too_large');
		await assertNothingStoredAndServing(d, before);
	});

	msgdTest('5 MB body to an API endpoint → 413', async (h) => {
		const d = await h.start();
		const body = Buffer.from(JSON.stringify({ from: '1555', text: 'y'.repeat(5 * 1024 * 1024) }));
		const r = await rawRequest(d.url, { method: 'POST', path: '/v1/sandbox/sandbox/inbound', body, headers: { 'content-type': 'application/json', authorization: `Bearer ${d.token}` } });
		assertError(r, 413, 'body_too_large');
		assertStatus(await d.anon('GET', '/healthz'), 200);
		const cv = assertStatus(await d.api('GET', '/v1/conversations'), 200);
		assert.deepEqual(cv.conversations, []);
	});
});

describe('text is stored byte-exact', () => {
	msgdTest('escaped \\u0000 inside a text body → 200, the NUL is dropped (not truncated): "abcd"', async (h) => {
		const { d } = await setup(h);
		const json = JSON.stringify(waMessageBody({ pnid: PNID, id: 'wamid.nul-1', text: 'ab\u0000cd' }));
		assert.ok(json.includes('ab\\u0000cd'), 'test setup: JSON should carry the escape');
		assertStatus(await postWebhook(d.url, json), 200);
		const m = await messagesByProviderId(d, 'wamid.nul-1');
		assert.equal(m.length, 1);
		assert.equal(m[0].text, 'abcd');
	});

	msgdTest('leading/trailing spaces, newlines, tabs, quotes, backslashes and emoji survive unchanged', async (h) => {
		const { d } = await setup(h);
		const texts = [
			'  leading and trailing spaces  ',
			'\nline one\r\nline two\n\n',
			'\ttab\tseparated\t',
			'emoji \u{1F600}\u{1F1FA}\u{1F1F8} \u{1F468}\u200D\u{1F469}\u200D\u{1F467} ü é ñ 中文 العربية',
			'quotes " and \\ backslashes \\" and / slashes',
			' ',
		];
		for (let i = 0; i < texts.length; i++) {
			assertStatus(await postWebhook(d.url, waMessageBody({ pnid: PNID, id: `wamid.exact-${i}`, text: texts[i] })), 200, `text ${i}`);
			const m = await messagesByProviderId(d, `wamid.exact-${i}`);
			assert.equal(m.length, 1);
			assert.equal(m[0].text, texts[i], `text ${i} changed`);
			assert.deepEqual(Buffer.from(m[0].text, 'utf8'), Buffer.from(texts[i], 'utf8'));
		}
	});

	msgdTest('\\uXXXX escapes (surrogate pairs) decode to the same UTF-8 as raw emoji', async (h) => {
		const { d } = await setup(h);
		const raw = JSON.stringify(waMessageBody({ pnid: PNID, id: 'wamid.esc-1', text: 'PLACEHOLDER' }))
			.replace('PLACEHOLDER', 'smile \\ud83d\\ude00 \\u00fc\\u4e2d');
		assertStatus(await postWebhook(d.url, raw), 200);
		const m = await messagesByProviderId(d, 'wamid.esc-1');
		assert.equal(m[0].text, 'smile \u{1F600} ü中');
	});

	msgdTest('a lone surrogate escape is rejected or replaced, never stored as invalid UTF-8', async (h) => {
		const { d } = await setup(h);
		const raw = JSON.stringify(waMessageBody({ pnid: PNID, id: 'wamid.lone-1', text: 'PLACEHOLDER' }))
			.replace('PLACEHOLDER', 'bad \\ud83d here');
		const r = await postWebhook(d.url, raw);
		assert.ok([200, 400].includes(r.status), `${r.status} ${r.text}`);
		// Read the stored message as raw bytes: they must be valid UTF-8.
		const g = await rawRequest(d.url, { method: 'GET', path: '/v1/messages?provider_message_id=wamid.lone-1', headers: { authorization: `Bearer ${d.token}` } });
		assert.equal(g.status, 200);
		assert.doesNotThrow(() => new TextDecoder('utf-8', { fatal: true }).decode(g.buf), 'response is not valid UTF-8');
		if (r.status === 400) assert.deepEqual(g.json.messages, []);
		assertStatus(await d.anon('GET', '/healthz'), 200);
	});
});
