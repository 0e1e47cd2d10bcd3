/* bus.c - the ring of recent events and the subscribers' cursors. */
#include "bus.h"

#include <stdlib.h>
#include <string.h>


#include "../log/log.h"
#include "../store/store.h"
#include "../util/util.h"

#define FETCH_PAGE 500     /* events read from the store at a time */

struct bus_sub {
	struct bus *bus;
	struct bus_sub *prev, *next;
	int64_t cursor;             /* last seq delivered */
	void (*wake)(void *arg);
	void *arg;
	/* Catch-up page read from the store, when behind the ring. */
	struct store_event *page;
	size_t npage, ipage;
	struct store_event out;       /* what bus_next returned from the page */
};

struct bus {
	struct store *st;
	struct store_event *ring;     /* ring[seq % size] holds seq when seq in (head-size, head] */
	size_t size;
	int64_t head;               /* highest seq in the ring */
	int64_t tail;               /* lowest seq in the ring (head - count + 1) */
	struct bus_sub *subs;
};

int
bus_open(struct bus **out, struct store *st, size_t ring_size)
{
	struct bus *b = xcalloc(1, sizeof(*b));

	b->st = st;
	b->size = ring_size ? ring_size : 4096;
	b->ring = xcalloc(b->size, sizeof(*b->ring));
	if (store_events_head(st, &b->head) != 0) {
		free(b->ring);
		free(b);
		return -1;
	}
	b->tail = b->head + 1;  /* empty ring */
	*out = b;
	return 0;
}

void
bus_close(struct bus *b)
{
	if (b == NULL)
		return;
	while (b->subs)
		bus_unsubscribe(b->subs);
	for (size_t i = 0; i < b->size; i++)
		store_event_clear(&b->ring[i]);
	free(b->ring);
	free(b);
}

int64_t
bus_head(const struct bus *b)
{
	return b->head;
}

bool
bus_cursor_valid(struct bus *b, int64_t seq)
{
	int64_t head = 0;

	if (seq < 0)
		return false;
	if (seq <= b->head)
		return true;
	return store_events_head(b->st, &head) == 0 && seq <= head;
}

void
bus_committed(struct bus *b, int64_t last_seq)
{
	if (b->subs == NULL) {
		/* Nobody follows: note the end of the log, read nothing. */
		if (last_seq > b->head) {
			b->head = last_seq;
			b->tail = b->head + 1; /* the ring is empty */
		}
		return;
	}
	/* Read what is new, a page at a time, into the ring. */
	while (b->head < last_seq) {
		struct store_event *page;
		size_t n;
		if (store_events_read(b->st, b->head, FETCH_PAGE, &page, &n) != 0) {
			log_error("bus: cannot read new events");
			return;
		}
		if (n == 0) {
			free(page);
			break;
		}
		for (size_t i = 0; i < n; i++) {
			struct store_event *slot = &b->ring[(size_t)page[i].seq % b->size];
			store_event_clear(slot);
			*slot = page[i]; /* the ring owns the text now */
			b->head = slot->seq;
			if (b->head - b->tail + 1 > (int64_t)b->size)
				b->tail = b->head - (int64_t)b->size + 1;
		}
		free(page);
	}
	for (struct bus_sub *s = b->subs, *next; s; s = next) {
		next = s->next;  /* wake() may unsubscribe */
		if (s->cursor < b->head)
			s->wake(s->arg);
	}
}

struct bus_sub *
bus_subscribe(struct bus *b, int64_t since, void (*wake)(void *arg), void *arg)
{
	struct bus_sub *s = xcalloc(1, sizeof(*s));

	s->bus = b;
	s->cursor = since < 0 ? 0 : since;
	s->wake = wake;
	s->arg = arg;
	s->next = b->subs;
	if (b->subs)
		b->subs->prev = s;
	b->subs = s;
	return s;
}

static void
page_clear(struct bus_sub *s)
{
	for (size_t i = 0; i < s->npage; i++)
		store_event_clear(&s->page[i]);
	free(s->page);
	s->page = NULL;
	s->npage = s->ipage = 0;
}

void
bus_unsubscribe(struct bus_sub *s)
{
	struct bus *b = s->bus;

	if (s->prev)
		s->prev->next = s->next;
	else
		b->subs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	page_clear(s);
	store_event_clear(&s->out);
	free(s);
}

int64_t
bus_cursor(const struct bus_sub *s)
{
	return s->cursor;
}

const struct store_event *
bus_next(struct bus_sub *s, bool *err)
{
	struct bus *b = s->bus;

	*err = false;
	if (s->cursor >= b->head)
		return NULL;
	/* In the ring: the common case for a live follower. */
	if (s->cursor + 1 >= b->tail) {
		struct store_event *e = &b->ring[(size_t)(s->cursor + 1) % b->size];
		if (e->seq > s->cursor) {
			/* Back on the ring: what is left of a catch-up page is stale
			 * (and would repeat events if the subscriber fell behind again). */
			if (s->npage)
				page_clear(s);
			s->cursor = e->seq;
			return e;
		}
		/* A gap in the seqs: let the store say what comes next. */
	}
	/* Behind the ring: catch up from the store. */
	if (s->ipage == s->npage) {
		page_clear(s);
		if (store_events_read(b->st, s->cursor, FETCH_PAGE, &s->page, &s->npage) != 0) {
			*err = true;
			return NULL;
		}
		if (s->npage == 0)
			return NULL;
	}
	/* Never step back: skip what the cursor has passed. */
	while (s->ipage < s->npage && s->page[s->ipage].seq <= s->cursor)
		store_event_clear(&s->page[s->ipage++]);
	if (s->ipage == s->npage)
		return bus_next(s, err);
	store_event_clear(&s->out);
	s->out = s->page[s->ipage];
	s->page[s->ipage++] = (struct store_event){ 0 };
	s->cursor = s->out.seq;
	return &s->out;
}
