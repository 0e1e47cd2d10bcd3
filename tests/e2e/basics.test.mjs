// basics: health, auth, error shape, routing, request ids, CLI subcommands.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { msgdTest, runMsgd, assertError, assertStatus } from './lib.mjs';

describe('health and auth', () => {
	msgdTest('GET /healthz and /readyz answer 200 without a token', async (h) => {
		const d = await h.start();
		const hz = await d.anon('GET', '/healthz');
		assertStatus(hz, 200, '/healthz');
		assert.deepEqual(hz.json, { status: 'ok' });
		const rz = await d.anon('GET', '/readyz');
		assertStatus(rz, 200, '/readyz');
		assert.deepEqual(rz.json, { status: 'ready' }, 'without a token: the overall status only');
		const rt = await d.api('GET', '/readyz');
		assertStatus(rt, 200, '/readyz with a token');
		assert.equal(rt.json.status, 'ready');
		assert.equal(rt.json.storage, 'ok');
		assert.equal(rt.json.channels.sandbox.sending.state, 'ok', rt.text);
		assert.equal(typeof rt.json.channels.sandbox.queue_depth, 'number');
		// A wrong token is no token: no detail (and no 401: probes need no token).
		const rw = await d.api('GET', '/readyz', undefined, { authorization: 'Bearer wrong' });
		assertStatus(rw, 200);
		assert.deepEqual(rw.json, { status: 'ready' });
	});

	msgdTest('/v1 without a token, with a wrong token or a non-bearer scheme → 401 unauthorized', async (h) => {
		const d = await h.start();
		assertError(await d.anon('GET', '/v1/channels'), 401, 'unauthorized');
		assertError(await d.api('GET', '/v1/channels', undefined, { authorization: 'Bearer wrong-token' }), 401, 'unauthorized');
		assertError(await d.api('GET', '/v1/channels', undefined, { authorization: `Bearer ${d.token}x` }), 401, 'unauthorized');
		assertError(await d.api('GET', '/v1/channels', undefined, { authorization: `Basic ${Buffer.from('admin:' + d.token).toString('base64')}` }), 401, 'unauthorized');
		assertError(await d.api('GET', '/v1/channels', undefined, { authorization: 'Bearer ' }), 401, 'unauthorized');
		// Also on writes: nothing may be created without auth.
		assertError(await d.anon('POST', '/v1/channels', { name: 'x', type: 'sandbox', config: {} }), 401, 'unauthorized');
		const list = assertStatus(await d.api('GET', '/v1/channels'), 200);
		assert.ok(!list.channels.some((c) => c.name === 'x'), 'an unauthenticated POST created a channel');
	});

	msgdTest('the correct admin token is accepted', async (h) => {
		const d = await h.start();
		const r = await d.api('GET', '/v1/channels');
		assertStatus(r, 200, 'GET /v1/channels');
		assert.ok(Array.isArray(r.json.channels));
	});
});

describe('routing and error shape', () => {
	msgdTest('unknown routes → 404 not_found with the JSON error shape', async (h) => {
		const d = await h.start();
		assertError(await d.api('GET', '/v1/no-such-thing'), 404, 'not_found');
		assertError(await d.anon('GET', '/no-such-thing'), 404, 'not_found');
		assertError(await d.api('GET', '/v1/channels/no-such-channel'), 404, 'not_found');
		assertError(await d.api('GET', '/v1/conversations/999999'), 404, 'not_found');
		assertError(await d.api('GET', '/v1/messages/999999'), 404, 'not_found');
	});

	msgdTest('known route with another method → 405 method_not_allowed', async (h) => {
		const d = await h.start();
		assertError(await d.api('DELETE', '/v1/channels'), 405, 'method_not_allowed');
		assertError(await d.api('PUT', '/v1/events'), 405, 'method_not_allowed');
	});

	msgdTest('every response carries an X-Request-Id header', async (h) => {
		const d = await h.start();
		const seen = new Set();
		for (const r of [
			await d.anon('GET', '/healthz'),
			await d.anon('GET', '/readyz'),
			await d.api('GET', '/v1/channels'),
			await d.anon('GET', '/v1/channels'),
			await d.api('GET', '/v1/nope'),
			await d.api('POST', '/v1/channels', '{not json'),
		]) {
			const id = r.headers.get('x-request-id');
			assert.ok(id && id.length > 0, `no X-Request-Id on a ${r.status} response`);
			seen.add(id);
		}
		assert.equal(seen.size, 6, 'request ids should differ between requests');
	});

	msgdTest('invalid query parameters → 400 invalid_parameter (numbers) or invalid_request (cursor)', async (h) => {
		const d = await h.start();
		assertError(await d.api('GET', '/v1/conversations?limit=0'), 400, 'invalid_parameter');
		assertError(await d.api('GET', '/v1/conversations?limit=201'), 400, 'invalid_parameter');
		assertError(await d.api('GET', '/v1/conversations?limit=abc'), 400, 'invalid_parameter');
		assertError(await d.api('GET', '/v1/events?since=0&limit=1001'), 400, 'invalid_parameter');
		assertError(await d.api('GET', '/v1/events?since=0&limit=0'), 400, 'invalid_parameter');
		assertError(await d.api('GET', '/v1/conversations?cursor=%27%3B--garbage'), 400, 'invalid_request');
		assertError(await d.api('GET', '/v1/messages/abc'), [400, 404]);
	});
});

describe('first start', () => {
	msgdTest('a channel named "sandbox" of type sandbox exists on first start', async (h) => {
		const d = await h.start();
		const r = assertStatus(await d.api('GET', '/v1/channels'), 200);
		const sb = r.channels.find((c) => c.name === 'sandbox');
		assert.ok(sb, `no sandbox channel in ${JSON.stringify(r)}`);
		assert.equal(sb.type, 'sandbox');
		assert.equal(typeof sb.id, 'number');
		assert.match(sb.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
		const one = assertStatus(await d.api('GET', '/v1/channels/sandbox'), 200);
		assert.equal(one.name, 'sandbox');
		assert.equal(one.type, 'sandbox');
	});

	msgdTest('the sandbox channel is not re-created on restart after being deleted', async (h) => {
		const d = await h.start();
		assert.equal((await d.api('DELETE', '/v1/channels/sandbox')).status, 204);
		await d.stop();
		const d2 = await h.start({ dataDir: d.dataDir });
		const r = assertStatus(await d2.api('GET', '/v1/channels'), 200);
		assert.ok(!r.channels.some((c) => c.name === 'sandbox'), 'sandbox came back after a restart');
	});
});

describe('CLI subcommands', () => {
	test('`msgd version` exits 0 and prints a version', () => {
		const r = runMsgd(['version']);
		assert.equal(r.status, 0, `exit ${r.status}: ${r.stderr}`);
		assert.ok((r.stdout + r.stderr).trim().length > 0, 'version printed nothing');
	});

	test('`msgd help` exits 0 and mentions the serve subcommand', () => {
		const r = runMsgd(['help']);
		assert.equal(r.status, 0, `exit ${r.status}: ${r.stderr}`);
		assert.match(r.stdout + r.stderr, /serve/);
	});

	test('an unknown subcommand exits non-zero', () => {
		const r = runMsgd(['no-such-subcommand']);
		assert.notEqual(r.status, 0);
	});

	const confDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-conf-'));

	test('check-config accepts a valid file (exit 0)', () => {
		const dir = confDir();
		const f = path.join(dir, 'msgd.conf');
		fs.writeFileSync(f, `listen = "127.0.0.1:8080";\ndata = "${dir}";\nbody_limit = 1048576;\nlog_level = "info";\n`);
		const r = runMsgd(['check-config', '--config', f]);
		assert.equal(r.status, 0, `exit ${r.status}: ${r.stderr}`);
		fs.rmSync(dir, { recursive: true, force: true });
	});

	test('check-config rejects an unknown setting, naming file and line', () => {
		const dir = confDir();
		const f = path.join(dir, 'msgd.conf');
		fs.writeFileSync(f, 'listen = "127.0.0.1:8080";\nbody_limit = 1048576;\nfoo = 1;\nlog_level = "info";\n');
		const r = runMsgd(['check-config', '--config', f]);
		assert.notEqual(r.status, 0, 'unknown setting accepted');
		assert.equal(r.signal, null, `check-config crashed: ${r.stderr}`);
		assert.match(r.stderr, /msgd\.conf:3\b/, `stderr lacks "msgd.conf:3": ${r.stderr}`);
		assert.match(r.stderr, /foo/, `stderr does not name the setting: ${r.stderr}`);
		fs.rmSync(dir, { recursive: true, force: true });
	});

	test('check-config rejects a syntax error, naming file and line', () => {
		const dir = confDir();
		const f = path.join(dir, 'msgd.conf');
		fs.writeFileSync(f, 'listen = "127.0.0.1:8080";\nbody_limit = ;\nlog_level = "info";\n');
		const r = runMsgd(['check-config', '--config', f]);
		assert.notEqual(r.status, 0, 'syntax error accepted');
		assert.equal(r.signal, null, `check-config crashed: ${r.stderr}`);
		assert.match(r.stderr, /msgd\.conf:2\b/, `stderr lacks "msgd.conf:2": ${r.stderr}`);
		fs.rmSync(dir, { recursive: true, force: true });
	});

	test('check-config on a missing file exits non-zero', () => {
		const r = runMsgd(['check-config', '--config', path.join(os.tmpdir(), 'msgd-no-such-file.conf')]);
		assert.notEqual(r.status, 0);
		assert.equal(r.signal, null, `check-config crashed: ${r.stderr}`);
	});
});
