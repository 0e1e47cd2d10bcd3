/*
 * clock.c - the dispatcher and wall-clock jumps.
 *
 * Due times on disk are wall-clock ms: they must survive a restart, and a
 * scheduled_at is a calendar time. Every deadline kept in memory (pause,
 * throttle, breaker, recipient gap, the next cycle) is monotonic. When the
 * wall clock jumps, the delay-based due times on disk move by the jump
 * (STORE_OP_OUTBOX_SHIFT), so a backoff of 30 s stays 30 s whether the
 * clock was set back an hour or forward a day; scheduled sends keep their
 * calendar time. A jump while msgd was stopped cannot be measured: at
 * start, no delay-based due time may lie further than the longest delay
 * the dispatcher ever sets (OUTBOX_DELAY_MAX_MS).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "../log/log.h"
#include "../store/store.h"
#include "../util/util.h"
#include "outbox_int.h"

#define CLOCK_JUMP_MS 2000          /* the wall clock moved this much more than the monotonic one */

static void
shift_done(struct store_op *op, void *arg)
{
	struct outbox *ob = arg;
	char d[24], n[24];

	ob->ops_outstanding--;
	ob->shifting--;
	snprintf(d, sizeof(d), "%" PRId64, op->u.shift.delta_ms);
	snprintf(n, sizeof(n), "%" PRId64, op->u.shift.count);
	if (op->result != 0) {
		/* Owed: the next cycle tries again; until then nothing is
		 * dispatched and no result is flushed (they are in the new frame,
		 * the rows on disk still in the old one). */
		log_error("outbox: cannot move due times after a clock jump; retrying", "jump_ms", d,
		    "error", op->errmsg);
		ob->shift_owed += op->u.shift.delta_ms;
		ob->shift_failed = true;
		free(op);
		outbox_kick_at(ob, mono_ms() + RESULT_RETRY_MS);
		return;
	}
	if (op->u.shift.count > 0)
		log_info("outbox: due times moved with the wall clock", "jump_ms", d, "entries", n);
	free(op);
	if (ob->npending > 0 && !event_pending(ob->ev_flush, EV_TIMEOUT, NULL))
		event_active(ob->ev_flush, EV_TIMEOUT, 0);
	outbox_kick(ob);
}

void
outbox_shift_due(struct outbox *ob, int64_t delta_ms, int64_t now)
{
	struct store_op *op = xcalloc(1, sizeof(*op));

	*op = (struct store_op){
		.kind = STORE_OP_OUTBOX_SHIFT,
		.u.shift = { .delta_ms = delta_ms, .cap_ms = now + OUTBOX_DELAY_MAX_MS },
		.done = shift_done,
		.arg = ob,
	};
	ob->ops_outstanding++;
	ob->shifting++;
	store_submit(ob->st, op);
}

/* Has the wall clock jumped since the last look? Results not yet flushed
 * move with it here; those submitted are moved by the shift, which the
 * store applies after them. */
bool
outbox_clock_jumped(struct outbox *ob, int64_t now, int64_t mono)
{
	int64_t skew = now - mono, delta = skew - ob->skew_ms;

	if (delta > -CLOCK_JUMP_MS && delta < CLOCK_JUMP_MS)
		return false;
	ob->skew_ms = skew;
	char d[24];
	snprintf(d, sizeof(d), "%" PRId64, delta);
	log_warn("the wall clock jumped; send delays keep their length", "jump_ms", d);
	for (size_t i = 0; i < ob->npending; i++)
		if (ob->pending[i].result == OUTBOX_RETRY || ob->pending[i].result == OUTBOX_REQUEUE)
			ob->pending[i].due_ms += delta;
	outbox_shift_due(ob, delta, now);
	return true;
}

int64_t
outbox_now(struct outbox *ob)
{
	int64_t now = now_ms();

	outbox_clock_jumped(ob, now, mono_ms());
	return now;
}

/* A monotonic deadline as wall-clock ms (for what the API shows). */
int64_t
outbox_wall_of(int64_t mono_deadline, int64_t now, int64_t mono)
{
	return mono_deadline > 0 ? now + (mono_deadline - mono) : 0;
}
