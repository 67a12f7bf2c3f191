/*
 * data.h - SMTP DATA reader: a resumable cursor over the message octets.
 *
 * Implements RFC 5321 4.1.1.4 (end of data is CRLF "." CRLF and nothing else),
 * 4.5.2 (dot-unstuffing) and the SMTP smuggling defence: a bare LF or a bare CR
 * never ends or splits a message. `\n.\n`, `\n.\r\n`, `\r.\r`, `\r\n.\n` and
 * friends are message content. In REJECT mode a bare LF/CR is flagged (the
 * session refuses the whole message after the real terminator); in NORMALIZE
 * mode a bare LF is stored as CRLF (and starts a line for dot-unstuffing) but
 * still cannot end DATA; a bare CR is flagged in both modes.
 * A line over the text line limit (RFC 5321 4.5.3.1.6) is stored as received
 * and only flagged (line_too_long: a fact for the verdict, refused only when
 * smtp_long_lines says so). Past the message size limit it stops storing but
 * keeps reading until the terminator.
 * Feed it any split of the input; the result does not depend on the split.
 */
#ifndef MX_SMTP_DATA_H
#define MX_SMTP_DATA_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>

enum smtp_data_state { DR_BOL, DR_TEXT, DR_CR, DR_DOT, DR_DOT_CR, DR_DONE };

struct smtp_data_reader {
	enum smtp_data_state st;
	bool bol_crlf;        /* the current line began after a real CRLF */
	bool normalize;       /* bare LF is a line end (stored as CRLF) */
	size_t line_len;      /* octets of the current line, CRLF excluded */
	size_t max_line;      /* longest line allowed, CRLF excluded */
	size_t max_size;      /* largest message stored */
	size_t total;         /* octets received (before unstuffing) */
	bool bare_lf, bare_cr, line_too_long, too_big;
	struct buf *out;      /* the message, unstuffed, CRLF line endings */
	bool oom;
};

void smtp_data_init(struct smtp_data_reader *r, struct buf *out, size_t max_size,
		    bool normalize);
/*
 * Consumes octets from p. Returns how many were used: all of them, or fewer
 * when the terminator was found (the rest belongs to the next command).
 */
size_t smtp_data_feed(struct smtp_data_reader *r, const char *p, size_t n);
static inline bool smtp_data_done(const struct smtp_data_reader *r)
{
	return r->st == DR_DONE;
}
/* True when the message may be delivered (no refusing flag set; a long line is not one). */
bool smtp_data_ok(const struct smtp_data_reader *r);

#endif
