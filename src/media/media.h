/*
 * media.h - inbound media fetched in the background (issue 14).
 *
 * A webhook's message with media is committed with a media job
 * (media_jobs, made in the message's transaction: store/apply_media.c) and
 * answered; only then, here, is the content fetched:
 *  - due jobs are read on the reader pool and leased to this instance
 *    (STORE_OP_MEDIA_CLAIM: owner, lease_until), so with several instances
 *    each job is fetched by one; a lease that runs out (a crash) frees the
 *    job for anyone, and this instance takes its own back at once;
 *  - the channel adapter describes the steps (channel.h: media_fetch_prepare
 *    and media_fetch_parse): provider requests on a libcurl multi of our
 *    own on the loop, then the download streamed into a files_writer
 *    (files.h) capped by the channel's media limit for the message's type
 *    and files_max_bytes, or an inline base64 decoded in 48 KiB slices on a
 *    reader-pool thread (as is the parse of an answer over 64 KiB);
 *  - one op records the outcome (STORE_OP_MEDIA_RESULT): stored (the file
 *    linked from the message, message.media), retried with backoff
 *    (media_retry_ms x4 each time, capped at 12 h), or failed after
 *    media_attempts (message.media with media.status "failed").
 * At most MEDIA_CONCURRENCY jobs run at once. Nothing here blocks.
 */
#ifndef MSGD_MEDIA_H
#define MSGD_MEDIA_H

#include <stddef.h>
#include <stdint.h>

struct app;

#define MEDIA_CONCURRENCY 4
#define MEDIA_STEPS_MAX 4               /* requests before the download, per attempt */
#define MEDIA_LEASE_MS (10 * 60 * 1000) /* a claimed job is ours this long */
#define MEDIA_POLL_MS 5000              /* look for due jobs at least this often */
#define MEDIA_BACKOFF_CAP_MS (12LL * 3600 * 1000)

/* Start looking for due jobs (those left by an earlier run included). */
int media_start(struct app *app);
/* Look now: a commit made jobs. */
void media_kick(struct app *app);
/* After a batch committed (and the webhook was answered): kick when one of
 * its new messages made a media job. */
struct ingest_batch;
void media_batch_committed(struct app *app, const struct ingest_batch *b);
/* Before the store closes: abort the fetches in flight (their jobs stay
 * leased to this instance, which takes them back at its next start). */
void media_stop(struct app *app);
/* After the store closed (its last callbacks ran): free. */
void media_free(struct app *app);

/* The delay before retry number attempts (1: after the first failure). */
int64_t media_backoff_ms(int attempts, int64_t base_ms);
/* Decode base64 text (standard alphabet, padding and whitespace allowed, a
 * "data:...;base64," prefix skipped) through sink in slices; 0, or -1 when
 * it is not base64 or the sink refused. */
int media_b64_decode(const char *s, size_t len, int (*sink)(void *arg, const void *p, size_t n),
    void *arg);

#endif
