/* test_outbox.c - the dispatcher's arithmetic (pacer, breaker, backoff) and
 * how it words reasons (reason.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "outbox/outbox.h"
#include "channels/channel.h"
#include "channels/whatsapp_cloud.h"

/* Start as many sends as allowed at each ms tick; count the most in any 1 s window. */
static int
peak_per_second(int rate, int64_t duration_ms)
{
	struct pacer p;
	int64_t *starts = calloc((size_t)(rate + 1) * (size_t)(duration_ms / 1000 + 2), sizeof(int64_t));
	size_t n = 0;
	int peak = 0;

	pacer_init(&p, rate);
	/* Wake exactly when the pacer says, plus 0..49 us of timer lateness. */
	for (int64_t t = 1000000000; t < 1000000000 + duration_ms * 1000;) {
		while (pacer_allowance(&p, t) > 0) {
			pacer_record(&p, t);
			starts[n++] = t;
		}
		int64_t next = pacer_next(&p, t);
		t = (next > t ? next : t + 1) + (int64_t)(n * 7919 % 50);
	}
	for (size_t i = 0, j = 0; i < n; i++) {
		while (starts[i] - starts[j] >= 1000000)
			j++;
		if ((int)(i - j + 1) > peak)
			peak = (int)(i - j + 1);
	}
	free(starts);
	pacer_free(&p);
	return peak;
}

static void
test_pacer_ceiling(void **state)
{
	/* Never above the rate in any one-second window, from the first second on. */
	int rates[] = { 1, 3, 7, 20, 80, 333, 1000 };
	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		int peak = peak_per_second(rates[i], 5000);
		assert_true(peak <= rates[i]);
		assert_true(peak >= rates[i] * 97 / 100); /* and it does use the rate */
	}
}

static void
test_pacer_spacing_and_idle(void **state)
{
	struct pacer p;

	pacer_init(&p, 20);                 /* one every 50 ms */
	assert_int_equal(pacer_allowance(&p, 0), 1);
	pacer_record(&p, 0);
	assert_int_equal(pacer_allowance(&p, 49999), 0);
	assert_int_equal(pacer_next(&p, 10000), 50000);
	assert_int_equal(pacer_allowance(&p, 50000), 1);
	/* Idle for a while: no banked burst, still one at a time. */
	pacer_record(&p, 10000000);
	assert_int_equal(pacer_allowance(&p, 10000000), 0);
	assert_int_equal(pacer_next(&p, 10000000), 10050000);
	pacer_free(&p);

	pacer_init(&p, 0);                  /* unlimited */
	assert_true(pacer_allowance(&p, 0) > 1000);
	pacer_record(&p, 0);
	assert_int_equal(pacer_next(&p, 5), 5);
	pacer_free(&p);
}

static void
test_breaker(void **state)
{
	struct breaker b;

	breaker_init(&b, 3, 1000);
	/* Sporadic failures between successes never trip it. */
	for (int i = 0; i < 10; i++) {
		breaker_failure(&b, 0);
		breaker_failure(&b, 0);
		breaker_success(&b);
	}
	assert_int_equal(b.state, BREAKER_CLOSED);
	/* A run of three opens it. */
	breaker_failure(&b, 100);
	breaker_failure(&b, 100);
	assert_true(breaker_allow(&b, 100));
	breaker_failure(&b, 100);
	assert_int_equal(b.state, BREAKER_OPEN);
	assert_false(breaker_allow(&b, 500));
	/* After the cooldown: one probe at a time. */
	assert_true(breaker_allow(&b, 1100));
	assert_int_equal(b.state, BREAKER_HALF_OPEN);
	assert_false(breaker_allow(&b, 1101));
	/* The probe fails: open again for a cooldown. */
	breaker_failure(&b, 1200);
	assert_int_equal(b.state, BREAKER_OPEN);
	assert_false(breaker_allow(&b, 2100));
	assert_true(breaker_allow(&b, 2200));
	/* A released probe lets the next one go; a success closes it. */
	breaker_release(&b);
	assert_true(breaker_allow(&b, 2201));
	breaker_success(&b);
	assert_int_equal(b.state, BREAKER_CLOSED);
	assert_true(breaker_allow(&b, 2202));
	assert_true(breaker_allow(&b, 2202));
}

static void
test_backoff(void **state)
{
	/* ~1 s, doubling, capped at 5 min, within +-20%. */
	for (uint32_t r = 0; r < 5000; r += 97) {
		int64_t d1 = backoff_ms(1, r), d2 = backoff_ms(2, r), d10 = backoff_ms(10, r);
		int64_t d30 = backoff_ms(30, r);
		assert_true(d1 >= 800 && d1 <= 1200);
		assert_true(d2 >= 1600 && d2 <= 2400);
		assert_true(d10 >= 240000 && d10 <= 360000);
		assert_true(d30 >= 240000 && d30 <= 360000);
	}
	/* Jitter actually varies. */
	assert_true(backoff_ms(3, 1) != backoff_ms(3, 777));
}

/* A Graph error without error_data has the same text as title and detail:
 * it is said once (the paused reason used to read "X - X"). */
static void
test_reason_not_repeated(void **state)
{
	const char *msg = "Error validating access token: Session has expired on Friday";
	struct send_reason r = { 0 };
	char text[512];

	assert_true(json_is_null(reason_json(&r)));
	reason_set(&r, "190", msg, msg, 1000);
	json_t *j = reason_json(&r);
	assert_int_equal(json_integer_value(json_object_get(j, "code")), 190);
	assert_string_equal(json_string_value(json_object_get(j, "title")), msg);
	assert_true(json_is_null(json_object_get(j, "detail")));
	json_decref(j);

	error_text(text, sizeof(text), msg, msg);
	assert_string_equal(text, msg);
	error_text(text, sizeof(text), msg, "Session has expired");        /* detail inside title */
	assert_string_equal(text, msg);
	error_text(text, sizeof(text), "Session has expired", msg);        /* title inside detail */
	assert_string_equal(text, msg);
	error_text(text, sizeof(text), "Message undeliverable", "The number is not on WhatsApp");
	assert_string_equal(text, "Message undeliverable: The number is not on WhatsApp");
	error_text(text, sizeof(text), "HTTP 500", "");
	assert_string_equal(text, "HTTP 500");

	reason_set(&r, "network", "Could not resolve host: x.invalid", NULL, 1000);
	j = reason_json(&r);
	assert_string_equal(json_string_value(json_object_get(j, "code")), "network");
	json_decref(j);
}

static void
test_error_code_text(void **state)
{
	char c[REASON_CODE_MAX];

	error_code_text(c, 131000, true, 500);
	assert_string_equal(c, "131000");
	error_code_text(c, 0, true, 0);
	assert_string_equal(c, "network");
	error_code_text(c, 0, true, 503);
	assert_string_equal(c, "http_503");
	error_code_text(c, 0, false, 0);
	assert_string_equal(c, "");
}

static void
classify(long status, const char *body, const char *net, struct check_result *out)
{
	struct send_response r = { .http_status = status, .body = body,
		.body_len = body ? strlen(body) : 0, .net_error = net };
	whatsapp_check_classify(&r, out);
}

static void
test_whatsapp_check_classify(void **state)
{
	struct check_result r;

	classify(200, "{\"verified_name\":\"Acme\",\"display_phone_number\":\"+1 555\",\"id\":\"1\"}", NULL, &r);
	assert_int_equal(r.state, CHECK_OK);
	assert_string_equal(r.message, "Acme (+1 555)");
	classify(401, "{\"error\":{\"message\":\"Invalid OAuth access token\",\"type\":\"OAuthException\",\"code\":190}}", NULL, &r);
	assert_int_equal(r.state, CHECK_INVALID_CREDENTIALS);
	assert_int_equal(r.error_code, 190);
	assert_string_equal(r.message, "Invalid OAuth access token");
	classify(400, "{\"error\":{\"message\":\"(#200) Permissions error\",\"code\":200}}", NULL, &r);
	assert_int_equal(r.state, CHECK_INVALID_CREDENTIALS);
	classify(0, NULL, "Couldn't connect to server", &r);
	assert_int_equal(r.state, CHECK_UNREACHABLE);
	assert_string_equal(r.message, "Couldn't connect to server");
	classify(503, "<html>down</html>", NULL, &r);
	assert_int_equal(r.state, CHECK_UNREACHABLE);
	assert_string_equal(r.message, "HTTP 503");
	classify(400, "{\"error\":{\"message\":\"Unsupported get request.\",\"code\":100}}", NULL, &r);
	assert_int_equal(r.state, CHECK_ERROR);
	assert_string_equal(check_state_name(r.state), "error");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pacer_ceiling),
		cmocka_unit_test(test_pacer_spacing_and_idle),
		cmocka_unit_test(test_breaker),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_reason_not_repeated),
		cmocka_unit_test(test_error_code_text),
		cmocka_unit_test(test_whatsapp_check_classify),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
