/*
 * users.c - `msgd users`: the people who can log in to the web UI.
 *
 *   add NAME, passwd NAME   the password is read from stdin: from a
 *                           terminal, twice and without echo; otherwise one
 *                           line (`printf '%s\n' "$PW" | msgd users add
 *                           ana`). It never comes from argv, which other
 *                           users can read.
 *   remove NAME, logout NAME, list
 *
 * One msgd per data directory (src/daemon/lock.h): when no daemon holds the
 * directory's lock, the command takes it and works on the store itself;
 * when a daemon holds it, the command goes through that daemon's API
 * (/v1/users, at the address the lock file names, with MSGD_ADMIN_TOKEN or
 * DATA/admin.token), so the daemon's sessions in memory change at once. If
 * no token is readable it refuses rather than write behind the daemon's
 * back. Without --data, MSGD_DATA or a data setting, and with no ./var, it
 * refuses instead of making an empty database in the current directory.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "../auth/auth.h"
#include "../config/config.h"
#include "../daemon/lock.h"
#include "../store/store.h"
#include "../util/util.h"

#define LOCK_WAIT_MS 10000      /* another command holds the lock, or a daemon is starting */
#define LOCK_POLL_MS 50
#define TOKEN_MAX 256
#define URL_MAX 512

const char cli_users_usage[] =
    "msgd users add NAME      [--data DIR] [--config FILE]\n"
    "msgd users passwd NAME   [--data DIR] [--config FILE]\n"
    "msgd users remove NAME   [--data DIR] [--config FILE]\n"
    "msgd users logout NAME   [--data DIR] [--config FILE]\n"
    "msgd users list          [--data DIR] [--config FILE]\n"
    "\n"
    "  --data DIR       data directory (env MSGD_DATA; default ./var, which must exist)\n"
    "  --config FILE    configuration file (env MSGD_CONFIG)\n"
    "\n"
    "add: a user who can log in to the web UI. NAME: 1 to 64 of A-Z a-z 0-9 . _ -\n"
    "passwd: a new password; the user's sessions end. remove: the user and their\n"
    "sessions. logout: end every session of NAME ('token': of every token login).\n"
    "The password (8 to 1024 bytes) is read from stdin: asked twice without echo\n"
    "on a terminal, else the first line.\n"
    "With msgd running on DIR the change goes through its API (token from\n"
    "MSGD_ADMIN_TOKEN or DIR/admin.token). Exit 0 when done, 1 when not (no such\n"
    "user, the user exists, storage or API error), 2 on a usage error.\n";

/* One line of stdin into buf (no newline); -1 on EOF or when too long. */
static int
read_line(char *buf, size_t cap)
{
	if (fgets(buf, (int)cap, stdin) == NULL)
		return -1;
	size_t n = strlen(buf);
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	else if (!feof(stdin))
		return -1;  /* longer than cap */
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	return 0;
}

/* Prompt on stderr and read without echo. */
static int
read_hidden(const char *prompt, char *buf, size_t cap)
{
	struct termios old, quiet;
	int rc;

	fputs(prompt, stderr);
	fflush(stderr);
	if (tcgetattr(STDIN_FILENO, &old) != 0)
		return read_line(buf, cap);
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	rc = read_line(buf, cap);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	return rc;
}

static int
read_password(char *pw, size_t cap)
{
	char again[AUTH_PASSWORD_MAX + 2];
	int rc = 0;

	if (!isatty(STDIN_FILENO)) {
		if (read_line(pw, cap) != 0) {
			fprintf(stderr, "msgd users: no password on stdin (or longer than %d bytes)\n",
			    AUTH_PASSWORD_MAX);
			return -1;
		}
		return 0;
	}
	if (read_hidden("Password: ", pw, cap) != 0 || read_hidden("Repeat: ", again, sizeof(again)) != 0) {
		fprintf(stderr, "msgd users: no password read (at most %d bytes)\n", AUTH_PASSWORD_MAX);
		rc = -1;
	} else if (strcmp(pw, again) != 0) {
		fprintf(stderr, "msgd users: the passwords differ\n");
		rc = -1;
	}
	explicit_bzero(again, sizeof(again));
	return rc;
}

enum verb { V_ADD, V_PASSWD, V_REMOVE, V_LOGOUT, V_LIST };

static const struct {
	const char *name;
	enum verb verb;
	bool takes_name;
} verbs[] = {
	{ .name = "add", .verb = V_ADD, .takes_name = true },
	{ .name = "passwd", .verb = V_PASSWD, .takes_name = true },
	{ .name = "remove", .verb = V_REMOVE, .takes_name = true },
	{ .name = "logout", .verb = V_LOGOUT, .takes_name = true },
	{ .name = "list", .verb = V_LIST, .takes_name = false },
};

struct job {
	enum verb verb;
	const char *name;
	char pw[AUTH_PASSWORD_MAX + 2];
	const struct config *cfg;
};

static void
print_user(json_t *u, bool unix_time)
{
	char created[21];
	const char *at = json_string_value(json_object_get(u, "created_at"));

	if (unix_time) {
		fmt_rfc3339(json_integer_value(json_object_get(u, "created_at")), created);
		at = created;
	}
	printf("%s\t%s\n", json_string_value(json_object_get(u, "name")), at ? at : "");
}

/* --- on the store itself (we hold the lock) --- */

static int
run_local(struct job *j)
{
	struct store_config scfg = { .data_dir = j->cfg->data_dir, .database = j->cfg->database };
	struct store *st = NULL;
	char err[256];
	int rc = 1;

	if (store_open(&st, &scfg, NULL) != 0) {
		fprintf(stderr, "msgd users: cannot open the store in %s\n", j->cfg->data_dir);
		return 1;
	}
	switch (j->verb) {
	case V_ADD:
	case V_PASSWD: {
		int r = j->verb == V_ADD ? auth_user_add(st, j->name, j->pw, err, sizeof(err)) :
		    auth_user_set_password(st, j->name, j->pw, err, sizeof(err));
		if (r != 0) {
			fprintf(stderr, "msgd users: %s\n", err);
			break;
		}
		printf(j->verb == V_ADD ? "user %s added\n" : "user %s: password changed\n", j->name);
		rc = 0;
		break;
	}
	case V_REMOVE:
	case V_LOGOUT: {
		struct store_op op = {
			.kind = j->verb == V_REMOVE ? STORE_OP_USER_DELETE : STORE_OP_USER_LOGOUT,
			.u.user = { .name = j->name },
		};
		if (store_submit_wait(st, &op) != 0) {
			fprintf(stderr, "msgd users: %s\n", op.errmsg);
		} else if (!op.u.user.found && strcmp(j->name, AUTH_TOKEN_USER) != 0) {
			fprintf(stderr, "msgd users: no user '%s'\n", j->name);
		} else {
			if (j->verb == V_REMOVE)
				printf("user %s removed (%lld sessions ended)\n", j->name,
				    (long long)op.u.user.count);
			else
				printf("user %s: %lld sessions ended\n", j->name, (long long)op.u.user.count);
			rc = 0;
		}
		break;
	}
	case V_LIST: {
		json_t *rows = NULL, *u;
		size_t i;
		if (store_users_list(st, STORE_ORG_DEFAULT, &rows) != 0) {
			fprintf(stderr, "msgd users: cannot read the users\n");
			break;
		}
		json_array_foreach(rows, i, u)
			print_user(u, true);
		json_decref(rows);
		rc = 0;
		break;
	}
	}
	store_close(st);
	return rc;
}

/* --- through the running daemon's API --- */

static int
read_token(const struct config *cfg, char tok[TOKEN_MAX + 1])
{
	const char *env = getenv("MSGD_ADMIN_TOKEN");
	char path[1100];

	if (env && *env) {
		snprintf(tok, TOKEN_MAX + 1, "%s", env);
		return 0;
	}
	snprintf(path, sizeof(path), "%s/admin.token", cfg->data_dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, tok, TOKEN_MAX);
	close(fd);
	while (n > 0 && (tok[n - 1] == '\n' || tok[n - 1] == ' '))
		n--;
	if (n <= 0)
		return -1;
	tok[n] = '\0';
	return 0;
}

/* http://ADDR:PORT of the holder; a wildcard address is reached on loopback. */
static void
base_url(const char *listen, char url[URL_MAX])
{
	if (strncmp(listen, "0.0.0.0:", 8) == 0)
		snprintf(url, URL_MAX, "http://127.0.0.1:%s", listen + 8);
	else if (strncmp(listen, "[::]:", 5) == 0)
		snprintf(url, URL_MAX, "http://[::1]:%s", listen + 5);
	else
		snprintf(url, URL_MAX, "http://%s", listen);
}

static const char *
error_message(json_t *body)
{
	const char *m = json_string_value(json_object_get(json_object_get(body, "error"), "message"));
	return m ? m : "unexpected answer";
}

static int
run_remote(struct job *j, const struct datadir_holder *h)
{
	char tok[TOKEN_MAX + 1], base[URL_MAX], url[URL_MAX + 128];
	const char *method = "GET";
	char *body = NULL;
	json_t *res = NULL;
	long want = 200;
	int rc = 1;

	if (read_token(j->cfg, tok) != 0) {
		fprintf(stderr, "msgd users: msgd (pid %ld) is running on %s and no admin token is readable "
		    "(set MSGD_ADMIN_TOKEN, or read access to %s/admin.token); nothing changed\n", h->pid,
		    j->cfg->data_dir, j->cfg->data_dir);
		return 1;
	}
	base_url(h->listen, base);
	switch (j->verb) {
	case V_ADD:
		method = "POST";
		want = 201;
		snprintf(url, sizeof(url), "%s/v1/users", base);
		break;
	case V_PASSWD:
		method = "PUT";
		want = 204;
		snprintf(url, sizeof(url), "%s/v1/users/%s/password", base, j->name);
		break;
	case V_REMOVE:
		method = "DELETE";
		want = 204;
		snprintf(url, sizeof(url), "%s/v1/users/%s", base, j->name);
		break;
	case V_LOGOUT:
		method = "POST";
		snprintf(url, sizeof(url), "%s/v1/users/%s/logout", base, j->name);
		break;
	case V_LIST:
		snprintf(url, sizeof(url), "%s/v1/users", base);
		break;
	}
	if (j->verb == V_ADD || j->verb == V_PASSWD) {
		json_t *o = j->verb == V_ADD ? json_pack("{s:s,s:s}", "name", j->name, "password", j->pw) :
		    json_pack("{s:s}", "password", j->pw);
		body = json_dumps(o, 0);
		json_decref(o);
	}
	long st = cli_call("msgd users", method, url, tok, body, &res);
	explicit_bzero(tok, sizeof(tok));
	if (body) {
		explicit_bzero(body, strlen(body));
		free(body);
	}
	if (st < 0)
		goto out;
	if (st != want) {
		fprintf(stderr, "msgd users: msgd (pid %ld) answered %ld: %s\n", h->pid, st,
		    error_message(res));
		goto out;
	}
	rc = 0;
	switch (j->verb) {
	case V_ADD: printf("user %s added\n", j->name); break;
	case V_PASSWD: printf("user %s: password changed\n", j->name); break;
	case V_REMOVE: printf("user %s removed\n", j->name); break;
	case V_LOGOUT:
		printf("user %s: %lld sessions ended\n", j->name,
		    (long long)json_integer_value(json_object_get(res, "sessions_ended")));
		break;
	case V_LIST: {
		json_t *u;
		size_t i;
		json_array_foreach(json_object_get(res, "users"), i, u)
			print_user(u, false);
		break;
	}
	}
out:
	json_decref(res);
	return rc;
}

/* Take the lock and work on the store, or go through the daemon holding it. */
static int
run_job(struct job *j)
{
	struct datadir_holder h;
	char err[256];
	int64_t end = mono_ms() + LOCK_WAIT_MS;
	int fd;

	for (;;) {
		int r = datadir_lock(j->cfg->data_dir, &fd, &h, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "msgd users: %s\n", err);
			return 1;
		}
		if (r == 0) {
			int rc = run_local(j);
			datadir_unlock(fd);
			return rc;
		}
		if (h.listen[0])
			return run_remote(j, &h);
		/* Held by another command, or by a daemon not listening yet. */
		if (mono_ms() >= end) {
			fprintf(stderr, "msgd users: data directory %s is in use by pid %ld\n",
			    j->cfg->data_dir, h.pid);
			return 1;
		}
		struct timespec ts = { .tv_nsec = LOCK_POLL_MS * 1000000L };
		nanosleep(&ts, NULL);
	}
}

int
cli_users(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "config", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL, *file = getenv("MSGD_CONFIG"), *env_data = getenv("MSGD_DATA");
	char err[CONFIG_ERR_MAX];
	struct config cfg, def;
	struct job j = { 0 };
	int c, found = -1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'c': file = optarg; break;
		default: fputs(cli_users_usage, stderr); return 2;
		}
	}
	if (argc - optind < 1) {
		fputs(cli_users_usage, stderr);
		return 2;
	}
	for (size_t i = 0; i < ARRAY_LEN(verbs); i++)
		if (strcmp(argv[optind], verbs[i].name) == 0)
			found = (int)i;
	if (found < 0) {
		fprintf(stderr, "msgd users: unknown command '%s'\n%s", argv[optind], cli_users_usage);
		return 2;
	}
	if (argc - optind != (verbs[found].takes_name ? 2 : 1)) {
		fputs(cli_users_usage, stderr);
		return 2;
	}
	j.verb = verbs[found].verb;
	j.name = verbs[found].takes_name ? argv[optind + 1] : NULL;
	j.cfg = &cfg;
	config_defaults(&cfg);
	def = cfg;
	if ((file && *file && config_load_file(&cfg, file, err) != 0) || config_apply_env(&cfg, err) != 0 ||
	    (data && config_set(&cfg, "data", data, err) != 0)) {
		fprintf(stderr, "msgd: config error: %s\n", err);
		return 2;
	}
	log_set_level(cfg.log_level > LOGL_WARN ? cfg.log_level : LOGL_WARN);  /* quiet migrations */
	if (j.name && !(auth_name_valid(j.name) || (j.verb == V_LOGOUT && strcmp(j.name, AUTH_TOKEN_USER) == 0))) {
		fprintf(stderr, "msgd users: invalid user name: 1 to %d of A-Z a-z 0-9 . _ - (and not '%s')\n",
		    AUTH_NAME_MAX, AUTH_TOKEN_USER);
		return 2;
	}
	struct stat sb;
	bool defaulted = data == NULL && !(env_data && *env_data) &&
	    strcmp(cfg.data_dir, def.data_dir) == 0;
	if (stat(cfg.data_dir, &sb) != 0) {
		if (defaulted || j.verb != V_ADD) {
			fprintf(stderr, "msgd users: no data directory %s%s\n", cfg.data_dir,
			    defaulted ? " (give --data DIR, MSGD_DATA or data in the config file)" : "");
			return 1;
		}
		if (mkdir_p(cfg.data_dir, 0700) != 0) {
			fprintf(stderr, "msgd users: cannot create %s: %s\n", cfg.data_dir, strerror(errno));
			return 1;
		}
	}
	int rc = 1;
	if ((j.verb == V_ADD || j.verb == V_PASSWD) && read_password(j.pw, sizeof(j.pw)) != 0)
		goto out;
	if ((j.verb == V_ADD || j.verb == V_PASSWD) && !auth_password_valid(j.pw)) {
		fprintf(stderr, "msgd users: the password must have %d to %d bytes\n", AUTH_PASSWORD_MIN,
		    AUTH_PASSWORD_MAX);
		goto out;
	}
	rc = run_job(&j);
out:
	explicit_bzero(j.pw, sizeof(j.pw));
	return rc;
}
