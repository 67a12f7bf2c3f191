/* Unit tests for the SMTP DATA reader (src/smtp/data.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "smtp/data.h"

/* normalize: a bare LF is a line end stored as CRLF, not a flag (data.h). */
static void test_normalize_bare_lf_is_a_line_end(void **state)
{
	(void)state;
	static const char in[] = "a\nb\r\n.\r\n";
	struct buf out = { 0 };
	struct smtp_data_reader dr;
	smtp_data_init(&dr, &out, 1000, true);
	assert_int_equal(smtp_data_feed(&dr, in, sizeof(in) - 1), sizeof(in) - 1);
	assert_true(smtp_data_done(&dr));
	assert_false(dr.bare_lf);
	assert_true(smtp_data_ok(&dr));
	assert_int_equal(out.len, 6);
	assert_memory_equal(out.p, "a\r\nb\r\n", 6);
	buf_free(&out);
	/* reject mode still flags it */
	smtp_data_init(&dr, &out, 1000, false);
	assert_int_equal(smtp_data_feed(&dr, in, sizeof(in) - 1), sizeof(in) - 1);
	assert_true(dr.bare_lf);
	assert_false(smtp_data_ok(&dr));
	buf_free(&out);
}

/* Past the size limit the stored prefix must not depend on how input was split. */
static void test_size_limit_output_independent_of_split(void **state)
{
	(void)state;
	static const char in[] = "0123456789abc\r\n.\r\n";
	struct buf one = { 0 }, bytes = { 0 };
	struct smtp_data_reader dr;
	smtp_data_init(&dr, &one, 10, false);
	assert_int_equal(smtp_data_feed(&dr, in, sizeof(in) - 1), sizeof(in) - 1);
	assert_true(smtp_data_done(&dr));
	assert_true(dr.too_big);
	smtp_data_init(&dr, &bytes, 10, false);
	for (size_t i = 0; i < sizeof(in) - 1; i++)
		assert_int_equal(smtp_data_feed(&dr, in + i, 1), 1);
	assert_true(smtp_data_done(&dr));
	assert_true(dr.too_big);
	assert_int_equal(one.len, bytes.len);
	assert_int_equal(one.len, 10);
	assert_memory_equal(one.p, "0123456789", 10);
	assert_memory_equal(bytes.p, "0123456789", 10);
	buf_free(&one);
	buf_free(&bytes);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize_bare_lf_is_a_line_end),
		cmocka_unit_test(test_size_limit_output_independent_of_split),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
