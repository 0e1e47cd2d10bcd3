/*
 * quotas.c - what an entry's sending quotas are, for the claim to weigh
 * (src/store/quota_gate.c): its organization's, from the API's
 * organizations (outbox_set_org_quota()), and its channel's, from its
 * config (quota_per_minute, quota_per_hour, quota_per_day).
 */
#include "outbox.h"

#include "../channels/channel.h"
#include "../store/store.h"
#include "outbox_int.h"

void
outbox_set_org_quota(struct outbox *ob, outbox_org_quota_fn fn, void *arg)
{
	ob->org_quota = fn;
	ob->org_quota_arg = arg;
}

/* ch's entry's quotas into q; false when neither the channel nor its
 * organization has any. */
bool
outbox_quota_of(struct outbox *ob, const struct channel *ch, int priority, struct item_quota *q)
{
	static const char *const keys[3] = { "quota_per_minute", "quota_per_hour", "quota_per_day" };
	bool any = false;

	*q = (struct item_quota){ .org_id = ch->org_id, .channel_id = ch->id, .priority = priority };
	for (int k = 0; k < 3; k++)
		any |= (q->channel_max[k] = channel_send_setting(ch, keys[k])) > 0;
	if (ob->org_quota) {
		ob->org_quota(ob->org_quota_arg, ch->org_id, q->org_max);
		for (int k = 0; k < 3; k++)
			any |= q->org_max[k] > 0;
	}
	return any;
}
