/*
 * web.c - serve the embedded web inbox (see web.h).
 *
 * The asset table comes from build/gen/web_assets.c. It is declared weak so
 * that a binary linked without it still builds: it then serves nothing (404)
 * rather than failing to link.
 */
#include "web.h"

#include <string.h>

#include "../http/http.h"

extern const struct web_asset web_assets[] __attribute__((weak));
extern const size_t web_assets_count __attribute__((weak));

/* The security headers every asset carries: the page loads nothing but its
 * own files (stored media included: /v1/files/...), is never framed, and its
 * types are not sniffed. */
#define WEB_CSP "default-src 'self'; img-src 'self' data:; media-src 'self'; frame-ancestors 'none'; " \
	"base-uri 'none'; form-action 'self'"

const struct web_asset *
web_find(const char *name)
{
	if (&web_assets_count == NULL || web_assets == NULL || name == NULL)
		return NULL;
	for (size_t i = 0; i < web_assets_count; i++)
		if (strcmp(web_assets[i].path, name) == 0)
			return &web_assets[i];
	return NULL;
}

/* If-None-Match: "*" or a comma-separated list of (possibly weak) tags. */
static bool
etag_matches(const char *inm, const char *etag)
{
	size_t n = strlen(etag);

	if (inm == NULL)
		return false;
	for (const char *p = inm; *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return true;
		if (p[0] == 'W' && p[1] == '/')
			p += 2;
		if (strncmp(p, etag, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' ' || p[n] == '\t'))
			return true;
		while (*p && *p != ',')
			p++;
	}
	return false;
}

static void
add_headers(struct http_request *req, const struct web_asset *a)
{
#ifdef HTTP_HAS_REPLY_HEADER
	http_reply_header(req, "Cache-Control", "no-cache");
	http_reply_header(req, "ETag", a->etag);
	http_reply_header(req, "Content-Security-Policy", WEB_CSP);
	http_reply_header(req, "X-Content-Type-Options", "nosniff");
	http_reply_header(req, "X-Frame-Options", "DENY");
	http_reply_header(req, "Referrer-Policy", "no-referrer");
#else
	(void)req;
	(void)a;
#endif
}

/* 304 when If-None-Match names the asset's tag, else 200 with its bytes. */
static void
reply_asset(struct http_request *req, const struct web_asset *a)
{
	if (etag_matches(http_header(req, "If-None-Match"), a->etag)) {
		http_reply_raw(req, 304, a->content_type, "", 0);
		add_headers(req, a);
		return;
	}
	http_reply_raw(req, 200, a->content_type, (const char *)a->bytes, a->length);
	add_headers(req, a);
}

int
web_serve_asset(struct http_request *req, const char *name)
{
	const struct web_asset *a = web_find(name);

	if (a == NULL) {
		http_reply_error(req, 404, "not_found", NULL, "no such asset");
		return -1;
	}
	reply_asset(req, a);
	return 0;
}

bool
web_serve(struct http_request *req)
{
	const char *method = http_method(req);
	const char *path = http_path(req);
	const char *name;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return false;
	if (strcmp(path, "/") == 0)
		name = "index.html";
	else if (strncmp(path, "/assets/", 8) == 0)
		name = path + 8;
	else
		return false;

	const struct web_asset *a = strchr(name, '/') ? NULL : web_find(name);
	if (a == NULL) {
		http_reply_error(req, 404, "not_found", NULL, "no such asset");
		return true;
	}
	reply_asset(req, a);
	return true;
}
