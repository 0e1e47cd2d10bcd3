/*
 * campaign.h - bulk campaigns (issue 14): one message per recipient, made in
 * the bulk lane, with progress counters, pause/resume/cancel.
 *
 * Strategies:
 *  - Validate once, make in chunks. POST /v1/campaigns validates the
 *    channel, the content (text, a local template or a provider template,
 *    every variable mapped) and the recipients' shape, then commits the
 *    campaign row with its source (the recipients as given): that row is
 *    durable before the 202. The messages are made afterwards, a chunk of
 *    CAMPAIGN_CHUNK recipients at a time: a reader-pool thread builds the
 *    chunk's messages (address normalized, duplicates and missing variables
 *    skipped, text rendered, due time paced), then one store op commits the
 *    recipients' rows, their messages and their outbox entries (priority 1:
 *    replies go first) and moves the campaign's `created` on, only if it is
 *    still where the chunk began. A crash mid-creation loses nothing: at the
 *    next start the campaigns with recipients not all made continue from
 *    `created`, so no recipient is made twice. Blocked, unreachable and
 *    opted-out contacts are skipped by the store, in the chunk's transaction.
 *    With several instances, a campaign whose maker died (no chunk for twice
 *    dispatch_lease_ms) is taken over by another, checked every
 *    dispatch_lease_ms; two makers at once are harmless (the chunk's check).
 *  - Pacing. The outbox paces by channel and counts the organization's
 *    quotas (claims). A campaign's own `rate` (messages per minute) and
 *    `quiet_hours` become due times on the outbox rows: recipient i is due
 *    i * 60000 / rate ms of non-quiet time after the start (scheduled_at, or
 *    creation). Resuming a paused campaign moves its waiting rows on by the
 *    pause's length, so the spacing stays.
 *  - Counters in the status transactions (store/apply_campaign.c); the loop
 *    only ticks: once a second (every CAMPAIGN_IDLE_TICK_MS while no
 *    campaign is active, changed or finished within a day) one store op
 *    appends campaign.progress for each campaign whose counters changed (at
 *    most one a second each, across instances), starts scheduled campaigns
 *    and completes those with nothing left waiting or in flight. A tick
 *    that finds nothing new writes nothing.
 */
#ifndef MSGD_CAMPAIGN_H
#define MSGD_CAMPAIGN_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

struct app;

#define CAMPAIGN_CHUNK 2000               /* recipients per store op */
#define CAMPAIGN_RECIPIENTS_MAX 1000000   /* per campaign */
#define CAMPAIGN_NAME_MAX 128
#define CAMPAIGN_RATE_MAX 60000           /* messages per minute */
#define CAMPAIGN_TICK_MS 1000
#define CAMPAIGN_IDLE_TICK_MS 10000

/* Quiet hours: local minutes of the day [start, end) (end < start wraps
 * midnight) at a fixed UTC offset. */
struct quiet_hours {
	bool set;
	int start_min, end_min;
	int offset_min;
};

/* {"start":"21:00","end":"08:00","tz":"+03:00"|"-05:30"|"Z"|"UTC"}: 0, or -1
 * with why (a 422's message) in err. */
int campaign_quiet_parse(const json_t *v, struct quiet_hours *q, char *err, size_t errlen);
/* The instant d ms of non-quiet time after t (d 0: t, or the end of the
 * quiet hours t falls in). */
int64_t campaign_advance(int64_t t, int64_t d, const struct quiet_hours *q);
/* Is t within the quiet hours? */
bool campaign_quiet_at(int64_t t, const struct quiet_hours *q);

/*
 * The loop's side (run.c). campaigns_start() after the store and the
 * registry are loaded: resumes unfinished creations, starts the tick.
 * campaigns_created(): a campaign row committed (row as
 * store_campaigns_unfinished() gives it, borrowed): its messages are made
 * from now on. campaigns_drain(): shutdown began, no new chunk or tick;
 * campaigns_stop() after the store closed: frees everything.
 */
int campaigns_start(struct app *app);
void campaigns_created(struct app *app, const json_t *row);
void campaigns_tick_now(struct app *app);
void campaigns_drain(struct app *app);
void campaigns_stop(struct app *app);
/* Campaigns running or being made, as of the last tick (the seeds'
 * active_batches gauge for the metrics issue). */
int64_t campaigns_running(const struct app *app);

#endif
