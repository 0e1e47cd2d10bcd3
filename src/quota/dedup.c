/*
 * dedup.c - the content fingerprint of quota.h's duplicate detection: text
 * normalization (ASCII whitespace trimmed and collapsed) streamed into
 * SHA-256 (libsodium), so a text of any length needs no buffer.
 */
#include "quota.h"

#include <string.h>

#include <sodium.h>

#include "../util/util.h"

/* Bumped if the normalization or the encoding ever changes, so old rows
 * simply stop matching. */
#define FP_TAG "msgd-dup-v1"

typedef void (*emit_fn)(void *arg, const char *p, size_t n);

static bool
is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Hand text's normalized form to emit, a run at a time; returns its length. */
static size_t
normalize(const char *text, size_t len, emit_fn emit, void *arg)
{
	size_t i = 0, total = 0;
	bool gap = false;

	while (i < len) {
		if (is_space((unsigned char)text[i])) {
			gap = true;
			i++;
			continue;
		}
		size_t j = i;
		while (j < len && !is_space((unsigned char)text[j]))
			j++;
		if (gap && total > 0) {
			emit(arg, " ", 1);
			total++;
		}
		emit(arg, text + i, j - i);
		total += j - i;
		gap = false;
		i = j;
	}
	return total;
}

struct outbuf {
	char *p;
	size_t cap, len;  /* cap excludes the NUL */
};

static void
emit_buf(void *arg, const char *p, size_t n)
{
	struct outbuf *o = arg;
	size_t room = o->cap - o->len;

	if (n > room)
		n = room;
	memcpy(o->p + o->len, p, n);
	o->len += n;
}

size_t
quota_text_normalize(const char *text, size_t len, char *out, size_t cap)
{
	if (cap == 0)
		return 0;
	struct outbuf o = { .p = out, .cap = cap - 1 };
	normalize(text ? text : "", text ? len : 0, emit_buf, &o);
	out[o.len] = '\0';
	return o.len;
}

static void
emit_hash(void *arg, const char *p, size_t n)
{
	crypto_hash_sha256_update(arg, (const unsigned char *)p, n);
}

static void
hash_u64(crypto_hash_sha256_state *st, uint64_t v)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (56 - 8 * i));
	crypto_hash_sha256_update(st, b, sizeof(b));
}

void
quota_fingerprint(int64_t org_id, const char *address, size_t address_len, const char *text,
    size_t text_len, char out[QUOTA_FP_HEX + 1])
{
	crypto_hash_sha256_state st;
	unsigned char h[crypto_hash_sha256_BYTES];

	if (address == NULL)
		address_len = 0;
	if (text == NULL)
		text_len = 0;
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)FP_TAG, sizeof(FP_TAG));  /* with its NUL */
	hash_u64(&st, (uint64_t)org_id);
	hash_u64(&st, address_len);
	crypto_hash_sha256_update(&st, (const unsigned char *)(address ? address : ""), address_len);
	/* The text's length is known only after normalizing it: it goes last,
	 * so nothing follows the text that its length would have to delimit. */
	size_t n = normalize(text ? text : "", text_len, emit_hash, &st);
	hash_u64(&st, n);
	crypto_hash_sha256_final(&st, h);
	hex_encode(h, sizeof(h), out);
}
