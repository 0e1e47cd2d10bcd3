/*
 * api_ingest.c - where provider webhooks and sandbox messages come in.
 *
 * The path of an inbound message:
 *   1. the channel type's adapter authenticates the request and normalizes
 *      it into an ingest_batch (channels/<type>.c);
 *   2. the batch is submitted to the store as one op and the request is
 *      deferred;
 *   3. the store group-commits it with whatever else is waiting (one fsync);
 *   4. ingest_done() runs on the loop: only now is the provider answered
 *      200. A storage failure answers 503 storage_unavailable when the
 *      storage itself fails (disk full, I/O error), else 500: either way
 *      the provider redelivers.
 */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../authz/authz.h"
#include "../channels/channel.h"
#include "../config/config.h"
#include "../http/http.h"
#include "../log/log.h"
#include "../media/media.h"
#include "../metrics/metrics.h"
#include "../store/store.h"
#include "../util/util.h"

struct ingest {
	struct store_op op;
	struct ingest_batch batch;
	struct app *app;
	struct http_request *req;
	struct webhook_reply reply;   /* the webhook answer to send once durable */
	bool sandbox;                 /* answer with the stored message instead */
	int64_t org;                  /* sandbox: the caller's organization */
	int64_t channel_id;           /* a per-channel webhook's channel (after_commit), or 0 */
	uint64_t serial;              /* ... while it stays open */
	int type;                     /* metrics: channel_types[] index; -1 unknown, -2 no webhook */
};

/* Metrics: channel_types[] index of ops (-1: none). */
static int
type_index(const struct channel_ops *ops)
{
	for (int i = 0; ops && channel_types[i]; i++)
		if (channel_types[i] == ops)
			return i;
	return -1;
}

/* Metrics: a webhook answered with status without a commit (refused, or
 * nothing to store: a status-only change the adapter skipped, the handshake). */
static void
count_answered(int type, int status)
{
	if (type == -2)
		return;
	metrics_webhook(type, status < 300 ? METRICS_HOOK_ACCEPTED :
	    status == 401 || status == 403 ? METRICS_HOOK_BAD_SIGNATURE :
	    status == 413 ? METRICS_HOOK_TOO_LARGE : status >= 500 ? METRICS_HOOK_ERROR :
	    METRICS_HOOK_INVALID);
}

/* Metrics: a batch committed: stored messages per channel, how long since
 * the request came, and the webhook's outcome. */
static void
count_committed(struct ingest *in)
{
	const struct ingest_batch *b = &in->batch;
	size_t dups = metrics_batch_received(b);

	metrics_ingest_latency(http_age_us(in->req));
	if (in->type != -2)
		metrics_webhook(in->type, b->nmsgs > 0 && dups == b->nmsgs ? METRICS_HOOK_DUPLICATE :
		    METRICS_HOOK_ACCEPTED);
}

static void
ingest_free(struct ingest *in)
{
	ingest_batch_free(&in->batch);
	free(in->reply.body);
	free(in);
}

/* Webhook replies may echo what the caller sent (the verification
 * handshake's hub.challenge): nosniff keeps a browser from reading an
 * echoed text/plain body as HTML or script. */
static void
send_webhook_reply(struct http_request *req, struct webhook_reply *r)
{
	if (r->error_code[0]) {
		http_reply_error(req, r->status, r->error_code, NULL, "%s", r->message);
	} else {
		const char *body = r->body ? r->body : "{\"status\":\"ok\"}";
		const char *ct = r->content_type ? r->content_type : "application/json";
		http_reply_raw(req, r->status, ct, body, strlen(body));
	}
	http_reply_header(req, "X-Content-Type-Options", "nosniff");
}

static void
log_batch(const char *what, struct http_request *req, const struct ingest_batch *b)
{
	char m[16], s[16], e[16];
	snprintf(m, sizeof(m), "%zu", b->nmsgs);
	snprintf(s, sizeof(s), "%zu", b->nstatuses);
	snprintf(e, sizeof(e), "%zu", b->nevents);
	log_debug(what, "req", http_request_id(req), "messages", m, "statuses", s, "events", e);
}

/* The sandbox answers with the message it stored (or found: duplicate). */
struct stored_msg {
	int64_t org;
	int64_t id;
	bool duplicate;
};

static void
run_stored_msg(struct store *st, void *arg, struct api_reply *out)
{
	struct stored_msg *sm = arg;
	json_t *msg = NULL;

	if (store_message_get(st, sm->org, sm->id, &msg) != 0 || msg == NULL)
		return;  /* status 0: storage error */
	out->status = sm->duplicate ? 200 : 201;
	out->json = json_pack("{s:o,s:b}", "message", msg, "duplicate", sm->duplicate);
}

static void
ingest_done(struct store_op *op, void *arg)
{
	struct ingest *in = arg;

	if (op->result != 0) {
		count_answered(in->type, 500);
		log_error("ingest commit failed; provider will redeliver", "req",
		    http_request_id(in->req), "error", op->errmsg);
		if (op->fault != STORE_FAULT_NONE)
			api_op_error(in->req, op);  /* 503: the provider retries */
		else
			http_reply_error(in->req, 500, "internal", NULL, "could not store the request; retry");
		ingest_free(in);
		return;
	}
	log_batch("ingest committed", in->req, &in->batch);
	count_committed(in);
	api_channel_states_apply(in->app, &in->batch);
	api_optout_committed(in->app, &in->batch);
	struct channel *ch = in->channel_id ? registry_find_id(in->app->reg, in->channel_id) : NULL;
	if (ch && ch->serial == in->serial && ch->ops->after_commit)
		ch->ops->after_commit(ch, &in->batch);
	if (in->sandbox) {
		struct msg_in *m = &in->batch.msgs[0];
		struct stored_msg *sm = xcalloc(1, sizeof(*sm));
		sm->org = in->org;
		sm->id = m->id;
		sm->duplicate = m->duplicate;
		api_read_async(in->app, in->req, run_stored_msg, sm, free);
	} else {
		send_webhook_reply(in->req, &in->reply);
	}
	media_batch_committed(in->app, &in->batch);  /* fetched only after the answer */
	ingest_free(in);
}

/* Commit in->batch, then answer. */
static void
ingest_submit(struct app *app, struct ingest *in)
{
	api_optout_tag(app, &in->batch);
	in->op = (struct store_op){
		.kind = STORE_OP_INGEST,
		.u.ingest = &in->batch,
		.done = ingest_done,
		.arg = in,
	};
	http_defer(in->req);
	store_submit(app->store, &in->op);
}

static void ingest_answer(struct app *app, struct ingest *in);

static const char *
req_header(void *ctx, const char *name)
{
	return http_header(ctx, name);
}

static const char *
req_query(void *ctx, const char *name)
{
	return http_query(ctx, name);
}

/* A provider's request as adapters see it, and the ingest that will hold
 * what they make of it; NULL (answered 503) while shutting down. */
static struct ingest *
ingest_begin(struct app *app, struct http_request *req, struct webhook_request *wr)
{
	struct ingest *in;
	size_t len;
	const char *body = http_body(req, &len);

	if (app->shutting_down) {
		http_reply_error(req, 503, "shutting_down", NULL, "msgd is shutting down; retry");
		return NULL;
	}
	in = xcalloc(1, sizeof(*in));
	in->app = app;
	in->req = req;
	*wr = (struct webhook_request){
		.method = http_method(req),
		.header = req_header,
		.query = req_query,
		.ctx = req,
		.body = body,
		.body_len = len,
		.request_id = http_request_id(req),
	};
	return in;
}

void
api_webhook(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	const struct channel_ops *ops = channel_type_by_webhook_path(p[0]);
	struct webhook_request wr;
	struct ingest *in;

	if (ops == NULL) {
		count_answered(-1, 404);
		http_reply_error(req, 404, "not_found", NULL, "no webhook endpoint '%.64s'", p[0]);
		return;
	}
	if ((in = ingest_begin(app, req, &wr)) == NULL) {
		count_answered(type_index(ops), 503);
		return;
	}
	in->type = type_index(ops);
	ops->webhook(app->reg, &wr, &in->reply, &in->batch);
	ingest_answer(app, in);
}

/* The adapter has answered: commit what it normalized, then reply. */
static void
ingest_answer(struct app *app, struct ingest *in)
{
	if (in->reply.status == 0) {
		in->reply.status = 500;
		snprintf(in->reply.error_code, sizeof(in->reply.error_code), "internal");
	}
	if (in->reply.status >= 300 || ingest_batch_empty(&in->batch)) {
		count_answered(in->type, in->reply.status);
		send_webhook_reply(in->req, &in->reply);
		ingest_free(in);
		return;
	}
	ingest_submit(app, in);
}

/* POST /webhooks/{type}/{channel}: one channel's webhook, the channel
 * named by its id (the path channel_webhook_path() gives; unique across
 * organizations). */
void
api_channel_webhook(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	const struct channel_ops *ops = channel_type_find(p[0]);
	struct channel *ch = NULL;
	struct webhook_request wr;
	struct ingest *in;
	int64_t id;

	(void)who;
	if (ops && ops->channel_webhook && parse_i64(p[1], &id) == 0 && id > 0)
		ch = registry_find_id(app->reg, id);
	if (ch == NULL || ch->ops != ops) {
		count_answered(type_index(ops), 404);
		http_reply_error(req, 404, "not_found", NULL, "no %.32s channel '%.64s'",
		    ops ? ops->type : "such", p[1]);
		return;
	}
	if ((in = ingest_begin(app, req, &wr)) == NULL) {
		count_answered(type_index(ops), 503);
		return;
	}
	in->type = type_index(ops);
	in->channel_id = ch->id;
	in->serial = ch->serial;
	ch->ops->channel_webhook(ch, &wr, &in->reply, &in->batch);
	ingest_answer(app, in);
}

void
api_sandbox_inbound(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	struct channel *ch = registry_find_name(app->reg, who->org_id, p[0]);
	struct channel_error err = { 0 };
	json_t *body;

	if (ch == NULL || ch->ops->simulate_inbound == NULL) {
		http_reply_error(req, 404, "not_found", NULL, "no sandbox channel named '%.64s'", p[0]);
		return;
	}
	if ((body = api_body_object(req)) == NULL)
		return;
	struct ingest *in = xcalloc(1, sizeof(*in));
	in->app = app;
	in->req = req;
	in->sandbox = true;
	in->type = -2;
	in->org = who->org_id;
	if (ch->ops->simulate_inbound(ch, body, &in->batch, &err) != 0 || in->batch.nmsgs == 0) {
		json_decref(body);
		http_reply_error(req, 422, "validation_failed", err.field, "%s", err.message);
		ingest_free(in);
		return;
	}
	json_decref(body);
	ingest_submit(app, in);
}

/* The head hook's look at a provider webhook (api_head()): one refused
 * from its Content-Length (413, the body never read) counts as too_large. */
void
api_webhook_head(struct app *app, struct http_request *req, const char *const *p)
{
	const struct channel_ops *ops = p[1] ? channel_type_find(p[0]) : channel_type_by_webhook_path(p[0]);
	int64_t len = http_content_length(req);

	if (len >= 0 && app->cfg && (uint64_t)len > app->cfg->body_limit)
		metrics_webhook(type_index(ops), METRICS_HOOK_TOO_LARGE);
}
