// `msgd keys` (create, list, revoke) on a data directory with no daemon,
// and through the running daemon's API (/v1/keys, Msgd-Org) when one holds
// the directory's lock. The secret is printed once, alone on create's
// stdout, and nowhere else; bad arguments change nothing.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { msgdTest, request, assertError, assertStatus, waitFor, runMsgd } from './lib.mjs';

const KEY_LINE = /^msgd_[0-9a-f]{64}\n$/;

function keys(args, env = {}) {
	return runMsgd(['keys', ...args], { env: { MSGD_ADMIN_TOKEN: '', MSGD_DATA: '', MSGD_CONFIG: '', ...env } });
}

// The secret of a successful create: stdout is the key alone on its line.
function created(r) {
	assert.equal(r.status, 0, r.stderr);
	assert.match(r.stdout, KEY_LINE);
	const key = r.stdout.trim();
	assert.ok(!r.stderr.includes(key.slice(13)), 'the secret is not on stderr');
	assert.match(r.stderr, /shown this once/);
	return key;
}

// list's lines as objects (tab-separated: id, name, prefix, scopes, created, last used, expires).
function listed(r) {
	assert.equal(r.status, 0, r.stderr);
	return r.stdout.split('\n').filter(Boolean).map((l) => {
		const f = l.split('\t');
		assert.equal(f.length, 7, `7 columns: ${JSON.stringify(l)}`);
		return { id: Number(f[0]), name: f[1], prefix: f[2], scopes: f[3].split(','), created: f[4], used: f[5], expires: f[6] };
	});
}

function as(d, key, headers = {}) {
	return (method, p, body) => request(d.url, method, p, body, { authorization: `Bearer ${key}`, ...headers });
}

describe('msgd keys', () => {
	msgdTest('without a daemon: create, list, revoke on the store; then msgd honours them', async (h) => {
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-keys-'));
		const secrets = [];
		const outputs = [];
		const run = (args) => { const r = keys([...args, '--data', dir]); outputs.push(r); return r; };
		try {
			const ci = created(run(['create', 'ci', '--scope', 'messages:send', '--scope', 'messages:read']));
			const ops = created(run(['create', 'ops', '--scope', 'admin', '--expires', '2099-01-01T00:00:00Z']));
			secrets.push(ci, ops);
			assert.notEqual(ci, ops);
			let l = listed(run(['list']));
			assert.deepEqual(l.map((k) => k.name), ['ci', 'ops']);
			assert.equal(l[0].prefix, ci.slice(0, 13));
			assert.deepEqual(l[0].scopes, ['messages:send', 'messages:read']);
			assert.match(l[0].created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
			assert.equal(l[0].used, '-');
			assert.equal(l[0].expires, '-');
			assert.deepEqual(l[1].scopes, ['admin']);
			assert.equal(l[1].expires, '2099-01-01T00:00:00Z');

			// Bad arguments: refused with a message, nothing made.
			let r = run(['create', 'x', '--scope', 'messages:sned']);
			assert.equal(r.status, 2);
			assert.match(r.stderr, /unknown scope 'messages:sned'/);
			r = run(['create', 'x']);
			assert.equal(r.status, 2);
			assert.match(r.stderr, /at least one --scope/);
			for (const bad of ['tomorrow', '2020-01-01T00:00:00Z']) {
				r = run(['create', 'x', '--scope', 'admin', '--expires', bad]);
				assert.equal(r.status, 2, bad);
				assert.match(r.stderr, /--expires must be an RFC 3339 time in the future/);
			}
			r = run(['create', 'x', '--scope', 'admin', '--org', 'nowhere']);
			assert.equal(r.status, 1);
			assert.match(r.stderr, /no organization named 'nowhere'/);
			r = run(['create', '', '--scope', 'admin']);
			assert.equal(r.status, 2);
			assert.equal(r.stdout, '');
			assert.equal(listed(run(['list'])).length, 2, 'nothing made by the refused creates');

			r = run(['revoke', String(l[1].id)]);
			assert.equal(r.status, 0, r.stderr);
			assert.match(r.stderr, new RegExp(`key ${l[1].id} revoked`));
			r = run(['revoke', String(l[1].id)]);
			assert.equal(r.status, 1);
			assert.match(r.stderr, new RegExp(`no key ${l[1].id} in organization default`));
			assert.equal(run(['revoke', '999']).status, 1);
			l = listed(run(['list']));
			assert.deepEqual(l.map((k) => k.name), ['ci']);

			// Usage errors.
			r = keys([]);
			assert.equal(r.status, 2);
			assert.match(r.stderr, /msgd keys create NAME --scope SCOPE/);
			r = run(['frobnicate']);
			assert.equal(r.status, 2);
			assert.match(r.stderr, /msgd keys: unknown command 'frobnicate'/);
			assert.equal(run(['list', 'extra']).status, 2);
			assert.equal(run(['revoke']).status, 2);
			assert.equal(run(['revoke', 'abc']).status, 2);
			assert.equal(run(['revoke', '-1']).status, 2);
			assert.equal(run(['list', '--scope', 'admin']).status, 2);
			assert.equal(run(['list', '--org', 'Bad Name']).status, 2);

			// The secret appeared on create's stdout only.
			for (const [i, o] of outputs.entries())
				for (const s of secrets)
					assert.ok(!o.stderr.includes(s.slice(13)) && (o.stdout.trim() === s || !o.stdout.includes(s.slice(13))),
						`output ${i} shows no secret`);

			// msgd started on the directory: the key works with its scopes, the revoked one does not.
			const d = await h.start({ dataDir: dir });
			const k = as(d, ci);
			assertStatus(await k('GET', '/v1/conversations'), 200);
			assertStatus(await k('POST', '/v1/sandbox/sandbox/inbound', { from: '15550002222', text: 'hi' }), 201);
			assertError(await k('POST', '/v1/channels', { name: 'x', type: 'sandbox' }), 403, 'forbidden');
			assertError(await as(d, ops)('GET', '/v1/conversations'), 401, 'unauthorized');
			const me = assertStatus(await k('GET', '/v1/auth/me'), 200);
			assert.equal(me.org, 'default');
			assert.deepEqual(me.scopes, ['messages:send', 'messages:read']);
			await d.stop();
			for (const s of secrets) assert.ok(!d.logs().includes(s.slice(13)), 'no secret in the daemon log');
		} finally {
			fs.rmSync(dir, { recursive: true, force: true });
		}
	});

	msgdTest('with msgd running: through its API, in effect at once; --org; errors change nothing', async (h) => {
		const d = await h.start();
		const env = { MSGD_ADMIN_TOKEN: d.token };
		const run = (args, e = env) => keys([...args, '--data', d.dataDir], e);

		const live = created(run(['create', 'live', '--scope', 'messages:read']));
		// The daemon made it (the command did not write behind its back) ...
		await waitFor(() => /msg="API key created" .*name=live/.test(d.logs()), 5000, { what: 'the daemon logs the create' });
		// ... so it works at once.
		const k = as(d, live);
		assertStatus(await k('GET', '/v1/conversations'), 200);
		assertError(await k('POST', '/v1/sandbox/sandbox/inbound', { from: '15550002222', text: 'hi' }), 403, 'forbidden');
		let l = listed(run(['list']));
		assert.deepEqual(l.map((x) => [x.name, x.prefix, x.scopes]), [['live', live.slice(0, 13), ['messages:read']]]);
		assert.ok(!run(['list']).stdout.includes(live.slice(13)));

		// Errors through the daemon: refused, nothing made.
		let r = run(['create', 'x', '--scope', 'nope']);
		assert.equal(r.status, 2);
		r = run(['create', 'x', '--scope', 'admin', '--org', 'nowhere']);
		assert.equal(r.status, 1);
		assert.match(r.stderr, /no organization named 'nowhere'/);
		r = run(['create', 'x', '--scope', 'admin', '--expires', '1999-12-31T23:59:59Z']);
		assert.equal(r.status, 2);
		r = run(['create', 'x', '--scope', 'admin'], {});  // no token readable
		assert.equal(r.status, 1);
		assert.match(r.stderr, new RegExp(`msgd \\(pid ${d.proc.pid}\\) is running on .* no admin token is readable`));
		assert.equal(assertStatus(await d.api('GET', '/v1/keys'), 200).keys.length, 1);

		// Another organization, made over the API.
		assertStatus(await d.api('POST', '/v1/orgs', { name: 'acme' }), 201);
		const acme = created(run(['create', 'acme-ci', '--scope', 'messages:send', '--org', 'acme']));
		assert.equal(assertStatus(await as(d, acme)('GET', '/v1/auth/me'), 200).org, 'acme');
		const la = listed(run(['list', '--org', 'acme']));
		assert.deepEqual(la.map((x) => x.name), ['acme-ci']);
		assert.deepEqual(listed(run(['list'])).map((x) => x.name), ['live']);
		// Revoking default's key while acting in acme: not found, and the key
		// keeps working (it was once dropped from memory all the same).
		assertError(await d.api('DELETE', `/v1/keys/${l[0].id}`, undefined, { 'msgd-org': 'acme' }), 404, 'not_found');
		assertStatus(await k('GET', '/v1/conversations'), 200);
		r = run(['revoke', String(l[0].id), '--org', 'acme']);
		assert.equal(r.status, 1);
		assert.match(r.stderr, /answered 404/);
		assertStatus(await k('GET', '/v1/conversations'), 200);

		// Revoked: refused at once.
		r = run(['revoke', String(l[0].id)]);
		assert.equal(r.status, 0, r.stderr);
		assertError(await k('GET', '/v1/conversations'), 401, 'unauthorized');
		assert.deepEqual(listed(run(['list'])), []);
		r = run(['revoke', String(la[0].id), '--org', 'acme']);
		assert.equal(r.status, 0, r.stderr);
		assertError(await as(d, acme)('GET', '/v1/auth/me'), 401, 'unauthorized');
		for (const s of [live, acme]) assert.ok(!d.logs().includes(s.slice(13)), 'no secret in the daemon log');

		// Stopped: the same organization's keys on the store itself.
		await d.stop();
		const offline = created(keys(['create', 'later', '--scope', 'events:read', '--org', 'acme', '--data', d.dataDir]));
		assert.deepEqual(listed(keys(['list', '--org', 'acme', '--data', d.dataDir])).map((x) => x.name), ['later']);
		assert.deepEqual(listed(keys(['list', '--data', d.dataDir])), []);
		const d2 = await h.start({ dataDir: d.dataDir, token: d.token });
		assert.equal(assertStatus(await as(d2, offline)('GET', '/v1/auth/me'), 200).org, 'acme');
	});
});
