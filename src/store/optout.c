/*
 * optout.c - opt-outs in an ingest op (writer thread; issue 14).
 *
 * A new inbound message the API tagged (msg_in.optout, api_optout.c)
 * changes its contact in the message's transaction: opted_out_at and the
 * keyword set (opt-out) or cleared (opt-in), and contact.opted_out /
 * contact.opted_in appended, only when that changed something. The
 * confirmation the API added for it (optout_reply) is stored only then.
 */
#include <stdlib.h>

#include "../util/util.h"
#include "store_int.h"

int
sd_contact_optout(struct store_db *db, struct store_op *op, struct msg_in *m, int64_t contact,
    int64_t now)
{
	struct db_stmt *s = db_stmt(db->w, m->optout > 0 ? W_CONTACT_OPTOUT : W_CONTACT_OPTIN);
	int64_t seq;

	m->optout_applied = false;
	db_bind_i64(s, 1, contact);
	if (m->optout > 0) {
		db_bind_i64(s, 2, now);
		db_bind_text(s, 3, m->optout_keyword);
	}
	if (db_run(s) != 0)
		return sd_op_sql_error(db, op);
	if (db_changes(db->w) == 0)
		return 0;  /* already so */
	m->optout_applied = true;
	json_t *d = json_pack("{s:I,s:s,s:s?,s:I}", "contact_id", (json_int_t)contact, "address",
	    m->contact_address, "keyword", m->optout_keyword, "message_id", (json_int_t)m->id);
	char *ds = sd_dump(d);
	json_decref(d);
	if (ds == NULL)
		return sd_op_error(op, "opt-out: a string is not UTF-8");
	int r = sd_append_event(db, 0, m->optout > 0 ? "contact.opted_out" : "contact.opted_in", now,
	    m->channel_id, m->conversation_id, m->id, ds, &seq);
	free(ds);
	if (r != 0)
		return sd_op_sql_error(db, op);
	op->last_seq = seq;
	return 0;
}
