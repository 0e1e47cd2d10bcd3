/* test_sinks.c - the sinks' pure parts (issue 15): the table of kinds, each
 * config's check() (defaults, 422 fields) and show() (secrets masked). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "hooks/sink.h"

static void
test_table(void **state)
{
	assert_ptr_equal(sink_ops_find("webhook"), &sink_webhook_ops);
	assert_ptr_equal(sink_ops_find("nats"), &sink_nats_ops);
	assert_null(sink_ops_find("kafka"));
	assert_null(sink_ops_find(NULL));
	/* Every slot filled. */
	const struct sink_ops *all[] = { &sink_webhook_ops, &sink_nats_ops };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		assert_non_null(all[i]->kind);
		assert_true(all[i]->batch_max >= 1 && all[i]->batch_max <= SINK_BATCH_MAX);
		assert_non_null(all[i]->check);
		assert_non_null(all[i]->show);
		assert_non_null(all[i]->open);
		assert_non_null(all[i]->deliver);
		assert_non_null(all[i]->healthy);
		assert_non_null(all[i]->close);
	}
	assert_int_equal(sink_webhook_ops.batch_max, 1);
}

/* check() of a config given as JSON text: 0 and the canonical text, or -1
 * and the field. */
static int
check(const struct sink_ops *ops, const char *text, char *field, json_t **canon)
{
	json_t *config = json_loads(text, 0, NULL);
	char msg[256];

	*canon = NULL;
	field[0] = '\0';
	int rc = ops->check(config, canon, field, 96, msg, sizeof(msg));
	if (rc != 0)
		assert_true(msg[0] != '\0');
	json_decref(config);
	return rc;
}

static void
test_nats_check(void **state)
{
	char field[96];
	json_t *c;

	assert_int_equal(check(&sink_nats_ops, "{\"url\":\"nats://127.0.0.1:4222\"}", field, &c), 0);
	assert_string_equal(json_string_value(json_object_get(c, "subject_prefix")), "msgd");
	json_decref(c);
	assert_int_equal(check(&sink_nats_ops, "{\"url\":\"tls://h:1\",\"subject_prefix\":\"a.b-c_d\","
	    "\"user\":\"u\",\"password\":\"p\"}", field, &c), 0);
	json_decref(c);
	static const struct { const char *config, *field; } bad[] = {
		{ "[]", "config" },
		{ "{}", "config.url" },
		{ "{\"url\":\"http://h:1\"}", "config.url" },
		{ "{\"url\":\"nats://\"}", "config.url" },
		{ "{\"url\":\"nats://a b\"}", "config.url" },
		{ "{\"url\":\"nats://h\",\"subject_prefix\":\"a.>\"}", "config.subject_prefix" },
		{ "{\"url\":\"nats://h\",\"subject_prefix\":\"a..b\"}", "config.subject_prefix" },
		{ "{\"url\":\"nats://h\",\"subject_prefix\":\"\"}", "config.subject_prefix" },
		{ "{\"url\":\"nats://h\",\"user\":\"u\"}", "config.password" },
		{ "{\"url\":\"nats://h\",\"password\":\"p\"}", "config.user" },
		{ "{\"url\":\"nats://h\",\"token\":\"t\",\"user\":\"u\",\"password\":\"p\"}", "config.token" },
		{ "{\"url\":\"nats://h\",\"token\":1}", "config.token" },
		{ "{\"url\":\"nats://h\",\"queue\":\"q\"}", "config.queue" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(check(&sink_nats_ops, bad[i].config, field, &c), -1);
		assert_string_equal(field, bad[i].field);
		assert_null(c);
	}
}

static void
test_nats_show(void **state)
{
	json_t *config = json_pack("{s:s, s:s, s:s, s:s}", "url", "nats://u:hunter2@127.0.0.1:4222",
	    "subject_prefix", "msgd", "user", "u", "password", "hunter2");
	json_t *shown = sink_nats_ops.show(config);
	char *text = json_dumps(shown, 0);

	assert_null(strstr(text, "hunter2"));
	assert_string_equal(json_string_value(json_object_get(shown, "password")), "********");
	assert_string_equal(json_string_value(json_object_get(shown, "url")),
	    "nats://u:********@127.0.0.1:4222");
	assert_string_equal(json_string_value(json_object_get(shown, "user")), "u");
	free(text);
	json_decref(shown);
	json_decref(config);
	config = json_pack("{s:s, s:s}", "url", "nats://127.0.0.1:4222", "token", "s3cret-token");
	shown = sink_nats_ops.show(config);
	assert_string_equal(json_string_value(json_object_get(shown, "token")), "********");
	assert_string_equal(json_string_value(json_object_get(shown, "url")), "nats://127.0.0.1:4222");
	json_decref(shown);
	json_decref(config);
	/* A token in the url (a lone user name is libnats' token), and one
	 * before a port: masked whole. */
	config = json_pack("{s:s}", "url", "nats://S3cr3t@nats.example:4222");
	shown = sink_nats_ops.show(config);
	assert_string_equal(json_string_value(json_object_get(shown, "url")), "nats://********@nats.example:4222");
	json_decref(shown);
	json_decref(config);
}

static void
test_webhook_check_show(void **state)
{
	char field[96];
	json_t *c;

	assert_int_equal(check(&sink_webhook_ops, "{\"url\":\"https://example.test/h\","
	    "\"secret\":\"0123456789abcdef\"}", field, &c), 0);
	json_t *shown = sink_webhook_ops.show(c);
	assert_string_equal(json_string_value(json_object_get(shown, "secret")), "********");
	json_decref(shown);
	json_decref(c);
	assert_int_equal(check(&sink_webhook_ops, "{\"url\":\"ftp://x\",\"secret\":\"0123456789abcdef\"}",
	    field, &c), -1);
	assert_string_equal(field, "url");
	assert_int_equal(check(&sink_webhook_ops, "{\"url\":\"https://x\",\"secret\":\"short\"}", field, &c), -1);
	assert_string_equal(field, "secret");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_nats_check),
		cmocka_unit_test(test_nats_show),
		cmocka_unit_test(test_webhook_check_show),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
