// people.test.mjs - the panel's people pages in a real browser (Debian's
// chromium driven by playwright-core) against a real msgd: a user of two
// organizations switches between them (the list, and the live stream,
// follow); an admin invites an agent and a viewer (one-time passwords shown
// once), changes a role and removes a member; creates an API key (the
// secret shown once, then only its prefix) and revokes it; the viewer signs
// in with the one-time password, must choose a password first, then sees
// the conversations but no composer.
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
import { startMsgd, waitFor, assertStatus, request } from '../e2e/lib.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
process.env.MSGD_BIN ||= path.join(REPO, 'build', 'test', 'msgd');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.join(HERE, 'artifacts');
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	'--disable-background-networking', '--disable-component-update', '--disable-sync'];
const PW = 'correct horse battery';
const VIC_PW = 'vic chooses this one';

test('panel: org switcher, users (invite, role, remove), keys (shown once, revoke), viewer without composer', { timeout: 120_000 }, async (t) => {
	fs.mkdirSync(ARTIFACTS, { recursive: true });
	const token = `adm_${crypto.randomBytes(12).toString('hex')}`;
	const d = await startMsgd({ token, name: 'browser-people' });
	const acme = { 'msgd-org': 'acme' };
	const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-chromium-'));
	let ctx;
	let failed = true;
	const pageErrors = [];
	try {
		// Two organizations, each with a conversation; ada is an admin of both.
		assertStatus(await d.api('POST', '/v1/orgs', { name: 'acme' }), 201, 'org acme');
		assertStatus(await d.api('POST', '/v1/channels', { name: 'sandbox', type: 'sandbox', config: {} }, acme), 201, 'acme sandbox');
		assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '15550001111', name: 'Default Contact', text: 'hello default' }), 201);
		assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '15550002222', name: 'Acme Contact', text: 'hello acme' }, acme), 201);
		assertStatus(await d.api('POST', '/v1/users', { name: 'ada', password: PW, role: 'admin' }), 201, 'ada');
		assertStatus(await d.api('POST', '/v1/users', { name: 'ada', role: 'admin' }, acme), 201, 'ada joins acme');

		ctx = await chromium.launchPersistentContext(userDataDir, {
			executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 800 },
		});
		await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: d.url });
		const page = ctx.pages()[0] ?? await ctx.newPage();
		page.on('pageerror', (e) => pageErrors.push(String(e)));
		page.on('console', (m) => { if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) pageErrors.push(m.text()); });
		page.on('dialog', (dl) => dl.accept());
		const signIn = async (user, password) => {
			await page.locator('#login').waitFor({ state: 'visible' });
			await page.check('input[name=mode][value=password]');
			await page.fill('#user', user);
			await page.fill('#password', password);
			await page.click('#login-form button[type=submit]');
		};
		const conv = (name) => page.locator('.conv', { hasText: name });

		// ada signs in: default's conversation, a switcher with both organizations.
		await page.goto(d.url + '/');
		await signIn('ada', PW);
		await conv('Default Contact').waitFor();
		assert.equal(await conv('Acme Contact').count(), 0, 'nothing of acme in default');
		const sw = page.locator('#org-switch');
		await sw.waitFor({ state: 'visible' });
		assert.deepEqual(await sw.locator('option').allInnerTexts(), ['default', 'acme']);
		assert.equal(await sw.inputValue(), 'default');
		assert.equal(await page.locator('#composer').count(), 1);

		// Switch: acme's conversations only, and acme's live events (the stream carries ?org=).
		await sw.selectOption('acme');
		await conv('Acme Contact').waitFor();
		assert.equal(await conv('Default Contact').count(), 0, 'nothing of default in acme');
		assert.equal(await page.locator('#org-switch').inputValue(), 'acme');
		await page.locator('#live', { hasText: /^live$/ }).waitFor();
		assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '15550003333', name: 'Acme Live', text: 'live in acme' }, acme), 201);
		await conv('Acme Live').waitFor();
		assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '15550004444', name: 'Default Live', text: 'live in default' }), 201);
		await page.screenshot({ path: path.join(ARTIFACTS, 'org-acme.png') });
		await sw.selectOption('default');
		await conv('Default Live').waitFor();
		assert.equal(await conv('Acme Live').count(), 0);
		assert.equal(await conv('Acme Contact').count(), 0);

		// Users: invite an agent and a viewer; each one-time password is shown once.
		await page.click('#nav-users');
		await page.locator('#users').waitFor({ state: 'visible' });
		const invite = async (name, role) => {
			await page.fill('#invite-name', name);
			await page.selectOption('#invite-role', role);
			await page.click('#invite-form button[type=submit]');
			await page.locator('#invite-who', { hasText: name }).waitFor();
			const otp = await page.inputValue('#invite-otp');
			assert.match(otp, /^[A-Za-z0-9_-]{22}$/);
			return otp;
		};
		const agnesOtp = await invite('agnes', 'agent');
		await page.click('#invite-copy');
		await page.locator('#invite-copy', { hasText: 'Copied' }).waitFor();
		assert.equal(await page.evaluate(() => navigator.clipboard.readText()), agnesOtp, 'copied');
		const vicOtp = await invite('vic', 'viewer');
		assert.equal(await page.locator('#invite-copy').innerText(), 'Copy', 'a new password, not copied yet');
		await page.screenshot({ path: path.join(ARTIFACTS, 'users-invite.png') });
		await page.click('#invite-close');
		assert.equal(await page.inputValue('#invite-otp'), '', 'the one-time password is gone from the page');
		assert.ok(!(await page.content()).includes(vicOtp));
		const row = (name) => page.locator(`#users-list tr[data-user="${name}"]`);
		await row('vic').waitFor();
		assert.match(await row('vic').innerText(), /has not chosen a password yet/);
		assert.equal(await row('vic').locator('select').inputValue(), 'viewer');
		assert.equal(await row('agnes').locator('select').inputValue(), 'agent');

		// Change a role with the select; remove a member (after a confirm).
		await row('agnes').locator('select').selectOption('admin');
		await waitFor(async () => (await d.api('GET', '/v1/users')).json.users.find((u) => u.name === 'agnes')?.role === 'admin',
			5000, { what: 'agnes made admin' });
		await row('agnes').locator('button', { hasText: 'Remove' }).click();
		await row('agnes').waitFor({ state: 'detached' });
		assert.equal((await d.api('GET', '/v1/users')).json.users.some((u) => u.name === 'agnes'), false);

		// API keys: the secret once, then only its prefix; revoke.
		await page.click('#nav-keys');
		await page.locator('#keys').waitFor({ state: 'visible' });
		await page.fill('#key-name', 'ci');
		await page.check('#key-scopes input[data-scope="messages:send"]');
		await page.click('#key-form button[type=submit]');
		await page.locator('#key-done').waitFor({ state: 'visible' });
		const secret = await page.inputValue('#key-secret');
		assert.match(secret, /^msgd_[0-9a-f]{64}$/);
		const keyRow = page.locator('#keys-list tr', { hasText: 'ci' });
		await keyRow.waitFor();
		assert.match(await keyRow.innerText(), /messages:send/);
		assert.match(await keyRow.innerText(), /messages:read/);
		assert.ok((await keyRow.innerText()).includes(secret.slice(0, 13)), 'the list shows the prefix');
		assert.ok(!(await keyRow.innerText()).includes(secret), 'never the whole key');
		assertStatus(await request(d.url, 'GET', '/v1/conversations', undefined, { authorization: `Bearer ${secret}` }), 200, 'the key works');
		await page.screenshot({ path: path.join(ARTIFACTS, 'keys-created.png') });
		await page.click('#key-close');
		assert.ok(!(await page.content()).includes(secret), 'the secret is gone from the page');
		await page.reload();
		await keyRow.waitFor();
		assert.ok(!(await page.content()).includes(secret), 'and does not come back');
		await keyRow.locator('button', { hasText: 'Revoke' }).click();
		await keyRow.waitFor({ state: 'detached' });
		assert.equal((await request(d.url, 'GET', '/v1/conversations', undefined, { authorization: `Bearer ${secret}` })).status, 401,
			'revoked at once');

		// The viewer: one-time password, a new password first, then the inbox without a composer.
		await page.click('#logout');
		await signIn('vic', vicOtp);
		await page.locator('#pwchange').waitFor({ state: 'visible' });
		assert.equal(await page.locator('#app').isVisible(), false, 'nothing else before the change');
		await page.fill('#pw-current', 'not the password');
		await page.fill('#pw-new', VIC_PW);
		await page.fill('#pw-repeat', VIC_PW);
		await page.click('#pw-form button[type=submit]');
		await page.locator('#pw-error', { hasText: /current password is wrong/ }).waitFor();
		await page.fill('#pw-current', vicOtp);
		await page.click('#pw-form button[type=submit]');
		await conv('Default Contact').waitFor();
		assert.equal(await page.locator('#pwchange').isVisible(), false);
		assert.equal((await d.api('GET', '/v1/users')).json.users.find((u) => u.name === 'vic').must_change_password, false);
		await conv('Default Contact').click();
		await page.locator('#messages .msg.in', { hasText: 'hello default' }).waitFor();
		assert.equal(await page.locator('#composer').isVisible(), false, 'a viewer sees no composer');
		assert.equal(await page.locator('#nav-users').isVisible(), false);
		assert.equal(await page.locator('#nav-keys').isVisible(), false);
		assert.equal(await page.locator('#org-switch').isVisible(), false, 'one organization: no switcher');
		assert.match(await page.locator('#who').innerText(), /vic · viewer/);
		await page.screenshot({ path: path.join(ARTIFACTS, 'viewer-thread.png') });
		// The one-time password is spent; the chosen one signs in.
		assert.equal((await request(d.url, 'POST', '/v1/session', { user: 'vic', password: vicOtp })).status, 401);
		assert.equal((await request(d.url, 'POST', '/v1/session', { user: 'vic', password: VIC_PW })).status, 201);

		assert.deepEqual(pageErrors, [], 'no script errors or CSP violations');
		failed = false;
	} finally {
		if (ctx) {
			if (failed) {
				for (const p of ctx.pages()) await p.screenshot({ path: path.join(ARTIFACTS, 'people-failure.png') }).catch(() => {});
				if (pageErrors.length) t.diagnostic('page errors: ' + pageErrors.join('\n'));
			}
			await ctx.close();
		}
		fs.rmSync(userDataDir, { recursive: true, force: true });
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
