/*
 * api_templates.c - /v1/templates: local templates (a name, a language and a
 * body with {{placeholders}}) that msgd renders itself when a send names
 * one (api_template.c renders; api_send.c's send path reads them).
 */
#include "api.h"
#include "api_send.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../authz/authz.h"
#include "../http/http.h"
#include "../store/store.h"
#include "../util/util.h"

#define TEMPLATE_BODY_MAX 4096
#define TEMPLATE_NAME_MAX 64
#define TEMPLATE_LANGUAGE_MAX 16

struct tpl_write {
	struct store_op op;
	struct app *app;
	struct http_request *req;
	struct principal who;       /* for the audit trail */
	char *name, *language, *body;
};

static void
tpl_free(struct tpl_write *t)
{
	free(t->name);
	free(t->language);
	free(t->body);
	free(t);
}

/* The template as stored (after its commit), or one asked for by name. */
struct tpl_read {
	int64_t org;
	char name[TEMPLATE_NAME_MAX + 1];
	char language[TEMPLATE_LANGUAGE_MAX + 1];
	bool any_language;
	int status;                 /* on success */
};

static void
run_template_get(struct store *st, void *arg, struct api_reply *out)
{
	struct tpl_read *r = arg;
	json_t *v = NULL;

	if (store_template_get(st, r->org, r->name, r->any_language ? NULL : r->language, &v) != 0)
		return;  /* status 0: storage error */
	if (v == NULL && r->status == 200) {
		api_reply_fail(out, 404, "not_found", NULL, "no template named '%.64s'", r->name);
		return;
	}
	if (v == NULL)
		return;  /* just committed, yet not there: storage error */
	out->status = r->status;
	out->json = v;
}

static void
tpl_created(struct store_op *op, void *arg)
{
	struct tpl_write *t = arg;

	if (op->result != 0 && op->err == STORE_CONFLICT) {
		http_reply_error(t->req, 409, "conflict", "name", "template '%s' (%s) exists", t->name, t->language);
	} else if (op->result != 0) {
		api_store_error(t->req);
	} else {
		api_audit(t->app, &t->who, op->org_id, "template.created", json_pack("{s:s, s:s}", "name",
		    t->name, "language", t->language), NULL, json_pack("{s:s}", "body", t->body));
		struct tpl_read *r = xcalloc(1, sizeof(*r));
		r->org = op->org_id;
		snprintf(r->name, sizeof(r->name), "%s", t->name);
		snprintf(r->language, sizeof(r->language), "%s", t->language);
		r->status = 201;
		api_read_async(t->app, t->req, run_template_get, r, free);
	}
	tpl_free(t);
}

void
api_templates_create(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	static const char *const allowed[] = { "name", "language", "body", NULL };
	struct send_error e = { 0 };
	const char *name, *lang, *body;
	json_t *in = api_body_object(req);
	if (in == NULL)
		return;
	if (check_keys(in, allowed, "", &e) != 0 || opt_str(in, "name", "name", TEMPLATE_NAME_MAX, &name, &e) != 0 ||
	    opt_str(in, "language", "language", TEMPLATE_LANGUAGE_MAX, &lang, &e) != 0 ||
	    opt_str(in, "body", "body", TEMPLATE_BODY_MAX, &body, &e) != 0)
		goto invalid;
	if (name == NULL) {
		send_fail(&e, "validation_failed", "name", "'name' is required");
		goto invalid;
	}
	for (const char *c = name; *c; c++) {
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		    *c == '_' || *c == '-' || *c == '.')) {
			send_fail(&e, "validation_failed", "name", "'name' may contain letters, digits, '_', '-' and '.'");
			goto invalid;
		}
	}
	if (body == NULL) {
		send_fail(&e, "validation_failed", "body", "'body' is required");
		goto invalid;
	}
	if (!api_template_body_ok(body)) {
		send_fail(&e, "validation_failed", "body", "'body' has an unterminated or invalid {{placeholder}}");
		goto invalid;
	}
	struct tpl_write *t = xcalloc(1, sizeof(*t));
	t->app = app;
	t->req = req;
	t->name = xstrdup(name);
	t->language = xstrdup(lang ? lang : "en");
	t->body = xstrdup(body);
	t->who = *who;
	json_decref(in);
	t->op = (struct store_op){
		.kind = STORE_OP_TEMPLATE_PUT,
		.org_id = who->org_id,
		.u.template = { .name = t->name, .language = t->language, .body = t->body },
		.done = tpl_created,
		.arg = t,
	};
	http_defer(req);
	store_submit(app->store, &t->op);
	return;
invalid:
	json_decref(in);
	reply_send_error(req, &e);
}

static void
run_templates_list(struct store *st, void *arg, struct api_reply *out)
{
	const int64_t *org = arg;
	json_t *v = NULL;

	if (store_templates_list(st, *org, &v) == 0 && v) {
		out->status = 200;
		out->json = v;
	}
}

void
api_templates_list(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	int64_t *org = xcalloc(1, sizeof(*org));
	*org = who->org_id;
	api_read_async(app, req, run_templates_list, org, free);
}

void
api_templates_get(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	const char *lang = http_query(req, "language");

	/* Longer than any stored one: there is no such template. */
	if (strlen(p[0]) > TEMPLATE_NAME_MAX || (lang && strlen(lang) > TEMPLATE_LANGUAGE_MAX)) {
		http_reply_error(req, 404, "not_found", NULL, "no template named '%.64s'", p[0]);
		return;
	}
	struct tpl_read *r = xcalloc(1, sizeof(*r));
	r->org = who->org_id;
	snprintf(r->name, sizeof(r->name), "%s", p[0]);
	snprintf(r->language, sizeof(r->language), "%s", lang ? lang : "");
	r->any_language = lang == NULL;
	r->status = 200;
	api_read_async(app, req, run_template_get, r, free);
}

static void
tpl_deleted(struct store_op *op, void *arg)
{
	struct tpl_write *t = arg;

	if (op->result == 0) {
		api_audit(t->app, &t->who, op->org_id, "template.deleted", json_pack("{s:s}", "name", t->name),
		    NULL, NULL);
		http_reply_raw(t->req, 204, "application/json", "", 0);
	}
	else if (op->err == STORE_NOTFOUND)
		http_reply_error(t->req, 404, "not_found", NULL, "no template named '%s'", t->name);
	else
		api_store_error(t->req);
	tpl_free(t);
}

void
api_templates_delete(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	struct tpl_write *t = xcalloc(1, sizeof(*t));
	t->app = app;
	t->req = req;
	t->name = xstrdup(p[0]);
	t->who = *who;
	t->op = (struct store_op){
		.kind = STORE_OP_TEMPLATE_DELETE,
		.org_id = who->org_id,
		.u.template = { .name = t->name },
		.done = tpl_deleted,
		.arg = t,
	};
	http_defer(req);
	store_submit(app->store, &t->op);
}
