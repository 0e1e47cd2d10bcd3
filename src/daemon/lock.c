/* lock.c - the data directory's lock file (see lock.h). */
#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

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
