/*
 * api_send.h - what the send path's files share (private to src/api/):
 * validation errors, the local template renderer (api_template.c), and the
 * validation entry points, callable without a request (the fuzz harnesses
 * call them; api_send.c's handlers are their only other callers).
 */
#ifndef MSGD_API_SEND_H
#define MSGD_API_SEND_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "../core/model.h"

struct app;
struct msg_in;

#define TEXT_MAX_CHARS 4096    /* characters of a message's text */
#define TEMPLATE_VAR_MAX 64    /* bytes of a {{placeholder}} name */

/* Why a send request (or a template) was refused: a 422 unless code is
 * "internal" (a storage error: 500). */
struct send_error {
	int status;
	char code[32];
	char field[64];
	char message[256];
};

static inline int __attribute__((format(printf, 4, 5)))
send_fail(struct send_error *e, const char *code, const char *field, const char *fmt, ...)
{
	va_list ap;

	e->status = 422;
	snprintf(e->code, sizeof(e->code), "%s", code);
	snprintf(e->field, sizeof(e->field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return -1;
}

/* Render "Hello {{name}}" with variables (an object by name, an array by
 * 1-based index) into a malloc'd *out of at most TEXT_MAX_CHARS * 4 bytes;
 * -1 with e filled when a placeholder is malformed or its variable missing
 * or not a string or number. */
int api_render_template(const char *body, const json_t *vars, char **out, struct send_error *e);
/* A template body's placeholders are well formed (POST /v1/templates):
 * every "{{" has a "}}" after it, with a name (not only spaces), no '{'
 * and at most TEMPLATE_VAR_MAX bytes between. */
bool api_template_body_ok(const char *body);

/* Shared with api_templates.c: a string member (absent: NULL; else
 * non-empty, at most max bytes, no NUL); no member outside allowed
 * (field named prefix+key); a validation error as the HTTP reply. */
int opt_str(const json_t *o, const char *key, const char *field, size_t max, const char **out,
    struct send_error *e);
int check_keys(const json_t *o, const char *const *allowed, const char *prefix, struct send_error *e);
struct http_request;
void reply_send_error(struct http_request *req, const struct send_error *e);

/* api_send_reads.c: the reads of a send, fetched on the reader pool in
 * rounds (see there). With rs NULL each is the store's own, synchronous. */
struct send_reads;
/* Every read of rs is organization org's. */
struct send_reads *send_reads_new(int64_t org);
void send_reads_free(struct send_reads *rs);
void send_reads_round(struct send_reads *rs);          /* a round begins */
size_t send_reads_missing(const struct send_reads *rs); /* noted this round, not fetched */
/* Fetch what is missing off the loop, then then(arg) on the loop. */
void send_reads_fetch(struct app *app, struct send_reads *rs, void (*then)(void *arg), void *arg);
/* org: the organization when rs is NULL (rs's own otherwise). */
int sr_message_provider_id(struct app *app, struct send_reads *rs, int64_t org, int64_t id,
    int64_t *channel_id, char *out, size_t outlen);
int sr_template_get(struct app *app, struct send_reads *rs, int64_t org, const char *name,
    const char *language, json_t **out);
/* api_send_caps.c: what the channel's type cannot do → 422 (before
 * anything is stored); copies the type-specific options it takes into parts. */
struct channel;
int api_send_caps_check(const struct channel *ch, const json_t *body, const char *type,
    const char *text, json_t *parts, struct send_error *e);
/* The adapter's send_prepare() on the message as it will be stored, dropped. */
int api_send_dry_run(struct channel *ch, const struct msg_in *m, struct send_error *e);
/* A channel's synced provider template (issue 14; store_channel_template_get()). */
struct channel_template;
int sr_channel_template(struct app *app, struct send_reads *rs, int64_t channel_id, const char *name,
    const char *language, struct channel_template *out);
/* The contact's reachability (read with its last inbound message). */
int sr_contact_status(struct app *app, struct send_reads *rs, int64_t channel_id,
    const char *address, enum contact_status *out, int64_t *opted_out_at);
int sr_last_inbound(struct app *app, struct send_reads *rs, int64_t channel_id, const char *address,
    int64_t *out_ms);
int sr_quota_usage(struct app *app, struct send_reads *rs, const char *scope, int64_t now_ms,
    int64_t n[3]);
int sr_fingerprint_at(struct app *app, struct send_reads *rs, int64_t org, const char *fp,
    int64_t *at_ms);
int sr_message_by_client_id(struct app *app, struct send_reads *rs, int64_t org,
    const char *client_id, json_t **out);
/* A file of org's files store (issue 14): 1 found, 0 not (yet), -1 error. */
struct file_info;
int sr_file_get(struct app *app, struct send_reads *rs, int64_t org, const char *id,
    struct file_info *out);
/* api_send_media.c: a send's media by file_id checked (the org's file, the
 * channel's limit, a MIME type that fits type) into m's media part and
 * file reference; -1 with e. */
int api_send_media_file(struct app *app, struct send_reads *rs, int64_t org,
    const struct channel *ch, const char *type, const char *file_id, const char *caption,
    const char *filename, struct msg_in *m, struct send_error *e);
/* A send's "media" object (url, id or file_id; caption; filename, cleaned
 * by files_sanitize_name()) checked into parts and m (by file_id through
 * api_send_media_file()); *caption the caption or NULL; -1 with e. */
int api_send_media(struct app *app, struct send_reads *rs, int64_t org, const struct channel *ch,
    const char *type, const json_t *media, json_t *parts, struct msg_in *m, const char **caption,
    struct send_error *e);

/* api_send_rules.c: "on_quota": "reject" refuses a send over a quota now
 * (429 quota_exceeded); the organization's duplicate window (409
 * duplicate_content unless "allow_duplicate") and bulk cooldown fill m. */
struct channel;
int api_send_quota_now(struct app *app, struct send_reads *rs, int64_t org, const struct channel *ch,
    const json_t *body, int64_t now, struct send_error *e);
int api_send_content_rules(struct app *app, struct send_reads *rs, int64_t org, const json_t *body,
    struct msg_in *m, int64_t now, struct send_error *e);

/* api_chtemplates.c (issue 14): a provider template sent on a channel with
 * synced templates must be among the APPROVED ones (422
 * template_not_approved) and be given at least its params values (422
 * template_params_missing). A channel never synced: not checked. */
int api_send_template_approved(struct app *app, struct send_reads *rs, const struct channel *ch,
    const char *name, const char *language, const json_t *vars, const json_t *comps,
    struct send_error *e);

/* Validate one send request (a POST /v1/messages body, or one item of a
 * batch) of organization org and fill m; nothing is stored. idem: the Idempotency-Key header
 * or NULL. Reads the store (templates, reply references, the window). */
int api_send_validate(struct app *app, int64_t org, const json_t *body, const char *idem,
    struct msg_in *m, struct send_error *e);
/* The envelope of POST /v1/messages/batch: {"messages":[1..batch_max items]}. */
int api_batch_validate(const struct app *app, const json_t *body, struct send_error *e);

#endif
