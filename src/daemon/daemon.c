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
#include "../auth/auth.h"
#include "../bus/bus.h"
#include "../channels/channel.h"
#include "../config/config.h"
#include "../hooks/hooks.h"
#include "../http/http.h"
#include "../log/log.h"
#include "../outbox/outbox.h"
#include "../store/store.h"
#include "../util/util.h"

#define TOKEN_FILE "admin.token"
#define TOKEN_MAX 256
#define SHUTDOWN_POLL_MS 20
#define BUS_RING 4096           /* recent events kept serialized for live streams */

struct daemon {
	const struct config *cfg;
	struct event_base *base;
	struct app app;
	struct http_server *http;
	struct event *ev_term, *ev_int, *ev_drain;
	int64_t shutdown_deadline;
};

/*
 * The admin token: MSGD_ADMIN_TOKEN when set; otherwise the one in
 * <data>/admin.token, generated (and printed once) on first start. Only its
 * SHA-256 is kept in memory.
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
	/* Printed once, on stdout, for the operator; never logged. */
	printf("msgd: generated admin token (stored in %s, mode 0600):\n%s\n", path, tok);
	fflush(stdout);
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
	d->app.shutting_down = true;
	http_quiesce(d->http);
	outbox_drain(d->app.outbox);
	hooks_drain(d->app.hooks);
	api_streams_end(&d->app);
	d->shutdown_deadline = mono_ms() + (int64_t)d->cfg->shutdown_timeout * 1000;
	struct timeval tv = { .tv_sec = 0, .tv_usec = SHUTDOWN_POLL_MS * 1000 };
	d->ev_drain = event_new(d->base, -1, EV_PERSIST, on_drain, d);
	event_add(d->ev_drain, &tv);
}

int
daemon_run(const struct config *cfg)
{
	struct daemon d = { .cfg = cfg };
	int rc = 1;

	log_set_level(cfg->log_level);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	evthread_use_pthreads();
	if (mkdir_p(cfg->data_dir, 0700) != 0) {
		log_error("cannot create the data directory", "path", cfg->data_dir, "error", strerror(errno));
		return 1;
	}
	d.base = event_base_new();
	d.app = (struct app){ .cfg = cfg, .base = d.base, .reg = registry_new() };
	struct store_config scfg = { .data_dir = cfg->data_dir, .max_batch_ops = 512 };
	if (store_open(&d.app.store, &scfg, d.base) != 0) {
		log_error("cannot open the store", "data", cfg->data_dir);
		goto out;
	}
	if (api_load(&d.app) != 0 || provision_sandbox(&d) != 0 || admin_token(cfg, d.app.admin_hash) != 0 ||
	    auth_open(&d.app.auth, d.base, d.app.store, NULL) != 0)
		goto out;
	/* Sends cut off by a crash: back to the queue, marked uncertain. */
	struct store_op recover = { .kind = STORE_OP_OUTBOX_RECOVER };
	if (store_submit_wait(d.app.store, &recover) != 0 ||
	    outbox_start(&d.app.outbox, d.base, d.app.store, d.app.reg) != 0 ||
	    bus_open(&d.app.bus, d.app.store, BUS_RING) != 0 ||
	    hooks_start(&d.app.hooks, d.base, d.app.store) != 0)
		goto out;
	store_set_commit_hook(d.app.store, on_commit, &d.app);

	struct http_config hc = {
		.listen = cfg->listen,
		.body_limit = cfg->body_limit,
		.idle_timeout = cfg->idle_timeout,
		.header_timeout = cfg->header_timeout,
		.body_timeout = cfg->body_timeout,
		.max_connections = cfg->max_connections,
		.handler = api_handle,
		.arg = &d.app,
	};
	if (http_start(&d.http, d.base, &hc) != 0)
		goto out;
	for (size_t i = 0; i < registry_count(d.app.reg); i++) {
		struct channel *ch = registry_at(d.app.reg, i);
		if (ch->ops->on_start)
			ch->ops->on_start(ch);
	}
	d.ev_term = evsignal_new(d.base, SIGTERM, on_signal, &d);
	d.ev_int = evsignal_new(d.base, SIGINT, on_signal, &d);
	event_add(d.ev_term, NULL);
	event_add(d.ev_int, NULL);

	char port[8], schema[8], nch[8];
	snprintf(port, sizeof(port), "%d", http_port(d.http));
	snprintf(schema, sizeof(schema), "%d", store_schema_version(d.app.store));
	snprintf(nch, sizeof(nch), "%zu", registry_count(d.app.reg));
	log_info("msgd listening", "listen", cfg->listen, "port", port, "data", cfg->data_dir,
	    "schema", schema, "channels", nch);

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
		store_close(d.app.store);
	}
	d.app.store = NULL;  /* requests arriving now get 503 */
	auth_close(d.app.auth);
	d.app.auth = NULL;
	if (d.http) {
		http_flush(d.http, 1000);
		http_stop(d.http);
	}
	outbox_stop(d.app.outbox);
	hooks_stop(d.app.hooks);
	bus_close(d.app.bus);
	if (d.ev_term)
		event_free(d.ev_term);
	if (d.ev_int)
		event_free(d.ev_int);
	if (d.ev_drain)
		event_free(d.ev_drain);
	registry_free(d.app.reg);
	api_unload(&d.app);
	event_base_free(d.base);
	return rc;
}
