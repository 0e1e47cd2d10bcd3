// SIGHUP: reopen the log file (logrotate) and reload the settings a running
// msgd can change, logging each change; never drop a connection, a live
// stream or a queued message. A bad file on reload changes nothing.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { msgdTest, waitFor, followStream, sendMessage, getMessage, rfc3339 } from './lib.mjs';

function tmpFiles() {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-hup-'));
	return { dir, conf: path.join(dir, 'msgd.conf'), log: path.join(dir, 'msgd.log') };
}

const read = (f) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '');

describe('SIGHUP', () => {
	msgdTest('reopens the log file and reloads settings; the SSE client and queued messages carry on', async (h) => {
		const f = tmpFiles();
		fs.writeFileSync(f.conf, 'log_level = "info";\nbatch_max = 100;\n');
		const d = await h.start({ args: ['--config', f.conf, '--log', f.log] });
		await waitFor(() => /msg="msgd listening"/.test(read(f.log)), 5000, { what: 'the start line in --log FILE' });
		assert.doesNotMatch(d.logs(), /msgd listening/, 'logs go to the file, not stderr');

		const s = followStream(d);
		await waitFor(() => s.status === 200, 5000, { what: 'stream open' });
		const later = await sendMessage(d, {
			channel: 'sandbox', to: '15550001111', text: 'after the reload', scheduled_at: rfc3339(Math.floor(Date.now() / 1000) + 3600),
		});
		assert.equal(later.status, 'scheduled');

		// logrotate: move the file away, change the config, HUP.
		fs.renameSync(f.log, `${f.log}.1`);
		fs.writeFileSync(f.conf, 'log_level = "debug";\nbatch_max = 2;\nmax_connections = 500;\n');
		d.proc.kill('SIGHUP');
		await waitFor(() => /msg=reloaded/.test(read(f.log)), 5000, { what: 'the reload line in the new log file' });
		const log = read(f.log);
		assert.match(log, /msg="setting changed" name=log_level from=info to=debug/);
		assert.match(log, /msg="setting changed" name=batch_max from=100 to=2/);
		assert.match(log, /name=max_connections running=16384 configured=500/, 'a setting that needs a restart is reported');
		assert.match(log, /restart_needed=yes/);
		assert.match(read(`${f.log}.1`), /msgd listening/, 'the rotated file keeps the earlier lines');
		assert.ok(d.alive, 'msgd survives SIGHUP');

		// The stream opened before the HUP still delivers.
		const r = await d.api('POST', '/v1/sandbox/sandbox/inbound', { from: '15550002222', text: 'after hup' });
		assert.ok(r.status === 200 || r.status === 201, r.text);
		await waitFor(() => s.events.some((e) => e.type === 'message.received' && e.data.text === 'after hup'), 5000,
			{ what: 'the event on the stream opened before SIGHUP' });
		assert.equal(s.error, null);
		assert.equal(s.ended, false);
		await s.stop();

		// The new batch_max applies; the scheduled message is still queued.
		const big = await d.api('POST', '/v1/messages/batch', {
			messages: [1, 2, 3].map((i) => ({ channel: 'sandbox', to: `1555000300${i}`, text: `b${i}` })),
		});
		assert.equal(big.status, 422, big.text);
		assert.match(big.json.error.message, /1 to 2 messages/);
		assert.equal((await getMessage(d, later.id)).status, 'scheduled');
		// debug lines now appear
		await d.api('GET', '/v1/conversations');
		fs.rmSync(f.dir, { recursive: true, force: true });
	});

	msgdTest('an invalid file on reload changes nothing; repeated HUPs are harmless', async (h) => {
		const f = tmpFiles();
		fs.writeFileSync(f.conf, 'batch_max = 3;\n');
		const d = await h.start({ args: ['--config', f.conf, '--log', f.log] });
		fs.writeFileSync(f.conf, 'batch_max = "many";\n');
		d.proc.kill('SIGHUP');
		await waitFor(() => /the configuration is invalid/.test(read(f.log)), 5000, { what: 'the reload error' });
		assert.match(read(f.log), /msgd.conf:1: 'batch_max' must be an integer/);
		const ok = await d.api('POST', '/v1/messages/batch', {
			messages: [1, 2, 3].map((i) => ({ channel: 'sandbox', to: `1555000400${i}`, text: `b${i}` })),
		});
		assert.equal(ok.status, 207, 'batch_max is still 3');
		fs.writeFileSync(f.conf, 'batch_max = 3;\n');
		for (let i = 0; i < 5; i++) d.proc.kill('SIGHUP');
		await waitFor(() => (read(f.log).match(/msg=reloaded/g) ?? []).length >= 1, 5000, { what: 'a reload' });
		const res = await d.api('GET', '/healthz');
		assert.equal(res.status, 200);
		assert.ok(d.alive);
		fs.rmSync(f.dir, { recursive: true, force: true });
	});

	msgdTest('without --log, SIGHUP does not stop msgd (logs stay on stderr)', async (h) => {
		const d = await h.start();
		d.proc.kill('SIGHUP');
		await waitFor(() => /msg=reloaded/.test(d.logs()), 5000, { what: 'the reload line on stderr' });
		assert.ok(d.alive);
	});
});
