/*
 * datadir.c - what the commands on a data directory share (`msgd users`,
 * `msgd keys`): their settings, the directory's lock, and the way to the
 * daemon holding it.
 *
 * One msgd per data directory (src/daemon/lock.h): when no daemon holds the
 * directory's lock, the command takes it and works on the store itself;
 * when a daemon holds it, the command goes through that daemon's API (at
 * the address the lock file names, with MSGD_ADMIN_TOKEN or
 * DATA/admin.token), so the daemon's state in memory changes at once. If
 * no token is readable it refuses rather than write behind the daemon's
 * back.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../config/config.h"
#include "../daemon/lock.h"
#include "../log/log.h"
#include "../util/util.h"

#define LOCK_WAIT_MS 10000      /* another command holds the lock, or a daemon is starting */
#define LOCK_POLL_MS 50
#define TOKEN_PATH_MAX 1100

int
cli_datadir_setup(const char *who, struct config *cfg, const char *file, const char *data,
    bool may_create)
{
	const char *env_data = getenv("MSGD_DATA");
	char err[CONFIG_ERR_MAX];
	struct config def;
	struct stat sb;

	if (file == NULL)
		file = getenv("MSGD_CONFIG");
	config_defaults(cfg);
	def = *cfg;
	if ((file && *file && config_load_file(cfg, file, err) != 0) || config_apply_env(cfg, err) != 0 ||
	    (data && config_set(cfg, "data", data, err) != 0)) {
		fprintf(stderr, "msgd: config error: %s\n", err);
		return 2;
	}
	log_set_level(cfg->log_level > LOGL_WARN ? cfg->log_level : LOGL_WARN);  /* quiet migrations */
	bool defaulted = data == NULL && !(env_data && *env_data) &&
	    strcmp(cfg->data_dir, def.data_dir) == 0;
	if (stat(cfg->data_dir, &sb) == 0)
		return 0;
	if (defaulted || !may_create) {
		fprintf(stderr, "%s: no data directory %s%s\n", who, cfg->data_dir,
		    defaulted ? " (give --data DIR, MSGD_DATA or data in the config file)" : "");
		return 1;
	}
	if (mkdir_p(cfg->data_dir, 0700) != 0) {
		fprintf(stderr, "%s: cannot create %s: %s\n", who, cfg->data_dir, strerror(errno));
		return 1;
	}
	return 0;
}

int
cli_datadir_run(const struct cli_datadir_job *j)
{
	struct datadir_holder h;
	char err[256];
	int64_t end = mono_ms() + LOCK_WAIT_MS;
	int fd;

	for (;;) {
		int r = datadir_lock(j->cfg->data_dir, &fd, &h, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "%s: %s\n", j->who, err);
			return 1;
		}
		if (r == 0) {
			int rc = j->local(j->arg);
			datadir_unlock(fd);
			return rc;
		}
		if (h.listen[0])
			return j->remote(j->arg, &h);
		/* Held by another command, or by a daemon not listening yet. */
		if (mono_ms() >= end) {
			fprintf(stderr, "%s: data directory %s is in use by pid %ld\n", j->who,
			    j->cfg->data_dir, h.pid);
			return 1;
		}
		struct timespec ts = { .tv_nsec = LOCK_POLL_MS * 1000000L };
		nanosleep(&ts, NULL);
	}
}

static int
read_token(const struct config *cfg, char tok[CLI_TOKEN_MAX + 1])
{
	const char *env = getenv("MSGD_ADMIN_TOKEN");
	char path[TOKEN_PATH_MAX];

	if (env && *env) {
		snprintf(tok, CLI_TOKEN_MAX + 1, "%s", env);
		return 0;
	}
	snprintf(path, sizeof(path), "%s/admin.token", cfg->data_dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, tok, CLI_TOKEN_MAX);
	close(fd);
	while (n > 0 && (tok[n - 1] == '\n' || tok[n - 1] == ' '))
		n--;
	if (n <= 0)
		return -1;
	tok[n] = '\0';
	return 0;
}

int
cli_admin_token(const char *who, const struct config *cfg, const struct datadir_holder *holder,
    char tok[CLI_TOKEN_MAX + 1])
{
	if (read_token(cfg, tok) == 0)
		return 0;
	fprintf(stderr, "%s: msgd (pid %ld) is running on %s and no admin token is readable "
	    "(set MSGD_ADMIN_TOKEN, or read access to %s/admin.token); nothing changed\n", who,
	    holder->pid, cfg->data_dir, cfg->data_dir);
	return -1;
}

void
cli_base_url(const struct datadir_holder *holder, char url[CLI_URL_MAX])
{
	const char *listen = holder->listen;

	if (strncmp(listen, "0.0.0.0:", 8) == 0)
		snprintf(url, CLI_URL_MAX, "http://127.0.0.1:%s", listen + 8);
	else if (strncmp(listen, "[::]:", 5) == 0)
		snprintf(url, CLI_URL_MAX, "http://[::1]:%s", listen + 5);
	else
		snprintf(url, CLI_URL_MAX, "http://%s", listen);
}

const char *
cli_error_message(json_t *body)
{
	const char *m = json_string_value(json_object_get(json_object_get(body, "error"), "message"));
	return m ? m : "unexpected answer";
}
