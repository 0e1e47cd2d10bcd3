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

void log_set_level(enum log_level lvl);
int log_level_parse(const char *s, enum log_level *out);

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
