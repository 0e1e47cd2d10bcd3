/*
 * whatsapp_cloud.c - the Meta WhatsApp Cloud API adapter.
 *
 * One URL, /webhooks/whatsapp, serves every whatsapp_cloud channel:
 *  - GET is Meta's subscription handshake: hub.verify_token must equal the
 *    verify_token of some whatsapp_cloud channel, and hub.challenge is echoed.
 *  - POST carries X-Hub-Signature-256: sha256=<hex HMAC-SHA256(body, app
 *    secret)>. The exact body bytes are checked against each distinct app
 *    secret before anything is parsed. Only the channels whose secret signed
 *    the body, plus channels configured with insecure_skip_signature, may
 *    receive its changes; each change is routed by its
 *    value.metadata.phone_number_id.
 *
 * Normalization of the parsed body (whatsapp_cloud_normalize) lives in
 * whatsapp_inbound.c, the outbound request bodies (wa_message_body) in
 * whatsapp_outbound.c, and the credential check in whatsapp_check.c.
 *
 * Sending: send_prepare turns an outbound message into one POST to
 * {api_base_url}/{api_version}/{phone_number_id}/messages, read_prepare a
 * read receipt to the same URL, and send_classify maps every answer to one
 * outcome, on the Graph error code first and the HTTP status second (see
 * classify_code). The outbox does the HTTP, the pacing and the retries; the
 * sending keys of the config are kept here for it, with the defaults
 * docs/API.md gives. The access token goes into the Authorization header
 * only: it is never logged nor put into an error.
 */
#include "channel.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../log/log.h"
#include "../util/util.h"
#include "address.h"
#include "whatsapp_cloud.h"

#define WA_CHALLENGE_MAX   256          /* bytes of hub.challenge echoed back */
#define WA_TOKEN_MAX       256          /* verify_token and app_secret */
#define WA_ACCESS_TOKEN_MAX 4096
#define WA_URL_MAX         512
#define WA_VERSION_MAX     32
#define WA_SIG_PREFIX      "sha256="
#define WA_SIG_HEX         64
#define WA_RETRY_AFTER_MAX_MS (86400LL * 1000) /* a Retry-After beyond a day is capped */

struct wa_state {
	char *phone_number_id;
	char *access_token;
	char *verify_token;
	char *app_secret;       /* NULL when absent (insecure_skip_signature) */
	char *api_base_url;
	char *api_version;
	bool insecure;          /* accepts unsigned webhooks */
	struct wa_tpl *tpl;     /* the template sync (whatsapp_templates.c) */
};

/* Its config (and the sending settings of channel.c's table). */
static const struct config_key wa_schema[] = {
	{ .name = "phone_number_id", .kind = CFG_STRING, .required = true, .max_len = WA_ID_MAX,
	  .description = "the WhatsApp Business phone number id (routes webhooks to the channel)" },
	{ .name = "access_token", .kind = CFG_STRING, .required = true, .secret = true,
	  .max_len = WA_ACCESS_TOKEN_MAX, .description = "a system user's Graph API token" },
	{ .name = "verify_token", .kind = CFG_STRING, .required = true, .secret = true,
	  .max_len = WA_TOKEN_MAX, .description = "answers Meta's webhook verification" },
	{ .name = "app_secret", .kind = CFG_STRING, .secret = true, .max_len = WA_TOKEN_MAX,
	  .description = "signs webhooks (X-Hub-Signature-256); required unless insecure_skip_signature" },
	{ .name = "api_base_url", .kind = CFG_URL, .max_len = WA_URL_MAX,
	  .description = "default https://graph.facebook.com" },
	{ .name = "api_version", .kind = CFG_STRING, .max_len = WA_VERSION_MAX,
	  .description = "default " WA_DEFAULT_API_VERSION },
	{ .name = "insecure_skip_signature", .kind = CFG_BOOL,
	  .description = "accept unsigned webhooks (tests only)" },
	{ .name = "enforce_window", .kind = CFG_BOOL,
	  .description = "refuse free-form messages outside the 24 h window (default true)" },
	{ .name = "waba_id", .kind = CFG_STRING, .max_len = WA_WABA_ID_MAX,
	  .description = "the WhatsApp Business Account id (1 to 32 digits): its approved templates are synced" },
	{ .name = "templates_sync_hours", .kind = CFG_INT, .min = 0, .max = 24 * 30,
	  .description = "sync the approved templates every so many hours (default 6; 0: on demand only)" },
	{ .name = NULL },
};

static const char *const wa_send_types[] = { "text", "image", "audio", "video", "document",
	"sticker", "location", "template", "interactive", "reaction", NULL };
static const char *const wa_receive_types[] = { "text", "image", "audio", "voice", "video",
	"document", "sticker", "location", "contacts", "interactive", "button", "reaction", "order",
	"system", "unsupported", "unknown", NULL };
/* Cloud API media limits (Meta's documentation). */
static const struct media_limit wa_media[] = {
	{ .kind = "image", .max_bytes = 5 * 1024 * 1024 },
	{ .kind = "audio", .max_bytes = 16 * 1024 * 1024 },
	{ .kind = "video", .max_bytes = 16 * 1024 * 1024 },
	{ .kind = "document", .max_bytes = 100 * 1024 * 1024 },
	{ .kind = "sticker", .max_bytes = 500 * 1024 },
	{ .kind = NULL },
};
static const struct channel_caps wa_caps = {
	.send_types = wa_send_types,
	.receive_types = wa_receive_types,
	.media = wa_media,
	.templates = true,
	.interactive = true,
	.reactions = true,
	.edits = true,
	.deletes = true,
	.read_receipts = true,
	.replies = true,
	.window_hours = 24,
	.max_text_len = 4096,
	.template_language = "en_US",
	.pacing = { .rate_per_second = 80 },
};
/* The access token goes to api_base_url: moving it needs the token again. */
static const char *const wa_destination[] = { "api_base_url", NULL };
static const char *const wa_destination_secrets[] = { "access_token", NULL };

/* Config */

/* A present string key must hold no control character and none of bad. */
static int
cfg_check_chars(const json_t *cfg, const char *key, const char *bad, struct channel_error *err)
{
	const char *s = json_string_value(json_object_get(cfg, key));

	for (; s && *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f || strchr(bad, *s)) {
			snprintf(err->field, sizeof(err->field), "config.%s", key);
			snprintf(err->message, sizeof(err->message),
			    "'%s' contains a character it may not hold", key);
			return -1;
		}
	}
	return 0;
}

static int
wa_validate(const json_t *cfg, struct channel_error *err)
{
	if (cfg_check_schema(wa_schema, cfg, err) != 0)
		return -1;
	/* These end up in the request line and headers of every send. */
	if (cfg_check_chars(cfg, "phone_number_id", "/?#% ", err) != 0 ||
	    cfg_check_chars(cfg, "api_version", "/?#% ", err) != 0 ||
	    cfg_check_chars(cfg, "api_base_url", " ", err) != 0 ||
	    cfg_check_chars(cfg, "access_token", "", err) != 0)
		return -1;
	/* A path segment of the template sync's URL: digits only. */
	if (json_object_get(cfg, "waba_id") != NULL && !json_is_null(json_object_get(cfg, "waba_id")) &&
	    !wa_waba_id_ok(json_string_value(json_object_get(cfg, "waba_id")))) {
		snprintf(err->field, sizeof(err->field), "config.waba_id");
		snprintf(err->message, sizeof(err->message), "'waba_id' must be 1 to %d digits",
		    WA_WABA_ID_MAX);
		return -1;
	}
	/* Without a secret nothing could authenticate the webhooks. */
	if (json_is_true(json_object_get(cfg, "insecure_skip_signature")))
		return cfg_optional_string(cfg, "app_secret", WA_TOKEN_MAX, err);
	return cfg_require_string(cfg, "app_secret", WA_TOKEN_MAX, err);
}

static char *
cfg_dup(const json_t *cfg, const char *key, const char *def)
{
	const char *s = json_string_value(json_object_get(cfg, key));
	return xstrdup_or_null(s ? s : def);
}

static int
wa_open(struct channel *ch)
{
	struct wa_state *st = xcalloc(1, sizeof(*st));

	st->phone_number_id = cfg_dup(ch->config, "phone_number_id", NULL);
	st->access_token = cfg_dup(ch->config, "access_token", NULL);
	st->verify_token = cfg_dup(ch->config, "verify_token", NULL);
	st->app_secret = cfg_dup(ch->config, "app_secret", NULL);
	st->api_base_url = cfg_dup(ch->config, "api_base_url", WA_DEFAULT_API_BASE);
	st->api_version = cfg_dup(ch->config, "api_version", WA_DEFAULT_API_VERSION);
	st->insecure = json_is_true(json_object_get(ch->config, "insecure_skip_signature"));
	ch->state = st;
	/* validate() ran first; this only guards against a bypassed check. */
	if (st->phone_number_id == NULL || st->access_token == NULL || st->verify_token == NULL ||
	    (st->app_secret == NULL && !st->insecure)) {
		log_error("whatsapp_cloud channel config incomplete", "channel", ch->name);
		return -1;
	}
	return 0;
}

static void
wa_close(struct channel *ch)
{
	struct wa_state *st = ch->state;

	if (st == NULL)
		return;
	free(st->phone_number_id);
	free(st->access_token);
	free(st->verify_token);
	free(st->app_secret);
	free(st->api_base_url);
	free(st->api_version);
	wa_templates_free(st->tpl);
	free(st);
	ch->state = NULL;
}

static void
wa_on_start(struct channel *ch)
{
	struct wa_state *st = ch->state;

	if (st && st->insecure)
		log_warn("channel accepts unsigned webhooks", "channel", ch->name);
}

/* Webhook */

static struct wa_state *
wa_state_of(const struct channel *ch)
{
	return ch && ch->ops == &whatsapp_cloud_ops ? ch->state : NULL;
}

struct wa_tpl **
wa_tpl_of(struct channel *ch)
{
	struct wa_state *st = wa_state_of(ch);
	return st ? &st->tpl : NULL;
}

static void reply_error(struct webhook_reply *reply, int status, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
reply_error(struct webhook_reply *reply, int status, const char *code, const char *fmt, ...)
{
	va_list ap;

	reply->status = status;
	reply->content_type = "application/json";
	snprintf(reply->error_code, sizeof(reply->error_code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(reply->message, sizeof(reply->message), fmt, ap);
	va_end(ap);
}

/* GET: Meta's subscription handshake. */
static void
wa_verify(struct channel_registry *reg, const struct webhook_request *req,
    struct webhook_reply *reply)
{
	const char *mode = req->query(req->ctx, "hub.mode");
	const char *token = req->query(req->ctx, "hub.verify_token");
	const char *challenge = req->query(req->ctx, "hub.challenge");
	bool ok = false;

	if (mode && token && strcmp(mode, "subscribe") == 0) {
		size_t tlen = strnlen(token, WA_TOKEN_MAX + 1);
		for (size_t i = 0; i < registry_count(reg); i++) {
			struct wa_state *st = wa_state_of(registry_at(reg, i));
			if (st && ct_equal(token, tlen, st->verify_token, strlen(st->verify_token)))
				ok = true;
		}
	}
	if (!ok) {
		log_warn("webhook verification refused", "req", req->request_id);
		reply_error(reply, 403, "forbidden", "hub.verify_token does not match");
		return;
	}
	/* Meta's challenge is a number; echo only a token: visible ASCII, capped. */
	size_t clen = challenge ? strnlen(challenge, WA_CHALLENGE_MAX + 1) : 0;
	bool token_like = clen > 0 && clen <= WA_CHALLENGE_MAX;
	for (size_t i = 0; token_like && i < clen; i++)
		token_like = challenge[i] > 0x20 && challenge[i] < 0x7f;
	if (!token_like) {
		reply_error(reply, 400, "invalid_request",
		    "hub.challenge must be 1 to %d visible ASCII characters", WA_CHALLENGE_MAX);
		return;
	}
	log_info("webhook verified", "req", req->request_id);
	reply->status = 200;
	reply->content_type = "text/plain";
	reply->body = xstrdup(challenge);
}

/* "sha256=<64 hex>" into 32 bytes; -1 when malformed. */
static int
parse_signature(const char *hdr, unsigned char out[32])
{
	size_t plen = strlen(WA_SIG_PREFIX);

	if (strncmp(hdr, WA_SIG_PREFIX, plen) != 0)
		return -1;
	hdr += plen;
	return hex_decode(hdr, strnlen(hdr, WA_SIG_HEX + 1), out, 32);
}

/* The channels a request may feed, for the resolver. */
struct wa_route {
	struct channel **v;
	size_t n;
};

static int64_t
route_resolve(void *ctx, const char *phone_number_id)
{
	struct wa_route *r = ctx;

	for (size_t i = 0; i < r->n; i++)
		if (strcmp(((struct wa_state *)r->v[i]->state)->phone_number_id, phone_number_id) == 0)
			return r->v[i]->id;
	return 0;
}

/*
 * Check X-Hub-Signature-256 against each distinct app secret and fill
 * route with the channels the body may feed: those whose secret signed it,
 * plus insecure ones. -1 with reply filled when the request is refused.
 */
static int
wa_authenticate(struct channel_registry *reg, const struct webhook_request *req,
    struct wa_route *route, struct webhook_reply *reply)
{
	const char *hdr = req->header(req->ctx, "X-Hub-Signature-256");
	const char *body = req->body ? req->body : "";
	size_t n = registry_count(reg), ninsecure = 0, nsigned = 0;
	unsigned char want[32], mac[32];
	bool have_sig = hdr != NULL && parse_signature(hdr, want) == 0;
	bool *match = xcalloc(n, sizeof(bool));

	for (size_t i = 0; i < n; i++) {
		struct wa_state *st = wa_state_of(registry_at(reg, i));
		if (st == NULL)
			continue;
		ninsecure += st->insecure;
		if (!have_sig || st->app_secret == NULL)
			continue;
		/* One HMAC per distinct secret: reuse an earlier channel's verdict. */
		size_t j;
		for (j = 0; j < i; j++) {
			struct wa_state *pst = wa_state_of(registry_at(reg, j));
			if (pst && pst->app_secret && strcmp(pst->app_secret, st->app_secret) == 0)
				break;
		}
		if (j < i) {
			match[i] = match[j];
		} else {
			hmac_sha256(st->app_secret, strlen(st->app_secret), body, req->body_len, mac);
			match[i] = ct_equal(mac, sizeof(mac), want, sizeof(want));
		}
		nsigned += match[i];
	}

	if (nsigned == 0 && ninsecure == 0) {
		free(match);
		log_warn("webhook signature refused", "req", req->request_id,
		    "reason", hdr ? "mismatch" : "missing");
		if (hdr == NULL)
			reply_error(reply, 401, "unauthorized", "X-Hub-Signature-256 header is missing");
		else
			reply_error(reply, 403, "forbidden", "X-Hub-Signature-256 does not match");
		return -1;
	}
	if (nsigned == 0 && hdr != NULL)
		log_warn("webhook signature matches no app secret; only unsigned channels eligible",
		    "req", req->request_id);

	for (size_t i = 0; i < n; i++) {
		struct channel *ch = registry_at(reg, i);
		struct wa_state *st = wa_state_of(ch);
		if (st && (match[i] || st->insecure))
			route->v[route->n++] = ch;
	}
	free(match);
	return 0;
}

/* POST: authenticate, parse, normalize. */
static void
wa_receive(struct channel_registry *reg, const struct webhook_request *req,
    struct webhook_reply *reply, struct ingest_batch *out)
{
	struct wa_route route = { .v = xcalloc(registry_count(reg), sizeof(struct channel *)) };
	struct channel_error cerr = { 0 };
	char jerr[256];
	json_t *root = NULL;
	size_t nm = out->nmsgs, ns = out->nstatuses, ne = out->nevents;

	if (wa_authenticate(reg, req, &route, reply) != 0)
		goto done;
	if (json_parse_capped(req->body ? req->body : "", req->body_len, WA_JSON_DEPTH_MAX, &root,
	    jerr, sizeof(jerr)) != 0) {
		reply_error(reply, 400, "invalid_json", "invalid JSON: %s", jerr);
		goto done;
	}
	if (whatsapp_cloud_normalize(root, route_resolve, &route, out, &cerr) != 0) {
		reply_error(reply, 422, "validation_failed", "%s", cerr.message);
		goto done;
	}

	char cm[24], cs[24], ce[24];
	snprintf(cm, sizeof(cm), "%zu", out->nmsgs - nm);
	snprintf(cs, sizeof(cs), "%zu", out->nstatuses - ns);
	snprintf(ce, sizeof(ce), "%zu", out->nevents - ne);
	log_info("webhook accepted", "req", req->request_id, "messages", cm, "statuses", cs,
	    "events", ce);
	reply->status = 200;
	reply->content_type = "application/json";
	reply->body = xstrdup("{\"status\":\"ok\"}");
done:
	json_decref(root);
	free(route.v);
}

static void
wa_webhook(struct channel_registry *reg, const struct webhook_request *req,
    struct webhook_reply *reply, struct ingest_batch *out)
{
	if (strcmp(req->method, "GET") == 0)
		wa_verify(reg, req, reply);
	else if (strcmp(req->method, "POST") == 0)
		wa_receive(reg, req, reply, out);
	else
		reply_error(reply, 405, "method_not_allowed", "use GET or POST");
}

/* Sending: requests */

/* {api_base_url}/{api_version}/{phone_number_id}/messages, one slash between parts. */
static char *
messages_url(const struct wa_state *st)
{
	size_t n = strlen(st->api_base_url);

	while (n > 0 && st->api_base_url[n - 1] == '/')
		n--;
	return xasprintf("%.*s/%s/%s/messages", (int)n, st->api_base_url, st->api_version,
	    st->phone_number_id);
}

/* Fill out with a POST of body (consumed) to the messages endpoint. */
static int
post_json(const struct wa_state *st, json_t *body, struct send_request *out)
{
	char *s = json_encode(body, NULL);

	json_decref(body);
	if (s == NULL)
		return -1;
	out->method = xstrdup("POST");
	out->url = messages_url(st);
	out->body = s;
	out->body_len = strlen(s);
	out->headers[out->nheaders++] = xasprintf("Authorization: Bearer %s", st->access_token);
	out->headers[out->nheaders++] = xstrdup("Content-Type: application/json");
	return 0;
}

static int
wa_send_prepare(struct channel *ch, const json_t *msg, struct send_request *out,
    struct channel_error *err)
{
	struct wa_state *st = wa_state_of(ch);
	json_t *body;

	*out = (struct send_request){ 0 };
	if (st == NULL) {
		norm_err(err, "channel", "the channel is not open");
		return -1;
	}
	if ((body = wa_message_body(msg, err)) == NULL)
		return -1;
	if (post_json(st, body, out) != 0) {
		norm_err(err, "message", "the message could not be encoded");
		return -1;
	}
	return 0;
}

static int
wa_read_prepare(struct channel *ch, const char *provider_message_id, struct send_request *out)
{
	struct wa_state *st = wa_state_of(ch);
	json_t *body, *id;

	*out = (struct send_request){ 0 };
	if (st == NULL || provider_message_id == NULL || *provider_message_id == '\0' ||
	    (id = json_string(provider_message_id)) == NULL)
		return -1;
	body = json_object();
	json_object_set_new(body, "messaging_product", json_string("whatsapp"));
	json_object_set_new(body, "status", json_string("read"));
	json_object_set_new(body, "message_id", id);
	return post_json(st, body, out);
}

/* Sending: answers */

/*
 * Graph error codes by outcome. Extending the corpus table: 17, 32 (user and
 * page request limits) throttle like 4; 10, 102, 200..299 and 131005 are
 * missing or revoked permissions, which fail every message alike, so they
 * pause the channel like 190 instead of failing the queue one by one;
 * 133004 (server unavailable) and 131057 (account in maintenance) are
 * temporary. Unknown codes fall through to is_transient and the status.
 */
static const int64_t wa_throttled[] = { 4, 17, 32, 613, 80007, 130429, 131048 };
static const int64_t wa_credentials[] = { 10, 102, 190, 131005 };
static const int64_t wa_blocked[] = { 368, 131031 };
static const int64_t wa_tempfail[] = { 1, 2, 131000, 131016, 131057, 133004 };
static const int64_t wa_permfail[] = {
	100, 131008, 131009, 131021, 131026, 131047, 131051, 131052, 131053, 133010, 135000,
};

static bool
in_list(int64_t code, const int64_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == code)
			return true;
	return false;
}

/* The outcome a known code means, or -1. */
static int
classify_code(int64_t code)
{
	if (code == 131056)
		return SEND_RECIPIENT_THROTTLED;
	if (in_list(code, wa_throttled, ARRAY_LEN(wa_throttled)))
		return SEND_THROTTLED;
	if (in_list(code, wa_credentials, ARRAY_LEN(wa_credentials)) ||
	    (code >= 200 && code <= 299))
		return SEND_CREDENTIALS;
	if (in_list(code, wa_blocked, ARRAY_LEN(wa_blocked)))
		return SEND_BLOCKED;
	if (in_list(code, wa_tempfail, ARRAY_LEN(wa_tempfail)))
		return SEND_TEMPFAIL;
	if (in_list(code, wa_permfail, ARRAY_LEN(wa_permfail)) ||
	    (code >= 132000 && code <= 132999))
		return SEND_PERMFAIL;
	return -1;
}

/* The outcome the HTTP status alone means (no known code). */
static enum send_outcome_kind
classify_status(long status)
{
	if (status == 401)
		return SEND_CREDENTIALS;
	if (status == 429)
		return SEND_THROTTLED;
	if (status == 408)
		return SEND_TEMPFAIL;   /* the request timed out: it was not refused */
	if (status >= 400 && status < 500)
		return SEND_PERMFAIL;
	/* 5xx, and redirects or anything else that should not come back. */
	return SEND_TEMPFAIL;
}

/* Copy n bytes into dst: NULs dropped, cut at a UTF-8 character boundary. */
static void
copy_utf8(char *dst, size_t cap, const char *s, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n && k + 1 < cap; i++)
		if (s[i] != '\0')
			dst[k++] = s[i];
	if (i < n) {
		k = utf8_boundary(dst, k);  /* truncated: no character split at the end */
	}
	dst[k] = '\0';
}

static void
copy_json_text(char *dst, size_t cap, const json_t *v)
{
	copy_utf8(dst, cap, json_string_value(v), json_string_length(v));
}

/* A body that is not a Graph error, as printable ASCII for the detail. */
static void
copy_snippet(char *dst, size_t cap, const char *s, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n && k + 1 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\n' || c == '\r' || c == '\t')
			dst[k++] = ' ';
		else
			dst[k++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	dst[k] = '\0';
}

static int
month_of(const char *m)
{
	static const char *const names[] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
	};
	for (int i = 0; i < 12; i++)
		if (strcmp(m, names[i]) == 0)
			return i;
	return -1;
}

/* An HTTP-date (IMF-fixdate, RFC 850 or asctime form) as Unix seconds. */
static int
parse_http_date(const char *s, int64_t *out)
{
	char mon[4] = "";
	int d, y, h, mi, sec, end = -1;
	struct tm tm = { 0 };

	if (sscanf(s, "%*[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n",
	    &d, mon, &y, &h, &mi, &sec, &end) == 6 && end > 0) {
		/* Sun, 06 Nov 1994 08:49:37 GMT */
	} else if (sscanf(s, "%*[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d GMT%n",
	    &d, mon, &y, &h, &mi, &sec, &end) == 6 && end > 0) {
		/* Sunday, 06-Nov-94 08:49:37 GMT */
		y += y < 70 ? 2000 : 1900;
	} else if (sscanf(s, "%*[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d%n",
	    mon, &d, &h, &mi, &sec, &y, &end) == 6 && end > 0) {
		/* Sun Nov  6 08:49:37 1994 */
	} else {
		return -1;
	}
	while (s[end] == ' ' || s[end] == '\t')
		end++;
	tm.tm_mon = month_of(mon);
	if (s[end] != '\0' || tm.tm_mon < 0 || d < 1 || d > 31 || y < 1970 || y > 9999 ||
	    h > 23 || mi > 59 || sec > 60 || h < 0 || mi < 0 || sec < 0)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = (int64_t)timegm(&tm);
	return 0;
}

/* Retry-After (delay-seconds or an HTTP-date) in ms from now_s; 0 when unusable or past. */
static int64_t
retry_after_ms(const char *v, int64_t now_s)
{
	int64_t secs = 0, when;

	while (*v == ' ' || *v == '\t')
		v++;
	if (*v >= '0' && *v <= '9') {
		for (; *v >= '0' && *v <= '9'; v++)
			if (secs <= WA_RETRY_AFTER_MAX_MS / 1000)
				secs = secs * 10 + (*v - '0');
		while (*v == ' ' || *v == '\t')
			v++;
		if (*v != '\0')
			return 0;
	} else if (parse_http_date(v, &when) == 0) {
		secs = when > now_s ? when - now_s : 0;
	}
	return secs * 1000 < WA_RETRY_AFTER_MAX_MS ? secs * 1000 : WA_RETRY_AFTER_MAX_MS;
}

/* A 2xx: accepted. messages[0].id is the provider's id for it. */
static void
classify_accepted(const json_t *root, struct send_outcome *out)
{
	const json_t *id = get(json_array_get(get(root, "messages"), 0), "id");

	/*
	 * A 2xx that is not JSON did not come from the Graph API (a proxy,
	 * a captive portal): retry. JSON without an id (a read receipt's
	 * {"success":true}, or a provider slip) counts as sent, with no
	 * provider id: failing or retrying it could drop or duplicate a message
	 * Meta took. messages[0].message_status ("accepted", "held_for_quality_
	 * assessment", "paused") does not change that Meta took it.
	 */
	if (root == NULL) {
		out->kind = SEND_TEMPFAIL;
		snprintf(out->error_title, sizeof(out->error_title), "2xx answer that is not JSON");
		return;
	}
	out->kind = SEND_OK;
	if (is_id(id) && json_cstr(id))
		out->provider_message_id = xstrdup(json_cstr(id));
}

/* A Graph error object: the code decides, then is_transient, then the status. */
static void
classify_error(const json_t *e, long status, struct send_outcome *out)
{
	const json_t *msg = get(e, "message"), *detail = get(get(e, "error_data"), "details");
	int kind;

	out->error_code = get_code(get(e, "code"));
	if (json_is_string(msg))
		copy_json_text(out->error_title, sizeof(out->error_title), msg);
	else
		snprintf(out->error_title, sizeof(out->error_title), "HTTP %ld", status);
	if (json_is_string(detail))
		copy_json_text(out->error_detail, sizeof(out->error_detail), detail);
	else if (json_is_string(msg))
		copy_json_text(out->error_detail, sizeof(out->error_detail), msg);

	if (out->error_code != 0 && (kind = classify_code(out->error_code)) >= 0)
		out->kind = (enum send_outcome_kind)kind;
	else if (status == 429)
		out->kind = SEND_THROTTLED;
	else if (json_is_true(get(e, "is_transient")))
		out->kind = SEND_TEMPFAIL;
	else if (status >= 200 && status < 300)
		out->kind = SEND_TEMPFAIL; /* an error without a status saying so: not accepted */
	else
		out->kind = classify_status(status);
}

static void
wa_send_classify(struct channel *ch, const json_t *msg, const struct send_response *resp,
    struct send_outcome *out)
{
	json_t *root = NULL;
	const json_t *e;
	char jerr[8];

	*out = (struct send_outcome){ 0 };
	if (resp->http_status == 0) {
		out->kind = SEND_TEMPFAIL;
		snprintf(out->error_title, sizeof(out->error_title), "%s",
		    resp->net_error && *resp->net_error ? resp->net_error : "network error");
		return;
	}
	if (resp->body && resp->body_len > 0)
		json_parse_capped(resp->body, resp->body_len, WA_JSON_DEPTH_MAX, &root, jerr,
		    sizeof(jerr));

	if (json_is_object(e = get(root, "error"))) {
		classify_error(e, resp->http_status, out);
	} else if (resp->http_status >= 200 && resp->http_status < 300) {
		classify_accepted(root, out);
	} else {
		out->kind = classify_status(resp->http_status);
		snprintf(out->error_title, sizeof(out->error_title), "HTTP %ld", resp->http_status);
		if (resp->body)
			copy_snippet(out->error_detail, sizeof(out->error_detail), resp->body,
			    resp->body_len);
	}
	if (out->kind != SEND_OK && resp->retry_after)
		out->retry_after_ms = retry_after_ms(resp->retry_after, now_ms() / 1000);
	json_decref(root);
}

const struct channel_ops whatsapp_cloud_ops = {
	.type = "whatsapp_cloud",
	.caps = &wa_caps,
	.schema = wa_schema,
	.validate = wa_validate,
	.open = wa_open,
	.close = wa_close,
	.on_start = wa_on_start,
	.webhook_path = "whatsapp",
	.webhook = wa_webhook,
	.simulate_inbound = NULL,
	.send_prepare = wa_send_prepare,
	.send_classify = wa_send_classify,
	.read_prepare = wa_read_prepare,
	.send_local = NULL,
	.address_normalize = phone_normalize,
	.check_prepare = whatsapp_check_prepare,
	.check_classify = whatsapp_check_classify,
	.destination_keys = wa_destination,
	.destination_secrets = wa_destination_secrets,
	.route_key = "phone_number_id",
	.on_lease = wa_templates_on_lease,
	.templates_sync = wa_templates_sync,
	/* media both ways (issue 14) */
	.media_fetch_prepare = wa_media_fetch_prepare,
	.media_fetch_parse = wa_media_fetch_parse,
	.media_upload_prepare = wa_media_upload_prepare,
	.media_upload_parse = wa_media_upload_parse,
};
