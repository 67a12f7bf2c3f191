/*
 * Unit tests for ARC chain parsing and validation (src/auth/arc.c) on the example of
 * RFC 8617 Appendix B (tests/integration/data/rfc8617/appendix-b.eml): every ARC header
 * field by field, the body hash of each AMS, the key names asked, and the outcome when
 * no key answers. The RFC publishes no keys, so no signature can be verified here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/arc.h"
#include "auth/dkim.h"
#include "auth/headers.h"

#define RFC_FILE UNIT_SRC_DIR "/../integration/data/rfc8617/appendix-b.eml"
#define RFC_BH "KWSe46TZKCcDbH4klJPo+tjk5LWJnVRlP5pvjXFZYLQ="

/* The example with CRLF line ends, as it is on the wire. */
static struct buf rfc_message(void)
{
	FILE *f = fopen(RFC_FILE, "rb");
	assert_non_null(f);
	struct buf m = { 0 };
	int c;
	while ((c = fgetc(f)) != EOF) {
		char ch = (char)c;
		if (ch == '\n')
			assert_int_equal(buf_append(&m, "\r", 1), 0);
		assert_int_equal(buf_append(&m, &ch, 1), 0);
	}
	fclose(f);
	return m;
}

struct chain {
	struct buf msg;
	struct headers h;
	struct arc_eval a;
};

static void chain_open(struct chain *c)
{
	c->msg = rfc_message();
	assert_int_equal(headers_parse(&c->h, c->msg.p, c->msg.len), 0);
	assert_int_equal(arc_init(&c->a, &c->h, 1700000000), 0);
}

static void chain_close(struct chain *c)
{
	arc_free(&c->a);
	headers_free(&c->h);
	buf_free(&c->msg);
}

static void test_rfc8617_sets(void **state)
{
	(void)state;
	static const struct {
		const char *d, *s, *authserv;
		enum arc_cv cv;
	} want[] = {
		{ "lists.example.org", "dk-lists", " lists.example.org;", ARC_CV_NONE },
		{ "gmail.example", "20120806", " gmail.example;", ARC_CV_PASS },
		{ "clochette.example.org", "clochette", " clochette.example.org;", ARC_CV_PASS },
	};
	static const char *const signed_fields[] = { "message-id", "date", "from", "to",
						     "subject" };
	struct chain c;
	chain_open(&c);
	assert_false(c.a.structural);
	assert_int_equal(c.a.n, 3);
	for (unsigned k = 0; k < 3; k++) {
		const struct arc_set *s = &c.a.set[k];
		const struct dkim_sig *sigs[2] = { &s->ams_sig, &s->as_sig };
		for (int j = 0; j < 2; j++) {
			const struct dkim_sig *g = sigs[j];
			assert_true(g->pending);
			assert_int_equal(g->instance, k + 1);
			assert_string_equal(g->d, want[k].d);
			assert_string_equal(g->s, want[k].s);
			assert_int_equal(g->alg, DKIM_RSA_SHA256);
			assert_int_equal(g->hc, CANON_RELAXED);
			assert_true(g->has_t);
			assert_int_equal(g->t, 12345);
			assert_false(g->has_x);
			assert_int_equal(g->blen, 64); /* 512-bit keys (RFC 8301 3.2 forbids them) */
		}
		assert_int_equal(s->as_sig.cv, want[k].cv);
		assert_int_equal(s->ams_sig.bc, CANON_RELAXED);
		assert_int_equal(s->ams_sig.nh, 5);
		for (size_t i = 0; i < 5; i++)
			assert_true(slice_eq_ci(s->ams_sig.h[i], signed_fields[i]));
		/* Every AMS carries the same bh=, the relaxed SHA-256 of the body. */
		struct buf bh = { 0 };
		assert_int_equal(dkim_body_hash(&bh, DKIM_RSA_SHA256, s->ams_sig.bc, c.h.body,
						UINT64_MAX),
				 0);
		assert_int_equal(bh.len, strlen(RFC_BH));
		assert_memory_equal(bh.p, RFC_BH, bh.len);
		buf_free(&bh);
		size_t n = strlen(want[k].authserv);
		assert_true(s->aar_value.len > n);
		assert_memory_equal(s->aar_value.p, want[k].authserv, n);
	}
	chain_close(&c);
}

static void test_rfc8617_no_keys(void **state)
{
	(void)state;
	static const char *const names[] = { "dk-lists._domainkey.lists.example.org",
					     "20120806._domainkey.gmail.example",
					     "clochette._domainkey.clochette.example.org" };
	struct chain c;
	chain_open(&c);
	size_t cur = 0, n = 0;
	const char *name;
	while ((name = arc_query(&c.a, &cur))) {
		assert_true(n < 3);
		assert_string_equal(name, names[n++]); /* each sealer's key once, oldest first */
	}
	assert_int_equal(n, 3);
	struct txt_answer none = { TXT_NXDOMAIN, NULL, 0 };
	for (size_t i = 0; i < 3; i++)
		arc_answer(&c.a, names[i], &none);
	arc_finish(&c.a);
	assert_int_equal(c.a.result, ARC_CV_FAIL);
	assert_string_equal(c.a.reason, "ARC-Message-Signature i=3: no key record");
	chain_close(&c);
}

static void test_chain_domains(void **state)
{
	(void)state;
	struct chain c;
	chain_open(&c);
	struct buf out = { 0 };
	assert_int_equal(arc_chain_domains(&c.a, &out), 0);
	assert_int_equal(out.len, strlen("lists.example.org:gmail.example:clochette.example.org"));
	assert_memory_equal(out.p, "lists.example.org:gmail.example:clochette.example.org", out.len);
	buf_free(&out);
	chain_close(&c);
}

static void test_aar_instance(void **state)
{
	(void)state;
	struct slice rest;
	assert_int_equal(arc_aar_instance(SLICE_LIT(" i=50; x"), &rest), 50);
	assert_int_equal(rest.len, 2);
	assert_int_equal(arc_aar_instance(SLICE_LIT("i = 7 ;"), &rest), 7);
	assert_int_equal(arc_aar_instance(SLICE_LIT("i=51; x"), &rest), 0); /* RFC 8617 4.2.1 */
	assert_int_equal(arc_aar_instance(SLICE_LIT("i=0; x"), &rest), 0);
	assert_int_equal(arc_aar_instance(SLICE_LIT("i=1000; x"), &rest), 0);
	assert_int_equal(arc_aar_instance(SLICE_LIT("x; i=1;"), &rest), 0); /* i= first (4.1.1) */
	assert_int_equal(arc_aar_instance(SLICE_LIT("i=1"), &rest), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc8617_sets),
		cmocka_unit_test(test_rfc8617_no_keys),
		cmocka_unit_test(test_chain_domains),
		cmocka_unit_test(test_aar_instance),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
