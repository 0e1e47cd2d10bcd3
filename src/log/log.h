/*
 * log.h - structured logs: one line per event, logfmt (key=value).
 *
 *   ts=2026-11-23T07:15:00.123Z level=info msg="webhook accepted" req=9f2c channel=wa1
 *
 * Values are quoted when they contain spaces, quotes or '=', and control
 * characters are escaped, so a line is always one line. Secrets MUST NOT be
 * passed to these functions: callers log names and ids, never tokens,
 * app secrets or Authorization headers.
 */
#ifndef MSGD_LOG_H
#define MSGD_LOG_H

enum log_level { LOGL_DEBUG, LOGL_INFO, LOGL_WARN, LOGL_ERROR };

#define LOG_PATH_MAX 1024

void log_set_level(enum log_level lvl);
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level lvl);

/*
 * Logs go to stderr. log_open() appends them to the file at path instead
 * (it becomes descriptor 2; -1 with errno when it cannot be opened), and
 * log_reopen() opens that path again, for logrotate: call it on SIGHUP
 * after the old file was moved away. Both run on one thread at a time; the
 * lines written meanwhile by other threads are never split or lost.
 */
int log_open(const char *path);
int log_reopen(void);
/* The file logs go to, or "" for the original stderr. */
const char *log_file_path(void);

/*
 * log_kv(LOGL_INFO, "webhook accepted", "req", id, "channel", name, NULL);
 * Arguments after msg are key, value pairs (both const char *), ended by NULL.
 * A NULL value is written as key=null.
 */
void log_kv(enum log_level lvl, const char *msg, ...) __attribute__((sentinel));

#define log_info(...) log_kv(LOGL_INFO, __VA_ARGS__, (const char *)NULL)
#define log_warn(...) log_kv(LOGL_WARN, __VA_ARGS__, (const char *)NULL)
#define log_error(...) log_kv(LOGL_ERROR, __VA_ARGS__, (const char *)NULL)
#define log_debug(...) log_kv(LOGL_DEBUG, __VA_ARGS__, (const char *)NULL)

#endif
