/*
 * reply.c - SMTP reply builder; see reply.h.
 */
#include "smtp/reply.h"
#include "core/limits.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int put_line(struct buf *out, int code, char sep, const char *enh, const char *p,
		    size_t n)
{
	if (buf_printf(out, "%03d%c", code, sep) < 0)
		return -1;
	if (enh && buf_printf(out, "%s ", enh) < 0)
		return -1;
	if (buf_reserve(out, n + 2) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		out->p[out->len++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	out->p[out->len++] = '\r';
	out->p[out->len++] = '\n';
	return 0;
}

int smtp_reply_text(struct buf *out, int code, const char *enh, const char *text, size_t len)
{
	/* Room for the text on one line: limit minus "250-", "x.y.z " and CRLF. */
	size_t room = SMTP_REPLY_LINE_MAX - 4 - 2 - (enh ? strlen(enh) + 1 : 0);
	const char *p = text, *end = text + len;
	do {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl : end;
		size_t n = (size_t)(stop - p);
		const char *next = nl ? nl + 1 : end;
		if (n > room) {
			n = room;
			for (size_t i = room; i > room / 2; i--)
				if (p[i] == ' ') {
					n = i;
					break;
				}
			next = p + n;
			while (next < end && *next == ' ')
				next++;
		}
		if (put_line(out, code, next < end ? '-' : ' ', enh, p, n) < 0)
			return -1;
		p = next;
	} while (p < end);
	return 0;
}

static int reply_v(struct buf *out, int code, const char *enh, const char *suffix_code,
		   const char *portal_url, const char *fmt, va_list ap)
{
	struct buf text = { 0 };
	int rc = buf_vprintf(&text, fmt, ap);
	if (rc == 0 && suffix_code)
		rc = buf_printf(&text, " (%s %s/help/%s)", suffix_code, portal_url, suffix_code);
	if (rc == 0)
		rc = smtp_reply_text(out, code, enh, text.p ? text.p : "", text.len);
	buf_free(&text);
	return rc;
}

int smtp_reply(struct buf *out, int code, const char *enh, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = reply_v(out, code, enh, NULL, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

int smtp_reply_reason(struct buf *out, int code, const char *enh, enum reason r,
		      const char *portal_url, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = reply_v(out, code, enh, reason_get(r)->code, portal_url, fmt, ap);
	va_end(ap);
	return rc;
}
