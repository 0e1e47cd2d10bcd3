// A message that is retrying says why: attempts, last_error and
// next_attempt_at on every rendering of the message (GET by id, the
// conversation's messages, ?state=retrying), kept across a restart, and
// printed by `msgd send` while it follows the message. A message that waits
// without any attempt (its channel paused) makes `msgd send` say why.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
	msgdTest, assertStatus, assertError, waitFor, waitMessage, getMessage, sendMessage, freePort,
	createSendChannel, channelState, waSendConfig, MSGD_BIN,
} from './lib.mjs';
import { sendSetup } from './fake_graph.mjs';

const TO = '15550404040';

/** Run `msgd send ARGS...` against d; out() is its stdout so far, exited its exit code. */
function spawnSend(h, d, args) {
	const env = { ...process.env };
	delete env.MSGD_ADMIN_TOKEN;
	const proc = spawn(MSGD_BIN, ['send', '--url', d.url, '--token', d.token, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
	let out = '';
	proc.stdout.on('data', (c) => { out += c; });
	proc.stderr.on('data', (c) => { out += c; });
	const exited = new Promise((resolve) => proc.on('exit', resolve));
	h.t.after(() => { if (proc.exitCode === null) proc.kill('SIGKILL'); });
	return { out: () => out, exited };
}

/** Wait until message id has a failed attempt recorded; returns the message. */
function retrying(d, id, deadlineMs = 10_000) {
	return waitMessage(d, id, (m) => m.status === 'queued' && m.last_error !== null && m.next_attempt_at !== null, deadlineMs);
}

describe('send failures are visible', () => {
	msgdTest('a Graph 500 → attempts, last_error (provider code/title) and next_attempt_at; cleared once accepted', async (h) => {
		const { d, fake } = await sendSetup(h, { config: { breaker_threshold: 100 } });
		fake.always(fake.serverError(500));
		const m = await sendMessage(d, { channel: 'wa', to: TO, text: 'will retry' });
		assert.equal(m.attempts, 0);
		assert.equal(m.last_error, null);
		assert.equal(m.next_attempt_at, null);

		const r = await retrying(d, m.id);
		const first = fake.sends()[0];
		assert.ok(r.attempts >= 1, JSON.stringify(r));
		assert.equal(r.last_error.code, 2, JSON.stringify(r.last_error));
		assert.match(r.last_error.title, /unexpected error/i);
		// Due after the failed attempt (the backoff), as ISO-8601 UTC.
		assert.match(r.next_attempt_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
		assert.ok(Date.parse(r.next_attempt_at) > first.wall, `next ${r.next_attempt_at} not after the attempt at ${new Date(first.wall).toISOString()}`);

		// The same fields wherever the message is rendered.
		const list = assertStatus(await d.api('GET', `/v1/conversations/${m.conversation_id}/messages`), 200);
		const inList = list.messages.find((x) => x.id === m.id);
		assert.ok(inList.attempts >= 1 && inList.last_error && 'next_attempt_at' in inList, JSON.stringify(inList));
		const rq = assertStatus(await d.api('GET', '/v1/messages?state=retrying'), 200);
		assert.ok(rq.messages.some((x) => x.id === m.id && x.last_error.code === 2), JSON.stringify(rq));
		assertError(await d.api('GET', '/v1/messages?state=bogus'), 400, 'invalid_request');

		// The provider recovers: accepted, nothing scheduled, no error left.
		fake.always(null);
		const a = await waitMessage(d, m.id, 'accepted', 15_000);
		assert.ok(a.attempts >= 2, JSON.stringify(a));
		assert.equal(a.last_error, null);
		assert.equal(a.next_attempt_at, null);
		const after = assertStatus(await d.api('GET', '/v1/messages?state=retrying'), 200);
		assert.equal(after.messages.length, 0, JSON.stringify(after));
	});

	msgdTest('connection refused → last_error code "network" with the network error as title; survives a restart', async (h) => {
		const closed = await freePort();
		const d = await h.start();
		await createSendChannel(d, `http://127.0.0.1:${closed}`, { breaker_threshold: 100, max_attempts: 20 });
		const m = await sendMessage(d, { channel: 'wa', to: TO, text: 'nobody listens' });
		const r = await retrying(d, m.id);
		assert.equal(r.last_error.code, 'network', JSON.stringify(r.last_error));
		assert.match(r.last_error.title, /connect/i, JSON.stringify(r.last_error));

		// Stop and start on the same data: the retry and its reason are on disk.
		await d.stop();
		const d2 = await h.start({ dataDir: d.dataDir, token: d.token });
		const again = await getMessage(d2, m.id);
		assert.ok(again.attempts >= r.attempts, `attempts went back: ${again.attempts} < ${r.attempts}`);
		assert.equal(again.last_error.code, 'network');
		assert.equal(again.status, 'queued');
	});

	msgdTest('msgd send prints the last error of a retrying message', async (h) => {
		const { d, fake } = await sendSetup(h, { config: { breaker_threshold: 100 } });
		fake.always(fake.serverError(503));
		const env = { ...process.env };
		delete env.MSGD_ADMIN_TOKEN;
		const proc = spawn(MSGD_BIN, ['send', '--url', d.url, '--token', d.token, '--channel', 'wa', '--to', TO,
			'--text', 'cli retry', '--timeout', '20'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
		let out = '';
		proc.stdout.on('data', (c) => { out += c; });
		const exited = new Promise((resolve) => proc.on('exit', resolve));
		h.t.after(() => { if (proc.exitCode === null) proc.kill('SIGKILL'); });
		await waitFor(() => /retrying: attempt 1 failed: /.test(out), 15_000, { what: `the retry line (stdout: ${out})` });
		const line = out.split('\n').find((l) => l.startsWith('retrying: attempt 1'));
		assert.match(line, /^retrying: attempt 1 failed: An unexpected error has occurred\. Please retry your request later\. \(next try in \d+ s\)$/, line);
		// Said once, not twice (title and detail are the same text here).
		assert.equal(line.split('unexpected error').length, 2, line);
		fake.always(null);
		const code = await exited;
		assert.equal(code, 0, out);
		assert.match(out, /status accepted/);
	}, { timeout: 60_000 });

	msgdTest('msgd send says why a message waits unattempted: the channel paused by the credential check', async (h) => {
		const { d, fake } = await sendSetup(h, { start: { env: { MSGD_CREDENTIAL_CHECKS: 'on' } }, channel: false });
		fake.badTokens.add('tok-revoked');
		assertStatus(await d.api('POST', '/v1/channels', { name: 'wa', type: 'whatsapp_cloud',
			config: waSendConfig(fake.url, { access_token: 'tok-revoked' }) }), 201, 'create wa');
		await waitFor(async () => (await channelState(d)).sending.state === 'paused', 5000, { what: 'wa paused by the check' });

		const run = spawnSend(h, d, ['--channel', 'wa', '--to', TO, '--text', 'held back', '--timeout', '12']);
		await waitFor(() => /^waiting: /m.test(run.out()), 10_000, { what: `the waiting line (output: ${run.out()})` });
		const line = run.out().split('\n').find((l) => l.startsWith('waiting: '));
		assert.equal(line, 'waiting: channel wa is paused: Invalid OAuth access token - Cannot parse access token (190)' +
			' \u2014 fix its credentials with PATCH /v1/channels/wa');
		const id = Number(run.out().split('\n')[0]);
		const m = await getMessage(d, id);
		assert.equal(m.status, 'queued');
		assert.equal(m.attempts, 0, 'never attempted');
		assert.equal(m.last_error, null);

		// A good token sends it; the hold was said once, and nothing retried.
		assertStatus(await d.api('PATCH', '/v1/channels/wa', { config: { access_token: 'tok-good' } }), 200);
		assert.equal(await run.exited, 0, run.out());
		assert.match(run.out(), /status accepted/);
		assert.equal(run.out().split('\n').filter((l) => l.startsWith('waiting: ')).length, 1, run.out());
		assert.doesNotMatch(run.out(), /retrying:/);
		assert.equal(fake.sends().length, 1);
		assert.equal(fake.sends()[0].token, 'tok-good');
	}, { timeout: 60_000 });

	msgdTest('msgd send prints nothing about a hold while the channel is fine', async (h) => {
		const { d, fake } = await sendSetup(h);
		fake.always({ delayMs: 2500 });
		const run = spawnSend(h, d, ['--channel', 'wa', '--to', TO, '--text', 'slow but fine', '--timeout', '6']);
		assert.equal(await run.exited, 0, run.out());
		assert.doesNotMatch(run.out(), /waiting:|retrying:/);
	}, { timeout: 60_000 });
});
