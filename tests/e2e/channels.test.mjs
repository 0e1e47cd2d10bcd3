// channels: CRUD, validation (422 naming the field), secrets never shown.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { msgdTest, assertError, assertStatus } from './lib.mjs';

const SECRETS = {
	access_token: 'EAAG_access_token_d0c1e2f3a4b5c6d7',
	app_secret: 'app_secret_6f1c2a9be3d847a0',
	verify_token: 'verify_token_9a8b7c6d5e4f',
};

function waConfig(over = {}) {
	return { phone_number_id: '106540352242922', ...SECRETS, ...over };
}

function assertNoSecrets(text, where) {
	for (const [k, v] of Object.entries(SECRETS))
		assert.ok(!text.includes(v), `${where} leaks ${k}: ${text.slice(0, 600)}`);
}

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

describe('channels', () => {
	msgdTest('create a whatsapp_cloud channel → 201; secrets masked in every response and in the log', async (h) => {
		const d = await h.start();
		const c = await d.api('POST', '/v1/channels', { name: 'wa1', type: 'whatsapp_cloud', config: waConfig() });
		assertStatus(c, 201, 'create');
		assertNoSecrets(c.text, 'POST /v1/channels response');
		assert.equal(c.json.name, 'wa1');
		assert.equal(c.json.type, 'whatsapp_cloud');
		assert.equal(typeof c.json.id, 'number');
		assert.match(c.json.created_at, RFC3339);
		assert.match(c.json.updated_at, RFC3339);
		assert.equal(c.json.config.phone_number_id, '106540352242922');
		for (const k of Object.keys(SECRETS))
			assert.equal(c.json.config[k], '********', `config.${k} not masked`);

		const one = await d.api('GET', '/v1/channels/wa1');
		assertStatus(one, 200, 'GET one');
		assertNoSecrets(one.text, 'GET /v1/channels/wa1');
		assert.equal(one.json.id, c.json.id);
		assert.equal(one.json.config.phone_number_id, '106540352242922');

		const list = await d.api('GET', '/v1/channels');
		assertStatus(list, 200, 'GET list');
		assertNoSecrets(list.text, 'GET /v1/channels');
		const names = list.json.channels.map((x) => x.name).sort();
		assert.deepEqual(names, ['sandbox', 'wa1']);

		const p = await d.api('PATCH', '/v1/channels/wa1', { config: { api_version: 'v22.0' } });
		assertStatus(p, 200, 'PATCH');
		assertNoSecrets(p.text, 'PATCH response');

		const ev = await d.api('GET', '/v1/events?since=0');
		assertNoSecrets(ev.text, 'GET /v1/events');

		// Error answers must not echo secrets either.
		const dup = await d.api('POST', '/v1/channels', { name: 'wa1', type: 'whatsapp_cloud', config: waConfig() });
		assertNoSecrets(dup.text, '409 response');
		const bad = await d.api('POST', '/v1/channels', { name: 'wa2', type: 'whatsapp_cloud', config: waConfig({ bogus: 1 }) });
		assertNoSecrets(bad.text, '422 response');

		await d.stop();
		assertNoSecrets(d.logs(), 'daemon log');
	});

	msgdTest('channel name taken → 409 conflict', async (h) => {
		const d = await h.start();
		assertStatus(await d.api('POST', '/v1/channels', { name: 'wa1', type: 'whatsapp_cloud', config: waConfig() }), 201);
		assertError(await d.api('POST', '/v1/channels', { name: 'wa1', type: 'whatsapp_cloud', config: waConfig({ phone_number_id: '1' }) }), 409, 'conflict');
		assertError(await d.api('POST', '/v1/channels', { name: 'sandbox', type: 'sandbox', config: {} }), 409, 'conflict');
	});

	msgdTest('unknown type → 422 naming "type"', async (h) => {
		const d = await h.start();
		const e = assertError(await d.api('POST', '/v1/channels', { name: 'x1', type: 'carrier_pigeon', config: {} }), 422, 'validation_failed');
		assert.equal(e.field, 'type', `error.field: ${JSON.stringify(e)}`);
		assert.match(e.message, /\btype\b/);
	});

	msgdTest('missing app_secret → 422 naming config.app_secret', async (h) => {
		const d = await h.start();
		const cfg = waConfig();
		delete cfg.app_secret;
		const e = assertError(await d.api('POST', '/v1/channels', { name: 'wa1', type: 'whatsapp_cloud', config: cfg }), 422, 'validation_failed');
		assert.equal(e.field, 'config.app_secret');
		assert.match(e.message, /app_secret/);
		assertError(await d.api('GET', '/v1/channels/wa1'), 404, 'not_found');
	});

	msgdTest('other missing required config fields → 422 naming them', async (h) => {
		const d = await h.start();
		for (const k of ['phone_number_id', 'access_token', 'verify_token']) {
			const cfg = waConfig();
			delete cfg[k];
			const e = assertError(await d.api('POST', '/v1/channels', { name: 'wa1', type: 'whatsapp_cloud', config: cfg }), 422, 'validation_failed');
			assert.equal(e.field, `config.${k}`);
		}
	});

	msgdTest('wrong config value type → 422 naming the field', async (h) => {
		const d = await h.start();
		let e = assertError(await d.api('POST', '/v1/channels', { name: 'wa1', type: 'whatsapp_cloud', config: waConfig({ phone_number_id: 106540352242922 }) }), 422, 'validation_failed');
		assert.equal(e.field, 'config.phone_number_id');
		e = assertError(await d.api('POST', '/v1/channels', { name: 'wa1', type: 'whatsapp_cloud', config: waConfig({ insecure_skip_signature: 'yes' }) }), 422, 'validation_failed');
		assert.equal(e.field, 'config.insecure_skip_signature');
	});

	msgdTest('insecure_skip_signature: true without app_secret → 201', async (h) => {
		const d = await h.start();
		const cfg = waConfig({ insecure_skip_signature: true });
		delete cfg.app_secret;
		const c = assertStatus(await d.api('POST', '/v1/channels', { name: 'wa_insecure', type: 'whatsapp_cloud', config: cfg }), 201);
		assert.equal(c.config.insecure_skip_signature, true);
	});

	msgdTest('unknown config key → 422 naming config.<key>', async (h) => {
		const d = await h.start();
		const e = assertError(await d.api('POST', '/v1/channels', { name: 'wa1', type: 'whatsapp_cloud', config: waConfig({ bogus_key: 'x' }) }), 422, 'validation_failed');
		assert.equal(e.field, 'config.bogus_key');
		assertError(await d.api('GET', '/v1/channels/wa1'), 404);
	});

	msgdTest('unknown top-level key → 422 naming it', async (h) => {
		const d = await h.start();
		const e = assertError(await d.api('POST', '/v1/channels', { name: 'wa1', type: 'whatsapp_cloud', config: waConfig(), extra_top: true }), 422, 'validation_failed');
		assert.equal(e.field, 'extra_top', `error.field: ${JSON.stringify(e)}`);
		assert.match(e.message, /extra_top/);
	});

	msgdTest('invalid names and missing name/config → 422', async (h) => {
		const d = await h.start();
		for (const name of ['', 'has space', 'a/b', 'x'.repeat(65)]) {
			const e = assertError(await d.api('POST', '/v1/channels', { name, type: 'sandbox', config: {} }), 422, 'validation_failed');
			assert.equal(e.field, 'name', `name ${JSON.stringify(name)}: ${JSON.stringify(e)}`);
		}
		let e = assertError(await d.api('POST', '/v1/channels', { type: 'sandbox', config: {} }), 422, 'validation_failed');
		assert.equal(e.field, 'name');
		e = assertError(await d.api('POST', '/v1/channels', { name: 'sb2', type: 'sandbox', config: [] }), 422, 'validation_failed');
		assert.equal(e.field, 'config');
		e = assertError(await d.api('POST', '/v1/channels', [1, 2]), 422, 'validation_failed');
	});

	msgdTest('PATCH config → 200 and the change persists (also across a restart)', async (h) => {
		const d = await h.start();
		const c = assertStatus(await d.api('POST', '/v1/channels', { name: 'wa1', type: 'whatsapp_cloud', config: waConfig() }), 201);
		const p = await d.api('PATCH', '/v1/channels/wa1', { config: { api_version: 'v22.0' } });
		assertStatus(p, 200, 'PATCH');
		assert.equal(p.json.config.api_version, 'v22.0');
		assert.equal(p.json.config.phone_number_id, '106540352242922', 'PATCH dropped keys it was not given');
		assert.equal(p.json.id, c.id);
		const g = assertStatus(await d.api('GET', '/v1/channels/wa1'), 200);
		assert.equal(g.config.api_version, 'v22.0');
		assert.equal(g.config.app_secret, '********');
		await d.stop();
		const d2 = await h.start({ dataDir: d.dataDir });
		const g2 = assertStatus(await d2.api('GET', '/v1/channels/wa1'), 200);
		assert.equal(g2.config.api_version, 'v22.0');
		assert.equal(g2.config.phone_number_id, '106540352242922');
	});

	msgdTest('PATCH is validated like a create: removing a required key (null) or adding an unknown one → 422, unchanged', async (h) => {
		const d = await h.start();
		assertStatus(await d.api('POST', '/v1/channels', { name: 'wa1', type: 'whatsapp_cloud', config: waConfig() }), 201);
		let e = assertError(await d.api('PATCH', '/v1/channels/wa1', { config: { app_secret: null } }), 422, 'validation_failed');
		assert.equal(e.field, 'config.app_secret');
		e = assertError(await d.api('PATCH', '/v1/channels/wa1', { config: { nope: 1 } }), 422, 'validation_failed');
		assert.equal(e.field, 'config.nope');
		const g = assertStatus(await d.api('GET', '/v1/channels/wa1'), 200);
		assert.equal(g.config.app_secret, '********', 'a rejected PATCH changed the channel');
		assert.ok(!('nope' in g.config));
		assertError(await d.api('PATCH', '/v1/channels/no-such', { config: { api_version: 'v1' } }), 404, 'not_found');
	});

	msgdTest('DELETE → 204, then GET → 404 and the list no longer has it', async (h) => {
		const d = await h.start();
		assertStatus(await d.api('POST', '/v1/channels', { name: 'wa1', type: 'whatsapp_cloud', config: waConfig() }), 201);
		const del = await d.api('DELETE', '/v1/channels/wa1');
		assert.equal(del.status, 204, del.text);
		assertError(await d.api('GET', '/v1/channels/wa1'), 404, 'not_found');
		const list = assertStatus(await d.api('GET', '/v1/channels'), 200);
		assert.ok(!list.channels.some((x) => x.name === 'wa1'));
		assertError(await d.api('DELETE', '/v1/channels/wa1'), 404, 'not_found');
		// The name is free again.
		assertStatus(await d.api('POST', '/v1/channels', { name: 'wa1', type: 'whatsapp_cloud', config: waConfig() }), 201);
	});

	msgdTest('malformed JSON body → 400 invalid_json', async (h) => {
		const d = await h.start();
		assertError(await d.api('POST', '/v1/channels', '{"name":"wa1","type":'), 400, 'invalid_json');
		assertError(await d.api('POST', '/v1/channels', 'not json at all'), 400, 'invalid_json');
		assertError(await d.api('POST', '/v1/channels', '{"name":"wa1"} trailing'), 400, 'invalid_json');
		const list = assertStatus(await d.api('GET', '/v1/channels'), 200);
		assert.deepEqual(list.channels.map((c) => c.name), ['sandbox']);
	});

	msgdTest('the body is parsed as JSON whatever the Content-Type says', async (h) => {
		const d = await h.start();
		const r = await d.api('POST', '/v1/channels', JSON.stringify({ name: 'sb_plain', type: 'sandbox', config: {} }), { 'content-type': 'text/plain' });
		assertStatus(r, 201, 'JSON body sent as text/plain');
		assertError(await d.api('POST', '/v1/channels', 'name=wa1&type=sandbox', { 'content-type': 'application/x-www-form-urlencoded' }), 400, 'invalid_json');
	});
});
