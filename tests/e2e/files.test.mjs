// files.test.mjs - the files store (issue 14): POST /v1/files raw and
// multipart, streamed to disk; dedup; MIME sniffed; the size cap (413 before
// the body, or as a chunked body crosses it); GET with ETag, Range and
// Content-Disposition; organizations; the retention sweep; memory while a
// large file streams in.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

import { describe } from 'node:test';
import { msgdTest, request, rawRequest, assertStatus, assertError, waitFor, loginAs, startPeer } from './lib.mjs';

// A 1x1 PNG.
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489' +
	'0000000d49444154789c6360000002000100e221bc330000000049454e44ae426082', 'hex');

function configFile(text) {
	const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-files-cfg-')), 'msgd.conf');
	fs.writeFileSync(f, text);
	return f;
}

function sha256(b) {
	return crypto.createHash('sha256').update(b).digest('hex');
}

function upload(d, body, { query = '', headers = {} } = {}) {
	return request(d.url, 'POST', `/v1/files${query}`, body,
	    { authorization: `Bearer ${d.token}`, 'content-type': 'application/octet-stream', ...headers });
}

function multipart(parts, boundary = 'msgdBoundary7MA4YWxkTrZu0gW') {
	const chunks = [];
	for (const p of parts) {
		let h = `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"`;
		if (p.filename !== undefined) h += `; filename="${p.filename}"`;
		h += '\r\n';
		if (p.type) h += `Content-Type: ${p.type}\r\n`;
		chunks.push(Buffer.from(h + '\r\n'), Buffer.from(p.data), Buffer.from('\r\n'));
	}
	chunks.push(Buffer.from(`--${boundary}--\r\n`));
	return { body: Buffer.concat(chunks), type: `multipart/form-data; boundary=${boundary}` };
}

function contentFiles(d) {
	const root = path.join(d.dataDir, 'files');
	const out = [];
	for (const dir of fs.readdirSync(root)) {
		if (dir === 'tmp') continue;
		for (const f of fs.readdirSync(path.join(root, dir))) out.push(dir + f);
	}
	return out.sort();
}

// Uploads in progress: files/tmp/<instance id>/ (each instance clears its own).
function tmpFiles(d) {
	const tmp = path.join(d.dataDir, 'files', 'tmp');
	return fs.readdirSync(tmp).flatMap((inst) => fs.readdirSync(path.join(tmp, inst)));
}

function get(d, p, headers = {}) {
	return request(d.url, 'GET', p, undefined, { authorization: `Bearer ${d.token}`, ...headers });
}

function statusKb(pid, field) {
	const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
	return Number(m[1]);
}

msgdTest('raw and multipart uploads: stored once by content, MIME sniffed, names sanitized', async (h) => {
	const d = await h.start();
	const text = Buffer.from('name,phone\nAda,+15550001\n');

	const a = assertStatus(await upload(d, text, { query: '?filename=' + encodeURIComponent('../lists/a.csv') }), 201);
	assert.match(a.id, /^f_[a-z2-7]{26}$/);
	assert.equal(a.sha256, sha256(text));
	assert.equal(a.size, text.length);
	assert.equal(a.filename, 'a.csv');
	assert.match(a.mime_type, /^text\//);
	assert.equal(typeof a.created_at, 'number');

	// The same bytes again: the same row, 200, one content file on disk.
	const b = assertStatus(await upload(d, text, { query: '?filename=b.csv' }), 200);
	assert.equal(b.id, a.id);
	assert.deepEqual(contentFiles(d), [a.sha256]);

	// A PNG sent as text/plain in a multipart body is image/png.
	const mp = multipart([
		{ name: 'note', data: 'ignored field' },
		{ name: 'file', filename: 'C:\\fakepath\\photo one.txt', type: 'text/plain', data: PNG },
	]);
	const p = assertStatus(await upload(d, mp.body, { headers: { 'content-type': mp.type } }), 201);
	assert.equal(p.mime_type, 'image/png');
	assert.equal(p.sha256, sha256(PNG));
	assert.equal(p.size, PNG.length);
	assert.equal(p.filename, 'photo one.txt');
	// Content-Disposition names a raw body's file too.
	const c = assertStatus(await upload(d, Buffer.from('third file'),
	    { headers: { 'content-disposition': 'attachment; filename="notes.txt"' } }), 201);
	assert.equal(c.filename, 'notes.txt');

	assert.deepEqual(contentFiles(d), [a.sha256, p.sha256, c.sha256].sort());
	assert.deepEqual(tmpFiles(d), []);

	const meta = assertStatus(await get(d, `/v1/files/${p.id}/meta`), 200);
	assert.deepEqual(meta, p);
	const list = assertStatus(await get(d, '/v1/files?limit=2'), 200);
	assert.deepEqual(list.files.map((f) => f.id), [c.id, p.id]);
	assert.ok(list.next);
	const rest = assertStatus(await get(d, `/v1/files?limit=2&cursor=${encodeURIComponent(list.next)}`), 200);
	assert.deepEqual(rest.files.map((f) => f.id), [a.id]);
	assert.equal(rest.next, null);
	assertError(await get(d, '/v1/files?cursor=nonsense'), 400, 'invalid_parameter');
});

msgdTest('bad uploads are refused and store nothing', async (h) => {
	const d = await h.start();
	assertError(await upload(d, Buffer.alloc(0)), 400, 'empty_file');
	const noFile = multipart([{ name: 'note', data: 'no file here' }]);
	assertError(await upload(d, noFile.body, { headers: { 'content-type': noFile.type } }), 400, 'no_file');
	const two = multipart([
		{ name: 'file', filename: 'a.txt', data: 'first' },
		{ name: 'file2', filename: 'b.txt', data: 'second' },
	]);
	assertError(await upload(d, two.body, { headers: { 'content-type': two.type } }), 400, 'too_many_files');
	const cut = multipart([{ name: 'file', filename: 'a.txt', data: 'cut short' }]);
	assertError(await upload(d, cut.body.subarray(0, cut.body.length - 20), { headers: { 'content-type': cut.type } }),
	    400, 'invalid_multipart');
	assertError(await upload(d, Buffer.from('x'), { headers: { 'content-type': 'multipart/form-data' } }),
	    400, 'invalid_multipart');
	assertError(await request(d.url, 'POST', '/v1/files', Buffer.from('x'), { 'content-type': 'text/plain' }),
	    401, 'unauthorized');
	assert.deepEqual(assertStatus(await get(d, '/v1/files'), 200).files, []);
	assert.deepEqual(contentFiles(d), []);
	assert.deepEqual(tmpFiles(d), []);
});

msgdTest('the size cap: 413 from Content-Length before the body, and as a chunked body crosses it', async (h) => {
	const cfg = configFile('files_max_bytes = 65536;\n');
	const d = await h.start({ args: ['--config', cfg] });
	const auth = { authorization: `Bearer ${d.token}`, 'content-type': 'application/octet-stream' };

	// Expect: 100-continue: refused before any byte of the body is sent
	// (no 100 Continue: the client never sends it).
	const big = Buffer.alloc(65537, 7);
	const r1 = await new Promise((resolve, reject) => {
		const u = new URL(d.url);
		let continued = false;
		const req = http.request({ host: u.hostname, port: u.port, method: 'POST', path: '/v1/files', agent: false,
			headers: { ...auth, 'content-length': 1024 * 1024 * 1024, expect: '100-continue' } });
		req.on('continue', () => { continued = true; req.destroy(); });
		req.on('response', (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => { resolve({ status: res.statusCode, continued, json: JSON.parse(Buffer.concat(chunks)) }); req.destroy(); });
		});
		req.on('error', (e) => { if (!continued) reject(e); });
		req.flushHeaders();
	});
	assert.equal(r1.continued, false);
	assert.equal(r1.status, 413);
	assert.equal(r1.json.error.code, 'file_too_large');
	// Without it: read and thrown away, then the same answer.
	const r2 = await rawRequest(d.url, { path: '/v1/files', headers: auth, body: big });
	assert.equal(r2.status, 413);
	assert.equal(r2.json.error.code, 'file_too_large');

	// Chunked, no Content-Length, never ending: refused as soon as it
	// crosses the cap, the connection closed; msgd reads no further (the
	// client is still writing when the answer comes, well before 64 MiB).
	const r3 = await new Promise((resolve, reject) => {
		const u = new URL(d.url);
		const req = http.request({ host: u.hostname, port: u.port, method: 'POST', path: '/v1/files',
			headers: auth, agent: false });
		let sent = 0, answered = false;
		req.on('response', (res) => {
			answered = true;
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => {
				resolve({ status: res.statusCode, sent, connection: res.headers.connection,
					json: JSON.parse(Buffer.concat(chunks)), tmp: tmpFiles(d) });
				req.destroy();
			});
		});
		// msgd answers and closes while the client still writes: the
		// close can reach the client as a reset before it read the answer
		// (the kernel drops what was not read). Then there is no status to
		// see, but the rest still holds: msgd stopped reading early.
		req.on('error', (e) => {
			if (answered) return;
			if (e.code === 'EPIPE' || e.code === 'ECONNRESET') { answered = true; resolve({ reset: true, sent }); }
			else reject(e);
		});
		const pump = () => {
			while (!answered && sent < 32 * 1024 * 1024) {
				sent += 16384;
				if (!req.write(Buffer.alloc(16384, 3))) { req.once('drain', pump); return; }
			}
			if (!answered) req.end();
		};
		pump();
	});
	assert.ok(r3.sent < 16 * 1024 * 1024, `answered only after ${r3.sent} bytes were sent`);
	if (r3.reset) {
		await waitFor(() => tmpFiles(d).length === 0, 5000, { what: 'the temp file removed' });
	} else {
		assert.equal(r3.status, 413);
		assert.equal(r3.json.error.code, 'file_too_large');
		assert.equal(r3.connection, 'close');
		assert.deepEqual(r3.tmp, [], 'the temp file is removed when the answer goes out');
	}

	// A multipart body: its other fields count too (the file's cap + 64 KiB
	// in all), and at most 16 parts; refused as it goes, chunked.
	const chunked = (body, type) => new Promise((resolve, reject) => {
		const u = new URL(d.url);
		const req = http.request({ host: u.hostname, port: u.port, method: 'POST', path: '/v1/files', agent: false,
			headers: { authorization: auth.authorization, 'content-type': type } });
		let answered = false;
		req.on('response', (res) => {
			answered = true;
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => resolve({ status: res.statusCode, json: JSON.parse(Buffer.concat(chunks)) }));
		});
		req.on('error', (e) => { if (!answered) reject(e); });
		for (let i = 0; i < body.length; i += 8192) req.write(body.subarray(i, i + 8192));
		req.end();
	});
	const fat = multipart([{ name: 'note', data: Buffer.alloc(140000, 0x61) }, { name: 'file', filename: 'a.txt', data: 'small' }]);
	const r4 = await chunked(fat.body, fat.type);
	assert.equal(r4.status, 413, JSON.stringify(r4));
	assert.equal(r4.json.error.code, 'file_too_large');
	const many = multipart([...Array.from({ length: 16 }, (_, i) => ({ name: `f${i}`, data: 'x' })),
		{ name: 'file', filename: 'a.txt', data: 'small' }]);
	const r5 = await chunked(many.body, many.type);
	assert.equal(r5.status, 400, JSON.stringify(r5));
	assert.equal(r5.json.error.code, 'invalid_multipart');
	assert.match(r5.json.error.message, /16 parts/);
	await waitFor(() => tmpFiles(d).length === 0, 5000, { what: 'no temp file left' });
	// 16 parts, and a file of exactly the cap in a multipart body, are fine.
	const sixteen = multipart([...Array.from({ length: 15 }, (_, i) => ({ name: `f${i}`, data: 'x' })),
		{ name: 'file', filename: 'a.txt', data: Buffer.alloc(65536, 2) }]);
	assertStatus(await upload(d, sixteen.body, { headers: { 'content-type': sixteen.type } }), 201);

	// Exactly the cap is fine.
	const ok = assertStatus(await upload(d, Buffer.alloc(65536, 1)), 201);
	assert.equal(ok.size, 65536);
	const list = assertStatus(await get(d, '/v1/files'), 200);
	assert.equal(list.files.length, 2);
	assert.equal(list.files[0].id, ok.id);
	assert.equal(contentFiles(d).length, 2);
	assert.deepEqual(tmpFiles(d), []);
	fs.rmSync(path.dirname(cfg), { recursive: true, force: true });
});

// A raw upload whose bytes come in pieces, `gapMs` apart; resolves with the
// answer (status, JSON) or { error } when the connection is cut unanswered.
function trickle(d, pieces, gapMs, { stallAfter = Infinity } = {}) {
	const total = pieces.reduce((n, p) => n + p.length, 0);
	return new Promise((resolve) => {
		const u = new URL(d.url);
		const req = http.request({ host: u.hostname, port: u.port, method: 'POST', path: '/v1/files', agent: false,
			headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/octet-stream',
				'content-length': total } });
		let timer = null;
		req.on('response', (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => { clearTimeout(timer); resolve({ status: res.statusCode, json: JSON.parse(Buffer.concat(chunks)) }); });
		});
		req.on('error', (e) => { clearTimeout(timer); resolve({ error: e.code }); });
		let i = 0;
		const next = () => {
			if (i >= stallAfter) return;          // stalls: sends nothing more
			req.write(pieces[i++]);
			if (i < pieces.length) timer = setTimeout(next, gapMs);
			else req.end();
		};
		next();
	});
}

msgdTest('upload deadlines: body_timeout bounds the silence between bytes, not the whole upload', async (h) => {
	const cfg = configFile('body_timeout = 1;\n');
	const d = await h.start({ args: ['--config', cfg] });
	// 10 pieces 300 ms apart: about 2.7 s in all, well over body_timeout.
	const pieces = Array.from({ length: 10 }, (_, i) => Buffer.alloc(1000, 65 + i));
	const started = Date.now();
	const ok = await trickle(d, pieces, 300);
	assert.equal(ok.status, 201, JSON.stringify(ok));
	assert.ok(Date.now() - started > 2000, 'the upload lasted over 2 s');
	assert.equal(ok.json.size, 10000);
	assert.equal(ok.json.sha256, sha256(Buffer.concat(pieces)));

	// Three pieces, then silence: cut with the 408, no temp file left.
	const stalled = await trickle(d, pieces, 300, { stallAfter: 3 });
	assert.equal(stalled.status, 408, JSON.stringify(stalled));
	assert.equal(stalled.json.error.code, 'request_timeout');
	await waitFor(() => tmpFiles(d).length === 0, 5000, { what: 'the stalled upload\'s temp file removed' });
	const list = assertStatus(await get(d, '/v1/files'), 200);
	assert.deepEqual(list.files.map((f) => f.id), [ok.json.id]);
	fs.rmSync(path.dirname(cfg), { recursive: true, force: true });
});

msgdTest('a send\'s media.filename is sanitized as an upload\'s name is (folders, controls, bidi overrides)', async (h) => {
	const d = await h.start();
	const f = assertStatus(await upload(d, Buffer.from('%PDF-1.4 not really'), { query: '?filename=x.pdf' }), 201);
	const send = (media) => d.api('POST', '/v1/messages', { channel: 'sandbox', to: '15550001111', type: 'document', media });
	const a = await send({ file_id: f.id, filename: '../evil/invoice\u202Egpj.exe\u0085\u2066' });
	assert.equal(a.status, 202, a.text);
	assert.equal(a.json.media.filename, 'invoicegpj.exe');
	const b = await send({ url: 'https://example.invalid/x.pdf', filename: 'C:\\tmp\\r\u200Fe\u009bport.pdf' });
	assert.equal(b.status, 202, b.text);
	assert.equal(b.json.media.filename, 'report.pdf');
	// Nothing left of it: the file's own name, or none.
	const c = await send({ file_id: f.id, filename: '\u202E' });
	assert.equal(c.status, 202, c.text);
	assert.equal(c.json.media.filename, 'x.pdf');
});

msgdTest('download: HTML and SVG are served sandboxed (Content-Security-Policy: sandbox)', async (h) => {
	const d = await h.start();
	for (const [body, type] of [['<!DOCTYPE html><html><body><script>alert(1)</script></body></html>', 'text/html'],
		['<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', 'image/svg+xml']]) {
		const f = assertStatus(await upload(d, Buffer.from(body)), 201);
		assert.equal(f.mime_type, type);
		const r = await get(d, `/v1/files/${f.id}`);
		assert.equal(r.headers.get('content-type'), type);
		assert.equal(r.headers.get('content-security-policy'), 'sandbox');
		assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
		assert.match(r.headers.get('content-disposition'), /^attachment/);
	}
});

msgdTest('download: ETag and 304, Range 206/416/suffix, Content-Disposition, other organizations', async (h) => {
	const d = await h.start();
	const bytes = Buffer.from('0123456789abcdefghij');
	const f = assertStatus(await upload(d, bytes, { query: '?filename=' + encodeURIComponent('résumé "v2".txt') }), 201);

	let r = await get(d, `/v1/files/${f.id}`);
	assert.equal(r.status, 200);
	assert.equal(r.text, bytes.toString());
	const etag = `"${f.sha256}"`;
	assert.equal(r.headers.get('etag'), etag);
	assert.equal(r.headers.get('accept-ranges'), 'bytes');
	assert.equal(r.headers.get('content-type'), f.mime_type);
	assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
	assert.equal(r.headers.get('content-security-policy'), 'sandbox');
	assert.equal(r.headers.get('content-disposition'),
	    `attachment; filename="r__sum__ v2.txt"; filename*=UTF-8''r%C3%A9sum%C3%A9%20v2.txt`);

	r = await get(d, `/v1/files/${f.id}`, { 'if-none-match': etag });
	assert.equal(r.status, 304);
	assert.equal(r.headers.get('etag'), etag);

	r = await get(d, `/v1/files/${f.id}`, { range: 'bytes=2-5' });
	assert.equal(r.status, 206);
	assert.equal(r.text, '2345');
	assert.equal(r.headers.get('content-range'), 'bytes 2-5/20');
	r = await get(d, `/v1/files/${f.id}`, { range: 'bytes=15-' });
	assert.equal(r.status, 206);
	assert.equal(r.text, 'fghij');
	r = await get(d, `/v1/files/${f.id}`, { range: 'bytes=-3' });
	assert.equal(r.status, 206);
	assert.equal(r.text, 'hij');
	assert.equal(r.headers.get('content-range'), 'bytes 17-19/20');
	r = await get(d, `/v1/files/${f.id}`, { range: 'bytes=10-99' });
	assert.equal(r.status, 206);
	assert.equal(r.text, 'abcdefghij');
	r = await get(d, `/v1/files/${f.id}`, { range: 'bytes=20-' });
	assertError(r, 416, 'range_not_satisfiable');
	assert.equal(r.headers.get('content-range'), 'bytes */20');
	r = await get(d, `/v1/files/${f.id}`, { range: 'bytes=0-1,4-5' });   // several: the whole file
	assert.equal(r.status, 200);
	assert.equal(r.text, bytes.toString());

	assertError(await get(d, '/v1/files/f_aaaaaaaaaaaaaaaaaaaaaaaaaa'), 404, 'not_found');
	assertError(await get(d, '/v1/files/nonsense'), 404, 'not_found');

	// Another organization sees nothing of it.
	assertStatus(await d.api('POST', '/v1/orgs', { name: 'acme' }), 201);
	assertError(await get(d, `/v1/files/${f.id}`, { 'msgd-org': 'acme' }), 404, 'not_found');
	assertError(await get(d, `/v1/files/${f.id}/meta`, { 'msgd-org': 'acme' }), 404, 'not_found');
	assert.deepEqual(assertStatus(await get(d, '/v1/files', { 'msgd-org': 'acme' }), 200).files, []);
	// Its own upload of the same bytes is its own row over the same content.
	const g = assertStatus(await upload(d, bytes, { headers: { 'msgd-org': 'acme' } }), 201);
	assert.notEqual(g.id, f.id);
	assert.equal(g.sha256, f.sha256);
	assert.deepEqual(contentFiles(d), [f.sha256]);
});

msgdTest('retention: an unreferenced file is removed, its content once no organization has it', async (h) => {
	const cfg = configFile('files_retention_hours = 0;\nfiles_sweep_s = 1;\n');
	const d = await h.start({ args: ['--config', cfg] });
	const f = assertStatus(await upload(d, Buffer.from('short-lived')), 201);
	const content = path.join(d.dataDir, 'files', f.sha256.slice(0, 2), f.sha256.slice(2));
	await waitFor(async () => (await get(d, `/v1/files/${f.id}/meta`)).status === 404, 10_000,
	    { what: 'the sweep to remove the row' });
	await waitFor(() => !fs.existsSync(content), 5_000, { what: 'the content to be unlinked' });
	assert.deepEqual(assertStatus(await get(d, '/v1/files'), 200).files, []);
	fs.rmSync(path.dirname(cfg), { recursive: true, force: true });
});

msgdTest('a 20 MiB upload streams: RSS grows by less than 16 MiB', async (h) => {
	const d = await h.start();
	// Warm up the paths once (first allocations, libmagic's database).
	assertStatus(await upload(d, Buffer.from('warm-up')), 201);
	const before = statusKb(d.proc.pid, 'VmHWM');
	const big = crypto.randomBytes(20 * 1024 * 1024);
	const f = assertStatus(await upload(d, big), 201);
	assert.equal(f.size, big.length);
	assert.equal(f.sha256, sha256(big));
	const after = statusKb(d.proc.pid, 'VmHWM');
	assert.ok(after - before < 16 * 1024, `peak RSS grew by ${after - before} kB`);
	const r = await get(d, `/v1/files/${f.id}`, { range: `bytes=${big.length - 4}-` });
	assert.equal(r.status, 206);
}, { timeout: 120_000 });

msgdTest('an upload the client abandons leaves no temp file and no row', async (h) => {
	const d = await h.start();
	const u = new URL(d.url);
	const req = http.request({ host: u.hostname, port: u.port, method: 'POST', path: '/v1/files', agent: false,
		headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/octet-stream',
			'content-length': 1024 * 1024 } });
	req.on('error', () => {});
	req.write(Buffer.alloc(256 * 1024, 3));
	// The upload is under way: its temp file exists.
	await waitFor(() => tmpFiles(d).length === 1, 10_000, { what: 'the upload\'s temp file' });
	req.destroy();
	await waitFor(() => tmpFiles(d).length === 0, 10_000, { what: 'the temp file to be removed' });
	assert.deepEqual(assertStatus(await get(d, '/v1/files'), 200).files, []);
	assert.deepEqual(contentFiles(d), []);
});

msgdTest('the panel: a session cookie loads a file as an <img> would (no CSRF token, ?org=); a viewer cannot upload', async (h) => {
	const d = await h.start();
	const PW = 'correct horse battery staple';
	assertStatus(await d.api('POST', '/v1/orgs', { name: 'acme' }), 201);
	assertStatus(await d.api('POST', '/v1/users', { name: 'ada', password: PW, role: 'agent' }, { 'msgd-org': 'acme' }), 201);
	assertStatus(await d.api('POST', '/v1/users', { name: 'vic', password: PW, role: 'viewer' }, { 'msgd-org': 'acme' }), 201);
	const ada = await loginAs(d, 'ada', PW, 'acme');
	const f = assertStatus(await ada('POST', '/v1/files?filename=dot.png', PNG, { 'content-type': 'image/png' }), 201);
	// Without the CSRF token the upload is refused; a GET needs none.
	assertError(await ada('POST', '/v1/files', Buffer.from('x'), { 'x-msgd-csrf': null, 'content-type': 'text/plain' }),
	    403, 'csrf_failed');
	const cookieOnly = await ada('GET', `/v1/files/${f.id}?org=acme`, undefined, { 'x-msgd-csrf': null, 'msgd-org': null });
	assert.equal(cookieOnly.status, 200);
	assert.equal(cookieOnly.headers.get('content-type'), 'image/png');
	const vic = await loginAs(d, 'vic', PW, 'acme');
	assertStatus(await vic('GET', `/v1/files/${f.id}/meta`), 200);
	assertError(await vic('POST', '/v1/files', Buffer.from('y'), { 'content-type': 'text/plain' }), 403, 'forbidden');
	// The panel's CSP lets same-origin images and media load.
	const page = await request(d.url, 'GET', '/');
	assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'.*img-src 'self'/);
});

const PG = (process.env.MSGD_TEST_DATABASE || '').startsWith('postgres');
describe('files with several instances', { skip: PG ? false : 'runs on PostgreSQL only (MSGD_TEST_DATABASE=postgres://...)' }, () => {
	msgdTest('instances sharing files_dir: uploaded through one, served by the other; each keeps its own temp folder', async (h) => {
		const shared = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-shared-files-'));
		const env = { MSGD_FILES_DIR: shared };
		const a = await h.start({ env });
		const b = await startPeer(h, a, { env });
		const bytes = crypto.randomBytes(70_000);
		const up = await upload(a, bytes, { query: '?filename=shared.bin' });
		assert.equal(up.status, 201, up.text);
		const got = await fetch(`${b.url}/v1/files/${up.json.id}`, { headers: { authorization: `Bearer ${b.token}` } });
		assert.equal(got.status, 200);
		assert.equal(Buffer.compare(Buffer.from(await got.arrayBuffer()), bytes), 0);
		// The same bytes through the other instance: the same content, the organization's row.
		const again = await upload(b, bytes, { query: '?filename=shared.bin' });
		assert.equal(again.status, 200, again.text);
		assert.equal(again.json.id, up.json.id);
		assert.equal(fs.readdirSync(path.join(shared, 'tmp')).length, 2);   // one folder per instance
		assert.ok(!fs.existsSync(path.join(a.dataDir, 'files')), 'nothing under DATA/files');
		await b.stop();
		await a.stop();
		fs.rmSync(shared, { recursive: true, force: true });
	});
});
