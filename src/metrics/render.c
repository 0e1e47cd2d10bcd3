/*
 * render.c - GET /metrics (Prometheus text format 0.0.4) and GET /health.
 *
 * A scrape reads the counters (metrics.c), then gauges: the outbox depth of
 * every sending channel and the process' RSS and descriptors are read on
 * the store's reader pool (never a database round trip or a file read on
 * the loop), the rest from memory on the loop when the read is done: sends
 * in flight and breakers (outbox/gauges.c), campaigns running, streams,
 * storage health, then every collector (metrics_collector_add()).
 *
 * /health answers the seeds' shape from memory, at once:
 *   {"status":"ok"|"degraded","version","metrics":{"active_batches",
 *    "circuit_breaker_state":"closed"|"half_open"|"open"}}
 * with the worst breaker over every channel; "degraded" when storage is
 * failing or a breaker is open.
 */
#include "metrics.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../api/api.h"
#include "../campaign/campaign.h"
#include "../channels/channel.h"
#include "../http/http.h"
#include "../outbox/outbox.h"
#include "../store/store.h"
#include "../util/util.h"


#define FDS_MAX 1000000        /* descriptors counted at most */
#define PROC_LINE_MAX 1024

struct scrape {
	struct store_read rd;
	struct app *app;
	struct http_request *req;
	size_t n;
	int64_t *ids;              /* the sending channels */
	int64_t *depths;           /* their queue depths (the pool thread's) */
	int64_t rss, fds;          /* the process (pool thread) */
	double uptime, start;      /* seconds */
};

static bool
sends(const struct channel *ch)
{
	return ch->ops->send_local || ch->ops->send_prepare;
}

/* RSS, open descriptors and uptime from /proc (the pool thread). */
static void
read_process(struct scrape *s)
{
	char line[PROC_LINE_MAX];
	FILE *f;
	long page = sysconf(_SC_PAGESIZE), hz = sysconf(_SC_CLK_TCK);

	if ((f = fopen("/proc/self/statm", "r")) != NULL) {
		long long size, res;
		if (fscanf(f, "%lld %lld", &size, &res) == 2)
			s->rss = (int64_t)res * page;
		fclose(f);
	}
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)) != NULL && s->fds < FDS_MAX)
			if (e->d_name[0] != '.')
				s->fds++;
		closedir(d);
		s->fds--;  /* the one opendir() holds */
	}
	/* Field 22 of /proc/self/stat: the start, in ticks after boot. */
	double boot_uptime = 0;
	if ((f = fopen("/proc/uptime", "r")) != NULL) {
		if (fscanf(f, "%lf", &boot_uptime) != 1)
			boot_uptime = 0;
		fclose(f);
	}
	if ((f = fopen("/proc/self/stat", "r")) != NULL) {
		if (fgets(line, sizeof(line), f)) {
			const char *p = strrchr(line, ')');  /* the name may hold spaces */
			unsigned long long ticks = 0;
			/* After ")": state is field 3; starttime is field 22. */
			if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
			    "%*d %*d %*d %*d %llu", &ticks) == 1 && hz > 0)
				s->uptime = boot_uptime - (double)ticks / (double)hz;
		}
		fclose(f);
	}
	if (s->uptime < 0)
		s->uptime = 0;
	s->start = (double)now_ms() / 1000 - s->uptime;
}

static void
scrape_run(struct store *st, void *arg)
{
	struct scrape *s = arg;

	for (size_t i = 0; i < s->n; i++)
		if (store_outbox_depth(st, s->ids[i], &s->depths[i]) != 0)
			s->depths[i] = 0;
	read_process(s);
}

static const char *
route_name(int i, const char **method)
{
	return api_route_pattern(i, method);
}

static const char *
type_name(int i)
{
	for (int k = 0; channel_types[k]; k++)
		if (k == i)
			return channel_types[k]->type;
	return NULL;
}

static bool
channel_name(void *arg, int64_t id, const char **name, const char **type)
{
	struct channel *ch = registry_find_id(arg, id);

	if (ch == NULL)
		return false;
	*name = ch->name;
	*type = ch->ops->type;
	return true;
}

static int64_t
depth_of(const struct scrape *s, int64_t id)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->ids[i] == id)
			return s->depths[i];
	return 0;
}

static void
write_channels(struct metrics_out *out, const struct scrape *s)
{
	struct app *app = s->app;
	static const struct {
		const char *name, *help;
	} fam[] = {
		{ "msgd_outbox_depth", "messages waiting to be sent, by channel" },
		{ "msgd_outbox_inflight", "send requests in flight, by channel" },
		{ "msgd_breaker_state", "the channel's circuit breaker: 0 closed, 1 half-open, 2 open" },
	};
	char id[24];

	for (size_t f = 0; f < ARRAY_LEN(fam); f++) {
		metrics_family(out, fam[f].name, "gauge", fam[f].help);
		for (size_t i = 0; i < registry_count(app->reg); i++) {
			struct channel *ch = registry_at(app->reg, i);
			int64_t inflight = 0;
			int breaker = 0;
			if (!sends(ch) || app->outbox == NULL)
				continue;
			outbox_channel_gauges(app->outbox, ch->id, &inflight, &breaker);
			snprintf(id, sizeof(id), "%lld", (long long)ch->id);
			double v = f == 0 ? (double)depth_of(s, ch->id) : f == 1 ? (double)inflight : breaker;
			metrics_sample(out, fam[f].name, (const char *[]){ "channel_id", id, "channel", ch->name,
			    "type", ch->ops->type, NULL }, v);
		}
	}
}

static void
write_gauges(struct metrics_out *out, const struct scrape *s)
{
	struct app *app = s->app;
	int64_t n, lag;
	enum store_fault fault = app->store ? store_health(app->store, NULL, NULL, 0) :
	    STORE_FAULT_NONE;

	write_channels(out, s);
	metrics_gauge(out, "msgd_active_batches", "campaigns running or being made", NULL,
	    (double)campaigns_running(app));
	metrics_gauge(out, "message_service_active_batches",
	    "campaigns running or being made (Message Service's name)", NULL,
	    (double)campaigns_running(app));
	metrics_family(out, "msgd_stream_subscribers", "gauge", "open event streams, by kind");
	api_stream_gauges(app, &n, &lag);
	metrics_sample(out, "msgd_stream_subscribers", (const char *[]){ "kind", "sse", NULL }, (double)n);
	int64_t sse_lag = lag;
	api_ws_gauges(app, &n, &lag);
	metrics_sample(out, "msgd_stream_subscribers", (const char *[]){ "kind", "ws", NULL }, (double)n);
	metrics_family(out, "msgd_stream_lag_events", "gauge",
	    "the largest lag among open streams: events of the log after a stream's cursor");
	metrics_sample(out, "msgd_stream_lag_events", (const char *[]){ "kind", "sse", NULL }, (double)sse_lag);
	metrics_sample(out, "msgd_stream_lag_events", (const char *[]){ "kind", "ws", NULL }, (double)lag);
	metrics_gauge(out, "msgd_storage_healthy", "1 while commits succeed, 0 while storage fails",
	    NULL, fault == STORE_FAULT_NONE ? 1 : 0);
	metrics_gauge(out, "msgd_process_resident_memory_bytes", "resident set size", NULL,
	    (double)s->rss);
	metrics_gauge(out, "msgd_process_open_fds", "open file descriptors", NULL, (double)s->fds);
	metrics_gauge(out, "msgd_process_uptime_seconds", "seconds since the process started", NULL,
	    s->uptime);
	metrics_gauge(out, "msgd_process_start_time_seconds", "when the process started (Unix time)",
	    NULL, s->start);
	metrics_gauge(out, "msgd_build_info", "the build: version and commit", (const char *[]){
	    "version", MSGD_VERSION, "commit", msgd_commit, NULL }, 1);
}

static void
scrape_done(void *arg)
{
	struct scrape *s = arg;
	struct metrics_out *out = metrics_out_new();
	struct metrics_names nm = { .route = route_name, .type = type_name, .channel = channel_name,
	    .arg = s->app->reg };
	size_t len;

	metrics_write_counters(out, &nm);
	write_gauges(out, s);
	metrics_write_collectors(out);
	metrics_out_finish(out);
	const char *text = metrics_out_text(out, &len);
	http_reply_raw(s->req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
	metrics_out_free(out);
	free(s->ids);
	free(s->depths);
	free(s);
}

void
api_metrics(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	struct scrape *s = xcalloc(1, sizeof(*s));
	size_t nch = registry_count(app->reg);

	s->app = app;
	s->req = req;
	s->ids = xcalloc(nch + 1, sizeof(*s->ids));
	for (size_t i = 0; i < nch; i++)
		if (sends(registry_at(app->reg, i)))
			s->ids[s->n++] = registry_at(app->reg, i)->id;
	s->depths = xcalloc(s->n + 1, sizeof(*s->depths));
	s->rd = (struct store_read){ .run = scrape_run, .done = scrape_done, .arg = s };
	http_defer(req);
	store_read_submit(app->store, &s->rd);
}

void
api_health(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	static const char *const breaker_names[] = { "closed", "half_open", "open" };
	int worst = 0;
	enum store_fault fault = app->store ? store_health(app->store, NULL, NULL, 0) :
	    STORE_FAULT_NONE;

	for (size_t i = 0; app->outbox && i < registry_count(app->reg); i++) {
		int64_t inflight;
		int b;
		outbox_channel_gauges(app->outbox, registry_at(app->reg, i)->id, &inflight, &b);
		if (b > worst)
			worst = b;
	}
	bool ok = fault == STORE_FAULT_NONE && worst != 2 && !app->shutting_down;
	http_reply_json(req, 200, json_pack("{s:s,s:s,s:{s:I,s:s}}", "status", ok ? "ok" : "degraded",
	    "version", MSGD_VERSION, "metrics", "active_batches", (json_int_t)campaigns_running(app),
	    "circuit_breaker_state", breaker_names[worst]));
}
