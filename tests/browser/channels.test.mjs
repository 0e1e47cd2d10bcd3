// channels.test.mjs - channels v2 in the panel, in a real browser (Debian's
// chromium driven by playwright-core) against a real msgd:
// - capabilities drive the composer: a sandbox conversation (no service
//   window, no provider templates, a text cap with a counter, location)
//   against a WhatsApp Cloud one (the 24 h window, provider templates,
//   reply and react); refusals (recipient_blocked) said in the composer;
// - the connection badge follows channel.state events live (a WhatsApp
//   channel whose credential check fails, then passes, against a fake Graph);
// - edited and deleted WhatsApp messages change their bubble in place (the
//   corpus edited_message.json / deleted_message.json aimed at a known
//   original), group senders and button payloads are shown;
// - a Telegram conversation (fake Bot API): Connect from the status page,
//   the badge going live to connected, a group message with its sender, a
//   button press, an edit in place, Disconnect;
// - an Evolution channel (fake Evolution API): the QR pairing page
//   (connect, the QR image and pairing code, a rotated code taken at once,
//   the text fallback, "Connected"), then a contact's and a group's
//   conversation.
//
// Env: as inbox.test.mjs (MSGD_BIN, CHROMIUM, CORPUS). Screenshots and, on
// failure, the daemon log go to tests/browser/artifacts/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import {
	startMsgd, waitFor, assertStatus, postWebhook, waMessageBody, corpusFile, createSendChannel, messagesByProviderId,
	SEND_PNID, SEND_TOKEN,
} from '../e2e/lib.mjs';
import { startFakeGraph } from '../e2e/fake_graph.mjs';
import { startFakeTelegram, textUpdate } from '../e2e/fake_telegram.mjs';
import { startFakeEvolution } from '../e2e/fake_evolution.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
process.env.MSGD_BIN ||= path.join(REPO, 'build', 'test', 'msgd');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.join(HERE, 'artifacts');
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	'--disable-background-networking', '--disable-component-update', '--disable-sync'];

// A daemon, a browser signed in with the admin token, and clean-up that keeps
// the daemon log and a screenshot when the test fails.
async function session(t, name, { env = {} } = {}) {
	fs.mkdirSync(ARTIFACTS, { recursive: true });
	const token = `adm_${crypto.randomBytes(12).toString('hex')}`;
	const d = await startMsgd({ token, name, env });
	const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-chromium-'));
	const s = { d, token, failed: true, pageErrors: [], ctx: null, page: null, closers: [] };
	s.open = async () => {
		s.ctx = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 800 } });
		const page = s.ctx.pages()[0] ?? await s.ctx.newPage();
		page.on('pageerror', (e) => s.pageErrors.push(String(e)));
		page.on('console', (m) => { if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) s.pageErrors.push(m.text()); });
		await page.goto(d.url + '/');
		await page.fill('#token', token);
		await page.click('#login-form button[type=submit]');
		await page.locator('#app').waitFor({ state: 'visible' });
		s.page = page;
		return page;
	};
	s.done = () => { assert.deepEqual(s.pageErrors, [], 'no script errors or CSP violations'); s.failed = false; };
	t.after(async () => {
		if (s.ctx) {
			if (s.failed) {
				for (const p of s.ctx.pages()) await p.screenshot({ path: path.join(ARTIFACTS, `${name}-failure.png`) }).catch(() => {});
				if (s.pageErrors.length) t.diagnostic('page errors: ' + s.pageErrors.join('\n'));
			}
			await s.ctx.close();
		}
		fs.rmSync(userDataDir, { recursive: true, force: true });
		for (const c of s.closers) await c();
		if (s.failed) {
			if (d.alive) { d.proc.kill('SIGKILL'); await d.exited; }
			const f = d.saveLog();
			if (f) t.diagnostic(`daemon log: ${f}`);
		} else {
			await d.stop();
			fs.rmSync(d.dataDir, { recursive: true, force: true });
		}
	});
	return s;
}

const FROM = '16505551234';

test('panel channels v2: capabilities drive the composer, the connection badge is live, edits and deletions in place', { timeout: 150_000 }, async (t) => {
	const fake = await startFakeGraph();
	const s = await session(t, 'browser-channels-wa', { env: { MSGD_CREDENTIAL_CHECKS: 'on' } });
	s.closers.push(() => fake.close());
	const { d } = s;

	// A WhatsApp Cloud channel (window enforced) whose credentials check out: connected.
	await createSendChannel(d, fake.url, { enforce_window: true });
	await waitFor(async () => (await d.api('GET', '/v1/channels/wa')).json.connection.state === 'connected', 10_000, { what: 'wa connected' });
	const edited = JSON.parse(corpusFile('whatsapp_cloud/inbound/edited_message.json'));
	const orig = edited.entry[0].changes[0].value.messages[0].edit.original_message_id;
	assert.equal(edited.entry[0].changes[0].value.messages[0].from, FROM);
	assertStatus(await postWebhook(d.url, JSON.stringify(waMessageBody({ pnid: SEND_PNID, id: orig, from: FROM, name: 'Linus Webhook', text: 'first words' }))), 200, 'original');
	const [m0] = await messagesByProviderId(d, orig);
	assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '15550001111', name: 'Ada Lovelace', text: 'hello from ada' }), 201, 'sandbox inbound');

	const page = await s.open();

	// --- the sandbox: no window, no provider templates, a text cap, location.
	await page.locator('.conv', { hasText: 'Ada Lovelace' }).click();
	await page.locator('#messages .msg.in', { hasText: 'hello from ada' }).waitFor();
	assert.equal(await page.locator('#window').innerText(), '', 'no service window on the sandbox');
	await page.click('#tpl-btn');
	await page.locator('#tpl-box').waitFor({ state: 'visible' });
	assert.equal(await page.locator('#tpl-select option[value="wa"]').count(), 0, 'no provider templates on the sandbox');
	await page.click('#tpl-close');
	assert.equal(await page.locator('#loc-btn').isVisible(), true, 'the sandbox sends locations');
	assert.equal(await page.locator('#attach-btn').isVisible(), true);
	const max = (await d.api('GET', '/v1/channels/sandbox')).json.capabilities.max_text_length;
	assert.ok(max > 0);
	await page.fill('#composer-text', 'x'.repeat(max + 1));
	await page.locator('#text-count.over', { hasText: `${max + 1} / ${max}` }).waitFor();
	await page.press('#composer-text', 'Enter');
	await page.locator('#composer-error', { hasText: `Too long for this channel: at most ${max} characters.` }).waitFor();
	assert.equal(await page.locator('#messages .msg.out').count(), 0, 'nothing sent');
	await page.fill('#composer-text', '');
	await page.click('#loc-btn');
	await page.fill('#loc-lat', '52.52');
	await page.fill('#loc-lng', '13.405');
	await page.fill('#loc-name', 'Berlin');
	await page.click('#loc-send');
	await page.locator('#messages .msg.out', { hasText: 'Berlin' }).waitFor();
	assert.match(await page.locator('#messages .msg.out', { hasText: 'Berlin' }).innerText(), /Location/);

	// --- WhatsApp: the 24 h window, provider templates, connected.
	const conv = page.locator('.conv', { hasText: 'Linus Webhook' });
	await conv.click();
	const bubble = page.locator(`#messages .msg[data-id="${m0.id}"]`);
	await bubble.waitFor();
	await page.locator('#window', { hasText: /^24 h window open/ }).waitFor();
	await page.click('#tpl-btn');
	assert.equal(await page.locator('#tpl-select option[value="wa"]').count(), 1, 'provider templates on WhatsApp');
	await page.click('#tpl-close');
	// Its approved templates, synced from the Graph API, with how many values each needs.
	fake.templates = [
		{ name: 'order_update', language: 'en_US', status: 'APPROVED', category: 'UTILITY', components: [
			{ type: 'BODY', text: 'Hi {{1}}, order {{2}} ships today' }] },
		{ name: 'promo', language: 'en_US', status: 'REJECTED', category: 'MARKETING', components: [{ type: 'BODY', text: 'Sale' }] },
	];
	assertStatus(await d.api('PATCH', '/v1/channels/wa', { config: { waba_id: '102290129340398', templates_sync_hours: 0 } }), 200, 'waba_id');
	assertStatus(await d.api('POST', '/v1/channels/wa/templates/sync'), 202, 'sync');
	await waitFor(async () => (await d.api('GET', '/v1/channels/wa/templates')).json.templates.length === 2, 10_000, { what: 'templates synced' });
	await page.click('#tpl-btn');
	const approved = page.locator('#tpl-select option', { hasText: 'order_update (en_US) \u00B7 2 variables' });
	await approved.waitFor({ state: 'attached' });
	assert.equal(await page.locator('#tpl-select option', { hasText: 'promo' }).count(), 0, 'only approved templates are offered');
	await page.selectOption('#tpl-select', await approved.getAttribute('value'));
	assert.equal(await page.locator('#tpl-vars input').count(), 2, 'one input per variable');
	await page.fill('#tplv0', 'Linus');
	await page.locator('#tpl-preview', { hasText: 'Hi Linus, order {{2}} ships today' }).waitFor();
	await page.click('#tpl-close');
	const head = page.locator('#thread-conn [data-conn-channel="wa"]');
	assert.equal(await head.getAttribute('data-state'), 'connected');
	assert.match(await head.getAttribute('class'), /conn-ok/);
	assert.equal(await conv.locator('.conn.dot[data-conn-channel="wa"]').getAttribute('data-state'), 'connected');

	// Reply and react, offered because WhatsApp can.
	await bubble.locator('button.reply').click();
	await page.locator('#reply-bar', { hasText: 'first words' }).waitFor();
	await page.fill('#composer-text', 'answering your first words');
	await page.press('#composer-text', 'Enter');
	await page.locator('#messages .msg.out', { hasText: 'answering your first words' }).waitFor();
	assert.equal(await page.locator('#reply-bar').isVisible(), false);
	const reply = (await d.api('GET', `/v1/conversations/${m0.conversation_id}/messages`)).json.messages.find((m) => m.text === 'answering your first words');
	assert.equal(reply.reply_to.message_id, m0.id, 'sent as a reply');
	await bubble.locator('button.react').click();
	await bubble.locator('button[aria-label="React \u{1F44D}"]').click();
	await bubble.locator('.reactions span', { hasText: '\u{1F44D}' }).waitFor({ timeout: 10_000 });

	// A refusal the API gives (recipient_blocked) is said plainly.
	await page.route('**/v1/messages', (route) => (route.request().method() === 'POST'
		? route.fulfill({ status: 422, contentType: 'application/json', body: JSON.stringify({ error: { code: 'recipient_blocked', field: 'to', message: `'${FROM}' blocked this channel` } }) })
		: route.continue()));
	await page.fill('#composer-text', 'are you there?');
	await page.press('#composer-text', 'Enter');
	await page.locator('#composer-error', { hasText: /this contact has blocked the channel/ }).waitFor();
	await page.unroute('**/v1/messages');
	await page.fill('#composer-text', '');

	// --- the connection badge, live: a bad token pauses the channel, a good one reconnects it.
	fake.badTokens.add('tok-now-bad');
	assertStatus(await d.api('PATCH', '/v1/channels/wa', { config: { access_token: 'tok-now-bad' } }), 200, 'bad token');
	const bad = page.locator('#thread-conn .conn.conn-bad[data-conn-channel="wa"]');
	await bad.waitFor({ timeout: 10_000 });
	assert.match(await bad.getAttribute('data-state'), /^(paused|error)$/);
	assert.match(await bad.getAttribute('title'), /wa: (paused|error) \u2014 /, 'the reason in the tooltip');
	await page.screenshot({ path: path.join(ARTIFACTS, 'channels-badge-bad.png') });
	assert.match(await conv.locator('.conn.dot').getAttribute('class'), /conn-bad/);
	assertStatus(await d.api('PATCH', '/v1/channels/wa', { config: { access_token: SEND_TOKEN } }), 200, 'good token');
	await page.locator('#thread-conn .conn.conn-ok[data-conn-channel="wa"][data-state="connected"]').waitFor({ timeout: 10_000 });

	// --- an edit and a deletion change the bubble in place.
	const bubbles = await page.locator('#messages .msg').count();
	edited.entry[0].changes[0].value.metadata.phone_number_id = SEND_PNID;
	assertStatus(await postWebhook(d.url, JSON.stringify(edited)), 200, 'edit');
	await bubble.locator('.body', { hasText: 'Updated image caption' }).waitFor({ timeout: 10_000 });
	const ed = bubble.locator('details.edited summary');
	assert.match(await ed.innerText(), /^edited/);
	assert.match(await ed.getAttribute('title'), /first words/, 'the earlier text on hover');
	await ed.click();
	await bubble.locator('.edit-history li', { hasText: 'first words' }).waitFor();
	assert.equal(await page.locator('#messages .msg').count(), bubbles, 'no new bubble for the edit');
	await page.screenshot({ path: path.join(ARTIFACTS, 'channels-edited.png') });
	const del = JSON.parse(corpusFile('whatsapp_cloud/inbound/deleted_message.json'));
	const dm = del.entry[0].changes[0].value.messages[0];
	del.entry[0].changes[0].value.metadata.phone_number_id = SEND_PNID;
	dm.from = FROM;
	dm.id = 'wamid.browser.revoke.1';
	dm.revoke.original_message_id = orig;
	assertStatus(await postWebhook(d.url, JSON.stringify(del)), 200, 'delete');
	await page.locator(`#messages .msg.deleted[data-id="${m0.id}"] .deleted-note`, { hasText: 'This message was deleted' }).waitFor({ timeout: 10_000 });
	assert.equal(await page.locator('#messages .msg').count(), bubbles, 'no new bubble for the deletion');
	assert.equal(await page.locator(`#messages .msg[data-id="${m0.id}"] button.reply`).count(), 0, 'no reply to a deleted message');
	await page.reload();
	await page.locator(`#messages .msg.deleted[data-id="${m0.id}"]`).waitFor();

	// --- a button press (its payload) and a group message (its sender).
	const now = String(Math.floor(Date.now() / 1000));
	assertStatus(await postWebhook(d.url, JSON.stringify(waMessageBody({ pnid: SEND_PNID, name: 'Linus Webhook', message: {
		from: FROM, id: 'wamid.browser.button.1', timestamp: now, type: 'button', button: { payload: 'callback_data', text: 'title' } } }))), 200, 'button');
	const btn = page.locator('#messages .msg.in', { has: page.locator('.button-msg') });
	await btn.waitFor({ timeout: 10_000 });
	assert.match(await btn.innerText(), /Button title/);
	assert.match(await btn.locator('.payload').innerText(), /payload: callback_data/);
	const group = JSON.parse(corpusFile('whatsapp_cloud/inbound/group_message.json'));
	const gv = group.entry[0].changes[0].value;
	gv.metadata.phone_number_id = SEND_PNID;
	gv.messages[0].timestamp = now;
	assertStatus(await postWebhook(d.url, JSON.stringify(group)), 200, 'group message');
	await page.locator('.conv', { hasText: 'Hello World, group message' }).click();
	const gm = page.locator('#messages .msg.in', { hasText: 'Hello World, group message' });
	await gm.waitFor();
	assert.equal(await gm.locator('.sender').innerText(), 'Kerry Fisher');
	await page.screenshot({ path: path.join(ARTIFACTS, 'channels-group.png') });
	s.done();
});

test('panel channels v2: a Telegram conversation: connect from the status page, live state, group sender, button, edit in place', { timeout: 120_000 }, async (t) => {
	const tg = await startFakeTelegram();
	const s = await session(t, 'browser-channels-tg');
	s.closers.push(() => tg.close());
	const { d } = s;
	assertStatus(await d.api('POST', '/v1/channels', { name: 'tg', type: 'telegram', config: {
		bot_token: tg.token, webhook_secret: 'browser_secret-token', api_base_url: tg.url, public_url: d.url,
		rate_per_second: 0, recipient_gap_ms: 0, group_gap_ms: 0 } }), 201, 'telegram channel');

	const page = await s.open();
	await page.goto(d.url + '/#/status');
	const row = page.locator('#status-channels tr[data-channel="tg"]');
	await row.waitFor();
	assert.notEqual(await row.locator('.connection .conn').getAttribute('data-state'), 'connected');
	await row.locator('button[data-action="connect"]').click();
	await row.locator('.connection .conn.conn-ok[data-state="connected"]').waitFor({ timeout: 10_000 });
	assert.ok(tg.webhook, 'setWebhook called');

	// A private conversation: no window, no provider templates; the header shows the state and the actions.
	assert.equal((await tg.deliver(textUpdate(77, 'hello from telegram', { updateId: 5000, messageId: 1 }))).status, 200);
	await page.goto(d.url + '/#/');
	await page.locator('.conv', { hasText: 'hello from telegram' }).click();
	const first = page.locator('#messages .msg.in', { hasText: 'hello from telegram' });
	await first.waitFor();
	assert.equal(await page.locator('#window').innerText(), '');
	await page.click('#tpl-btn');
	assert.equal(await page.locator('#tpl-select option[value="wa"]').count(), 0, 'Telegram has no provider templates');
	await page.click('#tpl-close');
	assert.equal(await page.locator('#thread-conn .conn[data-conn-channel="tg"]').getAttribute('data-state'), 'connected');
	assert.equal(await page.locator('#thread-conn button[data-action="disconnect"]').count(), 1);
	assert.equal(await first.locator('button.reply').count(), 1, 'Telegram replies');

	// A button press, then an edit of the first message, in place.
	const cb = JSON.parse(corpusFile('telegram/inbound/callback_query.json'));
	cb.update_id = 5001;
	cb.callback_query.from = { id: 77, is_bot: false, first_name: 'User77' };
	cb.callback_query.message.chat = { id: 77, type: 'private', first_name: 'User77' };
	cb.callback_query.data = 'yes_please';
	assert.equal((await tg.deliver(cb)).status, 200);
	const pressed = page.locator('#messages .msg.in', { has: page.locator('.button-msg') });
	await pressed.waitFor({ timeout: 10_000 });
	assert.match(await pressed.locator('.payload').innerText(), /yes_please/);
	const bubbles = await page.locator('#messages .msg').count();
	const edit = textUpdate(77, 'hello from telegram, edited', { updateId: 5002, messageId: 1 });
	edit.edited_message = { ...edit.message, edit_date: edit.message.date + 5 };
	delete edit.message;
	assert.equal((await tg.deliver(edit)).status, 200);
	await first.locator('.body', { hasText: 'hello from telegram, edited' }).waitFor({ timeout: 10_000 });
	await first.locator('details.edited').waitFor();
	assert.equal(await page.locator('#messages .msg').count(), bubbles, 'no new bubble for the edit');

	// A group message: the conversation is the group, the sender's name above the bubble.
	assert.equal((await tg.deliver({ update_id: 5003, message: { message_id: 7, date: Math.floor(Date.now() / 1000), text: 'hello team',
		from: { id: 88, is_bot: false, first_name: 'Grace', last_name: 'Hopper', username: 'grace' },
		chat: { id: -100555, type: 'supergroup', title: 'Compiler team' } } })).status, 200);
	await page.locator('.conv', { hasText: 'hello team' }).click();
	const gm = page.locator('#messages .msg.in', { hasText: 'hello team' });
	await gm.waitFor();
	assert.match(await gm.locator('.sender').innerText(), /Grace/);
	await page.screenshot({ path: path.join(ARTIFACTS, 'channels-telegram.png') });

	// Disconnect from the header: the badge leaves "connected", live.
	await page.locator('#thread-conn button[data-action="disconnect"]').click();
	await page.locator('#thread-conn .conn.conn-bad[data-conn-channel="tg"][data-state="disconnected"]').waitFor({ timeout: 10_000 });
	s.done();
});

test('panel channels v2: an Evolution channel: the QR pairing page (connect, QR, rotation, pairing code, "Connected"), then its conversations', { timeout: 120_000 }, async (t) => {
	const KEY = 'evo-key-browser-0001';
	const evo = await startFakeEvolution({ instance: 'tigo1', apikey: KEY, number: '15550100002' });
	const s = await session(t, 'browser-channels-evo');
	s.closers.push(() => evo.close());
	const { d } = s;
	assertStatus(await d.api('POST', '/v1/channels', { name: 'wweb', type: 'evolution', config: {
		api_base_url: evo.url, api_key: KEY, instance: 'tigo1', public_url: `${d.url}/`, rate_per_second: 50, recipient_gap_ms: 0 } }), 201, 'evolution channel');

	// The status page links to the pairing page; the page connects by itself.
	const page = await s.open();
	await page.goto(d.url + '/#/status');
	await page.locator('#status-channels tr[data-channel="wweb"] a.pair-link').click();
	await page.locator('#pair-title', { hasText: 'Pair wweb' }).waitFor();
	await waitFor(() => evo.requests.some((r) => r.path === '/instance/connect/tigo1' && r.status === 200), 10_000, { what: 'GET /instance/connect' });
	const inst = evo.instances.get('tigo1');
	// The QR code as an image (GET .../qr?format=svg), the pairing code beside it.
	await page.locator('#pair-img').waitFor({ state: 'visible', timeout: 10_000 });
	assert.ok(await page.locator('#pair-img').evaluate((img) => img.complete && img.naturalWidth > 0), 'the SVG loaded');
	assert.match(await page.locator('#pair-code').innerText(), /^FAKE/);
	assert.equal(await page.locator('#pair-raw-text').textContent(), inst.qr);
	await page.locator('#pair-state [data-conn-channel="wweb"][data-state="pairing"]').waitFor({ timeout: 10_000 });
	await page.screenshot({ path: path.join(ARTIFACTS, 'channels-pair.png') });

	// Evolution rotates the code (qrcode.updated): the page takes the new one at
	// once; when the image cannot load, the code is shown as text.
	await page.route('**/v1/channels/wweb/qr?format=svg*', (route) => route.fulfill({ status: 503, body: '' }));
	const rotated = '2@FAKErotatedbrowser,abc=,def=,ghi=';
	assert.equal((await evo.qrcode('tigo1', { code: rotated })).status, 200);
	await page.locator('#pair-raw-text', { hasText: rotated }).waitFor({ state: 'visible', timeout: 10_000 });
	assert.equal(await page.locator('#pair-img').isVisible(), false);
	await page.unroute('**/v1/channels/wweb/qr?format=svg*');

	// The phone scans it: "Connected".
	assert.equal((await evo.pair('tigo1')).status, 200);
	await page.locator('#pair-done', { hasText: 'Connected' }).waitFor({ timeout: 10_000 });
	assert.equal(await page.locator('#pair-wait').isVisible(), false);
	await page.locator('#pair-state .conn.conn-ok[data-state="connected"]').waitFor();

	// Its conversations: a contact's message, and a group's with its sender.
	assert.equal((await evo.upsert('tigo1', { from: '15550100001', pushName: 'Evo Customer', text: 'hi from whatsapp web' })).status, 200);
	assert.equal((await evo.upsert('tigo1', { group: '120363000000000001@g.us', participant: '15550100009@s.whatsapp.net', pushName: 'Margaret Hamilton', text: 'hello group' })).status, 200);
	await page.goto(d.url + '/#/');
	await page.locator('.conv', { hasText: 'hi from whatsapp web' }).click();
	const m = page.locator('#messages .msg.in', { hasText: 'hi from whatsapp web' });
	await m.waitFor();
	assert.equal(await page.locator('#window').innerText(), '', 'no service window on WhatsApp Web');
	assert.equal(await page.locator('#thread-conn .conn[data-conn-channel="wweb"]').getAttribute('data-state'), 'connected');
	assert.equal(await m.locator('button.reply').count(), 1, 'Evolution replies');
	assert.equal(await m.locator('button.react').count(), 0, 'Evolution does not react');
	await page.locator('.conv', { hasText: 'hello group' }).click();
	const g = page.locator('#messages .msg.in', { hasText: 'hello group' });
	await g.waitFor();
	assert.match(await g.locator('.sender').innerText(), /Margaret Hamilton|15550100009/);
	await page.screenshot({ path: path.join(ARTIFACTS, 'channels-evolution.png') });
	s.done();
});
