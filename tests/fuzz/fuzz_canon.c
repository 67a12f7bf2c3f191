/*
 * fuzz_canon.c - header splitting and DKIM canonicalization of header and body.
 * Checks properties that must hold for any input: relaxed output has no WSP
 * runs and no WSP before CRLF, and relaxed is idempotent on bodies.
 */
#include "auth/canon.h"
#include "auth/headers.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void collect(void *arg, const char *p, size_t n)
{
	buf_append(arg, p, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct headers h;
	if (headers_parse(&h, (const char *)data, size) == 0) {
		struct buf out = { 0 };
		for (size_t i = 0; i < h.n; i++) {
			canon_header(&out, CANON_SIMPLE, &h.f[i], true);
			canon_header(&out, CANON_RELAXED, &h.f[i], true);
		}
		buf_free(&out);
	}
	struct slice body = { (const char *)data, size };
	struct buf s = { 0 }, r = { 0 }, r2 = { 0 };
	canon_body(CANON_SIMPLE, body, collect, &s);
	canon_body(CANON_RELAXED, body, collect, &r);
	for (size_t i = 0; i + 1 < r.len; i++) {
		bool wsp = r.p[i] == ' ' || r.p[i] == '\t';
		if (r.p[i] == '\t' || (wsp && (r.p[i + 1] == ' ' || r.p[i + 1] == '\t')))
			abort();
		if (wsp && r.p[i + 1] == '\r' && i + 2 < r.len && r.p[i + 2] == '\n')
			abort();
	}
	canon_body(CANON_RELAXED, (struct slice){ r.p, r.len }, collect, &r2);
	if (r.len != r2.len || (r.len && memcmp(r.p, r2.p, r.len)))
		abort();
	if (s.len < 2 || s.p[s.len - 2] != '\r' || s.p[s.len - 1] != '\n')
		abort();
	buf_free(&s);
	buf_free(&r);
	buf_free(&r2);
	headers_free(&h);
	return 0;
}
