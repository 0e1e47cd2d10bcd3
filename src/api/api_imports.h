/*
 * api_imports.h - /v1/imports (issue 14): the handlers (api_imports.c) and
 * the errors' CSV download (api_imports_csv.c), private to src/api/.
 */
#ifndef MSGD_API_IMPORTS_H
#define MSGD_API_IMPORTS_H

#include <stdint.h>

struct app;
struct http_request;
struct principal;

/* A read of one import, or of a page of its errors or of the list. */
struct imp_ref {
	int64_t org, id, after;
	int limit;
	int status;                 /* the reply's status when found */
};

void api_imports_create(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_imports_list(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_imports_get(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_imports_errors(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_imports_delete(struct app *, struct http_request *, const struct principal *,
    const char *const *);
/* Import id's errors as a CSV download, streamed page by page off the loop. */
void api_import_errors_csv(struct app *app, struct http_request *req, int64_t org, int64_t id);
/* At start (app->importer running): imports left parsing start again. */
void api_imports_resume(struct app *app);

#endif
