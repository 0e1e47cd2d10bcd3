/*
 * hooks_int.h - what hooks.c (the mechanism) and hooks_view.c (the API's
 * view of the subscriptions) share. Not for other subsystems.
 */
#ifndef MSGD_HOOKS_INT_H
#define MSGD_HOOKS_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "../store/store.h"
#include "sink.h"

#define HOOKS_ERROR_MAX 256

struct hread;

struct hsub {
	struct hooks *hk;
	struct hsub *next;
	int64_t id;
	int64_t org_id;                 /* delivers only its organization's events */
	char *org;                      /* its organization's name (NATS subjects) */
	char *kind;                     /* "webhook", "nats", "amqp" */
	const struct sink_ops *ops;     /* NULL: a kind this build does not know */
	json_t *config;                 /* the sink's config, secrets included (never shown) */
	struct sink *sink;              /* opened at the first delivery; NULL until then */
	json_t *events;
	json_t *channels;               /* channel names it wants, or NULL: every one */
	int64_t created_at;
	/* Durable state, as last committed. */
	int64_t delivered_seq;
	int attempts;
	int64_t first_attempt_ms;
	int64_t next_mono;              /* the next attempt (mono_ms(); 0: none): on disk it is
	                                   wall-clock ms, here monotonic, so a wall-clock jump
	                                   neither hurries nor holds back a retry */
	char last_error[HOOKS_ERROR_MAX];
	bool has_error;
	bool paused;
	/* Work in flight: a batch in a sink, then the op recording its outcome. */
	bool busy;
	bool delivering;                /* a batch is in the sink */
	bool deleted;                   /* removed while busy: freed when the work ends */
	bool stale;                     /* its lease was taken: re-read its state first */
	uint64_t stale_gen;             /* hk->lease_gen when it went stale */
	struct hread *reading;          /* its page read in flight, or NULL */
	/* The page last read, kept while it holds events after the cursor. */
	struct store_event *pg;
	size_t npg, ipg;
	int64_t pg_next;                /* its last seq (the cursor once all of it is done) */
	int64_t seen_upto;              /* no event of its organization after the page up to
	                                   this seq (the head when a short page was read) */
	/* The batch in the sink. */
	int64_t *bseq;                  /* its seqs (batch_max of them) */
	size_t bn;
	int64_t batch_end;              /* the cursor when all of it is accepted */
	int64_t cur_seq;                /* its first event: the one a failure counts against */
	int64_t retry_mono;             /* the RETRY op's next attempt, monotonic */
	char err[HOOKS_ERROR_MAX];      /* the op's last_error */
	struct store_op op;
};

struct hooks {
	struct event_base *base;
	struct store *st;
	struct event *ev_cycle;
	struct hsub *subs;              /* by id */
	struct leases *leases;          /* "hook:<id>": who delivers it (NULL: we do) */
	int64_t head;                   /* highest committed seq heard of */
	int64_t wake_ms;                /* when the pending cycle timer fires (mono_ms()) */
	size_t inflight;                /* batches in sinks */
	size_t ops_outstanding;         /* state changes not yet committed */
	bool draining;
	bool stopping;
	uint32_t rng;
	struct hload *reloading;        /* hooks_reload()'s read in flight, or NULL */
	bool reload_again;              /* asked for while one was in flight */
	struct hload *refreshing;       /* the stale subscriptions' read in flight, or NULL */
	uint64_t gen;                   /* subscriptions added or removed here */
	uint64_t lease_gen;             /* leases taken */
};

/* hooks.c: the subscription id's, not deleted, or NULL. */
struct hsub *hooks_sub_find(struct hooks *hk, int64_t id);

#endif
