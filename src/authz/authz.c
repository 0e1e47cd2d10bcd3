/* authz.c - roles, scopes and permissions (authz.h). */
#include "authz.h"

#include <stddef.h>
#include <string.h>

#include "../util/util.h"

static const char *const perm_names[PERM_COUNT] = {
	[0] = "authenticated",
	[1] = "messages:read",
	[2] = "events:read",
	[3] = "messages:send",
	[4] = "files:write",
	[5] = "channels:write",
	[6] = "templates:write",
	[7] = "webhooks:write",
	[8] = "campaigns:write",
	[9] = "users:write",
	[10] = "keys:write",
	[11] = "audit:read",
	[12] = "contacts:erase",
	[13] = "org:manage",
	[14] = "platform",
};

static const char *const scope_names[SCOPE_COUNT] = {
	[0] = "messages:send",
	[1] = "messages:read",
	[2] = "channels:write",
	[3] = "templates:write",
	[4] = "webhooks:write",
	[5] = "events:read",
	[6] = "files:write",
	[7] = "campaigns:write",
	[8] = "admin",
};

/* What each scope grants (SCOPE_ADMIN: the admin role's permissions). */
static const uint32_t scope_grants[SCOPE_COUNT] = {
	[0] = PERM_MESSAGES_SEND,
	[1] = PERM_MESSAGES_READ,
	[2] = PERM_CHANNELS_WRITE,
	[3] = PERM_TEMPLATES_WRITE,
	[4] = PERM_WEBHOOKS_WRITE,
	[5] = PERM_EVENTS_READ,
	[6] = PERM_FILES_WRITE,
	[7] = PERM_CAMPAIGNS_WRITE,
	[8] = 0,  /* authz_scope_perms() */
};

#define VIEWER_PERMS (PERM_AUTHENTICATED | PERM_MESSAGES_READ | PERM_EVENTS_READ)
#define AGENT_PERMS (VIEWER_PERMS | PERM_MESSAGES_SEND | PERM_FILES_WRITE)
#define ADMIN_PERMS (AGENT_PERMS | PERM_CHANNELS_WRITE | PERM_TEMPLATES_WRITE | \
	PERM_WEBHOOKS_WRITE | PERM_CAMPAIGNS_WRITE | PERM_USERS_WRITE | PERM_KEYS_WRITE | \
	PERM_AUDIT_READ | PERM_CONTACTS_ERASE)
#define OWNER_PERMS (ADMIN_PERMS | PERM_ORG_MANAGE)

static const struct {
	const char *name;
	uint32_t perms;
} roles[] = {
	[ROLE_NONE] = { .name = "", .perms = 0 },
	[ROLE_VIEWER] = { .name = "viewer", .perms = VIEWER_PERMS },
	[ROLE_AGENT] = { .name = "agent", .perms = AGENT_PERMS },
	[ROLE_ADMIN] = { .name = "admin", .perms = ADMIN_PERMS },
	[ROLE_OWNER] = { .name = "owner", .perms = OWNER_PERMS },
};

/* The index of a single bit, or -1. */
static int
bit_index(uint32_t v)
{
	if (v == 0 || (v & (v - 1)) != 0)
		return -1;
	int i = 0;
	while ((v & 1u) == 0) {
		v >>= 1;
		i++;
	}
	return i;
}

const char *
authz_perm_name(uint32_t perm)
{
	int i = bit_index(perm);
	return i >= 0 && i < PERM_COUNT ? perm_names[i] : NULL;
}

const char *
authz_role_name(enum role r)
{
	return (size_t)r < ARRAY_LEN(roles) ? roles[r].name : "";
}

enum role
authz_role_from_name(const char *name)
{
	for (size_t i = 1; name && i < ARRAY_LEN(roles); i++)
		if (strcmp(roles[i].name, name) == 0)
			return (enum role)i;
	return ROLE_NONE;
}

const char *
authz_scope_name(uint32_t scope)
{
	int i = bit_index(scope);
	return i >= 0 && i < SCOPE_COUNT ? scope_names[i] : NULL;
}

uint32_t
authz_scope_from_name(const char *name)
{
	for (int i = 0; name && i < SCOPE_COUNT; i++)
		if (strcmp(scope_names[i], name) == 0)
			return 1u << i;
	return 0;
}

uint32_t
authz_role_perms(enum role r)
{
	return (size_t)r < ARRAY_LEN(roles) ? roles[r].perms : 0;
}

uint32_t
authz_scope_perms(uint32_t scopes)
{
	uint32_t p = 0;

	if (scopes == 0)
		return 0;
	for (int i = 0; i < SCOPE_COUNT; i++)
		if (scopes & (1u << i))
			p |= scope_grants[i];
	if (scopes & SCOPE_ADMIN)
		p |= ADMIN_PERMS;
	return p | PERM_AUTHENTICATED;
}

void
authz_settle(struct principal *p)
{
	switch (p->kind) {
	case PRINCIPAL_ADMIN:
		p->role = ROLE_OWNER;
		p->platform_admin = true;
		p->perms = OWNER_PERMS;
		break;
	case PRINCIPAL_USER:
		/* A user without a role here may still ask who they are. */
		p->perms = authz_role_perms(p->role) | PERM_AUTHENTICATED;
		if (p->platform_admin)
			p->perms |= OWNER_PERMS;
		break;
	case PRINCIPAL_KEY:
		p->role = ROLE_NONE;
		p->platform_admin = false;
		p->perms = authz_scope_perms(p->scopes);
		break;
	}
	if (p->platform_admin)
		p->perms |= PERM_PLATFORM;
}

bool
authz_can(const struct principal *p, uint32_t perm)
{
	return perm == PERM_NONE || (p && (p->perms & perm) == perm);
}

bool
authz_org_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > ORG_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return false;
	}
	return true;
}
