/*
 * sandbox.c - a built-in simulated contact, so msgd works with no provider
 * credentials. POST /v1/sandbox/{channel}/inbound injects a message that
 * goes through exactly the path a real inbound message takes: normalized
 * into a msg_in, group-committed, then visible in conversations and events.
 */
#include "channel.h"

#include <stdio.h>
#include <string.h>

#include "../util/util.h"
#include "address.h"

#define SANDBOX_ADDR_MAX 64
#define SANDBOX_TEXT_MAX 4096

/* Its own keys; the sending settings are checked by channel.c's table. */
static const char *const sandbox_keys[] = { "contact_name", NULL };
static const char *const sandbox_secrets[] = { NULL };

static int
sandbox_validate(const json_t *cfg, struct channel_error *err)
{
	if (cfg_check_keys(cfg, sandbox_keys, err) != 0 || cfg_check_send_settings(cfg, err) != 0)
		return -1;
	return cfg_optional_string(cfg, "contact_name", 128, err);
}

static int
sandbox_open(struct channel *ch)
{
	ch->state = ch; /* no private state; non-NULL marks it open */
	return 0;
}

static void
sandbox_close(struct channel *ch)
{
	ch->state = NULL;
}

static void
field(struct channel_error *err, const char *f, const char *m)
{
	snprintf(err->field, sizeof(err->field), "%s", f);
	snprintf(err->message, sizeof(err->message), "%s", m);
}

/* A string member: required or optional, non-empty, capped, no NUL. */
static int
get_str(const json_t *body, const char *key, bool required, size_t max, const char **out,
    struct channel_error *err)
{
	json_t *v = json_object_get(body, key);
	char msg[128];

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (!required)
			return 0;
		snprintf(msg, sizeof(msg), "'%s' is required", key);
		field(err, key, msg);
		return -1;
	}
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max ||
	    memchr(json_string_value(v), '\0', json_string_length(v))) {
		snprintf(msg, sizeof(msg), "'%s' must be a non-empty string of at most %zu bytes", key, max);
		field(err, key, msg);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

static int
sandbox_simulate_inbound(struct channel *ch, const json_t *body, struct ingest_batch *out,
    struct channel_error *err)
{
	static const char *const allowed[] = { "from", "text", "name", "id", NULL };
	const char *from, *text, *name, *id;
	const char *key;
	json_t *v;

	if (!json_is_object(body)) {
		field(err, "body", "body must be a JSON object");
		return -1;
	}
	json_object_foreach((json_t *)body, key, v) {
		bool ok = false;
		for (const char *const *a = allowed; *a; a++)
			ok |= strcmp(*a, key) == 0;
		if (!ok) {
			char msg[128];
			snprintf(msg, sizeof(msg), "unknown field '%.60s'", key);
			field(err, key, msg);
			return -1;
		}
	}
	if (get_str(body, "from", true, SANDBOX_ADDR_MAX, &from, err) != 0 ||
	    get_str(body, "text", true, SANDBOX_TEXT_MAX, &text, err) != 0 ||
	    get_str(body, "name", false, 128, &name, err) != 0 ||
	    get_str(body, "id", false, 128, &id, err) != 0)
		return -1;
	if (name == NULL)
		name = json_string_value(json_object_get(ch->config, "contact_name"));

	struct msg_in *m = ingest_batch_add_msg(out);
	m->channel_id = ch->id;
	m->direction = DIR_IN;
	if (id) {
		m->provider_message_id = xstrdup(id);
	} else {
		unsigned char rnd[12];
		char hex[25];
		random_bytes(rnd, sizeof(rnd));
		hex_encode(rnd, sizeof(rnd), hex);
		m->provider_message_id = xasprintf("sbx.%s", hex);
	}
	/* A sender spelled as a phone number is its digits, as a recipient is. */
	m->from = phone_normalize_or_dup(from);
	m->to = xstrdup(ch->name);
	m->contact_address = xstrdup(m->from);
	m->contact_name = xstrdup_or_null(name);
	m->type = xstrdup("text");
	m->text = xstrndup(text, strlen(text));
	m->timestamp = now_ms() / 1000;
	m->raw = json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII);
	return 0;
}

/* Every send succeeds at once; outbox/ then plays the far end (statuses, echo). */
static void
sandbox_send_local(struct channel *ch, const json_t *msg, struct send_outcome *out)
{
	unsigned char rnd[12];
	char hex[25];

	random_bytes(rnd, sizeof(rnd));
	hex_encode(rnd, sizeof(rnd), hex);
	out->kind = SEND_OK;
	out->provider_message_id = xasprintf("sbx.out.%s", hex);
}

const struct channel_ops sandbox_ops = {
	.type = "sandbox",
	.secret_keys = sandbox_secrets,
	.validate = sandbox_validate,
	.open = sandbox_open,
	.close = sandbox_close,
	.on_start = NULL,
	.webhook_path = NULL,
	.webhook = NULL,
	.simulate_inbound = sandbox_simulate_inbound,
	.send_prepare = NULL,
	.send_classify = NULL,
	.read_prepare = NULL,
	.send_local = sandbox_send_local,
	.address_normalize = phone_normalize,
	.window_hours = 0,
};
