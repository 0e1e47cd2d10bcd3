/*
 * api_send_rules.c - an organization's rules on what it sends, checked when
 * a send is validated (api_send.c's build_outbound()): sending quotas in
 * reject mode, duplicate content, the bulk cooldown. The quotas themselves
 * are weighed at the claim (src/store/quota_gate.c).
 */
#include "api.h"
#include "api_send.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../channels/channel.h"
#include "../core/model.h"
#include "../quota/quota.h"
#include "../util/util.h"

/*
 * "on_quota": "queue" (the default: a send over a quota is accepted and
 * waits for its window) or "reject": then a quota of the organization or
 * the channel that is full now refuses it, 429 quota_exceeded naming the
 * limit. The counts read here may be a moment old; the claim weighs them
 * again (quota_gate.c).
 */
int
api_send_quota_now(struct app *app, struct send_reads *rs, int64_t org, const struct channel *ch,
    const json_t *body, int64_t now, struct send_error *e)
{
	static const char *const ch_keys[3] = { "quota_per_minute", "quota_per_hour", "quota_per_day" };
	const char *mode;
	const struct api_org *o = api_org_by_id(app, org);

	if (opt_str(body, "on_quota", "on_quota", 16, &mode, e) != 0)
		return -1;
	if (mode && strcmp(mode, "queue") != 0 && strcmp(mode, "reject") != 0)
		return send_fail(e, "validation_failed", "on_quota", "'on_quota' must be 'queue' or 'reject'");
	if (mode == NULL || strcmp(mode, "reject") != 0)
		return 0;
	for (int which = 0; which < 2; which++) {
		struct quota_limits lim = { 0 };
		bool any = false;
		for (int k = 0; k < QUOTA_KINDS; k++) {
			lim.max[k] = which == 0 ? (o ? o->settings.send.max[k] : 0) :
			    channel_send_setting(ch, ch_keys[k]);
			any |= lim.max[k] > 0;
		}
		if (!any)
			continue;
		char scope[48];
		int64_t n[3];
		snprintf(scope, sizeof(scope), "%s:%lld", which == 0 ? "org" : "channel",
		    (long long)(which == 0 ? org : ch->id));
		if (sr_quota_usage(app, rs, scope, now, n) != 0)
			return send_fail(e, "internal", "on_quota", "storage error");
		struct quota_counts used;
		quota_counts_init(&used, now);
		for (int k = 0; k < QUOTA_KINDS; k++)
			used.w[k].n = n[k];
		int64_t until;
		enum quota_kind kind;
		if (quota_check(&lim, &used, now, &until, &kind))
			continue;
		char at[21];
		fmt_rfc3339((until + 999) / 1000, at);
		send_fail(e, "quota_exceeded", "on_quota", "the %s's limit of %lld messages per %s is reached until %s",
		    which == 0 ? "organization" : "channel", (long long)lim.max[kind], quota_kind_name(kind), at);
		e->status = 429;
		return -1;
	}
	return 0;
}

/*
 * The organization's content rules for an outbound message:
 *  - duplicate detection: the same text to the same recipient within
 *    duplicate_window_seconds is refused, 409 duplicate_content, unless
 *    the request sets "allow_duplicate": true (a fingerprint of the
 *    organization, recipient and normalized text is kept with the message;
 *    two identical requests in the same instant may both pass);
 *  - bulk cooldown: a bulk message waits bulk_cooldown_seconds after the
 *    contact's last one (the store moves it: throttled_until).
 */
int
api_send_content_rules(struct app *app, struct send_reads *rs, int64_t org, const json_t *body,
    struct msg_in *m, int64_t now, struct send_error *e)
{
	const struct api_org *o = api_org_by_id(app, org);
	json_t *allow = json_object_get(body, "allow_duplicate");

	if (allow && !json_is_boolean(allow))
		return send_fail(e, "validation_failed", "allow_duplicate", "'allow_duplicate' must be true or false");
	if (o == NULL)
		return 0;
	m->cooldown_ms = o->settings.bulk_cooldown_s * 1000;
	if (o->settings.duplicate_window_s <= 0 || m->text == NULL || m->to == NULL)
		return 0;
	char fp[QUOTA_FP_HEX + 1];
	int64_t at = 0;
	/* A repeat of a request (its client_id stored already) is answered with
	 * the original by the store: it is no duplicate of itself. */
	if (m->client_id) {
		json_t *orig = NULL;
		if (sr_message_by_client_id(app, rs, org, m->client_id, &orig) != 0)
			return send_fail(e, "internal", "client_id", "storage error");
		if (orig) {
			json_decref(orig);
			return 0;
		}
	}
	quota_fingerprint(org, m->to, strlen(m->to), m->text, strlen(m->text), fp);
	if (!json_is_true(allow)) {
		if (sr_fingerprint_at(app, rs, org, fp, &at) != 0)
			return send_fail(e, "internal", "text", "storage error");
		if (at > 0 && now - at < o->settings.duplicate_window_s * 1000) {
			char when[21];
			fmt_rfc3339(at / 1000, when);
			send_fail(e, "duplicate_content", "text", "the same text went to %.32s at %s (within %lld s); "
			    "send \"allow_duplicate\": true to send it again", m->to, when,
			    (long long)o->settings.duplicate_window_s);
			e->status = 409;
			return -1;
		}
	}
	m->fingerprint = xstrdup(fp);
	return 0;
}

