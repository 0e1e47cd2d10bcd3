/*
 * daemon.h - `msgd serve`: open the store, load channels, listen, run the
 * event loop until SIGTERM/SIGINT, then shut down gracefully: stop
 * accepting, finish in-flight requests and commits, exit 0.
 */
#ifndef MSGD_DAEMON_H
#define MSGD_DAEMON_H

struct config;

/* Returns the process exit code. */
int daemon_run(const struct config *cfg);

#endif
