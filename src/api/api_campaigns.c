/*
 * api_campaigns.c - /v1/campaigns (issue 14): create a campaign from a list
 * of recipients (validated once, before anything is stored), read one, a
 * page of them, a page of a campaign's recipients, and pause, resume or
 * cancel one. src/campaign/ makes the messages after the 202.
 */
#include "api.h"
#include "api_send.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../campaign/campaign_int.h"
#include "../channels/channel.h"
#include "../http/http.h"
#include "../outbox/outbox.h"
#include "../store/store.h"
#include "../util/util.h"

#define CAMPAIGNS_PAGE_MAX 200
#define RECIPIENTS_PAGE_MAX 1000
#define CAMPAIGN_VARS_MAX 64      /* variables in a mapping */

struct ccreate {
	struct store_op op;
	struct store_read rd;
	struct app *app;
	struct http_request *req;
	int64_t org;
	json_t *body;                 /* the request (owns the recipients) */
	int64_t channel_id;
	char *name;
	const char *tpl_name, *tpl_lang;  /* into body */
	json_t *local;                /* the local template read, or NULL */
	int64_t import_id;            /* recipients from this import (0: "recipients") */
	json_t *import, *first_row;   /* the import read, and its first valid row */
	const char *tpl_lang_default; /* the channel type's template language, or NULL */
	bool synced_templates;        /* the channel syncs its provider's approved templates */
	struct channel_template approved;  /* the one named, when there is no local one */
	int read_rc;
	json_t *content;
	char *source_s, *content_s, *quiet_s;
	int64_t scheduled_at, rate, total;
};

static void
ccreate_free(struct ccreate *c)
{
	json_decref(c->body);
	json_decref(c->local);
	json_decref(c->import);
	json_decref(c->first_row);
	json_decref(c->content);
	free(c->name);
	free(c->source_s);
	free(c->content_s);
	free(c->quiet_s);
	free(c);
}

struct cread {
	int64_t org, id, after, before;
	int limit;
	int status;                   /* the reply's on success */
	char only[16];                /* recipients of this status ("": all) */
};

static void
run_campaign_get(struct store *st, void *arg, struct api_reply *out)
{
	struct cread *r = arg;
	json_t *v = NULL;
	int rc = store_campaign_get(st, r->org, r->id, &v);

	api_reply_read(out, rc, v, "campaign");
	if (rc == 0 && v)
		out->status = r->status;
}

static void
reply_campaign(struct app *app, struct http_request *req, int64_t org, int64_t id, int status)
{
	struct cread *r = xcalloc(1, sizeof(*r));

	r->org = org;
	r->id = id;
	r->status = status;
	api_read_async(app, req, run_campaign_get, r, free);
}

/* The {{placeholders}} of a body, each once (at most CAMPAIGN_VARS_MAX). */
static json_t *
placeholders(const char *body)
{
	json_t *names = json_object();

	for (const char *o = strstr(body, "{{"); o; o = strstr(o + 2, "{{")) {
		const char *c = strstr(o + 2, "}}");
		if (c == NULL)
			break;
		const char *a = o + 2, *b = c;
		while (a < b && *a == ' ')
			a++;
		while (b > a && b[-1] == ' ')
			b--;
		if (b > a && json_object_size(names) < CAMPAIGN_VARS_MAX) {
			char *k = xstrndup(a, (size_t)(b - a));
			json_object_set_new(names, k, json_true());
			free(k);
		}
	}
	return names;
}

/* recipients: 1..CAMPAIGN_RECIPIENTS_MAX objects {"to", "variables"?}. */
static int
check_recipients(const json_t *list, struct send_error *e)
{
	static const char *const rk[] = { "to", "variables", NULL };
	size_t i, n = json_array_size(list);
	json_t *item;

	if (!json_is_array(list) || n == 0 || n > CAMPAIGN_RECIPIENTS_MAX)
		return send_fail(e, "validation_failed", "recipients",
		    "'recipients' must be an array of 1 to %d recipients", CAMPAIGN_RECIPIENTS_MAX);
	json_array_foreach(list, i, item) {
		char field[48];
		snprintf(field, sizeof(field), "recipients[%zu]", i);
		if (!json_is_object(item))
			return send_fail(e, "validation_failed", field, "a recipient must be {\"to\",\"variables\"}");
		if (check_keys(item, rk, "recipients[].", e) != 0)
			return -1;
		json_t *to = json_object_get(item, "to"), *vars = json_object_get(item, "variables");
		if (!json_is_string(to) || json_string_length(to) == 0 || json_string_length(to) > 256)
			return send_fail(e, "validation_failed", field, "'%s.to' must be a non-empty string", field);
		if (vars && !json_is_null(vars)) {
			const char *k;
			json_t *v;
			if (!json_is_object(vars) || json_object_size(vars) > CAMPAIGN_VARS_MAX)
				return send_fail(e, "validation_failed", field,
				    "'%s.variables' must be an object of at most %d strings or numbers", field,
				    CAMPAIGN_VARS_MAX);
			json_object_foreach(vars, k, v)
				if (!json_is_string(v) && !json_is_number(v))
					return send_fail(e, "validation_failed", field,
					    "'%s.variables.%.32s' must be a string or a number", field, k);
		}
	}
	return 0;
}

/* variables: {"name": "column" | {"value": literal}}. */
static int
check_mapping(const json_t *map, struct send_error *e)
{
	const char *k;
	json_t *v;

	if (map == NULL)
		return 0;
	if (!json_is_object(map) || json_object_size(map) > CAMPAIGN_VARS_MAX)
		return send_fail(e, "validation_failed", "variables", "'variables' must be an object of at "
		    "most %d mappings", CAMPAIGN_VARS_MAX);
	json_object_foreach((json_t *)map, k, v) {
		json_t *lit = json_object_get(v, "value");
		if (json_is_string(v) && json_string_length(v) > 0)
			continue;
		if (json_is_object(v) && json_object_size(v) == 1 && (json_is_string(lit) || json_is_number(lit)))
			continue;
		return send_fail(e, "validation_failed", "variables", "'variables.%.32s' must be a column name "
		    "or {\"value\": literal}", k);
	}
	return 0;
}

static void
created_done(struct store_op *op, void *arg)
{
	struct ccreate *c = arg;

	if (op->result != 0) {
		api_op_error(c->req, op);
		ccreate_free(c);
		return;
	}
	json_t *row = json_pack("{s:I,s:I,s:I,s:o,s:O,s:I,s:I,s:I,s:I,s:I,s:I}",
	    "id", (json_int_t)op->u.campaign.id, "org_id", (json_int_t)c->org,
	    "channel_id", (json_int_t)c->channel_id,
	    "source", c->import_id ? json_pack("{s:I}", "import_id", (json_int_t)c->import_id) :
	    json_pack("{s:O}", "recipients", json_object_get(c->body, "recipients")),
	    "content", c->content, "created", (json_int_t)0, "cursor", (json_int_t)0,
	    "total", (json_int_t)c->total,
	    "scheduled_at", (json_int_t)c->scheduled_at, "rate", (json_int_t)c->rate,
	    "created_at", (json_int_t)op->u.campaign.created_at);
	json_t *q = json_object_get(c->body, "quiet_hours");
	if (q)
		json_object_set(row, "quiet_hours", q);
	campaigns_created(c->app, row);
	json_decref(row);
	reply_campaign(c->app, c->req, c->org, op->u.campaign.id, 202);
	ccreate_free(c);
}

/* Validation that needs the local template (read on the pool), then the row. */
static void
create_finish(struct ccreate *c)
{
	struct send_error e = { 0 };
	json_t *body = c->body, *tpl = json_object_get(body, "template");
	json_t *map = json_object_get(body, "variables");
	struct channel *ch = registry_find_id(c->app->reg, c->channel_id);

	if (ch == NULL) {
		send_fail(&e, "validation_failed", "channel", "the channel was deleted meanwhile");
		goto invalid;
	}
	if (c->read_rc != 0) {
		api_store_error(c->req);
		ccreate_free(c);
		return;
	}
	if (c->import_id) {
		const char *st = json_string_value(json_object_get(c->import, "status"));
		if (c->import == NULL) {
			send_fail(&e, "import_not_found", "import_id", "no import %" PRId64, c->import_id);
			goto invalid;
		}
		if (st == NULL || strcmp(st, "validated") != 0) {
			send_fail(&e, "import_not_validated", "import_id", "import %" PRId64 " is %s: a campaign "
			    "takes a validated import", c->import_id, st ? st : "not ready");
			goto invalid;
		}
		c->total = json_integer_value(json_object_get(json_object_get(c->import, "counts"), "valid"));
		if (c->total <= 0 || c->first_row == NULL) {
			send_fail(&e, "validation_failed", "import_id", "import %" PRId64 " has no valid row",
			    c->import_id);
			goto invalid;
		}
		if (c->total > CAMPAIGN_RECIPIENTS_MAX) {
			send_fail(&e, "validation_failed", "import_id", "a campaign takes at most %d recipients",
			    CAMPAIGN_RECIPIENTS_MAX);
			goto invalid;
		}
	}
	if (tpl == NULL) {
		c->content = json_pack("{s:O}", "text", json_object_get(body, "text"));
	} else if (c->local) {
		const char *lbody = json_string_value(json_object_get(c->local, "body"));
		json_t *names = placeholders(lbody ? lbody : ""), *v;
		const char *k;
		json_object_foreach(names, k, v) {
			if (json_object_get(map, k) == NULL) {
				send_fail(&e, "unmapped_variable", "variables", "template '%.64s' needs '{{%.64s}}': "
				    "map it in 'variables'", c->tpl_name, k);
				json_decref(names);
				goto invalid;
			}
		}
		json_decref(names);
		c->content = json_pack("{s:{s:s,s:O},s:s,s:O}", "template", "name", c->tpl_name,
		    "language", json_object_get(c->local, "language"), "local_body", lbody ? lbody : "",
		    "variables", map ? map : json_object());
	} else {
		const struct channel_caps *caps = ch->ops->caps;
		if (!(caps && caps->templates)) {
			send_fail(&e, "unsupported_by_channel", "template", "a %s channel has no provider "
			    "templates, and this organization has no local template '%.64s'", ch->ops->type,
			    c->tpl_name);
			goto invalid;
		}
		if (c->tpl_lang == NULL && caps->template_language == NULL) {
			send_fail(&e, "validation_failed", "template.language", "'template.language' is required");
			goto invalid;
		}
		/* Provider templates number their variables, {{1}}..{{n}}, every one
		 * mapped, or name them ({{first_name}}: mapped by name). */
		size_t n = map ? json_object_size(map) : 0;
		/* The approved templates synced from the provider (when synced at all). */
		if (c->approved.synced && (!c->approved.found || !c->approved.approved)) {
			send_fail(&e, "template_not_approved", "template.name", "channel '%s' has no approved "
			    "template '%.64s' in language '%.16s'", ch->name, c->tpl_name,
			    c->tpl_lang ? c->tpl_lang : caps->template_language ? caps->template_language : "");
			goto invalid;
		}
		if (c->approved.synced && (int64_t)n < c->approved.params) {
			send_fail(&e, "template_params_missing", "variables", "template '%.64s' needs %lld "
			    "variables, %zu mapped", c->tpl_name, (long long)c->approved.params, n);
			goto invalid;
		}
		for (size_t i = 1; i <= n && !campaign_vars_named(map); i++) {
			char key[24];
			snprintf(key, sizeof(key), "%zu", i);
			if (json_object_get(map, key) == NULL) {
				send_fail(&e, "unmapped_variable", "variables", "a provider template's variables are "
				    "numbered 1..%zu: '%s' is not mapped", n, key);
				goto invalid;
			}
		}
		c->content = json_pack("{s:{s:s,s:s},s:O}", "template", "name", c->tpl_name, "language",
		    c->tpl_lang ? c->tpl_lang : caps->template_language, "variables", map ? map : json_object());
	}
	/* The first recipient as the adapter would get it: what the channel
	 * cannot send is refused now, not once per recipient. */
	json_t *first = c->first_row ? c->first_row : json_incref(json_array_get(json_object_get(body,
	    "recipients"), 0));
	char addr[CAMPAIGN_ADDR_MAX + 1];
	if (campaign_address(first, ch->ops->address_normalize, addr, sizeof(addr)) == 0) {
		struct msg_in m = { .channel_id = ch->id, .direction = DIR_OUT, .priority = 1 };
		m.parts = json_object();
		char *type = NULL, *text = NULL;
		int r = 0;
		if (campaign_fill(c->content, json_object_get(first, "variables"), m.parts, &type, &text) == 0) {
			m.to = xstrdup(addr);
			m.type = type;
			m.text = text;
			r = api_send_dry_run(ch, &m, &e);
		} else if (c->import_id) {
			/* An import's rows all have the same variables: none would be sent. */
			r = send_fail(&e, "unmapped_variable", tpl ? "variables" : "text", "the import's rows "
			    "have no variable for a {{placeholder}} of the %s", tpl ? "template" : "text");
		}
		msg_in_clear(&m);
		if (r != 0) {
			if (!c->first_row)
				json_decref(first);
			goto invalid;
		}
	}
	if (!c->first_row)
		json_decref(first);
	c->content_s = json_encode(c->content, NULL);
	json_t *src = c->import_id ? json_pack("{s:I}", "import_id", (json_int_t)c->import_id) :
	    json_pack("{s:O}", "recipients", json_object_get(body, "recipients"));
	c->source_s = json_encode(src, NULL);
	json_decref(src);
	if (json_object_get(body, "quiet_hours") && !json_is_null(json_object_get(body, "quiet_hours")))
		c->quiet_s = json_encode(json_object_get(body, "quiet_hours"), NULL);
	if (c->content_s == NULL || c->source_s == NULL) {
		send_fail(&e, "validation_failed", "body", "the campaign is not valid UTF-8");
		goto invalid;
	}
	c->op = (struct store_op){
		.kind = STORE_OP_CAMPAIGN_CREATE,
		.org_id = c->org,
		.u.campaign = { .name = c->name, .channel_id = c->channel_id, .source_json = c->source_s,
		    .content_json = c->content_s, .scheduled_at = c->scheduled_at, .rate = c->rate,
		    .quiet_json = c->quiet_s, .total = c->total },
		.done = created_done,
		.arg = c,
	};
	store_submit(c->app->store, &c->op);
	return;
invalid:
	reply_send_error(c->req, &e);
	ccreate_free(c);
}

static void
reads_run(struct store *st, void *arg)
{
	struct ccreate *c = arg;

	if (c->tpl_name)
		c->read_rc = store_template_get(st, c->org, c->tpl_name, c->tpl_lang, &c->local);
	const char *lang = c->tpl_lang ? c->tpl_lang : c->tpl_lang_default;
	if (c->read_rc == 0 && c->tpl_name && c->local == NULL && c->synced_templates && lang)
		c->read_rc = store_channel_template_get(st, c->channel_id, c->tpl_name, lang, &c->approved);
	if (c->read_rc == 0 && c->import_id) {
		json_t *page = NULL;
		c->read_rc = store_import_get(st, c->org, c->import_id, &c->import);
		if (c->read_rc == 0 && c->import)
			c->read_rc = store_import_rows_page(st, c->org, c->import_id, 0, 1, &page);
		if (page && json_array_size(page) == 1) {
			json_t *row = json_array_get(page, 0);
			c->first_row = json_pack("{s:O,s:O}", "to", json_object_get(row, "phone"), "variables",
			    json_object_get(row, "data"));
		}
		json_decref(page);
	}
}

static void
reads_done(void *arg)
{
	create_finish(arg);
}

void
api_campaigns_create(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	static const char *const allowed[] = { "name", "channel", "recipients", "import_id", "template",
		"variables", "text", "scheduled_at", "rate", "quiet_hours", NULL };
	static const char *const tk[] = { "name", "language", NULL };
	struct send_error e = { 0 };
	const char *name, *chname, *text, *sched;
	struct quiet_hours q;
	char why[160];
	json_t *in = api_body_object(req);

	if (in == NULL)
		return;
	if (check_keys(in, allowed, "", &e) != 0 ||
	    opt_str(in, "name", "name", CAMPAIGN_NAME_MAX, &name, &e) != 0 ||
	    opt_str(in, "channel", "channel", 64, &chname, &e) != 0 ||
	    opt_str(in, "text", "text", TEXT_MAX_CHARS * 4, &text, &e) != 0 ||
	    opt_str(in, "scheduled_at", "scheduled_at", 64, &sched, &e) != 0)
		goto invalid;
	if (name == NULL) {
		send_fail(&e, "validation_failed", "name", "'name' is required");
		goto invalid;
	}
	struct channel *ch = chname ? registry_find_name(app->reg, who->org_id, chname) : NULL;
	if (ch == NULL) {
		send_fail(&e, "validation_failed", "channel", chname ? "no channel named '%.64s'" :
		    "'channel' is required%.0s", chname ? chname : "");
		goto invalid;
	}
	if (!ch->ops->send_local && !ch->ops->send_prepare) {
		send_fail(&e, "validation_failed", "channel", "channel '%s' cannot send", ch->name);
		goto invalid;
	}
	json_t *imp = json_object_get(in, "import_id");
	if ((imp == NULL) == (json_object_get(in, "recipients") == NULL)) {
		send_fail(&e, "validation_failed", "recipients", "give exactly one of 'recipients' and 'import_id'");
		goto invalid;
	}
	if (imp && (!json_is_integer(imp) || json_integer_value(imp) < 1)) {
		send_fail(&e, "validation_failed", "import_id", "'import_id' must be an import's id");
		goto invalid;
	}
	if (imp == NULL && check_recipients(json_object_get(in, "recipients"), &e) != 0)
		goto invalid;
	json_t *tpl = json_object_get(in, "template");
	if ((tpl == NULL) == (text == NULL)) {
		send_fail(&e, "validation_failed", "text", "give exactly one of 'text' and 'template'");
		goto invalid;
	}
	if (text && !api_template_body_ok(text)) {
		send_fail(&e, "validation_failed", "text", "'text' has an unterminated or invalid {{placeholder}}");
		goto invalid;
	}
	if (text && json_object_get(in, "variables")) {
		send_fail(&e, "validation_failed", "variables", "'variables' maps a template's variables: a "
		    "text's {{placeholders}} are the recipients' own");
		goto invalid;
	}
	const char *tname = NULL, *tlang = NULL;
	if (tpl && (!json_is_object(tpl) || check_keys(tpl, tk, "template.", &e) != 0 ||
	    opt_str(tpl, "name", "template.name", 512, &tname, &e) != 0 ||
	    opt_str(tpl, "language", "template.language", 16, &tlang, &e) != 0 || tname == NULL)) {
		if (e.code[0] == '\0')
			send_fail(&e, "validation_failed", "template", "'template' must be {\"name\",\"language\"?}");
		goto invalid;
	}
	if (check_mapping(json_object_get(in, "variables"), &e) != 0)
		goto invalid;
	int64_t at = 0, rate = 0;
	if (sched) {
		if (parse_rfc3339(sched, &at) != 0) {
			send_fail(&e, "validation_failed", "scheduled_at", "'scheduled_at' must be an RFC 3339 time");
			goto invalid;
		}
		at *= 1000;
	}
	json_t *rv = json_object_get(in, "rate");
	if (rv && !json_is_null(rv)) {
		if (!json_is_integer(rv) || json_integer_value(rv) < 1 ||
		    json_integer_value(rv) > CAMPAIGN_RATE_MAX) {
			send_fail(&e, "validation_failed", "rate", "'rate' must be an integer of messages per "
			    "minute, 1 to %d", CAMPAIGN_RATE_MAX);
			goto invalid;
		}
		rate = json_integer_value(rv);
	}
	if (campaign_quiet_parse(json_object_get(in, "quiet_hours"), &q, why, sizeof(why)) != 0) {
		send_fail(&e, "validation_failed", "quiet_hours", "%s", why);
		goto invalid;
	}
	struct ccreate *c = xcalloc(1, sizeof(*c));
	c->app = app;
	c->req = req;
	c->org = who->org_id;
	c->body = in;
	c->channel_id = ch->id;
	c->name = xstrdup(name);
	c->tpl_name = tname;
	c->tpl_lang = tlang;
	c->scheduled_at = at;
	c->rate = rate;
	c->total = (int64_t)json_array_size(json_object_get(in, "recipients"));
	c->import_id = imp ? json_integer_value(imp) : 0;
	c->synced_templates = ch->ops->templates_sync != NULL;
	c->tpl_lang_default = ch->ops->caps ? ch->ops->caps->template_language : NULL;
	http_defer(req);
	if (tpl || c->import_id) {
		c->rd = (struct store_read){ .run = reads_run, .done = reads_done, .arg = c };
		store_read_submit(app->store, &c->rd);
	} else {
		create_finish(c);
	}
	return;
invalid:
	json_decref(in);
	reply_send_error(req, &e);
}

void
api_campaigns_get(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	int64_t id;

	if (api_path_id(req, p[0], &id) != 0)
		return;
	reply_campaign(app, req, who->org_id, id, 200);
}

static void
run_campaigns_list(struct store *st, void *arg, struct api_reply *out)
{
	struct cread *r = arg;
	json_t *v = NULL;
	int rc = store_campaigns_list(st, r->org, r->before, r->limit, &v);

	api_reply_read(out, rc, v, "campaigns");
}

void
api_campaigns_list(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	int64_t before;
	int limit = api_limit(req, 50, CAMPAIGNS_PAGE_MAX);

	if (limit < 0 || api_query_number(req, "before", 1, INT64_MAX, 0, &before) != 0)
		return;
	struct cread *r = xcalloc(1, sizeof(*r));
	r->org = who->org_id;
	r->before = before;
	r->limit = limit;
	api_read_async(app, req, run_campaigns_list, r, free);
}

static void
run_recipients(struct store *st, void *arg, struct api_reply *out)
{
	struct cread *r = arg;
	json_t *v = NULL;
	int rc = store_campaign_recipients(st, r->org, r->id, r->only[0] ? r->only : NULL, r->after,
	    r->limit, &v);

	api_reply_read(out, rc, v, "campaign");
}

void
api_campaigns_recipients(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	static const char *const statuses[] = { "queued", "scheduled", "accepted", "sent", "delivered",
		"read", "failed", "cancelled", "skipped", NULL };
	const char *status = http_query(req, "status");
	int64_t id, after;
	int limit = api_limit(req, 100, RECIPIENTS_PAGE_MAX);

	if (api_path_id(req, p[0], &id) != 0 || limit < 0 ||
	    api_query_number(req, "after", 0, INT64_MAX, -1, &after) != 0)
		return;
	bool ok = status == NULL;
	for (size_t i = 0; !ok && statuses[i]; i++)
		ok = strcmp(status, statuses[i]) == 0;
	if (!ok) {
		http_reply_error(req, 400, "invalid_parameter", "status", "'status' must be one of queued, "
		    "scheduled, accepted, sent, delivered, read, failed, cancelled, skipped");
		return;
	}
	struct cread *r = xcalloc(1, sizeof(*r));
	r->org = who->org_id;
	r->id = id;
	r->after = after;
	r->limit = limit;
	if (status)
		snprintf(r->only, sizeof(r->only), "%s", status);
	api_read_async(app, req, run_recipients, r, free);
}

struct ccontrol {
	struct store_op op;
	struct app *app;
	struct http_request *req;
};

static void
control_done(struct store_op *op, void *arg)
{
	struct ccontrol *c = arg;

	if (op->result != 0 && op->err == STORE_NOTFOUND)
		http_reply_error(c->req, 404, "not_found", NULL, "no such campaign");
	else if (op->result != 0 && op->err == STORE_CONFLICT)
		http_reply_error(c->req, 409, "invalid_transition", "status", "%s", op->errmsg);
	else if (op->result != 0)
		api_op_error(c->req, op);
	else {
		campaigns_tick_now(c->app);
		if (c->op.u.control.action == CAMPAIGN_RESUME && c->app->outbox)
			outbox_kick(c->app->outbox);
		reply_campaign(c->app, c->req, op->org_id, op->u.control.id, 200);
	}
	free(c);
}

static void
control(struct app *app, struct http_request *req, const struct principal *who, const char *id_s,
    enum campaign_action action)
{
	int64_t id;

	if (api_path_id(req, id_s, &id) != 0)
		return;
	struct ccontrol *c = xcalloc(1, sizeof(*c));
	c->app = app;
	c->req = req;
	c->op = (struct store_op){
		.kind = STORE_OP_CAMPAIGN_CONTROL,
		.org_id = who->org_id,
		.u.control = { .id = id, .action = action },
		.done = control_done,
		.arg = c,
	};
	http_defer(req);
	store_submit(app->store, &c->op);
}

void
api_campaigns_pause(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	control(app, req, who, p[0], CAMPAIGN_PAUSE);
}

void
api_campaigns_resume(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	control(app, req, who, p[0], CAMPAIGN_RESUME);
}

void
api_campaigns_cancel(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	control(app, req, who, p[0], CAMPAIGN_CANCEL);
}
