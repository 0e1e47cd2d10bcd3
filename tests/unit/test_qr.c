/*
 * test_qr.c - QR codes as images (src/util/qr.c). Nothing is decoded: the
 * PNG's signature and IHDR give its size, which must follow the QR
 * version; the SVG must be well formed with one path; a known short text
 * gives a stable matrix.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/qr.h"

/* Dark modules of "hello" (version 1-M) as libqrencode 4.1 lays them out. */
#define QR_HELLO_DARK 214

/* A WhatsApp Web pairing code's shape (222 bytes). */
#define PAIRING_TEXT "2@FAKEcorpusQRref0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRST," \
	"FAKEnoiseKey0123456789abcdefghijklmnopqrstuvwx=,FAKEidentityKey0123456789abcdefghij" \
	"klmnopqrstu=,FAKEadvSecret0123456789abcdefghijklmnopqrstuvwxyzAB="

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int
dark_count(const char *text, int *width)
{
	unsigned char *m;
	int n = 0;

	assert_int_equal(qr_encode(text, width, &m), 0);
	for (int i = 0; i < *width * *width; i++) {
		assert_true(m[i] == 0 || m[i] == 1);
		n += m[i];
	}
	free(m);
	return n;
}

/* "hello" at level M is version 1 (21 modules); libqrencode's mask choice
 * is deterministic, so the count of dark modules is too. */
static void
test_known_text_stable(void **state)
{
	int w, w2;
	int n = dark_count("hello", &w);

	assert_int_equal(w, 21);
	assert_int_equal(n, QR_HELLO_DARK);
	assert_int_equal(dark_count("hello", &w2), n);
	assert_int_equal(w2, w);
}

/* The three finder patterns: 7x7 squares with a dark ring and a dark 3x3 centre. */
static void
test_finder_patterns(void **state)
{
	unsigned char *m;
	int w;
	const int corners[3][2] = { { 0, 0 }, { 0, -7 }, { -7, 0 } };

	assert_int_equal(qr_encode(PAIRING_TEXT, &w, &m), 0);
	for (int c = 0; c < 3; c++) {
		int oy = corners[c][0] < 0 ? w - 7 : 0, ox = corners[c][1] < 0 ? w - 7 : 0;
		for (int y = 0; y < 7; y++) {
			for (int x = 0; x < 7; x++) {
				bool ring = y == 0 || y == 6 || x == 0 || x == 6;
				bool core = y >= 2 && y <= 4 && x >= 2 && x <= 4;
				assert_int_equal(m[(oy + y) * w + ox + x], ring || core);
			}
		}
	}
	free(m);
}

static void
test_version_grows_with_text(void **state)
{
	int w1, w2;

	dark_count("hi", &w1);
	dark_count(PAIRING_TEXT, &w2);
	assert_true(w2 > w1);
	assert_int_equal((w2 - 17) % 4, 0);
	/* 222 bytes at level M: version 10 holds 213, 11 holds 251. */
	assert_int_equal(w2, 17 + 4 * 11);
}

static void
test_png_size_follows_version(void **state)
{
	static const unsigned char sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	unsigned char *png;
	size_t len;
	int w;

	dark_count(PAIRING_TEXT, &w);
	for (int scale = 1; scale <= 8; scale *= 2) {
		assert_int_equal(qr_render_png(PAIRING_TEXT, scale, &png, &len), 0);
		assert_true(len > 8 + 25 + 12);
		assert_memory_equal(png, sig, 8);
		/* IHDR first: length 13, then width, height, depth 1, greyscale. */
		assert_int_equal(be32(png + 8), 13);
		assert_memory_equal(png + 12, "IHDR", 4);
		assert_int_equal(be32(png + 16), (uint32_t)((w + 2 * QR_QUIET) * scale));
		assert_int_equal(be32(png + 20), (uint32_t)((w + 2 * QR_QUIET) * scale));
		assert_int_equal(png[24], 1);
		assert_int_equal(png[25], 0);
		/* Ends with IEND. */
		assert_memory_equal(png + len - 8, "IEND", 4);
		free(png);
	}
	/* The scale is clamped. */
	assert_int_equal(qr_render_png("hello", 1000, &png, &len), 0);
	assert_int_equal(be32(png + 16), (uint32_t)((21 + 2 * QR_QUIET) * QR_SCALE_MAX));
	free(png);
	assert_int_equal(qr_render_png("hello", 0, &png, &len), 0);
	assert_int_equal(be32(png + 16), (uint32_t)(21 + 2 * QR_QUIET));
	free(png);
}

/* Count the dark modules an SVG path covers: "M x y h n v1 h-n z" runs. */
static int
svg_dark(const char *d, int side)
{
	int x, y, n, n2, used, total = 0;

	while (*d == 'M') {
		assert_int_equal(sscanf(d, "M%d %dh%dv1h-%dz%n", &x, &y, &n, &n2, &used), 4);
		assert_int_equal(n, n2);
		assert_true(n > 0);
		/* Inside the symbol, never in the quiet zone. */
		assert_true(x >= QR_QUIET && y >= QR_QUIET);
		assert_true(x + n <= side - QR_QUIET && y < side - QR_QUIET);
		total += n;
		d += used;
	}
	assert_int_equal(*d, '"');
	return total;
}

static void
test_svg_well_formed(void **state)
{
	char *svg, want[64];
	size_t len;
	int w, n = dark_count("hello", &w), side = w + 2 * QR_QUIET;

	assert_int_equal(qr_render_svg("hello", &svg, &len), 0);
	assert_int_equal(strlen(svg), len);
	assert_true(strncmp(svg, "<?xml ", 6) == 0);
	assert_non_null(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
	assert_non_null(strstr(svg, "shape-rendering=\"crispEdges\""));
	snprintf(want, sizeof(want), "viewBox=\"0 0 %d %d\"", side, side);
	assert_non_null(strstr(svg, want));
	/* One path; every element closed; the document ends with </svg>. */
	const char *p = strstr(svg, "<path ");
	assert_non_null(p);
	assert_null(strstr(p + 1, "<path "));
	assert_non_null(strstr(svg, "</svg>\n"));
	assert_int_equal(strcmp(svg + len - 7, "</svg>\n"), 0);
	int opens = 0, closes = 0;
	for (const char *s = svg; *s; s++) {
		opens += *s == '<';
		closes += *s == '>';
		assert_true(*s != '&');
	}
	assert_int_equal(opens, closes);
	const char *d = strstr(p, " d=\"");
	assert_non_null(d);
	assert_int_equal(svg_dark(d + 4, side), n);
	free(svg);
}

static void
test_refused(void **state)
{
	unsigned char *png;
	char *svg, *big;
	size_t len;
	int w;
	unsigned char *m;

	assert_int_equal(qr_render_png("", 4, &png, &len), -1);
	assert_int_equal(qr_render_svg(NULL, &svg, &len), -1);
	big = malloc(QR_TEXT_MAX + 2);
	memset(big, 'a', QR_TEXT_MAX + 1);
	big[QR_TEXT_MAX + 1] = '\0';
	assert_int_equal(qr_encode(big, &w, &m), -1);
	assert_int_equal(qr_render_svg(big, &svg, &len), -1);
	/* At the cap it still fits a QR code (version 40-M holds 2331 bytes). */
	big[QR_TEXT_MAX] = '\0';
	assert_int_equal(qr_render_png(big, 2, &png, &len), 0);
	free(png);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_text_stable),
		cmocka_unit_test(test_finder_patterns),
		cmocka_unit_test(test_version_grows_with_text),
		cmocka_unit_test(test_png_size_follows_version),
		cmocka_unit_test(test_svg_well_formed),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
