/*
 * fuzz_smtp_data.c - libFuzzer target for the SMTP DATA reader (src/smtp/data.c).
 *
 * Input: one control octet, then the octets sent after "354". The control
 * octet picks the mode (bit 0: normalize), the size limit (bits 1-2: huge,
 * 64, 1000, 7 octets) and seeds the chunk sizes (bits 3-7), so the fuzzer
 * explores splits too. Asserts: one-shot, byte-by-byte and the input-derived
 * split agree exactly (output, flags, octets consumed); a complete message
 * matches the reference model (data_model.h), which ends DATA at the first
 * real CRLF "." CRLF only; nothing after the terminator is consumed; the
 * stored output never exceeds the limit.
 */
#include "data_model.h"
#include "smtp/data.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct outcome {
	bool done;
	size_t used;
	struct buf out;
	bool bare_lf, bare_cr, line_too_long, too_big, ok;
};

static char *one_octet; /* a 1-octet heap block, for byte-by-byte feeding */

static void feed(const char *p, size_t n, size_t max_size, bool normalize, unsigned seed,
		 int how, struct outcome *o)
{
	struct smtp_data_reader dr;
	memset(o, 0, sizeof(*o));
	smtp_data_init(&dr, &o->out, max_size, normalize);
	size_t pos = 0;
	uint32_t rng = seed * 2654435761u + 1;
	while (pos < n) {
		size_t len = n - pos;
		if (how == 1) {
			len = 1;
		} else if (how == 2) {
			rng = rng * 1103515245u + 12345u;
			size_t want = 1 + (rng >> 16) % 13;
			len = want < len ? want : len;
		}
		/* Each chunk is its own heap block so ASan catches reads past it. */
		char *chunk = len == 1 ? one_octet : malloc(len);
		if (!chunk)
			abort();
		memcpy(chunk, p + pos, len);
		size_t used = smtp_data_feed(&dr, chunk, len);
		if (chunk != one_octet)
			free(chunk);
		if (used > len)
			abort();
		pos += used;
		if (smtp_data_done(&dr))
			break;
		if (used != len)
			abort();
	}
	if (smtp_data_done(&dr) && pos < n && smtp_data_feed(&dr, p + pos, n - pos) != 0)
		abort();
	if (dr.oom)
		abort();
	o->done = smtp_data_done(&dr);
	o->used = pos;
	o->bare_lf = dr.bare_lf;
	o->bare_cr = dr.bare_cr;
	o->line_too_long = dr.line_too_long;
	o->too_big = dr.too_big;
	o->ok = smtp_data_ok(&dr);
	if (o->ok == (o->bare_lf || o->bare_cr || o->too_big)) /* a long line is a fact, not a refusal */
		abort();
	if (o->out.len > max_size || dr.total != pos)
		abort();
	if (normalize && o->bare_lf)
		abort();
}

static void same(const struct outcome *a, const struct outcome *b)
{
	if (a->done != b->done || a->used != b->used || a->out.len != b->out.len ||
	    (a->out.len && memcmp(a->out.p, b->out.p, a->out.len) != 0) ||
	    a->bare_lf != b->bare_lf || a->bare_cr != b->bare_cr ||
	    a->line_too_long != b->line_too_long || a->too_big != b->too_big || a->ok != b->ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 1 << 14)
		return 0;
	if (!one_octet && !(one_octet = malloc(1)))
		abort();
	static const size_t limits[] = { (size_t)1 << 30, 64, 1000, 7 };
	unsigned ctl = data[0];
	bool normalize = ctl & 1;
	size_t max_size = limits[(ctl >> 1) & 3];
	const char *p = (const char *)data + 1;
	size_t n = size - 1;

	struct outcome one, bytes, split;
	feed(p, n, max_size, normalize, ctl >> 3, 0, &one);
	feed(p, n, max_size, normalize, ctl >> 3, 1, &bytes);
	feed(p, n, max_size, normalize, ctl >> 3, 2, &split);
	same(&one, &bytes);
	same(&one, &split);

	struct data_model m;
	data_model_run(p, n, max_size, normalize, &m);
	if (m.done != one.done || m.used != one.used)
		abort();
	if (m.done) {
		struct outcome mo = { .done = true, .used = m.used, .out = m.out,
				      .bare_lf = m.bare_lf, .bare_cr = m.bare_cr,
				      .line_too_long = m.line_too_long, .too_big = m.too_big };
		mo.ok = !(m.bare_lf || m.bare_cr || m.too_big);
		same(&mo, &one);
		/* The end is a real CRLF "." CRLF (or "." CRLF right after DATA). */
		if (!(m.used == 3 || (m.used >= 5 && memcmp(p + m.used - 5, "\r\n", 2) == 0)) ||
		    memcmp(p + m.used - 3, ".\r\n", 3) != 0)
			abort();
	}
	data_model_free(&m);
	buf_free(&one.out);
	buf_free(&bytes.out);
	buf_free(&split.out);
	return 0;
}
