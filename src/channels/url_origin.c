/*
 * url_origin.c - origins of provider-supplied URLs (url_origin.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "url_origin.h"

#define URL_HOST_MAX 256   /* bytes of a host name we compare */

/* Scheme (lower case), host (lower case) and port of an http(s) URL. */
static int
url_parts(const char *url, char *scheme, size_t scap, char *host, size_t hcap, long *port)
{
	CURLU *u;
	char *s = NULL, *h = NULL, *p = NULL;
	int rc = -1;

	if (url == NULL || (u = curl_url()) == NULL)
		return -1;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &s, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) == CURLUE_OK &&
	    (strcasecmp(s, "http") == 0 || strcasecmp(s, "https") == 0) &&
	    strlen(s) < scap && strlen(h) < hcap && h[0] != '\0') {
		size_t i;
		for (i = 0; s[i]; i++)
			scheme[i] = (char)tolower((unsigned char)s[i]);
		scheme[i] = '\0';
		for (i = 0; h[i]; i++)
			host[i] = (char)tolower((unsigned char)h[i]);
		host[i] = '\0';
		*port = strtol(p, NULL, 10);
		rc = *port > 0 && *port < 65536 ? 0 : -1;
	}
	curl_free(s);
	curl_free(h);
	curl_free(p);
	curl_url_cleanup(u);
	return rc;
}

int
url_origin(const char *url, char *out, size_t cap)
{
	char scheme[8], host[URL_HOST_MAX];
	long port;
	int n;

	if (url_parts(url, scheme, sizeof(scheme), host, sizeof(host), &port) != 0)
		return -1;
	n = snprintf(out, cap, "%s://%s:%ld", scheme, host, port);
	return n > 0 && (size_t)n < cap ? 0 : -1;
}

bool
url_same_origin(const char *url, const char *base)
{
	char a[URL_ORIGIN_MAX], b[URL_ORIGIN_MAX];

	return url_origin(url, a, sizeof(a)) == 0 && url_origin(base, b, sizeof(b)) == 0 &&
	    strcmp(a, b) == 0;
}

bool
url_https_host_in(const char *url, const char *const *exact, const char *const *suffix)
{
	char scheme[8], host[URL_HOST_MAX];
	long port;
	size_t hn;

	if (url_parts(url, scheme, sizeof(scheme), host, sizeof(host), &port) != 0 ||
	    strcmp(scheme, "https") != 0 || port != 443)
		return false;
	hn = strlen(host);
	for (; exact && *exact; exact++)
		if (strcmp(host, *exact) == 0)
			return true;
	for (; suffix && *suffix; suffix++) {
		size_t sn = strlen(*suffix);
		if (hn > sn && strcmp(host + hn - sn, *suffix) == 0)
			return true;
	}
	return false;
}
