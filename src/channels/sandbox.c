/*
 * sandbox.c - a built-in simulated contact, so msgd works with no provider
 * credentials. POST /v1/sandbox/{channel}/inbound injects a message that
 * goes through exactly the path a real inbound message takes: normalized
 * into a msg_in, group-committed, then visible in conversations and events.
 *
 * Sending: every send succeeds at once (send_local), and the channel plays
 * the far end (after_send): the message is reported sent, delivered and
 * read, then the simulated contact answers with an echo, one step every
 * SIM_STEP_MS, committed through channel_submit() like a provider's
 * webhook would be.
 */
#include "channel.h"

#include <stdio.h>
#include <string.h>

#include "../util/util.h"
#include "address.h"

#define SANDBOX_ADDR_MAX 64
#define SANDBOX_TEXT_MAX 4096
#define SIM_STEP_MS 250             /* time between simulated statuses */

static const struct config_key sandbox_schema[] = {
	{ .name = "contact_name", .kind = CFG_STRING, .max_len = 128,
	  .description = "the simulated contact's name" },
	{ .name = NULL },
};

static const char *const sandbox_send_types[] = { "text", "image", "audio", "video", "document",
	"sticker", "location", "interactive", "reaction", NULL };
static const char *const sandbox_receive_types[] = { "text", NULL };
static const struct media_limit sandbox_media[] = {
	{ .kind = "image", .max_bytes = 100 * 1024 * 1024 },
	{ .kind = "audio", .max_bytes = 100 * 1024 * 1024 },
	{ .kind = "video", .max_bytes = 100 * 1024 * 1024 },
	{ .kind = "document", .max_bytes = 100 * 1024 * 1024 },
	{ .kind = "sticker", .max_bytes = 100 * 1024 * 1024 },
	{ .kind = NULL },
};
static const struct channel_caps sandbox_caps = {
	.send_types = sandbox_send_types,
	.receive_types = sandbox_receive_types,
	.media = sandbox_media,
	.interactive = true,
	.reactions = true,
	.replies = true,
	.max_text_len = SANDBOX_TEXT_MAX,
};

/* One sent message whose far end is being played. */
struct sim {
	struct sandbox *sb;
	struct channel_timer *timer;
	char *provider_id;
	char *to;
	char *text;
	int step;
	struct sim *prev, *next;
};

struct sandbox {
	struct sim *sims;
};

static int
sandbox_validate(const json_t *cfg, struct channel_error *err)
{
	return cfg_check_schema(sandbox_schema, cfg, err);
}

static int
sandbox_open(struct channel *ch)
{
	ch->state = xcalloc(1, sizeof(struct sandbox));
	return 0;
}

static void
sim_free(struct sim *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		s->sb->sims = s->next;
	if (s->next)
		s->next->prev = s->prev;
	channel_timer_free(s->timer);
	free(s->provider_id);
	free(s->to);
	free(s->text);
	free(s);
}

static void
sandbox_close(struct channel *ch)
{
	struct sandbox *sb = ch->state;

	while (sb->sims)
		sim_free(sb->sims);
	free(sb);
	ch->state = NULL;
}

static void
sim_step(struct channel *ch, void *arg)
{
	static const enum msg_status steps[] = { ST_SENT, ST_DELIVERED, ST_READ };
	static const char *const words[] = { "sent", "delivered", "read" };
	struct sim *s = arg;
	struct ingest_batch b = { 0 };
	int64_t now = now_ms();

	if (s->step < 3) {
		struct status_in *st = ingest_batch_add_status(&b);
		st->channel_id = ch->id;
		st->provider_message_id = xstrdup(s->provider_id);
		st->status = steps[s->step];
		st->provider_status = xstrdup(words[s->step]);
		st->recipient = xstrdup_or_null(s->to);
		st->timestamp = now / 1000;
		st->raw = xasprintf("{\"simulated\":\"%s\"}", words[s->step]);
	} else {
		/* The simulated contact answers. */
		unsigned char r[12];
		char hex[25];
		random_bytes(r, sizeof(r));
		hex_encode(r, sizeof(r), hex);
		struct msg_in *m = ingest_batch_add_msg(&b);
		m->channel_id = ch->id;
		m->direction = DIR_IN;
		m->provider_message_id = xasprintf("sbx.%s", hex);
		m->from = xstrdup_or_null(s->to);
		m->to = xstrdup(ch->name);
		m->contact_address = xstrdup_or_null(s->to);
		m->type = xstrdup("text");
		m->text = xasprintf("echo: %s", s->text ? s->text : "(no text)");
		m->timestamp = now / 1000;
		m->raw = xstrdup("{\"simulated\":\"echo\"}");
	}
	channel_submit(ch, &b, NULL, NULL);
	if (++s->step > 3) {
		sim_free(s);
		return;
	}
	channel_timer_start(s->timer, SIM_STEP_MS);
}

static void
sandbox_after_send(struct channel *ch, const json_t *msg, const struct send_outcome *out)
{
	struct sandbox *sb = ch->state;
	struct sim *s;

	if (out->kind != SEND_OK || out->provider_message_id == NULL)
		return;
	s = xcalloc(1, sizeof(*s));
	s->sb = sb;
	s->provider_id = xstrdup(out->provider_message_id);
	s->to = xstrdup_or_null(json_string_value(json_object_get(msg, "to")));
	s->text = xstrdup_or_null(json_string_value(json_object_get(msg, "text")));
	s->timer = channel_timer_new(ch, sim_step, s);
	if (s->timer == NULL) {  /* no host (tests without a loop): nothing to play */
		free(s->provider_id);
		free(s->to);
		free(s->text);
		free(s);
		return;
	}
	s->next = sb->sims;
	if (sb->sims)
		sb->sims->prev = s;
	sb->sims = s;
	/* After the accepted result is committed: one step later. */
	channel_timer_start(s->timer, SIM_STEP_MS);
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

/* Every send succeeds at once; after_send then plays the far end (statuses, echo). */
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
	.caps = &sandbox_caps,
	.schema = sandbox_schema,
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
	.after_send = sandbox_after_send,
};
