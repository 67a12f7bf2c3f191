/* Unit tests for DNSBL/DNSWL zone lists and the rules that turn answers into hits
 * (src/reputation/dnsbl.c). The lookups themselves run against a real DNS server in
 * tests/integration/test_dnsbl.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "net/dns.h"
#include "reputation/dnsbl.h"

static struct dnsbl_zones *parse_ok(const char *spec, bool allow)
{
	char err[256] = "";
	struct dnsbl_zones *z = dnsbl_zones_parse(spec, allow, err, sizeof(err));
	if (!z)
		fail_msg("'%s' refused: %s", spec, err);
	return z;
}

static void parse_bad(const char *spec, const char *want_err)
{
	char err[512] = "";
	struct dnsbl_zones *z = dnsbl_zones_parse(spec, false, err, sizeof(err));
	if (z)
		fail_msg("'%s' was accepted", spec);
	if (want_err && !strstr(err, want_err))
		fail_msg("'%s': error '%s' does not say '%s'", spec, err, want_err);
}

static struct in_addr A(const char *s)
{
	struct in_addr a;
	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a;
}

static void test_parse_items(void **state)
{
	(void)state;
	struct dnsbl_zones *z = parse_ok(" zen.Example.ORG.=127.0.0.[2..11]*3, bl.example.net*2\n"
					 "bl.example.net=127.0.0.4*5  dnsbl-1.example.com",
					 false);
	assert_false(z->allow);
	assert_int_equal(z->n, 3); /* bl.example.net is one zone with two items */
	assert_string_equal(z->zone[0].name, "zen.example.org");
	assert_string_equal(z->zone[0].symbol, "DNSBL_ZEN_EXAMPLE_ORG");
	assert_int_equal(z->zone[0].nitems, 1);
	assert_int_equal(z->zone[0].item[0].weight, 3);
	assert_string_equal(z->zone[0].item[0].filter_text, "127.0.0.[2..11]");
	assert_string_equal(z->zone[1].name, "bl.example.net");
	assert_int_equal(z->zone[1].nitems, 2);
	assert_null(z->zone[1].item[0].filter_text);
	assert_int_equal(z->zone[1].item[0].weight, 2);
	assert_int_equal(z->zone[1].item[1].weight, 5);
	assert_string_equal(z->zone[2].symbol, "DNSBL_DNSBL_1_EXAMPLE_COM");
	assert_int_equal(z->zone[2].item[0].weight, 1);
	dnsbl_zones_unref(z);

	z = parse_ok("list.dnswl.example=127.0.[0..255].[1;2;3]*0", true);
	assert_true(z->allow);
	assert_string_equal(z->zone[0].symbol, "DNSWL_LIST_DNSWL_EXAMPLE");
	assert_int_equal(z->zone[0].item[0].weight, 0);
	dnsbl_zones_unref(z);

	z = parse_ok("", false);
	assert_int_equal(z->n, 0);
	dnsbl_zones_unref(z);
	z = parse_ok(" ,, ", false);
	assert_int_equal(z->n, 0);
	dnsbl_zones_unref(z);
}

static void test_parse_errors(void **state)
{
	(void)state;
	parse_bad("bl.example.net*-2", "dnswl_zones");
	parse_bad("bl.example.net*101", "weight");
	parse_bad("bl.example.net*", "weight");
	parse_bad("bl.example.net*02", "weight");
	parse_bad("bl.example.net*2x", "weight");
	parse_bad("bl.example.net=127.0.0", "filter");
	parse_bad("bl.example.net=127.0.0.256", "filter");
	parse_bad("bl.example.net=127.0.0.[5..2]", "filter");
	parse_bad("bl.example.net=127.0.0.[2..]", "filter");
	parse_bad("bl.example.net=127.0.0.[2", "filter");
	parse_bad("bl.example.net=127.0.0.[]", "filter");
	parse_bad("bl.example.net=127.0.0.02", "filter");
	parse_bad("bl.example.net=127.0.0.2.", "filter");
	parse_bad("bl.example.net=", "filter");
	parse_bad("bl.example.net=10.0.0.2", "never match");
	parse_bad("=127.0.0.2", "zone name");
	parse_bad("bl..example.net", "zone name");
	parse_bad(".bl.example.net", "zone name");
	parse_bad("bl.exa$mple.net", "zone name");
	parse_bad("good.example, bad!zone", "'bad!zone'");
	char label[80], spec[400];
	memset(label, 'a', 64);
	label[64] = '\0';
	snprintf(spec, sizeof(spec), "%s.example", label);
	parse_bad(spec, "zone name");
	/* 189 octets fit (253 with the 64 of an IPv6 nibble name), 190 do not. */
	char name[200];
	memset(name, 'a', 189);
	for (int i = 60; i < 189; i += 61)
		name[i] = '.';
	name[189] = '\0';
	dnsbl_zones_unref(parse_ok(name, false));
	name[189] = 'a';
	name[190] = '\0';
	parse_bad(name, "zone name");
	/* Bounded: zones per list. */
	char big[2048] = "";
	for (int i = 0; i < 33; i++)
		snprintf(big + strlen(big), sizeof(big) - strlen(big), "z%d.example ", i);
	parse_bad(big, "too many zones");
}

static void test_filter_match(void **state)
{
	(void)state;
	struct dnsbl_zones *z = parse_ok("a.example=127.0.0.[2..11] b.example=127.0.[1;3].[2;4..6] "
					 "c.example",
					 false);
	const struct dnsbl_filter *fa = &z->zone[0].item[0].filter,
				  *fb = &z->zone[1].item[0].filter,
				  *fc = &z->zone[2].item[0].filter;
	assert_true(dnsbl_filter_match(fa, A("127.0.0.2")));
	assert_true(dnsbl_filter_match(fa, A("127.0.0.11")));
	assert_false(dnsbl_filter_match(fa, A("127.0.0.1")));
	assert_false(dnsbl_filter_match(fa, A("127.0.0.12")));
	assert_false(dnsbl_filter_match(fa, A("127.0.1.2")));
	assert_true(dnsbl_filter_match(fb, A("127.0.1.2")));
	assert_true(dnsbl_filter_match(fb, A("127.0.3.5")));
	assert_false(dnsbl_filter_match(fb, A("127.0.2.5")));
	assert_false(dnsbl_filter_match(fb, A("127.0.3.3")));
	assert_true(dnsbl_filter_match(fc, A("127.9.9.9"))); /* no filter: any code */
	dnsbl_zones_unref(z);
}

static void test_query_name(void **state)
{
	(void)state;
	char out[300];
	assert_int_equal(dnsbl_query_name("192.0.2.99", "zen.example.org", out, sizeof(out)), 0);
	assert_string_equal(out, "99.2.0.192.zen.example.org");
	assert_int_equal(dnsbl_query_name("::ffff:192.0.2.99", "bl.example", out, sizeof(out)), 0);
	assert_string_equal(out, "99.2.0.192.bl.example");
	/* RFC 5782 2.4: nibbles, least significant first */
	assert_int_equal(dnsbl_query_name("2001:db8:1:2::abcd", "bl.example", out, sizeof(out)), 0);
	assert_string_equal(out, "d.c.b.a.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2."
				 "bl.example");
	assert_int_equal(dnsbl_query_name("not-an-ip", "bl.example", out, sizeof(out)), -1);
	assert_int_equal(dnsbl_query_name("192.0.2.99", "zen.example.org", out, 10), -1);
}

/* An answer of A records, as net/dns.c delivers one. */
struct fake_answer {
	struct dns_answer a;
	struct dns_rr rr[8];
};

static const struct dns_answer *answer_of(struct fake_answer *f, enum dns_status st, ...)
{
	memset(f, 0, sizeof(*f));
	f->a.refs = 1;
	f->a.status = st;
	f->a.type = DNS_A;
	f->a.rr = f->rr;
	va_list ap;
	va_start(ap, st);
	const char *s;
	while ((s = va_arg(ap, const char *)) && f->a.n < 8)
		f->rr[f->a.n++].addr.a = A(s);
	va_end(ap);
	return &f->a;
}

static const struct dnsbl_hit *find_hit(const struct dnsbl_result *r, const char *symbol)
{
	for (size_t i = 0; i < r->nhits; i++)
		if (strcmp(r->hit[i].symbol, symbol) == 0)
			return &r->hit[i];
	return NULL;
}

static void test_answer_rules(void **state)
{
	(void)state;
	struct dnsbl_zones *bl = parse_ok("zen.example.org=127.0.0.[2..11]*3, bl.example.net*2, "
					  "bl.example.net=127.0.0.4*5, wild.example, "
					  "limited.example, gone.example, down.example, empty.example",
					  false);
	struct dnsbl_zones *wl = parse_ok("wl.example=127.0.[0..255].[1..3]*2", true);
	struct dnsbl_result r;
	assert_int_equal(dnsbl_result_prepare(&r, bl, wl, "::ffff:192.0.2.1"), 0);
	assert_string_equal(r.ip, "192.0.2.1");
	assert_int_equal(r.nzones, 8);
	assert_true(r.zone[7].allow);
	struct fake_answer f;

	/* Two codes, one outside the filter, one repeated: each distinct matching code
	 * is one hit, a repeated record counts once. */
	assert_int_equal(dnsbl_result_answer(&r, 0,
					     answer_of(&f, DNS_OK, "127.0.0.4", "127.0.0.2",
						       "127.0.0.4", "127.0.0.12", NULL)),
			 0);
	assert_int_equal(r.zone[0].status, DNSBL_LISTED);
	assert_int_equal(r.zone[0].ncodes, 3); /* .2 .4 .12, sorted */
	assert_int_equal(r.zone[0].codes[0].s_addr, A("127.0.0.2").s_addr);
	assert_int_equal(r.zone[0].codes[2].s_addr, A("127.0.0.12").s_addr);
	assert_int_equal(find_hit(&r, "DNSBL_ZEN_EXAMPLE_ORG_2")->weight, 3);
	assert_int_equal(find_hit(&r, "DNSBL_ZEN_EXAMPLE_ORG_4")->weight, 3);
	assert_null(find_hit(&r, "DNSBL_ZEN_EXAMPLE_ORG_12"));
	assert_int_equal(r.block_weight, 6);

	/* One zone, two items: the weights of every item matching a code add up. */
	dnsbl_result_answer(&r, 1, answer_of(&f, DNS_OK, "127.0.0.4", "127.0.0.10", NULL));
	const struct dnsbl_hit *h = find_hit(&r, "DNSBL_BL_EXAMPLE_NET_4");
	assert_non_null(h);
	assert_int_equal(h->weight, 7);
	assert_string_equal(h->code, "127.0.0.4");
	assert_string_equal(h->zone, "bl.example.net");
	assert_false(h->allow);
	assert_int_equal(find_hit(&r, "DNSBL_BL_EXAMPLE_NET_10")->weight, 2);
	assert_int_equal(r.block_weight, 6 + 7 + 2);

	/* Outside 127.0.0.0/8: a wildcarded zone, never a listing. */
	dnsbl_result_answer(&r, 2, answer_of(&f, DNS_OK, "192.0.2.80", NULL));
	assert_int_equal(r.zone[2].status, DNSBL_WILDCARD);
	assert_int_equal(r.wildcard, 1);
	/* (127.x codes beside such an answer still count: below.) */

	/* 127.255.255.x: the list refused; nothing in the answer counts. */
	dnsbl_result_answer(&r, 3, answer_of(&f, DNS_OK, "127.0.0.2", "127.255.255.254", NULL));
	assert_int_equal(r.zone[3].status, DNSBL_REFUSED);
	assert_int_equal(r.refused, 1);
	assert_null(find_hit(&r, "DNSBL_LIMITED_EXAMPLE_2"));

	dnsbl_result_answer(&r, 4, answer_of(&f, DNS_NXDOMAIN, NULL));
	assert_int_equal(r.zone[4].status, DNSBL_NOT_LISTED);
	dnsbl_result_answer(&r, 5, answer_of(&f, DNS_TEMPFAIL, NULL));
	assert_int_equal(r.zone[5].status, DNSBL_TEMPFAIL);
	assert_int_equal(r.tempfail, 1);
	/* A second answer for a zone changes nothing. */
	dnsbl_result_answer(&r, 5, answer_of(&f, DNS_OK, "127.0.0.2", NULL));
	assert_int_equal(r.zone[5].status, DNSBL_TEMPFAIL);

	/* NODATA: not listed. */
	dnsbl_result_answer(&r, 6, answer_of(&f, DNS_NODATA, NULL));
	assert_int_equal(r.zone[6].status, DNSBL_NOT_LISTED);

	/* The allowlist. */
	dnsbl_result_answer(&r, 7, answer_of(&f, DNS_OK, "127.0.15.2", "127.0.15.9", NULL));
	h = find_hit(&r, "DNSWL_WL_EXAMPLE_2");
	assert_non_null(h);
	assert_true(h->allow);
	assert_int_equal(h->weight, 2);
	assert_int_equal(r.allow_weight, 2);
	assert_int_equal(r.block_weight, 15);
	assert_int_equal(r.nhits, 5);
	dnsbl_result_free(&r);

	/* Unmatched codes, and a mixed wildcard answer. */
	struct dnsbl_zones *z = parse_ok("zen.example.org=127.0.0.[2..11]*3 wild.example", false);
	assert_int_equal(dnsbl_result_prepare(&r, z, NULL, "2001:db8::1"), 0);
	dnsbl_result_answer(&r, 0, answer_of(&f, DNS_OK, "127.0.0.1", NULL));
	assert_int_equal(r.zone[0].status, DNSBL_UNMATCHED);
	dnsbl_result_answer(&r, 1, answer_of(&f, DNS_OK, "198.51.100.1", "127.0.0.3", NULL));
	assert_int_equal(r.zone[1].status, DNSBL_LISTED);
	assert_int_equal(r.zone[1].ncodes, 1);
	assert_int_equal(r.wildcard, 0);
	assert_int_equal(r.block_weight, 1);
	assert_non_null(find_hit(&r, "DNSBL_WILD_EXAMPLE_3"));
	dnsbl_result_free(&r);
	assert_int_equal(dnsbl_result_prepare(&r, z, NULL, "192.0.2.0/24"), -1);
	dnsbl_zones_unref(z);
	dnsbl_zones_unref(bl);
	dnsbl_zones_unref(wl);
}

struct done {
	int calls;
	size_t nzones;
	struct dnsbl_check *check;
};

static void on_done(void *arg, const struct dnsbl_result *r)
{
	struct done *d = arg;
	d->calls++;
	d->nzones = r->nzones;
	dnsbl_check_free(d->check); /* freeing from the callback is allowed */
	d->check = NULL;
}

/* With no zone to ask the check still reports, from the loop and only once. */
static void test_check_without_zones(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct dns_options o = { .servers = "127.0.0.1:9", .timeout_ms = 100, .tries = 1 };
	char err[256];
	struct dns *dns = dns_new(base, &o, err, sizeof(err));
	assert_non_null(dns);
	struct dnsbl_zones *none = parse_ok("", false);
	struct done d = { 0 };
	d.check = dnsbl_check_start(dns, none, NULL, "192.0.2.1", on_done, &d);
	assert_non_null(d.check);
	assert_int_equal(d.calls, 0);
	event_base_dispatch(base);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.nzones, 0);
	/* not an address */
	errno = 0;
	assert_null(dnsbl_check_start(dns, none, NULL, "192.0.2.x", on_done, &d));
	assert_int_equal(errno, EINVAL);
	/* cancelled before any answer: no callback */
	struct dnsbl_zones *one = parse_ok("bl.example", false);
	struct done d2 = { 0 };
	d2.check = dnsbl_check_start(dns, one, NULL, "192.0.2.1", on_done, &d2);
	assert_non_null(d2.check);
	dnsbl_zones_unref(one); /* the check holds its own reference */
	dnsbl_check_free(d2.check);
	event_base_dispatch(base);
	assert_int_equal(d2.calls, 0);
	dnsbl_zones_unref(none);
	dns_free(dns);
	event_base_free(base);
}

static void test_config_settings(void **state)
{
	(void)state;
	struct config *c = config_new();
	char err[512];
	assert_int_equal(config_set(c, "dnsbl_zones", "zen.example.org=127.0.0.[2..11]*3", err,
				    sizeof(err)),
			 0);
	assert_int_equal(config_finish(c, err, sizeof(err)), 0);
	assert_int_equal(c->dnsbl_threshold, 3);
	assert_int_equal(c->dnsbl_mode, DNSBL_MODE_ENFORCE);
	assert_int_equal(config_set(c, "dnsbl_mode", "dry-run", err, sizeof(err)), 0);
	assert_int_equal(c->dnsbl_mode, DNSBL_MODE_DRY_RUN);
	assert_int_equal(config_set(c, "dnswl_zones", "wl.example*-1", err, sizeof(err)), 0);
	assert_int_equal(config_finish(c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "dnswl_zones: 'wl.example*-1'"));
	config_unref(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_items),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_filter_match),
		cmocka_unit_test(test_query_name),
		cmocka_unit_test(test_answer_rules),
		cmocka_unit_test(test_check_without_zones),
		cmocka_unit_test(test_config_settings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
