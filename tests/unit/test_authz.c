/*
 * test_authz.c - roles, scopes and the route table: every route declares a
 * permission (or is one of the known public routes), and each role and
 * scope gets exactly the routes the issue gives it, written out here
 * independently of authz.c's tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/api.h"
#include "authz/authz.h"
#include "util/util.h"

/* Routes anyone may call (they authenticate themselves, if at all). */
static const char *const public_routes[] = {
	"GET /healthz", "GET /readyz", "POST /v1/session", "GET /v1/session", "DELETE /v1/session",
	"GET /webhooks/*", "POST /webhooks/*", "POST /webhooks/*/*", "POST /v1/auth/token",
};

/* What each kind of route is: read, send, or a part of administration. */
enum area { AREA_PUBLIC, AREA_READ, AREA_EVENTS, AREA_SEND, AREA_CHANNELS, AREA_TEMPLATES,
	AREA_WEBHOOKS, AREA_USERS, AREA_KEYS, AREA_ORGS, AREA_ME, AREA_ORG_MANAGE };

static enum area
area_of(const char *method, const char *pattern)
{
	bool get = strcmp(method, "GET") == 0;

	if (strncmp(pattern, "/v1/events", 10) == 0 || strcmp(pattern, "/v1/stream") == 0 ||
	    strcmp(pattern, "/v1/ws") == 0)
		return AREA_EVENTS;
	if (strcmp(pattern, "/v1/channels/*/qr") == 0)
		return AREA_CHANNELS;  /* pairing a phone is an admin's act */
	if (strncmp(pattern, "/v1/channels", 12) == 0)
		return get ? AREA_READ : AREA_CHANNELS;
	if (strcmp(pattern, "/v1/channel-types") == 0)
		return AREA_READ;
	if (strncmp(pattern, "/v1/templates", 13) == 0)
		return get ? AREA_READ : AREA_TEMPLATES;
	if (strncmp(pattern, "/v1/webhooks", 12) == 0)
		return AREA_WEBHOOKS;
	if (strncmp(pattern, "/v1/users", 9) == 0)
		return AREA_USERS;
	if (strncmp(pattern, "/v1/keys", 8) == 0)
		return AREA_KEYS;
	if (strcmp(pattern, "/v1/orgs") == 0)
		return AREA_ORGS;
	if (strcmp(pattern, "/v1/audit") == 0)
		return AREA_USERS;  /* owners and admins */
	if (strncmp(pattern, "/v1/contacts/", 13) == 0)
		return AREA_CHANNELS;  /* erasure: admins and owners */
	if (strcmp(pattern, "/v1/orgs/*/usage") == 0)
		return AREA_READ;
	if (strncmp(pattern, "/v1/orgs/", 9) == 0)
		return get ? AREA_ME : AREA_ORG_MANAGE;
	if (strncmp(pattern, "/v1/auth/me", 11) == 0 || strcmp(pattern, "/v1/auth/password") == 0)
		return AREA_ME;
	if (strcmp(pattern, "/v1/sandbox/*/inbound") == 0)
		return AREA_SEND;
	if (strncmp(pattern, "/v1/conversations", 17) == 0 || strncmp(pattern, "/v1/messages", 12) == 0)
		return get ? AREA_READ : AREA_SEND;
	/* files (issue 14): reading is reading, an upload is part of sending */
	if (strncmp(pattern, "/v1/files", 9) == 0)
		return get ? AREA_READ : AREA_SEND;
	/* imports (issue 14, h14import): reading is reading, making or dropping one is sending */
	if (strncmp(pattern, "/v1/imports", 11) == 0)
		return get ? AREA_READ : AREA_SEND;
	/* campaigns (issue 14, h14camp): reading is reading, making or steering one is sending */
	if (strncmp(pattern, "/v1/campaigns", 13) == 0)
		return get ? AREA_READ : AREA_SEND;
	/* exports (issue 15, h15sink): like the event webhooks */
	if (strncmp(pattern, "/v1/exports", 11) == 0)
		return AREA_WEBHOOKS;
	fail_msg("route %s %s has no area in this test: add it", method, pattern);
	return AREA_PUBLIC;
}

/* The words: viewer reads; agent reads and sends; admin also
 * manages channels, templates, users, keys, webhooks; owner all of it and
 * the organization. Orgs are the platform's. */
static bool
role_may(enum role r, enum area a)
{
	switch (a) {
	case AREA_PUBLIC:
	case AREA_ME:
		return true;
	case AREA_READ:
	case AREA_EVENTS:
		return r >= ROLE_VIEWER;
	case AREA_SEND:
		return r >= ROLE_AGENT;
	case AREA_CHANNELS:
	case AREA_TEMPLATES:
	case AREA_WEBHOOKS:
	case AREA_USERS:
	case AREA_KEYS:
		return r >= ROLE_ADMIN;
	case AREA_ORG_MANAGE:
		return r >= ROLE_OWNER;
	case AREA_ORGS:
		return false;
	}
	return false;
}

static bool
is_public(const char *method, const char *pattern)
{
	char want[160];

	snprintf(want, sizeof(want), "%s %s", method, pattern);
	for (size_t i = 0; i < sizeof(public_routes) / sizeof(public_routes[0]); i++)
		if (strcmp(public_routes[i], want) == 0)
			return true;
	return false;
}

static void
test_every_route_has_a_permission(void **state)
{
	const char *method, *pattern;
	int n = 0;

	for (int i = 0; (pattern = api_route_pattern(i, &method)) != NULL; i++, n++) {
		uint32_t perm = api_route_perm(i);
		if (is_public(method, pattern)) {
			assert_int_equal(perm, PERM_NONE);
			continue;
		}
		if (perm == PERM_NONE || authz_perm_name(perm) == NULL)
			fail_msg("route %s %s declares no single permission", method, pattern);
	}
	assert_true(n > 30);
}

static void
test_roles_matrix(void **state)
{
	const char *method, *pattern;

	for (enum role r = ROLE_VIEWER; r <= ROLE_OWNER; r++) {
		struct principal p = { .kind = PRINCIPAL_USER, .role = r };
		authz_settle(&p);
		for (int i = 0; (pattern = api_route_pattern(i, &method)) != NULL; i++) {
			enum area a = is_public(method, pattern) ? AREA_PUBLIC : area_of(method, pattern);
			bool can = authz_can(&p, api_route_perm(i));
			if (can != role_may(r, a))
				fail_msg("role %s %s %s %s", authz_role_name(r), can ? "may" : "may not",
				    method, pattern);
		}
	}
	/* No role is a platform admin; the admin token is, and owns any org. */
	struct principal admin = { .kind = PRINCIPAL_ADMIN };
	authz_settle(&admin);
	assert_true(authz_can(&admin, PERM_PLATFORM));
	assert_true(authz_can(&admin, PERM_ORG_MANAGE));
	assert_int_equal(admin.role, ROLE_OWNER);
	struct principal owner = { .kind = PRINCIPAL_USER, .role = ROLE_OWNER };
	authz_settle(&owner);
	assert_false(authz_can(&owner, PERM_PLATFORM));
	owner.platform_admin = true;
	authz_settle(&owner);
	assert_true(authz_can(&owner, PERM_PLATFORM));
	/* Only owners manage the organization; agents upload, viewers do not. */
	struct principal admin_user = { .kind = PRINCIPAL_USER, .role = ROLE_ADMIN };
	authz_settle(&admin_user);
	assert_false(authz_can(&admin_user, PERM_ORG_MANAGE));
	assert_true(authz_can(&admin_user, PERM_CONTACTS_ERASE));
	struct principal agent = { .kind = PRINCIPAL_USER, .role = ROLE_AGENT };
	authz_settle(&agent);
	assert_true(authz_can(&agent, PERM_FILES_WRITE));
	assert_false(authz_can(&agent, PERM_CONTACTS_ERASE));
	struct principal none = { .kind = PRINCIPAL_USER, .role = ROLE_NONE };
	authz_settle(&none);
	assert_true(authz_can(&none, PERM_AUTHENTICATED));
	assert_false(authz_can(&none, PERM_MESSAGES_READ));
}

static void
test_scopes(void **state)
{
	static const struct {
		const char *scope;
		uint32_t grants;
		uint32_t denies;
	} cases[] = {
		{ .scope = "messages:send", .grants = PERM_MESSAGES_SEND, .denies = PERM_MESSAGES_READ },
		{ .scope = "messages:read", .grants = PERM_MESSAGES_READ, .denies = PERM_MESSAGES_SEND },
		{ .scope = "channels:write", .grants = PERM_CHANNELS_WRITE, .denies = PERM_TEMPLATES_WRITE },
		{ .scope = "templates:write", .grants = PERM_TEMPLATES_WRITE, .denies = PERM_CHANNELS_WRITE },
		{ .scope = "webhooks:write", .grants = PERM_WEBHOOKS_WRITE, .denies = PERM_EVENTS_READ },
		{ .scope = "events:read", .grants = PERM_EVENTS_READ, .denies = PERM_MESSAGES_READ },
		{ .scope = "files:write", .grants = PERM_FILES_WRITE, .denies = PERM_MESSAGES_SEND },
		{ .scope = "campaigns:write", .grants = PERM_CAMPAIGNS_WRITE, .denies = PERM_MESSAGES_SEND },
		{ .scope = "admin", .grants = PERM_USERS_WRITE | PERM_KEYS_WRITE | PERM_MESSAGES_SEND,
		  .denies = PERM_ORG_MANAGE | PERM_PLATFORM },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t s = authz_scope_from_name(cases[i].scope);
		assert_int_not_equal(s, 0);
		assert_string_equal(authz_scope_name(s), cases[i].scope);
		struct principal k = { .kind = PRINCIPAL_KEY, .scopes = s, .role = ROLE_OWNER,
			.platform_admin = true };
		authz_settle(&k);
		assert_int_equal(k.role, ROLE_NONE);
		assert_true(authz_can(&k, cases[i].grants));
		assert_true(authz_can(&k, PERM_AUTHENTICATED));
		for (uint32_t b = 1; b < (1u << PERM_COUNT); b <<= 1)
			if (cases[i].denies & b)
				assert_false(authz_can(&k, b));
	}
	assert_int_equal(authz_scope_from_name("messages:write"), 0);
	assert_int_equal(authz_scope_from_name(NULL), 0);
	struct principal none = { .kind = PRINCIPAL_KEY };
	authz_settle(&none);
	assert_false(authz_can(&none, PERM_AUTHENTICATED));
}

static void
test_names(void **state)
{
	for (uint32_t b = 1; b < (1u << PERM_COUNT); b <<= 1)
		assert_non_null(authz_perm_name(b));
	assert_null(authz_perm_name(PERM_MESSAGES_READ | PERM_MESSAGES_SEND));
	assert_null(authz_perm_name(PERM_NONE));
	for (enum role r = ROLE_VIEWER; r <= ROLE_OWNER; r++)
		assert_int_equal(authz_role_from_name(authz_role_name(r)), r);
	assert_int_equal(authz_role_from_name("root"), ROLE_NONE);
	assert_int_equal(authz_role_from_name(""), ROLE_NONE);
	assert_true(authz_org_name_valid("default"));
	assert_true(authz_org_name_valid("acme-2.eu_west"));
	assert_false(authz_org_name_valid(""));
	assert_false(authz_org_name_valid("-acme"));
	assert_false(authz_org_name_valid("Acme"));
	assert_false(authz_org_name_valid("a b"));
	char longname[ORG_NAME_MAX + 2];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_false(authz_org_name_valid(longname));
	longname[ORG_NAME_MAX] = '\0';
	assert_true(authz_org_name_valid(longname));
}

/* Keys are found by hash (a binary search), each the right one, none else. */
static void
test_token_lookup(void **state)
{
	struct app app = { 0 };
	char t[32];
	size_t k;

	sha256("the admin token value", 21, app.admin_hash);
	app.nkeys = 300;
	app.key_hashes = calloc(app.nkeys, 32);
	app.keys = calloc(app.nkeys, sizeof(*app.keys));
	for (size_t i = 0; i < app.nkeys; i++) {
		snprintf(t, sizeof(t), "msgd_key_%zu", i);
		sha256(t, strlen(t), app.key_hashes[i]);
		app.keys[i].id = (int64_t)i + 1;
	}
	api_keys_index(&app);
	for (size_t i = 0; i < app.nkeys; i++) {
		snprintf(t, sizeof(t), "msgd_key_%zu", i);
		assert_int_equal(api_token_match(&app, t, &k), TOKEN_MATCH_KEY);
		assert_int_equal(k, i);
	}
	assert_int_equal(api_token_match(&app, "msgd_key_300", &k), TOKEN_MATCH_NONE);
	assert_int_equal(api_token_match(&app, "the admin token value", &k), TOKEN_MATCH_ADMIN);
	free(app.key_hashes);
	free(app.keys);
	free(app.key_order);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_route_has_a_permission),
		cmocka_unit_test(test_roles_matrix),
		cmocka_unit_test(test_scopes),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_token_lookup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
