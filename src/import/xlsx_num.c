/*
 * xlsx_num.c - a cell's number as Excel shows it: General (15 significant
 * digits, integers without a fraction) or, under a date or time format,
 * ISO 8601 text. Serial dates count days from 1899-12-31 (1900 system,
 * with Excel's fictitious 1900-02-29 as day 60) or from 1904-01-01.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "import/xlsx.h"

/* 9999-12-31, the last day Excel shows. */
#define SERIAL_MAX 2958465.0
/* Days between 1899-12-30 (day 0 of the 1900 system after its day 60) and 1970-01-01. */
#define UNIX_1900 25569L
/* Days between the two systems' day 0s (1904-01-01 is 1462 in the 1900 system). */
#define DAYS_1904 1462L
#define SECS_DAY 86400L

enum xlsx_kind
xlsx_builtin_kind(unsigned id)
{
	if (id >= 14 && id <= 17)
		return XLSX_DATE;
	if (id >= 18 && id <= 21)
		return XLSX_TIME;
	if (id == 22)
		return XLSX_DATETIME;
	if (id >= 45 && id <= 47)
		return XLSX_TIME;
	/* East Asian built-in date formats. */
	if ((id >= 27 && id <= 36) || (id >= 50 && id <= 58))
		return XLSX_DATE;
	return XLSX_GENERAL;
}

/*
 * Date letters outside quoted text, escapes (\x), fills and paddings (*x,
 * _x) and brackets ([Red], [$-409]). 'm' alone is a month; with 'h' or
 * 's' the format has a time as well.
 */
enum xlsx_kind
xlsx_format_kind(const char *code)
{
	int date = 0, time = 0, month = 0;

	for (const char *p = code; *p; p++) {
		switch (*p) {
		case '"':
			p = strchr(p + 1, '"');
			if (p == NULL)
				return XLSX_GENERAL;
			continue;
		case '\\': case '*': case '_':
			if (p[1] == '\0')
				return XLSX_GENERAL;
			p++;
			continue;
		case '[': {
			/* [h], [mm], [ss]: elapsed time. */
			const char *e = strchr(p, ']');
			if (e == NULL)
				return XLSX_GENERAL;
			if (p[1] == 'h' || p[1] == 'H' || p[1] == 's' || p[1] == 'S')
				time = 1;
			p = e;
			continue;
		}
		case ';':
			/* Only the first section (positive numbers) decides. */
			goto done;
		}
		switch (tolower((unsigned char)*p)) {
		case 'd': case 'y':
			date = 1;
			break;
		case 'h': case 's':
			time = 1;
			break;
		case 'm':
			month = 1;
			break;
		}
	}
done:
	if (month && !time)
		date = 1;
	if (date && time)
		return XLSX_DATETIME;
	if (date)
		return XLSX_DATE;
	if (time)
		return XLSX_TIME;
	return XLSX_GENERAL;
}

static size_t
put(char *out, size_t cap, int n)
{
	if (n < 0) {
		if (cap)
			out[0] = '\0';
		return 0;
	}
	return (size_t)n < cap ? (size_t)n : (cap ? cap - 1 : 0);
}

static size_t
general(double d, char *out, size_t cap)
{
	if (d == 0)
		return put(out, cap, snprintf(out, cap, "0"));
	if (d == floor(d) && fabs(d) < 1e15)
		return put(out, cap, snprintf(out, cap, "%.0f", d));
	size_t n = put(out, cap, snprintf(out, cap, "%.15G", d));
	/* %G gives "1.5E-07" as Excel does; nothing else to change. */
	return n;
}

static size_t
date_text(double d, enum xlsx_kind kind, int date1904, char *out, size_t cap)
{
	double day = floor(d);
	long secs = lround((d - day) * SECS_DAY);
	long n = (long)day;

	if (secs >= SECS_DAY) {
		secs -= SECS_DAY;
		n++;
	}
	int hh = (int)(secs / 3600), mi = (int)(secs / 60 % 60), ss = (int)(secs % 60);
	if (kind == XLSX_TIME)
		return put(out, cap, snprintf(out, cap, "%02d:%02d:%02d", hh, mi, ss));

	int y, mo, dd;
	if (!date1904 && n == 60) {
		y = 1900, mo = 2, dd = 29;      /* Excel's day that never was */
	} else if (!date1904 && n == 0) {
		y = 1900, mo = 1, dd = 0;       /* as Excel shows 0 */
	} else {
		long unix_days;
		if (date1904)
			unix_days = n + DAYS_1904 - UNIX_1900;
		else
			unix_days = n < 60 ? n + 1 - UNIX_1900 : n - UNIX_1900;
		time_t t = (time_t)unix_days * SECS_DAY;
		struct tm tm;
		if (gmtime_r(&t, &tm) == NULL)
			return general(d, out, cap);
		y = tm.tm_year + 1900, mo = tm.tm_mon + 1, dd = tm.tm_mday;
	}
	if (kind == XLSX_DATETIME)
		return put(out, cap, snprintf(out, cap, "%04d-%02d-%02d %02d:%02d:%02d", y, mo, dd, hh, mi, ss));
	return put(out, cap, snprintf(out, cap, "%04d-%02d-%02d", y, mo, dd));
}

/* A decimal number as XML writes it: sign, digits, point, exponent. */
static int
is_number(const char *v, double *d)
{
	const char *p = v;
	int digits = 0;

	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	const char *start = p;
	if (*p == '-' || *p == '+')
		p++;
	for (; isdigit((unsigned char)*p); p++)
		digits++;
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++)
			digits++;
	if (!digits)
		return 0;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '-' || *p == '+')
			p++;
		if (!isdigit((unsigned char)*p))
			return 0;
		while (isdigit((unsigned char)*p))
			p++;
	}
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (*p != '\0')
		return 0;
	*d = strtod(start, NULL);
	return isfinite(*d);
}

size_t
xlsx_format_number(const char *v, enum xlsx_kind kind, int date1904, char *out, size_t cap)
{
	double d;

	if (!is_number(v, &d))
		return put(out, cap, snprintf(out, cap, "%s", v));
	if (kind != XLSX_GENERAL && d >= 0 && d <= SERIAL_MAX)
		return date_text(d, kind, date1904, out, cap);
	return general(d, out, cap);
}
