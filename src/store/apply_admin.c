/*
 * apply_admin.c - channels, API keys, read marks, templates, users, sessions
 * and event webhook subscriptions, and store_db_apply(), which runs any op
 * (writer thread).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log/log.h"
#include "../util/util.h"
#include "store_int.h"

/* Step an INSERT; a UNIQUE violation is the op's conflict (errmsg why).
 * With id, the insert makes an id and *id gets it (db_insert_id). */
static int
insert_unique(struct store_db *db, struct store_op *op, struct db_stmt *s, const char *why,
    int64_t *id)
{
	if ((id ? db_insert_id(s, id) : db_run(s)) == 0)
		return 0;
	if (db_last_err(db->w) != DB_CONFLICT)
		return sd_op_sql_error(db, op);
	return sd_op_fail(op, STORE_CONFLICT, "%s", why);
}

static int
apply_channel(struct store_db *db, struct store_op *op)
{
	struct db *w = db->w;
	struct db_stmt *s;
	int64_t now_s = now_ms() / 1000;

	op->u.channel.at = now_s;
	switch (op->kind) {
	case STORE_OP_CHANNEL_CREATE:
		s = db_stmt(w, W_CHANNEL_INSERT);
		db_bind_text(s, 1, op->u.channel.name);
		db_bind_text(s, 2, op->u.channel.type);
		db_bind_text(s, 3, op->u.channel.config_json ? op->u.channel.config_json : "{}");
		db_bind_i64(s, 4, now_s);
		db_bind_i64(s, 5, org_of(op->org_id));
		db_bind_text(s, 6, op->u.channel.route_key);
		return insert_unique(db, op, s, "name or route taken", &op->u.channel.id);
	case STORE_OP_CHANNEL_UPDATE:
		s = db_stmt(w, W_CHANNEL_UPDATE);
		db_bind_i64(s, 1, op->u.channel.id);
		db_bind_text(s, 2, op->u.channel.config_json ? op->u.channel.config_json : "{}");
		db_bind_i64(s, 3, now_s);
		db_bind_text(s, 4, op->u.channel.route_key);
		if (db_run(s) != 0) {
			if (db_last_err(db->w) == DB_CONFLICT)
				return sd_op_fail(op, STORE_CONFLICT, "route taken");
			return sd_op_sql_error(db, op);
		}
		if (db_changes(db->w) == 0)
			return sd_op_fail(op, STORE_NOTFOUND, "no such channel");
		return 0;
	case STORE_OP_CHANNEL_DELETE:
		s = db_stmt(w, W_CHANNEL_DELETE);
		db_bind_i64(s, 1, op->u.channel.id);
		db_bind_i64(s, 2, now_s);
		break;
	default:
		return sd_op_error(op, "not a channel op");
	}
	if (db_run(s) != 0)
		return sd_op_sql_error(db, op);
	if (db_changes(db->w) == 0)
		return sd_op_fail(op, STORE_NOTFOUND, "no such channel");
	if (op->kind == STORE_OP_CHANNEL_DELETE)
		return fail_channel_outbox(db, op);
	return 0;
}

static int
apply_api_key(struct store_db *db, struct store_op *op)
{
	struct db_stmt *s;
	char hex[65];
	int64_t now_s = now_ms() / 1000;

	switch (op->kind) {
	case STORE_OP_API_KEY_PUT:
		s = db_stmt(db->w, W_API_KEY_INSERT);
		hex_encode(op->u.api_key.hash, sizeof(op->u.api_key.hash), hex);
		db_bind_text(s, 1, op->u.api_key.name);
		db_bind_text(s, 2, hex);
		db_bind_i64(s, 3, now_s);
		db_bind_i64(s, 4, org_of(op->org_id));
		db_bind_text(s, 5, op->u.api_key.scopes_json ? op->u.api_key.scopes_json : "[]");
		db_bind_text(s, 6, op->u.api_key.prefix ? op->u.api_key.prefix : "");
		db_bind_id(s, 7, op->u.api_key.expires_at);
		return insert_unique(db, op, s, "key exists", &op->u.api_key.id);
	case STORE_OP_API_KEY_REVOKE:
		s = db_stmt(db->w, W_API_KEY_REVOKE);
		db_bind_i64(s, 1, op->u.api_key.id);
		db_bind_i64(s, 2, org_of(op->org_id));
		db_bind_i64(s, 3, now_s);
		if (db_run(s) != 0)
			return sd_op_sql_error(db, op);
		return db_changes(db->w) == 0 ? sd_op_fail(op, STORE_NOTFOUND, "no such key") : 0;
	case STORE_OP_API_KEY_USED:
		for (size_t i = 0; i < op->u.api_key.nused; i++) {
			s = db_stmt(db->w, W_API_KEY_USED);
			db_bind_i64(s, 1, op->u.api_key.used[i]);
			db_bind_i64(s, 2, op->u.api_key.at);
			if (db_run(s) != 0)
				return sd_op_sql_error(db, op);
		}
		return 0;
	default:
		return sd_op_error(op, "not an API key op");
	}
}

static int
apply_conv_read(struct store_db *db, struct store_op *op)
{
	struct db *w = db->w;
	int64_t conv = op->u.conv_read.conversation_id, seq;
	struct db_stmt *s = db_stmt(w, W_CONV_CHANNEL);
	char *data_s;
	int r;

	op->u.conv_read.channel_id = 0;
	op->u.conv_read.last_inbound_provider_id[0] = '\0';
	db_bind_i64(s, 1, conv);
	db_bind_i64(s, 2, org_of(op->org_id));
	if ((r = db_row(s)) < 0)
		return sd_op_sql_error(db, op);
	if (r == 0)
		return sd_op_fail(op, STORE_NOTFOUND, "not found");
	op->u.conv_read.channel_id = db_i64(s, 0);
	db_finish(s);

	s = db_stmt(w, W_CONV_MARK_READ);
	db_bind_i64(s, 1, conv);
	if (db_run(s) != 0)
		return sd_op_sql_error(db, op);

	s = db_stmt(w, W_CONV_LAST_INBOUND_ID);
	db_bind_i64(s, 1, conv);
	if ((r = db_row(s)) < 0)
		return sd_op_sql_error(db, op);
	if (r == 1) {
		const char *pmid = db_text(s, 0);

		snprintf(op->u.conv_read.last_inbound_provider_id,
		    sizeof(op->u.conv_read.last_inbound_provider_id), "%s", pmid ? pmid : "");
		db_finish(s);
	}

	data_s = xasprintf("{\"conversation_id\":%" PRId64 "}", conv);
	r = sd_append_event(db, op->org_id, "conversation.read", now_ms(), op->u.conv_read.channel_id, conv, 0,
	    data_s, &seq);
	free(data_s);
	if (r != 0)
		return sd_op_sql_error(db, op);
	op->last_seq = seq;
	return 0;
}

static int
apply_template(struct store_db *db, struct store_op *op)
{
	struct db *w = db->w;
	struct db_stmt *s;

	if (op->u.template.name == NULL)
		return sd_op_error(op, "template lacks a name");
	if (op->kind == STORE_OP_TEMPLATE_DELETE) {
		s = db_stmt(w, W_TEMPLATE_DELETE);
		db_bind_text(s, 1, op->u.template.name);
		db_bind_i64(s, 2, org_of(op->org_id));
		if (db_run(s) != 0)
			return sd_op_sql_error(db, op);
		if (db_changes(db->w) == 0)
			return sd_op_fail(op, STORE_NOTFOUND, "not found");
		return 0;
	}
	if (op->u.template.language == NULL || op->u.template.body == NULL)
		return sd_op_error(op, "template lacks a language or body");
	s = db_stmt(w, W_TEMPLATE_INSERT);
	db_bind_text(s, 1, op->u.template.name);
	db_bind_text(s, 2, op->u.template.language);
	db_bind_text(s, 3, op->u.template.body);
	db_bind_i64(s, 4, now_ms() / 1000);
	db_bind_i64(s, 5, org_of(op->org_id));
	if (insert_unique(db, op, s, "template exists", NULL) != 0)
		return -1;
	return 0;
}

/* --- users and sessions (writer thread) --- */

static int member_put(struct store_db *db, struct store_op *op);

static int
apply_user(struct store_db *db, struct store_op *op)
{
	struct db *w = db->w;
	struct db_stmt *s = db_stmt(w, W_USER_INSERT);

	if (op->u.user.name == NULL || op->u.user.password_hash == NULL)
		return sd_op_error(op, "user lacks a name or password hash");
	db_bind_text(s, 1, op->u.user.name);
	db_bind_text(s, 2, op->u.user.password_hash);
	db_bind_i64(s, 3, now_ms() / 1000);
	db_bind_i64(s, 4, op->u.user.must_change);
	if (insert_unique(db, op, s, "user exists", NULL) != 0)
		return -1;
	return op->u.user.role ? member_put(db, op) : 0;
}

/* name's role in the op's organization, made or changed. */
static int
member_put(struct store_db *db, struct store_op *op)
{
	struct db_stmt *s = db_stmt(db->w, W_MEMBER_PUT);

	db_bind_text(s, 1, op->u.user.name);
	db_bind_i64(s, 2, org_of(op->org_id));
	db_bind_text(s, 3, op->u.user.role);
	db_bind_i64(s, 4, now_ms() / 1000);
	return db_run(s) == 0 ? 0 : sd_op_sql_error(db, op);
}

static int
apply_member(struct store_db *db, struct store_op *op)
{
	struct db_stmt *s;
	int r;

	if (op->u.user.name == NULL || (op->kind == STORE_OP_MEMBER_PUT && op->u.user.role == NULL))
		return sd_op_error(op, "membership lacks a user or role");
	if (op->kind == STORE_OP_MEMBER_PUT) {
		s = db_stmt(db->w, W_USER_EXISTS);
		db_bind_text(s, 1, op->u.user.name);
		if ((r = db_row(s)) < 0)
			return sd_op_sql_error(db, op);
		db_finish(s);
		if (r == 0)
			return sd_op_fail(op, STORE_NOTFOUND, "no such user");
		return member_put(db, op);
	}
	s = db_stmt(db->w, W_MEMBER_DELETE);
	db_bind_text(s, 1, op->u.user.name);
	db_bind_i64(s, 2, org_of(op->org_id));
	if (db_run(s) != 0)
		return sd_op_sql_error(db, op);
	op->u.user.found = db_changes(db->w) > 0;
	return 0;
}

/* Delete, re-password or log out a user; every one ends the user's sessions. */
static int
apply_user_change(struct store_db *db, struct store_op *op)
{
	struct db *w = db->w;
	const char *name = op->u.user.name;
	struct db_stmt *s;

	if (name == NULL || (op->kind == STORE_OP_USER_PASSWORD && op->u.user.password_hash == NULL))
		return sd_op_error(op, "user change lacks a name or password hash");
	s = db_stmt(w, W_USER_EXISTS);
	db_bind_text(s, 1, name);
	int r = db_row(s);
	if (r < 0)
		return sd_op_sql_error(db, op);
	db_finish(s);
	op->u.user.found = r == 1;
	if (op->kind == STORE_OP_USER_DELETE || op->kind == STORE_OP_USER_PASSWORD) {
		if (!op->u.user.found)
			return 0;
		s = db_stmt(w, op->kind == STORE_OP_USER_DELETE ? W_USER_DELETE : W_USER_PASSWORD);
		db_bind_text(s, 1, name);
		if (op->kind == STORE_OP_USER_PASSWORD) {
			db_bind_text(s, 2, op->u.user.password_hash);
			db_bind_i64(s, 3, op->u.user.must_change);
		}
		if (db_run(s) != 0)
			return sd_op_sql_error(db, op);
		if (op->kind == STORE_OP_USER_DELETE) {
			s = db_stmt(w, W_MEMBERS_OF_USER);
			db_bind_text(s, 1, name);
			if (db_run(s) != 0)
				return sd_op_sql_error(db, op);
		}
	}
	s = db_stmt(w, W_SESSIONS_OF_USER);
	db_bind_text(s, 1, name);
	if (db_run(s) != 0)
		return sd_op_sql_error(db, op);
	op->u.user.count = db_changes(db->w);
	return 0;
}

static int
apply_session(struct store_db *db, struct store_op *op)
{
	struct db *w = db->w;
	struct db_stmt *s;
	char hex[65];

	hex_encode(op->u.session.token_hash, sizeof(op->u.session.token_hash), hex);
	if (op->kind == STORE_OP_SESSION_DELETE) {
		s = db_stmt(w, W_SESSION_DELETE);
		db_bind_text(s, 1, hex);
		return db_run(s) == 0 ? 0 : sd_op_sql_error(db, op);
	}
	if (op->u.session.csrf == NULL || op->u.session.user_name == NULL)
		return sd_op_error(op, "session lacks a csrf token or user");
	/* Rows past their absolute end go with each login. created_at is the
	 * caller's clock (tests move it), so "now" is the same on both sides. */
	s = db_stmt(w, W_SESSION_PURGE);
	db_bind_i64(s, 1, op->u.session.created_at);
	if (db_run(s) != 0)
		return sd_op_sql_error(db, op);
	s = db_stmt(w, W_SESSION_INSERT);
	db_bind_text(s, 1, hex);
	db_bind_text(s, 2, op->u.session.csrf);
	db_bind_text(s, 3, op->u.session.user_name);
	db_bind_i64(s, 4, op->u.session.created_at);
	db_bind_i64(s, 5, op->u.session.expires_at);
	db_bind_text(s, 6, op->u.session.credential ? op->u.session.credential : "");
	return db_run(s) == 0 ? 0 : sd_op_sql_error(db, op);
}

/* --- organizations (writer thread) --- */

static int
apply_org(struct store_db *db, struct store_op *op)
{
	struct db_stmt *s;

	if (op->kind == STORE_OP_ORG_SETTINGS) {
		if (op->u.org.settings_json == NULL)
			return sd_op_error(op, "organization settings missing");
		s = db_stmt(db->w, W_ORG_SETTINGS);
		db_bind_i64(s, 1, org_of(op->org_id));
		db_bind_text(s, 2, op->u.org.settings_json);
		if (db_run(s) != 0)
			return sd_op_sql_error(db, op);
		return db_changes(db->w) == 0 ? sd_op_fail(op, STORE_NOTFOUND, "no such organization") : 0;
	}
	s = db_stmt(db->w, W_ORG_INSERT);

	if (op->u.org.name == NULL)
		return sd_op_error(op, "organization lacks a name");
	op->u.org.at = now_ms() / 1000;
	db_bind_text(s, 1, op->u.org.name);
	db_bind_i64(s, 2, op->u.org.at);
	return insert_unique(db, op, s, "organization exists", &op->u.org.id);
}

static int
apply_signing_key(struct store_db *db, struct store_op *op)
{
	struct db_stmt *s = db_stmt(db->w, W_SIGNING_KEY_PURGE);

	if (op->u.signing_key.kid == NULL || op->u.signing_key.secret_hex == NULL)
		return sd_op_error(op, "signing key lacks a kid or secret");
	db_bind_i64(s, 1, op->u.signing_key.purge_before);
	if (db_run(s) != 0)
		return sd_op_sql_error(db, op);
	s = db_stmt(db->w, W_SIGNING_KEY_INSERT);
	db_bind_text(s, 1, op->u.signing_key.kid);
	db_bind_text(s, 2, op->u.signing_key.secret_hex);
	db_bind_i64(s, 3, op->u.signing_key.created_at);
	return insert_unique(db, op, s, "signing key exists", NULL);
}

/* --- event webhook subscriptions (writer thread) --- */

static int
apply_subscription(struct store_db *db, struct store_op *op)
{
	struct db *w = db->w;
	struct db_stmt *s;
	int64_t id = op->u.subscription.id;

	switch (op->kind) {
	case STORE_OP_SUBSCRIPTION_PUT:
		if (op->u.subscription.url == NULL || op->u.subscription.events_json == NULL ||
		    op->u.subscription.secret == NULL)
			return sd_op_error(op, "subscription lacks a url, events or secret");
		s = db_stmt(w, W_SUB_INSERT);
		db_bind_text(s, 1, op->u.subscription.url);
		db_bind_text(s, 2, op->u.subscription.events_json);
		db_bind_text(s, 3, op->u.subscription.secret);
		db_bind_i64(s, 4, op->u.subscription.created_at);
		db_bind_i64(s, 5, op->u.subscription.delivered_seq);
		db_bind_i64(s, 6, org_of(op->org_id));
		db_bind_text(s, 7, op->u.subscription.kind ? op->u.subscription.kind : "webhook");
		db_bind_text(s, 8, op->u.subscription.config_json);
		db_bind_text(s, 9, op->u.subscription.channels_json);
		return db_insert_id(s, &op->u.subscription.id) == 0 ? 0 : sd_op_sql_error(db, op);
	case STORE_OP_SUBSCRIPTION_DELETE:
		s = db_stmt(w, W_SUB_DELETE);
		db_bind_i64(s, 1, id);
		return db_run(s) == 0 ? 0 : sd_op_sql_error(db, op);
	case STORE_OP_SUBSCRIPTION_ADVANCE: {
		int64_t seq = op->u.subscription.delivered_seq;
		s = db_stmt(w, W_SUB_ADVANCE);
		db_bind_i64(s, 1, id);
		db_bind_i64(s, 2, seq);
		if (db_run(s) != 0)
			return sd_op_sql_error(db, op);
		if (op->u.subscription.last_error == NULL)
			return 0;
		/* Given up: say so in the log, in the same transaction. */
		json_t *data = json_pack("{s:I, s:I, s:i, s:o}", "subscription_id", (json_int_t)id,
		    "seq", (json_int_t)seq, "attempts", op->u.subscription.attempts,
		    "error", sd_jstr(op->u.subscription.last_error));
		char *data_s = sd_dump(data);
		int64_t ev = 0;
		int rc = data_s ? sd_append_event(db, op->org_id, "webhook.failed", now_ms(), 0, 0, 0, data_s, &ev) : -1;
		free(data_s);
		json_decref(data);
		if (rc != 0)
			return sd_op_sql_error(db, op);
		op->last_seq = ev;
		return 0;
	}
	case STORE_OP_SUBSCRIPTION_RETRY:
		s = db_stmt(w, W_SUB_RETRY);
		db_bind_i64(s, 1, id);
		db_bind_i64(s, 2, op->u.subscription.attempts);
		db_bind_id(s, 3, op->u.subscription.first_attempt_ms);
		db_bind_i64(s, 4, op->u.subscription.next_attempt_ms);
		db_bind_text(s, 5, op->u.subscription.last_error);
		return db_run(s) == 0 ? 0 : sd_op_sql_error(db, op);
	case STORE_OP_SUBSCRIPTION_PAUSE:
		s = db_stmt(w, W_SUB_PAUSE);
		db_bind_i64(s, 1, id);
		db_bind_i64(s, 2, op->u.subscription.paused ? 1 : 0);
		return db_run(s) == 0 ? 0 : sd_op_sql_error(db, op);
	default:
		return sd_op_error(op, "not a subscription op");
	}
}

int
store_db_apply(struct store_db *db, struct store_op *op)
{
	/* Only ingests keep the group's prefetched lookups true (prefetch.c). */
	if (op->kind != STORE_OP_INGEST)
		prefetch_clear(db);
	switch (op->kind) {
	case STORE_OP_INGEST:
		return apply_ingest(db, op);
	case STORE_OP_CHANNEL_CREATE:
	case STORE_OP_CHANNEL_UPDATE:
	case STORE_OP_CHANNEL_DELETE:
		return apply_channel(db, op);
	case STORE_OP_API_KEY_PUT:
	case STORE_OP_API_KEY_REVOKE:
	case STORE_OP_API_KEY_USED:
		return apply_api_key(db, op);
	case STORE_OP_OUTBOX_CLAIM:
		return apply_outbox_claim(db, op);
	case STORE_OP_OUTBOX_RESULT:
		return apply_outbox_result(db, op);
	case STORE_OP_OUTBOX_RECOVER:
		return apply_outbox_recover(db, op);
	case STORE_OP_OUTBOX_RENEW:
		return apply_outbox_renew(db, op);
	case STORE_OP_OUTBOX_SWEEP:
		return apply_outbox_sweep(db, op);
	case STORE_OP_LEASE_ACQUIRE:
	case STORE_OP_LEASE_RELEASE:
		return apply_leases(db, op);
	case STORE_OP_OUTBOX_SHIFT:
		return apply_outbox_shift(db, op);
	case STORE_OP_PROBE:
		return db_run(db_stmt(db->w, W_PROBE)) == 0 ? 0 : sd_op_sql_error(db, op);
	case STORE_OP_CANCEL:
		return apply_cancel(db, op);
	case STORE_OP_CONV_READ:
		return apply_conv_read(db, op);
	case STORE_OP_TEMPLATE_PUT:
	case STORE_OP_TEMPLATE_DELETE:
		return apply_template(db, op);
	case STORE_OP_USER_PUT:
		return apply_user(db, op);
	case STORE_OP_USER_DELETE:
	case STORE_OP_USER_PASSWORD:
	case STORE_OP_USER_LOGOUT:
		return apply_user_change(db, op);
	case STORE_OP_SESSION_PUT:
	case STORE_OP_SESSION_DELETE:
		return apply_session(db, op);
	case STORE_OP_SUBSCRIPTION_PUT:
	case STORE_OP_SUBSCRIPTION_DELETE:
	case STORE_OP_SUBSCRIPTION_ADVANCE:
	case STORE_OP_SUBSCRIPTION_RETRY:
	case STORE_OP_SUBSCRIPTION_PAUSE:
		return apply_subscription(db, op);
	case STORE_OP_ORG_CREATE:
	case STORE_OP_ORG_SETTINGS:
		return apply_org(db, op);
	case STORE_OP_MEMBER_PUT:
	case STORE_OP_MEMBER_DELETE:
		return apply_member(db, op);
	case STORE_OP_USER_PLATFORM: {
		struct db_stmt *s = db_stmt(db->w, W_USER_PLATFORM);
		if (op->u.user.name == NULL)
			return sd_op_error(op, "platform admin change lacks a user");
		db_bind_text(s, 1, op->u.user.name);
		db_bind_i64(s, 2, op->u.user.platform_admin ? 1 : 0);
		if (db_run(s) != 0)
			return sd_op_sql_error(db, op);
		op->u.user.found = db_changes(db->w) > 0;
		return op->u.user.found ? 0 : sd_op_fail(op, STORE_NOTFOUND, "no such user");
	}
	case STORE_OP_SIGNING_KEY_PUT:
		return apply_signing_key(db, op);
	case STORE_OP_CAMPAIGN_CREATE:   /* campaigns (issue 14, h14camp) */
	case STORE_OP_CAMPAIGN_CHUNK:
	case STORE_OP_CAMPAIGN_CONTROL:
	case STORE_OP_CAMPAIGN_TICK:
		return apply_campaign(db, op);
	case STORE_OP_CHANNEL_TEMPLATES:
		return apply_channel_templates(db, op);
	case STORE_OP_CONTACT_ERASE:
		return apply_contact_erase(db, op);
	case STORE_OP_RETENTION:
		return apply_retention(db, op);
	case STORE_OP_AUDIT: {
		int64_t seq = 0;
		if (op->u.audit.type == NULL || strncmp(op->u.audit.type, "audit.", 6) != 0 ||
		    op->u.audit.data_json == NULL)
			return sd_op_error(op, "an audit event needs an audit.* type and data");
		if (sd_append_event(db, org_of(op->org_id), op->u.audit.type, now_ms(), 0, 0, 0,
		    op->u.audit.data_json, &seq) != 0)
			return sd_op_sql_error(db, op);
		op->last_seq = seq;
		return 0;
	}
	/* files (issue 14) */
	case STORE_OP_FILE_PUT:
	case STORE_OP_FILE_REF:
	case STORE_OP_FILE_SWEEP:
		return store_db_apply_file(db, op);
	case STORE_OP_IMPORT:
		return apply_import(db, op);
	/* media both ways (issue 14) */
	case STORE_OP_MEDIA_CLAIM:
	case STORE_OP_MEDIA_RESULT:
	case STORE_OP_MEDIA_UPLOADED:
		return apply_media(db, op);
	}
	return sd_op_error(op, "unknown op kind %d", (int)op->kind);
}

