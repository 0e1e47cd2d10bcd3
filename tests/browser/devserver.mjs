// devserver.mjs - serve web/ from disk and pass everything else to a msgd.
// For working on the UI without rebuilding msgd (and for the browser test
// with MSGD_UI_FROM_DISK=1 while msgd does not serve the UI yet):
//   node tests/browser/devserver.mjs http://127.0.0.1:8080 [port]
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const WEB_DIR = path.resolve(HERE, '..', '..', 'web');
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

export function startDevServer(upstream, port = 0) {
	const up = new URL(upstream);
	const srv = http.createServer((req, res) => {
		const u = new URL(req.url, 'http://x');
		const name = u.pathname === '/' ? 'index.html' : u.pathname.startsWith('/assets/') ? u.pathname.slice(8) : null;
		if (req.method === 'GET' && name !== null) {
			const f = path.join(WEB_DIR, path.basename(name));
			if (!fs.existsSync(f)) { res.writeHead(404); res.end(); return; }
			res.writeHead(200, {
				'content-type': TYPES[path.extname(f)] || 'application/octet-stream',
				'cache-control': 'no-cache',
				'content-security-policy': "default-src 'self'; img-src 'self' data:; media-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
			});
			res.end(fs.readFileSync(f));
			return;
		}
		const p = http.request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: { ...req.headers, host: up.host } }, (r) => {
			res.writeHead(r.statusCode, r.headers);
			r.pipe(res);
		});
		p.on('error', () => { if (!res.headersSent) res.writeHead(502); res.end(); });
		req.pipe(p);
	});
	return new Promise((resolve) => srv.listen(port, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${srv.address().port}`, close: () => { srv.closeAllConnections(); srv.close(); } })));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
	const s = await startDevServer(process.argv[2] || 'http://127.0.0.1:8080', Number(process.argv[3] || 8081));
	console.log(`web/ from disk at ${s.url}, API from ${process.argv[2] || 'http://127.0.0.1:8080'}`);
}
