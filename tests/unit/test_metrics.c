/*
 * test_metrics.c - the counters and their text format (src/metrics/):
 * histogram buckets (cumulative, +Inf = count, sum in seconds), label
 * escaping, HTTP statuses and routes, webhook outcomes, messages by final
 * status, the store's group histograms, collectors, and counting from
 * several threads at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>

#include "channels/channel.h"
#include "metrics/metrics.h"
#include "util/util.h"

static const char *
route(int i, const char **method)
{
	static const char *const pats[] = { "/v1/a", "/v1/b/*" };
	if (i < 0 || i >= 2)
		return NULL;
	*method = "GET";
	return pats[i];
}

static const char *
type(int i)
{
	return i == 0 ? "whatsapp_cloud" : i == 1 ? "tele\"gram" : NULL;
}

static bool
channel(void *arg, int64_t id, const char **name, const char **t)
{
	if (id != 7)
		return false;
	*name = "wa \"main\"\\\n";
	*t = "whatsapp_cloud";
	return true;
}

static const struct metrics_names names = { .route = route, .type = type, .channel = channel };

/* The counters' text, owned by the caller. */
static char *
render(void)
{
	struct metrics_out *out = metrics_out_new();
	size_t len;

	metrics_write_counters(out, &names);
	metrics_write_collectors(out);
	char *s = xstrdup(metrics_out_text(out, &len));
	assert_int_equal(strlen(s), len);
	metrics_out_free(out);
	return s;
}

static void
assert_line(const char *text, const char *line)
{
	char want[512];

	snprintf(want, sizeof(want), "\n%s\n", line);
	if (strstr(text, want) == NULL)
		fail_msg("missing line: %s\n--- in:\n%s", line, text);
}

static int
reset(void **state)
{
	metrics_reset();
	return 0;
}

static void
test_escape(void **state)
{
	char out[64];

	metrics_escape("a\"b\\c\nd", out, sizeof(out));
	assert_string_equal(out, "a\\\"b\\\\c\\nd");
	/* Cut short, never in the middle of an escape or a UTF-8 character. */
	metrics_escape("ab\"", out, 4);
	assert_string_equal(out, "ab");
	metrics_escape("a\xc3\xa9", out, 3);
	assert_string_equal(out, "a");
	metrics_escape("a\xc3\xa9", out, 4);
	assert_string_equal(out, "a\xc3\xa9");
}

static void
test_histogram(void **state)
{
	struct metrics_hist h;
	struct metrics_out *out = metrics_out_new();
	size_t len;

	memset(&h, 0, sizeof(h));
	metrics_hist_observe(&h, 500);        /* 0.5 ms: le=0.001 */
	metrics_hist_observe(&h, 1000);       /* exactly 1 ms: le=0.001 too (le is <=) */
	metrics_hist_observe(&h, 30000);      /* 30 ms: le=0.05 */
	metrics_hist_observe(&h, 60000000);   /* 60 s: only +Inf */
	metrics_hist_observe(&h, -5);         /* a clock step: 0 */
	metrics_family(out, "x_seconds", "histogram", "help \\ with\nnewline");
	metrics_hist_write(out, "x_seconds", (const char *[]){ "k", "v", NULL }, &h);
	const char *t = metrics_out_text(out, &len);
	assert_non_null(strstr(t, "# HELP x_seconds help \\\\ with\\nnewline\n# TYPE x_seconds histogram\n"));
	assert_line(t, "x_seconds_bucket{k=\"v\",le=\"0.001\"} 3");
	assert_line(t, "x_seconds_bucket{k=\"v\",le=\"0.025\"} 3");
	assert_line(t, "x_seconds_bucket{k=\"v\",le=\"0.05\"} 4");
	assert_line(t, "x_seconds_bucket{k=\"v\",le=\"10\"} 4");
	assert_line(t, "x_seconds_bucket{k=\"v\",le=\"+Inf\"} 5");
	assert_line(t, "x_seconds_sum{k=\"v\"} 60.0315");
	assert_line(t, "x_seconds_count{k=\"v\"} 5");
	metrics_out_free(out);
}

static void
test_http_routes_and_statuses(void **state)
{
	metrics_http(0, 200, 100);
	metrics_http(0, 200, 100);
	metrics_http(1, 404, 100);
	metrics_http(1, 299, 100);           /* not counted apart: "other" */
	metrics_http(-1, 404, 100);          /* no route */
	metrics_http(5000, 0, 100);          /* out of range: no route, no status */
	metrics_http(0, 9999, 100);          /* a status past the table: "other" */
	assert_int_equal(metrics_status_tables_check(), 0);
	char *t = render();
	assert_line(t, "msgd_http_requests_total{route=\"/v1/a\",method=\"GET\",status=\"200\"} 2");
	assert_line(t, "msgd_http_requests_total{route=\"/v1/a\",method=\"GET\",status=\"other\"} 1");
	assert_line(t, "msgd_http_requests_total{route=\"/v1/b/*\",method=\"GET\",status=\"404\"} 1");
	assert_line(t, "msgd_http_requests_total{route=\"/v1/b/*\",method=\"GET\",status=\"other\"} 1");
	assert_line(t, "msgd_http_requests_total{route=\"none\",method=\"\",status=\"404\"} 1");
	assert_line(t, "msgd_http_requests_total{route=\"none\",method=\"\",status=\"other\"} 1");
	assert_line(t, "msgd_http_request_duration_seconds_count{route=\"/v1/a\",method=\"GET\"} 3");
	free(t);
}

static void
test_webhooks(void **state)
{
	metrics_webhook(0, METRICS_HOOK_ACCEPTED);
	metrics_webhook(0, METRICS_HOOK_BAD_SIGNATURE);
	metrics_webhook(1, METRICS_HOOK_TOO_LARGE);
	metrics_webhook(-1, METRICS_HOOK_INVALID);
	char *t = render();
	assert_line(t, "msgd_webhook_requests_total{type=\"whatsapp_cloud\",outcome=\"accepted\"} 1");
	assert_line(t, "msgd_webhook_requests_total{type=\"whatsapp_cloud\",outcome=\"bad_signature\"} 1");
	assert_line(t, "msgd_webhook_requests_total{type=\"whatsapp_cloud\",outcome=\"duplicate\"} 0");
	/* A label value is escaped. */
	assert_line(t, "msgd_webhook_requests_total{type=\"tele\\\"gram\",outcome=\"too_large\"} 1");
	assert_line(t, "msgd_webhook_requests_total{type=\"unknown\",outcome=\"invalid\"} 1");
	free(t);
}

static void
test_messages_by_final_status(void **state)
{
	metrics_received(7, 3);
	metrics_send_outcome(7, SEND_OK, 1500);
	metrics_send_outcome(7, SEND_TEMPFAIL, 10);      /* not final: an attempt only */
	metrics_send_outcome(7, SEND_RECIPIENT_INVALID, 10);
	metrics_expired(7);
	metrics_received(100000, 1);                     /* past the cap: "other" */
	metrics_received(9, 1);                          /* a channel gone: left out */
	char *t = render();
	const char *l = "channel_id=\"7\",channel=\"wa \\\"main\\\"\\\\\\n\",type=\"whatsapp_cloud\"";
	char line[512];
	snprintf(line, sizeof(line), "msgd_messages_processed_total{%s,direction=\"inbound\",status=\"received\"} 3", l);
	assert_line(t, line);
	snprintf(line, sizeof(line), "msgd_messages_processed_total{%s,direction=\"outbound\",status=\"sent\"} 1", l);
	assert_line(t, line);
	snprintf(line, sizeof(line), "msgd_messages_processed_total{%s,direction=\"outbound\",status=\"failed\"} 1", l);
	assert_line(t, line);
	snprintf(line, sizeof(line), "msgd_messages_processed_total{%s,direction=\"outbound\",status=\"expired\"} 1", l);
	assert_line(t, line);
	snprintf(line, sizeof(line), "message_service_processed_total{%s,direction=\"outbound\",status=\"sent\"} 1", l);
	assert_line(t, line);
	snprintf(line, sizeof(line), "msgd_send_attempts_total{%s,outcome=\"tempfail\"} 1", l);
	assert_line(t, line);
	assert_line(t, "msgd_messages_processed_total{channel_id=\"other\",channel=\"\",type=\"\",direction=\"inbound\",status=\"received\"} 1");
	assert_null(strstr(t, "channel_id=\"9\""));
	/* The send took 1.5 s: le=2.5, not le=1. */
	assert_line(t, "msgd_processing_duration_seconds_bucket{stage=\"send\",le=\"1\"} 0");
	assert_line(t, "msgd_processing_duration_seconds_bucket{stage=\"send\",le=\"2.5\"} 1");
	assert_line(t, "message_service_processing_duration_seconds_count{stage=\"send\"} 1");
	free(t);
}

static void
test_store_groups(void **state)
{
	metrics_store_group(1, 2000);
	metrics_store_group(3, 2000);
	metrics_store_group(5000, 20000);
	char *t = render();
	assert_line(t, "msgd_store_commit_duration_seconds_count 3");
	assert_line(t, "msgd_store_commit_duration_seconds_bucket{le=\"0.0025\"} 2");
	assert_line(t, "msgd_store_group_size_bucket{le=\"1\"} 1");
	assert_line(t, "msgd_store_group_size_bucket{le=\"4\"} 2");
	assert_line(t, "msgd_store_group_size_bucket{le=\"4096\"} 2");
	assert_line(t, "msgd_store_group_size_bucket{le=\"+Inf\"} 3");
	assert_line(t, "msgd_store_group_size_sum 5004");
	free(t);
}

static void
collect(struct metrics_out *out, void *arg)
{
	metrics_gauge(out, "msgd_export_lag", "events not yet delivered",
	    (const char *[]){ "id", "1", "kind", arg, NULL }, 42);
}

static void
test_collectors(void **state)
{
	static char kind[] = "nats";
	assert_int_equal(metrics_collector_add(collect, kind), 0);
	char *t = render();
	assert_line(t, "# TYPE msgd_export_lag gauge");
	assert_line(t, "msgd_export_lag{id=\"1\",kind=\"nats\"} 42");
	free(t);
	metrics_collector_remove(collect, kind);
	t = render();
	assert_null(strstr(t, "msgd_export_lag"));
	free(t);
	for (int i = 0; i < METRICS_COLLECTORS_MAX; i++)
		assert_int_equal(metrics_collector_add(collect, kind), 0);
	assert_int_equal(metrics_collector_add(collect, kind), -1);
}

#define THREADS 4
#define PER_THREAD 100000

static void *
hammer(void *arg)
{
	for (int i = 0; i < PER_THREAD; i++) {
		metrics_http(0, 200, 10);
		metrics_store_group(2, 10);
	}
	return NULL;
}

static void
test_threads(void **state)
{
	pthread_t th[THREADS];
	char line[256];

	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, hammer, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	char *t = render();
	snprintf(line, sizeof(line), "msgd_http_requests_total{route=\"/v1/a\",method=\"GET\",status=\"200\"} %d",
	    THREADS * PER_THREAD);
	assert_line(t, line);
	snprintf(line, sizeof(line), "msgd_store_group_size_sum %d", 2 * THREADS * PER_THREAD);
	assert_line(t, line);
	free(t);
}

#define SMALL_CAP 2000

/* Every line of text ends in '\n' and is a HELP, a TYPE or a sample of a
 * known family with a value; returns the last line. */
static const char *
assert_whole_lines(const char *text, size_t len)
{
	const char *line = text, *last = text;

	assert_true(len > 0);
	assert_int_equal(text[len - 1], '\n');
	while (line < text + len) {
		const char *nl = memchr(line, '\n', (size_t)(text + len - line));
		assert_non_null(nl);
		char one[512];
		assert_true((size_t)(nl - line) < sizeof(one));
		memcpy(one, line, (size_t)(nl - line));
		one[nl - line] = '\0';
		if (strncmp(one, "# HELP ", 7) != 0 && strncmp(one, "# TYPE ", 7) != 0) {
			int i, v, end = 0;
			if (strncmp(one, "msgd_metrics_truncated ", 23) == 0)
				assert_true(strcmp(one + 23, "0") == 0 || strcmp(one + 23, "1") == 0);
			else if (sscanf(one, "msgd_test_filler{i=\"%d\",pad=\"xxxxxxxxxxxxxxxxxxxx\"} %d%n", &i, &v,
			    &end) != 2 || one[end] != '\0' || v != i)
				fail_msg("not a whole line: [%s]", one);
		}
		last = line;
		line = nl + 1;
	}
	return last;
}

static void
fill(struct metrics_out *out, int n)
{
	char num[16];

	metrics_family(out, "msgd_test_filler", "gauge", "lines to fill the text");
	for (int i = 0; i < n; i++) {
		snprintf(num, sizeof(num), "%d", i);
		metrics_sample(out, "msgd_test_filler",
		    (const char *[]){ "i", num, "pad", "xxxxxxxxxxxxxxxxxxxx", NULL }, i);
	}
}

static void
test_truncated(void **state)
{
	struct metrics_out *out = metrics_out_new_capped(SMALL_CAP);
	size_t len;

	fill(out, 1000);    /* ~50 bytes a line: far past the cap */
	metrics_out_finish(out);
	const char *t = metrics_out_text(out, &len);
	assert_int_equal(strlen(t), len);
	assert_true(len <= SMALL_CAP);
	assert_true(len > SMALL_CAP / 2);
	assert_string_equal(assert_whole_lines(t, len), "msgd_metrics_truncated 1\n");
	assert_non_null(strstr(t, "\n# TYPE msgd_metrics_truncated gauge\n"));
	metrics_out_free(out);

	/* Every cut point: whatever line the cap falls in, no part of it shows. */
	for (size_t cap = 300; cap < 700; cap++) {
		out = metrics_out_new_capped(cap);
		fill(out, 50);
		metrics_out_finish(out);
		t = metrics_out_text(out, &len);
		assert_true(len <= cap);
		assert_string_equal(assert_whole_lines(t, len), "msgd_metrics_truncated 1\n");
		metrics_out_free(out);
	}
}

static void
test_not_truncated(void **state)
{
	struct metrics_out *out = metrics_out_new_capped(SMALL_CAP);
	size_t len;

	fill(out, 5);
	metrics_out_finish(out);
	const char *t = metrics_out_text(out, &len);
	assert_string_equal(assert_whole_lines(t, len), "msgd_metrics_truncated 0\n");
	assert_non_null(strstr(t, "msgd_test_filler{i=\"4\",pad=\"xxxxxxxxxxxxxxxxxxxx\"} 4\n"));
	assert_non_null(strstr(t, "\n# HELP msgd_metrics_truncated "));
	metrics_out_free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_escape, reset),
		cmocka_unit_test_setup(test_histogram, reset),
		cmocka_unit_test_setup(test_http_routes_and_statuses, reset),
		cmocka_unit_test_setup(test_webhooks, reset),
		cmocka_unit_test_setup(test_messages_by_final_status, reset),
		cmocka_unit_test_setup(test_store_groups, reset),
		cmocka_unit_test_setup(test_collectors, reset),
		cmocka_unit_test_setup(test_threads, reset),
		cmocka_unit_test_setup(test_truncated, reset),
		cmocka_unit_test_setup(test_not_truncated, reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
