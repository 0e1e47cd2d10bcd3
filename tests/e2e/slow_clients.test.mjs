// 1,000 slow clients at once: slowloris (headers a byte at a time), idle
// keep-alive connections, and slow bodies (a large Content-Length trickled).
// Meanwhile other clients are served (health checks, signed webhooks, API
// reads), msgd's memory stays bounded, and every slow client is cut by its
// deadline. Latency under this load is reported here and measured in
// `make bench`; the test asserts service, not speed.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { msgdTest, waitFor, createWaChannel, waMessageBody, postWebhook } from './lib.mjs';

const N = 1000;
const PNID = 'PNID_SLOW';

const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

function open(port) {
	return new Promise((resolve) => {
		const s = net.connect(port, '127.0.0.1', () => resolve(s));
		s.on('error', () => {});
		s.setNoDelay(true);
	});
}

describe('slow clients', () => {
	msgdTest(`${N} slow clients (slowloris, idle keep-alive, slow bodies): others are served, memory bounded, all cut by their deadlines`, async (h) => {
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-slow-'));
		const conf = path.join(dir, 'msgd.conf');
		fs.writeFileSync(conf, 'header_timeout = 4;\nbody_timeout = 4;\nidle_timeout = 4;\n');
		const d = await h.start({ args: ['--config', conf] });
		await createWaChannel(d.api, 'wa', PNID);
		const rss0 = rssKb(d.proc.pid);

		const socks = [];
		const closed = { n: 0 };
		for (let i = 0; i < N; i++) {
			const s = await open(d.port);
			s.on('close', () => closed.n++);
			socks.push(s);
			if (i % 3 === 0) {
				s.write('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ');       // slowloris: never ends its headers
			} else if (i % 3 === 1) {
				s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');           // keep-alive, then idle
				s.on('data', () => {});
			} else {
				s.write('POST /webhooks/whatsapp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{');
			}
		}
		const drip = setInterval(() => {
			for (let i = 0; i < socks.length; i++) if (i % 3 !== 1 && !socks[i].destroyed) socks[i].write('a');
		}, 500);
		h.t.after(() => clearInterval(drip));

		// Others are served meanwhile.
		const lat = [];
		for (let i = 0; i < 30; i++) {
			const t0 = performance.now();
			const hz = await d.anon('GET', '/healthz');
			assert.equal(hz.status, 200);
			const id = `wamid.slow.${crypto.randomBytes(6).toString('hex')}`;
			const wh = await postWebhook(d.url, waMessageBody({ pnid: PNID, id }));
			assert.equal(wh.status, 200, wh.text);
			assert.equal((await d.api('GET', '/v1/conversations?limit=5')).status, 200);
			lat.push(performance.now() - t0);
		}
		lat.sort((a, b) => a - b);
		h.t.diagnostic(`3 requests with ${N} slow clients open: p50 ${lat[15].toFixed(1)} ms, max ${lat.at(-1).toFixed(1)} ms`);
		const rss1 = rssKb(d.proc.pid);
		h.t.diagnostic(`VmRSS ${rss0} kB → ${rss1} kB with ${N} slow clients`);
		assert.ok(rss1 - rss0 < 64 * 1024, `memory grew by ${rss1 - rss0} kB for ${N} connections`);

		// Every slow client is cut by its deadline (4 s), the drip notwithstanding.
		await waitFor(() => closed.n === N, 20_000, { what: `all ${N} slow connections closed (${closed.n})` });
		clearInterval(drip);
		assert.equal((await d.anon('GET', '/healthz')).status, 200);
		fs.rmSync(dir, { recursive: true, force: true });
	}, { timeout: 120_000 });
});
