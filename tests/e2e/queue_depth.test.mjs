// A sending channel's queue_depth, read off the event loop (the reader
// pool), in every reply that shows a channel's state: GET one, the list,
// the create reply, and /readyz's detail.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { msgdTest, assertStatus, rfc3339, sendMessage, channelState } from './lib.mjs';
import { sendSetup } from './fake_graph.mjs';

const LATER_S = 120;  /* scheduled well past the test: the entries stay pending */

describe('queue depth', () => {
	msgdTest('scheduled entries count in GET, the list and /readyz; a cancel takes one off', async (h) => {
		const { d, fake, ch } = await sendSetup(h);
		assert.equal(ch.state.queue_depth, 0, 'create reply');
		const at = rfc3339(Math.ceil(Date.now() / 1000) + LATER_S);
		const ids = [];
		for (const to of ['16505550001', '16505550002', '16505550003'])
			ids.push((await sendMessage(d, { channel: 'wa', to, text: 'later', scheduled_at: at })).id);

		assert.equal((await channelState(d)).queue_depth, 3, 'GET /v1/channels/wa');
		const list = assertStatus(await d.api('GET', '/v1/channels'), 200, 'GET /v1/channels').channels;
		const wa = list.find((c) => c.name === 'wa');
		assert.equal(wa.state.queue_depth, 3, 'the list');
		const sb = list.find((c) => c.name === 'sandbox');
		if (sb) assert.equal(sb.state.queue_depth, 0, 'the sandbox, nothing queued');
		const rz = assertStatus(await d.api('GET', '/readyz'), 200, '/readyz');
		assert.equal(rz.channels.wa.queue_depth, 3, '/readyz detail');
		const anon = assertStatus(await d.anon('GET', '/readyz'), 200, '/readyz without a token');
		assert.equal(anon.channels, undefined, 'no detail without a token');

		assertStatus(await d.api('DELETE', `/v1/messages/${ids[0]}`), 200, 'cancel');
		assert.equal((await channelState(d)).queue_depth, 2, 'after the cancel');
		assert.equal(fake.requests.length, 0, 'nothing sent before its time');
	});
});
