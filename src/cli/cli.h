/*
 * cli.h - subcommands beyond serve: send talks to a running msgd over its
 * API; users works on the data directory, or through the running msgd's
 * API when one holds the directory's lock.
 */
#ifndef MSGD_CLI_H
#define MSGD_CLI_H

#include <jansson.h>

extern const char cli_send_usage[];
/* msgd send ...: returns the process exit code. */
int cli_send(int argc, char **argv);

extern const char cli_users_usage[];
/* msgd users add|passwd|remove|logout NAME, msgd users list: returns the
 * process exit code. */
int cli_users(int argc, char **argv);

extern const char cli_migrate_usage[];
/* msgd migrate --from sqlite:DIR --to postgres://...: the exit code. */
int cli_migrate(int argc, char **argv);

/* One API call (blocking): *out gets the parsed JSON body (or NULL).
 * Returns the HTTP status, or -1 (reported on stderr, prefixed by who). */
long cli_call(const char *who, const char *method, const char *url, const char *token,
    const char *body, json_t **out);

#endif
