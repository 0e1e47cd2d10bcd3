// bench/imports.mjs - the import rows of `make bench` (issue 14):
//
//  import_csv_1m     a 1,000,000-row CSV (phone, name, city; 1 row in 100 an
//                    invalid phone, 1 in 200 a duplicate) uploaded to
//                    /v1/files, then POST /v1/imports until it is validated
//  import_xlsx_100k  the same as a 100,000-row XLSX (shared strings, numbers)
//
// Each on SQLite, then on PostgreSQL (a private cluster, bench/pg.mjs), on a
// fresh msgd: rows/s and seconds from the POST to the import's finished_at,
// and msgd's RSS growth during the import (VmHWM, reset before the POST,
// minus VmRSS then). Targets (issue 14): CSV < 30 s, XLSX < 10 s, each
// with < 64 MiB RSS growth. The file is written here, streaming.
import fs from 'node:fs';
import path from 'node:path';

import { cluster } from './pg.mjs';
import { xlsx } from '../tests/e2e/xlsxgen.mjs';

const GROWTH_MAX_MB = 64;

function phoneOf(i) {
	if (i % 100 === 99) return 'not-a-phone';
	const n = i % 200 === 199 ? i - 1 : i;   // a duplicate of the row before
	return `55119${String(n).padStart(8, '0')}`;
}

function writeCsv(file, n) {
	const fd = fs.openSync(file, 'w');
	let chunk = 'phone,name,city\n';
	for (let i = 0; i < n; i++) {
		chunk += `${phoneOf(i)},Name ${i},City ${i % 50}\n`;
		if (chunk.length > 1 << 20) {
			fs.writeSync(fd, chunk);
			chunk = '';
		}
	}
	fs.writeSync(fd, chunk);
	fs.closeSync(fd);
}

function writeXlsx(file, n) {
	const rows = [['phone', 'name', 'city']];
	for (let i = 0; i < n; i++) {
		const p = phoneOf(i);
		rows.push([/^\d+$/.test(p) ? Number(p) : p, `Name ${i}`, `City ${i % 50}`]);
	}
	fs.writeFileSync(file, xlsx([{ name: 'List', rows }]));
}

async function uploadFile(m, file, token) {
	const st = fs.statSync(file);
	const res = await fetch(`${m.url}/v1/files?filename=${encodeURIComponent(path.basename(file))}`, {
		method: 'POST', duplex: 'half', body: fs.createReadStream(file),
		headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream',
			'content-length': String(st.size) },
	});
	const text = await res.text();
	if (res.status !== 201 && res.status !== 200) throw new Error(`upload answered ${res.status}: ${text}`);
	return JSON.parse(text).id;
}

async function runOne(h, kind, n, file, database, token) {
	const m = await h.startMsgd(`import-${kind}${database ? '-pg' : ''}`, { database });
	try {
		const fileId = await uploadFile(m, file, token);
		const rss0 = h.statusKb(m.pid, 'VmRSS');
		h.resetPeakRss(m.pid);
		const t0 = performance.now();
		const created = await h.api(m.port, 'POST', '/v1/imports', { file_id: fileId, channel: 'sandbox',
			mapping: { phone: 'phone', variables: { name: 'name', city: 'city' } } });
		let imp;
		for (;;) {
			imp = await h.api(m.port, 'GET', `/v1/imports/${created.id}`);
			if (imp.status !== 'parsing') break;
			await h.sleep(50);
		}
		const seconds = (performance.now() - t0) / 1000;
		const growthKb = h.statusKb(m.pid, 'VmHWM') - rss0;
		const c = imp.counts;
		const ok = imp.status === 'validated' && c.rows === n && c.valid + c.invalid + c.duplicates === n;
		await h.stopMsgd(m);
		return { seconds, growthKb, counts: c, status: imp.status, error: imp.error, ok };
	} catch (e) {
		await h.stopMsgd(m);
		throw e;
	}
}

async function importBench(h, kind, n, limitS) {
	const dir = fs.mkdtempSync(path.join(h.TMP_ROOT, `import-${kind}-`));
	const file = path.join(dir, `list.${kind}`);
	h.progress(`${kind}: writing ${n} rows`);
	if (kind === 'csv')
		writeCsv(file, n);
	else
		writeXlsx(file, n);
	const size = fs.statSync(file).size;
	const rows = [], details = { file_bytes: size };
	const pgc = cluster(h);
	try {
		for (const [backend, database] of [['SQLite', null], ['PostgreSQL', pgc.fresh(`import_${kind}`)]]) {
			h.progress(`${kind}: importing ${n} rows on ${backend}`);
			const r = details[backend] = await runOne(h, kind, n, file, database, h.TOKEN);
			const mb = h.round(r.growthKb / 1024, 1);
			rows.push(h.row(`import_${kind}`, `${backend}: ${n.toLocaleString('en')}-row ${kind.toUpperCase()} ` +
				`(${(size / 1048576).toFixed(0)} MB) imported + validated in ${h.round(r.seconds, 1)} s, RSS +${mb} MB`, {
				throughput: Math.round(n / r.seconds), rss_kb: r.growthKb,
				loss: r.ok ? 'ok' : `WRONG ${r.status} ${JSON.stringify(r.counts)}`,
				target: `< ${limitS} s, < ${GROWTH_MAX_MB} MB growth`,
				met: r.ok && r.seconds < limitS && r.growthKb / 1024 < GROWTH_MAX_MB }));
		}
	} finally {
		pgc.stop();
		fs.rmSync(dir, { recursive: true, force: true });
	}
	return { rows, details };
}

export const importCsv1m = (h) => importBench(h, 'csv', Number(process.env.BENCH_IMPORT_CSV_ROWS || 1_000_000), 30);
export const importXlsx100k = (h) => importBench(h, 'xlsx', Number(process.env.BENCH_IMPORT_XLSX_ROWS || 100_000), 10);
