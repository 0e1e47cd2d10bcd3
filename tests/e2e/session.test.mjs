// /v1/session: browser login by token or user + password, the session
// cookie, CSRF on changes, logout; `msgd users add`.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { msgdTest, request, rawRequest, MSGD_BIN } from './lib.mjs';

function cookieOf(res) {
	const sc = res.headers.get('set-cookie');
	assert.ok(sc, 'a Set-Cookie header');
	assert.match(sc, /HttpOnly/);
	assert.match(sc, /SameSite=Strict/);
	return sc.split(';')[0];
}

describe('browser sessions', () => {
	msgdTest('token login → cookie; GETs with the cookie; changes need X-Msgd-CSRF; logout ends it', async (h) => {
		const d = await h.start();
		const bad = await request(d.url, 'POST', '/v1/session', { token: 'not-the-token-0000' });
		assert.equal(bad.status, 401);
		const login = await request(d.url, 'POST', '/v1/session', { token: d.token });
		assert.equal(login.status, 201, login.text);
		assert.equal(login.json.user, 'token');
		const csrf = login.json.csrf;
		assert.match(csrf, /^[0-9a-f]{64}$/);
		const cookie = cookieOf(login);
		assert.ok(!login.text.includes(cookie.split('=')[1]), 'the session token is only in the cookie');

		const who = await request(d.url, 'GET', '/v1/session', undefined, { cookie });
		assert.equal(who.status, 200);
		assert.equal(who.json.csrf, csrf);
		assert.equal((await request(d.url, 'GET', '/v1/conversations', undefined, { cookie })).status, 200);

		const body = { from: '15550001111', text: 'via cookie' };
		const noCsrf = await request(d.url, 'POST', '/v1/sandbox/sandbox/inbound', body, { cookie });
		assert.equal(noCsrf.status, 403);
		assert.equal(noCsrf.json.error.code, 'csrf_failed');
		const wrong = await request(d.url, 'POST', '/v1/sandbox/sandbox/inbound', body, { cookie, 'x-msgd-csrf': '0'.repeat(64) });
		assert.equal(wrong.status, 403);
		const ok = await request(d.url, 'POST', '/v1/sandbox/sandbox/inbound', body, { cookie, 'x-msgd-csrf': csrf });
		assert.equal(ok.status, 201, ok.text);

		const out = await request(d.url, 'DELETE', '/v1/session', undefined, { cookie, 'x-msgd-csrf': csrf });
		assert.equal(out.status, 204);
		assert.match(out.headers.get('set-cookie') || '', /Max-Age=0/);
		assert.equal((await request(d.url, 'GET', '/v1/conversations', undefined, { cookie })).status, 401);
		assert.equal((await request(d.url, 'GET', '/v1/session', undefined, { cookie })).status, 401);
	});

	msgdTest('user + password: msgd users add, then login; wrong password 401; non-JSON login 415', async (h) => {
		const d = await h.start();
		const add = spawnSync(MSGD_BIN, ['users', 'add', 'ada', '--data', d.dataDir], { input: 'correct horse battery\n', encoding: 'utf8',
			env: { ...process.env, MSGD_ADMIN_TOKEN: d.token } });
		assert.equal(add.status, 0, add.stderr);
		const wrong = await request(d.url, 'POST', '/v1/session', { user: 'ada', password: 'wrong password!' });
		assert.equal(wrong.status, 401);
		assert.equal(wrong.json.error.code, 'invalid_credentials');
		const nobody = await request(d.url, 'POST', '/v1/session', { user: 'nobody', password: 'whatever123' });
		assert.equal(nobody.status, 401);
		const form = await request(d.url, 'POST', '/v1/session', 'user=ada&password=x', { 'content-type': 'application/x-www-form-urlencoded' });
		assert.equal(form.status, 415);
		const login = await request(d.url, 'POST', '/v1/session', { user: 'ada', password: 'correct horse battery' });
		assert.equal(login.status, 201, login.text);
		assert.equal(login.json.user, 'ada');
		const cookie = cookieOf(login);
		assert.equal((await request(d.url, 'GET', '/v1/channels', undefined, { cookie })).status, 200);
		// Sessions survive a restart.
		await d.stop();
		const d2 = await h.start({ dataDir: d.dataDir });
		assert.equal((await request(d2.url, 'GET', '/v1/session', undefined, { cookie })).status, 200);
	});

	msgdTest('a cookie-authenticated WebSocket from another origin is refused (403)', async (h) => {
		const d = await h.start();
		const login = await request(d.url, 'POST', '/v1/session', { token: d.token });
		const cookie = cookieOf(login);
		const ws = (origin) => rawRequest(d.url, { method: 'GET', path: '/v1/ws', headers: {
			cookie, origin, upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-version': '13',
			'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } });
		const evil = await ws('http://127.0.0.1:1');
		assert.equal(evil.status, 403);
		assert.equal(evil.json.error.field, 'Origin');
		// The same origin is let through: 101 Switching Protocols.
		const u = new URL(d.url);
		const sock = net.connect(Number(u.port), u.hostname);
		await new Promise((r) => sock.once('connect', r));
		sock.write(`GET /v1/ws HTTP/1.1\r\nHost: ${u.host}\r\nOrigin: ${d.url}\r\nCookie: ${cookie}\r\n` +
			'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n' +
			'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
		const first = await new Promise((r) => sock.once('data', (b) => r(b.toString().split('\r\n')[0])));
		assert.match(first, / 101 /);
		sock.destroy();
	});

	msgdTest('the web UI is served at / with its assets, no auth needed', async (h) => {
		const d = await h.start();
		const index = await d.anon('GET', '/');
		assert.equal(index.status, 200);
		assert.match(index.headers.get('content-type'), /text\/html/);
		assert.match(index.headers.get('content-security-policy') || '', /default-src 'self'/);
		const etag = index.headers.get('etag');
		assert.ok(etag);
		const again = await request(d.url, 'GET', '/', undefined, { 'if-none-match': etag });
		assert.equal(again.status, 304);
		assert.equal((await d.anon('GET', '/assets/app.js')).status, 200);
		assert.equal((await d.anon('GET', '/assets/nope.js')).status, 404);
	});

	msgdTest('a new admin token ends the sessions the old one made', async (h) => {
		const d = await h.start();
		const cookie = cookieOf(await request(d.url, 'POST', '/v1/session', { token: d.token }));
		await d.stop();
		// Same token: the session survives the restart.
		const d2 = await h.start({ dataDir: d.dataDir, token: d.token });
		assert.equal((await request(d2.url, 'GET', '/v1/session', undefined, { cookie })).status, 200);
		await d2.stop();
		// Another token: it is gone.
		const d3 = await h.start({ dataDir: d.dataDir, token: `${d.token}-rotated` });
		assert.equal((await request(d3.url, 'GET', '/v1/session', undefined, { cookie })).status, 401);
		assert.equal((await request(d3.url, 'GET', '/v1/conversations', undefined, { cookie })).status, 401);
	});

	msgdTest('sessions are capped per user (the oldest end), and never block other users', async (h) => {
		const d = await h.start();
		for (const name of ['ana', 'bob'])
			assert.equal((await d.api('POST', '/v1/users', { name, password: 'correct horse battery' })).status, 201);
		const cookies = [];
		for (let i = 0; i < 25; i++) {
			const r = await request(d.url, 'POST', '/v1/session', { user: 'ana', password: 'correct horse battery' });
			assert.equal(r.status, 201, `login ${i}: ${r.text}`);
			cookies.push(cookieOf(r));
		}
		const alive = async (cookie) => (await request(d.url, 'GET', '/v1/session', undefined, { cookie })).status === 200;
		for (let i = 0; i < 5; i++)
			assert.equal(await alive(cookies[i]), false, `the old session ${i} ended`);
		for (let i = 5; i < 25; i++)
			assert.equal(await alive(cookies[i]), true, `the new session ${i} lives`);
		const bob = await request(d.url, 'POST', '/v1/session', { user: 'bob', password: 'correct horse battery' });
		assert.equal(bob.status, 201, bob.text);
		assert.equal(await alive(cookieOf(bob)), true);
	});

	msgdTest('the session cookie is Secure when cookie_secure is on; off by default on loopback', async (h) => {
		const d = await h.start();
		const plain = await request(d.url, 'POST', '/v1/session', { token: d.token });
		assert.doesNotMatch(plain.headers.get('set-cookie'), /Secure/);
		await d.stop();
		const conf = path.join(d.dataDir, 'secure.conf');
		fs.writeFileSync(conf, 'cookie_secure = true;\n');
		const d2 = await h.start({ dataDir: d.dataDir, token: d.token, args: ['--config', conf] });
		const sec = await request(d2.url, 'POST', '/v1/session', { token: d.token });
		assert.match(sec.headers.get('set-cookie'), /; Secure/);
		const out = await request(d2.url, 'DELETE', '/v1/session', undefined, { cookie: cookieOf(sec), 'x-msgd-csrf': sec.json.csrf });
		assert.match(out.headers.get('set-cookie'), /; Secure/);
		await d2.stop();
		fs.writeFileSync(conf, 'cookie_secure = "yes";\n');
		const bad = spawnSync(MSGD_BIN, ['check-config', '--config', conf], { encoding: 'utf8' });
		assert.equal(bad.status, 2);
		assert.match(bad.stderr, /cookie_secure/);
	});
});
