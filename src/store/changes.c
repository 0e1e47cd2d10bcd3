/*
 * changes.c - what a transaction tells the other instances on the same
 * database (store.h, "Several instances"): the kinds of rows an op may
 * change, and their names on the wire.
 */
#include <string.h>

#include "../util/util.h"
#include "store.h"

static const struct {
	unsigned kind;
	const char *name;
} change_names[] = {
	{ .kind = STORE_CHANGE_CHANNELS, .name = "channels" },
	{ .kind = STORE_CHANGE_KEYS, .name = "keys" },
	{ .kind = STORE_CHANGE_SESSIONS, .name = "sessions" },
	{ .kind = STORE_CHANGE_SUBSCRIPTIONS, .name = "subscriptions" },
	{ .kind = STORE_CHANGE_USERS, .name = "users" },
	{ .kind = STORE_CHANGE_TEMPLATES, .name = "templates" },
	{ .kind = STORE_CHANGE_ORGS, .name = "orgs" },
	{ .kind = STORE_CHANGE_ERASURES, .name = "erasures" },
	{ .kind = STORE_CHANGE_CHANNEL_STATES, .name = "channel_states" },
};

const char *
store_change_name(unsigned kind)
{
	for (size_t i = 0; i < ARRAY_LEN(change_names); i++)
		if (change_names[i].kind == kind)
			return change_names[i].name;
	return NULL;
}

unsigned
store_change_from_name(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(change_names); i++)
		if (strcmp(change_names[i].name, name) == 0)
			return change_names[i].kind;
	return 0;
}

unsigned
store_op_changes(enum store_op_kind kind)
{
	switch (kind) {
	case STORE_OP_CHANNEL_CREATE:
	case STORE_OP_CHANNEL_UPDATE:
	case STORE_OP_CHANNEL_DELETE:
		return STORE_CHANGE_CHANNELS;
	case STORE_OP_API_KEY_PUT:
	case STORE_OP_API_KEY_REVOKE:
	case STORE_OP_SIGNING_KEY_PUT:
		return STORE_CHANGE_KEYS;
	case STORE_OP_API_KEY_USED:
		return 0;  /* last_used_at is read when listed, not kept in memory */
	case STORE_OP_CONTACT_ERASE:
	case STORE_OP_RETENTION:
		return STORE_CHANGE_ERASURES;
	case STORE_OP_ORG_CREATE:
	case STORE_OP_ORG_SETTINGS:
		return STORE_CHANGE_ORGS;
	case STORE_OP_TEMPLATE_PUT:
	case STORE_OP_TEMPLATE_DELETE:
		return STORE_CHANGE_TEMPLATES;
	case STORE_OP_USER_PUT:
	case STORE_OP_MEMBER_PUT:
	case STORE_OP_MEMBER_DELETE:
	case STORE_OP_USER_PLATFORM:
		return STORE_CHANGE_USERS;
	case STORE_OP_USER_DELETE:
	case STORE_OP_USER_PASSWORD:
		return STORE_CHANGE_USERS | STORE_CHANGE_SESSIONS;  /* its sessions go too */
	case STORE_OP_USER_LOGOUT:
	case STORE_OP_SESSION_PUT:
	case STORE_OP_SESSION_DELETE:
		return STORE_CHANGE_SESSIONS;
	case STORE_OP_SUBSCRIPTION_PUT:
	case STORE_OP_SUBSCRIPTION_DELETE:
	case STORE_OP_SUBSCRIPTION_ADVANCE:
	case STORE_OP_SUBSCRIPTION_RETRY:
	case STORE_OP_SUBSCRIPTION_PAUSE:
		return STORE_CHANGE_SUBSCRIPTIONS;
	case STORE_OP_INGEST:
	case STORE_OP_OUTBOX_CLAIM:
	case STORE_OP_OUTBOX_RESULT:
	case STORE_OP_OUTBOX_RECOVER:
	case STORE_OP_OUTBOX_SHIFT:
	case STORE_OP_OUTBOX_RENEW:
	case STORE_OP_OUTBOX_SWEEP:
	case STORE_OP_LEASE_ACQUIRE:
	case STORE_OP_LEASE_RELEASE:
	case STORE_OP_CANCEL:
	case STORE_OP_CONV_READ:
	case STORE_OP_PROBE:
	case STORE_OP_AUDIT:
	case STORE_OP_CAMPAIGN_CREATE:   /* campaigns (issue 14, h14camp): read when used */
	case STORE_OP_CAMPAIGN_CHUNK:
	case STORE_OP_CAMPAIGN_CONTROL:
	case STORE_OP_CAMPAIGN_TICK:
	case STORE_OP_FILE_PUT:     /* files (issue 14): read from the store when asked */
	case STORE_OP_FILE_REF:
	case STORE_OP_FILE_SWEEP:
	case STORE_OP_IMPORT:
	case STORE_OP_CHANNEL_TEMPLATES:  /* read from the store when used */
	/* media both ways (issue 14) */
	case STORE_OP_MEDIA_CLAIM:
	case STORE_OP_MEDIA_RESULT:
	case STORE_OP_MEDIA_UPLOADED:
		break;  /* nothing an instance keeps in memory (events travel apart) */
	}
	return 0;
}
