/*
 * whatsapp_templates.c - a WhatsApp Cloud channel's approved message
 * templates, synced from the Graph API (issue 14).
 *
 *   GET {api_base_url}/{api_version}/{waba_id}/message_templates
 *       ?fields=name,language,status,category,components&limit=100[&after=CURSOR]
 *
 * answers {"data":[{name, language, status, category, components, id}],
 * "paging":{"cursors":{"before","after"},"next"}}. Pages are followed by
 * the `after` cursor while the answer has a `next` (never by fetching the
 * `next` URL itself: the access token goes only to api_base_url), at most
 * WA_TPL_PAGES_MAX of them. The whole list is then committed in one op
 * (channel_templates_submit(): the channel's rows replaced), or, when any
 * page failed (a Graph error such as 190 for the token or 100 for a bad
 * waba_id, a network error, a malformed answer), the error is recorded
 * and the list kept as it was.
 *
 * A sync runs on demand (POST /v1/channels/{name}/templates/sync: the
 * templates_sync slot) and every templates_sync_hours (default 6; 0: never)
 * on the one instance holding the channel's dispatch lease (on_lease), the
 * first right after the lease is taken. One sync at a time per channel: an
 * ask while one runs makes it run once more after.
 *
 * params: how many values a send must supply: the distinct placeholders
 * ({{1}}, or {{name}} for named parameters) of the header's, the body's and
 * each button's text or URL, plus one for a media or location header and
 * one for a copy-code button.
 */
#include "whatsapp_cloud.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log/log.h"
#include "../util/util.h"

#define WA_TPL_PAGES_MAX 50           /* pages per sync (100 templates each) */
#define WA_TPL_TIMEOUT_MS 30000       /* per page */
#define WA_TPL_JSON_DEPTH_MAX 32
#define WA_TPL_CURSOR_MAX 1024        /* bytes of a paging cursor */
#define WA_TPL_NAME_MAX 512           /* bytes of a template name */
#define WA_TPL_LANG_MAX 16
#define WA_TPL_PLACEHOLDERS_MAX 64    /* distinct placeholders counted per text */
#define WA_TPL_PLACEHOLDER_MAX 64     /* bytes of one placeholder's name */
#define WA_TPL_DEFAULT_HOURS 6

struct wa_tpl {
	struct channel_timer *timer;
	bool leased;
	bool busy;
	bool again;                /* asked while busy: once more after */
	int pages;
	json_t *acc;               /* the templates read so far */
};

/* --- parsing (pure) --- */

/* How many distinct placeholders text has ({{1}}, {{first_name}}). */
static int64_t
placeholders(const char *text)
{
	char seen[WA_TPL_PLACEHOLDERS_MAX][WA_TPL_PLACEHOLDER_MAX + 1];
	int64_t n = 0;

	for (const char *p = text ? strstr(text, "{{") : NULL; p; p = strstr(p, "{{")) {
		const char *q = p + 2;
		size_t len = 0;
		while (isalnum((unsigned char)q[len]) || q[len] == '_')
			len++;
		if (len == 0 || len > WA_TPL_PLACEHOLDER_MAX || strncmp(q + len, "}}", 2) != 0) {
			p += 2;
			continue;
		}
		bool dup = false;
		for (int64_t i = 0; i < n && !dup; i++)
			dup = strlen(seen[i]) == len && memcmp(seen[i], q, len) == 0;
		if (!dup && n < WA_TPL_PLACEHOLDERS_MAX) {
			memcpy(seen[n], q, len);
			seen[n][len] = '\0';
			n++;
		}
		p = q + len + 2;
	}
	return n;
}

static bool
is_type(const json_t *o, const char *key, const char *want)
{
	const char *v = json_string_value(json_object_get(o, key));
	return v && strcasecmp(v, want) == 0;
}

int64_t
wa_template_params(const json_t *components)
{
	const json_t *c, *b;
	size_t i, j;
	int64_t n = 0;

	json_array_foreach(components, i, c) {
		if (is_type(c, "type", "HEADER")) {
			const char *fmt = json_string_value(json_object_get(c, "format"));
			if (fmt == NULL || strcasecmp(fmt, "TEXT") == 0)
				n += placeholders(json_string_value(json_object_get(c, "text")));
			else
				n += 1;  /* IMAGE, VIDEO, DOCUMENT, LOCATION: the send names it */
		} else if (is_type(c, "type", "BODY")) {
			n += placeholders(json_string_value(json_object_get(c, "text")));
		} else if (is_type(c, "type", "BUTTONS")) {
			json_array_foreach(json_object_get(c, "buttons"), j, b) {
				if (is_type(b, "type", "URL"))
					n += placeholders(json_string_value(json_object_get(b, "url")));
				else if (is_type(b, "type", "COPY_CODE"))
					n += 1;
			}
		}
	}
	return n;
}

/* The Graph error of an answer, as "error CODE: message" (never the token). */
static void
graph_error(const json_t *root, long http_status, const char *net_error, char *err, size_t errlen)
{
	const json_t *e = json_object_get(root, "error");
	const char *msg = json_string_value(json_object_get(e, "message"));
	int64_t code = get_code(json_object_get(e, "code"));

	if (http_status == 0)
		snprintf(err, errlen, "network error: %s", net_error && *net_error ? net_error : "no answer");
	else if (code != 0)
		snprintf(err, errlen, "Graph error %lld (HTTP %ld): %.200s", (long long)code, http_status,
		    msg ? msg : "no message");
	else
		snprintf(err, errlen, "unexpected answer (HTTP %ld)", http_status);
	utf8_sanitize(err);
}

int
wa_templates_page(const struct send_response *resp, json_t *acc, char **after, char *err,
    size_t errlen)
{
	json_t *root = NULL, *t;
	char jerr[128];
	size_t i;

	*after = NULL;
	if (resp->body && resp->body_len > 0)
		json_parse_capped(resp->body, resp->body_len, WA_TPL_JSON_DEPTH_MAX, &root, jerr,
		    sizeof(jerr));
	const json_t *data = json_object_get(root, "data");
	if (resp->http_status != 200 || json_object_get(root, "error") || !json_is_array(data)) {
		graph_error(root, resp->http_status, resp->net_error, err, errlen);
		json_decref(root);
		return -1;
	}
	json_array_foreach(data, i, t) {
		const char *name = json_string_value(json_object_get(t, "name"));
		const char *lang = json_string_value(json_object_get(t, "language"));
		const char *status = json_string_value(json_object_get(t, "status"));
		const char *cat = json_string_value(json_object_get(t, "category"));
		json_t *comps = json_object_get(t, "components");
		if (name == NULL || lang == NULL || status == NULL || strlen(name) > WA_TPL_NAME_MAX ||
		    strlen(lang) > WA_TPL_LANG_MAX || strlen(status) > 31 || (cat && strlen(cat) > 31))
			continue;  /* not a template we could name in a send */
		if (!json_is_array(comps))
			comps = NULL;
		json_array_append_new(acc, json_pack("{s:s,s:s,s:s?,s:s,s:I,s:o}", "name", name,
		    "language", lang, "category", cat, "status", status,
		    "params", (json_int_t)wa_template_params(comps),
		    "components", comps ? json_incref(comps) : json_array()));
	}
	const json_t *paging = json_object_get(root, "paging");
	const char *cur = json_string_value(json_object_get(json_object_get(paging, "cursors"), "after"));
	if (json_object_get(paging, "next") && cur && *cur && strlen(cur) <= WA_TPL_CURSOR_MAX)
		*after = xstrdup(cur);
	json_decref(root);
	return 0;
}

/* --- the sync --- */

static const char *
cfg_str(const json_t *cfg, const char *key, const char *def)
{
	const char *v = json_string_value(json_object_get(cfg, key));
	return v ? v : def;
}

/* s with every byte but the unreserved ones percent-encoded. */
static char *
query_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = xcalloc(n * 3 + 1, 1), *o = out;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	return out;
}

int
wa_templates_request(const struct channel *ch, const char *after, struct send_request *out)
{
	const char *base = cfg_str(ch->config, "api_base_url", WA_DEFAULT_API_BASE);
	const char *version = cfg_str(ch->config, "api_version", WA_DEFAULT_API_VERSION);
	const char *waba = cfg_str(ch->config, "waba_id", NULL);
	const char *token = cfg_str(ch->config, "access_token", NULL);
	size_t n = strlen(base);

	*out = (struct send_request){ 0 };
	if (!wa_waba_id_ok(waba) || token == NULL)
		return -1;   /* a config stored before waba_id was checked goes nowhere */
	while (n > 0 && base[n - 1] == '/')
		n--;
	char *cur = after ? query_escape(after) : NULL;
	out->method = xstrdup("GET");
	out->url = xasprintf("%.*s/%s/%s/message_templates?fields=name,language,status,category,components"
	    "&limit=100%s%s", (int)n, base, version, waba, cur ? "&after=" : "", cur ? cur : "");
	out->headers[out->nheaders++] = xasprintf("Authorization: Bearer %s", token);
	free(cur);
	return 0;
}

static void page_done(struct channel *ch, const struct send_response *resp, void *arg);
static void sync_start(struct channel *ch);

static void
sync_end(struct channel *ch, struct wa_tpl *t, const char *error)
{
	int n = (int)json_array_size(t->acc);

	if (error) {
		log_warn("whatsapp: template sync failed", "channel", ch->name, "error", error);
		channel_templates_submit(ch, NULL, error, NULL, NULL);
	} else {
		char c[16];
		snprintf(c, sizeof(c), "%d", n);
		log_info("whatsapp: templates synced", "channel", ch->name, "templates", c);
		channel_templates_submit(ch, t->acc, NULL, NULL, NULL);
	}
	json_decref(t->acc);
	t->acc = NULL;
	t->busy = false;
	if (t->again) {
		t->again = false;
		sync_start(ch);
	}
}

static void
page_ask(struct channel *ch, struct wa_tpl *t, const char *after)
{
	struct send_request req;

	if (wa_templates_request(ch, after, &req) != 0) {
		sync_end(ch, t, "the channel has no usable waba_id (1 to 32 digits)");
		return;
	}
	t->pages++;
	if (channel_http(ch, &req, WA_TPL_TIMEOUT_MS, page_done, NULL) != 0)
		sync_end(ch, t, "cannot start the request");
}

static void
page_done(struct channel *ch, const struct send_response *resp, void *arg)
{
	struct wa_tpl *t = *wa_tpl_of(ch);
	char err[256], *after = NULL;

	(void)arg;
	if (t == NULL || !t->busy)
		return;
	if (wa_templates_page(resp, t->acc, &after, err, sizeof(err)) != 0) {
		sync_end(ch, t, err);
		return;
	}
	if (after && t->pages >= WA_TPL_PAGES_MAX) {
		log_warn("whatsapp: template list cut at the page cap", "channel", ch->name);
		free(after);
		after = NULL;
	}
	if (after)
		page_ask(ch, t, after);
	else
		sync_end(ch, t, NULL);
	free(after);
}

static void
sync_start(struct channel *ch)
{
	struct wa_tpl *t = *wa_tpl_of(ch);

	if (t->busy) {
		t->again = true;
		return;
	}
	t->busy = true;
	t->pages = 0;
	t->acc = json_array();
	page_ask(ch, t, NULL);
}

static int64_t
every_ms(const struct channel *ch)
{
	const json_t *h = json_object_get(ch->config, "templates_sync_hours");
	return (h ? json_integer_value(h) : WA_TPL_DEFAULT_HOURS) * 3600 * 1000;
}

static void
timer_fire(struct channel *ch, void *arg)
{
	struct wa_tpl *t = *wa_tpl_of(ch);

	(void)arg;
	if (t == NULL || !t->leased)
		return;
	sync_start(ch);
	channel_timer_start(t->timer, every_ms(ch));
}

static struct wa_tpl *
tpl_get(struct channel *ch)
{
	struct wa_tpl **tp = wa_tpl_of(ch);

	if (tp == NULL)
		return NULL;
	if (*tp == NULL)
		*tp = xcalloc(1, sizeof(**tp));
	return *tp;
}

int
wa_templates_sync(struct channel *ch, struct channel_error *err)
{
	struct wa_tpl *t = tpl_get(ch);

	if (t == NULL || json_string_value(json_object_get(ch->config, "waba_id")) == NULL) {
		norm_err(err, "waba_id", "the channel has no waba_id (its WhatsApp Business Account id) "
		    "to read templates from");
		return -1;
	}
	sync_start(ch);
	return 0;
}

void
wa_templates_on_lease(struct channel *ch, bool held)
{
	struct wa_tpl *t;

	if (json_string_value(json_object_get(ch->config, "waba_id")) == NULL || every_ms(ch) <= 0 ||
	    (t = tpl_get(ch)) == NULL)
		return;
	t->leased = held;
	if (!held) {
		channel_timer_stop(t->timer);
		return;
	}
	if (t->timer == NULL)
		t->timer = channel_timer_new(ch, timer_fire, NULL);
	channel_timer_start(t->timer, 0);  /* at once, then every few hours */
}

void
wa_templates_free(struct wa_tpl *t)
{
	if (t == NULL)
		return;
	channel_timer_free(t->timer);
	json_decref(t->acc);
	free(t);
}
