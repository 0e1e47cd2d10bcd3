/*
 * whatsapp_media.c - WhatsApp Cloud media both ways (channel.h, the media
 * slots; issue 14).
 *
 * Inbound: the webhook names a media id (msg_in.media_source {"id"}).
 * Step 1: GET {api_base_url}/{api_version}/{media-id} with the token →
 * {"url","mime_type","sha256","file_size"}; step 2: GET url with the same
 * token, streamed into the file. The download URL lasts minutes: a failed
 * download starts again from step 1 at the next attempt.
 *
 * Outbound: a stored file is uploaded first, POST
 * {api_base_url}/{api_version}/{phone_number_id}/media as multipart
 * (messaging_product=whatsapp, type, file streamed from disk) → {"id"},
 * and the message then names that id. The token only ever goes into the
 * Authorization header.
 *
 * The download URL comes from the answer, so it is fetched (with the token)
 * only on the api_base_url's origin or over https on a Meta media host
 * (download_url_allowed()); anything else fails the job for good.
 */
#include <stdlib.h>
#include <string.h>

#include "url_origin.h"
#include "whatsapp_cloud.h"

#define WA_MEDIA_URL_MAX 4096     /* bytes of a download URL we follow */

/* Where Meta serves media downloads (the documented URL is
 * https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=...). */
static const char *const meta_media_hosts[] = { "lookaside.fbsbx.com", NULL };
static const char *const meta_media_suffixes[] = {
	".fbsbx.com", ".whatsapp.net", ".facebook.com", ".fbcdn.net", NULL,
};

static const char *
cfg_str(const json_t *cfg, const char *key, const char *def)
{
	const char *v = json_string_value(json_object_get(cfg, key));
	return v ? v : def;
}

/* {base}/{version}/{tail} with the token, into out; -1 without a token. */
static int
graph_request(const struct channel *ch, const char *method, const char *tail,
    struct send_request *out)
{
	const char *base = cfg_str(ch->config, "api_base_url", WA_DEFAULT_API_BASE);
	const char *version = cfg_str(ch->config, "api_version", WA_DEFAULT_API_VERSION);
	const char *token = cfg_str(ch->config, "access_token", NULL);
	size_t n = strlen(base);

	*out = (struct send_request){ 0 };
	if (token == NULL)
		return -1;
	while (n > 0 && base[n - 1] == '/')
		n--;
	out->method = xstrdup(method);
	out->url = xasprintf("%.*s/%s/%s", (int)n, base, version, tail);
	out->headers[out->nheaders++] = xasprintf("Authorization: Bearer %s", token);
	return 0;
}

/* A media id as a path segment: digits and letters only (Meta's are digits). */
static bool
media_id_ok(const char *id)
{
	if (id == NULL || *id == '\0' || strlen(id) > WA_ID_MAX)
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    *p == '_' || *p == '-' || *p == '.'))
			return false;
	return strcmp(id, ".") != 0 && strcmp(id, "..") != 0;
}

/* May url be fetched with the channel's token? */
static bool
download_url_allowed(const struct channel *ch, const char *url)
{
	const char *base = cfg_str(ch->config, "api_base_url", WA_DEFAULT_API_BASE);

	return url_same_origin(url, base) ||
	    url_https_host_in(url, meta_media_hosts, meta_media_suffixes);
}

#define WA_MEDIA_URL_REFUSED \
	"the media URL is neither on the api_base_url's origin nor https on a Meta media host"

int
wa_media_fetch_prepare(struct channel *ch, const json_t *source, const json_t *state,
    struct media_step *out, struct channel_error *err)
{
	const char *id = json_string_value(get(source, "id"));
	const char *url = json_string_value(get(state, "url"));
	const char *token = cfg_str(ch->config, "access_token", NULL);

	*out = (struct media_step){ 0 };
	if (url) {
		if (token == NULL) {
			norm_err(err, "config.access_token", "the channel has no access token");
			return -1;
		}
		if (!download_url_allowed(ch, url)) {
			norm_err(err, "media.url", WA_MEDIA_URL_REFUSED);
			return -1;
		}
		out->kind = MEDIA_STEP_DOWNLOAD;
		out->req.method = xstrdup("GET");
		out->req.url = xstrdup(url);
		out->req.headers[out->req.nheaders++] = xasprintf("Authorization: Bearer %s", token);
		snprintf(out->mime_type, sizeof(out->mime_type), "%s",
		    json_string_value(get(state, "mime_type")) ? json_string_value(get(state, "mime_type")) : "");
		return 0;
	}
	if (!media_id_ok(id)) {
		norm_err(err, "media.id", "the webhook named no usable media id");
		return -1;
	}
	out->kind = MEDIA_STEP_REQUEST;
	if (graph_request(ch, "GET", id, &out->req) != 0) {
		norm_err(err, "config.access_token", "the channel has no access token");
		return -1;
	}
	return 0;
}

/* A download URL we follow: http(s), printable, no spaces, within WA_MEDIA_URL_MAX. */
static bool
url_ok(const char *u)
{
	if (u == NULL || strlen(u) > WA_MEDIA_URL_MAX ||
	    (strncmp(u, "https://", 8) != 0 && strncmp(u, "http://", 7) != 0))
		return false;
	for (const char *p = u; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

static void
answer_fail(struct media_answer *out, enum media_verdict v, const char *fmt, const char *detail)
{
	out->verdict = v;
	snprintf(out->error, sizeof(out->error), fmt, detail);
}

void
wa_media_fetch_parse(struct channel *ch, const json_t *source, const json_t *state,
    const struct send_response *resp, struct media_answer *out)
{
	json_t *root = NULL;
	const json_t *e;
	const char *url;
	char jerr[8];

	*out = (struct media_answer){ 0 };
	if (resp->http_status == 0) {
		answer_fail(out, MEDIA_TEMPFAIL, "network: %s", resp->net_error ? resp->net_error : "no answer");
		return;
	}
	if (resp->body && resp->body_len > 0)
		json_parse_capped(resp->body, resp->body_len, WA_JSON_DEPTH_MAX, &root, jerr, sizeof(jerr));
	if (resp->http_status >= 200 && resp->http_status < 300) {
		url = json_string_value(get(root, "url"));
		if (!url_ok(url)) {
			answer_fail(out, MEDIA_TEMPFAIL, "%s", "the media answer has no usable url");
		} else if (!download_url_allowed(ch, url)) {
			answer_fail(out, MEDIA_PERMFAIL, "%s", WA_MEDIA_URL_REFUSED);
		} else {
			out->verdict = MEDIA_NEXT;
			out->state = json_pack("{s:s}", "url", url);
			if (json_is_string(get(root, "mime_type")))
				json_object_set(out->state, "mime_type", json_object_get(root, "mime_type"));
		}
		json_decref(root);
		return;
	}
	e = get(root, "error");
	const char *msg = json_string_value(get(e, "message"));
	int64_t code = get_code(get(e, "code"));
	/* Unknown or expired media (code 100, 400/404) never comes back; the
	 * token (401/403, 190) may be fixed; throttling and 5xx pass. */
	if ((resp->http_status == 400 || resp->http_status == 404) && code != 190 && code != 4 &&
	    code != 80007 && code != 130429)
		answer_fail(out, MEDIA_PERMFAIL, "the provider has no such media: %s", msg ? msg : "not found");
	else
		answer_fail(out, MEDIA_TEMPFAIL, "%s", msg ? msg : "the provider refused the media request");
	if (out->verdict == MEDIA_TEMPFAIL && msg == NULL)
		snprintf(out->error, sizeof(out->error), "HTTP %ld from the media request", resp->http_status);
	json_decref(root);
}

/* Graph's "type" of an upload: the file's MIME type. */
int
wa_media_upload_prepare(struct channel *ch, const json_t *msg, struct send_request *out,
    struct channel_error *err)
{
	const json_t *m = get(msg, "media");
	const char *path = json_string_value(get(m, "path"));
	const char *mime = json_string_value(get(m, "mime_type"));
	const char *filename = json_string_value(get(m, "filename"));
	const char *pnid = cfg_str(ch->config, "phone_number_id", NULL);
	char tail[WA_ID_MAX + 16];

	*out = (struct send_request){ 0 };
	if (!json_is_string(get(m, "file_id")) || json_is_string(get(m, "provider_media_id")))
		return 0;
	if (path == NULL || mime == NULL || pnid == NULL) {
		norm_err(err, "media.file_id", "the stored file cannot be uploaded");
		return -1;
	}
	snprintf(tail, sizeof(tail), "%s/media", pnid);
	if (graph_request(ch, "POST", tail, out) != 0) {
		norm_err(err, "config.access_token", "the channel has no access token");
		return -1;
	}
	if (send_request_part(out, "messaging_product", "whatsapp", NULL, NULL, NULL) != 0 ||
	    send_request_part(out, "type", mime, NULL, NULL, NULL) != 0 ||
	    send_request_part(out, "file", NULL, path, filename ? filename : "file", mime) != 0) {
		send_request_free(out);
		norm_err(err, "media", "the upload cannot be built");
		return -1;
	}
	return 1;
}

int
wa_media_upload_parse(struct channel *ch, const struct send_response *resp, char *id, size_t cap,
    struct send_outcome *out)
{
	json_t *root = NULL;
	char jerr[8];
	const char *v;

	*out = (struct send_outcome){ 0 };
	id[0] = '\0';
	if (resp->http_status >= 200 && resp->http_status < 300 && resp->body) {
		json_parse_capped(resp->body, resp->body_len, WA_JSON_DEPTH_MAX, &root, jerr, sizeof(jerr));
		v = json_string_value(get(root, "id"));
		if (v && *v && strlen(v) < cap && strlen(v) <= WA_ID_MAX) {
			snprintf(id, cap, "%s", v);
			json_decref(root);
			return 0;
		}
		json_decref(root);
		out->kind = SEND_TEMPFAIL;
		snprintf(out->error_title, sizeof(out->error_title), "the upload's answer has no media id");
		return -1;
	}
	/* Errors are the send's (codes first, then the status). */
	whatsapp_cloud_ops.send_classify(ch, NULL, resp, out);
	if (out->kind == SEND_OK)
		out->kind = SEND_TEMPFAIL;
	free(out->provider_message_id);
	out->provider_message_id = NULL;
	return -1;
}
