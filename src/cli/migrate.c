/*
 * migrate.c - `msgd migrate --from sqlite:DIR --to postgres://...`: copy an
 * SQLite installation into an empty PostgreSQL database (src/store/copy.c).
 * It holds DIR's lock meanwhile, so no msgd writes to the source while it is
 * copied; afterwards run msgd with --database pointing at the copy.
 */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../daemon/lock.h"
#include "../store/store.h"

#define ERR_MAX 512

const char cli_migrate_usage[] =
    "msgd migrate --from sqlite:DIR --to postgres://USER@HOST:PORT/DB\n"
    "\n"
    "Copies everything msgd keeps in DIR's SQLite database (messages, events\n"
    "with their seqs, the outbox, channels, templates, users, sessions, keys,\n"
    "webhook subscriptions) into an empty PostgreSQL database, in one\n"
    "transaction: all or nothing. A database that already holds rows is\n"
    "refused. No msgd may run on DIR meanwhile. Then start msgd with\n"
    "--database DSN (and the same admin token).\n";

static void
report(void *arg, const char *table, int64_t rows)
{
	printf("%-14s %" PRId64 " rows\n", table, rows);
}

int
cli_migrate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *from = NULL, *to = NULL;
	char err[ERR_MAX];
	int c, fd = -1;
	struct datadir_holder holder;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': from = optarg; break;
		case 't': to = optarg; break;
		case 'h': fputs(cli_migrate_usage, stdout); return 0;
		default: fputs(cli_migrate_usage, stderr); return 2;
		}
	}
	if (optind < argc || from == NULL || to == NULL || strncmp(from, "sqlite:", 7) != 0 ||
	    from[7] == '\0' || (strncmp(to, "postgres://", 11) != 0 && strncmp(to, "postgresql://", 13) != 0)) {
		fputs(cli_migrate_usage, stderr);
		return 2;
	}
	const char *dir = from + 7;
	if (access(dir, F_OK) != 0) {
		fprintf(stderr, "msgd migrate: no data directory %s\n", dir);
		return 1;
	}
	int r = datadir_lock(dir, &fd, &holder, err, sizeof(err));
	if (r != 0) {
		fprintf(stderr, "msgd migrate: %s\n", r > 0 ? "a msgd runs on this data directory: stop it first" :
		    err);
		return 1;
	}
	int rc = store_copy_sqlite_to_pg(dir, to, report, NULL, err, sizeof(err));
	datadir_unlock(fd);
	if (rc != 0) {
		fprintf(stderr, "msgd migrate: %s\n", err);
		return 1;
	}
	printf("copied %s into PostgreSQL; start msgd with --database (MSGD_DATABASE)\n", dir);
	return 0;
}
