/*
 * loadgen.c - HTTP/1.1 keep-alive load generator for the msgd benchmarks.
 *
 * Like wrk, but every request can be built (and HMAC-signed) individually,
 * and it can run at a fixed rate with latency corrected for coordinated
 * omission.
 *
 * Design
 * ------
 * - The -c connections are split across -t threads. Each thread owns its
 *   connections, one epoll instance (level-triggered), its statistics and
 *   its buffers; threads share only read-only configuration and two atomic
 *   counters (the contact/sequence counter and the stop flag), so there is no
 *   locking on the hot path. Results are merged by main() after join.
 * - One request in flight per connection. Closed loop (default): a response
 *   immediately triggers the next request on the same connection. Open loop
 *   (-R): each thread owns an evenly spaced schedule of intended start times
 *   (rate split by connection share); a due request takes an idle connection
 *   (LIFO stack) or waits for one; a timerfd wakes the thread for the next
 *   intended time. Latency is measured from the intended time.
 * - Phases are defined by the monotonic clock: [t0, warm_end) is warm-up,
 *   [warm_end, meas_end) is measured. A request belongs to the measured phase
 *   if its (intended) start lies in it; its response is counted even if it
 *   arrives during the drain. After meas_end no request is started; the
 *   thread waits up to 10 s for in-flight responses (later ones count as
 *   errors.timeout). acked_total counts 2xx over all phases.
 * - Requests: GET requests are pre-rendered once per path and sent straight
 *   from that memory. POST bodies are rendered from pre-built constant
 *   segments into a per-thread scratch buffer, signed with a per-thread
 *   EVP_MAC context that is re-initialised (key kept) for every request, and
 *   copied behind the headers into a per-connection write buffer. Partial
 *   writes switch the connection to EPOLLIN|EPOLLOUT until drained.
 * - Responses: read() into a per-thread 64 KiB scratch buffer and parsed in
 *   place by an incremental parser (status line, Content-Length,
 *   Transfer-Encoding: chunked with trailers, Connection: close, HTTP/1.0,
 *   read-until-EOF bodies, 1xx interim responses). Body bytes are skipped,
 *   never stored; only an incomplete header block / chunk line is kept in a
 *   per-connection leftover buffer, capped at 1 MiB (errors.parse beyond).
 * - Stale epoll events are ignored via a per-connection generation number
 *   stored in the event data next to the connection index.
 * - A connection closed by the server is reopened (reconnects++); if a
 *   request was in flight it is lost and counted as errors.read. Failed
 *   connects count errors.connect and retry with backoff (10 ms .. 1 s).
 *
 * Build: gcc -std=c17 -O2 -Wall -Wextra -D_GNU_SOURCE -o loadgen loadgen.c -lcrypto -lpthread
 */

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

/* ------------------------------------------------------------------ */
/* Limits                                                              */

#define NS_PER_S 1000000000ull
#define MAX_THREADS 64
#define MAX_CONNS 50000
#define MAX_EXTRA_HEADERS 8
#define MAX_HEADER_LEN 1024
#define MAX_PATHS 1000000
#define MAX_PATH_LEN 4096
#define MAX_FIELD_LEN 64            /* --pnid, --channel */
#define MAX_PREFIX_LEN 32
#define MAX_SECRET_LEN 1024
#define MAX_CONTACTS 10000000u
#define RBUF_CAP (1u << 20)         /* unparsed response bytes per connection */
#define SCRATCH_SIZE (64u << 10)    /* per-thread read buffer */
#define DRAIN_NS (10ull * NS_PER_S) /* wait for in-flight responses at the end */
#define LAT_CAP (1u << 26)          /* latency samples per thread */
#define IDS_FLUSH (64u << 20)       /* per-thread id buffer size before a flush */
#define MAX_EVENTS 256
#define ID_CAP 96

enum { MODE_INGEST, MODE_SEND, MODE_GET };
enum { C_CLOSED, C_BACKOFF, C_CONNECTING, C_IDLE, C_BUSY };
enum { P_IDLE, P_HEAD, P_BODY, P_CHUNK_SIZE, P_CHUNK_DATA, P_CHUNK_CRLF, P_TRAILER, P_UNTIL_EOF };
enum { PR_MORE, PR_DONE, PR_ERR };

#define TIMER_KEY UINT64_MAX

/* Roughly 1000 characters of constant ASCII prose: the WhatsApp text body. */
static const char INGEST_TEXT[] =
    "Hello, I placed an order last week and wanted to check on a few things "
    "before it ships. First, could you confirm that the delivery address is the "
    "one on my account, since I moved recently and only updated it yesterday? "
    "Second, the product page said the jacket comes in navy and charcoal, but my "
    "confirmation email only mentions a color code, so I am not sure which one I "
    "will receive. Third, is it possible to add a gift receipt and leave out the "
    "printed invoice, because this is a present for my brother and I would "
    "rather he not see the price. I also noticed that the estimated delivery "
    "window moved from Tuesday to Thursday, which is fine, but I will be "
    "traveling on Friday, so if it slips again I would like to pick it up at the "
    "store instead. Finally, do you offer free returns on sale items, or only on "
    "full price ones? Thanks a lot for your help, and sorry for the long "
    "message, I just want to make sure everything arrives on time and in the "
    "right size. My order number and phone number are in the confirmation email "
    "if you need them. Have a great day!";

/* Constant body segments (the variable parts go between them). */
#define ING_B "\"},\"wa_id\":\"1650555"
#define ING_C "\"}],\"messages\":[{\"from\":\"1650555"
#define ING_D "\",\"id\":\""
#define ING_E "\",\"timestamp\":\""
#define SEND_B "\",\"text\":\"Your order #"
#define SEND_C " ships today. Reply STOP to opt out.\",\"client_id\":\""
#define SEND_D "\"}"

/* ------------------------------------------------------------------ */
/* Configuration (written by main before the threads start, then read-only) */

typedef struct {
    char *p;
    size_t n;
} strbuf;

static struct {
    int mode;
    const char *mode_name;
    const char *url;
    struct sockaddr_in addr;
    char hostport[300];
    char url_path[MAX_PATH_LEN + 1];
    int conns, threads;
    double duration, warmup, rate;
    long long total;    /* -n: stop after this many requests (0 = no limit) */
    const char *headers[MAX_EXTRA_HEADERS];
    int nheaders;
    bool user_host, user_ctype;
    /* mode options */
    const char *pnid, *secret, *channel, *ids_path, *paths_file;
    char prefix[MAX_PREFIX_LEN + 1];
    unsigned contacts;
    bool random;
    char **paths;
    size_t npaths;
    /* pre-rendered request parts */
    strbuf req_prefix;  /* POST: request line + fixed headers (no Content-Length) */
    strbuf seg_a;       /* POST: first body segment (depends on --pnid / --channel) */
    strbuf seg_f;       /* ingest: last body segment (the text) */
    strbuf *get_reqs;   /* GET: one complete request per path */
    size_t body_cap, wcap;
    /* phases (CLOCK_MONOTONIC ns) */
    uint64_t t0, warm_end, meas_end;
} cfg = {
    .conns = 64, .threads = 1, .duration = 10.0, .contacts = 1000,
};

static atomic_bool g_stop;              /* SIGINT / SIGTERM */
static atomic_uint_fast64_t g_seq;      /* contact / "to" sequence, shared */
static atomic_llong g_issued;           /* requests started, for -n */
static EVP_MAC *g_mac;
static FILE *g_ids;
static pthread_mutex_t g_ids_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool g_ids_err;

/* ------------------------------------------------------------------ */
/* Per-connection and per-thread state                                 */

typedef struct {
    int fd;
    uint32_t gen;           /* bumped on close: invalidates queued epoll events */
    uint8_t state, ps;      /* connection state, parser state */
    bool want_out, in_idle, measured, close_after;
    uint16_t status;
    uint32_t backoff_ms;
    uint64_t rem;           /* body / chunk bytes still to skip */
    uint64_t start_ns;      /* (intended) request start */
    uint64_t retry_at;
    const char *wptr;       /* request being written */
    size_t wlen, woff;
    char *wbuf;             /* POST request buffer (cfg.wcap bytes) */
    char *lo;               /* leftover: unparsed response bytes */
    size_t lolen, locap;
    char id[ID_CAP];        /* message id / client_id of the request */
    size_t idlen;
} conn;

typedef struct {
    uint64_t requests, acked, reconnects, connects_ok, unsent, lat_dropped;
    uint64_t err_connect, err_read, err_timeout, err_parse;
    uint64_t last_done;     /* completion time of the last measured response */
    uint64_t status[1000];
} stats;

typedef struct {
    int id;
    pthread_t th;
    int ep, tfd;
    conn *conns;
    int nconns;
    char *scratch;
    char *body;
    EVP_MAC_CTX *mac;
    uint64_t counter, rng;
    size_t path_idx;
    /* open loop */
    double interval_ns;
    uint64_t sched_start, next_due, sent, armed_at;
    int *idle;
    int nidle;
    bool in_pump;
    /* end of run */
    bool stopping;
    uint64_t stop_ns, drain_deadline;
    int busy, nbackoff;
    stats st;
    uint32_t *lat;
    size_t nlat, latcap;
    char *ids;
    size_t idslen, idscap;
} thread;

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "loadgen: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory%s", "");
    return p;
}

static void *xcalloc(size_t a, size_t b)
{
    void *p = calloc(a ? a : 1, b ? b : 1);
    if (!p)
        die("out of memory%s", "");
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* xorshift64*: fast PRNG for --random path selection. */
static inline uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* Append-only buffer with a hard capacity. Capacities are computed from the
 * configuration, so an overflow is a programming error: abort loudly. */
typedef struct {
    char *p;
    size_t len, cap;
} sbuf;

static inline void sb_mem(sbuf *b, const void *s, size_t n)
{
    if (n > b->cap - b->len) {
        fprintf(stderr, "loadgen: internal error: request buffer overflow\n");
        abort();
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}
#define sb_lit(b, s) sb_mem((b), (s), sizeof(s) - 1)

static inline void sb_ch(sbuf *b, char ch) { sb_mem(b, &ch, 1); }

/* Decimal, zero-padded to at least `width` digits (width <= 20). */
static inline void sb_u64w(sbuf *b, uint64_t v, int width)
{
    char tmp[20];
    int i = 20;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v && i > 0);
    while (20 - i < width && i > 0)
        tmp[--i] = '0';
    sb_mem(b, tmp + i, (size_t)(20 - i));
}
#define sb_u64(b, v) sb_u64w((b), (v), 1)

static bool ci_contains(const char *s, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++)
        if (strncasecmp(s + i, needle, m) == 0)
            return true;
    return false;
}

static bool name_is(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* ------------------------------------------------------------------ */
/* Request building                                                    */

static void hmac_hex(thread *t, const char *body, size_t n, char out[64])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t ml = 0;
    /* NULL key: re-initialise with the key set at thread setup. */
    if (!EVP_MAC_init(t->mac, NULL, 0, NULL) ||
        !EVP_MAC_update(t->mac, (const unsigned char *)body, n) ||
        !EVP_MAC_final(t->mac, md, &ml, sizeof md) || ml != 32) {
        fprintf(stderr, "loadgen: HMAC failed\n");
        abort();
    }
    for (size_t i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
}

/* Headers (with Content-Length and the optional signature) + body. */
static void finish_post(thread *t, conn *c, size_t blen)
{
    sbuf w = {c->wbuf, 0, cfg.wcap};
    sb_mem(&w, cfg.req_prefix.p, cfg.req_prefix.n);
    sb_lit(&w, "Content-Length: ");
    sb_u64(&w, blen);
    sb_lit(&w, "\r\n");
    if (cfg.secret) {
        char sig[64];
        hmac_hex(t, t->body, blen, sig);
        sb_lit(&w, "X-Hub-Signature-256: sha256=");
        sb_mem(&w, sig, sizeof sig);
        sb_lit(&w, "\r\n");
    }
    sb_lit(&w, "\r\n");
    sb_mem(&w, t->body, blen);
    c->wptr = c->wbuf;
    c->wlen = w.len;
}

/* The request's unique id: <lead><prefix>.<thread>.<k>, unique across
 * threads and (through the prefix) runs. */
static void make_id(thread *t, conn *c, const char *lead, uint64_t k)
{
    sbuf id = {c->id, 0, sizeof c->id};
    sb_mem(&id, lead, strlen(lead));
    sb_mem(&id, cfg.prefix, strlen(cfg.prefix));
    sb_ch(&id, '.');
    sb_u64(&id, (uint64_t)t->id);
    sb_ch(&id, '.');
    sb_u64(&id, k);
    c->idlen = id.len;
}

static void build_ingest(thread *t, conn *c)
{
    uint64_t k = t->counter++;
    uint64_t contact = atomic_fetch_add_explicit(&g_seq, 1, memory_order_relaxed) % cfg.contacts;

    make_id(t, c, "wamid.", k);

    sbuf b = {t->body, 0, cfg.body_cap};
    sb_mem(&b, cfg.seg_a.p, cfg.seg_a.n);
    sb_u64(&b, contact);
    sb_lit(&b, ING_B);
    sb_u64w(&b, contact, 7);
    sb_lit(&b, ING_C);
    sb_u64w(&b, contact, 7);
    sb_lit(&b, ING_D);
    sb_mem(&b, c->id, c->idlen);
    sb_lit(&b, ING_E);
    sb_u64(&b, (uint64_t)time(NULL));
    sb_mem(&b, cfg.seg_f.p, cfg.seg_f.n);
    finish_post(t, c, b.len);
}

static void build_send(thread *t, conn *c)
{
    uint64_t k = t->counter++;
    uint64_t n = atomic_fetch_add_explicit(&g_seq, 1, memory_order_relaxed);

    make_id(t, c, "", k);

    sbuf b = {t->body, 0, cfg.body_cap};
    sb_mem(&b, cfg.seg_a.p, cfg.seg_a.n);
    sb_u64w(&b, n % 10000000u, 7);
    sb_lit(&b, SEND_B);
    sb_u64(&b, n);
    sb_lit(&b, SEND_C);
    sb_mem(&b, c->id, c->idlen);
    sb_lit(&b, SEND_D);
    finish_post(t, c, b.len);
}

static void build_get(thread *t, conn *c)
{
    size_t i;
    if (cfg.random) {
        uint32_t r = (uint32_t)(rng_next(&t->rng) >> 32);
        i = (size_t)(((uint64_t)r * cfg.npaths) >> 32);
    } else {
        i = t->path_idx;
        if (++t->path_idx == cfg.npaths)
            t->path_idx = 0;
    }
    c->wptr = cfg.get_reqs[i].p;
    c->wlen = cfg.get_reqs[i].n;
    c->idlen = 0;
}

/* ------------------------------------------------------------------ */
/* Response parsing                                                    */

static bool parse_hex(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; i < n; i++) {
        char ch = s[i];
        int d;
        if (ch >= '0' && ch <= '9')
            d = ch - '0';
        else if (ch >= 'a' && ch <= 'f')
            d = ch - 'a' + 10;
        else if (ch >= 'A' && ch <= 'F')
            d = ch - 'A' + 10;
        else
            break;
        if (v >> 56)
            return false; /* absurd chunk size */
        v = v * 16 + (uint64_t)d;
    }
    if (i == 0 || (i < n && s[i] != ';' && s[i] != ' ' && s[i] != '\t'))
        return false;
    *out = v;
    return true;
}

/* Parse one complete header block h[0..len) ending in "\r\n\r\n" and set
 * the parser state for the body. */
static bool parse_head(conn *c, const char *h, size_t len)
{
    if (len < 16 || memcmp(h, "HTTP/1.", 7) != 0 || (h[7] != '0' && h[7] != '1') || h[8] != ' ')
        return false;
    if (h[9] < '1' || h[9] > '9' || h[10] < '0' || h[10] > '9' || h[11] < '0' || h[11] > '9' ||
        (h[12] != ' ' && h[12] != '\r'))
        return false;
    int status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
    bool http10 = h[7] == '0';
    bool chunked = false, has_cl = false, conn_close = false, keep_alive = false;
    uint64_t cl = 0;

    const char *nl = memchr(h, '\n', len);
    size_t pos = (size_t)(nl - h) + 1;
    while (pos < len - 2) {
        const char *e = memchr(h + pos, '\n', len - pos);
        if (!e)
            break;
        const char *line = h + pos;
        size_t ll = (size_t)(e - line);
        pos += ll + 1;
        if (ll && line[ll - 1] == '\r')
            ll--;
        const char *colon = memchr(line, ':', ll);
        if (!colon)
            continue;
        size_t nlen = (size_t)(colon - line);
        const char *v = colon + 1, *ve = line + ll;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        size_t vl = (size_t)(ve - v);
        if (name_is(line, nlen, "content-length")) {
            uint64_t x = 0;
            if (vl == 0 || vl > 18)
                return false;
            for (size_t i = 0; i < vl; i++) {
                if (v[i] < '0' || v[i] > '9')
                    return false;
                x = x * 10 + (uint64_t)(v[i] - '0');
            }
            if (has_cl && x != cl)
                return false;
            cl = x;
            has_cl = true;
        } else if (name_is(line, nlen, "transfer-encoding")) {
            if (ci_contains(v, vl, "chunked"))
                chunked = true;
        } else if (name_is(line, nlen, "connection")) {
            if (ci_contains(v, vl, "close"))
                conn_close = true;
            if (ci_contains(v, vl, "keep-alive"))
                keep_alive = true;
        }
    }

    c->status = (uint16_t)status;
    c->close_after = conn_close || (http10 && !keep_alive);
    if (status < 200) {
        if (status == 101)
            return false; /* we never ask for an upgrade */
        c->ps = P_HEAD;   /* interim response: the final one follows */
    } else if (status == 204 || status == 304) {
        c->ps = P_IDLE;
    } else if (chunked) {
        c->ps = P_CHUNK_SIZE;
    } else if (has_cl) {
        c->rem = cl;
        c->ps = cl ? P_BODY : P_IDLE;
    } else {
        c->ps = P_UNTIL_EOF;
        c->close_after = true;
    }
    return true;
}

/* Consume d[0..n). PR_DONE: a response is complete after *used bytes.
 * PR_MORE: d[*used..n) must be kept and presented again with more data. */
static int parse(conn *c, const char *d, size_t n, size_t *used)
{
    size_t p = 0;
    for (;;) {
        switch (c->ps) {
        case P_HEAD: {
            const char *e = n - p >= 4 ? memmem(d + p, n - p, "\r\n\r\n", 4) : NULL;
            if (!e) {
                *used = p;
                return PR_MORE;
            }
            size_t hl = (size_t)(e - (d + p)) + 4;
            if (!parse_head(c, d + p, hl))
                return PR_ERR;
            p += hl;
            break;
        }
        case P_BODY:
        case P_CHUNK_DATA: {
            size_t avail = n - p;
            if (c->rem > avail) {
                c->rem -= avail;
                *used = n;
                return PR_MORE;
            }
            p += (size_t)c->rem;
            c->rem = 0;
            c->ps = c->ps == P_BODY ? P_IDLE : P_CHUNK_CRLF;
            break;
        }
        case P_CHUNK_SIZE:
        case P_TRAILER: {
            const char *e = memchr(d + p, '\n', n - p);
            if (!e) {
                *used = p;
                return PR_MORE;
            }
            size_t ll = (size_t)(e - (d + p));
            if (ll == 0 || d[p + ll - 1] != '\r')
                return PR_ERR;
            if (c->ps == P_CHUNK_SIZE) {
                uint64_t sz;
                if (!parse_hex(d + p, ll - 1, &sz))
                    return PR_ERR;
                if (sz == 0) {
                    c->ps = P_TRAILER;
                } else {
                    c->rem = sz;
                    c->ps = P_CHUNK_DATA;
                }
            } else if (ll == 1) {
                c->ps = P_IDLE; /* empty line: end of trailers */
            }
            p += ll + 1;
            break;
        }
        case P_CHUNK_CRLF:
            if (n - p < 2) {
                *used = p;
                return PR_MORE;
            }
            if (d[p] != '\r' || d[p + 1] != '\n')
                return PR_ERR;
            p += 2;
            c->ps = P_CHUNK_SIZE;
            break;
        case P_UNTIL_EOF:
            *used = n;
            return PR_MORE;
        case P_IDLE:
            *used = p;
            return PR_DONE;
        default:
            return PR_ERR;
        }
    }
}

/* ------------------------------------------------------------------ */
/* Statistics                                                          */

static void lat_add(thread *t, uint64_t us)
{
    if (t->nlat == t->latcap) {
        if (t->latcap >= LAT_CAP) {
            t->st.lat_dropped++;
            return;
        }
        size_t nc = t->latcap ? t->latcap * 2 : 65536;
        uint32_t *p = realloc(t->lat, nc * sizeof *p);
        if (!p) {
            t->st.lat_dropped++;
            return;
        }
        t->lat = p;
        t->latcap = nc;
    }
    t->lat[t->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static void ids_flush(thread *t)
{
    if (!t->idslen)
        return;
    pthread_mutex_lock(&g_ids_mu);
    if (fwrite(t->ids, 1, t->idslen, g_ids) != t->idslen)
        atomic_store(&g_ids_err, true);
    pthread_mutex_unlock(&g_ids_mu);
    t->idslen = 0;
}

static void ids_add(thread *t, const char *s, size_t n)
{
    if (t->idslen + n + 1 > t->idscap) {
        if (t->idscap >= IDS_FLUSH) {
            ids_flush(t);
        } else {
            size_t nc = t->idscap ? t->idscap * 2 : 65536;
            char *p = realloc(t->ids, nc);
            if (!p) {
                ids_flush(t);
            } else {
                t->ids = p;
                t->idscap = nc;
            }
        }
        if (t->idslen + n + 1 > t->idscap) { /* no buffer at all: give up loudly */
            atomic_store(&g_ids_err, true);
            return;
        }
    }
    memcpy(t->ids + t->idslen, s, n);
    t->idslen += n;
    t->ids[t->idslen++] = '\n';
}

/* ------------------------------------------------------------------ */
/* Connections                                                         */

static void pump(thread *t);

static inline uint64_t conn_key(thread *t, conn *c)
{
    return (uint64_t)(uint32_t)(c - t->conns) | ((uint64_t)c->gen << 32);
}

static void set_events(thread *t, conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.u64 = conn_key(t, c)};
    if (epoll_ctl(t->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        perror("loadgen: epoll_ctl");
}

static void conn_close(thread *t, conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->state == C_BUSY)
        t->busy--;
    else if (c->state == C_BACKOFF)
        t->nbackoff--;
    c->state = C_CLOSED;
    c->gen++;
    c->lolen = 0;
    c->want_out = false;
    c->ps = P_IDLE;
}

static void conn_backoff(thread *t, conn *c)
{
    conn_close(t, c);
    t->st.err_connect++;
    if (t->stopping)
        return;
    c->backoff_ms = c->backoff_ms ? (c->backoff_ms >= 500 ? 1000 : c->backoff_ms * 2) : 10;
    c->retry_at = now_ns() + (uint64_t)c->backoff_ms * 1000000u;
    c->state = C_BACKOFF;
    t->nbackoff++;
}

static void conn_open(thread *t, conn *c)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        conn_backoff(t, c);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    c->state = C_CONNECTING;
    if (connect(fd, (const struct sockaddr *)&cfg.addr, sizeof cfg.addr) < 0 && errno != EINPROGRESS) {
        conn_backoff(t, c);
        return;
    }
    /* Even an immediately successful connect is completed via EPOLLOUT, so
     * that opening a connection never recurses into sending. */
    struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = conn_key(t, c)};
    if (epoll_ctl(t->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
        conn_backoff(t, c);
}

/* The server closed (or broke) the connection: reopen it. */
static void conn_reopen(thread *t, conn *c)
{
    conn_close(t, c);
    if (!t->stopping) {
        t->st.reconnects++;
        conn_open(t, c);
    }
}

/* A request in flight on a failed connection is lost: count it. */
static void conn_fail(thread *t, conn *c, uint64_t *err)
{
    if (c->state == C_BUSY)
        (*err)++;
    conn_reopen(t, c);
}

static bool conn_write(thread *t, conn *c)
{
    while (c->woff < c->wlen) {
        ssize_t n = send(c->fd, c->wptr + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
        if (n > 0) {
            c->woff += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->want_out) {
                set_events(t, c, EPOLLIN | EPOLLOUT);
                c->want_out = true;
            }
            return true;
        }
        conn_fail(t, c, &t->st.err_read);
        return false;
    }
    if (c->want_out) {
        set_events(t, c, EPOLLIN);
        c->want_out = false;
    }
    return true;
}

/* Start a request on idle connection c; `start` is its intended start time
 * (open loop) or the current time (closed loop). */
/* With -n, may another request start? The last ticket stops the run. */
static bool take_ticket(void)
{
    if (cfg.total <= 0)
        return true;
    if (atomic_fetch_add_explicit(&g_issued, 1, memory_order_relaxed) < cfg.total)
        return true;
    atomic_store(&g_stop, true);
    return false;
}

static void send_request(thread *t, conn *c, uint64_t start)
{
    switch (cfg.mode) {
    case MODE_INGEST: build_ingest(t, c); break;
    case MODE_SEND: build_send(t, c); break;
    default: build_get(t, c); break;
    }
    c->start_ns = start;
    c->measured = start >= cfg.warm_end && start < cfg.meas_end;
    c->state = C_BUSY;
    t->busy++;
    c->ps = P_HEAD;
    c->woff = 0;
    c->close_after = false;
    conn_write(t, c);
}

static void on_idle(thread *t, conn *c)
{
    c->state = C_IDLE;
    if (t->stopping) {
        conn_close(t, c);
        return;
    }
    if (cfg.rate > 0) {
        if (!c->in_idle) {
            c->in_idle = true;
            t->idle[t->nidle++] = (int)(c - t->conns);
        }
        if (!t->in_pump)
            pump(t);
        return;
    }
    uint64_t now = now_ns();
    if (now >= cfg.meas_end || atomic_load_explicit(&g_stop, memory_order_relaxed))
        return; /* stays idle; the loop starts the drain */
    if (!take_ticket())
        return;
    send_request(t, c, now);
}

static void on_response(thread *t, conn *c)
{
    uint64_t now = now_ns();
    t->busy--;
    c->state = C_IDLE;
    unsigned st = c->status;
    if (st >= 200 && st < 300) {
        t->st.acked++;
        if (g_ids && c->idlen)
            ids_add(t, c->id, c->idlen);
    }
    if (c->measured) {
        t->st.requests++;
        t->st.status[st < 1000 ? st : 0]++;
        lat_add(t, now > c->start_ns ? (now - c->start_ns + 500) / 1000 : 0);
        if (now > t->st.last_done)
            t->st.last_done = now;
    }
    if (c->close_after || c->woff < c->wlen)
        conn_reopen(t, c);
    else
        on_idle(t, c);
}

static void finish_connect(thread *t, conn *c, uint32_t events)
{
    int err = 0;
    socklen_t l = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
        err = errno;
    if (err == 0 && (events & (EPOLLERR | EPOLLHUP)))
        err = ECONNREFUSED;
    if (err) {
        conn_backoff(t, c);
        return;
    }
    set_events(t, c, EPOLLIN);
    c->backoff_ms = 0;
    t->st.connects_ok++;
    on_idle(t, c);
}

static bool lo_append(conn *c, const char *s, size_t n)
{
    size_t need = c->lolen + n;
    if (need > RBUF_CAP)
        return false;
    if (need > c->locap) {
        size_t nc = c->locap ? c->locap : 4096;
        while (nc < need)
            nc *= 2;
        if (nc > RBUF_CAP)
            nc = RBUF_CAP;
        char *p = realloc(c->lo, nc);
        if (!p)
            return false;
        c->lo = p;
        c->locap = nc;
    }
    memcpy(c->lo + c->lolen, s, n);
    c->lolen = need;
    return true;
}

/* Feed n freshly read bytes (in t->scratch). Returns true if the caller may
 * keep reading from this connection. */
static bool feed(thread *t, conn *c, size_t n)
{
    if (c->state != C_BUSY) { /* data without a request in flight */
        t->st.err_parse++;
        conn_reopen(t, c);
        return false;
    }
    const char *d = t->scratch;
    size_t len = n, used = 0;
    if (c->lolen) {
        if (!lo_append(c, d, n))
            goto parse_error;
        d = c->lo;
        len = c->lolen;
    }
    int r = parse(c, d, len, &used);
    if (r == PR_ERR)
        goto parse_error;
    if (r == PR_MORE) {
        size_t rest = len - used;
        if (d == c->lo) {
            if (used && rest)
                memmove(c->lo, c->lo + used, rest);
            c->lolen = rest;
        } else if (rest && !lo_append(c, d + used, rest)) {
            goto parse_error;
        }
        return true;
    }
    c->lolen = 0;
    if (used < len) { /* bytes beyond the response: the stream is out of sync */
        t->st.err_parse++;
        c->close_after = true;
    }
    on_response(t, c);
    return false;

parse_error: /* the request in flight is lost; it counts as a parse error */
    t->st.err_parse++;
    conn_reopen(t, c);
    return false;
}

static void on_eof(thread *t, conn *c)
{
    if (c->state == C_BUSY && c->ps == P_UNTIL_EOF) {
        c->close_after = true;
        on_response(t, c);
    } else {
        conn_fail(t, c, &t->st.err_read);
    }
}

static void conn_read(thread *t, conn *c)
{
    for (;;) {
        ssize_t n = read(c->fd, t->scratch, SCRATCH_SIZE);
        if (n > 0) {
            if (!feed(t, c, (size_t)n) || (size_t)n < SCRATCH_SIZE)
                return;
            continue;
        }
        if (n == 0) {
            on_eof(t, c);
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            conn_fail(t, c, &t->st.err_read);
        return;
    }
}

/* ------------------------------------------------------------------ */
/* Open-loop pacing                                                    */

static inline uint64_t sched_at(thread *t, uint64_t i)
{
    return t->sched_start + (uint64_t)((double)i * t->interval_ns);
}

static conn *peek_idle(thread *t)
{
    while (t->nidle) {
        conn *c = &t->conns[t->idle[t->nidle - 1]];
        if (c->state == C_IDLE)
            return c;
        t->nidle--; /* stale entry: the connection was reused or closed */
        c->in_idle = false;
    }
    return NULL;
}

static void arm_timer(thread *t, uint64_t at)
{
    if (t->armed_at == at)
        return;
    struct itimerspec its = {0};
    its.it_value.tv_sec = (time_t)(at / NS_PER_S);
    its.it_value.tv_nsec = (long)(at % NS_PER_S);
    if (timerfd_settime(t->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
        perror("loadgen: timerfd_settime");
    t->armed_at = at;
}

/* Start every due request that has an idle connection; arm the timer for
 * the next one. Requests without a connection wait (the backlog). */
static void pump(thread *t)
{
    if (t->stopping)
        return;
    t->in_pump = true;
    while (t->next_due < cfg.meas_end) {
        uint64_t now = now_ns();
        if (now >= cfg.meas_end)
            break;
        conn *c = peek_idle(t);
        if (!c)
            break;
        if (t->next_due > now) {
            arm_timer(t, t->next_due);
            break;
        }
        if (!take_ticket())
            break;
        t->nidle--;
        c->in_idle = false;
        send_request(t, c, t->next_due);
        t->sent++;
        t->next_due = sched_at(t, t->sent);
    }
    t->in_pump = false;
}

/* ------------------------------------------------------------------ */
/* Thread main loop                                                    */

static void begin_stop(thread *t, uint64_t now)
{
    t->stopping = true;
    t->stop_ns = now;
    t->drain_deadline = now + DRAIN_NS;
    for (int i = 0; i < t->nconns; i++)
        if (t->conns[i].state != C_BUSY)
            conn_close(t, &t->conns[i]);
    if (cfg.rate > 0) {
        uint64_t end = now < cfg.meas_end ? now : cfg.meas_end;
        while (t->next_due < end) { /* due but never started (backlog) */
            t->st.unsent++;
            t->sent++;
            t->next_due = sched_at(t, t->sent);
        }
    }
}

static void handle_event(thread *t, const struct epoll_event *ev)
{
    if (ev->data.u64 == TIMER_KEY) {
        uint64_t x;
        if (read(t->tfd, &x, sizeof x) < 0 && errno != EAGAIN)
            perror("loadgen: timerfd read");
        t->armed_at = 0;
        pump(t);
        return;
    }
    uint32_t idx = (uint32_t)ev->data.u64, gen = (uint32_t)(ev->data.u64 >> 32);
    if (idx >= (uint32_t)t->nconns)
        return;
    conn *c = &t->conns[idx];
    if (c->gen != gen || c->fd < 0)
        return; /* stale event for a closed connection */
    uint32_t e = ev->events;
    if (c->state == C_CONNECTING) {
        finish_connect(t, c, e);
        return;
    }
    if ((e & EPOLLOUT) && c->state == C_BUSY && c->want_out) {
        if (!conn_write(t, c) || c->gen != gen)
            return;
    }
    if (e & (EPOLLIN | EPOLLHUP | EPOLLERR))
        conn_read(t, c);
}

static void *thread_main(void *arg)
{
    thread *t = arg;
    struct epoll_event evs[MAX_EVENTS];

    for (int i = 0; i < t->nconns; i++)
        conn_open(t, &t->conns[i]);

    for (;;) {
        uint64_t now = now_ns();
        if (!t->stopping && (now >= cfg.meas_end || atomic_load_explicit(&g_stop, memory_order_relaxed)))
            begin_stop(t, now);
        if (t->stopping) {
            if (t->busy == 0 || now >= t->drain_deadline)
                break;
        } else {
            if (t->nbackoff) {
                for (int i = 0; i < t->nconns; i++) {
                    conn *c = &t->conns[i];
                    if (c->state == C_BACKOFF && c->retry_at <= now) {
                        t->nbackoff--;
                        c->state = C_CLOSED;
                        conn_open(t, c);
                    }
                }
            }
            if (cfg.rate > 0)
                pump(t);
        }
        uint64_t deadline = t->stopping ? t->drain_deadline : cfg.meas_end;
        uint64_t ms = deadline > now ? (deadline - now + 999999) / 1000000 : 0;
        int cap = t->nbackoff ? 10 : 100;
        int timeout = ms > (uint64_t)cap ? cap : (int)ms;
        int n = epoll_wait(t->ep, evs, MAX_EVENTS, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("loadgen: epoll_wait");
            break;
        }
        for (int i = 0; i < n; i++)
            handle_event(t, &evs[i]);
    }

    for (int i = 0; i < t->nconns; i++) {
        if (t->conns[i].state == C_BUSY)
            t->st.err_timeout++;
        conn_close(t, &t->conns[i]);
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Setup                                                               */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: loadgen -u http://127.0.0.1:PORT -m ingest|send|get [-c CONNS=64] [-t THREADS=1]\n"
        "               [-d SECONDS=10] [-w WARMUP_SECONDS=0] [-R RATE] [-n TOTAL] [-H 'Header: value']...\n"
        "               [mode options]\n"
        "  ingest: [--pnid ID] [--secret S] [--contacts N] [--prefix P] [--ids FILE]\n"
        "  send:   [--channel NAME] [--prefix P] [--ids FILE]   (auth: -H 'Authorization: Bearer ...')\n"
        "  get:    (--path P)... | --paths FILE  [--random]      (default: the URL's path)\n"
        "Prints one JSON object with the results on stdout.\n");
}

static void usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "loadgen: ");
    fprintf(stderr, msg, arg);
    fputc('\n', stderr);
    usage(stderr);
    exit(1);
}

static double parse_seconds(const char *s, const char *what, double min, double max)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end != s && *end == 's')
        end++;
    if (errno || end == s || *end || !isfinite(v) || v < min || v > max)
        usage_error("invalid %s", what);
    return v;
}

static long parse_long(const char *s, const char *what, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        usage_error("invalid %s", what);
    return v;
}

/* Printable ASCII that needs no JSON escaping. */
static bool json_safe(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
            return false;
    return true;
}

static bool valid_path(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_PATH_LEN || s[0] != '/')
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= 0x20 || s[i] > 0x7e)
            return false;
    return true;
}

static bool valid_header(const char *s)
{
    size_t n = strlen(s);
    const char *colon = strchr(s, ':');
    if (n > MAX_HEADER_LEN || !colon || colon == s)
        return false;
    for (const char *p = s; p < colon; p++)
        if (*p <= 0x20 || *p > 0x7e)
            return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\r' || s[i] == '\n')
            return false;
    return true;
}

static void parse_url(const char *url)
{
    if (strncmp(url, "http://", 7) != 0)
        usage_error("URL must start with http:// (got %s)", url);
    const char *h = url + 7;
    const char *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    if (hl == 0 || hl >= sizeof cfg.hostport)
        usage_error("invalid URL %s", url);
    memcpy(cfg.hostport, h, hl);
    cfg.hostport[hl] = 0;

    char host[sizeof cfg.hostport];
    memcpy(host, cfg.hostport, hl + 1);
    long port = 80;
    char *colon = strrchr(host, ':');
    if (colon) {
        *colon = 0;
        port = parse_long(colon + 1, "URL port", 1, 65535);
    }
    memset(&cfg.addr, 0, sizeof cfg.addr);
    cfg.addr.sin_family = AF_INET;
    cfg.addr.sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &cfg.addr.sin_addr) != 1)
        usage_error("URL host must be an IPv4 address or localhost (got %s)", url);

    const char *path = slash ? slash : "/";
    if (!valid_path(path))
        usage_error("invalid URL path in %s", url);
    snprintf(cfg.url_path, sizeof cfg.url_path, "%s", path);
}

static void add_path(const char *p)
{
    if (cfg.npaths >= MAX_PATHS)
        usage_error("too many paths (max %s)", "1000000");
    if (!valid_path(p))
        usage_error("invalid path '%s' (must start with '/', no spaces)", p);
    if ((cfg.npaths & (cfg.npaths - 1)) == 0) { /* grow at powers of two */
        size_t nc = cfg.npaths ? cfg.npaths * 2 : 16;
        char **np = realloc(cfg.paths, nc * sizeof *np);
        if (!np)
            die("out of memory%s", "");
        cfg.paths = np;
    }
    cfg.paths[cfg.npaths++] = xstrdup(p);
}

static void load_paths(const char *file)
{
    FILE *f = fopen(file, "r");
    if (!f)
        usage_error("cannot open --paths file %s", file);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
            line[--n] = 0;
        if (n == 0)
            continue;
        add_path(line);
    }
    free(line);
    fclose(f);
}

/* Request line + Host + fixed headers + -H headers, into a new string. */
static strbuf render_prefix(const char *method, const char *path, bool json, bool terminate)
{
    size_t cap = strlen(method) + strlen(path) + sizeof cfg.hostport + 128;
    for (int i = 0; i < cfg.nheaders; i++)
        cap += strlen(cfg.headers[i]) + 2;
    sbuf b = {xmalloc(cap), 0, cap};
    sb_mem(&b, method, strlen(method));
    sb_ch(&b, ' ');
    sb_mem(&b, path, strlen(path));
    sb_lit(&b, " HTTP/1.1\r\n");
    if (!cfg.user_host) {
        sb_lit(&b, "Host: ");
        sb_mem(&b, cfg.hostport, strlen(cfg.hostport));
        sb_lit(&b, "\r\n");
    }
    if (json && !cfg.user_ctype)
        sb_lit(&b, "Content-Type: application/json\r\n");
    for (int i = 0; i < cfg.nheaders; i++) {
        sb_mem(&b, cfg.headers[i], strlen(cfg.headers[i]));
        sb_lit(&b, "\r\n");
    }
    if (terminate)
        sb_lit(&b, "\r\n");
    return (strbuf){b.p, b.len};
}

static strbuf concat3(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c);
    char *p = xmalloc(n + 1);
    snprintf(p, n + 1, "%s%s%s", a, b, c);
    return (strbuf){p, n};
}

static void prepare_requests(void)
{
    if (cfg.mode == MODE_GET) {
        if (cfg.npaths == 0)
            add_path(cfg.url_path);
        cfg.get_reqs = xcalloc(cfg.npaths, sizeof *cfg.get_reqs);
        for (size_t i = 0; i < cfg.npaths; i++)
            cfg.get_reqs[i] = render_prefix("GET", cfg.paths[i], false, true);
        return;
    }
    if (cfg.mode == MODE_INGEST) {
        cfg.req_prefix = render_prefix("POST", "/webhooks/whatsapp", true, false);
        cfg.seg_a = concat3(
            "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"102290129340398\","
            "\"changes\":[{\"value\":{\"messaging_product\":\"whatsapp\",\"metadata\":"
            "{\"display_phone_number\":\"15550783881\",\"phone_number_id\":\"",
            cfg.pnid, "\"},\"contacts\":[{\"profile\":{\"name\":\"Customer ");
        cfg.seg_f = concat3("\",\"type\":\"text\",\"text\":{\"body\":\"", INGEST_TEXT,
                            "\"}}]},\"field\":\"messages\"}]}]}");
        cfg.body_cap = cfg.seg_a.n + cfg.seg_f.n + sizeof ING_B + sizeof ING_C + sizeof ING_D +
                       sizeof ING_E + ID_CAP + 4 * 20 + 64;
    } else {
        cfg.req_prefix = render_prefix("POST", "/v1/messages", true, false);
        cfg.seg_a = concat3("{\"channel\":\"", cfg.channel, "\",\"to\":\"1555");
        cfg.body_cap = cfg.seg_a.n + sizeof SEND_B + sizeof SEND_C + sizeof SEND_D + ID_CAP +
                       2 * 20 + 64;
    }
    /* prefix + Content-Length line + signature line + blank line + body */
    cfg.wcap = cfg.req_prefix.n + 40 + 100 + 2 + cfg.body_cap;
}

static bool probe_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    int err = 0;
    if (connect(fd, (const struct sockaddr *)&cfg.addr, sizeof cfg.addr) < 0) {
        err = errno;
        if (err == EINPROGRESS) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int r = poll(&pfd, 1, 3000);
            socklen_t l = sizeof err;
            if (r <= 0)
                err = ETIMEDOUT;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
                err = errno;
        }
    }
    close(fd);
    errno = err;
    return err == 0;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)cfg.conns + (rlim_t)cfg.threads * 4 + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need) {
        rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < need)
            fprintf(stderr, "loadgen: warning: open file limit %llu is below %llu\n",
                    (unsigned long long)rl.rlim_cur, (unsigned long long)need);
    }
}

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&g_stop, true);
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

/* LSD radix sort of 32-bit values, 11 bits per pass. */
static void radix_sort(uint32_t *a, size_t n)
{
    if (n < 2)
        return;
    uint32_t *tmp = malloc(n * sizeof *tmp);
    if (!tmp) { /* no memory for the second buffer: sort in place */
        qsort(a, n, sizeof *a, cmp_u32);
        return;
    }
    uint32_t *src = a, *dst = tmp;
    for (int shift = 0; shift < 33; shift += 11) {
        size_t cnt[2048] = {0};
        for (size_t i = 0; i < n; i++)
            cnt[(src[i] >> shift) & 2047]++;
        size_t sum = 0;
        for (int b = 0; b < 2048; b++) {
            size_t c = cnt[b];
            cnt[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[cnt[(src[i] >> shift) & 2047]++] = src[i];
        uint32_t *sw = src;
        src = dst;
        dst = sw;
    }
    if (src != a) /* after an odd number of passes the result is in tmp */
        memcpy(a, src, n * sizeof *a);
    free(tmp);
}

static double pct_ms(const uint32_t *s, size_t n, double p)
{
    if (n == 0)
        return 0.0;
    double want = p / 100.0 * (double)n; /* nearest rank: ceil(want) */
    size_t rank = (size_t)want;
    if ((double)rank < want)
        rank++;
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return s[rank - 1] / 1000.0;
}

enum {
    OPT_PNID = 256, OPT_SECRET, OPT_CONTACTS, OPT_PREFIX, OPT_CHANNEL,
    OPT_PATH, OPT_PATHS, OPT_RANDOM, OPT_IDS,
};

int main(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"mode", required_argument, NULL, 'm'},
        {"conns", required_argument, NULL, 'c'},
        {"threads", required_argument, NULL, 't'},
        {"duration", required_argument, NULL, 'd'},
        {"warmup", required_argument, NULL, 'w'},
        {"rate", required_argument, NULL, 'R'},
        {"total", required_argument, NULL, 'n'},
        {"header", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},
        {"pnid", required_argument, NULL, OPT_PNID},
        {"secret", required_argument, NULL, OPT_SECRET},
        {"contacts", required_argument, NULL, OPT_CONTACTS},
        {"prefix", required_argument, NULL, OPT_PREFIX},
        {"channel", required_argument, NULL, OPT_CHANNEL},
        {"path", required_argument, NULL, OPT_PATH},
        {"paths", required_argument, NULL, OPT_PATHS},
        {"random", no_argument, NULL, OPT_RANDOM},
        {"ids", required_argument, NULL, OPT_IDS},
        {NULL, 0, NULL, 0},
    };
    const char *mode = NULL, *prefix = NULL;
    bool seen_contacts = false;
    int opt;

    while ((opt = getopt_long(argc, argv, "u:m:c:t:d:w:R:n:H:h", lopts, NULL)) != -1) {
        switch (opt) {
        case 'u': cfg.url = optarg; break;
        case 'm': mode = optarg; break;
        case 'c': cfg.conns = (int)parse_long(optarg, "-c", 1, MAX_CONNS); break;
        case 't': cfg.threads = (int)parse_long(optarg, "-t", 1, MAX_THREADS); break;
        case 'd': cfg.duration = parse_seconds(optarg, "-d", 0.001, 1e6); break;
        case 'w': cfg.warmup = parse_seconds(optarg, "-w", 0, 1e6); break;
        case 'R': cfg.rate = parse_seconds(optarg, "-R", 0, 1e8); break;
        case 'n': cfg.total = parse_long(optarg, "-n", 1, 1000000000000LL); break;
        case 'H':
            if (cfg.nheaders >= MAX_EXTRA_HEADERS)
                usage_error("at most %s -H headers", "8");
            if (!valid_header(optarg))
                usage_error("invalid header '%s' (want 'Name: value')", optarg);
            if (strncasecmp(optarg, "host:", 5) == 0)
                cfg.user_host = true;
            if (strncasecmp(optarg, "content-type:", 13) == 0)
                cfg.user_ctype = true;
            if (strncasecmp(optarg, "content-length:", 15) == 0 ||
                strncasecmp(optarg, "transfer-encoding:", 18) == 0)
                usage_error("header '%s' is set by loadgen", optarg);
            cfg.headers[cfg.nheaders++] = optarg;
            break;
        case 'h': usage(stdout); return 0;
        case OPT_PNID: cfg.pnid = optarg; break;
        case OPT_SECRET: cfg.secret = optarg; break;
        case OPT_CONTACTS:
            cfg.contacts = (unsigned)parse_long(optarg, "--contacts", 1, MAX_CONTACTS);
            seen_contacts = true;
            break;
        case OPT_PREFIX: prefix = optarg; break;
        case OPT_CHANNEL: cfg.channel = optarg; break;
        case OPT_PATH: add_path(optarg); break;
        case OPT_PATHS: cfg.paths_file = optarg; break;
        case OPT_RANDOM: cfg.random = true; break;
        case OPT_IDS: cfg.ids_path = optarg; break;
        default: usage(stderr); return 1;
        }
    }
    if (optind < argc)
        usage_error("unexpected argument '%s'", argv[optind]);
    if (!cfg.url)
        usage_error("missing -u URL%s", "");
    if (!mode)
        usage_error("missing -m MODE%s", "");
    if (strcmp(mode, "ingest") == 0)
        cfg.mode = MODE_INGEST;
    else if (strcmp(mode, "send") == 0)
        cfg.mode = MODE_SEND;
    else if (strcmp(mode, "get") == 0)
        cfg.mode = MODE_GET;
    else
        usage_error("unknown mode '%s' (ingest, send or get)", mode);
    cfg.mode_name = mode;
    parse_url(cfg.url);
    if (cfg.threads > cfg.conns)
        usage_error("-t must not exceed -c%s", "");

    /* Options that only make sense for some modes. */
    if (cfg.mode != MODE_INGEST && (cfg.pnid || cfg.secret || seen_contacts))
        usage_error("--pnid, --secret and --contacts are for -m ingest%s", "");
    if (cfg.mode != MODE_SEND && cfg.channel)
        usage_error("--channel is for -m send%s", "");
    if (cfg.mode != MODE_GET && (cfg.npaths || cfg.paths_file || cfg.random))
        usage_error("--path, --paths and --random are for -m get%s", "");
    if (cfg.mode == MODE_GET && (prefix || cfg.ids_path))
        usage_error("--prefix and --ids are for -m ingest and send%s", "");
    if (!cfg.pnid)
        cfg.pnid = "bench-number";
    if (!cfg.channel)
        cfg.channel = "bench";
    if (!json_safe(cfg.pnid, MAX_FIELD_LEN))
        usage_error("invalid --pnid '%s'", cfg.pnid);
    if (!json_safe(cfg.channel, MAX_FIELD_LEN))
        usage_error("invalid --channel '%s'", cfg.channel);
    if (cfg.secret && (cfg.secret[0] == 0 || strlen(cfg.secret) > MAX_SECRET_LEN))
        usage_error("--secret must be 1..1024 bytes%s", "");
    if (prefix) {
        size_t n = strlen(prefix);
        if (n == 0 || n > MAX_PREFIX_LEN || strspn(prefix,
                "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != n)
            usage_error("--prefix must be 1..32 characters of [A-Za-z0-9_-] (got '%s')", prefix);
        snprintf(cfg.prefix, sizeof cfg.prefix, "%s", prefix);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t s = ((uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec) ^
                     ((uint64_t)getpid() << 40) ^ (uint64_t)getpid();
        snprintf(cfg.prefix, sizeof cfg.prefix, "%016llx", (unsigned long long)splitmix64(&s));
    }
    if (cfg.paths_file)
        load_paths(cfg.paths_file);

    prepare_requests();

    if (cfg.ids_path) {
        g_ids = fopen(cfg.ids_path, "a");
        if (!g_ids)
            usage_error("cannot open --ids file %s", cfg.ids_path);
    }
    if (cfg.secret) {
        g_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        if (!g_mac)
            die("OpenSSL has no HMAC%s", "");
    }

    raise_nofile();
    if (!probe_connect())
        die("cannot connect to %s", cfg.url);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    /* Per-thread setup (all allocation happens here, before the clock starts). */
    thread *th = xcalloc((size_t)cfg.threads, sizeof *th);
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    for (int i = 0; i < cfg.threads; i++) {
        thread *t = &th[i];
        t->id = i;
        t->nconns = cfg.conns / cfg.threads + (i < cfg.conns % cfg.threads ? 1 : 0);
        t->conns = xcalloc((size_t)t->nconns, sizeof *t->conns);
        for (int j = 0; j < t->nconns; j++) {
            t->conns[j].fd = -1;
            if (cfg.mode != MODE_GET)
                t->conns[j].wbuf = xmalloc(cfg.wcap);
        }
        t->scratch = xmalloc(SCRATCH_SIZE);
        if (cfg.mode != MODE_GET)
            t->body = xmalloc(cfg.body_cap);
        t->rng = splitmix64(&seed) | 1;
        if (cfg.mode == MODE_GET)
            t->path_idx = (size_t)((uint64_t)i * cfg.npaths / (uint64_t)cfg.threads);
        t->ep = epoll_create1(EPOLL_CLOEXEC);
        if (t->ep < 0)
            die("epoll_create1: %s", strerror(errno));
        t->tfd = -1;
        if (cfg.secret) {
            OSSL_PARAM params[2];
            params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
            params[1] = OSSL_PARAM_construct_end();
            t->mac = EVP_MAC_CTX_new(g_mac);
            if (!t->mac || !EVP_MAC_init(t->mac, (const unsigned char *)cfg.secret,
                                         strlen(cfg.secret), params))
                die("cannot set up HMAC-SHA256%s", "");
        }
        if (cfg.rate > 0) {
            t->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
            if (t->tfd < 0)
                die("timerfd_create: %s", strerror(errno));
            struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TIMER_KEY};
            if (epoll_ctl(t->ep, EPOLL_CTL_ADD, t->tfd, &ev) < 0)
                die("epoll_ctl: %s", strerror(errno));
            t->idle = xcalloc((size_t)t->nconns, sizeof *t->idle);
            t->interval_ns = 1e9 * cfg.conns / (cfg.rate * t->nconns);
        }
    }

    cfg.t0 = now_ns();
    cfg.warm_end = cfg.t0 + (uint64_t)(cfg.warmup * 1e9 + 0.5);
    cfg.meas_end = cfg.warm_end + (uint64_t)(cfg.duration * 1e9 + 0.5);
    for (int i = 0; i < cfg.threads; i++) {
        if (cfg.rate > 0) { /* stagger the threads' schedules */
            th[i].sched_start = cfg.t0 + (uint64_t)((double)i * 1e9 / cfg.rate);
            th[i].next_due = th[i].sched_start;
        }
    }
    fprintf(stderr, "loadgen: %s %s, %d connections, %d threads, %s%.3gs warm-up + %.3gs measured\n",
            cfg.mode_name, cfg.url, cfg.conns, cfg.threads,
            cfg.rate > 0 ? "open loop, " : "closed loop, ", cfg.warmup, cfg.duration);

    for (int i = 0; i < cfg.threads; i++) {
        int rc = pthread_create(&th[i].th, NULL, thread_main, &th[i]);
        if (rc)
            die("pthread_create: %s", strerror(rc));
    }
    for (int i = 0; i < cfg.threads; i++)
        pthread_join(th[i].th, NULL);

    /* Merge. */
    stats tot;
    memset(&tot, 0, sizeof tot);
    size_t nlat = 0;
    uint64_t end = cfg.warm_end;
    for (int i = 0; i < cfg.threads; i++) {
        stats *s = &th[i].st;
        tot.requests += s->requests;
        tot.acked += s->acked;
        tot.reconnects += s->reconnects;
        tot.connects_ok += s->connects_ok;
        tot.unsent += s->unsent;
        tot.lat_dropped += s->lat_dropped;
        tot.err_connect += s->err_connect;
        tot.err_read += s->err_read;
        tot.err_timeout += s->err_timeout;
        tot.err_parse += s->err_parse;
        for (int k = 0; k < 1000; k++)
            tot.status[k] += s->status[k];
        uint64_t stop = th[i].stop_ns < cfg.meas_end ? th[i].stop_ns : cfg.meas_end;
        if (stop > end)
            end = stop;
        if (s->last_done > end)
            end = s->last_done;
        nlat += th[i].nlat;
    }
    uint32_t *lat = xmalloc(nlat * sizeof *lat);
    size_t off = 0;
    for (int i = 0; i < cfg.threads; i++) {
        if (th[i].nlat)
            memcpy(lat + off, th[i].lat, th[i].nlat * sizeof *lat);
        off += th[i].nlat;
    }
    radix_sort(lat, nlat);
    double dur = (double)(end - cfg.warm_end) / 1e9;
    double rps = dur > 0 ? (double)tot.requests / dur : 0.0;

    printf("{\"mode\":\"%s\",\"conns\":%d,\"threads\":%d,\"duration_s\":%.3f,\"rate_target\":%.10g,"
           "\"requests\":%llu,\"rps\":%.1f,\"acked_total\":%llu,\"status\":{",
           cfg.mode_name, cfg.conns, cfg.threads, dur, cfg.rate,
           (unsigned long long)tot.requests, rps, (unsigned long long)tot.acked);
    bool first = true;
    for (int k = 0; k < 1000; k++) {
        if (!tot.status[k])
            continue;
        printf("%s\"%d\":%llu", first ? "" : ",", k, (unsigned long long)tot.status[k]);
        first = false;
    }
    printf("},\"errors\":{\"connect\":%llu,\"read\":%llu,\"timeout\":%llu,\"parse\":%llu},"
           "\"reconnects\":%llu,",
           (unsigned long long)tot.err_connect, (unsigned long long)tot.err_read,
           (unsigned long long)tot.err_timeout, (unsigned long long)tot.err_parse,
           (unsigned long long)tot.reconnects);
    if (cfg.rate > 0)
        printf("\"unsent\":%llu,", (unsigned long long)tot.unsent);
    printf("\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f}}\n",
           pct_ms(lat, nlat, 50), pct_ms(lat, nlat, 90), pct_ms(lat, nlat, 99),
           pct_ms(lat, nlat, 99.9), nlat ? lat[nlat - 1] / 1000.0 : 0.0);
    fflush(stdout);

    fprintf(stderr, "loadgen: %llu requests in %.3fs (%.1f req/s), %llu acked in total, "
            "errors: connect %llu read %llu timeout %llu parse %llu\n",
            (unsigned long long)tot.requests, dur, rps, (unsigned long long)tot.acked,
            (unsigned long long)tot.err_connect, (unsigned long long)tot.err_read,
            (unsigned long long)tot.err_timeout, (unsigned long long)tot.err_parse);
    if (tot.unsent)
        fprintf(stderr, "loadgen: %llu scheduled requests were never started (no free connection)\n",
                (unsigned long long)tot.unsent);
    if (tot.lat_dropped)
        fprintf(stderr, "loadgen: %llu latency samples dropped (cap reached)\n",
                (unsigned long long)tot.lat_dropped);

    int rc = tot.connects_ok ? 0 : 1;
    if (!tot.connects_ok)
        fprintf(stderr, "loadgen: no connection could be established\n");
    if (g_ids) {
        for (int i = 0; i < cfg.threads; i++)
            ids_flush(&th[i]);
        if (fclose(g_ids) != 0 || atomic_load(&g_ids_err)) {
            fprintf(stderr, "loadgen: writing --ids file %s failed\n", cfg.ids_path);
            rc = 1;
        }
    }

    /* Tidy up (keeps leak checkers quiet). */
    for (int i = 0; i < cfg.threads; i++) {
        thread *t = &th[i];
        for (int j = 0; j < t->nconns; j++) {
            free(t->conns[j].wbuf);
            free(t->conns[j].lo);
        }
        free(t->conns);
        free(t->scratch);
        free(t->body);
        free(t->idle);
        free(t->lat);
        free(t->ids);
        EVP_MAC_CTX_free(t->mac);
        close(t->ep);
        if (t->tfd >= 0)
            close(t->tfd);
    }
    free(th);
    free(lat);
    EVP_MAC_free(g_mac);
    for (size_t i = 0; i < cfg.npaths; i++) {
        free(cfg.paths[i]);
        if (cfg.get_reqs)
            free(cfg.get_reqs[i].p);
    }
    free(cfg.paths);
    free(cfg.get_reqs);
    free(cfg.req_prefix.p);
    free(cfg.seg_a.p);
    free(cfg.seg_f.p);
    return rc;
}
