/*
 * http_body.c - request bodies that stream (uploads: http_stream_body(),
 * multipart through libmicrohttpd's post processor) and replies that are a
 * file's bytes (http_reply_fd()). http.h says how a route asks for them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/event.h>

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

/*
 * A lingering close: MHD closes its descriptor at once, but a socket closed
 * with unread bytes is reset, and a client still sending would lose the
 * answer. A duplicate keeps the socket open while what the client had in
 * flight is read and thrown away (polled: MHD shuts the reading side down,
 * after which an empty queue reads as the end), for LINGER_MS or until
 * LINGER_BYTES.
 */
#define LINGER_MS 2000
#define LINGER_POLL_MS 20
#define LINGER_BYTES (4u * 1024 * 1024)
#define LINGER_READ 65536

struct body_linger {
	struct event *ev;
	int fd;
	size_t read;
	int64_t deadline_ms;
	struct body_linger *next, *prev;
};

static struct body_linger *lingers;   /* the loop thread's */

static void
linger_end(struct body_linger *l)
{
	if (l->prev)
		l->prev->next = l->next;
	else
		lingers = l->next;
	if (l->next)
		l->next->prev = l->prev;
	event_free(l->ev);
	close(l->fd);
	free(l);
}

static void
linger_cb(evutil_socket_t fd, short what, void *arg)
{
	struct body_linger *l = arg;
	char scratch[LINGER_READ];
	ssize_t n;

	(void)what;
	while (l->read <= LINGER_BYTES && (n = recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT)) > 0)
		l->read += (size_t)n;
	if (l->read > LINGER_BYTES || mono_ms() >= l->deadline_ms)
		linger_end(l);
}

static void
linger_start(struct event_base *base, int fd)
{
	int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup_fd < 0)
		return;
	struct body_linger *l = xcalloc(1, sizeof(*l));
	l->fd = dup_fd;
	l->deadline_ms = mono_ms() + LINGER_MS;
	l->ev = event_new(base, dup_fd, EV_PERSIST, linger_cb, l);
	event_add(l->ev, &(struct timeval){ .tv_usec = LINGER_POLL_MS * 1000 });
	l->next = lingers;
	if (lingers)
		lingers->prev = l;
	lingers = l;
}

void
http_linger_stop(void)
{
	while (lingers)
		linger_end(lingers);
}

void
http_refusal_header(struct http_request *req, const char *name, const char *value)
{
	size_t used = strlen(req->refusal_headers);

	if (strpbrk(name, "\r\n") || strpbrk(value, "\r\n"))
		return;
	int n = snprintf(req->refusal_headers + used, sizeof(req->refusal_headers) - used, "%s: %s\r\n",
	    name, value);
	if (n < 0 || (size_t)n >= sizeof(req->refusal_headers) - used)
		req->refusal_headers[used] = '\0';
}

void
http_write_refusal(struct http_request *req)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(req->mc, MHD_CONNECTION_INFO_CONNECTION_FD);
	char head[HTTP_REFUSAL_HEADERS_MAX + 512];

	if (req->resp) {
		MHD_destroy_response(req->resp);   /* its bytes are in req->refusal */
		req->resp = NULL;
	}
	if (ci == NULL)
		return;
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %u %s\r\nContent-Type: %s\r\nX-Request-Id: %s\r\n"
	    "Cache-Control: no-store\r\n%sConnection: close\r\nContent-Length: %zu\r\n\r\n", req->status,
	    MHD_get_reason_phrase_for(req->status), req->refusal_type, req->id, req->refusal_headers,
	    req->refusal_len);
	if (n < 0 || (size_t)n >= sizeof(head))
		return;
	struct iovec iov[2] = { { head, (size_t)n }, { req->refusal, req->refusal_len } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
	/* MHD has written nothing for this request: the socket takes it at once. */
	(void)!sendmsg(ci->connect_fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	shutdown(ci->connect_fd, SHUT_WR);
	linger_start(req->srv_base, ci->connect_fd);
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
