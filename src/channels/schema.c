/*
 * schema.c - contract v2's declarations put to use: a type's config schema
 * checks a config (cfg_check_schema) and, with its capabilities, describes
 * the type for GET /v1/channel-types (channel_type_describe).
 */
#include "channel.h"

#include <stdio.h>
#include <string.h>

#include "../util/util.h"

#define CFG_STRING_MAX_DEFAULT 1024

static void
key_err(struct channel_error *err, const char *key, const char *fmt, const char *arg)
{
	snprintf(err->field, sizeof(err->field), "config.%s", key);
	snprintf(err->message, sizeof(err->message), fmt, key, arg ? arg : "");
}

static const struct config_key *
schema_find(const struct config_key *schema, const char *name)
{
	for (const struct config_key *k = schema; k && k->name; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

/* http:// or https://, then a host: the rest is the provider's business. */
static bool
is_url(const char *s)
{
	const char *host = strncmp(s, "https://", 8) == 0 ? s + 8 :
	    strncmp(s, "http://", 7) == 0 ? s + 7 : NULL;
	return host && *host && *host != '/' && !strpbrk(s, " \t\r\n");
}

static int
check_one(const struct config_key *k, const json_t *v, struct channel_error *err)
{
	size_t max = k->max_len ? k->max_len : CFG_STRING_MAX_DEFAULT;

	switch (k->kind) {
	case CFG_STRING:
	case CFG_URL:
	case CFG_ENUM:
		if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max ||
		    memchr(json_string_value(v), '\0', json_string_length(v))) {
			char cap[48];
			snprintf(cap, sizeof(cap), " of at most %zu bytes", max);
			key_err(err, k->name, "'%s' must be a non-empty string%s", cap);
			return -1;
		}
		break;
	case CFG_BOOL:
		if (!json_is_boolean(v)) {
			key_err(err, k->name, "'%s' must be true or false%s", NULL);
			return -1;
		}
		return 0;
	case CFG_INT:
		if (!json_is_integer(v) || json_integer_value(v) < k->min || json_integer_value(v) > k->max) {
			char range[64];
			snprintf(range, sizeof(range), " from %lld to %lld", (long long)k->min,
			    (long long)k->max);
			key_err(err, k->name, "'%s' must be an integer%s", range);
			return -1;
		}
		return 0;
	}
	if (k->kind == CFG_URL && !is_url(json_string_value(v))) {
		key_err(err, k->name, "'%s' must be an http:// or https:// URL%s", NULL);
		return -1;
	}
	if (k->kind == CFG_ENUM) {
		for (const char *const *w = k->values; w && *w; w++)
			if (strcmp(*w, json_string_value(v)) == 0)
				return 0;
		char words[128] = "";
		for (const char *const *w = k->values; w && *w; w++)
			snprintf(words + strlen(words), sizeof(words) - strlen(words), "%s%s",
			    w == k->values ? "" : ", ", *w);
		key_err(err, k->name, "'%s' must be one of: %s", words);
		return -1;
	}
	return 0;
}

int
cfg_check_schema(const struct config_key *schema, const json_t *cfg, struct channel_error *err)
{
	const char *name;
	json_t *v;

	if (!json_is_object(cfg)) {
		snprintf(err->field, sizeof(err->field), "config");
		snprintf(err->message, sizeof(err->message), "config must be an object");
		return -1;
	}
	if (cfg_check_send_settings(cfg, err) != 0)
		return -1;
	json_object_foreach((json_t *)cfg, name, v) {
		const struct config_key *k = schema_find(schema, name);
		if (k == NULL) {
			if (channel_is_send_setting(name))
				continue;
			key_err(err, name, "unknown config field '%s'%s", NULL);
			return -1;
		}
		if (json_is_null(v) && !k->required)
			continue;
		if (check_one(k, v, err) != 0)
			return -1;
	}
	for (const struct config_key *k = schema; k && k->name; k++) {
		v = json_object_get(cfg, k->name);
		if (k->required && (v == NULL || json_is_null(v))) {
			key_err(err, k->name, "'%s' is required%s", NULL);
			return -1;
		}
	}
	return 0;
}

bool
channel_is_secret_key(const struct channel_ops *ops, const char *key)
{
	const struct config_key *k = schema_find(ops->schema, key);

	return k && k->secret;
}

static json_t *
words(const char *const *w)
{
	json_t *a = json_array();
	for (; w && *w; w++)
		json_array_append_new(a, json_string(*w));
	return a;
}

static const char *const kind_names[] = {
	[CFG_STRING] = "string",
	[CFG_BOOL] = "boolean",
	[CFG_INT] = "integer",
	[CFG_ENUM] = "enum",
	[CFG_URL] = "url",
};

json_t *
channel_caps_json(const struct channel_ops *ops)
{
	const struct channel_caps *c = ops->caps;
	json_t *media = json_array(), *caps;

	for (const struct media_limit *m = c ? c->media : NULL; m && m->kind; m++)
		json_array_append_new(media, json_pack("{s:s,s:I}", "kind", m->kind,
		    "max_bytes", (json_int_t)m->max_bytes));
	caps = json_pack("{s:o,s:o,s:o,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:o,s:I}",
	    "send_types", words(c ? c->send_types : NULL),
	    "receive_types", words(c ? c->receive_types : NULL),
	    "media", media,
	    "templates", c && c->templates,
	    "interactive", c && c->interactive,
	    "reactions", c && c->reactions,
	    "edits", c && c->edits,
	    "deletes", c && c->deletes,
	    "read_receipts", c && c->read_receipts,
	    "typing", c && c->typing,
	    "groups", c && c->groups,
	    "replies", c && c->replies,
	    "pairing", c && c->pairing,
	    "window_hours", c && c->window_hours ? json_integer(c->window_hours) : json_null(),
	    "max_text_length", (json_int_t)(c ? c->max_text_len : 0));
	json_object_set_new(caps, "send_options", words(c ? c->send_options : NULL));
	return caps;
}

json_t *
channel_type_describe(const struct channel_ops *ops)
{
	json_t *cfg = json_array();

	for (const struct config_key *k = ops->schema; k && k->name; k++) {
		json_t *o = json_pack("{s:s,s:s,s:b,s:b}", "name", k->name,
		    "type", (size_t)k->kind < ARRAY_LEN(kind_names) && kind_names[k->kind] ?
		    kind_names[k->kind] : "string", "required", k->required, "secret", k->secret);
		if (k->kind == CFG_ENUM)
			json_object_set_new(o, "values", words(k->values));
		if (k->kind == CFG_INT) {
			json_object_set_new(o, "min", json_integer(k->min));
			json_object_set_new(o, "max", json_integer(k->max));
		}
		if (k->description)
			json_object_set_new(o, "description", json_string(k->description));
		json_array_append_new(cfg, o);
	}
	return json_pack("{s:s,s:o,s:o,s:b,s:b}", "type", ops->type, "config", cfg,
	    "capabilities", channel_caps_json(ops),
	    "webhook", ops->webhook_path != NULL || ops->channel_webhook != NULL,
	    "actions", ops->connect != NULL);
}

bool
channel_can_send_type(const struct channel_ops *ops, const char *type)
{
	for (const char *const *t = ops->caps ? ops->caps->send_types : NULL; t && *t; t++)
		if (strcmp(*t, type) == 0)
			return true;
	return false;
}

const struct media_limit *
channel_media_limit(const struct channel_ops *ops, const char *kind)
{
	for (const struct media_limit *m = ops->caps ? ops->caps->media : NULL; m && m->kind; m++)
		if (strcmp(m->kind, kind) == 0)
			return m;
	return NULL;
}
