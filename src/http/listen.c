/* listen.c - the listening socket, made here rather than by libmicrohttpd
 * so that its options are ours and a failed bind says why. */
#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../config/config.h"
#include "../log/log.h"

int
http_listen(const char *addr, int backlog, int *port_out)
{
	char host[128], msg[256];
	int port, fd = -1, one = 1;
	struct sockaddr_storage ss = { 0 };
	socklen_t sslen;

	if (config_parse_listen(addr, host, sizeof(host), &port) != 0) {
		log_error("invalid listen address", "listen", addr);
		return -1;
	}
	if (strchr(host, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, host, &s6->sin6_addr);
		sslen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, host, &s4->sin_addr);
		sslen = sizeof(*s4);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_error("cannot create the listening socket", "error", strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
		log_warn("cannot set SO_REUSEADDR", "error", strerror(errno));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sslen) != 0) {
		int e = errno;
		if (e == EADDRINUSE)
			snprintf(msg, sizeof(msg), "address %s is in use", addr);
		else
			snprintf(msg, sizeof(msg), "cannot bind to %s", addr);
		log_error(msg, "error", strerror(e));
		goto fail;
	}
	if (listen(fd, backlog) != 0) {
		log_error("listen failed", "listen", addr, "error", strerror(errno));
		goto fail;
	}
	sslen = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0) {
		log_error("getsockname failed", "error", strerror(errno));
		goto fail;
	}
	*port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
	    ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
fail:
	close(fd);
	return -1;
}
