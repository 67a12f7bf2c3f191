/* Unit tests for CIDR prefixes and prefix sets (src/reputation/cidr.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "reputation/cidr.h"

static struct cidr P(const char *s)
{
	struct cidr c;
	if (cidr_parse(s, strlen(s), &c) != 0)
		fail_msg("cannot parse '%s'", s);
	return c;
}

static void check_format(const char *in, const char *want)
{
	struct cidr c;
	char out[CIDR_TEXT_MAX];
	if (cidr_parse(in, strlen(in), &c) != 0)
		fail_msg("cannot parse '%s'", in);
	assert_int_equal(cidr_format(&c, out, sizeof(out)), 0);
	assert_string_equal(out, want);
	/* The canonical form parses back to the same prefix. */
	struct cidr again = P(out);
	assert_true(cidr_equal(&c, &again));
}

static void test_parse_format(void **state)
{
	(void)state;
	check_format("192.0.2.1", "192.0.2.1/32");
	check_format("192.0.2.0/24", "192.0.2.0/24");
	check_format("0.0.0.0/0", "0.0.0.0/0");
	check_format("10.0.0.0/8", "10.0.0.0/8");
	check_format("2001:db8::/64", "2001:db8::/64");
	check_format("2001:DB8:0:0::/32", "2001:db8::/32");
	check_format("2001:db8::1", "2001:db8::1/128");
	check_format("::/0", "::/0");
	check_format("::1", "::1/128");
	/* IPv4-mapped: the IPv4 address, and a /96+ mapped prefix as IPv4. */
	check_format("::ffff:192.0.2.1", "192.0.2.1/32");
	check_format("::ffff:192.0.2.0/120", "192.0.2.0/24");
	check_format("::ffff:0:0/96", "0.0.0.0/0");
	check_format("::fffe:0:0/95", "::fffe:0:0/95"); /* not all mapped: stays IPv6 */
	struct cidr c = P("::ffff:192.0.2.1");
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefix, 32);
	/* Not NUL-terminated: only len bytes are read. */
	assert_int_equal(cidr_parse("192.0.2.0/24xyz", 12, &c), 0);
	assert_int_equal(c.prefix, 24);
	char small[8];
	assert_int_equal(cidr_format(&c, small, sizeof(small)), -1);
}

static void test_parse_errors(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "/", "/24", "192.0.2.0/", "192.0.2.0/33", "192.0.2.0/024", "192.0.2.0/-1",
		"192.0.2.0/+8", "192.0.2.0/2 ", " 192.0.2.0", "192.0.2", "192.0.2.256",
		"192.0.02.1", "192.0.2.1/24", /* host bits */ "192.0.2.128/24", "2001:db8::1/64",
		"2001:db8::/129", "2001:db8:::/64", "fe80::1%eth0", "example.com", "1.2.3.4/1000",
		"::ffff:192.0.2.1/120", "0.0.0.1/0", "::ffff:0:0/95", "1.2.3.4/8/8",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cidr c;
		if (cidr_parse(bad[i], strlen(bad[i]), &c) == 0)
			fail_msg("'%s' was accepted", bad[i]);
	}
	struct cidr c;
	assert_int_equal(cidr_parse("1.2.3.4\0/8", 10, &c), -1);
}

static void test_contains(void **state)
{
	(void)state;
	struct cidr net = P("192.0.2.0/24"), a = P("192.0.2.77"), b = P("192.0.3.1");
	assert_true(cidr_contains(&net, &a));
	assert_false(cidr_contains(&net, &b));
	assert_false(cidr_contains(&a, &net));
	struct cidr v6 = P("2001:db8::/32"), h6 = P("2001:db8:ffff::1"), o6 = P("2001:db9::1");
	assert_true(cidr_contains(&v6, &h6));
	assert_false(cidr_contains(&v6, &o6));
	struct cidr all4 = P("0.0.0.0/0"), all6 = P("::/0");
	assert_true(cidr_contains(&all4, &a));
	assert_false(cidr_contains(&all4, &h6));
	assert_false(cidr_contains(&all6, &a));
}

static void test_ip_helpers(void **state)
{
	(void)state;
	char out[INET6_ADDRSTRLEN];
	assert_int_equal(ip_normalize("192.0.2.1", out, sizeof(out)), 0);
	assert_string_equal(out, "192.0.2.1");
	assert_int_equal(ip_normalize("::FFFF:192.0.2.1", out, sizeof(out)), 0);
	assert_string_equal(out, "192.0.2.1");
	assert_int_equal(ip_normalize("2001:0DB8:0000::0001", out, sizeof(out)), 0);
	assert_string_equal(out, "2001:db8::1");
	assert_int_equal(ip_normalize("192.0.2.0/24", out, sizeof(out)), -1);
	assert_int_equal(ip_normalize("mx.example", out, sizeof(out)), -1);
	assert_int_equal(ip_normalize("2001:db8::1", out, 5), -1);

	char key[CIDR_TEXT_MAX];
	assert_int_equal(ip_range_key("192.0.2.77", key, sizeof(key)), 0);
	assert_string_equal(key, "192.0.2.0/24");
	assert_int_equal(ip_range_key("::ffff:198.51.100.9", key, sizeof(key)), 0);
	assert_string_equal(key, "198.51.100.0/24");
	assert_int_equal(ip_range_key("2001:db8:1:2:3:4:5:6", key, sizeof(key)), 0);
	assert_string_equal(key, "2001:db8:1:2::/64");
	assert_int_equal(ip_range_key("2001:db8::1", key, sizeof(key)), 0);
	assert_string_equal(key, "2001:db8::/64");
	assert_int_equal(ip_range_key("nope", key, sizeof(key)), -1);
	assert_int_equal(ip_range_key("2001:db8::1", key, 10), -1);
}

static const struct cidr_tag ALLOW = { 1, NULL }, BLOCK = { 2, NULL };

static void test_set_basics(void **state)
{
	(void)state;
	struct cidr_set *s = cidr_set_new();
	assert_non_null(s);
	assert_null(cidr_set_lookup(s, "192.0.2.1"));
	struct cidr n8 = P("10.0.0.0/8"), n16 = P("10.1.0.0/16"), h = P("10.1.2.3");
	assert_int_equal(cidr_set_add(s, &n8, BLOCK, "big"), 1);
	assert_int_equal(cidr_set_add(s, &n16, ALLOW, "partner"), 1);
	assert_int_equal(cidr_set_add(s, &h, BLOCK, NULL), 1);
	assert_int_equal(cidr_set_count(s), 3);
	/* Most specific wins. */
	const struct cidr_entry *e = cidr_set_lookup(s, "10.1.2.3");
	assert_non_null(e);
	assert_int_equal(e->net.prefix, 32);
	assert_string_equal(e->reason, "");
	e = cidr_set_lookup(s, "10.1.2.4");
	assert_non_null(e);
	assert_int_equal(e->tag.action, ALLOW.action);
	assert_string_equal(e->reason, "partner");
	e = cidr_set_lookup(s, "10.200.0.1");
	assert_string_equal(e->reason, "big");
	assert_null(cidr_set_lookup(s, "11.0.0.1"));
	/* IPv4-mapped clients match IPv4 entries, through every entry point. */
	e = cidr_set_lookup(s, "::ffff:10.1.9.9");
	assert_non_null(e);
	assert_string_equal(e->reason, "partner");
	struct in6_addr a6;
	assert_int_equal(inet_pton(AF_INET6, "::ffff:10.1.2.3", &a6), 1);
	assert_int_equal(cidr_set_lookup6(s, &a6)->net.prefix, 32);
	struct in_addr a4;
	assert_int_equal(inet_pton(AF_INET, "10.9.9.9", &a4), 1);
	assert_string_equal(cidr_set_lookup4(s, &a4)->reason, "big");
	/* Replace keeps one entry and takes the new tag and reason. */
	assert_int_equal(cidr_set_add(s, &n16, BLOCK, "no longer"), 0);
	assert_int_equal(cidr_set_count(s), 3);
	e = cidr_set_lookup(s, "10.1.0.1");
	assert_int_equal(e->tag.action, BLOCK.action);
	assert_string_equal(e->reason, "no longer");
	/* Remove is exact: removing a prefix that is not there changes nothing. */
	struct cidr n12 = P("10.0.0.0/12");
	assert_int_equal(cidr_set_remove(s, &n12), 0);
	assert_int_equal(cidr_set_remove(s, &n16), 1);
	assert_int_equal(cidr_set_remove(s, &n16), 0);
	assert_string_equal(cidr_set_lookup(s, "10.1.0.1")->reason, "big");
	assert_null(cidr_set_get(s, &n16));
	assert_non_null(cidr_set_get(s, &n8));
	/* Not an address: no entry. */
	assert_null(cidr_set_lookup(s, "10.1.2.3/32"));
	/* A prefix with host bits is refused by add. */
	struct cidr bad = n8;
	bad.addr[3] = 1;
	assert_int_equal(cidr_set_add(s, &bad, BLOCK, NULL), -1);
	cidr_set_free(s);
}

static void test_set_v6_and_default_routes(void **state)
{
	(void)state;
	struct cidr_set *s = cidr_set_new();
	struct cidr all6 = P("::/0"), all4 = P("0.0.0.0/0"), n48 = P("2001:db8:1::/48");
	assert_int_equal(cidr_set_add(s, &all6, BLOCK, "v6 default"), 1);
	assert_int_equal(cidr_set_add(s, &n48, ALLOW, "site"), 1);
	assert_string_equal(cidr_set_lookup(s, "2001:db8:1:ffff::1")->reason, "site");
	assert_string_equal(cidr_set_lookup(s, "2001:db8:2::1")->reason, "v6 default");
	/* ::/0 does not cover IPv4 (nor mapped IPv4, which is IPv4). */
	assert_null(cidr_set_lookup(s, "192.0.2.1"));
	assert_null(cidr_set_lookup(s, "::ffff:192.0.2.1"));
	assert_int_equal(cidr_set_add(s, &all4, ALLOW, "v4 default"), 1);
	assert_string_equal(cidr_set_lookup(s, "::ffff:192.0.2.1")->reason, "v4 default");
	size_t cur = 0, n = 0;
	while (cidr_set_next(s, &cur))
		n++;
	assert_int_equal(n, 3);
	cidr_set_free(s);
}

static void test_parse_list(void **state)
{
	(void)state;
	struct cidr_set *s = cidr_set_new();
	char err[256];
	assert_int_equal(cidr_set_parse_list(s, " 192.0.2.0/24,198.51.100.7\n2001:db8::/32 ,, ",
					     BLOCK, "ip_blocklist", err, sizeof(err)),
			 0);
	assert_int_equal(cidr_set_count(s), 3);
	assert_string_equal(cidr_set_lookup(s, "2001:db8::5")->reason, "ip_blocklist");
	/* All or nothing; the error names the item and suggests the network. */
	assert_int_equal(cidr_set_parse_list(s, "203.0.113.0/24, 192.0.2.1/24", BLOCK, NULL, err,
					     sizeof(err)),
			 -1);
	assert_string_equal(err, "'192.0.2.1/24': host bits set beyond /24 (did you mean "
				 "192.0.2.0/24?)");
	assert_int_equal(cidr_set_count(s), 3);
	assert_null(cidr_set_lookup(s, "203.0.113.1"));
	assert_int_equal(cidr_set_parse_list(s, "203.0.113.0/24 mx.example.com", BLOCK, NULL, err,
					     sizeof(err)),
			 -1);
	assert_string_equal(err, "'mx.example.com': not an IPv4 or IPv6 address or prefix");
	assert_int_equal(cidr_set_parse_list(s, "", BLOCK, NULL, err, sizeof(err)), 0);
	assert_int_equal(cidr_set_count(s), 3);
	cidr_set_free(s);
}

/* ---- 100k entries against a reference scan ---- */

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void random_prefix(struct cidr *c)
{
	memset(c, 0, sizeof(*c));
	uint64_t r = next_rand(), r2 = next_rand();
	if (r & 1) {
		/* IPv4 inside 8.0.0.0/6 so that prefixes nest often */
		static const unsigned lens[] = { 8, 12, 16, 20, 22, 24, 24, 24, 28, 32, 32, 32 };
		c->family = AF_INET;
		c->prefix = lens[(r >> 1) % 12];
		c->addr[0] = (unsigned char)(10 + (r2 & 3));
		c->addr[1] = (unsigned char)(r2 >> 8);
		c->addr[2] = (unsigned char)(r2 >> 16);
		c->addr[3] = (unsigned char)(r2 >> 24);
	} else {
		static const unsigned lens[] = { 32, 48, 56, 64, 64, 64, 96, 128, 128 };
		c->family = AF_INET6;
		c->prefix = lens[(r >> 1) % 9];
		c->addr[0] = 0x20;
		c->addr[1] = 0x01;
		c->addr[2] = 0x0d;
		c->addr[3] = 0xb8;
		c->addr[4] = (unsigned char)(r2 & 3);
		for (int i = 5; i < 16; i++)
			c->addr[i] = (unsigned char)(next_rand() >> 24);
		if (r2 & 4)
			memset(c->addr + 8, 0, 8); /* some hosts inside the /64s */
	}
	/* clear host bits */
	unsigned byte = c->prefix / 8, rem = c->prefix % 8;
	if (rem)
		c->addr[byte++] &= (unsigned char)(0xff << (8 - rem));
	if (byte < 16)
		memset(c->addr + byte, 0, 16 - byte);
}

static struct cidr random_host_near(const struct cidr *ref, uint64_t r)
{
	struct cidr h = *ref;
	h.prefix = h.family == AF_INET ? 32 : 128;
	unsigned bits = h.prefix;
	for (unsigned b = ref->prefix; b < bits; b++)
		if ((next_rand() >> 40) & 1)
			h.addr[b / 8] |= (unsigned char)(0x80 >> (b % 8));
	if (r % 3 == 0) /* sometimes flip a bit inside the prefix: likely outside it */
		h.addr[(r >> 8) % (bits / 8)] ^= 1;
	return h;
}

/* Reference: scan all live entries for the longest containing prefix. */
static const struct cidr *ref_lookup(const struct cidr *nets, const bool *live, size_t n,
				     const struct cidr *h)
{
	const struct cidr *best = NULL;
	for (size_t i = 0; i < n; i++)
		if (live[i] && cidr_contains(&nets[i], h) && (!best || nets[i].prefix > best->prefix))
			best = &nets[i];
	return best;
}

static void test_set_100k(void **state)
{
	(void)state;
	enum { N = 160000, ENTRIES = 100000, PROBES = 200 };
	struct cidr *nets = calloc(N, sizeof(*nets));
	bool *live = calloc(N, sizeof(*live));
	assert_non_null(nets);
	assert_non_null(live);
	struct cidr_set *s = cidr_set_new();
	size_t added = 0, n = 0;
	/* Random prefixes (some repeat) until the set holds ENTRIES distinct ones. */
	for (size_t i = 0; added < ENTRIES; i++, n++) {
		assert_true(i < N);
		random_prefix(&nets[i]);
		/* The set keeps the last tag of a prefix: the older copy is dead. */
		const struct cidr_entry *old = cidr_set_get(s, &nets[i]);
		if (old)
			live[(const struct cidr *)old->tag.data - nets] = false;
		int rc = cidr_set_add(s, &nets[i], (struct cidr_tag){ (int)i, &nets[i] }, "r");
		assert_int_equal(rc, old ? 0 : 1);
		added += (size_t)rc;
		live[i] = true;
	}
	assert_int_equal(cidr_set_count(s), ENTRIES);

	for (int round = 0; round < 2; round++) {
		for (size_t p = 0; p < PROBES; p++) {
			uint64_t r = next_rand();
			struct cidr h = random_host_near(&nets[r % n], r);
			const struct cidr_entry *got = cidr_set_lookup_cidr(s, &h);
			const struct cidr *want = ref_lookup(nets, live, n, &h);
			if (!want) {
				assert_null(got);
				continue;
			}
			assert_non_null(got);
			assert_true(cidr_equal(&got->net, want));
			/* the tag is the last one added for that prefix */
			assert_ptr_equal(got->tag.data, want);
		}
		/* Then remove about half and check again. */
		if (round == 0)
			for (size_t i = 0; i < n; i += 2)
				if (live[i]) {
					assert_int_equal(cidr_set_remove(s, &nets[i]), 1);
					live[i] = false;
				}
	}
	size_t nlive = 0;
	for (size_t i = 0; i < N; i++)
		nlive += live[i];
	assert_int_equal(cidr_set_count(s), nlive);

	/* Speed: the lookup is per connection and per recipient. Figures from
	 * the sanitizer build are only an upper bound. */
	enum { HOSTS = 20000, LOOKUPS = 300000 };
	struct cidr *hosts = malloc(HOSTS * sizeof(*hosts));
	assert_non_null(hosts);
	for (size_t i = 0; i < HOSTS; i++)
		hosts[i] = random_host_near(&nets[next_rand() % n], 1);
	struct timespec t0, t1;
	size_t found = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < LOOKUPS; i++)
		found += cidr_set_lookup_cidr(s, &hosts[i % HOSTS]) != NULL;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("# %d lookups in a set of %zu: %.3f s (%.0f ns each, %zu found)\n", LOOKUPS,
	       cidr_set_count(s), secs, secs * 1e9 / LOOKUPS, found);
	free(hosts);
	cidr_set_free(s);
	free(nets);
	free(live);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_format),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_contains),
		cmocka_unit_test(test_ip_helpers),
		cmocka_unit_test(test_set_basics),
		cmocka_unit_test(test_set_v6_and_default_routes),
		cmocka_unit_test(test_parse_list),
		cmocka_unit_test(test_set_100k),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
