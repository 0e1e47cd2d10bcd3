/*
 * telegram_inbound.c - one Telegram Update into msgd's records.
 *
 * An Update carries exactly one of message, edited_message, channel_post,
 * edited_channel_post, callback_query, message_reaction, my_chat_member
 * (the kinds connect() subscribes to) or another kind, which is accepted
 * and not stored. Every record carries dedup_key "u:<update_id>", so a
 * redelivered update is a duplicate however it is spelled.
 *
 * Ids: Telegram's message_id is unique only within a chat, so a message's
 * provider id is "<chat id>:<message_id>"; addresses are decimal chat and
 * user ids. The conversation is the chat: in groups the sender stays on the
 * message (parts.sender), with parts.chat and parts.thread_id (forum
 * topics and reply threads). Records with no message of their own get a
 * provider id of their own: "r:<update_id>" for a reaction,
 * "cb:<callback query id>" for a button press.
 *
 * Text is byte-exact UTF-8 (NULs from \u0000 dropped); entities are
 * converted from UTF-16 offsets to code points (tg_entities). Tolerant on
 * purpose, like whatsapp_inbound.c: a part it cannot read is skipped and
 * logged, never the whole update.
 */
#include "telegram.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log/log.h"
#include "../util/util.h"

#define TG_TS_MAX   253402300799LL  /* 9999-12-31T23:59:59Z */
#define TG_NAME_MAX 512             /* bytes of a contact name we keep */

static const json_t *
get(const json_t *o, const char *key)
{
	return json_object_get(o, key);
}

static json_t *
text_json(const json_t *v)
{
	char *s = json_dup_text(v);
	json_t *j = s ? json_string(s) : NULL;
	free(s);
	return j;
}

static void
set_part(struct msg_in *m, const char *key, json_t *v)
{
	if (v)
		json_object_set_new(m->parts, key, v);
}

/* Copy the listed members of src that are present under their new names. */
static void
copy_as(json_t *dst, const json_t *src, const char *const (*map)[2])
{
	for (; (*map)[0]; map++) {
		const json_t *v = get(src, (*map)[0]);
		if (json_is_string(v))
			json_object_set_new(dst, (*map)[1], text_json(v));
		else if (v && !json_is_null(v))
			json_object_set_new(dst, (*map)[1], json_deep_copy(v));
	}
}

static bool
get_int(const json_t *v, int64_t *out)
{
	if (!json_is_integer(v))
		return false;
	*out = json_integer_value(v);
	return true;
}

static int64_t
time_or_now(const json_t *v)
{
	int64_t t;

	if (get_int(v, &t) && t >= 0 && t <= TG_TS_MAX)
		return t;
	return now_ms() / 1000;
}

/* "First Last" of a user or private chat; the title of a group; NULL. */
static char *
display_name(const json_t *o)
{
	char *first = json_dup_text(get(o, "first_name")), *last = json_dup_text(get(o, "last_name"));
	char *r;

	if (first && *first && last && *last)
		r = xasprintf("%.*s %.*s", TG_NAME_MAX / 2, first, TG_NAME_MAX / 2, last);
	else if (first && *first)
		r = xstrdup(first);
	else if (last && *last)
		r = xstrdup(last);
	else
		r = json_dup_text(get(o, "title"));
	free(first);
	free(last);
	return r;
}

static bool
is_private(const json_t *chat)
{
	const json_t *t = get(chat, "type");
	return json_is_string(t) && strcmp(json_string_value(t), "private") == 0;
}

/* --- entities: UTF-16 offsets to code points --- */

/* The code point at s[*i] (advancing *i); malformed bytes count as one
 * code point each (the JSON parser only lets valid UTF-8 through). */
static unsigned
next_cp(const unsigned char *s, size_t len, size_t *i)
{
	unsigned c = s[*i], need = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
	unsigned cp = need == 3 ? c & 0x07 : need == 2 ? c & 0x0f : need == 1 ? c & 0x1f : c;

	(*i)++;
	for (; need > 0 && *i < len && (s[*i] & 0xc0) == 0x80; need--, (*i)++)
		cp = (cp << 6) | (s[*i] & 0x3f);
	return cp;
}

/* Where UTF-16 offset u16 falls: its byte offset and code point index.
 * An offset inside a surrogate pair rounds down (start) or up (end). */
static void
locate(const char *text, size_t len, int64_t u16, bool round_up, size_t *byte, int64_t *cp)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0;
	int64_t pos = 0, n = 0;

	while (i < len && pos < u16) {
		size_t at = i;
		unsigned c = next_cp(s, len, &i);
		int64_t w = c >= 0x10000 ? 2 : 1;
		if (pos + w > u16 && !round_up) {
			i = at;
			break;
		}
		pos += w;
		n++;
	}
	*byte = i;
	*cp = n;
}

json_t *
tg_entities(const char *text, size_t len, const json_t *entities)
{
	static const char *const extra[][2] = {
		{ "url", "url" }, { "language", "language" },
		{ "custom_emoji_id", "custom_emoji_id" }, { NULL, NULL },
	};
	json_t *out = json_array();
	const json_t *e;
	size_t i;

	json_array_foreach(entities, i, e) {
		int64_t off, n, cs, ce;
		size_t bs, be;
		const json_t *type = get(e, "type"), *user = get(e, "user");

		if (!json_is_string(type) || !get_int(get(e, "offset"), &off) ||
		    !get_int(get(e, "length"), &n) || off < 0 || n <= 0 || off > INT32_MAX ||
		    n > INT32_MAX)
			continue;
		locate(text, len, off, false, &bs, &cs);
		locate(text, len, off + n, true, &be, &ce);
		if (be <= bs)
			continue;  /* beyond the text */
		json_t *o = json_object();
		json_object_set_new(o, "type", text_json(type));
		json_object_set_new(o, "offset", json_integer(cs));
		json_object_set_new(o, "length", json_integer(ce - cs));
		json_object_set_new(o, "text", json_stringn_nocheck(text + bs, be - bs));
		copy_as(o, e, extra);
		if (json_is_object(user)) {
			json_t *u = json_object();
			int64_t uid;
			char *name = display_name(user);
			if (get_int(get(user, "id"), &uid))
				json_object_set_new(u, "id", json_sprintf("%lld", (long long)uid));
			if (name)
				json_object_set_new(u, "name", json_string(name));
			if (json_is_string(get(user, "username")))
				json_object_set_new(u, "username", text_json(get(user, "username")));
			free(name);
			json_object_set_new(o, "user", u);
		}
		json_array_append_new(out, o);
	}
	if (json_array_size(out) == 0) {
		json_decref(out);
		return NULL;
	}
	return out;
}

/* --- message content --- */

static const char *const media_map[][2] = {
	{ "file_id", "id" }, { "file_unique_id", "unique_id" }, { "width", "width" },
	{ "height", "height" }, { "file_size", "size" }, { "mime_type", "mime_type" },
	{ "file_name", "filename" }, { "duration", "duration" }, { "title", "title" },
	{ "performer", "performer" }, { "emoji", "emoji" }, { "is_animated", "animated" },
	{ NULL, NULL },
};

static json_t *
media_part(const json_t *o)
{
	json_t *m = json_object();
	copy_as(m, o, media_map);
	return m;
}

/* The media part, and its file_id as what to fetch (telegram_media.c). */
static void
set_media(struct msg_in *m, const json_t *o)
{
	set_part(m, "media", media_part(o));
	if (json_is_string(get(o, "file_id")) && json_string_length(get(o, "file_id")) <= TG_ID_MAX * 4)
		m->media_source = json_pack("{s:O,s:O*}", "file_id", get(o, "file_id"), "filename",
		    json_is_string(get(o, "file_name")) ? get(o, "file_name") : NULL);
}

/* The largest size of a photo (by pixels, then bytes). */
static const json_t *
largest(const json_t *sizes)
{
	const json_t *best = NULL, *p;
	int64_t bpx = -1, bsz = -1;
	size_t i;

	json_array_foreach(sizes, i, p) {
		int64_t w = 0, h = 0, sz = 0;
		if (!json_is_string(get(p, "file_id")))
			continue;
		get_int(get(p, "width"), &w);
		get_int(get(p, "height"), &h);
		get_int(get(p, "file_size"), &sz);
		int64_t px = w > 0 && h > 0 && w < INT32_MAX && h < INT32_MAX ? w * h : 0;
		if (px > bpx || (px == bpx && sz > bsz)) {
			best = p;
			bpx = px;
			bsz = sz;
		}
	}
	return best;
}

/* The text (or caption) of msg with its entities. */
static void
norm_text(struct msg_in *m, const json_t *msg)
{
	const json_t *t = get(msg, "text"), *ents = get(msg, "entities");

	if (!json_is_string(t)) {
		t = get(msg, "caption");
		ents = get(msg, "caption_entities");
	}
	if (!json_is_string(t))
		return;
	m->text = json_dup_text(t);
	/* Entities index the text as sent, NULs included. */
	if (json_is_array(ents))
		set_part(m, "entities", tg_entities(json_string_value(t), json_string_length(t), ents));
}

static json_t *
location_part(const json_t *loc)
{
	static const char *const map[][2] = {
		{ "latitude", "latitude" }, { "longitude", "longitude" }, { NULL, NULL },
	};
	json_t *o = json_object();
	copy_as(o, loc, map);
	return o;
}

static json_t *
contacts_part(const json_t *c)
{
	json_t *name = json_object(), *phone = json_object(), *o = json_object();
	char *full = display_name(c);
	int64_t uid;

	if (full)
		json_object_set_new(name, "formatted_name", json_string(full));
	free(full);
	static const char *const nmap[][2] = {
		{ "first_name", "first_name" }, { "last_name", "last_name" }, { NULL, NULL },
	};
	copy_as(name, c, nmap);
	json_object_set_new(o, "name", name);
	if (json_is_string(get(c, "phone_number")))
		json_object_set_new(phone, "phone", text_json(get(c, "phone_number")));
	if (get_int(get(c, "user_id"), &uid))
		json_object_set_new(phone, "user_id", json_sprintf("%lld", (long long)uid));
	json_object_set_new(o, "phones", json_pack("[o]", phone));
	if (json_is_string(get(c, "vcard")))
		json_object_set_new(o, "vcard", text_json(get(c, "vcard")));
	return json_pack("[o]", o);
}

/* Media kinds: the Message field, msgd's type. Order matters: an animation
 * also carries a document. */
static const struct {
	const char *field;
	const char *type;
} media_kinds[] = {
	{ "animation", "video" },
	{ "video_note", "video" },
	{ "video", "video" },
	{ "voice", "voice" },
	{ "audio", "audio" },
	{ "document", "document" },
	{ "sticker", "sticker" },
};

/* Message fields msgd keeps as "unsupported" (naming the field). */
static const char *const unsupported_kinds[] = {
	"story", "poll", "dice", "game", "invoice", "successful_payment", "paid_media",
	"giveaway", "giveaway_winners", "new_chat_members", "left_chat_member",
	"new_chat_title", "new_chat_photo", "delete_chat_photo", "group_chat_created",
	"supergroup_chat_created", "channel_chat_created", "migrate_to_chat_id",
	"migrate_from_chat_id", "pinned_message", "forum_topic_created", "forum_topic_edited",
	"forum_topic_closed", "forum_topic_reopened", "video_chat_started", "video_chat_ended",
	"web_app_data", "users_shared", "chat_shared", "write_access_allowed",
	"message_auto_delete_timer_changed", "boost_added", "chat_background_set",
	"proximity_alert_triggered", "passport_data", "connected_website",
};

/* msgd's type of msg, with text and parts filled. */
static const char *
norm_content(struct msg_in *m, const json_t *msg)
{
	const json_t *v;

	norm_text(m, msg);
	if (json_is_string(get(msg, "text")))
		return "text";
	if (json_is_array(v = get(msg, "photo"))) {
		const json_t *p = largest(v);
		if (p)
			set_media(m, p);
		return "image";
	}
	for (size_t i = 0; i < ARRAY_LEN(media_kinds); i++) {
		if (json_is_object(v = get(msg, media_kinds[i].field))) {
			set_media(m, v);
			json_t *mp = json_object_get(m->parts, "media");
			if (strcmp(media_kinds[i].field, "animation") == 0)
				json_object_set_new(mp, "animated", json_true());
			if (strcmp(media_kinds[i].field, "video_note") == 0)
				json_object_set_new(mp, "video_note", json_true());
			return media_kinds[i].type;
		}
	}
	if (json_is_object(v = get(msg, "venue"))) {
		json_t *l = location_part(get(v, "location"));
		if (json_is_string(get(v, "title")))
			json_object_set_new(l, "name", text_json(get(v, "title")));
		if (json_is_string(get(v, "address")))
			json_object_set_new(l, "address", text_json(get(v, "address")));
		set_part(m, "location", l);
		return "location";
	}
	if (json_is_object(v = get(msg, "location"))) {
		set_part(m, "location", location_part(v));
		return "location";
	}
	if (json_is_object(v = get(msg, "contact"))) {
		set_part(m, "contacts", contacts_part(v));
		return "contacts";
	}
	for (size_t i = 0; i < ARRAY_LEN(unsupported_kinds); i++) {
		if (get(msg, unsupported_kinds[i])) {
			set_part(m, "unsupported_type", json_string(unsupported_kinds[i]));
			return "unsupported";
		}
	}
	return "unknown";
}

/* --- records --- */

/* "<chat id>:<message_id>" of a Message, or NULL. */
static char *
message_pid(const json_t *msg)
{
	int64_t chat, mid;

	if (!get_int(get(get(msg, "chat"), "id"), &chat) || !get_int(get(msg, "message_id"), &mid))
		return NULL;
	return xasprintf("%lld:%lld", (long long)chat, (long long)mid);
}

static char *
id_str(const json_t *v)
{
	int64_t id;
	return get_int(v, &id) ? xasprintf("%lld", (long long)id) : NULL;
}

static char *
raw_of(const json_t *update)
{
	char *s = json_encode(update, NULL);
	return s ? s : xstrdup("{}");
}

/* parts.sender {id, name, username} of a user (or a chat posting as itself). */
static json_t *
sender_part(const json_t *user)
{
	json_t *o = json_object();
	char *id = id_str(get(user, "id")), *name = display_name(user);

	if (id)
		json_object_set_new(o, "id", json_string(id));
	if (name)
		json_object_set_new(o, "name", json_string(name));
	if (json_is_string(get(user, "username")))
		json_object_set_new(o, "username", text_json(get(user, "username")));
	free(id);
	free(name);
	return o;
}

/* The common head of a record about chat from sender: addresses, names,
 * group parts. */
static struct msg_in *
add_record(struct ingest_batch *out, int64_t channel_id, const char *self, const json_t *chat,
    const json_t *sender, const char *dedup)
{
	struct msg_in *m = ingest_batch_add_msg(out);

	m->channel_id = channel_id;
	m->direction = DIR_IN;
	m->dedup_key = xstrdup(dedup);
	m->to = xstrdup(self);
	m->contact_address = id_str(get(chat, "id"));
	m->from = id_str(get(sender, "id"));
	if (m->from == NULL)
		m->from = xstrdup(m->contact_address);
	m->contact_name = display_name(chat);
	if (!is_private(chat) && chat != sender) {
		json_t *c = json_object();
		static const char *const map[][2] = {
			{ "type", "type" }, { "title", "title" }, { "username", "username" },
			{ NULL, NULL },
		};
		copy_as(c, chat, map);
		set_part(m, "chat", c);
		if (json_is_object(sender))
			set_part(m, "sender", sender_part(sender));
	}
	return m;
}

/* message, edited_message, channel_post, edited_channel_post. */
static void
add_message(struct ingest_batch *out, int64_t channel_id, const char *self, const json_t *update,
    const json_t *msg, bool edit, const char *dedup)
{
	const json_t *chat = get(msg, "chat"), *from = get(msg, "from"), *reply;
	char *pid = message_pid(msg);
	int64_t tid;

	if (pid == NULL) {
		log_warn("telegram: skipping a message without chat.id or message_id", "key", dedup);
		return;
	}
	if (!json_is_object(from))
		from = get(msg, "sender_chat");  /* channel posts, anonymous admins */
	struct msg_in *m = add_record(out, channel_id, self, chat, from, dedup);
	m->provider_message_id = pid;
	m->timestamp = time_or_now(get(msg, edit && get(msg, "edit_date") ? "edit_date" : "date"));
	if (edit) {
		m->action = MSG_EDIT;
		m->target = xstrdup(pid);
	}
	if (get_int(get(msg, "message_thread_id"), &tid))
		set_part(m, "thread_id", json_sprintf("%lld", (long long)tid));
	/* A reply names a message of this chat (a story, reply_to_story, has none). */
	if (json_is_object(reply = get(msg, "reply_to_message"))) {
		int64_t rid;
		if (get_int(get(reply, "message_id"), &rid))
			m->reply_to = xasprintf("%s:%lld", m->contact_address, (long long)rid);
	}
	if (json_is_object(reply = get(msg, "reply_to_story"))) {
		json_t *s = json_object();
		char *sc = id_str(get(get(reply, "chat"), "id"));
		if (sc)
			json_object_set_new(s, "chat_id", json_string(sc));
		free(sc);
		if (json_is_integer(get(reply, "id")))
			json_object_set(s, "story_id", (json_t *)get(reply, "id"));
		set_part(m, "reply_to_story", s);
	}
	if (get(msg, "forward_origin") || get(msg, "forward_date"))
		set_part(m, "forwarded", json_true());
	m->type = xstrdup(norm_content(m, msg));
	m->raw = raw_of(update);
}

/* The text of the inline keyboard button whose callback_data is data. */
static const json_t *
button_text(const json_t *message, const json_t *data)
{
	const json_t *rows = get(get(message, "reply_markup"), "inline_keyboard"), *row, *b;
	size_t i, j;

	json_array_foreach(rows, i, row)
		json_array_foreach(row, j, b)
			if (json_is_string(data) && json_equal(get(b, "callback_data"), data) &&
			    json_is_string(get(b, "text")))
				return get(b, "text");
	return NULL;
}

static void
add_callback(struct ingest_batch *out, int64_t channel_id, const char *self, const json_t *update,
    const json_t *cq, const char *dedup)
{
	const json_t *id = get(cq, "id"), *from = get(cq, "from"), *message = get(cq, "message");
	const json_t *chat = get(message, "chat"), *data = get(cq, "data"), *text;

	if (!json_is_string(id) || json_string_length(id) == 0 ||
	    json_string_length(id) > TG_ID_MAX || !json_is_object(from) ||
	    !json_is_integer(get(from, "id"))) {
		log_warn("telegram: skipping a callback query without id or from", "key", dedup);
		return;
	}
	/* A button under an inline-mode message has no chat: the user's own. */
	struct msg_in *m = add_record(out, channel_id, self, json_is_object(chat) &&
	    json_is_integer(get(chat, "id")) ? chat : from, from, dedup);
	char *cid = json_dup_text(id);
	m->provider_message_id = xasprintf("cb:%s", cid);
	m->type = xstrdup("button");
	m->timestamp = now_ms() / 1000;  /* a callback query has no date of its own */
	m->reply_to = message_pid(message);
	json_t *b = json_object();
	if (json_is_string(data))
		json_object_set_new(b, "payload", text_json(data));
	if ((text = button_text(message, data)) != NULL) {
		json_object_set_new(b, "text", text_json(text));
		m->text = json_dup_text(text);
	}
	if (json_is_string(get(cq, "game_short_name")))
		json_object_set_new(b, "game_short_name", text_json(get(cq, "game_short_name")));
	set_part(m, "button", b);
	set_part(m, "callback_query_id", json_string(cid));
	free(cid);
	m->raw = raw_of(update);
}

static void
add_reaction(struct ingest_batch *out, int64_t channel_id, const char *self, const json_t *update,
    const json_t *r, int64_t update_id, const char *dedup)
{
	const json_t *chat = get(r, "chat"), *sender = get(r, "user"), *nr = get(r, "new_reaction");
	const json_t *e;
	int64_t chat_id, mid;
	size_t i;

	if (!get_int(get(chat, "id"), &chat_id) || !get_int(get(r, "message_id"), &mid)) {
		log_warn("telegram: skipping a reaction without chat.id or message_id", "key", dedup);
		return;
	}
	if (!json_is_object(sender))
		sender = get(r, "actor_chat");  /* an anonymous reaction */
	struct msg_in *m = add_record(out, channel_id, self, chat, sender, dedup);
	m->provider_message_id = xasprintf("r:%lld", (long long)update_id);
	m->type = xstrdup("reaction");
	m->timestamp = time_or_now(get(r, "date"));
	json_t *part = json_object();
	json_object_set_new(part, "provider_message_id",
	    json_sprintf("%lld:%lld", (long long)chat_id, (long long)mid));
	/* The first emoji of the new set; "" when the reaction was removed. */
	json_t *emoji = NULL;
	json_array_foreach(nr, i, e) {
		const json_t *t = get(e, "type");
		if (emoji == NULL && json_is_string(t) && strcmp(json_string_value(t), "emoji") == 0)
			emoji = text_json(get(e, "emoji"));
		else if (json_is_string(t) && strcmp(json_string_value(t), "custom_emoji") == 0 &&
		    !json_object_get(part, "custom_emoji_id") && json_is_string(get(e, "custom_emoji_id")))
			json_object_set_new(part, "custom_emoji_id", text_json(get(e, "custom_emoji_id")));
	}
	json_object_set_new(part, "emoji", emoji ? emoji : json_string(""));
	set_part(m, "reaction", part);
	m->raw = raw_of(update);
}

static void
add_member(struct ingest_batch *out, int64_t channel_id, const json_t *cm, const char *dedup)
{
	const json_t *st = get(get(cm, "new_chat_member"), "status");
	const char *s = json_is_string(st) ? json_string_value(st) : NULL;
	char *addr = id_str(get(get(cm, "chat"), "id"));

	if (addr == NULL || s == NULL) {
		log_warn("telegram: skipping my_chat_member without chat.id or status", "key", dedup);
		free(addr);
		return;
	}
	struct contact_in *c = ingest_batch_add_contact(out);
	c->channel_id = channel_id;
	c->address = addr;
	/* Removed from the chat: nothing sent there can arrive. */
	c->status = strcmp(s, "kicked") == 0 || strcmp(s, "left") == 0 ? CONTACT_BLOCKED :
	    CONTACT_ACTIVE;
	c->reason = xasprintf("telegram: bot status %.32s", s);
	c->timestamp = time_or_now(get(cm, "date"));
	c->dedup_key = xstrdup(dedup);
}

int
tg_normalize_update(const json_t *root, int64_t channel_id, const char *self,
    struct ingest_batch *out, struct channel_error *err)
{
	const json_t *v;
	int64_t uid;
	char dedup[32];

	if (!json_is_object(root) || !get_int(get(root, "update_id"), &uid)) {
		snprintf(err->field, sizeof(err->field), "update_id");
		snprintf(err->message, sizeof(err->message),
		    "the body must be a Telegram Update: an object with an integer update_id");
		return -1;
	}
	snprintf(dedup, sizeof(dedup), "u:%lld", (long long)uid);
	if (json_is_object(v = get(root, "message")) || json_is_object(v = get(root, "channel_post")))
		add_message(out, channel_id, self, root, v, false, dedup);
	else if (json_is_object(v = get(root, "edited_message")) ||
	    json_is_object(v = get(root, "edited_channel_post")))
		add_message(out, channel_id, self, root, v, true, dedup);
	else if (json_is_object(v = get(root, "callback_query")))
		add_callback(out, channel_id, self, root, v, dedup);
	else if (json_is_object(v = get(root, "message_reaction")))
		add_reaction(out, channel_id, self, root, v, uid, dedup);
	else if (json_is_object(v = get(root, "my_chat_member")))
		add_member(out, channel_id, v, dedup);
	else
		log_info("telegram: update of a kind msgd does not store", "key", dedup);
	return 0;
}
