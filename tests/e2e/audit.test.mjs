// The audit trail: changes to channels, templates, users, keys, event
// webhooks and settings append audit.* events (actor, target, before and
// after, never a secret), read by owners and admins at GET /v1/audit and
// never mixed into /v1/events, streams or event webhooks.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { msgdTest, request, assertError, assertStatus, waitFor, followStream, loginAs } from './lib.mjs';

const PW = 'correct horse battery';
const TOKEN_SECRET = 'EAAsecret_token_value_1234';
const APP_SECRET = 'app-secret-value-5678';
const HOOK_SECRET = 'hook-secret-value-9012';

function session(d, user, org) {
	return loginAs(d, user, PW, org);
}

describe('audit trail', () => {
	msgdTest('every change is recorded, with its actor and without secrets; owners and admins read it', async (h) => {
		const d = await h.start();
		const live = followStream(d);
		h.t.after(() => live.stop());
		assertStatus(await d.api('POST', '/v1/channels', { name: 'wa', type: 'whatsapp_cloud', config: {
			phone_number_id: 'PNID-AUDIT', access_token: TOKEN_SECRET, verify_token: 'vt-audit', app_secret: APP_SECRET } }), 201);
		assertStatus(await d.api('PATCH', '/v1/channels/wa', { config: { rate_per_second: 5 } }), 200);
		assertStatus(await d.api('POST', '/v1/templates', { name: 'hi', body: 'Hello {{name}}' }), 201);
		assertStatus(await d.api('DELETE', '/v1/templates/hi'), 204);
		const hook = assertStatus(await d.api('POST', '/v1/webhooks', { url: 'http://127.0.0.1:9/h', events: ['*'], secret: HOOK_SECRET }), 201);
		assertStatus(await d.api('DELETE', `/v1/webhooks/${hook.id}`), 204);
		const key = assertStatus(await d.api('POST', '/v1/keys', { name: 'ci', scopes: ['messages:send'] }), 201);
		assertStatus(await d.api('DELETE', `/v1/keys/${key.id}`), 204);
		assertStatus(await d.api('POST', '/v1/users', { name: 'ada', password: PW, role: 'admin' }), 201);
		assertStatus(await d.api('POST', '/v1/users', { name: 'vic', password: PW, role: 'viewer' }), 201);
		assertStatus(await d.api('PATCH', '/v1/users/vic', { role: 'agent' }), 200);
		assertStatus(await d.api('PUT', '/v1/users/vic/password', { password: PW }), 204);
		assertStatus(await d.api('PATCH', '/v1/orgs/default', { settings: { messages_per_day: 500 } }), 200);
		assertStatus(await d.api('DELETE', '/v1/channels/wa'), 204);

		const want = ['channel.created', 'channel.updated', 'template.created', 'template.deleted', 'webhook.created',
			'webhook.deleted', 'key.created', 'key.revoked', 'user.created', 'user.created', 'user.role_changed',
			'user.password_changed', 'org.settings_changed', 'channel.deleted'].map((t) => `audit.${t}`);
		const got = await waitFor(async () => {
			const ev = assertStatus(await d.api('GET', '/v1/audit?since=0'), 200).events;
			return ev.length >= want.length && ev;
		}, 10_000, { what: 'audit events' });
		assert.deepEqual(got.map((e) => e.type), want);
		for (const e of got) assert.deepEqual(e.data.actor, { kind: 'admin', subject: 'admin' });
		const text = JSON.stringify(got);
		for (const s of [TOKEN_SECRET, APP_SECRET, HOOK_SECRET, key.key, PW])
			assert.ok(!text.includes(s), `a secret in the audit trail: ${s}`);
		const upd = got.find((e) => e.type === 'audit.channel.updated');
		assert.equal(upd.data.target.name, 'wa');
		assert.equal(upd.data.after.rate_per_second, 5);
		assert.equal(upd.data.before.rate_per_second, undefined);
		const role = got.find((e) => e.type === 'audit.user.role_changed');
		assert.deepEqual([role.data.before, role.data.after], [{ role: 'viewer' }, { role: 'agent' }]);
		const st = got.find((e) => e.type === 'audit.org.settings_changed');
		assert.equal(st.data.before.messages_per_day, 0);
		assert.equal(st.data.after.messages_per_day, 500);

		// Not in the event log's other readers.
		const ev = assertStatus(await d.api('GET', '/v1/events?since=0'), 200).events;
		assert.ok(ev.every((e) => !e.type.startsWith('audit.')));
		assert.ok(live.events.every((e) => !e.type.startsWith('audit.')));

		// Admins read it (as themselves when they change something); agents and viewers do not.
		const ada = await session(d, 'ada');
		assertStatus(await ada('POST', '/v1/templates', { name: 'by-ada', body: 'x' }), 201);
		const mine = await waitFor(async () => {
			const l = assertStatus(await ada('GET', `/v1/audit?since=${got[got.length - 1].seq}`), 200).events;
			return l.length > 0 && l;
		}, 10_000, { what: 'ada\'s change' });
		assert.deepEqual(mine[0].data.actor, { kind: 'user', subject: 'ada' });
		const vic = await session(d, 'vic');
		const r = await vic('GET', '/v1/audit');
		assertError(r, 403, 'forbidden');
		assert.match(r.json.error.message, /audit:read/);
		// Another organization's trail is its own.
		assertStatus(await d.api('POST', '/v1/orgs', { name: 'acme' }), 201);
		assert.deepEqual(assertStatus(await d.api('GET', '/v1/audit?since=0', undefined, { 'msgd-org': 'acme' }), 200).events, []);
	});
});
