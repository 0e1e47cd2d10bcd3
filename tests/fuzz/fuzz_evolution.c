/*
 * fuzz_evolution.c - an Evolution API webhook body, as bytes, through what
 * the channel's webhook does: json_parse_capped() at EVO_JSON_DEPTH_MAX,
 * evo_body_check() against a fixed key and instance, then (for any body
 * with string "event" and "instance" members, so the corpus files' own
 * keys need not match) evo_normalize() into a batch. The batch must be
 * well formed: every record of channel 1, messages with an id, addresses
 * and a type, edits and deletes with a target, statuses forward-only
 * words, states with a state and a QR text the renderer accepts.
 * Seeds: shared/corpus/evolution/inbound (tools/fuzz.sh) and
 * tests/fuzz/seeds/evolution.
 */
#include <jansson.h>

#include "channels/evolution.h"
#include "core/model.h"
#include "fuzz.h"
#include "log/log.h"
#include "util/qr.h"
#include "util/util.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(LOGL_ERROR);  /* the warnings about odd records cost more than parsing */
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	json_t *root = NULL;
	struct ingest_batch b = { 0 };
	enum evo_body_check c;

	if (json_parse_capped((const char *)data, size, EVO_JSON_DEPTH_MAX, &root, err,
	    sizeof(err)) != 0)
		return 0;
	c = evo_body_check(root, "00000000-0000-4000-8000-000000000000", "tigo1");
	FUZZ_CHECK(c == EVO_BODY_OK || c == EVO_BODY_MALFORMED || c == EVO_BODY_REFUSED);
	if (!json_is_object(root))
		FUZZ_CHECK(c == EVO_BODY_MALFORMED);
	if (json_is_string(json_object_get(root, "event")) &&
	    json_is_string(json_object_get(root, "instance"))) {
		evo_normalize(root, 1, &b);
		for (size_t i = 0; i < b.nmsgs; i++) {
			const struct msg_in *m = &b.msgs[i];
			FUZZ_CHECK(m->channel_id == 1);
			FUZZ_CHECK(m->provider_message_id != NULL && *m->provider_message_id);
			FUZZ_CHECK(m->type != NULL && m->raw != NULL && m->parts != NULL);
			FUZZ_CHECK(m->from != NULL && m->to != NULL && m->contact_address != NULL);
			FUZZ_CHECK(m->echo == (m->direction == DIR_OUT));
			FUZZ_CHECK((m->action == MSG_NEW) == (m->target == NULL));
		}
		for (size_t i = 0; i < b.nstatuses; i++) {
			const struct status_in *s = &b.statuses[i];
			FUZZ_CHECK(s->channel_id == 1 && s->provider_message_id && s->raw);
			FUZZ_CHECK(s->status == ST_SENT || s->status == ST_DELIVERED ||
			    s->status == ST_READ || s->status == ST_FAILED);
		}
		for (size_t i = 0; i < b.nstates; i++) {
			const struct state_in *s = &b.states[i];
			FUZZ_CHECK(s->channel_id == 1 && s->state != CONN_NONE);
			FUZZ_CHECK(s->qr == NULL || (*s->qr && strlen(s->qr) <= QR_TEXT_MAX));
			FUZZ_CHECK((s->qr == NULL && s->pairing_code == NULL) ||
			    s->state == CONN_PAIRING);
		}
		FUZZ_CHECK(b.nevents == 0 && b.ncontacts == 0);
	}
	ingest_batch_free(&b);
	json_decref(root);
	return 0;
}
