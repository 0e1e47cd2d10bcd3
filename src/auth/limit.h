/*
 * limit.h - failed login attempts, counted per key (a client address or a
 * user name), with exponential backoff.
 *
 * A key may fail LIMIT_FREE_FAILURES times freely; from then on each
 * failure closes it for LIMIT_BASE_MS * 2^(failures - LIMIT_FREE_FAILURES),
 * at most LIMIT_MAX_MS; an attempt while closed is refused without being
 * tried (429 with Retry-After). A key with no failure for LIMIT_FORGET_MS
 * after it reopened is forgotten. The table holds at most cap keys: a new
 * key evicts the one that failed least recently (memory stays bounded
 * whatever an attacker sends; eviction only forgives).
 *
 * Loop thread only. Keys longer than LIMIT_KEY_MAX are cut.
 */
#ifndef MSGD_LIMIT_H
#define MSGD_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LIMIT_KEY_MAX 72
#define LIMIT_FREE_FAILURES 5
#define LIMIT_BASE_MS 1000LL
#define LIMIT_MAX_MS (15 * 60 * 1000LL)
#define LIMIT_FORGET_MS (15 * 60 * 1000LL)

struct limiter;

struct limiter *limiter_new(size_t cap);
void limiter_free(struct limiter *l);
/* Milliseconds until key may try again; 0: now. */
int64_t limiter_wait_ms(struct limiter *l, const char *key, int64_t now);
/* Has key failed recently (even below the threshold)? */
bool limiter_failed(struct limiter *l, const char *key, int64_t now);
/* Count a failure of key at now. */
void limiter_fail(struct limiter *l, const char *key, int64_t now);
/* Forget key (a success). */
void limiter_forget(struct limiter *l, const char *key);
/*
 * The key of a client address: an IPv4 address as it is (an IPv4-mapped
 * IPv6 address as its IPv4 form), an IPv6 address as its /64 prefix
 * ("2001:db8:1:2::/64"), since one host usually holds a whole /64 and
 * could otherwise rotate through it for fresh attempts. Anything else is
 * copied (cut to LIMIT_KEY_MAX).
 */
void limiter_addr_key(const char *addr, char out[LIMIT_KEY_MAX + 1]);
/* Keys tracked. */
size_t limiter_count(struct limiter *l);

#endif
