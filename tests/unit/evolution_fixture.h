/*
 * evolution_fixture.h - what the Evolution adapter's two unit test files
 * share: the corpus's key, a valid config and an open channel on it.
 * Included after cmocka.h and corpus.h.
 */
#ifndef MSGD_TEST_EVOLUTION_FIXTURE_H
#define MSGD_TEST_EVOLUTION_FIXTURE_H

#define CORPUS_KEY "00000000-0000-4000-8000-000000000000"
#define BASE "http://127.0.0.1:9/evo/"
#define KEY  CORPUS_KEY

static inline json_t *
good_config(void)
{
	return json_pack("{s:s,s:s,s:s}", "api_base_url", BASE, "api_key", KEY, "instance", "tigo1");
}

static inline struct channel *
open_channel(void)
{
	json_t *cfg = good_config();
	struct channel_error err = { 0 };
	struct channel *ch;

	assert_int_equal(evolution_ops.validate(cfg, &err), 0);
	ch = channel_new(11, "evo", &evolution_ops, cfg, 1, 1);
	json_decref(cfg);
	assert_int_equal(ch->ops->open(ch), 0);
	return ch;
}

#endif
