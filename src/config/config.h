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
 *
 * Every setting is one row of a table (config.c) that names its field, its
 * kind and range, and whether a running msgd applies a new value on SIGHUP
 * (config_reloadable()); the rest need a restart.
 */
#ifndef MSGD_CONFIG_H
#define MSGD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "../log/log.h"

#define CONFIG_ERR_MAX 512
#define CONFIG_PATH_MAX 1024
#define CONFIG_INSTANCE_ID_MAX 64

struct config {
	char listen[128];          /* ADDR:PORT, IPv6 as [::1]:8080 */
	char data_dir[CONFIG_PATH_MAX];
	char files_dir[CONFIG_PATH_MAX];   /* "": <data_dir>/files (issue 14) */
	char database[CONFIG_PATH_MAX];  /* DSN: "" or "sqlite:" = SQLite in data_dir;
	                                    "postgres://..." = PostgreSQL (libpq URI) */
	char log_file[CONFIG_PATH_MAX];  /* "" = stderr */
	size_t body_limit;         /* bytes; larger request bodies get 413 */
	int idle_timeout;          /* seconds a keep-alive connection may idle */
	int header_timeout;        /* seconds to receive a request's headers */
	int body_timeout;          /* seconds to receive a request's body */
	int max_connections;
	int shutdown_timeout;      /* seconds to finish in-flight work on SIGTERM */
	int batch_max;             /* messages in one POST /v1/messages/batch */
	int store_readers;         /* threads of the store's reader pool */
	enum log_level log_level;
	int cookie_secure;         /* session cookies Secure: 1, 0, or -1 (default): on unless
	                              listen is a loopback address */
	bool credential_checks;    /* check channel credentials on create/patch (default on) */
	char instance_id[CONFIG_INSTANCE_ID_MAX + 1];  /* printable ASCII; default
	                              "" until the daemon reads or makes
	                              DATA/instance.id (lock.h) */
	int outbox_lease_ms;       /* a send's claim lasts this long unless renewed */
	int dispatch_lease_ms;     /* channel dispatch and webhook leases */
	char config_path[CONFIG_PATH_MAX];  /* "" when no file */
	/* files (issue 14) */
	size_t files_max_bytes;    /* an upload larger than this gets 413 */
	int files_retention_hours; /* unreferenced files are removed after this (0: at the next sweep) */
	int files_sweep_s;         /* seconds between two retention sweeps */
	bool media_fetch;          /* inbound media: fetch them (off: jobs stay pending) */
	int media_retry_ms;        /* inbound media: first retry delay (10 s; x4 each, capped at 12 h) */
	int media_attempts;        /* inbound media: attempts before failed */
	int import_rows_max;       /* data rows an import may have (more: too_many_rows) */
	/* metrics (issue 15, h15metrics) */
	bool metrics_public;       /* GET /metrics without a token (default: PERM_PLATFORM) */
};

/* Where a configuration comes from, kept so SIGHUP can build it again:
 * the file (--config or MSGD_CONFIG) and the flags given (NULL: none). */
struct config_args {
	const char *file;
	const char *listen;
	const char *data;
	const char *database;
	const char *log_file;
	const char *instance_id;
	const char *outbox_lease_ms;
	const char *dispatch_lease_ms;
};

void config_defaults(struct config *c);
/* Load settings from a libconfig file; err gets "FILE:LINE: message". */
int config_load_file(struct config *c, const char *path, char err[CONFIG_ERR_MAX]);
/* The same from text in memory (name stands for the path in messages). */
int config_load_string(struct config *c, const char *text, const char *name, char err[CONFIG_ERR_MAX]);
/* Apply the environment: MSGD_LISTEN, MSGD_DATA, MSGD_LOG_LEVEL, MSGD_LOG_FILE,
 * MSGD_CREDENTIAL_CHECKS. */
int config_apply_env(struct config *c, char err[CONFIG_ERR_MAX]);
/* Set a setting given as text (listen, data, log_level, log_file,
 * instance_id, the integer ones) from a flag. */
int config_set(struct config *c, const char *name, const char *value, char err[CONFIG_ERR_MAX]);
/* defaults < args->file < environment < args' flags. */
int config_build(struct config *c, const struct config_args *args, char err[CONFIG_ERR_MAX]);
/* Validate "ADDR:PORT"; fills a sockaddr-ready host and port. */
int config_parse_listen(const char *s, char *host, size_t hostlen, int *port);
/* Is listen ("ADDR:PORT") on a loopback address (127.0.0.0/8, ::1)? */
bool config_listen_loopback(const char *listen);
/* cookie_secure resolved: the setting, or its default for c->listen. */
bool config_cookie_secure(const struct config *c);

/*
 * Compare two configurations setting by setting: changed() is called for
 * each setting whose value differs, with both values as text and whether a
 * running msgd applies it (false: it needs a restart).
 */
typedef void (*config_change_fn)(void *arg, const char *name, const char *from, const char *to,
    bool reloadable);
void config_diff(const struct config *a, const struct config *b, config_change_fn changed, void *arg);

#endif
