/*
 * sql.h - every statement the store runs, by number. Each backend has the
 * text of each one in its own dialect (sqlite_sql.c), with the same
 * parameters in the same order and the same columns: the domain code binds
 * and reads them by position (db.h). W_* run on the writer connection (the
 * writer thread), R_* on the reader (the event loop).
 */
#ifndef MSGD_STORE_SQL_H
#define MSGD_STORE_SQL_H

/*
 * Row shapes the domain code reads by position:
 *  - a message (MSG_COLS, from column c): id, doc, status, error_code,
 *    error_title, error_detail, provider_message_id, attempts,
 *    next_attempt_ms, last_error_code, last_error_title, last_error_detail;
 *  - a conversation (R_CONV_LIST, R_CONV_GET): id, channel name, contact
 *    address, contact name, unread_count, last_activity_ms, then its last
 *    message's MSG_COLS from CONV_MSG_COL (all NULL when it has none);
 *  - a due outbox entry (R_OUTBOX_DUE*): message_id, channel_id,
 *    recipient, priority, attempts, created_ms, first_attempt_ms,
 *    uncertain, then the message's MSG_COLS from OUTBOX_MSG_COL.
 */
#define CONV_MSG_COL 6
#define OUTBOX_MSG_COL 8

enum sql {
	/* Writer connection. */
	W_BEGIN,
	W_PROBE,
	W_OUTBOX_CHANNEL_GONE,
	W_COMMIT,
	W_ROLLBACK,
	W_SAVEPOINT,
	W_RELEASE,
	W_ROLLBACK_TO,
	W_CHANNEL_NAME,
	W_CHANNEL_INSERT,
	W_CHANNEL_UPDATE,
	W_CHANNEL_DELETE,
	W_API_KEY_INSERT,
	W_API_KEY_REVOKE,
	W_API_KEY_USED,
	W_CONTACT_FIND,
	W_CONTACT_PREFETCH,
	W_MSG_PREFETCH,
	W_CONTACT_INSERT,
	W_CONTACT_RENAME,
	W_CONV_INSERT,
	W_CONV_TOUCH,
	W_MSG_FIND,
	W_MSG_NEXT_ID,
	W_MSG_INSERT,
	W_MSG_SET_STATUS,
	W_MSG_FIND_CLIENT,
	W_MSG_GET,
	W_MSG_OUTBOX,
	W_MSG_SET_PROVIDER_ID,
	W_MSG_CLAIMED,
	W_MSG_ATTEMPT,
	W_STATUS_INSERT,
	W_STATUS_HISTORY,
	W_STATUS_UNMATCHED,
	W_STATUS_ATTACH,
	W_EVENT_NEXT_SEQ,
	W_EVENT_INSERT,
	W_OUTBOX_INSERT,
	W_OUTBOX_CLAIM,
	W_OUTBOX_CLAIM_MANY,
	W_OUTBOX_CHANNEL_PENDING,
	W_OUTBOX_RESCHEDULE,
	W_OUTBOX_DELETE,
	W_OUTBOX_RECOVER,
	W_OUTBOX_RENEW,
	W_OUTBOX_SWEEP,
	W_LEASE_TAKE,
	W_LEASE_RELEASE,
	W_LEASE_CLEAR,
	W_OUTBOX_SHIFT,
	W_MSG_SHIFT,
	W_CONV_CHANNEL,
	W_CONV_MARK_READ,
	W_CONV_LAST_INBOUND_ID,
	W_TEMPLATE_INSERT,
	W_TEMPLATE_DELETE,
	W_USER_INSERT,
	W_SESSION_INSERT,
	W_SESSION_PURGE,
	W_SESSION_DELETE,
	W_USER_DELETE,
	W_USER_PASSWORD,
	W_USER_EXISTS,
	W_SESSIONS_OF_USER,
	W_SUB_INSERT,
	W_SUB_DELETE,
	W_SUB_ADVANCE,
	W_SUB_RETRY,
	W_ORG_INSERT,
	W_ORG_SETTINGS,
	W_SIGNING_KEY_INSERT,
	W_SIGNING_KEY_PURGE,
	W_QUOTA_READ,
	W_QUOTA_ADD,
	W_QUOTA_PURGE,
	W_OUTBOX_HOLD,
	W_MSG_THROTTLED,
	W_CONTACT_BULK_GET,
	W_CONTACT_BULK_SET,
	W_FINGERPRINT_PUT,
	W_MEMBER_PUT,
	W_MEMBER_DELETE,
	W_MEMBERS_OF_USER,
	W_END,
	/* Reader connection. */
	R_VERSION = W_END,
	R_PING,
	R_CHANNELS,
	R_CHANNELS_EVER,
	R_API_KEYS,
	R_CONV_LIST,
	R_CONV_GET,
	R_CONV_EXISTS,
	R_MSG_LIST,
	R_MSG_GET,
	R_MSG_BY_CLIENT_ID,
	R_MSG_BY_PROVIDER,
	R_MSG_RETRYING,
	R_STATUS_HISTORY,
	R_EVENTS,
	R_OUTBOX_DUE,
	R_OUTBOX_DUE_ALL,
	R_EVENTS_HEAD,
	R_OUTBOX_NEXT_DUE,
	R_OUTBOX_NEXT_DUE_CHANNEL,
	R_OUTBOX_DEPTH,
	R_LAST_INBOUND,
	R_MSG_PROVIDER_ID,
	R_TEMPLATES,
	R_TEMPLATE_GET,
	R_USER_GET,
	R_SESSIONS,
	R_USERS,
	R_SUBSCRIPTIONS,
	R_EVENTS_ORG,
	R_ORGS,
	R_MEMBERS,
	R_SIGNING_KEYS,
	R_LIVE_INSTANCES,
	R_QUOTA_USAGE,
	R_FINGERPRINT,
	SQL_COUNT,
};

/* The statement texts of each backend, indexed by enum sql. */
extern const char *const sqlite_sql[SQL_COUNT];   /* sqlite_sql.c */
extern const char *const pg_sql[SQL_COUNT];       /* pg_sql.c */

#endif
