/* lock.c - the data directory's lock file (see lock.h). */
#include "lock.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <sodium.h>

#define LOCK_TEXT_MAX (32 + DATADIR_LISTEN_MAX)

/* Replace the file's text with "PID\nLISTEN\n". */
static int
write_text(int fd, const char *listen)
{
	char text[LOCK_TEXT_MAX];
	int n = snprintf(text, sizeof(text), "%ld\n%s\n", (long)getpid(), listen ? listen : "");

	if (n < 0 || (size_t)n >= sizeof(text))
		return -1;
	if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)n, 0) != n)
		return -1;
	return 0;
}

static void
read_holder(int fd, struct datadir_holder *h)
{
	char text[LOCK_TEXT_MAX];
	ssize_t n = pread(fd, text, sizeof(text) - 1, 0);

	memset(h, 0, sizeof(*h));
	if (n <= 0)
		return;
	text[n] = '\0';
	char *nl = strchr(text, '\n');
	h->pid = strtol(text, NULL, 10);
	if (nl == NULL)
		return;
	char *addr = nl + 1, *end = strchr(addr, '\n');
	if (end == NULL)
		return;  /* being written */
	*end = '\0';
	snprintf(h->listen, sizeof(h->listen), "%s", addr);
}

int
datadir_lock(const char *dir, int *fd, struct datadir_holder *holder, char *err, size_t errlen)
{
	char path[1100];

	*fd = -1;
	memset(holder, 0, sizeof(*holder));
	snprintf(path, sizeof(path), "%s/%s", dir, DATADIR_LOCK_FILE);
	int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (f < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	while (flock(f, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK) {
			read_holder(f, holder);
			close(f);
			return 1;
		}
		snprintf(err, errlen, "cannot lock %s: %s", path, strerror(errno));
		close(f);
		return -1;
	}
	if (write_text(f, NULL) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		close(f);
		return -1;
	}
	*fd = f;
	return 0;
}

int
datadir_lock_note(int fd, const char *listen)
{
	return write_text(fd, listen);
}

void
datadir_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

/* A line of printable ASCII without spaces, at most cap - 1 bytes. */
static bool
id_ok(const char *s, size_t n, size_t cap)
{
	if (n == 0 || n >= cap)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return false;
	return true;
}

int
datadir_instance_id(const char *dir, char *out, size_t cap, char *err, size_t errlen)
{
	char path[4096], tmp[4096 + 8], text[DATADIR_ID_MAX + 2], host[DATADIR_ID_MAX] = "";
	unsigned char rnd[4];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, DATADIR_ID_FILE);
	if ((f = fopen(path, "r")) != NULL) {
		size_t n = fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
		text[n] = '\0';
		n = strcspn(text, "\n");
		if (!id_ok(text, n, cap)) {
			snprintf(err, errlen, "%s does not hold an instance id (1..%zu printable bytes)", path,
			    cap - 1);
			return -1;
		}
		snprintf(out, cap, "%.*s", (int)n, text);
		return 0;
	}
	if (errno != ENOENT) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	if (gethostname(host, sizeof(host) - 1) != 0 || !id_ok(host, strlen(host), cap - 9))
		snprintf(host, sizeof(host), "msgd");
	randombytes_buf(rnd, sizeof(rnd));
	/* The host name gives way: the id fits cap (the random digits stay). */
	snprintf(text, sizeof(text), "%.*s-%02x%02x%02x%02x", (int)(cap > 10 ? cap - 10 : 0), host, rnd[0],
	    rnd[1], rnd[2], rnd[3]);
	/* Whole or not at all: a temporary file, synced, renamed. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t len = strlen(text);
	bool ok = fd >= 0 && write(fd, text, len) == (ssize_t)len && write(fd, "\n", 1) == 1 &&
	    fsync(fd) == 0;
	if (fd >= 0 && close(fd) != 0)
		ok = false;
	if (!ok || rename(tmp, path) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	snprintf(out, cap, "%s", text);
	return 0;
}
