// msgd migrate --from sqlite:DIR --to postgres://...: an SQLite installation
// with messages, statuses, events, sends, a template, a user and a webhook
// subscription is copied into an empty PostgreSQL database; msgd on the copy
// answers every read as the original did, continues the event log after the
// last seq, and a second migrate into the now non-empty database is refused.
// Runs where MSGD_TEST_DATABASE names a cluster (make test-pg).
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
	msgdTest, runMsgd, assertStatus, createWaChannel, waMessageBody, postWebhook, sendMessage,
	waitMessage, allEvents, databaseFor,
} from './lib.mjs';

const CLUSTER = process.env.MSGD_TEST_DATABASE;
const PNID = 'PNID_MIG';

/** The reads a user sees, without what differs between two runs. */
async function view(d) {
	const convs = assertStatus(await d.api('GET', '/v1/conversations?limit=50'), 200, 'conversations');
	const threads = [];
	for (const c of convs.conversations)
		threads.push(assertStatus(await d.api('GET', `/v1/conversations/${c.id}/messages?limit=50`), 200, 'messages'));
	const templates = assertStatus(await d.api('GET', '/v1/templates'), 200, 'templates');
	const hooks = assertStatus(await d.api('GET', '/v1/webhooks'), 200, 'webhooks');
	const events = await allEvents(d);
	return { convs, threads, templates, hooks, events };
}

describe('msgd migrate', { skip: CLUSTER ? false : 'needs a PostgreSQL cluster (make test-pg)' }, () => {
	msgdTest('SQLite → empty PostgreSQL: the same data, seqs continue; a non-empty target is refused', async (h) => {
		const src = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-mig-src-'));
		h.t.after(() => fs.rmSync(src, { recursive: true, force: true }));
		// The source runs on SQLite whatever the suite's backend.
		const d = await h.start({ dataDir: src, env: { MSGD_DATABASE: 'sqlite:' } });
		await createWaChannel(d.api, 'wa', PNID);
		for (let i = 0; i < 5; i++)
			assertStatus(await postWebhook(d.url, waMessageBody({ pnid: PNID, id: `wamid.mig.${i}`,
				from: `1555200${i % 3}`, text: `hello\ttab\nline ${i} \\ é` })), 200, 'webhook');
		const m = await sendMessage(d, { channel: 'sandbox', to: '15550001111', text: 'out', client_id: 'mig-1' });
		await waitMessage(d, m.id, 'read', 20_000);
		assertStatus(await d.api('POST', '/v1/templates', { name: 'hi', language: 'en', body: 'Hi {{name}}' }), 201, 'template');
		assertStatus(await d.api('POST', '/v1/webhooks', { url: 'http://127.0.0.1:9/never', events: ['*'],
			secret: 'mig-secret-0123456789' }), 201, 'webhook subscription');
		const before = await view(d);
		await d.stop();

		const dsn = databaseFor(path.join(src, `copy-${crypto.randomBytes(4).toString('hex')}`));
		const r = runMsgd(['migrate', '--from', `sqlite:${src}`, '--to', dsn], { env: { MSGD_DATABASE: '' } });
		assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
		assert.match(r.stdout, /messages\s+\d+ rows/);
		assert.match(r.stdout, /events\s+\d+ rows/);

		const dst = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-mig-dst-'));
		h.t.after(() => fs.rmSync(dst, { recursive: true, force: true }));
		const e = await h.start({ dataDir: dst, token: d.token, env: { MSGD_DATABASE: dsn } });
		const after = await view(e);
		assert.deepEqual(after, before);
		// The log goes on after its last seq (audit events, read apart, hold seqs too).
		const audit = assertStatus(await e.api('GET', '/v1/audit?since=0'), 200).events;
		assert.ok(audit.some((x) => x.type === 'audit.template.created'), 'the audit trail is copied too');
		const last = Math.max(before.events.at(-1).seq, ...audit.map((x) => x.seq));
		assertStatus(await postWebhook(e.url, waMessageBody({ pnid: PNID, id: 'wamid.mig.after', text: 'after' })), 200, 'webhook');
		const more = await allEvents(e, last);
		assert.equal(more[0].seq, last + 1);
		await e.stop();

		const again = runMsgd(['migrate', '--from', `sqlite:${src}`, '--to', dsn], { env: { MSGD_DATABASE: '' } });
		assert.equal(again.status, 1, again.stdout);
		assert.match(again.stderr, /not empty/);
	}, { timeout: 120_000 });
});
