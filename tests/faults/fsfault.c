/*
 * fsfault.c - an LD_PRELOAD shim that makes a process's disk misbehave on
 * command, for msgd's fault tests: fsync/fdatasync and write/pwrite on the
 * files whose path contains FSFAULT_MATCH (default "msgd.db": the database,
 * its WAL and journal) fail with EIO, or are delayed.
 *
 *   FSFAULT_CTL=/path/ctl  a file holding the current mode, re-read when its
 *                          modification time changes:
 *                            off            behave (the default)
 *                            sync-eio       fsync/fdatasync fail with EIO
 *                            write-eio      write/pwrite fail with EIO
 *                            delay MS       fsync/fdatasync take MS ms longer
 *   FSFAULT_MATCH=TEXT     which files (substring of /proc/self/fd/N's target)
 *
 * Each intercepted call on a matching file bumps a counter in FSFAULT_CTL.n
 * (best effort), so a test can wait until a fault was really hit.
 * Test tooling only: built by `make test`, never linked into msgd.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum mode { M_OFF, M_SYNC_EIO, M_WRITE_EIO, M_DELAY };

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static enum mode cur = M_OFF;
static long delay_ms;
static struct timespec ctl_mtime;
static struct timespec ctl_checked;   /* CLOCK_MONOTONIC of the last stat */
static unsigned long hits;

#define CTL_CHECK_NS 2000000L          /* stat the control file at most every 2 ms */

static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);

static void
resolve(void)
{
	if (real_fsync)
		return;
	real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	real_write = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	real_pwrite = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
	real_pwrite64 = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite64");
}

/* Re-read the control file when it changed. */
static enum mode
mode_now(long *delay)
{
	const char *ctl = getenv("FSFAULT_CTL");
	struct stat st;
	enum mode m;

	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&mu);
	long since = (now.tv_sec - ctl_checked.tv_sec) * 1000000000L + (now.tv_nsec - ctl_checked.tv_nsec);
	if (since < CTL_CHECK_NS)
		ctl = NULL;
	else
		ctl_checked = now;
	if (ctl && stat(ctl, &st) == 0 &&
	    (st.st_mtim.tv_sec != ctl_mtime.tv_sec || st.st_mtim.tv_nsec != ctl_mtime.tv_nsec)) {
		char buf[64] = "";
		int fd = open(ctl, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			ssize_t n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			buf[n > 0 ? n : 0] = '\0';
		}
		ctl_mtime = st.st_mtim;
		if (strncmp(buf, "sync-eio", 8) == 0)
			cur = M_SYNC_EIO;
		else if (strncmp(buf, "write-eio", 9) == 0)
			cur = M_WRITE_EIO;
		else if (strncmp(buf, "delay", 5) == 0) {
			cur = M_DELAY;
			delay_ms = strtol(buf + 5, NULL, 10);
		} else
			cur = M_OFF;
	}
	m = cur;
	*delay = delay_ms;
	pthread_mutex_unlock(&mu);
	return m;
}

static int
matches(int fd)
{
	char link[64], target[512];
	const char *want = getenv("FSFAULT_MATCH");
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return 0;
	target[n] = '\0';
	return strstr(target, want && *want ? want : "msgd.db") != NULL;
}

static void
count_hit(void)
{
	const char *ctl = getenv("FSFAULT_CTL");
	char path[600], buf[32];
	unsigned long h;

	if (ctl == NULL)
		return;
	pthread_mutex_lock(&mu);
	h = ++hits;
	pthread_mutex_unlock(&mu);
	snprintf(path, sizeof(path), "%s.n", ctl);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	int len = snprintf(buf, sizeof(buf), "%lu\n", h);
	resolve();
	(void)!real_write(fd, buf, (size_t)len);
	close(fd);
}

/* Before a sync: fail (-1, EIO), delay, or go on (0). */
static int
before_sync(int fd)
{
	long d;
	enum mode m = mode_now(&d);

	if (m == M_OFF || m == M_WRITE_EIO || !matches(fd))
		return 0;
	count_hit();
	if (m == M_SYNC_EIO) {
		errno = EIO;
		return -1;
	}
	struct timespec ts = { .tv_sec = d / 1000, .tv_nsec = (d % 1000) * 1000000L };
	nanosleep(&ts, NULL);
	return 0;
}

static int
write_fails(int fd)
{
	long d;

	if (mode_now(&d) != M_WRITE_EIO || !matches(fd))
		return 0;
	count_hit();
	errno = EIO;
	return 1;
}

int
fsync(int fd)
{
	resolve();
	return before_sync(fd) != 0 ? -1 : real_fsync(fd);
}

int
fdatasync(int fd)
{
	resolve();
	return before_sync(fd) != 0 ? -1 : real_fdatasync(fd);
}

ssize_t
write(int fd, const void *buf, size_t n)
{
	resolve();
	if (fd > 2 && write_fails(fd))
		return -1;
	return real_write(fd, buf, n);
}

ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
	resolve();
	return write_fails(fd) ? -1 : real_pwrite(fd, buf, n, off);
}

ssize_t
pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	resolve();
	return write_fails(fd) ? -1 : real_pwrite64(fd, buf, n, off);
}
