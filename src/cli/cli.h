/*
 * cli.h - subcommands beyond serve: send talks to a running msgd over its
 * API; users and keys work on the data directory, or through the running
 * msgd's API when one holds the directory's lock (datadir.c).
 */
#ifndef MSGD_CLI_H
#define MSGD_CLI_H

#include <stdbool.h>

#include <jansson.h>

#include "../util/util.h"

struct config;
struct datadir_holder;

extern const char cli_send_usage[];
/* msgd send ...: returns the process exit code. */
int cli_send(int argc, char **argv);

extern const char cli_users_usage[];
/* msgd users add|passwd|remove|logout NAME, msgd users list: returns the
 * process exit code. */
int cli_users(int argc, char **argv);

extern const char cli_keys_usage[];
/* msgd keys create NAME --scope S..., keys list, keys revoke ID: returns the
 * process exit code. */
int cli_keys(int argc, char **argv);

extern const char cli_migrate_usage[];
/* msgd migrate --from sqlite:DIR --to postgres://...: the exit code. */
int cli_migrate(int argc, char **argv);

/* One API call (blocking): *out gets the parsed JSON body (or NULL).
 * headers: more "Name: value" lines, NULL-terminated (or NULL). Returns the
 * HTTP status, or -1 (reported on stderr, prefixed by who). */
long cli_call(const char *who, const char *method, const char *url, const char *token,
    const char *const *headers, const char *body, json_t **out);

/* POST the file at path to url as the raw body (streamed, never read whole)
 * with that Content-Type; as cli_call(). */
long cli_upload(const char *who, const char *url, const char *token, const char *path,
    const char *content_type, json_t **out);

/* --- commands on a data directory (datadir.c) --- */

#define CLI_TOKEN_MAX 256
#define CLI_URL_MAX 512

/* send.c: the running msgd's base URL (url, else http://$MSGD_LISTEN, else
 * http://127.0.0.1:8080; no trailing '/') and the token (*token, else
 * MSGD_ADMIN_TOKEN, else $MSGD_DATA/admin.token, read into *token_buf, the
 * caller's to free). -1 after saying on stderr that there is no token. */
int cli_target(const char *who, const char *url, const char **token, char **token_buf,
    char base[CLI_URL_MAX]);

extern const char cli_campaign_usage[];
/* msgd campaign create ... | watch ID (campaign.c): the exit code. */
int cli_campaign(int argc, char **argv);

/* cfg from the defaults, the config file (file, else MSGD_CONFIG), the
 * environment and --data (data, or NULL); then the data directory must
 * exist: when it does not, with may_create and a directory named (not the
 * default ./var) it is made. Logs are quieted to warnings. Returns 0, or
 * the exit code after saying why on stderr: 2 for a config error, 1 for a
 * missing directory. */
int cli_datadir_setup(const char *who, struct config *cfg, const char *file, const char *data,
    bool may_create);

/* Who runs a command on cfg's data directory: local() when this process
 * gets the lock (held while it runs), remote() when a listening daemon
 * holds it. Each returns the exit code. */
struct cli_datadir_job {
	const char *who;               /* "msgd users": prefixes messages */
	const struct config *cfg;
	int (*local)(void *arg);
	int (*remote)(void *arg, const struct datadir_holder *holder);
	void *arg;
};
/* Waits a while for a lock held by another command or a daemon still
 * starting. Returns the exit code. */
int cli_datadir_run(const struct cli_datadir_job *j);

/* The admin token (MSGD_ADMIN_TOKEN, else DATA/admin.token) into tok; -1
 * after saying on stderr that the daemon holder runs and nothing changed. */
int cli_admin_token(const char *who, const struct config *cfg, const struct datadir_holder *holder,
    char tok[CLI_TOKEN_MAX + 1]);
/* http://ADDR:PORT of the holder; a wildcard address is reached on loopback. */
void cli_base_url(const struct datadir_holder *holder, char url[CLI_URL_MAX]);
/* An API error body's message, or "unexpected answer". */
const char *cli_error_message(json_t *body);

/* --- issue 15, h15ops: backup, restore, version --- */

/* MSGD_VERSION and msgd_commit: util.h. */

extern const char cli_backup_usage[];
/* msgd backup --to FILE ... (backup.c): the exit code. */
int cli_backup(int argc, char **argv);
extern const char cli_restore_usage[];
/* msgd restore FILE --data DIR ...: the exit code. */
int cli_restore(int argc, char **argv);
extern const char cli_version_usage[];
/* msgd version [--json] (version.c): the exit code. */
int cli_version(int argc, char **argv);

#endif
