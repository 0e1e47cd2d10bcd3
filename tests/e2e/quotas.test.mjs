// Sending quotas: an organization's messages per minute (hour, day), and a
// channel's, counted in the claim; a send over a quota is accepted and
// waits (queued, throttled_until) until the window opens, replies before
// bulk; "on_quota":"reject" answers 429 quota_exceeded instead. Windows are
// fixed UTC minutes: these tests wait for the next one (under a minute).
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { msgdTest, assertStatus, assertError, sendMessage, waitMessage, waitFor, getMessage, startPeer } from './lib.mjs';

const PG = /^postgres(ql)?:\/\//.test(process.env.MSGD_TEST_DATABASE || '');

const MINUTE = 60_000;

/** Wait until a fresh minute has at least `need` ms left, so a test's sends share one window. */
async function freshMinute(need = 15_000) {
	const left = MINUTE - (Date.now() % MINUTE);
	if (left < need) await new Promise((r) => setTimeout(r, left + 200));
}

describe('sending quotas', () => {
	msgdTest('per organization: the 4th and 5th wait for the next minute, then go; reject mode answers 429', async (h) => {
		const d = await h.start();
		assertStatus(await d.api('PATCH', '/v1/orgs/default', { settings: { messages_per_minute: 3 } }), 200);
		await freshMinute();
		const sent = [];
		for (let i = 0; i < 5; i++) sent.push(await sendMessage(d, { channel: 'sandbox', to: `1555001000${i}`, text: `m${i}` }));
		await waitFor(async () => {
			const ms = await Promise.all(sent.map((m) => getMessage(d, m.id)));
			return ms.filter((m) => m.status !== 'queued').length === 3 &&
				ms.filter((m) => m.status === 'queued' && m.throttled_until).length === 2 && ms;
		}, 10_000, { what: '3 sent, 2 held' });
		const held = (await Promise.all(sent.map((m) => getMessage(d, m.id)))).filter((m) => m.status === 'queued');
		const next = Math.ceil(Date.now() / MINUTE) * MINUTE;
		for (const m of held) assert.equal(Date.parse(m.throttled_until), next, 'until the next minute');
		assert.equal(held[0].attempts, 0, 'a hold is not an attempt');
		// Reject mode: refused now, nothing queued.
		const r = await d.api('POST', '/v1/messages', { channel: 'sandbox', to: '15550010009', text: 'no', on_quota: 'reject' });
		assertError(r, 429, 'quota_exceeded');
		assert.match(r.json.error.message, /minute/);
		assertError(await d.api('POST', '/v1/messages', { channel: 'sandbox', to: '15550010009', text: 'x', on_quota: 'maybe' }), 422, 'validation_failed');
		// Usage shows the counts.
		const u = assertStatus(await d.api('GET', '/v1/orgs/default/usage'), 200);
		assert.equal(u.messages.minute.limit, 3);
		assert.equal(u.messages.minute.used, 3);
		// The next minute: they go.
		for (const m of held) await waitMessage(d, m.id, (x) => x.status !== 'queued', 75_000);
		const after = await getMessage(d, held[0].id);
		assert.equal(after.throttled_until, null);
	}, { timeout: 120_000 });

	msgdTest('per channel: a quota in its config holds its messages; replies go first (test_quota_gate)', async (h) => {
		const d = await h.start();
		assertError(await d.api('PATCH', '/v1/channels/sandbox', { config: { quota_per_day: -1 } }), 422, 'validation_failed');
		assertStatus(await d.api('PATCH', '/v1/channels/sandbox', { config: { quota_per_day: 1 } }), 200);
		const first = await sendMessage(d, { channel: 'sandbox', to: '15550029999', text: 'uses the day' });
		await waitMessage(d, first.id, (m) => m.status !== 'queued', 10_000);
		const held = await sendMessage(d, { channel: 'sandbox', to: '15550021111', text: 'tomorrow' });
		const m = await waitMessage(d, held.id, (x) => x.throttled_until !== null, 10_000);
		assert.equal(m.status, 'queued');
		assert.equal(Date.parse(m.throttled_until), Math.ceil(Date.now() / 86_400_000) * 86_400_000);
		const u = assertStatus(await d.api('GET', '/v1/orgs/default/usage'), 200);
		assert.equal(u.channels.sandbox.day.used, 1);
		assert.equal(u.channels.sandbox.day.limit, 1);
		assertError(await d.api('POST', '/v1/messages', { channel: 'sandbox', to: '15550021112', text: 'x', on_quota: 'reject' }), 429, 'quota_exceeded');
	});

	msgdTest('duplicate content is refused within the window unless allowed; bulk cooldown per contact', async (h) => {
		const d = await h.start();
		assertStatus(await d.api('PATCH', '/v1/orgs/default', { settings: { duplicate_window_seconds: 600, bulk_cooldown_seconds: 300 } }), 200);
		const a = await sendMessage(d, { channel: 'sandbox', to: '15550030001', text: 'Sale!  50% off ' });
		const r = await d.api('POST', '/v1/messages', { channel: 'sandbox', to: '15550030001', text: 'Sale! 50% off' });
		assertError(r, 409, 'duplicate_content');
		assert.match(r.json.error.message, /allow_duplicate/);
		assertError(await d.api('POST', '/v1/messages', { channel: 'sandbox', to: '15550030001', text: 'x', allow_duplicate: 'yes' }), 422, 'validation_failed');
		const again = await sendMessage(d, { channel: 'sandbox', to: '15550030001', text: 'Sale! 50% off', allow_duplicate: true });
		await sendMessage(d, { channel: 'sandbox', to: '15550030002', text: 'Sale! 50% off' });
		// Bulk cooldown: the second bulk message to one contact waits 300 s after the first's.
		const w = await waitMessage(d, again.id, (m) => m.throttled_until !== null, 10_000);
		assert.equal(w.status, 'queued');
		const first = await getMessage(d, a.id);
		assert.notEqual(first.status, 'queued');
		const wait = Date.parse(w.throttled_until) - Date.now();
		assert.ok(wait > 250_000 && wait <= 301_000, `waits ${wait} ms`);
		// A reply (the contact wrote) is not bulk: no cooldown.
		assertStatus(await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '15550030003', text: 'hi' }), 201);
		const r1 = await sendMessage(d, { channel: 'sandbox', to: '15550030003', text: 'one' });
		const r2 = await sendMessage(d, { channel: 'sandbox', to: '15550030003', text: 'two' });
		for (const m of [r1, r2]) await waitMessage(d, m.id, (x) => x.status !== 'queued', 10_000);
	});

	msgdTest('two instances share the counts: the organization gets its quota once, not once per instance', async (h) => {
		const a = await h.start();
		const b = await startPeer(h, a);
		assertStatus(await a.api('PATCH', '/v1/orgs/default', { settings: { messages_per_day: 4 } }), 200);
		assertStatus(await b.api('POST', '/v1/channels', { name: 'sb2', type: 'sandbox' }), 201);
		await waitFor(async () => (await a.api('GET', '/v1/channels/sb2')).status === 200, 5000, { what: 'A sees sb2' });
		await waitFor(async () => (await b.api('GET', '/v1/orgs/default')).json.settings.messages_per_day === 4, 5000, { what: 'B sees the quota' });
		const sent = [];
		for (let i = 0; i < 4; i++) {
			sent.push(await sendMessage(a, { channel: 'sandbox', to: `1555007000${i}`, text: `a${i}` }));
			sent.push(await sendMessage(b, { channel: 'sb2', to: `1555008000${i}`, text: `b${i}` }));
		}
		const ms = await waitFor(async () => {
			const all = await Promise.all(sent.map((m) => getMessage(a, m.id)));
			return all.filter((m) => m.throttled_until).length === 4 && all;
		}, 15_000, { what: '4 held' });
		assert.equal(ms.filter((m) => m.status !== 'queued').length, 4);
		const u = assertStatus(await b.api('GET', '/v1/orgs/default/usage'), 200);
		assert.equal(u.messages.day.used, 4);
	}, { skip: PG ? false : 'runs on PostgreSQL only (MSGD_TEST_DATABASE=postgres://...)' });
});
