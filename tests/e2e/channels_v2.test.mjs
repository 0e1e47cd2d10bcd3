// Channels, second generation (issue 13), the parts every type shares:
// capability discovery, refusals before queueing, edits and deletions in
// place, the shared connection state. Telegram and Evolution have their
// own files.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
	msgdTest, assertStatus, assertError, postWebhook, waMessageBody, messagesByProviderId, allEvents,
	corpusFile, waitFor, SEND_PNID,
} from './lib.mjs';
import { sendSetup } from './fake_graph.mjs';

const FROM = '16505551234';

async function ingest(d, body) {
	assertStatus(await postWebhook(d.url, JSON.stringify(body)), 200, 'signed webhook');
}

describe('channels v2', () => {
	msgdTest('GET /v1/channel-types describes every type: config schema (secrets marked) and capabilities', async (h) => {
		const d = await h.start();
		const { channel_types: types } = assertStatus(await d.api('GET', '/v1/channel-types'), 200);
		const byType = Object.fromEntries(types.map((t) => [t.type, t]));
		for (const t of ['whatsapp_cloud', 'sandbox'])
			assert.ok(byType[t], `${t} listed`);
		const wa = byType.whatsapp_cloud;
		const cfg = Object.fromEntries(wa.config.map((k) => [k.name, k]));
		assert.equal(cfg.access_token.secret, true);
		assert.equal(cfg.access_token.required, true);
		assert.equal(cfg.phone_number_id.secret, false);
		assert.equal(wa.capabilities.window_hours, 24);
		assert.equal(wa.capabilities.templates, true);
		assert.ok(wa.capabilities.send_types.includes('template'));
		assert.ok(wa.capabilities.media.find((m) => m.kind === 'image').max_bytes > 0);
		const sb = byType.sandbox;
		assert.equal(sb.capabilities.window_hours, null);
		assert.equal(sb.capabilities.templates, false);
		// The same capabilities on each channel, for the panel.
		const { channels } = assertStatus(await d.api('GET', '/v1/channels'), 200);
		const sandbox = channels.find((c) => c.type === 'sandbox');
		assert.deepEqual(sandbox.capabilities, sb.capabilities);
		assert.ok(sandbox.connection && typeof sandbox.connection.state === 'string');
	});

	msgdTest('a send the channel cannot do is refused with 422 unsupported_by_channel before queueing', async (h) => {
		const d = await h.start();
		const queued = async () => (await allEvents(d)).filter((e) => e.type === 'message.status' && e.data.status === 'queued').length;
		const before = await queued();
		// The sandbox has no provider templates (a local one would be rendered).
		assertError(await d.api('POST', '/v1/messages', { channel: 'sandbox', to: '15550001111',
			template: { name: 'no_such_local_template', language: 'en' } }), 422, 'unsupported_by_channel');
		const r = await d.api('POST', '/v1/messages', { channel: 'sandbox', to: '15550001111',
			text: 'x'.repeat(4097) });
		assert.equal(r.status, 422);
		const res = await d.api('POST', '/v1/messages/batch', { messages: [
			{ channel: 'sandbox', to: '15550001111', text: 'fine' },
			{ channel: 'sandbox', to: '15550001111', template: { name: 'nope' } },
		] });
		assert.equal(res.status, 207, res.text);
		assert.equal(res.json.results[1].error.code, 'unsupported_by_channel', res.text);
		// Only the batch's valid message was queued.
		assert.equal(await queued(), before + 1);
	});

	msgdTest('WhatsApp edits and deletions change the original message in place, with events; no new rows', async (h) => {
		const { d } = await sendSetup(h);
		const edited = JSON.parse(corpusFile('whatsapp_cloud/inbound/edited_message.json'));
		const orig = edited.entry[0].changes[0].value.messages[0].edit.original_message_id;
		const from = edited.entry[0].changes[0].value.messages[0].from;
		await ingest(d, waMessageBody({ pnid: SEND_PNID, id: orig, from, text: 'first words' }));
		const [m0] = await messagesByProviderId(d, orig);
		assert.equal(m0.text, 'first words');

		edited.entry[0].changes[0].value.metadata.phone_number_id = SEND_PNID;
		await ingest(d, edited);
		await ingest(d, edited);  // redelivered: applied once
		const m1 = assertStatus(await d.api('GET', `/v1/messages/${m0.id}`), 200);
		assert.equal(m1.text, 'Updated image caption');
		assert.ok(m1.edited_at);
		assert.equal(m1.edit_history.length, 1);
		assert.equal(m1.edit_history[0].text, 'first words');
		const editId = edited.entry[0].changes[0].value.messages[0].id;
		assert.equal((await messagesByProviderId(d, editId)).length, 0, 'no row for the edit itself');
		const { messages } = assertStatus(await d.api('GET', `/v1/conversations/${m0.conversation_id}/messages`), 200);
		assert.equal(messages.length, 1);

		const del = JSON.parse(corpusFile('whatsapp_cloud/inbound/deleted_message.json'));
		const dm = del.entry[0].changes[0].value.messages[0];
		del.entry[0].changes[0].value.metadata.phone_number_id = SEND_PNID;
		dm.from = from;
		dm.revoke.original_message_id = orig;
		await ingest(d, del);
		const m2 = assertStatus(await d.api('GET', `/v1/messages/${m0.id}`), 200);
		assert.equal(m2.deleted, true);
		assert.ok(m2.deleted_at);
		const evs = await allEvents(d);
		const ed = evs.filter((e) => e.type === 'message.edited');
		assert.equal(ed.length, 1, 'one message.edited for two deliveries');
		assert.equal(ed[0].data.id, m0.id);
		assert.equal(ed[0].data.message.text, 'Updated image caption');
		const dl = evs.filter((e) => e.type === 'message.deleted');
		assert.equal(dl.length, 1);
		assert.equal(dl[0].data.message.deleted, true);
	});

	msgdTest('WhatsApp smb_message_echoes: what the business wrote in the app is stored as sent, never queued; statuses follow it', async (h) => {
		const { d, fake } = await sendSetup(h);
		const body = {
			object: 'whatsapp_business_account',
			entry: [{ id: 'WABA', changes: [{ field: 'smb_message_echoes', value: {
				messaging_product: 'whatsapp',
				metadata: { display_phone_number: '15550783881', phone_number_id: SEND_PNID },
				message_echoes: [{ from: '15550783881', to: '+1 650 555 1234', id: 'wamid.echo.1',
					timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: 'typed on the phone' } }],
			} }] }],
		};
		await ingest(d, body);
		await ingest(d, body);  // redelivered: one message
		const ms = await messagesByProviderId(d, 'wamid.echo.1');
		assert.equal(ms.length, 1);
		const [m] = ms;
		assert.equal(m.direction, 'out');
		assert.equal(m.status, 'sent');
		assert.equal(m.echo, true);
		assert.equal(m.to, '16505551234');
		assert.equal(m.text, 'typed on the phone');
		assert.equal(assertStatus(await d.api('GET', '/v1/channels/wa'), 200).state.queue_depth, 0);
		// The contact's conversation, not unread.
		const conv = assertStatus(await d.api('GET', `/v1/conversations/${m.conversation_id}`), 200);
		assert.equal(conv.contact.address, '16505551234');
		assert.equal(conv.unread_count, 0);
		// A delivery report for it moves it on.
		const st = JSON.parse(corpusFile('whatsapp_cloud/statuses/delivered.json').toString());
		const s = st.entry[0].changes[0].value;
		s.metadata.phone_number_id = SEND_PNID;
		s.statuses[0].id = 'wamid.echo.1';
		await ingest(d, st);
		await waitFor(async () => assertStatus(await d.api('GET', `/v1/messages/${m.id}`), 200).status === 'delivered', 5000, { what: 'delivered' });
		assert.equal(fake.requests?.length ?? 0, 0, 'nothing was sent to the provider');
	});

	msgdTest('an edit of a message msgd never saw is stored as the message it is now', async (h) => {
		const { d } = await sendSetup(h);
		const edited = JSON.parse(corpusFile('whatsapp_cloud/inbound/edited_message.json'));
		edited.entry[0].changes[0].value.metadata.phone_number_id = SEND_PNID;
		await ingest(d, edited);
		const id = edited.entry[0].changes[0].value.messages[0].id;
		const [m] = await messagesByProviderId(d, id);
		assert.equal(m.text, 'Updated image caption');
	});

	msgdTest('the connection state: WhatsApp Cloud is connected once its credentials check out, with a channel.state event', async (h) => {
		const { d } = await sendSetup(h, { start: { env: { MSGD_CREDENTIAL_CHECKS: 'on' } } });
		await waitFor(async () => {
			const c = assertStatus(await d.api('GET', '/v1/channels/wa'), 200);
			return c.connection.state === 'connected';
		}, 10_000, { what: 'wa connected' });
		const ev = (await allEvents(d)).find((e) => e.type === 'channel.state');
		assert.ok(ev, 'channel.state event');
		assert.equal(ev.data.state, 'connected');
		const rz = assertStatus(await d.api('GET', '/readyz'), 200);
		assert.equal(rz.channels.wa.connection.state, 'connected');
	});

	msgdTest('per-channel webhook routes: an unknown type or channel is 404; actions on a type without them are 422', async (h) => {
		const d = await h.start();
		assertError(await d.api('POST', '/webhooks/telegram/999', {}), 404, 'not_found');
		assertError(await d.api('POST', '/webhooks/whatsapp_cloud/1', {}), 404, 'not_found');
		assertError(await d.api('POST', '/v1/channels/sandbox/connect', {}), 422, 'unsupported_by_channel');
		assertError(await d.api('GET', '/v1/channels/sandbox/qr'), 422, 'unsupported_by_channel');
	});
});
