// campaigns.test.mjs - the panel's campaign pages in a real browser (Debian's
// chromium driven by playwright-core) against a real msgd and a fake Graph
// API: a campaign from an uploaded CSV (the import's counts and row errors
// shown before anything is sent, then "Send to N recipients"), its progress
// bar and counters going live to completed from campaign.progress events,
// the drill-down to its recipients filtered to the failed one with the
// provider's error; a paced campaign paused and resumed from the list.
// A template campaign: the channel's approved templates as synced from the
// fake Graph API and the local ones offered in the picker with their
// variables, one column select per variable once the file is checked, Send
// disabled (saying why) until every variable is mapped, and the messages
// sent with each row's mapped values.
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
import { startMsgd, waitFor, assertStatus, createSendChannel } from '../e2e/lib.mjs';
import { startFakeGraph, corpusError } from '../e2e/fake_graph.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
process.env.MSGD_BIN ||= path.join(REPO, 'build', 'test', 'msgd');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.join(HERE, 'artifacts');
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	'--disable-background-networking', '--disable-component-update', '--disable-sync'];

const WABA = '102290129340398';
const ORDER_UPDATE = {
	name: 'order_update', language: 'en_US', status: 'APPROVED', category: 'UTILITY', parameter_format: 'POSITIONAL',
	components: [
		{ type: 'HEADER', format: 'TEXT', text: 'Order {{1}}' },
		{ type: 'BODY', text: 'Hi {{1}}, your order {{2}} ships on {{3}}.' },
		{ type: 'BUTTONS', buttons: [{ type: 'URL', text: 'Track', url: 'https://shop.example/track/{{1}}' }] },
	],
};

async function launch(t, d, token) {
	const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-chromium-'));
	const ctx = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: ARGS,
		viewport: { width: 1280, height: 900 } });
	const page = ctx.pages()[0] ?? await ctx.newPage();
	const pageErrors = [];
	page.on('pageerror', (e) => pageErrors.push(String(e)));
	page.on('console', (m) => { if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) pageErrors.push(m.text()); });
	await page.goto(d.url + '/');
	await page.fill('#token', token);
	await page.click('#login-form button[type=submit]');
	await page.locator('#app').waitFor({ state: 'visible' });
	return { ctx, page, pageErrors, userDataDir };
}

test('panel campaigns: a template picked from the synced list, its variables mapped to columns before Send', { timeout: 120_000 }, async (t) => {
	fs.mkdirSync(ARTIFACTS, { recursive: true });
	const fake = await startFakeGraph();
	fake.templates = [ORDER_UPDATE,
		{ name: 'hello_world', language: 'en_US', status: 'APPROVED', category: 'UTILITY', components: [{ type: 'BODY', text: 'Hello World' }] },
		{ name: 'promo', language: 'es', status: 'REJECTED', category: 'MARKETING', components: [{ type: 'BODY', text: 'Hola {{1}}' }] }];
	const token = `adm_${crypto.randomBytes(12).toString('hex')}`;
	const d = await startMsgd({ token, name: 'browser-campaigns-tpl' });
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-camp-csv-'));
	let b;
	let failed = true;
	try {
		await createSendChannel(d, fake.url, { waba_id: WABA, templates_sync_hours: 0 });
		await createSendChannel(d, fake.url, { phone_number_id: 'PNID2' }, 'wa2');
		assertStatus(await d.api('POST', '/v1/channels/wa/templates/sync'), 202, 'sync');
		await waitFor(async () => (await d.api('GET', '/v1/channels/wa/templates')).json.templates.length === 3, 10_000, { what: 'templates synced' });
		assertStatus(await d.api('POST', '/v1/templates', { name: 'welcome', body: 'Hi {{first_name}}, your code is {{code}}' }), 201, 'local template');
		const csv = path.join(dir, 'orders.csv');
		fs.writeFileSync(csv, 'phone,first_name,order,day\n15550009001,Ann,#11,Monday\n15550009002,Bob,#12,Tuesday\n');

		b = await launch(t, d, token);
		const { page } = b;
		await page.click('#nav-campaigns');
		await page.locator('#campaigns').waitFor({ state: 'visible' });
		// wa2 never synced: only the local template; wa: its approved ones too.
		await page.selectOption('#camp-channel', 'wa2');
		const local = page.locator('#camp-tpl option', { hasText: 'welcome' });
		await local.waitFor({ state: 'attached' });
		assert.equal(await local.innerText(), 'welcome (en) \u00B7 {{first_name}}, {{code}}');
		assert.equal(await page.locator('#camp-tpl option', { hasText: 'order_update' }).count(), 0);
		await page.selectOption('#camp-channel', 'wa');
		const order = page.locator('#camp-tpl option', { hasText: 'order_update (en_US) \u00B7 5 variables' });
		await order.waitFor({ state: 'attached' });
		assert.equal(await page.locator('#camp-tpl option', { hasText: 'hello_world (en_US) \u00B7 0 variables' }).count(), 1);
		assert.equal(await page.locator('#camp-tpl option', { hasText: 'promo' }).count(), 0, 'only approved templates');
		assert.equal(await page.locator('#camp-tpl option[value=""]').innerText(), 'Text');
		await page.selectOption('#camp-tpl', await order.getAttribute('value'));
		assert.equal(await page.locator('#camp-text').isVisible(), false, 'no text with a template');
		assert.match(await page.locator('#camp-tpl-info').innerText(), /needs 5 variables/);
		assert.match(await page.locator('#camp-tpl-body').innerText(), /your order \{\{2\}\} ships/);

		// The file checked: one select of its columns per variable, Send disabled until all are mapped.
		await page.setInputFiles('#camp-file', csv);
		await page.click('#camp-form button[type=submit]');
		await page.locator('#camp-send').waitFor({ state: 'visible', timeout: 20_000 });
		assert.equal(await page.locator('#camp-send').innerText(), 'Send to 2 recipients');
		const sels = page.locator('#camp-vars select');
		assert.equal(await sels.count(), 5);
		assert.deepEqual(await sels.first().locator('option').allInnerTexts(), ['(choose a column)', 'first_name', 'order', 'day']);
		assert.equal(await page.locator('#camp-send').isDisabled(), true);
		assert.match(await page.locator('#camp-send-why').innerText(), /Choose a column for \{\{1\}\}, \{\{2\}\}, \{\{3\}\}, \{\{4\}\}, \{\{5\}\}/);
		const map = ['first_name', 'order', 'day', 'order'];
		for (let i = 0; i < map.length; i++) await page.selectOption(`#campv${i}`, map[i]);
		assert.equal(await page.locator('#camp-send').isDisabled(), true, 'one still unmapped');
		assert.equal(await page.locator('#camp-send-why').innerText(), 'Choose a column for {{5}}.');
		await page.selectOption('#campv4', 'first_name');
		assert.equal(await page.locator('#camp-send').isDisabled(), false);
		assert.equal(await page.locator('#camp-send-why').innerText(), '');
		assert.equal(fake.requests.filter((r) => r.kind === 'send').length, 0, 'nothing sent before Send');
		await page.screenshot({ path: path.join(ARTIFACTS, 'campaigns-template.png') });
		// The API's own 422 is shown: the template withdrawn since the list was read.
		const all = fake.templates;
		const resync = async (list) => {
			fake.templates = list;
			assertStatus(await d.api('POST', '/v1/channels/wa/templates/sync'), 202, 'sync');
			await waitFor(async () => (await d.api('GET', '/v1/channels/wa/templates')).json.templates.length === list.length, 10_000, { what: 'resynced' });
		};
		await resync(all.slice(1));
		await page.click('#camp-send');
		await page.locator('#camp-form-error', { hasText: /Not created \(template\.name\): .*order_update/ }).waitFor();
		assert.equal((await d.api('GET', '/v1/campaigns')).json.campaigns.length, 0);
		await resync(all);
		await page.click('#camp-send');

		// Sent with each row's values in the mapped order.
		await page.locator('#campaign').waitFor({ state: 'visible' });
		await page.locator('#camp-head .camp-status', { hasText: 'completed' }).waitFor({ timeout: 20_000 });
		const sent = fake.requests.filter((r) => r.kind === 'send');
		assert.equal(sent.length, 2);
		const got = Object.fromEntries(sent.map((r) => [r.to, {
			name: r.body.template.name, lang: r.body.template.language.code,
			values: r.body.template.components.flatMap((c) => (c.parameters || []).map((p) => p.text)) }]));
		assert.deepEqual(got, {
			15550009001: { name: 'order_update', lang: 'en_US', values: ['Ann', '#11', 'Monday', '#11', 'Ann'] },
			15550009002: { name: 'order_update', lang: 'en_US', values: ['Bob', '#12', 'Tuesday', '#12', 'Bob'] },
		});
		const id = Number(/#\/campaigns\/(\d+)/.exec(page.url())[1]);
		const c = (await d.api('GET', `/v1/campaigns/${id}`)).json;
		assert.deepEqual(c.content, { template: { name: 'order_update', language: 'en_US' },
			variables: { 1: 'first_name', 2: 'order', 3: 'day', 4: 'order', 5: 'first_name' } });
		assert.deepEqual(b.pageErrors, [], 'no script errors or CSP violations');
		failed = false;
	} finally {
		if (b) {
			if (failed) await b.page.screenshot({ path: path.join(ARTIFACTS, 'campaigns-template-failure.png') }).catch(() => {});
			await b.ctx.close();
			fs.rmSync(b.userDataDir, { recursive: true, force: true });
			if (failed && b.pageErrors.length) t.diagnostic('page errors: ' + b.pageErrors.join('\n'));
		}
		fs.rmSync(dir, { recursive: true, force: true });
		if (failed) {
			if (d.alive) { d.proc.kill('SIGKILL'); await d.exited; }
			const f = d.saveLog();
			if (f) t.diagnostic(`daemon log: ${f}`);
		} else {
			await d.stop();
			fs.rmSync(d.dataDir, { recursive: true, force: true });
		}
		await fake.close();
	}
});

test('panel campaigns: from an upload with the row errors first, live progress, failures drill-down, pause and resume', { timeout: 150_000 }, async (t) => {
	fs.mkdirSync(ARTIFACTS, { recursive: true });
	const fake = await startFakeGraph();
	const token = `adm_${crypto.randomBytes(12).toString('hex')}`;
	const d = await startMsgd({ token, name: 'browser-campaigns' });
	const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-chromium-'));
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-camp-csv-'));
	let ctx;
	let failed = true;
	const pageErrors = [];
	try {
		await createSendChannel(d, fake.url);
		fake.rule('15550007003', corpusError('131026'));
		const csv = path.join(dir, 'spring.csv');
		fs.writeFileSync(csv, 'phone,first_name\n15550007001,Ann\n15550007002,Bob\nnope,Cy\n15550007003,Dee\n');

		ctx = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: ARGS,
			viewport: { width: 1280, height: 900 } });
		const page = ctx.pages()[0] ?? await ctx.newPage();
		page.on('pageerror', (e) => pageErrors.push(String(e)));
		page.on('console', (m) => { if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) pageErrors.push(m.text()); });
		page.on('dialog', (dl) => dl.accept());
		await page.goto(d.url + '/');
		await page.fill('#token', token);
		await page.click('#login-form button[type=submit]');
		await page.locator('#app').waitFor({ state: 'visible' });

		// The campaigns page, and a campaign from the file: the rows are checked first.
		await page.click('#nav-campaigns');
		await page.locator('#campaigns').waitFor({ state: 'visible' });
		await page.locator('#camp-empty').waitFor({ state: 'visible' });
		await page.setInputFiles('#camp-file', csv);
		await page.selectOption('#camp-channel', 'wa');
		await page.fill('#camp-text', 'Hi {{first_name}}!');
		await page.click('#camp-form button[type=submit]');
		await page.locator('#camp-send').waitFor({ state: 'visible', timeout: 20_000 });
		assert.match(await page.locator('#camp-import-state').innerText(), /4 rows: 3 valid, 1 invalid, 0 duplicates/);
		assert.match(await page.locator('#camp-import-errors').innerText(), /row 4, phone: /);
		assert.equal(fake.requests.filter((r) => r.kind === 'send').length, 0, 'nothing sent before Send');
		assert.equal(await page.locator('#camp-send').innerText(), 'Send to 3 recipients');
		await page.click('#camp-send');

		// The detail page: live to completed, 2 sent and 1 failed.
		await page.locator('#campaign').waitFor({ state: 'visible' });
		await page.locator('#camp-head .camp-status', { hasText: 'completed' }).waitFor({ timeout: 20_000 });
		assert.match(await page.locator('#camp-head .camp-counters').innerText(), /sent 2 .* failed 1 .* of 3/);
		const texts = fake.requests.filter((r) => r.kind === 'send').map((r) => r.body.text.body).sort();
		assert.deepEqual(texts, ['Hi Ann!', 'Hi Bob!', 'Hi Dee!']);
		// The failed one, with the provider's error.
		await page.locator('#camp-rcpts tr').nth(2).waitFor();
		await page.selectOption('#camp-filter', 'failed');
		await waitFor(async () => (await page.locator('#camp-rcpts tr').count()) === 1, 5000, { what: 'one failed row' });
		assert.match(await page.locator('#camp-rcpts tr').innerText(), /15550007003\s+failed\s+131026/);
		await page.screenshot({ path: path.join(ARTIFACTS, 'campaigns-detail.png') });

		// A paced campaign: Pause and Resume from the list, the bar moving live.
		const c = assertStatus(await d.api('POST', '/v1/campaigns', { name: 'paced', channel: 'wa', text: 'slow',
			rate: 60, recipients: Array.from({ length: 6 }, (_, i) => ({ to: String(15550008000 + i) })) }), 202);
		await page.click('a[href="#/campaigns"]');
		const row = page.locator(`tr[data-campaign="${c.id}"]`);
		await row.waitFor();
		await row.locator('.camp-counters', { hasText: /sent [1-9]/ }).waitFor({ timeout: 15_000 });
		await row.locator('button[data-action=pause]').click();
		await row.locator('.camp-status', { hasText: 'paused' }).waitFor();
		assert.equal((await d.api('GET', `/v1/campaigns/${c.id}`)).json.status, 'paused');
		await row.locator('button[data-action=resume]').click();
		await row.locator('.camp-status', { hasText: 'running' }).waitFor();
		assert.equal(await page.locator('tr[data-campaign] .camp-bar').count(), 2);
		await page.screenshot({ path: path.join(ARTIFACTS, 'campaigns-list.png') });
		assert.deepEqual(pageErrors, [], 'no script errors or CSP violations');
		failed = false;
	} finally {
		if (ctx) {
			if (failed) for (const p of ctx.pages()) await p.screenshot({ path: path.join(ARTIFACTS, 'campaigns-failure.png') }).catch(() => {});
			await ctx.close();
		}
		fs.rmSync(userDataDir, { recursive: true, force: true });
		fs.rmSync(dir, { recursive: true, force: true });
		if (failed) {
			if (pageErrors.length) t.diagnostic('page errors: ' + pageErrors.join('\n'));
			if (d.alive) { d.proc.kill('SIGKILL'); await d.exited; }
			const f = d.saveLog();
			if (f) t.diagnostic(`daemon log: ${f}`);
		} else {
			await d.stop();
			fs.rmSync(d.dataDir, { recursive: true, force: true });
		}
		await fake.close();
	}
});
