// openapi_check.mjs - every answer msgd gives lib.mjs's request() helper
// (d.api, d.anon, request(d.url, ...)) checked against docs/openapi.json:
// its status must be documented for the (method, route) it matched, and a
// JSON body must match the documented schema (ajv, JSON Schema 2020-12, as
// OpenAPI 3.1 uses), and a JSON request body msgd accepted (2xx) must match
// the route's request schema. A mismatch throws, naming the route, the
// status and ajv's error, so the test that made the request fails.
//
// On unless MSGD_OPENAPI_CHECK=0. Needs tests/e2e/node_modules (make e2e-npm).
// Only msgd's own answers are checked (the bases startMsgd() registers, not
// the fake providers'); raw requests (rawRequest, node:http) are not.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const OPENAPI_PATH = path.resolve(HERE, '..', '..', 'docs', 'openapi.json');
export const OPENAPI_CHECK = process.env.MSGD_OPENAPI_CHECK !== '0';

// MSGD_OPENAPI_COVERAGE=DIR: each test process writes the (method, route,
// status) it saw checked to DIR/<pid>.txt, to tell what the suite covers.
const COVERAGE_DIR = process.env.MSGD_OPENAPI_COVERAGE || '';
const seen = new Set();
if (COVERAGE_DIR)
	process.on('exit', () => {
		fs.mkdirSync(COVERAGE_DIR, { recursive: true });
		fs.writeFileSync(path.join(COVERAGE_DIR, `${process.pid}.txt`), [...seen].join('\n') + '\n');
	});

const bases = new Set();
let state = null;   // a promise of { doc, ajv, routes, validators }

/** Answers from this base URL (a msgd) are checked from now on. */
export function watchBase(url) {
	bases.add(url);
}

/** JSON pointer escaping of one segment. */
function ptr(s) {
	return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** The OpenAPI document, ajv with it registered, and its paths as regexps
 *  (most literal segments first, as the route table prefers exact ones). */
export async function loadOpenapi() {
	state ??= (async () => {
		const doc = JSON.parse(fs.readFileSync(OPENAPI_PATH, 'utf8'));
		let Ajv;
		try {
			Ajv = (await import('ajv/dist/2020.js')).default;
		} catch (e) {
			throw new Error(`openapi check: ajv is missing (run make e2e-npm, or MSGD_OPENAPI_CHECK=0): ${e.message}`);
		}
		const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
		ajv.addSchema(doc, 'openapi');
		const routes = Object.keys(doc.paths).map((p) => ({
			path: p,
			literal: p.split('/').filter((s) => s && !s.startsWith('{')).length,
			re: new RegExp('^' + p.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+') + '/?$'),
		})).sort((a, b) => b.literal - a.literal);
		return { doc, ajv, routes, validators: new Map() };
	})();
	return state;
}

function validator(s, pointer) {
	let v = s.validators.get(pointer);
	if (!v) {
		v = s.ajv.compile({ $ref: `openapi#${pointer}` });
		s.validators.set(pointer, v);
	}
	return v;
}

function errorsText(v) {
	return (v.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || '(body)'} ${e.message}` +
		(e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : '')).join('; ');
}

/**
 * Check one answer: base (the URL requested), method, p (path and query),
 * res {status, headers, json, text}; sent: the JSON body the request sent,
 * if any. Throws on a mismatch. A request body msgd accepted (2xx) must
 * also match the document's request schema: a document stricter than msgd
 * (a field it calls required, or unknown, that msgd takes) fails too.
 */
export async function checkAnswer(base, method, p, res, sent) {
	if (!OPENAPI_CHECK || !bases.has(base)) return;
	const s = await loadOpenapi();
	const pathname = new URL(p, 'http://x').pathname;
	const m = method.toLowerCase();
	const matching = s.routes.filter((r) => r.re.test(pathname));
	const route = matching.find((r) => s.doc.paths[r.path][m]);
	const where = `${method} ${pathname}`;
	const ctype = res.headers.get('content-type') ?? '';
	const isJson = /^application\/json/.test(ctype) && res.text.length > 0;

	if (!route) {
		// Not a documented operation: the panel's files, or an answer of the
		// router (404 no such endpoint, 405 another method): errors must
		// still be the error envelope.
		if (res.status >= 400 && isJson) {
			const v = validator(s, '/components/schemas/Error');
			if (!v(res.json))
				throw new Error(`openapi: ${where} answered ${res.status} with a body that is not an Error: ${errorsText(v)}`);
		}
		return;
	}
	const opPointer = `/paths/${ptr(route.path)}/${m}`;
	const op = s.doc.paths[route.path][m];
	const status = String(res.status);
	seen.add(`${method} ${route.path} ${status}`);
	const reqSchema = op.requestBody?.content?.['application/json']?.schema;
	if (sent !== undefined && reqSchema && res.status >= 200 && res.status < 300) {
		const v = validator(s, `${opPointer}/requestBody/content/application~1json/schema`);
		if (!v(sent))
			throw new Error(`openapi: ${method} ${route.path} (${where}) accepted (${status}) a request body the document ` +
				`refuses: ${errorsText(v)}; sent: ${JSON.stringify(sent).slice(0, 300)}`);
	}
	let answer = op.responses[status];
	let pointer = `${opPointer}/responses/${status}`;
	if (!answer)
		throw new Error(`openapi: ${method} ${route.path} (${where}) answered ${status}, which the document does not list ` +
			`(it lists ${Object.keys(op.responses).join(', ')}); body: ${res.text.slice(0, 300)}`);
	if (answer.$ref) {
		pointer = answer.$ref.slice(1);
		answer = pointer.split('/').slice(1).reduce((o, k) => o?.[k.replace(/~1/g, '/').replace(/~0/g, '~')], s.doc);
	}
	const content = answer?.content;
	if (!isJson) return;
	if (!content || !content['application/json'])
		throw new Error(`openapi: ${method} ${route.path} answered ${status} with JSON, documented as ` +
			`${content ? Object.keys(content).join(', ') : 'no body'}`);
	if (res.json === undefined)
		throw new Error(`openapi: ${method} ${route.path} answered ${status} with malformed JSON: ${res.text.slice(0, 200)}`);
	const v = validator(s, `${pointer}/content/application~1json/schema`);
	if (!v(res.json))
		throw new Error(`openapi: ${method} ${route.path} (${where}) answered ${status} with a body that does not match ` +
			`the document: ${errorsText(v)}; body: ${res.text.slice(0, 400)}`);
}
