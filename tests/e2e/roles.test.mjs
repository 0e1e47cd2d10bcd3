// Roles: users log in with their own password and get their membership's
// role in the organization they act in. Every route of the API is called
// by a viewer, an agent, an admin and an owner: each gets exactly its
// permissions (403 "forbidden" naming the missing one otherwise). Nobody
// grants a role above their own; a user of two organizations switches with
// Msgd-Org; removed from one, a user loses it at once.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { msgdTest, request, assertError, assertStatus, loginAs } from './lib.mjs';

const PW = 'correct horse battery';
const ROLES = ['viewer', 'agent', 'admin', 'owner'];

function session(d, user, org) {
	return loginAs(d, user, PW, org);
}

// One call per route of the route table, and the permission it needs
// (tests/unit/test_authz.c proves the table itself; this proves the wire).
const CALLS = [
	['GET', '/v1/channels', 'messages:read'],
	['GET', '/v1/channels/sandbox', 'messages:read'],
	['POST', '/v1/channels', 'channels:write', { name: 'x', type: 'nope' }],
	['PATCH', '/v1/channels/sandbox', 'channels:write', { config: {} }],
	['DELETE', '/v1/channels/nochannel', 'channels:write'],
	['POST', '/v1/sandbox/sandbox/inbound', 'messages:send', {}],
	['GET', '/v1/conversations', 'messages:read'],
	['GET', '/v1/conversations/999999', 'messages:read'],
	['GET', '/v1/conversations/999999/messages', 'messages:read'],
	['POST', '/v1/conversations/999999/read', 'messages:send'],
	['GET', '/v1/messages?state=retrying', 'messages:read'],
	['GET', '/v1/messages/999999', 'messages:read'],
	['POST', '/v1/messages', 'messages:send', {}],
	['POST', '/v1/messages/batch', 'messages:send', {}],
	['DELETE', '/v1/messages/999999', 'messages:send'],
	['GET', '/v1/events?since=0', 'events:read'],
	['GET', '/v1/templates', 'messages:read'],
	['GET', '/v1/templates/none', 'messages:read'],
	['POST', '/v1/templates', 'templates:write', {}],
	['DELETE', '/v1/templates/none', 'templates:write'],
	['GET', '/v1/webhooks', 'webhooks:write'],
	['GET', '/v1/webhooks/999999', 'webhooks:write'],
	['POST', '/v1/webhooks', 'webhooks:write', {}],
	['DELETE', '/v1/webhooks/999999', 'webhooks:write'],
	// exports (issue 15, h15sink)
	['GET', '/v1/exports', 'webhooks:write'],
	['GET', '/v1/exports/999999', 'webhooks:write'],
	['POST', '/v1/exports', 'webhooks:write', {}],
	['POST', '/v1/exports/999999/pause', 'webhooks:write'],
	['POST', '/v1/exports/999999/resume', 'webhooks:write'],
	['DELETE', '/v1/exports/999999', 'webhooks:write'],
	['GET', '/v1/users', 'users:write'],
	['POST', '/v1/users', 'users:write', {}],
	['PATCH', '/v1/users/nobody', 'users:write', { role: 'viewer' }],
	['DELETE', '/v1/users/nobody', 'users:write'],
	['POST', '/v1/users/nobody/logout', 'users:write'],
	['PUT', '/v1/users/nobody/password', 'users:write', { password: PW }],
	['GET', '/v1/keys', 'keys:write'],
	['POST', '/v1/keys', 'keys:write', {}],
	['DELETE', '/v1/keys/999999', 'keys:write'],
	['GET', '/v1/orgs/default', 'authenticated'],
	['PATCH', '/v1/orgs/default', 'org:manage', { settings: { messages_per_day: 0 } }],
	['GET', '/v1/orgs/default/usage', 'messages:read'],
	['DELETE', '/v1/contacts/999999', 'contacts:erase'],
	['GET', '/v1/audit', 'audit:read'],
	['GET', '/v1/orgs', 'platform'],
	['POST', '/v1/orgs', 'platform', { name: 'x y' }],
	['GET', '/v1/auth/me', 'authenticated'],
	['PUT', '/v1/auth/password', 'authenticated', {}],
];

const GRANTS = {
	viewer: ['authenticated', 'messages:read', 'events:read'],
	agent: ['authenticated', 'messages:read', 'events:read', 'messages:send'],
	admin: ['authenticated', 'messages:read', 'events:read', 'messages:send', 'channels:write',
		'templates:write', 'webhooks:write', 'users:write', 'keys:write', 'contacts:erase', 'audit:read'],
};
GRANTS.owner = [...GRANTS.admin, 'org:manage'];

describe('roles', () => {
	msgdTest('role x route: each role gets exactly its permissions, 403 naming the missing one', async (h) => {
		const d = await h.start();
		for (const role of ROLES)
			assertStatus(await d.api('POST', '/v1/users', { name: role, password: PW, role }), 201, `create ${role}`);
		for (const role of ROLES) {
			const as = await session(d, role);
			const me = assertStatus(await as('GET', '/v1/auth/me'), 200);
			assert.equal(me.role, role);
			assert.equal(me.kind, 'user');
			for (const [method, p, perm, body] of CALLS) {
				const r = await as(method, p, body);
				const may = GRANTS[role].includes(perm);
				if (may) {
					assert.notEqual(r.status, 403, `${role} ${method} ${p}: ${r.text}`);
					assert.notEqual(r.status, 401, `${role} ${method} ${p}: ${r.text}`);
				} else {
					assertError(r, 403, 'forbidden');
					assert.ok(r.json.error.message.includes(perm), `${role} ${method} ${p}: ${r.text}`);
				}
			}
		}
	});

	msgdTest('nobody grants above their own role; owners are out of an admin\'s reach', async (h) => {
		const d = await h.start();
		assertStatus(await d.api('POST', '/v1/users', { name: 'boss', password: PW, role: 'owner' }), 201);
		assertStatus(await d.api('POST', '/v1/users', { name: 'ada', password: PW, role: 'admin' }), 201);
		const ada = await session(d, 'ada');
		assertError(await ada('POST', '/v1/users', { name: 'eve', password: PW, role: 'owner' }), 403, 'forbidden');
		assertStatus(await ada('POST', '/v1/users', { name: 'eve', password: PW, role: 'agent' }), 201);
		assertStatus(await ada('PATCH', '/v1/users/eve', { role: 'viewer' }), 200);
		assertError(await ada('PATCH', '/v1/users/eve', { role: 'owner' }), 403, 'forbidden');
		assertError(await ada('PATCH', '/v1/users/boss', { role: 'viewer' }), 403, 'forbidden');
		assertError(await ada('DELETE', '/v1/users/boss'), 403, 'forbidden');
		assertError(await ada('PUT', '/v1/users/boss/password', { password: PW + '2' }), 403, 'forbidden');
		assertError(await ada('PATCH', '/v1/users/eve', { role: 'root' }), 422, 'validation_failed');
		const eve = await session(d, 'eve');
		assert.equal(assertStatus(await eve('GET', '/v1/auth/me'), 200).role, 'viewer');
		// The last owner stays one.
		assertError(await d.api('PATCH', '/v1/users/boss', { role: 'admin' }), 409, 'conflict');
		assertError(await d.api('DELETE', '/v1/users/boss'), 409, 'conflict');
		const list = assertStatus(await d.api('GET', '/v1/users'), 200).users;
		assert.deepEqual(list.map((u) => [u.name, u.role]), [['ada', 'admin'], ['boss', 'owner'], ['eve', 'viewer']]);
	});

	msgdTest('a user of two organizations: Msgd-Org switches; another\'s org is 404; removal is at once', async (h) => {
		const d = await h.start();
		const B = { 'msgd-org': 'acme' };
		assertStatus(await d.api('POST', '/v1/orgs', { name: 'acme' }), 201);
		assertStatus(await d.api('POST', '/v1/orgs', { name: 'other' }), 201);
		assertStatus(await d.api('POST', '/v1/users', { name: 'kim', password: PW, role: 'agent' }), 201);
		// An existing user joins another organization (no password: no takeover).
		assertStatus(await d.api('POST', '/v1/users', { name: 'kim', role: 'admin' }, B), 201);
		assertError(await d.api('POST', '/v1/users', { name: 'kim', role: 'admin' }, B), 409, 'conflict');
		const kimA = await session(d, 'kim');
		const kimB = await session(d, 'kim', 'acme');
		assert.equal(assertStatus(await kimA('GET', '/v1/auth/me'), 200).role, 'agent');
		const meB = assertStatus(await kimB('GET', '/v1/auth/me'), 200);
		assert.equal(meB.org, 'acme');
		assert.equal(meB.role, 'admin');
		assert.deepEqual(meB.orgs, [{ name: 'default', role: 'agent' }, { name: 'acme', role: 'admin' }]);
		assertStatus(await kimB('POST', '/v1/channels', { name: 'sb', type: 'sandbox' }), 201);
		assertError(await kimA('POST', '/v1/channels', { name: 'sb', type: 'sandbox' }), 403, 'forbidden');
		const kimOther = await session(d, 'kim', 'other');
		assertError(await kimOther('GET', '/v1/channels'), 404, 'not_found');
		// The admin of acme cannot set the password of a user of default too.
		assertStatus(await d.api('POST', '/v1/users', { name: 'lee', password: PW, role: 'viewer' }), 201);
		assertStatus(await d.api('POST', '/v1/users', { name: 'lee', role: 'viewer' }, B), 201);
		assertError(await kimB('PUT', '/v1/users/lee/password', { password: PW + 'x' }), 403, 'forbidden');
		// Out of acme: at once, and still in default.
		assertStatus(await d.api('DELETE', '/v1/users/kim', undefined, B), 204);
		assertError(await kimB('GET', '/v1/channels'), 404, 'not_found');
		assertStatus(await kimA('GET', '/v1/channels'), 200);
		// Out of the last one: the user is gone, sessions end.
		assertStatus(await d.api('DELETE', '/v1/users/kim'), 204);
		assertError(await kimA('GET', '/v1/channels'), 401, 'unauthorized');
	});
});
