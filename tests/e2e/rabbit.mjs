// rabbit.mjs - a private RabbitMQ for a test file: Debian's rabbitmq-server
// (no system service, no plugins) with its own data, log and config in a
// temp directory, a unique node name, free loopback ports for AMQP, the
// Erlang distribution and a private epmd. Never the system's 5672/4369.
//
//   const rabbit = await startRabbit();   // rabbit.url: amqp://msgd:...@127.0.0.1:PORT
//   after(() => rabbit.stop());            // kills the node and its epmd, wipes the dir
//   await rabbit.restart();                // graceful stop, start on the same ports and data
//   await rabbit.restart({ kill: true });  // SIGKILL instead of a graceful stop
//   rabbit.pause(); rabbit.resume();        // SIGSTOP / SIGCONT: a broker that hangs
//
// Env: RABBITMQ_SERVER (default /usr/lib/rabbitmq/bin/rabbitmq-server),
// EPMD (default epmd on PATH).

import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import amqp from 'amqplib';

import { freePort, waitFor, sleepTick } from './lib.mjs';

const SERVER = process.env.RABBITMQ_SERVER || '/usr/lib/rabbitmq/bin/rabbitmq-server';
const EPMD = process.env.EPMD || 'epmd';
const BOOT_DEADLINE_MS = 90_000;   // a loaded 2-core machine boots a node in ~5-20 s
const STOP_DEADLINE_MS = 30_000;

const live = new Set();
process.on('exit', () => {
	for (const r of live) r.killSync();
});

function tailFile(file, n = 3000) {
	try {
		const s = fs.readFileSync(file, 'utf8');
		return s.length > n ? '…' + s.slice(-n) : s;
	} catch {
		return '';
	}
}

function exited(proc) {
	return proc.exitCode !== null || proc.signalCode !== null;
}

function waitExit(proc, ms) {
	if (exited(proc)) return Promise.resolve(true);
	return new Promise((resolve) => {
		const t = setTimeout(() => resolve(false), ms);
		proc.once('exit', () => {
			clearTimeout(t);
			resolve(true);
		});
	});
}

/** Whether the broker at url takes an AMQP connection now. */
export async function amqpUp(url) {
	let conn;
	try {
		conn = await amqp.connect(url, { timeout: 2000 });
		return true;
	} catch {
		return false;
	} finally {
		if (conn) await conn.close().catch(() => {});
	}
}

export async function startRabbit(opts = {}) {
	if (!fs.existsSync(SERVER)) throw new Error(`no ${SERVER}: apt-get install rabbitmq-server`);
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-rabbit-'));
	const user = opts.user || 'msgd';
	const password = opts.password || crypto.randomBytes(12).toString('hex');
	const ports = new Set();
	while (ports.size < 3) ports.add(await freePort());  // three different ones
	const [port, distPort, epmdPort] = [...ports];
	const node = `msgdtest-${process.pid}-${crypto.randomBytes(3).toString('hex')}@localhost`;
	for (const d of ['home', 'mnesia', 'log']) fs.mkdirSync(path.join(dir, d), { mode: 0o700 });
	fs.writeFileSync(path.join(dir, 'enabled_plugins'), '[].\n');
	fs.writeFileSync(path.join(dir, 'rabbitmq-env.conf'), '');
	fs.writeFileSync(path.join(dir, 'rabbitmq.conf'), [
		`listeners.tcp.1 = 127.0.0.1:${port}`,
		'loopback_users = none',
		`default_user = ${user}`,
		`default_pass = ${password}`,
		'log.console = false',
		'log.file.level = warning',
		'disk_free_limit.absolute = 1MB',
		'',
	].join('\n'));
	// The Erlang cookie goes to $HOME/.erlang.cookie: private to this node.
	const env = {
		PATH: process.env.PATH || '/usr/sbin:/usr/bin:/sbin:/bin',
		HOME: path.join(dir, 'home'),
		LANG: 'C.UTF-8',
		RABBITMQ_CONF_ENV_FILE: path.join(dir, 'rabbitmq-env.conf'),
		RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq.conf'),
		RABBITMQ_ADVANCED_CONFIG_FILE: path.join(dir, 'advanced.config'),  // none: not /etc's
		RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
		RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
		RABBITMQ_LOG_BASE: path.join(dir, 'log'),
		RABBITMQ_PID_FILE: path.join(dir, 'rabbit.pid'),
		RABBITMQ_NODENAME: node,
		RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
		RABBITMQ_NODE_PORT: String(port),
		RABBITMQ_DIST_PORT: String(distPort),
		RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
		ERL_EPMD_PORT: String(epmdPort),
		ERL_EPMD_ADDRESS: '127.0.0.1',
	};
	const url = `amqp://${user}:${password}@127.0.0.1:${port}`;
	const r = {
		dir, url, port, user, password, node,
		proc: null, epmd: null,
		/** The url with other credentials (a wrong password, say). */
		urlWith(u, p) { return `amqp://${u}:${p}@127.0.0.1:${port}`; },
		async start() {
			// Our own epmd, in the foreground: the node uses it (same
			// ERL_EPMD_PORT) instead of daemonizing one we could not stop.
			this.epmd = spawn(EPMD, ['-port', String(epmdPort), '-address', '127.0.0.1'],
				{ env, stdio: 'ignore' });
			await waitFor(() => spawnSync(EPMD, ['-port', String(epmdPort), '-names'], { env }).status === 0,
				10_000, { what: 'epmd', intervalMs: 50 });
			const out = fs.openSync(path.join(dir, 'server.out'), 'a');
			this.proc = spawn(SERVER, [], { env, stdio: ['ignore', out, out], detached: true });
			fs.closeSync(out);
			live.add(this);
			try {
				const up = await waitFor(async () => (exited(this.proc) ? 'exited' : amqpUp(url)),
					BOOT_DEADLINE_MS, { what: 'rabbitmq accepts AMQP', intervalMs: 250 });
				if (up === 'exited') throw new Error('rabbitmq-server exited');
			} catch (e) {
				const logs = tailFile(path.join(dir, 'server.out')) + '\n' +
					tailFile(path.join(dir, 'log', `${node}.log`));
				this.killSync();
				throw new Error(`${e.message}\n${logs}`);
			}
		},
		/** Stop the node (graceful, or SIGKILL with kill: true) and its epmd; keep the data. */
		async halt({ kill = false } = {}) {
			const p = this.proc;
			if (p && !exited(p)) {
				try { process.kill(-p.pid, kill ? 'SIGKILL' : 'SIGTERM'); } catch { /* gone */ }
				if (!(await waitExit(p, STOP_DEADLINE_MS))) {
					try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ }
					await waitExit(p, STOP_DEADLINE_MS);
				}
			}
			// The beam may outlive the script that started it by a moment.
			if (p) try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ }
			if (this.epmd && !exited(this.epmd)) {
				this.epmd.kill('SIGKILL');
				await waitExit(this.epmd, STOP_DEADLINE_MS);
			}
			this.proc = null;
			this.epmd = null;
			live.delete(this);
			// Wait until the AMQP port is free again: a restart takes it.
			await waitFor(async () => !(await amqpUp(url)), 10_000, { what: 'rabbitmq down' });
		},
		/** Freeze the node (SIGSTOP): connections stay open, nothing answers. */
		pause() { process.kill(-this.proc.pid, 'SIGSTOP'); },
		resume() { process.kill(-this.proc.pid, 'SIGCONT'); },
		async restart(o = {}) {
			await this.halt(o);
			await sleepTick(50);
			await this.start();
		},
		async stop() {
			await this.halt({ kill: true });
			fs.rmSync(dir, { recursive: true, force: true });
		},
		killSync() {
			if (this.proc) try { process.kill(-this.proc.pid, 'SIGKILL'); } catch { /* gone */ }
			if (this.epmd) try { this.epmd.kill('SIGKILL'); } catch { /* gone */ }
			live.delete(this);
		},
	};
	try {
		await r.start();
	} catch (e) {
		fs.rmSync(dir, { recursive: true, force: true });
		throw e;
	}
	return r;
}

/**
 * A consumer of queue on the broker at url that survives broker restarts
 * (it connects again until stop()). Acks every message, one by one, after
 * recording it in c.got: {raw, body, seq, messageId, type, contentType,
 * deliveryMode, headers, routingKey, exchange, redelivered, wall};
 * onMessage(rec) runs after each. c.connected: consuming now; c.count:
 * messages received (keep: false only counts them, for benchmarks).
 */
export function consumer(url, queue, { prefetch = 500, onMessage, keep = true } = {}) {
	const c = { got: [], count: 0, conn: null, stopped: false, connected: false, errors: 0 };
	const loop = async () => {
		while (!c.stopped) {
			try {
				const conn = await amqp.connect(url, { timeout: 2000 });
				c.conn = conn;
				const closed = new Promise((ok) => { conn.on('close', ok); conn.on('error', () => {}); });
				const ch = await conn.createChannel();
				ch.on('error', () => {});
				await ch.checkQueue(queue);  // declared by msgd: wait for it
				await ch.prefetch(prefetch);
				await ch.consume(queue, (m) => {
					if (!m) return;
					c.count++;
					if (!keep) { ch.ack(m); return; }
					const raw = m.content.toString('utf8');
					let body = null;
					try { body = JSON.parse(raw); } catch { /* the test checks it */ }
					const rec = {
						raw, body, seq: body?.seq, wall: Date.now(),
						messageId: m.properties.messageId,
						type: m.properties.type,
						contentType: m.properties.contentType,
						deliveryMode: m.properties.deliveryMode,
						headers: m.properties.headers,
						routingKey: m.fields.routingKey,
						exchange: m.fields.exchange,
						redelivered: m.fields.redelivered,
					};
					c.got.push(rec);
					ch.ack(m);
					if (onMessage) onMessage(rec);
				});
				c.connected = true;
				await closed;
				c.connected = false;
			} catch {
				c.errors++;
			}
			if (!c.stopped) await sleepTick(200);
		}
	};
	c.done = loop();
	c.stop = async () => {
		c.stopped = true;
		if (c.conn) await c.conn.close().catch(() => {});
		await c.done;
	};
	return c;
}
