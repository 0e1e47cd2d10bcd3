// bench/campaign.mjs - scenario "campaign_100k" of `make bench` (issue 14).
//
// POST /v1/campaigns with BENCH_CAMPAIGN_RECIPIENTS (default 100,000)
// distinct recipients, each with a variable, and a text with a
// {{placeholder}}, to a whatsapp_cloud channel; scheduled an hour ahead, so
// what is measured is the creation alone (the rows, the messages and their
// outbox entries in the bulk lane), not the sending. Measured: the time to
// the 202 (the campaign row durable), the time until every recipient is
// made (GET /v1/campaigns/{id} polled every 100 ms: created = total), msgd's
// CPU time and its RSS growth meanwhile; then the stored rows are counted.
// Once on SQLite and, with psql and tools/pg.sh present, once on a private
// PostgreSQL cluster. The helpers (h) are bench.mjs's.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const N = Number(process.env.BENCH_CAMPAIGN_RECIPIENTS || 100_000);
const TARGET_S = 10;

function configFile() {
	const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-bench-camp-')), 'msgd.conf');
	fs.writeFileSync(f, 'body_limit = 33554432;\n');  // 100,000 recipients are ~4 MB of JSON
	return f;
}

async function one(h, tag, database) {
	const m = await h.startMsgd(tag, { database, env: { MSGD_CONFIG: configFile() } });
	await h.createChannel(m, { api_base_url: 'http://127.0.0.1:9' });
	const recipients = [];
	for (let i = 0; i < N; i++)
		recipients.push({ to: String(15550000000 + i), variables: { name: `person ${i}` } });
	const at = new Date(Date.now() + 3600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
	const body = { name: 'bench', channel: 'bench', text: 'Hello {{name}}, this is the campaign.', recipients,
		scheduled_at: at };
	const rss0 = h.statusKb(m.pid, 'VmRSS');
	const cpu0 = h.cpuSeconds(m.pid);
	const t0 = performance.now();
	const r = await h.api(m.port, 'POST', '/v1/campaigns', body);  // throws unless 2xx
	const accepted = (performance.now() - t0) / 1000;
	const rss202 = h.statusKb(m.pid, 'VmRSS');  // the request parsed and the campaign row stored
	const id = r.id;
	let c, peak = rss0;
	for (;;) {
		c = await h.api(m.port, 'GET', `/v1/campaigns/${id}`);
		peak = Math.max(peak, h.statusKb(m.pid, 'VmRSS') || 0);
		if (c.created >= N) break;
		if (performance.now() - t0 > 300_000) throw new Error(`not made within 300 s: ${JSON.stringify(c)}`);
		await new Promise((res) => setTimeout(res, 100));
	}
	const seconds = (performance.now() - t0) / 1000;
	const cpu = h.cpuSeconds(m.pid) - cpu0;
	const q = (s) => h.sqlNumber(m.db, s);
	const made = q(`SELECT count(*) FROM messages WHERE campaign_id = ${id}`);
	const outbox = q(`SELECT count(*) FROM outbox o JOIN messages m ON m.id = o.message_id WHERE m.campaign_id = ${id}`);
	const rcpts = q(`SELECT count(*) FROM campaign_recipients WHERE campaign_id = ${id}`);
	await h.stopMsgd(m);
	const ok = made === N && outbox === N && rcpts === N;
	h.progress(`campaign_100k (${tag}): 202 after ${accepted.toFixed(2)} s, ${N} made after ${seconds.toFixed(2)} s;`
		+ ` RSS +${Math.round((rss202 - rss0) / 1024)} MB at the 202, +${Math.round((peak - rss0) / 1024)} MB at the peak`);
	return h.row('campaign_100k', `${tag}: ${N} recipients, 202 in ${h.round(accepted, 2)} s, made in ${h.round(seconds, 2)} s`, {
		throughput: h.round(N / seconds, 0), cpu_s: h.round(cpu), rss_kb: Math.max(0, peak - rss0),
		loss: ok ? 'ok' : `made ${made}, outbox ${outbox}, recipients ${rcpts} of ${N}`,
		target: tag === 'sqlite' ? `< ${TARGET_S} s` : '', met: tag === 'sqlite' ? ok && seconds < TARGET_S : undefined,
	});
}

export async function campaign100k(h) {
	const rows = [await one(h, 'sqlite', null)];
	let pgStop = null;
	try {
		execFileSync('sh', ['-c', 'command -v psql && command -v initdb || ls /usr/lib/postgresql/*/bin/initdb'], { stdio: 'ignore' });
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-bench-camp-pg-'));
		const dsn = execFileSync('sh', ['tools/pg.sh', 'start', dir], { encoding: 'utf8' }).trim();
		pgStop = () => { try { execFileSync('sh', ['tools/pg.sh', 'stop', dir], { stdio: 'ignore' }); } catch { /* gone */ } };
		h.sql({ dsn }, 'CREATE DATABASE bench_campaign');
		rows.push(await one(h, 'postgresql', dsn.replace(/\/[^/?]*(\?|$)/, '/bench_campaign$1')));
	} catch (e) {
		h.progress(`campaign_100k: no PostgreSQL row (${String(e.message).split('\n')[0]})`);
	} finally {
		if (pgStop) pgStop();
	}
	// RSS is the growth over the run, not the peak.
	return { rows, details: { recipients: N } };
}
