/*
 * evolution_media.c - Evolution API media both ways (channel.h, the media
 * slots; issue 14).
 *
 * Inbound: an instance with "Webhook base64" on sends the content inline
 * (data.message.base64): it is kept in the job (never in the message) and
 * decoded into the file by msgd. Otherwise msgd asks
 * POST /chat/getBase64FromMediaMessage/{instance} {"message":{"key"}} and
 * decodes its "base64". WhatsApp's own media URLs are encrypted, so the
 * message's url is never fetched.
 *
 * Outbound: a stored file goes with sendMedia as multipart/form-data (the
 * JSON body's fields as text parts, the file streamed from disk as "file").
 */
#include <stdlib.h>
#include <string.h>

#include "../util/util.h"
#include "evolution.h"

static const json_t *
get(const json_t *o, const char *k)
{
	return json_object_get(o, k);
}

json_t *
evo_media_source(const json_t *data)
{
	const json_t *msg = get(data, "message"), *b64 = get(msg, "base64"), *key = get(data, "key");
	const json_t *name = get(get(msg, "documentMessage"), "fileName");
	json_t *src = NULL;

	if (!json_is_string(b64))
		b64 = get(data, "base64");
	if (json_is_string(b64) && json_string_length(b64) > 0)
		src = json_pack("{s:O}", "base64", b64);
	else if (json_is_string(get(key, "id")))
		src = json_pack("{s:{s:O,s:O*,s:O*}}", "key", "id", get(key, "id"),
		    "remoteJid", get(key, "remoteJid"), "fromMe", get(key, "fromMe"));
	if (src && json_is_string(name))
		json_object_set(src, "filename", json_object_get(get(msg, "documentMessage"), "fileName"));
	return src;
}

int
evo_media_fetch_prepare(struct channel *ch, const json_t *source, const json_t *state,
    struct media_step *out, struct channel_error *err)
{
	const json_t *b64 = get(state, "base64");

	*out = (struct media_step){ 0 };
	if (!json_is_string(b64))
		b64 = get(source, "base64");
	if (json_is_string(b64)) {
		out->kind = MEDIA_STEP_INLINE;
		out->inline_b64 = json_string_value(b64);
		out->inline_len = json_string_length(b64);
		snprintf(out->mime_type, sizeof(out->mime_type), "%s",
		    json_string_value(get(state, "mime_type")) ? json_string_value(get(state, "mime_type")) : "");
		return 0;
	}
	if (!json_is_object(get(source, "key")) || !json_is_string(get(get(source, "key"), "id"))) {
		snprintf(err->field, sizeof(err->field), "media");
		snprintf(err->message, sizeof(err->message), "the webhook named no message key to fetch");
		return -1;
	}
	out->kind = MEDIA_STEP_REQUEST;
	json_t *body = json_pack("{s:{s:O},s:b}", "message", "key", get(source, "key"),
	    "convertToMp4", 0);
	if (evo_channel_request(ch, "POST", "chat/getBase64FromMediaMessage", body, &out->req) != 0) {
		snprintf(err->field, sizeof(err->field), "channel");
		snprintf(err->message, sizeof(err->message), "the channel is not open");
		return -1;
	}
	out->req.resp_max = EVO_MEDIA_B64_MAX;
	return 0;
}

void
evo_media_fetch_parse(struct channel *ch, const json_t *source, const json_t *state,
    const struct send_response *resp, struct media_answer *out)
{
	json_t *root = NULL;
	char jerr[8];
	const json_t *b64;

	*out = (struct media_answer){ 0 };
	if (resp->http_status == 0) {
		out->verdict = MEDIA_TEMPFAIL;
		snprintf(out->error, sizeof(out->error), "network: %s",
		    resp->net_error ? resp->net_error : "no answer");
		return;
	}
	if (resp->http_status >= 200 && resp->http_status < 300) {
		if (resp->body_len >= EVO_MEDIA_B64_MAX) {
			out->verdict = MEDIA_PERMFAIL;
			snprintf(out->error, sizeof(out->error), "the media is over %d MiB of base64",
			    EVO_MEDIA_B64_MAX >> 20);
			return;
		}
		if (resp->body)
			json_parse_capped(resp->body, resp->body_len, EVO_JSON_DEPTH_MAX, &root, jerr,
			    sizeof(jerr));
		if (json_is_string(b64 = get(root, "base64")) && json_string_length(b64) > 0) {
			out->verdict = MEDIA_NEXT;
			out->state = json_pack("{s:O}", "base64", b64);
			if (json_is_string(get(root, "mimetype")))
				json_object_set(out->state, "mime_type", json_object_get(root, "mimetype"));
		} else {
			out->verdict = MEDIA_TEMPFAIL;
			snprintf(out->error, sizeof(out->error), "the answer has no base64");
		}
		json_decref(root);
		return;
	}
	/* 400/404: the message is gone from the instance; the rest may pass. */
	out->verdict = resp->http_status == 400 || resp->http_status == 404 ? MEDIA_PERMFAIL :
	    MEDIA_TEMPFAIL;
	snprintf(out->error, sizeof(out->error), "HTTP %ld from getBase64FromMediaMessage",
	    resp->http_status);
}

int
evo_multipart(json_t *body, const json_t *media, struct send_request *out)
{
	const char *path = json_string_value(get(media, "path"));
	const char *filename = json_string_value(get(media, "filename"));
	const char *mime = json_string_value(get(media, "mime_type"));
	const char *key;
	json_t *v;
	int rc = 0;

	/* The JSON body's headers go: curl writes the multipart Content-Type. */
	while (out->nheaders > 1) {
		free(out->headers[--out->nheaders]);
		out->headers[out->nheaders] = NULL;
	}
	if (path == NULL) {
		json_decref(body);
		return -1;
	}
	json_object_foreach(body, key, v) {
		if (strcmp(key, "media") == 0)
			continue;
		if (json_is_string(v)) {
			rc |= send_request_part(out, key, json_string_value(v), NULL, NULL, NULL);
		} else {
			char *s = json_encode(v, NULL);
			rc |= s ? send_request_part(out, key, s, NULL, NULL, NULL) : -1;
			free(s);
		}
	}
	rc |= send_request_part(out, "file", NULL, path, filename ? filename : "file", mime);
	json_decref(body);
	return rc != 0 ? -1 : 0;
}
