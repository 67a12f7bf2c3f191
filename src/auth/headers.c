/*
 * headers.c - header section splitter; see headers.h.
 */
#include "auth/headers.h"
#include "core/limits.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int push(struct headers *h, struct header_field f)
{
	if (h->n == AUTH_HEADER_FIELDS_MAX)
		return -1;
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 32;
		struct header_field *nf = realloc(h->f, cap * sizeof(*nf));
		if (!nf)
			return -1;
		h->f = nf;
		h->cap = cap;
	}
	h->f[h->n++] = f;
	return 0;
}

/* Length of the line at p (up to and excluding CRLF), and whether CRLF ended it. */
static size_t line_len(const char *p, const char *end, bool *crlf)
{
	const char *q = p;
	while (q < end) {
		const char *cr = memchr(q, '\r', (size_t)(end - q));
		if (!cr)
			break;
		if (cr + 1 < end && cr[1] == '\n') {
			*crlf = true;
			return (size_t)(cr - p);
		}
		q = cr + 1;
	}
	*crlf = false;
	return (size_t)(end - p);
}

static bool is_ftext(unsigned char c)
{
	return c >= 33 && c <= 126 && c != ':';
}

/* Splits "name WSP* : value" starting at p (length n, folding included). */
static bool split_field(const char *p, size_t n, struct header_field *f)
{
	size_t i = 0;
	while (i < n && is_ftext((unsigned char)p[i]))
		i++;
	if (i == 0)
		return false;
	size_t name_len = i;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i >= n || p[i] != ':')
		return false;
	f->name = (struct slice){ p, name_len };
	f->value = (struct slice){ p + i + 1, n - i - 1 };
	f->raw = (struct slice){ p, n };
	return true;
}

/* Adds one collected field (or marks the header malformed); -1 on ENOMEM. */
static int end_field(struct headers *h, const char *field, size_t len)
{
	struct header_field f;
	if (!split_field(field, len, &f)) {
		h->malformed = true;
		return 0;
	}
	return push(h, f);
}

int headers_parse(struct headers *h, const char *msg, size_t len)
{
	memset(h, 0, sizeof(*h));
	const char *p = msg, *end = msg + len;
	const char *field = NULL; /* start of the field being collected */
	size_t field_len = 0;
	while (p < end) {
		if ((size_t)(p - msg) > AUTH_HEADER_SIZE_MAX)
			return -1;
		bool crlf;
		size_t n = line_len(p, end, &crlf);
		const char *next = p + n + (crlf ? 2 : 0);
		if (n == 0 && crlf) { /* the empty line: body follows */
			h->body = (struct slice){ next, (size_t)(end - next) };
			p = next;
			break;
		}
		if ((*p == ' ' || *p == '\t') && field) {
			field_len = (size_t)(p + n - field);
		} else {
			if (field && end_field(h, field, field_len) < 0)
				return -1;
			if (*p == ' ' || *p == '\t') {
				h->malformed = true; /* continuation of nothing */
				field = NULL;
			} else {
				field = p;
				field_len = n;
			}
		}
		p = next;
	}
	if (field && end_field(h, field, field_len) < 0)
		return -1;
	if (!h->body.p)
		h->body = (struct slice){ end, 0 };
	return 0;
}

void headers_free(struct headers *h)
{
	free(h->f);
	memset(h, 0, sizeof(*h));
}

bool header_is(const struct header_field *f, const char *name)
{
	return slice_eq_ci(f->name, name);
}

bool header_is_slice(const struct header_field *f, struct slice name)
{
	return f->name.len == name.len && strncasecmp(f->name.p, name.p, name.len) == 0;
}

size_t headers_count(const struct headers *h, const char *name)
{
	size_t c = 0;
	for (size_t i = 0; i < h->n; i++)
		c += header_is(&h->f[i], name);
	return c;
}
