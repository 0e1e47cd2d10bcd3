// Live-stream benchmark (run by bench/live.sh against a release msgd):
// 1. latency from a webhook's 200 to an SSE client receiving its event,
//    at RATE webhooks/s for SECONDS;
// 2. N idle SSE connections held open (msgd's RSS is read by live.sh).
import net from 'node:net';
import http from 'node:http';

const [url, token, mode, arg1, arg2] = process.argv.slice(2);
const u = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });

function post(path, body) {
	return new Promise((resolve, reject) => {
		const req = http.request({ host: u.hostname, port: u.port, path, method: 'POST', agent,
			headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
			res.resume();
			res.on('end', () => resolve(res.statusCode));
		});
		req.on('error', reject);
		req.end(body);
	});
}

function webhook(id) {
	return JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: '1', changes: [{ field: 'messages', value: {
		messaging_product: 'whatsapp', metadata: { display_phone_number: '15550783881', phone_number_id: 'bench-number' },
		contacts: [{ profile: { name: 'Bench' }, wa_id: '16505551234' }],
		messages: [{ from: '16505551234', id, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: 'latency probe' } }] } }] }] });
}

if (mode === 'latency') {
	const rate = Number(arg1), seconds = Number(arg2);
	const acked = new Map(), lat = [];
	// The SSE client.
	const sse = net.connect(Number(u.port), u.hostname);
	await new Promise((r) => sse.once('connect', r));
	sse.write(`GET /v1/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`);
	let buf = '';
	sse.on('data', (d) => {
		const now = performance.now();
		buf += d.toString();
		let i;
		while ((i = buf.indexOf('\n\n')) >= 0) {
			const block = buf.slice(0, i); buf = buf.slice(i + 2);
			const m = /"provider_message_id":"(lat\.[0-9]+)"/.exec(block);
			if (m && block.includes('message.received')) {
				const t = acked.get(m[1]);
				if (t !== undefined) lat.push(now - t); else acked.set(m[1], -now); // event before ack: 0
			}
		}
	});
	await new Promise((r) => setTimeout(r, 300));
	const total = rate * seconds, t0 = performance.now();
	let sent = 0, inflight = [];
	for (let n = 0; n < total; n++) {
		const due = t0 + (n * 1000) / rate;
		const wait = due - performance.now();
		if (wait > 0) await new Promise((r) => setTimeout(r, wait));
		const id = `lat.${n}`;
		inflight.push(post('/webhooks/whatsapp', webhook(id)).then((st) => {
			const now = performance.now();
			if (st !== 200) throw new Error(`webhook answered ${st}`);
			const prev = acked.get(id);
			if (prev !== undefined && prev < 0) lat.push(0); else acked.set(id, now);
			sent++;
		}));
		if (inflight.length > 256) { await Promise.all(inflight); inflight = []; }
	}
	await Promise.all(inflight);
	const dl = performance.now() + 5000;
	while (lat.length < total && performance.now() < dl) await new Promise((r) => setTimeout(r, 20));
	const elapsed = (performance.now() - t0) / 1000;
	lat.sort((a, b) => a - b);
	const p = (q) => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))].toFixed(2);
	console.log(`live: ${sent} webhooks at ${(sent / elapsed).toFixed(0)}/s; ${lat.length} events received on SSE`);
	console.log(`  webhook 200 -> SSE client: p50 ${p(0.5)} ms, p99 ${p(0.99)} ms, max ${lat.at(-1).toFixed(2)} ms`);
	sse.destroy();
	process.exit(lat.length === total ? 0 : 1);
} else if (mode === 'idle') {
	const n = Number(arg1);
	const socks = [];
	let open = 0;
	for (let i = 0; i < n; i++) {
		const s = net.connect(Number(u.port), u.hostname);
		s.on('error', () => {});
		s.once('connect', () => s.write(`GET /v1/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`));
		s.once('data', () => { open++; });
		socks.push(s);
		if (i % 500 === 499) await new Promise((r) => setTimeout(r, 50));
	}
	const dl = Date.now() + 30000;
	while (open < n && Date.now() < dl) await new Promise((r) => setTimeout(r, 100));
	console.log(`idle: ${open} of ${n} SSE connections open`);
	process.stdout.write('READY\n');
	await new Promise((r) => setTimeout(r, Number(arg2 || 3000)));
	for (const s of socks) s.destroy();
	process.exit(open === n ? 0 : 1);
}
