/*
 * http_body.c - request bodies that stream (uploads: http_stream_body(),
 * multipart through libmicrohttpd's post processor) and replies that are a
 * file's bytes (http_reply_fd()). http.h says how a route asks for them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../log/log.h"
#include "http_int.h"

#define MULTIPART_BUFFER 16384    /* the post processor's buffer: a part's headers fit */

void
http_stream_body(struct http_request *req, const struct http_body_sink *sink)
{
	req->sink = *sink;
}

int64_t
http_content_length(const struct http_request *req)
{
	const char *cl = MHD_lookup_connection_value(req->mc, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	int64_t n;

	if (cl == NULL || parse_i64(cl, &n) != 0 || n < 0)
		return -1;
	return n;
}

void
http_reply_fd(struct http_request *req, int status, const char *content_type, int fd, int64_t off,
    int64_t len)
{
	struct MHD_Response *resp = MHD_create_response_from_fd_at_offset64((uint64_t)len, fd,
	    (uint64_t)off);

	if (resp == NULL) {
		close(fd);
		http_reply_error(req, 500, "internal", NULL, "cannot reply with the file");
		return;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	http_set_response(req, status, resp);
}

/* --- multipart/form-data --- */

struct http_multipart {
	struct MHD_PostProcessor *pp;
	http_part_fn part;
	void *arg;
	bool stopped;
};

static enum MHD_Result
post_iter(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
    const char *content_type, const char *transfer_encoding, const char *data, uint64_t off,
    size_t size)
{
	struct http_multipart *mp = cls;

	if (mp->stopped)
		return MHD_NO;
	if (mp->part(mp->arg, key, filename, content_type, data, off, size) != 0) {
		mp->stopped = true;
		return MHD_NO;
	}
	return MHD_YES;
}

struct http_multipart *
http_multipart_new(struct http_request *req, http_part_fn part, void *arg)
{
	const char *ct = MHD_lookup_connection_value(req->mc, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_TYPE);
	struct http_multipart *mp;

	if (ct == NULL || strncasecmp(ct, MHD_HTTP_POST_ENCODING_MULTIPART_FORMDATA,
	    strlen(MHD_HTTP_POST_ENCODING_MULTIPART_FORMDATA)) != 0)
		return NULL;
	mp = xcalloc(1, sizeof(*mp));
	mp->part = part;
	mp->arg = arg;
	mp->pp = MHD_create_post_processor(req->mc, MULTIPART_BUFFER, post_iter, mp);
	if (mp->pp == NULL) {        /* no boundary, or one too long for the buffer */
		free(mp);
		return NULL;
	}
	return mp;
}

int
http_multipart_feed(struct http_multipart *mp, const char *data, size_t n)
{
	if (mp->stopped)
		return -1;
	if (MHD_post_process(mp->pp, data, n) != MHD_YES)
		mp->stopped = true;
	return mp->stopped ? -1 : 0;
}

int
http_multipart_end(struct http_multipart *mp)
{
	int r = mp->stopped ? -1 : 0;

	if (mp->pp && MHD_destroy_post_processor(mp->pp) != MHD_YES)
		r = -1;
	free(mp);
	return r;
}
