/* Unit tests for the SMTP reply builder (src/smtp/reply.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/limits.h"
#include "smtp/reply.h"

static void test_single_line(void **state)
{
	(void)state;
	struct buf b = { 0 };
	assert_int_equal(smtp_reply(&b, 250, "2.0.0", "OK %d", 7), 0);
	assert_string_equal(buf_cstr(&b), "250 2.0.0 OK 7\r\n");
	buf_free(&b);
}

static void test_no_enhanced_code(void **state)
{
	(void)state;
	struct buf b = { 0 };
	smtp_reply(&b, 220, NULL, "mx.example ESMTP");
	assert_string_equal(buf_cstr(&b), "220 mx.example ESMTP\r\n");
	buf_free(&b);
}

static void test_multiline(void **state)
{
	(void)state;
	struct buf b = { 0 };
	smtp_reply(&b, 250, NULL, "mx greets\nPIPELINING\nSIZE 10");
	assert_string_equal(buf_cstr(&b), "250-mx greets\r\n250-PIPELINING\r\n250 SIZE 10\r\n");
	buf_free(&b);
}

static void test_reason_suffix(void **state)
{
	(void)state;
	struct buf b = { 0 };
	smtp_reply_reason(&b, 550, "5.7.1", R_RELAY_DENIED, "http://p", "<a@b>: Relay access denied");
	assert_string_equal(buf_cstr(&b), "550 5.7.1 <a@b>: Relay access denied "
					  "(MXS-SMTP-004 http://p/help/MXS-SMTP-004)\r\n");
	buf_free(&b);
}

static void test_control_chars_replaced(void **state)
{
	(void)state;
	struct buf b = { 0 };
	smtp_reply(&b, 250, "2.0.0", "a\rb\tc");
	assert_string_equal(buf_cstr(&b), "250 2.0.0 a?b?c\r\n");
	buf_free(&b);
}

static void test_long_text_wraps_without_loss(void **state)
{
	(void)state;
	char text[2000];
	for (size_t i = 0; i < sizeof(text) - 1; i++)
		text[i] = (i % 10 == 9) ? ' ' : (char)('a' + i % 26);
	text[sizeof(text) - 1] = '\0';
	struct buf b = { 0 };
	smtp_reply(&b, 550, "5.7.1", "%s", text);
	const char *p = buf_cstr(&b);
	size_t lines = 0, letters = 0;
	while (*p) {
		const char *e = strstr(p, "\r\n");
		assert_non_null(e);
		assert_true((size_t)(e - p) + 2 <= SMTP_REPLY_LINE_MAX);
		assert_memory_equal(p, "550", 3);
		assert_memory_equal(p + 4, "5.7.1 ", 6);
		lines++;
		for (const char *q = p + 10; q < e; q++)
			letters += *q != ' ';
		bool last = e[2] == '\0';
		assert_int_equal(p[3], last ? ' ' : '-');
		p = e + 2;
	}
	size_t want = 0;
	for (size_t i = 0; text[i]; i++)
		want += text[i] != ' ';
	assert_true(lines >= 4);
	assert_int_equal(letters, want);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_line),
		cmocka_unit_test(test_no_enhanced_code),
		cmocka_unit_test(test_multiline),
		cmocka_unit_test(test_reason_suffix),
		cmocka_unit_test(test_control_chars_replaced),
		cmocka_unit_test(test_long_text_wraps_without_loss),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
