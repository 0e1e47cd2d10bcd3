/*
 * backup.h - `msgd backup` and `msgd restore`: one archive file holding a
 * consistent copy of an SQLite data directory.
 *
 * The archive is a zip file (libzip) with this layout:
 *
 *   manifest.json        first member: {"format":"msgd-backup","format_version":1,
 *                        "msgd_version","commit","schema_version","created_at",
 *                        "secrets":null | {"kdf":"argon2id13","salt","opslimit","memlimit"},
 *                        "members":[{"path","size","sha256"}, ...]}
 *   msgd.db              the SQLite database, copied with the online backup API
 *                        under one read snapshot; every secret column emptied
 *   files/XX/REST        the files store (content-addressed, immutable)
 *   secrets.bin          only with --include-secrets: the secrets as JSON
 *                        (channels' secret config keys, webhook secrets, token
 *                        signing keys, the admin token, the config file),
 *                        encrypted with crypto_secretstream_xchacha20poly1305
 *                        under a key from crypto_pwhash (Argon2id) over the
 *                        passphrase file's contents and the manifest's salt
 *
 * Every member other than the manifest is listed in it with its size and
 * SHA-256; a reader refuses a member that is not listed, a listed member
 * that is missing, a path that is not one of the shapes above (so never
 * absolute and never with ".."), and a member over its cap.
 *
 * Rules:
 *  - backup_create() never stops or slows a running msgd beyond what one
 *    more SQLite reader costs (WAL: readers never block the writer). It
 *    writes FILE.tmp, fsyncs it and renames it to FILE: FILE is whole or
 *    absent.
 *  - backup_restore() MUST leave nothing in the target when it fails: it
 *    extracts into a staging directory beside the target, checks every
 *    member's hash, PRAGMA integrity_check and the secrets' authentication,
 *    and only then renames the staging directory into place.
 */
#ifndef MSGD_BACKUP_H
#define MSGD_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <zip.h>

#define BACKUP_FORMAT "msgd-backup"
#define BACKUP_FORMAT_VERSION 1
#define BACKUP_ERR_MAX 512
#define BACKUP_MANIFEST_MAX (64u << 20)         /* manifest.json */
#define BACKUP_MEMBERS_MAX 1000000              /* members listed in it */
#define BACKUP_DB_MAX ((uint64_t)1 << 40)       /* msgd.db: 1 TiB */
#define BACKUP_FILE_MAX ((uint64_t)4 << 30)     /* one files/ member */
#define BACKUP_SECRETS_MAX (16u << 20)          /* secrets.bin, and its plaintext */
#define BACKUP_PATH_MAX 128                     /* a member's path */
#define BACKUP_PASSPHRASE_MAX 4096

struct backup_opts {
	const char *data_dir;
	const char *files_dir;          /* the files store */
	const char *to;                 /* the archive to write */
	const char *config_file;        /* NULL: none (included with the secrets) */
	const char *passphrase_file;    /* with include_secrets */
	bool include_secrets;
	const char *version;            /* msgd's version and commit, for the manifest */
	const char *commit;
};

struct backup_summary {
	int schema_version;
	int64_t files;
	uint64_t bytes;                 /* of the members */
	bool secrets;
};

/* Writes the archive. 0, or -1 with the reason in err. */
int backup_create(const struct backup_opts *o, struct backup_summary *sum, char err[BACKUP_ERR_MAX]);

struct restore_opts {
	const char *archive;
	const char *data_dir;           /* must not exist, or be empty */
	const char *passphrase_file;    /* needed when the archive holds secrets */
};

/* 0, or -1 with the reason in err and nothing left at data_dir. */
int backup_restore(const struct restore_opts *o, struct backup_summary *sum, char err[BACKUP_ERR_MAX]);

/* --- the archive (archive.c) --- */

struct backup_member {
	char path[BACKUP_PATH_MAX];
	uint64_t size;
	unsigned char sha256[32];
	bool seen;                      /* met in the archive while reading */
};

struct backup_manifest {
	int schema_version;
	char created_at[32];
	bool secrets;
	unsigned char salt[16];         /* crypto_pwhash_SALTBYTES */
	uint64_t opslimit;
	uint64_t memlimit;
	struct backup_member *members;
	size_t n;
};

/* A member path of the layout above (no "..", not absolute, known shape). */
bool backup_path_ok(const char *path);
/* The cap of a member at path. */
uint64_t backup_member_cap(const char *path);

/* Parses and checks manifest.json's text. 0, or -1 with err. */
int backup_manifest_parse(const char *text, size_t n, struct backup_manifest *m, char err[BACKUP_ERR_MAX]);
void backup_manifest_free(struct backup_manifest *m);

/* Reads every member of za against its manifest (read first, into *m):
 * paths, caps, sizes and SHA-256s. With stage_dir, each member is written
 * under it (files/ subfolders made) except secrets.bin, which lands in
 * *secrets (malloc'd, *secrets_len; NULL if absent). 0, or -1 with err. */
int backup_archive_read(zip_t *za, const char *stage_dir, struct backup_manifest *m, unsigned char **secrets,
    size_t *secrets_len, char err[BACKUP_ERR_MAX]);

/* --- the secrets (secrets.c) --- */

/* The key from the passphrase file's contents (trailing newlines dropped). */
int backup_key_derive(const char *passphrase_file, const unsigned char salt[16], uint64_t opslimit,
    uint64_t memlimit, unsigned char key[32], char err[BACKUP_ERR_MAX]);
/* plain -> *out (malloc'd): header, then chunks of a 4-byte big-endian length and ciphertext. */
int backup_seal(const unsigned char key[32], const char *plain, size_t n, unsigned char **out, size_t *outlen);
/* The reverse; -1 when it does not authenticate (wrong key or altered). */
int backup_unseal(const unsigned char key[32], const unsigned char *in, size_t n, char **plain, size_t *plainlen);

struct sqlite3;
/* Moves every secret out of db (a copy) into *out (a new JSON object):
 * channels' secret config keys, webhook secrets, token signing keys. */
int backup_secrets_take(struct sqlite3 *db, json_t **out, char err[BACKUP_ERR_MAX]);
/* Puts them back into a restored copy. */
int backup_secrets_put(struct sqlite3 *db, json_t *secrets, char err[BACKUP_ERR_MAX]);

#endif
