/* test_config.c - the settings table: file, environment, flags, reload diff,
 * and the loopback rule behind cookie_secure's default. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "daemon/lock.h"
#include "util/util.h"

static char *
write_tmp(const char *text)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/msgd-test-config-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void
test_loopback_and_cookie_secure(void **state)
{
	static const struct { const char *listen; bool loopback; } cases[] = {
		{ "127.0.0.1:8080", true },
		{ "127.1.2.3:1", true },
		{ "[::1]:8080", true },
		{ "0.0.0.0:8080", false },
		{ "[::]:8080", false },
		{ "192.0.2.1:443", false },
		{ "[2001:db8::1]:443", false },
		{ "bogus", false },
	};
	struct config c;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(config_listen_loopback(cases[i].listen), cases[i].loopback);
		config_defaults(&c);
		snprintf(c.listen, sizeof(c.listen), "%s", cases[i].listen);
		/* The default: Secure unless on loopback. */
		assert_int_equal(config_cookie_secure(&c), !cases[i].loopback);
		c.cookie_secure = 1;
		assert_true(config_cookie_secure(&c));
		c.cookie_secure = 0;
		assert_false(config_cookie_secure(&c));
	}
}

static void
test_file_env_flags(void **state)
{
	char err[CONFIG_ERR_MAX];
	struct config c;
	char *path = write_tmp("listen = \"0.0.0.0:9000\";\nbody_limit = 4096;\ncookie_secure = false;\n"
	                       "credential_checks = \"off\";\nlog_file = \"/tmp/x.log\";\n");

	setenv("MSGD_LOG_LEVEL", "warn", 1);
	struct config_args args = { .file = path, .data = "/tmp/d" };
	assert_int_equal(config_build(&c, &args, err), 0);
	assert_string_equal(c.listen, "0.0.0.0:9000");
	assert_int_equal(c.body_limit, 4096);
	assert_int_equal(c.cookie_secure, 0);
	assert_false(c.credential_checks);
	assert_string_equal(c.log_file, "/tmp/x.log");
	assert_int_equal(c.log_level, LOGL_WARN);
	assert_string_equal(c.data_dir, "/tmp/d");
	assert_int_equal(c.idle_timeout, 60);  /* untouched default */
	unsetenv("MSGD_LOG_LEVEL");
	unlink(path);

	/* Errors name the file and line. */
	path = write_tmp("body_limit = 4096;\nbatch_max = \"big\";\n");
	args.file = path;
	assert_int_equal(config_build(&c, &args, err), -1);
	assert_non_null(strstr(err, ":2: 'batch_max' must be an integer"));
	unlink(path);
	path = write_tmp("nope = 1;\n");
	args.file = path;
	assert_int_equal(config_build(&c, &args, err), -1);
	assert_non_null(strstr(err, ":1: unknown setting 'nope'"));
	unlink(path);
	path = write_tmp("idle_timeout = 0;\n");
	args.file = path;
	assert_int_equal(config_build(&c, &args, err), -1);
	assert_non_null(strstr(err, "'idle_timeout' must be from 1 to 3600"));
	unlink(path);
	path = write_tmp("cookie_secure = 1;\n");
	args.file = path;
	assert_int_equal(config_build(&c, &args, err), -1);
	assert_non_null(strstr(err, "must be true or false"));
	unlink(path);
}

struct seen {
	char names[16][32];
	bool reload[16];
	int n;
};

static void
on_change(void *arg, const char *name, const char *from, const char *to, bool reloadable)
{
	struct seen *s = arg;
	assert_true(s->n < 16);
	snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
	s->reload[s->n++] = reloadable;
	assert_string_not_equal(from, to);
}

static void
test_diff(void **state)
{
	struct config a, b;
	struct seen s = { .n = 0 };

	config_defaults(&a);
	config_defaults(&b);
	config_diff(&a, &b, on_change, &s);
	assert_int_equal(s.n, 0);
	b.log_level = LOGL_DEBUG;
	b.max_connections = 100;
	b.body_timeout = 5;
	snprintf(b.log_file, sizeof(b.log_file), "/tmp/y.log");
	config_diff(&a, &b, on_change, &s);
	assert_int_equal(s.n, 4);
	for (int i = 0; i < s.n; i++) {
		bool restart = strcmp(s.names[i], "max_connections") == 0;
		assert_int_equal(s.reload[i], !restart);
	}
}

/* The DSN: only sqlite: or postgres:// URIs; never shown, even in a diff
 * (it may hold a password), though a change is still noticed. */
static void
on_change_secret(void *arg, const char *name, const char *from, const char *to, bool reloadable)
{
	int *n = arg;

	assert_string_equal(name, "database");
	assert_null(strstr(from, "hunter2"));
	assert_null(strstr(to, "hunter2"));
	assert_false(reloadable);
	(*n)++;
}

static void
test_database(void **state)
{
	struct config a, b;
	struct config_args args = { .database = "mysql://x" };
	char err[CONFIG_ERR_MAX];
	int n = 0;

	assert_int_equal(config_build(&a, &args, err), -1);
	assert_non_null(strstr(err, "database"));
	args.database = "postgres://msgd:hunter2@127.0.0.1:5432/msgd";
	assert_int_equal(config_build(&a, &args, err), 0);
	args.database = "postgresql://msgd:hunter2@127.0.0.1:5433/msgd";
	assert_int_equal(config_build(&b, &args, err), 0);
	config_diff(&a, &b, on_change_secret, &n);
	assert_int_equal(n, 1);
	args.database = "sqlite:";
	assert_int_equal(config_build(&a, &args, err), 0);
}

/* instance_id: none from the configuration by default (the daemon reads
 * or makes DATA/instance.id: test_datadir_instance_id), else 1..64 bytes of
 * printable ASCII from the file, the environment or a flag; the leases'
 * lengths from any of them, within their ranges. */
static void
test_instance(void **state)
{
	struct config c;
	struct config_args args = { .listen = "127.0.0.1:9123" };
	char err[CONFIG_ERR_MAX];

	assert_int_equal(config_build(&c, &args, err), 0);
	assert_string_equal(c.instance_id, "");
	assert_int_equal(c.outbox_lease_ms, 30000);
	assert_int_equal(c.dispatch_lease_ms, 5000);

	setenv("MSGD_INSTANCE_ID", "eu-1", 1);
	setenv("MSGD_OUTBOX_LEASE_MS", "2000", 1);
	assert_int_equal(config_build(&c, &args, err), 0);
	assert_string_equal(c.instance_id, "eu-1");
	assert_int_equal(c.outbox_lease_ms, 2000);
	args.instance_id = "eu-2";
	args.dispatch_lease_ms = "900";
	assert_int_equal(config_build(&c, &args, err), 0);
	assert_string_equal(c.instance_id, "eu-2");  /* the flag wins */
	assert_int_equal(c.dispatch_lease_ms, 900);
	setenv("MSGD_OUTBOX_LEASE_MS", "999", 1);    /* under the minimum */
	assert_int_equal(config_build(&c, &args, err), -1);
	assert_non_null(strstr(err, "outbox_lease_ms"));
	unsetenv("MSGD_OUTBOX_LEASE_MS");
	unsetenv("MSGD_INSTANCE_ID");

	static const char *const bad[] = { "", "has space", "tab\there", "caf\xc3\xa9",
	    "x2345678901234567890123456789012345678901234567890123456789012345" /* 65 */ };
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		args.instance_id = bad[i];
		assert_int_equal(config_build(&c, &args, err), -1);
		assert_non_null(strstr(err, "instance_id"));
	}
	args.instance_id = "x234567890123456789012345678901234567890123456789012345678901234"; /* 64 */
	assert_int_equal(config_build(&c, &args, err), 0);
	char *path = write_tmp("instance_id = \"from-file\";\noutbox_lease_ms = 45000;\n");
	args = (struct config_args){ .file = path };
	assert_int_equal(config_build(&c, &args, err), 0);
	assert_string_equal(c.instance_id, "from-file");
	assert_int_equal(c.outbox_lease_ms, 45000);
	unlink(path);
}

/* DATA/instance.id: made at the first start (host name + random digits),
 * the same at every start after; another data directory, another id; a
 * file that does not hold an id is refused. */
static void
test_datadir_instance_id(void **state)
{
	char a[] = "/tmp/msgd-id-XXXXXX", b[] = "/tmp/msgd-id-XXXXXX";
	char id1[CONFIG_INSTANCE_ID_MAX + 1], id2[CONFIG_INSTANCE_ID_MAX + 1], id3[CONFIG_INSTANCE_ID_MAX + 1];
	char err[256], host[CONFIG_INSTANCE_ID_MAX] = "";

	assert_non_null(mkdtemp(a));
	assert_non_null(mkdtemp(b));
	assert_int_equal(datadir_instance_id(a, id1, sizeof(id1), err, sizeof(err)), 0);
	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	assert_int_equal(strncmp(id1, host, strlen(host)), 0);
	assert_int_equal(strlen(id1), strlen(host) + 9);  /* "-" + 8 hex digits */
	assert_int_equal(datadir_instance_id(a, id2, sizeof(id2), err, sizeof(err)), 0);
	assert_string_equal(id1, id2);
	assert_int_equal(datadir_instance_id(b, id3, sizeof(id3), err, sizeof(err)), 0);
	assert_true(strcmp(id1, id3) != 0);

	char *path = xasprintf("%s/%s", b, DATADIR_ID_FILE);
	FILE *f = fopen(path, "w");
	fputs("two words\n", f);
	fclose(f);
	assert_int_equal(datadir_instance_id(b, id3, sizeof(id3), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "instance id"));
	unlink(path);
	free(path);
	path = xasprintf("%s/%s", a, DATADIR_ID_FILE);
	unlink(path);
	free(path);
	rmdir(a);
	rmdir(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loopback_and_cookie_secure),
		cmocka_unit_test(test_file_env_flags),
		cmocka_unit_test(test_diff),
		cmocka_unit_test(test_database),
		cmocka_unit_test(test_instance),
		cmocka_unit_test(test_datadir_instance_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
