/*
 * backup.c - `msgd backup`: a consistent copy of a data directory while
 * msgd runs (backup.h has the archive's layout).
 *
 * The database is copied with SQLite's online backup API, a few pages per
 * step, inside one read transaction on the source: in WAL mode a reader
 * never blocks the writer, and the open transaction pins one snapshot, so
 * the copy neither restarts when the daemon commits nor mixes two states.
 * Every webhook acknowledged before the backup starts is committed, hence
 * in the snapshot. The files store is content-addressed and immutable: its
 * files are listed after the snapshot, so each file a copied row names was
 * written before it (one erased meanwhile is skipped).
 */
#include "backup.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "../util/util.h"

#define STEP_PAGES 512          /* pages copied per sqlite3_backup_step() */
#define BUSY_WAIT_MS 5000
#define STAGE_PATH_MAX 4096
#define CHUNK 65536
#define DERIVED_PATH_MAX (STAGE_PATH_MAX + 128)   /* a path under a staged one */

struct job {
	const struct backup_opts *o;
	char stage[STAGE_PATH_MAX];     /* FILE.staging.XXXXXX: the copy, scrubbed */
	char tmp[STAGE_PATH_MAX];       /* FILE.tmp: the archive being written */
	json_t *members;                /* the manifest's */
	zip_t *za;
	char *manifest;
	unsigned char *sealed;
	size_t sealed_len;
	struct backup_summary *sum;
	int64_t links;                  /* files hard-linked into stage/l/ */
};

static int
hash_file(const char *path, unsigned char sum[32], uint64_t *size)
{
	crypto_hash_sha256_state h;
	unsigned char buf[CHUNK];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	*size = 0;
	crypto_hash_sha256_init(&h);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		crypto_hash_sha256_update(&h, buf, (unsigned long long)n);
		*size += (uint64_t)n;
	}
	close(fd);
	if (n < 0)
		return -1;
	crypto_hash_sha256_final(&h, sum);
	return 0;
}

/* The member at path in the archive (read from src at zip_close()), and in
 * the manifest with its hash. 1 when src vanished before it was hashed. */
static int
add_file(struct job *j, const char *name, const char *src, bool compress, char err[BACKUP_ERR_MAX])
{
	unsigned char sum[32];
	char hex[65];
	uint64_t size;
	zip_source_t *zs;
	zip_int64_t idx;

	if (hash_file(src, sum, &size) != 0) {
		if (errno == ENOENT)
			return 1;
		snprintf(err, BACKUP_ERR_MAX, "cannot read %.200s: %.200s", src, strerror(errno));
		return -1;
	}
	if ((zs = zip_source_file(j->za, src, 0, -1)) == NULL ||
	    (idx = zip_file_add(j->za, name, zs, ZIP_FL_ENC_UTF_8)) < 0) {
		if (zs)
			zip_source_free(zs);
		snprintf(err, BACKUP_ERR_MAX, "%.200s: %.200s", name, zip_strerror(j->za));
		return -1;
	}
	zip_set_file_compression(j->za, (zip_uint64_t)idx, compress ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 1);
	hex_encode(sum, 32, hex);
	json_array_append_new(j->members, json_pack("{s:s, s:I, s:s}", "path", name, "size", (json_int_t)size,
	    "sha256", hex));
	j->sum->bytes += size;
	return 0;
}

static int
add_buffer(struct job *j, const char *name, const void *data, size_t n, bool listed, char err[BACKUP_ERR_MAX])
{
	zip_source_t *zs = zip_source_buffer(j->za, data, n, 0);
	zip_int64_t idx;

	if (zs == NULL || (idx = zip_file_add(j->za, name, zs, ZIP_FL_ENC_UTF_8)) < 0) {
		if (zs)
			zip_source_free(zs);
		snprintf(err, BACKUP_ERR_MAX, "%.200s: %.200s", name, zip_strerror(j->za));
		return -1;
	}
	if (listed) {
		unsigned char sum[32];
		char hex[65];
		crypto_hash_sha256(sum, data, n);
		hex_encode(sum, 32, hex);
		json_array_append_new(j->members, json_pack("{s:s, s:I, s:s}", "path", name, "size", (json_int_t)n,
		    "sha256", hex));
		j->sum->bytes += n;
	}
	return 0;
}

/* The online backup of src into dst, under one read snapshot of src. */
static int
copy_db(const char *src_path, const char *dst_path, char err[BACKUP_ERR_MAX])
{
	sqlite3 *src = NULL, *dst = NULL;
	sqlite3_backup *b = NULL;
	int rc = -1, r;

	if (sqlite3_open_v2(src_path, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_open_v2(dst_path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		snprintf(err, BACKUP_ERR_MAX, "cannot open %.200s: %.200s", src ? dst_path : src_path,
		    sqlite3_errmsg(dst ? dst : src));
		goto out;
	}
	sqlite3_busy_timeout(src, BUSY_WAIT_MS);
	if (sqlite3_exec(src, "BEGIN; SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, BACKUP_ERR_MAX, "cannot read %.200s: %.200s", src_path, sqlite3_errmsg(src));
		goto out;
	}
	if ((b = sqlite3_backup_init(dst, "main", src, "main")) == NULL) {
		snprintf(err, BACKUP_ERR_MAX, "backup: %.200s", sqlite3_errmsg(dst));
		goto out;
	}
	while ((r = sqlite3_backup_step(b, STEP_PAGES)) != SQLITE_DONE) {
		if (r == SQLITE_BUSY || r == SQLITE_LOCKED) {
			sqlite3_sleep(5);
			continue;
		}
		if (r != SQLITE_OK) {
			snprintf(err, BACKUP_ERR_MAX, "backup: %.200s", sqlite3_errstr(r));
			goto out;
		}
	}
	if (sqlite3_backup_finish(b) != SQLITE_OK) {
		b = NULL;
		snprintf(err, BACKUP_ERR_MAX, "backup: %.200s", sqlite3_errmsg(dst));
		goto out;
	}
	b = NULL;
	rc = 0;
out:
	if (b)
		sqlite3_backup_finish(b);
	if (src) {
		sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
		sqlite3_close(src);
	}
	sqlite3_close(dst);
	return rc;
}

/* The copy made self-contained (no WAL), its secrets taken out and the
 * freed pages zeroed (secure_delete), its schema version read. */
static int
scrub_db(struct job *j, const char *path, json_t **secrets, char err[BACKUP_ERR_MAX])
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA journal_mode = DELETE; PRAGMA secure_delete = ON", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, BACKUP_ERR_MAX, "the copy: %.200s", sqlite3_errmsg(db));
		goto out;
	}
	if (backup_secrets_take(db, secrets, err) != 0)
		goto out;
	if (sqlite3_exec(db, "VACUUM", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT max(version) FROM schema_migrations", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		snprintf(err, BACKUP_ERR_MAX, "the copy: %.200s", sqlite3_errmsg(db));
		goto out;
	}
	j->sum->schema_version = sqlite3_column_int(st, 0);
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

static bool
hex_name(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s);

	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/*
 * A stored file is read when the archive is written (zip_close()), and
 * msgd may remove it meanwhile (an erasure, the sweep of unreferenced
 * files): a hard link in the staging directory keeps its bytes. Across
 * filesystems (no link) the file is read from its place; if it is gone by
 * then, the backup fails and says so.
 */
static char *
pin(struct job *j, char *src, size_t cap)
{
	char dir[DERIVED_PATH_MAX], link_path[DERIVED_PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/l", j->stage);
	if (j->links == 0 && mkdir(dir, 0700) != 0 && errno != EEXIST)
		return src;
	snprintf(link_path, sizeof(link_path), "%s/l/%" PRId64, j->stage, j->links);
	if (link(src, link_path) != 0)
		return src;
	j->links++;
	snprintf(src, cap, "%s", link_path);
	return src;
}

/* files/XX/REST for every file of the store (tmp/ and anything else left out). */
static int
add_files(struct job *j, char err[BACKUP_ERR_MAX])
{
	DIR *top = opendir(j->o->files_dir);
	struct dirent *e, *f;

	if (top == NULL)
		return errno == ENOENT ? 0 : (snprintf(err, BACKUP_ERR_MAX, "%.200s: %.200s", j->o->files_dir,
		    strerror(errno)), -1);
	while ((e = readdir(top)) != NULL) {
		char sub[STAGE_PATH_MAX];
		if (!hex_name(e->d_name, 2, 2))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", j->o->files_dir, e->d_name);
		DIR *d = opendir(sub);
		if (d == NULL)
			continue;
		while ((f = readdir(d)) != NULL) {
			char name[BACKUP_PATH_MAX], src[DERIVED_PATH_MAX];
			if (!hex_name(f->d_name, 1, 64))
				continue;
			snprintf(name, sizeof(name), "files/%.2s/%.64s", e->d_name, f->d_name);
			snprintf(src, sizeof(src), "%s/%.64s", sub, f->d_name);
			int r = add_file(j, name, pin(j, src, sizeof(src)), false, err);
			if (r < 0) {
				closedir(d);
				closedir(top);
				return -1;
			}
			j->sum->files += r == 0;
		}
		closedir(d);
	}
	closedir(top);
	return 0;
}

/* A whole small file (malloc'd, NUL-terminated), or NULL when it is
 * missing, unreadable or over cap bytes. */
static char *
read_capped(const char *path, size_t cap, size_t *n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf;
	ssize_t r;

	if (fd < 0)
		return NULL;
	buf = xmalloc(cap + 1);
	*n = 0;
	while ((r = read(fd, buf + *n, cap + 1 - *n)) > 0 && *n + (size_t)r <= cap)
		*n += (size_t)r;
	close(fd);
	if (r != 0) {
		free(buf);
		return NULL;
	}
	buf[*n] = '\0';
	return buf;
}

/* What --include-secrets adds to the secrets taken from the copy. */
static int
more_secrets(struct job *j, json_t *secrets, char err[BACKUP_ERR_MAX])
{
	char path[STAGE_PATH_MAX], *text;
	size_t n;

	snprintf(path, sizeof(path), "%s/admin.token", j->o->data_dir);
	if ((text = read_capped(path, BACKUP_PASSPHRASE_MAX, &n)) != NULL) {
		json_object_set_new(secrets, "admin_token", json_stringn(text, n));
		free(text);
	}
	if (j->o->config_file && *j->o->config_file) {
		if ((text = read_capped(j->o->config_file, BACKUP_SECRETS_MAX / 2, &n)) == NULL) {
			snprintf(err, BACKUP_ERR_MAX, "cannot read the config file %.200s", j->o->config_file);
			return -1;
		}
		char *base = xstrdup(j->o->config_file);
		json_object_set_new(secrets, "config_file", json_pack("{s:s, s:s%}", "name", basename(base),
		    "content", text, n));
		free(base);
		free(text);
	}
	return 0;
}

static int
seal_secrets(struct job *j, json_t *secrets, json_t *manifest, char err[BACKUP_ERR_MAX])
{
	unsigned char salt[crypto_pwhash_SALTBYTES], key[32];
	char hex[2 * crypto_pwhash_SALTBYTES + 1];
	const uint64_t ops = crypto_pwhash_OPSLIMIT_INTERACTIVE, mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;

	if (more_secrets(j, secrets, err) != 0)
		return -1;
	randombytes_buf(salt, sizeof(salt));
	if (backup_key_derive(j->o->passphrase_file, salt, ops, mem, key, err) != 0)
		return -1;
	char *plain = json_dumps(secrets, JSON_COMPACT);
	size_t n = strlen(plain);
	if (n > BACKUP_SECRETS_MAX / 2) {
		snprintf(err, BACKUP_ERR_MAX, "the secrets are over their cap");
		sodium_memzero(plain, n);
		free(plain);
		return -1;
	}
	backup_seal(key, plain, n, &j->sealed, &j->sealed_len);
	sodium_memzero(plain, n);
	free(plain);
	sodium_memzero(key, sizeof(key));
	hex_encode(salt, sizeof(salt), hex);
	json_object_set_new(manifest, "secrets", json_pack("{s:s, s:s, s:I, s:I}", "kdf", "argon2id13",
	    "salt", hex, "opslimit", (json_int_t)ops, "memlimit", (json_int_t)mem));
	j->sum->secrets = true;
	return 0;
}

static int
fsync_path(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);

	if (fd < 0)
		return -1;
	int r = fsync(fd);
	close(fd);
	return r;
}

static int
build(struct job *j, char err[BACKUP_ERR_MAX])
{
	char src[DERIVED_PATH_MAX], db[DERIVED_PATH_MAX], created[21];
	json_t *secrets = NULL, *manifest = NULL;
	int zerr, rc = -1;

	snprintf(src, sizeof(src), "%s/msgd.db", j->o->data_dir);
	if (access(src, R_OK) != 0) {
		snprintf(err, BACKUP_ERR_MAX, "no database at %.200s: %.200s", src, strerror(errno));
		return -1;
	}
	snprintf(db, sizeof(db), "%s/msgd.db", j->stage);
	fmt_rfc3339(time(NULL), created);
	if (copy_db(src, db, err) != 0 || scrub_db(j, db, &secrets, err) != 0)
		goto out;
	manifest = json_pack("{s:s, s:i, s:s, s:s, s:i, s:s, s:n}", "format", BACKUP_FORMAT,
	    "format_version", BACKUP_FORMAT_VERSION, "msgd_version", j->o->version, "commit", j->o->commit,
	    "schema_version", j->sum->schema_version, "created_at", created, "secrets");
	j->members = json_array();
	json_object_set(manifest, "members", j->members);
	if (j->o->include_secrets && seal_secrets(j, secrets, manifest, err) != 0)
		goto out;
	if ((j->za = zip_open(j->tmp, ZIP_CREATE | ZIP_TRUNCATE, &zerr)) == NULL) {
		zip_error_t ze;
		zip_error_init_with_code(&ze, zerr);
		snprintf(err, BACKUP_ERR_MAX, "cannot create %.200s: %.200s", j->tmp, zip_error_strerror(&ze));
		zip_error_fini(&ze);
		goto out;
	}
	/* The manifest first; its text is made once every member is hashed. */
	if (add_buffer(j, "manifest.json", "", 0, false, err) != 0 || add_file(j, "msgd.db", db, true, err) != 0 ||
	    (j->sealed && add_buffer(j, "secrets.bin", j->sealed, j->sealed_len, true, err) != 0) ||
	    add_files(j, err) != 0)
		goto out;
	j->manifest = json_dumps(manifest, JSON_INDENT(1));
	zip_source_t *ms = zip_source_buffer(j->za, j->manifest, strlen(j->manifest), 0);
	if (ms == NULL || zip_file_replace(j->za, 0, ms, 0) != 0) {
		if (ms)
			zip_source_free(ms);
		snprintf(err, BACKUP_ERR_MAX, "manifest.json: %.200s", zip_strerror(j->za));
		goto out;
	}
	if (zip_close(j->za) != 0) {
		snprintf(err, BACKUP_ERR_MAX, "writing %.200s: %.200s", j->tmp, zip_strerror(j->za));
		goto out;
	}
	j->za = NULL;
	rc = 0;
out:
	json_decref(secrets);
	json_decref(manifest);
	return rc;
}

static void
remove_stage(const char *stage, int64_t links)
{
	char path[DERIVED_PATH_MAX];

	for (int64_t i = 0; i < links; i++) {
		snprintf(path, sizeof(path), "%s/l/%" PRId64, stage, i);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/l", stage);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/msgd.db", stage);
	unlink(path);
	snprintf(path, sizeof(path), "%s/msgd.db-journal", stage);
	unlink(path);
	rmdir(stage);
}

int
backup_create(const struct backup_opts *o, struct backup_summary *sum, char err[BACKUP_ERR_MAX])
{
	struct job j = { .o = o, .sum = sum };
	char dir[STAGE_PATH_MAX], *d;
	int rc = -1;

	*sum = (struct backup_summary){ 0 };
	err[0] = '\0';
	if (sodium_init() < 0) {
		snprintf(err, BACKUP_ERR_MAX, "libsodium cannot start");
		return -1;
	}
	if (snprintf(j.stage, sizeof(j.stage), "%s.staging.XXXXXX", o->to) >= (int)sizeof(j.stage) ||
	    snprintf(j.tmp, sizeof(j.tmp), "%s.tmp", o->to) >= (int)sizeof(j.tmp)) {
		snprintf(err, BACKUP_ERR_MAX, "the archive's path is too long");
		return -1;
	}
	if (mkdtemp(j.stage) == NULL) {
		snprintf(err, BACKUP_ERR_MAX, "cannot create %.200s: %.200s", j.stage, strerror(errno));
		return -1;
	}
	if (build(&j, err) != 0)
		goto out;
	snprintf(dir, sizeof(dir), "%s", o->to);
	d = dirname(dir);
	/* The archive holds every message, contact and password hash: its
	 * owner's only, as the data directory is (libzip makes it 0666 &
	 * ~umask). */
	if (chmod(j.tmp, 0600) != 0 || fsync_path(j.tmp, O_RDONLY) != 0 || rename(j.tmp, o->to) != 0 ||
	    fsync_path(d, O_RDONLY | O_DIRECTORY) != 0) {
		snprintf(err, BACKUP_ERR_MAX, "cannot write %.200s: %.200s", o->to, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (j.za)
		zip_discard(j.za);
	if (rc != 0)
		unlink(j.tmp);
	remove_stage(j.stage, j.links);
	json_decref(j.members);
	free(j.manifest);
	if (j.sealed)
		free(j.sealed);
	return rc;
}
