/*
 * api_chtemplates.c - a channel's provider templates (issue 14):
 * GET /v1/channels/{name}/templates (the list the last sync left, with the
 * sync's time and error), POST /v1/channels/{name}/templates/sync (a sync
 * now: 202, the outcome lands in the list), and the send path's check of a
 * provider template against that list.
 */
#include "api.h"
#include "api_send.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../channels/channel.h"
#include "../http/http.h"
#include "../store/store.h"
#include "../util/util.h"

struct list_read {
	int64_t channel_id;
	char name[65];
};

static void
list_run(struct store *st, void *arg, struct api_reply *out)
{
	struct list_read *l = arg;
	json_t *v = NULL;

	if (store_channel_templates(st, l->channel_id, &v) != 0)
		return;  /* status 0: storage error */
	json_object_set_new(v, "channel", json_string(l->name));
	out->status = 200;
	out->json = v;
}

void
api_channel_templates_list(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	struct channel *ch = api_channel_or_404(app, req, who, p[0]);

	if (ch == NULL)
		return;
	if (ch->ops->templates_sync == NULL) {  /* a type without provider templates */
		http_reply_json(req, 200, json_pack("{s:s,s:[],s:n}", "channel", ch->name, "templates",
		    "sync"));
		return;
	}
	struct list_read *l = xcalloc(1, sizeof(*l));
	l->channel_id = ch->id;
	snprintf(l->name, sizeof(l->name), "%s", ch->name);
	api_read_async(app, req, list_run, l, free);
}

void
api_channel_templates_sync(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	struct channel *ch = api_channel_or_404(app, req, who, p[0]);
	struct channel_error err = { 0 };

	if (ch == NULL)
		return;
	if (ch->ops->templates_sync == NULL) {
		http_reply_error(req, 422, "unsupported_by_channel", NULL,
		    "a %s channel has no provider templates to sync", ch->ops->type);
		return;
	}
	if (ch->ops->templates_sync(ch, &err) != 0) {
		http_reply_error(req, 422, "action_failed", err.field[0] ? err.field : NULL, "%s",
		    err.message[0] ? err.message : "the sync could not start");
		return;
	}
	/* The outcome arrives later: GET .../templates shows it. */
	http_reply_json(req, 202, json_pack("{s:s,s:s}", "channel", ch->name, "sync", "started"));
}

/* How many values a send supplies: its components' parameters, else its variables. */
static size_t
supplied(const json_t *vars, const json_t *comps)
{
	const json_t *c;
	size_t i, n = 0;

	if (json_is_array(comps)) {
		json_array_foreach(comps, i, c)
			n += json_array_size(json_object_get(c, "parameters"));
		return n;
	}
	return json_is_array(vars) ? json_array_size(vars) : json_object_size(vars);
}

int
api_send_template_approved(struct app *app, struct send_reads *rs, const struct channel *ch,
    const char *name, const char *language, const json_t *vars, const json_t *comps,
    struct send_error *e)
{
	struct channel_template t;

	if (ch->ops->templates_sync == NULL)
		return 0;
	if (sr_channel_template(app, rs, ch->id, name, language, &t) != 0)
		return send_fail(e, "internal", "template", "storage error");
	if (!t.synced)
		return 0;  /* nothing known: the provider decides */
	if (!t.found || !t.approved)
		return send_fail(e, "template_not_approved", "template.name", "channel '%s' has no approved "
		    "template '%.64s' in language '%.16s'%s%s%s", ch->name, name, language,
		    t.found ? " (its status is " : "", t.found ? t.status : "", t.found ? ")" : "");
	size_t n = supplied(vars, comps);
	if ((int64_t)n < t.params)
		return send_fail(e, "template_params_missing", comps ? "template.components" :
		    "template.variables", "template '%.64s' needs %lld values, %zu given", name,
		    (long long)t.params, n);
	return 0;
}
