/*
 * fuzz_media.c - a provider's answer to an inbound media lookup (issue 14),
 * as bytes, through each adapter's media_fetch_parse() (WhatsApp Cloud's
 * media id lookup, Telegram's getFile, Evolution's
 * getBase64FromMediaMessage) with the HTTP status taken from the first
 * byte, the next step prepared from the state it gives, WhatsApp's upload
 * answer through media_upload_parse(), and the bytes as base64 through the
 * fetcher's decoder. Oracles: exactly one verdict, a state only with
 * MEDIA_NEXT; an error holds no secret the answer did not hold; the next
 * request's URL has no
 * control characters or spaces and stays under the configured base
 * (Telegram: its file path never climbs out); a decoded length is at most
 * three quarters of the input.
 */
#include <jansson.h>

#include "channels/channel.h"
#include "fuzz.h"
#include "log/log.h"
#include "media/media.h"
#include "util/util.h"

#define WA_TOKEN "fuzzWAtoken"
#define TG_TOKEN "123456:fuzzTGtoken"
#define EVO_KEY "fuzzEVOkey"

static struct channel *wa, *tg, *evo;

static struct channel *
open_ch(const struct channel_ops *ops, json_t *cfg, int64_t id)
{
	struct channel *ch = channel_new(id, "m", ops, cfg, 0, 0);

	json_decref(cfg);
	if (ops->open(ch) != 0)
		abort();
	return ch;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(LOGL_ERROR);
	wa = open_ch(&whatsapp_cloud_ops, json_pack("{s:s,s:s,s:s,s:s,s:s}", "phone_number_id", "PN1",
	    "access_token", WA_TOKEN, "app_secret", "s", "verify_token", "v", "api_base_url",
	    "http://127.0.0.1:9/graph"), 1);
	tg = open_ch(&telegram_ops, json_pack("{s:s,s:s,s:s}", "bot_token", TG_TOKEN, "webhook_secret", "s",
	    "api_base_url", "http://127.0.0.1:9/tg"), 2);
	evo = open_ch(&evolution_ops, json_pack("{s:s,s:s,s:s}", "api_base_url", "http://127.0.0.1:9/evo",
	    "api_key", EVO_KEY, "instance", "i1"), 3);
	return 0;
}

static bool
url_ok(const char *u)
{
	for (const char *p = u; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

static void
one(struct channel *ch, const json_t *source, const struct send_response *resp, const char *secret)
{
	struct media_answer a;
	struct media_step st;
	struct channel_error err = { 0 };

	ch->ops->media_fetch_parse(ch, source, NULL, resp, &a);
	FUZZ_CHECK(a.verdict == MEDIA_NEXT || a.verdict == MEDIA_TEMPFAIL || a.verdict == MEDIA_PERMFAIL);
	FUZZ_CHECK((a.verdict == MEDIA_NEXT) == (a.state != NULL));
	FUZZ_CHECK(memchr(a.error, '\0', sizeof(a.error)) != NULL);
	/* msgd never puts a secret in an error; the provider's own words may quote anything. */
	FUZZ_CHECK(strstr(a.error, secret) == NULL ||
	    (resp->body && memmem(resp->body, resp->body_len, secret, strlen(secret)) != NULL));
	if (a.verdict != MEDIA_NEXT)
		return;
	FUZZ_CHECK(json_is_object(a.state));
	if (ch->ops->media_fetch_prepare(ch, source, a.state, &st, &err) == 0) {
		if (st.kind == MEDIA_STEP_INLINE) {
			FUZZ_CHECK(st.inline_b64 != NULL);
		} else {
			FUZZ_CHECK(st.req.url && url_ok(st.req.url));
			if (ch == tg) {
				FUZZ_CHECK(strncmp(st.req.url, "http://127.0.0.1:9/tg/file/bot", 30) == 0);
				FUZZ_CHECK(strstr(st.req.url, "..") == NULL);
			}
		}
	}
	send_request_free(&st.req);
	json_decref(a.state);
}

static int
count(void *arg, const void *p, size_t n)
{
	*(size_t *)arg += n;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long statuses[] = { 200, 201, 400, 401, 404, 429, 500, 0 };
	long status = size ? statuses[data[0] % 8] : 200;
	char *body = fuzz_cstr(size ? data + 1 : data, size ? size - 1 : 0);
	size_t len = size ? size - 1 : 0;
	struct send_response resp = { .http_status = status, .body = body, .body_len = len,
	    .net_error = status ? NULL : "fuzz" };
	json_t *wa_src = json_pack("{s:s}", "id", "1234");
	json_t *tg_src = json_pack("{s:s}", "file_id", "AgAC-x_1");
	json_t *evo_src = json_pack("{s:{s:s}}", "key", "id", "K1");

	one(wa, wa_src, &resp, WA_TOKEN);
	one(tg, tg_src, &resp, "fuzzTGtoken");
	one(evo, evo_src, &resp, EVO_KEY);

	char id[128];
	struct send_outcome out;
	if (wa->ops->media_upload_parse(wa, &resp, id, sizeof(id), &out) == 0)
		FUZZ_CHECK(id[0] != '\0' && memchr(id, '\0', sizeof(id)));
	else
		FUZZ_CHECK(out.kind != SEND_OK && out.provider_message_id == NULL);

	size_t n = 0;
	if (media_b64_decode(body, len, count, &n) == 0)
		FUZZ_CHECK(n <= len / 4 * 3);
	json_decref(wa_src);
	json_decref(tg_src);
	json_decref(evo_src);
	free(body);
	return 0;
}
