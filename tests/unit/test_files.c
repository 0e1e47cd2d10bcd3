/* test_files.c - the files writer: hash, dedup, cap, abort, sniffing, references and the sweep. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "api/api.h"
#include "config/config.h"
#include "files/files.h"
#include "store/store.h"
#include "util/util.h"

struct fx {
	char dir[64];
	struct config cfg;
	struct app app;
};

struct result {
	bool called;
	int err;
	struct file_info fi;
};

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/msgd-test-files-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	config_defaults(&f->cfg);
	snprintf(f->cfg.data_dir, sizeof(f->cfg.data_dir), "%s", f->dir);
	f->app.cfg = &f->cfg;
	f->app.base = event_base_new();
	struct store_config sc = { .data_dir = f->dir };
	assert_int_equal(store_open(&f->app.store, &sc, f->app.base), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];
	store_close(f->app.store);
	event_base_free(f->app.base);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	(void)!system(cmd);
	free(f);
	return 0;
}

static void
on_done(void *arg, int err, const struct file_info *fi)
{
	struct result *r = arg;
	r->called = true;
	r->err = err;
	if (fi)
		r->fi = *fi;
}

/* Upload data in chunks of chunk bytes; run the loop until done. */
static struct result
upload(struct fx *f, int64_t org, const char *name, const void *data, size_t n, size_t chunk)
{
	struct result r = { 0 };
	struct files_writer *w = files_writer_open(&f->app, org, name, 0);
	assert_non_null(w);
	for (size_t off = 0; off < n; off += chunk)
		assert_int_equal(files_writer_write(w, (const char *)data + off, n - off < chunk ? n - off : chunk), 0);
	files_writer_finish(w, on_done, &r);
	while (!r.called)
		assert_true(event_base_loop(f->app.base, EVLOOP_ONCE) >= 0);
	return r;
}

static int
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

struct get_arg {
	struct fx *f;
	int64_t org;
	const char *id;
	int rc;
	struct file_info fi;
};

static void
get_run(struct store *st, void *arg)
{
	struct get_arg *g = arg;
	g->rc = store_file_get(st, g->org, g->id, &g->fi);
}

static void
get_done(void *arg)
{
}

static int
file_get(struct fx *f, int64_t org, const char *id, struct file_info *out)
{
	struct get_arg g = { .f = f, .org = org, .id = id };
	struct store_read rd = { .run = get_run, .done = get_done, .arg = &g };
	store_read_submit(f->app.store, &rd);
	while (store_pending(f->app.store) > 0)
		assert_true(event_base_loop(f->app.base, EVLOOP_ONCE) >= 0);
	if (out)
		*out = g.fi;
	return g.rc;
}

static void
test_hash_and_dedup(void **state)
{
	struct fx *f = *state;
	static const char text[] = "hello, files\n";
	char path[FILES_PATH_MAX], tmp[FILES_PATH_MAX];
	struct stat sb;

	struct result a = upload(f, 1, "../../etc/notes.txt", text, strlen(text), 3);
	assert_int_equal(a.err, 0);
	assert_false(a.fi.existed);
	/* sha256("hello, files\n") */
	unsigned char md[32];
	char hex[65];
	sha256(text, strlen(text), md);
	hex_encode(md, 32, hex);
	assert_string_equal(a.fi.sha256, hex);
	assert_int_equal(a.fi.size, strlen(text));
	assert_string_equal(a.fi.mime_type, "text/plain");
	assert_string_equal(a.fi.filename, "notes.txt");
	assert_int_equal(strncmp(a.fi.id, "f_", 2), 0);
	assert_int_equal(strlen(a.fi.id), 28);
	assert_int_equal(files_content_path(&f->app, a.fi.sha256, path, sizeof(path)), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, strlen(text));

	/* The same bytes again in the same organization: the same row. */
	struct result b = upload(f, 1, "other.txt", text, strlen(text), 5);
	assert_int_equal(b.err, 0);
	assert_true(b.fi.existed);
	assert_string_equal(b.fi.id, a.fi.id);
	assert_string_equal(b.fi.filename, "notes.txt");
	/* Another organization: its own row, the same content. */
	struct result c = upload(f, 2, NULL, text, strlen(text), 64);
	assert_int_equal(c.err, 0);
	assert_false(c.fi.existed);
	assert_string_not_equal(c.fi.id, a.fi.id);
	assert_string_equal(c.fi.filename, "");
	snprintf(tmp, sizeof(tmp), "%s/files/tmp", f->dir);
	assert_int_equal(count_entries(tmp), 0);       /* no temp file left */
	snprintf(tmp, sizeof(tmp), "%s/files/%.2s", f->dir, hex);
	assert_int_equal(count_entries(tmp), 1);       /* one content file */

	struct file_info fi;
	assert_int_equal(file_get(f, 1, a.fi.id, &fi), 0);
	assert_string_equal(fi.sha256, hex);
	assert_string_equal(fi.mime_type, "text/plain");
	assert_int_equal(file_get(f, 2, a.fi.id, NULL), -1);   /* another org's */
	assert_int_equal(file_get(f, 1, "f_nosuchfile", NULL), -1);
}

static void
test_sniff_png(void **state)
{
	struct fx *f = *state;
	static const unsigned char png[] = {
		0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
		0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89,
	};
	struct result r = upload(f, 1, "x.txt", png, sizeof(png), sizeof(png));
	assert_int_equal(r.err, 0);
	assert_string_equal(r.fi.mime_type, "image/png");
}

static void
test_cap_and_abort(void **state)
{
	struct fx *f = *state;
	char tmp[FILES_PATH_MAX];
	struct result r = { 0 };

	snprintf(tmp, sizeof(tmp), "%s/files/tmp", f->dir);
	struct files_writer *w = files_writer_open(&f->app, 1, "big.bin", 10);
	assert_non_null(w);
	assert_int_equal(files_writer_write(w, "0123456789", 10), 0);
	assert_int_equal(files_writer_write(w, "x", 1), -1);
	assert_int_equal(files_writer_error(w), FILES_TOO_BIG);
	assert_int_equal(files_writer_size(w), 10);
	assert_int_equal(files_writer_write(w, "", 0), -1);  /* stays refused */
	files_writer_finish(w, on_done, &r);
	while (!r.called)
		assert_true(event_base_loop(f->app.base, EVLOOP_ONCE) >= 0);
	assert_int_equal(r.err, FILES_TOO_BIG);
	assert_int_equal(count_entries(tmp), 0);

	w = files_writer_open(&f->app, 1, NULL, 0);
	assert_non_null(w);
	assert_int_equal(files_writer_write(w, "abc", 3), 0);
	assert_int_equal(count_entries(tmp), 1);
	files_writer_abort(w);
	assert_int_equal(count_entries(tmp), 0);
}

static void
test_refs_and_sweep(void **state)
{
	struct fx *f = *state;
	char path[FILES_PATH_MAX], files_dir[FILES_PATH_MAX];
	struct result a = upload(f, 1, "a", "kept", 4, 4);
	struct result b = upload(f, 1, "b", "swept", 5, 5);
	while (now_ms() <= b.fi.created_at)
		;   /* b2 a millisecond later than b */
	struct result b2 = upload(f, 2, "b", "swept", 5, 5);   /* the same content, org 2 */
	assert_int_equal(a.err | b.err | b2.err, 0);
	snprintf(files_dir, sizeof(files_dir), "%s/files", f->dir);

	struct store_op ref = { .kind = STORE_OP_FILE_REF, .org_id = 1,
		.u.file = { .id = a.fi.id, .delta = 1 } };
	assert_int_equal(store_submit_wait(f->app.store, &ref), 0);
	struct store_op wrong = { .kind = STORE_OP_FILE_REF, .org_id = 2,
		.u.file = { .id = a.fi.id, .delta = 1 } };
	assert_int_equal(store_submit_wait(f->app.store, &wrong), -1);
	assert_int_equal(wrong.err, STORE_NOTFOUND);

	/* Org 1's "swept" goes; its content stays while org 2's row has it. */
	struct store_op sw = { .kind = STORE_OP_FILE_SWEEP,
		.u.file = { .files_dir = files_dir, .before_ms = b2.fi.created_at, .limit = 10 } };
	assert_int_equal(store_submit_wait(f->app.store, &sw), 0);
	assert_int_equal(sw.u.file.count, 1);
	assert_int_equal(file_get(f, 1, b.fi.id, NULL), -1);
	assert_int_equal(file_get(f, 1, a.fi.id, NULL), 0);       /* referenced */
	assert_int_equal(files_content_path(&f->app, b.fi.sha256, path, sizeof(path)), 0);
	assert_int_equal(access(path, F_OK), 0);

	/* Everything old now: org 2's row and then the content go; "kept" stays. */
	sw.u.file.before_ms = now_ms() + 1000;
	assert_int_equal(store_submit_wait(f->app.store, &sw), 0);
	assert_int_equal(sw.u.file.count, 1);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(file_get(f, 1, a.fi.id, NULL), 0);

	/* Released: swept. */
	ref.u.file.delta = -1;
	assert_int_equal(store_submit_wait(f->app.store, &ref), 0);
	assert_int_equal(store_submit_wait(f->app.store, &ref), 0);   /* never below 0 */
	sw.u.file.before_ms = now_ms() + 1000;
	assert_int_equal(store_submit_wait(f->app.store, &sw), 0);
	assert_int_equal(sw.u.file.count, 1);
	assert_int_equal(file_get(f, 1, a.fi.id, NULL), -1);
}

/* A send or an import naming a file whose row is gone (swept after the
 * request was checked) fails with NOTFOUND instead of committing a
 * dangling reference. */
static void
test_dangling_refs(void **state)
{
	struct fx *f = *state;
	struct result a = upload(f, 1, "a", "kept", 4, 4);
	assert_int_equal(a.err, 0);

	struct store_op ch = { .kind = STORE_OP_CHANNEL_CREATE, .org_id = 1,
		.u.channel = { .name = "sb", .type = "sandbox", .config_json = "{}" } };
	assert_int_equal(store_submit_wait(f->app.store, &ch), 0);
	const char *ids[2] = { "f_aaaaaaaaaaaaaaaaaaaaaaaaaa", a.fi.id };
	for (int i = 0; i < 2; i++) {
		struct ingest_batch b = { 0 };
		struct msg_in *m = ingest_batch_add_msg(&b);
		m->channel_id = ch.u.channel.id;
		m->direction = DIR_OUT;
		m->status = ST_QUEUED;
		m->from = xstrdup("15550783881");
		m->to = xstrdup("333");
		m->contact_address = xstrdup("333");
		m->type = xstrdup("document");
		m->timestamp = 1749416383;
		m->raw = xstrdup("{}");
		m->file_ref = xstrdup(ids[i]);
		struct store_op op = { .kind = STORE_OP_INGEST, .org_id = 1, .u.ingest = &b };
		int rc = store_submit_wait(f->app.store, &op);
		if (rc != (i == 0 ? -1 : 0))
			fail_msg("ingest %d: %s", i, op.errmsg);
		if (i == 0 && op.err != STORE_NOTFOUND)
			fail_msg("ingest: %s", op.errmsg);
		ingest_batch_free(&b);

		struct store_import si = { .step = IMPORT_STEP_CREATE, .file_id = ids[i],
			.channel_id = ch.u.channel.id, .format = "csv", .request_json = "{}", .owner = "me" };
		struct store_op imp = { .kind = STORE_OP_IMPORT, .org_id = 1, .u.import = &si };
		assert_int_equal(store_submit_wait(f->app.store, &imp), i == 0 ? -1 : 0);
		if (i == 0)
			assert_int_equal(imp.err, STORE_NOTFOUND);
	}
}

static void
test_sanitize(void **state)
{
	char out[FILES_NAME_MAX];
	files_sanitize_name("C:\\Users\\x\\report \"final\".pdf", out, sizeof(out));
	assert_string_equal(out, "report final.pdf");
	files_sanitize_name("a\r\nb\x01.txt", out, sizeof(out));
	assert_string_equal(out, "ab.txt");
	files_sanitize_name("..", out, sizeof(out));
	assert_string_equal(out, "");
	files_sanitize_name("bad\xff.txt", out, sizeof(out));
	assert_string_equal(out, "");
	/* C1 controls and bidi controls go; other non-ASCII stays. */
	files_sanitize_name("a\xc2\x85" "b\xc2\x9f\xc2\xa0" "c.txt", out, sizeof(out));
	assert_string_equal(out, "ab\xc2\xa0" "c.txt");
	files_sanitize_name("photo\xe2\x80\xaegpj.exe", out, sizeof(out));    /* U+202E */
	assert_string_equal(out, "photogpj.exe");
	files_sanitize_name("\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad" "x"
	    "\xe2\x81\xa6\xe2\x81\xa7\xe2\x81\xa8\xe2\x81\xa9" ".pdf", out, sizeof(out));
	assert_string_equal(out, "x.pdf");
	files_sanitize_name("r\xe2\x80\x8f" "\xd8\x9c.txt\xe2\x80\xa9", out, sizeof(out)); /* RLM, ALM; U+2029 kept */
	assert_string_equal(out, "r.txt\xe2\x80\xa9");
	files_sanitize_name("caf\xc3\xa9 \xe2\x80\x94 \xe6\x97\xa5.txt", out, sizeof(out));
	assert_string_equal(out, "caf\xc3\xa9 \xe2\x80\x94 \xe6\x97\xa5.txt");
	char small[6];
	files_sanitize_name("ab\xc3\xa9\xc3\xa9", small, sizeof(small));  /* "abéé" cut at 5 bytes */
	assert_string_equal(small, "ab\xc3\xa9");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hash_and_dedup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sniff_png, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap_and_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refs_and_sweep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dangling_refs, setup, teardown),
		cmocka_unit_test(test_sanitize),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
