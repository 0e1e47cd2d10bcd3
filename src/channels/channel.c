/* channel.c - the channel type table, the registry and config checks. */
#include "channel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/util.h"
#include "host.h"

const struct channel_ops *const channel_types[] = {
	&whatsapp_cloud_ops,
	&sandbox_ops,
	&telegram_ops,
	&evolution_ops,
	NULL,
};

const struct channel_ops *
channel_type_find(const char *type)
{
	for (size_t i = 0; channel_types[i]; i++)
		if (strcmp(channel_types[i]->type, type) == 0)
			return channel_types[i];
	return NULL;
}

const struct channel_ops *
channel_type_by_webhook_path(const char *path)
{
	for (size_t i = 0; channel_types[i]; i++)
		if (channel_types[i]->webhook_path && strcmp(channel_types[i]->webhook_path, path) == 0)
			return channel_types[i];
	return NULL;
}

struct channel_registry {
	struct channel **v;
	size_t n, cap;
	struct channel_host *host;
};

void
registry_set_host(struct channel_registry *reg, struct channel_host *host)
{
	reg->host = host;
	for (size_t i = 0; i < reg->n; i++)
		reg->v[i]->host = host;
}

struct channel_registry *
registry_new(void)
{
	return xcalloc(1, sizeof(struct channel_registry));
}

void
registry_free(struct channel_registry *reg)
{
	if (reg == NULL)
		return;
	for (size_t i = 0; i < reg->n; i++)
		channel_free(reg->v[i]);
	free(reg->v);
	free(reg);
}

int
registry_add(struct channel_registry *reg, struct channel *ch)
{
	ch->host = reg->host;
	ch->serial = channel_host_serial();
	if (ch->ops->open(ch) != 0) {
		channel_free(ch);
		return -1;
	}
	if (reg->n == reg->cap) {
		reg->cap = reg->cap ? reg->cap * 2 : 8;
		reg->v = xrealloc(reg->v, reg->cap * sizeof(*reg->v));
	}
	reg->v[reg->n++] = ch;
	return 0;
}

void
registry_remove(struct channel_registry *reg, int64_t id)
{
	for (size_t i = 0; i < reg->n; i++) {
		if (reg->v[i]->id == id) {
			channel_free(reg->v[i]);
			memmove(&reg->v[i], &reg->v[i + 1], (reg->n - i - 1) * sizeof(*reg->v));
			reg->n--;
			return;
		}
	}
}

const char *
channel_route_value(const struct channel_ops *ops, const json_t *config)
{
	return ops->route_key ? json_string_value(json_object_get(config, ops->route_key)) : NULL;
}

struct channel *
registry_find_route(struct channel_registry *reg, const struct channel_ops *ops, const char *value,
    int64_t except_id)
{
	for (size_t i = 0; value && i < reg->n; i++) {
		struct channel *c = reg->v[i];
		const char *v = c->ops == ops ? channel_route_value(ops, c->config) : NULL;
		if (c->id != except_id && v && strcmp(v, value) == 0)
			return c;
	}
	return NULL;
}

struct channel *
registry_find_name(struct channel_registry *reg, int64_t org_id, const char *name)
{
	for (size_t i = 0; i < reg->n; i++)
		if (reg->v[i]->org_id == org_id && strcmp(reg->v[i]->name, name) == 0)
			return reg->v[i];
	return NULL;
}

struct channel *
registry_find_id(struct channel_registry *reg, int64_t id)
{
	for (size_t i = 0; i < reg->n; i++)
		if (reg->v[i]->id == id)
			return reg->v[i];
	return NULL;
}

size_t
registry_count(struct channel_registry *reg)
{
	return reg->n;
}

struct channel *
registry_at(struct channel_registry *reg, size_t i)
{
	return i < reg->n ? reg->v[i] : NULL;
}

struct channel *
channel_new(int64_t id, const char *name, const struct channel_ops *ops, json_t *config,
    int64_t created_at, int64_t updated_at)
{
	struct channel *ch = xcalloc(1, sizeof(*ch));
	*ch = (struct channel){
		.id = id,
		.org_id = CHANNEL_ORG_DEFAULT,
		.name = xstrdup(name),
		.ops = ops,
		.config = json_incref(config),
		.created_at = created_at,
		.updated_at = updated_at,
	};
	return ch;
}

void
channel_free(struct channel *ch)
{
	if (ch == NULL)
		return;
	if (ch->state)
		ch->ops->close(ch);
	channel_host_forget(ch->host, ch);  /* the timers close() left */
	free(ch->conn_reason);
	json_decref(ch->config);
	free(ch->name);
	free(ch);
}

void
send_request_free(struct send_request *r)
{
	free(r->method);
	free(r->url);
	free(r->body);
	for (size_t i = 0; i < r->nheaders; i++)
		free(r->headers[i]);
	for (size_t i = 0; i < r->nparts; i++) {
		free(r->parts[i].name);
		free(r->parts[i].value);
		free(r->parts[i].path);
		free(r->parts[i].filename);
		free(r->parts[i].type);
	}
	*r = (struct send_request){ 0 };
}

int
send_request_part(struct send_request *r, const char *name, const char *value, const char *path,
    const char *filename, const char *type)
{
	struct send_part *p;

	if (r->nparts >= SEND_PARTS_MAX || name == NULL || (value == NULL) == (path == NULL))
		return -1;
	p = &r->parts[r->nparts++];
	*p = (struct send_part){
		.name = xstrdup(name),
		.value = value ? xstrdup(value) : NULL,
		.path = path ? xstrdup(path) : NULL,
		.filename = filename ? xstrdup(filename) : NULL,
		.type = type ? xstrdup(type) : NULL,
	};
	return 0;
}

const char *
send_outcome_name(enum send_outcome_kind k)
{
	static const char *const names[] = {
		[SEND_OK] = "ok",
		[SEND_TEMPFAIL] = "tempfail",
		[SEND_THROTTLED] = "throttled",
		[SEND_RECIPIENT_THROTTLED] = "recipient_throttled",
		[SEND_PERMFAIL] = "permfail",
		[SEND_CREDENTIALS] = "credentials",
		[SEND_BLOCKED] = "blocked",
		[SEND_RECIPIENT_BLOCKED] = "recipient_blocked",
		[SEND_RECIPIENT_INVALID] = "recipient_invalid",
	};
	return (size_t)k < ARRAY_LEN(names) ? names[k] : "unknown";
}

const char *
check_state_name(enum check_state s)
{
	static const char *const names[] = {
		[CHECK_OK] = "ok",
		[CHECK_INVALID_CREDENTIALS] = "invalid_credentials",
		[CHECK_UNREACHABLE] = "unreachable",
		[CHECK_ERROR] = "error",
	};
	return (size_t)s < ARRAY_LEN(names) ? names[s] : "unknown";
}

static void
set_err(struct channel_error *err, const char *field, const char *msg)
{
	snprintf(err->field, sizeof(err->field), "%s", field);
	snprintf(err->message, sizeof(err->message), "%s", msg);
}

int
channel_validate_name(const char *name, struct channel_error *err)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > 64) {
		set_err(err, "name", "name must be 1 to 64 characters");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.')) {
			set_err(err, "name", "name may contain only letters, digits, '-', '_' and '.'");
			return -1;
		}
	}
	return 0;
}

json_t *
channel_public_config(const struct channel *ch)
{
	json_t *pub = json_deep_copy(ch->config);
	const char *key;
	json_t *v;
	void *tmp;

	json_object_foreach_safe(pub, tmp, key, v)
		if (channel_is_secret_key(ch->ops, key))
			json_object_set_new(pub, key, json_string("********"));
	return pub;
}

static void
field_err(struct channel_error *err, const char *key, const char *fmt)
{
	char field[64];
	char msg[256];
	snprintf(field, sizeof(field), "config.%s", key);
	snprintf(msg, sizeof(msg), fmt, key);
	set_err(err, field, msg);
}

static const struct {
	const char *key;
	int64_t min, max, def;
} send_settings[] = {
	{ .key = "rate_per_second", .min = 0, .max = 10000, .def = 80 },
	{ .key = "recipient_gap_ms", .min = 0, .max = 86400000, .def = 0 },
	/* Between two sends to one group chat (channel_ops.is_group); 0: recipient_gap_ms. */
	{ .key = "group_gap_ms", .min = 0, .max = 86400000, .def = 0 },
	{ .key = "max_attempts", .min = 1, .max = 100, .def = 10 },
	{ .key = "max_age_s", .min = 60, .max = 30 * 86400, .def = 86400 },
	{ .key = "breaker_threshold", .min = 1, .max = 1000, .def = 10 },
	{ .key = "breaker_cooldown_s", .min = 1, .max = 86400, .def = 30 },
	{ .key = "request_timeout_ms", .min = 100, .max = 120000, .def = 15000 },
	/* Sending quotas of the channel as a whole (0: none); the
	 * organization's apply too (src/quota/quota.h). */
	{ .key = "quota_per_minute", .min = 0, .max = 100000000, .def = 0 },
	{ .key = "quota_per_hour", .min = 0, .max = 100000000, .def = 0 },
	{ .key = "quota_per_day", .min = 0, .max = 100000000, .def = 0 },
};

int
cfg_check_send_settings(const json_t *cfg, struct channel_error *err)
{
	for (size_t i = 0; i < ARRAY_LEN(send_settings); i++)
		if (cfg_optional_int(cfg, send_settings[i].key, send_settings[i].min,
		    send_settings[i].max, err) != 0)
			return -1;
	return 0;
}

bool
channel_is_send_setting(const char *key)
{
	for (size_t i = 0; i < ARRAY_LEN(send_settings); i++)
		if (strcmp(send_settings[i].key, key) == 0)
			return true;
	return false;
}

/* The type's own default for a sending setting (channel_caps.pacing), or 0. */
static int64_t
type_default(const struct channel_ops *ops, const char *key)
{
	const struct send_defaults *p = ops->caps ? &ops->caps->pacing : NULL;

	if (p == NULL)
		return 0;
	if (strcmp(key, "rate_per_second") == 0)
		return p->rate_per_second;
	if (strcmp(key, "recipient_gap_ms") == 0)
		return p->recipient_gap_ms;
	if (strcmp(key, "group_gap_ms") == 0)
		return p->group_gap_ms;
	return 0;
}

int64_t
channel_send_setting(const struct channel *ch, const char *key)
{
	for (size_t i = 0; i < ARRAY_LEN(send_settings); i++) {
		if (strcmp(send_settings[i].key, key) == 0) {
			json_t *v = json_object_get(ch->config, key);
			int64_t d = type_default(ch->ops, key);
			return json_is_integer(v) ? json_integer_value(v) : d ? d : send_settings[i].def;
		}
	}
	abort();  /* a key not in the table is a programming error */
}

static int
check_string(const json_t *v, const char *key, size_t maxlen, struct channel_error *err)
{
	if (!json_is_string(v)) {
		field_err(err, key, "'%s' must be a string");
		return -1;
	}
	size_t n = json_string_length(v);
	if (n == 0 || n > maxlen || memchr(json_string_value(v), '\0', n)) {
		field_err(err, key, "'%s' must be a non-empty string of reasonable length");
		return -1;
	}
	return 0;
}

int
cfg_require_string(const json_t *cfg, const char *key, size_t maxlen, struct channel_error *err)
{
	json_t *v = json_object_get(cfg, key);
	if (v == NULL || json_is_null(v)) {
		field_err(err, key, "'%s' is required");
		return -1;
	}
	return check_string(v, key, maxlen, err);
}

int
cfg_optional_string(const json_t *cfg, const char *key, size_t maxlen, struct channel_error *err)
{
	json_t *v = json_object_get(cfg, key);
	return v == NULL ? 0 : check_string(v, key, maxlen, err);
}

int
cfg_optional_int(const json_t *cfg, const char *key, int64_t min, int64_t max,
    struct channel_error *err)
{
	json_t *v = json_object_get(cfg, key);
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		char msg[128];
		snprintf(msg, sizeof(msg), "'%%s' must be an integer from %lld to %lld",
		    (long long)min, (long long)max);
		field_err(err, key, msg);
		return -1;
	}
	return 0;
}

const json_t *
channel_reply_id(const json_t *msg)
{
	const json_t *r = json_object_get(msg, "reply_to");
	const char *s;

	if (json_is_object(r))
		r = json_object_get(r, "provider_message_id");
	s = json_cstr(r);
	return s && *s ? r : NULL;
}
