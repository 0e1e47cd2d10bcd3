/*
 * host.h - the daemon's side of channel_host (channel.h declares what
 * adapters call; host.c implements both). One host per process, made
 * after the store and before channels are opened.
 */
#ifndef MSGD_CHANNEL_HOST_H
#define MSGD_CHANNEL_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "channel.h"

struct event_base;
struct store;

struct channel_host *channel_host_new(struct event_base *base, struct store *st,
    struct channel_registry *reg);
/* Aborts every request (callbacks run with a network error) and refuses
 * new ones and new commits: at shutdown, before the store closes. */
void channel_host_stop(struct channel_host *h);
/* After registry_free(): frees what is left. */
void channel_host_free(struct channel_host *h);
/* fn runs on the loop after each channel_submit() commit, before the
 * adapter's after_commit (the API keeps the registry's channel states). */
void channel_host_on_commit(struct channel_host *h,
    void (*fn)(void *arg, struct channel *ch, const struct ingest_batch *b), void *arg);
/* fn runs on the loop before each channel_submit() batch goes to the
 * store (the API tags opt-out keywords: api_optout_tag()). */
void channel_host_on_submit(struct channel_host *h, void (*fn)(void *arg, struct ingest_batch *b),
    void *arg);
/* Free ch's timers (registry_remove() calls it before close()). */
void channel_host_forget(struct channel_host *h, struct channel *ch);
/* The next channel serial (registry_add()). */
uint64_t channel_host_serial(void);

#endif
