/*
 * metrics.c - the counters (relaxed atomics in fixed arrays) and the text
 * exposition format they are written in (Prometheus 0.0.4).
 *
 * Every counter here is a process-wide static: counting needs no handle, so
 * a hot path adds one call and no plumbing. Counters only grow (a reset is
 * for unit tests); Prometheus' rate() handles the restart of the process.
 */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/model.h"
#include "../log/log.h"
#include "../util/util.h"

#define RELAXED memory_order_relaxed

const double METRICS_BUCKETS_S[METRICS_BUCKETS] = {
	.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10,
};
/* The same in microseconds, for counting without floating point. */
static const int64_t buckets_us[METRICS_BUCKETS] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000,
	10000000,
};

/* The HTTP statuses counted apart; every other one is slot 0 ("other").
 * The two tables say the same thing both ways (test_metrics.c checks). */
static const unsigned short status_of_slot[] = {
	0, 101, 200, 201, 202, 204, 206, 301, 302, 304, 400, 401, 403, 404, 405, 406, 408, 409,
	410, 411, 413, 414, 415, 416, 422, 429, 431, 500, 501, 502, 503, 504, 505,
};
#define STATUS_SLOTS (sizeof(status_of_slot) / sizeof(status_of_slot[0]))
#define STATUS_TOP 600
static const unsigned char slot_of_status[STATUS_TOP] = {
	[101] = 1, [200] = 2, [201] = 3, [202] = 4, [204] = 5, [206] = 6, [301] = 7, [302] = 8,
	[304] = 9, [400] = 10, [401] = 11, [403] = 12, [404] = 13, [405] = 14, [406] = 15, [408] = 16,
	[409] = 17, [410] = 18, [411] = 19, [413] = 20, [414] = 21, [415] = 22, [416] = 23,
	[422] = 24, [429] = 25, [431] = 26, [500] = 27, [501] = 28, [502] = 29, [503] = 30,
	[504] = 31, [505] = 32,
};

static const char *const hook_names[METRICS_HOOKS] = {
	[METRICS_HOOK_ACCEPTED] = "accepted",
	[METRICS_HOOK_DUPLICATE] = "duplicate",
	[METRICS_HOOK_BAD_SIGNATURE] = "bad_signature",
	[METRICS_HOOK_INVALID] = "invalid",
	[METRICS_HOOK_TOO_LARGE] = "too_large",
	[METRICS_HOOK_ERROR] = "error",
};

static const struct {
	const char *direction, *status;
} final_names[METRICS_FINALS] = {
	[METRICS_RECEIVED] = { "inbound", "received" },
	[METRICS_SENT] = { "outbound", "sent" },
	[METRICS_FAILED] = { "outbound", "failed" },
	[METRICS_EXPIRED] = { "outbound", "expired" },
};

/* enum send_outcome_kind (channel.h), in its order. */
static const char *const outcome_names[METRICS_SEND_OUTCOMES] = {
	"ok", "tempfail", "throttled", "recipient_throttled", "permfail", "credentials", "blocked",
	"recipient_blocked", "recipient_invalid",
};
/* Which of them end a message for good. */
static const signed char outcome_final[METRICS_SEND_OUTCOMES] = {
	METRICS_SENT, -1, -1, -1, METRICS_FAILED, -1, -1, METRICS_FAILED, METRICS_FAILED,
};

static struct {
	_Atomic uint64_t http[METRICS_ROUTES_MAX][STATUS_SLOTS];
	struct metrics_hist http_latency[METRICS_ROUTES_MAX];
	_Atomic uint64_t hooks[METRICS_TYPES_MAX][METRICS_HOOKS];
	_Atomic uint64_t processed[METRICS_CHANNELS_MAX][METRICS_FINALS];
	_Atomic uint64_t attempts[METRICS_CHANNELS_MAX][METRICS_SEND_OUTCOMES];
	struct metrics_hist send_latency;     /* accepted -> provider acceptance */
	struct metrics_hist ingest_latency;   /* webhook received -> commit */
	struct metrics_hist commit_latency;   /* a group's transaction */
	struct metrics_hist group_size;       /* observed as "us" = ops * 1e6: buckets in ops */
	_Atomic uint64_t groups_ops;
} m;

/* The group size histogram's bounds (ops, not seconds). */
static const double group_bounds[METRICS_BUCKETS] = {
	1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096,
};
static const int64_t group_bounds_n[METRICS_BUCKETS] = {
	1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096,
};

struct collector {
	metrics_collect_fn fn;
	void *arg;
};
static struct collector collectors[METRICS_COLLECTORS_MAX];
static size_t ncollectors;

/* The unit test's check that the two status tables agree. */
int
metrics_status_tables_check(void)
{
	for (size_t i = 1; i < STATUS_SLOTS; i++)
		if (slot_of_status[status_of_slot[i]] != i)
			return -1;
	return 0;
}

static inline void
add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, RELAXED);
}

static size_t
bucket_of(const int64_t *bounds, int64_t v)
{
	size_t i = 0;
	while (i < METRICS_BUCKETS && v > bounds[i])
		i++;
	return i;  /* METRICS_BUCKETS: only +Inf */
}

void
metrics_hist_observe(struct metrics_hist *h, int64_t us)
{
	if (us < 0)
		us = 0;
	size_t b = bucket_of(buckets_us, us);
	if (b < METRICS_BUCKETS)
		add(&h->bucket[b], 1);
	add(&h->sum_us, (uint64_t)us);
	add(&h->count, 1);
}

static size_t
channel_slot(int64_t id)
{
	return id > 0 && id < METRICS_CHANNELS_MAX ? (size_t)id : 0;
}

void
metrics_http(int route, unsigned status, int64_t us)
{
	size_t r = route >= 0 && route < METRICS_ROUTES_MAX ? (size_t)route : METRICS_ROUTE_NONE;

	add(&m.http[r][status < STATUS_TOP ? slot_of_status[status] : 0], 1);
	metrics_hist_observe(&m.http_latency[r], us);
}

void
metrics_webhook(int type, enum metrics_hook outcome)
{
	size_t t = type >= 0 && type < METRICS_TYPES_MAX - 1 ? (size_t)type : METRICS_TYPES_MAX - 1;
	if ((unsigned)outcome < METRICS_HOOKS)
		add(&m.hooks[t][outcome], 1);
}

void
metrics_received(int64_t channel_id, uint64_t n)
{
	add(&m.processed[channel_slot(channel_id)][METRICS_RECEIVED], n);
}

size_t
metrics_batch_received(const struct ingest_batch *b)
{
	size_t dups = 0;

	for (size_t i = 0; i < b->nmsgs; i++) {
		if (b->msgs[i].duplicate)
			dups++;
		else if (!b->msgs[i].echo)
			metrics_received(b->msgs[i].channel_id, 1);
	}
	return dups;
}

void
metrics_ingest_latency(int64_t us)
{
	metrics_hist_observe(&m.ingest_latency, us);
}

void
metrics_send_outcome(int64_t channel_id, int kind, int64_t age_ms)
{
	size_t c = channel_slot(channel_id);

	if (kind < 0 || kind >= METRICS_SEND_OUTCOMES)
		return;
	add(&m.attempts[c][kind], 1);
	if (outcome_final[kind] >= 0)
		add(&m.processed[c][outcome_final[kind]], 1);
	if (outcome_final[kind] == METRICS_SENT)
		metrics_hist_observe(&m.send_latency, age_ms * 1000);
}

void
metrics_expired(int64_t channel_id)
{
	add(&m.processed[channel_slot(channel_id)][METRICS_EXPIRED], 1);
}

void
metrics_store_group(size_t n, int64_t us)
{
	metrics_hist_observe(&m.commit_latency, us);
	size_t b = bucket_of(group_bounds_n, (int64_t)n);
	if (b < METRICS_BUCKETS)
		add(&m.group_size.bucket[b], 1);
	add(&m.group_size.sum_us, n);
	add(&m.group_size.count, 1);
}

void
metrics_reset(void)
{
	memset(&m, 0, sizeof(m));
	ncollectors = 0;
}

/* --- the text format --- */

/*
 * The text is written line by line into a capped buffer. A line that would
 * pass the cap (less the room kept for msgd_metrics_truncated) is taken
 * back to its start and everything after it is left out, counted: the body
 * never ends mid-line.
 */
#define METRICS_TRUNCATED_RESERVE 256   /* the msgd_metrics_truncated family */

struct metrics_out {
	struct buf b;
	size_t cap;          /* the whole text, with the truncated gauge */
	size_t line_start;   /* b.len after the last whole line */
	uint64_t dropped;    /* lines left out */
	bool full;
	bool finished;
};

struct metrics_out *
metrics_out_new_capped(size_t cap)
{
	struct metrics_out *o = xcalloc(1, sizeof(*o));
	o->cap = cap > METRICS_TRUNCATED_RESERVE ? cap : METRICS_TRUNCATED_RESERVE + 1;
	buf_init(&o->b, o->cap);
	return o;
}

struct metrics_out *
metrics_out_new(void)
{
	return metrics_out_new_capped(METRICS_OUT_MAX);
}

const char *
metrics_out_text(const struct metrics_out *out, size_t *len)
{
	*len = out->b.len;
	return out->b.data ? out->b.data : "";
}

void
metrics_out_free(struct metrics_out *out)
{
	if (out == NULL)
		return;
	buf_free(&out->b);
	free(out);
}

/* One piece of a line; nl: it ends the line. */
static void
put_piece(struct metrics_out *o, const char *s, size_t n, bool nl)
{
	size_t room = o->finished ? o->cap : o->cap - METRICS_TRUNCATED_RESERVE;

	if (!o->full && (o->b.len + n > room || buf_append(&o->b, s, n) != 0)) {
		o->full = true;
		o->b.len = o->line_start;
		if (o->b.data)
			o->b.data[o->b.len] = '\0';
	}
	if (!nl)
		return;
	if (o->full)
		o->dropped++;
	else
		o->line_start = o->b.len;
}

static void
put(struct metrics_out *o, const char *s, size_t n)
{
	while (n > 0) {
		const char *nl = memchr(s, '\n', n);
		size_t k = nl ? (size_t)(nl - s) + 1 : n;
		put_piece(o, s, k, nl != NULL);
		s += k;
		n -= k;
	}
}

void
metrics_out_finish(struct metrics_out *out)
{
	if (out->finished)
		return;
	/* A line still open (a writer's bug) is left out too. */
	if (out->b.len != out->line_start && !out->full) {
		out->b.len = out->line_start;
		out->b.data[out->b.len] = '\0';
		out->full = true;
		out->dropped++;
	}
	bool truncated = out->full;
	if (truncated) {
		char n[24];
		snprintf(n, sizeof(n), "%llu", (unsigned long long)out->dropped);
		log_warn("metrics: the text reached its cap; the lines past it were left out", "lines", n);
	}
	out->full = false;
	out->finished = true;
	metrics_gauge(out, "msgd_metrics_truncated",
	    "1 when this text reached its size cap and lines were left out", NULL, truncated ? 1 : 0);
}

static void
puts_(struct metrics_out *o, const char *s)
{
	put(o, s, strlen(s));
}

void
metrics_escape(const char *s, char *out, size_t cap)
{
	size_t n = 0;

	for (; *s; s++) {
		char esc = *s == '\\' ? '\\' : *s == '"' ? '"' : *s == '\n' ? 'n' : 0;
		size_t need = esc ? 2 : 1;
		/* Never cut a UTF-8 sequence: stop at a lead byte that won't fit
		 * with its continuation bytes. */
		size_t more = 0;
		unsigned char c = (unsigned char)*s;
		if (c >= 0xf0)
			more = 3;
		else if (c >= 0xe0)
			more = 2;
		else if (c >= 0xc0)
			more = 1;
		if (n + need + more >= cap)
			break;
		if (esc) {
			out[n++] = '\\';
			out[n++] = esc;
		} else {
			out[n++] = *s;
		}
	}
	out[n] = '\0';
}

void
metrics_family(struct metrics_out *out, const char *name, const char *type, const char *help)
{
	puts_(out, "# HELP ");
	puts_(out, name);
	put(out, " ", 1);
	/* HELP text escapes only \\ and \n. */
	for (const char *p = help; *p; p++) {
		if (*p == '\\')
			put(out, "\\\\", 2);
		else if (*p == '\n')
			put(out, "\\n", 2);
		else
			put(out, p, 1);
	}
	puts_(out, "\n# TYPE ");
	puts_(out, name);
	put(out, " ", 1);
	puts_(out, type);
	put(out, "\n", 1);
}

static void
labels_write(struct metrics_out *out, const char *const *labels, const char *extra_k,
    const char *extra_v)
{
	char esc[METRICS_LABEL_MAX];
	bool any = false;

	for (size_t i = 0; labels && labels[i] && labels[i + 1]; i += 2) {
		puts_(out, any ? "," : "{");
		puts_(out, labels[i]);
		puts_(out, "=\"");
		metrics_escape(labels[i + 1], esc, sizeof(esc));
		puts_(out, esc);
		put(out, "\"", 1);
		any = true;
	}
	if (extra_k) {
		puts_(out, any ? "," : "{");
		puts_(out, extra_k);
		puts_(out, "=\"");
		puts_(out, extra_v);
		put(out, "\"", 1);
		any = true;
	}
	if (any)
		put(out, "}", 1);
}

static void
value_write(struct metrics_out *out, double v)
{
	char num[40];

	if (isnan(v))
		snprintf(num, sizeof(num), "NaN");
	else if (isinf(v))
		snprintf(num, sizeof(num), v > 0 ? "+Inf" : "-Inf");
	else if (v == (double)(int64_t)v && fabs(v) < 9e15)
		snprintf(num, sizeof(num), "%lld", (long long)v);
	else
		snprintf(num, sizeof(num), "%.15g", v);
	put(out, " ", 1);
	puts_(out, num);
	put(out, "\n", 1);
}

static void
sample_x(struct metrics_out *out, const char *name, const char *suffix, const char *const *labels,
    const char *extra_k, const char *extra_v, double v)
{
	puts_(out, name);
	puts_(out, suffix);
	labels_write(out, labels, extra_k, extra_v);
	value_write(out, v);
}

void
metrics_sample(struct metrics_out *out, const char *name, const char *const *labels, double v)
{
	sample_x(out, name, "", labels, NULL, NULL, v);
}

void
metrics_gauge(struct metrics_out *out, const char *name, const char *help,
    const char *const *labels, double v)
{
	metrics_family(out, name, "gauge", help);
	metrics_sample(out, name, labels, v);
}

static void
hist_write_bounds(struct metrics_out *out, const char *name, const char *const *labels,
    const struct metrics_hist *h, const double *bounds, double sum_scale)
{
	uint64_t cum = 0, count = atomic_load_explicit(&h->count, RELAXED);
	char le[32];

	for (size_t i = 0; i < METRICS_BUCKETS; i++) {
		cum += atomic_load_explicit(&h->bucket[i], RELAXED);
		snprintf(le, sizeof(le), "%g", bounds[i]);
		/* Counted without a lock: a bucket may be ahead of count. */
		sample_x(out, name, "_bucket", labels, "le", le, (double)(cum < count ? cum : count));
	}
	sample_x(out, name, "_bucket", labels, "le", "+Inf", (double)count);
	sample_x(out, name, "_sum", labels, NULL, NULL,
	    (double)atomic_load_explicit(&h->sum_us, RELAXED) * sum_scale);
	sample_x(out, name, "_count", labels, NULL, NULL, (double)count);
}

void
metrics_hist_write(struct metrics_out *out, const char *name, const char *const *labels,
    const struct metrics_hist *h)
{
	hist_write_bounds(out, name, labels, h, METRICS_BUCKETS_S, 1e-6);
}

/* --- the counters kept here --- */

static void
write_http(struct metrics_out *out, const struct metrics_names *nm)
{
	char st[8];

	metrics_family(out, "msgd_http_requests_total", "counter",
	    "HTTP requests by route pattern, method and status (route \"none\": no route matched)");
	for (int r = 0; r < METRICS_ROUTES_MAX; r++) {
		const char *method = "", *pattern = r == METRICS_ROUTE_NONE ? "none" : nm->route(r, &method);
		if (pattern == NULL)
			continue;
		for (size_t s = 0; s < STATUS_SLOTS; s++) {
			uint64_t v = atomic_load_explicit(&m.http[r][s], RELAXED);
			if (v == 0)
				continue;
			if (s == 0)
				snprintf(st, sizeof(st), "other");
			else
				snprintf(st, sizeof(st), "%u", status_of_slot[s]);
			metrics_sample(out, "msgd_http_requests_total",
			    (const char *[]){ "route", pattern, "method", method, "status", st, NULL }, (double)v);
		}
	}
	metrics_family(out, "msgd_http_request_duration_seconds", "histogram",
	    "HTTP request latency by route, from its headers to its reply sent");
	for (int r = 0; r < METRICS_ROUTES_MAX; r++) {
		const char *method = "", *pattern = r == METRICS_ROUTE_NONE ? "none" : nm->route(r, &method);
		if (pattern == NULL || atomic_load_explicit(&m.http_latency[r].count, RELAXED) == 0)
			continue;
		metrics_hist_write(out, "msgd_http_request_duration_seconds",
		    (const char *[]){ "route", pattern, "method", method, NULL }, &m.http_latency[r]);
	}
}

static void
write_hooks(struct metrics_out *out, const struct metrics_names *nm)
{
	metrics_family(out, "msgd_webhook_requests_total", "counter",
	    "provider webhooks by channel type and outcome");
	for (int t = 0; t < METRICS_TYPES_MAX; t++) {
		const char *type = t == METRICS_TYPES_MAX - 1 ? "unknown" : nm->type(t);
		if (type == NULL)
			continue;
		for (int o = 0; o < METRICS_HOOKS; o++) {
			uint64_t v = atomic_load_explicit(&m.hooks[t][o], RELAXED);
			/* Every outcome of the known types, so rates start from 0. */
			if (v == 0 && t == METRICS_TYPES_MAX - 1)
				continue;
			metrics_sample(out, "msgd_webhook_requests_total",
			    (const char *[]){ "type", type, "outcome", hook_names[o], NULL }, (double)v);
		}
	}
}

/* A channel slot's labels; false when it has no channel now (and no name). */
static bool
channel_labels(const struct metrics_names *nm, size_t c, char id[24], const char **name,
    const char **type)
{
	if (c == 0) {
		snprintf(id, 24, "other");
		*name = *type = "";
		return true;
	}
	snprintf(id, 24, "%zu", c);
	return nm->channel(nm->arg, (int64_t)c, name, type);
}

static bool
slot_used(size_t c)
{
	for (int f = 0; f < METRICS_FINALS; f++)
		if (atomic_load_explicit(&m.processed[c][f], RELAXED))
			return true;
	for (int k = 0; k < METRICS_SEND_OUTCOMES; k++)
		if (atomic_load_explicit(&m.attempts[c][k], RELAXED))
			return true;
	return false;
}

static void
write_processed(struct metrics_out *out, const struct metrics_names *nm, const char *family)
{
	char id[24];
	const char *name, *type;

	metrics_family(out, family, "counter",
	    "messages processed by channel, direction and final status");
	for (size_t c = 0; c < METRICS_CHANNELS_MAX; c++) {
		if (!slot_used(c) || !channel_labels(nm, c, id, &name, &type))
			continue;
		for (int f = 0; f < METRICS_FINALS; f++)
			metrics_sample(out, family, (const char *[]){ "channel_id", id, "channel", name,
			    "type", type, "direction", final_names[f].direction, "status", final_names[f].status,
			    NULL }, (double)atomic_load_explicit(&m.processed[c][f], RELAXED));
	}
}

static void
write_attempts(struct metrics_out *out, const struct metrics_names *nm)
{
	char id[24];
	const char *name, *type;

	metrics_family(out, "msgd_send_attempts_total", "counter",
	    "send attempts by channel and outcome (retries included)");
	for (size_t c = 0; c < METRICS_CHANNELS_MAX; c++) {
		if (!slot_used(c) || !channel_labels(nm, c, id, &name, &type))
			continue;
		for (int k = 0; k < METRICS_SEND_OUTCOMES; k++) {
			uint64_t v = atomic_load_explicit(&m.attempts[c][k], RELAXED);
			if (v)
				metrics_sample(out, "msgd_send_attempts_total", (const char *[]){ "channel_id", id,
				    "channel", name, "type", type, "outcome", outcome_names[k], NULL }, (double)v);
		}
	}
}

static void
write_durations(struct metrics_out *out, const char *family)
{
	metrics_family(out, family, "histogram",
	    "stage \"send\": the API's acceptance to the provider's; \"ingest\": a webhook's arrival "
	    "to its commit");
	metrics_hist_write(out, family, (const char *[]){ "stage", "send", NULL }, &m.send_latency);
	metrics_hist_write(out, family, (const char *[]){ "stage", "ingest", NULL }, &m.ingest_latency);
}

void
metrics_write_counters(struct metrics_out *out, const struct metrics_names *nm)
{
	write_http(out, nm);
	write_hooks(out, nm);
	write_processed(out, nm, "msgd_messages_processed_total");
	write_attempts(out, nm);
	write_durations(out, "msgd_processing_duration_seconds");
	metrics_family(out, "msgd_store_commit_duration_seconds", "histogram",
	    "the writer thread's group transactions, BEGIN to COMMIT");
	metrics_hist_write(out, "msgd_store_commit_duration_seconds", NULL, &m.commit_latency);
	metrics_family(out, "msgd_store_group_size", "histogram", "store ops committed in one group");
	hist_write_bounds(out, "msgd_store_group_size", NULL, &m.group_size, group_bounds, 1);
	/* Message Service's names, for its dashboards. */
	write_processed(out, nm, "message_service_processed_total");
	write_durations(out, "message_service_processing_duration_seconds");
}

int
metrics_collector_add(metrics_collect_fn fn, void *arg)
{
	if (ncollectors == METRICS_COLLECTORS_MAX) {
		log_error("metrics: too many collectors; one left out");
		return -1;
	}
	collectors[ncollectors++] = (struct collector){ .fn = fn, .arg = arg };
	return 0;
}

void
metrics_collector_remove(metrics_collect_fn fn, void *arg)
{
	for (size_t i = 0; i < ncollectors; i++)
		if (collectors[i].fn == fn && collectors[i].arg == arg) {
			collectors[i] = collectors[--ncollectors];
			return;
		}
}

void
metrics_write_collectors(struct metrics_out *out)
{
	for (size_t i = 0; i < ncollectors; i++)
		collectors[i].fn(out, collectors[i].arg);
}
