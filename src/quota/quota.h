/*
 * quota.h - the arithmetic of API rate limits and sending quotas.
 *
 * Pure: no store, no loop, no globals, no clock. The caller passes the
 * time, the limits and the counts it read; nothing here logs. The API
 * (429 rate_limited, 429 quota_exceeded, 409 duplicate_content, the usage
 * endpoint) and the outbox's dispatcher (deferring sends, throttled_until)
 * call it. Every function runs on any thread; a struct ratelimit belongs
 * to one thread (the loop's).
 *
 * 1. API rate limits: a token bucket per key (ratelimit.c).
 *    A key ("key:<id>", "org:<id>", "addr:<limiter_addr_key()>", ...) has
 *    a bucket of conf->burst tokens refilled by conf->rate tokens every
 *    conf->per_ms ms (1000 when 0). A request takes `cost` tokens (1
 *    usually; 0 reads the state without taking anything) or is refused
 *    taking nothing. Arithmetic is integer: a token is per_ms units and
 *    each ms adds rate units, so no rate drifts, whatever its period.
 *    A new key starts full. Pass mono_ms(); time that goes backwards
 *    anyway refills nothing and never underflows: a step back shorter
 *    than the bucket's fill time (burst / rate periods) waits until the clock
 *    is past the last time seen again (jitter mints nothing), a longer
 *    one re-anchors the bucket at the earlier time, which refills from
 *    there (a key is never frozen for longer than a fill time).
 *    The table holds at most cap keys: a new key evicts the least recently
 *    used one (memory stays bounded whatever callers send; eviction only
 *    forgives: the key comes back full). Keys longer than
 *    RATELIMIT_KEY_MAX bytes are cut. A conf with burst or rate <= 0 is no
 *    limit (allowed, info->limit 0: send no RateLimit headers). A key
 *    charged under another conf than before (an org's limits changed)
 *    keeps its whole tokens, capped at the new burst.
 *    The table is per instance: a client spread over n instances gets n
 *    buckets. To hold a limit across instances, give each 1/n of it, or
 *    keep struct rate_bucket rows in the database and run
 *    rate_bucket_take() on them in a transaction (a write per request).
 *    struct ratelimit_info is what the headers say:
 *      RateLimit-Limit      limit      = burst
 *      RateLimit-Remaining  remaining  = whole tokens left (floor), after
 *                                        this request's take when allowed
 *      RateLimit-Reset      reset_s    = seconds until the bucket is full
 *                                        again (ceil; 0 when full)
 *      Retry-After          retry_after_s (refused only) = seconds until
 *                                        `cost` tokens are there (ceil,
 *                                        >= 1). A cost over burst never
 *                                        fits: never is set, and
 *                                        retry_after_s is reset_s (>= 1).
 *
 * 2. Sending quotas: fixed UTC windows (window.c).
 *    Limits per minute, hour and day (WA Tool's 2 / 20 / 100), each 0 for
 *    no limit, per scope (an organization, a channel). A window is a
 *    calendar minute, hour or day of UTC: [start, start + length) with
 *    start = floor(now / length) * length. Unix time has no leap seconds,
 *    so every day is 86,400,000 ms and the boundaries nest (a day boundary
 *    is an hour and a minute boundary). Fixed windows, not sliding ones,
 *    because:
 *     - several msgd instances share the counts through the database: one
 *       row per (scope, kind, window start), incremented in the send
 *       claim's transaction, is one upsert; a sliding window would need
 *       every send's time, or an approximation;
 *     - GET /v1/orgs/{org}/usage shows "n of limit, resets at end" per
 *       window, which a fixed window states exactly;
 *     - "when will it fit" has an exact answer: the end of the binding
 *       window.
 *    The price: up to twice a limit can go out across a boundary (two
 *    full minutes back to back). Each window is still held to its limit.
 *    quota_check() tells whether one more send fits now, and if not, the
 *    moment it will (until_ms): the latest end among the exceeded windows,
 *    since after the minute rolls the hour may still be full; `which` is
 *    that window's kind (the binding limit, named in 429 quota_exceeded;
 *    of windows ending at the same moment, the longest: at 23:59:30 with
 *    the minute and the day full, "day").
 *    Because the windows nest, one send fits at until_ms when nothing else
 *    was sent meanwhile. quota_room() tells how many of N waiting sends
 *    fit now, for the dispatcher to claim that many.
 *    Counts carry their window's start: a count whose start is not the
 *    current window's (a stale mirror, a row from the previous minute) is
 *    not this window's and counts as 0. quota_counts_add() rolls stale
 *    windows before adding.
 *    Several scopes (org and channel): a send fits when it fits every
 *    scope; until is the max of the blocked scopes' until; room is the
 *    min of the scopes' rooms.
 *
 *    The store's side (the contract this module expects):
 *     - MUST count a message once, when it is first claimed for sending
 *       (retries and an uncertain re-send are not counted again), in the
 *       claim's own transaction, for every scope it belongs to, in the
 *       three windows keyed by quota_window_start(kind, now);
 *     - MUST read the counts and write the increments in one transaction
 *       that other instances' claims cannot interleave with (on
 *       PostgreSQL every writing transaction holds the writer lock), so
 *       two instances never both take the last slot;
 *     - MAY delete rows whose window ended more than a day ago.
 *    The dispatcher's side: a cycle reads the counts of the channel's
 *    scopes with its due entries, claims min over the scopes of
 *    quota_room() (split by quota_split()), and the claim's transaction
 *    checks again against the counts it reads there (another instance
 *    may have sent for the same organization meanwhile) before it counts;
 *    what does not fit waits until quota_check()'s until_ms (shown as
 *    throttled_until), not counted as an attempt.
 *    The API's "on_quota":"reject" check counts the sends already waiting
 *    on the scope as used (quota_counts_add()), else a send accepted as
 *    "fits now" could still be deferred behind them.
 *
 * 3. Bulk cooldown and duplicate detection (window.c, dedup.c).
 *    A bulk message to a recipient who was sent a bulk message less than
 *    cooldown_s ago waits until quota_cooldown_until() (last + cooldown);
 *    replies never wait for it. A send whose fingerprint was sent within
 *    window_s (quota_is_duplicate()) is refused with 409
 *    duplicate_content unless the request says it is intended.
 *    quota_fingerprint() is SHA-256 over a versioned tag, the
 *    organization id, the recipient address and the normalized text, each
 *    delimited by its length (no two inputs run together), as 64
 *    lower-case hex digits: the store keeps (org, fingerprint, sent_at)
 *    rows. Text normalization: leading and trailing ASCII whitespace
 *    (space, \t, \n, \v, \f, \r) is dropped and each inner run of it
 *    becomes one space, so "Hi  there\r\n" and "Hi there" are one
 *    text; case, other Unicode
 *    spaces and everything else are kept (no Unicode tables; a change of
 *    case may be meant). The caller passes the address normalized as the
 *    channel's address_normalize() does, and for non-text content a
 *    canonical text of it (a template's rendered body, a media id and its
 *    caption). A fingerprint is a digest of a message's content: its rows
 *    go with the contact's erasure and are deleted once older than the
 *    window.
 *
 * 4. Replies before bulk (window.c).
 *    When replies in a conversation and bulk sends wait on one quota, the
 *    replies take the room first: quota_split() gives the reply lane
 *    min(room, replies waiting) and the bulk lane what is left. Strict
 *    priority: bulk waits as long as replies fill the quota (they are the
 *    conversation the quota protects). The outbox's priority 0 (replies,
 *    recent contacts) is the reply lane, priority 1 the bulk lane.
 */
#ifndef MSGD_QUOTA_H
#define MSGD_QUOTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* --- 1. token buckets (ratelimit.c) --- */

#define RATELIMIT_KEY_MAX 96
#define RATELIMIT_BURST_MAX 1000000000LL   /* larger bursts are cut */
#define RATELIMIT_RATE_MAX 1000000000LL
#define RATELIMIT_PER_MAX_MS (86400LL * 1000)

struct rate_conf {
	int64_t burst;   /* capacity, tokens; <= 0: no limit */
	int64_t rate;    /* tokens added every per_ms; <= 0: no limit */
	int64_t per_ms;  /* 0: 1000 (rate per second) */
};

struct ratelimit_info {
	int64_t limit;          /* RateLimit-Limit (0: no limit, no headers) */
	int64_t remaining;      /* RateLimit-Remaining */
	int64_t reset_s;        /* RateLimit-Reset */
	int64_t retry_after_s;  /* Retry-After when refused, else 0 */
	bool never;             /* refused because cost > burst */
};

/* One bucket, for a caller that keeps it itself (e.g. a row shared by
 * several instances, updated in one transaction; pass the wall clock
 * then). Zero-initialized is a new bucket (full at its first take). */
struct rate_bucket {
	int64_t level;    /* units of 1/per_ms token */
	int64_t per_ms;   /* the period level is counted in (0: new) */
	int64_t last_ms;  /* when level was last brought up to date */
};
/* ratelimit_take() on b alone (b may be NULL only for a no-limit conf). */
bool rate_bucket_take(struct rate_bucket *b, const struct rate_conf *conf, int64_t now_ms,
    int64_t cost, struct ratelimit_info *info);

struct ratelimit;

struct ratelimit *ratelimit_new(size_t cap);
void ratelimit_free(struct ratelimit *rl);
/* Take cost tokens from key's bucket at now_ms: true when allowed (taken),
 * false when refused (nothing taken). info may be NULL. */
bool ratelimit_take(struct ratelimit *rl, const char *key, const struct rate_conf *conf,
    int64_t now_ms, int64_t cost, struct ratelimit_info *info);
/* Forget key (its bucket is full again). */
void ratelimit_forget(struct ratelimit *rl, const char *key);
/* Keys tracked (<= cap). */
size_t ratelimit_count(const struct ratelimit *rl);

/* --- 2. sending quotas (window.c) --- */

enum quota_kind {
	QUOTA_NONE = -1,
	QUOTA_MINUTE = 0,
	QUOTA_HOUR = 1,
	QUOTA_DAY = 2,
};
#define QUOTA_KINDS 3

/* Messages per window; 0 (or less) is no limit. */
struct quota_limits {
	int64_t max[QUOTA_KINDS];
};

/* Sends counted per window, each with the start of its window. */
struct quota_counts {
	struct quota_count {
		int64_t start_ms;
		int64_t n;
	} w[QUOTA_KINDS];
};

/* "minute", "hour", "day" ("none" for QUOTA_NONE or anything else). */
const char *quota_kind_name(enum quota_kind kind);
/* The kind named name, or QUOTA_NONE. */
enum quota_kind quota_kind_parse(const char *name);
/* The window's length in ms (60,000, 3,600,000, 86,400,000). */
int64_t quota_window_ms(enum quota_kind kind);
/* The start and end (exclusive) of the UTC window holding now_ms (wall
 * clock, ms since the epoch; floor, also before 1970; times beyond
 * +-2^62 ms are clamped to it). */
int64_t quota_window_start(enum quota_kind kind, int64_t now_ms);
int64_t quota_window_end(enum quota_kind kind, int64_t now_ms);
/* used's count for kind's window at now_ms (0 when used holds another
 * window's). */
int64_t quota_used(const struct quota_counts *used, enum quota_kind kind, int64_t now_ms);
/* Zero counts for the windows holding now_ms. */
void quota_counts_init(struct quota_counts *c, int64_t now_ms);
/* Count n sends at now_ms in every window (a stale window restarts at 0). */
void quota_counts_add(struct quota_counts *c, int64_t now_ms, int64_t n);
/* Does one more send fit at now_ms? If not, *until_ms is when it will (the
 * latest end of the exceeded windows) and *which the binding kind; if so,
 * *until_ms is now_ms and *which QUOTA_NONE. Either may be NULL. */
bool quota_check(const struct quota_limits *lim, const struct quota_counts *used, int64_t now_ms,
    int64_t *until_ms, enum quota_kind *which);
/* How many of want sends fit at now_ms (0..want; want when unlimited). */
int64_t quota_room(const struct quota_limits *lim, const struct quota_counts *used, int64_t now_ms,
    int64_t want);
/* Replies first: of room, *replies_out = min(room, replies) and *bulk_out
 * = min(room - *replies_out, bulk). Negative inputs count as 0. */
void quota_split(int64_t room, int64_t replies, int64_t bulk, int64_t *replies_out, int64_t *bulk_out);

/* --- 3. cooldown and duplicates (window.c, dedup.c) --- */

/* When a recipient last sent a bulk message at last_bulk_ms may be sent
 * the next: last + cooldown_s (saturating; cooldown_s <= 0: last). */
int64_t quota_cooldown_until(int64_t last_bulk_ms, int64_t cooldown_s);
/* Is a send at now_ms a duplicate of one at last_ms: now < last + window
 * (a last after now, another instance's clock a little ahead, counts as
 * recent)? window_s <= 0: never. */
bool quota_is_duplicate(int64_t last_ms, int64_t window_s, int64_t now_ms);

#define QUOTA_FP_HEX 64
/* The text as duplicate detection compares it (see 3. above), into out
 * (cap bytes with the NUL; cut at cap - 1). Returns the length written. */
size_t quota_text_normalize(const char *text, size_t len, char *out, size_t cap);
/* SHA-256 of (tag, org_id, address, normalized text), lower-case hex.
 * address and text may hold any bytes (len given); NULL with 0 is "". */
void quota_fingerprint(int64_t org_id, const char *address, size_t address_len, const char *text,
    size_t text_len, char out[QUOTA_FP_HEX + 1]);

#endif
