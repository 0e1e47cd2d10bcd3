/*
 * pace.c - a campaign's due times: quiet hours at a fixed UTC offset, and
 * time that flows only outside them (pure arithmetic, no clock).
 */
#include <stdio.h>
#include <string.h>

#include "campaign.h"

#define DAY_MS (24LL * 3600 * 1000)
#define MIN_MS 60000LL

/* "HH:MM" into minutes of the day; -1 when it is not one. */
static int
hhmm(const char *s)
{
	if (s == NULL || strlen(s) != 5 || s[2] != ':')
		return -1;
	for (int i = 0; i < 5; i++)
		if (i != 2 && (s[i] < '0' || s[i] > '9'))
			return -1;
	int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
	if (h > 23 || m > 59)
		return -1;
	return h * 60 + m;
}

int
campaign_quiet_parse(const json_t *v, struct quiet_hours *q, char *err, size_t errlen)
{
	const char *tz;
	const char *key;
	json_t *x;

	*q = (struct quiet_hours){ 0 };
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_object(v)) {
		snprintf(err, errlen, "'quiet_hours' must be {\"start\":\"HH:MM\",\"end\":\"HH:MM\",\"tz\"}");
		return -1;
	}
	json_object_foreach((json_t *)v, key, x) {
		if (strcmp(key, "start") != 0 && strcmp(key, "end") != 0 && strcmp(key, "tz") != 0) {
			snprintf(err, errlen, "'quiet_hours' has an unknown field '%.32s'", key);
			return -1;
		}
	}
	q->start_min = hhmm(json_string_value(json_object_get(v, "start")));
	q->end_min = hhmm(json_string_value(json_object_get(v, "end")));
	if (q->start_min < 0 || q->end_min < 0 || q->start_min == q->end_min) {
		snprintf(err, errlen, "'quiet_hours.start' and 'quiet_hours.end' must be different times HH:MM");
		return -1;
	}
	tz = json_string_value(json_object_get(v, "tz"));
	if (tz == NULL || strcmp(tz, "Z") == 0 || strcmp(tz, "UTC") == 0) {
		q->offset_min = 0;
	} else {
		int m = strlen(tz) == 6 && (tz[0] == '+' || tz[0] == '-') ? hhmm(tz + 1) : -1;
		if (m < 0 || m > 14 * 60) {
			snprintf(err, errlen, "'quiet_hours.tz' must be a UTC offset such as \"+03:00\" or \"UTC\"");
			return -1;
		}
		q->offset_min = tz[0] == '-' ? -m : m;
	}
	q->set = true;
	return 0;
}

/* Minutes of the local day at t, and the start of that local day (UTC ms). */
static int64_t
local_day(int64_t t, const struct quiet_hours *q, int *min)
{
	int64_t local = t + (int64_t)q->offset_min * MIN_MS;
	int64_t day = local - ((local % DAY_MS) + DAY_MS) % DAY_MS;

	*min = (int)((local - day) / MIN_MS);
	return day - (int64_t)q->offset_min * MIN_MS;
}

bool
campaign_quiet_at(int64_t t, const struct quiet_hours *q)
{
	int m;

	if (q == NULL || !q->set)
		return false;
	local_day(t, q, &m);
	if (q->start_min < q->end_min)
		return m >= q->start_min && m < q->end_min;
	return m >= q->start_min || m < q->end_min;
}

/* The first instant at local minute `min` at or after t. */
static int64_t
next_at(int64_t t, int min, const struct quiet_hours *q)
{
	int m;
	int64_t day = local_day(t, q, &m), at = day + (int64_t)min * MIN_MS;

	return at >= t ? at : at + DAY_MS;
}

int64_t
campaign_advance(int64_t t, int64_t d, const struct quiet_hours *q)
{
	if (q == NULL || !q->set)
		return t + d;
	for (;;) {
		if (campaign_quiet_at(t, q))
			t = next_at(t, q->end_min, q);
		int64_t qs = next_at(t, q->start_min, q);
		if (t + d < qs)
			return t + d;
		d -= qs - t;
		t = qs;
	}
}
