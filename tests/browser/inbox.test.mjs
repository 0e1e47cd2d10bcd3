// inbox.test.mjs - the web inbox in a real browser (Debian's chromium driven
// by playwright-core) against a real msgd.
//
// Env: MSGD_BIN (default ../../build/test/msgd), CHROMIUM (default
// /usr/bin/chromium), CORPUS (default ../../../shared/corpus),
// MSGD_UI_FROM_DISK=1 to serve web/ from disk through devserver.mjs (for
// working on the UI against a msgd that does not embed it yet).
// Screenshots and, on failure, the daemon log go to tests/browser/artifacts/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startMsgd, waitFor, waitMessage, sendMessage, assertStatus, waMessageBody, postWebhook } from '../e2e/lib.mjs';
import { startDevServer } from './devserver.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
process.env.MSGD_BIN ||= path.join(REPO, 'build', 'test', 'msgd');
const CORPUS = process.env.CORPUS || path.resolve(REPO, '..', 'shared', 'corpus');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.join(HERE, 'artifacts');
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	'--disable-background-networking', '--disable-component-update', '--disable-sync'];
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

// A stand-in for the Graph API that refuses every send with error 131026
// (or, given status and body, answers every request with them).
function startFailingGraph(status = 400, body = fs.readFileSync(path.join(CORPUS, 'whatsapp_cloud', 'errors', '131026.response.json'))) {
	const srv = http.createServer((req, res) => {
		req.resume();
		req.on('end', () => {
			res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.length });
			res.end(body);
		});
	});
	return new Promise((resolve) => srv.listen(0, '127.0.0.1', () =>
		resolve({ url: `http://127.0.0.1:${srv.address().port}`, close: () => { srv.closeAllConnections(); srv.close(); } })));
}

test('web inbox: login, live thread, ticks, search, failures, status, phone width', { timeout: 120_000 }, async (t) => {
	fs.mkdirSync(ARTIFACTS, { recursive: true });
	const token = `adm_${crypto.randomBytes(12).toString('hex')}`;
	const graph = await startFailingGraph();
	// Transient trouble (Graph code 2): messages on it keep retrying.
	const flaky = await startFailingGraph(500, Buffer.from(JSON.stringify({ error: {
		message: 'An unexpected error has occurred. Please retry your request later.', type: 'OAuthException', code: 2, is_transient: true } })));
	// An expired token (Graph code 190): the channel on it pauses.
	const expired = await startFailingGraph(401, fs.readFileSync(path.join(CORPUS, 'whatsapp_cloud', 'errors', '190.response.json')));
	const d = await startMsgd({ token, name: 'browser-inbox' });
	const dev = process.env.MSGD_UI_FROM_DISK ? await startDevServer(d.url) : null;
	const base = dev ? dev.url : d.url;
	const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-chromium-'));
	let ctx;
	let failed = true;
	const pageErrors = [];
	try {
		if (!dev) {
			const r = await fetch(base + '/');
			assert.equal(r.status, 200, 'GET / serves the web inbox');
			assert.match(r.headers.get('content-type') || '', /^text\/html/);
			assert.match(await r.text(), /<script src="\/assets\/app\.js"/);
		}

		// A whatsapp_cloud channel whose sends all fail, and one failed message on it.
		assertStatus(await d.api('POST', '/v1/channels', {
			name: 'wa', type: 'whatsapp_cloud', config: {
				phone_number_id: 'PNID1', access_token: 'tok-secret-123', app_secret: 'corpus_fake_app_secret', verify_token: 'vt',
				api_base_url: graph.url, rate_per_second: 0, enforce_window: false, max_attempts: 1,
			},
		}), 201, 'create channel wa');
		const bad = await sendMessage(d, { channel: 'wa', to: '15550009999', text: 'this one will bounce' });
		const badFinal = await waitMessage(d, bad.id, 'failed', 15_000);

		// An inbound sandbox message before the browser opens.
		assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '15550001111', name: 'Ada Lovelace', text: 'hello from ada' }), 201, 'inbound 1');

		ctx = await chromium.launchPersistentContext(userDataDir, {
			executablePath: CHROMIUM, headless: true, args: ARGS, viewport: DESKTOP,
		});
		const page = ctx.pages()[0] ?? await ctx.newPage();
		page.on('pageerror', (e) => pageErrors.push(String(e)));
		page.on('console', (m) => { if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) pageErrors.push(m.text()); });

		// Login with the token.
		await page.goto(base + '/');
		await page.locator('#token').waitFor({ state: 'visible' });
		await page.screenshot({ path: path.join(ARTIFACTS, 'login-desktop.png') });
		await page.fill('#token', 'wrong-token');
		await page.press('#token', 'Enter');
		await page.locator('#login-error', { hasText: /wrong/i }).waitFor();
		await page.fill('#token', token);
		await page.click('#login-form button[type=submit]');

		// The sandbox conversation is listed, with its unread badge.
		const ada = page.locator('.conv', { hasText: 'Ada Lovelace' });
		await ada.waitFor();
		assert.match(await ada.innerText(), /hello from ada/);
		assert.match(await ada.locator('.chan').innerText(), /sandbox/);
		assert.equal(await ada.locator('.badge').innerText(), '1');

		// Opening it shows the thread and marks it read.
		await ada.click();
		await page.locator('#messages .msg.in', { hasText: 'hello from ada' }).waitFor();
		await page.locator('#messages .day').first().waitFor();
		const adaId = Number(await ada.getAttribute('data-id'));
		await waitFor(async () => (await d.api('GET', `/v1/conversations/${adaId}`)).json.unread_count === 0, 5000, { what: 'conversation read' });
		await page.locator('.conv[data-id="' + adaId + '"] .badge').waitFor({ state: 'detached' });

		// Send from the composer with Enter; the tick goes to "read".
		await page.fill('#composer-text', 'hi ada, from the browser');
		await page.press('#composer-text', 'Enter');
		const mine = page.locator('#messages .msg.out', { hasText: 'hi ada, from the browser' });
		await mine.waitFor();
		assert.equal(await page.inputValue('#composer-text'), '', 'composer cleared');
		await page.locator('#messages .msg.out[data-status="read"]', { hasText: 'hi ada, from the browser' }).waitFor({ timeout: 15_000 });
		assert.equal(await mine.locator('.tick').getAttribute('aria-label'), 'read');
		// The sandbox answers with an echo after "read": let it land first, or it
		// could move Ada's conversation above a newer one below.
		await page.locator('#messages .msg.in', { hasText: 'echo: hi ada, from the browser' }).waitFor({ timeout: 10_000 });

		// A new inbound message arrives live, without reloading.
		assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '15550001111', name: 'Ada Lovelace', text: 'are you still there?' }), 201, 'inbound 2');
		await page.locator('#messages .msg.in', { hasText: 'are you still there?' }).waitFor({ timeout: 10_000 });
		await page.screenshot({ path: path.join(ARTIFACTS, 'thread-desktop.png') });

		// A new conversation appears live in the list.
		assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '15550002222', name: 'Grace Hopper', text: 'new here' }), 201, 'inbound 3');
		const grace = page.locator('.conv', { hasText: 'Grace Hopper' });
		await grace.waitFor({ timeout: 10_000 });
		assert.equal(await grace.locator('.badge').innerText(), '1');
		assert.equal(await page.locator('.conv').first().innerText().then((s) => /Grace Hopper/.test(s)), true, 'newest first');

		// Search narrows the list; clearing it brings everything back.
		await page.fill('#search', 'Grace');
		await waitFor(async () => (await page.locator('.conv').count()) === 1 && /Grace/.test(await page.locator('.conv').first().innerText()), 5000, { what: 'search result' });
		await page.fill('#search', '');
		await waitFor(async () => (await page.locator('.conv').count()) === 3, 5000, { what: 'search cleared' });

		// Channel filter.
		await page.selectOption('#channel-filter', 'wa');
		await waitFor(async () => (await page.locator('.conv').count()) === 1, 5000, { what: 'channel filter' });
		await page.selectOption('#channel-filter', '');
		await waitFor(async () => (await page.locator('.conv').count()) === 3, 5000, { what: 'channel filter cleared' });

		// The failed message shows the provider's reason and a retry action.
		await page.locator('.conv', { hasText: '15550009999' }).click();
		const failedMsg = page.locator(`#messages .msg.failed[data-id="${badFinal.id}"]`);
		await failedMsg.waitFor();
		assert.match(await failedMsg.locator('.reason').innerText(), /undeliverable/i);
		assert.equal(await failedMsg.locator('button.retry').count(), 1);
		await page.screenshot({ path: path.join(ARTIFACTS, 'failed-desktop.png') });

		// A real, signed WhatsApp webhook appears live, without a reload.
		const hook = JSON.stringify(waMessageBody({ pnid: 'PNID1', id: 'wamid.browser.1', from: '15550003333',
			name: 'Linus Webhook', text: 'hi from whatsapp' }));
		assert.equal((await postWebhook(d.url, hook)).status, 200);
		await waitFor(async () => (await page.locator('.conv', { hasText: 'Linus Webhook' }).count()) === 1, 5000,
			{ what: 'the webhook conversation, live' });

		// Reactions: a badge under the message they name, live; "" removes it;
		// a reaction to a message msgd does not know is one small line.
		const react = (id, target, emoji) => postWebhook(d.url, JSON.stringify(waMessageBody({ pnid: 'PNID1', name: 'Linus Webhook', message: {
			from: '15550003333', id, timestamp: String(Math.floor(Date.now() / 1000)), type: 'reaction', reaction: { message_id: target, emoji } } })));
		await page.locator('.conv', { hasText: 'Linus Webhook' }).click();
		const hookMsg = page.locator('#messages .msg.in', { hasText: 'hi from whatsapp' });
		await hookMsg.waitFor();
		assert.equal((await react('wamid.browser.r1', 'wamid.browser.1', '\u{1F44D}')).status, 200);
		await hookMsg.locator('.reactions span', { hasText: '\u{1F44D}' }).waitFor({ timeout: 10_000 });
		assert.equal(await page.locator('#messages li', { hasText: /Unsupported message/ }).count(), 0, 'no reaction bubble');
		assert.equal((await react('wamid.browser.r2', 'wamid.browser.unknown', '\u{1F62E}')).status, 200);
		await page.locator('#messages .reaction-note', { hasText: '\u{1F62E}' }).waitFor({ timeout: 10_000 });
		await page.screenshot({ path: path.join(ARTIFACTS, 'reactions-desktop.png') });
		assert.equal((await react('wamid.browser.r3', 'wamid.browser.1', '')).status, 200);
		await hookMsg.locator('.reactions').waitFor({ state: 'detached', timeout: 10_000 });
		await page.reload();
		await hookMsg.waitFor();
		assert.equal(await hookMsg.locator('.reactions').count(), 0, 'removed after a reload too');
		await page.locator('#messages .reaction-note', { hasText: '\u{1F62E}' }).waitFor();

		// Keyboard: Escape leaves the thread, arrows move through the list.
		await page.press('#composer-text', 'Escape');
		await waitFor(async () => (await page.evaluate(() => location.hash)) === '#/', 3000, { what: 'escape to list' });

		// A message whose provider keeps failing says why it is still waiting.
		assertStatus(await d.api('POST', '/v1/channels', {
			name: 'wa2', type: 'whatsapp_cloud', config: {
				phone_number_id: 'PNID2', access_token: 'tok-secret-456', app_secret: 'corpus_fake_app_secret', verify_token: 'vt2',
				api_base_url: flaky.url, rate_per_second: 0, enforce_window: false, breaker_threshold: 1, breaker_cooldown_s: 600,
			},
		}), 201, 'create channel wa2');
		const slow = await sendMessage(d, { channel: 'wa2', to: '15550008888', text: 'this one keeps retrying' });
		await waitMessage(d, slow.id, (m) => m.status === 'queued' && m.last_error && m.next_attempt_at, 15_000);
		await page.goto(base + `/#/c/${slow.conversation_id}`);
		const retryNote = page.locator(`#messages .msg.out[data-id="${slow.id}"] .retrying`);
		await retryNote.waitFor({ timeout: 10_000 });
		assert.match(await retryNote.innerText(),
			/^retrying \(attempt 1\): An unexpected error has occurred\. Please retry your request later\. \u2014 next try at \d\d:\d\d:\d\d$/);
		await page.screenshot({ path: path.join(ARTIFACTS, 'retrying-desktop.png') });

		// A message never tried, because its channel is paused, says why: the channel's hold.
		assertStatus(await d.api('POST', '/v1/channels', {
			name: 'wa3', type: 'whatsapp_cloud', config: {
				phone_number_id: 'PNID3', access_token: 'tok-secret-789', app_secret: 'corpus_fake_app_secret', verify_token: 'vt3',
				api_base_url: expired.url, rate_per_second: 0, enforce_window: false,
			},
		}), 201, 'create channel wa3');
		const first = await sendMessage(d, { channel: 'wa3', to: '15550007777', text: 'meets the expired token' });
		// Tried once: the 190 is on the message (a pause gives the attempt back,
		// so attempts is 1 only between the claim and the result).
		await waitMessage(d, first.id, (m) => m.last_error && m.last_error.code === 190, 15_000);
		await waitFor(async () => (await d.api('GET', '/v1/channels/wa3')).json.state.sending.state === 'paused', 10_000, { what: 'wa3 paused' });
		const held = await sendMessage(d, { channel: 'wa3', to: '15550007777', text: 'waits for a new token' });
		await page.goto(base + `/#/c/${held.conversation_id}`);
		const holdNote = page.locator(`#messages .msg.out[data-id="${held.id}"] .hold`);
		await holdNote.waitFor({ timeout: 10_000 });
		assert.match(await holdNote.innerText(),
			/^waiting: channel paused: Error validating access token: Session has expired .* \(code 190\) \u2014 its credentials need fixing$/);
		assert.equal((await d.api('GET', `/v1/messages/${held.id}`)).json.attempts, 0, 'never tried');

		// Status page: each channel's state with its reason; retrying messages are listed too.
		await page.goto(base + '/#/status');
		await page.locator('#status-channels tr[data-channel="wa"]').waitFor();
		await page.locator('#status-channels tr[data-channel="sandbox"]').waitFor();
		const open = page.locator('#status-channels tr[data-channel="wa2"][data-state="circuit_open"]');
		await open.waitFor({ timeout: 10_000 });
		assert.match(await open.locator('td.reason').innerText(), /An unexpected error has occurred\. Please retry your request later\. \(code 2\)/);
		assert.match(await open.locator('td.reason').innerText(), /since \d\d:\d\d:\d\d, until \d\d:\d\d:\d\d/);
		const retryLi = page.locator('#status-failures li[data-kind="retrying"]', { hasText: `message ${slow.id}` });
		await retryLi.waitFor();
		assert.match(await retryLi.innerText(), /^retrying .*retrying \(attempt 1\): An unexpected error/);
		const failedLi = page.locator('#status-failures li[data-kind="failed"]', { hasText: `message ${badFinal.id}` });
		await failedLi.waitFor();
		assert.match(await failedLi.innerText(), /^failed .*undeliverable/i);
		await page.screenshot({ path: path.join(ARTIFACTS, 'status-desktop.png') });

		// Phone width: list first, then the thread alone with a back button.
		await page.setViewportSize(PHONE);
		await page.goto(base + '/#/');
		await ada.waitFor();
		await page.screenshot({ path: path.join(ARTIFACTS, 'list-phone.png') });
		await ada.click();
		await page.locator('#messages .msg.in', { hasText: 'are you still there?' }).waitFor();
		assert.equal(await page.locator('#list-pane').isVisible(), false, 'list hidden on a phone while a thread is open');
		assert.equal(await page.locator('#back').isVisible(), true);
		await page.screenshot({ path: path.join(ARTIFACTS, 'thread-phone.png') });
		await page.click('#back');
		await ada.waitFor({ state: 'visible' });

		assert.deepEqual(pageErrors, [], 'no script errors or CSP violations');
		failed = false;
	} finally {
		if (ctx) {
			if (failed) {
				for (const p of ctx.pages()) await p.screenshot({ path: path.join(ARTIFACTS, 'failure.png') }).catch(() => {});
				if (pageErrors.length) t.diagnostic('page errors: ' + pageErrors.join('\n'));
			}
			await ctx.close();
		}
		fs.rmSync(userDataDir, { recursive: true, force: true });
		if (dev) dev.close();
		graph.close();
		flaky.close();
		expired.close();
		if (failed) {
			if (d.alive) { d.proc.kill('SIGKILL'); await d.exited; }
			const f = d.saveLog();
			if (f) t.diagnostic(`daemon log: ${f}`);
		} else {
			await d.stop();
			fs.rmSync(d.dataDir, { recursive: true, force: true });
		}
	}
});
