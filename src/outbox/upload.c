/*
 * upload.c - outbound media by file_id: the first of two steps (issue 14).
 *
 * A message that sends a stored file ("media":{"file_id","sha256",...}) is
 * handed to the adapter with "media.path", its content on disk. A channel
 * whose provider wants the file uploaded first (channel.h:
 * media_upload_prepare, WhatsApp's POST /{phone-number-id}/media) gets it
 * uploaded before the send, and the message then carries
 * "media.provider_media_id". The provider's id is kept per (channel,
 * content) in memory and in media_uploads (WhatsApp's ids last 30 days:
 * one older than UPLOAD_TTL_MS is uploaded again), so a campaign with one
 * image uploads it once, across restarts and instances. A type that sends
 * the file with the message (Telegram) gives a reusable id in the send's
 * answer instead (media_sent_id): kept the same way, so later sends of the
 * content name it rather than carrying the file again.
 *
 * One lookup or upload per (channel, content) at a time: attempts that
 * need it meanwhile wait on its entry and go on with its answer. An
 * upload is safe to repeat (a lost answer costs a second upload); the
 * send after it is the step that counts for exactly-once, and the entry
 * stays claimed (in flight) throughout, so a crash in between sends it
 * again after recovery, as any in-flight entry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../channels/channel.h"
#include "../files/files.h"
#include "../httpc/httpc.h"
#include "../log/log.h"
#include "../util/util.h"
#include "outbox_int.h"

#define UPLOADS_MAX 1024                          /* entries kept in memory */
#define UPLOAD_TTL_MS (29LL * 24 * 3600 * 1000)   /* WhatsApp media ids: 30 days */
#define UPLOAD_TIMEOUT_MS 120000
#define UPLOAD_ID_MAX 256

struct upload {
	struct upload *next;
	struct outbox *ob;
	int64_t channel_id;
	char sha256[65];
	char media_id[UPLOAD_ID_MAX];     /* "" while unknown */
	int64_t at_ms;                    /* when it was uploaded (wall clock) */
	bool busy;                        /* a lookup or an upload in flight */
	struct attempt **waiting;         /* attempts that go on with its answer */
	size_t nwait, capwait;
	struct store_read rd;
	int rc;
	struct store_op op;               /* the id written to media_uploads */
	bool op_busy;
};

void
outbox_set_files_dir(struct outbox *ob, const char *dir)
{
	free(ob->files_dir);
	ob->files_dir = dir ? xstrdup(dir) : NULL;
}

static struct upload *
find(struct outbox *ob, int64_t channel_id, const char *sha256)
{
	for (struct upload *u = ob->uploads; u; u = u->next)
		if (u->channel_id == channel_id && strcmp(u->sha256, sha256) == 0)
			return u;
	return NULL;
}

/* Forget the oldest idle entries beyond UPLOADS_MAX (the list is newest first). */
static void
trim(struct outbox *ob)
{
	struct upload **pp = &ob->uploads;
	size_t i = 0;

	while (*pp) {
		struct upload *u = *pp;
		if (++i > UPLOADS_MAX && !u->busy && !u->op_busy && u->nwait == 0) {
			*pp = u->next;
			free(u->waiting);
			free(u);
			ob->nuploads--;
			continue;
		}
		pp = &u->next;
	}
}

static void
wait_on(struct upload *u, struct attempt *a)
{
	if (u->nwait == u->capwait) {
		u->capwait = u->capwait ? u->capwait * 2 : 4;
		u->waiting = xrealloc(u->waiting, u->capwait * sizeof(*u->waiting));
	}
	u->waiting[u->nwait++] = a;
}

static void
set_media(struct attempt *a, const char *key, const char *v)
{
	json_t *media = json_object_get(a->message, "media");

	if (json_is_object(media))
		json_object_set_new(media, key, json_string(v));
}

/* Every waiting attempt goes on: sent with the id, or failed with out
 * (http_status: the upload's answer, 0 when none). */
static void
release_status(struct upload *u, const struct send_outcome *fail, long http_status)
{
	struct outbox *ob = u->ob;
	struct attempt **w = u->waiting;
	size_t n = u->nwait;

	u->waiting = NULL;
	u->nwait = u->capwait = 0;
	u->busy = false;
	for (size_t i = 0; i < n; i++) {
		struct attempt *a = w[i];
		struct channel *ch = registry_find_id(ob->reg, a->channel_id);
		if (ob->stopping) {
			attempt_free(a);
		} else if (fail || ch == NULL) {
			struct send_outcome out = fail ? *fail : (struct send_outcome){ .kind = SEND_PERMFAIL };
			a->http = http_status != 0;
			a->http_status = http_status;
			if (!fail)
				snprintf(out.error_title, sizeof(out.error_title), "channel deleted");
			out.provider_message_id = NULL;
			handle_outcome(a, &out, fail == NULL);
		} else {
			set_media(a, "provider_media_id", u->media_id);
			outbox_attempt_send(ob, ch, a);
		}
	}
	free(w);
}

static void
release(struct upload *u, const struct send_outcome *fail)
{
	release_status(u, fail, 0);
}

static void
recorded(struct store_op *op, void *arg)
{
	struct upload *u = arg;

	u->op_busy = false;
	if (op->result != 0)
		log_warn("outbox: cannot keep an uploaded media id (it will be uploaded again)",
		    "error", op->errmsg);
}

static void remember(struct outbox *ob, struct upload *u, const char *id);

static void
uploaded(void *arg, const struct send_response *resp)
{
	struct upload *u = arg;
	struct outbox *ob = u->ob;
	struct channel *ch;
	struct send_outcome out = { 0 };
	char id[UPLOAD_ID_MAX];

	if (ob->stopping) {
		release(u, NULL);
		return;
	}
	ch = registry_find_id(ob->reg, u->channel_id);
	if (ch == NULL || ch->ops->media_upload_parse == NULL) {
		release(u, NULL);
		return;
	}
	if (ch->ops->media_upload_parse(ch, resp, id, sizeof(id), &out) != 0) {
		if (out.error_title[0] == '\0')
			snprintf(out.error_title, sizeof(out.error_title), "the media upload failed");
		release_status(u, &out, resp->http_status);
		return;
	}
	remember(ob, u, id);
	release(u, NULL);
}

/* No usable id: upload the file of the first waiting attempt. */
static void
upload(struct upload *u)
{
	struct outbox *ob = u->ob;
	struct channel *ch = registry_find_id(ob->reg, u->channel_id);
	struct channel_error err = { 0 };
	struct send_request req = { 0 };
	struct send_outcome out = { 0 };
	int r;

	if (ch == NULL || u->nwait == 0) {
		release(u, NULL);
		return;
	}
	r = ch->ops->media_upload_prepare(ch, u->waiting[0]->message, &req, &err);
	if (r <= 0) {
		send_request_free(&req);
		if (r == 0) {  /* nothing to upload after all */
			struct attempt **w = u->waiting;
			size_t n = u->nwait;
			u->waiting = NULL;
			u->nwait = u->capwait = 0;
			u->busy = false;
			for (size_t i = 0; i < n; i++)
				outbox_attempt_send(ob, ch, w[i]);
			free(w);
			return;
		}
		out.kind = SEND_PERMFAIL;
		snprintf(out.error_title, sizeof(out.error_title), "cannot be sent on this channel");
		snprintf(out.error_detail, sizeof(out.error_detail), "%s%s%s", err.field,
		    err.field[0] ? ": " : "", err.message);
		release(u, &out);
		return;
	}
	if (httpc_start(ob->hc, &req, UPLOAD_TIMEOUT_MS, uploaded, u) != 0) {
		out.kind = SEND_TEMPFAIL;
		snprintf(out.error_title, sizeof(out.error_title), "cannot start the media upload");
		release(u, &out);
	}
	send_request_free(&req);
}

static bool
fresh(const struct upload *u)
{
	return u->media_id[0] && now_ms() - u->at_ms < UPLOAD_TTL_MS;
}

static void
lookup_run(struct store *st, void *arg)
{
	struct upload *u = arg;
	u->rc = store_media_upload_get(st, u->channel_id, u->sha256, u->media_id,
	    sizeof(u->media_id), &u->at_ms);
}

/* No id known: a type that sends the file with the message sends it so. */
static void
send_files(struct upload *u)
{
	struct outbox *ob = u->ob;
	struct attempt **w = u->waiting;
	size_t n = u->nwait;

	u->waiting = NULL;
	u->nwait = u->capwait = 0;
	u->busy = false;
	for (size_t i = 0; i < n; i++) {
		struct channel *ch = registry_find_id(ob->reg, w[i]->channel_id);
		if (ob->stopping || ch == NULL) {
			struct send_outcome out = { .kind = SEND_PERMFAIL };
			snprintf(out.error_title, sizeof(out.error_title), "channel deleted");
			if (ob->stopping)
				attempt_free(w[i]);
			else
				handle_outcome(w[i], &out, true);
		} else {
			outbox_attempt_send(ob, ch, w[i]);
		}
	}
	free(w);
}

static void
lookup_done(void *arg)
{
	struct upload *u = arg;
	struct channel *ch = registry_find_id(u->ob->reg, u->channel_id);

	if (u->ob->stopping) {
		release(u, NULL);
		return;
	}
	if (u->rc == 0 && fresh(u))
		release(u, NULL);
	else if (ch && ch->ops->media_upload_prepare == NULL)
		send_files(u);
	else
		upload(u);
}

/* Keep id as the content's provider id on the channel (memory and media_uploads). */
static void
remember(struct outbox *ob, struct upload *u, const char *id)
{
	snprintf(u->media_id, sizeof(u->media_id), "%s", id);
	u->at_ms = now_ms();
	if (u->op_busy)
		return;
	u->op_busy = true;
	u->op = (struct store_op){ .kind = STORE_OP_MEDIA_UPLOADED, .u.media_upload = {
	    .channel_id = u->channel_id, .sha256 = u->sha256, .media_id = u->media_id,
	    .at_ms = u->at_ms }, .done = recorded, .arg = u };
	store_submit(ob->st, &u->op);
}

void
outbox_media_sent(struct outbox *ob, struct channel *ch, struct attempt *a,
    const struct send_response *resp)
{
	json_t *media = json_object_get(a->message, "media");
	const char *sha = json_string_value(json_object_get(media, "sha256"));
	char id[UPLOAD_ID_MAX];
	struct upload *u;

	if (ch->ops->media_sent_id == NULL || !json_is_string(json_object_get(media, "file_id")) ||
	    json_is_string(json_object_get(media, "provider_media_id")) || sha == NULL)
		return;
	if (ch->ops->media_sent_id(ch, a->message, resp, id, sizeof(id)) != 0)
		return;
	if ((u = find(ob, ch->id, sha)) == NULL || u->busy)
		return;  /* forgotten meanwhile, or being looked up: the next send learns it */
	remember(ob, u, id);
}

int
outbox_media_step(struct outbox *ob, struct channel *ch, struct attempt *a)
{
	json_t *media = json_object_get(a->message, "media");
	const char *sha = json_string_value(json_object_get(media, "sha256"));
	char path[FILES_PATH_MAX];
	struct upload *u;

	if (!json_is_string(json_object_get(media, "file_id")))
		return 0;
	if (ob->files_dir == NULL || files_path_in(ob->files_dir, sha, path, sizeof(path)) != 0) {
		struct send_outcome out = { .kind = SEND_PERMFAIL };
		snprintf(out.error_title, sizeof(out.error_title), "the stored file cannot be read");
		handle_outcome(a, &out, true);
		return 1;
	}
	set_media(a, "path", path);
	bool uploads = ch->ops->media_upload_prepare && ch->ops->media_upload_parse;
	if (!uploads && ch->ops->media_sent_id == NULL)
		return 0;
	if ((u = find(ob, ch->id, sha)) == NULL) {
		u = xcalloc(1, sizeof(*u));
		u->ob = ob;
		u->channel_id = ch->id;
		snprintf(u->sha256, sizeof(u->sha256), "%s", sha);
		u->next = ob->uploads;
		ob->uploads = u;
		ob->nuploads++;
		trim(ob);
	}
	if (!u->busy && fresh(u)) {
		set_media(a, "provider_media_id", u->media_id);
		return 0;
	}
	wait_on(u, a);
	if (!u->busy) {
		u->busy = true;
		u->media_id[0] = '\0';
		u->rd = (struct store_read){ .run = lookup_run, .done = lookup_done, .arg = u };
		store_read_submit(ob->st, &u->rd);
	}
	return 1;
}

void
outbox_uploads_free(struct outbox *ob)
{
	while (ob->uploads) {
		struct upload *u = ob->uploads;
		ob->uploads = u->next;
		for (size_t i = 0; i < u->nwait; i++)
			attempt_free(u->waiting[i]);
		free(u->waiting);
		free(u);
	}
	ob->nuploads = 0;
}
