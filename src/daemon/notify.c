/*
 * notify.c - sd_notify(3) for Type=notify units (notify.h). The watchdog
 * keepalive is a timer on the event loop, so it stops when the loop is
 * stuck: systemd then restarts msgd (Restart=on-failure).
 */
#include "notify.h"

#include <stdint.h>
#include <stdio.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "../log/log.h"

static struct event *watchdog;

static void
on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	sd_notify(0, "WATCHDOG=1");
}

void
notify_ready(struct event_base *base, int port)
{
	uint64_t usec = 0;
	char status[64];

	snprintf(status, sizeof(status), "READY=1\nSTATUS=listening on port %d", port);
	if (sd_notify(0, status) > 0)
		log_info("told systemd: ready");
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0 && watchdog == NULL) {
		struct timeval tv = { .tv_sec = (time_t)(usec / 2 / 1000000), .tv_usec = (suseconds_t)(usec / 2 % 1000000) };
		watchdog = event_new(base, -1, EV_PERSIST, on_watchdog, NULL);
		event_add(watchdog, &tv);
		sd_notify(0, "WATCHDOG=1");
	}
}

void
notify_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}

void
notify_stop(void)
{
	if (watchdog) {
		event_free(watchdog);
		watchdog = NULL;
	}
}
