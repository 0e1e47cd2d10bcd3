/*
 * evolution.h - what the Evolution API adapter's files share (private to
 * src/channels/evolution*.c; the contract is channel.h). evolution.c holds
 * the channel (config, webhook, connect/disconnect, sending),
 * evolution_inbound.c the normalization of webhook events,
 * evolution_outbound.c the request bodies and the classification of
 * answers. The pure functions are here so unit tests and the fuzz harness
 * can call them.
 */
#ifndef MSGD_EVOLUTION_H
#define MSGD_EVOLUTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "channel.h"

#define EVO_JSON_DEPTH_MAX  64          /* containers nested in a webhook body */
#define EVO_ID_MAX          256         /* bytes of a message id or a JID */
#define EVO_INSTANCE_MAX    128         /* bytes of an instance name */
#define EVO_API_KEY_MAX     512
#define EVO_URL_MAX         512
#define EVO_ITEMS_MAX       1000        /* records read from one webhook's data array */
#define EVO_TEXT_MAX        65536       /* bytes of text in one outbound message */
#define EVO_TYPING_DELAY_MS 1200        /* "typing..." shown before each send, as a person would */

#define EVO_JID_USER   "@s.whatsapp.net"
#define EVO_JID_GROUP  "@g.us"

/* evolution_inbound.c */

/* What the webhook body's envelope says about the request. */
enum evo_body_check {
	EVO_BODY_OK = 0,
	EVO_BODY_MALFORMED,     /* not an object with an "event" string: 400 */
	EVO_BODY_REFUSED,       /* apikey or instance not the channel's: 401 */
};
/* Compare the body's apikey and instance with the channel's, in constant
 * time over the key's bytes. */
enum evo_body_check evo_body_check(const json_t *root, const char *api_key, const char *instance);

/*
 * An authenticated Evolution webhook body into records of channel_id:
 * messages.upsert → msg_in (fromMe: echoes), messages.update → status_in
 * (DELETED: a MSG_DELETE msg_in), connection.update and qrcode.updated →
 * state_in. Unknown events and parts it cannot read are skipped (logged).
 * The body's event must be a string (evo_body_check first).
 */
void evo_normalize(const json_t *root, int64_t channel_id, struct ingest_batch *out);

/* A JID as a contact address (malloc'd): "15550001111@s.whatsapp.net" (or
 * with a device, "…:12@…") → "15550001111"; groups keep "…@g.us"; other
 * suffixes (@lid, @broadcast) are kept as they are. NULL for NULL. */
char *evo_jid_address(const char *jid);
/* channel_ops.address_normalize / is_group. */
int evo_address_normalize(const char *s, size_t len, char *out, size_t outlen);
bool evo_is_group(const char *address);

/* evolution_outbound.c */

/* The body of one outbound message and the endpoint it goes to
 * ("sendText", "sendMedia"), or NULL with err set. */
json_t *evo_message_body(const json_t *msg, const char **endpoint, struct channel_error *err);
/* Any answer to a send, network errors included, as one outcome. */
void evo_send_classify(struct channel *ch, const json_t *msg, const struct send_response *resp,
    struct send_outcome *out);
/* GET /instance/connectionState/{instance}. */
void evo_check_classify(const struct send_response *resp, struct check_result *out);
/* GET /instance/connect/{instance} answered: fill s (state, qr,
 * pairing_code, reason) from it. */
void evo_connect_answer(const struct send_response *resp, struct state_in *s);

/* evolution.c: {base}/{path}/{instance} with the apikey header, body
 * (consumed) as JSON when not NULL; -1 when ch is not an open Evolution
 * channel. */
int evo_channel_request(const struct channel *ch, const char *method, const char *path,
    json_t *body, struct send_request *out);

/* evolution_media.c: the media fetch slots (channel.h), and a send body
 * (consumed) as multipart/form-data parts of out with the stored file of
 * media ("path") as "file". */
#define EVO_MEDIA_B64_MAX (32 * 1024 * 1024)  /* getBase64FromMediaMessage's answer */
int evo_media_fetch_prepare(struct channel *ch, const json_t *source, const json_t *state,
    struct media_step *out, struct channel_error *err);
void evo_media_fetch_parse(struct channel *ch, const json_t *source, const json_t *state,
    const struct send_response *resp, struct media_answer *out);
int evo_multipart(json_t *body, const json_t *media, struct send_request *out);
/* What to fetch of an inbound media message (msg_in.media_source): the
 * inline base64 when the instance sent it, else the message key. */
json_t *evo_media_source(const json_t *data);

#endif
