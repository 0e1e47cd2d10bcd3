/*
 * limit.c - the failure table of limit.h: a uthash keyed by the key's
 * text, whose insertion order is the order of the last failure (a failing
 * key is moved to the end), so the head is the one to evict.
 */
#include "limit.h"

#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "../util/util.h"

struct entry {
	char key[LIMIT_KEY_MAX + 1];
	int failures;
	int64_t last_ms;     /* last failure */
	int64_t open_ms;     /* closed until then (0: open) */
	UT_hash_handle hh;
};

struct limiter {
	struct entry *map;
	size_t cap;
};

struct limiter *
limiter_new(size_t cap)
{
	struct limiter *l = xcalloc(1, sizeof(*l));

	l->cap = cap > 0 ? cap : 1;
	return l;
}

void
limiter_free(struct limiter *l)
{
	struct entry *e, *tmp;

	if (l == NULL)
		return;
	HASH_ITER(hh, l->map, e, tmp) {
		HASH_DEL(l->map, e);
		free(e);
	}
	free(l);
}

static bool
stale(const struct entry *e, int64_t now)
{
	int64_t since = e->open_ms > e->last_ms ? e->open_ms : e->last_ms;
	return now >= since + LIMIT_FORGET_MS;
}

/* The live entry of key, or NULL (a stale one is dropped). */
static struct entry *
find(struct limiter *l, const char *key, int64_t now)
{
	char k[LIMIT_KEY_MAX + 1];
	struct entry *e = NULL;

	snprintf(k, sizeof(k), "%s", key);
	HASH_FIND_STR(l->map, k, e);
	if (e && stale(e, now)) {
		HASH_DEL(l->map, e);
		free(e);
		e = NULL;
	}
	return e;
}

int64_t
limiter_wait_ms(struct limiter *l, const char *key, int64_t now)
{
	struct entry *e = find(l, key, now);

	return e && e->open_ms > now ? e->open_ms - now : 0;
}

bool
limiter_failed(struct limiter *l, const char *key, int64_t now)
{
	return find(l, key, now) != NULL;
}

void
limiter_fail(struct limiter *l, const char *key, int64_t now)
{
	struct entry *e = find(l, key, now);

	if (e) {
		HASH_DEL(l->map, e);  /* re-added at the end: the newest failure */
	} else {
		if (HASH_COUNT(l->map) >= l->cap) {
			struct entry *old = l->map;  /* the least recent failure */
			HASH_DEL(l->map, old);
			free(old);
		}
		e = xcalloc(1, sizeof(*e));
		snprintf(e->key, sizeof(e->key), "%s", key);
	}
	e->failures++;
	e->last_ms = now;
	if (e->failures >= LIMIT_FREE_FAILURES) {
		int shift = e->failures - LIMIT_FREE_FAILURES;
		int64_t wait = shift >= 20 ? LIMIT_MAX_MS : LIMIT_BASE_MS << shift;
		e->open_ms = now + (wait < LIMIT_MAX_MS ? wait : LIMIT_MAX_MS);
	}
	HASH_ADD_STR(l->map, key, e);
}

void
limiter_forget(struct limiter *l, const char *key)
{
	char k[LIMIT_KEY_MAX + 1];
	struct entry *e = NULL;

	snprintf(k, sizeof(k), "%s", key);
	HASH_FIND_STR(l->map, k, e);
	if (e) {
		HASH_DEL(l->map, e);
		free(e);
	}
}

size_t
limiter_count(struct limiter *l)
{
	return HASH_COUNT(l->map);
}

void
limiter_addr_key(const char *addr, char out[LIMIT_KEY_MAX + 1])
{
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN];
	static const unsigned char mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (addr == NULL) {
		out[0] = '\0';
		return;
	}
	if (strchr(addr, ':') == NULL || inet_pton(AF_INET6, addr, a) != 1) {
		snprintf(out, LIMIT_KEY_MAX + 1, "%s", addr);
		return;
	}
	if (memcmp(a, mapped, sizeof(mapped)) == 0) {
		inet_ntop(AF_INET, a + 12, text, sizeof(text));
		snprintf(out, LIMIT_KEY_MAX + 1, "%s", text);
		return;
	}
	memset(a + 8, 0, 8);
	inet_ntop(AF_INET6, a, text, sizeof(text));
	snprintf(out, LIMIT_KEY_MAX + 1, "%s/64", text);
}
