// slow.mjs - the adversary of bench.mjs's "slow" scenario: holds --n
// connections to msgd open as slow clients, a third each of
//   slowloris   headers a byte every 500 ms, never finished;
//   keep-alive  one request answered, then idle;
//   slow body   a webhook POST announcing 100 kB, sent a byte every 500 ms.
// A connection msgd cuts (its deadlines) is opened again at once, so --n are
// held all along. Prints {"ready":n} once they are open, and on SIGTERM
// {"cut":k,"open":n}: how many msgd closed meanwhile. Node builtins only.
import net from 'node:net';

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, all) =>
	(v.startsWith('--') ? [...a, [v.slice(2), all[i + 1]]] : a), []));
const PORT = Number(args.port);
const N = Number(args.n || 1000);
const DRIP_MS = 500;

let cut = 0, stopping = false;
const socks = new Set();

function open(i) {
	return new Promise((resolve) => {
		const s = net.connect(PORT, '127.0.0.1', () => {
			if (i % 3 === 0) s.write('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ');
			else if (i % 3 === 1) s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
			else s.write('POST /webhooks/whatsapp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{');
			resolve(s);
		});
		s.kind = i % 3;
		s.setNoDelay(true);
		s.on('data', () => {});
		s.on('error', () => {});
		s.on('close', () => {
			socks.delete(s);
			if (stopping) return;
			cut++;
			open(i);
		});
		socks.add(s);
	});
}

for (let i = 0; i < N; i++) await open(i);
const drip = setInterval(() => {
	for (const s of socks) if (s.kind !== 1 && !s.destroyed) s.write('a');
}, DRIP_MS);
process.stdout.write(JSON.stringify({ ready: socks.size }) + '\n');
process.on('SIGTERM', () => {
	stopping = true;
	clearInterval(drip);
	const n = socks.size;
	for (const s of socks) s.destroy();
	process.stdout.write(JSON.stringify({ cut, open: n }) + '\n', () => process.exit(0));
});
