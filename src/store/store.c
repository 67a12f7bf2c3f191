/*
 * store.c - the store interface: records, the store path, day parsing, and
 * dispatch to the backend; see store.h.
 */
#include "store/store.h"
#include "core/config.h"
#include "store/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct store {
	const struct store_backend *be;
	void *h;
};

struct store_record *store_record_new(enum store_record_kind kind)
{
	struct store_record *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->kind = kind;
	arena_init(&r->a, 1024);
	return r;
}

void store_record_free(struct store_record *r)
{
	if (!r)
		return;
	arena_reset(&r->a);
	free(r);
}

int store_path(const struct config *cfg, char *out, size_t outlen)
{
	int n = *cfg->store_path ? snprintf(out, outlen, "%s", cfg->store_path)
				 : snprintf(out, outlen, "%s/mxscreen.db", cfg->var_dir);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

struct store *store_open(const char *path, bool readonly, char *err, size_t errlen)
{
	struct store *st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	st->be = &store_sqlite_backend;
	st->h = st->be->open(path, readonly, err, errlen);
	if (!st->h) {
		free(st);
		return NULL;
	}
	return st;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	st->be->close(st->h);
	free(st);
}

int store_schema_version(const struct store *st)
{
	return st->be->schema_version(st->h);
}

int store_schema_current(void)
{
	return STORE_SQLITE_SCHEMA;
}

int store_apply(struct store *st, struct store_record *const *recs, size_t n, char *err,
		size_t errlen)
{
	return n ? st->be->apply(st->h, recs, n, err, errlen) : 0;
}

int store_dmarc_rows(struct store *st, const struct store_filter *f, store_dmarc_cb cb,
		     void *arg, char *err, size_t errlen)
{
	return st->be->dmarc_rows(st->h, f, cb, arg, err, errlen);
}

int store_dmarc_policies(struct store *st, const struct store_filter *f, store_dmarc_cb cb,
			 void *arg, char *err, size_t errlen)
{
	return st->be->dmarc_policies(st->h, f, cb, arg, err, errlen);
}

static unsigned digits(const char *s, size_t n)
{
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return ~0u;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	return v;
}

int store_day_parse(const char *s, size_t len, char out[11])
{
	if (len != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	unsigned y = digits(s, 4), m = digits(s + 5, 2), d = digits(s + 8, 2);
	if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1)
		return -1;
	static const unsigned mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (d > mdays[m - 1] + (m == 2 && leap))
		return -1;
	memcpy(out, s, 10);
	out[10] = '\0';
	return 0;
}
