/*
 * fuzz_config.c - the config file parser: the input as a libconfig file
 * (config_load_string, the code config_load_file runs after reading), then
 * the same bytes as one NAME=VALUE setting through config_set() (what
 * MSGD_* variables and flags go through). A loaded config must have a
 * listen address config_parse_listen() takes, and config_diff() against
 * the defaults must name only known settings.
 */
#include <string.h>

#include "config/config.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

static void
changed(void *arg, const char *name, const char *from, const char *to, bool reloadable)
{
	FUZZ_CHECK(name != NULL && *name != '\0' && from != NULL && to != NULL);
	FUZZ_CHECK(strcmp(from, to) != 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);
	struct config def, c;
	char err[CONFIG_ERR_MAX], host[128];
	int port;

	/* @include reads other files: not the parser's surface. */
	if (strlen(text) != size || strcasestr(text, "@include") != NULL)
		goto out;
	config_defaults(&def);
	c = def;
	memset(err, 'X', sizeof(err));
	if (config_load_string(&c, text, "fuzz.conf", err) != 0) {
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && strncmp(err, "fuzz.conf:", 10) == 0);
	} else {
		FUZZ_CHECK(config_parse_listen(c.listen, host, sizeof(host), &port) == 0);
		FUZZ_CHECK(port >= 0 && port <= 65535);
		config_diff(&def, &c, changed, NULL);
	}
	char *eq = strchr(text, '=');
	if (eq) {
		*eq = '\0';
		c = def;
		memset(err, 'X', sizeof(err));
		if (config_set(&c, text, eq + 1, err) != 0)
			FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
		else
			FUZZ_CHECK(config_parse_listen(c.listen, host, sizeof(host), &port) == 0);
	}
out:
	free(text);
	return 0;
}
