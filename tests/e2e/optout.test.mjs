// Opt-out keywords (issue 14): an inbound message that is exactly one of the
// organization's keywords opts its contact out of bulk sends (contact.opted_out,
// an optional confirmation), an opt-in keyword reverses it; a send to an
// opted-out contact is refused 422 recipient_opted_out unless the contact wrote
// again since (a reply in the open conversation).
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
	msgdTest, assertError, assertStatus, postWebhook, waMessageBody, snapshot, sendMessage, waitMessage,
	allEvents, waitFor, SEND_PNID,
} from './lib.mjs';
import { sendSetup } from './fake_graph.mjs';

const X = '16505551234';
const CONFIRM = 'You will get no more messages. Reply START to subscribe again.';

async function contactOf(d, channel, address) {
	const cv = assertStatus(await d.api('GET', `/v1/conversations?channel=${channel}&limit=200`), 200);
	const c = cv.conversations.find((x) => x.contact.address === address);
	assert.ok(c, `no conversation with ${address}: ${JSON.stringify(cv)}`);
	return c.contact;
}

const ofType = (evs, type) => evs.filter((e) => e.type === type);
const now = () => Math.floor(Date.now() / 1000);

describe('opt-out keywords', () => {
	msgdTest('WhatsApp: STOP opts out (event, confirmation sent), bulk send 422, reply after the contact writes 202, START opts in', async (h) => {
		const { d, fake } = await sendSetup(h);
		const s = assertStatus(await d.api('PATCH', '/v1/orgs/default', { settings: { optout: { confirmation: CONFIRM } } }), 200);
		assert.deepEqual(s.settings.optout, { keywords: ['STOP', 'UNSUBSCRIBE', 'BAJA'], optin_keywords: ['START'],
			confirmation: CONFIRM, optin_confirmation: null });

		// A text that merely contains the keyword does nothing.
		assertStatus(await postWebhook(d.url, waMessageBody({ pnid: SEND_PNID, id: 'wamid.oo-0', from: X, text: 'please stop sending me this', timestamp: now() - 5 })), 200);
		assert.equal((await contactOf(d, 'wa', X)).opted_out, false);

		assertStatus(await postWebhook(d.url, waMessageBody({ pnid: SEND_PNID, id: 'wamid.oo-1', from: X, text: ' Stop\n', timestamp: now() - 2 })), 200);
		const c = await contactOf(d, 'wa', X);
		assert.equal(c.opted_out, true, JSON.stringify(c));
		assert.equal(c.opted_out_keyword, 'STOP');
		assert.match(c.opted_out_at, /^\d{4}-\d\d-\d\dT/);
		let evs = await allEvents(d);
		const oo = ofType(evs, 'contact.opted_out');
		assert.equal(oo.length, 1, JSON.stringify(evs.map((e) => e.type)));
		assert.equal(oo[0].data.address, X);
		assert.equal(oo[0].data.keyword, 'STOP');
		// The confirmation goes out as a reply to the contact.
		await fake.until((f) => f.to(X).length === 1, 10_000, 'confirmation sent');
		assert.equal(fake.to(X)[0].body.text.body, CONFIRM);

		// A second STOP (another message) changes nothing and confirms nothing again.
		assertStatus(await postWebhook(d.url, waMessageBody({ pnid: SEND_PNID, id: 'wamid.oo-2', from: X, text: 'STOP', timestamp: now() - 1 })), 200);
		// ... and the same STOP redelivered neither.
		assertStatus(await postWebhook(d.url, waMessageBody({ pnid: SEND_PNID, id: 'wamid.oo-1', from: X, text: 'STOP', timestamp: now() - 2 })), 200);
		evs = await allEvents(d);
		assert.equal(ofType(evs, 'contact.opted_out').length, 1);

		// A bulk send is refused, and stores nothing.
		const before = await snapshot(d);
		const e = assertError(await d.api('POST', '/v1/messages', { channel: 'wa', to: X, text: 'big sale!' }), 422, 'recipient_opted_out');
		assert.equal(res422Field(e), 'to');
		assert.deepEqual(await snapshot(d), before, 'a refused send stored something');
		// In a batch too (per item).
		const b = await d.api('POST', '/v1/messages/batch', { messages: [{ channel: 'wa', to: X, text: 'sale 2' }] });
		assert.ok(JSON.stringify(b.json).includes('recipient_opted_out'), b.text);

		// The contact writes again: a reply in the open conversation goes.
		assertStatus(await postWebhook(d.url, waMessageBody({ pnid: SEND_PNID, id: 'wamid.oo-3', from: X, text: 'where is my order?', timestamp: now() + 5 })), 200);
		const r = await sendMessage(d, { channel: 'wa', to: X, text: 'it ships tomorrow' });
		await waitMessage(d, r.id, 'accepted');
		assert.equal(fake.to(X).length, 2, fake.summary());

		// START reverses it.
		assertStatus(await postWebhook(d.url, waMessageBody({ pnid: SEND_PNID, id: 'wamid.oo-4', from: X, text: 'start', timestamp: now() + 6 })), 200);
		assert.equal((await contactOf(d, 'wa', X)).opted_out, false);
		evs = await allEvents(d);
		const oi = ofType(evs, 'contact.opted_in');
		assert.equal(oi.length, 1);
		assert.equal(oi[0].data.keyword, 'START');
		assert.equal(fake.to(X).length, 2, 'no opt-in confirmation was configured');
	});

	msgdTest('WhatsApp: one webhook with several messages confirms each keyword to its own contact', async (h) => {
		const { d, fake } = await sendSetup(h);
		assertStatus(await d.api('PATCH', '/v1/orgs/default', { settings: { optout: { confirmation: CONFIRM, optin_confirmation: 'Welcome back' } } }), 200);
		const Y = '16505550002', Z = '16505550003';
		const body = waMessageBody({ pnid: SEND_PNID, id: 'wamid.b-1', from: X, text: 'STOP', timestamp: now() - 9 });
		const v = body.entry[0].changes[0].value;
		const msg = (id, from, text) => ({ from, id, timestamp: String(now() - 8), type: 'text', text: { body: text } });
		v.contacts.push({ profile: { name: 'Y' }, wa_id: Y }, { profile: { name: 'Z' }, wa_id: Z });
		v.messages.push(msg('wamid.b-2', Y, 'hello'), msg('wamid.b-3', Z, 'baja'), msg('wamid.b-4', X, 'stop'), msg('wamid.b-5', Z, 'START'));
		assertStatus(await postWebhook(d.url, body), 200);
		await fake.until((f) => f.to(X).length === 1 && f.to(Z).length === 2, 10_000, 'confirmations');
		assert.equal(fake.to(X)[0].body.text.body, CONFIRM);
		assert.deepEqual(fake.to(Z).map((r) => r.body.text.body).sort(), [CONFIRM, 'Welcome back'].sort());
		assert.equal(fake.to(Y).length, 0);
		assert.equal((await contactOf(d, 'wa', X)).opted_out, true);
		assert.equal((await contactOf(d, 'wa', Y)).opted_out, false);
		assert.equal((await contactOf(d, 'wa', Z)).opted_out, false);
		const evs = await allEvents(d);
		assert.deepEqual(evs.filter((e) => e.type.startsWith('contact.opted')).map((e) => [e.type, e.data.address]),
			[['contact.opted_out', X], ['contact.opted_out', Z], ['contact.opted_in', Z]]);
	});

	msgdTest('sandbox: custom keywords per organization (Latin case folding), bulk 422; the default keywords no longer count', async (h) => {
		const d = await h.start();
		const bad = [
			{ keywords: 'STOP' }, { keywords: [''] }, { keywords: [' STOP'] }, { keywords: ['x'.repeat(33)] },
			{ keywords: Array.from({ length: 17 }, (_, i) => `W${i}`) }, { confirmation: '' }, { colour: 'red' },
			{ keywords: ['ALTO'], optin_keywords: ['alto'] },
		];
		for (const optout of bad)
			assertError(await d.api('PATCH', '/v1/orgs/default', { settings: { optout } }), 422, 'validation_failed');
		const g = assertStatus(await d.api('GET', '/v1/orgs/default'), 200);
		assert.deepEqual(g.settings.optout.keywords, ['STOP', 'UNSUBSCRIBE', 'BAJA'], 'a refused change changed something');

		assertStatus(await d.api('PATCH', '/v1/orgs/default', { settings: { optout: { keywords: ['ALTO', 'DÉSABONNER'], optin_keywords: ['VOLVER'] } } }), 200);
		// Another organization keeps the defaults.
		assertStatus(await d.api('POST', '/v1/orgs', { name: 'acme' }), 201);
		assertStatus(await d.api('POST', '/v1/channels', { name: 'sb2', type: 'sandbox', config: {} }, { 'msgd-org': 'acme' }), 201);

		const A = '15550001111', B = '15550002222';
		assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: A, text: 'STOP' }), 201);
		assert.equal((await contactOf(d, 'sandbox', A)).opted_out, false, 'STOP is no keyword here any more');
		assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: A, text: 'désabonner' }), 201);
		const c = await contactOf(d, 'sandbox', A);
		assert.equal(c.opted_out, true);
		assert.equal(c.opted_out_keyword, 'DÉSABONNER');
		assertError(await d.api('POST', '/v1/messages', { channel: 'sandbox', to: A, text: 'promo' }), 422, 'recipient_opted_out');
		assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: A, text: 'Volver' }), 201);
		assert.equal((await contactOf(d, 'sandbox', A)).opted_out, false);

		// acme: STOP is its keyword.
		const r = await d.api('POST', '/v1/sandbox/sb2/inbound', { from: B, text: 'stop' }, { 'msgd-org': 'acme' });
		assertStatus(r, 201);
		const cv = assertStatus(await d.api('GET', '/v1/conversations?channel=sb2', undefined, { 'msgd-org': 'acme' }), 200);
		assert.equal(cv.conversations[0].contact.opted_out, true, JSON.stringify(cv));
		assertError(await d.api('POST', '/v1/messages', { channel: 'sb2', to: B, text: 'promo' }, { 'msgd-org': 'acme' }), 422, 'recipient_opted_out');
	});

	msgdTest('sandbox: the confirmation is stored as an outbound reply in the conversation', async (h) => {
		const d = await h.start();
		assertStatus(await d.api('PATCH', '/v1/orgs/default', { settings: { optout: { confirmation: CONFIRM, optin_confirmation: 'Welcome back' } } }), 200);
		const A = '15550003333';
		const m = assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: A, text: 'UNSUBSCRIBE' }), 201);
		const conv = m.message.conversation_id;
		const out = await waitFor(async () => {
			const r = assertStatus(await d.api('GET', `/v1/conversations/${conv}/messages?limit=50`), 200);
			return r.messages.find((x) => x.direction === 'out' && x.text === CONFIRM && x.status === 'read');
		}, 10_000, { what: 'confirmation sent through the sandbox' });
		assert.ok(out);
		assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: A, text: 'START' }), 201);
		await waitFor(async () => {
			const r = assertStatus(await d.api('GET', `/v1/conversations/${conv}/messages?limit=50`), 200);
			return r.messages.find((x) => x.direction === 'out' && x.text === 'Welcome back');
		}, 10_000, { what: 'opt-in confirmation' });
	});
});

function res422Field(e) {
	return e.field ?? 'to';
}
