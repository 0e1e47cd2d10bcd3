/* http.c - one blocking API call for the command-line clients (libcurl). */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "../util/util.h"

#define RESPONSE_MAX (1024 * 1024)

static size_t
collect(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t len = size * n;
	buf_append(b, data, len); /* over the cap: the rest is dropped, the parse fails */
	return len;
}

/* Run the request c prepared (with its headers h): the status, or -1 said on
 * stderr; *out the answer's JSON (NULL when it is none). Frees c and h. */
static long
perform(const char *who, const char *url, CURL *c, struct curl_slist *h, json_t **out)
{
	struct buf resp;
	long status = -1;

	buf_init(&resp, RESPONSE_MAX);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
	CURLcode rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		fprintf(stderr, "%s: %s: %s\n", who, url, curl_easy_strerror(rc));
	} else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		*out = json_loadb(resp.data ? resp.data : "", resp.len, 0, NULL);
	}
	buf_free(&resp);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return status;
}

/* The Authorization header's list (auth is wiped by the caller after the call). */
static struct curl_slist *
auth_headers(const char *token, char *auth, size_t cap)
{
	snprintf(auth, cap, "Authorization: Bearer %s", token);
	return curl_slist_append(NULL, auth);
}

long
cli_call(const char *who, const char *method, const char *url, const char *token,
    const char *const *headers, const char *body, json_t **out)
{
	CURL *c = curl_easy_init();
	char auth[512];

	*out = NULL;
	struct curl_slist *h = auth_headers(token, auth, sizeof(auth));
	h = curl_slist_append(h, "Content-Type: application/json");
	for (size_t i = 0; headers && headers[i]; i++)
		h = curl_slist_append(h, headers[i]);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	long status = perform(who, url, c, h, out);
	explicit_bzero(auth, sizeof(auth));
	return status;
}

static size_t
feed(char *buf, size_t size, size_t n, void *arg)
{
	return fread(buf, 1, size * n, arg);
}

long
cli_upload(const char *who, const char *url, const char *token, const char *path,
    const char *content_type, json_t **out)
{
	FILE *f = fopen(path, "rb");
	char auth[512], ct[160];

	*out = NULL;
	if (f == NULL) {
		fprintf(stderr, "%s: %s: cannot open\n", who, path);
		return -1;
	}
	fseeko(f, 0, SEEK_END);
	off_t size = ftello(f);
	rewind(f);
	CURL *c = curl_easy_init();
	struct curl_slist *h = auth_headers(token, auth, sizeof(auth));
	snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
	h = curl_slist_append(h, ct);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, feed);
	curl_easy_setopt(c, CURLOPT_READDATA, f);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)size);
	long status = perform(who, url, c, h, out);
	explicit_bzero(auth, sizeof(auth));
	fclose(f);
	return status;
}
