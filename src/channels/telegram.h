/*
 * telegram.h - what the Telegram Bot API adapter's files share (private to
 * src/channels/telegram*.c and its tests; the contract is channel.h).
 * telegram.c holds the channel (config, webhook, connect/disconnect,
 * getUpdates polling, answering callback queries), telegram_inbound.c the
 * normalization of one Update, telegram_outbound.c the request bodies of
 * sends and the classification of the Bot API's answers. The pure
 * functions below are what the unit tests and the fuzz harness call.
 */
#ifndef MSGD_TELEGRAM_H
#define MSGD_TELEGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "channel.h"

#define TG_JSON_DEPTH_MAX   64              /* containers nested in an Update */
#define TG_ID_MAX           64              /* bytes of an address or provider id */
#define TG_TEXT_MAX         4096            /* characters of a message's text */
#define TG_CAPTION_MAX      1024            /* characters of a media caption */
#define TG_DEFAULT_API_BASE "https://api.telegram.org"

/*
 * One Update (parsed) into records of channel_id: messages, edits,
 * reactions, button presses, a contact's reachability. self is the bot's
 * address (the msg_in.to of inbound messages). Returns 0 (an update of a
 * kind it does not store adds nothing), or -1 with err set when root is
 * not an Update: not an object, or no integer update_id.
 */
int tg_normalize_update(const json_t *root, int64_t channel_id, const char *self,
    struct ingest_batch *out, struct channel_error *err);

/*
 * Telegram's entities of text (offset/length in UTF-16 code units) as
 * parts.entities: [{type, offset, length, text, url?, user?, language?,
 * custom_emoji_id?}] with offset/length in Unicode code points and text
 * the exact UTF-8 substring. An entity out of range is clamped to the
 * text, one that is empty after that is skipped. NULL when none is left.
 */
json_t *tg_entities(const char *text, size_t len, const json_t *entities);

/*
 * The Bot API request of one outbound message (its JSON as the API shows
 * it): the method ("sendMessage", "sendPhoto", ...) and its JSON body
 * (new ref), or NULL with err set when Telegram cannot send it.
 */
json_t *tg_send_body(const json_t *msg, const char **method, struct channel_error *err);

/* The request field that carries a media type's file ("photo" for image), or NULL. */
const char *tg_media_field(const char *type);
/* telegram_media.c: the media fetch slots (channel.h), and a send whose
 * body (consumed) goes as multipart/form-data with the stored file at
 * path as its field's part. */
int tg_media_fetch_prepare(struct channel *ch, const json_t *source, const json_t *state,
    struct media_step *out, struct channel_error *err);
void tg_media_fetch_parse(struct channel *ch, const json_t *source, const json_t *state,
    const struct send_response *resp, struct media_answer *out);
int tg_multipart(const char *url, json_t *body, const char *field, const json_t *media,
    struct send_request *out);
/* The file_id Telegram gave the file an accepted send carried (the largest
 * photo size, or the document, video, audio, voice or sticker), to send it
 * again by id: 0 with id, or -1. */
int tg_media_sent_id(struct channel *ch, const json_t *msg, const struct send_response *resp,
    char *id, size_t cap);

/* Every answer of a send (network errors included) to one outcome. */
/* chat: where the message went (the provider id's chat when the answer
 * names none), or NULL. */
void tg_classify(const struct send_response *resp, const char *chat, struct send_outcome *out);
/* getMe's answer to a check_state. */
void tg_check_classify(const struct send_response *resp, struct check_result *out);

/* ok, description and error_code of a Bot API answer; -1 when the body is
 * not a JSON object. *result is borrowed from *root (json_decref(*root)). */
int tg_parse_answer(const struct send_response *resp, json_t **root, bool *ok,
    const char **description, int64_t *error_code);

/* channel_ops.address_normalize: a chat id ("-100123", leading zeros and
 * '+' refused) or "@channelusername". */
int tg_address_normalize(const char *s, size_t len, char *out, size_t outlen);
/* Negative chat ids (groups, supergroups, channels) and @channels. */
bool tg_is_group(const char *address);

#endif
