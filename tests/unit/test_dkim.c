/* Unit tests for the tag-list parser, canonicalization and DKIM (src/auth/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/canon.h"
#include "auth/dkim.h"
#include "auth/headers.h"
#include "auth/taglist.h"

/* RFC 8463 Appendix A: one message signed with Ed25519 (brisbane) and RSA (test). */
static const char rfc8463_msg[] =
	"DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
	" d=football.example.com; i=@football.example.com;\r\n"
	" q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
	" subject : date : message-id : from : subject : date;\r\n"
	" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
	" b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"
	" Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n"
	"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
	" d=football.example.com; i=@football.example.com;\r\n"
	" q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n"
	" date : message-id : from : subject : date;\r\n"
	" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
	" b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r\n"
	" DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r\n"
	" dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\r\n"
	"From: Joe SixPack <joe@football.example.com>\r\n"
	"To: Suzie Q <suzie@shopping.example.net>\r\n"
	"Subject: Is dinner ready?\r\n"
	"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
	"Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
	"\r\n"
	"Hi.\r\n"
	"\r\n"
	"We lost the game.  Are you hungry yet?\r\n"
	"\r\n"
	"Joe.\r\n"
	"\r\n";

#define ED_NAME "brisbane._domainkey.football.example.com"
#define RSA_NAME "test._domainkey.football.example.com"
static const char ed_rec[] = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
static const char rsa_rec[] =
	"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWR"
	"iGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutAC"
	"DfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3"
	"Ip3G+2kryOTIKT+l/K4w3QIDAQAB";

#define NOW 1790910000

/* A verification with keys given directly: pairs name, record (NULL record:
 * NXDOMAIN; "TEMPFAIL": a temporary failure); names not listed are NXDOMAIN. */
struct run {
	struct headers h;
	struct dkim_verifier v;
};

static void verify_msg(struct run *r, const char *msg, const char *const *keys)
{
	assert_int_equal(headers_parse(&r->h, msg, strlen(msg)), 0);
	assert_int_equal(dkim_verifier_init(&r->v, &r->h, NOW), 0);
	size_t cur = 0;
	const char *name;
	const char *names[16];
	size_t nn = 0;
	while ((name = dkim_verifier_query(&r->v, &cur)))
		names[nn++] = name;
	for (size_t i = 0; i < nn; i++) {
		struct slice rec;
		struct txt_answer a = { TXT_NXDOMAIN, NULL, 0 };
		for (size_t k = 0; keys && keys[k]; k += 2) {
			if (strcmp(keys[k], names[i]))
				continue;
			if (keys[k + 1] && !strcmp(keys[k + 1], "TEMPFAIL")) {
				a.status = TXT_TEMPFAIL;
			} else if (keys[k + 1]) {
				rec = slice_cstr(keys[k + 1]);
				a = (struct txt_answer){ TXT_OK, &rec, 1 };
			}
		}
		dkim_verifier_answer(&r->v, names[i], &a);
	}
	dkim_verifier_finish(&r->v);
}

static void run_free(struct run *r)
{
	dkim_verifier_free(&r->v);
	headers_free(&r->h);
}

static char *replace(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	assert_non_null(at);
	size_t n = strlen(s) - strlen(from) + strlen(to);
	char *out = malloc(n + 1);
	size_t pre = (size_t)(at - s);
	memcpy(out, s, pre);
	strcpy(out + pre, to);
	strcat(out, at + strlen(from));
	return out;
}

static const char *const rfc_keys[] = { ED_NAME, ed_rec, RSA_NAME, rsa_rec, NULL };

static void test_taglist(void **state)
{
	(void)state;
	struct taglist tl;
	const char *s = " v=1; a = rsa-sha256 ;\r\n\tb=ab cd\r\n ef ; x=; ";
	assert_int_equal(taglist_parse(&tl, s, strlen(s)), TAGLIST_OK);
	assert_int_equal(tl.n, 4);
	const struct tag *t = taglist_get(&tl, "a");
	assert_non_null(t);
	assert_int_equal(t->value.len, 10);
	assert_memory_equal(t->value.p, "rsa-sha256", 10);
	t = taglist_get(&tl, "b");
	assert_int_equal(t->value.len, strlen("ab cd\r\n ef"));
	assert_int_equal(taglist_get(&tl, "x")->value.len, 0);
	assert_null(taglist_get(&tl, "A"));
	assert_int_equal(taglist_parse(&tl, "a=1; a=2", 8), TAGLIST_DUPLICATE);
	assert_int_equal(taglist_parse(&tl, "a=1;; b=2", 9), TAGLIST_SYNTAX);
	assert_int_equal(taglist_parse(&tl, "1a=1", 4), TAGLIST_SYNTAX);
	assert_int_equal(taglist_parse(&tl, "a", 1), TAGLIST_SYNTAX);
	assert_int_equal(taglist_parse(&tl, "a=b\x01", 4), TAGLIST_SYNTAX);
	assert_int_equal(taglist_parse(&tl, "", 0), TAGLIST_OK);
	assert_int_equal(tl.n, 0);
}

static void test_base64(void **state)
{
	(void)state;
	unsigned char out[16];
	size_t n;
	assert_int_equal(base64_decode_ws(SLICE_LIT("aGVs\r\n bG8="), out, sizeof(out), &n), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(out, "hello", 5);
	assert_int_equal(base64_decode_ws(SLICE_LIT("aGVsbG8"), out, sizeof(out), &n), -1);
	assert_int_equal(base64_decode_ws(SLICE_LIT("aG=sbG8="), out, sizeof(out), &n), -1);
	assert_int_equal(base64_decode_ws(SLICE_LIT("a!=="), out, sizeof(out), &n), -1);
	assert_int_equal(base64_decode_ws(SLICE_LIT("aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ="), out,
					  sizeof(out), &n), -1); /* overflow */
	struct buf b = { 0 };
	base64_encode(&b, (const unsigned char *)"hello", 5);
	assert_string_equal(buf_cstr(&b), "aGVsbG8=");
	buf_free(&b);
}

static void collect(void *arg, const char *p, size_t n)
{
	buf_append(arg, p, n);
}

static const char *body_canon(enum canon c, const char *body, struct buf *b)
{
	buf_reset(b);
	canon_body(c, slice_cstr(body), collect, b);
	return buf_cstr(b);
}

/* RFC 6376 3.4.5 example, and the empty-body rules. */
static void test_canon_rfc6376(void **state)
{
	(void)state;
	const char *msg = "A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n";
	struct headers h;
	assert_int_equal(headers_parse(&h, msg, strlen(msg)), 0);
	assert_int_equal(h.n, 2);
	struct buf b = { 0 };
	for (size_t i = 0; i < h.n; i++)
		canon_header(&b, CANON_RELAXED, &h.f[i], true);
	assert_string_equal(buf_cstr(&b), "a:X\r\nb:Y Z\r\n");
	buf_reset(&b);
	for (size_t i = 0; i < h.n; i++)
		canon_header(&b, CANON_SIMPLE, &h.f[i], true);
	assert_string_equal(buf_cstr(&b), "A: X\r\nB : Y\t\r\n\tZ  \r\n");
	char body[64];
	snprintf(body, sizeof(body), "%.*s", (int)h.body.len, h.body.p);
	assert_string_equal(body_canon(CANON_RELAXED, body, &b), " C\r\nD E\r\n");
	assert_string_equal(body_canon(CANON_SIMPLE, body, &b), " C \r\nD \t E\r\n");
	assert_string_equal(body_canon(CANON_RELAXED, "", &b), "");
	assert_string_equal(body_canon(CANON_SIMPLE, "", &b), "\r\n");
	assert_string_equal(body_canon(CANON_SIMPLE, "\r\n\r\n", &b), "\r\n");
	assert_string_equal(body_canon(CANON_RELAXED, " \t\r\n\r\n", &b), "");
	assert_string_equal(body_canon(CANON_RELAXED, "a  \r\n \r\nb", &b), "a\r\n\r\nb\r\n");
	assert_string_equal(body_canon(CANON_SIMPLE, "a\r\n\r\nb", &b), "a\r\n\r\nb\r\n");
	buf_free(&b);
	headers_free(&h);
}

static void test_headers_parse(void **state)
{
	(void)state;
	const char *msg = "From x\r\nA: 1\r\n cont\r\nbad line\r\nB:2\r\n\r\nbody";
	struct headers h;
	assert_int_equal(headers_parse(&h, msg, strlen(msg)), 0);
	assert_int_equal(h.n, 2);
	assert_true(h.malformed);
	assert_int_equal(h.f[0].raw.len, strlen("A: 1\r\n cont"));
	assert_int_equal(h.body.len, 4);
	headers_free(&h);
	/* No empty line: all header, empty body. */
	assert_int_equal(headers_parse(&h, "A: 1\r\nB: 2", 10), 0);
	assert_int_equal(h.n, 2);
	assert_int_equal(h.body.len, 0);
	headers_free(&h);
}

static void test_rfc8463_both_pass(void **state)
{
	(void)state;
	struct run r;
	verify_msg(&r, rfc8463_msg, rfc_keys);
	assert_int_equal(r.v.nsig, 2);
	assert_int_equal(r.v.sig[0].result, DKIM_PASS);
	assert_int_equal(r.v.sig[0].alg, DKIM_ED25519_SHA256);
	assert_string_equal(r.v.sig[0].d, "football.example.com");
	assert_string_equal(r.v.sig[0].s, "brisbane");
	assert_string_equal(r.v.sig[0].bprefix, "/gCrinpc");
	assert_int_equal(r.v.sig[1].result, DKIM_PASS);
	assert_int_equal(r.v.sig[1].key_bits, 1024);
	run_free(&r);
}

static void expect_first(const char *msg, const char *const *keys, enum dkim_result res,
			 const char *reason)
{
	struct run r;
	verify_msg(&r, msg, keys);
	assert_true(r.v.nsig >= 1);
	if (r.v.sig[0].result != res || !strstr(r.v.sig[0].reason, reason))
		fail_msg("got %s (%s), want %s (%s)", dkim_result_name(r.v.sig[0].result),
			 r.v.sig[0].reason, dkim_result_name(res), reason);
	run_free(&r);
}

static void test_tampering(void **state)
{
	(void)state;
	char *m = replace(rfc8463_msg, "hungry", "angry");
	expect_first(m, rfc_keys, DKIM_FAIL, "body hash");
	free(m);
	m = replace(rfc8463_msg, "dinner", "lunch");
	expect_first(m, rfc_keys, DKIM_FAIL, "signature did not verify");
	free(m);
	/* Over-signed From: adding one above breaks the signature. */
	m = replace(rfc8463_msg, "From: Joe", "From: Mallory <m@evil.example>\r\nFrom: Joe");
	expect_first(m, rfc_keys, DKIM_FAIL, "signature did not verify");
	free(m);
	/* An unsigned field may be added. */
	m = replace(rfc8463_msg, "Message-ID:", "X-Mailer: any\r\nMessage-ID:");
	expect_first(m, rfc_keys, DKIM_PASS, "");
	free(m);
	/* Relaxed: whitespace changes in headers and body still pass. */
	m = replace(rfc8463_msg, "Subject: Is dinner ready?", "Subject:   Is dinner\r\n  ready?  ");
	expect_first(m, rfc_keys, DKIM_PASS, "");
	free(m);
}

static void test_policy_errors(void **state)
{
	(void)state;
	static const struct {
		const char *from, *to;
		enum dkim_result res;
		const char *reason;
	} cases[] = {
		{ "t=1528637909; h=from", "t=1528637909; x=1528637910; h=from", DKIM_FAIL,
		  "expired" },
		{ "t=1528637909; h=from", "t=1528637909; x=1528637900; h=from", DKIM_PERMERROR,
		  "x= earlier" },
		{ "i=@football.example.com", "i=@example.net", DKIM_PERMERROR, "i= not within" },
		{ "h=from : to :\r\n subject : date : message-id : from : subject : date;",
		  "h=to : subject;", DKIM_PERMERROR, "From not signed" },
		{ "s=brisbane;", "s=brisbane; s=brisbane;", DKIM_PERMERROR, "duplicate" },
		{ "v=1;", "v=2;", DKIM_PERMERROR, "version" },
		{ "a=ed25519-sha256", "a=rsa-sha1", DKIM_PERMERROR, "RFC 8301" },
		{ "a=ed25519-sha256", "a=foo", DKIM_PERMERROR, "algorithm" },
		{ "c=relaxed/relaxed", "c=relaxed/odd", DKIM_PERMERROR, "canonicalization" },
		{ "q=dns/txt", "q=http", DKIM_PERMERROR, "query method" },
		{ "bh=2jUSOH9", "bh=AAAA2jUSOH9", DKIM_PERMERROR, "bh=" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *m = replace(rfc8463_msg, cases[i].from, cases[i].to);
		expect_first(m, rfc_keys, cases[i].res, cases[i].reason);
		free(m);
	}
}

static void test_key_records(void **state)
{
	(void)state;
	static const struct {
		const char *rec;
		enum dkim_result res;
		const char *reason;
	} cases[] = {
		{ NULL, DKIM_PERMERROR, "no key record" },
		{ "TEMPFAIL", DKIM_TEMPERROR, "temporar" },
		{ "v=DKIM1; k=ed25519; p=", DKIM_PERMERROR, "revoked" },
		{ "v=DKIM1; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWR", DKIM_PERMERROR,
		  "does not match" },
		{ "v=DKIM1; k=ed25519; h=sha1; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
		  DKIM_PERMERROR, "hash not allowed" },
		{ "v=DKIM1; k=ed25519; s=tlsrpt; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
		  DKIM_PERMERROR, "not for email" },
		{ "k=ed25519; v=DKIM1; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
		  DKIM_PERMERROR, "version" },
		{ "v=DKIM1; k=ed25519; p=AAAA", DKIM_PERMERROR, "Ed25519 key length" },
		{ "v=DKIM1; k=dsa; p=AAAA", DKIM_PERMERROR, "key type" },
		{ "v=DKIM1; k=ed25519; t=y; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
		  DKIM_PASS, "" },
		{ "v=DKIM1; k=ed25519; t=s; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
		  DKIM_PASS, "" },
		/* Wrong key: another valid Ed25519 key. */
		{ "v=DKIM1; k=ed25519; p=Gv5rjzz4IV+XTwqhdxYnb6ePx0VHtJvuUxg4ndYB0LY=", DKIM_FAIL,
		  "signature did not verify" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *keys[] = { ED_NAME, cases[i].rec, NULL };
		expect_first(rfc8463_msg, keys, cases[i].res, cases[i].reason);
	}
	/* t=y is remembered; t=s refuses an i= below d=. */
	struct run r;
	const char *ty[] = { ED_NAME, "v=DKIM1; k=ed25519; t=y; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", NULL };
	verify_msg(&r, rfc8463_msg, ty);
	assert_true(r.v.sig[0].testing);
	run_free(&r);
	char *m = replace(rfc8463_msg, "i=@football.example.com", "i=@news.football.example.com");
	const char *ts[] = { ED_NAME, "v=DKIM1; k=ed25519; t=s; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", NULL };
	expect_first(m, ts, DKIM_PERMERROR, "t=s");
	free(m);
	/* An unanswered lookup is a temporary error. */
	assert_int_equal(headers_parse(&r.h, rfc8463_msg, strlen(rfc8463_msg)), 0);
	dkim_verifier_init(&r.v, &r.h, NOW);
	size_t cur = 0;
	assert_string_equal(dkim_verifier_query(&r.v, &cur), ED_NAME);
	assert_string_equal(dkim_verifier_query(&r.v, &cur), RSA_NAME);
	assert_null(dkim_verifier_query(&r.v, &cur));
	dkim_verifier_finish(&r.v);
	assert_int_equal(r.v.sig[1].result, DKIM_TEMPERROR);
	run_free(&r);
}

static char *record_for(EVP_PKEY *k)
{
	struct buf b = { 0 };
	if (EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519) {
		unsigned char raw[32];
		size_t n = 32;
		EVP_PKEY_get_raw_public_key(k, raw, &n);
		buf_append_str(&b, "v=DKIM1; k=ed25519; p=");
		base64_encode(&b, raw, n);
	} else {
		unsigned char *der = NULL;
		int n = i2d_PUBKEY(k, &der);
		buf_append_str(&b, "v=DKIM1; k=rsa; p=");
		base64_encode(&b, der, (size_t)n);
		OPENSSL_free(der);
	}
	buf_cstr(&b);
	return b.p;
}

static const char plain_msg[] =
	"From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: hi\r\n"
	"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nHello  \r\nworld\r\n\r\n";

static char *sign_msg(EVP_PKEY *k, const char *sel, enum canon hc, enum canon bc, bool l)
{
	struct headers h;
	assert_int_equal(headers_parse(&h, plain_msg, strlen(plain_msg)), 0);
	struct dkim_sign_opts o = { .domain = "example.com", .selector = sel, .key = k,
				    .hc = hc, .bc = bc, .now = NOW - 10, .expire = 3600,
				    .body_length = l };
	struct buf out = { 0 };
	char err[128];
	assert_int_equal(dkim_sign(&out, &h, &o, err, sizeof(err)), 0);
	buf_append_str(&out, plain_msg);
	headers_free(&h);
	buf_cstr(&out);
	return out.p;
}

static void test_sign_roundtrip(void **state)
{
	(void)state;
	EVP_PKEY *keys[2] = { EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048),
			      EVP_PKEY_Q_keygen(NULL, NULL, "ED25519") };
	for (int k = 0; k < 2; k++) {
		char *rec = record_for(keys[k]);
		const char *kk[] = { "sel._domainkey.example.com", rec, NULL };
		for (int hc = 0; hc < 2; hc++)
			for (int bc = 0; bc < 2; bc++) {
				char *m = sign_msg(keys[k], "sel", (enum canon)hc, (enum canon)bc,
						   false);
				expect_first(m, kk, DKIM_PASS, "");
				char *t = replace(m, "world", "World");
				expect_first(t, kk, DKIM_FAIL, "body hash");
				free(t);
				t = replace(m, "Subject: hi", "Subject: ho");
				expect_first(t, kk, DKIM_FAIL, "signature did not verify");
				free(t);
				free(m);
			}
		/* l=: content appended after signing still passes, flagged. */
		char *m = sign_msg(keys[k], "sel", CANON_RELAXED, CANON_RELAXED, true);
		char *t = malloc(strlen(m) + 32);
		strcpy(t, m);
		strcat(t, "appended\r\n");
		struct run r;
		verify_msg(&r, t, kk);
		assert_int_equal(r.v.sig[0].result, DKIM_PASS);
		assert_true(r.v.sig[0].has_l);
		assert_true(r.v.sig[0].body_partial);
		run_free(&r);
		free(t);
		free(m);
		free(rec);
	}
	/* A 512-bit RSA key is refused whatever the signature (RFC 8301). */
	EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)512);
	char *rec = record_for(small);
	const char *kk[] = { "sel._domainkey.example.com", rec, NULL };
	char *m = sign_msg(small, "sel", CANON_RELAXED, CANON_RELAXED, false);
	expect_first(m, kk, DKIM_PERMERROR, "1024 bits");
	free(m);
	free(rec);
	EVP_PKEY_free(small);
	EVP_PKEY_free(keys[0]);
	EVP_PKEY_free(keys[1]);
}

static void test_limits(void **state)
{
	(void)state;
	/* More signatures than DKIM_SIGNATURES_MAX: the rest are counted, not verified. */
	struct buf m = { 0 };
	for (int i = 0; i < DKIM_SIGNATURES_MAX + 3; i++)
		buf_append_str(&m, "DKIM-Signature: v=1; a=rsa-sha256; d=x.example; s=s; h=from; "
				   "bh=AAAA; b=AAAA\r\n");
	buf_append_str(&m, "From: a@x.example\r\n\r\n");
	struct run r;
	verify_msg(&r, buf_cstr(&m), NULL);
	assert_int_equal(r.v.nsig, DKIM_SIGNATURES_MAX);
	assert_int_equal(r.v.ignored, 3);
	run_free(&r);
	buf_reset(&m);
	for (int i = 0; i < AUTH_HEADER_FIELDS_MAX + 1; i++)
		buf_append_str(&m, "X: y\r\n");
	struct headers h;
	assert_int_equal(headers_parse(&h, m.p, m.len), -1);
	headers_free(&h);
	buf_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_taglist),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_canon_rfc6376),
		cmocka_unit_test(test_headers_parse),
		cmocka_unit_test(test_rfc8463_both_pass),
		cmocka_unit_test(test_tampering),
		cmocka_unit_test(test_policy_errors),
		cmocka_unit_test(test_key_records),
		cmocka_unit_test(test_sign_roundtrip),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
