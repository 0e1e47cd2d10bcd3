/*
 * api_async.c - a request's reads on the store's reader pool, so that no
 * HTTP request waits for the database on the event loop.
 *
 * The pattern: the handler parses and validates on the loop (and resolves
 * what the loop owns: channel names to ids, ...), copies what the read
 * needs into a context of its own, and calls api_read_async(). The request
 * is deferred; fn() runs on a reader thread, calls the store's read
 * functions and fills a struct api_reply (the JSON is serialized there
 * too, off the loop); then, on the loop, the reply goes out and the
 * context is freed. A deferred request stays valid until it is replied to
 * (http.c: MHD does not look at a suspended connection, so a client that
 * went away is noticed only after the reply), which is what makes the
 * reply in done() safe.
 */
#include "api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "../http/http.h"
#include "../store/store.h"
#include "../util/util.h"

struct api_async {
	struct store_read rd;
	struct app *app;
	struct http_request *req;
	api_read_fn fn;
	void *ctx;
	void (*free_ctx)(void *ctx);
	struct api_reply out;
	char *body;                /* out.json serialized on the reader thread */
	size_t len;
};

static void
async_run(struct store *st, void *arg)
{
	struct api_async *a = arg;

	a->fn(st, a->ctx, &a->out);
	if (a->out.status > 0 && a->out.code[0] == '\0' && a->out.json) {
		a->body = json_encode(a->out.json, &a->len);
		json_decref(a->out.json);
		a->out.json = NULL;
	}
}

static void
async_done(void *arg)
{
	struct api_async *a = arg;
	struct api_reply *o = &a->out;

	if (o->status <= 0)
		api_store_error(a->req);
	else if (o->code[0])
		http_reply_error(a->req, o->status, o->code, o->field[0] ? o->field : NULL, "%s",
		    o->message);
	else if (a->body)
		http_reply_raw(a->req, o->status, "application/json", a->body, a->len);
	else if (o->raw && o->content_type) {
		/* An image made for this caller (a pairing QR code): never kept. */
		http_reply_raw(a->req, o->status, o->content_type, o->raw, o->rawlen);
		http_reply_header(a->req, "Cache-Control", "no-store");
	} else if (o->raw)
		http_reply_raw(a->req, o->status, "application/json", o->raw, o->rawlen);
	else
		api_store_error(a->req);  /* json_encode failed */
	json_decref(o->json);
	free(o->raw);
	free(a->body);
	if (a->free_ctx)
		a->free_ctx(a->ctx);
	free(a);
}

void
api_read_async(struct app *app, struct http_request *req, api_read_fn fn, void *ctx,
    void (*free_ctx)(void *ctx))
{
	struct api_async *a = xcalloc(1, sizeof(*a));

	a->app = app;
	a->req = req;
	a->fn = fn;
	a->ctx = ctx;
	a->free_ctx = free_ctx;
	a->rd = (struct store_read){ .run = async_run, .done = async_done, .arg = a };
	/* Without a pool (closing) the read runs inline and replies before
	 * this returns: http.c sends that reply as an immediate one. */
	http_defer(req);
	store_read_submit(app->store, &a->rd);
}

void
api_reply_read(struct api_reply *out, int rc, json_t *v, const char *what)
{
	if (rc != 0) {
		json_decref(v);
		out->status = 0;
	} else if (v == NULL) {
		api_reply_fail(out, 404, "not_found", NULL, "no such %s", what);
	} else {
		out->status = 200;
		out->json = v;
	}
}

void
api_reply_fail(struct api_reply *out, int status, const char *code, const char *field,
    const char *fmt, ...)
{
	va_list ap;

	out->status = status;
	snprintf(out->code, sizeof(out->code), "%s", code);
	snprintf(out->field, sizeof(out->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(out->message, sizeof(out->message), fmt, ap);
	va_end(ap);
}
