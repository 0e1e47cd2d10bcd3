/* config.c - defaults, a libconfig file with line-numbered errors, env. */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "../util/util.h"

void
config_defaults(struct config *c)
{
	*c = (struct config){
		.body_limit = 1024 * 1024,
		.idle_timeout = 60,
		.header_timeout = 10,
		.max_connections = 16384,
		.shutdown_timeout = 10,
		.batch_max = 1000,
		.log_level = LOGL_INFO,
		.credential_checks = true,
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

enum kind { K_STRING, K_INT };

struct setting {
	const char *name;
	enum kind kind;
	long long min, max;
	const char *help;
};

static const struct setting settings[] = {
	{ "listen", K_STRING, 0, 0, "ADDR:PORT to listen on" },
	{ "data", K_STRING, 0, 0, "data directory" },
	{ "body_limit", K_INT, 1024, 64LL * 1024 * 1024, "maximum request body in bytes" },
	{ "idle_timeout", K_INT, 1, 3600, "seconds an idle connection is kept" },
	{ "header_timeout", K_INT, 1, 600, "seconds to receive request headers" },
	{ "max_connections", K_INT, 16, 1000000, "maximum open connections" },
	{ "shutdown_timeout", K_INT, 1, 600, "seconds to finish work on SIGTERM" },
	{ "log_level", K_STRING, 0, 0, "debug, info, warn or error" },
	{ "batch_max", K_INT, 1, 100000, "messages in one batch send request" },
	{ "credential_checks", K_STRING, 0, 0, "on or off: check a channel's credentials when it is created or changed" },
};

static int
apply_string(struct config *c, const char *name, const char *v, char *msg, size_t msglen)
{
	if (strcmp(name, "listen") == 0) {
		if (config_parse_listen(v, NULL, 0, NULL) != 0) {
			snprintf(msg, msglen, "listen: '%s' is not ADDR:PORT (e.g. 127.0.0.1:8080 or [::1]:8080)", v);
			return -1;
		}
		snprintf(c->listen, sizeof(c->listen), "%s", v);
	} else if (strcmp(name, "data") == 0) {
		if (*v == '\0' || strlen(v) >= sizeof(c->data_dir)) {
			snprintf(msg, msglen, "data: must be a non-empty path");
			return -1;
		}
		snprintf(c->data_dir, sizeof(c->data_dir), "%s", v);
	} else if (strcmp(name, "credential_checks") == 0) {
		if (strcmp(v, "on") == 0) {
			c->credential_checks = true;
		} else if (strcmp(v, "off") == 0) {
			c->credential_checks = false;
		} else {
			snprintf(msg, msglen, "credential_checks: '%s' is not on or off", v);
			return -1;
		}
	} else if (strcmp(name, "log_level") == 0) {
		if (log_level_parse(v, &c->log_level) != 0) {
			snprintf(msg, msglen, "log_level: '%s' is not one of debug, info, warn, error", v);
			return -1;
		}
	}
	return 0;
}

static void
apply_int(struct config *c, const char *name, long long v)
{
	if (strcmp(name, "body_limit") == 0)
		c->body_limit = (size_t)v;
	else if (strcmp(name, "idle_timeout") == 0)
		c->idle_timeout = (int)v;
	else if (strcmp(name, "header_timeout") == 0)
		c->header_timeout = (int)v;
	else if (strcmp(name, "max_connections") == 0)
		c->max_connections = (int)v;
	else if (strcmp(name, "shutdown_timeout") == 0)
		c->shutdown_timeout = (int)v;
	else if (strcmp(name, "batch_max") == 0)
		c->batch_max = (int)v;
}

int
config_set(struct config *c, const char *name, const char *value, char err[CONFIG_ERR_MAX])
{
	char msg[384];
	if (apply_string(c, name, value, msg, sizeof(msg)) != 0) {
		snprintf(err, CONFIG_ERR_MAX, "%s", msg);
		return -1;
	}
	return 0;
}

int
config_load_file(struct config *c, const char *path, char err[CONFIG_ERR_MAX])
{
	config_t cf;
	config_setting_t *root;
	char msg[384];
	int rc = -1;

	config_init(&cf);
	if (config_read_file(&cf, path) != CONFIG_TRUE) {
		if (config_error_type(&cf) == CONFIG_ERR_FILE_IO)
			snprintf(err, CONFIG_ERR_MAX, "%s: cannot read the file", path);
		else
			snprintf(err, CONFIG_ERR_MAX, "%s:%d: %s", path, config_error_line(&cf),
			    config_error_text(&cf));
		goto out;
	}
	root = config_root_setting(&cf);
	for (int i = 0; i < config_setting_length(root); i++) {
		config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		const char *name = config_setting_name(s);
		int line = (int)config_setting_source_line(s);
		const struct setting *def = NULL;

		for (size_t k = 0; k < ARRAY_LEN(settings); k++)
			if (strcmp(settings[k].name, name) == 0)
				def = &settings[k];
		if (def == NULL) {
			snprintf(err, CONFIG_ERR_MAX, "%s:%d: unknown setting '%s'", path, line, name);
			goto out;
		}
		if (def->kind == K_STRING) {
			if (config_setting_type(s) != CONFIG_TYPE_STRING) {
				snprintf(err, CONFIG_ERR_MAX, "%s:%d: '%s' must be a string (%s)", path,
				    line, name, def->help);
				goto out;
			}
			if (apply_string(c, name, config_setting_get_string(s), msg, sizeof(msg)) != 0) {
				snprintf(err, CONFIG_ERR_MAX, "%s:%d: %s", path, line, msg);
				goto out;
			}
		} else {
			int t = config_setting_type(s);
			long long v;
			if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
				snprintf(err, CONFIG_ERR_MAX, "%s:%d: '%s' must be an integer (%s)", path,
				    line, name, def->help);
				goto out;
			}
			v = config_setting_get_int64(s);
			if (v < def->min || v > def->max) {
				snprintf(err, CONFIG_ERR_MAX, "%s:%d: '%s' must be from %lld to %lld", path,
				    line, name, def->min, def->max);
				goto out;
			}
			apply_int(c, name, v);
		}
	}
	snprintf(c->config_path, sizeof(c->config_path), "%s", path);
	rc = 0;
out:
	config_destroy(&cf);
	return rc;
}

int
config_apply_env(struct config *c, char err[CONFIG_ERR_MAX])
{
	static const struct { const char *env, *name; } envs[] = {
		{ "MSGD_LISTEN", "listen" },
		{ "MSGD_DATA", "data" },
		{ "MSGD_LOG_LEVEL", "log_level" },
		{ "MSGD_CREDENTIAL_CHECKS", "credential_checks" },
	};
	char msg[384];

	for (size_t i = 0; i < ARRAY_LEN(envs); i++) {
		const char *v = getenv(envs[i].env);
		if (v == NULL || *v == '\0')
			continue;
		if (apply_string(c, envs[i].name, v, msg, sizeof(msg)) != 0) {
			snprintf(err, CONFIG_ERR_MAX, "%s: %s", envs[i].env, msg);
			return -1;
		}
	}
	return 0;
}
