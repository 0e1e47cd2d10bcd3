/*
 * sweep.c - the files store's start-up and retention (files.h): temp files
 * a crash left are removed at the start; every files_sweep_s a
 * STORE_OP_FILE_SWEEP deletes up to a page of unreferenced rows not used for
 * files_retention_hours (and their content once no row names it), and goes
 * on at once while pages come back full. One sweep op at a time.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "../api/api.h"
#include "../config/config.h"
#include "../log/log.h"
#include "../store/store.h"
#include "../util/util.h"
#include "files.h"

#define FILES_SWEEP_PAGE 200

struct files {
	struct app *app;
	struct event *timer;
	struct store_op op;
	bool busy;
	char dir[FILES_PATH_MAX];     /* <data>/files */
};

static void sweep_arm(struct files *f, int64_t ms);

static void
sweep_done(struct store_op *op, void *arg)
{
	struct files *f = arg;

	f->busy = false;
	if (op->result != 0) {
		log_warn("files: retention sweep failed", "error", op->errmsg);
	} else if (op->u.file.count > 0) {
		char n[24];
		snprintf(n, sizeof(n), "%lld", (long long)op->u.file.count);
		log_info("files: expired files removed", "count", n);
	}
	if (f->app->shutting_down)
		return;
	/* A full page: more may be waiting. */
	sweep_arm(f, op->result == 0 && op->u.file.count >= FILES_SWEEP_PAGE ? 0 :
	    (int64_t)f->app->cfg->files_sweep_s * 1000);
}

static void
on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct files *f = arg;

	if (f->busy || f->app->store == NULL || f->app->shutting_down)
		return;
	f->busy = true;
	f->op = (struct store_op){
		.kind = STORE_OP_FILE_SWEEP,
		.u.file = {
			.files_dir = f->dir,
			.before_ms = now_ms() - (int64_t)f->app->cfg->files_retention_hours * 3600 * 1000,
			.limit = FILES_SWEEP_PAGE,
		},
		.done = sweep_done,
		.arg = f,
	};
	store_submit(f->app->store, &f->op);
}

static void
sweep_arm(struct files *f, int64_t ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	evtimer_add(f->timer, &tv);
}

/* Temp files of uploads that never finished (a crash, a kill). */
static void
clean_tmp(const char *tmpdir)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char path[FILES_PATH_MAX];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "up-", 3) != 0)
			continue;
		int n = snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
		if (n > 0 && (size_t)n < sizeof(path))
			unlink(path);
	}
	closedir(d);
}

int
files_start(struct app *app)
{
	struct files *f = xcalloc(1, sizeof(*f));
	char tmp[FILES_PATH_MAX];

	f->app = app;
	int n = snprintf(f->dir, sizeof(f->dir), "%s/files", app->cfg->data_dir);
	if (n < 0 || (size_t)n + sizeof("/tmp") > sizeof(tmp)) {
		log_error("files: the data folder's path is too long", "path", app->cfg->data_dir);
		free(f);
		return -1;
	}
	memcpy(tmp, f->dir, (size_t)n);
	memcpy(tmp + n, "/tmp", sizeof("/tmp"));
	if (mkdir_p(tmp, 0700) != 0) {
		log_error("files: cannot make the files folder", "path", tmp, "error", strerror(errno));
		free(f);
		return -1;
	}
	clean_tmp(tmp);
	f->timer = evtimer_new(app->base, on_sweep, f);
	app->files = f;
	sweep_arm(f, (int64_t)app->cfg->files_sweep_s * 1000);
	return 0;
}

/* After the store closed (its last done() ran). */
void
files_stop(struct app *app)
{
	struct files *f = app->files;

	if (f == NULL)
		return;
	event_free(f->timer);
	free(f);
	app->files = NULL;
}
