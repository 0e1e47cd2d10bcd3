// The evolution channel type end to end with the fake Evolution API: connect
// sets the instance's webhook and starts QR pairing, the QR code follows
// qrcode.updated, the channel shows connected when the phone pairs, and the
// webhooks Evolution posts (messages, group messages, echoes, statuses,
// deletions) are stored; a body with another apikey is refused.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { msgdTest, assertStatus, assertError, waitFor, sendMessage, waitMessage, allEvents } from './lib.mjs';
import { startFakeEvolution } from './fake_evolution.mjs';

const KEY = 'evo-key-e2e-0002';

async function setup(h) {
	const fake = await startFakeEvolution({ instance: 'tigo1', apikey: KEY, number: '15550100002' });
	h.t.after(() => fake.close());
	const d = await h.start();
	const res = await d.api('POST', '/v1/channels', {
		name: 'wweb', type: 'evolution',
		config: { api_base_url: fake.url, api_key: KEY, instance: 'tigo1', public_url: `${d.url}/`, rate_per_second: 50, recipient_gap_ms: 0 },
	});
	const ch = assertStatus(res, 201, 'create the evolution channel');
	assert.match(ch.webhook_path, /^\/webhooks\/evolution\/\d+$/);
	return { d, fake, ch };
}

async function connection(d) {
	return assertStatus(await d.api('GET', '/v1/channels/wweb'), 200).connection;
}

// channel.state events, in order: what connect()/disconnect() reported
// through channel_submit() as well as what the webhooks said.
async function stateEvents(d) {
	return (await allEvents(d)).filter((e) => e.type === 'channel.state').map((e) => e.data);
}

async function conversations(d) {
	return assertStatus(await d.api('GET', '/v1/conversations'), 200).conversations;
}

describe('evolution channel: pairing and webhooks', () => {
	msgdTest('connect sets the webhook, pairs by QR code, follows qrcode.updated and connection.update; disconnect logs out', async (h) => {
		const { d, fake, ch } = await setup(h);
		const c = assertStatus(await d.api('POST', '/v1/channels/wweb/connect'), 202);
		assert.equal(c.channel, 'wweb');

		await waitFor(() => fake.requests.some((r) => r.path === '/instance/connect/tigo1' && r.status === 200), 5000, { what: 'GET /instance/connect' });
		const set = fake.requests.find((r) => r.path === '/webhook/set/tigo1');
		assert.ok(set, 'webhook/set was called');
		assert.equal(set.apikey, KEY);
		assert.equal(set.body.webhook.url, `${d.url}${ch.webhook_path}`);
		assert.deepEqual(set.body.webhook.events, ['MESSAGES_UPSERT', 'MESSAGES_UPDATE', 'CONNECTION_UPDATE', 'QRCODE_UPDATED']);
		assert.ok(set.n < fake.requests.find((r) => r.path === '/instance/connect/tigo1').n, 'the webhook is set first');

		const inst = fake.instances.get('tigo1');
		const qr1 = await waitFor(async () => {
			const r = await d.api('GET', '/v1/channels/wweb/qr');
			return r.status === 200 && r.json.qr === inst.qr ? r.json : null;
		}, 5000, { what: 'the QR code of GET /instance/connect' });
		assert.match(qr1.pairing_code ?? '', /^FAKE/);
		// The same code rendered (libqrencode): a PNG and an SVG, never cached.
		const png = await fetch(`${d.url}/v1/channels/wweb/qr?format=png&scale=4`, { headers: { authorization: `Bearer ${d.token}` } });
		assert.equal(png.status, 200);
		assert.equal(png.headers.get('content-type'), 'image/png');
		assert.equal(png.headers.get('cache-control'), 'no-store');
		const pb = Buffer.from(await png.arrayBuffer());
		assert.deepEqual([...pb.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
		const svg = await fetch(`${d.url}/v1/channels/wweb/qr?format=svg`, { headers: { authorization: `Bearer ${d.token}` } });
		assert.equal(svg.headers.get('content-type'), 'image/svg+xml');
		assert.match(await svg.text(), /^<\?xml[\s\S]*<svg[\s\S]*<path /);
		assertError(await d.api('GET', '/v1/channels/wweb/qr?format=gif'), 400, 'invalid_parameter');
		assertError(await d.api('GET', '/v1/channels/wweb/qr?format=png&scale=99'), 400, 'invalid_parameter');
		const st = (await stateEvents(d)).map((e) => e.state);
		assert.deepEqual(st, ['connecting', 'pairing'], JSON.stringify(st));
		await waitFor(async () => (await connection(d)).state === 'pairing', 5000, { what: 'the channel shows pairing' });

		// Evolution rotates the code: the API follows.
		const r2 = await fake.qrcode('tigo1', { code: '2@FAKErotated,abc=,def=,ghi=' });
		assert.equal(r2.status, 200, r2.text);
		await waitFor(async () => (await d.api('GET', '/v1/channels/wweb/qr')).json?.qr === '2@FAKErotated,abc=,def=,ghi=', 5000, { what: 'the rotated QR' });

		// The phone scans it.
		assert.equal((await fake.pair('tigo1')).status, 200);
		await waitFor(async () => (await connection(d)).state === 'connected', 5000, { what: 'connected' });
		const ev = await allEvents(d);
		assert.deepEqual(ev.filter((e) => e.type === 'channel.state').map((e) => [e.data.state, e.data.qr_updated]),
		    [['connecting', false], ['pairing', true], ['pairing', true], ['connected', false]]);
		assert.ok(!JSON.stringify(ev).includes(KEY), 'the api_key is in no event');
		assert.ok(!JSON.stringify(ev).includes('2@FAKErotated'), 'the QR code is in no event');

		// Logged out from the phone: 401 says pair again.
		await fake.connection('tigo1', 'close', 401);
		await waitFor(async () => (await connection(d)).reason === 'logged out: pair again', 5000, { what: 'disconnected' });
		assert.equal((await connection(d)).state, 'disconnected');

		// Disconnect from msgd.
		inst.state = 'open';
		assertStatus(await d.api('POST', '/v1/channels/wweb/disconnect'), 202);
		await waitFor(() => fake.requests.some((r) => r.method === 'DELETE' && r.path === '/instance/logout/tigo1'), 5000, { what: 'DELETE /instance/logout' });
		await waitFor(async () => (await stateEvents(d)).some((e) => e.state === 'disconnected' && e.reason === 'logged out'), 5000, { what: 'logged out' });
	});

	msgdTest('connect against a wrong api_key reports an error state', async (h) => {
		const { d, fake } = await setup(h);
		fake.instances.get('tigo1').apikey = 'another-key';
		assertStatus(await d.api('POST', '/v1/channels/wweb/connect'), 202);
		const err = await waitFor(async () => (await stateEvents(d)).find((e) => e.state === 'error'), 5000, { what: 'error state' });
		assert.match(err.reason, /api_key/);
		await waitFor(async () => (await connection(d)).state === 'error', 5000, { what: 'the channel shows error' });
		assert.ok(!err.reason.includes(KEY));
		assert.equal(fake.requests.filter((r) => r.path === '/instance/connect/tigo1').length, 0, 'no connect after the webhook was refused');
	});

	msgdTest('messages, group messages, echoes, statuses and deletions from webhooks; another apikey is refused', async (h) => {
		const { d, fake, ch } = await setup(h);
		const url = `${d.url}${ch.webhook_path}`;

		const r1 = await fake.upsert('tigo1', { from: '15550100001', text: 'hola', id: '3EB0IN1', pushName: 'Test Customer' }, { url });
		assert.equal(r1.status, 200, r1.text);
		let conv = await conversations(d);
		assert.equal(conv.length, 1);
		assert.deepEqual({ address: conv[0].contact.address, name: conv[0].contact.name }, { address: '15550100001', name: 'Test Customer' });
		const msgs = assertStatus(await d.api('GET', `/v1/conversations/${conv[0].id}/messages`), 200).messages;
		assert.equal(msgs[0].text, 'hola');
		assert.equal(msgs[0].direction, 'in');
		assert.equal(msgs[0].provider_message_id, '3EB0IN1');

		// Redelivered: one message.
		assert.equal((await fake.upsert('tigo1', { from: '15550100001', text: 'hola', id: '3EB0IN1' }, { url })).status, 200);
		assert.equal(assertStatus(await d.api('GET', `/v1/conversations/${conv[0].id}/messages`), 200).messages.length, 1);

		// A group: the conversation is the group, the sender its participant.
		const g = await fake.upsert('tigo1', { group: '120363025246125888@g.us', participant: '15550100009@s.whatsapp.net', pushName: 'Ana', text: 'hi all', id: '3EB0GRP1' }, { url });
		assert.equal(g.status, 200, g.text);
		conv = await conversations(d);
		const gc = conv.find((c) => c.contact.address === '120363025246125888@g.us');
		assert.ok(gc, JSON.stringify(conv));
		const gm = assertStatus(await d.api('GET', `/v1/conversations/${gc.id}/messages`), 200).messages[0];
		assert.equal(gm.from, '15550100009');
		assert.deepEqual(gm.sender, { id: '15550100009', name: 'Ana' }, JSON.stringify(gm));
		assert.equal(gm.group_id, '120363025246125888@g.us');

		// An echo: written on the business's phone: stored as sent, never sent again.
		const sendsBefore = fake.sends().length;
		assert.equal((await fake.upsert('tigo1', { from: '15550100001', text: 'from my phone', id: '3EB0ECHO1', fromMe: true, pushName: 'Biz' }, { url })).status, 200);
		const echo = await waitFor(async () => {
			const r = await d.api('GET', '/v1/messages?provider_message_id=3EB0ECHO1');
			return r.json?.messages?.[0];
		}, 5000, { what: 'the echo' });
		assert.equal(echo.direction, 'out');
		assert.equal(echo.text, 'from my phone');
		assert.notEqual(echo.status, 'queued');
		conv = await conversations(d);
		assert.equal(conv.find((c) => c.contact.address === '15550100001').contact.name, 'Test Customer', 'the business\'s own name is not the contact\'s');
		await new Promise((r) => setTimeout(r, 300));
		assert.equal(fake.sends().length, sendsBefore, 'an echo is never queued');

		// Statuses of a message msgd sent: forward only.
		const m0 = await sendMessage(d, { channel: 'wweb', to: '15550100001', text: 'status me' });
		const m = await waitMessage(d, m0.id, 'accepted');
		assert.equal((await fake.update('tigo1', { keyId: m.provider_message_id, status: 'DELIVERY_ACK' }, { url })).status, 200);
		await waitMessage(d, m0.id, 'delivered');
		assert.equal((await fake.update('tigo1', { keyId: m.provider_message_id, status: 'READ' }, { url })).status, 200);
		await waitMessage(d, m0.id, 'read');
		assert.equal((await fake.update('tigo1', { keyId: m.provider_message_id, status: 'SERVER_ACK' }, { url })).status, 200);
		assert.equal(assertStatus(await d.api('GET', `/v1/messages/${m0.id}`), 200).status, 'read');

		// Deleted by the contact: marked deleted, no new row.
		assert.equal((await fake.update('tigo1', { keyId: '3EB0IN1', status: 'DELETED', fromMe: false }, { url })).status, 200);
		await waitFor(async () => {
			const r = await d.api('GET', '/v1/messages?provider_message_id=3EB0IN1');
			return r.json?.messages?.length === 1 && r.json.messages[0].deleted ? true : null;
		}, 5000, { what: 'the deletion' });

		// Another key, another instance, not an event: refused, nothing stored.
		const before = (await allEvents(d)).length;
		assertError(await fake.upsert('tigo1', { text: 'forged', id: '3EB0FORGED' }, { url, apikey: 'guess' }), 401, 'unauthorized');
		const other = await fake.emit('tigo1', 'messages.upsert', {}, { url, body: { event: 'messages.upsert', instance: 'tigo2', apikey: KEY, data: {} } });
		assertError(other, 401, 'unauthorized');
		assertError(await fake.emit('tigo1', 'x', {}, { url, body: [] }), 400, 'invalid_request');
		assert.equal((await allEvents(d)).length, before);
	});
});
