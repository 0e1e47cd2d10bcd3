/*
 * archive.c - reading a backup archive (backup.h): the manifest, the member
 * paths and caps, and every member checked against its size and SHA-256.
 * The archive comes from elsewhere (a file handed to `msgd restore`), so
 * this is an input parser: tests/fuzz/fuzz_backup.c drives it.
 */
#include "backup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "../util/util.h"

#define CHUNK 65536

static bool
is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

bool
backup_path_ok(const char *path)
{
	size_t n = strnlen(path, BACKUP_PATH_MAX);

	if (n == BACKUP_PATH_MAX)
		return false;
	if (strcmp(path, "msgd.db") == 0 || strcmp(path, "secrets.bin") == 0)
		return true;
	/* files/XX/REST: two hex digits, then 1..64 more (files_path_in()). */
	if (strncmp(path, "files/", 6) != 0 || n < 6 + 2 + 1 + 1 || n > 6 + 2 + 1 + 64)
		return false;
	const char *p = path + 6;
	return is_hex(p, 2) && p[2] == '/' && is_hex(p + 3, n - 9);
}

uint64_t
backup_member_cap(const char *path)
{
	if (strcmp(path, "msgd.db") == 0)
		return BACKUP_DB_MAX;
	if (strcmp(path, "secrets.bin") == 0)
		return BACKUP_SECRETS_MAX;
	return BACKUP_FILE_MAX;
}

static int
member_parse(json_t *j, struct backup_member *mb, char err[BACKUP_ERR_MAX])
{
	const char *path = json_string_value(json_object_get(j, "path"));
	const char *sum = json_string_value(json_object_get(j, "sha256"));
	json_t *size = json_object_get(j, "size");

	if (path == NULL || sum == NULL || !json_is_integer(size) || json_integer_value(size) < 0) {
		snprintf(err, BACKUP_ERR_MAX, "manifest: a member without path, size or sha256");
		return -1;
	}
	if (!backup_path_ok(path)) {
		snprintf(err, BACKUP_ERR_MAX, "manifest: member path not allowed: %.100s", path);
		return -1;
	}
	mb->size = (uint64_t)json_integer_value(size);
	if (mb->size > backup_member_cap(path)) {
		snprintf(err, BACKUP_ERR_MAX, "manifest: member %.200s is over its size cap", path);
		return -1;
	}
	if (strlen(sum) != 64 || hex_decode(sum, 64, mb->sha256, 32) != 0) {
		snprintf(err, BACKUP_ERR_MAX, "manifest: member %.200s has a bad sha256", path);
		return -1;
	}
	snprintf(mb->path, sizeof(mb->path), "%s", path);
	return 0;
}

static int
member_cmp(const void *a, const void *b)
{
	return strcmp(((const struct backup_member *)a)->path, ((const struct backup_member *)b)->path);
}

static int
secrets_parse(json_t *s, struct backup_manifest *m, char err[BACKUP_ERR_MAX])
{
	const char *kdf = json_string_value(json_object_get(s, "kdf"));
	const char *salt = json_string_value(json_object_get(s, "salt"));
	json_t *ops = json_object_get(s, "opslimit"), *mem = json_object_get(s, "memlimit");

	if (kdf == NULL || strcmp(kdf, "argon2id13") != 0 || salt == NULL || strlen(salt) != 32 ||
	    hex_decode(salt, 32, m->salt, sizeof(m->salt)) != 0 || !json_is_integer(ops) || !json_is_integer(mem)) {
		snprintf(err, BACKUP_ERR_MAX, "manifest: bad secrets parameters");
		return -1;
	}
	/* Bounded, so a hostile archive cannot make the KDF run for hours. */
	if (json_integer_value(ops) < (json_int_t)crypto_pwhash_OPSLIMIT_MIN ||
	    json_integer_value(ops) > (json_int_t)crypto_pwhash_OPSLIMIT_SENSITIVE ||
	    json_integer_value(mem) < (json_int_t)crypto_pwhash_MEMLIMIT_MIN ||
	    json_integer_value(mem) > (json_int_t)crypto_pwhash_MEMLIMIT_SENSITIVE) {
		snprintf(err, BACKUP_ERR_MAX, "manifest: secrets KDF limits out of range");
		return -1;
	}
	m->opslimit = (uint64_t)json_integer_value(ops);
	m->memlimit = (uint64_t)json_integer_value(mem);
	m->secrets = true;
	return 0;
}

int
backup_manifest_parse(const char *text, size_t n, struct backup_manifest *m, char err[BACKUP_ERR_MAX])
{
	json_error_t je;
	json_t *root = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je), *members, *sv, *s;
	const char *fmt, *created;
	int rc = -1;

	*m = (struct backup_manifest){ 0 };
	if (root == NULL || !json_is_object(root)) {
		snprintf(err, BACKUP_ERR_MAX, "manifest.json is not a JSON object");
		goto out;
	}
	fmt = json_string_value(json_object_get(root, "format"));
	if (fmt == NULL || strcmp(fmt, BACKUP_FORMAT) != 0 ||
	    json_integer_value(json_object_get(root, "format_version")) != BACKUP_FORMAT_VERSION) {
		snprintf(err, BACKUP_ERR_MAX, "not an msgd backup (format %d expected)", BACKUP_FORMAT_VERSION);
		goto out;
	}
	sv = json_object_get(root, "schema_version");
	created = json_string_value(json_object_get(root, "created_at"));
	members = json_object_get(root, "members");
	if (!json_is_integer(sv) || json_integer_value(sv) < 1 || json_integer_value(sv) > 1000000 ||
	    created == NULL || !json_is_array(members)) {
		snprintf(err, BACKUP_ERR_MAX, "manifest: schema_version, created_at or members missing");
		goto out;
	}
	m->schema_version = (int)json_integer_value(sv);
	snprintf(m->created_at, sizeof(m->created_at), "%s", created);
	s = json_object_get(root, "secrets");
	if (s && !json_is_null(s) && secrets_parse(s, m, err) != 0)
		goto out;
	if (json_array_size(members) > BACKUP_MEMBERS_MAX) {
		snprintf(err, BACKUP_ERR_MAX, "manifest: more than %d members", BACKUP_MEMBERS_MAX);
		goto out;
	}
	m->n = json_array_size(members);
	m->members = xcalloc(m->n ? m->n : 1, sizeof(*m->members));
	bool db = false, sec = false;
	for (size_t i = 0; i < m->n; i++) {
		if (member_parse(json_array_get(members, i), &m->members[i], err) != 0)
			goto out;
		db |= strcmp(m->members[i].path, "msgd.db") == 0;
		sec |= strcmp(m->members[i].path, "secrets.bin") == 0;
	}
	/* Sorted by path: found by bsearch, and a path listed twice is adjacent. */
	qsort(m->members, m->n, sizeof(*m->members), member_cmp);
	for (size_t i = 1; i < m->n; i++) {
		if (strcmp(m->members[i - 1].path, m->members[i].path) == 0) {
			snprintf(err, BACKUP_ERR_MAX, "manifest: member %.200s listed twice", m->members[i].path);
			goto out;
		}
	}
	if (!db || sec != m->secrets) {
		snprintf(err, BACKUP_ERR_MAX, "manifest: msgd.db missing, or secrets.bin and its parameters disagree");
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	if (rc != 0)
		backup_manifest_free(m);
	return rc;
}

void
backup_manifest_free(struct backup_manifest *m)
{
	free(m->members);
	*m = (struct backup_manifest){ 0 };
}

static struct backup_member *
find_member(struct backup_manifest *m, const char *path)
{
	struct backup_member key;

	snprintf(key.path, sizeof(key.path), "%s", path);
	return bsearch(&key, m->members, m->n, sizeof(*m->members), member_cmp);
}

static int
read_manifest(zip_t *za, struct backup_manifest *m, char err[BACKUP_ERR_MAX])
{
	zip_stat_t st;
	zip_int64_t idx = zip_name_locate(za, "manifest.json", 0);
	zip_file_t *f;
	char *buf;
	zip_int64_t got;
	int rc;

	if (idx < 0 || zip_stat_index(za, (zip_uint64_t)idx, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE)) {
		snprintf(err, BACKUP_ERR_MAX, "not an msgd backup: no manifest.json");
		return -1;
	}
	if (st.size > BACKUP_MANIFEST_MAX) {
		snprintf(err, BACKUP_ERR_MAX, "manifest.json is over its cap (%u bytes)", BACKUP_MANIFEST_MAX);
		return -1;
	}
	if ((f = zip_fopen_index(za, (zip_uint64_t)idx, 0)) == NULL) {
		snprintf(err, BACKUP_ERR_MAX, "manifest.json: %.200s", zip_strerror(za));
		return -1;
	}
	buf = xmalloc(st.size + 1);
	got = zip_fread(f, buf, st.size + 1);
	if (got < 0 || (zip_uint64_t)got != st.size) {
		snprintf(err, BACKUP_ERR_MAX, "manifest.json cannot be read: %.200s", zip_file_strerror(f));
		zip_fclose(f);
		free(buf);
		return -1;
	}
	zip_fclose(f);
	rc = backup_manifest_parse(buf, (size_t)got, m, err);
	free(buf);
	return rc;
}

/* A member's destination under stage: its folder made. */
static int
open_dest(const char *stage, const char *path, char err[BACKUP_ERR_MAX])
{
	char full[4096], dir[4096];

	snprintf(full, sizeof(full), "%s/%s", stage, path);
	if (strncmp(path, "files/", 6) == 0) {
		snprintf(dir, sizeof(dir), "%s/%.8s", stage, path);   /* files/XX */
		if (mkdir_p(dir, 0700) != 0) {
			snprintf(err, BACKUP_ERR_MAX, "cannot create %.200s: %.200s", dir, strerror(errno));
			return -1;
		}
	}
	int fd = open(full, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		snprintf(err, BACKUP_ERR_MAX, "cannot create %.200s: %.200s", full, strerror(errno));
	return fd;
}

static int
write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One member read whole, hashed, and written to fd (or kept in *keep). */
static int
read_member(zip_t *za, zip_uint64_t idx, struct backup_member *mb, int fd, unsigned char **keep,
    char err[BACKUP_ERR_MAX])
{
	crypto_hash_sha256_state h;
	unsigned char sum[32], *buf = xmalloc(CHUNK);
	uint64_t total = 0;
	zip_file_t *f = zip_fopen_index(za, idx, 0);
	int rc = -1;

	if (keep)
		*keep = xmalloc(mb->size ? mb->size : 1);
	if (f == NULL) {
		snprintf(err, BACKUP_ERR_MAX, "%.200s: %.200s", mb->path, zip_strerror(za));
		goto out;
	}
	crypto_hash_sha256_init(&h);
	for (;;) {
		zip_int64_t got = zip_fread(f, buf, CHUNK);
		if (got < 0) {
			snprintf(err, BACKUP_ERR_MAX, "%.200s is damaged: %.200s", mb->path, zip_file_strerror(f));
			goto out;
		}
		if (got == 0)
			break;
		if (total + (uint64_t)got > mb->size) {
			snprintf(err, BACKUP_ERR_MAX, "%.200s is larger than the manifest says", mb->path);
			goto out;
		}
		crypto_hash_sha256_update(&h, buf, (unsigned long long)got);
		if (keep)
			memcpy(*keep + total, buf, (size_t)got);
		else if (fd >= 0 && write_all(fd, buf, (size_t)got) != 0) {
			snprintf(err, BACKUP_ERR_MAX, "%.200s: write: %.200s", mb->path, strerror(errno));
			goto out;
		}
		total += (uint64_t)got;
	}
	crypto_hash_sha256_final(&h, sum);
	if (total != mb->size || sodium_memcmp(sum, mb->sha256, 32) != 0) {
		snprintf(err, BACKUP_ERR_MAX, "%.200s does not match its sha256 in the manifest: the archive is damaged",
		    mb->path);
		goto out;
	}
	if (fd >= 0 && fsync(fd) != 0) {
		snprintf(err, BACKUP_ERR_MAX, "%.200s: fsync: %.200s", mb->path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (f)
		zip_fclose(f);
	free(buf);
	if (rc != 0 && keep) {
		free(*keep);
		*keep = NULL;
	}
	return rc;
}

int
backup_archive_read(zip_t *za, const char *stage_dir, struct backup_manifest *m, unsigned char **secrets,
    size_t *secrets_len, char err[BACKUP_ERR_MAX])
{
	zip_int64_t n = zip_get_num_entries(za, 0);

	*m = (struct backup_manifest){ 0 };
	*secrets = NULL;
	*secrets_len = 0;
	if (read_manifest(za, m, err) != 0)
		return -1;
	for (zip_int64_t i = 0; i < n; i++) {
		zip_stat_t st;
		const char *name;
		if (zip_stat_index(za, (zip_uint64_t)i, 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME)) {
			snprintf(err, BACKUP_ERR_MAX, "member %lld: %.200s", (long long)i, zip_strerror(za));
			goto fail;
		}
		name = st.name;
		if (strcmp(name, "manifest.json") == 0)
			continue;
		struct backup_member *mb = backup_path_ok(name) ? find_member(m, name) : NULL;
		if (mb == NULL) {
			snprintf(err, BACKUP_ERR_MAX, "member not allowed or not in the manifest: %.100s", name);
			goto fail;
		}
		if (mb->seen) {
			snprintf(err, BACKUP_ERR_MAX, "member %.200s appears twice", name);
			goto fail;
		}
		mb->seen = true;
		if ((st.valid & ZIP_STAT_SIZE) && st.size != mb->size) {
			snprintf(err, BACKUP_ERR_MAX, "%.200s: its size differs from the manifest's", name);
			goto fail;
		}
		if (strcmp(name, "secrets.bin") == 0) {
			if (read_member(za, (zip_uint64_t)i, mb, -1, secrets, err) != 0)
				goto fail;
			*secrets_len = mb->size;
			continue;
		}
		int fd = -1;
		if (stage_dir && (fd = open_dest(stage_dir, name, err)) < 0)
			goto fail;
		int r = read_member(za, (zip_uint64_t)i, mb, fd, NULL, err);
		if (fd >= 0)
			close(fd);
		if (r != 0)
			goto fail;
	}
	for (size_t i = 0; i < m->n; i++) {
		if (!m->members[i].seen) {
			snprintf(err, BACKUP_ERR_MAX, "member %.200s is missing from the archive", m->members[i].path);
			goto fail;
		}
	}
	return 0;
fail:
	free(*secrets);
	*secrets = NULL;
	*secrets_len = 0;
	backup_manifest_free(m);
	return -1;
}
