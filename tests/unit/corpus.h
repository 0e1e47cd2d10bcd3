/*
 * corpus.h - what the unit tests that read the shared corpus have in
 * common: where it is ($CORPUS, else ../shared/corpus from the repository
 * root), a file of it read whole, JSON parsed as msgd parses webhook
 * bodies, its folders walked, and the asserts their tables use.
 *
 * Each test file is its own binary, so everything here is static inline: a
 * file that uses only part of it is warned about none of the rest. Include
 * it after cmocka.h (and the headers cmocka.h needs).
 */
#ifndef MSGD_TESTS_UNIT_CORPUS_H
#define MSGD_TESTS_UNIT_CORPUS_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "channels/channel.h"
#include "util/util.h"

#define CORPUS_FILE_MAX    (1024 * 1024)   /* the largest corpus file read whole */
#define CORPUS_PATH_MAX    1024
#define CORPUS_JSON_DEPTH  64              /* as TG_, WA_ and EVO_JSON_DEPTH_MAX */
#define CORPUS_ERR_MAX     256

/* Reading */

static inline const char *
corpus_root(void)
{
	const char *c = getenv("CORPUS");
	return c && *c ? c : "../shared/corpus";
}

/* <channel_dir>/<rel> of the corpus whole, NUL-terminated; *len gets its
 * size. A file that cannot be read fails the test. */
static inline char *
corpus_load(const char *channel_dir, const char *rel, size_t *len)
{
	char path[CORPUS_PATH_MAX], chunk[4096];
	struct buf b;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s/%s", corpus_root(), channel_dir, rel);
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot read %s (set CORPUS)", path);
	buf_init(&b, CORPUS_FILE_MAX);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		assert_int_equal(buf_append(&b, chunk, n), 0);
	fclose(f);
	if (b.data == NULL)
		buf_append(&b, "", 0);
	*len = b.len;
	return b.data;
}

/* s parsed by msgd's own parser, as the webhooks parse bodies (duplicate
 * keys refused); an error fails the test. */
static inline json_t *
parse_json(const char *s, size_t len)
{
	char err[CORPUS_ERR_MAX];
	json_t *root;

	if (json_parse_capped(s, len, CORPUS_JSON_DEPTH, &root, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	return root;
}

/* <channel_dir>/<rel> of the corpus, parsed as parse_json() does. */
static inline json_t *
corpus_json(const char *channel_dir, const char *rel)
{
	char err[CORPUS_ERR_MAX];
	size_t len;
	json_t *root;
	char *s = corpus_load(channel_dir, rel, &len);

	if (json_parse_capped(s, len, CORPUS_JSON_DEPTH, &root, err, sizeof(err)) != 0)
		fail_msg("%s/%s: %s", channel_dir, rel, err);
	free(s);
	return root;
}

/* Walking a folder */

/* <channel_dir>/<dir> of the corpus, open; one that is not there fails the test. */
static inline DIR *
corpus_opendir(const char *channel_dir, const char *dir)
{
	char path[CORPUS_PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s/%s", corpus_root(), channel_dir, dir);
	DIR *d = opendir(path);
	if (d == NULL)
		fail_msg("cannot open %s (set CORPUS)", path);
	return d;
}

/* The next name in d that ends in suffix, or NULL after the last; *stem
 * gets its length without the suffix. */
static inline const char *
corpus_next(DIR *d, const char *suffix, size_t *stem)
{
	size_t sn = strlen(suffix);
	struct dirent *e;

	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		if (n > sn && strcmp(e->d_name + n - sn, suffix) == 0) {
			*stem = n - sn;
			return e->d_name;
		}
	}
	return NULL;
}

/* A channel */

/* A channel of ops on the JSON config text, validated (a refused config
 * fails the test) and opened. */
static inline struct channel *
open_test_channel(const struct channel_ops *ops, int64_t id, const char *name, const char *config)
{
	struct channel_error err = { 0 };
	json_error_t jerr;
	json_t *cfg = json_loads(config, 0, &jerr);

	if (cfg == NULL)
		fail_msg("bad config JSON %s: %s", config, jerr.text);
	if (ops->validate(cfg, &err) != 0)
		fail_msg("config refused: %s: %s", err.field, err.message);
	struct channel *ch = channel_new(id, name, ops, cfg, 0, 0);
	json_decref(cfg);
	assert_int_equal(ops->open(ch), 0);
	return ch;
}

/* ops->validate on the JSON config text gives rc (0 or -1); a refusal
 * names field when field is not NULL, and says why. */
static inline void
expect_validate(const struct channel_ops *ops, const char *config, int rc, const char *field)
{
	struct channel_error err = { 0 };
	json_error_t jerr;
	json_t *cfg = json_loads(config, 0, &jerr);

	if (cfg == NULL)
		fail_msg("bad config JSON %s: %s", config, jerr.text);
	if (ops->validate(cfg, &err) != rc)
		fail_msg("validate gave %d, want %d: %s (%s)", rc == 0 ? -1 : 0, rc, config, err.message);
	if (field)
		assert_string_equal(err.field, field);
	if (rc != 0)
		assert_true(err.message[0] != '\0');
	json_decref(cfg);
}

/* Asserts */

static inline void
assert_str_or_null(const char *want, const char *got)
{
	if (want == NULL) {
		assert_null(got);
	} else {
		assert_non_null(got);
		assert_string_equal(got, want);
	}
}

/* v equals the JSON text want (key order aside). */
static inline void
assert_json(const json_t *v, const char *want)
{
	json_error_t e;
	json_t *w = json_loads(want, 0, &e);

	if (w == NULL)
		fail_msg("bad expected JSON %s: %s", want, e.text);
	if (!json_equal((json_t *)v, w)) {
		char *got = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
		char *exp = json_dumps(w, JSON_COMPACT | JSON_SORT_KEYS);
		fail_msg("got %s\nwant %s", got, exp);
	}
	json_decref(w);
}

/* parts.<a>.<b> of a normalized message as a string (parts.<a> when b is
 * NULL), or NULL. */
static inline const char *
part_str(const struct msg_in *m, const char *a, const char *b)
{
	json_t *v = json_object_get(m->parts, a);
	return json_string_value(b ? json_object_get(v, b) : v);
}

#endif
