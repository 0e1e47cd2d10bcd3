/*
 * bus.c - the ring of recent events and the subscribers' cursors.
 *
 * Every store read runs on the store's reader pool (store_read_submit):
 *  - the bus's own read of new events (struct fetch): at most one in
 *    flight; bus_committed() only raises b->want meanwhile, and the read's
 *    done() reads again while the head is short of it;
 *  - a subscriber's catch-up page (struct page_read): at most one per
 *    subscriber; bus_next() returns NULL meanwhile and the page's arrival
 *    wakes the subscriber.
 * A read belongs to itself: it points back at its bus or subscriber, and
 * bus_close() / bus_unsubscribe() clear that pointer, so a read that comes
 * back later is freed and dropped. Results are applied by seq only (the
 * ring takes seqs above its head, a subscriber skips what its cursor has
 * passed), so a read that is stale when it lands changes nothing.
 */
#include "bus.h"

#include <stdlib.h>
#include <string.h>


#include "../log/log.h"
#include "../store/store.h"
#include "../util/util.h"

#define FETCH_PAGE 500     /* events read from the store at a time */

struct page_read;

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
	struct page_read *reading;    /* the page read in flight, or NULL */
	bool in_next;                 /* inside bus_next(): a page landing inline wakes nobody */
	bool failed;                  /* the last page read failed: bus_next() says so once */
};

/* The bus's read of new events. */
struct fetch {
	struct store_read rd;
	struct bus *bus;              /* NULL once the bus closed */
	int64_t since;
	struct store_event *ev;
	size_t n;
	int rc;
};

/* A subscriber's catch-up page. */
struct page_read {
	struct store_read rd;
	struct bus_sub *sub;          /* NULL once unsubscribed */
	int64_t since;
	struct store_event *ev;
	size_t n;
	int rc;
};

struct bus {
	struct store *st;
	struct store_event *ring;     /* ring[seq % size] holds seq when seq in (head-size, head] */
	size_t size;
	int64_t head;               /* highest seq in the ring */
	int64_t tail;               /* lowest seq in the ring (head - count + 1) */
	int64_t want;               /* the highest seq bus_committed() was told of */
	struct fetch *fetching;     /* the read of new events in flight, or NULL */
	struct bus_sub *subs;
};

static void fetch_start(struct bus *b);

int
bus_open(struct bus **out, struct store *st, size_t ring_size)
{
	struct bus *b = xcalloc(1, sizeof(*b));

	b->st = st;
	b->size = ring_size ? ring_size : 4096;
	b->ring = xcalloc(b->size, sizeof(*b->ring));
	/* Start-up: before the loop serves, so on the loop's reader. */
	if (store_events_head(st, &b->head) != 0) {
		free(b->ring);
		free(b);
		return -1;
	}
	b->tail = b->head + 1;  /* empty ring */
	b->want = b->head;
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
	if (b->fetching)
		b->fetching->bus = NULL;
	for (size_t i = 0; i < b->size; i++)
		store_event_clear(&b->ring[i]);
	free(b->ring);
	free(b);
}

void
bus_forget(struct bus *b)
{
	for (size_t i = 0; i < b->size; i++)
		store_event_clear(&b->ring[i]);
	b->tail = b->head + 1;  /* empty: subscribers read from the store */
}

int64_t
bus_head(const struct bus *b)
{
	return b->want > b->head ? b->want : b->head;
}

bool
bus_cursor_valid(struct bus *b, int64_t seq)
{
	/* The end of the log as this bus knows it: every commit of this
	 * instance, and of the others as far as their notices arrived. */
	return seq >= 0 && seq <= bus_head(b);
}

/* --- the bus's read of new events --- */

static void
fetch_run(struct store *st, void *arg)
{
	struct fetch *f = arg;

	f->rc = store_events_read(st, 0, f->since, FETCH_PAGE, &f->ev, &f->n);
}

static void
ring_put(struct bus *b, struct store_event *e)
{
	struct store_event *slot = &b->ring[(size_t)e->seq % b->size];

	store_event_clear(slot);
	*slot = *e; /* the ring owns the text now */
	*e = (struct store_event){ 0 };
	b->head = slot->seq;
	if (b->head - b->tail + 1 > (int64_t)b->size)
		b->tail = b->head - (int64_t)b->size + 1;
}

static void
fetch_done(void *arg)
{
	struct fetch *f = arg;
	struct bus *b = f->bus;

	if (b == NULL) {
		store_events_free(f->ev, f->n);
		free(f);
		return;
	}
	b->fetching = NULL;
	int rc = f->rc;
	size_t n = f->n;
	if (rc != 0)
		log_error("bus: cannot read new events");
	/* In seq order, only what is above the head (the head may have moved
	 * on meanwhile when nobody followed). */
	for (size_t i = 0; i < n; i++)
		if (f->ev[i].seq > b->head)
			ring_put(b, &f->ev[i]);
	store_events_free(f->ev, f->n);
	free(f);
	/* More than a page, or commits noticed meanwhile: read on. A read that
	 * found nothing waits for the next commit rather than spin. */
	if (rc == 0 && n > 0 && b->subs && b->head < b->want)
		fetch_start(b);
	for (struct bus_sub *s = b->subs, *next; s; s = next) {
		next = s->next;  /* wake() may unsubscribe */
		if (s->cursor < b->head)
			s->wake(s->arg);
	}
}

static void
fetch_start(struct bus *b)
{
	struct fetch *f = xcalloc(1, sizeof(*f));

	f->bus = b;
	f->since = b->head;
	f->rd = (struct store_read){ .run = fetch_run, .done = fetch_done, .arg = f };
	b->fetching = f;
	/* Without a loop, done() runs before this returns: f is gone then. */
	store_read_submit(b->st, &f->rd);
}

void
bus_committed(struct bus *b, int64_t last_seq)
{
	if (last_seq > b->want)
		b->want = last_seq;
	if (b->subs == NULL) {
		/* Nobody follows: note the end of the log, read nothing. */
		if (last_seq > b->head) {
			b->head = last_seq;
			b->tail = b->head + 1; /* the ring is empty */
		}
		return;
	}
	if (b->fetching == NULL && b->head < b->want)
		fetch_start(b);
}

/* --- subscribers --- */

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
	/* Commits noticed while nobody followed are not in the ring: the head
	 * was moved past them. Anything noticed but not read yet is read now. */
	if (b->fetching == NULL && b->head < b->want)
		fetch_start(b);
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
	if (s->reading)
		s->reading->sub = NULL;  /* its page is dropped when it lands */
	page_clear(s);
	store_event_clear(&s->out);
	free(s);
}

int64_t
bus_cursor(const struct bus_sub *s)
{
	return s->cursor;
}

bool
bus_event_wanted(const struct bus_filter *f, const struct store_event *e)
{
	if (e->org_id != f->org_id || e->audit)
		return false;
	if (f->channel && (e->channel == NULL || strcmp(f->channel, e->channel) != 0))
		return false;
	return f->conversation_id == 0 || e->conversation_id == f->conversation_id;
}

static void
page_run(struct store *st, void *arg)
{
	struct page_read *p = arg;

	p->rc = store_events_read(st, 0, p->since, FETCH_PAGE, &p->ev, &p->n);
}

static void
page_done(void *arg)
{
	struct page_read *p = arg;
	struct bus_sub *s = p->sub;

	if (s == NULL) {
		store_events_free(p->ev, p->n);
		free(p);
		return;
	}
	s->reading = NULL;
	bool found = p->n > 0;
	if (p->rc != 0) {
		s->failed = true;
		store_events_free(p->ev, p->n);
	} else {
		page_clear(s);
		s->page = p->ev;
		s->npage = p->n;
	}
	bool err = p->rc != 0;
	free(p);
	/* An empty page (the log ends at the cursor after all) waits for the
	 * next commit's wake rather than read again at once. */
	if (!s->in_next && (err || found))
		s->wake(s->arg);
}

/* Ask the store for the page after the cursor. true when it is here
 * already (read inline: no loop, or the store closing). */
static bool
page_start(struct bus_sub *s)
{
	struct page_read *p = xcalloc(1, sizeof(*p));

	page_clear(s);
	p->sub = s;
	p->since = s->cursor;
	p->rd = (struct store_read){ .run = page_run, .done = page_done, .arg = p };
	s->reading = p;
	s->in_next = true;
	store_read_submit(s->bus->st, &p->rd);
	s->in_next = false;
	return s->reading == NULL;
}

const struct store_event *
bus_next(struct bus_sub *s, bool *err)
{
	struct bus *b = s->bus;

	*err = false;
	if (s->failed) {
		s->failed = false;
		*err = true;
		return NULL;
	}
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
	/* Behind the ring: catch up from the store, a page at a time, off the
	 * loop. Until the page lands the subscriber waits as if caught up. */
	if (s->ipage == s->npage) {
		if (s->reading || !page_start(s))
			return NULL;
		if (s->failed) {
			s->failed = false;
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
