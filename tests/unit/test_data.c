/* Unit tests for the SMTP DATA reader (src/smtp/data.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/data_model.h"
#include "core/limits.h"
#include "smtp/data.h"

#define BIG ((size_t)1 << 30)

enum mode { REJECT = 0, NORMALIZE = 1 };

struct result {
	bool done;
	size_t used; /* octets consumed in all */
	struct buf out;
	bool bare_lf, bare_cr, line_too_long, too_big, ok;
};

/* Splits: a callback gives the length of the next chunk (at least 1). */
typedef size_t (*next_chunk_fn)(size_t left, uint32_t *rng);

static size_t chunk_all(size_t left, uint32_t *rng)
{
	(void)rng;
	return left;
}

static size_t chunk_byte(size_t left, uint32_t *rng)
{
	(void)left, (void)rng;
	return 1;
}

static size_t chunk_random(size_t left, uint32_t *rng)
{
	*rng = *rng * 1103515245u + 12345u;
	size_t n = 1 + (*rng >> 16) % 7;
	return n < left ? n : left;
}

static void run(const char *p, size_t n, size_t max_size, bool normalize, next_chunk_fn next,
		uint32_t seed, size_t first_cut, struct result *r)
{
	struct smtp_data_reader dr;
	memset(r, 0, sizeof(*r));
	smtp_data_init(&dr, &r->out, max_size, normalize);
	size_t pos = 0;
	uint32_t rng = seed;
	bool first = true;
	while (pos < n) {
		size_t len = first && first_cut ? first_cut : next(n - pos, &rng);
		if (len > n - pos)
			len = n - pos;
		first = false;
		size_t used = smtp_data_feed(&dr, p + pos, len);
		assert_true(used <= len);
		pos += used;
		if (smtp_data_done(&dr))
			break;
		/* Not done: every octet offered must have been taken. */
		assert_int_equal(used, len);
	}
	/* Feeding after the end takes nothing. */
	if (smtp_data_done(&dr) && pos < n)
		assert_int_equal(smtp_data_feed(&dr, p + pos, n - pos), 0);
	r->done = smtp_data_done(&dr);
	r->used = pos;
	r->bare_lf = dr.bare_lf;
	r->bare_cr = dr.bare_cr;
	r->line_too_long = dr.line_too_long;
	r->too_big = dr.too_big;
	r->ok = smtp_data_ok(&dr);
	assert_false(dr.oom);
}

static void assert_same(const struct result *a, const struct result *b, const char *how)
{
	if (a->done != b->done || a->used != b->used || a->out.len != b->out.len ||
	    (a->out.len && memcmp(a->out.p, b->out.p, a->out.len) != 0) ||
	    a->bare_lf != b->bare_lf || a->bare_cr != b->bare_cr ||
	    a->line_too_long != b->line_too_long || a->too_big != b->too_big || a->ok != b->ok)
		fail_msg("%s differs from one-shot feeding: done %d/%d used %zu/%zu len %zu/%zu "
			 "lf %d/%d cr %d/%d long %d/%d big %d/%d",
			 how, a->done, b->done, a->used, b->used, a->out.len, b->out.len, a->bare_lf,
			 b->bare_lf, a->bare_cr, b->bare_cr, a->line_too_long, b->line_too_long,
			 a->too_big, b->too_big);
}

/*
 * Feeds p in one piece, byte by byte, at every single cut point and in random
 * splits; all must agree, and a complete message must match the reference
 * model. Returns the one-shot result (free with buf_free(&r->out)).
 */
static void check_splits(const char *p, size_t n, size_t max_size, bool normalize,
			 struct result *r)
{
	run(p, n, max_size, normalize, chunk_all, 0, 0, r);
	struct result o;
	run(p, n, max_size, normalize, chunk_byte, 0, 0, &o);
	assert_same(r, &o, "byte-by-byte");
	buf_free(&o.out);
	for (uint32_t seed = 1; seed <= 8; seed++) {
		run(p, n, max_size, normalize, chunk_random, seed, 0, &o);
		assert_same(r, &o, "random split");
		buf_free(&o.out);
	}
	for (size_t cut = 1; cut < n && n <= 64; cut++) {
		run(p, n, max_size, normalize, chunk_all, 0, cut, &o);
		assert_same(r, &o, "two-piece split");
		buf_free(&o.out);
	}
	struct data_model m;
	data_model_run(p, n, max_size, normalize, &m);
	assert_int_equal(r->done, m.done);
	assert_int_equal(r->used, m.used);
	if (m.done) {
		struct result mr = { .done = m.done, .used = m.used, .out = m.out,
				     .bare_lf = m.bare_lf, .bare_cr = m.bare_cr,
				     .line_too_long = m.line_too_long, .too_big = m.too_big };
		mr.ok = !(m.bare_lf || m.bare_cr || m.too_big); /* a long line is a fact */
		assert_same(&mr, r, "reference model");
	}
	data_model_free(&m);
}

struct expect {
	const char *in;
	const char *out[2]; /* per mode; NULL: not done */
	bool bare_lf[2], bare_cr;
};

static void check_expect(const struct expect *e, size_t in_len)
{
	for (int mode = REJECT; mode <= NORMALIZE; mode++) {
		struct result r;
		check_splits(e->in, in_len, BIG, mode == NORMALIZE, &r);
		const char *want = e->out[mode];
		if (!want) {
			assert_false(r.done);
			assert_int_equal(r.used, in_len);
		} else {
			assert_true(r.done);
			if (r.out.len != strlen(want) ||
			    (r.out.len && memcmp(r.out.p, want, r.out.len) != 0))
				fail_msg("mode %d: output '%.*s'", mode, (int)r.out.len, r.out.p);
		}
		assert_int_equal(r.bare_lf, e->bare_lf[mode]);
		assert_int_equal(r.bare_cr, e->bare_cr);
		assert_false(r.line_too_long);
		assert_false(r.too_big);
		assert_int_equal(r.ok, !e->bare_lf[mode] && !e->bare_cr);
		buf_free(&r.out);
	}
}

static void check(const char *in, const char *reject_out, const char *normalize_out,
		  bool bare_lf_in_reject, bool bare_cr)
{
	struct expect e = { in, { reject_out, normalize_out }, { bare_lf_in_reject, false },
			    bare_cr };
	check_expect(&e, strlen(in));
}

static void test_terminator_only_crlf_dot_crlf(void **state)
{
	(void)state;
	check("a\r\n.\r\n", "a\r\n", "a\r\n", false, false);
	check("a\r\nb\r\n.\r\n", "a\r\nb\r\n", "a\r\nb\r\n", false, false);
	check("\r\n.\r\n", "\r\n", "\r\n", false, false);
	/* no terminator yet: everything is taken, nothing ends */
	check("a\r\n", NULL, NULL, false, false);
	check("a\r\n.", NULL, NULL, false, false);
	check("a\r\n.\r", NULL, NULL, false, false);
	check("a.\r\n", NULL, NULL, false, false);
	check("a\r\n .\r\n", NULL, NULL, false, false);
	check("a\r\n.\t\r\n", NULL, NULL, false, false);
}

static void test_empty_message(void **state)
{
	(void)state;
	/* The CRLF that ended the DATA command counts. */
	check(".\r\n", "", "", false, false);
	struct result r;
	check_splits(".\r\nQUIT\r\n", 9, BIG, false, &r);
	assert_true(r.done);
	assert_int_equal(r.used, 3);
	assert_int_equal(r.out.len, 0);
	assert_true(r.ok);
	buf_free(&r.out);
}

static void test_dot_unstuffing(void **state)
{
	(void)state;
	check("..x\r\n.\r\n", ".x\r\n", ".x\r\n", false, false);
	check(".x\r\n.\r\n", "x\r\n", "x\r\n", false, false);
	check("a\r\n..\r\n.\r\n", "a\r\n.\r\n", "a\r\n.\r\n", false, false);
	check("a\r\n...\r\n.\r\n", "a\r\n..\r\n", "a\r\n..\r\n", false, false);
	check(". \r\n.\r\n", " \r\n", " \r\n", false, false);
	check("a\r\nb.c\r\n.\r\n", "a\r\nb.c\r\n", "a\r\nb.c\r\n", false, false);
	check("a\r\n.\r\n.\r\n", "a\r\n", "a\r\n", false, false);
}

/*
 * The SMTP smuggling variants: none of them ends DATA; the message ends at the
 * following CRLF.CRLF. Reject mode flags bare LF and CR; normalize mode
 * stores a bare LF as CRLF and flags only a bare CR.
 */
static void test_smuggling_bare_lf(void **state)
{
	(void)state;
	/* \n.\n */
	check("a\n.\nb\r\n.\r\n", "a\n.\nb\r\n", "a\r\n.\r\nb\r\n", true, false);
	/* \n.\r\n */
	check("a\n.\r\nb\r\n.\r\n", "a\n.\r\nb\r\n", "a\r\n.\r\nb\r\n", true, false);
	/* \r\n.\n */
	check("a\r\n.\nb\r\n.\r\n", "a\r\n.\nb\r\n", "a\r\n.\r\nb\r\n", true, false);
	/* at the very start (after DATA's own CRLF) */
	check(".\nb\r\n.\r\n", ".\nb\r\n", ".\r\nb\r\n", true, false);
	check("\n.\r\nb\r\n.\r\n", "\n.\r\nb\r\n", "\r\n.\r\nb\r\n", true, false);
	/* a bare LF before the real terminator does not make it a terminator */
	check("a\n.\r\n", NULL, NULL, true, false);
	check("a\n.\r\n.\r\n", "a\n.\r\n", "a\r\n.\r\n", true, false);
	check("a\n\r\n.\r\n", "a\n\r\n", "a\r\n\r\n", true, false);
	/* bare LF lines are lines for dot-unstuffing */
	check("a\n..b\r\n.\r\n", "a\n.b\r\n", "a\r\n.b\r\n", true, false);
	/* the smuggled command stays content */
	check("a\n.\nMAIL FROM:<x@y>\r\n.\r\n", "a\n.\nMAIL FROM:<x@y>\r\n",
	      "a\r\n.\r\nMAIL FROM:<x@y>\r\n", true, false);
}

static void test_smuggling_bare_cr(void **state)
{
	(void)state;
	/* \r.\r */
	check("a\r.\rb\r\n.\r\n", "a\r.\rb\r\n", "a\r.\rb\r\n", false, true);
	/* \r\n.\r + other */
	check("a\r\n.\rb\r\n.\r\n", "a\r\n.\rb\r\n", "a\r\n.\rb\r\n", false, true);
	check("a\r\n.\r\r\n.\r\n", "a\r\n.\r\r\n", "a\r\n.\r\r\n", false, true);
	check("a\r\n.\r.\r\n.\r\n", "a\r\n.\r.\r\n", "a\r\n.\r.\r\n", false, true);
	/* \r.\r\n */
	check("a\r.\r\nb\r\n.\r\n", "a\r.\r\nb\r\n", "a\r.\r\nb\r\n", false, true);
	check("a\r\r\n.\r\n", "a\r\r\n", "a\r\r\n", false, true);
	check(".\rx\r\n.\r\n", ".\rx\r\n", ".\rx\r\n", false, true);
	/* both at once: \r\n.\n and \r.\r */
	struct expect e = { "a\r\n.\nb\r.\rc\r\n.\r\n",
			    { "a\r\n.\nb\r.\rc\r\n", "a\r\n.\r\nb\r.\rc\r\n" },
			    { true, false },
			    true };
	check_expect(&e, strlen(e.in));
}

static void test_line_length(void **state)
{
	(void)state;
	size_t max = SMTP_TEXT_LINE_MAX - 2; /* 998 */
	char *in = malloc(3 * max + 64);
	struct result r;
	for (int mode = REJECT; mode <= NORMALIZE; mode++) {
		/* 998 octets + CRLF: fine */
		memset(in, 'x', max);
		memcpy(in + max, "\r\n.\r\n", 5);
		check_splits(in, max + 5, BIG, mode, &r);
		assert_true(r.done);
		assert_true(r.ok);
		assert_int_equal(r.out.len, max + 2);
		buf_free(&r.out);
		/* 999: flagged, and DATA still ends at the terminator */
		memset(in, 'x', max + 1);
		memcpy(in + max + 1, "\r\n.\r\nQUIT\r\n", 11);
		check_splits(in, max + 12, BIG, mode, &r);
		assert_true(r.done);
		assert_int_equal(r.used, max + 6);
		assert_true(r.line_too_long);
		assert_true(r.ok); /* stored as received: a fact for the verdict, not a refusal */
		assert_int_equal(r.out.len, max + 3);
		buf_free(&r.out);
		/* a stuffed dot does not count: "." + 998 octets is a 998-octet line */
		in[0] = '.';
		memset(in + 1, 'x', max);
		memcpy(in + max + 1, "\r\n.\r\n", 5);
		check_splits(in, max + 6, BIG, mode, &r);
		assert_true(r.ok);
		assert_int_equal(r.out.len, max + 2);
		buf_free(&r.out);
		/* the count restarts at every line end */
		memset(in, 'x', max);
		memcpy(in + max, "\r\n", 2);
		memset(in + max + 2, 'y', max);
		memcpy(in + 2 * max + 2, "\r\n.\r\n", 5);
		check_splits(in, 2 * max + 7, BIG, mode, &r);
		assert_true(r.ok);
		buf_free(&r.out);
		/* a bare CR is line content and counts */
		memset(in, 'x', max);
		in[10] = '\r';
		memcpy(in + max, "z\r\n.\r\n", 6);
		check_splits(in, max + 6, BIG, mode, &r);
		assert_true(r.line_too_long);
		assert_true(r.bare_cr);
		buf_free(&r.out);
	}
	/* a bare LF ends a line for counting in both modes */
	memset(in, 'x', max);
	in[500] = '\n';
	memcpy(in + max, "zz\r\n.\r\n", 7);
	check_splits(in, max + 7, BIG, REJECT, &r);
	assert_false(r.line_too_long);
	assert_true(r.bare_lf);
	buf_free(&r.out);
	check_splits(in, max + 7, BIG, NORMALIZE, &r);
	assert_false(r.line_too_long);
	assert_true(r.ok);
	buf_free(&r.out);
	free(in);
}

static void test_size_limit(void **state)
{
	(void)state;
	struct result r;
	for (int mode = REJECT; mode <= NORMALIZE; mode++) {
		/* exactly the limit: fine ("01234567" CRLF is 10 octets) */
		check_splits("01234567\r\n.\r\n", 13, 10, mode, &r);
		assert_true(r.done);
		assert_true(r.ok);
		assert_int_equal(r.out.len, 10);
		buf_free(&r.out);
		/* one more: flagged, storing stops, the terminator is still found */
		static const char in[] = "012345678\r\nmore\r\n.\r\nQUIT\r\n";
		check_splits(in, sizeof(in) - 1, 10, mode, &r);
		assert_true(r.done);
		assert_int_equal(r.used, sizeof(in) - 1 - 6);
		assert_true(r.too_big);
		assert_false(r.ok);
		assert_int_equal(r.out.len, 10);
		assert_memory_equal(r.out.p, "012345678\r", 10);
		buf_free(&r.out);
		/* a long run over the limit, split anywhere: the same first 10 octets */
		check_splits("0123456789abcdef\r\n.\r\n", 21, 10, mode, &r);
		assert_true(r.too_big);
		assert_int_equal(r.out.len, 10);
		buf_free(&r.out);
	}
	/* A large message against a small limit: memory stays bounded. */
	size_t n = 80 * 13000; /* whole 80-octet lines */
	char *big = malloc(n + 5);
	for (size_t i = 0; i < n; i++)
		big[i] = (i % 80 == 78) ? '\r' : (i % 80 == 79) ? '\n' : 'm';
	memcpy(big + n, ".\r\n", 3);
	run(big, n + 3, 4096, false, chunk_random, 7, 0, &r);
	assert_true(r.done);
	assert_int_equal(r.used, n + 3);
	assert_true(r.too_big);
	assert_int_equal(r.out.len, 4096);
	buf_free(&r.out);
	free(big);
}

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

static void test_pipelined_commands_not_consumed(void **state)
{
	(void)state;
	static const char in[] = "Subject: x\r\n\r\nbody\r\n.\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n";
	for (int mode = REJECT; mode <= NORMALIZE; mode++) {
		struct result r;
		check_splits(in, sizeof(in) - 1, BIG, mode, &r);
		assert_true(r.done);
		assert_int_equal(r.used, strstr(in, "MAIL") - in);
		assert_int_equal(r.out.len, strlen("Subject: x\r\n\r\nbody\r\n"));
		buf_free(&r.out);
	}
}

static void test_resumable(void **state)
{
	(void)state;
	struct buf out = { 0 };
	struct smtp_data_reader dr;
	smtp_data_init(&dr, &out, BIG, false);
	assert_int_equal(smtp_data_feed(&dr, "hello\r", 6), 6);
	assert_false(smtp_data_done(&dr));
	assert_int_equal(smtp_data_feed(&dr, "\n.", 2), 2);
	assert_false(smtp_data_done(&dr));
	assert_int_equal(smtp_data_feed(&dr, "", 0), 0);
	assert_int_equal(smtp_data_feed(&dr, "\r", 1), 1);
	assert_int_equal(smtp_data_feed(&dr, "\nRSET\r\n", 7), 1);
	assert_true(smtp_data_done(&dr));
	assert_true(smtp_data_ok(&dr));
	assert_int_equal(dr.total, 10);
	assert_int_equal(out.len, 7);
	assert_memory_equal(out.p, "hello\r\n", 7);
	assert_int_equal(smtp_data_feed(&dr, "RSET\r\n", 6), 0);
	buf_free(&out);
}

/*
 * Every input of up to 8 octets over { CR, LF, '.', 'a' }, followed by a real
 * terminator and a pipelined command, in both modes, with a roomy and a tiny
 * size limit: split-invariant and equal to the reference model.
 */
static void test_exhaustive_small_inputs(void **state)
{
	(void)state;
	static const char alphabet[] = { '\r', '\n', '.', 'a' };
	char in[32];
	size_t cases = 0;
	for (size_t len = 0; len <= 8; len++) {
		size_t total = (size_t)1 << (2 * len);
		for (size_t code = 0; code < total; code++) {
			size_t c = code;
			for (size_t i = 0; i < len; i++, c >>= 2)
				in[i] = alphabet[c & 3];
			memcpy(in + len, "\r\n.\r\nX\r\n", 8);
			for (int mode = REJECT; mode <= NORMALIZE; mode++) {
				struct result r, o;
				/* the input alone (maybe no end), then with the terminator */
				run(in, len, BIG, mode, chunk_all, 0, 0, &r);
				run(in, len, BIG, mode, chunk_byte, 0, 0, &o);
				assert_same(&r, &o, "byte-by-byte");
				buf_free(&r.out);
				buf_free(&o.out);
				struct data_model m;
				size_t max = (code & 1) ? 4 : BIG;
				data_model_run(in, len + 8, max, mode, &m);
				run(in, len + 8, max, mode, chunk_all, 0, 0, &r);
				run(in, len + 8, max, mode, chunk_random, (uint32_t)code, 0, &o);
				assert_same(&r, &o, "random split");
				struct result mr = { .done = m.done, .used = m.used, .out = m.out,
						     .bare_lf = m.bare_lf, .bare_cr = m.bare_cr,
						     .line_too_long = m.line_too_long,
						     .too_big = m.too_big };
				mr.ok = !(m.bare_lf || m.bare_cr || m.too_big); /* a long line is a fact */
				assert_same(&mr, &r, "reference model");
				assert_true(r.done);
				buf_free(&r.out);
				buf_free(&o.out);
				data_model_free(&m);
				cases++;
			}
		}
	}
	assert_true(cases > 100000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_terminator_only_crlf_dot_crlf),
		cmocka_unit_test(test_empty_message),
		cmocka_unit_test(test_dot_unstuffing),
		cmocka_unit_test(test_smuggling_bare_lf),
		cmocka_unit_test(test_smuggling_bare_cr),
		cmocka_unit_test(test_line_length),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_normalize_bare_lf_is_a_line_end),
		cmocka_unit_test(test_size_limit_output_independent_of_split),
		cmocka_unit_test(test_pipelined_commands_not_consumed),
		cmocka_unit_test(test_resumable),
		cmocka_unit_test(test_exhaustive_small_inputs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
