/* config.c - defaults, a libconfig file with line-numbered errors, env. */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libconfig.h>

#include "../util/util.h"

void
config_defaults(struct config *c)
{
	*c = (struct config){
		.body_limit = 1024 * 1024,
		.idle_timeout = 60,
		.header_timeout = 10,
		.body_timeout = 30,
		.max_connections = 16384,
		.shutdown_timeout = 10,
		.batch_max = 1000,
		.store_readers = 2,
		.log_level = LOGL_INFO,
		.cookie_secure = -1,
		.credential_checks = true,
		.outbox_lease_ms = 30000,
		.dispatch_lease_ms = 5000,
		.files_max_bytes = 100 * 1024 * 1024,
		.files_retention_hours = 24,
		.files_sweep_s = 600,
		.media_fetch = true,
		.media_retry_ms = 10000,
		.media_attempts = 8,
		.import_rows_max = 1000000,
	};
	snprintf(c->listen, sizeof(c->listen), "127.0.0.1:8080");
	snprintf(c->data_dir, sizeof(c->data_dir), "./var");
}

int
config_parse_listen(const char *s, char *host, size_t hostlen, int *port)
{
	const char *colon;
	char h[128];
	unsigned char tmp[16];
	int64_t p;

	if (s == NULL || strlen(s) >= sizeof(h))
		return -1;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL || end[1] != ':')
			return -1;
		snprintf(h, sizeof(h), "%.*s", (int)(end - s - 1), s + 1);
		colon = end + 1;
		if (inet_pton(AF_INET6, h, tmp) != 1)
			return -1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -1;
		snprintf(h, sizeof(h), "%.*s", (int)(colon - s), s);
		if (inet_pton(AF_INET, h, tmp) != 1)
			return -1;
	}
	if (parse_i64(colon + 1, &p) != 0 || p < 0 || p > 65535)
		return -1;
	if (host)
		snprintf(host, hostlen, "%s", h);
	if (port)
		*port = (int)p;
	return 0;
}

bool
config_listen_loopback(const char *listen)
{
	char host[128];

	if (config_parse_listen(listen, host, sizeof(host), NULL) != 0)
		return false;
	return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
}

bool
config_cookie_secure(const struct config *c)
{
	return c->cookie_secure >= 0 ? c->cookie_secure == 1 : !config_listen_loopback(c->listen);
}

/* --- the settings table --- */

enum kind {
	K_LISTEN,    /* char[] holding ADDR:PORT */
	K_PATH,      /* char[], non-empty unless empty_ok */
	K_LEVEL,     /* enum log_level */
	K_INT,       /* int, min..max */
	K_SIZE,      /* size_t, min..max */
	K_BOOL,      /* int: 1 true, 0 false, -1 not set (the default decides) */
	K_ONOFF,     /* bool, written "on" or "off" (so the environment can set it) */
	K_ID,        /* char[], 1..size-1 bytes of printable ASCII (no space) */
};

struct setting {
	const char *name;
	enum kind kind;
	size_t offset;          /* of the field in struct config */
	size_t size;            /* of the field (char arrays) */
	long long min, max;     /* K_INT, K_SIZE */
	bool empty_ok;          /* K_PATH: "" is a value (log_file: stderr) */
	bool secret;            /* never shown (a DSN may hold a password) */
	bool reload;            /* SIGHUP applies it to a running msgd */
	const char *env;        /* environment variable, or NULL */
	const char *help;
};

#define FIELD(f) .offset = offsetof(struct config, f), .size = sizeof(((struct config *)0)->f)

static const struct setting settings[] = {
	{ .name = "listen", .kind = K_LISTEN, FIELD(listen), .env = "MSGD_LISTEN",
	  .help = "ADDR:PORT to listen on" },
	{ .name = "data", .kind = K_PATH, FIELD(data_dir), .env = "MSGD_DATA",
	  .help = "data directory" },
	{ .name = "database", .kind = K_PATH, FIELD(database), .empty_ok = true, .secret = true,
	  .env = "MSGD_DATABASE",
	  .help = "sqlite: (the data directory, default) or postgres://USER@HOST:PORT/DB (libpq URI)" },
	{ .name = "log_file", .kind = K_PATH, FIELD(log_file), .empty_ok = true, .reload = true,
	  .env = "MSGD_LOG_FILE", .help = "file to append logs to (reopened on SIGHUP); empty: stderr" },
	{ .name = "log_level", .kind = K_LEVEL, FIELD(log_level), .reload = true,
	  .env = "MSGD_LOG_LEVEL", .help = "debug, info, warn or error" },
	{ .name = "body_limit", .kind = K_SIZE, FIELD(body_limit), .min = 1024, .max = 64LL * 1024 * 1024,
	  .reload = true, .help = "maximum request body in bytes" },
	{ .name = "idle_timeout", .kind = K_INT, FIELD(idle_timeout), .min = 1, .max = 3600,
	  .reload = true, .help = "seconds an idle connection is kept" },
	{ .name = "header_timeout", .kind = K_INT, FIELD(header_timeout), .min = 1, .max = 600,
	  .reload = true, .help = "seconds to receive request headers" },
	{ .name = "body_timeout", .kind = K_INT, FIELD(body_timeout), .min = 1, .max = 3600,
	  .reload = true, .help = "seconds to receive a request body" },
	{ .name = "max_connections", .kind = K_INT, FIELD(max_connections), .min = 16, .max = 1000000,
	  .help = "maximum open connections" },
	{ .name = "shutdown_timeout", .kind = K_INT, FIELD(shutdown_timeout), .min = 1, .max = 600,
	  .reload = true, .help = "seconds to finish work on SIGTERM" },
	{ .name = "batch_max", .kind = K_INT, FIELD(batch_max), .min = 1, .max = 100000,
	  .reload = true, .help = "messages in one batch send request" },
	{ .name = "store_readers", .kind = K_INT, FIELD(store_readers), .min = 1, .max = 64,
	  .help = "threads (and database connections) that run the API's reads" },
	{ .name = "credential_checks", .kind = K_ONOFF, FIELD(credential_checks), .reload = true,
	  .env = "MSGD_CREDENTIAL_CHECKS",
	  .help = "on or off: check a channel's credentials when it is created or changed" },
	{ .name = "instance_id", .kind = K_ID, FIELD(instance_id), .env = "MSGD_INSTANCE_ID",
	  .help = "this instance's name among those sharing a database (default: made at the first start, kept in DATA/instance.id)" },
	{ .name = "outbox_lease_ms", .kind = K_INT, FIELD(outbox_lease_ms), .min = 1000,
	  .max = 3600 * 1000, .env = "MSGD_OUTBOX_LEASE_MS",
	  .help = "ms a claimed send stays this instance's unless renewed (renewed every third)" },
	{ .name = "dispatch_lease_ms", .kind = K_INT, FIELD(dispatch_lease_ms), .min = 300,
	  .max = 600 * 1000, .env = "MSGD_DISPATCH_LEASE_MS",
	  .help = "ms a channel's dispatch or a webhook's delivery stays this instance's unless renewed" },
	{ .name = "cookie_secure", .kind = K_BOOL, FIELD(cookie_secure), .reload = true,
	  .help = "mark session cookies Secure (default: unless listening on loopback)" },
	/* files (issue 14) */
	{ .name = "files_dir", .kind = K_PATH, FIELD(files_dir), .empty_ok = true, .env = "MSGD_FILES_DIR",
	  .help = "where stored files live (default DATA/files); instances sharing a PostgreSQL database "
	    "must share it too" },
	{ .name = "files_max_bytes", .kind = K_SIZE, FIELD(files_max_bytes), .min = 1024,
	  .max = 64LL * 1024 * 1024 * 1024, .reload = true,
	  .help = "largest file POST /v1/files accepts, in bytes (default 100 MiB)" },
	{ .name = "files_retention_hours", .kind = K_INT, FIELD(files_retention_hours), .min = 0,
	  .max = 24 * 3650, .reload = true,
	  .help = "hours an unreferenced file is kept after its last use (0: until the next sweep)" },
	{ .name = "files_sweep_s", .kind = K_INT, FIELD(files_sweep_s), .min = 1, .max = 86400,
	  .help = "seconds between two sweeps of expired files" },
	/* media both ways (issue 14) */
	{ .name = "media_fetch", .kind = K_ONOFF, FIELD(media_fetch), .env = "MSGD_MEDIA_FETCH",
	  .help = "fetch inbound media from the providers in the background (off: jobs wait)" },
	{ .name = "media_retry_ms", .kind = K_INT, FIELD(media_retry_ms), .min = 10, .max = 3600000,
	  .env = "MSGD_MEDIA_RETRY_MS",
	  .help = "first delay before an inbound media fetch is tried again (x4 each time, up to 12 h)" },
	{ .name = "media_attempts", .kind = K_INT, FIELD(media_attempts), .min = 1, .max = 50,
	  .env = "MSGD_MEDIA_ATTEMPTS",
	  .help = "attempts to fetch an inbound media before it is marked failed" },
	/* imports (issue 14) */
	{ .name = "import_rows_max", .kind = K_INT, FIELD(import_rows_max), .min = 1, .max = 100000000,
	  .reload = true,
	  .help = "data rows an import may have (the header not counted); more fail it with too_many_rows" },
	/* metrics (issue 15, h15metrics) */
	{ .name = "metrics_public", .kind = K_ONOFF, FIELD(metrics_public), .reload = true,
	  .env = "MSGD_METRICS_PUBLIC",
	  .help = "serve GET /metrics without a token (a scraper on a private network); off: the "
	    "platform permission" },
};

static const struct setting *
find_setting(const char *name)
{
	for (size_t k = 0; k < ARRAY_LEN(settings); k++)
		if (strcmp(settings[k].name, name) == 0)
			return &settings[k];
	return NULL;
}

static bool
is_string_kind(enum kind k)
{
	return k == K_LISTEN || k == K_PATH || k == K_LEVEL || k == K_ONOFF || k == K_ID;
}

/* An instance id: 1..max bytes, printable ASCII without spaces. */
static bool
id_valid(const char *v, size_t max)
{
	size_t n = strlen(v);

	if (n == 0 || n > max)
		return false;
	for (const char *p = v; *p; p++)
		if (*p <= ' ' || *p > '~')
			return false;
	return true;
}

/* Set a string-kind setting; msg gets the problem. */
static int
apply_string(struct config *c, const struct setting *def, const char *v, char *msg, size_t msglen)
{
	char *field = (char *)c + def->offset;

	switch (def->kind) {
	case K_LISTEN:
		if (config_parse_listen(v, NULL, 0, NULL) != 0) {
			snprintf(msg, msglen, "%s: '%s' is not ADDR:PORT (e.g. 127.0.0.1:8080 or [::1]:8080)",
			    def->name, v);
			return -1;
		}
		break;
	case K_PATH:
		if ((*v == '\0' && !def->empty_ok) || strlen(v) >= def->size) {
			snprintf(msg, msglen, "%s: must be a non-empty path under %zu bytes", def->name, def->size);
			return -1;
		}
		break;
	case K_ID:
		if (!id_valid(v, def->size - 1)) {
			snprintf(msg, msglen, "%s: must be 1 to %zu bytes of printable ASCII without spaces",
			    def->name, def->size - 1);
			return -1;
		}
		break;
	case K_INT: {
		/* From the environment or a flag: the file gives integers. */
		int64_t n;
		if (parse_i64(v, &n) != 0 || n < def->min || n > def->max) {
			snprintf(msg, msglen, "%s: '%s' must be an integer from %lld to %lld", def->name, v,
			    def->min, def->max);
			return -1;
		}
		*(int *)(void *)field = (int)n;
		return 0;
	}
	case K_ONOFF:
		if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) {
			snprintf(msg, msglen, "%s: '%s' is not on or off", def->name, v);
			return -1;
		}
		*(bool *)(void *)field = strcmp(v, "on") == 0;
		return 0;
	case K_LEVEL:
		if (log_level_parse(v, (enum log_level *)(void *)field) != 0) {
			snprintf(msg, msglen, "%s: '%s' is not one of debug, info, warn, error", def->name, v);
			return -1;
		}
		return 0;
	default:
		snprintf(msg, msglen, "%s: not a string setting", def->name);
		return -1;
	}
	snprintf(field, def->size, "%s", v);
	return 0;
}

static void
apply_int(struct config *c, const struct setting *def, long long v)
{
	char *field = (char *)c + def->offset;

	if (def->kind == K_SIZE)
		*(size_t *)(void *)field = (size_t)v;
	else
		*(int *)(void *)field = (int)v;
}

/* A setting's value as text, for change logs. */
static void
format_value(const struct config *c, const struct setting *def, char *out, size_t cap)
{
	const char *field = (const char *)c + def->offset;
	static const char *const levels[] = { "debug", "info", "warn", "error" };

	if (def->secret) {
		/* Whether it changed still shows: a digest, not the value. */
		unsigned h = 5381;
		for (const char *p = field; *p; p++)
			h = h * 33 + (unsigned char)*p;
		snprintf(out, cap, "(hidden %08x)", h);
		return;
	}
	switch (def->kind) {
	case K_LISTEN:
	case K_PATH:
	case K_ID:
		snprintf(out, cap, "%s", field);
		break;
	case K_LEVEL: {
		enum log_level l = *(const enum log_level *)(const void *)field;
		snprintf(out, cap, "%s", (unsigned)l < ARRAY_LEN(levels) ? levels[l] : "?");
		break;
	}
	case K_INT:
		snprintf(out, cap, "%d", *(const int *)(const void *)field);
		break;
	case K_ONOFF:
		snprintf(out, cap, "%s", *(const bool *)(const void *)field ? "on" : "off");
		break;
	case K_BOOL: {
		int b = *(const int *)(const void *)field;
		snprintf(out, cap, "%s", b < 0 ? "default" : b ? "true" : "false");
		break;
	}
	case K_SIZE:
		snprintf(out, cap, "%zu", *(const size_t *)(const void *)field);
		break;
	}
}

int
config_set(struct config *c, const char *name, const char *value, char err[CONFIG_ERR_MAX])
{
	const struct setting *def = find_setting(name);
	char msg[384];

	if (def == NULL || (!is_string_kind(def->kind) && def->kind != K_INT)) {
		snprintf(err, CONFIG_ERR_MAX, "unknown setting '%s'", name);
		return -1;
	}
	if (apply_string(c, def, value, msg, sizeof(msg)) != 0) {
		snprintf(err, CONFIG_ERR_MAX, "%s", msg);
		return -1;
	}
	return 0;
}

/* Apply the settings of a parsed file (path: its name in messages). */
static int
load_settings(struct config *c, config_t *pcf, const char *path, char err[CONFIG_ERR_MAX])
{
	config_setting_t *root;
	char msg[384];

	root = config_root_setting(pcf);
	for (int i = 0; i < config_setting_length(root); i++) {
		config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		const char *name = config_setting_name(s);
		int line = (int)config_setting_source_line(s);
		const struct setting *def = find_setting(name);

		if (def == NULL) {
			snprintf(err, CONFIG_ERR_MAX, "%s:%d: unknown setting '%s'", path, line, name);
			return -1;
		}
		if (def->kind == K_BOOL) {
			if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
				snprintf(err, CONFIG_ERR_MAX, "%s:%d: '%s' must be true or false (%s)", path,
				    line, name, def->help);
				return -1;
			}
			*(int *)(void *)((char *)c + def->offset) = config_setting_get_bool(s) ? 1 : 0;
		} else if (is_string_kind(def->kind)) {
			if (config_setting_type(s) != CONFIG_TYPE_STRING) {
				snprintf(err, CONFIG_ERR_MAX, "%s:%d: '%s' must be a string (%s)", path,
				    line, name, def->help);
				return -1;
			}
			if (apply_string(c, def, config_setting_get_string(s), msg, sizeof(msg)) != 0) {
				snprintf(err, CONFIG_ERR_MAX, "%s:%d: %s", path, line, msg);
				return -1;
			}
		} else {
			int t = config_setting_type(s);
			long long v;
			if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
				snprintf(err, CONFIG_ERR_MAX, "%s:%d: '%s' must be an integer (%s)", path,
				    line, name, def->help);
				return -1;
			}
			v = config_setting_get_int64(s);
			if (v < def->min || v > def->max) {
				snprintf(err, CONFIG_ERR_MAX, "%s:%d: '%s' must be from %lld to %lld", path,
				    line, name, def->min, def->max);
				return -1;
			}
			apply_int(c, def, v);
		}
	}
	return 0;
}

/* Why libconfig could not read the file. */
static void
read_error(config_t *cf, const char *path, char err[CONFIG_ERR_MAX])
{
	if (config_error_type(cf) == CONFIG_ERR_FILE_IO)
		snprintf(err, CONFIG_ERR_MAX, "%s: cannot read the file", path);
	else
		snprintf(err, CONFIG_ERR_MAX, "%s:%d: %s", path, config_error_line(cf),
		    config_error_text(cf));
}

int
config_load_file(struct config *c, const char *path, char err[CONFIG_ERR_MAX])
{
	config_t cf;
	int rc = -1;

	config_init(&cf);
	if (config_read_file(&cf, path) != CONFIG_TRUE) {
		read_error(&cf, path, err);
		goto out;
	}
	if (load_settings(c, &cf, path, err) != 0)
		goto out;
	snprintf(c->config_path, sizeof(c->config_path), "%s", path);
	rc = 0;
out:
	config_destroy(&cf);
	return rc;
}

int
config_load_string(struct config *c, const char *text, const char *name, char err[CONFIG_ERR_MAX])
{
	config_t cf;
	int rc = -1;

	config_init(&cf);
	if (config_read_string(&cf, text) != CONFIG_TRUE)
		read_error(&cf, name, err);
	else
		rc = load_settings(c, &cf, name, err);
	config_destroy(&cf);
	return rc;
}

int
config_apply_env(struct config *c, char err[CONFIG_ERR_MAX])
{
	char msg[384];

	for (size_t i = 0; i < ARRAY_LEN(settings); i++) {
		const struct setting *def = &settings[i];
		const char *v = def->env ? getenv(def->env) : NULL;
		if (v == NULL || *v == '\0')
			continue;
		if (apply_string(c, def, v, msg, sizeof(msg)) != 0) {
			snprintf(err, CONFIG_ERR_MAX, "%s: %s", def->env, msg);
			return -1;
		}
	}
	return 0;
}

int
config_build(struct config *c, const struct config_args *a, char err[CONFIG_ERR_MAX])
{
	config_defaults(c);
	if (a->file && *a->file && config_load_file(c, a->file, err) != 0)
		return -1;
	if (config_apply_env(c, err) != 0 ||
	    (a->listen && config_set(c, "listen", a->listen, err) != 0) ||
	    (a->data && config_set(c, "data", a->data, err) != 0) ||
	    (a->database && config_set(c, "database", a->database, err) != 0) ||
	    (a->log_file && config_set(c, "log_file", a->log_file, err) != 0) ||
	    (a->instance_id && config_set(c, "instance_id", a->instance_id, err) != 0) ||
	    (a->outbox_lease_ms && config_set(c, "outbox_lease_ms", a->outbox_lease_ms, err) != 0) ||
	    (a->dispatch_lease_ms && config_set(c, "dispatch_lease_ms", a->dispatch_lease_ms, err) != 0))
		return -1;
	if (c->database[0] != '\0' && strcmp(c->database, "sqlite:") != 0 &&
	    strncmp(c->database, "postgres://", 11) != 0 && strncmp(c->database, "postgresql://", 13) != 0) {
		snprintf(err, CONFIG_ERR_MAX, "database: must be sqlite: or postgres://USER@HOST:PORT/DB");
		return -1;
	}
	return 0;
}

void
config_diff(const struct config *a, const struct config *b, config_change_fn changed, void *arg)
{
	char va[CONFIG_PATH_MAX], vb[CONFIG_PATH_MAX];

	for (size_t i = 0; i < ARRAY_LEN(settings); i++) {
		format_value(a, &settings[i], va, sizeof(va));
		format_value(b, &settings[i], vb, sizeof(vb));
		if (strcmp(va, vb) != 0)
			changed(arg, settings[i].name, va, vb, settings[i].reload);
	}
}
