// lib.mjs - helpers for msgd's end-to-end tests (node:test, no npm packages).
//
// Every test starts its own daemon on a free loopback port with its own temp
// data dir. Use msgdTest() instead of test() when a test starts daemons: it
// stops them at the end (asserting a clean SIGTERM exit, which also catches
// sanitizer reports and leaks), or, when the test fails, SIGKILLs them and
// writes their stderr to tests/e2e/artifacts/<test>-<n>.log.
//
// Env: MSGD_BIN (the msgd binary, default build/test/msgd), CORPUS (the
// shared corpus dir, default ../shared/corpus), MSGD_TEST_DATABASE (a
// PostgreSQL cluster, postgres://USER@HOST:PORT/DB: every data directory
// then gets a database of its own there, made on first use, so a restart on
// the same data directory finds its data again; tools/pg.sh starts one).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
// h15openapi: answers checked against docs/openapi.json (openapi_check.mjs)
import { checkAnswer, watchBase } from './openapi_check.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');

export const MSGD_BIN = process.env.MSGD_BIN || path.join(REPO, 'build', 'test', 'msgd');
export const CORPUS = process.env.CORPUS || path.resolve(REPO, '..', 'shared', 'corpus');
export const ARTIFACTS = path.join(HERE, 'artifacts');

export const WA_SECRET = 'corpus_fake_app_secret';
export const WA_VERIFY = 'meatyhamhock';

const TEST_DATABASE = process.env.MSGD_TEST_DATABASE || '';

/** The DSN of dataDir's own database on MSGD_TEST_DATABASE's cluster (made
 *  on first use), or undefined when the tests run on SQLite. */
export function databaseFor(dataDir) {
	if (!TEST_DATABASE) return undefined;
	const name = 't_' + crypto.createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 20);
	const u = new URL(TEST_DATABASE);
	const r = spawnSync('psql', [TEST_DATABASE, '-qAtc', `SELECT 1 FROM pg_database WHERE datname = '${name}'`],
		{ encoding: 'utf8' });
	if (r.status !== 0) throw new Error(`psql: ${r.stderr}`);
	if (r.stdout.trim() !== '1') {
		const c = spawnSync('psql', [TEST_DATABASE, '-qc', `CREATE DATABASE ${name}`], { encoding: 'utf8' });
		if (c.status !== 0 && !/already exists/.test(c.stderr)) throw new Error(`psql: ${c.stderr}`);
	}
	u.pathname = `/${name}`;
	return u.toString();
}

/** databaseFor() for a data directory just made: a database left by an
 *  earlier directory of the same name (mkdtemp hands out names again once
 *  a test removed its directory) is dropped first. */
export function freshDatabaseFor(dataDir) {
	if (!TEST_DATABASE) return undefined;
	const name = 't_' + crypto.createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 20);
	const r = spawnSync('psql', [TEST_DATABASE, '-qc', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`], { encoding: 'utf8' });
	if (r.status !== 0) throw new Error(`psql: ${r.stderr}`);
	return databaseFor(dataDir);
}

/** The environment that points msgd at dataDir's database (empty on SQLite). */
function databaseEnv(dataDir, fresh = false) {
	const dsn = dataDir ? (fresh ? freshDatabaseFor(dataDir) : databaseFor(dataDir)) : undefined;
	return dsn ? { MSGD_DATABASE: dsn } : {};
}

const READY_DEADLINE_MS = 10_000;
const STOP_DEADLINE_MS = 10_000;
const POLL_MS = 20;

// ---------------------------------------------------------------- processes

const live = new Set();  // daemons whose process has not exited

function killAllSync() {
	for (const d of live) {
		try { d.proc.kill('SIGKILL'); } catch { /* already gone */ }
	}
}
process.on('exit', killAllSync);
// Root-level hook of whichever test file imports this module: anything a
// timed-out or crashed test left running is killed and its log kept. Only
// under the test runner (it sets NODE_TEST_CONTEXT in each file's process):
// a plain script that borrows these helpers (tests/crash/crash_loop.mjs)
// would otherwise print a TAP stream of its own.
if (process.env.NODE_TEST_CONTEXT) {
	after(() => {
		for (const d of live) {
			d.saveLog('leftover');
			try { d.proc.kill('SIGKILL'); } catch { /* already gone */ }
		}
	});
}

export function slug(s) {
	return String(s).toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 80) || 'test';
}

export async function freePort() {
	return new Promise((resolve, reject) => {
		const srv = net.createServer();
		srv.unref();
		srv.on('error', reject);
		srv.listen(0, '127.0.0.1', () => {
			const { port } = srv.address();
			srv.close(() => resolve(port));
		});
	});
}

export const sleepTick = (ms) => new Promise((r) => setTimeout(r, ms));

/** Poll fn (sync or async) every intervalMs until it returns a truthy value;
 *  return that value. Throws after deadlineMs with the last error/value. */
export async function waitFor(fn, deadlineMs = 5000, { intervalMs = POLL_MS, what = 'condition' } = {}) {
	const end = Date.now() + deadlineMs;
	let last;
	for (;;) {
		try {
			const v = await fn();
			if (v) return v;
			last = v;
		} catch (e) {
			last = e;
		}
		if (Date.now() >= end) {
			const why = last instanceof Error ? last.message : JSON.stringify(last);
			throw new Error(`waitFor(${what}) timed out after ${deadlineMs} ms; last: ${why}`);
		}
		await sleepTick(intervalMs);
	}
}

function tail(s, n = 4000) {
	return s.length > n ? '…' + s.slice(-n) : s;
}

/**
 * Start `msgd serve` and wait until GET /healthz answers 200.
 * opts: env (extra env vars), args (extra argv), dataDir (reuse a dir),
 *       token, name (artifact log name), keepDataDir, port (this port only:
 *       a restart on the same address; no retry elsewhere when it is taken).
 */
export async function startMsgd(opts = {}) {
	if (opts.port) return startOnPort(opts.port, opts);
	let lastErr;
	for (let attempt = 0; attempt < 3; attempt++) {
		const port = await freePort();
		try {
			return await startOnPort(port, opts);
		} catch (e) {
			lastErr = e;
			// Another process may have taken the port between our probe and
			// the daemon's bind: retry on a fresh port in that case only.
			if (!e.portInUse) throw e;
		}
	}
	throw lastErr;
}

async function startOnPort(port, opts) {
	const token = opts.token ?? `adm_${crypto.randomBytes(12).toString('hex')}`;
	const ownDir = !opts.dataDir;
	const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-e2e-'));
	const name = opts.name ?? 'msgd';
	const listen = `127.0.0.1:${port}`;
	const url = `http://${listen}`;
	const argv = ['serve', '--listen', listen, '--data', dataDir, ...(opts.args ?? [])];

	if (!fs.existsSync(MSGD_BIN))
		throw new Error(`MSGD_BIN ${MSGD_BIN} does not exist (build it: make build/test/msgd)`);

	const proc = spawn(MSGD_BIN, argv, {
		// Credential checks would reach api_base_url (by default the real Graph
		// API) on every channel create: off unless a test turns them on.
		// instance_id by default follows the data directory: a restart on
		// another port is the same instance and takes its own leases and
		// in-flight sends back at once. Inbound media fetches would reach it
		// too: off unless a test turns them on (media.test.mjs).
		env: { ...process.env, MSGD_ADMIN_TOKEN: token, MSGD_CREDENTIAL_CHECKS: 'off', MSGD_MEDIA_FETCH: 'off',
			...databaseEnv(dataDir, ownDir),
			...(opts.env ?? {}) },
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	const chunks = [];
	proc.stderr.on('data', (c) => chunks.push(c));
	proc.stdout.on('data', (c) => chunks.push(c));

	let exitInfo = null;
	const exited = new Promise((resolve) => {
		proc.on('exit', (code, signal) => {
			exitInfo = { code, signal };
			live.delete(d);
			resolve(exitInfo);
		});
		proc.on('error', (err) => {
			exitInfo = { code: null, signal: null, error: err };
			live.delete(d);
			resolve(exitInfo);
		});
	});

	watchBase(url);
	const d = {
		url, port, token, dataDir, proc, name, argv,
		get alive() { return exitInfo === null; },
		get exitInfo() { return exitInfo; },
		exited,
		logs() { return Buffer.concat(chunks).toString('utf8'); },
		saveLog(suffix = '') {
			try {
				fs.mkdirSync(ARTIFACTS, { recursive: true });
				const f = path.join(ARTIFACTS, `${slug(name)}${suffix ? '-' + suffix : ''}.log`);
				fs.writeFileSync(f, `# ${MSGD_BIN} ${argv.join(' ')}\n# data dir: ${dataDir}\n# exit: ${JSON.stringify(exitInfo)}\n` + d.logs());
				return f;
			} catch { return null; }
		},
		/** SIGTERM, wait for exit, assert exit code (0 unless told otherwise). */
		async stop({ expectCode = 0, deadlineMs = STOP_DEADLINE_MS } = {}) {
			if (exitInfo === null) proc.kill('SIGTERM');
			let timeoutId;
			const timer = new Promise((r) => { timeoutId = setTimeout(r, deadlineMs, 'timeout'); });
			const r = await Promise.race([exited, timer]);
			clearTimeout(timeoutId);
			if (r === 'timeout') {
				proc.kill('SIGKILL');
				await exited;
				assert.fail(`msgd did not exit within ${deadlineMs} ms of SIGTERM\n--- stderr ---\n${tail(d.logs())}`);
			}
			if (expectCode !== null && expectCode !== undefined) {
				assert.equal(exitInfo.signal, null,
				    `msgd died of signal ${exitInfo.signal}\n--- stderr ---\n${tail(d.logs())}`);
				assert.equal(exitInfo.code, expectCode,
				    `msgd exit code ${exitInfo.code}, wanted ${expectCode}\n--- stderr ---\n${tail(d.logs())}`);
			}
			return exitInfo;
		},
		/** SIGKILL and wait for the process to be gone. */
		async kill9() {
			if (exitInfo === null) proc.kill('SIGKILL');
			return exited;
		},
		/** HTTP call with the admin token (override/remove with headers). */
		api(method, p, body, headers) {
			return request(url, method, p, body, { authorization: `Bearer ${token}`, ...lower(headers) });
		},
		/** HTTP call without any Authorization header. */
		anon(method, p, body, headers) {
			return request(url, method, p, body, lower(headers));
		},
		ownDir: ownDir && !opts.keepDataDir,
	};
	live.add(d);

	// Wait for /healthz (or for the process to die).
	const end = Date.now() + READY_DEADLINE_MS;
	for (;;) {
		if (exitInfo !== null) {
			const log = d.logs();
			const err = new Error(`msgd exited before becoming ready: ${JSON.stringify(exitInfo)}\n--- stderr ---\n${tail(log)}`);
			err.portInUse = /address already in use|is in use|EADDRINUSE|bind/i.test(log) && !/data directory/i.test(log);
			d.saveLog('startup');
			if (ownDir) fs.rmSync(dataDir, { recursive: true, force: true });
			throw err;
		}
		// Ready once the port answers and this process holds its listening
		// socket: a daemon of another test that got the same probed port
		// answers /healthz too.
		try {
			const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
			await res.arrayBuffer();
			if (res.status === 200 && listensOn(proc.pid, port)) break;
		} catch { /* not listening yet */ }
		if (Date.now() >= end) {
			proc.kill('SIGKILL');
			await exited;
			d.saveLog('startup');
			if (ownDir) fs.rmSync(dataDir, { recursive: true, force: true });
			throw new Error(`msgd not ready (GET /healthz != 200) within ${READY_DEADLINE_MS} ms\n--- stderr ---\n${tail(d.logs())}`);
		}
		await sleepTick(POLL_MS);
	}
	return d;
}

/** Does process pid hold a listening TCP socket on port (Linux /proc)? */
export function listensOn(pid, port) {
	const inodes = new Set();
	for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
		let text = '';
		try { text = fs.readFileSync(f, 'utf8'); } catch { continue; }
		for (const line of text.split('\n').slice(1)) {
			const c = line.trim().split(/\s+/);
			// local_address is ADDR:PORT in hex; st 0A is LISTEN; c[9] the inode.
			if (c.length > 9 && c[3] === '0A' && parseInt(c[1].split(':')[1], 16) === port) inodes.add(c[9]);
		}
	}
	if (!inodes.size) return false;
	let fds = [];
	try { fds = fs.readdirSync(`/proc/${pid}/fd`); } catch { return false; }
	for (const fd of fds) {
		let l = '';
		try { l = fs.readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }
		const m = /^socket:\[(\d+)\]$/.exec(l);
		if (m && inodes.has(m[1])) return true;
	}
	return false;
}

function lower(h) {
	const o = {};
	for (const [k, v] of Object.entries(h ?? {})) o[k.toLowerCase()] = v;
	return o;
}

/** fetch wrapper → {status, headers, json, text}. body: object (JSON-encoded),
 *  string or Buffer (sent as is). Header value null removes that header. */
export async function request(base, method, p, body, headers = {}) {
	const h = {};
	for (const [k, v] of Object.entries(headers)) if (v !== null && v !== undefined) h[k.toLowerCase()] = v;
	let b;
	if (body !== undefined && body !== null) {
		b = (typeof body === 'string' || Buffer.isBuffer(body) || body instanceof Uint8Array) ? body : JSON.stringify(body);
		if (!('content-type' in h) && headers['content-type'] !== null) h['content-type'] = 'application/json';
	}
	const res = await fetch(base + p, { method, headers: h, body: b, signal: AbortSignal.timeout(15_000) });
	const text = await res.text();
	let json;
	try { json = JSON.parse(text); } catch { json = undefined; }
	const out = { status: res.status, headers: res.headers, json, text };
	let sent;
	if (typeof b === 'string' && /json/.test(h['content-type'] ?? '')) {
		try { sent = JSON.parse(b); } catch { sent = undefined; }
	}
	await checkAnswer(base, method, p, out, sent);
	return out;
}

/**
 * Raw HTTP request with node:http, for cases where the server may answer
 * before it read the body and then close the connection (413). Resolves
 * {status, headers, buf, text, json, writeError} when a response arrived
 * (even if writing the body failed), rejects with the socket error otherwise.
 * expectContinue: send "Expect: 100-continue" and the body only on 100.
 */
export function rawRequest(base, { method = 'POST', path: p = '/', headers = {}, body, expectContinue = false } = {}) {
	const u = new URL(base);
	return new Promise((resolve, reject) => {
		let response = null;
		let writeError = null;
		let continued = false;
		const req = http.request({
			host: u.hostname, port: u.port, method, path: p,
			headers: {
				...headers,
				...(body ? { 'content-length': body.length } : {}),
				...(expectContinue ? { expect: '100-continue' } : {}),
			},
			agent: false,
		});
		req.setTimeout(15_000, () => req.destroy(new Error('raw request timeout')));
		req.on('response', (res) => {
			response = res;
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			const finish = () => {
				const buf = Buffer.concat(chunks);
				const text = buf.toString('utf8');
				let json;
				try { json = JSON.parse(text); } catch { json = undefined; }
				resolve({ status: res.statusCode, headers: res.headers, buf, text, json, writeError });
			};
			res.on('end', () => { finish(); if (expectContinue && !continued) req.destroy(); });
			res.on('error', finish);
			res.on('aborted', finish);
		});
		req.on('error', (e) => {
			if (response) { writeError = e; return; }
			reject(e);
		});
		if (expectContinue) {
			// Send the body only if the server asks for it with 100 Continue.
			req.on('continue', () => { continued = true; req.end(body); });
			req.flushHeaders();
		} else if (body) req.end(body); else req.end();
	});
}

// ------------------------------------------------------------- test wrapper

/**
 * test() whose body gets a harness h with h.start(opts) → daemon. At the end
 * every daemon still running is stopped with SIGTERM and must exit 0; when
 * the test failed they are SIGKILLed instead and their logs saved.
 */
export function msgdTest(name, fn, { timeout = 60_000, skip, only } = {}) {
	return test(name, { timeout, skip, only }, async (t) => {
		const daemons = [];
		const h = {
			t,
			daemons,
			async start(opts = {}) {
				const d = await startMsgd({ name: `${slug(name)}-${daemons.length}`, ...opts });
				daemons.push(d);
				return d;
			},
		};
		let failed = false;
		try {
			await fn(h, t);
		} catch (e) {
			failed = true;
			throw e;
		} finally {
			if (failed) {
				for (const d of daemons) {
					if (d.alive) { d.proc.kill('SIGKILL'); await d.exited; }
					const f = d.saveLog();
					if (f) t.diagnostic(`daemon log: ${f}`);
				}
			} else {
				let stopErr = null;
				for (const d of daemons) {
					try {
						if (d.alive) await d.stop();
					} catch (e) {
						stopErr ??= e;
						d.saveLog();
					}
				}
				if (stopErr) throw stopErr;
				// Passed: remove the data dirs this test created.
				for (const d of daemons)
					if (d.ownDir) fs.rmSync(d.dataDir, { recursive: true, force: true });
			}
		}
	});
}

/** Another msgd on d's PostgreSQL database (MSGD_TEST_DATABASE only): its
 *  own data dir and port, the same admin token, as instances of one
 *  installation are run. h is msgdTest's harness. */
export async function startPeer(h, d, opts = {}) {
	const dsn = databaseFor(d.dataDir);
	if (!dsn) throw new Error('startPeer needs MSGD_TEST_DATABASE (a postgres:// cluster)');
	return h.start({ token: d.token, ...opts, env: { ...(opts.env ?? {}), MSGD_DATABASE: dsn } });
}

/** Run the binary with a subcommand (not serve); returns {status, stdout, stderr}. */
export function runMsgd(args, { env, timeout = 15_000 } = {}) {
	const i = args.indexOf('--data');
	const r = spawnSync(MSGD_BIN, args, {
		env: { ...process.env, ...databaseEnv(i >= 0 ? args[i + 1] : env?.MSGD_DATA), ...(env ?? {}) },
		timeout,
		encoding: 'utf8',
	});
	if (r.error) throw r.error;
	return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

// ------------------------------------------------------------ assertions

/** Assert the {"error":{"code","message"}} shape (and optionally the code). */
export function assertError(res, status, code) {
	const ctx = `${status} ${code ?? ''} expected; got ${res.status}: ${res.text.slice(0, 500)}`;
	if (Array.isArray(status)) assert.ok(status.includes(res.status), ctx);
	else assert.equal(res.status, status, ctx);
	assert.ok(res.json && typeof res.json === 'object', `error body is not JSON: ${ctx}`);
	assert.ok(res.json.error && typeof res.json.error === 'object', `no "error" object: ${ctx}`);
	assert.equal(typeof res.json.error.code, 'string', `error.code not a string: ${ctx}`);
	assert.match(res.json.error.code, /^[a-z][a-z0-9_]*$/, `error.code not snake_case: ${ctx}`);
	assert.equal(typeof res.json.error.message, 'string', `error.message not a string: ${ctx}`);
	assert.ok(res.json.error.message.length > 0, `empty error.message: ${ctx}`);
	if (code) {
		if (Array.isArray(code)) assert.ok(code.includes(res.json.error.code), ctx);
		else assert.equal(res.json.error.code, code, ctx);
	}
	return res.json.error;
}

export function assertStatus(res, status, what = '') {
	assert.equal(res.status, status, `${what} expected HTTP ${status}, got ${res.status}: ${res.text.slice(0, 800)}`);
	return res.json;
}

/** Unix seconds (number or string) → "YYYY-MM-DDTHH:MM:SSZ". */
export function rfc3339(sec) {
	return new Date(Number(sec) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// -------------------------------------------------------------- WhatsApp

/** "sha256=<hex HMAC-SHA256(body, secret)>" */
export function signWa(body, secret = WA_SECRET) {
	return 'sha256=' + crypto.createHmac('sha256', secret).update(toBuf(body)).digest('hex');
}

export function toBuf(body) {
	if (Buffer.isBuffer(body)) return body;
	if (typeof body === 'string') return Buffer.from(body, 'utf8');
	return Buffer.from(JSON.stringify(body), 'utf8');
}

/** POST /webhooks/whatsapp; secret null = no signature header. */
export function postWebhook(url, body, secret = WA_SECRET, headers = {}) {
	const buf = toBuf(body);
	const h = { 'content-type': 'application/json', ...lower(headers) };
	if (secret !== null && secret !== undefined) h['x-hub-signature-256'] = signWa(buf, secret);
	return request(url, 'POST', '/webhooks/whatsapp', buf, h);
}

/** Create a whatsapp_cloud channel; asserts 201 and returns the channel. */
export async function createWaChannel(api, name, phone_number_id, app_secret = WA_SECRET, verify_token = WA_VERIFY, extra = {}) {
	const config = {
		phone_number_id,
		access_token: `EAAtest_${crypto.randomBytes(8).toString('hex')}`,
		verify_token,
		...extra,
	};
	if (app_secret !== null) config.app_secret = app_secret;
	const res = await api('POST', '/v1/channels', { name, type: 'whatsapp_cloud', config });
	assertStatus(res, 201, `create channel ${name} (${phone_number_id})`);
	return res.json;
}

/** Build a WhatsApp Cloud webhook body with one inbound message. */
export function waMessageBody({ pnid, id, from = '16505551234', name = 'Test Contact', type = 'text', text = 'hello', timestamp, message } = {}) {
	const msg = message ?? {
		from, id, timestamp: String(timestamp ?? Math.floor(Date.now() / 1000)), type,
		...(type === 'text' ? { text: { body: text } } : {}),
	};
	return {
		object: 'whatsapp_business_account',
		entry: [{
			id: '1234567890987654321',
			changes: [{
				value: {
					messaging_product: 'whatsapp',
					metadata: { display_phone_number: '15550783881', phone_number_id: pnid },
					contacts: [{ profile: { name }, wa_id: msg.from ?? from }],
					messages: [msg],
				},
				field: 'messages',
			}],
		}],
	};
}

/** A corpus statuses/*.json body re-aimed at provider id `id` and number `pnid`. */
export function waStatusBody(corpusName, id, pnid) {
	const body = JSON.parse(fs.readFileSync(path.join(CORPUS, 'whatsapp_cloud', 'statuses', corpusName), 'utf8'));
	for (const e of body.entry)
		for (const c of e.changes) {
			if (pnid && c.value.metadata) c.value.metadata.phone_number_id = pnid;
			for (const s of c.value.statuses ?? []) s.id = id;
		}
	return body;
}

// ----------------------------------------------------------------- corpus

/** [{name, path, buf}] for every *.json file in CORPUS/<subdir>, sorted. */
export function corpusFiles(subdir) {
	const dir = path.join(CORPUS, subdir);
	return fs.readdirSync(dir)
		.filter((f) => f.endsWith('.json'))
		.sort()
		.map((f) => ({ name: f, path: path.join(dir, f), buf: fs.readFileSync(path.join(dir, f)) }));
}

export function corpusFile(rel) {
	return fs.readFileSync(path.join(CORPUS, rel));
}

/** Every metadata.phone_number_id in a parsed WhatsApp webhook body. */
export function phoneNumberIds(parsed) {
	const out = new Set();
	for (const e of parsed?.entry ?? [])
		for (const c of e?.changes ?? [])
			if (c?.value?.metadata?.phone_number_id) out.add(c.value.metadata.phone_number_id);
	return [...out];
}

// --------------------------------------------------------------- reading

/** All events since `since`, paging with `limit`. */
export async function allEvents(d, since = 0, limit = 1000) {
	const out = [];
	let cur = since;
	for (let i = 0; i < 10_000; i++) {
		const r = await d.api('GET', `/v1/events?since=${cur}&limit=${limit}`);
		assertStatus(r, 200, 'GET /v1/events');
		const evs = r.json.events;
		if (!evs.length) return out;
		out.push(...evs);
		assert.ok(r.json.next > cur, `events next ${r.json.next} did not advance past ${cur}`);
		cur = r.json.next;
	}
	throw new Error('too many event pages');
}

export async function messagesByProviderId(d, id) {
	const r = await d.api('GET', `/v1/messages?provider_message_id=${encodeURIComponent(id)}`);
	assertStatus(r, 200, `GET /v1/messages?provider_message_id=${id}`);
	assert.ok(Array.isArray(r.json.messages), `messages not an array: ${r.text}`);
	return r.json.messages;
}

/** Snapshot of everything stored, to prove a rejected request stored nothing. */
export async function snapshot(d) {
	const ev = await allEvents(d);
	const cv = await d.api('GET', '/v1/conversations?limit=200');
	assertStatus(cv, 200, 'GET /v1/conversations');
	return { events: ev.map((e) => e.seq), conversations: cv.json.conversations.map((c) => [c.id, c.unread_count, c.last_message?.id]) };
}

// ---------------------------------------------------------------- sending
// Helpers for the outbound tests (send_*.test.mjs, with fake_graph.mjs).

export const SEND_PNID = 'PNID1';
export const SEND_TOKEN = 'tok-secret-123';
export const FINAL_STATUSES = ['read', 'failed', 'cancelled'];

/** whatsapp_cloud config aimed at a fake Graph server; pacing off and the
 *  24 h window not enforced unless `extra` says otherwise (null removes a key). */
export function waSendConfig(apiBase, extra = {}) {
	const cfg = {
		phone_number_id: SEND_PNID, access_token: SEND_TOKEN, app_secret: WA_SECRET, verify_token: 'vt',
		api_base_url: apiBase, api_version: 'v21.0', rate_per_second: 0, enforce_window: false,
	};
	for (const [k, v] of Object.entries(extra)) {
		if (v === null) delete cfg[k];
		else cfg[k] = v;
	}
	return cfg;
}

/** Create the sending channel (default name "wa"); asserts 201. */
export async function createSendChannel(d, apiBase, extra = {}, name = 'wa') {
	const res = await d.api('POST', '/v1/channels', { name, type: 'whatsapp_cloud', config: waSendConfig(apiBase, extra) });
	assertStatus(res, 201, `create sending channel ${name} (config ${JSON.stringify(Object.keys(extra))})`);
	return res.json;
}

/** POST /v1/messages; asserts `status` (202) and returns the message. */
export async function sendMessage(d, body, { status = 202, headers } = {}) {
	const r = await d.api('POST', '/v1/messages', body, headers);
	assertStatus(r, status, `POST /v1/messages ${JSON.stringify(body).slice(0, 200)}`);
	assert.ok(r.json && typeof r.json.id === 'number', `POST /v1/messages answer has no numeric id: ${r.text.slice(0, 500)}`);
	return r.json;
}

export async function getMessage(d, id) {
	return assertStatus(await d.api('GET', `/v1/messages/${id}`), 200, `GET /v1/messages/${id}`);
}

/** Poll GET /v1/messages/{id} until its status is `want` (string, array, or
 *  predicate on the message). Fails at once when the message reaches a final
 *  status that is not wanted. */
export async function waitMessage(d, id, want, deadlineMs = 10_000) {
	const ok = typeof want === 'function' ? want
		: Array.isArray(want) ? (m) => want.includes(m.status) : (m) => m.status === want;
	const end = Date.now() + deadlineMs;
	let m;
	for (;;) {
		m = await getMessage(d, id);
		if (ok(m)) return m;
		if (FINAL_STATUSES.includes(m.status) && typeof want !== 'function')
			assert.fail(`message ${id} reached final status ${m.status}, wanted ${JSON.stringify(want)}: ${JSON.stringify(m)}`);
		if (Date.now() >= end)
			assert.fail(`message ${id} not ${typeof want === 'function' ? 'as wanted' : JSON.stringify(want)} within ${deadlineMs} ms; last: ${JSON.stringify(m)}`);
		await sleepTick(POLL_MS * 2);
	}
}

/** message.status events of one message (by msgd id), in order. */
export function statusEventsOf(events, messageId) {
	return events.filter((e) => e.type === 'message.status' && (e.message_id === messageId || e.data?.id === messageId));
}

/** GET /v1/channels/{name} → its "state" object (asserted present). */
export async function channelState(d, name = 'wa') {
	const ch = assertStatus(await d.api('GET', `/v1/channels/${name}`), 200, `GET /v1/channels/${name}`);
	assert.ok(ch.state && typeof ch.state === 'object', `channel ${name} has no "state": ${JSON.stringify(ch)}`);
	return ch.state;
}

// ---------------------------------------------------------------- live stream

/** Follow /v1/stream; collects events into `events` until stop(). */
export function followStream(d, { headers = {}, query = '' } = {}) {
	const ctl = new AbortController();
	const st = { events: [], comments: 0, status: 0, ended: false, error: null };
	st.done = (async () => {
		try {
			const res = await fetch(`${d.url}/v1/stream${query}`, {
				headers: { authorization: `Bearer ${d.token}`, ...headers }, signal: ctl.signal,
			});
			st.status = res.status;
			st.contentType = res.headers.get('content-type');
			if (res.status !== 200) { st.body = await res.text(); return; }
			const reader = res.body.getReader();
			st.reader = reader;
			const dec = new TextDecoder();
			let buf = '';
			for (;;) {
				const { value, done } = await reader.read();
				if (done) break;
				buf += dec.decode(value, { stream: true });
				let i;
				while ((i = buf.indexOf('\n\n')) >= 0) {
					const block = buf.slice(0, i);
					buf = buf.slice(i + 2);
					let id = null, data = '';
					for (const line of block.split('\n')) {
						if (line.startsWith(':')) st.comments++;
						else if (line.startsWith('id: ')) id = Number(line.slice(4));
						else if (line.startsWith('data: ')) data += line.slice(6);
					}
					if (id !== null && data === '') st.lastId = id;  // the greeting: a cursor, no event
					if (id !== null && data !== '') {
						const ev = JSON.parse(data);
						assert.equal(ev.seq, id, 'the SSE id is the event seq');
						st.events.push(ev);
					}
				}
			}
			st.ended = true;
		} catch (e) {
			if (e.name !== 'AbortError') st.error = e;
		}
	})();
	// Node 18's fetch does not always wake a pending read() on abort: cancel
	// the reader as well, which always ends the read loop.
	st.stop = async () => {
		ctl.abort();
		if (st.reader) st.reader.cancel().catch(() => {});
		await st.done;
	};
	return st;
}

/* Debian's libfaketime (LD_PRELOAD), for tests that move msgd's wall clock. */
const LIBS = [
	'/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1',
	'/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1',
];
export const FAKETIME = process.env.FAKETIME_SO || LIBS.find((p) => fs.existsSync(p));

/** A clock for one daemon: env for h.start(), and set(offsetSeconds). */
export function fakeClock(t) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-clock-'));
	const file = path.join(dir, 'faketime');
	fs.writeFileSync(file, '+0\n');
	t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
	const c = {
		offset: 0,
		env: {
			LD_PRELOAD: FAKETIME,
			FAKETIME_TIMESTAMP_FILE: file,
			FAKETIME_CACHE_DURATION: '1',
			FAKETIME_DONT_FAKE_MONOTONIC: '1',
			// The sanitizer runtime is not first in the preload list then.
			ASAN_OPTIONS: `${process.env.ASAN_OPTIONS ? process.env.ASAN_OPTIONS + ':' : ''}verify_asan_link_order=0`,
		},
		/** msgd's idea of now (ms), from the Date header. */
		async daemonNow(d) {
			const r = await d.api('GET', '/healthz');
			return Date.parse(r.headers.get('date'));
		},
		/** Move msgd's wall clock to real time + seconds; resolves once msgd sees it. */
		async set(d, seconds) {
			// Whole or not at all: libfaketime may read the file at any time.
			fs.writeFileSync(`${file}.new`, `${seconds >= 0 ? '+' : ''}${seconds}\n`);
			fs.renameSync(`${file}.new`, file);
			c.offset = seconds;
			await waitFor(async () => Math.abs(await c.daemonNow(d) - (Date.now() + seconds * 1000)) < 2500,
			    10_000, { what: `msgd's clock at ${seconds} s` });
			c.setAt = performance.now();
		},
		/** What msgd's clock says now (ms), from ours. */
		now() { return Date.now() + c.offset * 1000; },
	};
	return c;
}

/** Log user in (POST /v1/session) and return an API caller with the cookie,
 *  the CSRF token and, with org, Msgd-Org: (method, path, body, headers). */
export async function loginAs(d, user, password, org) {
	const r = await request(d.url, 'POST', '/v1/session', { user, password });
	assert.equal(r.status, 201, r.text);
	const base = { cookie: r.headers.get('set-cookie').split(';')[0], 'x-msgd-csrf': r.json.csrf };
	if (org) base['msgd-org'] = org;
	return (method, p, body, headers = {}) => request(d.url, method, p, body, { ...base, ...headers });
}
