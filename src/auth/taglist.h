/*
 * taglist.h - the tag=value list of RFC 6376 3.2, shared by DKIM-Signature,
 * DKIM key records (3.6.1), ARC-Seal / ARC-Message-Signature (RFC 8617 4.1)
 * and DMARC records (RFC 7489 6.4).
 *
 * Values are borrowed slices into the input, with surrounding FWS removed and
 * inner FWS kept (base64 values strip it themselves). A duplicate tag is an
 * error (RFC 6376 3.2: "Tags with duplicate names MUST NOT occur"). Also the
 * base64 decoder that DKIM's b=, bh= and p= need (whitespace ignored).
 */
#ifndef MX_AUTH_TAGLIST_H
#define MX_AUTH_TAGLIST_H

#include "core/buf.h"
#include "core/limits.h"

#include <stddef.h>
#include <stdint.h>

struct tag {
	struct slice name;
	struct slice value;
};

struct taglist {
	struct tag t[TAGLIST_TAGS_MAX];
	size_t n;
};

enum taglist_error {
	TAGLIST_OK = 0,
	TAGLIST_SYNTAX = -1,
	TAGLIST_DUPLICATE = -2,
	TAGLIST_TOO_MANY = -3,
};

int taglist_parse(struct taglist *tl, const char *p, size_t len);
const char *taglist_error_name(int err);
/* The tag named name (case-sensitive, RFC 6376 3.2), or NULL. */
const struct tag *taglist_get(const struct taglist *tl, const char *name);

/* Decodes base64 ignoring FWS; -1 on a bad character, padding or overflow of outcap. */
int base64_decode_ws(struct slice in, unsigned char *out, size_t outcap, size_t *outlen);
/* Appends the base64 encoding of in to out. */
int base64_encode(struct buf *out, const unsigned char *in, size_t len);
/* Strict decimal: 1..digits digits, no sign; -1 on anything else or overflow. */
int parse_u64(struct slice s, size_t max_digits, uint64_t *out);

#endif
