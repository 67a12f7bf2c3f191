/* Unit tests for DMARC records, From parsing and discovery over the TXT seam (src/auth/dmarc.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "auth/dmarc.h"

static enum dmarc_record_status parse(const char *s, struct dmarc_record *r)
{
	const char *why;
	return dmarc_record_parse(r, slice_cstr(s), &why);
}

static void test_records(void **state)
{
	(void)state;
	struct dmarc_record r;
	assert_int_equal(parse("v=DMARC1; p=quarantine; sp=reject; adkim=s; pct=20; "
			       "rua=mailto:a@x.test,mailto:b@x.test; fo=1:d", &r), DMARC_RECORD_OK);
	assert_int_equal(r.p, DMARC_POLICY_QUARANTINE);
	assert_int_equal(r.sp, DMARC_POLICY_REJECT);
	assert_true(r.adkim_strict);
	assert_false(r.aspf_strict);
	assert_int_equal(r.pct, 20);
	assert_string_equal(r.fo, "1:d");
	assert_string_equal(r.rua, "mailto:a@x.test,mailto:b@x.test");
	assert_int_equal(parse("v=DMARC1;p=none", &r), DMARC_RECORD_OK);
	assert_int_equal(r.sp, DMARC_POLICY_NONE);
	assert_int_equal(r.pct, 100);
	/* Bad optional values keep the defaults. */
	assert_int_equal(parse("v=DMARC1; p=reject; pct=500; adkim=x", &r), DMARC_RECORD_OK);
	assert_int_equal(r.pct, 100);
	assert_false(r.adkim_strict);
	assert_int_equal(parse("v=spf1 -all", &r), DMARC_RECORD_NOT_DMARC);
	assert_int_equal(parse("p=reject; v=DMARC1", &r), DMARC_RECORD_NOT_DMARC);
	assert_int_equal(parse("v=DMARC10; p=reject", &r), DMARC_RECORD_NOT_DMARC);
	assert_int_equal(parse("v=DMARC1", &r), DMARC_RECORD_INVALID);
	assert_int_equal(parse("v=DMARC1; p=reject; sp=maybe", &r), DMARC_RECORD_INVALID);
	assert_int_equal(parse("v=DMARC1; p=reject; p=none", &r), DMARC_RECORD_INVALID);
	assert_int_equal(parse("v=DMARC1; rua=mailto:x@y.test", &r), DMARC_RECORD_OK);
	assert_true(r.p_from_rua);
	assert_int_equal(parse("v=DMARC1; rua=nonsense", &r), DMARC_RECORD_INVALID);
}

static void test_from(void **state)
{
	(void)state;
	char d[4][SMTP_DOMAIN_MAX + 1];
	size_t n;
	assert_int_equal(dmarc_from_domains(SLICE_LIT(" \"Doe, J\" <j@EXAMPLE.com.> (c@x.test)"), d,
					    4, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(d[0], "example.com");
	assert_int_equal(dmarc_from_domains(SLICE_LIT("a@x.test, b@y.test, c@x.test"), d, 4, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(dmarc_from_domains(SLICE_LIT("g: a@x.test;"), d, 4, &n), 0);
	assert_string_equal(d[0], "x.test");
	assert_int_equal(dmarc_from_domains(SLICE_LIT("\"a@b\"@x.test"), d, 4, &n), 0);
	assert_string_equal(d[0], "x.test");
	assert_int_equal(dmarc_from_domains(SLICE_LIT("nobody"), d, 4, &n), -1);
	assert_int_equal(dmarc_from_domains(SLICE_LIT("a@[127.0.0.1]"), d, 4, &n), -1);
	assert_int_equal(dmarc_from_domains(SLICE_LIT("a@b@"), d, 4, &n), -1);
	assert_int_equal(dmarc_from_domains(SLICE_LIT("(unclosed a@x.test"), d, 4, &n), -1);
}

static void test_org_domain(void **state)
{
	(void)state;
	char o[256];
	dmarc_org_domain("a.b.shop.co.uk", o, sizeof(o));
	assert_string_equal(o, "shop.co.uk");
	dmarc_org_domain("mail.example.com", o, sizeof(o));
	assert_string_equal(o, "example.com");
	dmarc_org_domain("co.uk", o, sizeof(o));
	assert_string_equal(o, "co.uk");
}

static void answer(struct dmarc_eval *e, enum txt_status st, const char *rec)
{
	size_t cur = 0;
	const char *name = dmarc_query(e, &cur);
	assert_non_null(name);
	char copy[300];
	strcpy(copy, name);
	struct slice s = slice_cstr(rec ? rec : "");
	struct txt_answer a = { st, &s, rec ? 1 : 0 };
	dmarc_answer(e, copy, &a);
}

static void test_discovery(void **state)
{
	(void)state;
	const char *msg = "From: x@a.news.example.com\r\n\r\n";
	struct headers h;
	headers_parse(&h, msg, strlen(msg));
	struct dmarc_eval e;
	dmarc_init(&e, &h);
	size_t cur = 0;
	assert_string_equal(dmarc_query(&e, &cur), "_dmarc.a.news.example.com");
	answer(&e, TXT_NXDOMAIN, NULL);
	cur = 0;
	assert_string_equal(dmarc_query(&e, &cur), "_dmarc.example.com");
	answer(&e, TXT_OK, "v=DMARC1; p=reject; sp=none");
	cur = 0;
	assert_null(dmarc_query(&e, &cur));
	const char *pass[] = { "example.com" };
	struct dmarc_auth au = { .dkim_pass = pass, .ndkim_pass = 0 };
	dmarc_finish(&e, &au);
	assert_int_equal(e.result, DMARC_FAIL);
	assert_int_equal(e.dom[0].policy, DMARC_POLICY_NONE); /* sp= */
	/* Temporary failure of the first lookup: temperror, no fallback. */
	dmarc_init(&e, &h);
	answer(&e, TXT_TEMPFAIL, NULL);
	cur = 0;
	assert_null(dmarc_query(&e, &cur));
	au.ndkim_pass = 1;
	dmarc_finish(&e, &au);
	assert_int_equal(e.result, DMARC_TEMPERROR);
	/* Unanswered: temperror too. */
	dmarc_init(&e, &h);
	dmarc_finish(&e, &au);
	assert_int_equal(e.result, DMARC_TEMPERROR);
	headers_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_from),
		cmocka_unit_test(test_org_domain),
		cmocka_unit_test(test_discovery),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
