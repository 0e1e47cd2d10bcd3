/*
 * api_chan_actions.c - channels v2 in the API: the type listing
 * (GET /v1/channel-types), adapter actions (POST /v1/channels/{name}/connect
 * and /disconnect), the pairing QR code (GET /v1/channels/{name}/qr: the
 * raw code as JSON, or rendered as PNG or SVG by util/qr.c) and the
 * shared connection state kept on the registry's channels.
 *
 * Connection states are committed (channel_states, a channel.state event)
 * by whichever instance heard them; each instance keeps them on its
 * struct channel: from its own commits (api_channel_states_apply) and, for
 * other instances' commits, by reading them all again when told
 * (api_channel_states_reload).
 */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../authz/authz.h"
#include "../channels/channel.h"
#include "../http/http.h"
#include "../log/log.h"
#include "../store/store.h"
#include "../util/qr.h"
#include "../util/util.h"

json_t *
api_channel_connection(const struct channel *ch)
{
	char at[21];

	if (ch->conn_at > 0)
		fmt_rfc3339(ch->conn_at / 1000, at);
	return json_pack("{s:s,s:s?,s:s?}", "state", channel_conn_name(ch->conn),
	    "reason", ch->conn_reason, "since", ch->conn_at > 0 ? at : NULL);
}

static void
set_conn(struct channel *ch, enum channel_conn st, const char *reason, int64_t at)
{
	ch->conn = st;
	free(ch->conn_reason);
	ch->conn_reason = reason ? xstrdup(reason) : NULL;
	ch->conn_at = at;
}

void
api_channel_states_apply(struct app *app, const struct ingest_batch *b)
{
	for (size_t i = 0; i < b->nstates; i++) {
		const struct state_in *s = &b->states[i];
		struct channel *ch = s->applied ? registry_find_id(app->reg, s->channel_id) : NULL;
		if (ch)
			set_conn(ch, s->state, s->reason, now_ms());
	}
}

/* --- other instances' states: read them all again --- */

struct states_read {
	struct store_read rd;
	struct app *app;
	json_t *rows;
};

static void
states_run(struct store *st, void *arg)
{
	struct states_read *r = arg;
	if (store_channel_states(st, &r->rows) != 0)
		r->rows = NULL;
}

void
api_channel_states_set(struct app *app, const json_t *rows)
{
	size_t i;
	json_t *row;

	json_array_foreach(rows, i, row) {
		struct channel *ch = registry_find_id(app->reg,
		    json_integer_value(json_object_get(row, "channel_id")));
		if (ch)
			set_conn(ch, channel_conn_parse(json_string_value(json_object_get(row, "state"))),
			    json_string_value(json_object_get(row, "reason")),
			    json_integer_value(json_object_get(row, "at")));
	}
}

static void
states_done(void *arg)
{
	struct states_read *r = arg;

	api_channel_states_set(r->app, r->rows);
	json_decref(r->rows);
	free(r);
}

void
api_channel_states_reload(struct app *app)
{
	struct states_read *r;

	if (app->store == NULL)
		return;
	r = xcalloc(1, sizeof(*r));
	r->app = app;
	r->rd = (struct store_read){ .run = states_run, .done = states_done, .arg = r };
	store_read_submit(app->store, &r->rd);
}

/* --- GET /v1/channel-types --- */

void
api_channel_types(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	json_t *arr = json_array();

	(void)app;
	(void)who;
	(void)p;
	for (size_t i = 0; channel_types[i]; i++)
		json_array_append_new(arr, channel_type_describe(channel_types[i]));
	http_reply_json(req, 200, json_pack("{s:o}", "channel_types", arr));
}

/* --- actions --- */

static void
action(struct app *app, struct http_request *req, const struct principal *who, const char *name,
    bool connect)
{
	struct channel *ch = api_channel_or_404(app, req, who, name);
	struct channel_error err = { 0 };
	int (*fn)(struct channel *, struct channel_error *);

	if (ch == NULL)
		return;
	fn = connect ? ch->ops->connect : ch->ops->disconnect;
	if (fn == NULL) {
		http_reply_error(req, 422, "unsupported_by_channel", connect ? "connect" : "disconnect",
		    "a %s channel has no %s action", ch->ops->type, connect ? "connect" : "disconnect");
		return;
	}
	if (fn(ch, &err) != 0) {
		http_reply_error(req, 422, "action_failed", err.field[0] ? err.field : NULL, "%s",
		    err.message[0] ? err.message : "the action could not start");
		return;
	}
	api_audit(app, who, who->org_id, connect ? "channel.connect" : "channel.disconnect",
	    json_pack("{s:I,s:s}", "id", (json_int_t)ch->id, "name", ch->name), NULL, NULL);
	/* The outcome arrives later, as channel.state events. */
	http_reply_json(req, 202, json_pack("{s:s,s:o}", "channel", ch->name, "connection",
	    api_channel_connection(ch)));
}

void
api_channels_connect(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	action(app, req, who, p[0], true);
}

void
api_channels_disconnect(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	action(app, req, who, p[0], false);
}

/* --- GET /v1/channels/{name}/qr[?format=json|png|svg] --- */

enum qr_format { QR_JSON, QR_PNG, QR_SVG };

#define QR_SCALE_DEFAULT 8   /* PNG pixels per module */

struct qr_read {
	int64_t org, channel_id;
	enum qr_format format;
	int scale;
};

static void
qr_run(struct store *st, void *arg, struct api_reply *out)
{
	struct qr_read *q = arg;
	json_t *row = NULL;

	if (store_channel_qr(st, q->org, q->channel_id, &row) != 0)
		return;  /* status 0: storage error */
	const char *qr = json_string_value(json_object_get(row, "qr"));
	if (qr == NULL) {
		api_reply_fail(out, 404, "no_qr", NULL, "the channel has no QR code to scan%s",
		    row ? "" : " (connect it first)");
		json_decref(row);
		return;
	}
	if (q->format == QR_JSON) {
		out->status = 200;
		out->json = row;
		return;
	}
	/* Rendered here, on the pool thread (a few ms of CPU). */
	int rc = q->format == QR_PNG ?
	    qr_render_png(qr, q->scale, (unsigned char **)&out->raw, &out->rawlen) :
	    qr_render_svg(qr, &out->raw, &out->rawlen);
	json_decref(row);
	if (rc != 0) {
		api_reply_fail(out, 422, "invalid_qr", NULL, "the provider's QR code cannot be rendered");
		return;
	}
	out->status = 200;
	out->content_type = q->format == QR_PNG ? "image/png" : "image/svg+xml";
}

void
api_channels_qr(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	struct channel *ch = api_channel_or_404(app, req, who, p[0]);
	const char *f = http_query(req, "format");
	struct qr_read *q;

	if (ch == NULL)
		return;
	if (ch->ops->caps == NULL || !ch->ops->caps->pairing) {
		http_reply_error(req, 422, "unsupported_by_channel", "pairing",
		    "a %s channel does not pair with a QR code", ch->ops->type);
		return;
	}
	q = xcalloc(1, sizeof(*q));
	q->org = who->org_id;
	q->channel_id = ch->id;
	q->scale = QR_SCALE_DEFAULT;
	const char *sc = http_query(req, "scale");
	int64_t s;
	if (sc && (parse_i64(sc, &s) != 0 || s < QR_SCALE_MIN || s > QR_SCALE_MAX)) {
		free(q);
		http_reply_error(req, 400, "invalid_parameter", "scale", "scale must be %d to %d",
		    QR_SCALE_MIN, QR_SCALE_MAX);
		return;
	}
	if (sc)
		q->scale = (int)s;
	if (f == NULL || strcmp(f, "json") == 0) {
		q->format = QR_JSON;
	} else if (strcmp(f, "png") == 0) {
		q->format = QR_PNG;
	} else if (strcmp(f, "svg") == 0) {
		q->format = QR_SVG;
	} else {
		free(q);
		http_reply_error(req, 400, "invalid_parameter", "format", "format must be json, png or svg");
		return;
	}
	api_read_async(app, req, qr_run, q, free);
}
