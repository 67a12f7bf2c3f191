/*
 * data_model.h - a reference model of the SMTP DATA reader (src/smtp/data.h),
 * shared by tests/unit/test_data.c and tests/fuzz/fuzz_smtp_data.c.
 *
 * Written as differently from data.c as the rules allow: find the end first
 * (the first CRLF "." CRLF, counting the CRLF that ended the DATA command),
 * then walk the content line by line. Only complete messages are modelled;
 * for input without a terminator the model says only "not done, all used".
 */
#ifndef MX_TESTS_DATA_MODEL_H
#define MX_TESTS_DATA_MODEL_H

#include "core/buf.h"
#include "core/limits.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct data_model {
	bool done;
	size_t used;
	struct buf out; /* the first max_size octets of the message */
	bool bare_lf, bare_cr, line_too_long, too_big;
};

static inline void data_model_put(struct data_model *m, size_t max_size, const char *p, size_t n,
				  size_t *full)
{
	for (size_t i = 0; i < n; i++, (*full)++) {
		if (*full < max_size)
			buf_append(&m->out, p + i, 1);
		else
			m->too_big = true;
	}
}

static inline void data_model_run(const char *p, size_t n, size_t max_size, bool normalize,
				  struct data_model *m)
{
	memset(m, 0, sizeof(*m));
	/* The end: CRLF "." CRLF in CRLF + input; the first CRLF may be DATA's own. */
	size_t k = 0;
	bool found = false;
	if (n >= 3 && memcmp(p, ".\r\n", 3) == 0) {
		found = true, k = 0;
	} else {
		for (size_t i = 0; i + 5 <= n; i++)
			if (memcmp(p + i, "\r\n.\r\n", 5) == 0) {
				found = true, k = i + 2;
				break;
			}
	}
	if (!found) {
		m->used = n;
		return;
	}
	m->done = true;
	m->used = k + 3;
	/* The content is p[0, k): every line of it ends with CRLF or a bare LF. */
	size_t full = 0, line = 0;
	bool bol = true;
	for (size_t i = 0; i < k;) {
		char c = p[i];
		if (bol && c == '.' && i + 1 < k && p[i + 1] != '\r' && p[i + 1] != '\n') {
			i++; /* dot-unstuffing; the dropped dot does not count (4.5.3.1.6) */
			bol = false;
			continue;
		}
		bol = false;
		if (c == '\r' && i + 1 < k && p[i + 1] == '\n') {
			data_model_put(m, max_size, "\r\n", 2, &full);
			i += 2, line = 0, bol = true;
		} else if (c == '\n') {
			if (normalize) {
				data_model_put(m, max_size, "\r\n", 2, &full);
			} else {
				m->bare_lf = true;
				data_model_put(m, max_size, "\n", 1, &full);
			}
			i++, line = 0, bol = true;
		} else {
			if (c == '\r')
				m->bare_cr = true;
			data_model_put(m, max_size, &c, 1, &full);
			i++;
			if (++line > SMTP_TEXT_LINE_MAX - 2)
				m->line_too_long = true;
		}
	}
}

static inline void data_model_free(struct data_model *m)
{
	buf_free(&m->out);
}

#endif
