/*
 * backup.c - `msgd backup` and `msgd restore` (src/backup/backup.h). backup
 * runs beside a running msgd (it takes no lock: SQLite's online backup
 * reads one snapshot); restore writes a new data directory that no msgd
 * uses yet.
 */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../backup/backup.h"
#include "../config/config.h"
#include "../files/files.h"

const char cli_backup_usage[] =
    "msgd backup --to FILE [--data DIR] [--config FILE] [--include-secrets --passphrase-file P]\n"
    "\n"
    "Writes a consistent copy of DIR (env MSGD_DATA) to FILE while msgd runs:\n"
    "the SQLite database (online backup API, one snapshot), the files store and\n"
    "a manifest with each member's SHA-256, in one zip archive. Secrets (the\n"
    "channels' credentials, webhook and token signing secrets, the admin token\n"
    "and the config file) are left out unless --include-secrets, and then\n"
    "encrypted with a key derived from the passphrase file (Argon2id,\n"
    "XChaCha20-Poly1305). FILE appears whole or not at all.\n"
    "On PostgreSQL use pg_dump -Fc and copy the files store (README).\n";

const char cli_restore_usage[] =
    "msgd restore FILE --data DIR [--passphrase-file P]\n"
    "\n"
    "Restores a backup into DIR, which must not exist or be empty. Every member\n"
    "is checked against its SHA-256, the database with PRAGMA integrity_check,\n"
    "and the secrets (if the backup holds them) must decrypt with P; any\n"
    "failure leaves DIR as it was. The config file, if backed up, lands in DIR.\n";

int
cli_backup(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "data", required_argument, NULL, 'd' },
		{ "config", required_argument, NULL, 'c' },
		{ "include-secrets", no_argument, NULL, 's' },
		{ "passphrase-file", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct backup_opts o = { .version = MSGD_VERSION, .commit = msgd_commit };
	const char *data = NULL, *file = NULL;
	char err[BACKUP_ERR_MAX], fdir[CONFIG_PATH_MAX];
	struct backup_summary sum;
	struct config cfg;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 't': o.to = optarg; break;
		case 'd': data = optarg; break;
		case 'c': file = optarg; break;
		case 's': o.include_secrets = true; break;
		case 'p': o.passphrase_file = optarg; break;
		case 'h': fputs(cli_backup_usage, stdout); return 0;
		default: fputs(cli_backup_usage, stderr); return 2;
		}
	}
	if (optind < argc || o.to == NULL || o.include_secrets != (o.passphrase_file != NULL)) {
		fputs(cli_backup_usage, stderr);
		return 2;
	}
	if ((r = cli_datadir_setup("msgd backup", &cfg, file, data, false)) != 0)
		return r;
	if (strncmp(cfg.database, "postgres", 8) == 0) {
		fprintf(stderr, "msgd backup: the database is PostgreSQL: back it up with pg_dump -Fc, and copy the "
		    "files store and the config alongside (README, \"Backup and restore\")\n");
		return 2;
	}
	if (files_dir(&cfg, fdir, sizeof(fdir)) != 0) {
		fprintf(stderr, "msgd backup: the files store's path is too long\n");
		return 1;
	}
	o.data_dir = cfg.data_dir;
	o.files_dir = fdir;
	o.config_file = file ? file : cfg.config_path;
	if (backup_create(&o, &sum, err) != 0) {
		fprintf(stderr, "msgd backup: %s\n", err);
		return 1;
	}
	printf("backup written to %s: schema %d, %" PRId64 " files, %" PRIu64 " bytes, secrets %s\n", o.to,
	    sum.schema_version, sum.files, sum.bytes, sum.secrets ? "included (encrypted)" : "left out");
	return 0;
}

int
cli_restore(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "passphrase-file", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct restore_opts o = { 0 };
	char err[BACKUP_ERR_MAX];
	struct backup_summary sum;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': o.data_dir = optarg; break;
		case 'p': o.passphrase_file = optarg; break;
		case 'h': fputs(cli_restore_usage, stdout); return 0;
		default: fputs(cli_restore_usage, stderr); return 2;
		}
	}
	if (optind != argc - 1 || o.data_dir == NULL || *o.data_dir == '\0') {
		fputs(cli_restore_usage, stderr);
		return 2;
	}
	o.archive = argv[optind];
	if (backup_restore(&o, &sum, err) != 0) {
		fprintf(stderr, "msgd restore: %s; nothing was restored\n", err);
		return 1;
	}
	printf("restored into %s: schema %d, %" PRId64 " files, %" PRIu64 " bytes, secrets %s\n", o.data_dir,
	    sum.schema_version, sum.files, sum.bytes, sum.secrets ? "restored" :
	    "not in the backup (set channel credentials and webhook secrets again)");
	return 0;
}
