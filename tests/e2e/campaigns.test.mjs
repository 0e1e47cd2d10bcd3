// Campaigns (issue 14): POST /v1/campaigns through the fake Graph API.
// Counters follow the provider's answers and status webhooks (sent,
// delivered, read, failed) and inbound replies; campaign.progress comes at
// most once a second; pause holds the waiting sends, resume releases them,
// cancel cancels the rest; failures and skipped recipients are listed; a
// kill -9 in the middle loses no recipient and sends none twice (outside
// the in-flight window). Runs on SQLite and, with MSGD_TEST_DATABASE, on
// PostgreSQL.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
	msgdTest, assertError, assertStatus, waitFor, postWebhook, waStatusBody, waMessageBody, allEvents,
	sendMessage, waitMessage, corpusFile, request, rfc3339, SEND_PNID, followStream, databaseFor, getMessage,
} from './lib.mjs';
import { sendSetup, corpusError } from './fake_graph.mjs';
import { startFakeTelegram } from './fake_telegram.mjs';

async function getCampaign(d, id) {
	return assertStatus(await d.api('GET', `/v1/campaigns/${id}`), 200, `GET /v1/campaigns/${id}`);
}

async function createCampaign(d, body) {
	const r = await d.api('POST', '/v1/campaigns', body);
	const c = assertStatus(r, 202, 'POST /v1/campaigns');
	assert.equal(typeof c.id, 'number', r.text);
	return c;
}

/** Poll the campaign until pred(campaign) holds. */
async function waitCampaign(d, id, pred, what, deadlineMs = 20_000) {
	return waitFor(async () => { const c = await getCampaign(d, id); return pred(c) && c; }, deadlineMs,
		{ what, intervalMs: 50 });
}

/** Every recipient of a campaign (pages of `limit`), optionally of one status. */
async function allRecipients(d, id, status, limit = 1000) {
	const out = [];
	let after = null;
	for (;;) {
		const q = new URLSearchParams({ limit: String(limit) });
		if (status) q.set('status', status);
		if (after !== null) q.set('after', String(after));
		const page = assertStatus(await d.api('GET', `/v1/campaigns/${id}/recipients?${q}`), 200, 'recipients');
		out.push(...page.recipients);
		if (page.next === null) return out;
		assert.ok(page.next > (after ?? -1), 'next moves on');
		after = page.next;
	}
}

const num = (i) => String(15550001000 + i);
/** The fake's sends to the campaign's numbers, by recipient. */
function sendsByRecipient(fake) {
	const by = new Map();
	for (const r of fake.requests)
		if (r.kind === 'send' && r.to) by.set(r.to, (by.get(r.to) ?? 0) + 1);
	return by;
}

describe('campaigns', () => {
	msgdTest('from recipients: counters reach sent, delivered and read from status webhooks, replies count once; skips named; campaign.progress at most once a second', async (h) => {
		const { d, fake } = await sendSetup(h);
		const stream = followStream(d);
		const arrivals = [];
		const seen = new Set();
		const watch = setInterval(() => {
			for (const e of stream.events)
				if (!seen.has(e.seq)) { seen.add(e.seq); arrivals.push({ e, t: Date.now() }); }
		}, 10);
		h.t.after(() => { clearInterval(watch); return stream.stop(); });
		const recipients = [
			{ to: '+1 555 000 1001', variables: { name: 'Ann' } },
			{ to: num(2), variables: { name: 'Bob' } },
			{ to: num(3), variables: { name: 'Cy' } },
			{ to: num(4), variables: { name: 4 } },
			{ to: '1-555-000-1001', variables: { name: 'Ann again' } },   // the same number: duplicate
			{ to: 'not a number', variables: { name: 'x' } },
			{ to: num(5) },                                                // no {{name}}
		];
		const c = await createCampaign(d, { name: 'spring', channel: 'wa', text: 'Hi {{name}}!', recipients });
		assert.equal(c.name, 'spring');
		assert.equal(c.channel, 'wa');
		assert.equal(c.counters.total, 7);
		const sent = await waitCampaign(d, c.id, (x) => x.counters.sent === 4, 'sent 4');
		assert.deepEqual(sent.counters.skipped_reasons, { duplicate: 1, invalid_address: 1, missing_variable: 1 });
		assert.equal(sent.counters.skipped, 3);
		// The provider got each text once, rendered.
		const texts = fake.requests.filter((r) => r.kind === 'send').map((r) => `${r.to}:${r.body.text.body}`).sort();
		assert.deepEqual(texts, [`${num(1)}:Hi Ann!`, `${num(2)}:Hi Bob!`, `${num(3)}:Hi Cy!`, `${num(4)}:Hi 4!`]);
		// Status webhooks: delivered for all, read for two (one read without a delivery first).
		const ids = new Map(fake.requests.filter((r) => r.kind === 'send').map((r) => [r.to, r.id]));
		for (const n of [1, 2, 3])
			assertStatus(await postWebhook(d.url, waStatusBody('delivered.json', ids.get(num(n)), SEND_PNID)), 200);
		for (const n of [1, 4])
			assertStatus(await postWebhook(d.url, waStatusBody('read.json', ids.get(num(n)), SEND_PNID)), 200);
		// A redelivered report changes nothing.
		assertStatus(await postWebhook(d.url, waStatusBody('delivered.json', ids.get(num(1)), SEND_PNID)), 200);
		const done = await waitCampaign(d, c.id, (x) => x.counters.delivered === 4 && x.counters.read === 2 &&
			x.status === 'completed', 'delivered 4, read 2, completed');
		assert.equal(done.counters.queued, 0);
		assert.equal(done.counters.sent, 4);
		assert.equal(done.counters.failed, 0);
		// A reply counts once per recipient.
		for (const [i, id] of [[1, 'wamid.camp.r1'], [1, 'wamid.camp.r2'], [2, 'wamid.camp.r3']])
			assertStatus(await postWebhook(d.url, waMessageBody({ pnid: SEND_PNID, id, from: num(i), text: 'thanks' })), 200);
		await waitCampaign(d, c.id, (x) => x.counters.replied === 2, 'replied 2');

		const rs = await allRecipients(d, c.id);
		assert.equal(rs.length, 7);
		assert.deepEqual(rs.map((r) => r.idx), [0, 1, 2, 3, 4, 5, 6]);
		assert.deepEqual(rs.map((r) => r.status), ['read', 'delivered', 'delivered', 'read', 'skipped', 'skipped', 'skipped']);
		assert.deepEqual(rs.map((r) => r.skip_reason), [null, null, null, null, 'duplicate', 'invalid_address', 'missing_variable']);
		assert.equal(rs[0].to, num(1));
		for (const r of rs.slice(0, 4)) {
			assert.equal(typeof r.message_id, 'number');
			const m = assertStatus(await d.api('GET', `/v1/messages/${r.message_id}`), 200);
			assert.equal(m.campaign.id, c.id);
		}
		const skipped = await allRecipients(d, c.id, 'skipped', 2);
		assert.deepEqual(skipped.map((r) => r.idx), [4, 5, 6]);

		// Events: started, progress (rate-limited), completed.
		await waitFor(() => arrivals.some((a) => a.e.type === 'campaign.progress' && a.e.data.counters.replied === 2),
			5000, { what: 'the last campaign.progress' });
		const types = arrivals.map((a) => a.e.type).filter((t) => t.startsWith('campaign.'));
		assert.ok(types.includes('campaign.started') && types.includes('campaign.completed'), types.join());
		const prog = arrivals.filter((a) => a.e.type === 'campaign.progress' && a.e.data.id === c.id);
		assert.ok(prog.length >= 2, `progress events: ${prog.length}`);
		for (let i = 1; i < prog.length; i++)
			assert.ok(prog[i].t - prog[i - 1].t >= 700, `campaign.progress ${prog[i].t - prog[i - 1].t} ms after the last`);
		assert.equal(prog.at(-1).e.data.counters.read, 2);
		// Listed.
		const list = assertStatus(await d.api('GET', '/v1/campaigns'), 200);
		assert.deepEqual(list.campaigns.map((x) => x.id), [c.id]);
	});

	msgdTest('pause holds the waiting sends, resume releases them, cancel cancels the rest; impossible transitions 409; each idempotent', async (h) => {
		const { d, fake } = await sendSetup(h);
		const N = 40;
		const recipients = Array.from({ length: N }, (_, i) => ({ to: num(100 + i) }));
		const c = await createCampaign(d, { name: 'paced', channel: 'wa', text: 'paced hello', recipients, rate: 600 });
		assert.equal(c.rate, 600);
		await waitCampaign(d, c.id, (x) => x.counters.sent >= 2, 'sent 2');
		const p = assertStatus(await d.api('POST', `/v1/campaigns/${c.id}/pause`), 200, 'pause');
		assert.equal(p.status, 'paused');
		assert.equal(assertStatus(await d.api('POST', `/v1/campaigns/${c.id}/pause`), 200, 'pause again').status, 'paused');
		const atPause = sendsByRecipient(fake).size;
		// Sync point: a message scheduled 2 s on is sent; the campaign's rows,
		// due every 100 ms, would have gone meanwhile had they not been held.
		const at = rfc3339(Math.floor(Date.now() / 1000) + 2);
		const probe = await sendMessage(d, { channel: 'wa', to: '15559990000', text: 'probe', scheduled_at: at });
		await waitMessage(d, probe.id, 'accepted');
		const whilePaused = [...sendsByRecipient(fake).keys()].filter((k) => k !== '15559990000').length;
		assert.ok(whilePaused <= atPause + 1, `sent while paused: ${whilePaused - atPause} (only one in flight may end)`);
		assert.ok(whilePaused < N);
		const held = await getCampaign(d, c.id);
		assert.equal(held.status, 'paused');
		assert.ok(held.counters.queued > 0);

		const r = assertStatus(await d.api('POST', `/v1/campaigns/${c.id}/resume`), 200, 'resume');
		assert.equal(r.status, 'running');
		assert.equal(assertStatus(await d.api('POST', `/v1/campaigns/${c.id}/resume`), 200, 'resume again').status, 'running');
		await waitCampaign(d, c.id, (x) => x.counters.sent >= whilePaused + 3, 'sending again');

		const k = assertStatus(await d.api('POST', `/v1/campaigns/${c.id}/cancel`), 200, 'cancel');
		assert.equal(k.status, 'cancelled');
		const after = await waitCampaign(d, c.id, (x) => x.counters.queued === 0, 'nothing queued');
		assert.equal(after.counters.sent + after.counters.cancelled + after.counters.failed, N, JSON.stringify(after.counters));
		assert.ok(after.counters.cancelled > 0, JSON.stringify(after.counters));
		assert.ok(after.finished_at);
		const cancelled = await allRecipients(d, c.id, 'cancelled');
		assert.equal(cancelled.length, after.counters.cancelled);
		const m = assertStatus(await d.api('GET', `/v1/messages/${cancelled[0].message_id}`), 200);
		assert.equal(m.status, 'cancelled');
		// Impossible now; cancelling again is not an error.
		assertError(await d.api('POST', `/v1/campaigns/${c.id}/resume`), 409, 'invalid_transition');
		assertError(await d.api('POST', `/v1/campaigns/${c.id}/pause`), 409, 'invalid_transition');
		assert.equal(assertStatus(await d.api('POST', `/v1/campaigns/${c.id}/cancel`), 200).status, 'cancelled');
		assertError(await d.api('POST', '/v1/campaigns/999999/pause'), 404, 'not_found');
		// Nothing more goes out: another probe, then the count.
		const probe2 = await sendMessage(d, { channel: 'wa', to: '15559990001', text: 'probe 2' });
		await waitMessage(d, probe2.id, 'accepted');
		const total = [...sendsByRecipient(fake).keys()].filter((x) => !x.startsWith('155599900')).length;
		assert.equal(total, after.counters.sent + after.counters.failed);
		const types = (await allEvents(d)).map((e) => e.type).filter((t) => t.startsWith('campaign.') && t !== 'campaign.progress');
		assert.deepEqual(types, ['campaign.started', 'campaign.paused', 'campaign.resumed', 'campaign.cancelled']);
	});

	msgdTest('held sends: a paused campaign\'s message can be cancelled alone, an erased contact\'s send fails; the counters follow', async (h) => {
		const { d, fake } = await sendSetup(h);
		const at = rfc3339(Math.floor(Date.now() / 1000) + 3600);
		const c = await createCampaign(d, { name: 'later', channel: 'wa', text: 'hello', scheduled_at: at,
			recipients: [0, 1, 2].map((i) => ({ to: num(400 + i) })) });
		await waitCampaign(d, c.id, (x) => x.status === 'scheduled' && x.counters.queued === 3, 'made, scheduled');
		assert.equal(assertStatus(await d.api('POST', `/v1/campaigns/${c.id}/pause`), 200).status, 'paused');
		const rs = await allRecipients(d, c.id);
		// One message cancelled on its own while held.
		const m1 = assertStatus(await d.api('DELETE', `/v1/messages/${rs[1].message_id}`), 200, 'cancel one');
		assert.equal(m1.status, 'cancelled');
		// The contact of another erased.
		const conv = assertStatus(await d.api('GET', `/v1/conversations?q=${num(402)}`), 200).conversations[0];
		assertStatus(await d.api('DELETE', `/v1/contacts/${conv.contact.id}`), 200, 'erase');
		const mid = await waitCampaign(d, c.id, (x) => x.counters.failed === 1 && x.counters.cancelled === 1, 'failed 1, cancelled 1');
		assert.equal(mid.counters.queued, 1);
		assert.equal(assertStatus(await d.api('POST', `/v1/campaigns/${c.id}/resume`), 200).status, 'scheduled');
		assert.equal(assertStatus(await d.api('POST', `/v1/campaigns/${c.id}/cancel`), 200).status, 'cancelled');
		const end = await waitCampaign(d, c.id, (x) => x.counters.queued === 0, 'nothing queued');
		assert.deepEqual([end.counters.sent, end.counters.failed, end.counters.cancelled], [0, 1, 2]);
		assert.deepEqual((await allRecipients(d, c.id)).map((r) => r.status), ['cancelled', 'cancelled', 'failed']);
		assert.equal(fake.requests.filter((r) => r.kind === 'send').length, 0);
	});

	msgdTest('pacing: scheduled_at starts it then, rate spaces the sends, quiet hours hold them', async (h) => {
		const { d, fake } = await sendSetup(h);
		const startS = Math.floor(Date.now() / 1000) + 2;
		const c = await createCampaign(d, { name: 'timed', channel: 'wa', text: 'timed', scheduled_at: rfc3339(startS),
			rate: 600, recipients: [0, 1, 2, 3, 4].map((i) => ({ to: num(500 + i) })) });
		await waitCampaign(d, c.id, (x) => x.status === 'scheduled', 'scheduled');
		const done = await waitCampaign(d, c.id, (x) => x.status === 'completed', 'completed');
		assert.equal(done.counters.sent, 5);
		assert.ok(done.started_at >= rfc3339(startS), `${done.started_at} before ${rfc3339(startS)}`);
		const walls = fake.requests.filter((r) => r.kind === 'send').map((r) => r.wall).sort((a, b) => a - b);
		assert.ok(walls[0] >= startS * 1000 - 50, 'not before scheduled_at');
		assert.ok(walls[4] - walls[0] >= 4 * 100 * 0.8, `five sends at 600 a minute span ${walls[4] - walls[0]} ms`);
		// Quiet hours around now (UTC): made, held until they end.
		const hm = (ms) => { const t = new Date(ms); return `${String(t.getUTCHours()).padStart(2, '0')}:${String(t.getUTCMinutes()).padStart(2, '0')}`; };
		const q = await createCampaign(d, { name: 'night', channel: 'wa', text: 'night', recipients: [{ to: num(510) }],
			quiet_hours: { start: hm(Date.now() - 3600_000), end: hm(Date.now() + 7200_000), tz: 'UTC' } });
		await waitCampaign(d, q.id, (x) => x.status === 'running' && x.counters.queued === 1, 'made');
		const probe = await sendMessage(d, { channel: 'wa', to: '15559990002', text: 'probe' });
		await waitMessage(d, probe.id, 'accepted');
		assert.ok(!fake.requests.some((r) => r.to === num(510)), 'nothing sent within the quiet hours');
		const types = (await allEvents(d)).filter((e) => e.type === 'campaign.started').map((e) => e.data.id);
		assert.deepEqual(types, [c.id, q.id]);
		// The organization's bulk cooldown holds a second campaign's message to a contact just sent to.
		assertStatus(await d.api('PATCH', '/v1/orgs/default', { settings: { bulk_cooldown_seconds: 3600 } }), 200);
		const c1 = await createCampaign(d, { name: 'first', channel: 'wa', text: 'one', recipients: [{ to: num(520) }] });
		await waitCampaign(d, c1.id, (x) => x.status === 'completed', 'first completed');
		const c2 = await createCampaign(d, { name: 'second', channel: 'wa', text: 'two', recipients: [{ to: num(520) }, { to: num(521) }] });
		await waitCampaign(d, c2.id, (x) => x.counters.sent === 1, 'the other sent');
		const held = (await allRecipients(d, c2.id))[0];
		const m = await getMessage(d, held.message_id);
		assert.equal(m.status, 'queued');
		assert.ok(m.throttled_until, JSON.stringify(m));
		assert.equal(fake.requests.filter((r) => r.to === num(520)).length, 1);
	});

	msgdTest('recipients?status=failed lists the failures with the provider error; keyset pages', async (h) => {
		const { d, fake } = await sendSetup(h);
		fake.rule(num(201), corpusError('131026'));
		fake.rule(num(203), corpusError('131026'));
		const recipients = [200, 201, 202, 203, 204].map((i) => ({ to: num(i) }));
		const c = await createCampaign(d, { name: 'faults', channel: 'wa', text: 'hello', recipients });
		const done = await waitCampaign(d, c.id, (x) => x.status === 'completed', 'completed');
		assert.equal(done.counters.failed, 2);
		assert.equal(done.counters.sent, 3);
		const failed = await allRecipients(d, c.id, 'failed', 1);
		assert.deepEqual(failed.map((r) => r.to), [num(201), num(203)]);
		for (const r of failed) {
			assert.equal(r.status, 'failed');
			assert.equal(r.error.code, 131026, JSON.stringify(r));
		}
		const page = assertStatus(await d.api('GET', `/v1/campaigns/${c.id}/recipients?status=failed&limit=1&after=${failed[0].idx}`), 200);
		assert.deepEqual(page.recipients.map((r) => r.to), [num(203)]);
		assertError(await d.api('GET', `/v1/campaigns/${c.id}/recipients?status=nope`), 400, 'invalid_parameter');
		assertError(await d.api('GET', '/v1/campaigns/424242/recipients'), 404, 'not_found');
	});

	msgdTest('blocked contacts are skipped, counted with the reason', async (h) => {
		const tg = await startFakeTelegram();
		h.t.after(() => tg.close());
		const d = await h.start();
		const ch = assertStatus(await d.api('POST', '/v1/channels', { name: 'tg', type: 'telegram', config: {
			bot_token: tg.token, webhook_secret: 's3cret', api_base_url: tg.url, public_url: d.url,
			rate_per_second: 0, recipient_gap_ms: 0, group_gap_ms: 0 } }), 201);
		const post = (body) => request(d.url, 'POST', ch.webhook_path, JSON.stringify(body),
			{ 'Content-Type': 'application/json', 'X-Telegram-Bot-Api-Secret-Token': 's3cret' });
		const user = { id: 777, is_bot: false, first_name: 'Kim' };
		const chat = { id: 777, type: 'private', first_name: 'Kim' };
		const kicked = JSON.parse(corpusFile('telegram/inbound/my_chat_member_kicked.json').toString());
		kicked.update_id = 21;
		kicked.my_chat_member.chat = chat;
		kicked.my_chat_member.from = user;
		assertStatus(await post(kicked), 200, 'kicked');
		await waitFor(async () => (await allEvents(d)).some((e) => e.type === 'contact.status' && e.data.status === 'blocked'),
			5000, { what: 'contact.status blocked' });
		const c = await createCampaign(d, { name: 'tg', channel: 'tg', text: 'news', recipients: [{ to: '777' }, { to: '778' }] });
		const done = await waitCampaign(d, c.id, (x) => x.status === 'completed', 'completed');
		assert.equal(done.counters.skipped, 1);
		assert.deepEqual(done.counters.skipped_reasons, { blocked: 1 });
		assert.equal(done.counters.sent, 1);
		const sk = await allRecipients(d, c.id, 'skipped');
		assert.deepEqual(sk.map((r) => [r.to, r.skip_reason, r.message_id]), [['777', 'blocked', null]]);
	});

	msgdTest('opted-out contacts are skipped; a provider template must be approved and every one of its variables mapped (synced templates)', async (h) => {
		const { d, fake } = await sendSetup(h, { config: { waba_id: '102290129340398', templates_sync_hours: 0 } });
		fake.templates = [
			{ name: 'order_update', language: 'en_US', status: 'APPROVED', category: 'UTILITY',
				components: [{ type: 'BODY', text: 'Hi {{1}}, order {{2}}' }] },
			{ name: 'promo', language: 'en_US', status: 'REJECTED', category: 'MARKETING', components: [{ type: 'BODY', text: 'x' }] },
		];
		assertStatus(await d.api('POST', '/v1/channels/wa/templates/sync'), 202, 'sync');
		await waitFor(async () => assertStatus(await d.api('GET', '/v1/channels/wa/templates'), 200).sync.synced_at,
			10_000, { what: 'templates synced' });
		// One contact says STOP.
		assertStatus(await postWebhook(d.url, waMessageBody({ pnid: SEND_PNID, id: 'wamid.camp.stop', from: num(301), text: 'STOP' })), 200);
		await waitFor(async () => (await allEvents(d)).some((e) => e.type === 'contact.opted_out'), 5000, { what: 'contact.opted_out' });
		const base = { name: 't', channel: 'wa', template: { name: 'order_update', language: 'en_US' },
			recipients: [{ to: num(300), variables: { first: 'Ann', order: 'A1' } }, { to: num(301), variables: { first: 'Bob', order: 'B2' } }] };
		let e = assertError(await d.api('POST', '/v1/campaigns', { ...base, template: { name: 'promo', language: 'en_US' } }), 422, 'template_not_approved');
		assert.equal(e.field, 'template.name');
		e = assertError(await d.api('POST', '/v1/campaigns', { ...base, variables: { 1: 'first' } }), 422, 'template_params_missing');
		assert.equal(e.field, 'variables');
		const c = await createCampaign(d, { ...base, variables: { 1: 'first', 2: 'order' } });
		const done = await waitCampaign(d, c.id, (x) => x.status === 'completed', 'completed');
		assert.deepEqual(done.counters.skipped_reasons, { opted_out: 1 });
		assert.equal(done.counters.sent, 1);
		const sent = fake.requests.filter((r) => r.kind === 'send' && r.body.type === 'template');
		assert.equal(sent.length, 1);
		assert.equal(sent[0].to, num(300));
		assert.deepEqual(sent[0].body.template.components[0].parameters.map((p) => p.text), ['Ann', 'A1']);
	});

	msgdTest('a provider template with named variables ({{first_name}}) is mapped by name and sent with parameter names', async (h) => {
		const { d, fake } = await sendSetup(h, { config: { waba_id: '102290129340398', templates_sync_hours: 0 } });
		fake.templates = [{ name: 'welcome_named', language: 'en', status: 'APPROVED', category: 'MARKETING', parameter_format: 'NAMED',
			components: [{ type: 'BODY', text: 'Hi {{first_name}}, your code is {{code}}' }] }];
		assertStatus(await d.api('POST', '/v1/channels/wa/templates/sync'), 202, 'sync');
		await waitFor(async () => assertStatus(await d.api('GET', '/v1/channels/wa/templates'), 200).sync.synced_at,
			10_000, { what: 'templates synced' });
		const base = { name: 'named', channel: 'wa', template: { name: 'welcome_named', language: 'en' },
			recipients: [{ to: num(320), variables: { first: 'Ann', promo: 'A1' } }, { to: num(321), variables: { first: 'Bob', promo: 'B2' } }] };
		const e = assertError(await d.api('POST', '/v1/campaigns', { ...base, variables: { first_name: 'first' } }), 422, 'template_params_missing');
		assert.equal(e.field, 'variables');
		const c = await createCampaign(d, { ...base, variables: { first_name: 'first', code: 'promo' } });
		const done = await waitCampaign(d, c.id, (x) => x.status === 'completed', 'completed');
		assert.equal(done.counters.sent, 2);
		const sent = fake.requests.filter((r) => r.kind === 'send' && r.body.type === 'template');
		const got = Object.fromEntries(sent.map((r) => [r.to, r.body.template.components[0].parameters.map((p) => [p.parameter_name, p.text])]));
		assert.deepEqual(got, { [num(320)]: [['first_name', 'Ann'], ['code', 'A1']], [num(321)]: [['first_name', 'Bob'], ['code', 'B2']] });
	});

	msgdTest('a campaign that is not valid is refused with 422 before anything is stored', async (h) => {
		const { d, fake } = await sendSetup(h);
		assertStatus(await d.api('POST', '/v1/templates', { name: 'greet', language: 'en', body: 'Hi {{name}}, {{offer}}' }), 201);
		const ok = { name: 'x', channel: 'wa', text: 'hi', recipients: [{ to: num(1) }] };
		const bad = [
			[{ ...ok, name: undefined }, 'validation_failed', 'name'],
			[{ ...ok, channel: 'nope' }, 'validation_failed', 'channel'],
			[{ ...ok, recipients: [] }, 'validation_failed', 'recipients'],
			[{ ...ok, recipients: [{ to: num(1), extra: 1 }] }, 'validation_failed', 'recipients[].extra'],
			[{ ...ok, recipients: [{ to: num(1), variables: { a: {} } }] }, 'validation_failed', 'recipients[0]'],
			[{ ...ok, template: { name: 'greet' } }, 'validation_failed', 'text'],
			[{ ...ok, text: undefined }, 'validation_failed', 'text'],
			[{ ...ok, text: 'Hi {{name' }, 'validation_failed', 'text'],
			[{ ...ok, rate: 0 }, 'validation_failed', 'rate'],
			[{ ...ok, rate: 1.5 }, 'validation_failed', 'rate'],
			[{ ...ok, scheduled_at: 'tomorrow' }, 'validation_failed', 'scheduled_at'],
			[{ ...ok, quiet_hours: { start: '21:00', end: '21:00' } }, 'validation_failed', 'quiet_hours'],
			[{ ...ok, quiet_hours: { start: '21:00', end: '08:00', tz: 'Mars/Olympus' } }, 'validation_failed', 'quiet_hours'],
			[{ ...ok, import_id: 1 }, 'validation_failed', 'recipients'],
			[{ ...ok, recipients: undefined, import_id: 'imp_1' }, 'validation_failed', 'import_id'],
			[{ ...ok, recipients: undefined, import_id: 424242 }, 'import_not_found', 'import_id'],
			[{ ...ok, surprise: true }, 'validation_failed', 'surprise'],
			[{ ...ok, text: undefined, template: { name: 'greet' }, variables: { name: 'first' } }, 'unmapped_variable', 'variables'],
			[{ ...ok, text: undefined, template: { name: 'approved_one', language: 'en' }, variables: { 2: 'x' } }, 'unmapped_variable', 'variables'],
		];
		for (const [body, code, field] of bad) {
			const e = assertError(await d.api('POST', '/v1/campaigns', body), 422, code);
			assert.equal(e.field, field, JSON.stringify(body));
		}
		assertError(await d.api('POST', '/v1/campaigns', '{"name":'), [400, 422]);
		assert.deepEqual(assertStatus(await d.api('GET', '/v1/campaigns'), 200).campaigns, []);
		assert.equal(fake.requests.length, 0);
		// Mapped: a local template fills from the columns and literals.
		const c = await createCampaign(d, { ...ok, text: undefined, template: { name: 'greet' },
			variables: { name: 'first', offer: { value: '10% off' } },
			recipients: [{ to: num(1), variables: { first: 'Ann' } }] });
		await waitCampaign(d, c.id, (x) => x.status === 'completed', 'completed');
		assert.equal(fake.requests[0].body.text.body, 'Hi Ann, 10% off');
	});

	msgdTest('from a validated import: its valid rows are the recipients, its variables fill the text', async (h) => {
		const { d, fake } = await sendSetup(h);
		const csv = 'Phone,First Name,City\n+1 555 000 5001,Ann,Oslo\nnot a phone,Bob,Rome\n15550005002,Cy,Lima\n1 555 000 5001,Ann again,Oslo\n';
		const up = await d.api('POST', '/v1/files', csv, { 'content-type': 'text/csv' });
		const file = assertStatus(up, 201, 'upload');
		const imp = assertStatus(await d.api('POST', '/v1/imports', { file_id: file.id, channel: 'wa',
			mapping: { phone: 'Phone', variables: { name: 'First Name', city: 'City' } } }), 202, 'import');
		const done = await waitFor(async () => {
			const g = assertStatus(await d.api('GET', `/v1/imports/${imp.id}`), 200);
			return g.status !== 'parsing' && g;
		}, 10_000, { what: 'import validated' });
		assert.equal(done.status, 'validated', JSON.stringify(done));
		assert.equal(done.counts.valid, 2);
		const c = await createCampaign(d, { name: 'from import', channel: 'wa', import_id: imp.id, text: 'Hi {{name}} in {{city}}' });
		assert.equal(c.counters.total, 2);
		const fin = await waitCampaign(d, c.id, (x) => x.status === 'completed', 'completed');
		assert.equal(fin.counters.sent, 2);
		const texts = fake.requests.filter((r) => r.kind === 'send').map((r) => `${r.to}:${r.body.text.body}`).sort();
		assert.deepEqual(texts, [`${num(4001)}:Hi Ann in Oslo`, `${num(4002)}:Hi Cy in Lima`]);
		const rs = await allRecipients(d, c.id);
		assert.deepEqual(rs.map((r) => [r.idx, r.to, r.variables.name]), [[0, num(4001), 'Ann'], [1, num(4002), 'Cy']]);
		// A text that needs a variable the import's rows do not have: refused before it starts.
		const e = assertError(await d.api('POST', '/v1/campaigns', { name: 'missing', channel: 'wa', import_id: imp.id,
			text: 'Hi {{surname}}' }), 422, 'unmapped_variable');
		assert.equal(e.field, 'text');
	});

	msgdTest('an import an unfinished campaign reads cannot be deleted (409 import_in_use); once it is cancelled or completed it can', async (h) => {
		const { d } = await sendSetup(h);
		const importOf = async (csv) => {
			const file = assertStatus(await d.api('POST', '/v1/files', csv, { 'content-type': 'text/csv' }), 201, 'upload');
			const imp = assertStatus(await d.api('POST', '/v1/imports', { file_id: file.id, channel: 'wa',
				mapping: { phone: 'Phone' } }), 202, 'import');
			const done = await waitFor(async () => {
				const g = assertStatus(await d.api('GET', `/v1/imports/${imp.id}`), 200);
				return g.status !== 'parsing' && g;
			}, 10_000, { what: 'import validated' });
			assert.equal(done.status, 'validated', JSON.stringify(done));
			return imp.id;
		};
		const a = await importOf('Phone\n15550007001\n15550007002\n');
		const b = await importOf('Phone\n15550007003\n');
		// Scheduled an hour on: unfinished (scheduled) while the test runs.
		const later = rfc3339(Math.floor(Date.now() / 1000) + 3600);
		const c = await createCampaign(d, { name: 'later', channel: 'wa', import_id: a, text: 'hello', scheduled_at: later });
		const e = assertError(await d.api('DELETE', `/v1/imports/${a}`), 409, 'import_in_use');
		assert.match(e.message, new RegExp(`campaign ${c.id}`));
		assertStatus(await d.api('GET', `/v1/imports/${a}`), 200, 'still there');
		// Another import of the organization is not held by it.
		assert.equal((await d.api('DELETE', `/v1/imports/${b}`)).status, 204);
		assert.equal(assertStatus(await d.api('POST', `/v1/campaigns/${c.id}/cancel`), 200, 'cancel').status, 'cancelled');
		assert.equal((await d.api('DELETE', `/v1/imports/${a}`)).status, 204);
		assertError(await d.api('GET', `/v1/imports/${a}`), 404, 'not_found');
		// A completed campaign holds nothing either.
		const x = await importOf('Phone\n15550007004\n');
		const c2 = await createCampaign(d, { name: 'now', channel: 'wa', import_id: x, text: 'hello' });
		await waitCampaign(d, c2.id, (y) => y.status === 'completed', 'completed');
		assert.equal((await d.api('DELETE', `/v1/imports/${x}`)).status, 204);
	});

	msgdTest('two instances: one dies while making a campaign, the other takes it over; none twice, none lost', async (h) => {
		const LEASES = { MSGD_OUTBOX_LEASE_MS: '2000', MSGD_DISPATCH_LEASE_MS: '1500' };
		const { d, fake } = await sendSetup(h, { start: { env: { ...LEASES, MSGD_INSTANCE_ID: 'a' } } });
		const b = await h.start({ token: d.token, env: { ...LEASES, MSGD_DATABASE: databaseFor(d.dataDir), MSGD_INSTANCE_ID: 'b' } });
		const N = 6000;
		const recipients = Array.from({ length: N }, (_, i) => ({ to: num(20000 + i) }));
		const c = await createCampaign(d, { name: 'orphan', channel: 'wa', text: 'hi', recipients });
		await d.kill9();  // a took the POST: its messages were being made there
		const done = await waitCampaign(b, c.id, (x) => x.status === 'completed', 'completed on b', 120_000);
		assert.equal(done.counters.sent, N, JSON.stringify(done.counters));
		assert.match(b.logs(), /taking it over/);
		const rs = await allRecipients(b, c.id);
		assert.equal(rs.length, N);
		assert.equal(new Set(rs.map((r) => r.message_id)).size, N);
		const by = sendsByRecipient(fake);
		assert.equal(recipients.filter((r) => !by.has(r.to)).length, 0, 'none lost');
		const uncertain = [...b.logs().matchAll(/(?:marked uncertain|retried, marked uncertain).*?count=(\d+)/g)].reduce((k, m) => k + Number(m[1]), 0);
		const twice = [...by.values()].reduce((n, k) => n + k - 1, 0);
		assert.ok(twice <= uncertain, `${twice} sent twice > ${uncertain} in flight at the kill`);
	}, { timeout: 180_000, skip: (process.env.MSGD_TEST_DATABASE || '').startsWith('postgres') ? false : 'needs PostgreSQL (two instances)' });

	msgdTest('kill -9 while it is made and while it sends: after restarts every recipient is sent, none twice outside the in-flight window', async (h) => {
		const { d, fake } = await sendSetup(h);
		const N = 3000;
		const recipients = Array.from({ length: N }, (_, i) => ({ to: num(10000 + i), variables: { i } }));
		const c = await createCampaign(d, { name: 'crash', channel: 'wa', text: 'n {{i}}', recipients });
		await d.kill9();  // right after the 202: the row is durable, the messages being made
		const d2 = await h.start({ dataDir: d.dataDir, token: d.token });
		await waitCampaign(d2, c.id, (x) => x.counters.sent >= 300, 'sending', 60_000);
		await d2.kill9();  // in the middle of the sends
		const d3 = await h.start({ dataDir: d.dataDir, token: d.token });
		const done = await waitCampaign(d3, c.id, (x) => x.status === 'completed', 'completed', 120_000);
		assert.equal(done.counters.total, N);
		assert.equal(done.counters.sent, N, JSON.stringify(done.counters));
		assert.equal(done.counters.skipped, 0);
		const rs = await allRecipients(d3, c.id);
		assert.equal(rs.length, N);
		assert.equal(new Set(rs.map((r) => r.message_id)).size, N, 'one message per recipient');
		assert.ok(rs.every((r) => r.status === 'accepted'), 'all accepted');
		const by = sendsByRecipient(fake);
		const missing = recipients.filter((r) => !by.has(r.to));
		assert.equal(missing.length, 0, `never sent: ${missing.slice(0, 5).map((r) => r.to)}`);
		// Only what msgd found in flight at a restart (marked uncertain) may go twice.
		const uncertain = [d2, d3].reduce((n, x) =>
			n + [...x.logs().matchAll(/marked uncertain.*?count=(\d+)/g)].reduce((k, m) => k + Number(m[1]), 0), 0);
		const twice = [...by.values()].reduce((n, k) => n + k - 1, 0);
		assert.ok(twice <= uncertain, `${twice} sent twice > ${uncertain} in flight at the kills`);
	}, { timeout: 240_000 });
});
