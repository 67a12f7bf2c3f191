/*
 * reply.h - SMTP reply builder (RFC 5321 4.2, enhanced codes RFC 2034/3463).
 *
 * A reply is a code, an optional enhanced status code and text. Text lines
 * separated by '\n' become continuation lines ("250-..."); a line that would
 * pass the 512-octet reply line limit (RFC 5321 4.5.3.1.5) is wrapped at a
 * space, never cut. Control characters in the text are replaced by '?', so
 * echoing client input cannot inject reply lines.
 * Refusals name a reason code and its help page (policy/reasons.h).
 */
#ifndef MX_SMTP_REPLY_H
#define MX_SMTP_REPLY_H

#include "core/buf.h"
#include "policy/reasons.h"

/* Return 0, or -1 when out of memory. enh may be NULL (banner, EHLO). */
int smtp_reply(struct buf *out, int code, const char *enh, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int smtp_reply_reason(struct buf *out, int code, const char *enh, enum reason r,
		      const char *portal_url, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
/* Appends one reply from already formatted text. */
int smtp_reply_text(struct buf *out, int code, const char *enh, const char *text, size_t len);

#endif
