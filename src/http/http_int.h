/*
 * http_int.h - what http.c shares with http_body.c (streamed request
 * bodies, file replies, multipart): the request, and how a reply is set.
 */
#ifndef MSGD_HTTP_INT_H
#define MSGD_HTTP_INT_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>

#include <microhttpd.h>

#include "../util/util.h"
#include "http.h"

#define HTTP_REFUSAL_MAX 1024        /* a refused upload's JSON error */
#define HTTP_REFUSAL_HEADERS_MAX 256 /* and its added headers (Retry-After) */

struct http_request {
	struct http_server *srv;
	struct MHD_Connection *mc;
	const char *method;
	char *path;
	char id[24];
	struct buf body;
	int64_t start_us;
	int route;                   /* the API's route index for metrics (-1: none) */
	bool too_large;
	size_t discarded;            /* bytes of an oversize body thrown away */
	bool dispatched;
	bool deferred;
	bool suspended;              /* deferred, and MHD suspended the connection */
	struct MHD_Response *resp;
	unsigned status;
	/* Streaming replies. */
	http_stream_read_fn stream_read;
	void (*stream_close)(void *arg);
	void *stream_arg;
	bool stream_parked;
	/* Upgrade replies: the handle until the socket is handed over. */
	struct http_upgrade *upgrade;
	bool upgrading;
	char client[INET6_ADDRSTRLEN];  /* http_client_addr(), filled when first asked */
	/* Headers for whichever reply comes (http_reply_header_early()). */
	struct {
		char name[HTTP_EARLY_NAME_MAX + 1];
		char value[HTTP_EARLY_VALUE_MAX + 1];
	} early[HTTP_EARLY_HEADERS_MAX];
	size_t nearly;
	/* A streamed body (http_stream_body(), http_body.c). */
	struct http_body_sink sink;
	/* The sink refused the body: the reply its end() made, for
	 * http_write_refusal(). */
	struct event_base *srv_base;  /* for http_write_refusal() */
	bool refusing;
	char refusal[HTTP_REFUSAL_MAX];
	size_t refusal_len;
	char refusal_type[64];
	char refusal_headers[HTTP_REFUSAL_HEADERS_MAX];  /* "Name: value\r\n"... */
};

/* Write the reply a refused streamed body got straight to the socket, with
 * Connection: close, and shut the socket's sending side (MHD closes it). */
void http_write_refusal(struct http_request *req);
/* A header added to that reply, kept for http_write_refusal() (dropped
 * when it does not fit, or holds a line break). */
void http_refusal_header(struct http_request *req, const char *name, const char *value);
/* Close the sockets still lingering after http_write_refusal(). */
void http_linger_stop(void);

/* Make resp (owned from now on) the request's reply with status: the
 * standard headers added, a deferred request resumed. */
void http_set_response(struct http_request *req, int status, struct MHD_Response *resp);

#endif
