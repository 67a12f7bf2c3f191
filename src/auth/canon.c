/*
 * canon.c - DKIM header and body canonicalization; see canon.h.
 */
#include "auth/canon.h"

#include <ctype.h>
#include <string.h>

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

int canon_header(struct buf *out, enum canon c, const struct header_field *f, bool crlf)
{
	if (c == CANON_SIMPLE) {
		if (buf_append(out, f->raw.p, f->raw.len) < 0)
			return -1;
	} else {
		if (buf_reserve(out, f->name.len + f->value.len + 3) < 0)
			return -1;
		char *o = out->p + out->len;
		for (size_t i = 0; i < f->name.len; i++)
			*o++ = (char)tolower((unsigned char)f->name.p[i]);
		*o++ = ':';
		bool pending_sp = false, any = false;
		for (size_t i = 0; i < f->value.len; i++) {
			char ch = f->value.p[i];
			if (ch == '\r' || ch == '\n')
				continue; /* unfold: only CRLF before WSP occurs inside a field */
			if (is_wsp(ch)) {
				pending_sp = any;
				continue;
			}
			if (pending_sp)
				*o++ = ' ';
			pending_sp = false;
			*o++ = ch;
			any = true;
		}
		out->len = (size_t)(o - out->p);
	}
	if (crlf && buf_append(out, "\r\n", 2) < 0)
		return -1;
	return 0;
}

/* Emits one relaxed line (without its CRLF); returns false if it is empty. */
static bool relaxed_line(const char *p, size_t n, canon_sink sink, void *arg, size_t *pending)
{
	/* Find the end without trailing WSP. */
	size_t e = n;
	while (e > 0 && is_wsp(p[e - 1]))
		e--;
	if (e == 0)
		return false;
	for (; *pending; (*pending)--)
		sink(arg, "\r\n", 2);
	size_t i = 0;
	while (i < e) {
		size_t s = i;
		while (i < e && !is_wsp(p[i]))
			i++;
		if (i > s)
			sink(arg, p + s, i - s);
		if (i < e) {
			while (is_wsp(p[i]))
				i++;
			sink(arg, " ", 1);
		}
	}
	return true;
}

void canon_body(enum canon c, struct slice body, canon_sink sink, void *arg)
{
	const char *p = body.p, *end = body.p + body.len;
	size_t pending = 0; /* empty lines not yet emitted */
	bool emitted = false;
	while (p < end) {
		const char *q = p, *eol = NULL;
		while (q < end) {
			const char *cr = memchr(q, '\r', (size_t)(end - q));
			if (!cr)
				break;
			if (cr + 1 < end && cr[1] == '\n') {
				eol = cr;
				break;
			}
			q = cr + 1;
		}
		size_t n = (size_t)((eol ? eol : end) - p);
		const char *next = eol ? eol + 2 : end;
		if (c == CANON_RELAXED) {
			if (relaxed_line(p, n, sink, arg, &pending)) {
				sink(arg, "\r\n", 2);
				emitted = true;
			} else {
				pending++;
			}
		} else if (n == 0) {
			pending++;
		} else {
			for (; pending; pending--)
				sink(arg, "\r\n", 2);
			sink(arg, p, n);
			sink(arg, "\r\n", 2);
			emitted = true;
		}
		p = next;
	}
	if (!emitted && c == CANON_SIMPLE)
		sink(arg, "\r\n", 2);
}

int canon_parse(struct slice s)
{
	if (s.len == 6 && !memcmp(s.p, "simple", 6))
		return CANON_SIMPLE;
	if (s.len == 7 && !memcmp(s.p, "relaxed", 7))
		return CANON_RELAXED;
	return -1;
}

const char *canon_name(enum canon c)
{
	return c == CANON_RELAXED ? "relaxed" : "simple";
}
