/*
 * cli.h - subcommands beyond serve: send talks to a running msgd over its
 * API; users works on the data directory.
 */
#ifndef MSGD_CLI_H
#define MSGD_CLI_H

extern const char cli_send_usage[];
/* msgd send ...: returns the process exit code. */
int cli_send(int argc, char **argv);

extern const char cli_users_usage[];
/* msgd users add NAME: returns the process exit code. */
int cli_users(int argc, char **argv);

#endif
