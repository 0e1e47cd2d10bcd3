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

long
cli_call(const char *who, const char *method, const char *url, const char *token,
    const char *const *headers, const char *body, json_t **out)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	struct buf resp;
	char auth[512];
	long status = -1;

	*out = NULL;
	buf_init(&resp, RESPONSE_MAX);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "Content-Type: application/json");
	for (size_t i = 0; headers && headers[i]; i++)
		h = curl_slist_append(h, headers[i]);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	CURLcode rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		fprintf(stderr, "%s: %s: %s\n", who, url, curl_easy_strerror(rc));
	} else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		*out = json_loadb(resp.data ? resp.data : "", resp.len, 0, NULL);
	}
	explicit_bzero(auth, sizeof(auth));
	buf_free(&resp);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
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
	CURL *c;
	struct curl_slist *h = NULL;
	struct buf resp;
	char auth[512], ct[160];
	long status = -1;

	*out = NULL;
	if (f == NULL) {
		fprintf(stderr, "%s: %s: cannot open\n", who, path);
		return -1;
	}
	fseeko(f, 0, SEEK_END);
	off_t size = ftello(f);
	rewind(f);
	c = curl_easy_init();
	buf_init(&resp, RESPONSE_MAX);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, ct);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, feed);
	curl_easy_setopt(c, CURLOPT_READDATA, f);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)size);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
	CURLcode rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		fprintf(stderr, "%s: %s: %s\n", who, url, curl_easy_strerror(rc));
	} else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		*out = json_loadb(resp.data ? resp.data : "", resp.len, 0, NULL);
	}
	explicit_bzero(auth, sizeof(auth));
	buf_free(&resp);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	fclose(f);
	return status;
}
