/* Unit tests for the Received trace header (src/smtp/received.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "smtp/received.h"

static struct received_info base(void)
{
	return (struct received_info){
		.helo = "client.example",
		.rdns = "host.client.example",
		.ip = "192.0.2.7",
		.hostname = "mx.example",
		.esmtp = true,
		.id = "abc123.1",
		.rcpt = "joe@example.com",
		.when = 1700000000,
	};
}

static const char *header(const struct received_info *ri, struct buf *b)
{
	buf_reset(b);
	assert_int_equal(received_header(b, ri), 0);
	return buf_cstr(b);
}

static void test_full_header(void **state)
{
	(void)state;
	struct buf b = { 0 };
	struct received_info ri = base();
	assert_string_equal(header(&ri, &b),
			    "Received: from client.example (host.client.example [192.0.2.7])\r\n"
			    "\tby mx.example (mxscreen) with ESMTP\r\n"
			    "\tid abc123.1\r\n"
			    "\tfor <joe@example.com>; Tue, 14 Nov 2023 22:13:20 +0000\r\n");
	ri.tls_version = "TLSv1.3";
	ri.tls_cipher = "TLS_AES_256_GCM_SHA384";
	ri.rcpt = NULL;
	ri.rdns = NULL;
	ri.helo = NULL;
	assert_string_equal(header(&ri, &b),
			    "Received: from unknown (unknown [192.0.2.7])\r\n"
			    "\tby mx.example (mxscreen) with ESMTPS (TLSv1.3 TLS_AES_256_GCM_SHA384)\r\n"
			    "\tid abc123.1; Tue, 14 Nov 2023 22:13:20 +0000\r\n");
	buf_free(&b);
}

static void test_protocol_names(void **state)
{
	(void)state;
	static const struct {
		bool esmtp, utf8, tls;
		const char *want;
	} cases[] = {
		{ false, false, false, " with SMTP\r\n" },
		{ true, false, false, " with ESMTP\r\n" },
		{ true, false, true, " with ESMTPS (" },
		{ true, true, false, " with UTF8SMTP\r\n" },
		{ true, true, true, " with UTF8SMTPS (" },
	};
	struct buf b = { 0 };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct received_info ri = base();
		ri.esmtp = cases[i].esmtp;
		ri.smtputf8 = cases[i].utf8;
		ri.tls_version = cases[i].tls ? "TLSv1.2" : NULL;
		const char *h = header(&ri, &b);
		if (!strstr(h, cases[i].want))
			fail_msg("case %zu: '%s' lacks '%s'", i, h, cases[i].want);
	}
	/* TLS without a cipher name still says so */
	struct received_info ri = base();
	ri.tls_version = "TLSv1.3";
	assert_non_null(strstr(header(&ri, &b), "with ESMTPS (TLSv1.3 unknown)"));
	buf_free(&b);
}

static void test_for_only_with_one_recipient(void **state)
{
	(void)state;
	struct buf b = { 0 };
	struct received_info ri = base();
	assert_non_null(strstr(header(&ri, &b), "\tfor <joe@example.com>;"));
	ri.rcpt = NULL;
	assert_null(strstr(header(&ri, &b), "for "));
	buf_free(&b);
}

static void test_date(void **state)
{
	(void)state;
	char d[64];
	received_date(d, sizeof(d), 0);
	assert_string_equal(d, "Thu, 1 Jan 1970 00:00:00 +0000");
	received_date(d, sizeof(d), 1735689599);
	assert_string_equal(d, "Tue, 31 Dec 2024 23:59:59 +0000");
	received_date(d, sizeof(d), 951782400);
	assert_string_equal(d, "Tue, 29 Feb 2000 00:00:00 +0000");
	/* too small a buffer is cut, NUL-terminated, never overrun */
	char small[8];
	received_date(small, sizeof(small), 0);
	assert_string_equal(small, "Thu, 1 ");
}

static void test_header_lines(void **state)
{
	(void)state;
	struct buf b = { 0 };
	struct received_info ri = base();
	ri.tls_version = "TLSv1.3";
	ri.tls_cipher = "TLS_CHACHA20_POLY1305_SHA256";
	const char *h = header(&ri, &b);
	/* every line ends in CRLF, continuation lines fold with a tab, no bare CR/LF */
	size_t lines = 0;
	for (const char *p = h; *p;) {
		const char *e = strstr(p, "\r\n");
		assert_non_null(e);
		assert_true(e - p < 998);
		assert_null(memchr(p, '\n', (size_t)(e - p)));
		assert_null(memchr(p, '\r', (size_t)(e - p)));
		if (lines++)
			assert_int_equal(p[0], '\t');
		p = e + 2;
	}
	assert_int_equal(lines, 4);
	assert_memory_equal(h, "Received: ", 10);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_header),
		cmocka_unit_test(test_protocol_names),
		cmocka_unit_test(test_for_only_with_one_recipient),
		cmocka_unit_test(test_date),
		cmocka_unit_test(test_header_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
