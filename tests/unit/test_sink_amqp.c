/* test_sink_amqp.c - the RabbitMQ sink: its config check and masking,
 * publisher-confirm accounting; and, when MSGD_TEST_AMQP_URL names a
 * broker (amqp://user:password@127.0.0.1:PORT), a batch through the sink's
 * thread and back to the loop, a wrong password, close() with a batch in
 * flight; with no broker, a refused connection's outcome.
 * tests/e2e/exports_amqp.test.mjs drives it through msgd. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <jansson.h>

#include "hooks/sink.h"
#include "hooks/sink_amqp.h"

static const struct sink_ops *ops = &sink_amqp_ops;

static void
test_names(void **state)
{
	char longname[SINK_AMQP_NAME_MAX + 2];

	assert_true(sink_amqp_name_valid("msgd"));
	assert_true(sink_amqp_name_valid("wa_messages"));
	assert_true(sink_amqp_name_valid("amq.topic"));
	assert_true(sink_amqp_name_valid("a:b-c.d_e"));
	assert_false(sink_amqp_name_valid(""));
	assert_false(sink_amqp_name_valid(NULL));
	assert_false(sink_amqp_name_valid("a b"));
	assert_false(sink_amqp_name_valid("a/b"));
	assert_false(sink_amqp_name_valid("a#"));
	assert_false(sink_amqp_name_valid("\xc3\xa9t\xc3\xa9"));
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_false(sink_amqp_name_valid(longname));
	longname[SINK_AMQP_NAME_MAX] = '\0';
	assert_true(sink_amqp_name_valid(longname));
	assert_true(sink_amqp_key_valid("#"));
	assert_true(sink_amqp_key_valid("message.*"));
	assert_false(sink_amqp_key_valid("message received"));
	assert_false(sink_amqp_key_valid(""));
}

static void
test_mask(void **state)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "amqp://u:secret@h:5672/v", "amqp://u:" SINK_AMQP_MASK "@h:5672/v" },
		{ "amqp://u:s@cr:et@h", "amqp://u:" SINK_AMQP_MASK "@h" },
		{ "amqp://u:@h", "amqp://u:" SINK_AMQP_MASK "@h" },
		{ "amqp://u@h:5672", "amqp://u@h:5672" },
		{ "amqp://h:5672/v@x", "amqp://h:5672/v@x" },
		{ "amqp://h", "amqp://h" },
		{ "nonsense", "nonsense" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *m = sink_amqp_mask_url(cases[i].in);
		assert_string_equal(m, cases[i].out);
		free(m);
	}
}

/* ops->check on a JSON text: 0 and the canonical config, or -1 and the field. */
static int
check(const char *text, json_t **canonical, char field[64])
{
	json_error_t e;
	json_t *cfg = json_loads(text, 0, &e);
	char msg[256];
	int rc;

	assert_non_null(cfg);
	*canonical = NULL;
	field[0] = '\0';
	rc = ops->check(cfg, canonical, field, 64, msg, sizeof(msg));
	if (rc < 0) {
		assert_true(msg[0] != '\0');
		assert_null(strstr(msg, "hunter2"));
	}
	json_decref(cfg);
	return rc;
}

static void
test_check(void **state)
{
	static const struct { const char *cfg, *field; } bad[] = {
		{ "[]", "config" },
		{ "{}", "config.url" },
		{ "{\"url\":5}", "config.url" },
		{ "{\"url\":\"http://h\"}", "config.url" },
		{ "{\"url\":\"amqps://u:hunter2@h\"}", "config.url" },
		{ "{\"url\":\"amqp://u:hunter2@h:99999\"}", "config.url" },
		{ "{\"url\":\"amqp://u:hunter2@h:x\"}", "config.url" },
		{ "{\"url\":\"amqp://u:hunter2@h /\"}", "config.url" },
		{ "{\"url\":\"amqp://h\",\"exchange\":\"\"}", "config.exchange" },
		{ "{\"url\":\"amqp://h\",\"exchange\":\"a b\"}", "config.exchange" },
		{ "{\"url\":\"amqp://h\",\"exchange_type\":\"x-delayed\"}", "config.exchange_type" },
		{ "{\"url\":\"amqp://h\",\"queue\":\"q/1\"}", "config.queue" },
		{ "{\"url\":\"amqp://h\",\"binding_key\":\"#\"}", "config.binding_key" },
		{ "{\"url\":\"amqp://h\",\"queue\":\"q\",\"binding_key\":\"a b\"}", "config.binding_key" },
		{ "{\"url\":\"amqp://h\",\"durable\":\"yes\"}", "config" },
	};
	char field[64];
	json_t *c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(check(bad[i].cfg, &c, field), -1);
		assert_string_equal(field, bad[i].field);
		assert_null(c);
	}

	/* Defaults filled in; no queue, no binding key. */
	assert_int_equal(check("{\"url\":\"amqp://u:hunter2@127.0.0.1:5673\"}", &c, field), 0);
	assert_string_equal(json_string_value(json_object_get(c, "url")),
	    "amqp://u:hunter2@127.0.0.1:5673");
	assert_string_equal(json_string_value(json_object_get(c, "exchange")), "msgd");
	assert_string_equal(json_string_value(json_object_get(c, "exchange_type")), "topic");
	assert_null(json_object_get(c, "queue"));
	assert_null(json_object_get(c, "binding_key"));

	/* Shown: the password masked, the rest as stored. */
	json_t *shown = ops->show(c);
	assert_string_equal(json_string_value(json_object_get(shown, "url")),
	    "amqp://u:" SINK_AMQP_MASK "@127.0.0.1:5673");
	assert_string_equal(json_string_value(json_object_get(shown, "exchange")), "msgd");
	json_decref(shown);

	/* The parsed form the thread uses. */
	struct sink_amqp_cfg cfg;
	assert_int_equal(sink_amqp_cfg_parse(c, &cfg), 0);
	assert_string_equal(cfg.host, "127.0.0.1");
	assert_int_equal(cfg.port, 5673);
	assert_string_equal(cfg.user, "u");
	assert_string_equal(cfg.password, "hunter2");
	assert_string_equal(cfg.vhost, "/");
	assert_null(cfg.queue);
	sink_amqp_cfg_free(&cfg);
	json_decref(c);

	/* A queue takes the default binding key; a percent-encoded vhost. */
	assert_int_equal(check("{\"url\":\"amqp://u:p%40ss@h/%2fprod\",\"exchange\":\"ex\","
	    "\"exchange_type\":\"direct\",\"queue\":\"wa_messages\"}", &c, field), 0);
	assert_string_equal(json_string_value(json_object_get(c, "queue")), "wa_messages");
	assert_string_equal(json_string_value(json_object_get(c, "binding_key")), "#");
	assert_int_equal(sink_amqp_cfg_parse(c, &cfg), 0);
	assert_string_equal(cfg.password, "p@ss");
	assert_string_equal(cfg.vhost, "/prod");
	assert_int_equal(cfg.port, 5672);
	assert_string_equal(cfg.exchange_type, "direct");
	sink_amqp_cfg_free(&cfg);
	json_decref(c);
}

static void
test_confirms(void **state)
{
	struct sink_amqp_confirms c;

	/* In order, one by one. */
	sink_amqp_confirms_init(&c, 10, 3);
	sink_amqp_confirms_mark(&c, 10, false, true);
	assert_int_equal(sink_amqp_confirms_prefix(&c), 1);
	sink_amqp_confirms_mark(&c, 12, false, true);  /* out of order: a gap */
	assert_int_equal(sink_amqp_confirms_prefix(&c), 1);
	assert_int_equal(c.settled, 2);
	sink_amqp_confirms_mark(&c, 11, false, true);
	assert_int_equal(sink_amqp_confirms_prefix(&c), 3);
	assert_int_equal(c.settled, 3);
	assert_false(c.nacked);

	/* multiple: every tag up to it; an earlier batch's tag is ignored. */
	sink_amqp_confirms_init(&c, 100, 5);
	sink_amqp_confirms_mark(&c, 99, true, true);
	assert_int_equal(c.settled, 0);
	sink_amqp_confirms_mark(&c, 103, true, true);
	assert_int_equal(sink_amqp_confirms_prefix(&c), 4);
	sink_amqp_confirms_mark(&c, 103, false, true);  /* again: no double count */
	assert_int_equal(c.settled, 4);
	sink_amqp_confirms_mark(&c, 1000, true, true);  /* past the batch */
	assert_int_equal(sink_amqp_confirms_prefix(&c), 5);

	/* A nack stops the prefix there. */
	sink_amqp_confirms_init(&c, 1, 4);
	sink_amqp_confirms_mark(&c, 2, true, true);
	sink_amqp_confirms_mark(&c, 3, false, false);
	sink_amqp_confirms_mark(&c, 4, false, true);
	assert_int_equal(c.settled, 4);
	assert_true(c.nacked);
	assert_int_equal(sink_amqp_confirms_prefix(&c), 2);

	/* A nack with multiple settles the rest as refused. */
	sink_amqp_confirms_init(&c, 1, 3);
	sink_amqp_confirms_mark(&c, 1, false, true);
	sink_amqp_confirms_mark(&c, 3, true, false);
	assert_int_equal(c.settled, 3);
	assert_int_equal(sink_amqp_confirms_prefix(&c), 1);
}

/* --- against a broker (MSGD_TEST_AMQP_URL) --- */

struct outcome {
	int calls;
	struct sink_result res;
	struct event_base *base;
};

static void
on_done(void *arg, const struct sink_result *res)
{
	struct outcome *o = arg;

	o->calls++;
	o->res = *res;
	event_base_loopbreak(o->base);
}

/* Run the loop until done() breaks it, at most 30 s (a timer keeps the
 * loop from ending for lack of events: the sink's event is only made active). */
static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

static void
run_loop(struct event_base *base)
{
	struct timeval tv = { .tv_sec = 30 };
	struct event *deadline = evtimer_new(base, on_deadline, base);

	evtimer_add(deadline, &tv);
	event_base_dispatch(base);
	event_free(deadline);
}

static struct sink *
open_sink(struct event_base *base, const char *url, const char *queue)
{
	json_t *in = json_pack("{s:s, s:s}", "url", url, "exchange", "msgd.unit");
	json_t *cfg = NULL;
	struct sink *s = NULL;
	char field[64], msg[256];

	if (queue)
		json_object_set_new(in, "queue", json_string(queue));
	assert_int_equal(ops->check(in, &cfg, field, sizeof(field), msg, sizeof(msg)), 0);
	assert_int_equal(ops->open(&s, base, cfg, 7), 0);
	json_decref(in);
	json_decref(cfg);
	return s;
}

static void
deliver_n(struct sink *s, size_t n, int64_t seq0, struct outcome *o)
{
	struct sink_event *ev = calloc(n, sizeof(*ev));
	char (*ids)[32] = calloc(n, 32);
	char (*bodies)[64] = calloc(n, 64);

	for (size_t i = 0; i < n; i++) {
		snprintf(ids[i], 32, "7-%lld", (long long)(seq0 + (int64_t)i));
		snprintf(bodies[i], 64, "{\"seq\":%lld}", (long long)(seq0 + (int64_t)i));
		ev[i] = (struct sink_event){ .seq = seq0 + (int64_t)i, .type = "message.received",
			.org = "default", .channel = i % 2 ? "wa-main" : NULL, .body = bodies[i],
			.len = strlen(bodies[i]), .delivery_id = ids[i] };
	}
	ops->deliver(s, ev, n, on_done, o);
	/* Copied: the sink must not read these any more. */
	memset(bodies, 'x', n * 64);
	free(ev);
	free(ids);
	free(bodies);
}

static void
test_live(void **state)
{
	const char *url = getenv("MSGD_TEST_AMQP_URL");
	struct event_base *base;
	struct outcome o = { 0 };
	char why[SINK_ERROR_MAX];
	struct sink *s;

	if (!url || !*url)
		skip();
	base = event_base_new();
	o.base = base;

	s = open_sink(base, url, "msgd_unit_q");
	deliver_n(s, SINK_AMQP_BATCH_MAX, 1, &o);
	run_loop(base);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.res.acked, SINK_AMQP_BATCH_MAX);
	assert_string_equal(o.res.error, "");
	assert_true(ops->healthy(s, why, sizeof(why)));
	/* The next batch on the same connection. */
	deliver_n(s, 3, 1 + SINK_AMQP_BATCH_MAX, &o);
	run_loop(base);
	assert_int_equal(o.calls, 2);
	assert_int_equal(o.res.acked, 3);
	/* close() with a batch in flight: done() is never called. */
	deliver_n(s, 5, 1000, &o);
	ops->close(s);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(o.calls, 2);

	/* A wrong password: nothing acked, why without the password. */
	char *bad = strdup(url), *colon = strrchr(bad, '@');
	assert_non_null(colon);
	*colon = '\0';
	char *badurl = NULL;
	assert_true(asprintf(&badurl, "%s-hunter2@%s", bad, colon + 1) > 0);
	s = open_sink(base, badurl, NULL);
	deliver_n(s, 2, 1, &o);
	run_loop(base);
	assert_int_equal(o.calls, 3);
	assert_int_equal(o.res.acked, 0);
	assert_true(o.res.error[0] != '\0');
	assert_null(strstr(o.res.error, "hunter2"));
	assert_false(ops->healthy(s, why, sizeof(why)));
	assert_null(strstr(why, "hunter2"));
	ops->close(s);
	free(bad);
	free(badurl);
	event_base_free(base);
}

/* No broker at all (a refused connection): the outcome still comes back to
 * the loop, nothing acked, and close() returns. Needs no broker. */
static void
test_refused(void **state)
{
	struct event_base *base = event_base_new();
	struct outcome o = { .base = base };
	char why[SINK_ERROR_MAX];
	struct sink *s = open_sink(base, "amqp://u:hunter2@127.0.0.1:1", NULL);

	deliver_n(s, 4, 1, &o);
	run_loop(base);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.res.acked, 0);
	assert_non_null(strstr(o.res.error, "connect to 127.0.0.1:1"));
	assert_null(strstr(o.res.error, "hunter2"));
	assert_false(ops->healthy(s, why, sizeof(why)));
	assert_true(why[0] != '\0');
	/* Again: the same outcome, one done() per deliver(). */
	deliver_n(s, 2, 1, &o);
	run_loop(base);
	assert_int_equal(o.calls, 2);
	assert_int_equal(o.res.acked, 0);
	ops->close(s);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_mask),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_confirms),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_live),
	};
	evthread_use_pthreads();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
