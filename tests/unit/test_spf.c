/* Unit tests for SPF macros and records (src/auth/spf.c), PRA selection (src/auth/pra.c)
 * and the DNS response parser (src/net/dns.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "auth/pra.h"
#include "auth/spf.h"
#include "net/dns.h"

/* RFC 7208 7.4 examples */
static const struct spf_macro_ctx ex4 = {
	.sender = "strong-bad@email.example.com",
	.local = "strong-bad",
	.sender_domain = "email.example.com",
	.domain = "email.example.com",
	.ip = "192.0.2.3",
	.helo = "mx.example.org",
	.receiver = "mx.test",
	.ptr = NULL,
	.now = 1,
};

static void expect(const struct spf_macro_ctx *c, const char *in, const char *out)
{
	struct buf b = { 0 };
	int rc = spf_macro_expand(c, in, strlen(in), false, &b);
	if (rc != SPF_MACRO_OK)
		fail_msg("%s: rc %d", in, rc);
	assert_string_equal(buf_cstr(&b), out);
	buf_free(&b);
}

static void test_rfc7208_examples(void **state)
{
	(void)state;
	expect(&ex4, "%{s}", "strong-bad@email.example.com");
	expect(&ex4, "%{o}", "email.example.com");
	expect(&ex4, "%{d}", "email.example.com");
	expect(&ex4, "%{d4}", "email.example.com");
	expect(&ex4, "%{d3}", "email.example.com");
	expect(&ex4, "%{d2}", "example.com");
	expect(&ex4, "%{d1}", "com");
	expect(&ex4, "%{dr}", "com.example.email");
	expect(&ex4, "%{d2r}", "example.email");
	expect(&ex4, "%{l}", "strong-bad");
	expect(&ex4, "%{l-}", "strong.bad");
	expect(&ex4, "%{lr}", "strong-bad");
	expect(&ex4, "%{lr-}", "bad.strong");
	expect(&ex4, "%{l1r-}", "strong");
	expect(&ex4, "%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com");
	expect(&ex4, "%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com");
	expect(&ex4, "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}",
	       "bad.strong.lp.3.2.0.192.in-addr._spf.example.com");
	expect(&ex4, "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}",
	       "3.2.0.192.in-addr.strong.lp._spf.example.com");
	expect(&ex4, "%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net");
	struct spf_macro_ctx v6 = ex4;
	v6.ip = "2001:db8::cb01";
	expect(&v6, "%{ir}.%{v}._spf.%{d2}",
	       "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com");
	expect(&ex4, "%%%_%-", "% %20");
	expect(&ex4, "%{L}", "strong-bad");
	struct spf_macro_ctx sp = ex4;
	sp.local = "a b/c";
	expect(&sp, "%{L}", "a%20b%2Fc");
}

static void test_macro_errors(void **state)
{
	(void)state;
	static const char *const bad[] = { "%", "%{", "%{s", "%{x}", "%{s0}", "%{c}", "%{r}", "%{t}",
					   "%a", "a b", "%{s}\x80" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct buf b = { 0 };
		if (spf_macro_expand(&ex4, bad[i], strlen(bad[i]), false, &b) != SPF_MACRO_SYNTAX)
			fail_msg("accepted '%s'", bad[i]);
		buf_free(&b);
	}
	struct buf b = { 0 };
	assert_int_equal(spf_macro_expand(&ex4, "%{c} %{r} %{t}", 14, true, &b), SPF_MACRO_OK);
	assert_string_equal(buf_cstr(&b), "192.0.2.3 mx.test 1");
	buf_reset(&b);
	assert_int_equal(spf_macro_expand(&ex4, "%{p}", 4, false, &b), SPF_MACRO_NEED_PTR);
	buf_free(&b);
}

static void test_domain_spec(void **state)
{
	(void)state;
	assert_true(spf_domain_spec_ok("example.com", 11));
	assert_true(spf_domain_spec_ok("example.com.", 12));
	assert_true(spf_domain_spec_ok("%{d}", 4));
	assert_true(spf_domain_spec_ok("_spf.%{d2}", 10));
	assert_true(spf_domain_spec_ok("a.123-456", 9));
	assert_false(spf_domain_spec_ok("foo-bar", 7));
	assert_false(spf_domain_spec_ok("example.123", 11));
	assert_false(spf_domain_spec_ok("%{d}com", 7));
	assert_false(spf_domain_spec_ok("", 0));
}

static int parse(const char *r, struct spf_record *rec)
{
	char err[160];
	return spf_parse_record(r, strlen(r), 6, rec, err, sizeof(err));
}

static void test_record_parse(void **state)
{
	(void)state;
	struct spf_record rec;
	assert_int_equal(parse("v=spf1 a/24//64 mx:m.example.com/30 -ip4:192.0.2.0/24 "
			       "~ip6:2001:db8::/32 ?exists:%{i}.x.example ptr include:i.example "
			       "redirect=r.example exp=e.example moo.cow=x all",
			       &rec),
			 0);
	assert_int_equal(rec.nterms, 8);
	assert_int_equal(rec.terms[0].mech, SPF_M_A);
	assert_int_equal(rec.terms[0].cidr4, 24);
	assert_int_equal(rec.terms[0].cidr6, 64);
	assert_int_equal(rec.terms[1].cidr4, 30);
	assert_int_equal(rec.terms[1].spec.len, strlen("m.example.com"));
	assert_int_equal(rec.terms[2].qualifier, '-');
	assert_int_equal(rec.terms[3].cidr6, 32);
	assert_int_equal(rec.terms[4].qualifier, '?');
	assert_non_null(rec.redirect.p);
	assert_non_null(rec.exp.p);
	free(rec.terms);
	static const char *const bad[] = {
		"v=spf1 -all.",	     "v=spf1 all:x",	     "v=spf1 a:foo-bar",
		"v=spf1 ip4:1.2.3.4/33", "v=spf1 ip4:1.2.3.04", "v=spf1 a/024",
		"v=spf1 ptr/0",	     "v=spf1 redirect:x.com", "v=spf1 exp=a.com exp=b.com",
		"v=spf1 include",	     "v=spf1 mx//129",	     "v=spf1 foo",
		"v=spf1 ip6:1.2.3.4",    "v=spf1 a:%{r}.com",    "v=spf1 1x=y",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse(bad[i], &rec) == 0) {
			free(rec.terms);
			fail_msg("accepted '%s'", bad[i]);
		}
}

static int pra(const char *msg, char *hdr, char *box)
{
	struct pra p;
	if (pra_select(msg, strlen(msg), &p) < 0)
		return -1;
	strcpy(hdr, p.header);
	strcpy(box, p.mailbox);
	return 0;
}

static void test_pra_selection(void **state)
{
	(void)state;
	static const struct {
		const char *msg, *header, *mailbox;
	} t[] = {
		{ "From: a@from.test\r\n\r\nbody", "From", "a@from.test" },
		{ "From: a@from.test\r\nSender: s@sender.test\r\n\r\n", "Sender", "s@sender.test" },
		{ "Sender: s@sender.test\r\nResent-From: r@rf.test\r\nFrom: a@f.test\r\n\r\n",
		  "Resent-From", "r@rf.test" },
		{ "Resent-Sender: rs@rs.test\r\nResent-From: r@rf.test\r\nFrom: a@f.test\r\n\r\n",
		  "Resent-Sender", "rs@rs.test" },
		/* Resent-Sender of an older resending block (trace header in between) */
		{ "Resent-From: r@rf.test\r\nReceived: by x\r\nResent-Sender: rs@rs.test\r\n\r\n",
		  "Resent-From", "r@rf.test" },
		{ "Resent-From: r@rf.test\r\nResent-Sender: rs@rs.test\r\n\r\n", "Resent-Sender",
		  "rs@rs.test" },
		{ "Sender: \r\nFrom: \"Doe, John\" <j@x.test>\r\n\r\n", "From", "j@x.test" },
		{ "From: (comment) Name\r\n <n@folded.test>\r\n\r\n", "From", "n@folded.test" },
		{ "From: <@route.test:r@x.test>\r\n\r\n", "From", "r@x.test" },
		{ "From: a@x.test, b@x.test\r\n\r\n", NULL, NULL },
		{ "From: a@x.test\r\nFrom: b@x.test\r\n\r\n", NULL, NULL },
		{ "Sender: a@x.test\r\nSender: b@x.test\r\nFrom: c@x.test\r\n\r\n", NULL, NULL },
		{ "From: nobody\r\n\r\n", NULL, NULL },
		{ "From: group: a@x.test;\r\n\r\n", NULL, NULL },
		{ "Subject: none\r\n\r\n", NULL, NULL },
		{ "Sender: s@a.test, t@b.test\r\nFrom: f@c.test\r\n\r\n", NULL, NULL },
		{ "Subject: x\r\n\r\nFrom: body@x.test\r\n", NULL, NULL },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char h[32], m[300];
		int rc = pra(t[i].msg, h, m);
		if (!t[i].header) {
			if (rc == 0)
				fail_msg("case %zu: expected no PRA, got %s %s", i, h, m);
			continue;
		}
		if (rc < 0)
			fail_msg("case %zu: no PRA", i);
		assert_string_equal(h, t[i].header);
		assert_string_equal(m, t[i].mailbox);
	}
}

static void test_dns_parse(void **state)
{
	(void)state;
	/* id, flags (QR, RCODE 0), 1 question, 2 answers: TXT "v=spf1" "+all" and a CNAME */
	static const unsigned char msg[] = {
		0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0,
		1, 'x', 4, 't', 'e', 's', 't', 0, 0, 16, 0, 1,
		0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0, 12,
		0xc0, 12, 0, 16, 0, 1, 0, 0, 1, 0, 0, 12, 6, 'v', '=', 's', 'p', 'f', '1', 4, ' ', '+', 'a', 'l',
	};
	struct dns_answer *a = dns_parse_response(msg, sizeof(msg), DNS_TXT);
	assert_non_null(a);
	assert_int_equal(a->status, DNS_OK);
	assert_int_equal(a->n, 1);
	assert_string_equal(a->rr[0].txt, "v=spf1 +al");
	assert_int_equal(a->rr[0].nstrings, 2);
	assert_int_equal(a->ttl, 256);
	dns_answer_unref(a);
	/* NXDOMAIN */
	unsigned char nx[24];
	memcpy(nx, msg, sizeof(nx));
	nx[3] = 0x83;
	nx[7] = 0;
	a = dns_parse_response(nx, sizeof(nx), DNS_A);
	assert_non_null(a);
	assert_int_equal(a->status, DNS_NXDOMAIN);
	dns_answer_unref(a);
	/* a compression loop is refused, not followed forever */
	unsigned char loop[] = { 0, 0, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1 };
	assert_null(dns_parse_response(loop, sizeof(loop), DNS_A));
	char rev[80];
	assert_int_equal(dns_reverse_name("192.0.2.3", rev, sizeof(rev)), 0);
	assert_string_equal(rev, "3.2.0.192.in-addr.arpa");
	assert_int_equal(dns_reverse_name("2001:db8::1", rev, sizeof(rev)), 0);
	assert_string_equal(rev, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7208_examples), cmocka_unit_test(test_macro_errors),
		cmocka_unit_test(test_domain_spec),      cmocka_unit_test(test_record_parse),
		cmocka_unit_test(test_pra_selection),    cmocka_unit_test(test_dns_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
