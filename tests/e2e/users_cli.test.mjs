// `msgd users` (add, passwd, list, remove, logout) on a data directory
// with no daemon, and through the running daemon's API (/v1/users) when
// one holds the directory's lock; the /v1/users endpoints themselves.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { msgdTest, request, assertError, waitFor, MSGD_BIN } from './lib.mjs';

const PW = 'correct horse battery';

function users(args, { input = '', env = {}, cwd } = {}) {
	const r = spawnSync(MSGD_BIN, ['users', ...args], {
		input, encoding: 'utf8', cwd, timeout: 20_000,
		env: { ...process.env, MSGD_ADMIN_TOKEN: '', MSGD_DATA: '', MSGD_CONFIG: '', ...env },
	});
	if (r.error) throw r.error;
	return r;
}

async function login(d, user, password = PW) {
	return request(d.url, 'POST', '/v1/session', { user, password });
}

function cookieOf(res) {
	return res.headers.get('set-cookie').split(';')[0];
}

async function alive(d, cookie) {
	return (await request(d.url, 'GET', '/v1/session', undefined, { cookie })).status === 200;
}

describe('msgd users', () => {
	msgdTest('without a daemon: add, list, passwd, logout, remove on the store; usage errors', async () => {
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-users-'));
		try {
			let r = users(['add', 'ana', '--data', dir], { input: `${PW}\n` });
			assert.equal(r.status, 0, r.stderr);
			assert.match(r.stdout, /user ana added/);
			r = users(['add', 'ana', '--data', dir], { input: `${PW}\n` });
			assert.equal(r.status, 1);
			assert.match(r.stderr, /exists/);
			assert.equal(users(['add', 'bob', '--data', dir], { input: `${PW}\n` }).status, 0);
			r = users(['list', '--data', dir]);
			assert.equal(r.status, 0, r.stderr);
			assert.deepEqual(r.stdout.trim().split('\n').map((l) => l.split('\t')[0]), ['ana', 'bob']);
			assert.ok(!r.stdout.includes('argon2'), 'no hashes listed');
			assert.equal(users(['passwd', 'bob', '--data', dir], { input: 'another password\n' }).status, 0);
			r = users(['logout', 'ana', '--data', dir]);
			assert.equal(r.status, 0, r.stderr);
			assert.match(r.stdout, /0 sessions ended/);
			r = users(['remove', 'bob', '--data', dir]);
			assert.equal(r.status, 0, r.stderr);
			r = users(['remove', 'bob', '--data', dir]);
			assert.equal(r.status, 1);
			assert.match(r.stderr, /no user 'bob'/);
			r = users(['list', '--data', dir]);
			assert.equal(r.stdout.trim(), r.stdout.trim().split('\n')[0]);
			assert.match(r.stdout, /^ana\t\d{4}-/);

			r = users(['frobnicate', '--data', dir]);
			assert.equal(r.status, 2);
			assert.match(r.stderr, /msgd users: unknown command 'frobnicate'/);
			assert.match(r.stderr, /msgd users add NAME/);
			assert.equal(users(['add', '--data', dir]).status, 2);
		} finally {
			fs.rmSync(dir, { recursive: true, force: true });
		}
	});

	msgdTest('without --data and without ./var, users add refuses and creates nothing', async () => {
		const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-users-cwd-'));
		try {
			const r = users(['add', 'ana'], { input: `${PW}\n`, cwd });
			assert.equal(r.status, 1);
			assert.match(r.stderr, /no data directory \.\/var/);
			assert.deepEqual(fs.readdirSync(cwd), []);
		} finally {
			fs.rmSync(cwd, { recursive: true, force: true });
		}
	});

	msgdTest('with msgd running: changes go through its API and take effect at once', async (h) => {
		const d = await h.start();
		const env = { MSGD_ADMIN_TOKEN: d.token };
		let r = users(['add', 'ana', '--data', d.dataDir], { input: `${PW}\n`, env });
		assert.equal(r.status, 0, r.stderr);
		// The daemon did it (the CLI did not write behind its back).
		await waitFor(() => /msg="auth: user added" user=ana/.test(d.logs()), 5000, { what: 'the daemon logs the add' });
		assert.equal(users(['add', 'bob', '--data', d.dataDir], { input: `${PW}\n`, env }).status, 0);
		r = users(['list', '--data', d.dataDir], { env });
		assert.equal(r.status, 0, r.stderr);
		assert.deepEqual(r.stdout.trim().split('\n').map((l) => l.split('\t')[0]), ['ana', 'bob']);

		const a1 = cookieOf(await login(d, 'ana'));
		const a2 = cookieOf(await login(d, 'ana'));
		const b1 = cookieOf(await login(d, 'bob'));
		r = users(['logout', 'ana', '--data', d.dataDir], { env });
		assert.equal(r.status, 0, r.stderr);
		assert.match(r.stdout, /2 sessions ended/);
		assert.equal(await alive(d, a1), false);
		assert.equal(await alive(d, a2), false);
		assert.equal(await alive(d, b1), true);

		// A new password ends bob's sessions; the old password no longer works.
		r = users(['passwd', 'bob', '--data', d.dataDir], { input: 'brand new password\n', env });
		assert.equal(r.status, 0, r.stderr);
		assert.equal(await alive(d, b1), false);
		assert.equal((await login(d, 'bob')).status, 401);
		const b2 = cookieOf(await login(d, 'bob', 'brand new password'));

		r = users(['remove', 'bob', '--data', d.dataDir], { env });
		assert.equal(r.status, 0, r.stderr);
		assert.equal(await alive(d, b2), false);
		assert.equal((await login(d, 'bob', 'brand new password')).status, 401);

		// No token readable: refused, nothing changed.
		r = users(['add', 'cy', '--data', d.dataDir], { input: `${PW}\n` });
		assert.equal(r.status, 1);
		assert.match(r.stderr, new RegExp(`msgd \\(pid ${d.proc.pid}\\) is running on .* no admin token is readable`));
		assert.equal((await d.api('GET', '/v1/users')).json.users.length, 1);
	});

	msgdTest('/v1/users: list without hashes, add (409 when taken, 422 invalid), delete (404 unknown), logout', async (h) => {
		const d = await h.start();
		let r = await d.api('POST', '/v1/users', { name: 'ana', password: PW });
		assert.equal(r.status, 201, r.text);
		assert.equal(r.json.name, 'ana');
		assert.match(r.json.created_at, /^\d{4}-\d\d-\d\dT/);
		assertError(await d.api('POST', '/v1/users', { name: 'ana', password: PW }), 409, 'conflict');
		assertError(await d.api('POST', '/v1/users', { name: 'bad name', password: PW }), 422, 'validation_failed');
		assertError(await d.api('POST', '/v1/users', { name: 'token', password: PW }), 422, 'validation_failed');
		assertError(await d.api('POST', '/v1/users', { name: 'bo', password: 'short' }), 422, 'validation_failed');
		assertError(await d.api('POST', '/v1/users', { name: 'bo' }), 404, 'not_found');  // no such user to add
		r = await d.api('GET', '/v1/users');
		assert.equal(r.status, 200);
		assert.deepEqual(r.json.users.map((u) => Object.keys(u).sort()), [['created_at', 'must_change_password', 'name', 'role']]);
		assert.equal(r.json.users[0].role, 'agent', 'the default role');
		assert.ok(!r.text.includes('argon2'));
		assertError(await d.anon('GET', '/v1/users'), 401, 'unauthorized');

		const c = cookieOf(await login(d, 'ana'));
		r = await d.api('POST', '/v1/users/ana/logout');
		assert.equal(r.status, 200, r.text);
		assert.equal(r.json.sessions_ended, 1);
		assert.equal(await alive(d, c), false);
		assertError(await d.api('POST', '/v1/users/nobody/logout'), 404, 'not_found');
		assertError(await d.api('PUT', '/v1/users/nobody/password', { password: PW }), 404, 'not_found');
		assertError(await d.api('DELETE', '/v1/users/nobody'), 404, 'not_found');
		assert.equal((await d.api('DELETE', '/v1/users/ana')).status, 204);
		assert.deepEqual((await d.api('GET', '/v1/users')).json.users, []);
	});
});
