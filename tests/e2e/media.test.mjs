// Media both ways (issue 14): inbound media fetched in the background after
// the webhook was answered (WhatsApp media id → download URL, Telegram
// getFile → file, Evolution inline base64), stored as files and linked from
// the message, retried with backoff, failed after media_attempts; outbound
// media by file_id (WhatsApp uploads once per content, Telegram and
// Evolution send the file as multipart).
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {
	msgdTest, assertStatus, postWebhook, waMessageBody, messagesByProviderId, waitFor, allEvents,
	SEND_PNID, sendMessage, waitMessage, request, startPeer,
} from './lib.mjs';
import { sendSetup } from './fake_graph.mjs';
import { startFakeTelegram } from './fake_telegram.mjs';
import { startFakeEvolution } from './fake_evolution.mjs';

// A tiny PNG (1x1, transparent): libmagic says image/png.
const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000' +
	'1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082', 'hex');
const PG = !!process.env.MSGD_TEST_DATABASE;
const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');
// Fast retries so a test sees several attempts.
const FAST = { env: { MSGD_MEDIA_FETCH: 'on', MSGD_MEDIA_RETRY_MS: '50' } };

/** The content of a stored file, read from the data dir (files/ab/cdef...). */
function storedContent(d, hex) {
	return fs.readFileSync(path.join(d.dataDir, 'files', hex.slice(0, 2), hex.slice(2)));
}

/** GET /v1/files/{id}: {status, type, bytes}. */
async function download(d, id) {
	const r = await fetch(`${d.url}/v1/files/${id}`, { headers: { authorization: `Bearer ${d.token}` } });
	return { status: r.status, type: r.headers.get('content-type'), bytes: Buffer.from(await r.arrayBuffer()) };
}

/** POST /v1/files with bytes as a raw body → the file. */
async function upload(d, bytes, name) {
	const r = await d.api('POST', `/v1/files?filename=${encodeURIComponent(name)}`, bytes,
		{ 'content-type': 'application/octet-stream' });
	assert.ok(r.status === 201 || r.status === 200, `upload: ${r.status} ${r.text}`);
	return r.json;
}

/** Wait until the message with provider id pid has media.status in want. */
async function waitMedia(d, pid, want, deadlineMs = 15_000) {
	return waitFor(async () => {
		const [m] = await messagesByProviderId(d, pid);
		return m && want.includes(m.media?.status) ? m : null;
	}, deadlineMs, { what: `media of ${pid} ${want}` });
}

function waImage(id, mediaId, type = 'image') {
	return waMessageBody({
		pnid: SEND_PNID,
		message: { from: '16505551234', id, timestamp: String(Math.floor(Date.now() / 1000)), type,
			[type]: { id: mediaId, mime_type: 'image/png', sha256: 'x' } },
	});
}

describe('inbound media: WhatsApp Cloud', () => {
	msgdTest('answered 200 first, pending; the fetch fails twice then the file is stored and linked', async (h) => {
		const { d, fake } = await sendSetup(h, { start: FAST });
		fake.addMedia('MEDIA1', PNG, 'image/png');
		// The media lookup fails twice (5xx), then works; the download is held
		// until the webhook's answer has arrived.
		fake.next(2, fake.serverError(500), { kinds: ['media'] });
		const r = await postWebhook(d.url, waImage('wamid.img1', 'MEDIA1'));
		assertStatus(r, 200, 'webhook');
		const [m0] = await messagesByProviderId(d, 'wamid.img1');
		assert.ok(m0, 'message stored');
		assert.ok(['pending', 'stored'].includes(m0.media.status), JSON.stringify(m0.media));
		const m = await waitMedia(d, 'wamid.img1', ['stored']);
		assert.equal(m.media.status, 'stored');
		assert.match(m.media.file_id, /^f_[a-z2-7]{26}$/);
		assert.equal(m.media.url, `/v1/files/${m.media.file_id}`);
		assert.equal(m.media.mime_type, 'image/png');
		assert.equal(m.media.size, PNG.length);
		assert.equal(m.media.sha256, sha256(PNG));
		assert.deepEqual(storedContent(d, m.media.sha256), PNG);
		const got = await download(d, m.media.file_id);
		assert.equal(got.status, 200);
		assert.equal(got.type, 'image/png');
		assert.deepEqual(got.bytes, PNG);
		// The message's reference keeps the file from the retention sweep.
		const meta = await d.api('GET', '/v1/files?limit=10');
		assert.equal(meta.json.files.find((f) => f.id === m.media.file_id)?.refs, 1);
		// Three lookups (two failed), one download, each with the token.
		const media = fake.requests.filter((q) => q.kind === 'media');
		const dl = fake.requests.filter((q) => q.kind === 'download');
		assert.equal(media.length, 3);
		assert.equal(dl.length, 1);
		for (const q of [...media, ...dl]) assert.equal(q.token, 'tok-secret-123');
		// One message.media event with the stored media.
		const ev = (await allEvents(d)).filter((e) => e.type === 'message.media');
		assert.equal(ev.length, 1);
		assert.equal(ev[0].data.message.media.status, 'stored');
		assert.equal(ev[0].message_id, m.id);
	});

	msgdTest('a document keeps the name the provider gave it', async (h) => {
		const { d, fake } = await sendSetup(h, { start: FAST });
		const pdf = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');
		fake.addMedia('DOC1', pdf, 'application/pdf');
		const body = waMessageBody({ pnid: SEND_PNID, message: { from: '16505551234', id: 'wamid.doc1',
			timestamp: String(Math.floor(Date.now() / 1000)), type: 'document',
			document: { id: 'DOC1', mime_type: 'application/pdf', filename: 'Q3 report.pdf' } } });
		assertStatus(await postWebhook(d.url, body), 200, 'webhook');
		const m = await waitMedia(d, 'wamid.doc1', ['stored']);
		assert.equal(m.media.mime_type, 'application/pdf');
		assert.equal(m.media.filename, 'Q3 report.pdf');
		const meta = await d.api('GET', `/v1/files/${m.media.file_id}/meta`);
		assert.equal(meta.json.filename, 'Q3 report.pdf');
		const r = await fetch(`${d.url}/v1/files/${m.media.file_id}`, { headers: { authorization: `Bearer ${d.token}` } });
		assert.match(r.headers.get('content-disposition') ?? '', /Q3 report\.pdf/);
		assert.deepEqual(Buffer.from(await r.arrayBuffer()), pdf);
	});

	msgdTest('a media that keeps failing ends failed with the last error', async (h) => {
		const { d, fake } = await sendSetup(h, { start: { env: { MSGD_MEDIA_FETCH: 'on', MSGD_MEDIA_RETRY_MS: '20', MSGD_MEDIA_ATTEMPTS: '3' } } });
		fake.addMedia('MEDIA2', PNG, 'image/png');
		fake.rule(() => true, fake.serverError(503), { kinds: ['media'] });
		assertStatus(await postWebhook(d.url, waImage('wamid.img2', 'MEDIA2')), 200, 'webhook');
		const m = await waitMedia(d, 'wamid.img2', ['failed']);
		assert.equal(m.media.file_id, undefined);
		assert.match(m.media.error, /unexpected error/i);
		assert.equal(fake.requests.filter((q) => q.kind === 'media').length, 3);
		const ev = (await allEvents(d)).filter((e) => e.type === 'message.media');
		assert.equal(ev.length, 1);
		assert.equal(ev[0].data.message.media.status, 'failed');
	});

	msgdTest('a media the provider does not know fails at once (no retries)', async (h) => {
		const { d, fake } = await sendSetup(h, { start: FAST });
		fake.addMedia('MEDIA3', PNG, 'image/png');
		fake.next(1, { status: 404, body: { error: { message: 'Unsupported get request', code: 100 } } }, { kinds: ['media'] });
		assertStatus(await postWebhook(d.url, waImage('wamid.img3', 'MEDIA3')), 200, 'webhook');
		const m = await waitMedia(d, 'wamid.img3', ['failed']);
		assert.match(m.media.error, /no such media/);
		assert.equal(fake.requests.filter((q) => q.kind === 'media').length, 1);
	});

	msgdTest('a download URL on another origin is never fetched (no token sent): the media fails at once', async (h) => {
		// A second local server stands for "anywhere else": it must receive nothing.
		const hits = [];
		const other = http.createServer((req, res) => { hits.push({ url: req.url, auth: req.headers.authorization }); res.end('secret'); });
		await new Promise((resolve) => other.listen(0, '127.0.0.1', resolve));
		h.t.after(() => new Promise((resolve) => { other.closeAllConnections?.(); other.close(resolve); }));
		const { d, fake } = await sendSetup(h, { start: FAST });
		fake.addMedia('MEDIA9', PNG, 'image/png');
		const elsewhere = `http://127.0.0.1:${other.address().port}/download/MEDIA9`;
		fake.rule(() => true, { status: 200, body: { url: elsewhere, mime_type: 'image/png', id: 'MEDIA9', messaging_product: 'whatsapp' } },
			{ kinds: ['media'] });
		assertStatus(await postWebhook(d.url, waImage('wamid.img9', 'MEDIA9')), 200, 'webhook');
		const m = await waitMedia(d, 'wamid.img9', ['failed']);
		assert.match(m.media.error, /api_base_url's origin/);
		assert.equal(m.media.file_id, undefined);
		assert.equal(hits.length, 0, JSON.stringify(hits));
		assert.equal(fake.requests.filter((q) => q.kind === 'media').length, 1, 'a permanent failure: no retries');
		assert.equal(fake.requests.filter((q) => q.kind === 'download').length, 0);
	});

	msgdTest('erasing the contact releases the stored media (refs 0) and removes it from the message', async (h) => {
		const { d, fake } = await sendSetup(h, { start: FAST });
		fake.addMedia('MEDIA5', PNG, 'image/png');
		assertStatus(await postWebhook(d.url, waImage('wamid.img5', 'MEDIA5')), 200, 'webhook');
		const m = await waitMedia(d, 'wamid.img5', ['stored']);
		const refs = async () => (await d.api('GET', '/v1/files?limit=10')).json.files.find((f) => f.id === m.media.file_id)?.refs;
		assert.equal(await refs(), 1);
		const conv = await d.api('GET', `/v1/conversations/${m.conversation_id}`);
		assertStatus(await d.api('DELETE', `/v1/contacts/${conv.json.contact.id}`), 200, 'erase');
		assert.equal(await refs(), 0);
		const after = await d.api('GET', `/v1/messages/${m.id}`);
		assert.equal(after.json.erased, true);
		assert.equal(after.json.media, undefined);
	});

	msgdTest('a pending job survives a restart and is fetched by the next run', async (h) => {
		const { d, fake } = await sendSetup(h, { start: FAST });
		fake.addMedia('MEDIA4', PNG, 'image/png');
		// Every lookup hangs: the job stays pending while msgd stops.
		const hang = fake.rule(() => true, { delayMs: 60_000 }, { kinds: ['media'] });
		assertStatus(await postWebhook(d.url, waImage('wamid.img4', 'MEDIA4')), 200, 'webhook');
		await fake.until((f) => f.requests.some((q) => q.kind === 'media'), 5000, 'a media lookup');
		await d.stop();
		hang.remove();
		const d2 = await h.start({ ...FAST, dataDir: d.dataDir });
		const m = await waitMedia(d2, 'wamid.img4', ['stored']);
		assert.deepEqual(storedContent(d2, m.media.sha256), PNG);
	});
});

describe('inbound media: Telegram and Evolution', () => {
	msgdTest('Telegram photo: getFile (fails once), then the file download, stored', async (h) => {
		const tg = await startFakeTelegram();
		h.t.after(() => tg.close());
		const d = await h.start(FAST);
		const r = await d.api('POST', '/v1/channels', { name: 'tg', type: 'telegram', config: {
			bot_token: tg.token, webhook_secret: 'tg-secret', api_base_url: tg.url, public_url: d.url,
			rate_per_second: 0, recipient_gap_ms: 0, group_gap_ms: 0 } });
		const ch = assertStatus(r, 201, 'create telegram channel');
		tg.addFile('BIG-file-id', PNG, 'photos/file_7.png');
		tg.next(1, tg.error(502), { methods: ['getFile'] });
		const update = { update_id: 9001, message: { message_id: 77, date: Math.floor(Date.now() / 1000),
			chat: { id: 4242, type: 'private' }, from: { id: 4242, is_bot: false, first_name: 'Ana' },
			photo: [{ file_id: 'small-file-id', file_unique_id: 's', width: 90, height: 90 },
				{ file_id: 'BIG-file-id', file_unique_id: 'b', width: 800, height: 800, file_size: PNG.length }] } };
		const w = await request(d.url, 'POST', ch.webhook_path, JSON.stringify(update),
			{ 'Content-Type': 'application/json', 'X-Telegram-Bot-Api-Secret-Token': 'tg-secret' });
		assertStatus(w, 200, 'webhook');
		const m = await waitMedia(d, '4242:77', ['stored']);
		assert.equal(m.media.mime_type, 'image/png');
		assert.deepEqual(storedContent(d, m.media.sha256), PNG);
		const gets = tg.calls('getFile');
		assert.equal(gets.length, 2);
		assert.ok(gets.every((g) => g.params.file_id === 'BIG-file-id'), 'the largest size is fetched');
		assert.equal(tg.calls('file').length, 1);
	});

	msgdTest('Evolution: the webhook\'s inline base64 is stored (never kept in the message); without it getBase64FromMediaMessage', async (h) => {
		const fake = await startFakeEvolution({ instance: 'tigo1', apikey: 'evo-k', number: '15550100002' });
		h.t.after(() => fake.close());
		const d = await h.start(FAST);
		const r = await d.api('POST', '/v1/channels', { name: 'wweb', type: 'evolution', config: {
			api_base_url: fake.url, api_key: 'evo-k', instance: 'tigo1', rate_per_second: 0, recipient_gap_ms: 0 } });
		const ch = assertStatus(r, 201, 'create the evolution channel');
		const image = (extra = {}) => ({ imageMessage: { url: 'https://mmg.whatsapp.net/x.enc', mimetype: 'image/png', caption: 'look', ...extra } });
		const w1 = await fake.upsert('tigo1', { id: 'EVOIMG1', message: { ...image(), base64: PNG.toString('base64') } },
			{ url: `${d.url}${ch.webhook_path}` });
		assert.equal(w1.status, 200, w1.text);
		const m1 = await waitMedia(d, 'EVOIMG1', ['stored']);
		assert.equal(m1.media.mime_type, 'image/png');
		assert.deepEqual(storedContent(d, m1.media.sha256), PNG);
		assert.ok(!JSON.stringify(m1).includes(PNG.toString('base64')), 'no base64 in the message');
		assert.equal(fake.requests.filter((q) => q.endpoint === 'getBase64FromMediaMessage').length, 0);

		const other = Buffer.concat([PNG, Buffer.from('tail')]);
		fake.addMedia('EVOIMG2', other, 'image/png');
		const w2 = await fake.upsert('tigo1', { id: 'EVOIMG2', message: image() }, { url: `${d.url}${ch.webhook_path}` });
		assert.equal(w2.status, 200, w2.text);
		const m2 = await waitMedia(d, 'EVOIMG2', ['stored']);
		assert.equal(m2.media.sha256, sha256(other));
		assert.deepEqual(storedContent(d, m2.media.sha256), other);
		const calls = fake.requests.filter((q) => q.endpoint === 'getBase64FromMediaMessage');
		assert.equal(calls.length, 1);
		assert.equal(calls[0].apikey, 'evo-k');
		assert.equal(calls[0].body.message.key.id, 'EVOIMG2');
	});
	msgdTest('Evolution: big media (1 MiB, parsed and decoded off the loop) are stored whole, inline and by getBase64FromMediaMessage', async (h) => {
		const fake = await startFakeEvolution({ instance: 'tigo1', apikey: 'evo-k', number: '15550100002' });
		h.t.after(() => fake.close());
		const d = await h.start(FAST);
		const r = await d.api('POST', '/v1/channels', { name: 'wweb', type: 'evolution', config: {
			api_base_url: fake.url, api_key: 'evo-k', instance: 'tigo1', rate_per_second: 0, recipient_gap_ms: 0 } });
		const ch = assertStatus(r, 201, 'create the evolution channel');
		const image = { imageMessage: { url: 'https://mmg.whatsapp.net/x.enc', mimetype: 'image/png' } };
		const big = Buffer.concat([PNG, crypto.randomBytes(1 << 20)]);
		fake.addMedia('EVOBIG1', big, 'image/png');
		const w1 = await fake.upsert('tigo1', { id: 'EVOBIG1', message: image }, { url: `${d.url}${ch.webhook_path}` });
		assert.equal(w1.status, 200, w1.text);
		const m1 = await waitMedia(d, 'EVOBIG1', ['stored', 'failed']);
		assert.equal(m1.media.status, 'stored', JSON.stringify(m1.media));
		assert.equal(m1.media.size, big.length);
		assert.equal(m1.media.sha256, sha256(big));
		assert.deepEqual(storedContent(d, m1.media.sha256), big);
		// Inline base64 (another content): decoded and written on a reader too.
		const big2 = Buffer.concat([PNG, crypto.randomBytes(256 << 10)]);
		const w2 = await fake.upsert('tigo1', { id: 'EVOBIG2', message: { ...image, base64: big2.toString('base64') } },
			{ url: `${d.url}${ch.webhook_path}` });
		assert.equal(w2.status, 200, w2.text);
		const m2 = await waitMedia(d, 'EVOBIG2', ['stored', 'failed']);
		assert.equal(m2.media.status, 'stored', JSON.stringify(m2.media));
		assert.equal(m2.media.sha256, sha256(big2));
	});
});

describe('outbound media by file_id', () => {
	msgdTest('WhatsApp: two sends of one stored image upload it once, then send it by id', async (h) => {
		const { d, fake } = await sendSetup(h);
		const f = await upload(d, PNG, 'pic.png');
		assert.equal(f.mime_type, 'image/png');
		const a = await sendMessage(d, { channel: 'wa', to: '15551230001', type: 'image', media: { file_id: f.id, caption: 'one' } });
		assert.equal(a.media.file_id, f.id);
		assert.equal(a.media.url, `/v1/files/${f.id}`);
		assert.equal(a.media.path, undefined);
		await waitMessage(d, a.id, 'accepted');
		const b = await sendMessage(d, { channel: 'wa', to: '15551230002', type: 'image', media: { file_id: f.id } });
		await waitMessage(d, b.id, 'accepted');
		const ups = fake.uploads();
		assert.equal(ups.length, 1, 'one upload for two sends');
		assert.ok(ups[0].rawBuf.includes(PNG), 'the upload carries the file');
		assert.match(ups[0].raw, /name="messaging_product"\r\n\r\nwhatsapp/);
		assert.match(ups[0].raw, /name="type"\r\n\r\nimage\/png/);
		assert.equal(ups[0].path, `/v21.0/${SEND_PNID}/media`);
		assert.equal(ups[0].token, 'tok-secret-123');
		const sends = fake.sends();
		assert.equal(sends.length, 2);
		for (const q of sends) assert.equal(q.body.image.id, ups[0].id);
		assert.equal(sends[0].body.image.caption, 'one');
		assert.equal(sends[0].body.image.link, undefined);
		// Each message references the file.
		const meta = await d.api('GET', '/v1/files?limit=10');
		assert.equal(meta.json.files.find((x) => x.id === f.id)?.refs, 2);
		// The upload's media id is kept: after a restart a third send uploads nothing.
		await d.stop();
		const d2 = await h.start({ dataDir: d.dataDir });
		const c = await sendMessage(d2, { channel: 'wa', to: '15551230003', type: 'image', media: { file_id: f.id } });
		await waitMessage(d2, c.id, 'accepted');
		assert.equal(fake.uploads().length, 1);
		assert.equal(fake.sends().at(-1).body.image.id, ups[0].id);
	});

	msgdTest('a failed upload is retried as the send is; refusals before queueing: unknown file, wrong type, too large', async (h) => {
		const { d, fake } = await sendSetup(h);
		const f = await upload(d, PNG, 'pic.png');
		fake.next(1, fake.serverError(500), { kinds: ['upload'] });
		const a = await sendMessage(d, { channel: 'wa', to: '15551230001', type: 'image', media: { file_id: f.id } });
		await waitMessage(d, a.id, 'accepted', 20_000);
		assert.equal(fake.uploads().length, 2);
		assert.equal(fake.sends().length, 1);
		const bad = async (media, type, code) => {
			const r = await d.api('POST', '/v1/messages', { channel: 'wa', to: '15551230009', type, media });
			assert.equal(r.status, 422, r.text);
			assert.equal(r.json.error.code, code, r.text);
		};
		await bad({ file_id: 'f_aaaaaaaaaaaaaaaaaaaaaaaaaa' }, 'image', 'file_not_found');
		await bad({ file_id: f.id }, 'video', 'media_type_mismatch');
		const big = await upload(d, Buffer.concat([PNG, Buffer.alloc(600 * 1024, 7)]), 'big.png');
		assert.equal(big.mime_type, 'image/png');
		await bad({ file_id: big.id }, 'sticker', 'media_too_large');
		await bad({ file_id: f.id, url: 'https://example.com/x.png' }, 'image', 'validation_failed');
		// Another organization's file is not found.
		const org = await d.api('POST', '/v1/orgs', { name: 'other' });
		assertStatus(org, 201, 'create org');
		const f2 = await d.api('POST', '/v1/files?filename=o.png', PNG, { 'content-type': 'application/octet-stream', 'msgd-org': 'other' });
		assert.ok(f2.status === 201, f2.text);
		await bad({ file_id: f2.json.id }, 'image', 'file_not_found');
	});

	msgdTest('Telegram sends a stored file as a multipart sendPhoto; Evolution as a multipart sendMedia', async (h) => {
		const tg = await startFakeTelegram();
		h.t.after(() => tg.close());
		const evo = await startFakeEvolution({ instance: 'tigo1', apikey: 'evo-k', number: '15550100002' });
		h.t.after(() => evo.close());
		const d = await h.start();
		assertStatus(await d.api('POST', '/v1/channels', { name: 'tg', type: 'telegram', config: {
			bot_token: tg.token, webhook_secret: 'tg-secret', api_base_url: tg.url, public_url: d.url,
			rate_per_second: 0, recipient_gap_ms: 0, group_gap_ms: 0 } }), 201, 'telegram channel');
		assertStatus(await d.api('POST', '/v1/channels', { name: 'wweb', type: 'evolution', config: {
			api_base_url: evo.url, api_key: 'evo-k', instance: 'tigo1', rate_per_second: 0, recipient_gap_ms: 0 } }), 201, 'evolution channel');
		const f = await upload(d, PNG, 'pic.png');
		const t = await sendMessage(d, { channel: 'tg', to: '4242', type: 'image', media: { file_id: f.id, caption: 'hi' } });
		await waitMessage(d, t.id, 'accepted');
		const [sp] = tg.calls('sendPhoto');
		assert.ok(sp, 'a sendPhoto');
		assert.deepEqual(sp.files.photo.bytes, PNG);
		assert.equal(sp.files.photo.filename, 'pic.png');
		assert.equal(sp.params.chat_id, '4242');
		assert.equal(sp.params.caption, 'hi');
		// The next send of the file names the file_id Telegram gave it: no upload.
		const t2 = await sendMessage(d, { channel: 'tg', to: '4243', type: 'image', media: { file_id: f.id } });
		await waitMessage(d, t2.id, 'accepted');
		const sp2 = tg.calls('sendPhoto')[1];
		assert.equal(sp2.files, undefined, 'no multipart the second time');
		assert.match(sp2.params.photo, /^AgACupload\d+$/);
		assert.equal(sp2.params.photo, JSON.parse(sp.responseBody).result.photo.at(-1).file_id);
		const e = await sendMessage(d, { channel: 'wweb', to: '15550100001', type: 'image', media: { file_id: f.id, caption: 'hey' } });
		await waitMessage(d, e.id, 'accepted');
		const [sm] = evo.requests.filter((q) => q.endpoint === 'sendMedia');
		assert.ok(sm, 'a sendMedia');
		assert.deepEqual(sm.files.file.bytes, PNG);
		assert.equal(sm.body.number, '15550100001');
		assert.equal(sm.body.mediatype, 'image');
		assert.equal(sm.body.caption, 'hey');
		assert.equal(sm.body.media, undefined);
	});
});

describe('inbound media with several instances', { skip: PG ? false : 'runs on PostgreSQL only (MSGD_TEST_DATABASE=postgres://...)' }, () => {
	msgdTest('a job is fetched by one instance: the other sees it leased', async (h) => {
		const { d, fake } = await sendSetup(h, { start: FAST });
		const b = await startPeer(h, d, FAST);
		fake.addMedia('MEDIA6', PNG, 'image/png');
		// The lookup takes longer than the other instance's look for due jobs (5 s).
		fake.next(1, { delayMs: 7000 }, { kinds: ['media'] });
		assertStatus(await postWebhook(d.url, waImage('wamid.img6', 'MEDIA6')), 200, 'webhook');
		const m = await waitMedia(b, 'wamid.img6', ['stored'], 25_000);
		// In the data directory of whichever instance fetched it.
		let got;
		try { got = storedContent(d, m.media.sha256); } catch { got = storedContent(b, m.media.sha256); }
		assert.deepEqual(got, PNG);
		assert.equal(fake.requests.filter((q) => q.kind === 'media').length, 1);
		assert.equal(fake.requests.filter((q) => q.kind === 'download').length, 1);
	});
});
