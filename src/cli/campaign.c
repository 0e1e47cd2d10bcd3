/*
 * campaign.c - `msgd campaign create` and `msgd campaign watch` through a
 * running msgd's API.
 *
 * create uploads the file (POST /v1/files, streamed), imports it
 * (POST /v1/imports: the phone column from --phone-column, default "phone";
 * --map VAR=COLUMN for a template's variables; every other column kept as a
 * variable of the same name, for --text's {{column}}), waits until the
 * import is validated, prints its counts and first CAMPAIGN_ERRORS_SHOWN row
 * errors, then POST /v1/campaigns with its import_id and watches it.
 * --to ADDR (repeatable) gives recipients without a file.
 *
 * watch polls GET /v1/campaigns/{id} once a second: on a terminal one line
 * redrawn in place (a bar of sent + failed + cancelled + skipped against the
 * total, then the counters), otherwise a line each time the counters
 * change. It ends when the campaign is completed (exit 0) or cancelled
 * (exit 1); 2 for a usage or request error, 3 at --timeout.
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include <curl/curl.h>

#include "../util/util.h"

#define CAMPAIGN_ERRORS_SHOWN 10
#define IMPORT_POLL_MS 200
#define WATCH_POLL_MS 1000
#define BAR_WIDTH 30

const char cli_campaign_usage[] =
    "msgd campaign create --channel NAME (--file LIST | --to ADDR ...)\n"
    "                     (--text TEXT | --template NAME [--language L] [--map VAR=COLUMN ...])\n"
    "                     [--phone-column COLUMN] [--name NAME] [--rate PER_MINUTE]\n"
    "                     [--url URL] [--token TOKEN] [--no-watch] [--timeout SECONDS]\n"
    "msgd campaign watch ID [--url URL] [--token TOKEN] [--timeout SECONDS]\n"
    "\n"
    "  --file LIST       a .csv or .xlsx file, uploaded and imported: the phone column is\n"
    "                    the address, the other columns variables ({{column}} in --text)\n"
    "  --map VAR=COLUMN  a template variable from a column (repeatable)\n"
    "  --url, --token    as for msgd send\n"
    "  --timeout S       stop watching after S seconds (default: until it ends)\n"
    "\n"
    "Prints the campaign id, then its progress until it is completed (exit 0) or\n"
    "cancelled (exit 1); 3 when --timeout passed first.\n";

/* The file's basename, percent-encoded for ?filename=. */
static char *
file_query_name(const char *path)
{
	const char *b = strrchr(path, '/');
	char *esc = curl_easy_escape(NULL, b ? b + 1 : path, 0);
	char *out = xstrdup(esc ? esc : "list");

	curl_free(esc);
	return out;
}

static const char *
type_of(const char *path)
{
	size_t n = strlen(path);

	if (n > 5 && strcasecmp(path + n - 5, ".xlsx") == 0)
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
	return "text/csv";
}

static void
print_error(const char *who, long st, json_t *body)
{
	json_t *err = json_object_get(body, "error");

	if (st > 0)
		fprintf(stderr, "%s: %ld %s%s%s: %s\n", who, st,
		    json_string_value(json_object_get(err, "code")) ?: "error",
		    json_string_value(json_object_get(err, "field")) ? " " : "",
		    json_string_value(json_object_get(err, "field")) ?: "",
		    json_string_value(json_object_get(err, "message")) ?: "(no detail)");
}

/*
 * --file: upload it (POST /v1/files), import it (POST /v1/imports: the phone
 * column, the mapped variables, every other column kept as a variable),
 * wait until it is validated, print its counts and first row errors. The
 * import's id, or -1 (said on stderr).
 */
static int64_t
import_file(const char *base, const char *token, const char *path, const char *channel,
    const char *phone, const json_t *map, const char *tpl, const char *lang)
{
	char url[CLI_URL_MAX + 600];
	json_t *r = NULL;
	int64_t id = -1;

	char *qn = file_query_name(path);
	snprintf(url, sizeof(url), "%s/v1/files?filename=%s", base, qn);
	free(qn);
	long st = cli_upload("msgd campaign", url, token, path, type_of(path), &r);
	if (st != 200 && st != 201) {
		print_error("msgd campaign: upload", st, r);
		json_decref(r);
		return -1;
	}
	json_t *req = json_pack("{s:O,s:s,s:{s:s,s:O},s:s}", "file_id", json_object_get(r, "id"),
	    "channel", channel, "mapping", "phone", phone, "variables", map,
	    "unknown_columns", "keep_as_variables");
	json_decref(r);
	r = NULL;
	/* The template (local, or the channel's approved one): the import then
	 * reports a row that leaves one of its variables empty. */
	if (tpl) {
		json_t *t = json_pack("{s:s}", "name", tpl);
		if (lang)
			json_object_set_new(t, "language", json_string(lang));
		json_object_set_new(req, "template", t);
	}
	char *body = json_encode(req, NULL);
	json_decref(req);
	snprintf(url, sizeof(url), "%s/v1/imports", base);
	st = cli_call("msgd campaign", "POST", url, token, NULL, body, &r);
	free(body);
	if (st != 202 && st != 200) {
		print_error("msgd campaign: import", st, r);
		json_decref(r);
		return -1;
	}
	long long imp = (long long)json_integer_value(json_object_get(r, "id"));
	json_decref(r);
	snprintf(url, sizeof(url), "%s/v1/imports/%lld", base, imp);
	for (;;) {
		r = NULL;
		st = cli_call("msgd campaign", "GET", url, token, NULL, NULL, &r);
		const char *status = json_string_value(json_object_get(r, "status"));
		if (st != 200 || status == NULL) {
			print_error("msgd campaign: import", st, r);
			json_decref(r);
			return -1;
		}
		if (strcmp(status, "parsing") != 0)
			break;
		json_decref(r);
		usleep(IMPORT_POLL_MS * 1000);
	}
	json_t *counts = json_object_get(r, "counts");
	const char *status = json_string_value(json_object_get(r, "status"));
	if (strcmp(status, "validated") != 0) {
		json_t *err = json_object_get(r, "error");
		fprintf(stderr, "msgd campaign: import %lld failed: %s%s%s\n", imp,
		    json_string_value(json_object_get(err, "code")) ?: "error",
		    json_string_value(json_object_get(err, "message")) ? ": " : "",
		    json_string_value(json_object_get(err, "message")) ?: "");
		json_decref(r);
		return -1;
	}
	printf("import %lld: %lld rows, %lld valid, %lld invalid, %lld duplicates\n", imp,
	    (long long)json_integer_value(json_object_get(counts, "rows")),
	    (long long)json_integer_value(json_object_get(counts, "valid")),
	    (long long)json_integer_value(json_object_get(counts, "invalid")),
	    (long long)json_integer_value(json_object_get(counts, "duplicates")));
	int64_t valid = json_integer_value(json_object_get(counts, "valid"));
	int64_t errors = json_integer_value(json_object_get(counts, "errors"));
	json_decref(r);
	if (errors > 0) {
		snprintf(url, sizeof(url), "%s/v1/imports/%lld/errors?limit=%d", base, imp, CAMPAIGN_ERRORS_SHOWN);
		r = NULL;
		if (cli_call("msgd campaign", "GET", url, token, NULL, NULL, &r) == 200) {
			size_t i;
			json_t *e;
			json_array_foreach(json_object_get(r, "data"), i, e) {
				const char *col = json_string_value(json_object_get(e, "column"));
				printf("row %lld: %s%s%s\n", (long long)json_integer_value(json_object_get(e, "row")),
				    col ? col : "", col ? ": " : "",
				    json_string_value(json_object_get(e, "message")) ?: "error");
			}
		}
		json_decref(r);
		if (errors > CAMPAIGN_ERRORS_SHOWN)
			printf("... and %lld more row errors (GET /v1/imports/%lld/errors)\n",
			    (long long)(errors - CAMPAIGN_ERRORS_SHOWN), imp);
	}
	fflush(stdout);
	if (valid <= 0) {
		fprintf(stderr, "msgd campaign: import %lld has no valid row\n", imp);
		return -1;
	}
	id = imp;
	return id;
}

static int64_t
counter(const json_t *c, const char *name)
{
	return json_integer_value(json_object_get(json_object_get(c, "counters"), name));
}

/* One progress line (without the end of line). */
static void
progress_line(const json_t *c, char *out, size_t n, bool bar)
{
	int64_t total = counter(c, "total");
	int64_t done = counter(c, "sent") + counter(c, "failed") + counter(c, "cancelled") + counter(c, "skipped");
	int pct = total > 0 ? (int)(done * 100 / total) : 0;
	char b[BAR_WIDTH + 3] = "";

	if (bar) {
		int fill = total > 0 ? (int)(done * BAR_WIDTH / total) : 0;
		b[0] = '[';
		for (int i = 0; i < BAR_WIDTH; i++)
			b[1 + i] = i < fill ? '#' : '.';
		b[BAR_WIDTH + 1] = ']';
		b[BAR_WIDTH + 2] = '\0';
	}
	snprintf(out, n, "%s%s%3d%% %s: sent %lld, delivered %lld, read %lld, failed %lld, replied %lld,"
	    " skipped %lld, queued %lld of %lld", b, bar ? " " : "", pct,
	    json_string_value(json_object_get(c, "status")) ?: "?",
	    (long long)counter(c, "sent"), (long long)counter(c, "delivered"), (long long)counter(c, "read"),
	    (long long)counter(c, "failed"), (long long)counter(c, "replied"), (long long)counter(c, "skipped"),
	    (long long)counter(c, "queued"), (long long)total);
}

static int
watch(const char *base, const char *token, long long id, int64_t timeout_s)
{
	char url[CLI_URL_MAX + 64], line[512], last[512] = "";
	bool tty = isatty(STDOUT_FILENO);
	int64_t deadline = timeout_s > 0 ? mono_ms() + timeout_s * 1000 : 0;

	snprintf(url, sizeof(url), "%s/v1/campaigns/%lld", base, id);
	for (;;) {
		json_t *c = NULL;
		long st = cli_call("msgd campaign", "GET", url, token, NULL, NULL, &c);
		if (st != 200) {
			print_error("msgd campaign", st, c);
			json_decref(c);
			return 2;
		}
		const char *status = json_string_value(json_object_get(c, "status")) ?: "";
		progress_line(c, line, sizeof(line), tty);
		if (tty) {
			printf("\r%s\033[K", line);
		} else if (strcmp(line, last) != 0) {
			printf("%s\n", line);
			snprintf(last, sizeof(last), "%s", line);
		}
		fflush(stdout);
		bool completed = strcmp(status, "completed") == 0, cancelled = strcmp(status, "cancelled") == 0;
		json_decref(c);
		if (completed || cancelled) {
			if (tty)
				printf("\n");
			return completed ? 0 : 1;
		}
		if (deadline && mono_ms() >= deadline) {
			if (tty)
				printf("\n");
			fprintf(stderr, "msgd campaign: still %s after %lld s\n", status, (long long)timeout_s);
			return 3;
		}
		usleep(WATCH_POLL_MS * 1000);
	}
}

static int
create(const char *base, const char *token, json_t *req, bool follow, int64_t timeout_s)
{
	char url[CLI_URL_MAX + 32];
	char *body = json_encode(req, NULL);
	json_t *c = NULL;

	snprintf(url, sizeof(url), "%s/v1/campaigns", base);
	long st = cli_call("msgd campaign", "POST", url, token, NULL, body, &c);
	free(body);
	if (st != 202) {
		print_error("msgd campaign", st, c);
		json_decref(c);
		return 2;
	}
	long long id = (long long)json_integer_value(json_object_get(c, "id"));
	printf("%lld\n", id);
	fflush(stdout);
	json_decref(c);
	return follow ? watch(base, token, id, timeout_s) : 0;
}

int
cli_campaign(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'u' }, { "token", required_argument, NULL, 'k' },
		{ "channel", required_argument, NULL, 'c' }, { "file", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' }, { "text", required_argument, NULL, 'x' },
		{ "template", required_argument, NULL, 'T' }, { "language", required_argument, NULL, 'l' },
		{ "map", required_argument, NULL, 'm' }, { "phone-column", required_argument, NULL, 'p' },
		{ "name", required_argument, NULL, 'N' }, { "rate", required_argument, NULL, 'r' },
		{ "no-watch", no_argument, NULL, 'n' }, { "timeout", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *url = NULL, *token = NULL, *channel = NULL, *file = NULL, *text = NULL, *tpl = NULL;
	const char *lang = NULL, *phone = "phone", *name = NULL;
	json_t *tos = json_array(), *map = json_object(), *req = NULL;
	char *token_buf = NULL, base[CLI_URL_MAX];
	int64_t timeout_s = 0, rate = 0;
	bool follow = true;
	int rc = 2, c;

	if (argc < 2 || (strcmp(argv[1], "create") != 0 && strcmp(argv[1], "watch") != 0)) {
		fputs(cli_campaign_usage, argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
		rc = argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
		goto out;
	}
	bool is_watch = strcmp(argv[1], "watch") == 0;
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'u': url = optarg; break;
		case 'k': token = optarg; break;
		case 'c': channel = optarg; break;
		case 'f': file = optarg; break;
		case 't': json_array_append_new(tos, json_pack("{s:s}", "to", optarg)); break;
		case 'x': text = optarg; break;
		case 'T': tpl = optarg; break;
		case 'l': lang = optarg; break;
		case 'p': phone = optarg; break;
		case 'N': name = optarg; break;
		case 'n': follow = false; break;
		case 'r':
			if (parse_i64(optarg, &rate) != 0 || rate < 1) {
				fprintf(stderr, "msgd campaign: --rate takes messages per minute\n");
				goto out;
			}
			break;
		case 'w':
			if (parse_i64(optarg, &timeout_s) != 0 || timeout_s < 0) {
				fprintf(stderr, "msgd campaign: --timeout takes seconds\n");
				goto out;
			}
			break;
		case 'm': {
			const char *eq = strchr(optarg, '=');
			if (eq == NULL || eq == optarg || eq[1] == '\0') {
				fprintf(stderr, "msgd campaign: --map takes VAR=COLUMN\n");
				goto out;
			}
			char *k = xstrndup(optarg, (size_t)(eq - optarg));
			json_object_set_new(map, k, json_string(eq + 1));
			free(k);
			break;
		}
		case 'h': fputs(cli_campaign_usage, stdout); rc = 0; goto out;
		default: fputs(cli_campaign_usage, stderr); goto out;
		}
	}
	if (cli_target("msgd campaign", url, &token, &token_buf, base) != 0)
		goto out;
	if (is_watch) {
		int64_t id;
		if (optind != argc - 1 || parse_i64(argv[optind], &id) != 0 || id < 1) {
			fprintf(stderr, "msgd campaign watch: need the campaign's ID\n\n%s", cli_campaign_usage);
			goto out;
		}
		rc = watch(base, token, (long long)id, timeout_s);
		goto out;
	}
	if (optind != argc || channel == NULL || (file == NULL) == (json_array_size(tos) == 0) ||
	    (text == NULL) == (tpl == NULL)) {
		fprintf(stderr, "msgd campaign create: need --channel, one of --file or --to, and one of "
		    "--text or --template\n\n%s", cli_campaign_usage);
		goto out;
	}
	req = json_pack("{s:s,s:s}", "name", name ? name : file ? file : "campaign", "channel", channel);
	if (file) {
		int64_t imp = import_file(base, token, file, channel, phone, map, text ? NULL : tpl, lang);
		if (imp < 0)
			goto out;
		json_object_set_new(req, "import_id", json_integer(imp));
		/* The import's rows carry the template's variables under their own names. */
		json_t *same = json_object();
		const char *k;
		json_t *v;
		json_object_foreach(map, k, v)
			json_object_set_new(same, k, json_string(k));
		json_decref(map);
		map = same;
	} else {
		json_object_set(req, "recipients", tos);
	}
	if (text) {
		json_object_set_new(req, "text", json_string(text));
	} else {
		json_t *t = json_pack("{s:s}", "name", tpl);
		if (lang)
			json_object_set_new(t, "language", json_string(lang));
		json_object_set_new(req, "template", t);
		if (json_object_size(map))
			json_object_set(req, "variables", map);
	}
	if (rate)
		json_object_set_new(req, "rate", json_integer(rate));
	rc = create(base, token, req, follow, timeout_s);
out:
	json_decref(req);
	json_decref(tos);
	json_decref(map);
	free(token_buf);
	return rc;
}
