/* qr.c - QR codes as PNG and SVG (see qr.h). */
#include "qr.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <qrencode.h>

#include "../log/log.h"
#include "util.h"

#define QR_PNG_MAX (4u << 20)   /* bytes of PNG: version 40 at scale 32 is far below */
#define QR_SVG_MAX (1u << 20)   /* bytes of SVG */

int
qr_encode(const char *text, int *width, unsigned char **modules)
{
	size_t n = text ? strnlen(text, QR_TEXT_MAX + 1) : 0;
	QRcode *q;
	unsigned char *m;

	if (n == 0 || n > QR_TEXT_MAX)
		return -1;
	/* 8-bit mode, case kept: the text is encoded byte for byte. */
	q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	if (q == NULL) {
		log_warn("qr: cannot encode the text", "bytes", n > 99 ? "100+" : "<100");
		return -1;
	}
	m = xmalloc((size_t)q->width * (size_t)q->width);
	for (size_t i = 0; i < (size_t)q->width * (size_t)q->width; i++)
		m[i] = q->data[i] & 1;  /* bit 0: dark; the others say what the module is */
	*width = q->width;
	*modules = m;
	QRcode_free(q);
	return 0;
}

/* PNG */

static void
png_fail(png_structp png, png_const_charp msg)
{
	log_error("qr: png", "error", msg);
	png_longjmp(png, 1);
}

static void
png_warning_ignored(png_structp png, png_const_charp msg)
{
}

static void
png_write_buf(png_structp png, png_bytep data, png_size_t n)
{
	if (buf_append(png_get_io_ptr(png), data, n) != 0)
		png_error(png, "image over its cap");
}

static void
png_flush_none(png_structp png)
{
}

/* Write the image; modules of width w, scale pixels each. 0 or -1. */
static int
write_png(const unsigned char *mod, int w, int scale, struct buf *b, png_bytep row)
{
	int side = (w + 2 * QR_QUIET) * scale;
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, png_fail,
	    png_warning_ignored);
	png_infop info = png ? png_create_info_struct(png) : NULL;

	if (png == NULL || info == NULL) {
		png_destroy_write_struct(&png, NULL);
		return -1;
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		return -1;
	}
	png_set_write_fn(png, b, png_write_buf, png_flush_none);
	png_set_IHDR(png, info, (png_uint_32)side, (png_uint_32)side, 1, PNG_COLOR_TYPE_GRAY,
	    PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (int y = 0; y < side; y++) {
		int my = y / scale - QR_QUIET;
		memset(row, 0xff, ((size_t)side + 7) / 8);  /* 1 = white */
		for (int x = 0; my >= 0 && my < w && x < side; x++) {
			int mx = x / scale - QR_QUIET;
			if (mx >= 0 && mx < w && mod[(size_t)my * w + mx])
				row[x / 8] &= (png_byte)~(0x80 >> (x % 8));
		}
		png_write_row(png, row);
	}
	png_write_end(png, info);
	png_destroy_write_struct(&png, &info);
	return 0;
}

int
qr_render_png(const char *text, int scale, unsigned char **out, size_t *len)
{
	unsigned char *mod;
	png_bytep row;
	struct buf b;
	int w, rc;

	if (qr_encode(text, &w, &mod) != 0)
		return -1;
	scale = scale < QR_SCALE_MIN ? QR_SCALE_MIN : scale > QR_SCALE_MAX ? QR_SCALE_MAX : scale;
	row = xmalloc(((size_t)(w + 2 * QR_QUIET) * scale + 7) / 8);
	buf_init(&b, QR_PNG_MAX);
	rc = write_png(mod, w, scale, &b, row);
	free(row);
	free(mod);
	if (rc != 0) {
		buf_free(&b);
		return -1;
	}
	*out = (unsigned char *)b.data;
	*len = b.len;
	return 0;
}

/* SVG */

static int
svg_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
svg_printf(struct buf *b, const char *fmt, ...)
{
	char s[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(s, sizeof(s), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(s))
		return -1;
	return buf_append(b, s, (size_t)n);
}

int
qr_render_svg(const char *text, char **out, size_t *len)
{
	unsigned char *mod;
	struct buf b;
	int w, side, rc = 0;

	if (qr_encode(text, &w, &mod) != 0)
		return -1;
	side = w + 2 * QR_QUIET;
	buf_init(&b, QR_SVG_MAX);
	rc |= svg_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" viewBox=\"0 0 %d %d\" "
	    "width=\"%d\" height=\"%d\" shape-rendering=\"crispEdges\">\n", side, side,
	    side * 8, side * 8);
	rc |= svg_printf(&b, "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", side, side);
	rc |= svg_printf(&b, "<path fill=\"#000000\" d=\"");
	/* Each run of dark modules in a row is one rectangle, one module high. */
	for (int y = 0; y < w && rc == 0; y++) {
		for (int x = 0; x < w && rc == 0;) {
			if (!mod[(size_t)y * w + x]) {
				x++;
				continue;
			}
			int x0 = x;
			while (x < w && mod[(size_t)y * w + x])
				x++;
			rc |= svg_printf(&b, "M%d %dh%dv1h-%dz", x0 + QR_QUIET, y + QR_QUIET, x - x0,
			    x - x0);
		}
	}
	rc |= svg_printf(&b, "\"/>\n</svg>\n");
	free(mod);
	if (rc != 0) {
		buf_free(&b);
		return -1;
	}
	*out = b.data;
	*len = b.len;
	return 0;
}
