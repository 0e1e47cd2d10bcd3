/*
 * media.c - the inbound media fetcher (media.h says what and why).
 *
 * One look at a time: a read of the due jobs on the reader pool, then one
 * CLAIM op for them; only when the claim landed may the next look start,
 * so a job is never started twice by this instance. Each claimed job then
 * runs its steps on the loop: prepare → request → parse → ... → download
 * (streamed into a files_writer) or inline base64 → files_writer_finish()
 * → one RESULT op. Long CPU work goes to a reader-pool thread
 * (store_read_submit), the job waiting meanwhile: the parse of an answer
 * over MEDIA_PARSE_LOOP_MAX bytes (Evolution's getBase64FromMediaMessage,
 * up to 32 MiB) and the decode of inline base64 into the file. The next look comes at the earliest due job, after a
 * kick (a commit made jobs, a job ended) or every MEDIA_POLL_MS.
 */
#include "media.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <sodium.h>

#include "../api/api.h"
#include "../channels/channel.h"
#include "../config/config.h"
#include "../files/files.h"
#include "../httpc/httpc.h"
#include "../log/log.h"
#include "../store/store.h"
#include "../util/util.h"

#define MEDIA_REQUEST_TIMEOUT_MS 30000
#define MEDIA_DOWNLOAD_TIMEOUT_MS 300000
#define MEDIA_B64_SLICE (64 * 1024)      /* base64 characters decoded at once */
#define MEDIA_HOST_CONNECTIONS 4
#define MEDIA_PARSE_LOOP_MAX (64 * 1024) /* answer bytes parsed on the loop; more: on a reader */

struct media {
	struct app *app;
	struct httpc *hc;
	struct event *timer;
	bool looking;              /* a read or its claim is in flight */
	bool again;                /* kicked meanwhile */
	bool started;              /* the first look (takes our own leased jobs back) began */
	bool stopping;
	size_t running;            /* claimed jobs not yet recorded */
	struct look *look;
};

/* One look: the read, then the claim. */
struct look {
	struct media *md;
	struct store_read rd;
	struct store_op op;
	char owner[CONFIG_INSTANCE_ID_MAX + 1];
	bool first;
	int limit;
	int rc;
	json_t *due;
	int64_t next_due;
	struct media_item *items;
	size_t n;
};

struct job {
	struct media *md;
	int64_t message_id, channel_id, org_id;
	char type[32];
	json_t *source;
	json_t *state;             /* the last answer's, NULL at first */
	int attempts;              /* before this one */
	int steps;
	struct files_writer *w;
	struct store_op op;
	struct media_item item;
	/* Work on a reader thread (one at a time; the loop leaves the job alone). */
	struct store_read rd;
	struct channel shadow;     /* a big answer's parse: the adapter's ops, a copy of the config */
	struct send_response resp; /* ... and a copy of the answer */
	char *resp_body, *resp_retry, *resp_net;
	struct media_answer ans;
	const char *b64;           /* inline base64 (in source or state) decoded into w */
	size_t b64_len;
	int b64_rc;
};

static void look_start(struct media *md);

int64_t
media_backoff_ms(int attempts, int64_t base_ms)
{
	int64_t d = base_ms > 0 ? base_ms : 1;

	for (int i = 1; i < attempts && d < MEDIA_BACKOFF_CAP_MS; i++)
		d *= 4;
	return d > MEDIA_BACKOFF_CAP_MS ? MEDIA_BACKOFF_CAP_MS : d;
}

static bool
b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '+' || c == '/' || c == '=';
}

int
media_b64_decode(const char *s, size_t len, int (*sink)(void *arg, const void *p, size_t n),
    void *arg)
{
	char in[MEDIA_B64_SLICE];
	unsigned char out[MEDIA_B64_SLICE / 4 * 3];
	size_t k = 0, n, i = 0;
	const char *comma;

	if (len > 5 && strncmp(s, "data:", 5) == 0 && (comma = memchr(s, ',', len)) != NULL) {
		i = (size_t)(comma - s) + 1;
	}
	for (;; i++) {
		bool end = i >= len;
		if (!end) {
			char c = s[i];
			if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
				continue;
			if (!b64_char(c))
				return -1;
			in[k++] = c;
		}
		/* Decode whole quartets; the last slice may hold the padding. */
		if (k == sizeof(in) || (end && k > 0)) {
			if (end && k % 4 != 0)
				return -1;
			if (sodium_base642bin(out, sizeof(out), in, k, NULL, &n, NULL,
			    sodium_base64_VARIANT_ORIGINAL) != 0)
				return -1;
			if (n > 0 && sink(arg, out, n) != 0)
				return -1;
			k = 0;
		}
		if (end)
			return 0;
	}
}

/* --- one job --- */

static void
job_free(struct job *j)
{
	struct media *md = j->md;

	if (j->w)
		files_writer_abort(j->w);
	json_decref(j->source);
	json_decref(j->state);
	free(j);
	md->running--;
	if (!md->stopping)
		media_kick(md->app);
}

static void
recorded(struct store_op *op, void *arg)
{
	struct job *j = arg;

	if (op->result != 0)
		log_error("media: cannot record a fetch's outcome", "message",
		    j->item.error[0] ? j->item.error : "", "error", op->errmsg);
	job_free(j);
}

static void
record(struct job *j)
{
	struct media *md = j->md;

	if (md->stopping || md->app->store == NULL) {
		job_free(j);
		return;
	}
	j->item.message_id = j->message_id;
	j->op = (struct store_op){ .kind = STORE_OP_MEDIA_RESULT, .org_id = j->org_id,
	    .u.media = { .items = &j->item, .n = 1, .now_ms = now_ms() }, .done = recorded, .arg = j };
	store_submit(md->app->store, &j->op);
}

/* Tried and failed: again later, or failed for good after media_attempts. */
static void
job_retry(struct job *j, const char *why)
{
	const struct config *cfg = j->md->app->cfg;
	int attempts = j->attempts + 1;
	char id[24];

	snprintf(id, sizeof(id), "%lld", (long long)j->message_id);
	snprintf(j->item.error, sizeof(j->item.error), "%s", why);
	if (attempts >= cfg->media_attempts) {
		log_warn("media: giving up", "message_id", id, "error", why);
		j->item.result = MEDIA_FAILED;
	} else {
		log_info("media: fetch failed, will retry", "message_id", id, "error", why);
		j->item.result = MEDIA_RETRY;
		j->item.next_at = now_ms() + media_backoff_ms(attempts, cfg->media_retry_ms);
	}
	record(j);
}

static void
job_fail(struct job *j, const char *why)
{
	char id[24];

	snprintf(id, sizeof(id), "%lld", (long long)j->message_id);
	log_warn("media: cannot be fetched", "message_id", id, "error", why);
	snprintf(j->item.error, sizeof(j->item.error), "%s", why);
	j->item.result = MEDIA_FAILED;
	record(j);
}

static void
stored(void *arg, int err, const struct file_info *fi)
{
	struct job *j = arg;

	j->w = NULL;  /* freed by files_writer_finish */
	if (j->md->stopping) {
		job_free(j);
		return;
	}
	if (err == FILES_TOO_BIG) {
		job_fail(j, "the media is larger than this channel's limit");
		return;
	}
	if (err != 0 || fi == NULL) {
		job_retry(j, "the media could not be stored");
		return;
	}
	j->item.result = MEDIA_STORED;
	snprintf(j->item.file_id, sizeof(j->item.file_id), "%s", fi->id);
	snprintf(j->item.mime_type, sizeof(j->item.mime_type), "%s", fi->mime_type);
	snprintf(j->item.sha256, sizeof(j->item.sha256), "%s", fi->sha256);
	j->item.size = fi->size;
	record(j);
}

static int
sink_write(void *arg, const void *p, size_t n)
{
	struct job *j = arg;
	return files_writer_write(j->w, p, n);
}

/* The cap of what this job may store. */
static int64_t
job_cap(const struct job *j, const struct channel *ch)
{
	int64_t cap = (int64_t)j->md->app->cfg->files_max_bytes;
	const struct media_limit *ml = channel_media_limit(ch->ops, j->type);

	if (ml == NULL && strcmp(j->type, "voice") == 0)
		ml = channel_media_limit(ch->ops, "audio");
	if (ml && ml->max_bytes > 0 && ml->max_bytes < cap)
		cap = ml->max_bytes;
	return cap;
}

static bool
open_writer(struct job *j, const struct channel *ch)
{
	/* The name the provider gave (a document's), sanitized by the files store. */
	j->w = files_writer_open(j->md->app, j->org_id, json_string_value(json_object_get(j->source,
	    "filename")), job_cap(j, ch));
	return j->w != NULL;
}

static void
downloaded(void *arg, const struct send_response *resp)
{
	struct job *j = arg;
	char why[160];

	if (j->md->stopping) {
		job_free(j);
		return;
	}
	if (resp->too_large || (j->w && files_writer_error(j->w) == FILES_TOO_BIG)) {
		job_fail(j, "the media is larger than this channel's limit");
		return;
	}
	if (resp->http_status >= 200 && resp->http_status < 300 && resp->net_error == NULL) {
		struct files_writer *w = j->w;
		j->w = NULL;
		files_writer_finish(w, stored, j);
		return;
	}
	if (resp->http_status == 0)
		snprintf(why, sizeof(why), "download: %s", resp->net_error ? resp->net_error : "no answer");
	else
		snprintf(why, sizeof(why), "HTTP %ld from the download", resp->http_status);
	job_retry(j, why);
}

static void job_step(struct job *j);

/* A lookup's verdict, on the loop. */
static void
apply_answer(struct job *j, struct media_answer *ans)
{
	switch (ans->verdict) {
	case MEDIA_NEXT:
		json_decref(j->state);
		j->state = ans->state;
		job_step(j);
		return;
	case MEDIA_PERMFAIL:
		json_decref(ans->state);
		job_fail(j, ans->error[0] ? ans->error : "the provider refused the media");
		return;
	case MEDIA_TEMPFAIL:
	default:
		json_decref(ans->state);
		job_retry(j, ans->error[0] ? ans->error : "the provider did not answer");
		return;
	}
}

/* On a reader thread: the adapter parses the copied answer. */
static void
parse_run(struct store *st, void *arg)
{
	struct job *j = arg;

	(void)st;
	j->shadow.ops->media_fetch_parse(&j->shadow, j->source, j->state, &j->resp, &j->ans);
}

static void
parse_done(void *arg)
{
	struct job *j = arg;

	free(j->resp_body);
	free(j->resp_retry);
	free(j->resp_net);
	j->resp_body = j->resp_retry = j->resp_net = NULL;
	j->resp = (struct send_response){ 0 };
	json_decref(j->shadow.config);
	j->shadow = (struct channel){ 0 };
	if (j->md->stopping || j->md->app->store == NULL) {
		json_decref(j->ans.state);
		job_free(j);
		return;
	}
	apply_answer(j, &j->ans);
}

static void
answered(void *arg, const struct send_response *resp)
{
	struct job *j = arg;
	struct channel *ch;
	struct media_answer ans;

	if (j->md->stopping) {
		job_free(j);
		return;
	}
	if ((ch = registry_find_id(j->md->app->reg, j->channel_id)) == NULL ||
	    ch->ops->media_fetch_parse == NULL) {
		job_fail(j, "the channel is gone");
		return;
	}
	if (resp->body_len > MEDIA_PARSE_LOOP_MAX && j->md->app->store != NULL) {
		/* A big answer (inline media): parsed on a reader, never on the loop. */
		j->resp_body = xmalloc(resp->body_len + 1);
		memcpy(j->resp_body, resp->body, resp->body_len);
		j->resp_body[resp->body_len] = '\0';
		j->resp_retry = resp->retry_after ? xstrdup(resp->retry_after) : NULL;
		j->resp_net = resp->net_error ? xstrdup(resp->net_error) : NULL;
		j->resp = (struct send_response){ .http_status = resp->http_status, .body = j->resp_body,
		    .body_len = resp->body_len, .retry_after = j->resp_retry, .net_error = j->resp_net,
		    .too_large = resp->too_large };
		j->shadow = (struct channel){ .id = ch->id, .org_id = ch->org_id, .ops = ch->ops,
		    .config = json_deep_copy(ch->config) };
		j->ans = (struct media_answer){ 0 };
		j->rd = (struct store_read){ .run = parse_run, .done = parse_done, .arg = j };
		store_read_submit(j->md->app->store, &j->rd);
		return;
	}
	ch->ops->media_fetch_parse(ch, j->source, j->state, resp, &ans);
	apply_answer(j, &ans);
}

/* On a reader thread: inline base64 decoded into the file. */
static void
inline_run(struct store *st, void *arg)
{
	struct job *j = arg;

	(void)st;
	j->b64_rc = media_b64_decode(j->b64, j->b64_len, sink_write, j);
}

static void
inline_done(void *arg)
{
	struct job *j = arg;
	struct files_writer *w;

	j->b64 = NULL;
	if (j->md->stopping || j->md->app->store == NULL) {
		job_free(j);
		return;
	}
	if (j->b64_rc != 0) {
		bool big = files_writer_error(j->w) == FILES_TOO_BIG;
		job_fail(j, big ? "the media is larger than this channel's limit" :
		    "the inline media is not base64");
		return;
	}
	w = j->w;
	j->w = NULL;
	files_writer_finish(w, stored, j);
}

static void
job_step(struct job *j)
{
	struct media *md = j->md;
	struct channel *ch = registry_find_id(md->app->reg, j->channel_id);
	struct channel_error err = { 0 };
	struct media_step st;
	int rc;

	if (ch == NULL || ch->ops->media_fetch_prepare == NULL) {
		job_fail(j, "the channel is gone or fetches no media");
		return;
	}
	if (++j->steps > MEDIA_STEPS_MAX) {
		job_retry(j, "the provider kept asking for more steps");
		return;
	}
	if (ch->ops->media_fetch_prepare(ch, j->source, j->state, &st, &err) != 0) {
		send_request_free(&st.req);
		job_fail(j, err.message[0] ? err.message : "the media cannot be fetched");
		return;
	}
	switch (st.kind) {
	case MEDIA_STEP_INLINE:
		if (md->app->store == NULL || !open_writer(j, ch)) {
			job_retry(j, "the media could not be stored");
			return;
		}
		/* Up to 64 MiB of base64: decoded and written on a reader. */
		j->b64 = st.inline_b64;
		j->b64_len = st.inline_len;
		j->rd = (struct store_read){ .run = inline_run, .done = inline_done, .arg = j };
		store_read_submit(md->app->store, &j->rd);
		return;
	case MEDIA_STEP_DOWNLOAD: {
		if (!open_writer(j, ch)) {
			send_request_free(&st.req);
			job_retry(j, "the media could not be stored");
			return;
		}
		struct httpc_sink sink = { .write = sink_write, .arg = j, .max_bytes = job_cap(j, ch) };
		rc = httpc_start_sink(md->hc, &st.req, MEDIA_DOWNLOAD_TIMEOUT_MS, &sink, downloaded, j);
		send_request_free(&st.req);
		if (rc != 0)
			job_retry(j, "the download could not start");
		return;
	}
	case MEDIA_STEP_REQUEST:
	default:
		rc = httpc_start(md->hc, &st.req, MEDIA_REQUEST_TIMEOUT_MS, answered, j);
		send_request_free(&st.req);
		if (rc != 0)
			job_retry(j, "the request could not start");
		return;
	}
}

static void
job_start(struct media *md, const json_t *due)
{
	struct job *j = xcalloc(1, sizeof(*j));

	j->md = md;
	j->message_id = json_integer_value(json_object_get(due, "message_id"));
	j->channel_id = json_integer_value(json_object_get(due, "channel_id"));
	j->org_id = json_integer_value(json_object_get(due, "org_id"));
	j->attempts = (int)json_integer_value(json_object_get(due, "attempts"));
	snprintf(j->type, sizeof(j->type), "%s",
	    json_string_value(json_object_get(due, "type")) ? json_string_value(json_object_get(due, "type")) : "");
	j->source = json_incref(json_object_get(due, "source"));
	md->running++;
	job_step(j);
}

/* --- looking for due jobs --- */

static void
look_free(struct look *lk)
{
	json_decref(lk->due);
	free(lk->items);
	free(lk);
}

static void
look_end(struct media *md, int64_t next_ms)
{
	struct timeval tv;
	int64_t now = now_ms(), delay = MEDIA_POLL_MS;

	md->looking = false;
	md->look = NULL;
	if (md->stopping)
		return;
	if (md->again) {
		md->again = false;
		look_start(md);
		return;
	}
	if (next_ms > 0 && next_ms - now < delay)
		delay = next_ms > now ? next_ms - now : 0;
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	evtimer_add(md->timer, &tv);
}

static void
claimed(struct store_op *op, void *arg)
{
	struct look *lk = arg;
	struct media *md = lk->md;
	size_t i;
	json_t *due;

	if (op->result != 0)
		log_error("media: cannot claim jobs", "error", op->errmsg);
	else if (!md->stopping)
		json_array_foreach(lk->due, i, due)
			if (lk->items[i].claimed)
				job_start(md, due);
	look_end(md, lk->next_due);
	look_free(lk);
}

static void
look_run(struct store *st, void *arg)
{
	struct look *lk = arg;

	lk->rc = store_media_due(st, now_ms(), lk->limit, lk->first ? lk->owner : NULL, &lk->due);
	if (lk->rc == 0)
		lk->rc = store_media_next_due(st, &lk->next_due);
}

static void
look_done(void *arg)
{
	struct look *lk = arg;
	struct media *md = lk->md;
	size_t n = lk->due ? json_array_size(lk->due) : 0;

	if (lk->rc != 0)
		log_error("media: cannot read due jobs");
	if (lk->rc != 0 || n == 0 || md->stopping || md->app->store == NULL) {
		look_end(md, lk->next_due);
		look_free(lk);
		return;
	}
	lk->items = xcalloc(n, sizeof(*lk->items));
	for (size_t i = 0; i < n; i++)
		lk->items[i].message_id = json_integer_value(json_object_get(json_array_get(lk->due, i),
		    "message_id"));
	int64_t now = now_ms();
	lk->op = (struct store_op){ .kind = STORE_OP_MEDIA_CLAIM,
	    .u.media = { .items = lk->items, .n = n, .owner = lk->owner, .now_ms = now,
	    .lease_until = now + MEDIA_LEASE_MS }, .done = claimed, .arg = lk };
	store_submit(md->app->store, &lk->op);
}

static void
look_start(struct media *md)
{
	struct look *lk;

	if (md->stopping || md->app->store == NULL)
		return;
	if (md->looking) {
		md->again = true;
		return;
	}
	evtimer_del(md->timer);
	if (md->running >= MEDIA_CONCURRENCY) {
		look_end(md, 0);  /* a job's end kicks again */
		return;
	}
	lk = xcalloc(1, sizeof(*lk));
	lk->md = md;
	/* Only the first look takes back jobs leased to this instance (a
	 * previous run's): later ones must not restart a job in flight. */
	lk->first = !md->started;
	md->started = true;
	lk->limit = (int)(MEDIA_CONCURRENCY - md->running);
	snprintf(lk->owner, sizeof(lk->owner), "%s", md->app->cfg->instance_id);
	lk->rd = (struct store_read){ .run = look_run, .done = look_done, .arg = lk };
	md->looking = true;
	md->look = lk;
	store_read_submit(md->app->store, &lk->rd);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	look_start(arg);
}

int
media_start(struct app *app)
{
	struct media *md;

	if (!app->cfg->media_fetch) {
		log_info("media: fetching inbound media is off (media_fetch)");
		return 0;
	}
	md = xcalloc(1, sizeof(*md));

	md->app = app;
	if (httpc_new(&md->hc, app->base, MEDIA_HOST_CONNECTIONS) != 0) {
		free(md);
		return -1;
	}
	md->timer = evtimer_new(app->base, on_timer, md);
	if (md->timer == NULL)
		abort();
	app->media = md;
	look_start(md);
	return 0;
}

void
media_kick(struct app *app)
{
	if (app->media)
		look_start(app->media);
}

void
media_batch_committed(struct app *app, const struct ingest_batch *b)
{
	for (size_t i = 0; i < b->nmsgs; i++)
		if (b->msgs[i].media_source && !b->msgs[i].duplicate && b->msgs[i].direction == DIR_IN) {
			media_kick(app);
			return;
		}
}

void
media_stop(struct app *app)
{
	struct media *md = app->media;
	struct httpc *hc;

	if (md == NULL)
		return;
	md->stopping = true;
	evtimer_del(md->timer);
	hc = md->hc;
	md->hc = NULL;
	httpc_free(hc);  /* requests in flight end now: their jobs are freed */
}

void
media_free(struct app *app)
{
	struct media *md = app->media;

	if (md == NULL)
		return;
	media_stop(app);
	event_free(md->timer);
	free(md);
	app->media = NULL;
}
