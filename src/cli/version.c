/*
 * version.c - `msgd version [--json]`: msgd's version, the commit it was
 * built from (tools/gen_commit.sh bakes in `git describe --always --dirty`,
 * "unknown" outside a checkout), and the version of every library it links,
 * as the library reports it at run time (a library without such a function
 * shows the version of the headers it was built against).
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include <amqp.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <expat.h>
#include <jansson.h>
#include <libconfig.h>
#include <libpq-fe.h>
#include <magic.h>
#include <microhttpd.h>
#include <nats/nats.h>
#include <openssl/crypto.h>
#include <png.h>
#include <qrencode.h>
#include <sodium.h>
#include <sqlite3.h>
#include <wslay/wslay.h>
#include <yajl/yajl_version.h>
#include <zip.h>

#define VER_MAX 64

struct lib_version {
	const char *name;
	char version[VER_MAX];
};

/* "M.m.p" from M*10000 + m*100 + p (yajl). */
static void
from_number(char out[VER_MAX], int v)
{
	snprintf(out, VER_MAX, "%d.%d.%d", v / 10000, v / 100 % 100, v % 100);
}

static size_t
collect(struct lib_version *v)
{
	size_t n = 0;
	const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
	int mg = magic_version();

	v[n].name = "libmicrohttpd", snprintf(v[n++].version, VER_MAX, "%s", MHD_get_version());
	v[n].name = "libevent", snprintf(v[n++].version, VER_MAX, "%s", event_get_version());
	v[n].name = "jansson", snprintf(v[n++].version, VER_MAX, "%s", jansson_version_str());
	v[n].name = "sqlite", snprintf(v[n++].version, VER_MAX, "%s", sqlite3_libversion());
	v[n].name = "libpq", snprintf(v[n++].version, VER_MAX, "%d.%d", PQlibVersion() / 10000,
	    PQlibVersion() % 10000);  /* 10 and later: M*10000 + m */
	v[n].name = "libcurl", snprintf(v[n++].version, VER_MAX, "%s", cv->version);
	v[n].name = "openssl", snprintf(v[n++].version, VER_MAX, "%s", OpenSSL_version(OPENSSL_VERSION));
	v[n].name = "libsodium", snprintf(v[n++].version, VER_MAX, "%s", sodium_version_string());
	v[n].name = "libnats", snprintf(v[n++].version, VER_MAX, "%s", nats_GetVersion());
	v[n].name = "librabbitmq", snprintf(v[n++].version, VER_MAX, "%s", amqp_version());
	v[n].name = "yajl", from_number(v[n++].version, yajl_version());
	v[n].name = "libzip", snprintf(v[n++].version, VER_MAX, "%s", zip_libzip_version());
	v[n].name = "expat", snprintf(v[n++].version, VER_MAX, "%s", XML_ExpatVersion());
	v[n].name = "libmagic", snprintf(v[n++].version, VER_MAX, "%d.%d", mg / 100, mg % 100);
	v[n].name = "libpng", snprintf(v[n++].version, VER_MAX, "%s", png_get_libpng_ver(NULL));
	v[n].name = "libqrencode", snprintf(v[n++].version, VER_MAX, "%s", QRcode_APIVersionString());
	v[n].name = "libconfig", snprintf(v[n++].version, VER_MAX, "%d.%d.%d (headers)", LIBCONFIG_VER_MAJOR,
	    LIBCONFIG_VER_MINOR, LIBCONFIG_VER_REVISION);
	v[n].name = "wslay", snprintf(v[n++].version, VER_MAX, "%s (headers)", WSLAY_VERSION);
	return n;
}

#define LIBS_MAX 24

const char cli_version_usage[] =
    "msgd version [--json]\n"
    "\n"
    "Prints msgd's version, the commit it was built from and the versions of\n"
    "the libraries it runs with; --json as one object.\n";

int
cli_version(int argc, char **argv)
{
	struct lib_version v[LIBS_MAX];
	bool json = argc > 1 && strcmp(argv[1], "--json") == 0;
	size_t n;

	if (argc > 2 || (argc == 2 && !json)) {
		fputs(cli_version_usage, stderr);
		return 2;
	}
	n = collect(v);
	if (json) {
		json_t *libs = json_object();
		for (size_t i = 0; i < n; i++)
			json_object_set_new(libs, v[i].name, json_string(v[i].version));
		json_t *root = json_pack("{s:s, s:s, s:o}", "version", MSGD_VERSION, "commit", msgd_commit,
		    "libraries", libs);
		json_dumpf(root, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(root);
		return 0;
	}
	printf("msgd %s (commit %s)\n", MSGD_VERSION, msgd_commit);
	for (size_t i = 0; i < n; i++)
		printf("  %-13s %s\n", v[i].name, v[i].version);
	return 0;
}
