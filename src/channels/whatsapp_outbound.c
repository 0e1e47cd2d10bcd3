/*
 * whatsapp_outbound.c - the WhatsApp Cloud adapter's outbound bodies: one
 * msgd message (the stored document: type, to, the type's part, reply_to)
 * becomes the JSON of POST /{phone-number-id}/messages, one builder per
 * type, as the golden bodies in shared/corpus/whatsapp_cloud/outbound/
 * show them. Nothing here knows the channel's config or does HTTP:
 * whatsapp_cloud.c adds the URL and the token.
 */
#include "whatsapp_cloud.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../util/util.h"

static bool
is_nonempty(const json_t *v)
{
	return json_is_string(v) && json_string_length(v) > 0;
}

static void
put(json_t *o, const char *key, const json_t *v)
{
	json_object_set_new(o, key, json_deep_copy(v));
}

/* Each builder returns the object sent under the type's key, or NULL with err set. */

static json_t *
out_text(const json_t *msg, const char *type, struct channel_error *err)
{
	const json_t *text = get(msg, "text");
	json_t *o;

	if (!is_nonempty(text)) {
		norm_err(err, "text", "'text' must be a non-empty string");
		return NULL;
	}
	o = json_object();
	put(o, "body", text);
	json_object_set_new(o, "preview_url", json_boolean(json_is_true(get(msg, "preview_url"))));
	return o;
}

static json_t *
out_media(const json_t *msg, const char *type, struct channel_error *err)
{
	const json_t *m = get(msg, "media"), *caption = get(m, "caption");
	bool captioned = strcmp(type, "image") == 0 || strcmp(type, "video") == 0 ||
	    strcmp(type, "document") == 0;
	json_t *o;

	if (!json_is_object(m)) {
		norm_err(err, "media", "'media' must be an object with 'url' or 'id'");
		return NULL;
	}
	/* An uploaded media id wins over a link when both are given; a stored
	 * file (file_id) goes by the id its upload gave (whatsapp_media.c). */
	o = json_object();
	if (is_nonempty(get(m, "provider_media_id"))) {
		put(o, "id", get(m, "provider_media_id"));
	} else if (is_nonempty(get(m, "file_id"))) {
		json_decref(o);
		norm_err(err, "media.file_id", "a stored file is sent once it was uploaded");
		return NULL;
	} else if (is_nonempty(get(m, "id"))) {
		put(o, "id", get(m, "id"));
	} else if (is_nonempty(get(m, "url"))) {
		put(o, "link", get(m, "url"));
	} else {
		json_decref(o);
		norm_err(err, "media.url", "'media' needs a non-empty 'url' or 'id'");
		return NULL;
	}
	/* Audio and stickers cannot carry a caption: the text is dropped there. */
	if (!is_nonempty(caption))
		caption = get(msg, "text");
	if (captioned && is_nonempty(caption))
		put(o, "caption", caption);
	if (strcmp(type, "document") == 0 && is_nonempty(get(m, "filename")))
		put(o, "filename", get(m, "filename"));
	return o;
}

static json_t *
out_location(const json_t *msg, const char *type, struct channel_error *err)
{
	const json_t *l = get(msg, "location");
	const json_t *lat = get(l, "latitude"), *lon = get(l, "longitude");
	json_t *o;

	if (!json_is_object(l)) {
		norm_err(err, "location", "'location' must be an object");
		return NULL;
	}
	if (!json_is_number(lat) || json_number_value(lat) < -90 || json_number_value(lat) > 90) {
		norm_err(err, "location.latitude", "'latitude' must be a number from -90 to 90");
		return NULL;
	}
	if (!json_is_number(lon) || json_number_value(lon) < -180 || json_number_value(lon) > 180) {
		norm_err(err, "location.longitude",
		    "'longitude' must be a number from -180 to 180");
		return NULL;
	}
	o = json_object();
	put(o, "latitude", lat);
	put(o, "longitude", lon);
	if (is_nonempty(get(l, "name")))
		put(o, "name", get(l, "name"));
	if (is_nonempty(get(l, "address")))
		put(o, "address", get(l, "address"));
	return o;
}

/* A template variable as parameter text: strings as they are, numbers written out. */
static json_t *
variable_text(const json_t *v)
{
	if (json_is_string(v))
		return json_deep_copy(v);
	if (json_is_integer(v))
		return json_sprintf("%lld", (long long)json_integer_value(v));
	if (json_is_real(v)) {
		char *s = json_dumps(v, JSON_ENCODE_ANY);
		json_t *t = s ? json_string(s) : NULL;
		free(s);
		return t;
	}
	return NULL;
}

/* variables as one body component: an array fills {{1}}.., an object named parameters. */
static json_t *
variables_component(const json_t *vars, struct channel_error *err)
{
	json_t *params = json_array(), *p, *t;
	const json_t *v;
	const char *key;
	size_t i;

	if (json_is_array(vars)) {
		json_array_foreach(vars, i, v) {
			if ((t = variable_text(v)) == NULL)
				goto bad;
			p = json_object();
			json_object_set_new(p, "type", json_string("text"));
			json_object_set_new(p, "text", t);
			json_array_append_new(params, p);
		}
	} else {
		json_object_foreach((json_t *)vars, key, v) {
			if ((t = variable_text(v)) == NULL)
				goto bad;
			p = json_object();
			json_object_set_new(p, "type", json_string("text"));
			json_object_set_new(p, "parameter_name", json_string(key));
			json_object_set_new(p, "text", t);
			json_array_append_new(params, p);
		}
	}
	json_t *c = json_object();
	json_object_set_new(c, "type", json_string("body"));
	json_object_set_new(c, "parameters", params);
	return c;
bad:
	json_decref(params);
	norm_err(err, "template.variables", "template variables must be strings or numbers");
	return NULL;
}

static json_t *
out_template(const json_t *msg, const char *type, struct channel_error *err)
{
	const json_t *t = get(msg, "template"), *lang = get(t, "language");
	const json_t *comps = get(t, "components"), *vars = get(t, "variables");
	json_t *o, *lo, *c;

	if (!json_is_object(t)) {
		norm_err(err, "template", "'template' must be an object");
		return NULL;
	}
	if (!is_nonempty(get(t, "name"))) {
		norm_err(err, "template.name", "'template.name' must be a non-empty string");
		return NULL;
	}
	/* A language code, or Meta's own {"code": ...} as given. */
	if (is_nonempty(lang)) {
		lo = json_object();
		put(lo, "code", lang);
	} else if (is_nonempty(get(lang, "code"))) {
		lo = json_deep_copy(lang);
	} else {
		norm_err(err, "template.language", "'template.language' must be a language code");
		return NULL;
	}
	if (comps && !json_is_array(comps)) {
		json_decref(lo);
		norm_err(err, "template.components", "'template.components' must be an array");
		return NULL;
	}
	if (!comps && vars && !json_is_null(vars) && !json_is_array(vars) &&
	    !json_is_object(vars)) {
		json_decref(lo);
		norm_err(err, "template.variables",
		    "'template.variables' must be an array or object");
		return NULL;
	}
	o = json_object();
	put(o, "name", get(t, "name"));
	json_object_set_new(o, "language", lo);
	if (comps) {
		put(o, "components", comps);
	} else if (json_array_size(vars) > 0 || json_object_size(vars) > 0) {
		if ((c = variables_component(vars, err)) == NULL) {
			json_decref(o);
			return NULL;
		}
		json_object_set_new(o, "components", json_array());
		json_array_append_new(json_object_get(o, "components"), c);
	}
	return o;
}

static json_t *
out_interactive(const json_t *msg, const char *type, struct channel_error *err)
{
	const json_t *i = get(msg, "interactive");

	if (!json_is_object(i) || json_object_size(i) == 0) {
		norm_err(err, "interactive", "'interactive' must be a WhatsApp interactive object");
		return NULL;
	}
	return json_deep_copy(i);
}

static json_t *
out_reaction(const json_t *msg, const char *type, struct channel_error *err)
{
	const json_t *r = get(msg, "reaction"), *emoji = get(r, "emoji");
	json_t *o;

	if (!json_is_object(r)) {
		norm_err(err, "reaction", "'reaction' must be an object");
		return NULL;
	}
	if (!is_nonempty(get(r, "provider_message_id"))) {
		norm_err(err, "reaction.provider_message_id",
		    "the message reacted to has no provider message id");
		return NULL;
	}
	/* "" removes an earlier reaction. */
	if (!json_is_string(emoji)) {
		norm_err(err, "reaction.emoji", "'reaction.emoji' must be a string");
		return NULL;
	}
	o = json_object();
	put(o, "message_id", get(r, "provider_message_id"));
	put(o, "emoji", emoji);
	return o;
}

static json_t *
out_contacts(const json_t *msg, const char *type, struct channel_error *err)
{
	const json_t *c = get(msg, "contacts");

	if (!json_is_array(c) || json_array_size(c) == 0) {
		norm_err(err, "contacts", "'contacts' must be a non-empty array");
		return NULL;
	}
	return json_deep_copy(c);
}

static const struct {
	const char *type;
	json_t *(*build)(const json_t *msg, const char *type, struct channel_error *err);
} wa_out_kinds[] = {
	{ "text", out_text },
	{ "image", out_media },
	{ "audio", out_media },
	{ "video", out_media },
	{ "document", out_media },
	{ "sticker", out_media },
	{ "location", out_location },
	{ "template", out_template },
	{ "interactive", out_interactive },
	{ "reaction", out_reaction },
	{ "contacts", out_contacts },
};

json_t *
wa_message_body(const json_t *msg, struct channel_error *err)
{
	const json_t *to = get(msg, "to"), *t = get(msg, "type"), *ctx;
	const char *name, *type;
	json_t *payload, *body;
	size_t i;

	if (!json_is_object(msg)) {
		norm_err(err, "message", "the message must be an object");
		return NULL;
	}
	if (!is_id(to)) {
		norm_err(err, "to", "'to' must be a non-empty string");
		return NULL;
	}
	/* The type defaults as in POST /v1/messages. */
	if (t == NULL || json_is_null(t))
		name = json_is_object(get(msg, "template")) ? "template" : "text";
	else
		name = json_cstr(t);
	for (i = 0; name && i < ARRAY_LEN(wa_out_kinds); i++)
		if (strcmp(name, wa_out_kinds[i].type) == 0)
			break;
	if (name == NULL || i == ARRAY_LEN(wa_out_kinds)) {
		norm_err(err, "type", "this channel cannot send messages of that type");
		return NULL;
	}
	type = wa_out_kinds[i].type;
	if ((payload = wa_out_kinds[i].build(msg, type, err)) == NULL)
		return NULL;

	body = json_object();
	json_object_set_new(body, "messaging_product", json_string("whatsapp"));
	json_object_set_new(body, "recipient_type", json_string("individual"));
	put(body, "to", to);
	json_object_set_new(body, "type", json_string(type));
	/* A reaction names its message itself; anything else may quote one. */
	if (strcmp(type, "reaction") != 0 && (ctx = channel_reply_id(msg)) != NULL) {
		json_t *c = json_object();
		put(c, "message_id", ctx);
		json_object_set_new(body, "context", c);
	}
	json_object_set_new(body, type, payload);
	return body;
}
