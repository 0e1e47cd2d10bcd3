/*
 * lock.h - one msgd per data directory.
 *
 * The lock is flock(LOCK_EX|LOCK_NB) on DATA/msgd.lock, taken before the
 * store is opened and held for the process's life (the kernel releases it
 * when the process ends, however it ends). The file holds the holder's PID
 * on its first line and, once a daemon listens, the address it listens on
 * on the second, so that `msgd users` can find the running daemon and go
 * through its API. The file is never removed: removing a lock file races
 * with the next process opening it.
 *
 * `msgd serve` takes the lock or exits; commands that write the data
 * directory themselves (`msgd users`) take it while they work.
 */
#ifndef MSGD_LOCK_H
#define MSGD_LOCK_H

#include <stddef.h>

#define DATADIR_LOCK_FILE "msgd.lock"
#define DATADIR_LISTEN_MAX 128
#define DATADIR_ID_MAX 65        /* an instance id and its NUL */

struct datadir_holder {
	long pid;                          /* 0 when the file does not say */
	char listen[DATADIR_LISTEN_MAX];   /* "" when the holder does not listen (yet) */
};

/* Lock dir. 0: locked, *fd holds the lock (and the file says our PID);
 * 1: another process holds it, *holder says who; -1: error, err says why. */
int datadir_lock(const char *dir, int *fd, struct datadir_holder *holder, char *err, size_t errlen);
/* Record the address the holder listens on (ADDR:PORT) next to its PID. */
int datadir_lock_note(int fd, const char *listen);
/* Release (close the descriptor). -1 is fine. */
void datadir_unlock(int fd);

/*
 * The data directory's instance id (DATA/instance.id): made once, at the
 * first start, as "<host name>-<8 random hex digits>", and read at every
 * start after. One msgd holds a data directory, so the id is unique among
 * instances sharing a database (copies of one data directory excepted) and
 * the same across restarts, whatever the host or port. Call with the lock
 * held. 0 with out, or -1 with err.
 */
#define DATADIR_ID_FILE "instance.id"
int datadir_instance_id(const char *dir, char *out, size_t cap, char *err, size_t errlen);

#endif
