/*
 * prefetch.c - a group's lookups in two queries (backends where a query
 * costs a round trip: PostgreSQL).
 *
 * Before a group's ops run, the writer collects the keys its ingest ops
 * will look up (the messages by channel and provider id that webhooks and
 * statuses name, and the contacts by channel and address) and reads them
 * all at once. While the group runs, find_message() and upsert_contact()
 * answer from these tables whenever a key was asked for: found, or known
 * absent. The apply code keeps them true as it writes (a message inserted
 * or given a new status, a contact or conversation created, a rename).
 *
 * Whatever else could change them clears them, and every lookup goes to
 * the database again: an op that is not an ingest (the outbox's results
 * give outbound messages their provider ids), and a rolled-back op
 * (store_db_forget()). So a cached answer is always the one the database
 * would give inside this transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "../log/log.h"
#include "../util/util.h"
#include "store_int.h"

#define PF_KEY_MAX 300     /* "<channel id>|<provider id or address>", longer ones are not cached */

struct pf_msg {
	char key[PF_KEY_MAX];
	int64_t id;                 /* 0: absent */
	int64_t conv;
	enum msg_status status;
	UT_hash_handle hh;          /* by key */
	UT_hash_handle hid;         /* by id (present ones) */
};

struct pf_contact {
	char key[PF_KEY_MAX];
	int64_t id;                 /* 0: absent */
	int64_t conv;               /* 0: none yet */
	char *name;
	bool unreachable;           /* status blocked or invalid */
	UT_hash_handle hh;
};

struct prefetch {
	struct pf_msg *msgs, *by_id;
	struct pf_contact *contacts;
};

static int
pf_key(char key[PF_KEY_MAX], int64_t channel_id, const char *s)
{
	int n = snprintf(key, PF_KEY_MAX, "%lld|%s", (long long)channel_id, s);
	return n > 0 && n < PF_KEY_MAX ? 0 : -1;
}

void
prefetch_clear(struct store_db *db)
{
	struct prefetch *pf = db->pf;
	struct pf_msg *m, *mt;
	struct pf_contact *c, *ct;

	if (pf == NULL)
		return;
	HASH_CLEAR(hid, pf->by_id);
	HASH_ITER(hh, pf->msgs, m, mt) {
		HASH_DEL(pf->msgs, m);
		free(m);
	}
	HASH_ITER(hh, pf->contacts, c, ct) {
		HASH_DEL(pf->contacts, c);
		free(c->name);
		free(c);
	}
	free(pf);
	db->pf = NULL;
}

static struct pf_msg *
want_msg(struct prefetch *pf, json_t *keys, int64_t channel_id, const char *pmid)
{
	struct pf_msg *m;
	char key[PF_KEY_MAX];

	if (pmid == NULL || pf_key(key, channel_id, pmid) != 0)
		return NULL;
	HASH_FIND_STR(pf->msgs, key, m);
	if (m)
		return m;
	m = xcalloc(1, sizeof(*m));
	memcpy(m->key, key, sizeof(key));
	HASH_ADD_STR(pf->msgs, key, m);
	json_array_append_new(keys, json_pack("{s:I,s:s}", "c", (json_int_t)channel_id, "p", pmid));
	return m;
}

static void
want_contact(struct prefetch *pf, json_t *keys, int64_t channel_id, const char *address)
{
	struct pf_contact *c;
	char key[PF_KEY_MAX];

	if (address == NULL || pf_key(key, channel_id, address) != 0)
		return;
	HASH_FIND_STR(pf->contacts, key, c);
	if (c)
		return;
	c = xcalloc(1, sizeof(*c));
	memcpy(c->key, key, sizeof(key));
	HASH_ADD_STR(pf->contacts, key, c);
	json_array_append_new(keys, json_pack("{s:I,s:s}", "c", (json_int_t)channel_id, "a", address));
}

/* Run q with the keys (a JSON array) and fill what it finds; -1 on error. */
static int
fetch(struct store_db *db, enum sql q, json_t *keys, bool contacts)
{
	struct prefetch *pf = db->pf;
	char *text;
	int r;

	if (json_array_size(keys) == 0)
		return 0;
	if ((text = json_dumps(keys, JSON_COMPACT)) == NULL)
		return -1;  /* not UTF-8: no cache, plain lookups */
	struct db_stmt *s = db_stmt(db->w, q);
	db_bind_text(s, 1, text);
	while ((r = db_row(s)) == 1) {
		char key[PF_KEY_MAX];
		const char *k = db_text(s, 4);
		if (k == NULL || pf_key(key, db_i64(s, 3), k) != 0)
			continue;
		if (contacts) {
			struct pf_contact *c;
			HASH_FIND_STR(pf->contacts, key, c);
			if (c) {
				c->id = db_i64(s, 0);
				c->name = db_null(s, 1) ? NULL : xstrdup(db_text(s, 1));
				c->conv = db_i64(s, 2);
				c->unreachable = db_i64(s, 5) != 0;
			}
		} else {
			struct pf_msg *m;
			HASH_FIND_STR(pf->msgs, key, m);
			if (m && m->id == 0) {
				m->id = db_i64(s, 0);
				m->conv = db_i64(s, 1);
				m->status = status_parse(db_text(s, 2));
				HASH_ADD(hid, pf->by_id, id, sizeof(m->id), m);
			}
		}
	}
	free(text);
	return r;
}

void
prefetch_group(struct store_db *db, struct store_op **ops, size_t n)
{
	json_t *mkeys = json_array(), *ckeys = json_array();

	prefetch_clear(db);
	db->pf = xcalloc(1, sizeof(*db->pf));
	for (size_t i = 0; i < n; i++) {
		if (ops[i]->kind != STORE_OP_INGEST)
			continue;
		struct ingest_batch *b = ops[i]->u.ingest;
		for (size_t k = 0; k < b->nmsgs; k++) {
			const struct msg_in *m = &b->msgs[k];
			if (m->direction == DIR_IN)
				want_msg(db->pf, mkeys, m->channel_id, m->provider_message_id);
			want_contact(db->pf, ckeys, m->channel_id, m->contact_address);
		}
		for (size_t k = 0; k < b->nstatuses; k++)
			want_msg(db->pf, mkeys, b->statuses[k].channel_id, b->statuses[k].provider_message_id);
	}
	if (fetch(db, W_MSG_PREFETCH, mkeys, false) != 0 || fetch(db, W_CONTACT_PREFETCH, ckeys, true) != 0)
		prefetch_clear(db);  /* the lookups will tell (and fail the op) */
	json_decref(mkeys);
	json_decref(ckeys);
}

int
prefetch_msg(struct store_db *db, int64_t channel_id, const char *pmid, int64_t *id, int64_t *conv,
    enum msg_status *status)
{
	struct pf_msg *m;
	char key[PF_KEY_MAX];

	if (db->pf == NULL || pf_key(key, channel_id, pmid) != 0)
		return -1;
	HASH_FIND_STR(db->pf->msgs, key, m);
	if (m == NULL)
		return -1;
	*id = m->id;
	if (m->id && conv)
		*conv = m->conv;
	if (m->id && status)
		*status = m->status;
	return 0;
}

void
prefetch_msg_stored(struct store_db *db, int64_t channel_id, const char *pmid, int64_t id,
    int64_t conv, enum msg_status status)
{
	struct pf_msg *m;
	char key[PF_KEY_MAX];

	if (db->pf == NULL || pmid == NULL || pf_key(key, channel_id, pmid) != 0)
		return;
	HASH_FIND_STR(db->pf->msgs, key, m);
	if (m == NULL || m->id != 0)
		return;
	m->id = id;
	m->conv = conv;
	m->status = status;
	HASH_ADD(hid, db->pf->by_id, id, sizeof(m->id), m);
}

void
prefetch_msg_status(struct store_db *db, int64_t id, enum msg_status status)
{
	struct pf_msg *m;

	if (db->pf == NULL)
		return;
	HASH_FIND(hid, db->pf->by_id, &id, sizeof(id), m);
	if (m)
		m->status = status;
}

/* The group's entry for a contact, or NULL (no prefetch, or not asked for). */
static struct pf_contact *
contact_entry(struct store_db *db, int64_t channel_id, const char *address)
{
	struct pf_contact *c;
	char key[PF_KEY_MAX];

	if (db->pf == NULL || pf_key(key, channel_id, address) != 0)
		return NULL;
	HASH_FIND_STR(db->pf->contacts, key, c);
	return c;
}

int
prefetch_contact(struct store_db *db, int64_t channel_id, const char *address, int64_t *id,
    const char **name, int64_t *conv, bool *unreachable)
{
	struct pf_contact *c = contact_entry(db, channel_id, address);

	if (c == NULL)
		return -1;
	*id = c->id;
	*name = c->name;
	*conv = c->conv;
	*unreachable = c->unreachable;
	return 0;
}

void
prefetch_contact_reach(struct store_db *db, int64_t channel_id, const char *address,
    bool unreachable)
{
	struct pf_contact *c = contact_entry(db, channel_id, address);

	if (c)
		c->unreachable = unreachable;
}

void
prefetch_contact_stored(struct store_db *db, int64_t channel_id, const char *address, int64_t id,
    const char *name, int64_t conv)
{
	struct pf_contact *c = contact_entry(db, channel_id, address);

	if (c == NULL)
		return;
	c->id = id;
	if (name != c->name) {
		char *copy = name ? xstrdup(name) : NULL;
		free(c->name);
		c->name = copy;
	}
	c->conv = conv;
}

void
prefetch_contact_conv(struct store_db *db, int64_t channel_id, const char *address, int64_t conv)
{
	struct pf_contact *c = contact_entry(db, channel_id, address);

	if (c)
		c->conv = conv;
}
