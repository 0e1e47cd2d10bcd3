/*
 * whatsapp_cloud.h - what the WhatsApp Cloud adapter's files share (private
 * to src/channels/whatsapp_*.c; the contract is channel.h): caps, defaults
 * and the small readers of Meta's JSON. whatsapp_cloud.c holds the channel
 * (config, webhook, sending), whatsapp_inbound.c the normalization of
 * webhook bodies, whatsapp_check.c the credential check.
 */
#ifndef MSGD_WHATSAPP_CLOUD_H
#define MSGD_WHATSAPP_CLOUD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "../util/util.h"
#include "channel.h"

#define WA_JSON_DEPTH_MAX  64           /* containers nested in a webhook body */
#define WA_ID_MAX          256          /* bytes of an id, address or phone number id */
#define WA_WABA_ID_MAX     32           /* digits of a WhatsApp Business Account id */
#define WA_DEFAULT_API_BASE    "https://graph.facebook.com"
#define WA_DEFAULT_API_VERSION "v21.0"

/* The Graph API body for one outbound message (whatsapp_outbound.c), or
 * NULL with err set when the message cannot be sent by WhatsApp. */
json_t *wa_message_body(const json_t *msg, struct channel_error *err);

/* A WhatsApp Business Account id (a Graph path segment): 1 to
 * WA_WABA_ID_MAX ASCII digits. */
static inline bool
wa_waba_id_ok(const char *s)
{
	size_t n = 0;

	if (s == NULL)
		return false;
	for (; s[n]; n++)
		if (s[n] < '0' || s[n] > '9' || n >= WA_WABA_ID_MAX)
			return false;
	return n > 0;
}

/* GET {api_base_url}/{api_version}/{phone_number_id} with the access token. */
int whatsapp_check_prepare(struct channel *ch, struct send_request *out);
void whatsapp_check_classify(const struct send_response *resp, struct check_result *out);

/* Approved templates (whatsapp_templates.c, issue 14). The sync's state
 * hangs off the channel's (wa_tpl_of(): NULL for another type's channel),
 * freed by close(). */
struct wa_tpl;
struct wa_tpl **wa_tpl_of(struct channel *ch);
void wa_templates_free(struct wa_tpl *t);
int wa_templates_sync(struct channel *ch, struct channel_error *err);
void wa_templates_on_lease(struct channel *ch, bool held);
/* The values a send must supply for a template with these components. */
int64_t wa_template_params(const json_t *components);
/* One page of GET /{waba}/message_templates: its templates appended to acc
 * as {name, language, category, status, params, components}, *after the
 * cursor of the next page (NULL: the last). 0, or -1 with the error. */
int wa_templates_page(const struct send_response *resp, json_t *acc, char **after, char *err,
    size_t errlen);
/* The request for the page after `after` (NULL: the first); -1 without waba_id. */
int wa_templates_request(const struct channel *ch, const char *after, struct send_request *out);
/* whatsapp_media.c: the media slots (channel.h). */
int wa_media_fetch_prepare(struct channel *ch, const json_t *source, const json_t *state,
    struct media_step *out, struct channel_error *err);
void wa_media_fetch_parse(struct channel *ch, const json_t *source, const json_t *state,
    const struct send_response *resp, struct media_answer *out);
int wa_media_upload_prepare(struct channel *ch, const json_t *msg, struct send_request *out,
    struct channel_error *err);
int wa_media_upload_parse(struct channel *ch, const struct send_response *resp, char *id,
    size_t cap, struct send_outcome *out);

/* An identifier: a string of 1 to WA_ID_MAX bytes. */
static inline bool
is_id(const json_t *v)
{
	return json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= WA_ID_MAX;
}

static inline const json_t *
get(const json_t *obj, const char *key)
{
	return json_object_get(obj, key); /* NULL when obj is not an object */
}

/* A provider error code, a number or a numeric string; 0 when absent. */
static inline int64_t
get_code(const json_t *v)
{
	int64_t c;

	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_cstr(v) && parse_i64(json_cstr(v), &c) == 0)
		return c;
	return 0;
}

static inline void
norm_err(struct channel_error *err, const char *field, const char *msg)
{
	snprintf(err->field, sizeof(err->field), "%s", field);
	snprintf(err->message, sizeof(err->message), "%s", msg);
}

#endif
