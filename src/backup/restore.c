/*
 * restore.c - `msgd restore FILE --data DIR` (backup.h): everything is
 * checked in a staging directory - each member's SHA-256, PRAGMA
 * integrity_check, the schema version, the secrets' authentication - and
 * only then does it become DIR's content:
 *  - DIR absent: the stage is made beside it (DIR.restore.XXXXXX) and
 *    renamed to DIR;
 *  - DIR an empty directory (or a symlink to one; a mount point, a Docker
 *    volume, systemd's DynamicUser link): DIR itself is kept, the stage is
 *    made inside it (DIR/.restore.XXXXXX), its members are renamed into DIR
 *    (the same filesystem) and the stage removed.
 * A failure removes the stage (and any member already moved), so DIR is as
 * it was: absent or empty. Trailing slashes of DIR are ignored.
 */
#include "backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "../store/migrations.h"
#include "../util/util.h"

#define STAGE_PATH_MAX 4096
#define DERIVED_PATH_MAX (STAGE_PATH_MAX + 128)
#define CHECK_MAX 256           /* integrity_check's first answer */
#define STAGE_MEMBERS_MAX 16    /* the stage's top level: msgd.db, files, admin.token, the config */

/* 0 when dir is absent or an empty directory; -1 otherwise (err says). */
static int
target_ok(const char *dir, bool *exists, char err[BACKUP_ERR_MAX])
{
	struct stat sb;
	DIR *d;
	struct dirent *e;

	*exists = false;
	if (stat(dir, &sb) != 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, BACKUP_ERR_MAX, "%.200s: %.200s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode) || (d = opendir(dir)) == NULL) {
		snprintf(err, BACKUP_ERR_MAX, "%.200s is not a directory", dir);
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			closedir(d);
			snprintf(err, BACKUP_ERR_MAX, "%.200s is not empty: restore only into a new or empty directory", dir);
			return -1;
		}
	}
	closedir(d);
	*exists = true;
	return 0;
}

/* rm -r of the staging directory: it holds only what we wrote. */
static void
remove_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (d == NULL) {
		unlink(path);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		char sub[STAGE_PATH_MAX];
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		if (e->d_type == DT_DIR)
			remove_tree(sub);
		else
			unlink(sub);
	}
	closedir(d);
	rmdir(path);
}

static int
write_secret_file(const char *stage, const char *name, const char *text, size_t n, char err[BACKUP_ERR_MAX])
{
	char path[STAGE_PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", stage, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		snprintf(err, BACKUP_ERR_MAX, "cannot create %.200s: %.200s", path, strerror(errno));
		return -1;
	}
	ssize_t w = write(fd, text, n);
	int r = fsync(fd);
	close(fd);
	if (w != (ssize_t)n || r != 0) {
		snprintf(err, BACKUP_ERR_MAX, "cannot write %.200s", path);
		return -1;
	}
	return 0;
}

/* The config file's name as restored: a plain file name, or msgd.conf. */
static const char *
config_name(const char *name)
{
	if (name == NULL || *name == '\0' || *name == '.' || strchr(name, '/') || strlen(name) > 64 ||
	    strcmp(name, "msgd.db") == 0 || strcmp(name, "admin.token") == 0 || strcmp(name, "files") == 0)
		return "msgd.conf";
	return name;
}

static int
check_db(sqlite3 *db, int schema_version, char err[BACKUP_ERR_MAX])
{
	sqlite3_stmt *st = NULL;
	int rc = -1, have;

	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check(1)", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		snprintf(err, BACKUP_ERR_MAX, "the database does not open: %.200s", sqlite3_errmsg(db));
		goto out;
	}
	if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
		snprintf(err, BACKUP_ERR_MAX, "the database fails its integrity check: %.*s", CHECK_MAX,
		    (const char *)sqlite3_column_text(st, 0));
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT max(version) FROM schema_migrations", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		snprintf(err, BACKUP_ERR_MAX, "the database has no schema version: %.200s", sqlite3_errmsg(db));
		goto out;
	}
	have = sqlite3_column_int(st, 0);
	if (have != schema_version) {
		snprintf(err, BACKUP_ERR_MAX, "the database's schema version %d is not the manifest's %d", have,
		    schema_version);
		goto out;
	}
	if (have > migrations[migrations_count - 1].version) {
		snprintf(err, BACKUP_ERR_MAX, "the backup's schema version %d is newer than this msgd's %d: "
		    "restore with a newer msgd", have, migrations[migrations_count - 1].version);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Decrypts the secrets, puts them into the database, writes the admin
 * token and the config file. */
static int
apply_secrets(const struct restore_opts *o, const struct backup_manifest *m, sqlite3 *db, const char *stage,
    const unsigned char *sealed, size_t sealed_len, char err[BACKUP_ERR_MAX])
{
	unsigned char key[32];
	char *plain = NULL;
	size_t n;
	json_t *s = NULL, *cfg;
	const char *tok;
	int rc = -1;

	if (o->passphrase_file == NULL) {
		snprintf(err, BACKUP_ERR_MAX, "the backup holds encrypted secrets: give --passphrase-file");
		return -1;
	}
	if (backup_key_derive(o->passphrase_file, m->salt, m->opslimit, m->memlimit, key, err) != 0)
		return -1;
	int r = backup_unseal(key, sealed, sealed_len, &plain, &n);
	sodium_memzero(key, sizeof(key));
	if (r != 0) {
		snprintf(err, BACKUP_ERR_MAX, "the secrets do not decrypt: wrong passphrase, or the archive was altered");
		return -1;
	}
	if ((s = json_loadb(plain, n, 0, NULL)) == NULL || !json_is_object(s)) {
		snprintf(err, BACKUP_ERR_MAX, "the secrets are not a JSON object");
		goto out;
	}
	if (backup_secrets_put(db, s, err) != 0)
		goto out;
	if ((tok = json_string_value(json_object_get(s, "admin_token"))) != NULL &&
	    write_secret_file(stage, "admin.token", tok, strlen(tok), err) != 0)
		goto out;
	cfg = json_object_get(s, "config_file");
	if (json_is_string(json_object_get(cfg, "content"))) {
		const char *text = json_string_value(json_object_get(cfg, "content"));
		if (write_secret_file(stage, config_name(json_string_value(json_object_get(cfg, "name"))), text,
		    strlen(text), err) != 0)
			goto out;
	}
	rc = 0;
out:
	json_decref(s);
	if (plain) {
		sodium_memzero(plain, n);
		free(plain);
	}
	return rc;
}

static int
finish_db(const struct restore_opts *o, const struct backup_manifest *m, const char *stage,
    const unsigned char *sealed, size_t sealed_len, char err[BACKUP_ERR_MAX])
{
	char path[DERIVED_PATH_MAX];
	sqlite3 *db = NULL;
	int rc = -1;

	snprintf(path, sizeof(path), "%s/msgd.db", stage);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		snprintf(err, BACKUP_ERR_MAX, "the database does not open: %.200s", sqlite3_errmsg(db));
		goto out;
	}
	if (check_db(db, m->schema_version, err) != 0)
		goto out;
	if (m->secrets && apply_secrets(o, m, db, stage, sealed, sealed_len, err) != 0)
		goto out;
	rc = 0;
out:
	if (sqlite3_close(db) != SQLITE_OK && rc == 0) {
		snprintf(err, BACKUP_ERR_MAX, "closing the database failed");
		rc = -1;
	}
	return rc;
}

static int
fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	int r = fsync(fd);
	close(fd);
	return r;
}

/* The stage's top-level names, msgd.db last (so DIR has no database until
 * the rest is in); -1 when there are more than STAGE_MEMBERS_MAX. */
static int
stage_members(const char *stage, char *names[STAGE_MEMBERS_MAX], size_t *n)
{
	DIR *d = opendir(stage);
	struct dirent *e;
	bool db = false;

	*n = 0;
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (strcmp(e->d_name, "msgd.db") == 0) {
			db = true;
			continue;
		}
		if (*n + 1 >= STAGE_MEMBERS_MAX) {
			closedir(d);
			errno = E2BIG;
			return -1;
		}
		names[(*n)++] = xstrdup(e->d_name);
	}
	closedir(d);
	if (db)
		names[(*n)++] = xstrdup("msgd.db");
	return 0;
}

/* Renames the stage's members into dir (the stage is inside it); on a
 * failure, takes out what was moved: dir holds only the stage again. */
static int
move_members(const char *stage, const char *dir, char err[BACKUP_ERR_MAX])
{
	char *names[STAGE_MEMBERS_MAX];
	char from[DERIVED_PATH_MAX], to[DERIVED_PATH_MAX];
	size_t n, moved = 0;
	int rc = -1;

	if (stage_members(stage, names, &n) != 0) {
		snprintf(err, BACKUP_ERR_MAX, "cannot list the staging directory %.200s: %.200s", stage, strerror(errno));
		for (size_t i = 0; i < n; i++)
			free(names[i]);
		return -1;
	}
	for (; moved < n; moved++) {
		snprintf(from, sizeof(from), "%s/%s", stage, names[moved]);
		snprintf(to, sizeof(to), "%s/%s", dir, names[moved]);
		if (rename(from, to) != 0) {
			snprintf(err, BACKUP_ERR_MAX, "cannot move the restored %.60s into %.200s: %.100s", names[moved],
			    dir, strerror(errno));
			goto out;
		}
	}
	if (fsync_dir(dir) != 0) {
		snprintf(err, BACKUP_ERR_MAX, "cannot sync %.200s: %.200s", dir, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; i < n; i++) {
		if (rc != 0 && i < moved) {
			snprintf(to, sizeof(to), "%s/%s", dir, names[i]);
			remove_tree(to);
		}
		free(names[i]);
	}
	return rc;
}

int
backup_restore(const struct restore_opts *o, struct backup_summary *sum, char err[BACKUP_ERR_MAX])
{
	char dir[STAGE_PATH_MAX], stage[STAGE_PATH_MAX], parent[STAGE_PATH_MAX];
	struct backup_manifest m = { 0 };
	unsigned char *sealed = NULL;
	size_t sealed_len = 0;
	zip_t *za = NULL;
	bool exists, staged = false;
	int zerr, rc = -1;

	*sum = (struct backup_summary){ 0 };
	err[0] = '\0';
	if (sodium_init() < 0) {
		snprintf(err, BACKUP_ERR_MAX, "libsodium cannot start");
		return -1;
	}
	/* DIR without its trailing slashes ("/" stays: it is never empty). */
	if (snprintf(dir, sizeof(dir), "%s", o->data_dir) >= (int)sizeof(dir) || dir[0] == '\0') {
		snprintf(err, BACKUP_ERR_MAX, "the --data path is empty or too long");
		return -1;
	}
	for (size_t n = strlen(dir); n > 1 && dir[n - 1] == '/'; n--)
		dir[n - 1] = '\0';
	if (target_ok(dir, &exists, err) != 0)
		return -1;
	if ((za = zip_open(o->archive, ZIP_RDONLY | ZIP_CHECKCONS, &zerr)) == NULL) {
		zip_error_t ze;
		zip_error_init_with_code(&ze, zerr);
		snprintf(err, BACKUP_ERR_MAX, "%.200s is not a readable backup archive: %.200s", o->archive,
		    zip_error_strerror(&ze));
		zip_error_fini(&ze);
		return -1;
	}
	if (snprintf(stage, sizeof(stage), exists ? "%s/.restore.XXXXXX" : "%s.restore.XXXXXX", dir) >=
	    (int)sizeof(stage) - 256 || mkdtemp(stage) == NULL) {
		snprintf(err, BACKUP_ERR_MAX, "cannot create a staging directory %s %.200s: %.200s",
		    exists ? "in" : "beside", dir, strerror(errno));
		goto out;
	}
	staged = true;
	chmod(stage, 0700);
	if (backup_archive_read(za, stage, &m, &sealed, &sealed_len, err) != 0 ||
	    finish_db(o, &m, stage, sealed, sealed_len, err) != 0)
		goto out;
	if (exists) {
		if (move_members(stage, dir, err) != 0)
			goto out;
		staged = false;
		if (rmdir(stage) != 0) {
			snprintf(err, BACKUP_ERR_MAX, "cannot remove the staging directory %.200s: %.200s", stage,
			    strerror(errno));
			goto out;
		}
	} else {
		if (fsync_dir(stage) != 0 || rename(stage, dir) != 0) {
			snprintf(err, BACKUP_ERR_MAX, "cannot move the restored copy to %.200s: %.200s", dir,
			    strerror(errno));
			goto out;
		}
		staged = false;
	}
	snprintf(parent, sizeof(parent), "%s", dir);
	fsync_dir(dirname(parent));
	sum->schema_version = m.schema_version;
	sum->secrets = m.secrets;
	for (size_t i = 0; i < m.n; i++) {
		sum->bytes += m.members[i].size;
		sum->files += strncmp(m.members[i].path, "files/", 6) == 0;
	}
	rc = 0;
out:
	if (staged)
		remove_tree(stage);
	if (sealed) {
		sodium_memzero(sealed, sealed_len);
		free(sealed);
	}
	backup_manifest_free(&m);
	zip_discard(za);
	return rc;
}
