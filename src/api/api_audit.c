/*
 * api_audit.c - the audit trail: every change of channels, templates,
 * users, keys, event webhooks and the organization's settings appends an
 * audit.* event (who, what, before and after, never a secret) to the
 * organization's log, right after the change commits (its own op: a crash
 * between the two loses the record, never the change). Audit events are
 * not streamed nor delivered to event webhooks, and GET /v1/events leaves
 * them out; owners and admins read them with GET /v1/audit.
 */
#include "api.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../http/http.h"
#include "../log/log.h"
#include "../store/store.h"
#include "../util/util.h"

#define AUDIT_TYPE_MAX 64

struct audit {
	struct store_op op;
	char type[AUDIT_TYPE_MAX];
	char *data;
};

static void
audit_done(struct store_op *op, void *arg)
{
	struct audit *a = arg;

	if (op->result != 0)
		log_error("cannot append an audit event", "type", a->type, "error", op->errmsg);
	free(a->data);
	free(a);
}

void
api_audit(struct app *app, const struct principal *who, int64_t org, const char *what,
    json_t *target, json_t *before, json_t *after)
{
	static const char *const kinds[] = {
		[PRINCIPAL_ADMIN] = "admin", [PRINCIPAL_USER] = "user", [PRINCIPAL_KEY] = "key",
	};
	json_t *j = json_pack("{s:{s:s, s:s}, s:o, s:o, s:o}",
	    "actor", "kind", who ? kinds[who->kind] : "system", "subject", who ? who->subject : "msgd",
	    "target", target ? target : json_null(), "before", before ? before : json_null(),
	    "after", after ? after : json_null());

	if (app->store == NULL || j == NULL) {
		json_decref(j);
		return;
	}
	struct audit *a = xcalloc(1, sizeof(*a));
	snprintf(a->type, sizeof(a->type), "audit.%s", what);
	a->data = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	a->op = (struct store_op){
		.kind = STORE_OP_AUDIT,
		.org_id = org,
		.u.audit = { .type = a->type, .data_json = a->data },
		.done = audit_done,
		.arg = a,
	};
	store_submit(app->store, &a->op);
}

struct audit_read {
	int64_t org, since;
	int limit;
};

static void
run_audit(struct store *st, void *arg, struct api_reply *out)
{
	struct audit_read *r = arg;
	struct store_event *ev;
	size_t n;

	if (store_audit_read(st, r->org, r->since, r->limit, &ev, &n) == 0)
		api_events_page(ev, n, r->since, out);
	/* else status 0: storage error */
}

void
api_audit_list(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	int64_t since;
	int limit;

	if (api_query_number(req, "since", 0, INT64_MAX, 0, &since) != 0 ||
	    (limit = api_limit(req, 100, 1000)) < 0)
		return;
	struct audit_read *r = xcalloc(1, sizeof(*r));
	r->org = who->org_id;
	r->since = since;
	r->limit = limit;
	api_read_async(app, req, run_audit, r, free);
}
