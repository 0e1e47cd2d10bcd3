/* listen.h - the listening socket (internal to src/http/). */
#ifndef MSGD_HTTP_LISTEN_H
#define MSGD_HTTP_LISTEN_H

/*
 * Create, bind and listen on ADDR:PORT: non-blocking, close-on-exec, with
 * SO_REUSEADDR (a restart binds at once despite connections in TIME_WAIT)
 * and never SO_REUSEPORT, so a second msgd on a port in use fails to start
 * ("address ADDR:PORT is in use") instead of sharing it. Returns the socket
 * and the port bound (useful with port 0), or -1 (logged).
 */
int http_listen(const char *addr, int backlog, int *port_out);

#endif
