// openapi.test.mjs - GET /openapi.json (the OpenAPI 3.1 document, embedded
// at build time) and GET /docs (the page rendering it, nothing external).
// The route table against the document: tests/unit/test_openapi.c; every
// answer of the e2e suite against the document's schemas: openapi_check.mjs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { msgdTest, assertStatus } from './lib.mjs';
import { OPENAPI_PATH, checkAnswer, watchBase } from './openapi_check.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');

/** Every {"$ref": ...} string under v, with where it was. */
function refsOf(v, at = '#', out = []) {
	if (Array.isArray(v)) v.forEach((x, i) => refsOf(x, `${at}/${i}`, out));
	else if (v && typeof v === 'object')
		for (const [k, x] of Object.entries(v)) {
			if (k === '$ref' && typeof x === 'string') out.push({ ref: x, at });
			else refsOf(x, `${at}/${k}`, out);
		}
	return out;
}

function resolve(doc, ref) {
	if (!ref.startsWith('#/')) return undefined;
	return ref.slice(2).split('/').reduce((o, k) => (o === undefined ? undefined : o[k.replace(/~1/g, '/').replace(/~0/g, '~')]), doc);
}

/** Every schema the document holds: components, parameters, bodies, answers. */
function schemasOf(doc) {
	const out = Object.entries(doc.components.schemas).map(([n, s]) => ({ at: `#/components/schemas/${n}`, s }));
	for (const [p, item] of Object.entries(doc.paths))
		for (const [m, op] of Object.entries(item)) {
			for (const prm of op.parameters ?? []) if (prm.schema) out.push({ at: `${m} ${p} parameter ${prm.name}`, s: prm.schema });
			for (const [t, c] of Object.entries(op.requestBody?.content ?? {})) out.push({ at: `${m} ${p} body ${t}`, s: c.schema });
			for (const [st, r] of Object.entries(op.responses))
				for (const [t, c] of Object.entries(r.content ?? {})) out.push({ at: `${m} ${p} ${st} ${t}`, s: c.schema });
		}
	return out;
}

msgdTest('GET /openapi.json: the document, OpenAPI 3.1.0, as docs/openapi.json and its source say; $refs resolve; schemas compile', async (h) => {
	const d = await h.start();
	const r = await d.anon('GET', '/openapi.json');
	const doc = assertStatus(r, 200, 'GET /openapi.json');
	assert.match(r.headers.get('content-type'), /^application\/json/);
	assert.equal(doc.openapi, '3.1.0');
	assert.equal(r.text, fs.readFileSync(OPENAPI_PATH, 'utf8'), 'the binary serves docs/openapi.json as it is');
	const { text } = await import(path.join(REPO, 'tools', 'openapi.mjs'));
	assert.equal(r.text, text(), 'docs/openapi.json is stale: run node tools/openapi.mjs');

	// Cached like the panel's files.
	const etag = r.headers.get('etag');
	assert.match(etag, /^"[0-9a-f]{16}"$/);
	const again = await d.anon('GET', '/openapi.json', undefined, { 'if-none-match': etag });
	assert.equal(again.status, 304);

	// Every $ref points at something.
	const refs = refsOf(doc);
	assert.ok(refs.length > 50);
	const broken = refs.filter(({ ref }) => resolve(doc, ref) === undefined);
	assert.deepEqual(broken, [], 'every $ref resolves');

	// ajv (JSON Schema 2020-12, OpenAPI 3.1's dialect) compiles every schema.
	const Ajv = (await import('ajv/dist/2020.js')).default;
	const ajv = new Ajv({ strict: false, validateFormats: false });
	ajv.addSchema(doc, 'openapi');
	const all = schemasOf(doc);
	assert.ok(all.length > 100);
	for (const { at, s } of all) {
		assert.ok(s && typeof s === 'object', `${at}: a schema`);
		// Refs inside are relative to the document: compile each through it.
		const local = JSON.parse(JSON.stringify(s).replace(/"\$ref":"#\//g, '"$ref":"openapi#/'));
		assert.doesNotThrow(() => ajv.compile(local), `${at} compiles`);
	}

	// Every operation: a tag the document lists, a permission, an answer, its own operationId.
	const tags = new Set(doc.tags.map((t) => t.name));
	const opIds = new Set();
	for (const [p, item] of Object.entries(doc.paths))
		for (const [m, op] of Object.entries(item)) {
			assert.ok(op.tags.every((t) => tags.has(t)), `${m} ${p}: tags`);
			assert.equal(typeof op['x-msgd-permission'], 'string', `${m} ${p}: x-msgd-permission`);
			assert.ok(Object.keys(op.responses).some((s) => /^[123]/.test(s)), `${m} ${p}: a success answer`);
			assert.match(op.operationId, /^[a-z][A-Za-z0-9]+$/, `${m} ${p}: operationId`);
			assert.ok(!opIds.has(op.operationId), `${m} ${p}: operationId ${op.operationId} used twice`);
			opIds.add(op.operationId);
		}
	assert.ok(doc.paths['/openapi.json'].get && doc.paths['/docs'].get, 'the document lists its own routes');
	for (const s of ['bearer', 'session', 'csrf']) assert.ok(doc.components.securitySchemes[s], s);
});

msgdTest('GET /docs: a page with no external resource, its script and style from msgd, under the panel\'s CSP', async (h) => {
	const d = await h.start();
	const r = await d.anon('GET', '/docs');
	assertStatus(r, 200, 'GET /docs');
	assert.match(r.headers.get('content-type'), /^text\/html/);
	const csp = r.headers.get('content-security-policy');
	assert.match(csp, /default-src 'self'/);
	assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
	const html = r.text;
	assert.doesNotMatch(html, /(src|href)\s*=\s*["']?(https?:)?\/\//i, 'no URL of another origin');
	assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, 'no inline script');
	assert.doesNotMatch(html, /\sstyle\s*=|<style/i, 'no inline style');
	const scripts = [...html.matchAll(/<script[^>]*\bsrc="([^"]+)"/g)].map((m) => m[1]);
	const styles = [...html.matchAll(/<link[^>]*\brel="stylesheet"[^>]*\bhref="([^"]+)"/g)].map((m) => m[1]);
	assert.ok(styles.length >= 1, 'a style sheet');
	assert.ok(scripts.length >= 1, 'loads a script');
	for (const src of [...scripts, ...styles]) {
		assert.match(src, /^\/assets\/[A-Za-z0-9._-]+$/, `${src} is msgd's own`);
		const a = await d.anon('GET', src);
		assertStatus(a, 200, src);
		assert.doesNotMatch(a.text, /https?:\/\/(?!127\.0\.0\.1)/, `${src}: no URL of another origin`);
	}
	const js = await d.anon('GET', scripts[0]);
	assert.match(js.headers.get('content-type'), /javascript/);
	assert.match(js.text, /fetch\('\/openapi\.json'/, 'the script reads the document from msgd');
	// Public, and only GET.
	const post = await d.anon('POST', '/docs', {});
	assert.equal(post.status, 405);
});

msgdTest('the answer check itself: an undocumented status or a body off its schema fails, a true one passes', async (h) => {
	const d = await h.start();
	watchBase(d.url);
	const headers = new Headers({ 'content-type': 'application/json' });
	const answer = (status, json) => ({ status, headers, json, text: JSON.stringify(json) });
	// True answers pass.
	await checkAnswer(d.url, 'GET', '/healthz', answer(200, { status: 'ok' }));
	await checkAnswer(d.url, 'GET', '/v1/channels/x', answer(404, { error: { code: 'not_found', message: 'no such channel' } }));
	// A status the route does not list.
	await assert.rejects(checkAnswer(d.url, 'GET', '/healthz', answer(201, { status: 'ok' })), /answered 201, which the document does not list/);
	// A body off its schema: a channel without its fields, an error without a message.
	await assert.rejects(checkAnswer(d.url, 'GET', '/v1/channels/x', answer(200, { id: 'one' })),
		/GET \/v1\/channels\/\{name\}.*does not match/);
	await assert.rejects(checkAnswer(d.url, 'DELETE', '/v1/keys/3', answer(404, { error: { code: 'not_found' } })),
		/does not match/);
	// A request body msgd accepted must fit the document's request schema.
	const tpl = { name: 't', language: 'en', body: 'hi', created_at: '2026-01-01T00:00:00Z' };
	await checkAnswer(d.url, 'POST', '/v1/templates', answer(201, tpl), { name: 't', body: 'hi' });
	await assert.rejects(checkAnswer(d.url, 'POST', '/v1/templates', answer(201, tpl), { name: 't', body: 'hi', extra: 1 }),
		/accepted \(201\) a request body the document refuses/);
	// Refused bodies are the tests' business, not the document's.
	await checkAnswer(d.url, 'POST', '/v1/templates', answer(422, { error: { code: 'validation_failed', message: 'x' } }), { extra: 1 });
	// Outside the document: an error must still be the envelope.
	await assert.rejects(checkAnswer(d.url, 'GET', '/nowhere', answer(404, { oops: 1 })), /not an Error/);
	// A real answer through the helpers is checked the same way (and passes).
	assertStatus(await d.api('GET', '/v1/channels'), 200);
});
