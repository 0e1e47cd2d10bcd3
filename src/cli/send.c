/*
 * send.c - `msgd send`: queue a message through POST /v1/messages, print
 * its id, then follow its status (GET /v1/messages/{id}) until it is
 * delivered, read, failed or cancelled, or --timeout passes.
 *
 * While a message waits for a retry, its last error is printed once per
 * failed attempt ("retrying: attempt 2 failed: Could not resolve host
 * (next try in 4 s)"). A message that stays queued without any attempt
 * waits on its channel (paused, circuit open, throttled): after HOLD_AFTER_MS
 * the channel's hold is read from GET /v1/channels/{name} and printed once
 * ("waiting: channel wa is paused: Invalid OAuth access token (190) — fix its
 * credentials with PATCH /v1/channels/wa").
 *
 * Exit codes: 0 sent (accepted or further), 1 failed or cancelled,
 * 2 usage or request error, 3 still queued when --timeout passed.
 * Each invocation carries its own idempotency key (client_id), so a POST
 * retried by the transport never queues the message twice.
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "../util/util.h"

#define POLL_MS 200
#define HOLD_AFTER_MS 1500    /* queued this long with no attempt: ask the channel why */
#define HOLD_RECHECK_MS 2000  /* then again this often while it says nothing */
#define WORDS_MAX 1024        /* an error's title and detail, as printed */

const char cli_send_usage[] =
    "msgd send --channel NAME --to ADDR (--text TEXT | --template NAME [--var k=v ...])\n"
    "          [--language CODE] [--url URL] [--token TOKEN] [--no-wait] [--timeout SECONDS]\n"
    "\n"
    "  --url URL        msgd's address (default http://$MSGD_LISTEN or http://127.0.0.1:8080)\n"
    "  --token TOKEN    API token (default $MSGD_ADMIN_TOKEN, else $MSGD_DATA/admin.token)\n"
    "  --no-wait        print the message id and return without following its status\n"
    "  --timeout S      stop following after S seconds (default 30)\n"
    "\n"
    "Prints the message id, then each status until delivered, read, failed or cancelled,\n"
    "and why it waits: each failed attempt, or its channel's hold (paused, circuit open).\n"
    "Exit 0 when the message was sent (accepted or further), 1 when it failed,\n"
    "3 when it was still queued at --timeout.\n";

static char *
read_token_file(void)
{
	const char *dir = getenv("MSGD_DATA");
	char path[1100], tok[257];
	FILE *f;

	snprintf(path, sizeof(path), "%s/admin.token", dir && *dir ? dir : "./var");
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	size_t n = fread(tok, 1, sizeof(tok) - 1, f);
	fclose(f);
	while (n && (tok[n - 1] == '\n' || tok[n - 1] == ' '))
		n--;
	tok[n] = '\0';
	return n ? xstrdup(tok) : NULL;
}

int
cli_target(const char *who, const char *url, const char **token, char **token_buf,
    char base[CLI_URL_MAX])
{
	if (url == NULL) {
		const char *l = getenv("MSGD_LISTEN");
		snprintf(base, CLI_URL_MAX, "http://%s", l && *l ? l : "127.0.0.1:8080");
	} else {
		snprintf(base, CLI_URL_MAX, "%s", url);
	}
	size_t bl = strlen(base);
	while (bl && base[bl - 1] == '/')
		base[--bl] = '\0';
	if (*token == NULL)
		*token = getenv("MSGD_ADMIN_TOKEN");
	if (*token == NULL || **token == '\0')
		*token = *token_buf = read_token_file();
	if (*token == NULL) {
		fprintf(stderr, "%s: no token: pass --token or set MSGD_ADMIN_TOKEN\n", who);
		return -1;
	}
	return 0;
}

/* "2024-04-28T10:40:10Z" as Unix seconds; -1 when it is not that form. */
static int64_t
parse_utc(const char *s)
{
	struct tm tm = { 0 };
	int end = -1;

	if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &end) != 6 || end < 0 || s[end])
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

/* An error's {"title","detail"} as words: the detail only when it adds to
 * the title (providers repeat themselves). */
static void
error_words(const json_t *err, char *out, size_t n)
{
	const char *title = json_string_value(json_object_get(err, "title"));
	const char *detail = json_string_value(json_object_get(err, "detail"));
	bool both = title && detail && *detail && strstr(title, detail) == NULL;

	if (both && strstr(detail, title))
		snprintf(out, n, "%s", detail);
	else if (both)
		snprintf(out, n, "%s: %s", title, detail);
	else
		snprintf(out, n, "%s", title ? title : "error");
}

/* A failed attempt the message waits to retry: print it once. *seen holds
 * the attempt already reported. */
static void
print_retry(const json_t *msg, int64_t *seen)
{
	const json_t *err = json_object_get(msg, "last_error");
	int64_t attempts = json_integer_value(json_object_get(msg, "attempts"));
	int64_t next = parse_utc(json_string_value(json_object_get(msg, "next_attempt_at")));
	char words[WORDS_MAX];

	if (!json_is_object(err) || next < 0 || attempts <= *seen)
		return;
	*seen = attempts;
	error_words(err, words, sizeof(words));
	int64_t wait = next - (int64_t)time(NULL);
	printf("retrying: attempt %lld failed: %s (next try in %lld s)\n", (long long)attempts, words,
	    (long long)(wait > 0 ? wait : 0));
	fflush(stdout);
}

/* Seconds from now until an "until" time, for " — resumes in 12 s"; -1 when
 * there is none. */
static int64_t
seconds_until(const json_t *sending)
{
	int64_t until = parse_utc(json_string_value(json_object_get(sending, "until")));

	if (until < 0)
		return -1;
	until -= (int64_t)time(NULL);
	return until > 0 ? until : 0;
}

/* Why a message nobody has tried yet waits: the hold of its channel (state.sending of
 * GET /v1/channels/{name}), printed once. Returns true when a hold was printed. */
static bool
print_hold(const char *base, const char *token, const char *channel)
{
	char *esc = curl_easy_escape(NULL, channel, 0);
	char url[600], words[WORDS_MAX] = "", code[64] = "", hint[256] = "";
	json_t *ch = NULL;
	bool printed = false;

	if (esc == NULL)
		return false;
	snprintf(url, sizeof(url), "%s/v1/channels/%s", base, esc);
	curl_free(esc);
	if (cli_call("msgd send", "GET", url, token, NULL, NULL, &ch) != 200)
		goto out;
	const json_t *st = json_object_get(ch, "state");
	const json_t *snd = json_object_get(st, "sending");
	const json_t *reason = json_object_get(snd, "reason");
	const char *state = json_string_value(json_object_get(snd, "state"));
	const char *creds = json_string_value(json_object_get(json_object_get(st, "credentials"), "state"));
	if (state == NULL || strcmp(state, "ok") == 0)
		goto out;

	if (json_is_object(reason)) {
		const json_t *c = json_object_get(reason, "code");
		error_words(reason, words, sizeof(words));
		if (json_is_integer(c))
			snprintf(code, sizeof(code), " (%" JSON_INTEGER_FORMAT ")", json_integer_value(c));
		else if (json_is_string(c))
			snprintf(code, sizeof(code), " (%s)", json_string_value(c));
	}
	int64_t left = seconds_until(snd);
	const char *what = state;
	if (strcmp(state, "paused") == 0) {
		/* Paused with no end: refused credentials, until a PATCH changes them. */
		if (left < 0 || (creds && strcmp(creds, "invalid_credentials") == 0))
			snprintf(hint, sizeof(hint), " \u2014 fix its credentials with PATCH /v1/channels/%s",
			    channel);
	} else if (strcmp(state, "circuit_open") == 0) {
		what = "held (circuit open after failures)";
	} else if (strcmp(state, "half_open") == 0) {
		what = "probing after failures";
	}
	if (hint[0] == '\0' && left >= 0)
		snprintf(hint, sizeof(hint), " \u2014 %s in %lld s",
		    strcmp(state, "circuit_open") == 0 ? "next try" : "resumes", (long long)left);
	printf("waiting: channel %s is %s%s%s%s%s\n", channel, what, words[0] ? ": " : "", words, code,
	    hint);
	fflush(stdout);
	printed = true;
out:
	json_decref(ch);
	return printed;
}

static bool
final_status(const char *s)
{
	return strcmp(s, "delivered") == 0 || strcmp(s, "read") == 0 || strcmp(s, "failed") == 0 ||
	    strcmp(s, "cancelled") == 0;
}

static int
exit_for(const char *s)
{
	if (strcmp(s, "failed") == 0 || strcmp(s, "cancelled") == 0)
		return 1;
	if (strcmp(s, "queued") == 0 || strcmp(s, "scheduled") == 0)
		return 3;
	return 0;
}

int
cli_send(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "token", required_argument, NULL, 'k' },
		{ "channel", required_argument, NULL, 'c' },
		{ "to", required_argument, NULL, 't' },
		{ "text", required_argument, NULL, 'x' },
		{ "template", required_argument, NULL, 'T' },
		{ "var", required_argument, NULL, 'v' },
		{ "language", required_argument, NULL, 'l' },
		{ "no-wait", no_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *url = NULL, *token = NULL, *channel = NULL, *to = NULL, *text = NULL;
	const char *tpl = NULL, *lang = NULL;
	bool wait = true;
	int64_t timeout_s = 30;
	json_t *vars = json_object();
	char *token_buf = NULL, base[CLI_URL_MAX];
	int rc = 2, c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'u': url = optarg; break;
		case 'k': token = optarg; break;
		case 'c': channel = optarg; break;
		case 't': to = optarg; break;
		case 'x': text = optarg; break;
		case 'T': tpl = optarg; break;
		case 'l': lang = optarg; break;
		case 'n': wait = false; break;
		case 'w':
			if (parse_i64(optarg, &timeout_s) != 0 || timeout_s < 0) {
				fprintf(stderr, "msgd send: --timeout takes seconds\n");
				goto out;
			}
			break;
		case 'v': {
			const char *eq = strchr(optarg, '=');
			if (eq == NULL || eq == optarg) {
				fprintf(stderr, "msgd send: --var takes NAME=VALUE\n");
				goto out;
			}
			char *k = xstrndup(optarg, (size_t)(eq - optarg));
			json_object_set_new(vars, k, json_string(eq + 1));
			free(k);
			break;
		}
		case 'h': fputs(cli_send_usage, stdout); rc = 0; goto out;
		default: fputs(cli_send_usage, stderr); goto out;
		}
	}
	if (channel == NULL || to == NULL || (text == NULL) == (tpl == NULL)) {
		fprintf(stderr, "msgd send: need --channel, --to and one of --text or --template\n\n%s",
		    cli_send_usage);
		goto out;
	}
	if (cli_target("msgd send", url, &token, &token_buf, base) != 0)
		goto out;

	unsigned char rnd[12];
	char hex[25], cid[32];
	random_bytes(rnd, sizeof(rnd));
	hex_encode(rnd, sizeof(rnd), hex);
	snprintf(cid, sizeof(cid), "cli.%s", hex);
	json_t *req = json_pack("{s:s,s:s,s:s}", "channel", channel, "to", to, "client_id", cid);
	if (text) {
		json_object_set_new(req, "text", json_string(text));
	} else {
		json_t *t = json_pack("{s:s,s:O}", "name", tpl, "variables", vars);
		if (lang)
			json_object_set_new(t, "language", json_string(lang));
		json_object_set_new(req, "template", t);
	}
	char *body = json_encode(req, NULL);
	json_decref(req);
	char endpoint[600];
	snprintf(endpoint, sizeof(endpoint), "%s/v1/messages", base);
	json_t *msg = NULL;
	long st = cli_call("msgd send", "POST", endpoint, token, NULL, body, &msg);
	free(body);
	if (st != 200 && st != 202) {
		json_t *err = json_object_get(msg, "error");
		if (st > 0)
			fprintf(stderr, "msgd send: %ld %s: %s\n", st,
			    json_string_value(json_object_get(err, "code")) ?: "error",
			    json_string_value(json_object_get(err, "message")) ?: "(no detail)");
		json_decref(msg);
		goto out;
	}
	json_int_t id = json_integer_value(json_object_get(msg, "id"));
	char last[32];
	snprintf(last, sizeof(last), "%s", json_string_value(json_object_get(msg, "status")) ?: "?");
	printf("%" JSON_INTEGER_FORMAT "\n", id);
	printf("status %s\n", last);
	fflush(stdout);
	json_decref(msg);
	rc = 0;
	if (!wait)
		goto out;

	snprintf(endpoint, sizeof(endpoint), "%s/v1/messages/%" JSON_INTEGER_FORMAT, base, id);
	int64_t deadline = mono_ms() + timeout_s * 1000, reported = 0;
	int64_t hold_at = mono_ms() + HOLD_AFTER_MS;
	bool hold_said = false;
	while (!final_status(last) && mono_ms() < deadline) {
		usleep(POLL_MS * 1000);
		msg = NULL;
		if (cli_call("msgd send", "GET", endpoint, token, NULL, NULL, &msg) != 200) {
			json_decref(msg);
			continue;
		}
		const char *s = json_string_value(json_object_get(msg, "status"));
		print_retry(msg, &reported);
		if (!hold_said && s && strcmp(s, "queued") == 0 &&
		    json_integer_value(json_object_get(msg, "attempts")) == 0 && mono_ms() >= hold_at) {
			hold_said = print_hold(base, token, channel);
			hold_at = mono_ms() + HOLD_RECHECK_MS;
		}
		if (s && strcmp(s, last) != 0) {
			snprintf(last, sizeof(last), "%s", s);
			json_t *err = json_object_get(msg, "error");
			if (strcmp(s, "failed") == 0 && json_is_object(err))
				printf("status failed: %s %s\n",
				    json_string_value(json_object_get(err, "title")) ?: "",
				    json_string_value(json_object_get(err, "detail")) ?: "");
			else
				printf("status %s\n", s);
			fflush(stdout);
		}
		json_decref(msg);
	}
	rc = exit_for(last);
	if (!final_status(last))
		fprintf(stderr, "msgd send: still %s after %lld s\n", last, (long long)timeout_s);
out:
	json_decref(vars);
	free(token_buf);
	return rc;
}
