// Credential checks (a WhatsApp channel's token is tried against the Graph
// API in the background after create and patch) and the rule that moving a
// channel's destination needs its secrets again.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
	msgdTest, assertStatus, assertError, waitFor, waitMessage, sendMessage, channelState, freePort,
	waSendConfig, SEND_TOKEN,
} from './lib.mjs';
import { startFakeGraph, sendSetup } from './fake_graph.mjs';

const CHECKS_ON = { env: { MSGD_CREDENTIAL_CHECKS: 'on' } };

async function createWa(d, config) {
	return assertStatus(await d.api('POST', '/v1/channels', { name: 'wa', type: 'whatsapp_cloud', config }), 201, 'create wa');
}

function credentials(d, want, deadlineMs = 5000) {
	return waitFor(async () => {
		const st = await channelState(d);
		return st.credentials?.state === want && st;
	}, deadlineMs, { what: `credentials.state ${want}` });
}

describe('credential checks', () => {
	msgdTest('a good token → "checking" in the create reply, then "ok" with the number', async (h) => {
		const { d, fake } = await sendSetup(h, { start: CHECKS_ON, channel: false });
		const c = await createWa(d, waSendConfig(fake.url));
		assert.ok(['checking', 'ok'].includes(c.state.credentials.state), JSON.stringify(c.state));
		const st = await credentials(d, 'ok');
		assert.match(st.credentials.message, /Fake Business/);
		assert.ok(Date.parse(st.credentials.checked_at) > 0);
		assert.equal(st.sending.state, 'ok');
		assert.equal(fake.checks.length, 1);
		assert.equal(fake.checks[0].path.split('?')[0], '/v21.0/PNID1');
		assert.equal(fake.checks[0].token, SEND_TOKEN);
		assert.equal(fake.requests.length, 0, 'a check is not a send');
		const list = assertStatus(await d.api('GET', '/v1/channels'), 200);
		assert.equal(list.channels.find((x) => x.name === 'wa').state.credentials.state, 'ok');
	});

	msgdTest('a placeholder token (EAAG...) → invalid_credentials within a second; sending paused until PATCH', async (h) => {
		const { d, fake } = await sendSetup(h, { start: CHECKS_ON, channel: false });
		const t0 = Date.now();
		await createWa(d, waSendConfig(fake.url, { access_token: 'EAAG...' }));
		const st = await credentials(d, 'invalid_credentials', 1000);
		h.t.diagnostic(`invalid_credentials after ${Date.now() - t0} ms`);
		assert.match(st.credentials.message, /Invalid OAuth access token/);
		assert.equal(st.sending.state, 'paused', JSON.stringify(st));
		assert.equal(st.sending.reason.code, 190);
		assert.match(st.sending.reason.title, /Invalid OAuth/);
		const rz = assertStatus(await d.api('GET', '/readyz'), 200);
		assert.equal(rz.channels.wa.sending.state, 'paused');
		assert.equal(rz.channels.wa.sending.reason.code, 190);

		// A message waits instead of failing; a good token sends it.
		const m = await sendMessage(d, { channel: 'wa', to: '15550505050', text: 'after the fix' });
		assertStatus(await d.api('PATCH', '/v1/channels/wa', { config: { access_token: 'EAAgood' } }), 200);
		await waitMessage(d, m.id, 'accepted', 10_000);
		assert.equal(fake.sends().length, 1);
		assert.equal(fake.sends()[0].token, 'EAAgood');
		const ok = await credentials(d, 'ok');
		assert.equal(ok.sending.state, 'ok');
	});

	msgdTest('nothing listening at api_base_url → unreachable, with the network error', async (h) => {
		const d = await h.start(CHECKS_ON);
		const closed = await freePort();
		await createWa(d, waSendConfig(`http://127.0.0.1:${closed}`));
		const st = await credentials(d, 'unreachable');
		assert.ok(st.credentials.message.length > 0, JSON.stringify(st.credentials));
		assert.equal(st.sending.state, 'ok', 'an unreachable provider does not pause the channel');
	});
});

describe('changing where a channel sends needs its secrets', () => {
	msgdTest('PATCH api_base_url alone → 422 secrets_required, nothing changes; with access_token → 200', async (h) => {
		const { d, fake } = await sendSetup(h);
		const evil = await startFakeGraph();
		h.t.after(() => evil.close());
		const before = assertStatus(await d.api('GET', '/v1/channels/wa'), 200);

		assertError(await d.api('PATCH', '/v1/channels/wa', { config: { api_base_url: evil.url } }), 422, 'secrets_required');
		assertError(await d.api('PATCH', '/v1/channels/wa', { config: { api_base_url: null } }), 422, 'secrets_required');
		const same = assertStatus(await d.api('GET', '/v1/channels/wa'), 200);
		assert.deepEqual(same.config, before.config);
		assert.equal(same.updated_at, before.updated_at);

		// Still sends where it did, with its token; the other server sees nothing.
		const m1 = await sendMessage(d, { channel: 'wa', to: '15550606060', text: 'stays home' });
		await waitMessage(d, m1.id, 'accepted', 10_000);
		assert.equal(fake.sends().length, 1);
		assert.equal(evil.requests.length, 0);

		// Other settings still change without the secrets.
		assertStatus(await d.api('PATCH', '/v1/channels/wa', { config: { rate_per_second: 5 } }), 200);

		// With the token supplied again the move is allowed (and logged, without it).
		const p = assertStatus(await d.api('PATCH', '/v1/channels/wa', { config: { api_base_url: evil.url, access_token: 'tok-for-evil' } }), 200);
		assert.equal(p.config.api_base_url, evil.url);
		const m2 = await sendMessage(d, { channel: 'wa', to: '15550606060', text: 'moved' });
		await waitMessage(d, m2.id, 'accepted', 10_000);
		assert.equal(evil.sends().length, 1);
		assert.equal(evil.sends()[0].token, 'tok-for-evil');
		await waitFor(() => /channel destination changed/.test(d.logs()), 2000, { what: 'the log line' });
		assert.ok(!d.logs().includes('tok-for-evil') && !d.logs().includes(SEND_TOKEN), 'a token reached the log');
	});
});
