/*
 * api_imports.c - /v1/imports (issue 14): a CSV or XLSX file (uploaded to
 * /v1/files) read into a staging table and validated row by row, off the
 * loop (src/import/import.h). The request is validated whole before
 * anything is stored: its fields here, the file (in the organization, CSV
 * or XLSX by its sniffed type or its name) and the template on the reader
 * pool. What needs the file's header (columns named by the mapping) is a
 * file-level failure of the import: status failed with its error.
 * api_imports_csv.c streams the errors as CSV.
 */
#include "api.h"
#include "api_imports.h"
#include "api_send.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../channels/channel.h"
#include "../config/config.h"
#include "../files/files.h"
#include "../http/http.h"
#include "../import/import.h"
#include "../log/log.h"
#include "../store/store.h"
#include "../util/util.h"

#define IMPORT_TEMPLATE_NAME_MAX 64
#define IMPORT_TEMPLATE_LANG_MAX 16
#define IMPORTS_LIST_MAX 100
#define IMPORT_ERRORS_PAGE_MAX 1000

/* A POST being checked, then created. */
struct imp_create {
	struct store_op op;
	struct store_import si;
	struct app *app;
	struct http_request *req;
	int64_t org, channel_id;
	import_normalize_fn normalize;
	struct import_spec spec;
	json_t *request;            /* as stored (import_spec_json + "template") */
	char file_id[FILES_ID_MAX];
	char tpl_name[IMPORT_TEMPLATE_NAME_MAX + 1];
	char tpl_lang[IMPORT_TEMPLATE_LANG_MAX + 1];
	/* Read on the pool. */
	struct store_read rd;
	bool file_found, tpl_found, read_failed;
	bool provider_tpl;          /* the channel's provider template, not a local one */
	bool tpl_unlisted;          /* not among the channel's synced templates */
	struct channel_template ptpl;
	char tpl_default_lang[IMPORT_TEMPLATE_LANG_MAX + 1];   /* the channel type's */
	struct file_info fi;
	char *tpl_body;
	/* Resolved on the loop. */
	enum import_format format;
	char path[IMPORT_PATH_MAX];
	char *request_json;
};

static void
create_free(struct imp_create *c)
{
	json_decref(c->request);
	free(c->tpl_body);
	free(c->request_json);
	free(c);
}

/* CSV or XLSX: by the sniffed type, else by the file's name. */
static int
format_of(const struct file_info *fi, enum import_format *out)
{
	static const char *const csv_types[] = { "text/csv", "text/plain", "application/csv",
		"text/tab-separated-values", NULL };
	static const char *const xlsx_types[] = {
		"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "application/zip", NULL };
	const char *dot = strrchr(fi->filename, '.');

	for (size_t i = 0; csv_types[i]; i++)
		if (strcmp(fi->mime_type, csv_types[i]) == 0)
			return *out = IMPORT_CSV, 0;
	for (size_t i = 0; xlsx_types[i]; i++)
		if (strcmp(fi->mime_type, xlsx_types[i]) == 0)
			return *out = IMPORT_XLSX, 0;
	if (dot && (strcasecmp(dot, ".csv") == 0 || strcasecmp(dot, ".tsv") == 0 || strcasecmp(dot, ".txt") == 0))
		return *out = IMPORT_CSV, 0;
	if (dot && strcasecmp(dot, ".xlsx") == 0)
		return *out = IMPORT_XLSX, 0;
	return -1;
}

/* The {{placeholders}} of a template body into spec->needed (once each). */
static void
needed_of(const char *body, struct import_spec *spec)
{
	const char *p = body;

	spec->nneeded = 0;
	while ((p = strstr(p, "{{")) != NULL) {
		const char *s = p + 2, *t = strstr(s, "}}");
		if (t == NULL)
			break;
		p = t + 2;
		while (s < t && *s == ' ')
			s++;
		while (t > s && t[-1] == ' ')
			t--;
		if (t == s || (size_t)(t - s) > IMPORT_NAME_MAX || spec->nneeded == IMPORT_VARS_MAX)
			continue;
		char name[IMPORT_NAME_MAX + 1];
		snprintf(name, sizeof(name), "%.*s", (int)(t - s), s);
		bool seen = false;
		for (size_t i = 0; i < spec->nneeded; i++)
			seen = seen || strcmp(spec->needed[i], name) == 0;
		if (!seen)
			snprintf(spec->needed[spec->nneeded++], IMPORT_NAME_MAX + 1, "%s", name);
	}
}

static void
run_create_reads(struct store *st, void *arg)
{
	struct imp_create *c = arg;
	json_t *t = NULL;

	c->file_found = store_file_get(st, c->org, c->file_id, &c->fi) == 0;
	if (c->tpl_name[0] == '\0')
		return;
	if (store_template_get(st, c->org, c->tpl_name, c->tpl_lang[0] ? c->tpl_lang : NULL, &t) != 0) {
		c->read_failed = true;
		return;
	}
	c->tpl_found = t != NULL;
	if (t)
		c->tpl_body = xstrdup(json_string_value(json_object_get(t, "body")) ?
		    json_string_value(json_object_get(t, "body")) : "");
	json_decref(t);
	if (c->tpl_found || c->channel_id == 0)
		return;
	/* Not a local template: the channel's approved provider templates (synced). */
	const char *lang = c->tpl_lang[0] ? c->tpl_lang : c->tpl_default_lang;
	if (lang[0] == '\0')
		return;
	if (store_channel_template_get(st, c->channel_id, c->tpl_name, lang, &c->ptpl) != 0) {
		c->read_failed = true;
		return;
	}
	/* A channel that never synced cannot say: the provider decides, as on a send. */
	c->provider_tpl = c->ptpl.found || !c->ptpl.synced;
	c->tpl_found = c->provider_tpl;
	c->tpl_unlisted = c->ptpl.synced && !c->ptpl.found;
}

/* A provider template fills its parameters from the mapping's variables: every
 * mapped variable is needed in every row (the provider names them by position
 * or by name, so only their count can be checked against the synced template). */
static void
needed_mapped_all(struct import_spec *spec)
{
	spec->nneeded = 0;
	for (size_t v = 0; v < spec->nvars && spec->nneeded < IMPORT_VARS_MAX; v++)
		snprintf(spec->needed[spec->nneeded++], IMPORT_NAME_MAX + 1, "%s", spec->var_names[v]);
}

static void
run_import_get(struct store *st, void *arg, struct api_reply *out)
{
	struct imp_ref *r = arg;
	json_t *v = NULL;

	int rc = store_import_get(st, r->org, r->id, &v);

	api_reply_read(out, rc, v, "import");
	if (out->status == 200)
		out->status = r->status;
}

/* Start (or restart) the job of a committed import. */
static void
queue_job(struct app *app, int64_t id, int64_t org, enum import_format format, const char *path,
    const struct import_spec *spec, import_normalize_fn normalize)
{
	struct import_job *job = xcalloc(1, sizeof(*job));
	char ids[24];

	job->id = id;
	job->org_id = org;
	job->format = format;
	snprintf(job->path, sizeof(job->path), "%s", path);
	job->spec = *spec;
	job->normalize = normalize;
	job->rows_max = app->cfg->import_rows_max;
	if (app->importer == NULL || importer_submit(app->importer, job) != 0) {
		snprintf(ids, sizeof(ids), "%" PRId64, id);
		log_warn("import: not queued (stopping, or the queue is full): read at the next start", "import", ids);
		free(job);
	}
}

static void
created(struct store_op *op, void *arg)
{
	struct imp_create *c = arg;

	if (op->result != 0) {
		if (op->err == STORE_NOTFOUND)  /* its file was swept meanwhile */
			http_reply_error(c->req, 404, "not_found", "file_id", "no file '%s'", c->file_id);
		else
			api_op_error(c->req, op);
		create_free(c);
		return;
	}
	queue_job(c->app, c->si.id, c->org, c->format, c->path, &c->spec, c->normalize);
	struct imp_ref *r = xcalloc(1, sizeof(*r));
	r->org = c->org;
	r->id = c->si.id;
	r->status = 202;
	api_read_async(c->app, c->req, run_import_get, r, free);
	create_free(c);
}

static bool
needed_mapped(const struct import_spec *s, const char **missing)
{
	for (size_t i = 0; i < s->nneeded; i++) {
		bool found = false;
		for (size_t v = 0; v < s->nvars && !found; v++)
			found = strcmp(s->var_names[v], s->needed[i]) == 0;
		if (!found) {
			*missing = s->needed[i];
			return false;
		}
	}
	return true;
}

/* The file and the template are read: check them, then create. */
static void
create_reads_done(void *arg)
{
	struct imp_create *c = arg;
	struct http_request *req = c->req;
	const char *missing = NULL;

	if (c->read_failed) {
		api_store_error(req);
		goto fail;
	}
	if (!c->file_found) {
		http_reply_error(req, 404, "not_found", "file_id", "no file '%s'", c->file_id);
		goto fail;
	}
	if (format_of(&c->fi, &c->format) != 0) {
		http_reply_error(req, 422, "unsupported_file_type", "file_id", "the file is %s: an import "
		    "reads CSV or XLSX files", c->fi.mime_type);
		goto fail;
	}
	if (c->tpl_unlisted) {
		http_reply_error(req, 422, "template_not_approved", "template", "no local template '%s', and "
		    "the channel's synced templates have none of that name and language", c->tpl_name);
		goto fail;
	}
	if (c->tpl_name[0] && !c->tpl_found) {
		http_reply_error(req, 404, "not_found", "template", "no template named '%s'", c->tpl_name);
		goto fail;
	}
	if (c->provider_tpl && c->ptpl.synced && !c->ptpl.approved) {
		http_reply_error(req, 422, "template_not_approved", "template", "the template '%s' is %s, "
		    "not APPROVED", c->tpl_name, c->ptpl.status[0] ? c->ptpl.status : "not approved");
		goto fail;
	}
	if (c->provider_tpl) {
		if (c->ptpl.synced && (int64_t)c->spec.nvars < c->ptpl.params) {
			http_reply_error(req, 422, "template_variables_unmapped", "mapping.variables",
			    "the template '%s' has %" PRId64 " parameters: the mapping fills %zu", c->tpl_name,
			    c->ptpl.params, c->spec.nvars);
			goto fail;
		}
		needed_mapped_all(&c->spec);
	} else if (c->tpl_body) {
		needed_of(c->tpl_body, &c->spec);
		/* With keep_as_variables, a header column may fill it: checked at the header. */
		if (c->spec.unknown != IMPORT_UNKNOWN_KEEP && !needed_mapped(&c->spec, &missing)) {
			http_reply_error(req, 422, "template_variables_unmapped", "mapping.variables",
			    "the template's variable '%s' is filled by no column of the mapping", missing);
			goto fail;
		}
	}
	if (files_content_path(c->app, c->fi.sha256, c->path, sizeof(c->path)) != 0) {
		api_store_error(req);
		goto fail;
	}
	json_t *stored = import_spec_json(&c->spec);
	json_t *tpl = json_object_get(c->request, "template");
	if (tpl)
		json_object_set(stored, "template", tpl);
	c->request_json = json_dumps(stored, JSON_COMPACT);
	json_decref(stored);
	c->si = (struct store_import){ .step = IMPORT_STEP_CREATE, .file_id = c->fi.id,
	    .channel_id = c->channel_id, .format = import_format_name(c->format),
	    .request_json = c->request_json, .owner = c->app->cfg->instance_id };
	c->op = (struct store_op){ .kind = STORE_OP_IMPORT, .org_id = c->org, .u.import = &c->si,
	    .done = created, .arg = c };
	store_submit(c->app->store, &c->op);
	return;
fail:
	create_free(c);
}

/* "template": a local template's name, or {"name","language"}. */
static int
template_ref(const json_t *in, struct imp_create *c, struct send_error *e)
{
	json_t *t = json_object_get(in, "template");
	const char *name = NULL, *lang = NULL;
	static const char *const allowed[] = { "name", "language", NULL };

	if (t == NULL || json_is_null(t))
		return 0;
	if (json_is_string(t)) {
		name = json_string_value(t);
		if (json_string_length(t) == 0 || json_string_length(t) > IMPORT_TEMPLATE_NAME_MAX)
			return send_fail(e, "validation_failed", "template", "'template' must name a template");
	} else if (json_is_object(t)) {
		if (check_keys(t, allowed, "template.", e) != 0 ||
		    opt_str(t, "name", "template.name", IMPORT_TEMPLATE_NAME_MAX, &name, e) != 0 ||
		    opt_str(t, "language", "template.language", IMPORT_TEMPLATE_LANG_MAX, &lang, e) != 0)
			return -1;
		if (name == NULL)
			return send_fail(e, "validation_failed", "template.name", "'template.name' is required");
	} else {
		return send_fail(e, "validation_failed", "template",
		    "'template' must be a template's name or {\"name\",\"language\"}");
	}
	snprintf(c->tpl_name, sizeof(c->tpl_name), "%s", name);
	snprintf(c->tpl_lang, sizeof(c->tpl_lang), "%s", lang ? lang : "");
	return 0;
}

void
api_imports_create(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	static const char *const allowed[] = { "file_id", "channel", "mapping", "unknown_columns", "header",
		"delimiter", "sheet", "template", NULL };
	struct send_error e = { 0 };
	const char *file_id = NULL, *chname = NULL;
	char field[64], err[256];
	json_t *in = api_body_object(req);
	struct imp_create *c;

	if (in == NULL)
		return;
	c = xcalloc(1, sizeof(*c));
	if (check_keys(in, allowed, "", &e) != 0 ||
	    opt_str(in, "file_id", "file_id", FILES_ID_MAX - 1, &file_id, &e) != 0 ||
	    opt_str(in, "channel", "channel", API_SEGMENT_MAX - 1, &chname, &e) != 0)
		goto invalid;
	if (file_id == NULL) {
		send_fail(&e, "validation_failed", "file_id", "'file_id' (an uploaded file's id) is required");
		goto invalid;
	}
	if (chname == NULL) {
		send_fail(&e, "validation_failed", "channel", "'channel' (whose address rules check the "
		    "phones) is required");
		goto invalid;
	}
	if (import_spec_parse(in, &c->spec, field, sizeof(field), err, sizeof(err)) != 0) {
		send_fail(&e, "validation_failed", field, "%s", err);
		goto invalid;
	}
	if (template_ref(in, c, &e) != 0)
		goto invalid;
	if (app->importer == NULL || !importer_accepting(app->importer)) {
		json_decref(in);
		create_free(c);
		http_reply_error(req, 503, "busy", NULL, "too many imports are waiting: try again later");
		return;
	}
	struct channel *ch = api_channel_or_404(app, req, who, chname);
	if (ch == NULL) {
		json_decref(in);
		create_free(c);
		return;
	}
	c->app = app;
	c->req = req;
	c->org = who->org_id;
	c->channel_id = ch->id;
	c->normalize = ch->ops->address_normalize;
	const struct channel_caps *caps = ch->ops->caps;
	if (caps && caps->templates && caps->template_language)
		snprintf(c->tpl_default_lang, sizeof(c->tpl_default_lang), "%s", caps->template_language);
	snprintf(c->file_id, sizeof(c->file_id), "%s", file_id);
	c->request = in;
	c->rd = (struct store_read){ .run = run_create_reads, .done = create_reads_done, .arg = c };
	http_defer(req);
	store_read_submit(app->store, &c->rd);
	return;
invalid:
	json_decref(in);
	create_free(c);
	reply_send_error(req, &e);
}

void
api_imports_get(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	int64_t id;

	if (api_path_id(req, p[0], &id) != 0)
		return;
	struct imp_ref *r = xcalloc(1, sizeof(*r));
	r->org = who->org_id;
	r->id = id;
	r->status = 200;
	api_read_async(app, req, run_import_get, r, free);
}

static void
run_imports_list(struct store *st, void *arg, struct api_reply *out)
{
	struct imp_ref *r = arg;
	json_t *v = NULL;

	int rc = store_imports_list(st, r->org, r->after, r->limit, &v);

	api_reply_read(out, rc, v, "import");
}

void
api_imports_list(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	int64_t before;
	int limit = api_limit(req, 50, IMPORTS_LIST_MAX);

	if (limit < 0 || api_query_number(req, "before", 0, INT64_MAX, 0, &before) != 0)
		return;
	struct imp_ref *r = xcalloc(1, sizeof(*r));
	r->org = who->org_id;
	r->after = before;
	r->limit = limit;
	api_read_async(app, req, run_imports_list, r, free);
}

static void
run_import_errors(struct store *st, void *arg, struct api_reply *out)
{
	struct imp_ref *r = arg;
	json_t *v = NULL;

	int rc = store_import_errors(st, r->org, r->id, r->after, r->limit, &v);

	api_reply_read(out, rc, v, "import");
}

void
api_imports_errors(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	const char *fmt = http_query(req, "format"), *accept = http_header(req, "Accept");
	int64_t id, after;
	int limit;

	if (api_path_id(req, p[0], &id) != 0)
		return;
	if (fmt != NULL && strcmp(fmt, "csv") != 0 && strcmp(fmt, "json") != 0) {
		http_reply_error(req, 400, "invalid_parameter", "format", "'format' must be 'csv' or 'json'");
		return;
	}
	if ((fmt && strcmp(fmt, "csv") == 0) || (fmt == NULL && accept && strstr(accept, "text/csv"))) {
		api_import_errors_csv(app, req, who->org_id, id);
		return;
	}
	if ((limit = api_limit(req, 100, IMPORT_ERRORS_PAGE_MAX)) < 0 ||
	    api_query_number(req, "after", 0, INT64_MAX, 0, &after) != 0)
		return;
	struct imp_ref *r = xcalloc(1, sizeof(*r));
	r->org = who->org_id;
	r->id = id;
	r->after = after;
	r->limit = limit;
	api_read_async(app, req, run_import_errors, r, free);
}

struct imp_delete {
	struct store_op op;
	struct store_import si;
	struct http_request *req;
};

static void
deleted(struct store_op *op, void *arg)
{
	struct imp_delete *d = arg;

	if (op->result != 0 && op->err == STORE_NOTFOUND)
		http_reply_error(d->req, 404, "not_found", NULL, "no such import");
	else if (op->result != 0 && op->err == STORE_CONFLICT)
		http_reply_error(d->req, 409, "import_in_use", NULL, "%s", op->errmsg);
	else if (op->result != 0)
		api_op_error(d->req, op);
	else
		http_reply_raw(d->req, 204, "application/json", "", 0);
	free(d);
}

void
api_imports_delete(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	int64_t id;

	if (api_path_id(req, p[0], &id) != 0)
		return;
	/* The worker stops staging it first; its chunks then find no import. */
	importer_cancel(app->importer, id);
	struct imp_delete *d = xcalloc(1, sizeof(*d));
	d->req = req;
	d->si = (struct store_import){ .step = IMPORT_STEP_DELETE, .id = id };
	d->op = (struct store_op){ .kind = STORE_OP_IMPORT, .org_id = who->org_id, .u.import = &d->si,
	    .done = deleted, .arg = d };
	http_defer(req);
	store_submit(app->store, &d->op);
}

/* --- start-up: imports left parsing start again --- */

struct resume {
	struct store_read rd;
	struct app *app;
	json_t *rows;                 /* store_imports_parsing(), each with its "file" */
};

static void
run_resume(struct store *st, void *arg)
{
	struct resume *r = arg;
	const struct config *cfg = r->app->cfg;
	size_t i;
	json_t *row;

	/* SQLite: this process alone uses the database; PostgreSQL: another
	 * instance may be reading its own imports. */
	bool exclusive = cfg->database[0] == '\0' ||
	    strcmp(cfg->database, "sqlite:") == 0;
	if (store_imports_parsing(st, cfg->instance_id, exclusive, &r->rows) != 0)
		return;
	json_array_foreach(r->rows, i, row) {
		struct file_info fi;
		const char *fid = json_string_value(json_object_get(row, "file_id"));
		if (fid && store_file_get(st, json_integer_value(json_object_get(row, "org_id")), fid, &fi) == 0)
			json_object_set_new(row, "sha256", json_string(fi.sha256));
	}
}

static void
resume_failed(struct store_op *op, void *arg)
{
	free(arg);
}

/* An import that cannot start again: failed with why (static strings). */
static void
resume_fail(struct app *app, int64_t id, int64_t org, const char *code, const char *msg)
{
	struct imp_delete *d = xcalloc(1, sizeof(*d));

	d->si = (struct store_import){ .step = IMPORT_STEP_FINISH, .id = id, .failed = true,
	    .error_code = code, .error_message = msg };
	d->op = (struct store_op){ .kind = STORE_OP_IMPORT, .org_id = org, .u.import = &d->si,
	    .done = resume_failed, .arg = d };
	store_submit(app->store, &d->op);
}

static void
resume_done(void *arg)
{
	struct resume *r = arg;
	size_t i;
	json_t *row;

	json_array_foreach(r->rows, i, row) {
		int64_t id = json_integer_value(json_object_get(row, "id"));
		int64_t org = json_integer_value(json_object_get(row, "org_id"));
		const char *sha = json_string_value(json_object_get(row, "sha256"));
		const char *fmt = json_string_value(json_object_get(row, "format"));
		struct channel *ch = registry_find_id(r->app->reg, json_integer_value(json_object_get(row,
		    "channel_id")));
		struct import_spec spec;
		char field[64], err[256], path[IMPORT_PATH_MAX];
		if (ch == NULL) {
			resume_fail(r->app, id, org, "channel_gone", "the import's channel was deleted");
			continue;
		}
		if (sha == NULL || files_content_path(r->app, sha, path, sizeof(path)) != 0) {
			resume_fail(r->app, id, org, "file_gone", "the import's file is gone");
			continue;
		}
		if (import_spec_parse(json_object_get(row, "request"), &spec, field, sizeof(field), err,
		    sizeof(err)) != 0) {
			resume_fail(r->app, id, org, "malformed", "the import's stored request is unreadable");
			continue;
		}
		queue_job(r->app, id, org, fmt && strcmp(fmt, "xlsx") == 0 ? IMPORT_XLSX : IMPORT_CSV, path,
		    &spec, ch->ops->address_normalize);
	}
	json_decref(r->rows);
	free(r);
}

void
api_imports_resume(struct app *app)
{
	struct resume *r = xcalloc(1, sizeof(*r));

	r->app = app;
	r->rd = (struct store_read){ .run = run_resume, .done = resume_done, .arg = r };
	store_read_submit(app->store, &r->rd);
}
