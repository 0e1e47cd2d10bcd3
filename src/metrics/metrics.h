/*
 * metrics.h - what msgd counts for Prometheus (GET /metrics) and answers on
 * GET /health.
 *
 * Counting (metrics.c) is a few relaxed atomic increments on fixed arrays:
 * no lock, no allocation, no string work on the hot paths. Arrays are
 * indexed by enums (direction, final status, webhook outcome, send outcome),
 * by a small set of exact HTTP statuses, by the route table's index and by
 * a channel's id (ids from 1 to METRICS_CHANNELS_MAX - 1 have a slot each;
 * the rest share slot 0, shown as channel_id="other"). The loop thread and
 * the store's writer thread both count; any thread may.
 *
 * Histograms have fixed buckets in seconds (METRICS_BUCKETS_S) and keep
 * their sum in microseconds as an integer.
 *
 * Rendering (render.c) runs on the loop when /metrics is scraped: it reads
 * the atomics, then gauges read at scrape time (outbox depth off the loop,
 * as /readyz does; in-flight and breakers from the outbox; campaigns;
 * streams; the process), then every registered collector.
 *
 * Collectors: a subsystem adds its own gauges at scrape time with
 * metrics_collector_add(fn, arg); fn runs on the loop thread, MUST NOT
 * block, and writes its lines through metrics_family() + metrics_sample()
 * (or metrics_gauge() for a single sample). E.g. the event exports:
 *
 *   static void exports_collect(struct metrics_out *out, void *arg) {
 *       metrics_family(out, "msgd_export_lag", "gauge", "events not yet delivered");
 *       for (each export e)
 *           metrics_sample(out, "msgd_export_lag",
 *               (const char *[]){ "id", e->id_text, "kind", e->kind, NULL }, e->lag);
 *   }
 *   metrics_collector_add(exports_collect, hooks);   at start
 *   metrics_collector_remove(exports_collect, hooks); at stop
 */
#ifndef MSGD_METRICS_H
#define MSGD_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct app;
struct http_request;
struct principal;

#define METRICS_ROUTES_MAX 192      /* route table slots; the last one: no route (404, files) */
#define METRICS_ROUTE_NONE (METRICS_ROUTES_MAX - 1)
#define METRICS_CHANNELS_MAX 512    /* channel ids below this have a slot; slot 0: the rest */
#define METRICS_TYPES_MAX 8         /* channel types (channel_types[] order); the last: unknown */
#define METRICS_BUCKETS 13
#define METRICS_COLLECTORS_MAX 16
#define METRICS_OUT_MAX (8u << 20)  /* the whole /metrics text */
#define METRICS_LABEL_MAX 256       /* one escaped label value */

/* The bucket bounds, seconds (the +Inf bucket is the count). */
extern const double METRICS_BUCKETS_S[METRICS_BUCKETS];

struct metrics_hist {
	_Atomic uint64_t bucket[METRICS_BUCKETS];   /* per bucket, not cumulative */
	_Atomic uint64_t sum_us;
	_Atomic uint64_t count;
};
void metrics_hist_observe(struct metrics_hist *h, int64_t us);

/* Messages by their final status (the direction follows from it). */
enum metrics_final {
	METRICS_RECEIVED,     /* inbound, stored (duplicates not counted) */
	METRICS_SENT,         /* outbound, accepted by the provider */
	METRICS_FAILED,       /* outbound, failed for good */
	METRICS_EXPIRED,      /* outbound, gave up (attempts or age) */
	METRICS_FINALS
};

/* A provider webhook's outcome. */
enum metrics_hook {
	METRICS_HOOK_ACCEPTED,
	METRICS_HOOK_DUPLICATE,      /* every message in it was seen before */
	METRICS_HOOK_BAD_SIGNATURE,  /* 401/403: the signature or secret was refused */
	METRICS_HOOK_INVALID,        /* other 4xx: malformed or unroutable */
	METRICS_HOOK_TOO_LARGE,      /* 413 (from its Content-Length) */
	METRICS_HOOK_ERROR,          /* 5xx: storage or msgd failed; the provider redelivers */
	METRICS_HOOKS
};

#define METRICS_SEND_OUTCOMES 9     /* enum send_outcome_kind (channel.h) */

/* --- counting (hot paths; any thread) --- */

/* A request ended: its route (METRICS_ROUTE_NONE or < 0: none), status
 * (0: none was sent) and how long it took. */
void metrics_http(int route, unsigned status, int64_t us);
/* A provider webhook's outcome; type: channel_types[] index (or -1). */
void metrics_webhook(int type, enum metrics_hook outcome);
/* An ingest batch committed: received stored messages per channel, and the
 * time from the webhook's arrival to the commit. */
void metrics_received(int64_t channel_id, uint64_t n);
/* The same for each stored message of a committed batch (neither a
 * duplicate nor an echo); returns how many were duplicates. */
struct ingest_batch;
size_t metrics_batch_received(const struct ingest_batch *b);
void metrics_ingest_latency(int64_t us);
/* A send attempt's outcome (enum send_outcome_kind); age_ms: since the API
 * accepted the message (observed as the send duration when it is SEND_OK). */
void metrics_send_outcome(int64_t channel_id, int kind, int64_t age_ms);
/* An outbound message expired without being sent. */
void metrics_expired(int64_t channel_id);
/* The writer thread committed (or failed) a group of n ops in us. */
void metrics_store_group(size_t n, int64_t us);

/* --- rendering (loop thread) --- */

struct metrics_out;
/* "# HELP" and "# TYPE" lines; type "counter", "gauge" or "histogram". */
void metrics_family(struct metrics_out *out, const char *name, const char *type, const char *help);
/* One sample: labels is NULL or name, value, ..., NULL (values escaped). */
void metrics_sample(struct metrics_out *out, const char *name, const char *const *labels, double v);
/* A family of one sample. */
void metrics_gauge(struct metrics_out *out, const char *name, const char *help,
    const char *const *labels, double v);
/* A histogram's _bucket/_sum/_count lines (the family line is the caller's). */
void metrics_hist_write(struct metrics_out *out, const char *name, const char *const *labels,
    const struct metrics_hist *h);

typedef void (*metrics_collect_fn)(struct metrics_out *out, void *arg);
/* 0, or -1 when METRICS_COLLECTORS_MAX are registered already (logged). */
int metrics_collector_add(metrics_collect_fn fn, void *arg);
void metrics_collector_remove(metrics_collect_fn fn, void *arg);

/* Escape a label value as the text format wants (\\, \", \n) into out
 * (cap bytes, NUL-terminated; cut short at a character boundary). */
void metrics_escape(const char *s, char *out, size_t cap);

/* The text so far (for tests and render.c): NUL-terminated, whole lines
 * only. metrics_out_finish() ends it with the msgd_metrics_truncated gauge
 * (1 when a line did not fit under the cap and it and the rest were left
 * out); nothing is written after it. _capped: a cap other than
 * METRICS_OUT_MAX (tests). */
struct metrics_out *metrics_out_new(void);
struct metrics_out *metrics_out_new_capped(size_t cap);
void metrics_out_finish(struct metrics_out *out);
const char *metrics_out_text(const struct metrics_out *out, size_t *len);
void metrics_out_free(struct metrics_out *out);
/* The counters kept by metrics.c; route and type names come from the
 * callbacks (NULL: past the end). */
struct metrics_names {
	const char *(*route)(int i, const char **method);
	const char *(*type)(int i);
	/* A channel slot's name and type (false: no such channel now). */
	bool (*channel)(void *arg, int64_t id, const char **name, const char **type);
	void *arg;
};
void metrics_write_counters(struct metrics_out *out, const struct metrics_names *names);
void metrics_write_collectors(struct metrics_out *out);

/* --- the routes (render.c) --- */
void api_metrics(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p);
void api_health(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p);

/* Reset every counter (unit tests). */
void metrics_reset(void);
/* 0 when the status-to-slot tables agree (unit tests). */
int metrics_status_tables_check(void);

#endif
