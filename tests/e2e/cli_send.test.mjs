// The send CLI: msgd send --url URL --token T --channel NAME --to ADDR --text TEXT
// (--template NAME --var k=v, --no-wait; token also from MSGD_ADMIN_TOKEN).
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
	msgdTest, assertStatus, postWebhook, waStatusBody, getMessage, waitFor, messagesByProviderId,
	MSGD_BIN, SEND_PNID,
} from './lib.mjs';
import { sendSetup, goldenText } from './fake_graph.mjs';

const TO = '16505551234';

/** Run `msgd send ...` asynchronously; the result promise is killed (and
 *  rejects) after timeoutMs so a CLI that never returns fails clearly. */
function cli(args, { env = {}, timeoutMs = 15_000 } = {}) {
	const baseEnv = { ...process.env };
	delete baseEnv.MSGD_ADMIN_TOKEN;
	const proc = spawn(MSGD_BIN, ['send', ...args], { env: { ...baseEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
	let stdout = '';
	let stderr = '';
	proc.stdout.on('data', (c) => { stdout += c; });
	proc.stderr.on('data', (c) => { stderr += c; });
	const done = new Promise((resolve, reject) => {
		const timer = setTimeout(() => {
			proc.kill('SIGKILL');
			reject(new Error(`msgd send ${args.join(' ')} did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
		}, timeoutMs);
		proc.on('error', (e) => { clearTimeout(timer); reject(e); });
		proc.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr, at: Date.now() }); });
	});
	done.catch(() => {});
	return { proc, done, get stdout() { return stdout; } };
}

function assertPrintsId(out, id) {
	assert.match(out.stdout, new RegExp(`(^|\\D)${id}(\\D|$)`), `stdout does not show message id ${id}: ${out.stdout}`);
}

function statusBody(file, wamid) {
	const b = waStatusBody(file, wamid, SEND_PNID);
	for (const e of b.entry) for (const c of e.changes) for (const s of c.value.statuses ?? []) s.timestamp = String(Math.floor(Date.now() / 1000));
	return b;
}

describe('msgd send (CLI)', () => {
	msgdTest('--text: prints the message id and follows its status until final (exit 0)', async (h) => {
		const { d, fake } = await sendSetup(h);
		const run = cli(['--url', d.url, '--token', d.token, '--channel', 'wa', '--to', TO, '--text', 'hi']);
		await fake.until(() => fake.accepted.length >= 1, 10_000, 'the CLI message reaching the provider');
		assert.deepEqual(fake.sends()[0].body, goldenText(TO, 'hi'));
		const W = fake.accepted[0].id;
		const [m0] = await waitFor(async () => {
			const ms = await messagesByProviderId(d, W);
			return ms.length === 1 && ms[0].status === 'accepted' && ms;
		}, 5000, { what: 'message accepted' });
		// Still following: accepted is not final.
		await new Promise((r) => setTimeout(r, 300));
		assert.equal(run.proc.exitCode, null, `the CLI exited while the message was only accepted: ${run.stdout}`);
		for (const f of ['sent.json', 'delivered.json', 'read.json']) {
			if (run.proc.exitCode !== null) break;  // a CLI may treat delivered as final
			assertStatus(await postWebhook(d.url, statusBody(f, W)), 200, f);
		}
		const out = await run.done;
		assert.equal(out.code, 0, `exit ${out.code}\nstdout: ${out.stdout}\nstderr: ${out.stderr}`);
		assertPrintsId(out, m0.id);
		const m = await getMessage(d, m0.id);
		assert.ok(['delivered', 'read'].includes(m.status), `CLI returned at status ${m.status}`);
		assert.equal(m.text, 'hi');
		assert.equal(m.to, TO);
	});

	msgdTest('--no-wait returns at once with the id while the message is still pending', async (h) => {
		const { d, fake } = await sendSetup(h);
		fake.always(fake.serverError(500));  // it will not get far
		const t0 = Date.now();
		const out = await cli(['--url', d.url, '--token', d.token, '--channel', 'wa', '--to', TO, '--text', 'fire and forget', '--no-wait'], { timeoutMs: 5000 }).done;
		assert.equal(out.code, 0, `exit ${out.code}\nstdout: ${out.stdout}\nstderr: ${out.stderr}`);
		assert.ok(out.at - t0 < 3000, `--no-wait took ${out.at - t0} ms`);
		const id = Number(out.stdout.match(/\d+/)?.[0]);
		const m = await getMessage(d, id);
		assertPrintsId(out, m.id);
		assert.equal(m.text, 'fire and forget');
		assert.ok(!['accepted', 'sent', 'delivered', 'read'].includes(m.status), `status ${m.status}`);
	});

	msgdTest('token from MSGD_ADMIN_TOKEN; the sandbox channel is followed to read', async (h) => {
		const d = await h.start();
		const out = await cli(['--url', d.url, '--channel', 'sandbox', '--to', '15550008888', '--text', 'via env'], { env: { MSGD_ADMIN_TOKEN: d.token } }).done;
		assert.equal(out.code, 0, `exit ${out.code}\nstdout: ${out.stdout}\nstderr: ${out.stderr}`);
		const cv = assertStatus(await d.api('GET', '/v1/conversations?channel=sandbox'), 200);
		const conv = cv.conversations.find((c) => c.contact.address === '15550008888');
		assert.ok(conv, JSON.stringify(cv));
		const ms = assertStatus(await d.api('GET', `/v1/conversations/${conv.id}/messages`), 200);
		const m = ms.messages.find((x) => x.direction === 'out');
		assert.ok(m, JSON.stringify(ms));
		assertPrintsId(out, m.id);
		assert.ok(['delivered', 'read'].includes(m.status), `CLI returned at status ${m.status}`);
	});

	msgdTest('--template NAME --var k=v renders a local template', async (h) => {
		const { d, fake } = await sendSetup(h);
		assertStatus(await d.api('POST', '/v1/templates', { name: 'order_ready', language: 'en', body: 'Hello {{name}}, your order {{order}} ships today' }), 201);
		const out = await cli(['--url', d.url, '--token', d.token, '--channel', 'wa', '--to', TO,
			'--template', 'order_ready', '--var', 'name=Ada', '--var', 'order=#42', '--no-wait']).done;
		assert.equal(out.code, 0, `exit ${out.code}\nstdout: ${out.stdout}\nstderr: ${out.stderr}`);
		await fake.until(() => fake.accepted.length >= 1, 10_000, 'the templated message');
		assert.deepEqual(fake.sends()[0].body, goldenText(TO, 'Hello Ada, your order #42 ships today'));
	});

	msgdTest('errors: unknown channel, wrong token, missing --to → non-zero exit with a message; nothing sent', async (h) => {
		const { d, fake } = await sendSetup(h);
		const base = ['--url', d.url, '--to', TO, '--text', 'x', '--no-wait'];
		let out = await cli([...base, '--token', d.token, '--channel', 'nope']).done;
		assert.notEqual(out.code, 0, out.stdout);
		assert.match(out.stderr, /channel/i);
		out = await cli([...base, '--token', 'wrong-token', '--channel', 'wa']).done;
		assert.notEqual(out.code, 0, out.stdout);
		assert.ok(out.stderr.length > 0);
		out = await cli(['--url', d.url, '--token', d.token, '--channel', 'wa', '--text', 'x']).done;
		assert.notEqual(out.code, 0, out.stdout);
		assert.match(out.stderr, /to/);
		assert.equal(fake.requests.length, 0);
	});
});
