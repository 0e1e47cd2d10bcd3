/*
 * keys.c - `msgd keys`: an organization's API keys (docs/API.md "API keys").
 *
 *   create NAME --scope S...   makes a key and prints its secret on stdout,
 *                              alone on its line, this once (so that
 *                              `KEY=$(msgd keys create ci --scope
 *                              messages:send)` works); everything else goes
 *                              to stderr
 *   list                       one line per live key, tab-separated: id,
 *                              name, prefix, scopes, created, last used,
 *                              expires ("-" when none); never a secret
 *   revoke ID
 *
 * --org names the organization (default "default"). Like `msgd users`
 * (datadir.c): on the store itself when no daemon holds the data
 * directory's lock, otherwise through that daemon's API (/v1/keys, with
 * Msgd-Org), so a new key works and a revoked one is refused at once. The
 * secret is made as the API makes it (authz_key_make()). Arguments are
 * checked before anything is touched: bad ones change nothing.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../authz/authz.h"
#include "../config/config.h"
#include "../daemon/lock.h"
#include "../store/store.h"
#include "../util/util.h"

#define WHO "msgd keys"
#define ORG_HEADER_LINE_MAX (sizeof(ORG_HEADER) + 2 + ORG_NAME_MAX)
#define EXPIRES_MAX 64

const char cli_keys_usage[] =
    "msgd keys create NAME --scope SCOPE [--scope SCOPE ...] [--expires TIME] [--org ORG]\n"
    "                 [--data DIR] [--config FILE]\n"
    "msgd keys list [--org ORG] [--data DIR] [--config FILE]\n"
    "msgd keys revoke ID [--org ORG] [--data DIR] [--config FILE]\n"
    "\n"
    "  --scope SCOPE    what the key may do, once per scope: messages:send, messages:read,\n"
    "                   channels:write, templates:write, webhooks:write, events:read,\n"
    "                   files:write, campaigns:write, admin\n"
    "  --expires TIME   when the key stops working (RFC 3339, in the future; default never)\n"
    "  --org ORG        the organization (default 'default')\n"
    "  --data DIR       data directory (env MSGD_DATA; default ./var, which must exist)\n"
    "  --config FILE    configuration file (env MSGD_CONFIG)\n"
    "\n"
    "create: a key named NAME (1 to 64 bytes); its secret is printed on stdout, alone,\n"
    "this once (KEY=$(msgd keys create ci --scope messages:send)); msgd keeps only its\n"
    "SHA-256. list: one line per key, tab-separated: id, name, prefix, scopes, created,\n"
    "last used, expires ('-' when none). revoke: the key is refused from then on.\n"
    "With msgd running on DIR the change goes through its API (token from\n"
    "MSGD_ADMIN_TOKEN or DIR/admin.token). Exit 0 when done, 1 when not (no such key\n"
    "or organization, storage or API error), 2 on a usage error.\n";

enum verb { V_CREATE, V_LIST, V_REVOKE };

static const struct {
	const char *name;
	enum verb verb;
	bool takes_arg;
} verbs[] = {
	{ .name = "create", .verb = V_CREATE, .takes_arg = true },
	{ .name = "list", .verb = V_LIST, .takes_arg = false },
	{ .name = "revoke", .verb = V_REVOKE, .takes_arg = true },
};

struct job {
	enum verb verb;
	const char *name;               /* create */
	int64_t id;                     /* revoke */
	uint32_t scopes;                /* create */
	const char *expires;            /* create: as given, or NULL */
	int64_t expires_at;             /* create: Unix seconds; 0: never */
	const char *org;                /* as given, or NULL (the default) */
	const struct config *cfg;
};

static const char *
org_of(const struct job *j)
{
	return j->org ? j->org : ORG_DEFAULT;
}

/* A field of a key as text on one line: control characters as '?'. */
static void
print_field(const char *s, char sep)
{
	for (; s && *s; s++)
		putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
	if (s == NULL)
		putchar('-');
	putchar(sep);
}

/* One line of a list from a key as GET /v1/keys shows it. */
static void
print_key(json_t *k)
{
	static const char *const times[] = { "created_at", "last_used_at", "expires_at" };
	json_t *scopes = json_object_get(k, "scopes"), *s;
	size_t i, n = json_array_size(scopes);

	printf("%" PRId64 "\t", (int64_t)json_integer_value(json_object_get(k, "id")));
	print_field(json_string_value(json_object_get(k, "name")), '\t');
	print_field(json_string_value(json_object_get(k, "prefix")), '\t');
	json_array_foreach(scopes, i, s)
		print_field(json_string_value(s), i + 1 < n ? ',' : '\t');
	if (n == 0)
		print_field(NULL, '\t');
	for (size_t t = 0; t < ARRAY_LEN(times); t++)
		print_field(json_string_value(json_object_get(k, times[t])),
		    t + 1 < ARRAY_LEN(times) ? '\t' : '\n');
}

/* The secret on stdout, alone; what it is on stderr. */
static void
print_created(const struct job *j, int64_t id, const char *prefix, const char *secret)
{
	fprintf(stderr, WHO ": key %" PRId64 " '%s' (%s...) made in organization %s; "
	    "its secret, on stdout, is shown this once\n", id, j->name, prefix, org_of(j));
	printf("%s\n", secret);
	fflush(stdout);
}

/* --- on the store itself (we hold the lock) --- */

static int
org_id_of(struct store *st, const char *name, int64_t *id)
{
	json_t *rows = NULL, *o;
	size_t i;

	if (store_orgs_load(st, &rows) != 0) {
		fprintf(stderr, WHO ": cannot read the organizations\n");
		return -1;
	}
	*id = 0;
	json_array_foreach(rows, i, o) {
		const char *n = json_string_value(json_object_get(o, "name"));
		if (n && strcmp(n, name) == 0)
			*id = json_integer_value(json_object_get(o, "id"));
	}
	json_decref(rows);
	if (*id == 0) {
		fprintf(stderr, WHO ": no organization named '%s'\n", name);
		return -1;
	}
	return 0;
}

static int
local_create(struct store *st, const struct job *j, int64_t org)
{
	struct authz_new_key k;
	json_t *sj = authz_scopes_json(j->scopes);
	char *scopes = json_dumps(sj, JSON_COMPACT);
	int rc = 1;

	json_decref(sj);
	authz_key_make(&k);
	struct store_op op = {
		.kind = STORE_OP_API_KEY_PUT,
		.org_id = org,
		.u.api_key = { .name = j->name, .scopes_json = scopes, .prefix = k.prefix,
			.expires_at = j->expires_at },
	};
	memcpy(op.u.api_key.hash, k.hash, sizeof(op.u.api_key.hash));
	if (store_submit_wait(st, &op) != 0) {
		fprintf(stderr, WHO ": %s\n", op.errmsg);
	} else {
		print_created(j, op.u.api_key.id, k.prefix, k.secret);
		rc = 0;
	}
	authz_key_wipe(&k);
	free(scopes);
	return rc;
}

static int
local_list(struct store *st, int64_t org)
{
	json_t *rows = NULL, *row;
	size_t i;

	if (store_api_keys_load(st, &rows) != 0) {
		fprintf(stderr, WHO ": cannot read the keys\n");
		return 1;
	}
	json_array_foreach(rows, i, row) {
		if (json_integer_value(json_object_get(row, "org_id")) != org)
			continue;
		json_t *k = authz_key_listed(row);
		print_key(k);
		json_decref(k);
	}
	json_decref(rows);
	return 0;
}

static int
local_revoke(struct store *st, const struct job *j, int64_t org)
{
	struct store_op op = {
		.kind = STORE_OP_API_KEY_REVOKE,
		.org_id = org,
		.u.api_key = { .id = j->id },
	};

	if (store_submit_wait(st, &op) == 0) {
		fprintf(stderr, WHO ": key %" PRId64 " revoked\n", j->id);
		return 0;
	}
	if (op.err == STORE_NOTFOUND)
		fprintf(stderr, WHO ": no key %" PRId64 " in organization %s\n", j->id, org_of(j));
	else
		fprintf(stderr, WHO ": %s\n", op.errmsg);
	return 1;
}

static int
run_local(void *arg)
{
	struct job *j = arg;
	struct store_config scfg = { .data_dir = j->cfg->data_dir, .database = j->cfg->database };
	struct store *st = NULL;
	int64_t org;
	int rc = 1;

	if (store_open(&st, &scfg, NULL) != 0) {
		fprintf(stderr, WHO ": cannot open the store in %s\n", j->cfg->data_dir);
		return 1;
	}
	if (org_id_of(st, org_of(j), &org) == 0) {
		switch (j->verb) {
		case V_CREATE: rc = local_create(st, j, org); break;
		case V_LIST: rc = local_list(st, org); break;
		case V_REVOKE: rc = local_revoke(st, j, org); break;
		}
	}
	store_close(st);
	return rc;
}

/* --- through the running daemon's API --- */

static int
run_remote(void *arg, const struct datadir_holder *h)
{
	struct job *j = arg;
	char tok[CLI_TOKEN_MAX + 1], base[CLI_URL_MAX], url[CLI_URL_MAX + 64];
	char org_line[ORG_HEADER_LINE_MAX];
	const char *headers[] = { org_line, NULL };
	const char *method = "GET";
	char *body = NULL;
	json_t *res = NULL;
	long want = 200;
	int rc = 1;

	if (cli_admin_token(WHO, j->cfg, h, tok) != 0)
		return 1;
	cli_base_url(h, base);
	snprintf(org_line, sizeof(org_line), "%s: %s", ORG_HEADER, org_of(j));
	switch (j->verb) {
	case V_CREATE: {
		json_t *o = json_pack("{s:s, s:o}", "name", j->name, "scopes", authz_scopes_json(j->scopes));
		if (j->expires)
			json_object_set_new(o, "expires_at", json_string(j->expires));
		body = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		method = "POST";
		want = 201;
		snprintf(url, sizeof(url), "%s/v1/keys", base);
		break;
	}
	case V_LIST:
		snprintf(url, sizeof(url), "%s/v1/keys", base);
		break;
	case V_REVOKE:
		method = "DELETE";
		want = 204;
		snprintf(url, sizeof(url), "%s/v1/keys/%" PRId64, base, j->id);
		break;
	}
	long st = cli_call(WHO, method, url, tok, headers, body, &res);
	explicit_bzero(tok, sizeof(tok));
	free(body);
	if (st < 0)
		goto out;
	if (st != want) {
		fprintf(stderr, WHO ": msgd (pid %ld) answered %ld: %s\n", h->pid, st, cli_error_message(res));
		goto out;
	}
	switch (j->verb) {
	case V_CREATE: {
		const char *secret = json_string_value(json_object_get(res, "key"));
		const char *prefix = json_string_value(json_object_get(res, "prefix"));
		if (secret == NULL) {
			fprintf(stderr, WHO ": msgd (pid %ld) answered without a key\n", h->pid);
			goto out;
		}
		print_created(j, json_integer_value(json_object_get(res, "id")), prefix ? prefix : "",
		    secret);
		break;
	}
	case V_LIST: {
		json_t *k;
		size_t i;
		json_array_foreach(json_object_get(res, "keys"), i, k)
			print_key(k);
		break;
	}
	case V_REVOKE:
		fprintf(stderr, WHO ": key %" PRId64 " revoked\n", j->id);
		break;
	}
	rc = 0;
out:
	json_decref(res);
	return rc;
}

/* --- arguments --- */

/* A bad argument: said on stderr, exit code 2. */
static int
usage_error(const char *fmt, const char *arg)
{
	fputs(WHO ": ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\n", stderr);
	return 2;
}

static int
parse_id(const char *s, int64_t *out)
{
	char *end;

	if (*s < '1' || *s > '9')
		return -1;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (*end != '\0' || v <= 0 || errno != 0)
		return -1;
	*out = v;
	return 0;
}

int
cli_keys(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "scope", required_argument, NULL, 's' },
		{ "expires", required_argument, NULL, 'e' },
		{ "org", required_argument, NULL, 'o' },
		{ "data", required_argument, NULL, 'd' },
		{ "config", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL, *file = NULL;
	struct config cfg;
	struct job j = { .cfg = &cfg };
	bool scoped = false;
	int c, found = -1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': {
			uint32_t b = authz_scope_from_name(optarg);
			if (b == 0)
				return usage_error("unknown scope '%s'", optarg);
			j.scopes |= b;
			scoped = true;
			break;
		}
		case 'e': j.expires = optarg; break;
		case 'o': j.org = optarg; break;
		case 'd': data = optarg; break;
		case 'c': file = optarg; break;
		default: fputs(cli_keys_usage, stderr); return 2;
		}
	}
	if (argc - optind < 1) {
		fputs(cli_keys_usage, stderr);
		return 2;
	}
	for (size_t i = 0; i < ARRAY_LEN(verbs); i++)
		if (strcmp(argv[optind], verbs[i].name) == 0)
			found = (int)i;
	if (found < 0) {
		fprintf(stderr, WHO ": unknown command '%s'\n%s", argv[optind], cli_keys_usage);
		return 2;
	}
	if (argc - optind != (verbs[found].takes_arg ? 2 : 1)) {
		fputs(cli_keys_usage, stderr);
		return 2;
	}
	j.verb = verbs[found].verb;
	if (j.verb != V_CREATE && (scoped || j.expires))
		return usage_error("--scope and --expires are for %s", "create");
	switch (j.verb) {
	case V_CREATE:
		j.name = argv[optind + 1];
		if (!authz_key_name_valid(j.name))
			return usage_error("a key's name is 1 to 64 bytes of text, not '%s'", j.name);
		if (!scoped)
			return usage_error("a key needs at least one --scope (%s)", AUTHZ_SCOPE_LIST);
		if (j.expires && (strlen(j.expires) > EXPIRES_MAX || parse_rfc3339(j.expires, &j.expires_at) != 0 ||
		    j.expires_at <= now_ms() / 1000))
			return usage_error("--expires must be an RFC 3339 time in the future, not '%s'",
			    j.expires);
		break;
	case V_REVOKE:
		if (parse_id(argv[optind + 1], &j.id) != 0)
			return usage_error("a key's id is a positive number, not '%s'", argv[optind + 1]);
		break;
	case V_LIST:
		break;
	}
	if (j.org && !authz_org_name_valid(j.org))
		return usage_error("invalid organization name '%s' (1 to 64 of a-z 0-9 . _ -)", j.org);
	int rc = cli_datadir_setup(WHO, &cfg, file, data, false);
	if (rc != 0)
		return rc;
	return cli_datadir_run(&(struct cli_datadir_job){ .who = WHO, .cfg = &cfg,
	    .local = run_local, .remote = run_remote, .arg = &j });
}
