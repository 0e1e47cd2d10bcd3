/*
 * fuzz_backup.c - the backup archive reader (src/backup/archive.c) on
 * arbitrary bytes: the zip (libzip, from memory), its manifest and every
 * member checked against it, as `msgd restore` reads a file it is handed;
 * the same bytes as manifest.json text alone, and as a sealed secrets.bin.
 * Oracles: a success lists only allowed paths within their caps, every
 * member seen, secrets within their cap; a failure has a terminated,
 * non-empty message and hands back no secrets.
 */
#include <sodium.h>

#include "fuzz.h"
#include "backup/backup.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return sodium_init() < 0 ? -1 : 0;
}

static void
check_manifest(const struct backup_manifest *m)
{
	for (size_t i = 0; i < m->n; i++) {
		FUZZ_CHECK(backup_path_ok(m->members[i].path));
		FUZZ_CHECK(m->members[i].size <= backup_member_cap(m->members[i].path));
		if (i > 0)
			FUZZ_CHECK(strcmp(m->members[i - 1].path, m->members[i].path) < 0);
	}
	FUZZ_CHECK(m->n <= BACKUP_MEMBERS_MAX);
}

static void
archive(const uint8_t *data, size_t size)
{
	struct backup_manifest m;
	unsigned char *secrets = NULL;
	size_t secrets_len = 0;
	char err[BACKUP_ERR_MAX] = "";
	zip_error_t ze;
	zip_source_t *src;
	zip_t *za;

	zip_error_init(&ze);
	if ((src = zip_source_buffer_create(data, size, 0, &ze)) == NULL) {
		zip_error_fini(&ze);
		return;
	}
	if ((za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze)) == NULL) {
		zip_source_free(src);
		zip_error_fini(&ze);
		return;
	}
	zip_error_fini(&ze);
	if (backup_archive_read(za, NULL, &m, &secrets, &secrets_len, err) == 0) {
		check_manifest(&m);
		for (size_t i = 0; i < m.n; i++)
			FUZZ_CHECK(m.members[i].seen);
		FUZZ_CHECK(secrets_len <= BACKUP_SECRETS_MAX);
		FUZZ_CHECK((secrets != NULL) == m.secrets);
		free(secrets);
		backup_manifest_free(&m);
	} else {
		FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL);
		FUZZ_CHECK(secrets == NULL && secrets_len == 0);
		FUZZ_CHECK(m.members == NULL);
	}
	zip_discard(za);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char key[32] = { 1, 2, 3 };
	struct backup_manifest m;
	char err[BACKUP_ERR_MAX] = "", *plain;
	size_t n;

	archive(data, size);
	if (backup_manifest_parse((const char *)data, size, &m, err) == 0) {
		check_manifest(&m);
		backup_manifest_free(&m);
	} else {
		FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL);
	}
	if (backup_unseal(key, data, size, &plain, &n) == 0) {
		FUZZ_CHECK(n < size && plain[n] == '\0');
		free(plain);
	} else {
		FUZZ_CHECK(plain == NULL);
	}
	return 0;
}
