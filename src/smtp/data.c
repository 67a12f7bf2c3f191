/*
 * data.c - SMTP DATA reader; see data.h for the rules.
 */
#include "smtp/data.h"
#include "core/limits.h"

#include <string.h>

void smtp_data_init(struct smtp_data_reader *r, struct buf *out, size_t max_size,
		    bool normalize)
{
	memset(r, 0, sizeof(*r));
	/* The CRLF that ended the DATA command counts: "." CRLF at once is an empty message. */
	r->st = DR_BOL;
	r->bol_crlf = true;
	r->normalize = normalize;
	r->max_line = SMTP_TEXT_LINE_MAX - 2;
	r->max_size = max_size;
	r->out = out;
}

bool smtp_data_ok(const struct smtp_data_reader *r)
{
	return !r->bare_lf && !r->bare_cr && !r->too_big && !r->oom;
}

static void emit(struct smtp_data_reader *r, const char *p, size_t n)
{
	if (r->too_big || r->oom || n == 0)
		return;
	/* Store exactly the first max_size octets, so the result does not depend on the split. */
	size_t room = r->out->len < r->max_size ? r->max_size - r->out->len : 0;
	bool over = n > room;
	if (over)
		n = room;
	if (n && buf_append(r->out, p, n) < 0)
		r->oom = true;
	if (over)
		r->too_big = true;
}

static void count_line(struct smtp_data_reader *r, size_t n)
{
	r->line_len += n;
	if (r->line_len > r->max_line)
		r->line_too_long = true;
}

static void end_line(struct smtp_data_reader *r, bool real_crlf)
{
	emit(r, "\r\n", 2);
	r->st = DR_BOL;
	r->bol_crlf = real_crlf;
	r->line_len = 0;
}

/* A bare LF: a line end in normalize mode, flagged content otherwise. */
static void bare_lf(struct smtp_data_reader *r)
{
	if (r->normalize) {
		end_line(r, false);
	} else {
		r->bare_lf = true;
		emit(r, "\n", 1);
		r->st = DR_BOL;
		r->bol_crlf = false;
		r->line_len = 0;
	}
}

size_t smtp_data_feed(struct smtp_data_reader *r, const char *p, size_t n)
{
	size_t i = 0;
	while (i < n && r->st != DR_DONE) {
		char c = p[i];
		switch (r->st) {
		case DR_BOL:
			if (c == '.') {
				r->st = DR_DOT;
				i++;
				break;
			}
			r->st = DR_TEXT;
			__attribute__((fallthrough)); /* c is text */
		case DR_TEXT: {
			/* Copy the run up to the next CR or LF in one step. */
			size_t j = i;
			while (j < n && p[j] != '\r' && p[j] != '\n')
				j++;
			count_line(r, j - i);
			emit(r, p + i, j - i);
			i = j;
			if (i < n) {
				if (p[i] == '\r')
					r->st = DR_CR;
				else
					bare_lf(r);
				i++;
			}
			break;
		}
		case DR_CR:
			if (c == '\n') {
				end_line(r, true);
				i++;
			} else {
				/* bare CR: keep it as text, look at c again */
				r->bare_cr = true;
				emit(r, "\r", 1);
				count_line(r, 1);
				r->st = DR_TEXT;
			}
			break;
		case DR_DOT:
			if (c == '\r') {
				r->st = DR_DOT_CR;
				i++;
			} else if (c == '\n') {
				/* "." then bare LF: never the end; the dot line is content. */
				emit(r, ".", 1);
				count_line(r, 1);
				bare_lf(r);
				i++;
			} else {
				/* RFC 5321 4.5.2: a leading dot with more on the line is dropped. */
				r->st = DR_TEXT;
			}
			break;
		case DR_DOT_CR:
			if (c == '\n' && r->bol_crlf) {
				r->st = DR_DONE;
				i++;
			} else if (c == '\n') {
				/* "\n.\r\n": the line began at a bare LF, so this is no end. */
				emit(r, ".", 1);
				end_line(r, true);
				i++;
			} else {
				/* ".\r" + something: a bare CR after a dot. */
				r->bare_cr = true;
				emit(r, ".\r", 2);
				count_line(r, 2);
				r->st = DR_TEXT;
			}
			break;
		case DR_DONE:
			break;
		}
	}
	r->total += i;
	return i;
}
