// Providers that misbehave: answers that are garbage (not JSON, cut short,
// a 200 without a message id, an HTML error page, a huge body), a server
// that accepts the connection and never answers (half-open), one that
// closes at once. Every attempt ends within its timeout, nothing is lost,
// the dispatcher never gets stuck: other channels keep sending meanwhile,
// and the message goes out once the provider behaves.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { msgdTest, sendMessage, waitMessage, createSendChannel } from './lib.mjs';
import { sendSetup, startFakeGraph } from './fake_graph.mjs';

const TO = '15550450000';
const DEADLINE = 30_000;

/** A TCP server that accepts and then never reads nor answers. */
async function blackHole({ closeAtOnce = false } = {}) {
	const socks = new Set();
	const srv = net.createServer((s) => {
		socks.add(s);
		s.on('close', () => socks.delete(s));
		s.on('error', () => {});
		if (closeAtOnce) s.destroy();
	});
	await new Promise((r) => srv.listen(0, '127.0.0.1', r));
	return {
		url: `http://127.0.0.1:${srv.address().port}`,
		connections: () => socks.size,
		close: () => new Promise((r) => { for (const s of socks) s.destroy(); srv.close(r); }),
	};
}

describe('provider faults', () => {
	for (const [what, reply] of [
		['a 200 whose body is not JSON', { status: 200, body: '<html>oops</html>' }],
		['a 200 whose JSON is cut short', { status: 200, body: '{"messaging_product":"whatsapp","messages":[{"id":"wam' }],
		['a 502 HTML page from a proxy', { status: 502, body: '<html><body>Bad Gateway</body></html>', headers: { 'content-type': 'text/html' } }],
		['a 200 with a 4 MB body', { status: 200, body: Buffer.alloc(4 * 1024 * 1024, 0x20) }],
	]) {
		msgdTest(`${what} → retried, then accepted exactly once`, async (h) => {
			const { d, fake } = await sendSetup(h);
			fake.next(2, reply);
			const m0 = await sendMessage(d, { channel: 'wa', to: TO, text: what });
			const m = await waitMessage(d, m0.id, 'accepted', DEADLINE);
			assert.ok(fake.to(TO).length >= 3, fake.summary());
			assert.equal(fake.accepted.length, 1, 'the provider accepted it once');
			assert.equal(m.provider_message_id, fake.accepted[0].id);
			assert.ok(m.attempts >= 3 || m.last_error === null, JSON.stringify(m));
		});
	}

	msgdTest('a 200 JSON without a message id → counted as sent (no provider id), never sent again', async (h) => {
		// Meta answered 2xx with JSON: it took the message; a retry could send it twice.
		const { d, fake } = await sendSetup(h);
		fake.next(1, { status: 200, body: { messaging_product: 'whatsapp', messages: [] } });
		const m0 = await sendMessage(d, { channel: 'wa', to: TO, text: 'no id' });
		const m = await waitMessage(d, m0.id, 'accepted', DEADLINE);
		assert.equal(m.provider_message_id, null);
		const more = await sendMessage(d, { channel: 'wa', to: '15550450001', text: 'next one' });
		await waitMessage(d, more.id, 'accepted', DEADLINE);
		assert.equal(fake.to(TO).length, 1, fake.summary());
	});

	for (const [what, opts] of [['accepts and never answers (half-open)', {}], ['closes every connection at once', { closeAtOnce: true }]]) {
		msgdTest(`a provider that ${what}: attempts end in their timeout, other channels keep sending, then it goes out`, async (h) => {
			const hole = await blackHole(opts);
			h.t.after(() => hole.close());
			const good = await startFakeGraph();
			h.t.after(() => good.close());
			const d = await h.start();
			await createSendChannel(d, hole.url, { request_timeout_ms: 300, max_attempts: 100, phone_number_id: 'PNID-HOLE' }, 'bad');
			await createSendChannel(d, good.url, {}, 'good');
			const stuck = await sendMessage(d, { channel: 'bad', to: TO, text: 'into the void' });
			// While attempts on 'bad' hang and time out, 'good' sends at once.
			await waitMessage(d, stuck.id, (m) => m.attempts >= 2 && m.last_error !== null, DEADLINE);
			const ok = [];
			for (let i = 0; i < 5; i++) ok.push(await sendMessage(d, { channel: 'good', to: `1555046000${i}`, text: `meanwhile ${i}` }));
			for (const m of ok) await waitMessage(d, m.id, 'accepted', DEADLINE);
			const cur = (await d.api('GET', `/v1/messages/${stuck.id}`)).json;
			assert.equal(cur.status, 'queued', 'still waiting, never lost');
			assert.ok(cur.last_error.title, JSON.stringify(cur.last_error));
			// The provider comes back: point the channel at a working one.
			const p = await d.api('PATCH', '/v1/channels/bad', { config: { api_base_url: good.url, access_token: 'tok-secret-123' } });
			assert.equal(p.status, 200, p.text);
			await waitMessage(d, stuck.id, 'accepted', DEADLINE);
			assert.equal(good.accepted.filter((r) => r.to === TO).length, 1, 'sent once');
		});
	}
});
