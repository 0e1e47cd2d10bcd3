/*
 * users.c - `msgd users add NAME`: a web UI user with a password.
 *
 * Unlike `msgd send`, it works on the data directory itself (the store,
 * through auth_user_add()), so it needs no running msgd; with one running
 * it works too (SQLite lets the second writer wait its turn), and the new
 * user can log in at once.
 *
 * The password is read from stdin: from a terminal, twice and without
 * echo; otherwise one line (so `printf '%s\n' "$PW" | msgd users add ana`
 * scripts it). It never comes from argv, which other users can read.
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
#include "../store/store.h"

const char cli_users_usage[] =
    "msgd users add NAME [--data DIR] [--config FILE]\n"
    "\n"
    "  --data DIR       data directory (env MSGD_DATA; default ./var)\n"
    "  --config FILE    configuration file (env MSGD_CONFIG)\n"
    "\n"
    "Adds a user who can log in to the web UI. NAME: 1 to 64 of A-Z a-z 0-9 . _ -\n"
    "The password (8 to 1024 bytes) is read from stdin: asked twice without echo\n"
    "on a terminal, else the first line. Exit 0 when added, 1 when not (the user\n"
    "exists, storage error), 2 on a usage error.\n";

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

static int
users_add(const char *name, const struct config *cfg)
{
	char pw[AUTH_PASSWORD_MAX + 2], err[256];
	struct store_config scfg = { .data_dir = cfg->data_dir };
	struct store *st = NULL;
	int rc = 1;

	if (!auth_name_valid(name)) {
		fprintf(stderr, "msgd users: invalid user name: 1 to %d of A-Z a-z 0-9 . _ - (and not '%s')\n",
		    AUTH_NAME_MAX, AUTH_TOKEN_USER);
		return 2;
	}
	if (read_password(pw, sizeof(pw)) != 0)
		goto out;
	if (!auth_password_valid(pw)) {
		fprintf(stderr, "msgd users: the password must have %d to %d bytes\n", AUTH_PASSWORD_MIN,
		    AUTH_PASSWORD_MAX);
		goto out;
	}
	if (store_open(&st, &scfg, NULL) != 0) {
		fprintf(stderr, "msgd users: cannot open the store in %s\n", cfg->data_dir);
		goto out;
	}
	if (auth_user_add(st, name, pw, err, sizeof(err)) != 0) {
		fprintf(stderr, "msgd users: %s\n", err);
		goto out;
	}
	printf("user %s added\n", name);
	rc = 0;
out:
	explicit_bzero(pw, sizeof(pw));
	store_close(st);
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
	const char *data = NULL, *file = getenv("MSGD_CONFIG");
	char err[CONFIG_ERR_MAX];
	struct config cfg;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'c': file = optarg; break;
		default: fputs(cli_users_usage, stderr); return 2;
		}
	}
	if (argc - optind != 2 || strcmp(argv[optind], "add") != 0) {
		fputs(cli_users_usage, stderr);
		return 2;
	}
	config_defaults(&cfg);
	if ((file && *file && config_load_file(&cfg, file, err) != 0) || config_apply_env(&cfg, err) != 0 ||
	    (data && config_set(&cfg, "data", data, err) != 0)) {
		fprintf(stderr, "msgd: config error: %s\n", err);
		return 2;
	}
	log_set_level(cfg.log_level > LOGL_WARN ? cfg.log_level : LOGL_WARN);  /* quiet migrations */
	return users_add(argv[optind + 1], &cfg);
}
