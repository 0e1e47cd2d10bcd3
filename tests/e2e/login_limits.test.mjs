// Failed logins are limited per client address (and user name) with
// exponential backoff, wrong bearer tokens too, and a flood of wrong
// passwords never starves correct logins from elsewhere.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import { msgdTest, request, assertError, MSGD_BIN } from './lib.mjs';

const PW = 'correct horse battery';

/** One request from a chosen loopback source address. */
function from(localAddress, d, method, p, body, headers = {}) {
	const u = new URL(d.url);
	const buf = body === undefined ? null : Buffer.from(JSON.stringify(body));
	return new Promise((resolve, reject) => {
		const req = http.request({
			host: u.hostname, port: u.port, method, path: p, localAddress, agent: false,
			headers: { ...headers, ...(buf ? { 'content-type': 'application/json', 'content-length': buf.length } : {}) },
		}, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => {
				const text = Buffer.concat(chunks).toString('utf8');
				let json;
				try { json = JSON.parse(text); } catch { json = undefined; }
				resolve({ status: res.statusCode, headers: res.headers, text, json });
			});
		});
		req.setTimeout(20_000, () => req.destroy(new Error('timeout')));
		req.on('error', reject);
		req.end(buf ?? undefined);
	});
}

async function addUser(d, name) {
	const r = spawnSync(MSGD_BIN, ['users', 'add', name, '--data', d.dataDir], {
		input: `${PW}\n`, encoding: 'utf8', env: { ...process.env, MSGD_ADMIN_TOKEN: d.token } });
	assert.equal(r.status, 0, r.stderr);
}

describe('login limits', () => {
	msgdTest('wrong passwords: after 5 failures the address gets 429 too_many_attempts with Retry-After', async (h) => {
		const d = await h.start();
		await addUser(d, 'ana');
		for (let i = 0; i < 5; i++) {
			const r = await request(d.url, 'POST', '/v1/session', { user: 'ana', password: `wrong password ${i}` });
			assertError(r, 401, 'invalid_credentials');
		}
		const r = await request(d.url, 'POST', '/v1/session', { user: 'ana', password: 'wrong password 6' });
		assertError(r, 429, 'too_many_attempts');
		assert.ok(Number(r.headers.get('retry-after')) >= 1, `Retry-After: ${r.headers.get('retry-after')}`);
		// Not even the right password is tried from there now...
		assertError(await request(d.url, 'POST', '/v1/session', { user: 'ana', password: PW }), 429, 'too_many_attempts');
		// ...but ana still logs in from her own address.
		const ok = await from('127.0.0.3', d, 'POST', '/v1/session', { user: 'ana', password: PW });
		assert.equal(ok.status, 201, ok.text);
	});

	msgdTest('wrong bearer tokens and token logins from one address get 429; other addresses are unaffected', async (h) => {
		const d = await h.start();
		for (let i = 0; i < 5; i++)
			assertError(await d.api('GET', '/v1/channels', undefined, { authorization: `Bearer wrong-token-${i}` }), 401, 'unauthorized');
		const r = await d.api('GET', '/v1/channels', undefined, { authorization: 'Bearer wrong-token-5' });
		assertError(r, 429, 'too_many_attempts');
		assert.ok(Number(r.headers.get('retry-after')) >= 1);
		assertError(await request(d.url, 'POST', '/v1/session', { token: 'wrong-token-6' }), 429, 'too_many_attempts');
		const other = await from('127.0.0.4', d, 'GET', '/v1/channels', undefined, { authorization: `Bearer ${d.token}` });
		assert.equal(other.status, 200, other.text);
	});

	msgdTest('a flood of wrong passwords from one address does not starve correct logins from another', async (h) => {
		const d = await h.start();
		await addUser(d, 'ana');
		let stop = false;
		const counts = {};
		const attacker = async (i) => {
			while (!stop) {
				const r = await from('127.0.0.2', d, 'POST', '/v1/session', { user: i % 2 ? 'ana' : `nobody${i}`, password: `guess-${i}-${Math.random()}` });
				counts[r.status] = (counts[r.status] ?? 0) + 1;
			}
		};
		const flood = Array.from({ length: 8 }, (_, i) => attacker(i));
		try {
			// Let the flood get going first.
			while (Object.values(counts).reduce((a, b) => a + b, 0) < 8)
				await new Promise((r) => setTimeout(r, 10));
			for (let i = 0; i < 10; i++) {
				const r = await request(d.url, 'POST', '/v1/session', { user: 'ana', password: PW });
				assert.equal(r.status, 201, `correct login ${i}: ${r.status} ${r.text} (flood so far: ${JSON.stringify(counts)})`);
			}
		} finally {
			stop = true;
			await Promise.all(flood);
		}
		assert.ok(counts[429] > 0, `the flood was limited: ${JSON.stringify(counts)}`);
	});
});
