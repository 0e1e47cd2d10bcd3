/*
 * qr.h - QR codes as images, for pairing a WhatsApp Web session (GET
 * /v1/channels/{name}/qr). libqrencode makes the module matrix (error
 * correction level M, the smallest version that holds the text); libpng
 * writes it as a PNG, and an SVG is written as text: one path of the dark
 * modules, crisp edges. Both images have a quiet zone of QR_QUIET modules
 * on every side. Rendering is a few milliseconds of CPU for the texts
 * pairing uses (under 300 bytes), so it may run on the loop.
 */
#ifndef MSGD_QR_H
#define MSGD_QR_H

#include <stddef.h>

#define QR_TEXT_MAX   1024   /* bytes of text encoded (a WhatsApp pairing code is ~240) */
#define QR_QUIET      4      /* modules of white border on each side */
#define QR_SCALE_MIN  1      /* PNG pixels per module */
#define QR_SCALE_MAX  32

/* The module matrix of text: *width modules a side (17 + 4 * version),
 * *modules malloc'd, width * width bytes, row by row, 1 = dark. 0, or -1
 * when text is empty, longer than QR_TEXT_MAX or holds no QR code. */
int qr_encode(const char *text, int *width, unsigned char **modules);

/* text as a PNG (1-bit greyscale, (width + 2 * QR_QUIET) * scale pixels a
 * side; scale is clamped to QR_SCALE_MIN..QR_SCALE_MAX): *out malloc'd,
 * *len its size. 0 or -1. */
int qr_render_png(const char *text, int scale, unsigned char **out, size_t *len);

/* text as an SVG document (viewBox in modules, quiet zone included): *out
 * malloc'd and NUL-terminated, *len its length. 0 or -1. */
int qr_render_svg(const char *text, char **out, size_t *len);

#endif
