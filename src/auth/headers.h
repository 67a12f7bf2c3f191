/*
 * headers.h - the header section of a message split into fields, for authentication.
 *
 * RFC 5322 2.2: a field is a name, a colon and a value that may be folded over
 * several lines (continuation lines begin with WSP). The message must use CRLF
 * line ends (the SMTP layer guarantees it; the CLI converts). Fields keep
 * their exact octets, which simple canonicalization (RFC 6376 3.4.1) needs.
 * A line that is neither a field nor a continuation is skipped and flagged.
 * Not here: MIME, encoded words, address parsing (dmarc.c has its own).
 */
#ifndef MX_AUTH_HEADERS_H
#define MX_AUTH_HEADERS_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>

struct header_field {
	struct slice name;  /* without WSP before the colon */
	struct slice value; /* after the colon up to the final CRLF, folding kept */
	struct slice raw;   /* the whole field without its final CRLF */
};

struct headers {
	struct header_field *f;
	size_t n, cap;
	struct slice body; /* after the empty line; empty when there is none */
	bool malformed;    /* some line was skipped */
};

/* 0, or -1 when the header has more fields or octets than the limits (or ENOMEM). */
int headers_parse(struct headers *h, const char *msg, size_t len);
void headers_free(struct headers *h);
/* True when field f is named name (case-insensitive). */
bool header_is(const struct header_field *f, const char *name);
bool header_is_slice(const struct header_field *f, struct slice name);
/* Number of fields named name. */
size_t headers_count(const struct headers *h, const char *name);

#endif
