/*
 * hooks_view.c - the subscriptions as the API shows them: event webhooks
 * (/v1/webhooks) and exports (/v1/exports, issue 15), and the exports'
 * health for /readyz. Secrets are masked by each sink's show().
 */
#include "hooks.h"
#include "hooks_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../metrics/metrics.h"
#include "../util/util.h"

static bool
is_webhook(const struct hsub *s)
{
	return strcmp(s->kind, "webhook") == 0;
}

/* The next attempt as RFC 3339, or NULL. */
static const char *
next_at(const struct hsub *s, char out[21])
{
	if (s->next_mono == 0)
		return NULL;
	fmt_rfc3339((now_ms() + (s->next_mono - mono_ms()) + 999) / 1000, out);
	return out;
}

static json_t *
webhook_json(const struct hsub *s)
{
	char created[21], next[21];

	fmt_rfc3339(s->created_at, created);
	return json_pack("{s:I, s:s, s:O, s:s, s:I, s:{s:i, s:s?, s:s?, s:b}, s:s}",
	    "id", (json_int_t)s->id,
	    "url", json_string_value(json_object_get(s->config, "url")),
	    "events", s->events,
	    "secret", "********",
	    "delivered_seq", (json_int_t)s->delivered_seq,
	    "state",
	    "attempts", s->attempts,
	    "next_attempt_at", next_at(s, next),
	    "last_error", s->has_error ? s->last_error : NULL,
	    "paused", s->paused,
	    "created_at", created);
}

/* Events of its organization after the cursor: exact while it is idle at
 * the end of a short page, at most the head's distance otherwise. */
static int64_t
lag(const struct hsub *s)
{
	int64_t head = s->hk->head, from = s->delivered_seq, n = 0;

	if (head <= from)
		return 0;
	if (s->seen_upto > from) {
		for (size_t i = s->ipg; i < s->npg; i++)
			n += s->pg[i].seq > from;
		from = s->seen_upto;
	}
	n += head > from ? head - from : 0;
	return n < head - s->delivered_seq ? n : head - s->delivered_seq;
}

static bool
connected(const struct hsub *s, char *why, size_t cap)
{
	why[0] = '\0';
	if (s->ops == NULL) {
		snprintf(why, cap, "no sink for kind '%.32s' in this build", s->kind);
		return false;
	}
	if (s->sink == NULL) {
		snprintf(why, cap, "not started");
		return false;
	}
	return s->ops->healthy(s->sink, why, cap);
}

static json_t *
export_json(const struct hsub *s)
{
	char created[21], next[21], why[SINK_ERROR_MAX];
	bool up = connected(s, why, sizeof(why));
	json_t *config = s->ops ? s->ops->show(s->config) : json_object();

	fmt_rfc3339(s->created_at, created);
	return json_pack("{s:I, s:s, s:O, s:O, s:o, s:I, s:I, s:{s:b, s:b, s:i, s:s?, s:s?}, s:s}",
	    "id", (json_int_t)s->id,
	    "kind", s->kind,
	    "events", s->events,
	    "channels", s->channels ? s->channels : json_null(),
	    "config", config ? config : json_object(),
	    "delivered_seq", (json_int_t)s->delivered_seq,
	    "lag", (json_int_t)lag(s),
	    "state",
	    "connected", up,
	    "paused", s->paused,
	    "attempts", s->attempts,
	    "next_attempt_at", next_at(s, next),
	    "last_error", s->has_error ? s->last_error : NULL,
	    "created_at", created);
}

json_t *
hooks_get(struct hooks *hk, int64_t org, int64_t id)
{
	struct hsub *s = hooks_sub_find(hk, id);
	return s && s->org_id == org && is_webhook(s) ? webhook_json(s) : NULL;
}

json_t *
hooks_list(struct hooks *hk, int64_t org)
{
	json_t *arr = json_array();

	for (struct hsub *s = hk->subs; s; s = s->next)
		if (!s->deleted && s->org_id == org && is_webhook(s))
			json_array_append_new(arr, webhook_json(s));
	return json_pack("{s:o}", "webhooks", arr);
}

json_t *
hooks_export_get(struct hooks *hk, int64_t org, int64_t id)
{
	struct hsub *s = hooks_sub_find(hk, id);
	return s && s->org_id == org && !is_webhook(s) ? export_json(s) : NULL;
}

size_t
hooks_count(struct hooks *hk, int64_t org)
{
	size_t n = 0;

	for (struct hsub *s = hk->subs; s; s = s->next)
		n += !s->deleted && s->org_id == org;
	return n;
}

json_t *
hooks_export_list(struct hooks *hk, int64_t org)
{
	json_t *arr = json_array();

	for (struct hsub *s = hk->subs; s; s = s->next)
		if (!s->deleted && s->org_id == org && !is_webhook(s))
			json_array_append_new(arr, export_json(s));
	return json_pack("{s:o}", "exports", arr);
}

json_t *
hooks_export_health(struct hooks *hk, int64_t org)
{
	json_t *out = json_object();
	char id[24], why[SINK_ERROR_MAX];

	for (struct hsub *s = hk ? hk->subs : NULL; s; s = s->next) {
		if (s->deleted || s->org_id != org || is_webhook(s))
			continue;
		bool up = connected(s, why, sizeof(why));
		const char *err = !up && why[0] ? why : s->has_error ? s->last_error : NULL;
		snprintf(id, sizeof(id), "%lld", (long long)s->id);
		json_object_set_new(out, id, json_pack("{s:s, s:b, s:b, s:I, s:s?}",
		    "kind", s->kind, "connected", up, "paused", s->paused,
		    "lag", (json_int_t)lag(s), "last_error", err));
	}
	return out;
}

/* /metrics (registered by hooks_start): every subscription's lag and
 * whether its sink is connected, webhooks as kind "webhook". */
void
hooks_metrics_collect(struct metrics_out *out, void *arg)
{
	struct hooks *hk = arg;
	char id[24], why[SINK_ERROR_MAX];

	metrics_family(out, "msgd_export_lag", "gauge",
	    "Events after an event webhook's or export's cursor (lag)");
	for (struct hsub *s = hk->subs; s; s = s->next) {
		if (s->deleted)
			continue;
		snprintf(id, sizeof(id), "%" PRId64, s->id);
		metrics_sample(out, "msgd_export_lag", (const char *const[]){ "id", id, "kind", s->kind,
		    "org", s->org ? s->org : "", NULL }, (double)lag(s));
	}
	metrics_family(out, "msgd_export_connected", "gauge",
	    "1 while an event webhook's or export's sink is connected (0: down, or paused)");
	for (struct hsub *s = hk->subs; s; s = s->next) {
		if (s->deleted)
			continue;
		snprintf(id, sizeof(id), "%" PRId64, s->id);
		metrics_sample(out, "msgd_export_connected", (const char *const[]){ "id", id,
		    "kind", s->kind, "org", s->org ? s->org : "", NULL },
		    connected(s, why, sizeof(why)) ? 1 : 0);
	}
}
