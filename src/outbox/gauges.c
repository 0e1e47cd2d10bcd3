/*
 * gauges.c - what the metrics (src/metrics/) read of the dispatcher when
 * /metrics or /health is asked: a channel's sends in flight and its
 * breaker, from memory, on the loop thread.
 */
#include "outbox_int.h"

void
outbox_channel_gauges(struct outbox *ob, int64_t channel_id, int64_t *inflight, int *breaker)
{
	*inflight = 0;
	*breaker = 0;
	for (struct ochan *oc = ob->chans; oc; oc = oc->next) {
		if (oc->channel_id != channel_id)
			continue;
		*inflight = oc->inflight;
		*breaker = oc->breaker.state == BREAKER_OPEN ? 2 :
		    oc->breaker.state == BREAKER_HALF_OPEN ? 1 : 0;
		return;
	}
}
