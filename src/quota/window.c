/*
 * window.c - fixed UTC windows, quota checks, the reply/bulk split and the
 * bulk cooldown of quota.h.
 */
#include "quota.h"

#include <string.h>

static const struct {
	const char *name;
	int64_t ms;
} kinds[QUOTA_KINDS] = {
	[QUOTA_MINUTE] = { .name = "minute", .ms = 60LL * 1000 },
	[QUOTA_HOUR] = { .name = "hour", .ms = 3600LL * 1000 },
	[QUOTA_DAY] = { .name = "day", .ms = 86400LL * 1000 },
};

static bool
kind_valid(enum quota_kind kind)
{
	return (int)kind >= 0 && (int)kind < QUOTA_KINDS;
}

const char *
quota_kind_name(enum quota_kind kind)
{
	return kind_valid(kind) ? kinds[kind].name : "none";
}

enum quota_kind
quota_kind_parse(const char *name)
{
	for (int k = 0; name && k < QUOTA_KINDS; k++)
		if (strcmp(name, kinds[k].name) == 0)
			return (enum quota_kind)k;
	return QUOTA_NONE;
}

int64_t
quota_window_ms(enum quota_kind kind)
{
	return kind_valid(kind) ? kinds[kind].ms : 0;
}

/* Times are clamped to +-2^62 ms (146 million years), so a window's start
 * and end never overflow. */
#define TIME_LIMIT_MS (INT64_C(1) << 62)

int64_t
quota_window_start(enum quota_kind kind, int64_t now_ms)
{
	if (now_ms > TIME_LIMIT_MS)
		now_ms = TIME_LIMIT_MS;
	if (now_ms < -TIME_LIMIT_MS)
		now_ms = -TIME_LIMIT_MS;
	if (!kind_valid(kind))
		return now_ms;
	int64_t len = kinds[kind].ms;
	int64_t q = now_ms / len;
	if (now_ms % len < 0)  /* floor, not truncation, before 1970 */
		q--;
	return q * len;
}

int64_t
quota_window_end(enum quota_kind kind, int64_t now_ms)
{
	return quota_window_start(kind, now_ms) + quota_window_ms(kind);
}

int64_t
quota_used(const struct quota_counts *used, enum quota_kind kind, int64_t now_ms)
{
	if (used == NULL || !kind_valid(kind))
		return 0;
	const struct quota_count *c = &used->w[kind];
	if (c->start_ms != quota_window_start(kind, now_ms) || c->n < 0)
		return 0;
	return c->n;
}

void
quota_counts_init(struct quota_counts *c, int64_t now_ms)
{
	for (int k = 0; k < QUOTA_KINDS; k++)
		c->w[k] = (struct quota_count){ .start_ms = quota_window_start((enum quota_kind)k, now_ms) };
}

void
quota_counts_add(struct quota_counts *c, int64_t now_ms, int64_t n)
{
	for (int k = 0; k < QUOTA_KINDS; k++) {
		int64_t start = quota_window_start((enum quota_kind)k, now_ms);
		if (c->w[k].start_ms != start || c->w[k].n < 0)
			c->w[k] = (struct quota_count){ .start_ms = start };
		if (n > 0)
			c->w[k].n = c->w[k].n < INT64_MAX - n ? c->w[k].n + n : INT64_MAX;
	}
}

bool
quota_check(const struct quota_limits *lim, const struct quota_counts *used, int64_t now_ms,
    int64_t *until_ms, enum quota_kind *which)
{
	int64_t until = now_ms;
	enum quota_kind binding = QUOTA_NONE;

	for (int k = 0; lim && k < QUOTA_KINDS; k++) {
		enum quota_kind kind = (enum quota_kind)k;
		if (lim->max[k] <= 0 || quota_used(used, kind, now_ms) < lim->max[k])
			continue;
		int64_t end = quota_window_end(kind, now_ms);
		if (binding == QUOTA_NONE || end >= until) {  /* ties: the longer */
			until = end;
			binding = kind;
		}
	}
	if (until_ms)
		*until_ms = until;
	if (which)
		*which = binding;
	return binding == QUOTA_NONE;
}

int64_t
quota_room(const struct quota_limits *lim, const struct quota_counts *used, int64_t now_ms,
    int64_t want)
{
	int64_t room = want > 0 ? want : 0;

	for (int k = 0; lim && k < QUOTA_KINDS; k++) {
		if (lim->max[k] <= 0)
			continue;
		int64_t left = lim->max[k] - quota_used(used, (enum quota_kind)k, now_ms);
		if (left < room)
			room = left > 0 ? left : 0;
	}
	return room;
}

void
quota_split(int64_t room, int64_t replies, int64_t bulk, int64_t *replies_out, int64_t *bulk_out)
{
	room = room > 0 ? room : 0;
	replies = replies > 0 ? replies : 0;
	bulk = bulk > 0 ? bulk : 0;
	int64_t r = replies < room ? replies : room;
	int64_t b = bulk < room - r ? bulk : room - r;
	if (replies_out)
		*replies_out = r;
	if (bulk_out)
		*bulk_out = b;
}

/* a + s seconds in ms, saturating at INT64_MAX. */
static int64_t
add_seconds(int64_t a, int64_t s)
{
	if (s <= 0)
		return a;
	if (s > INT64_MAX / 1000 || a > INT64_MAX - s * 1000)
		return INT64_MAX;
	return a + s * 1000;
}

int64_t
quota_cooldown_until(int64_t last_bulk_ms, int64_t cooldown_s)
{
	return add_seconds(last_bulk_ms, cooldown_s);
}

bool
quota_is_duplicate(int64_t last_ms, int64_t window_s, int64_t now_ms)
{
	/* A last_ms after now_ms (another instance's clock a little ahead) is
	 * recent too. */
	return window_s > 0 && now_ms < add_seconds(last_ms, window_s);
}
