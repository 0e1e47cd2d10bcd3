/*
 * cli.h - client subcommands that talk to a running msgd over its API.
 */
#ifndef MSGD_CLI_H
#define MSGD_CLI_H

extern const char cli_send_usage[];
/* msgd send ...: returns the process exit code. */
int cli_send(int argc, char **argv);

#endif
