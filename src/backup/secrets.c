/*
 * secrets.c - what a backup keeps apart from msgd.db (backup.h): the
 * channels' secret config keys (their schema marks them), the webhooks'
 * signing secrets, the token signing keys and the exports' configs are
 * moved out of the copy
 * into one JSON object, which the archive carries encrypted
 * (crypto_secretstream_xchacha20poly1305, key from Argon2id over a
 * passphrase) or not at all.
 */
#include "backup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "../channels/channel.h"
#include "../util/util.h"

#define SEAL_CHUNK 65536

int
backup_key_derive(const char *passphrase_file, const unsigned char salt[16], uint64_t opslimit,
    uint64_t memlimit, unsigned char key[32], char err[BACKUP_ERR_MAX])
{
	char pass[BACKUP_PASSPHRASE_MAX + 1];
	int fd = open(passphrase_file, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		snprintf(err, BACKUP_ERR_MAX, "cannot read the passphrase file %.200s: %.200s", passphrase_file,
		    strerror(errno));
		return -1;
	}
	n = read(fd, pass, sizeof(pass));
	close(fd);
	if (n < 0 || n > BACKUP_PASSPHRASE_MAX) {
		snprintf(err, BACKUP_ERR_MAX, "the passphrase file %.200s is unreadable or over %d bytes",
		    passphrase_file, BACKUP_PASSPHRASE_MAX);
		sodium_memzero(pass, sizeof(pass));
		return -1;
	}
	while (n > 0 && (pass[n - 1] == '\n' || pass[n - 1] == '\r'))
		n--;
	if (n == 0) {
		snprintf(err, BACKUP_ERR_MAX, "the passphrase file %.200s is empty", passphrase_file);
		return -1;
	}
	int r = crypto_pwhash(key, 32, pass, (unsigned long long)n, salt, opslimit, (size_t)memlimit,
	    crypto_pwhash_ALG_ARGON2ID13);
	sodium_memzero(pass, sizeof(pass));
	if (r != 0) {
		snprintf(err, BACKUP_ERR_MAX, "deriving the key failed (out of memory?)");
		return -1;
	}
	return 0;
}

int
backup_seal(const unsigned char key[32], const char *plain, size_t n, unsigned char **out, size_t *outlen)
{
	crypto_secretstream_xchacha20poly1305_state st;
	size_t chunks = n / SEAL_CHUNK + 1;
	size_t cap = crypto_secretstream_xchacha20poly1305_HEADERBYTES +
	    chunks * (4 + crypto_secretstream_xchacha20poly1305_ABYTES) + n;
	unsigned char *buf = xmalloc(cap), *p = buf;

	crypto_secretstream_xchacha20poly1305_init_push(&st, p, key);
	p += crypto_secretstream_xchacha20poly1305_HEADERBYTES;
	for (size_t off = 0;;) {
		size_t len = n - off < SEAL_CHUNK ? n - off : SEAL_CHUNK;
		bool last = off + len == n;
		uint32_t clen = (uint32_t)(len + crypto_secretstream_xchacha20poly1305_ABYTES);
		p[0] = clen >> 24, p[1] = clen >> 16, p[2] = clen >> 8, p[3] = clen;
		crypto_secretstream_xchacha20poly1305_push(&st, p + 4, NULL, (const unsigned char *)plain + off, len,
		    NULL, 0, last ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0);
		p += 4 + clen;
		off += len;
		if (last)
			break;
	}
	*out = buf;
	*outlen = (size_t)(p - buf);
	return 0;
}

int
backup_unseal(const unsigned char key[32], const unsigned char *in, size_t n, char **plain, size_t *plainlen)
{
	crypto_secretstream_xchacha20poly1305_state st;
	const size_t hb = crypto_secretstream_xchacha20poly1305_HEADERBYTES;
	const size_t ab = crypto_secretstream_xchacha20poly1305_ABYTES;
	unsigned char *buf, tag = 0;
	size_t off = hb, len = 0;

	*plain = NULL;
	if (n < hb || n > BACKUP_SECRETS_MAX ||
	    crypto_secretstream_xchacha20poly1305_init_pull(&st, in, key) != 0)
		return -1;
	buf = xmalloc(n + 1);
	while (tag != crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
		if (n - off < 4)
			goto fail;
		size_t clen = (size_t)in[off] << 24 | (size_t)in[off + 1] << 16 | (size_t)in[off + 2] << 8 | in[off + 3];
		off += 4;
		if (clen < ab || clen > SEAL_CHUNK + ab || clen > n - off)
			goto fail;
		unsigned long long got;
		if (crypto_secretstream_xchacha20poly1305_pull(&st, buf + len, &got, &tag, in + off, clen, NULL, 0) != 0)
			goto fail;
		len += (size_t)got;
		off += clen;
	}
	if (off != n)   /* bytes after the final chunk */
		goto fail;
	buf[len] = '\0';
	*plain = (char *)buf;
	*plainlen = len;
	return 0;
fail:
	sodium_memzero(buf, n + 1);
	free(buf);
	return -1;
}

static int
sql_fail(sqlite3 *db, const char *what, char err[BACKUP_ERR_MAX])
{
	snprintf(err, BACKUP_ERR_MAX, "%.200s: %.200s", what, sqlite3_errmsg(db));
	return -1;
}

/* A secret's stand-in in the copy: random, so that a copy restored without
 * the secrets holds nothing anyone knows (an empty HMAC key would be). */
static json_t *
stand_in(void)
{
	unsigned char r[32];
	char hex[65];

	randombytes_buf(r, sizeof(r));
	hex_encode(r, sizeof(r), hex);
	return json_string(hex);
}

/* Channels: each secret key of its type's schema, replaced in the copy. */
static int
take_channels(sqlite3 *db, json_t *out, char err[BACKUP_ERR_MAX])
{
	sqlite3_stmt *sel = NULL, *upd = NULL;
	json_t *chans = json_object();
	int rc = -1, r;

	json_object_set_new(out, "channels", chans);
	if (sqlite3_prepare_v2(db, "SELECT id, type, config FROM channels", -1, &sel, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "UPDATE channels SET config = ?1 WHERE id = ?2", -1, &upd, NULL) != SQLITE_OK) {
		sql_fail(db, "reading channels", err);
		goto out;
	}
	while ((r = sqlite3_step(sel)) == SQLITE_ROW) {
		const struct channel_ops *ops = channel_type_find((const char *)sqlite3_column_text(sel, 1));
		json_t *cfg = json_loads((const char *)sqlite3_column_text(sel, 2), 0, NULL), *taken = json_object();
		const char *key;
		json_t *v;
		json_object_foreach(cfg, key, v) {
			if (ops && channel_is_secret_key(ops, key) && json_is_string(v) && json_string_length(v) > 0) {
				json_object_set(taken, key, v);
				json_object_set_new(cfg, key, stand_in());
			}
		}
		if (json_object_size(taken) > 0) {
			char id[24], *text = json_dumps(cfg, JSON_COMPACT);
			snprintf(id, sizeof(id), "%lld", (long long)sqlite3_column_int64(sel, 0));
			json_object_set(chans, id, taken);
			sqlite3_bind_text(upd, 1, text, -1, free);
			sqlite3_bind_int64(upd, 2, sqlite3_column_int64(sel, 0));
			r = sqlite3_step(upd);
			sqlite3_reset(upd);
			if (r != SQLITE_DONE) {
				json_decref(cfg);
				json_decref(taken);
				sql_fail(db, "updating channels", err);
				goto out;
			}
		}
		json_decref(cfg);
		json_decref(taken);
	}
	if (r != SQLITE_DONE) {
		sql_fail(db, "reading channels", err);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	return rc;
}

/* A table's secrets as {key: text} (select), then overwritten in the copy (clear). */
static int
take_column(sqlite3 *db, json_t *out, const char *name, const char *select, const char *clear,
    char err[BACKUP_ERR_MAX])
{
	sqlite3_stmt *sel = NULL;
	json_t *o = json_object();
	int r;

	json_object_set_new(out, name, o);
	if (sqlite3_prepare_v2(db, select, -1, &sel, NULL) != SQLITE_OK)
		return sql_fail(db, name, err);
	while ((r = sqlite3_step(sel)) == SQLITE_ROW)
		json_object_set_new(o, (const char *)sqlite3_column_text(sel, 0),
		    json_string((const char *)sqlite3_column_text(sel, 1)));
	sqlite3_finalize(sel);
	if (r != SQLITE_DONE || sqlite3_exec(db, clear, NULL, NULL, NULL) != SQLITE_OK)
		return sql_fail(db, name, err);
	return 0;
}

/* Whether table has column (exports: subscriptions.config, from schema 21). */
static bool
has_column(sqlite3 *db, const char *table, const char *column)
{
	sqlite3_stmt *st;
	bool found = false;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", -1, &st, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

/*
 * Exports (subscriptions with a config: a broker's URL, user, password,
 * token) keep their whole config and paused flag with the secrets; the copy
 * holds them paused with an empty config, so a copy restored without the
 * secrets never connects anywhere with half a configuration.
 */
static int
take_exports(sqlite3 *db, json_t *out, char err[BACKUP_ERR_MAX])
{
	if (!has_column(db, "subscriptions", "config"))
		return 0;
	return take_column(db, out, "exports",
	    "SELECT CAST(id AS TEXT), json_object('config', config, 'paused', paused) FROM subscriptions "
	    "WHERE config IS NOT NULL",
	    "UPDATE subscriptions SET config = '{}', paused = 1 WHERE config IS NOT NULL", err);
}

/*
 * Event webhooks sign with a secret the copy does not hold (a random
 * stand-in): their paused flags go with the secrets and the copy holds them
 * paused, so a copy restored without the secrets does not sign events with
 * a key nobody knows and give them up one by one.
 */
static int
take_webhooks_paused(sqlite3 *db, json_t *out, char err[BACKUP_ERR_MAX])
{
	const char *webhook = has_column(db, "subscriptions", "config") ? "config IS NULL" : "1";
	char sel[160], upd[160];

	snprintf(sel, sizeof(sel), "SELECT CAST(id AS TEXT), CAST(paused AS TEXT) FROM subscriptions WHERE %s",
	    webhook);
	snprintf(upd, sizeof(upd), "UPDATE subscriptions SET paused = 1 WHERE %s", webhook);
	return take_column(db, out, "webhooks_paused", sel, upd, err);
}

int
backup_secrets_take(sqlite3 *db, json_t **out, char err[BACKUP_ERR_MAX])
{
	*out = json_object();
	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
	    take_channels(db, *out, err) != 0 ||
	    take_column(db, *out, "webhooks", "SELECT CAST(id AS TEXT), secret FROM subscriptions",
	        "UPDATE subscriptions SET secret = lower(hex(randomblob(32)))", err) != 0 ||
	    take_column(db, *out, "signing_keys", "SELECT kid, secret FROM signing_keys",
	        "UPDATE signing_keys SET secret = lower(hex(randomblob(32)))", err) != 0 ||
	    take_webhooks_paused(db, *out, err) != 0 ||
	    take_exports(db, *out, err) != 0 ||
	    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		if (err[0] == '\0')
			sql_fail(db, "taking the secrets out", err);
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		json_decref(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* sql with ?1 = text, ?2 = key, for each member of the object at name. */
static int
put_column(sqlite3 *db, json_t *secrets, const char *name, const char *sql, char err[BACKUP_ERR_MAX])
{
	json_t *o = json_object_get(secrets, name), *v;
	sqlite3_stmt *st = NULL;
	const char *key;

	if (o == NULL)
		return 0;
	if (!json_is_object(o)) {
		snprintf(err, BACKUP_ERR_MAX, "secrets: %.200s is not an object", name);
		return -1;
	}
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return sql_fail(db, name, err);
	json_object_foreach(o, key, v) {
		char *text = json_is_string(v) ? xstrdup(json_string_value(v)) : json_dumps(v, JSON_COMPACT);
		sqlite3_bind_text(st, 1, text, -1, free);
		sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT);
		int r = sqlite3_step(st);
		sqlite3_reset(st);
		if (r != SQLITE_DONE) {
			sqlite3_finalize(st);
			return sql_fail(db, name, err);
		}
	}
	sqlite3_finalize(st);
	return 0;
}

int
backup_secrets_put(sqlite3 *db, json_t *secrets, char err[BACKUP_ERR_MAX])
{
	/* A channel's taken keys are patched back into its config. */
	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
	    put_column(db, secrets, "channels",
	        "UPDATE channels SET config = json_patch(config, ?1) WHERE id = CAST(?2 AS INTEGER)", err) != 0 ||
	    put_column(db, secrets, "webhooks",
	        "UPDATE subscriptions SET secret = ?1 WHERE id = CAST(?2 AS INTEGER)", err) != 0 ||
	    put_column(db, secrets, "signing_keys", "UPDATE signing_keys SET secret = ?1 WHERE kid = ?2", err) != 0 ||
	    put_column(db, secrets, "webhooks_paused",
	        "UPDATE subscriptions SET paused = CAST(?1 AS INTEGER) WHERE id = CAST(?2 AS INTEGER)", err) != 0 ||
	    put_column(db, secrets, "exports", "UPDATE subscriptions SET config = json_extract(?1, '$.config'), "
	        "paused = json_extract(?1, '$.paused') WHERE id = CAST(?2 AS INTEGER)", err) != 0 ||
	    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		if (err[0] == '\0')
			sql_fail(db, "putting the secrets back", err);
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}
