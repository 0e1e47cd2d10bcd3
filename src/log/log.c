/*
 * log.c - logfmt lines on stderr, written with one write(2) each.
 *
 * With a log file, the file is opened and dup2()'d onto descriptor 2, so
 * everything that writes to stderr (these lines, a sanitizer's report)
 * lands in it; log_reopen() swaps in a freshly opened file the same way.
 * dup2() replaces the descriptor atomically: a line written by another
 * thread meanwhile goes whole to the old file or whole to the new one.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static _Atomic int min_level = LOGL_INFO;  /* read by every thread, set on the loop */
static const char *const level_names[] = { "debug", "info", "warn", "error" };
static char log_path[LOG_PATH_MAX];          /* "" while logging to the original stderr */

void
log_set_level(enum log_level lvl)
{
	atomic_store(&min_level, (int)lvl);
}

const char *
log_level_name(enum log_level lvl)
{
	return (unsigned)lvl < 4 ? level_names[lvl] : "?";
}

/* Open path for appending and make it descriptor 2. */
static int
open_onto_stderr(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0)
		return -1;
	if (fd != STDERR_FILENO) {
		if (dup2(fd, STDERR_FILENO) < 0) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		close(fd);
	}
	return 0;
}

int
log_open(const char *path)
{
	if (path == NULL || *path == '\0' || strlen(path) >= sizeof(log_path)) {
		errno = EINVAL;
		return -1;
	}
	if (open_onto_stderr(path) != 0)
		return -1;
	snprintf(log_path, sizeof(log_path), "%s", path);
	return 0;
}

int
log_reopen(void)
{
	if (log_path[0] == '\0')
		return 0;
	return open_onto_stderr(log_path);
}

const char *
log_file_path(void)
{
	return log_path;
}

int
log_level_parse(const char *s, enum log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

/* Append s to line at *pos, quoting when needed; never overflows. */
static void
put_value(char *line, size_t *pos, const char *s)
{
	size_t p = *pos;
	bool quote = (*s == '\0');

	for (const char *c = s; *c && !quote; c++)
		if (*c == ' ' || *c == '"' || *c == '=' || (unsigned char)*c < 0x20 || *c == 0x7f)
			quote = true;
	if (quote && p < LOG_LINE_MAX - 8)
		line[p++] = '"';
	for (const char *c = s; *c && p < LOG_LINE_MAX - 8; c++) {
		unsigned char ch = (unsigned char)*c;
		if (ch == '"' || ch == '\\') {
			line[p++] = '\\';
			line[p++] = (char)ch;
		} else if (ch == '\n') {
			line[p++] = '\\';
			line[p++] = 'n';
		} else if (ch < 0x20 || ch == 0x7f) {
			p += (size_t)snprintf(line + p, 5, "\\x%02x", ch);
		} else {
			line[p++] = (char)ch;
		}
	}
	if (quote && p < LOG_LINE_MAX - 2)
		line[p++] = '"';
	*pos = p;
}

static void
put_raw(char *line, size_t *pos, const char *s)
{
	size_t n = strlen(s);
	if (*pos >= LOG_LINE_MAX - 2)
		return;
	if (n > LOG_LINE_MAX - 2 - *pos)
		n = LOG_LINE_MAX - 2 - *pos;
	memcpy(line + *pos, s, n);
	*pos += n;
}

void
log_kv(enum log_level lvl, const char *msg, ...)
{
	char line[LOG_LINE_MAX];
	char ts[40];
	size_t pos = 0;
	struct timespec now;
	struct tm tm;
	va_list ap;

	if ((int)lvl < atomic_load(&min_level))
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", now.tv_nsec / 1000000);

	put_raw(line, &pos, "ts=");
	put_raw(line, &pos, ts);
	put_raw(line, &pos, " level=");
	put_raw(line, &pos, level_names[lvl]);
	put_raw(line, &pos, " msg=");
	put_value(line, &pos, msg);

	va_start(ap, msg);
	for (;;) {
		const char *k = va_arg(ap, const char *);
		if (k == NULL)
			break;
		const char *v = va_arg(ap, const char *);
		put_raw(line, &pos, " ");
		put_raw(line, &pos, k);
		put_raw(line, &pos, "=");
		put_value(line, &pos, v ? v : "null");
	}
	va_end(ap);
	if (pos > LOG_LINE_MAX - 1)
		pos = LOG_LINE_MAX - 1;
	line[pos++] = '\n';
	(void)!write(STDERR_FILENO, line, pos);
}
