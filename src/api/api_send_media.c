/*
 * api_send_media.c - a send's "media" object (url, id or file_id; its
 * filename cleaned as an upload's is), and outbound media by file_id
 * (issue 14): "media":{"file_id":"f_..."} names a file of the organization's files
 * store. It must exist in the caller's organization, fit the channel's
 * media limit for the message's type, and its sniffed MIME type must fit
 * the type (an image for image and sticker, audio for audio and voice,
 * video for video; a document may be anything): 422 otherwise, naming the
 * reason. The message's media part then carries the file's id, sha256,
 * size, MIME type and name; the send's op references the file (refs + 1),
 * and the outbox uploads it or sends it as multipart at send time.
 */
#include "api.h"
#include "api_send.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../channels/channel.h"
#include "../files/files.h"
#include "../util/util.h"

/* Does a MIME type fit a message type? */
static bool
mime_fits(const char *type, const char *mime)
{
	if (strcmp(type, "document") == 0)
		return true;
	if (strcmp(type, "image") == 0)
		return strncmp(mime, "image/", 6) == 0;
	if (strcmp(type, "sticker") == 0)
		return strcmp(mime, "image/webp") == 0 || strcmp(mime, "image/png") == 0;
	if (strcmp(type, "audio") == 0 || strcmp(type, "voice") == 0)
		return strncmp(mime, "audio/", 6) == 0 || strcmp(mime, "application/ogg") == 0;
	if (strcmp(type, "video") == 0)
		return strncmp(mime, "video/", 6) == 0;
	return false;
}

int
api_send_media_file(struct app *app, struct send_reads *rs, int64_t org, const struct channel *ch,
    const char *type, const char *file_id, const char *caption, const char *filename,
    struct msg_in *m, struct send_error *e)
{
	struct file_info fi;
	const struct media_limit *ml;
	json_t *media;
	int r;

	if ((r = sr_file_get(app, rs, org, file_id, &fi)) < 0)
		return send_fail(e, "internal", "media.file_id", "cannot read the file");
	if (r == 0)
		return send_fail(e, "file_not_found", "media.file_id", "no file '%.40s' in this organization",
		    file_id);
	ml = channel_media_limit(ch->ops, type);
	if (ml == NULL && strcmp(type, "voice") == 0)
		ml = channel_media_limit(ch->ops, "audio");
	if (ml && ml->max_bytes > 0 && fi.size > ml->max_bytes)
		return send_fail(e, "media_too_large", "media.file_id",
		    "the file has %lld bytes; this channel sends %s of at most %lld bytes",
		    (long long)fi.size, type, (long long)ml->max_bytes);
	if (!mime_fits(type, fi.mime_type))
		return send_fail(e, "media_type_mismatch", "media.file_id",
		    "the file is %.100s, which cannot be sent as %s", fi.mime_type, type);
	media = json_pack("{s:s,s:s,s:I,s:s}", "file_id", fi.id, "sha256", fi.sha256,
	    "size", (json_int_t)fi.size, "mime_type", fi.mime_type);
	char url[64];
	snprintf(url, sizeof(url), "/v1/files/%s", fi.id);
	json_object_set_new(media, "url", json_string(url));  /* to show it; never sent */
	if (filename)
		json_object_set_new(media, "filename", json_string(filename));
	else if (fi.filename[0])
		json_object_set_new(media, "filename", json_string(fi.filename));
	if (caption)
		json_object_set_new(media, "caption", json_string(caption));
	json_object_set_new(m->parts, "media", media);
	free(m->file_ref);
	m->file_ref = xstrdup(fi.id);
	return 0;
}

/* A send's "media" (url, id or file_id; caption, filename) checked into
 * parts and m; *caption_out the caption (NULL when none); -1 with e. */
int
api_send_media(struct app *app, struct send_reads *rs, int64_t org, const struct channel *ch,
    const char *type, const json_t *media, json_t *parts, struct msg_in *m, const char **caption_out,
    struct send_error *e)
{
	static const char *const mk[] = { "url", "id", "file_id", "caption", "filename", NULL };
	const char *url, *id, *file_id, *caption, *filename;

	*caption_out = NULL;
	if (!json_is_object(media))
		return send_fail(e, "validation_failed", "media", "'media' {\"url\"|\"id\"|\"file_id\"} is required for %s", type);
	if (check_keys(media, mk, "media.", e) != 0 ||
	    opt_str(media, "url", "media.url", 2048, &url, e) != 0 ||
	    opt_str(media, "id", "media.id", 256, &id, e) != 0 ||
	    opt_str(media, "file_id", "media.file_id", 64, &file_id, e) != 0 ||
	    opt_str(media, "caption", "media.caption", TEXT_MAX_CHARS * 4, caption_out, e) != 0 ||
	    opt_str(media, "filename", "media.filename", 256, &filename, e) != 0)
		return -1;
	if ((url != NULL) + (id != NULL) + (file_id != NULL) != 1)
		return send_fail(e, "validation_failed", "media", "'media' needs exactly one of url, id or file_id");
	if (url && strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
		return send_fail(e, "validation_failed", "media.url", "'media.url' must be an http(s) URL");
	caption = *caption_out;
	if (caption && utf8_chars(caption, strlen(caption)) > 1024)
		return send_fail(e, "validation_failed", "media.caption", "'media.caption' is longer than 1024 characters");
	/* The name is shown to the recipient and in the panel: no folders,
	 * controls or bidi overrides (files_sanitize_name()). */
	char fname[FILES_NAME_MAX];
	files_sanitize_name(filename, fname, sizeof(fname));
	filename = fname[0] ? fname : NULL;
	if (file_id) {  /* a stored file (above) */
		if (api_send_media_file(app, rs, org, ch, type, file_id, caption, filename, m, e) != 0)
			return -1;
	} else {
		json_t *copy = json_deep_copy(media);
		if (filename)
			json_object_set_new(copy, "filename", json_string(filename));
		else
			json_object_del(copy, "filename");
		json_object_set_new(parts, "media", copy);
	}
	return 0;
}
