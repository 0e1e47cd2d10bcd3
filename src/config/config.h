/*
 * config.h - msgd's settings: defaults < config file < environment < flags.
 *
 * The file uses libconfig syntax, one setting per line:
 *
 *   listen = "127.0.0.1:8080";
 *   data = "./var";
 *   body_limit = 1048576;
 *
 * Anything invalid (unknown setting, wrong type, out of range, syntax) is
 * reported as "FILE:LINE: message" and msgd does not start.
 */
#ifndef MSGD_CONFIG_H
#define MSGD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "../log/log.h"

#define CONFIG_ERR_MAX 512

struct config {
	char listen[128];          /* ADDR:PORT, IPv6 as [::1]:8080 */
	char data_dir[1024];
	size_t body_limit;         /* bytes; larger request bodies get 413 */
	int idle_timeout;          /* seconds a keep-alive connection may idle */
	int header_timeout;        /* seconds to receive a request's headers */
	int max_connections;
	int shutdown_timeout;      /* seconds to finish in-flight work on SIGTERM */
	int batch_max;             /* messages in one POST /v1/messages/batch */
	enum log_level log_level;
	bool credential_checks;    /* check channel credentials on create/patch (default on) */
	char config_path[1024];    /* "" when no file */
};

void config_defaults(struct config *c);
/* Load settings from a libconfig file; err gets "FILE:LINE: message". */
int config_load_file(struct config *c, const char *path, char err[CONFIG_ERR_MAX]);
/* Apply MSGD_LISTEN, MSGD_DATA, MSGD_LOG_LEVEL, MSGD_CREDENTIAL_CHECKS. */
int config_apply_env(struct config *c, char err[CONFIG_ERR_MAX]);
/* Set a string setting (listen, data, log_level) from a command-line flag. */
int config_set(struct config *c, const char *name, const char *value, char err[CONFIG_ERR_MAX]);
/* Validate "ADDR:PORT"; fills a sockaddr-ready host and port. */
int config_parse_listen(const char *s, char *host, size_t hostlen, int *port);

#endif
