/*
 * canon.h - DKIM canonicalization (RFC 6376 3.4), used by DKIM and ARC.
 *
 * Header fields: "simple" keeps the octets; "relaxed" lower-cases the name,
 * unfolds, turns WSP runs into one SP and trims WSP around the colon and at
 * the end. Bodies: "simple" drops trailing empty lines (an empty body becomes
 * CRLF); "relaxed" also drops WSP at line ends and turns WSP runs into one SP
 * (an empty body stays empty, RFC 6376 errata 1384). The body canonicalizer
 * streams its output to a sink without allocating, so hashing a body costs
 * one pass over it.
 */
#ifndef MX_AUTH_CANON_H
#define MX_AUTH_CANON_H

#include "auth/headers.h"
#include "core/buf.h"

#include <stdbool.h>

enum canon { CANON_SIMPLE, CANON_RELAXED };

typedef void (*canon_sink)(void *arg, const char *p, size_t n);

/* Appends the canonical form of f to out, followed by CRLF when crlf. 0 or -1 (ENOMEM). */
int canon_header(struct buf *out, enum canon c, const struct header_field *f, bool crlf);
void canon_body(enum canon c, struct slice body, canon_sink sink, void *arg);
/* "simple"/"relaxed" -> enum; -1 when unknown. */
int canon_parse(struct slice s);
const char *canon_name(enum canon c);

#endif
