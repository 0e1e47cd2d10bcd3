/*
 * web.h - the web inbox: static assets embedded in the binary.
 *
 * tools/embed_web.sh turns the files in web/ into build/gen/web_assets.c, a
 * table of {path, content_type, bytes, length, etag}. web_serve() answers
 * GET (and HEAD) / with index.html and /assets/<name> with that file, with
 * Cache-Control: no-cache, an ETag (a hash of the bytes, computed at build
 * time) and 304 when If-None-Match names it. Nothing is read from disk and
 * nothing is fetched from elsewhere at run time.
 */
#ifndef MSGD_WEB_H
#define MSGD_WEB_H

#include <stdbool.h>
#include <stddef.h>

struct http_request;

struct web_asset {
	const char *path;            /* "index.html", "app.js" (no directory) */
	const char *content_type;
	const unsigned char *bytes;
	size_t length;
	const char *etag;            /* "\"<16 hex>\"", quotes included */
};

/* The asset called name, or NULL. */
const struct web_asset *web_find(const char *name);

/* Answer the request when it asks for the web inbox (GET or HEAD of "/" or
 * "/assets/<name>"): returns true when it replied, false when the request is
 * not for it (the caller routes it as usual). An unknown /assets/ name gets
 * a 404 from here. */
bool web_serve(struct http_request *req);

/* Answer with the asset called name (200, or 304 for a matching
 * If-None-Match), with the headers above: the routes that serve one asset
 * at a path of their own (GET /openapi.json, GET /docs: api_docs.c).
 * 0, or -1 after a 404 when there is no such asset. */
int web_serve_asset(struct http_request *req, const char *name);

#endif
