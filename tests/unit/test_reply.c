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

static void test_trailing_newline_and_empty_text(void **state)
{
	(void)state;
	struct buf b = { 0 };
	smtp_reply(&b, 250, NULL, "one line\n");
	assert_string_equal(buf_cstr(&b), "250 one line\r\n");
	buf_reset(&b);
	smtp_reply(&b, 354, NULL, "%s", "");
	assert_string_equal(buf_cstr(&b), "354 \r\n");
	buf_reset(&b);
	smtp_reply_text(&b, 221, "2.0.0", "", 0);
	assert_string_equal(buf_cstr(&b), "221 2.0.0 \r\n");
	buf_free(&b);
}

/* Client text echoed in a reply cannot start a reply of its own. */
static void test_echoed_text_cannot_inject(void **state)
{
	(void)state;
	struct buf b = { 0 };
	smtp_reply(&b, 550, "5.1.1", "<%s>: unknown", "x\r\n250 2.0.0 OK");
	assert_string_equal(buf_cstr(&b), "550-5.1.1 <x?\r\n550 5.1.1 250 2.0.0 OK>: unknown\r\n");
	buf_reset(&b);
	static const char nul[] = "a\0b";
	smtp_reply_text(&b, 250, NULL, nul, 3);
	assert_string_equal(buf_cstr(&b), "250 a?b\r\n");
	buf_free(&b);
}

/* Checks every line: within the limit, our code, '-' on all but the last. */
static size_t check_lines(const char *p, const char *prefix, size_t *text_octets)
{
	size_t lines = 0;
	*text_octets = 0;
	while (*p) {
		const char *e = strstr(p, "\r\n");
		assert_non_null(e);
		assert_true((size_t)(e - p) + 2 <= SMTP_REPLY_LINE_MAX);
		assert_memory_equal(p, prefix, 3);
		assert_int_equal(p[3], e[2] == '\0' ? ' ' : '-');
		assert_memory_equal(p + 4, prefix + 4, strlen(prefix) - 4);
		*text_octets += (size_t)(e - p) - strlen(prefix);
		lines++;
		p = e + 2;
	}
	return lines;
}

static void test_long_word_is_cut_not_lost(void **state)
{
	(void)state;
	char text[1501];
	memset(text, 'w', 1500);
	text[1500] = '\0';
	struct buf b = { 0 };
	smtp_reply(&b, 554, "5.7.1", "%s", text);
	size_t octets;
	assert_int_equal(check_lines(buf_cstr(&b), "554 5.7.1 ", &octets), 3);
	assert_int_equal(octets, 1500);
	buf_free(&b);
}

static void test_exactly_one_line_of_room(void **state)
{
	(void)state;
	/* 512 - "250-" - "2.0.0 " - CRLF = 500 octets of text fit on one line */
	char text[502];
	memset(text, 't', 501);
	text[500] = '\0';
	struct buf b = { 0 };
	smtp_reply(&b, 250, "2.0.0", "%s", text);
	assert_int_equal(b.len, SMTP_REPLY_LINE_MAX);
	size_t octets;
	assert_int_equal(check_lines(buf_cstr(&b), "250 2.0.0 ", &octets), 1);
	buf_reset(&b);
	text[500] = 't';
	text[501] = '\0';
	smtp_reply(&b, 250, "2.0.0", "%s", text);
	assert_int_equal(check_lines(buf_cstr(&b), "250 2.0.0 ", &octets), 2);
	assert_int_equal(octets, 501);
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
		cmocka_unit_test(test_trailing_newline_and_empty_text),
		cmocka_unit_test(test_echoed_text_cannot_inject),
		cmocka_unit_test(test_long_word_is_cut_not_lost),
		cmocka_unit_test(test_exactly_one_line_of_room),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
