/* pacing.c - even-spacing pacer, circuit breaker, backoff. */
#include "outbox.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../util/util.h"

#define BACKOFF_BASE_MS 1000
#define BACKOFF_CAP_MS (5 * 60 * 1000)

void
pacer_init(struct pacer *p, int rate)
{
	*p = (struct pacer){ .rate = rate > 0 ? rate : 0 };
	if (p->rate)
		p->interval_us = (1000000 + p->rate - 1) / p->rate;
}

void
pacer_free(struct pacer *p)
{
	*p = (struct pacer){ 0 };
}

int
pacer_allowance(const struct pacer *p, int64_t now_us)
{
	if (p->rate == 0)
		return 1 << 30;
	return now_us >= p->next_us ? 1 : 0;
}

int64_t
pacer_next(const struct pacer *p, int64_t now_us)
{
	if (p->rate == 0 || now_us >= p->next_us)
		return now_us;
	return p->next_us;
}

void
pacer_record(struct pacer *p, int64_t now_us)
{
	if (p->rate == 0)
		return;
	/* An idle channel does not bank credit: spacing restarts from now. */
	p->next_us = (p->next_us > now_us ? p->next_us : now_us) + p->interval_us;
}

void
breaker_init(struct breaker *b, int threshold, int64_t cooldown_ms)
{
	*b = (struct breaker){ .threshold = threshold > 0 ? threshold : 1, .cooldown_ms = cooldown_ms };
}

bool
breaker_allow(struct breaker *b, int64_t mono)
{
	switch (b->state) {
	case BREAKER_CLOSED:
		return true;
	case BREAKER_OPEN:
		if (mono < b->open_until)
			return false;
		b->state = BREAKER_HALF_OPEN;
		b->probing = false;
		/* fall through */
	case BREAKER_HALF_OPEN:
		if (b->probing)
			return false;
		b->probing = true;
		return true;
	}
	return false;
}

void
breaker_success(struct breaker *b)
{
	b->failures = 0;
	b->state = BREAKER_CLOSED;
	b->probing = false;
}

void
breaker_failure(struct breaker *b, int64_t mono)
{
	b->failures++;
	if (b->state == BREAKER_OPEN)
		return;  /* late answers from before it opened do not extend it */
	if (b->state == BREAKER_HALF_OPEN || b->failures >= b->threshold) {
		b->state = BREAKER_OPEN;
		b->open_until = mono + b->cooldown_ms;
		b->probing = false;
	}
}

void
breaker_release(struct breaker *b)
{
	b->probing = false;
}

int64_t
backoff_ms(int attempts, uint32_t rnd)
{
	int64_t d = BACKOFF_BASE_MS;

	for (int i = 1; i < attempts && d < BACKOFF_CAP_MS; i++)
		d *= 2;
	if (d > BACKOFF_CAP_MS)
		d = BACKOFF_CAP_MS;
	/* +-20%: d * (0.8 .. 1.2) */
	int64_t span = d * 2 / 5;
	return d - d / 5 + (span ? (int64_t)(rnd % (uint32_t)span) : 0);
}
