// The campaign CLI: msgd campaign create --file LIST.csv --channel NAME
// (--text T | --template NAME --map VAR=COLUMN) uploads and imports the file,
// prints the import's counts and row errors, the campaign id, then progress
// lines until the campaign completes;
// msgd campaign watch ID follows one (completed: exit 0, cancelled: 1).
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { msgdTest, assertStatus, MSGD_BIN } from './lib.mjs';
import { sendSetup } from './fake_graph.mjs';

function cli(args, { timeoutMs = 30_000 } = {}) {
	const env = { ...process.env };
	delete env.MSGD_ADMIN_TOKEN;
	const proc = spawn(MSGD_BIN, ['campaign', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
	let stdout = '', stderr = '';
	proc.stdout.on('data', (c) => { stdout += c; });
	proc.stderr.on('data', (c) => { stderr += c; });
	return new Promise((resolve, reject) => {
		const timer = setTimeout(() => {
			proc.kill('SIGKILL');
			reject(new Error(`msgd campaign ${args.join(' ')} did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
		}, timeoutMs);
		proc.on('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
	});
}

function csvFile(h, text) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-camp-cli-'));
	h.t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
	const f = path.join(dir, 'list.csv');
	fs.writeFileSync(f, text);
	return f;
}

describe('msgd campaign (CLI)', () => {
	msgdTest('create --file: rows without a phone are named, the campaign id printed, progress followed to completed (exit 0)', async (h) => {
		const { d, fake } = await sendSetup(h);
		const f = csvFile(h, '\ufeffphone;first_name;city\r\n+1 555 000 3001;Ann;Oslo\r\n;Nobody;Rome\r\n15550003002;"Bob; Jr";"Lima"\r\n');
		const r = await cli(['create', '--url', d.url, '--token', d.token, '--file', f, '--channel', 'wa',
			'--text', 'Hi {{first_name}} from {{city}}']);
		assert.equal(r.code, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
		assert.match(r.stdout, /^import \d+: 3 rows, 2 valid, 1 invalid, 0 duplicates$/m);
		assert.match(r.stdout, /^row 3: phone: /m);
		const id = Number(r.stdout.split('\n').find((l) => /^\d+$/.test(l)));
		assert.ok(id > 0, r.stdout);
		assert.match(r.stdout, /100% completed: sent 2, .* of 2/);
		const texts = fake.requests.filter((x) => x.kind === 'send').map((x) => x.body.text.body).sort();
		assert.deepEqual(texts, ['Hi Ann from Oslo', 'Hi Bob; Jr from Lima']);
		const c = assertStatus(await d.api('GET', `/v1/campaigns/${id}`), 200);
		assert.equal(c.name, f);
		// A provider template (no local one of that name): its {{1}} from a column.
		const p = await cli(['create', '--url', d.url, '--token', d.token, '--file', f, '--channel', 'wa',
			'--template', 'order_update', '--language', 'en_US', '--map', '1=first_name']);
		assert.equal(p.code, 0, p.stderr);
		const tpls = fake.requests.filter((x) => x.kind === 'send' && x.body.type === 'template');
		assert.deepEqual(tpls.map((x) => x.body.template.components[0].parameters[0].text).sort(), ['Ann', 'Bob; Jr']);
		// watch on a finished campaign: one line, exit 0.
		const w = await cli(['watch', String(id), '--url', d.url, '--token', d.token]);
		assert.equal(w.code, 0, w.stderr);
		assert.equal(w.stdout.trim().split('\n').length, 1, w.stdout);
	});

	msgdTest('create --template with --map; watch of a cancelled campaign exits 1; errors exit 2 with the API\'s words', async (h) => {
		const { d, fake } = await sendSetup(h);
		assertStatus(await d.api('POST', '/v1/templates', { name: 'promo', language: 'en', body: 'Dear {{who}}' }), 201);
		const f = csvFile(h, 'phone,first\n15550004001,Cy\n');
		const r = await cli(['create', '--url', d.url, '--token', d.token, '--file', f, '--channel', 'wa',
			'--template', 'promo', '--map', 'who=first', '--name', 'promo run']);
		assert.equal(r.code, 0, r.stderr);
		assert.equal(fake.requests.find((x) => x.kind === 'send').body.text.body, 'Dear Cy');

		const slow = await cli(['create', '--url', d.url, '--token', d.token, '--channel', 'wa', '--text', 'later',
			'--to', '15550004002', '--to', '15550004003', '--rate', '1', '--no-watch']);
		assert.equal(slow.code, 0, slow.stderr);
		const id = Number(slow.stdout.trim());
		assertStatus(await d.api('POST', `/v1/campaigns/${id}/cancel`), 200);
		const w = await cli(['watch', String(id), '--url', d.url, '--token', d.token]);
		assert.equal(w.code, 1, w.stdout + w.stderr);
		assert.match(w.stdout, /cancelled/);

		const bad = await cli(['create', '--url', d.url, '--token', d.token, '--file', f, '--channel', 'wa',
			'--template', 'promo']);
		assert.equal(bad.code, 2);
		// The import names it first, before any campaign exists.
		assert.match(bad.stderr, /import \d+ failed: variable_not_mapped: .*'who'/);
		const nocol = await cli(['create', '--url', d.url, '--token', d.token, '--file', f, '--channel', 'wa',
			'--text', 'x', '--phone-column', 'mobile']);
		assert.equal(nocol.code, 2);
		assert.match(nocol.stderr, /import \d+ failed: unknown_column/);
		const usage = await cli(['create', '--channel', 'wa']);
		assert.equal(usage.code, 2);
	});
});
