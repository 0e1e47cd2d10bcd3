/*
 * httpc.h - outbound HTTP on the event loop: libcurl's multi interface
 * driven by libevent (curl tells us which sockets and timeout to watch; we
 * tell curl when they fire). Connections are kept alive and reused, so a
 * steady stream of sends to one provider costs no new handshakes.
 *
 * Nothing here blocks. Each request ends in exactly one call of its done
 * callback, on the loop thread: with the HTTP status, body and Retry-After,
 * or with http_status 0 and a net_error for timeouts, resets and refused
 * connections. Response bodies are capped (HTTPC_BODY_MAX, or the request's
 * resp_max); a larger one is truncated, which is enough to read a
 * provider's error. A request with parts sends a multipart/form-data body,
 * file parts streamed from disk by libcurl (curl_mime_filedata).
 *
 * Streaming mode (httpc_start_sink): a 2xx answer's body is handed to the
 * sink chunk by chunk as it arrives, never held; the transfer is aborted
 * (done gets http_status 0, too_large) as soon as the Content-Length or the
 * bytes received pass max_bytes, or with net_error when the sink refuses a
 * chunk. Other answers are held in memory as usual, for their error.
 */
#ifndef MSGD_HTTPC_H
#define MSGD_HTTPC_H

#include "../channels/channel.h"

#define HTTPC_BODY_MAX (256 * 1024)
#define HTTPC_RESP_MAX_CAP (64 * 1024 * 1024)  /* a request's resp_max, at most */

struct event_base;
struct httpc;

typedef void (*httpc_done_fn)(void *arg, const struct send_response *resp);

int httpc_new(struct httpc **out, struct event_base *base, int max_host_connections);
/* Abort every request in flight: each done callback still runs once, with
 * http_status 0 and net_error "shutting down", so callers can free. */
void httpc_free(struct httpc *hc);
/* Start req (copied); done runs once, later, never from inside this call. */
int httpc_start(struct httpc *hc, const struct send_request *req, long timeout_ms,
    httpc_done_fn done, void *arg);
size_t httpc_inflight(struct httpc *hc);

struct httpc_sink {
	int (*write)(void *arg, const void *data, size_t n);   /* 0, or -1: abort */
	void *arg;
	int64_t max_bytes;
};
/* httpc_start() whose 2xx body goes to sink (copied) instead of memory. */
int httpc_start_sink(struct httpc *hc, const struct send_request *req, long timeout_ms,
    const struct httpc_sink *sink, httpc_done_fn done, void *arg);

#endif
