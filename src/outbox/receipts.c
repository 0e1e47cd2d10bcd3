/*
 * receipts.c - read receipts: when a conversation is marked read, the
 * adapter's read_prepare() request for its last inbound message goes out
 * on the outbox's HTTP client, fire and forget (a refused receipt is
 * logged, never retried: it changes nothing msgd keeps).
 */
#include <stdio.h>
#include <stdlib.h>

#include "../channels/channel.h"
#include "../httpc/httpc.h"
#include "../log/log.h"
#include "../util/util.h"
#include "outbox.h"
#include "outbox_int.h"

#define RECEIPT_TIMEOUT_MS 15000

struct receipt {
	struct outbox *ob;
	char *provider_id;
};

static void
on_receipt_done(void *arg, const struct send_response *resp)
{
	struct receipt *r = arg;

	if (r->ob->stopping) {
		free(r->provider_id);
		free(r);
		return;
	}
	if (resp->http_status < 200 || resp->http_status >= 300) {
		char st[16];
		snprintf(st, sizeof(st), "%ld", resp->http_status);
		log_warn("read receipt not accepted", "provider_message_id", r->provider_id,
		    "status", st, "error", resp->net_error);
	}
	r->ob->inflight--;
	free(r->provider_id);
	free(r);
}

void
outbox_send_receipt(struct outbox *ob, int64_t channel_id, const char *provider_message_id)
{
	struct channel *ch = registry_find_id(ob->reg, channel_id);
	struct send_request req = { 0 };

	if (ch == NULL || ch->ops->read_prepare == NULL || provider_message_id == NULL ||
	    *provider_message_id == '\0')
		return;
	if (ch->ops->read_prepare(ch, provider_message_id, &req) != 0) {
		send_request_free(&req);
		return;
	}
	struct receipt *r = xcalloc(1, sizeof(*r));
	r->ob = ob;
	r->provider_id = xstrdup(provider_message_id);
	ob->inflight++;
	if (httpc_start(ob->hc, &req, RECEIPT_TIMEOUT_MS, on_receipt_done, r) != 0) {
		ob->inflight--;
		free(r->provider_id);
		free(r);
	}
	send_request_free(&req);
}
