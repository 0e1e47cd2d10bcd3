/*
 * outbox.c - the dispatch cycle (strategies in outbox.h).
 *
 * One cycle at a time: for each channel that may send now, read its due
 * entries (up to what pacing, concurrency and the breaker allow; every
 * channel's in one job on the store's reader pool, due.c), claim them in
 * one store op, and once the claim is durable start their
 * attempts: an HTTP request through httpc (libcurl multi on the loop), or
 * send_local() for channels without HTTP. Each attempt's outcome becomes an
 * outbox_item result; results are group-committed by one RESULT op per
 * loop iteration. Every committed change kicks the next cycle.
 *
 * Its state (struct outbox, per-channel struct ochan) is in outbox_int.h,
 * shared with receipts.c (read receipts), clock.c (wall
 * clock jumps) and lease.c (claims as leases, channel dispatch leases among
 * several instances); reason.c words the reasons and credcheck.c runs credential
 * checks.
 */
#include "outbox.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <uthash.h>

#include "../channels/channel.h"
#include "../httpc/httpc.h"
#include "../log/log.h"
#include "../metrics/metrics.h"
#include "../store/store.h"
#include "../util/util.h"
#include "outbox_int.h"

#define CHANNEL_INFLIGHT_MAX 512    /* attempts in flight per channel (claimed, sending) */
#define CYCLE_BATCH_MAX 512         /* entries claimed per channel per cycle */
#define HTTP_CONNECTIONS_MAX 64     /* keep-alive connections per provider host */
#define IDLE_POLL_MS 5000           /* idle: re-check the outbox this often (a safety net) */
#define BLOCKED_PAUSE_MS (3600 * 1000)

static uint32_t
rnd(struct outbox *ob)
{
	/* xorshift32: jitter only, no security role. */
	uint32_t x = ob->rng;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return ob->rng = x ? x : 0x9e3779b9u;
}

static struct ochan *
ochan_find(struct outbox *ob, int64_t channel_id)
{
	for (struct ochan *oc = ob->chans; oc; oc = oc->next)
		if (oc->channel_id == channel_id)
			return oc;
	return NULL;
}

/* The channel's dispatch state, with its config (re)read. */
static struct ochan *
ochan_get(struct outbox *ob, const struct channel *ch)
{
	struct ochan *oc = ochan_find(ob, ch->id);
	int rate = (int)channel_send_setting(ch, "rate_per_second");

	if (oc == NULL) {
		oc = xcalloc(1, sizeof(*oc));
		oc->channel_id = ch->id;
		oc->rate = -1;
		breaker_init(&oc->breaker, (int)channel_send_setting(ch, "breaker_threshold"),
		    channel_send_setting(ch, "breaker_cooldown_s") * 1000);
		oc->next = ob->chans;
		ob->chans = oc;
	}
	if (rate != oc->rate) {
		pacer_free(&oc->pacer);
		pacer_init(&oc->pacer, rate);
		oc->rate = rate;
	}
	oc->breaker.threshold = (int)channel_send_setting(ch, "breaker_threshold");
	oc->breaker.cooldown_ms = channel_send_setting(ch, "breaker_cooldown_s") * 1000;
	oc->gap_ms = channel_send_setting(ch, "recipient_gap_ms");
	oc->group_gap_ms = channel_send_setting(ch, "group_gap_ms");
	oc->max_attempts = (int)channel_send_setting(ch, "max_attempts");
	oc->max_age_ms = channel_send_setting(ch, "max_age_s") * 1000;
	oc->timeout_ms = (long)channel_send_setting(ch, "request_timeout_ms");
	return oc;
}

static void
recip_key(char key[RECIP_KEY_MAX], int64_t channel_id, const char *addr)
{
	snprintf(key, RECIP_KEY_MAX, "%" PRId64 ":%s", channel_id, addr ? addr : "");
}

static int64_t
recip_next(struct outbox *ob, int64_t channel_id, const char *addr)
{
	char key[RECIP_KEY_MAX];
	struct recip *r;

	recip_key(key, channel_id, addr);
	HASH_FIND_STR(ob->recips, key, r);
	return r ? r->next_ms : 0;
}

static void
recip_set(struct outbox *ob, int64_t channel_id, const char *addr, int64_t next_ms)
{
	char key[RECIP_KEY_MAX];
	struct recip *r;

	recip_key(key, channel_id, addr);
	HASH_FIND_STR(ob->recips, key, r);
	if (r == NULL) {
		r = xcalloc(1, sizeof(*r));
		memcpy(r->key, key, sizeof(key));
		HASH_ADD_STR(ob->recips, key, r);
	}
	if (next_ms > r->next_ms)
		r->next_ms = next_ms;
}

/* Forget recipients whose delay has passed (keeps the table small). */
static void
recip_sweep(struct outbox *ob, int64_t now)
{
	struct recip *r, *tmp;

	HASH_ITER(hh, ob->recips, r, tmp) {
		if (r->next_ms <= now) {
			HASH_DEL(ob->recips, r);
			free(r);
		}
	}
}

static int64_t
mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Run a cycle at when_us (monotonic), unless one is due earlier. */
static void
kick_at_us(struct outbox *ob, int64_t when_us)
{
	int64_t now = mono_us(), d = when_us - now;

	if (d < 0)
		d = 0;
	if (event_pending(ob->ev_cycle, EV_TIMEOUT, NULL) && ob->wake_us <= now + d)
		return;
	ob->wake_us = now + d;
	struct timeval tv = { .tv_sec = d / 1000000, .tv_usec = d % 1000000 };
	event_add(ob->ev_cycle, &tv);
}

void
outbox_kick_at(struct outbox *ob, int64_t when)
{
	kick_at_us(ob, when * 1000);
}

void
outbox_kick(struct outbox *ob)
{
	if (ob && !ob->draining)
		kick_at_us(ob, 0);
}

/* --- results --- */

static struct outbox_item *
add_result(struct outbox *ob, int64_t message_id, enum outbox_result result)
{
	if (ob->npending == ob->cappending) {
		ob->cappending = ob->cappending ? ob->cappending * 2 : 64;
		ob->pending = xrealloc(ob->pending, ob->cappending * sizeof(*ob->pending));
	}
	struct outbox_item *it = &ob->pending[ob->npending++];
	*it = (struct outbox_item){ .message_id = message_id, .result = result };
	if (!event_pending(ob->ev_flush, EV_TIMEOUT, NULL))
		event_active(ob->ev_flush, EV_TIMEOUT, 0);
	return it;
}

static void
results_done(struct store_op *op, void *arg)
{
	struct results *r = arg;
	struct outbox *ob = r->ob;

	ob->ops_outstanding--;
	if (op->result != 0 && !ob->stopping) {
		/* Never drop an outcome: keep it and commit it again shortly. */
		log_error("outbox: cannot record send results; retrying", "error", op->errmsg);
		/* Due times stamped before a clock jump noticed since: into the
		 * current frame (a shift that committed meanwhile missed them). */
		int64_t moved = ob->skew_ms - r->skew_ms;
		for (size_t i = 0; i < r->n; i++) {
			struct outbox_item *it = add_result(ob, r->items[i].message_id, r->items[i].result);
			*it = r->items[i];
			if (it->result == OUTBOX_RETRY || it->result == OUTBOX_REQUEUE)
				it->due_ms += moved;
		}
		free(r->items);
		free(r);
		struct timeval tv = { .tv_sec = RESULT_RETRY_MS / 1000, .tv_usec = 0 };
		event_del(ob->ev_flush);
		event_add(ob->ev_flush, &tv);
		return;
	}
	for (size_t i = 0; i < r->n; i++) {
		free(r->items[i].provider_message_id);
		free(r->items[i].recipient);
	}
	free(r->items);
	free(r);
	outbox_kick(ob);
}

static void
on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct outbox *ob = arg;

	if (ob->npending == 0 || ob->stopping || ob->shift_failed)
		return;
	struct results *r = xcalloc(1, sizeof(*r));
	r->ob = ob;
	r->skew_ms = ob->skew_ms;
	r->items = ob->pending;
	r->n = ob->npending;
	ob->pending = NULL;
	ob->npending = ob->cappending = 0;
	r->op = (struct store_op){
		.kind = STORE_OP_OUTBOX_RESULT,
		.u.outbox = { .items = r->items, .n = r->n, .owner = ob->owner },
		.done = results_done,
		.arg = r,
	};
	ob->ops_outstanding++;
	store_submit(ob->st, &r->op);
}

void
attempt_free(struct attempt *a)
{
	json_decref(a->message);
	free(a->recipient);
	free(a);
}

static void
set_error(struct outbox_item *it, const struct attempt *a, const struct send_outcome *out)
{
	error_code_text(it->error_code_text, out->error_code, a->http, a->http_status);
	it->error_code = out->error_code;
	snprintf(it->error_title, sizeof(it->error_title), "%s", out->error_title);
	snprintf(it->error_detail, sizeof(it->error_detail), "%s", out->error_detail);
}

static void
expire(struct outbox *ob, struct attempt *a, const struct send_outcome *out)
{
	struct outbox_item *it = add_result(ob, a->message_id, OUTBOX_FAILED);
	char last[400];

	metrics_expired(a->channel_id);
	set_error(it, a, out);
	error_text(last, sizeof(last), out->error_title, out->error_detail);
	snprintf(it->error_title, sizeof(it->error_title), "expired");
	snprintf(it->error_detail, sizeof(it->error_detail),
	    "gave up after %d attempts; last error: %s", a->attempts, last);
	utf8_sanitize(it->error_detail);
}

/* Try again at due, or give up when attempts or age ran out. */
static void
retry_or_expire(struct outbox *ob, struct ochan *oc, struct attempt *a,
    const struct send_outcome *out, int64_t due)
{
	int64_t now = now_ms();

	if (a->attempts >= oc->max_attempts || now - a->created_ms >= oc->max_age_ms) {
		expire(ob, a, out);
		return;
	}
	struct outbox_item *it = add_result(ob, a->message_id, OUTBOX_RETRY);
	it->due_ms = due;
	set_error(it, a, out);
}

/* Put back without counting the attempt (the channel's trouble, not the
 * message's) unless the message is older than max_age_s. */
static void
requeue_or_expire(struct outbox *ob, struct ochan *oc, struct attempt *a,
    const struct send_outcome *out, int64_t due)
{
	if (now_ms() - a->created_ms >= oc->max_age_ms) {
		expire(ob, a, out);
		return;
	}
	struct outbox_item *it = add_result(ob, a->message_id, OUTBOX_REQUEUE);
	it->due_ms = due;
	set_error(it, a, out);
}

/* Hold the channel: until (mono_ms()), or until its config changes (0). */
static void
pause_channel(struct outbox *ob, struct ochan *oc, int64_t until, const char *code,
    const char *title, const char *detail)
{
	struct channel *ch = registry_find_id(ob->reg, oc->channel_id);
	char why[300];

	oc->paused = true;
	oc->paused_until = until;
	reason_set(&oc->pause_reason, code, title, detail, now_ms());
	/* Shared with the API, /readyz, the panel and the other instances. */
	snprintf(why, sizeof(why), "%s%s%s", code ? code : "", code && title ? ": " : "",
	    title ? title : "");
	if (ch)
		channel_report_state(ch, CONN_PAUSED, why[0] ? why : NULL);
}

/* The pause is over (it lapsed, or the config changed). */
static void
unpause_channel(struct outbox *ob, struct ochan *oc)
{
	struct channel *ch = registry_find_id(ob->reg, oc->channel_id);

	oc->paused = false;
	reason_clear(&oc->pause_reason);
	if (ch && ch->conn == CONN_PAUSED)
		channel_report_state(ch, CONN_CONNECTED, NULL);
}


/* Turn one attempt's outcome into a result and update the channel's state. */
void
handle_outcome(struct attempt *a, struct send_outcome *out, bool local)
{
	struct outbox *ob = a->ob;
	struct ochan *oc = ochan_find(ob, a->channel_id);
	int64_t now = outbox_now(ob), mono = mono_ms();
	char mid[24], code[24];

	ob->inflight--;
	if (oc)
		oc->inflight--;
	metrics_send_outcome(a->channel_id, (int)out->kind, now - a->created_ms);
	snprintf(mid, sizeof(mid), "%" PRId64, a->message_id);
	snprintf(code, sizeof(code), "%" PRId64, out->error_code);
	if (oc == NULL) {
		/* The channel is gone; the message cannot be sent. */
		struct outbox_item *it = add_result(ob, a->message_id, OUTBOX_FAILED);
		snprintf(it->error_title, sizeof(it->error_title), "channel deleted");
		goto out;
	}
	if (out->kind != SEND_OK)
		log_info("send attempt failed", "message", mid, "outcome", send_outcome_name(out->kind),
		    "code", code, "error", out->error_title);
	switch (out->kind) {
	case SEND_OK: {
		breaker_success(&oc->breaker);
		oc->throttle_level = 0;
		struct outbox_item *it = add_result(ob, a->message_id, OUTBOX_ACCEPTED);
		it->provider_message_id = xstrdup_or_null(out->provider_message_id);
		struct channel *ch = registry_find_id(ob->reg, a->channel_id);
		if (ch && ch->ops->after_send)
			ch->ops->after_send(ch, a->message, out);  /* the sandbox plays the far end */
		break;
	}
	case SEND_TEMPFAIL: {
		enum breaker_state before = oc->breaker.state;
		breaker_failure(&oc->breaker, mono);
		if (oc->breaker.state == BREAKER_OPEN) {
			/* Opened (or opened again by a failed probe): say why. */
			int64_t since = before == BREAKER_CLOSED ? now : oc->breaker_reason.since_ms;
			char c[REASON_CODE_MAX];
			error_code_text(c, out->error_code, a->http, a->http_status);
			reason_set(&oc->breaker_reason, c, out->error_title, out->error_detail,
			    since ? since : now);
		}
		int64_t d = backoff_ms(a->attempts, rnd(ob));
		if (out->retry_after_ms > d)
			d = out->retry_after_ms;
		retry_or_expire(ob, oc, a, out, now + d);
		break;
	}
	case SEND_THROTTLED: {
		if (a->probe)
			breaker_release(&oc->breaker);
		oc->throttle_level++;
		int64_t d = backoff_ms(oc->throttle_level, rnd(ob));
		if (out->retry_after_ms > d)
			d = out->retry_after_ms;
		oc->throttled_until = mono + d;
		char c[REASON_CODE_MAX];
		error_code_text(c, out->error_code, a->http, a->http_status);
		reason_set(&oc->throttle_reason, c, out->error_title, out->error_detail, now);
		requeue_or_expire(ob, oc, a, out, now + d);
		break;
	}
	case SEND_RECIPIENT_THROTTLED: {
		breaker_success(&oc->breaker);
		int64_t d = backoff_ms(a->attempts, rnd(ob));
		if (out->retry_after_ms > d)
			d = out->retry_after_ms;
		recip_set(ob, a->channel_id, a->recipient, mono + d);
		retry_or_expire(ob, oc, a, out, now + d);
		break;
	}
	case SEND_PERMFAIL: {
		/* The provider answered: it is up. A failure found here (the message
		 * cannot be expressed, the channel is gone) tells nothing. */
		if (!local)
			breaker_success(&oc->breaker);
		else if (a->probe)
			breaker_release(&oc->breaker);
		struct outbox_item *it = add_result(ob, a->message_id, OUTBOX_FAILED);
		set_error(it, a, out);
		break;
	}
	case SEND_RECIPIENT_BLOCKED:
	case SEND_RECIPIENT_INVALID: {
		/* This recipient is lost, not the channel: it answered. */
		breaker_success(&oc->breaker);
		struct outbox_item *it = add_result(ob, a->message_id, OUTBOX_FAILED);
		set_error(it, a, out);
		it->recipient_status = out->kind == SEND_RECIPIENT_BLOCKED ? CONTACT_BLOCKED :
		    CONTACT_INVALID;
		it->recipient = xstrdup_or_null(a->recipient);
		break;
	}
	case SEND_CREDENTIALS:
	case SEND_BLOCKED: {
		if (a->probe)
			breaker_release(&oc->breaker);
		bool creds = out->kind == SEND_CREDENTIALS;
		if (!oc->paused) {
			int64_t until = creds ? 0 : mono + (out->retry_after_ms > 0 ? out->retry_after_ms : BLOCKED_PAUSE_MS);
			char c[REASON_CODE_MAX];
			error_code_text(c, out->error_code, a->http, a->http_status);
			pause_channel(ob, oc, until, c, out->error_title, out->error_detail);
			struct channel *ch = registry_find_id(ob->reg, a->channel_id);
			log_error(creds ? "channel paused: fix its credentials (PATCH the channel)" :
			    "channel paused: the provider restricted the account",
			    "channel", ch ? ch->name : "?", "code", code, "error", out->error_title);
		}
		requeue_or_expire(ob, oc, a, out, now);
		break;
	}
	}
out:
	free(out->provider_message_id);
	out->provider_message_id = NULL;
	attempt_free(a);
}

static void
on_http_done(void *arg, const struct send_response *resp)
{
	struct attempt *a = arg;

	if (a->ob->stopping) {
		/* Shutting down mid-request: the entry stays in flight on disk and
		 * comes back as uncertain at the next start. */
		attempt_free(a);
		return;
	}
	struct channel *ch = registry_find_id(a->ob->reg, a->channel_id);
	struct send_outcome out = { 0 };

	a->http = true;
	a->http_status = resp->http_status;
	if (ch == NULL || ch->ops->send_classify == NULL) {
		out.kind = SEND_PERMFAIL;
		snprintf(out.error_title, sizeof(out.error_title), "channel deleted");
	} else {
		ch->ops->send_classify(ch, a->message, resp, &out);
		if (out.kind == SEND_OK)
			outbox_media_sent(a->ob, ch, a, resp);  /* a reusable media id (upload.c) */
	}
	handle_outcome(a, &out, ch == NULL);
}

static void
start_attempt(struct outbox *ob, struct attempt *a)
{
	struct channel *ch = registry_find_id(ob->reg, a->channel_id);
	struct ochan *oc = ochan_find(ob, a->channel_id);
	struct send_outcome out = { 0 };

	ob->inflight++;
	if (oc)
		oc->inflight++;
	if (ch == NULL) {
		out.kind = SEND_PERMFAIL;
		snprintf(out.error_title, sizeof(out.error_title), "channel deleted");
		handle_outcome(a, &out, true);
		return;
	}
	if (ch->ops->send_local) {
		ch->ops->send_local(ch, a->message, &out);
		handle_outcome(a, &out, false);
		return;
	}
	/* A stored file may need an upload first (upload.c): the send goes on later. */
	if (outbox_media_step(ob, ch, a) != 0)
		return;
	outbox_attempt_send(ob, ch, a);
}

void
outbox_attempt_send(struct outbox *ob, struct channel *ch, struct attempt *a)
{
	struct ochan *oc = ochan_find(ob, a->channel_id);
	struct send_outcome out = { 0 };
	struct channel_error err = { 0 };
	struct send_request req = { 0 };

	if (ch->ops->send_prepare == NULL || ch->ops->send_prepare(ch, a->message, &req, &err) != 0) {
		out.kind = SEND_PERMFAIL;
		snprintf(out.error_title, sizeof(out.error_title), "cannot be sent on this channel");
		snprintf(out.error_detail, sizeof(out.error_detail), "%s%s%s", err.field,
		    err.field[0] ? ": " : "", err.message);
		send_request_free(&req);
		handle_outcome(a, &out, true);
		return;
	}
	if (httpc_start(ob->hc, &req, oc ? oc->timeout_ms : 15000, on_http_done, a) != 0) {
		out.kind = SEND_TEMPFAIL;
		snprintf(out.error_title, sizeof(out.error_title), "cannot start the request");
		handle_outcome(a, &out, true);
	}
	send_request_free(&req);
}

/* --- the cycle --- */

static void
cycle_done(struct store_op *op, void *arg)
{
	struct cycle *c = arg;
	struct outbox *ob = c->ob;

	ob->cycle_busy = false;
	for (size_t i = 0; i < c->n; i++) {
		struct attempt *a = c->attempts[i];
		if (op->result != 0 || !c->items[i].claimed) {
			/* Not claimed (cancelled meanwhile) or the claim failed: not sent. */
			struct ochan *oc = ochan_find(ob, a->channel_id);
			if (oc && a->probe)
				breaker_release(&oc->breaker);
			attempt_free(a);
		} else if (ob->draining) {
			struct outbox_item *it = add_result(ob, a->message_id, OUTBOX_REQUEUE);
			it->due_ms = outbox_now(ob);
			attempt_free(a);
		} else {
			start_attempt(ob, a);
		}
	}
	free(c->items);
	free(c->quotas);
	free(c->attempts);
	free(c);
	outbox_kick(ob);
}


static bool
can_send(const struct channel *ch)
{
	return ch->ops->send_local || ch->ops->send_prepare;
}

/* Nothing to start now: sleep until a channel's next due entry or the end
 * of a pause, throttle or open breaker (wake, mono_ms()), or until pacing
 * allows the next send (wake_us, exact to the microsecond). Attempts that
 * finish, and new sends, kick a cycle themselves. */
static void
cycle_sleep(struct outbox *ob, int64_t wake, int64_t wake_us)
{
	outbox_kick_at(ob, wake);
	if (wake_us != INT64_MAX)
		kick_at_us(ob, wake_us);
}

static void
on_cycle(evutil_socket_t fd, short what, void *arg)
{
	struct outbox *ob = arg;
	/* now: due times on disk; mono (and wake): deadlines in memory. */
	int64_t now = now_ms(), mono = mono_ms(), wake = mono + IDLE_POLL_MS, wake_us = INT64_MAX;
	struct due_read *d = NULL;

	if (ob->cycle_busy) {
		ob->kicked = true;  /* its due read may have missed what kicked: go again */
		return;
	}
	/* While due times move, what is due is not known: the shift kicks. */
	if (ob->draining || outbox_clock_jumped(ob, now, mono) || ob->shifting)
		return;
	ob->kicked = false;
	if (ob->shift_failed) {
		int64_t owed = ob->shift_owed;
		ob->shift_failed = false;
		ob->shift_owed = 0;
		outbox_shift_due(ob, owed, now);
		return;
	}
	recip_sweep(ob, mono);
	for (size_t i = 0; i < registry_count(ob->reg); i++) {
		struct channel *ch = registry_at(ob->reg, i);
		if (!can_send(ch) || !outbox_dispatch_held(ob, ch->id))
			continue;  /* another instance dispatches it: its lease, when taken, kicks */
		struct ochan *oc = ochan_get(ob, ch);
		if (oc->paused) {
			if (oc->paused_until == 0 || mono < oc->paused_until) {
				if (oc->paused_until && oc->paused_until < wake)
					wake = oc->paused_until;
				continue;
			}
			unpause_channel(ob, oc);
		}
		if (oc->throttled_until > mono) {
			if (oc->throttled_until < wake)
				wake = oc->throttled_until;
			continue;
		}
		int room = CHANNEL_INFLIGHT_MAX - oc->inflight;
		int64_t now_us = mono_us();
		int allow = pacer_allowance(&oc->pacer, now_us);
		if (allow <= 0) {
			int64_t t = pacer_next(&oc->pacer, now_us);
			if (t < wake_us)
				wake_us = t;
			continue;
		}
		if (room > allow)
			room = allow;
		if (room > CYCLE_BATCH_MAX)
			room = CYCLE_BATCH_MAX;
		if (room <= 0)
			continue;  /* a finishing attempt kicks the next cycle */
		bool probe = false;
		if (oc->breaker.state != BREAKER_CLOSED) {
			if (!breaker_allow(&oc->breaker, mono)) {
				if (oc->breaker.state == BREAKER_OPEN && oc->breaker.open_until < wake)
					wake = oc->breaker.open_until;
				continue;
			}
			probe = true;
			room = 1;
		}
		if (d == NULL)
			d = due_read_new(ob, now, mono);
		due_read_ask(d, ch->id, room, probe);
	}
	if (d) {
		/* Every channel's reads in one pool job; outbox_due_apply() goes on. */
		d->wake = wake;
		d->wake_us = wake_us;
		due_read_submit(ob, d);
		return;
	}
	cycle_sleep(ob, wake, wake_us);
}

/* A pause, a throttle or an open breaker that came while the channel's
 * due read ran (an attempt in flight failed): hold its entries back. */
static bool
held_back(const struct ochan *oc, bool probe, int64_t mono)
{
	return (oc->paused && (oc->paused_until == 0 || mono < oc->paused_until)) ||
	    oc->throttled_until > mono || (oc->breaker.state != BREAKER_CLOSED && !probe);
}

/* The cycle's due entries are read: take those that may go, claim them. */
void
outbox_due_apply(struct outbox *ob, struct due_read *d)
{
	int64_t now = d->now, mono = d->mono, wake = d->wake;
	struct cycle *c = NULL;
	size_t cap = 0;

	ob->cycle_busy = false;
	for (size_t i = 0; i < d->n; i++) {
		struct due_ask *q = &d->asks[i];
		struct ochan *oc = ochan_find(ob, q->channel_id);
		struct channel *ch = registry_find_id(ob->reg, q->channel_id);
		bool probe = q->probe;
		if (oc == NULL)
			continue;
		if (q->rc == 0 && json_array_size(q->due) > 0 && held_back(oc, probe, mono_ms())) {
			/* The next cycle, at once, sees the hold and sleeps until its end. */
			if (probe)
				breaker_release(&oc->breaker);
			ob->kicked = true;
			continue;
		}
		if (q->rc != 0 || json_array_size(q->due) == 0 || ob->draining || ch == NULL ||
		    !can_send(ch) || !outbox_dispatch_held(ob, ch->id)) {
			/* Nothing due, the read failed, or meanwhile a drain began, the
			 * channel was deleted or another instance took it: no claims. */
			if (probe)
				breaker_release(&oc->breaker);
			/* Nothing due here now: wake when its next entry is. */
			if (q->rc == 0 && q->next_ms > now && mono + (q->next_ms - now) < wake)
				wake = mono + (q->next_ms - now);
			continue;
		}
		size_t k;
		json_t *e;
		json_array_foreach(q->due, k, e) {
			const char *to = json_string_value(json_object_get(e, "recipient"));
			int64_t mid = json_integer_value(json_object_get(e, "message_id"));
			int64_t rn = recip_next(ob, ch->id, to);
			if (rn > mono) {
				/* This recipient must wait; the others go on. */
				struct outbox_item *it = add_result(ob, mid, OUTBOX_REQUEUE);
				it->due_ms = now + (rn - mono);
				if (probe) {
					breaker_release(&oc->breaker);
					probe = false;
				}
				continue;
			}
			if (c == NULL) {
				c = xcalloc(1, sizeof(*c));
				c->ob = ob;
			}
			if (c->n == cap) {
				cap = cap ? cap * 2 : 64;
				c->items = xrealloc(c->items, cap * sizeof(*c->items));
				c->quotas = xrealloc(c->quotas, cap * sizeof(*c->quotas));
				c->attempts = xrealloc(c->attempts, cap * sizeof(*c->attempts));
			}
			struct attempt *a = xcalloc(1, sizeof(*a));
			json_t *first = json_object_get(e, "first_attempt_ms");
			*a = (struct attempt){
				.ob = ob,
				.message_id = mid,
				.channel_id = ch->id,
				.attempts = (int)json_integer_value(json_object_get(e, "attempts")) + 1,
				.first_attempt_ms = json_is_integer(first) ? json_integer_value(first) : now,
				.created_ms = json_integer_value(json_object_get(e, "created_ms")),
				.recipient = xstrdup_or_null(to),
				.message = json_incref(json_object_get(e, "message")),
				.probe = probe,
			};
			c->items[c->n] = (struct outbox_item){ .message_id = mid };
			if (outbox_quota_of(ob, ch, (int)json_integer_value(json_object_get(e, "priority")),
			    &c->quotas[c->n]))
				c->items[c->n].quota = &c->quotas[c->n];  /* fixed up below if moved */
			c->attempts[c->n++] = a;
			pacer_record(&oc->pacer, mono_us());
			/* A group chat has its own, longer gap (Telegram: 20 a minute). */
			int64_t gap = oc->group_gap_ms > 0 && ch->ops->is_group &&
			    to && ch->ops->is_group(to) ? oc->group_gap_ms : oc->gap_ms;
			if (gap > 0)
				recip_set(ob, ch->id, to, mono + gap);
			if (json_is_true(json_object_get(e, "uncertain"))) {
				char m[24];
				snprintf(m, sizeof(m), "%" PRId64, mid);
				log_warn("retrying a message whose earlier attempt was cut off by a restart;"
				    " the provider may already have it", "message", m);
			}
		}
	}
	if (c) {
		/* quotas may have moved with a realloc: point the items at them again. */
		for (size_t i = 0; i < c->n; i++)
			if (c->items[i].quota)
				c->items[i].quota = &c->quotas[i];
		c->op = (struct store_op){
			.kind = STORE_OP_OUTBOX_CLAIM,
			.u.outbox = { .items = c->items, .n = c->n, .owner = ob->owner,
			    .lease_until = now_ms() + ob->lease_ms },
			.done = cycle_done,
			.arg = c,
		};
		ob->cycle_busy = true;
		store_submit(ob->st, &c->op);
		return;
	}
	if (ob->kicked)
		outbox_kick(ob);  /* something was committed while the read ran */
	else if (!ob->draining)
		cycle_sleep(ob, wake, d->wake_us);
}

/* --- lifecycle --- */

/* A credential check answered: refused credentials pause the channel, as
 * CREDENTIALS would at its first send. */
static void
on_credentials(void *arg, int64_t channel_id, const struct check_result *res)
{
	struct outbox *ob = arg;
	struct channel *ch = registry_find_id(ob->reg, channel_id);
	char code[REASON_CODE_MAX] = "";

	if (ch == NULL)
		return;
	if (res->state != CHECK_OK)
		log_warn("channel credential check failed", "channel", ch->name, "result",
		    check_state_name(res->state), "error", res->message);
	else
		log_info("channel credentials ok", "channel", ch->name);
	/* A type without a connect action is as connected as its credentials
	 * are (WhatsApp Cloud); the others report their own connection. */
	if (ch->ops->connect == NULL && res->state == CHECK_OK)
		channel_report_state(ch, CONN_CONNECTED, NULL);
	else if (ch->ops->connect == NULL && res->state != CHECK_INVALID_CREDENTIALS)
		channel_report_state(ch, CONN_ERROR, res->message[0] ? res->message :
		    check_state_name(res->state));
	if (res->state != CHECK_INVALID_CREDENTIALS || !can_send(ch))
		return;
	struct ochan *oc = ochan_get(ob, ch);
	if (res->error_code != 0)
		error_code_text(code, res->error_code, true, 0);
	else
		snprintf(code, sizeof(code), "invalid_credentials");
	pause_channel(ob, oc, 0, code, res->message, NULL);
	log_error("channel paused: its credentials were refused (PATCH the channel)", "channel",
	    ch->name, "error", res->message);
}

int
outbox_start(struct outbox **out, struct event_base *base, struct store *st,
    struct channel_registry *reg)
{
	struct outbox *ob = xcalloc(1, sizeof(*ob));

	ob->base = base;
	ob->st = st;
	ob->reg = reg;
	random_bytes(&ob->rng, sizeof(ob->rng));
	if (httpc_new(&ob->hc, base, HTTP_CONNECTIONS_MAX) != 0) {
		free(ob);
		return -1;
	}
	ob->cc = credcheck_new(ob->hc, on_credentials, ob);
	ob->ev_cycle = evtimer_new(base, on_cycle, ob);
	ob->ev_flush = event_new(base, -1, 0, on_flush, ob);
	ob->skew_ms = now_ms() - mono_ms();
	*out = ob;
	outbox_shift_due(ob, 0, now_ms());  /* a jump while stopped: bound the delays */
	outbox_kick(ob);
	return 0;
}

void
outbox_channel_changed(struct outbox *ob, int64_t channel_id)
{
	struct ochan *oc = ochan_find(ob, channel_id);

	if (oc) {
		/* New credentials or settings: give the channel a fresh start. */
		if (oc->paused)
			log_info("channel resumed: config changed");
		oc->paused = false;
		reason_clear(&oc->pause_reason);
		reason_clear(&oc->breaker_reason);
		reason_clear(&oc->throttle_reason);
		oc->throttled_until = 0;
		oc->throttle_level = 0;
		breaker_success(&oc->breaker);
	}
	credcheck_forget(ob->cc, channel_id);
	struct channel *ch = registry_find_id(ob->reg, channel_id);
	if (ch == NULL)
		outbox_dispatch_forget(ob, channel_id);
	else
		outbox_adapter_lease(ob, ch);  /* a reopened channel polls again if we hold it */
	outbox_kick(ob);
}

void
outbox_check_credentials(struct outbox *ob, const struct channel *ch)
{
	struct channel *c = registry_find_id(ob->reg, ch->id);

	if (c)
		credcheck_start(ob->cc, c);
}

static json_t *
time_or_null(int64_t ms)
{
	char t[21];

	if (ms <= 0)
		return json_null();
	fmt_rfc3339((ms + 999) / 1000, t);
	return json_string(t);
}

/* {"state","reason","since","until"} of the channel's sending. */
static json_t *
sending_json(const struct ochan *oc, int64_t now, int64_t mono)
{
	const char *state = "ok";
	const struct send_reason *r = NULL;
	int64_t until = 0;

	if (oc && oc->paused) {
		state = "paused";
		r = &oc->pause_reason;
		until = oc->paused_until;
	} else if (oc && oc->breaker.state == BREAKER_OPEN) {
		state = "circuit_open";
		r = &oc->breaker_reason;
		until = oc->breaker.open_until;
	} else if (oc && oc->breaker.state == BREAKER_HALF_OPEN) {
		state = "half_open";
		r = &oc->breaker_reason;
	} else if (oc && oc->throttled_until > mono) {
		state = "throttled";
		r = &oc->throttle_reason;
		until = oc->throttled_until;
	}
	return json_pack("{s:s,s:o,s:o,s:o}", "state", state, "reason",
	    r ? reason_json(r) : json_null(), "since", time_or_null(r ? r->since_ms : 0), "until",
	    time_or_null(outbox_wall_of(until, now, mono)));
}

json_t *
outbox_channel_state(struct outbox *ob, const struct channel *ch, int64_t queue_depth)
{
	struct ochan *oc = ochan_find(ob, ch->id);
	json_t *creds = credcheck_state(ob->cc, ch);

	json_t *j = json_pack("{s:o,s:I,s:i,s:i,s:s}", "sending", sending_json(oc, now_ms(), mono_ms()),
	    "queue_depth", (json_int_t)queue_depth, "inflight", oc ? oc->inflight : 0,
	    "consecutive_failures", oc ? oc->breaker.failures : 0,
	    "dispatch", outbox_dispatch_held(ob, ch->id) ? "held" : "elsewhere");
	if (creds)
		json_object_set_new(j, "credentials", creds);
	return j;
}

void
outbox_drain(struct outbox *ob)
{
	ob->draining = true;
	event_del(ob->ev_cycle);
}

size_t
outbox_busy(struct outbox *ob)
{
	return ob->inflight + ob->npending + ob->ops_outstanding + (ob->cycle_busy ? 1 : 0);
}

void
outbox_stop(struct outbox *ob)
{
	if (ob == NULL)
		return;
	ob->stopping = true;
	due_read_abandon(ob);
	credcheck_stop(ob->cc);
	httpc_free(ob->hc);  /* ends every request: their callbacks only free */
	credcheck_free(ob->cc);
	event_free(ob->ev_cycle);
	event_free(ob->ev_flush);
	outbox_leases_stop(ob);
	while (ob->chans) {
		struct ochan *oc = ob->chans;
		ob->chans = oc->next;
		pacer_free(&oc->pacer);
		free(oc);
	}
	struct recip *r, *tmp;
	HASH_ITER(hh, ob->recips, r, tmp) {
		HASH_DEL(ob->recips, r);
		free(r);
	}
	free(ob->pending);
	outbox_uploads_free(ob);
	free(ob->files_dir);
	free(ob);
}
