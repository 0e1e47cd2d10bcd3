/*
 * telegram_media.c - Telegram media both ways (channel.h, the media slots;
 * issue 14).
 *
 * Inbound: the update names a file_id (msg_in.media_source {"file_id"}).
 * Step 1: getFile?file_id=... → {"ok":true,"result":{"file_path"}}; step
 * 2: GET {api_base_url}/file/bot<token>/<file_path>, streamed into the
 * file. The Bot API serves files up to 20 MB; a larger one is refused by
 * getFile ("file is too big"), a permanent failure.
 *
 * Outbound: a stored file goes with the send itself, as multipart/form-data
 * (sendPhoto with the photo as a file part, the other fields as text).
 */
#include <stdlib.h>
#include <string.h>

#include "../util/util.h"
#include "telegram.h"

#define TG_FILE_ID_MAX   256      /* bytes of a file_id */
#define TG_FILE_PATH_MAX 512      /* bytes of a getFile file_path */

static const json_t *
get(const json_t *o, const char *k)
{
	return json_object_get(o, k);
}

static int
fail(struct channel_error *err, const char *field, const char *msg)
{
	snprintf(err->field, sizeof(err->field), "%s", field);
	snprintf(err->message, sizeof(err->message), "%s", msg);
	return -1;
}

/* Telegram's ids and paths: letters, digits, '_' and '-' (paths also '.'
 * and '/'), never "..", never absolute. */
static bool
safe_token(const char *s, size_t max, bool path)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > max || (path && (s[0] == '/' || strstr(s, "..") != NULL)))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    c == '_' || c == '-' || (path && (c == '.' || c == '/'))))
			return false;
	}
	return true;
}

/* {api_base_url} without a trailing '/' (malloc'd) and the token. */
static char *
api_base(const struct channel *ch, const char **token)
{
	const char *b = json_string_value(get(ch->config, "api_base_url"));
	char *s = xstrdup(b ? b : TG_DEFAULT_API_BASE);
	size_t n = strlen(s);

	while (n > 0 && s[n - 1] == '/')
		s[--n] = '\0';
	*token = json_string_value(get(ch->config, "bot_token"));
	return s;
}

int
tg_media_fetch_prepare(struct channel *ch, const json_t *source, const json_t *state,
    struct media_step *out, struct channel_error *err)
{
	const char *id = json_string_value(get(source, "file_id"));
	const char *path = json_string_value(get(state, "file_path"));
	const char *token;
	char *base;

	*out = (struct media_step){ 0 };
	if (path == NULL && !safe_token(id, TG_FILE_ID_MAX, false))
		return fail(err, "media.id", "the update named no usable file_id");
	if (path && !safe_token(path, TG_FILE_PATH_MAX, true))
		return fail(err, "media.id", "getFile gave an unusable file_path");
	base = api_base(ch, &token);
	if (token == NULL) {
		free(base);
		return fail(err, "config.bot_token", "the channel has no bot token");
	}
	out->req.method = xstrdup("GET");
	if (path) {
		out->kind = MEDIA_STEP_DOWNLOAD;
		out->req.url = xasprintf("%s/file/bot%s/%s", base, token, path);
	} else {
		out->kind = MEDIA_STEP_REQUEST;
		out->req.url = xasprintf("%s/bot%s/getFile?file_id=%s", base, token, id);
	}
	free(base);
	return 0;
}

void
tg_media_fetch_parse(struct channel *ch, const json_t *source, const json_t *state,
    const struct send_response *resp, struct media_answer *out)
{
	json_t *root;
	bool ok;
	const char *desc, *path;
	int64_t code;

	*out = (struct media_answer){ 0 };
	if (resp->http_status == 0) {
		out->verdict = MEDIA_TEMPFAIL;
		snprintf(out->error, sizeof(out->error), "network: %s",
		    resp->net_error ? resp->net_error : "no answer");
		return;
	}
	if (tg_parse_answer(resp, &root, &ok, &desc, &code) != 0) {
		out->verdict = MEDIA_TEMPFAIL;
		snprintf(out->error, sizeof(out->error), "HTTP %ld from getFile", resp->http_status);
		return;
	}
	path = json_string_value(get(get(root, "result"), "file_path"));
	if (ok && path && safe_token(path, TG_FILE_PATH_MAX, true)) {
		out->verdict = MEDIA_NEXT;
		out->state = json_pack("{s:s}", "file_path", path);
	} else if (ok) {
		out->verdict = MEDIA_PERMFAIL;
		snprintf(out->error, sizeof(out->error), "getFile gave no usable file_path");
	} else {
		/* 400: a file_id Telegram does not know, or a file over 20 MB:
		 * never better. Anything else (401, 429, 5xx) may pass. */
		out->verdict = resp->http_status == 400 ? MEDIA_PERMFAIL : MEDIA_TEMPFAIL;
		snprintf(out->error, sizeof(out->error), "%s", desc ? desc : "getFile failed");
	}
	json_decref(root);
}

int
tg_multipart(const char *url, json_t *body, const char *field, const json_t *media,
    struct send_request *out)
{
	const char *path = json_string_value(get(media, "path"));
	const char *filename = json_string_value(get(media, "filename"));
	const char *mime = json_string_value(get(media, "mime_type"));
	const char *key;
	json_t *v;
	int rc = 0;

	*out = (struct send_request){ 0 };
	if (field == NULL || path == NULL) {
		json_decref(body);
		return -1;
	}
	out->method = xstrdup("POST");
	out->url = xstrdup(url);
	json_object_foreach(body, key, v) {
		if (strcmp(key, field) == 0)
			continue;
		if (json_is_string(v)) {
			rc |= send_request_part(out, key, json_string_value(v), NULL, NULL, NULL);
		} else {
			char *s = json_encode(v, NULL);
			rc |= s ? send_request_part(out, key, s, NULL, NULL, NULL) : -1;
			free(s);
		}
	}
	rc |= send_request_part(out, field, NULL, path, filename ? filename : "file", mime);
	json_decref(body);
	if (rc != 0)
		send_request_free(out);
	return rc != 0 ? -1 : 0;
}

int
tg_media_sent_id(struct channel *ch, const json_t *msg, const struct send_response *resp,
    char *id, size_t cap)
{
	const char *field = tg_media_field(json_string_value(get(msg, "type")));
	json_t *root;
	bool ok;
	const char *desc, *v = NULL;
	int64_t code;
	const json_t *f;

	id[0] = '\0';
	if (field == NULL || tg_parse_answer(resp, &root, &ok, &desc, &code) != 0)
		return -1;
	f = get(get(root, "result"), field);
	if (json_is_array(f) && json_array_size(f) > 0)  /* photo: sizes, the largest last */
		f = json_array_get(f, json_array_size(f) - 1);
	v = ok ? json_string_value(get(f, "file_id")) : NULL;
	if (v && safe_token(v, TG_FILE_ID_MAX, false) && strlen(v) < cap)
		snprintf(id, cap, "%s", v);
	json_decref(root);
	return id[0] ? 0 : -1;
}
