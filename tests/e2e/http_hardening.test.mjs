// The HTTP layer against hostile clients, over raw sockets: connection-limit
// recovery, deadlines for every request on a connection (headers of the
// first and later requests, bodies), ambiguous body framing (request
// smuggling), JSON for the errors of the HTTP layer itself (the first
// request's head is checked before libmicrohttpd sees it), "%00" in the
// request target, and one msgd per port.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
	msgdTest, waitFor, sleepTick, runMsgd, createWaChannel, MSGD_BIN, WA_VERIFY,
} from './lib.mjs';

const tmpDirs = [];
function tmpDir() {
	const d = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-http-'));
	tmpDirs.push(d);
	return d;
}
process.on('exit', () => { for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true }); });

/** `--config FILE` args for a config file holding `settings`. */
function configArgs(settings) {
	const f = path.join(tmpDir(), 'msgd.conf');
	fs.writeFileSync(f, Object.entries(settings).map(([k, v]) => `${k} = ${v};\n`).join(''));
	return ['--config', f];
}

/**
 * A raw connection: what arrived (as latin1 text), whether the server
 * closed it, and helpers to wait for either.
 */
function connect(port) {
	const s = net.connect(port, '127.0.0.1');
	const c = { sock: s, data: '', closed: false, closedAt: 0, error: null };
	s.setNoDelay(true);
	s.on('data', (b) => { c.data += b.toString('latin1'); });
	s.on('error', (e) => { c.error = e; });
	s.on('close', () => { c.closed = true; c.closedAt = Date.now(); });
	c.connected = new Promise((resolve, reject) => {
		s.once('connect', resolve);
		s.once('error', reject);
	});
	c.write = (x) => new Promise((resolve) => {
		if (c.closed || s.destroyed) return resolve(false);
		s.write(x, () => resolve(true));
	});
	c.destroy = () => s.destroy();
	return c;
}

/** Parse the responses in `text`: [{status, headers, body}]; a trailing
 *  partial response is ignored. */
function parseResponses(text) {
	const out = [];
	let rest = text;
	for (;;) {
		const end = rest.indexOf('\r\n\r\n');
		if (end < 0) return out;
		const lines = rest.slice(0, end).split('\r\n');
		const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
		if (!m) return out;
		const headers = {};
		for (const l of lines.slice(1)) {
			const i = l.indexOf(':');
			if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
		}
		const len = Number(headers['content-length'] ?? 0);
		const body = rest.slice(end + 4, end + 4 + len);
		if (body.length < len) return out;
		out.push({ status: Number(m[1]), headers, body });
		rest = rest.slice(end + 4 + len);
	}
}

function assertJsonError(r, statuses, code) {
	const what = `${r.status} ${JSON.stringify(r.headers)} ${r.body.slice(0, 300)}`;
	assert.ok(statuses.includes(r.status), `status ${r.status}, wanted one of ${statuses}: ${what}`);
	assert.match(r.headers['content-type'] ?? '', /^application\/json/, `not JSON: ${what}`);
	const j = JSON.parse(r.body);
	assert.equal(typeof j.error?.code, 'string', what);
	assert.equal(typeof j.error?.message, 'string', what);
	if (code) assert.equal(j.error.code, code, what);
}

/** Send `bytes` on a new connection and wait until the server closes it
 *  (or deadlineMs passes: then closed is false). */
async function exchange(port, bytes, deadlineMs = 5000) {
	const c = connect(port);
	await c.connected;
	await c.write(bytes);
	try {
		await waitFor(() => c.closed, deadlineMs, { what: 'server closes the connection' });
	} catch { /* reported through closed */ }
	const closed = c.closed;
	c.destroy();
	return { closed, responses: parseResponses(c.data), raw: c.data };
}

/** Trickle `bytes` one at a time every stepMs until the server closes the
 *  connection; returns the ms it stayed open after the trickle began, or
 *  null when it was still open after maxMs. */
async function trickle(c, bytes, stepMs, maxMs) {
	const t0 = Date.now();
	for (let i = 0; Date.now() - t0 < maxMs; i = (i + 1) % bytes.length) {
		if (c.closed) return c.closedAt - t0;
		await c.write(bytes[i]);
		await sleepTick(stepMs);
	}
	return c.closed ? c.closedAt - t0 : null;
}

const GET = (p, extra = '') => `GET ${p} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;

describe('connection limit', () => {
	for (const limit of [20, 100]) {
		msgdTest(`max_connections=${limit}: after ${limit + 1} idle connections close, requests are served again`, async (h) => {
			const d = await h.start({ args: configArgs({ max_connections: limit }) });
			const conns = [];
			for (let i = 0; i <= limit; i++) conns.push(connect(d.port));
			await Promise.all(conns.map((c) => c.connected));
			// Each connection sends one request and keeps the connection: all
			// but the last are answered and MHD is at its limit (the last one
			// waits in the listen queue). While the harness's readiness probe
			// still holds a keep-alive connection, one more waits until that
			// one closes: taking the next connection after a close is the
			// bug's first symptom.
			for (const c of conns) await c.write(GET('/healthz'));
			await waitFor(() => conns.filter((c) => /^HTTP\/1\.1 200/.test(c.data)).length >= limit, 20_000,
				{ what: `${limit} answered connections` });
			// All of them close while msgd is stopped, so that it sees every
			// close in one run (as when a client process exits): MHD then
			// leaves its limit in a run after which nothing else happens.
			d.proc.kill('SIGSTOP');
			try {
				for (const c of conns) c.destroy();
				await waitFor(() => conns.every((c) => c.closed), 5000, { what: 'client sockets closed' });
			} finally {
				d.proc.kill('SIGCONT');
			}
			await waitFor(async () => {
				const r = await fetch(`${d.url}/healthz`, { signal: AbortSignal.timeout(1000) });
				return r.status === 200;
			}, 10_000, { what: 'a new request served after the burst closed' });
			// And again, on a new connection each (no reuse of a lucky one).
			for (let i = 0; i < 3; i++) {
				const r = await exchange(d.port, GET('/healthz', 'Connection: close\r\n'), 5000);
				assert.equal(r.responses[0]?.status, 200, `request ${i} after the burst: ${r.raw.slice(0, 200)}`);
			}
		});
	}
});

describe('connections in the first-head check count against max_connections', () => {
	msgdTest('with max_connections busy in the head check, a new request is served only after they are cut', async (h) => {
		const limit = 16;  // the least max_connections allows
		const d = await h.start({ args: configArgs({ max_connections: limit, header_timeout: 2 }) });
		// Connections that send nothing stay in msgd's head check.
		const idle = [];
		for (let i = 0; i < limit; i++) idle.push(connect(d.port));
		await Promise.all(idle.map((c) => c.connected));
		const c = connect(d.port);
		await c.connected;
		await c.write(GET('/healthz', 'Connection: close\r\n'));
		await waitFor(() => parseResponses(c.data).length === 1, 15_000, { what: 'the request after the idle ones' });
		const answeredAt = Date.now();
		assert.equal(parseResponses(c.data)[0].status, 200);
		// It waited for a free slot: an idle connection was cut (after
		// header_timeout, without an answer) before it was served.
		const cut = idle.filter((x) => x.closed);
		assert.ok(cut.length > 0 && Math.min(...cut.map((x) => x.closedAt)) <= answeredAt,
			'served while every idle connection was still open');
		for (const x of cut) assert.equal(x.data, '', 'an idle connection got an answer');
		for (const x of idle) x.destroy();
		c.destroy();
	});
});

describe('deadlines for every request on a connection', () => {
	const FAST = { header_timeout: 2, idle_timeout: 3, body_timeout: 2 };
	// Deadline + the 1 s sweep + slack for a sanitizer build.
	const CUT_WITHIN_MS = 7000;
	const TRICKLE_MS = 15_000;

	function assertCut(c, openMs, what) {
		assert.notEqual(openMs, null, `${what}: connection still open after ${TRICKLE_MS} ms`);
		assert.ok(openMs <= CUT_WITHIN_MS, `${what}: closed only after ${openMs} ms`);
		// If an answer came, it is a JSON error.
		const rs = parseResponses(c.data);
		const last = rs[rs.length - 1];
		if (last && last.status !== 200) assertJsonError(last, [408, 400]);
	}

	msgdTest('a trickled first request head is cut after header_timeout, with a JSON 408', async (h) => {
		const d = await h.start({ args: configArgs(FAST) });
		const c = connect(d.port);
		await c.connected;
		await c.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
		const open = await trickle(c, 'X-Slow: aaaaaaaaaaaaaaaaaaaa\r\n', 300, TRICKLE_MS);
		assertCut(c, open, 'trickled head of request 1');
		const rs = parseResponses(c.data);
		assert.equal(rs.length, 1, c.data.slice(0, 400));
		assertJsonError(rs[0], [408], 'request_timeout');
		c.destroy();
		// A connection that never sends a byte is closed too, without an answer.
		const quiet = connect(d.port);
		await quiet.connected;
		await waitFor(() => quiet.closed, CUT_WITHIN_MS, { what: 'a silent connection closed' });
		assert.equal(quiet.data, '');
	});

	msgdTest('a trickled second request (headers one byte at a time) is cut', async (h) => {
		const d = await h.start({ args: configArgs(FAST) });
		const c = connect(d.port);
		await c.connected;
		await c.write(GET('/healthz'));
		await waitFor(() => parseResponses(c.data).length === 1, 5000, { what: 'first answer' });
		assert.equal(parseResponses(c.data)[0].status, 200);
		await c.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
		const open = await trickle(c, 'X-Slow: aaaaaaaaaaaaaaaaaaaa\r\n', 300, TRICKLE_MS);
		assertCut(c, open, 'trickled headers of request 2');
		c.destroy();
	});

	msgdTest('a trickled second request line is cut', async (h) => {
		const d = await h.start({ args: configArgs(FAST) });
		const c = connect(d.port);
		await c.connected;
		await c.write(GET('/healthz'));
		await waitFor(() => parseResponses(c.data).length === 1, 5000, { what: 'first answer' });
		const open = await trickle(c, 'GET /' + 'a'.repeat(200), 300, TRICKLE_MS);
		assertCut(c, open, 'trickled request line of request 2');
		c.destroy();
	});

	msgdTest('a body trickled one byte at a time is cut (Content-Length and chunked, unauthenticated)', async (h) => {
		const d = await h.start({ args: configArgs(FAST) });
		const a = connect(d.port);
		await a.connected;
		await a.write('POST /webhooks/whatsapp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n');
		const b = connect(d.port);
		await b.connected;
		await b.write('POST /webhooks/whatsapp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
		const [openA, openB] = await Promise.all([
			trickle(a, 'x', 300, TRICKLE_MS),
			trickle(b, ['1\r\nx\r\n'], 300, TRICKLE_MS),
		]);
		assertCut(a, openA, 'Content-Length body');
		assertCut(b, openB, 'chunked body');
		a.destroy();
		b.destroy();
		// The daemon still serves.
		const r = await exchange(d.port, GET('/healthz', 'Connection: close\r\n'));
		assert.equal(r.responses[0]?.status, 200);
	});

	msgdTest('a keep-alive connection that waits within idle_timeout is not cut', async (h) => {
		const d = await h.start({ args: configArgs({ header_timeout: 1, idle_timeout: 10, body_timeout: 1 }) });
		const c = connect(d.port);
		await c.connected;
		await c.write(GET('/healthz'));
		await waitFor(() => parseResponses(c.data).length === 1, 5000, { what: 'first answer' });
		// Longer than header_timeout and body_timeout, shorter than idle_timeout.
		await sleepTick(3000);
		await c.write(GET('/healthz'));
		await waitFor(() => parseResponses(c.data).length === 2 || c.closed, 5000, { what: 'second answer' });
		assert.equal(parseResponses(c.data)[1]?.status, 200, `second request on the connection: ${c.data}`);
		c.destroy();
	});
});

describe('ambiguous body framing is refused (request smuggling)', () => {
	// The smuggled request: if it ran, a second response would come.
	const SMUGGLED = GET('/v1/smuggled');
	const POST = 'POST /webhooks/whatsapp HTTP/1.1\r\nHost: x\r\n';
	const CASES = [
		['Content-Length and Transfer-Encoding: chunked', `${POST}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
		['two different Content-Length', `${POST}Content-Length: 0\r\nContent-Length: 5\r\n\r\n`],
		['two equal Content-Length', `${POST}Content-Length: 0\r\nContent-Length: 0\r\n\r\n`],
		['Content-Length and Transfer-Encoding: CHUNKED', `${POST}Content-Length: 4\r\nTransfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n`],
		['Content-Length and a tab after the colon of Transfer-Encoding', `${POST}Content-Length: 4\r\nTransfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n`],
		['two Transfer-Encoding headers', `${POST}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n`],
		['Content-Length and Transfer-Encoding with bare-LF line endings',
			'POST /webhooks/whatsapp HTTP/1.1\nHost: x\nContent-Length: 4\nTransfer-Encoding: chunked\n\n0\r\n\r\n'],
		['Transfer-Encoding: xchunked', `${POST}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`],
		['Transfer-Encoding: chunked, identity', `${POST}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`],
		['Transfer-Encoding: gzip, chunked', `${POST}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`],
		['a space before the colon of Transfer-Encoding', `${POST}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`],
		['a space before the colon of Content-Length', `${POST}Content-Length : 4\r\n\r\nabcd`],
		['Transfer-Encoding in an HTTP/1.0 request',
			'POST /webhooks/whatsapp HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
	];
	msgdTest('each variant gets one 400/501 JSON answer and the connection closes', async (h) => {
		const d = await h.start();
		for (const [name, bytes] of CASES) {
			const r = await exchange(d.port, bytes + SMUGGLED);
			assert.ok(r.closed, `${name}: connection left open: ${r.raw.slice(0, 400)}`);
			assert.equal(r.responses.length, 1, `${name}: ${r.responses.length} responses (smuggled request ran?): ${r.raw.slice(0, 800)}`);
			assertJsonError(r.responses[0], [400, 501]);
			assert.equal(r.responses[0].headers.connection, 'close', name);
		}
	});

	msgdTest('a single chunked body (any case) and a single Content-Length still work', async (h) => {
		const d = await h.start();
		for (const te of ['chunked', 'CHUNKED']) {
			const r = await exchange(d.port,
				`POST /v1/channels HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${d.token}\r\nContent-Type: application/json\r\n` +
				`Transfer-Encoding: ${te}\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n`);
			// The body reached the handler: a validation error about the fields, not framing.
			assert.equal(r.responses[0]?.status, 422, `${te}: ${r.raw.slice(0, 400)}`);
		}
		const r = await exchange(d.port,
			`POST /v1/channels HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${d.token}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`);
		assert.equal(r.responses[0]?.status, 422, r.raw.slice(0, 400));
	});
});

describe('errors of the HTTP layer are JSON', () => {
	msgdTest('a 10 KB request target gets a JSON 414, 12 KB of headers a JSON 431', async (h) => {
		const d = await h.start();
		let r = await exchange(d.port, GET('/' + 'a'.repeat(10_000)));
		assert.equal(r.responses.length, 1, r.raw.slice(0, 400));
		assertJsonError(r.responses[0], [414], 'uri_too_long');
		r = await exchange(d.port, GET('/healthz', `X-Big: ${'b'.repeat(12_000)}\r\n`));
		assert.equal(r.responses.length, 1, r.raw.slice(0, 400));
		assertJsonError(r.responses[0], [431], 'headers_too_large');
	});
});

describe('malformed first requests get JSON, not libmicrohttpd\'s HTML', () => {
	const CASES = [
		// [what, bytes, status, code]
		['a request line that is not one', 'GARBAGE\r\n\r\n', 400, 'bad_request'],
		['a request line without a version', 'GET /healthz\r\n\r\n', 400, 'bad_request'],
		['a lower-case version', 'GET /healthz http/1.1\r\nHost: x\r\n\r\n', 400, 'bad_request'],
		['a header line without a colon', GET('/healthz', 'BadHeaderNoColon\r\n'), 400, 'bad_request'],
		['an obsolete folded header line', GET('/healthz', 'X-A: a\r\n b\r\n'), 400, 'bad_request'],
		['a control character in a header value', GET('/healthz', 'X-A: a\x01b\r\n'), 400, 'bad_request'],
		['Content-Length: +4', 'POST /webhooks/whatsapp HTTP/1.1\r\nHost: x\r\nContent-Length: +4\r\n\r\nabcd', 400, 'bad_request'],
		['Content-Length: 4x', 'POST /webhooks/whatsapp HTTP/1.1\r\nHost: x\r\nContent-Length: 4x\r\n\r\nabcd', 400, 'bad_request'],
		['HTTP/2.0', 'GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n', 505, 'http_version_not_supported'],
		['HTTP/1.1 without Host', 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n', 400, 'bad_request'],
		['two Host headers', GET('/healthz', 'Host: y\r\n'), 400, 'bad_request'],
		['a 17 KiB request line', GET('/' + 'a'.repeat(17 * 1024)), 414, 'uri_too_long'],
		['17 KiB of headers', GET('/healthz', `X-Big: ${'b'.repeat(17 * 1024)}\r\n`), 431, 'headers_too_large'],
		['200 tiny header lines', GET('/healthz', Array.from({ length: 200 }, (_, i) => `a${i}:\r\n`).join('')), 431, 'headers_too_large'],
	];
	msgdTest('each gets one JSON error with the right status, and the connection closes', async (h) => {
		const d = await h.start();
		for (const [what, bytes, status, code] of CASES) {
			const r = await exchange(d.port, bytes);
			assert.ok(r.closed, `${what}: connection left open: ${r.raw.slice(0, 400)}`);
			assert.equal(r.responses.length, 1, `${what}: ${r.raw.slice(0, 400)}`);
			const res = r.responses[0];
			assert.equal(res.status, status, `${what}: ${r.raw.slice(0, 400)}`);
			assertJsonError(res, [status], code);
			assert.equal(res.headers.connection, 'close', what);
			assert.equal(res.headers['x-content-type-options'], 'nosniff', what);
		}
		// Nothing of that reached a handler or broke the daemon.
		const r = await exchange(d.port, GET('/healthz', 'Connection: close\r\n'));
		assert.equal(r.responses[0]?.status, 200);
	});

	msgdTest('good first requests still work: keep-alive, bare LF, HTTP/1.0 without Host, a body, a refused second request', async (h) => {
		const d = await h.start();
		const c = connect(d.port);
		await c.connected;
		// Both requests in one write: the first head is checked with the
		// second already behind it.
		await c.write(GET('/healthz') + GET('/healthz'));
		await waitFor(() => parseResponses(c.data).length === 2, 5000, { what: 'two answers' });
		await c.write('\r\nGET /healthz HTTP/1.1\nHost: x\n\n');
		await waitFor(() => parseResponses(c.data).length === 3, 5000, { what: 'third answer' });
		assert.deepEqual(parseResponses(c.data).map((r) => r.status), [200, 200, 200]);
		// A later request is parsed by libmicrohttpd alone; msgd's checks
		// after it (Host, framing) still answer in JSON.
		await c.write('GET /healthz HTTP/1.1\r\nX-A: b\r\n\r\n');
		await waitFor(() => c.closed, 5000, { what: 'closed after the refused request' });
		const rs = parseResponses(c.data);
		assert.equal(rs.length, 4, c.data);
		assertJsonError(rs[3], [400], 'bad_request');
		c.destroy();

		let r = await exchange(d.port, 'GET /healthz HTTP/1.0\r\n\r\n');
		assert.equal(r.responses[0]?.status, 200, r.raw.slice(0, 400));
		r = await exchange(d.port,
			`POST /v1/channels HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${d.token}\r\nContent-Type: application/json\r\n` +
			'Content-Length: 2\r\nConnection: close\r\n\r\n{}');
		assert.equal(r.responses[0]?.status, 422, r.raw.slice(0, 400));
		// A head sent in pieces is checked once it is complete.
		const p = connect(d.port);
		await p.connected;
		for (const piece of ['GET /hea', 'lthz HTTP/1.1\r\nHo', 'st: x\r\nConnection: close\r\n', '\r\n']) {
			await p.write(piece);
			await sleepTick(50);
		}
		await waitFor(() => p.closed, 5000, { what: 'answer to the head in pieces' });
		assert.equal(parseResponses(p.data)[0]?.status, 200, p.data);
	});
});

describe('shutdown with connections in the head check', () => {
	msgdTest('SIGTERM closes them and msgd exits cleanly', async (h) => {
		const d = await h.start();
		const partial = connect(d.port);
		await partial.connected;
		await partial.write('GET /healthz HTTP/1.1\r\n');
		const silent = connect(d.port);
		await silent.connected;
		// Accepted in order: once a later connection is served, both are in
		// the head check.
		const r = await exchange(d.port, GET('/healthz', 'Connection: close\r\n'));
		assert.equal(r.responses[0]?.status, 200);
		await d.stop();  // asserts exit 0 (and no sanitizer report or leak)
		await waitFor(() => partial.closed && silent.closed, 5000, { what: 'both closed' });
		assert.equal(partial.data, '');
	});
});

describe('an encoded NUL (%00) in the request target is refused', () => {
	msgdTest('path, asset path and query parameter', async (h) => {
		const d = await h.start();
		await createWaChannel(d.api, 'wa1', '106540352242922');
		// Without the NUL these succeed: proof that it is the %00 refused.
		let r = await exchange(d.port, GET('/assets/app.js', 'Connection: close\r\n'));
		assert.equal(r.responses[0]?.status, 200);
		const verify = `/webhooks/whatsapp?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=${WA_VERIFY}`;
		r = await exchange(d.port, GET(verify, 'Connection: close\r\n'));
		assert.equal(r.responses[0]?.status, 200);

		for (const [target, auth] of [
			['/v1/messages/1%00', true],
			['/assets/app.js%00.html', false],
			[`${verify}%00`, false],
			[`${verify}%00junk`, false],
		]) {
			r = await exchange(d.port, GET(target, auth ? `Authorization: Bearer ${d.token}\r\n` : ''));
			assert.equal(r.responses.length, 1, `${target}: ${r.raw.slice(0, 400)}`);
			assertJsonError(r.responses[0], [400], 'bad_request');
		}
	});
});

describe('one msgd per port', () => {
	/** `msgd serve` on a fixed address; resolves when it exits. */
	function serve(listen, dataDir) {
		const p = spawn(MSGD_BIN, ['serve', '--listen', listen, '--data', dataDir], {
			env: { ...process.env, MSGD_ADMIN_TOKEN: 'adm_0123456789abcdef0123' },
			stdio: ['ignore', 'pipe', 'pipe'],
		});
		const s = { proc: p, out: '', code: undefined };
		p.stdout.on('data', (b) => { s.out += b; });
		p.stderr.on('data', (b) => { s.out += b; });
		s.exited = new Promise((resolve) => p.on('exit', (code, signal) => { s.code = code; s.signal = signal; resolve(); }));
		return s;
	}

	msgdTest('a second msgd on a port in use exits non-zero and says so; the first still serves', async (h) => {
		const d = await h.start();
		const listen = `127.0.0.1:${d.port}`;
		const second = serve(listen, tmpDir());
		try {
			await waitFor(() => second.code !== undefined, 10_000, { what: 'the second msgd exits' });
		} finally {
			if (second.code === undefined) { second.proc.kill('SIGKILL'); await second.exited; }
		}
		assert.notEqual(second.code, 0, second.out);
		assert.ok(second.out.includes(`address ${listen} is in use`), `stderr: ${second.out}`);
		for (let i = 0; i < 5; i++) {
			const r = await exchange(d.port, GET('/healthz', 'Connection: close\r\n'));
			assert.equal(r.responses[0]?.status, 200);
		}
	});

	msgdTest('a restart right after a stop binds the same port', async (h) => {
		const d = await h.start();
		// A server-closed connection leaves the port in TIME_WAIT.
		const r = await exchange(d.port, GET('/healthz', 'Connection: close\r\n'));
		assert.equal(r.responses[0]?.status, 200);
		await d.stop();
		const again = serve(`127.0.0.1:${d.port}`, d.dataDir);
		try {
			await waitFor(async () => {
				assert.equal(again.code, undefined, `restart exited: ${again.out}`);
				const res = await fetch(`${d.url}/healthz`, { signal: AbortSignal.timeout(1000) });
				return res.status === 200;
			}, 10_000, { what: 'the restarted msgd serves' });
		} finally {
			again.proc.kill('SIGTERM');
			await again.exited;
		}
		assert.equal(again.code, 0, again.out);
	});
});

describe('settings', () => {
	msgdTest('check-config accepts body_timeout and refuses 0', async () => {
		let r = runMsgd(['check-config', ...configArgs({ body_timeout: 45, header_timeout: 5 })]);
		assert.equal(r.status, 0, r.stderr);
		r = runMsgd(['check-config', ...configArgs({ body_timeout: 0 })]);
		assert.notEqual(r.status, 0);
		assert.match(r.stderr, /body_timeout/);
	});
});
