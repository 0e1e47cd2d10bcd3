/*
 * whatsapp_check.c - does a WhatsApp channel's access token work?
 *
 * The cheapest authenticated Graph request that involves the channel's own
 * number: GET {api_base_url}/{api_version}/{phone_number_id}. A good token
 * answers 200 {"verified_name","display_phone_number","id"}; an expired,
 * revoked or made-up one 401 with an OAuthException (code 190). The outbox
 * runs the request (httpc, on the loop) after a channel is created or
 * changed; this file only builds it and reads the answer. The token goes
 * into the Authorization header only.
 */
#include "whatsapp_cloud.h"

#include <stdio.h>
#include <string.h>

#include "../util/util.h"

#define CHECK_JSON_DEPTH_MAX 16

static const char *
cfg_str(const json_t *cfg, const char *key, const char *def)
{
	const char *v = json_string_value(json_object_get(cfg, key));
	return v ? v : def;
}

int
whatsapp_check_prepare(struct channel *ch, struct send_request *out)
{
	const char *base = cfg_str(ch->config, "api_base_url", WA_DEFAULT_API_BASE);
	const char *version = cfg_str(ch->config, "api_version", WA_DEFAULT_API_VERSION);
	const char *pnid = cfg_str(ch->config, "phone_number_id", NULL);
	const char *token = cfg_str(ch->config, "access_token", NULL);
	size_t n = strlen(base);

	*out = (struct send_request){ 0 };
	if (pnid == NULL || token == NULL)
		return -1;
	while (n > 0 && base[n - 1] == '/')
		n--;
	out->method = xstrdup("GET");
	out->url = xasprintf("%.*s/%s/%s?fields=verified_name,display_phone_number", (int)n, base,
	    version, pnid);
	out->headers[out->nheaders++] = xasprintf("Authorization: Bearer %s", token);
	return 0;
}

/* Codes that say the token (or its permissions) is the problem. */
static bool
credentials_code(int64_t code)
{
	return code == 190 || code == 102 || code == 10 || (code >= 200 && code <= 299);
}

/* Printable text of a JSON string, cut to the buffer. */
static void
copy_text(char *dst, size_t cap, const json_t *v)
{
	snprintf(dst, cap, "%s", json_string_value(v) ? json_string_value(v) : "");
	utf8_sanitize(dst);
}

void
whatsapp_check_classify(const struct send_response *resp, struct check_result *out)
{
	json_t *root = NULL, *e;
	char jerr[8];

	*out = (struct check_result){ 0 };
	if (resp->http_status == 0) {
		out->state = CHECK_UNREACHABLE;
		snprintf(out->message, sizeof(out->message), "%s",
		    resp->net_error && *resp->net_error ? resp->net_error : "network error");
		return;
	}
	if (resp->body && resp->body_len > 0)
		json_parse_capped(resp->body, resp->body_len, CHECK_JSON_DEPTH_MAX, &root, jerr,
		    sizeof(jerr));
	e = json_object_get(root, "error");
	if (json_is_object(e)) {
		json_t *code = json_object_get(e, "code");
		out->error_code = json_is_integer(code) ? json_integer_value(code) : 0;
		copy_text(out->message, sizeof(out->message), json_object_get(e, "message"));
	}
	if (out->message[0] == '\0' && (resp->http_status < 200 || resp->http_status >= 300))
		snprintf(out->message, sizeof(out->message), "HTTP %ld", resp->http_status);

	if (credentials_code(out->error_code) || resp->http_status == 401 || resp->http_status == 403)
		out->state = CHECK_INVALID_CREDENTIALS;
	else if (resp->http_status >= 500)
		out->state = CHECK_UNREACHABLE;
	else if (resp->http_status >= 200 && resp->http_status < 300 && !json_is_object(e) &&
	    json_is_object(root)) {
		const char *name = json_string_value(json_object_get(root, "verified_name"));
		const char *phone = json_string_value(json_object_get(root, "display_phone_number"));
		out->state = CHECK_OK;
		snprintf(out->message, sizeof(out->message), "%s%s%s%s", name ? name : "",
		    name && phone ? " (" : "", phone ? phone : "", name && phone ? ")" : "");
		utf8_sanitize(out->message);
	} else {
		out->state = CHECK_ERROR;
		if (out->message[0] == '\0')
			snprintf(out->message, sizeof(out->message), "unexpected answer (HTTP %ld)",
			    resp->http_status);
	}
	json_decref(root);
}
