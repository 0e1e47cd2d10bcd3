/*
 * accept.h - msgd's own accept loop (internal to src/http/).
 *
 * libmicrohttpd answers a malformed first request in HTML before any
 * callback of ours runs, so msgd accepts connections itself and looks at
 * each one's first request head (peeked, not consumed) before handing the
 * socket to libmicrohttpd with MHD_add_connection(); libmicrohttpd then
 * reads the same bytes. A head that http_head_check() refuses is answered
 * with a JSON error here and the socket closed. See accept.c.
 */
#ifndef MSGD_HTTP_ACCEPT_H
#define MSGD_HTTP_ACCEPT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct http_acceptor;

struct acceptor_ops {
	/* Connections libmicrohttpd holds now (they count against the limit
	 * together with the ones in the head check). */
	size_t (*open_conns)(void *arg);
	/* A connection whose first head passed: the socket is libmicrohttpd's
	 * from now on (closed by it even when adding fails). accepted_ms: when
	 * it was accepted (mono_ms()), for the header deadline. */
	void (*hand_over)(void *arg, int fd, const struct sockaddr *addr, socklen_t addrlen,
	    int64_t accepted_ms);
};

/* Accept on lfd (listening, non-blocking; the acceptor owns and closes it)
 * at most max_conns connections at a time (counting open_conns()). */
struct http_acceptor *acceptor_start(struct event_base *base, int lfd, size_t max_conns,
    const struct acceptor_ops *ops, void *arg);
/* Close the connections whose head is not complete header_timeout_s
 * seconds after the accept (a JSON 408 first when some of it came). Called
 * once a second. */
void acceptor_sweep(struct http_acceptor *a, int header_timeout_s);
/* A connection closed: accept again if the limit had paused accepting. */
void acceptor_resume(struct http_acceptor *a);
/* Stop accepting for good and close the listening socket; connections in
 * the head check go on. */
void acceptor_quiesce(struct http_acceptor *a);
/* Connections in the head check. */
size_t acceptor_pending(const struct http_acceptor *a);
/* Close everything and free the acceptor (NULL is fine). */
void acceptor_free(struct http_acceptor *a);

#endif
