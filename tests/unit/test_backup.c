/*
 * test_backup.c - the backup archive's rules (src/backup/): which member
 * paths are allowed, what a manifest must hold, and the sealed secrets
 * (a round trip; a flipped byte, a wrong key, a cut or extended stream
 * refused).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>

#include "backup/backup.h"

#define SHA_A "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

static void
test_paths(void **state)
{
	const char *ok[] = { "msgd.db", "secrets.bin", "files/ab/cdef", "files/00/0",
		"files/ab/" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" };
	const char *bad[] = { "", "/msgd.db", "../msgd.db", "msgd.db/", "./msgd.db", "files/ab/../cd",
		"files/ab/cd/ef", "files/AB/cd", "files/a/bcd", "files/ab/", "files/ab/xyz", "manifest.json",
		"files/ab/" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0", "admin.token",
		"files//ab/cd", "files/ab\\cd" };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_true(backup_path_ok(ok[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (backup_path_ok(bad[i]))
			fail_msg("allowed: %s", bad[i]);
	}
	assert_true(backup_member_cap("files/ab/cd") < backup_member_cap("msgd.db"));
	assert_int_equal(backup_member_cap("secrets.bin"), BACKUP_SECRETS_MAX);
}

static int
parse(const char *text, char err[BACKUP_ERR_MAX])
{
	struct backup_manifest m;
	int r = backup_manifest_parse(text, strlen(text), &m, err);

	if (r == 0)
		backup_manifest_free(&m);
	return r;
}

#define HEAD "{\"format\":\"msgd-backup\",\"format_version\":1,\"schema_version\":20,\"created_at\":\"x\","
#define DB "{\"path\":\"msgd.db\",\"size\":5,\"sha256\":\"" SHA_A "\"}"

static void
test_manifest(void **state)
{
	char err[BACKUP_ERR_MAX];
	struct backup_manifest m;
	const char *good = HEAD "\"members\":[{\"path\":\"files/ab/cd\",\"size\":1,\"sha256\":\"" SHA_A "\"}," DB "]}";

	assert_int_equal(backup_manifest_parse(good, strlen(good), &m, err), 0);
	assert_int_equal(m.n, 2);
	assert_string_equal(m.members[0].path, "files/ab/cd");   /* sorted by path */
	assert_string_equal(m.members[1].path, "msgd.db");
	assert_int_equal(m.members[1].size, 5);
	assert_false(m.secrets);
	backup_manifest_free(&m);

	assert_int_equal(parse(HEAD "\"members\":[]}", err), -1);                 /* no msgd.db */
	assert_non_null(strstr(err, "msgd.db missing"));
	assert_int_equal(parse(HEAD "\"members\":[" DB "," DB "]}", err), -1);       /* twice */
	assert_non_null(strstr(err, "listed twice"));
	assert_int_equal(parse(HEAD "\"members\":[" DB ",{\"path\":\"../x\",\"size\":1,\"sha256\":\"" SHA_A "\"}]}", err), -1);
	assert_non_null(strstr(err, "not allowed"));
	assert_int_equal(parse(HEAD "\"members\":[{\"path\":\"msgd.db\",\"size\":-1,\"sha256\":\"" SHA_A "\"}]}", err), -1);
	assert_int_equal(parse(HEAD "\"members\":[{\"path\":\"msgd.db\",\"size\":1,\"sha256\":\"zz\"}]}", err), -1);
	assert_int_equal(parse(HEAD "\"members\":[" DB ",{\"path\":\"files/ab/cd\",\"size\":99999999999,\"sha256\":\""
	    SHA_A "\"}]}", err), -1);
	assert_non_null(strstr(err, "over its size cap"));
	/* secrets.bin without its parameters, and parameters out of range */
	assert_int_equal(parse(HEAD "\"members\":[" DB ",{\"path\":\"secrets.bin\",\"size\":1,\"sha256\":\"" SHA_A "\"}]}",
	    err), -1);
	assert_int_equal(parse(HEAD "\"secrets\":{\"kdf\":\"argon2id13\",\"salt\":\"00000000000000000000000000000000\","
	    "\"opslimit\":999999,\"memlimit\":67108864},\"members\":[" DB "]}", err), -1);
	assert_non_null(strstr(err, "out of range"));
	assert_int_equal(parse("{\"format\":\"other\"}", err), -1);
	assert_int_equal(parse("[]", err), -1);
	assert_int_equal(parse("{\"format\":\"msgd-backup\",\"format_version\":2}", err), -1);
}

static void
test_seal(void **state)
{
	unsigned char key[32], other[32], *sealed;
	size_t n, len, big = 200000;
	char *plain = malloc(big), *out;

	randombytes_buf(key, sizeof(key));
	randombytes_buf(other, sizeof(other));
	for (size_t i = 0; i < big; i++)
		plain[i] = (char)('a' + i % 26);
	/* Several chunks, one, and none. */
	for (size_t sz = big; ; sz = sz > 10 ? 10 : 0) {
		assert_int_equal(backup_seal(key, plain, sz, &sealed, &n), 0);
		assert_int_equal(backup_unseal(key, sealed, n, &out, &len), 0);
		assert_int_equal(len, sz);
		assert_memory_equal(out, plain, sz);
		free(out);
		assert_int_equal(backup_unseal(other, sealed, n, &out, &len), -1);
		assert_null(out);
		sealed[n / 2] ^= 1;
		assert_int_equal(backup_unseal(key, sealed, n, &out, &len), -1);
		sealed[n / 2] ^= 1;
		assert_int_equal(backup_unseal(key, sealed, n - 1, &out, &len), -1);  /* cut short */
		unsigned char *longer = malloc(n + 1);
		memcpy(longer, sealed, n);
		longer[n] = 0;
		assert_int_equal(backup_unseal(key, longer, n + 1, &out, &len), -1);  /* bytes after the end */
		free(longer);
		free(sealed);
		if (sz == 0)
			break;
	}
	free(plain);
}

static char *
one(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	char *v = NULL;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		v = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return v;
}

#define CHAN_CFG "{\"phone_number_id\":\"PN1\",\"access_token\":\"EAAsecret\",\"app_secret\":\"appsec\"}"
#define EXPORT_CFG "{\"url\":\"amqp://u:pw@127.0.0.1/\"}"

/* Secrets out of a copy and back in, exports (schema 21's subscriptions.config) included. */
static void
test_secrets_take_put(void **state)
{
	sqlite3 *db;
	char err[BACKUP_ERR_MAX] = "", *v;
	json_t *secrets;

	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	    "CREATE TABLE channels (id INTEGER PRIMARY KEY, type TEXT, config TEXT);"
	    "CREATE TABLE subscriptions (id INTEGER PRIMARY KEY, secret TEXT, paused INTEGER, config TEXT);"
	    "CREATE TABLE signing_keys (kid TEXT PRIMARY KEY, secret TEXT, created_at INTEGER);"
	    "INSERT INTO channels VALUES (7, 'whatsapp_cloud', '" CHAN_CFG "');"
	    "INSERT INTO subscriptions VALUES (1, 'hooksecret', 0, NULL), (2, '', 0, '" EXPORT_CFG "');"
	    "INSERT INTO signing_keys VALUES ('k1', 'signsecret', 5);", NULL, NULL, NULL), SQLITE_OK);

	assert_int_equal(backup_secrets_take(db, &secrets, err), 0);
	v = one(db, "SELECT config FROM channels");
	assert_null(strstr(v, "EAAsecret"));
	assert_null(strstr(v, "appsec"));
	assert_non_null(strstr(v, "\"phone_number_id\":\"PN1\""));   /* not a secret: kept */
	free(v);
	v = one(db, "SELECT group_concat(secret) FROM subscriptions");
	assert_null(strstr(v, "hooksecret"));
	free(v);
	v = one(db, "SELECT secret FROM signing_keys");
	assert_int_equal(strlen(v), 64);                                 /* a random stand-in */
	free(v);
	v = one(db, "SELECT config || paused FROM subscriptions WHERE id = 2");
	assert_string_equal(v, "{}1");                                    /* paused, empty */
	free(v);

	assert_int_equal(backup_secrets_put(db, secrets, err), 0);
	v = one(db, "SELECT json_extract(config, '$.access_token') || json_extract(config, '$.app_secret') FROM channels");
	assert_string_equal(v, "EAAsecretappsec");
	free(v);
	v = one(db, "SELECT group_concat(secret, '|') FROM (SELECT secret FROM subscriptions ORDER BY id)");
	assert_string_equal(v, "hooksecret|");
	free(v);
	v = one(db, "SELECT secret || created_at FROM signing_keys");
	assert_string_equal(v, "signsecret5");
	free(v);
	v = one(db, "SELECT config || paused FROM subscriptions WHERE id = 2");
	assert_string_equal(v, EXPORT_CFG "0");
	free(v);
	json_decref(secrets);

	/* Before schema 21 there are no exports. */
	assert_int_equal(sqlite3_exec(db, "ALTER TABLE subscriptions DROP COLUMN config", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(backup_secrets_take(db, &secrets, err), 0);
	assert_null(json_object_get(secrets, "exports"));
	json_decref(secrets);
	sqlite3_close(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_manifest),
		cmocka_unit_test(test_seal),
		cmocka_unit_test(test_secrets_take_put),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
