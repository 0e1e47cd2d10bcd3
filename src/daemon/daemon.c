/* daemon.c - start-up, the event loop and graceful shutdown. */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "../api/api.h"
#include "../campaign/campaign.h"
#include "../api/api_imports.h"
#include "../auth/auth.h"
#include "../bus/bus.h"
#include "../channels/channel.h"
#include "../channels/host.h"
#include "../config/config.h"
#include "../files/files.h"
#include "../import/import.h"
#include "../media/media.h"
#include "../hooks/hooks.h"
#include "../http/http.h"
#include "../lease/lease.h"
#include "../log/log.h"
#include "../outbox/outbox.h"
#include "../store/store.h"
#include "../util/util.h"
#include "lock.h"
#include "notify.h"   /* issue 15, h15ops: sd_notify */

#define TOKEN_FILE "admin.token"
#define TOKEN_MAX 256
#define SHUTDOWN_POLL_MS 20
#define BUS_RING 4096           /* recent events kept serialized for live streams */

struct daemon {
	struct config *cfg;              /* changed on SIGHUP, on the loop thread */
	const struct config_args *args;  /* where cfg came from, to build it again */
	struct event_base *base;
	struct app app;
	struct http_server *http;
	struct event *ev_term, *ev_int, *ev_hup, *ev_drain;
	int64_t shutdown_deadline;
	int lock_fd;                 /* the data directory's lock, held for the process's life */
	struct leases *leases;       /* channel dispatch and webhook leases (src/lease/) */
};

/*
 * The admin token: MSGD_ADMIN_TOKEN when set; otherwise the one in
 * <data>/admin.token, generated on first start (its path is printed, and the
 * token itself only when stdout is a terminal: a pipe or a log file would
 * keep it). Only its SHA-256 is kept in memory.
 */
static int
admin_token(const struct config *cfg, unsigned char hash[32])
{
	const char *env = getenv("MSGD_ADMIN_TOKEN");
	char path[1100], tok[TOKEN_MAX + 1];
	int fd;

	if (env && *env) {
		if (strlen(env) < 16) {
			log_error("MSGD_ADMIN_TOKEN must be at least 16 characters");
			return -1;
		}
		sha256(env, strlen(env), hash);
		return 0;
	}
	snprintf(path, sizeof(path), "%s/%s", cfg->data_dir, TOKEN_FILE);
	if ((fd = open(path, O_RDONLY)) >= 0) {
		ssize_t n = read(fd, tok, TOKEN_MAX);
		close(fd);
		while (n > 0 && (tok[n - 1] == '\n' || tok[n - 1] == ' '))
			n--;
		if (n < 16) {
			log_error("admin token file is empty or too short", "path", path);
			return -1;
		}
		sha256(tok, (size_t)n, hash);
		return 0;
	}
	unsigned char rnd[24];
	char hex[49];
	if (random_bytes(rnd, sizeof(rnd)) != 0)
		return -1;
	hex_encode(rnd, sizeof(rnd), hex);
	snprintf(tok, sizeof(tok), "msgd_%s", hex);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0 ||
	    write(fd, tok, strlen(tok)) != (ssize_t)strlen(tok) || fsync(fd) != 0) {
		log_error("cannot write the admin token file", "path", path, "error", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	sha256(tok, strlen(tok), hash);
	/* For the operator at a terminal only; never logged. */
	if (isatty(STDOUT_FILENO))
		printf("msgd: generated admin token (stored in %s, mode 0600):\n%s\n", path, tok);
	else
		printf("msgd: generated an admin token into %s (mode 0600); read it with: cat %s\n", path,
		    path);
	fflush(stdout);
	explicit_bzero(tok, sizeof(tok));
	return 0;
}

/* On first start (no channel ever existed), create the sandbox channel. */
static int
provision_sandbox(struct daemon *d)
{
	bool ever = false;
	int64_t now = now_ms() / 1000;

	if (store_channels_ever(d->app.store, &ever) != 0)
		return -1;
	if (ever)
		return 0;
	struct store_op op = {
		.kind = STORE_OP_CHANNEL_CREATE,
		.u.channel = { .name = "sandbox", .type = "sandbox", .config_json = "{}" },
	};
	if (store_submit_wait(d->app.store, &op) != 0) {
		log_error("cannot create the sandbox channel", "error", op.errmsg);
		return -1;
	}
	json_t *cfg = json_object();
	struct channel *ch = channel_new(op.u.channel.id, "sandbox", &sandbox_ops, cfg, now, now);
	json_decref(cfg);
	log_info("created the sandbox channel", "channel", "sandbox");
	return registry_add(d->app.reg, ch);
}

/* The store committed events: the live streams and the webhook
 * dispatcher hear of them. */
static void
on_commit(void *arg, int64_t last_seq)
{
	struct app *app = arg;

	bus_committed(app->bus, last_seq);
	hooks_committed(app->hooks, last_seq);
}

/* Every token valid now (the admin token, the API keys): token sessions
 * made with another end. creds[] is the caller's to free. */
static struct auth_config
token_creds(const struct app *app, unsigned char (**creds)[32])
{
	*creds = xcalloc(app->nkeys + 1, 32);
	memcpy((*creds)[0], app->admin_hash, 32);
	if (app->nkeys)
		memcpy((*creds)[1], app->key_hashes, app->nkeys * 32);
	return (struct auth_config){ .token_hashes = *creds, .ntoken_hashes = app->nkeys + 1 };
}

/*
 * Another msgd on the same database committed changes (the store's change
 * hook; docs/ARCHITECTURE.md, "Several instances"): bring what this one
 * keeps in memory in line, as a local change would, and let the live
 * streams and the webhook dispatcher hear of its events. Templates are
 * read from the store when used; users' memberships are read again
 * (api_follow), and a user change may end sessions.
 */
/* An adapter's own records committed (channel_submit()): the connection
 * states they carried, onto the registry. */
static void
host_committed(void *arg, struct channel *ch, const struct ingest_batch *b)
{
	(void)ch;
	api_channel_states_apply(arg, b);
	api_optout_committed(arg, b);
	media_batch_committed(arg, b);
}

static void
host_submitting(void *arg, struct ingest_batch *b)
{
	api_optout_tag(arg, b);
}

static void
on_other_instance(void *arg, unsigned kinds, int64_t last_seq)
{
	struct app *app = arg;

	api_follow(app, kinds);  /* channels, keys, orgs, memberships: read on the pool */
	if (kinds & (STORE_CHANGE_SESSIONS | STORE_CHANGE_USERS | STORE_CHANGE_KEYS)) {
		unsigned char (*creds)[32];
		struct auth_config ac = token_creds(app, &creds);
		auth_sessions_reload(app->auth, &ac);
		free(creds);
	}
	if (kinds & STORE_CHANGE_SUBSCRIPTIONS)
		hooks_reload(app->hooks);
	if (kinds & STORE_CHANGE_CHANNEL_STATES)
		api_channel_states_reload(app);
	if (kinds & STORE_CHANGE_ERASURES)
		bus_forget(app->bus);  /* events kept in memory may hold erased content */
	if (last_seq > 0) {
		on_commit(app, last_seq);
		/* Another instance may have queued a send for a channel this one
		 * dispatches: look now, not at the next idle poll. */
		if (app->outbox)
			outbox_kick(app->outbox);
	}
}

static void
raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void
on_drain(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	bool idle = http_inflight(d->http) == 0 && outbox_busy(d->app.outbox) == 0 &&
	    hooks_busy(d->app.hooks) == 0 && store_pending(d->app.store) == 0;

	if (idle || mono_ms() >= d->shutdown_deadline) {
		if (!idle)
			log_warn("shutdown timeout: closing with requests in flight");
		event_base_loopbreak(d->base);
	}
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	if (d->app.shutting_down) {
		log_warn("second signal: stopping now");
		event_base_loopbreak(d->base);
		return;
	}
	log_info("shutting down", "signal", sig == SIGTERM ? "TERM" : "INT");
	notify_stopping();
	d->app.shutting_down = true;
	http_quiesce(d->http);
	outbox_drain(d->app.outbox);
	hooks_drain(d->app.hooks);
	/* An import being read stops between rows (read again at the next
	 * start): its chunks would keep the store busy until it ends. */
	importer_stop(d->app.importer);
	campaigns_drain(&d->app);
	api_streams_end(&d->app);
	d->shutdown_deadline = mono_ms() + (int64_t)d->cfg->shutdown_timeout * 1000;
	struct timeval tv = { .tv_sec = 0, .tv_usec = SHUTDOWN_POLL_MS * 1000 };
	d->ev_drain = event_new(d->base, -1, EV_PERSIST, on_drain, d);
	event_add(d->ev_drain, &tv);
}

/* Lock the data directory; 0, or -1 when another process holds it. */
static int
lock_data_dir(struct daemon *d)
{
	struct datadir_holder holder;
	char err[256];
	int r = datadir_lock(d->cfg->data_dir, &d->lock_fd, &holder, err, sizeof(err));

	if (r == 1) {
		fprintf(stderr, "msgd: data directory %s is in use by msgd (pid %ld)\n", d->cfg->data_dir,
		    holder.pid);
		log_error("data directory in use by another process", "data", d->cfg->data_dir);
	} else if (r < 0) {
		log_error("cannot lock the data directory", "error", err);
	}
	return r == 0 ? 0 : -1;
}

/* Note where we listen in the lock file, for `msgd users`. */
static void
note_listen(struct daemon *d)
{
	char host[128], addr[DATADIR_LISTEN_MAX];
	int port;

	if (config_parse_listen(d->cfg->listen, host, sizeof(host), &port) != 0)
		return;
	snprintf(addr, sizeof(addr), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, http_port(d->http));
	if (datadir_lock_note(d->lock_fd, addr) != 0)
		log_warn("cannot note the listen address in the lock file", "error", strerror(errno));
}

/* One setting differs between the running configuration and the new one. */
static void
on_change(void *arg, const char *name, const char *from, const char *to, bool reloadable)
{
	int *restart = arg;

	if (reloadable) {
		log_info("setting changed", "name", name, "from", from, "to", to);
	} else {
		log_warn("setting changed in the configuration; it takes effect at the next restart",
		    "name", name, "running", from, "configured", to);
		(*restart)++;
	}
}

/*
 * SIGHUP: reopen the log file (logrotate moved the old one away), then
 * build the configuration again from the same file, environment and flags
 * and apply the settings a running msgd can change: the log level and
 * file, the HTTP limits and timeouts, the shutdown timeout and batch_max.
 * Each change is logged; listen, data and max_connections are reported
 * and wait for a restart. An invalid file changes nothing. No connection,
 * request, stream or queued message is touched.
 */
static void
reload(struct daemon *d)
{
	struct config next;
	char err[CONFIG_ERR_MAX];
	int restart = 0;

	if (log_reopen() != 0)
		log_error("cannot reopen the log file; still writing to the old one", "path", log_file_path(),
		    "error", strerror(errno));
	if (config_build(&next, d->args, err) != 0) {
		log_error("reload: the configuration is invalid; nothing changed", "error", err);
		return;
	}
	if (strcmp(next.log_file, d->cfg->log_file) != 0 && next.log_file[0] != '\0' &&
	    log_open(next.log_file) != 0) {
		log_error("reload: cannot open the new log file; keeping the old one", "path", next.log_file,
		    "error", strerror(errno));
		snprintf(next.log_file, sizeof(next.log_file), "%s", d->cfg->log_file);
	}
	if (next.instance_id[0] == '\0')  /* DATA/instance.id's, as at the start */
		snprintf(next.instance_id, sizeof(next.instance_id), "%s", d->cfg->instance_id);
	config_diff(d->cfg, &next, on_change, &restart);

	struct config *c = d->cfg;
	if (next.log_file[0] != '\0' || c->log_file[0] == '\0')
		snprintf(c->log_file, sizeof(c->log_file), "%s", next.log_file);
	else
		log_warn("reload: logs stay in the file until a restart (stderr cannot be reopened)",
		    "path", c->log_file);
	c->log_level = next.log_level;
	log_set_level(c->log_level);
	c->body_limit = next.body_limit;
	c->idle_timeout = next.idle_timeout;
	c->header_timeout = next.header_timeout;
	c->body_timeout = next.body_timeout;
	c->shutdown_timeout = next.shutdown_timeout;
	c->batch_max = next.batch_max;
	c->cookie_secure = next.cookie_secure;
	c->credential_checks = next.credential_checks;
	c->files_max_bytes = next.files_max_bytes;
	c->files_retention_hours = next.files_retention_hours;
	c->metrics_public = next.metrics_public;  /* h15metrics */
	d->app.cookie_secure = config_cookie_secure(c);
	http_reconfigure(d->http, &(struct http_config){
		.body_limit = c->body_limit,
		.idle_timeout = c->idle_timeout,
		.header_timeout = c->header_timeout,
		.body_timeout = c->body_timeout,
	});
	log_info("reloaded", "config", c->config_path[0] ? c->config_path : NULL,
	    "restart_needed", restart ? "yes" : "no");
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	reload(arg);
}

int
daemon_run(const struct config *initial, const struct config_args *args)
{
	struct config running = *initial;
	const struct config *cfg = &running;
	struct daemon d = { .cfg = &running, .args = args, .lock_fd = -1 };
	int rc = 1;

	if (cfg->log_file[0] != '\0' && log_open(cfg->log_file) != 0) {
		fprintf(stderr, "msgd: cannot open the log file %s: %s\n", cfg->log_file, strerror(errno));
		return 1;
	}
	log_set_level(cfg->log_level);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);  /* until the loop handles it: never die of a HUP */
	raise_fd_limit();
	evthread_use_pthreads();
	if (mkdir_p(cfg->data_dir, 0700) != 0) {
		log_error("cannot create the data directory", "path", cfg->data_dir, "error", strerror(errno));
		return 1;
	}
	if (lock_data_dir(&d) != 0)
		return 1;
	if (running.instance_id[0] == '\0') {
		char err[256];
		if (datadir_instance_id(cfg->data_dir, running.instance_id, sizeof(running.instance_id), err,
		    sizeof(err)) != 0) {
			log_error("cannot read or make the instance id", "error", err);
			datadir_unlock(d.lock_fd);
			return 1;
		}
	}
	d.base = event_base_new();
	d.app = (struct app){ .cfg = cfg, .base = d.base, .reg = registry_new(),
	    .cookie_secure = config_cookie_secure(cfg) };
	struct store_config scfg = { .data_dir = cfg->data_dir, .database = cfg->database,
	    .max_batch_ops = 512, .readers = cfg->store_readers };
	if (store_open(&d.app.store, &scfg, d.base) != 0) {
		log_error("cannot open the store", "data", cfg->data_dir);
		goto out;
	}
	d.app.host = channel_host_new(d.base, d.app.store, d.app.reg);
	if (d.app.host == NULL)
		goto out;
	registry_set_host(d.app.reg, d.app.host);
	channel_host_on_commit(d.app.host, host_committed, &d.app);
	channel_host_on_submit(d.app.host, host_submitting, &d.app);
	if (api_load(&d.app) != 0 || provision_sandbox(&d) != 0 || admin_token(cfg, d.app.admin_hash) != 0)
		goto out;
	auth_token_cred(d.app.admin_hash, d.app.admin_cred);
	api_keys_start(&d.app);
	/* Token sessions live only while the token that made them is valid. */
	unsigned char (*creds)[32];
	struct auth_config ac = token_creds(&d.app, &creds);
	int arc = auth_open(&d.app.auth, d.base, d.app.store, &ac);
	free(creds);
	if (arc != 0)
		goto out;
	/* SQLite: this process alone uses the database (the data directory
	 * lock); PostgreSQL: other instances may share it. */
	bool exclusive = cfg->database[0] == '\0' || strcmp(cfg->database, "sqlite:") == 0;
	/* Sends cut off by a crash: back to the queue, marked uncertain. With
	 * other instances, only ours and those whose lease ran out. */
	struct store_op recover = { .kind = STORE_OP_OUTBOX_RECOVER,
	    .u.lease = { .owner = cfg->instance_id, .now_ms = now_ms(), .all = exclusive } };
	if (store_submit_wait(d.app.store, &recover) != 0 ||
	    leases_start(&d.leases, d.base, d.app.store, cfg->instance_id, cfg->dispatch_lease_ms,
	    exclusive) != 0 ||
	    outbox_start(&d.app.outbox, d.base, d.app.store, d.app.reg) != 0 ||
	    bus_open(&d.app.bus, d.app.store, BUS_RING) != 0 ||
	    hooks_start(&d.app.hooks, d.base, d.app.store) != 0 ||
	    files_start(&d.app) != 0 ||
	    media_start(&d.app) != 0)
		goto out;
	outbox_set_leases(d.app.outbox, d.leases, cfg->outbox_lease_ms);
	char fdir[FILES_PATH_MAX];
	if (files_dir(cfg, fdir, sizeof(fdir)) == 0)
		outbox_set_files_dir(d.app.outbox, fdir);  /* sends by file_id (issue 14) */
	outbox_set_org_quota(d.app.outbox, api_org_quota, &d.app);
	char me[LEASE_NAME_MAX];
	snprintf(me, sizeof(me), "instance:%.64s", cfg->instance_id);
	leases_want(d.leases, me);  /* counted by the others (api_limits.c) */
	hooks_set_leases(d.app.hooks, d.leases);
	store_set_commit_hook(d.app.store, on_commit, &d.app);
	if (store_set_change_hook(d.app.store, on_other_instance, &d.app) != 0)
		goto out;
	if (campaigns_start(&d.app) != 0)
		goto out;
	/* imports (issue 14, h14import): the worker, and imports a stop cut short. */
	if (importer_start(&d.app.importer, d.app.store, cfg->instance_id) != 0)
		goto out;
	api_imports_resume(&d.app);

	struct http_config hc = {
		.listen = cfg->listen,
		.body_limit = cfg->body_limit,
		.idle_timeout = cfg->idle_timeout,
		.header_timeout = cfg->header_timeout,
		.body_timeout = cfg->body_timeout,
		.max_connections = cfg->max_connections,
		.handler = api_handle,
		.head = api_head,
		.arg = &d.app,
	};
	if (http_start(&d.http, d.base, &hc) != 0)
		goto out;
	note_listen(&d);
	for (size_t i = 0; i < registry_count(d.app.reg); i++) {
		struct channel *ch = registry_at(d.app.reg, i);
		if (ch->ops->on_start)
			ch->ops->on_start(ch);
	}
	d.ev_term = evsignal_new(d.base, SIGTERM, on_signal, &d);
	d.ev_int = evsignal_new(d.base, SIGINT, on_signal, &d);
	d.ev_hup = evsignal_new(d.base, SIGHUP, on_hup, &d);
	event_add(d.ev_term, NULL);
	event_add(d.ev_int, NULL);
	event_add(d.ev_hup, NULL);

	char port[8], schema[8], nch[8];
	snprintf(port, sizeof(port), "%d", http_port(d.http));
	snprintf(schema, sizeof(schema), "%d", store_schema_version(d.app.store));
	snprintf(nch, sizeof(nch), "%zu", registry_count(d.app.reg));
	log_info("msgd listening", "listen", cfg->listen, "port", port, "data", cfg->data_dir,
	    "schema", schema, "channels", nch, "instance", cfg->instance_id);
	notify_ready(d.base, http_port(d.http));   /* issue 15, h15ops: Type=notify */

	event_base_dispatch(d.base);
	rc = 0;
	log_info("stopped");
out:
	/* Close the store first: its last done() callbacks may still answer
	 * requests (MHD runs once more to write them out) and touch the outbox
	 * and the webhook dispatcher, which go last. Sends still in flight are
	 * dropped with them; their entries stay in flight on disk and come back
	 * as uncertain at the next start, and webhook deliveries in flight are
	 * made again (their cursors did not move). */
	if (d.app.store) {
		store_set_commit_hook(d.app.store, NULL, NULL);
		store_set_change_hook(d.app.store, NULL, NULL);
		api_follow_stop(&d.app);
		api_keys_stop(&d.app);  /* the keys' last uses, written before the store closes */
		campaigns_drain(&d.app);
		/* Another instance takes our channels and webhooks over at once. */
		leases_release(d.leases);
		channel_host_stop(d.app.host);
		importer_stop(d.app.importer);  /* its import stays parsing: read again at the next start */
		media_stop(&d.app);
		store_close(d.app.store);
	}
	importer_free(d.app.importer);
	leases_stop(d.leases);
	campaigns_stop(&d.app);
	d.app.store = NULL;  /* requests arriving now get 503 */
	auth_close(d.app.auth);
	d.app.auth = NULL;
	if (d.http) {
		http_flush(d.http, 1000);
		http_stop(d.http);
	}
	outbox_stop(d.app.outbox);
	hooks_stop(d.app.hooks);
	files_stop(&d.app);
	media_free(&d.app);
	bus_close(d.app.bus);
	if (d.ev_term)
		event_free(d.ev_term);
	if (d.ev_int)
		event_free(d.ev_int);
	if (d.ev_hup)
		event_free(d.ev_hup);
	if (d.ev_drain)
		event_free(d.ev_drain);
	registry_free(d.app.reg);
	channel_host_free(d.app.host);
	api_unload(&d.app);
	notify_stop();
	event_base_free(d.base);
	datadir_unlock(d.lock_fd);
	return rc;
}
