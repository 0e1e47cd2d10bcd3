// docs.test.mjs - the API reference page (GET /docs) in a real browser
// (Debian's chromium driven by playwright-core) against a real msgd: it
// renders every route of /openapi.json grouped by area, with no page error,
// no CSP violation and no request to another origin; a route opens to its
// parameters, body and answers with the schemas expanded; the search box
// narrows the list.
//
// Env: as inbox.test.mjs (MSGD_BIN, CHROMIUM). Screenshots go to
// tests/browser/artifacts/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startMsgd, assertStatus } from '../e2e/lib.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
process.env.MSGD_BIN ||= path.join(REPO, 'build', 'test', 'msgd');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.join(HERE, 'artifacts');
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	'--disable-background-networking', '--disable-component-update', '--disable-sync'];

test('docs: /docs renders every route of /openapi.json, expands one, searches; nothing external, no CSP violation', { timeout: 90_000 }, async () => {
	fs.mkdirSync(ARTIFACTS, { recursive: true });
	const d = await startMsgd({ name: 'browser-docs' });
	const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-chromium-'));
	let ctx;
	let failed = true;
	const pageErrors = [];
	const foreign = [];
	try {
		const doc = assertStatus(await d.anon('GET', '/openapi.json'), 200);
		let nops = 0;
		for (const item of Object.values(doc.paths)) nops += Object.keys(item).length;

		ctx = await chromium.launchPersistentContext(userDataDir, {
			executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 900 },
		});
		const page = ctx.pages()[0] ?? await ctx.newPage();
		page.on('pageerror', (e) => pageErrors.push(String(e)));
		page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
		page.on('request', (r) => { if (!r.url().startsWith(d.url)) foreign.push(r.url()); });

		await page.goto(d.url + '/docs');
		await page.locator('details.op').first().waitFor();
		// Every operation, and every schema, is on the page.
		const ops = page.locator('section.tag:not(#schemas) details.op');
		assert.equal(await ops.count(), nops, 'one entry per operation');
		assert.equal(await page.locator('#schemas details.op').count(), Object.keys(doc.components.schemas).length);
		assert.ok(await page.locator('nav#tags a', { hasText: 'channels' }).count() >= 1, 'areas in the side bar');

		// Open POST /v1/channels: its permission, its body's fields, its answers.
		const create = page.locator('details.op[data-route="POST /v1/channels"]');
		await create.locator('summary').click();
		await create.locator('.opbody').waitFor({ state: 'visible' });
		const text = await create.locator('.opbody').innerText();
		assert.match(text, /channels:write/);
		for (const want of ['name', 'type', 'config', '201', '422', 'capabilities', 'no other fields'])
			assert.ok(text.includes(want), `POST /v1/channels shows ${want}`);
		await page.screenshot({ path: path.join(ARTIFACTS, 'docs-channel-create.png') });

		// Search: "campaigns pause" leaves that route only.
		await page.fill('#search', 'campaigns pause');
		const visible = page.locator('section.tag:not(#schemas) details.op:not([hidden])');
		await page.waitForFunction(() =>
			document.querySelectorAll('section.tag:not(#schemas) details.op:not([hidden])').length === 1);
		assert.equal(await visible.first().getAttribute('data-route'), 'POST /v1/campaigns/{id}/pause');
		await page.fill('#search', '');
		await page.waitForFunction((n) =>
			document.querySelectorAll('section.tag:not(#schemas) details.op:not([hidden])').length === n, nops);
		await page.screenshot({ path: path.join(ARTIFACTS, 'docs.png') });

		assert.deepEqual(pageErrors, [], 'no page errors, no CSP violations');
		assert.deepEqual(foreign, [], 'nothing fetched from another origin');
		failed = false;
	} finally {
		if (ctx) await ctx.close();
		fs.rmSync(userDataDir, { recursive: true, force: true });
		if (failed) {
			if (d.alive) { d.proc.kill('SIGKILL'); await d.exited; }
			d.saveLog();
		} else {
			await d.stop();
			fs.rmSync(d.dataDir, { recursive: true, force: true });
		}
	}
});
