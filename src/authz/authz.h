/*
 * authz.h - who is asking, and what they may do.
 *
 * Authentication (src/api/api.c: a bearer token, an API key, an access
 * token, or a session cookie) yields a principal: the organization it acts
 * in, a subject (a user's name, a key's id, "admin"), its kind, its role
 * (users: their membership's; the admin token: owner) and, for API keys,
 * its scopes. Every handler receives it.
 *
 * What a principal may do is a set of permissions (enum perm, one bit
 * each). Each route of the route table declares the one permission it
 * needs (api.c); a request whose principal lacks it is answered 403
 * "forbidden", naming the permission, before the handler runs.
 *
 *  - A user's permissions are their role's (authz_role_perms()):
 *      viewer  reads conversations, messages, channels, templates, events;
 *      agent   a viewer who also sends, marks read and uploads files;
 *      admin   an agent who also manages channels, templates, event
 *              webhooks, users, keys and campaigns, reads the audit log
 *              and erases contacts;
 *      owner   an admin who also manages the organization itself
 *              (retention, limits).
 *  - An API key's permissions are its scopes' (authz_scope_perms()); the
 *    "admin" scope is the admin role's permissions.
 *  - The admin token, and a user marked platform_admin, are owners of
 *    whichever organization they act in (the Msgd-Org header) and may
 *    also create and list organizations (PERM_PLATFORM).
 *
 * Pure functions; no state (authz_key_make() draws random bytes).
 */
#ifndef MSGD_AUTHZ_H
#define MSGD_AUTHZ_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#define ORG_NAME_MAX 64                /* 1..64 of [a-z0-9._-], starting with a letter or digit */
#define ORG_DEFAULT "default"          /* the organization of a fresh install (id
                                          STORE_ORG_DEFAULT) */
#define ORG_HEADER "Msgd-Org"          /* names the organization the caller acts in */
#define ORG_QUERY "org"                /* the same as a query parameter (the header wins) */
#define PRINCIPAL_SUBJECT_MAX 64

/* One bit each; the names are those of authz_perm_name(). */
enum perm {
	PERM_NONE = 0,                 /* a public route: no authentication */
	PERM_AUTHENTICATED = 1u << 0,  /* any principal: who am I, my session */
	PERM_MESSAGES_READ = 1u << 1,  /* conversations, messages, channels, templates */
	PERM_EVENTS_READ = 1u << 2,    /* the event log, SSE, WebSocket */
	PERM_MESSAGES_SEND = 1u << 3,  /* send, cancel, mark read, sandbox inbound */
	PERM_FILES_WRITE = 1u << 4,
	PERM_CHANNELS_WRITE = 1u << 5,
	PERM_TEMPLATES_WRITE = 1u << 6,
	PERM_WEBHOOKS_WRITE = 1u << 7, /* event webhooks: list, create, delete */
	PERM_CAMPAIGNS_WRITE = 1u << 8,
	PERM_USERS_WRITE = 1u << 9,    /* users and their memberships */
	PERM_KEYS_WRITE = 1u << 10,    /* API keys */
	PERM_AUDIT_READ = 1u << 11,
	PERM_CONTACTS_ERASE = 1u << 12,
	PERM_ORG_MANAGE = 1u << 13,    /* the organization's own settings */
	PERM_PLATFORM = 1u << 14,      /* create and list organizations */
};
#define PERM_COUNT 15

enum role { ROLE_NONE = 0, ROLE_VIEWER, ROLE_AGENT, ROLE_ADMIN, ROLE_OWNER };

/* API key scopes, one bit each; names as authz_scope_name(). */
enum scope {
	SCOPE_MESSAGES_SEND = 1u << 0,
	SCOPE_MESSAGES_READ = 1u << 1,
	SCOPE_CHANNELS_WRITE = 1u << 2,
	SCOPE_TEMPLATES_WRITE = 1u << 3,
	SCOPE_WEBHOOKS_WRITE = 1u << 4,
	SCOPE_EVENTS_READ = 1u << 5,
	SCOPE_FILES_WRITE = 1u << 6,
	SCOPE_CAMPAIGNS_WRITE = 1u << 7,
	SCOPE_ADMIN = 1u << 8,
};
#define SCOPE_COUNT 9

enum principal_kind { PRINCIPAL_ADMIN, PRINCIPAL_USER, PRINCIPAL_KEY };

struct principal {
	enum principal_kind kind;
	int64_t org_id;
	char org[ORG_NAME_MAX + 1];
	char subject[PRINCIPAL_SUBJECT_MAX + 1]; /* user name, key id, "admin" */
	enum role role;                /* users and the admin token; ROLE_NONE for keys */
	uint32_t scopes;               /* keys: enum scope bits */
	uint32_t perms;                /* enum perm bits: what it may do here */
	bool platform_admin;           /* the admin token, or a user marked so */
};

/* "messages:read", ...; NULL for PERM_NONE or a combination. */
const char *authz_perm_name(uint32_t perm);
/* "owner", "admin", "agent", "viewer"; "" for ROLE_NONE. */
const char *authz_role_name(enum role r);
/* ROLE_NONE when name is no role. */
enum role authz_role_from_name(const char *name);
/* "messages:send", ...; NULL past the table. */
const char *authz_scope_name(uint32_t scope);
/* 0 when name is no scope. */
uint32_t authz_scope_from_name(const char *name);

uint32_t authz_role_perms(enum role r);
uint32_t authz_scope_perms(uint32_t scopes);

/* Fill p's perms from its kind, role, scopes and platform_admin. */
void authz_settle(struct principal *p);
/* May p do perm (one bit; PERM_NONE: yes)? */
bool authz_can(const struct principal *p, uint32_t perm);

/* 1..ORG_NAME_MAX of [a-z0-9._-], first a letter or digit. */
bool authz_org_name_valid(const char *name);

/*
 * API keys (apikey.c), made the same way by the API (POST /v1/keys) and by
 * `msgd keys create`: the secret is "msgd_" and 32 random bytes in hex,
 * shown once; the store keeps its SHA-256 and its first 13 characters (the
 * prefix that tells keys apart in lists).
 */
#define AUTHZ_KEY_NAME_MAX 64          /* 1..64 bytes of UTF-8 text */
#define AUTHZ_KEY_PREFIX "msgd_"
#define AUTHZ_KEY_SECRET_BYTES 32
#define AUTHZ_KEY_SECRET_LEN (sizeof(AUTHZ_KEY_PREFIX) - 1 + 2 * AUTHZ_KEY_SECRET_BYTES)
#define AUTHZ_KEY_SHOWN_CHARS 13       /* "msgd_" and 8 hex digits */
#define AUTHZ_SCOPE_LIST "messages:send, messages:read, channels:write, templates:write, " \
	"webhooks:write, events:read, files:write, campaigns:write, admin"

struct authz_new_key {
	char secret[AUTHZ_KEY_SECRET_LEN + 1];     /* callers wipe it once shown */
	char prefix[AUTHZ_KEY_SHOWN_CHARS + 1];
	unsigned char hash[32];                    /* SHA-256 of secret */
};

/* A fresh secret, its prefix and its hash. */
void authz_key_make(struct authz_new_key *k);
/* Wipe k's secret. */
void authz_key_wipe(struct authz_new_key *k);
bool authz_key_name_valid(const char *name);
/* ["messages:send", ...]: scopes' names, in table order (a new reference). */
json_t *authz_scopes_json(uint32_t scopes);
/* A stored key (a row of store_api_keys_load()) as GET /v1/keys and
 * `msgd keys list` show it: {"id","name","scopes","prefix","created_at",
 * "expires_at","last_used_at"}, times RFC 3339 or null; never the hash. */
json_t *authz_key_listed(const json_t *row);

#endif
