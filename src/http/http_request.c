/*
 * http_request.c - what a handler reads of its request: method, path,
 * headers, query, the buffered body, the client's address, the request id.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include "http_int.h"

const char *
http_method(const struct http_request *req)
{
	return req->method;
}

const char *
http_path(const struct http_request *req)
{
	return req->path;
}

const char *
http_header(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->mc, MHD_HEADER_KIND, name);
}

const char *
http_client_addr(struct http_request *req)
{
	const union MHD_ConnectionInfo *ci;

	if (req->client[0] == '\0' &&
	    (ci = MHD_get_connection_info(req->mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS)) != NULL &&
	    ci->client_addr != NULL) {
		const struct sockaddr *sa = ci->client_addr;
		const void *a = sa->sa_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
		    : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
		if ((sa->sa_family != AF_INET && sa->sa_family != AF_INET6) ||
		    inet_ntop(sa->sa_family, a, req->client, sizeof(req->client)) == NULL)
			req->client[0] = '\0';
	}
	return req->client;
}

const char *
http_query(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->mc, MHD_GET_ARGUMENT_KIND, name);
}

const char *
http_body(const struct http_request *req, size_t *len)
{
	*len = req->body.len;
	return req->body.data ? req->body.data : "";
}

const char *
http_request_id(const struct http_request *req)
{
	return req->id;
}

void
http_set_route(struct http_request *req, int route)
{
	req->route = route;
}

int64_t
http_age_us(const struct http_request *req)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - req->start_us;
}
