/*
 * daemon.h - `msgd serve`: open the store, load channels, listen, run the
 * event loop until SIGTERM/SIGINT, then shut down gracefully: stop
 * accepting, finish in-flight requests and commits, exit 0.
 */
#ifndef MSGD_DAEMON_H
#define MSGD_DAEMON_H

struct config;
struct config_args;

/* Runs with a copy of cfg; args say where cfg came from, so SIGHUP can
 * build it again (both must outlive the call). Returns the exit code. */
int daemon_run(const struct config *cfg, const struct config_args *args);

#endif
