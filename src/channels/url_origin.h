/*
 * url_origin.h - may a URL a provider handed us be fetched with the
 * channel's credential? (issue 14: media download URLs)
 *
 * An origin is scheme + host + port (the scheme's default port when the URL
 * names none), compared case-insensitively on scheme and host. URLs are
 * parsed by libcurl's URL API, so user info ("https://a@b/") and the like
 * name the host curl would connect to.
 */
#ifndef MSGD_URL_ORIGIN_H
#define MSGD_URL_ORIGIN_H

#include <stdbool.h>
#include <stddef.h>

#define URL_ORIGIN_MAX 512   /* bytes of "scheme://host:port" */

/* "scheme://host:port" of an http(s) URL into out; -1 when the URL does not
 * parse, is not http(s) or does not fit. */
int url_origin(const char *url, char *out, size_t cap);

/* True when url and base have the same origin (both http(s)). */
bool url_same_origin(const char *url, const char *base);

/* True when url is https on the default port and its host is one of
 * exact[] or ends with one of suffix[] (each starting with '.'); both
 * lists end with NULL. */
bool url_https_host_in(const char *url, const char *const *exact, const char *const *suffix);

#endif
