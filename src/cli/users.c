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
 * When no daemon holds the data directory's lock the command works on the
 * store itself; otherwise through that daemon's API (/v1/users), so the
 * daemon's sessions in memory change at once (datadir.c). Without --data,
 * MSGD_DATA or a data setting, and with no ./var, it refuses instead of
 * making an empty database in the current directory.
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "../auth/auth.h"
#include "../config/config.h"
#include "../daemon/lock.h"
#include "../store/store.h"
#include "../util/util.h"

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
run_local(void *arg)
{
	struct job *j = arg;
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
run_remote(void *arg, const struct datadir_holder *h)
{
	struct job *j = arg;
	char tok[CLI_TOKEN_MAX + 1], base[CLI_URL_MAX], url[CLI_URL_MAX + 128];
	const char *method = "GET";
	char *body = NULL;
	json_t *res = NULL;
	long want = 200;
	int rc = 1;

	if (cli_admin_token("msgd users", j->cfg, h, tok) != 0)
		return 1;
	cli_base_url(h, base);
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
	long st = cli_call("msgd users", method, url, tok, NULL, body, &res);
	explicit_bzero(tok, sizeof(tok));
	if (body) {
		explicit_bzero(body, strlen(body));
		free(body);
	}
	if (st < 0)
		goto out;
	if (st != want) {
		fprintf(stderr, "msgd users: msgd (pid %ld) answered %ld: %s\n", h->pid, st,
		    cli_error_message(res));
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

int
cli_users(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "config", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL, *file = NULL;
	struct config cfg;
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
	if (j.name && !(auth_name_valid(j.name) || (j.verb == V_LOGOUT && strcmp(j.name, AUTH_TOKEN_USER) == 0))) {
		fprintf(stderr, "msgd users: invalid user name: 1 to %d of A-Z a-z 0-9 . _ - (and not '%s')\n",
		    AUTH_NAME_MAX, AUTH_TOKEN_USER);
		return 2;
	}
	int rc = cli_datadir_setup("msgd users", &cfg, file, data, j.verb == V_ADD);
	if (rc != 0)
		return rc;
	rc = 1;
	if ((j.verb == V_ADD || j.verb == V_PASSWD) && read_password(j.pw, sizeof(j.pw)) != 0)
		goto out;
	if ((j.verb == V_ADD || j.verb == V_PASSWD) && !auth_password_valid(j.pw)) {
		fprintf(stderr, "msgd users: the password must have %d to %d bytes\n", AUTH_PASSWORD_MIN,
		    AUTH_PASSWORD_MAX);
		goto out;
	}
	rc = cli_datadir_run(&(struct cli_datadir_job){ .who = "msgd users", .cfg = &cfg,
	    .local = run_local, .remote = run_remote, .arg = &j });
out:
	explicit_bzero(j.pw, sizeof(j.pw));
	return rc;
}
