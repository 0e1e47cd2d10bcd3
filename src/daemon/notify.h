/*
 * notify.h - telling systemd how msgd is doing (sd_notify(3), for a unit
 * of Type=notify: contrib/systemd/msgd.service). Without NOTIFY_SOCKET in
 * the environment every call does nothing.
 */
#ifndef MSGD_NOTIFY_H
#define MSGD_NOTIFY_H

struct event_base;

/* READY=1 once msgd listens; with WatchdogSec set, WATCHDOG=1 from the loop
 * every half period from then on (a stuck loop stops it). */
void notify_ready(struct event_base *base, int port);
/* STOPPING=1 when a graceful shutdown begins. */
void notify_stopping(void);
/* The watchdog's timer freed (before the event base). */
void notify_stop(void);

#endif
