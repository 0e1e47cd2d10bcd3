// WhatsApp-approved templates (issue 14): synced from the fake Graph API's
// GET /{version}/{waba_id}/message_templates (paging by the after cursor),
// listed by GET /v1/channels/{name}/templates, and checked on send: a
// template that is not approved → 422 template_not_approved, fewer values
// than its placeholders → 422 template_params_missing.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { msgdTest, assertError, assertStatus, sendMessage, waitMessage, waitFor, databaseFor, createSendChannel, request } from './lib.mjs';
import { sendSetup, corpusError } from './fake_graph.mjs';

const WABA = '102290129340398';
const PG = (process.env.MSGD_TEST_DATABASE || '').startsWith('postgres');
const LEASES = { MSGD_DISPATCH_LEASE_MS: '1500' };

const TEMPLATES = [
	{
		name: 'order_update', language: 'en_US', status: 'APPROVED', category: 'UTILITY', parameter_format: 'POSITIONAL',
		components: [
			{ type: 'HEADER', format: 'TEXT', text: 'Order {{1}}', example: { header_text: ['#1234'] } },
			{ type: 'BODY', text: 'Hi {{1}}, your order {{2}} ships on {{3}}. Thanks, {{1}}!', example: { body_text: [['Ada', '#1234', 'Monday']] } },
			{ type: 'FOOTER', text: 'Reply STOP to opt out' },
			{ type: 'BUTTONS', buttons: [
				{ type: 'URL', text: 'Track', url: 'https://shop.example/track/{{1}}', example: ['https://shop.example/track/1234'] },
				{ type: 'QUICK_REPLY', text: 'Thanks' },
			] },
		],
	},
	{ name: 'hello_world', language: 'en_US', status: 'APPROVED', category: 'UTILITY', components: [{ type: 'BODY', text: 'Hello World' }] },
	{ name: 'promo', language: 'es', status: 'REJECTED', category: 'MARKETING', components: [{ type: 'BODY', text: 'Hola {{1}}' }] },
	{
		name: 'welcome_named', language: 'en', status: 'APPROVED', category: 'MARKETING', parameter_format: 'NAMED',
		components: [
			{ type: 'HEADER', format: 'IMAGE', example: { header_handle: ['4::aW...'] } },
			{ type: 'BODY', text: 'Hi {{first_name}}, {{first_name}}: your code is {{code}}' },
			{ type: 'BUTTONS', buttons: [{ type: 'COPY_CODE', example: 'SAVE10' }] },
		],
	},
	{ name: 'hello_world', language: 'es', status: 'PENDING', category: 'UTILITY', components: [{ type: 'BODY', text: 'Hola Mundo' }] },
];

async function listOf(d, name = 'wa') {
	return assertStatus(await d.api('GET', `/v1/channels/${name}/templates`), 200, `GET /v1/channels/${name}/templates`);
}

async function syncNow(d, fake, name = 'wa') {
	const before = fake.templateReqs().length;
	const r = assertStatus(await d.api('POST', `/v1/channels/${name}/templates/sync`), 202, 'sync');
	assert.deepEqual(r, { channel: name, sync: 'started' });
	return before;
}

describe('approved templates', () => {
	msgdTest('sync on demand over two pages, list with params, sends checked against it', async (h) => {
		const { d, fake } = await sendSetup(h, { config: { waba_id: WABA, templates_sync_hours: 0 } });
		fake.templates = TEMPLATES;
		fake.templatePageSize = 3;
		let l = await listOf(d);
		assert.deepEqual(l, { channel: 'wa', templates: [], sync: { synced_at: null, attempted_at: null, last_error: null } });
		// Not synced yet: nothing is refused (the provider decides).
		const early = await sendMessage(d, { channel: 'wa', to: '15550001234', template: { name: 'anything', language: 'en_US' } });
		await waitMessage(d, early.id, 'accepted');

		await syncNow(d, fake);
		l = await waitFor(async () => { const x = await listOf(d); return x.templates.length ? x : null; }, 10_000, { what: 'templates synced' });
		const reqs = fake.templateReqs();
		assert.equal(reqs.length, 2, fake.summary());
		assert.equal(reqs[0].waba, WABA);
		assert.equal(reqs[0].version, 'v21.0');
		assert.equal(reqs[0].headers.authorization, 'Bearer tok-secret-123');
		assert.equal(reqs[0].query.get('fields'), 'name,language,status,category,components');
		assert.equal(reqs[0].query.get('limit'), '100');
		assert.equal(reqs[0].query.get('after'), null);
		assert.equal(reqs[1].query.get('after'), Buffer.from('3').toString('base64'));

		assert.equal(l.templates.length, 5);
		const by = Object.fromEntries(l.templates.map((t) => [`${t.name}/${t.language}`, t]));
		assert.deepEqual(Object.keys(by).sort(), ['hello_world/en_US', 'hello_world/es', 'order_update/en_US', 'promo/es', 'welcome_named/en']);
		assert.equal(by['order_update/en_US'].params, 5);   // header 1, body 3 distinct, URL button 1
		assert.equal(by['order_update/en_US'].category, 'UTILITY');
		assert.equal(by['order_update/en_US'].status, 'APPROVED');
		assert.deepEqual(by['order_update/en_US'].components, TEMPLATES[0].components);
		assert.equal(by['hello_world/en_US'].params, 0);
		assert.equal(by['welcome_named/en'].params, 4);     // image header, 2 named, copy code
		assert.equal(by['promo/es'].status, 'REJECTED');
		assert.match(by['promo/es'].synced_at, /^\d{4}-\d\d-\d\dT/);
		assert.match(l.sync.synced_at, /^\d{4}-\d\d-\d\dT/);
		assert.equal(l.sync.last_error, null);

		// Sends.
		const ok = await sendMessage(d, { channel: 'wa', to: '15550001234', template: { name: 'hello_world', language: 'en_US' } });
		await waitMessage(d, ok.id, 'accepted');
		assertError(await d.api('POST', '/v1/messages', { channel: 'wa', to: '15550001234', template: { name: 'promo', language: 'es', variables: ['x'] } }), 422, 'template_not_approved');
		assertError(await d.api('POST', '/v1/messages', { channel: 'wa', to: '15550001234', template: { name: 'hello_world', language: 'es' } }), 422, 'template_not_approved');
		assertError(await d.api('POST', '/v1/messages', { channel: 'wa', to: '15550001234', template: { name: 'no_such', language: 'en_US' } }), 422, 'template_not_approved');
		const e = assertError(await d.api('POST', '/v1/messages', { channel: 'wa', to: '15550001234', template: { name: 'order_update', language: 'en_US', variables: ['Ada', '#1'] } }), 422, 'template_params_missing');
		assert.match(e.message, /5/);
		const full = await sendMessage(d, { channel: 'wa', to: '15550001234', template: { name: 'order_update', language: 'en_US', variables: ['Ada', '#1', 'Monday', 'x', 'y'] } });
		await waitMessage(d, full.id, 'accepted');
		const comps = [
			{ type: 'header', parameters: [{ type: 'image', image: { link: 'https://x.example/a.png' } }] },
			{ type: 'body', parameters: [{ type: 'text', parameter_name: 'first_name', text: 'Ada' }, { type: 'text', parameter_name: 'code', text: 'S10' }] },
		];
		assertError(await d.api('POST', '/v1/messages', { channel: 'wa', to: '15550001234', template: { name: 'welcome_named', language: 'en', components: comps } }), 422, 'template_params_missing');
		comps.push({ type: 'button', sub_type: 'copy_code', index: '0', parameters: [{ type: 'coupon_code', coupon_code: 'S10' }] });
		const named = await sendMessage(d, { channel: 'wa', to: '15550001234', template: { name: 'welcome_named', language: 'en', components: comps } });
		await waitMessage(d, named.id, 'accepted');

		// A later sync replaces the list whole.
		fake.templates = TEMPLATES.slice(1, 2);
		const n = await syncNow(d, fake);
		await fake.until((f) => f.templateReqs().length === n + 1, 10_000, 'second sync');
		l = await waitFor(async () => { const x = await listOf(d); return x.templates.length === 1 ? x : null; }, 10_000, { what: 'list replaced' });
		assert.equal(l.templates[0].name, 'hello_world');
		assertError(await d.api('POST', '/v1/messages', { channel: 'wa', to: '15550001234', template: { name: 'order_update', language: 'en_US', variables: ['a', 'b', 'c', 'd', 'e'] } }), 422, 'template_not_approved');
	});

	msgdTest('an import naming a provider template: approved, and every parameter mapped', async (h) => {
		const { d, fake } = await sendSetup(h, { config: { waba_id: WABA, templates_sync_hours: 0 } });
		fake.templates = TEMPLATES;
		await syncNow(d, fake);
		await waitFor(async () => (await listOf(d)).templates.length ? true : null, 10_000, { what: 'templates synced' });
		const csv = 'phone,a,b,c,d,e\n15550001234,1,2,3,4,5\n15550001235,1,2,3,4,\n';
		const up = await request(d.url, 'POST', '/v1/files?filename=list.csv', Buffer.from(csv),
			{ authorization: `Bearer ${d.token}`, 'content-type': 'text/csv' });
		assert.equal(up.status, 201, up.text);
		const vars = { 1: 'a', 2: 'b', 3: 'c', 4: 'd', 5: 'e' };
		const base = { file_id: up.json.id, channel: 'wa', mapping: { phone: 'phone', variables: vars } };
		assertError(await d.api('POST', '/v1/imports', { ...base, template: { name: 'promo', language: 'es' } }), 422, 'template_not_approved');
		assertError(await d.api('POST', '/v1/imports', { ...base, template: { name: 'order_update', language: 'en_US' },
			mapping: { phone: 'phone', variables: { 1: 'a', 2: 'b' } } }), 422, 'template_variables_unmapped');
		assertError(await d.api('POST', '/v1/imports', { ...base, template: { name: 'nope', language: 'en_US' } }), 422, 'template_not_approved');
		// The channel type's default language (en_US) when the import names none.
		const imp = assertStatus(await d.api('POST', '/v1/imports', { ...base, template: 'order_update' }), 202);
		const done = await waitFor(async () => {
			const r = assertStatus(await d.api('GET', `/v1/imports/${imp.id}`), 200);
			return r.status !== 'parsing' ? r : null;
		}, 20_000, { what: 'import validated' });
		assert.equal(done.status, 'validated', JSON.stringify(done));
		assert.equal(done.counts.valid, 1, JSON.stringify(done.counts));
		assert.equal(done.counts.invalid, 1, JSON.stringify(done.counts));   // the second row leaves e empty
	});

	msgdTest('Graph errors (190 token, 100 bad waba) are recorded and shown; the last good list stays', async (h) => {
		const { d, fake } = await sendSetup(h, { config: { waba_id: WABA, templates_sync_hours: 0 } });
		fake.templates = TEMPLATES;
		await syncNow(d, fake);
		await waitFor(async () => (await listOf(d)).templates.length === 5, 10_000, { what: 'first sync' });
		const good = (await listOf(d)).sync.synced_at;

		fake.next(1, corpusError('190'), { kinds: ['templates'] });
		await syncNow(d, fake);
		let l = await waitFor(async () => { const x = await listOf(d); return x.sync.last_error ? x : null; }, 10_000, { what: 'error recorded' });
		assert.match(l.sync.last_error, /190/);
		assert.ok(!l.sync.last_error.includes('tok-secret-123'), 'the token leaked into the error');
		assert.equal(l.templates.length, 5, 'a failed sync changed the list');
		assert.equal(l.sync.synced_at, good);

		// A failure on the second page fails the whole sync.
		fake.templatePageSize = 2;
		fake.next(1, corpusError('100'), { kinds: ['templates'] });
		fake.templates = TEMPLATES.slice(0, 1);
		await syncNow(d, fake);
		l = await waitFor(async () => { const x = await listOf(d); return /100/.test(x.sync.last_error ?? '') ? x : null; }, 10_000, { what: 'error 100 recorded' });
		assert.equal(l.templates.length, 5);

		// The next good sync clears the error.
		await syncNow(d, fake);
		l = await waitFor(async () => { const x = await listOf(d); return x.sync.last_error === null ? x : null; }, 10_000, { what: 'error cleared' });
		assert.equal(l.templates.length, 1);
	});

	msgdTest('no waba_id → 422; other channel types list nothing; the periodic sync runs at start on the lease holder', async (h) => {
		const { d, fake } = await sendSetup(h);
		assertError(await d.api('POST', '/v1/channels/wa/templates/sync'), 422, 'action_failed');
		assertError(await d.api('POST', '/v1/channels/sandbox/templates/sync'), 422, 'unsupported_by_channel');
		assert.deepEqual(await listOf(d, 'sandbox'), { channel: 'sandbox', templates: [], sync: null });
		assertError(await d.api('GET', '/v1/channels/nope/templates'), 404, 'not_found');
		assertError(await d.api('PATCH', '/v1/channels/wa', { config: { templates_sync_hours: -1 } }), 422, 'validation_failed');
		// waba_id is a path segment of the sync's URL: 1 to 32 digits, nothing else.
		for (const bad of ['1/../../102290129340398/messages', '123?x=1', '12#3', 'abc', '', ' 123', '1'.repeat(33), 123]) {
			const e = assertError(await d.api('PATCH', '/v1/channels/wa', { config: { waba_id: bad } }), 422, 'validation_failed');
			assert.equal(e.field, 'config.waba_id', JSON.stringify(bad));
			const c = assertError(await d.api('POST', '/v1/channels', { name: 'wa2', type: 'whatsapp_cloud', config: {
				phone_number_id: '999', access_token: 't', verify_token: 'v', app_secret: 's', api_base_url: fake.url,
				waba_id: bad } }), 422, 'validation_failed');
			assert.equal(c.field, 'config.waba_id', JSON.stringify(bad));
		}
		assertError(await d.api('POST', '/v1/channels/wa/templates/sync'), 422, 'action_failed');
		assert.equal(fake.templateReqs().length, 0, 'nothing asked');
		// waba_id set with the default period: synced without being asked.
		fake.templates = TEMPLATES.slice(1, 2);
		assertStatus(await d.api('PATCH', '/v1/channels/wa', { config: { waba_id: WABA } }), 200);
		await fake.until((f) => f.templateReqs().length >= 1, 15_000, 'periodic sync');
		await waitFor(async () => (await listOf(d)).templates.length === 1, 10_000, { what: 'periodic sync stored' });
	});

	msgdTest('two instances: the dispatch lease holder alone syncs periodically; the other takes over when it stops', async (h) => {
		const { d: a, fake } = await sendSetup(h, { channel: false, start: { env: { ...LEASES, MSGD_INSTANCE_ID: 'a' } } });
		const b = await h.start({ token: a.token, env: { ...LEASES, MSGD_DATABASE: databaseFor(a.dataDir), MSGD_INSTANCE_ID: 'b' } });
		fake.templates = TEMPLATES.slice(1, 2);
		await createSendChannel(a, fake.url, { waba_id: WABA });
		const held = async (d) => (await d.api('GET', '/v1/channels/wa')).json?.state?.dispatch;
		await waitFor(async () => (await held(a)) === 'held' || (await held(b)) === 'held', 15_000, { what: 'a lease holder' });
		await waitFor(async () => (await held(a)) === 'elsewhere' || (await held(b)) === 'elsewhere', 15_000, { what: 'both instances know the channel' });
		await waitFor(async () => (await listOf(b)).templates.length === 1, 15_000, { what: 'synced, seen from b' });
		assert.equal(fake.templateReqs().length, 1, `one sync by the holder: ${fake.summary()}`);
		const [holder, other] = (await held(a)) === 'held' ? [a, b] : [b, a];
		// The holder stops cleanly (its leases go at once): the other takes the channel and syncs.
		fake.templates = TEMPLATES;
		await holder.stop();
		await waitFor(async () => (await listOf(other)).templates.length === 5, 15_000, { what: 'synced by the new holder' });
		assert.equal(fake.templateReqs().length, 2);
	}, { skip: PG ? false : 'runs on PostgreSQL only (make test-pg)', timeout: 90_000 });
});
