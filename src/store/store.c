/*
 * store.c - the store interface: records, the store path, day parsing, and
 * dispatch to the backend; see store.h.
 */
#include "store/store.h"
#include "core/config.h"
#include "core/limits.h"
#include "store/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

const char *store_record_kind_name(enum store_record_kind k)
{
	static const char *const names[] = { "dmarc", "stat", "rep", "iplist", "prune" };
	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

static const char *const entity_names[STORE_ENT__COUNT] = { "ip", "net", "domain" };

const char *store_entity_kind_name(enum store_entity_kind k)
{
	return (unsigned)k < STORE_ENT__COUNT ? entity_names[k] : NULL;
}

int store_entity_kind_parse(const char *name, enum store_entity_kind *out)
{
	for (int i = 0; i < STORE_ENT__COUNT; i++)
		if (name && !strcmp(name, entity_names[i])) {
			*out = (enum store_entity_kind)i;
			return 0;
		}
	return -1;
}

const char *stat_counter_name(enum stat_counter c)
{
	static const char *const names[ST__COUNT] = {
		[ST_CONNECTIONS] = "connections", [ST_RCPT] = "rcpt",
		[ST_DATA] = "data",		  [ST_MESSAGES] = "messages",
		[ST_MSG_RCPTS] = "message_rcpts", [ST_INBOX] = "inbox",
		[ST_JUNK] = "junk",		  [ST_REJECT] = "reject",
		[ST_TEMPFAIL] = "tempfail",	  [ST_LIMITED] = "limited",
		[ST_TRAP_HITS] = "trap_hits",	  [ST_UNKNOWN_RCPT] = "unknown_rcpt",
		[ST_SPF_PASS] = "spf_pass",	  [ST_SPF_FAIL] = "spf_fail",
		[ST_DKIM_PASS] = "dkim_pass",	  [ST_DKIM_FAIL] = "dkim_fail",
		[ST_DMARC_PASS] = "dmarc_pass",	  [ST_DMARC_FAIL] = "dmarc_fail",
		[ST_TLS] = "tls",		  [ST_COMPLAINTS] = "complaints",
	};
	return (unsigned)c < ST__COUNT ? names[c] : NULL;
}

void store_day_of(long long t, char out[11])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || strftime(out, 11, "%Y-%m-%d", &tm) != 10)
		memcpy(out, "1970-01-01", 11);
}

struct store_record *store_stat_new(enum store_entity_kind kind, const char *key, long long now)
{
	if (!store_entity_kind_name(kind) || !key || !*key)
		return NULL;
	struct store_record *r = store_record_new(STORE_STAT);
	if (!r)
		return NULL;
	char day[11];
	store_day_of(now, day);
	struct store_stat *t = &r->u.stat;
	t->kind = kind;
	t->key = arena_strdup(&r->a, key);
	t->day = arena_strdup(&r->a, day);
	t->first_ts = t->last_ts = now;
	if (!t->key || !t->day) {
		store_record_free(r);
		return NULL;
	}
	return r;
}

int store_stat_reason_add(struct store_record *r, const char *code, unsigned long long n)
{
	struct store_stat *t = &r->u.stat;
	for (size_t i = 0; i < t->nreason; i++)
		if (!strcmp(t->reason[i].code, code)) {
			t->reason[i].n += n;
			return 0;
		}
	if (t->nreason == STORE_STAT_REASONS_MAX)
		return -1;
	const char *copy = arena_strdup(&r->a, code);
	if (!copy)
		return -1;
	t->reason[t->nreason].code = copy;
	t->reason[t->nreason++].n = n;
	return 0;
}

int store_record_set(struct store_record *r, const char **field, const char *v)
{
	const char *copy = v ? arena_strdup(&r->a, v) : NULL;
	if (v && !copy)
		return -1;
	*field = copy;
	return 0;
}

struct store_record *store_prune_record_new(long long now, unsigned retention_days)
{
	struct store_record *r = store_record_new(STORE_PRUNE);
	char day[11];
	if (!r)
		return NULL;
	store_day_of(now - (long long)retention_days * 86400, day);
	r->u.prune.before_day = arena_strdup(&r->a, day);
	r->u.prune.rep_before_ts = now - (long long)STORE_REP_RETENTION_DAYS * 86400;
	if (!r->u.prune.before_day) {
		store_record_free(r);
		return NULL;
	}
	return r;
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

int store_stat_rows(struct store *st, const struct store_stat_filter *f, store_stat_cb cb,
		    void *arg, char *err, size_t errlen)
{
	return st->be->stat_rows(st->h, f, cb, arg, err, errlen);
}

int store_rep_load(struct store *st, store_rep_cb cb, void *arg, char *err, size_t errlen)
{
	return st->be->rep_load(st->h, cb, arg, err, errlen);
}

int store_iplist_load(struct store *st, store_iplist_cb cb, void *arg, char *err,
		      size_t errlen)
{
	return st->be->iplist_load(st->h, cb, arg, err, errlen);
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
