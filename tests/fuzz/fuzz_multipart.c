/*
 * fuzz_multipart.c - a multipart/form-data upload body through the path
 * POST /v1/files takes: libmicrohttpd's post processor (http_multipart_new,
 * _feed, _end in src/http/http_body.c) on a real MHD connection, with the
 * upload's part callback (api_upload_part) streaming the file part into a
 * files_writer capped at FUZZ_CAP bytes.
 *
 * Input: byte 0 picks the mode (bit 0: a well-formed body built from the
 * rest; else the rest is the body as is) and the chunk size the body is fed
 * in (bits 1-3); in the well-formed mode byte 1 is the file name's length,
 * then the name, then the file's bytes.
 *
 * Oracles: never more than FUZZ_CAP bytes written, and over it the upload
 * says too big; in the well-formed mode (when the content does not hold the
 * delimiter) the file part's bytes as delivered are exactly the content,
 * the writer has all of them (or the cap was hit), and the body ends well.
 */
#include <sys/socket.h>
#include <netinet/in.h>

#include <microhttpd.h>

#include "fuzz_app.h"
#include "files/files.h"
#include "http/http_int.h"

#define FUZZ_CAP 4096
#define BOUNDARY "XyZzy0fuzz"

static struct MHD_Daemon *mhd;

/* One input's run. */
static struct {
	const uint8_t *body;
	size_t len;
	size_t chunk;
	bool well_formed;
	const uint8_t *content;
	size_t content_len;
	char fname[64];
	/* seen */
	unsigned char *got;
	size_t got_len;
	bool done;
} run;

static int
part_spy(void *arg, const char *name, const char *filename, const char *content_type, const char *data,
    uint64_t off, size_t n)
{
	if (filename != NULL && n > 0) {
		FUZZ_CHECK(off == 0 || off > 0);
		run.got = realloc(run.got, run.got_len + n);
		FUZZ_CHECK(run.got != NULL);
		memcpy(run.got + run.got_len, data, n);
		run.got_len += n;
	}
	return api_upload_part(arg, name, filename, content_type, data, off, n);
}

static enum MHD_Result
access_cb(void *cls, struct MHD_Connection *mc, const char *url, const char *method, const char *version,
    const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	static int marker;
	struct http_request req = { .mc = mc };
	struct api_upload_parts up = { 0 };

	if (*con_cls == NULL) {
		*con_cls = &marker;
		return MHD_YES;
	}
	*upload_data_size = 0;
	if (run.done)
		return MHD_NO;
	run.done = true;
	up.w = files_writer_open(&app, 1, NULL, FUZZ_CAP);
	FUZZ_CHECK(up.w != NULL);
	struct http_multipart *mp = http_multipart_new(&req, part_spy, &up);
	FUZZ_CHECK(mp != NULL);
	bool fed = true;
	for (size_t off = 0; off < run.len && fed; off += run.chunk) {
		size_t n = run.len - off < run.chunk ? run.len - off : run.chunk;
		fed = http_multipart_feed(mp, (const char *)run.body + off, n) == 0;
	}
	int end = http_multipart_end(mp);
	int64_t size = files_writer_size(up.w);

	FUZZ_CHECK(size <= FUZZ_CAP);
	FUZZ_CHECK((up.state == API_UP_TOO_BIG) == (files_writer_error(up.w) == FILES_TOO_BIG));
	if (run.got_len > FUZZ_CAP && up.state == API_UP_OK)
		FUZZ_CHECK(0);   /* more delivered than the cap, and nobody said so */
	if (run.well_formed) {
		if (run.content_len <= FUZZ_CAP) {
			FUZZ_CHECK(fed && end == 0);
			FUZZ_CHECK(up.state == API_UP_OK);
			FUZZ_CHECK(up.part_seen || run.content_len == 0);
			FUZZ_CHECK(run.got_len == run.content_len);
			FUZZ_CHECK(run.content_len == 0 || memcmp(run.got, run.content, run.content_len) == 0);
			FUZZ_CHECK(size == (int64_t)run.content_len);
		} else {
			FUZZ_CHECK(up.state == API_UP_TOO_BIG);
			FUZZ_CHECK(memcmp(run.got, run.content, run.got_len < run.content_len ? run.got_len :
			    run.content_len) == 0);
		}
	}
	files_writer_abort(up.w);
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	enum MHD_Result r = MHD_queue_response(mc, 200, resp);
	MHD_destroy_response(resp);
	return r;
}

/* Before fuzz_app_cleanup() (atexit runs last first): the upload folders. */
static void
cleanup_files(void)
{
	char p[128];

	snprintf(p, sizeof(p), "%s/files/tmp", fuzz_dir);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/files", fuzz_dir);
	rmdir(p);
	MHD_stop_daemon(mhd);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_app_open("multipart");
	atexit(cleanup_files);
	mhd = MHD_start_daemon(MHD_USE_NO_LISTEN_SOCKET, 0, NULL, NULL, access_cb, NULL,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384, MHD_OPTION_END);
	FUZZ_CHECK(mhd != NULL);
	return 0;
}

/* The well-formed body for the input, into a malloc'd buffer. */
static uint8_t *
build(const uint8_t *data, size_t size, size_t *len)
{
	size_t n = size > 0 ? data[0] % 32 : 0, k = 0;
	static const char head_fmt[] = "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n"
	    "a field\r\n--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
	    "Content-Type: application/octet-stream\r\n\r\n";
	static const char tail[] = "\r\n--" BOUNDARY "--\r\n";

	if (n > size - (size > 0))
		n = size - (size > 0);
	for (size_t i = 0; i < n && k + 1 < sizeof(run.fname); i++) {
		char c = (char)data[1 + i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-')
			run.fname[k++] = c;
	}
	if (k == 0)
		run.fname[k++] = 'f';
	run.fname[k] = '\0';
	run.content = data + (size > 0) + n;
	run.content_len = size - (size > 0) - n;
	char head[512];
	int hl = snprintf(head, sizeof(head), head_fmt, run.fname);
	uint8_t *b = malloc((size_t)hl + run.content_len + sizeof(tail));
	FUZZ_CHECK(b != NULL);
	memcpy(b, head, (size_t)hl);
	if (run.content_len)
		memcpy(b + hl, run.content, run.content_len);
	memcpy(b + hl + run.content_len, tail, sizeof(tail) - 1);
	*len = (size_t)hl + run.content_len + sizeof(tail) - 1;
	return b;
}

static bool
holds_delimiter(const uint8_t *p, size_t n)
{
	static const char d[] = "\r\n--" BOUNDARY;
	for (size_t i = 0; i + sizeof(d) - 1 <= n; i++)
		if (memcmp(p + i, d, sizeof(d) - 1) == 0)
			return true;
	/* The post processor may also hold back a tail that could begin one. */
	return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t chunks[8] = { 1, 7, 64, 500, 1024, 4096, 16384, 65536 };
	uint8_t *built = NULL;
	int sv[2];

	if (size < 1)
		return 0;
	memset(&run, 0, sizeof(run));
	run.chunk = chunks[(data[0] >> 1) & 7];
	if (data[0] & 1) {
		built = build(data + 1, size - 1, &run.len);
		run.body = built;
		run.well_formed = !holds_delimiter(run.content, run.content_len) &&
		    !(run.content_len > 0 && run.content[run.content_len - 1] == '\r');
	} else {
		run.body = data + 1;
		run.len = size - 1;
	}
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(1) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	FUZZ_CHECK(MHD_add_connection(mhd, sv[0], (struct sockaddr *)&sa, sizeof(sa)) == MHD_YES);
	static const char request[] = "POST /v1/files HTTP/1.1\r\nHost: fuzz\r\n"
	    "Content-Type: multipart/form-data; boundary=" BOUNDARY "\r\nContent-Length: 0\r\n\r\n";
	FUZZ_CHECK(write(sv[1], request, sizeof(request) - 1) == (ssize_t)(sizeof(request) - 1));
	for (int i = 0; i < 100 && !run.done; i++)
		MHD_run(mhd);
	FUZZ_CHECK(run.done);
	close(sv[1]);
	for (int i = 0; i < 10; i++)
		MHD_run(mhd);
	free(built);
	free(run.got);
	return 0;
}
