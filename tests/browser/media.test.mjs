// media.test.mjs - media in the web inbox (issue 14), in Debian's chromium
// driven by playwright-core against a real msgd: an inbound WhatsApp image
// fetched and stored by msgd shows as a thumbnail (same-origin, under the
// panel's Content-Security-Policy), and the composer's Attach uploads a file
// and sends it by file_id.
//
// Env: MSGD_BIN, CHROMIUM (default /usr/bin/chromium), CORPUS, as inbox.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startMsgd, waitFor, assertStatus, waMessageBody, postWebhook, messagesByProviderId, SEND_PNID } from '../e2e/lib.mjs';
import { startFakeGraph } from '../e2e/fake_graph.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
process.env.MSGD_BIN ||= path.join(REPO, 'build', 'test', 'msgd');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.join(HERE, 'artifacts');
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	'--disable-background-networking', '--disable-component-update', '--disable-sync'];

// A 2x2 red PNG.
const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000002000000020802000000fdd49a73' +
	'0000001049444154789c63f8cfc000440c100a001fee03fd8b5f14d40000000049454e44ae426082', 'hex');

test('web inbox: an inbound image as a thumbnail; Attach uploads and sends by file_id', { timeout: 120_000 }, async (t) => {
	fs.mkdirSync(ARTIFACTS, { recursive: true });
	const token = `adm_${crypto.randomBytes(12).toString('hex')}`;
	const fake = await startFakeGraph();
	const d = await startMsgd({ token, name: 'browser-media', env: { MSGD_MEDIA_FETCH: 'on', MSGD_MEDIA_RETRY_MS: '50' } });
	const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-chromium-'));
	let ctx;
	let failed = true;
	const pageErrors = [];
	try {
		assertStatus(await d.api('POST', '/v1/channels', { name: 'wa', type: 'whatsapp_cloud', config: {
			phone_number_id: SEND_PNID, access_token: 'tok-secret-123', app_secret: 'corpus_fake_app_secret',
			verify_token: 'vt', api_base_url: fake.url, rate_per_second: 0, enforce_window: false } }), 201, 'channel');
		fake.addMedia('MEDIA-B1', PNG, 'image/png');
		const body = waMessageBody({ pnid: SEND_PNID, name: 'Ada Lovelace', message: { from: '15550001111', id: 'wamid.browser.img',
			timestamp: String(Math.floor(Date.now() / 1000)), type: 'image', image: { id: 'MEDIA-B1', mime_type: 'image/png', caption: 'a red square' } } });
		assertStatus(await postWebhook(d.url, body), 200, 'webhook');
		await waitFor(async () => (await messagesByProviderId(d, 'wamid.browser.img'))[0]?.media?.status === 'stored',
			15_000, { what: 'media stored' });

		ctx = await chromium.launchPersistentContext(userDataDir, {
			executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 800 },
		});
		const page = ctx.pages()[0] ?? await ctx.newPage();
		page.on('pageerror', (e) => pageErrors.push(String(e)));
		page.on('console', (m) => { if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) pageErrors.push(m.text()); });
		await page.goto(d.url + '/');
		await page.locator('#token').waitFor({ state: 'visible' });
		await page.fill('#token', token);
		await page.click('#login-form button[type=submit]');
		const ada = page.locator('.conv', { hasText: 'Ada Lovelace' });
		await ada.waitFor();
		await ada.click();

		// The thumbnail loads from msgd (the session cookie, same origin).
		const thumb = page.locator('#messages .msg.in img.thumb');
		await thumb.waitFor();
		await waitFor(() => thumb.evaluate((img) => img.complete && img.naturalWidth === 2), 10_000, { what: 'thumbnail loaded' });
		assert.match(await thumb.getAttribute('src'), /^\/v1\/files\/f_[a-z2-7]{26}$/);
		await page.screenshot({ path: path.join(ARTIFACTS, 'media-thumbnail.png') });

		// Attach: pick a file, add a caption, send.
		await page.click('#attach-btn');
		await page.setInputFiles('#attach-file', { name: 'square.png', mimeType: 'image/png', buffer: PNG });
		assert.equal(await page.inputValue('#attach-type'), 'image');
		await page.fill('#composer-text', 'sent from the panel');
		await page.click('#send');
		const out = page.locator('#messages .msg.out img.thumb');
		await out.waitFor({ timeout: 10_000 });
		await waitFor(() => fake.sends().length === 1, 15_000, { what: 'the send reached the provider' });
		assert.equal(fake.uploads().length, 1);
		const sent = fake.sends()[0].body;
		assert.equal(sent.type, 'image');
		assert.equal(sent.image.id, fake.uploads()[0].id);
		assert.equal(sent.image.caption, 'sent from the panel');
		await waitFor(() => out.evaluate((img) => img.complete && img.naturalWidth === 2), 10_000, { what: 'outbound thumbnail loaded' });
		await page.screenshot({ path: path.join(ARTIFACTS, 'media-attach.png') });

		// A media still being fetched says so, and its thumbnail appears live (message.media).
		fake.addMedia('MEDIA-B2', PNG, 'image/png');
		// The first lookup answers a 500 after 3 s; the retry works.
		fake.next(1, { ...fake.serverError(500), delayMs: 3000 }, { kinds: ['media'] });
		const body2 = waMessageBody({ pnid: SEND_PNID, name: 'Ada Lovelace', message: { from: '15550001111', id: 'wamid.browser.img2',
			timestamp: String(Math.floor(Date.now() / 1000)), type: 'image', image: { id: 'MEDIA-B2', mime_type: 'image/png', caption: 'second square' } } });
		assertStatus(await postWebhook(d.url, body2), 200, 'webhook 2');
		const second = page.locator('#messages .msg.in', { hasText: 'second square' });
		await second.locator('.media-state', { hasText: /Fetching/ }).waitFor({ timeout: 10_000 });
		await second.locator('img.thumb').waitFor({ timeout: 20_000 });
		assert.equal(await second.locator('.media-state').count(), 0);

		assert.deepEqual(pageErrors, [], 'no script errors or CSP violations');
		failed = false;
	} finally {
		if (ctx) {
			if (failed) {
				for (const p of ctx.pages()) await p.screenshot({ path: path.join(ARTIFACTS, 'media-failure.png') }).catch(() => {});
				if (pageErrors.length) t.diagnostic('page errors: ' + pageErrors.join('\n'));
			}
			await ctx.close();
		}
		fs.rmSync(userDataDir, { recursive: true, force: true });
		await fake.close();
		if (failed) {
			if (d.alive) { d.proc.kill('SIGKILL'); await d.exited; }
			const f = d.saveLog();
			if (f) t.diagnostic(`daemon log: ${f}`);
		} else {
			await d.stop();
		}
	}
});
