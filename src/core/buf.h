/*
 * buf.h - owned byte buffers (struct buf) and borrowed slices (struct slice).
 *
 * A struct buf owns its memory and always keeps one spare byte so that p[len]
 * can be NUL-terminated for libc calls. A struct slice borrows memory owned
 * by somebody else and never frees it. Lengths always travel with pointers.
 * Growth reports failure (overflow of a cap or ENOMEM) instead of truncating.
 */
#ifndef MX_CORE_BUF_H
#define MX_CORE_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct slice {
	const char *p;
	size_t len;
};

struct buf {
	char *p;
	size_t len;
	size_t cap;
};

#define SLICE_LIT(s) ((struct slice){ (s), sizeof(s) - 1 })

struct slice slice_cstr(const char *s);
bool slice_eq_ci(struct slice a, const char *lit);
bool slice_starts_ci(struct slice a, const char *lit);

/* All return 0 on success, -1 on allocation failure or size overflow. */
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Make p[len] a NUL (not counted in len) and return p; never NULL. */
const char *buf_cstr(struct buf *b);
void buf_reset(struct buf *b);
void buf_free(struct buf *b);

#endif
