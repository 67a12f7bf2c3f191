/* Unit tests for the store (src/store/): SQLite schema and migrations, upsert counting,
 * queries, the writer thread's batches and queue accounting, day parsing, DMARC
 * aggregate rows from auth results (dmarc_agg.c), and the reputation records: additive
 * per-day statistics, reputation snapshots, operator list entries, retention. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth.h"
#include "store/dmarc_agg.h"
#include "store/store.h"
#include "store/writer.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/mxs-store-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/mxscreen.db", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static struct store *open_rw(void)
{
	char err[512];
	struct store *st = store_open(path, false, err, sizeof(err));
	if (!st)
		fail_msg("store_open: %s", err);
	return st;
}

/* A DMARC row from ip on day, with two DKIM results and an SPF result. */
static struct store_record *rec(const char *ip, const char *day, const char *disposition)
{
	struct store_record *r = store_record_new(STORE_DMARC);
	assert_non_null(r);
	struct store_dmarc *d = &r->u.dmarc;
	d->day = day;
	d->domain = "example.com";
	d->adkim = "r", d->aspf = "s", d->p = "reject", d->sp = "quarantine", d->pct = 50;
	d->fo = "1", d->rua = "mailto:agg@example.com";
	d->source_ip = ip;
	d->header_from = "example.com";
	d->envelope_from = "bounce.example.com";
	d->disposition = disposition;
	d->dkim = "pass", d->spf = "fail", d->reason = "", d->comment = "";
	d->dkim_auth[0] = (struct store_dkim_auth){ "example.com", "s1", "pass" };
	d->dkim_auth[1] = (struct store_dkim_auth){ "other.test", "s2", "fail" };
	d->ndkim_auth = 2;
	d->spf_domain = "bounce.example.com", d->spf_scope = "mfrom", d->spf_result = "softfail";
	return r;
}

struct seen {
	size_t n;
	unsigned long long count[16];
	char ip[16][48];
	char day[16][11];
	size_t ndkim[16];
	char dkim1[16][64];
	char spf[16][64];
	char p[16][16];
};

static int collect(void *arg, const struct store_dmarc *d)
{
	struct seen *s = arg;
	if (s->n == 16)
		return 1;
	s->count[s->n] = d->count;
	snprintf(s->ip[s->n], sizeof(s->ip[0]), "%s", d->source_ip ? d->source_ip : "");
	snprintf(s->day[s->n], sizeof(s->day[0]), "%s", d->day);
	s->ndkim[s->n] = d->ndkim_auth;
	if (d->ndkim_auth > 1)
		snprintf(s->dkim1[s->n], sizeof(s->dkim1[0]), "%s/%s/%s", d->dkim_auth[1].domain,
			 d->dkim_auth[1].selector, d->dkim_auth[1].result);
	if (d->spf_result)
		snprintf(s->spf[s->n], sizeof(s->spf[0]), "%s/%s/%s", d->spf_domain, d->spf_scope,
			 d->spf_result);
	snprintf(s->p[s->n], sizeof(s->p[0]), "%s", d->p ? d->p : "");
	s->n++;
	return 0;
}

static struct seen rows(struct store *st, const char *day, const char *domain)
{
	struct seen s = { 0 };
	char err[256];
	struct store_filter f = { day, domain };
	assert_int_equal(store_dmarc_rows(st, &f, collect, &s, err, sizeof(err)), 0);
	return s;
}

static void apply1(struct store *st, struct store_record *r)
{
	char err[256];
	int rc = store_apply(st, &r, 1, err, sizeof(err));
	store_record_free(r);
	if (rc < 0)
		fail_msg("store_apply: %s", err);
}

static void test_create_wal_version(void **state)
{
	(void)state;
	struct store *st = open_rw();
	assert_int_equal(store_schema_version(st), store_schema_current());
	assert_int_equal(store_schema_current(), 2);
	store_close(st);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
	sqlite3_finalize(q);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), 2);
	sqlite3_finalize(q);
	sqlite3_close(db);
}

static void test_migrations(void **state)
{
	(void)state;
	char err[512];
	/* An existing empty database (version 0): read-only refuses, read-write migrates. */
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE other (x)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_null(store_open(path, true, err, sizeof(err)));
	assert_non_null(strstr(err, "schema version 0"));
	struct store *st = open_rw();
	assert_int_equal(store_schema_version(st), 2);
	apply1(st, rec("192.0.2.1", "2026-01-02", "none"));
	store_close(st);
	/* A database from a newer mxscreen is refused, never touched. */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_null(store_open(path, false, err, sizeof(err)));
	assert_non_null(strstr(err, "newer"));
}

static void test_upsert_counts(void **state)
{
	(void)state;
	struct store *st = open_rw();
	struct store_record *b[4] = { rec("192.0.2.1", "2026-01-02", "none"),
				      rec("192.0.2.1", "2026-01-02", "none"),
				      rec("192.0.2.9", "2026-01-02", "none"),
				      rec("192.0.2.1", "2026-01-03", "none") };
	char err[256];
	assert_int_equal(store_apply(st, b, 4, err, sizeof(err)), 0);
	for (int i = 0; i < 4; i++)
		store_record_free(b[i]);
	apply1(st, rec("192.0.2.1", "2026-01-02", "none"));
	apply1(st, rec("192.0.2.1", "2026-01-02", "quarantine")); /* another identity */
	struct store_record *r = rec("192.0.2.1", "2026-01-02", "none");
	r->u.dmarc.ndkim_auth = 1; /* other raw results: another row */
	apply1(st, r);
	struct seen s = rows(st, "2026-01-02", NULL);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.ip[0], "192.0.2.1");
	assert_int_equal(s.count[0], 3);
	assert_int_equal(s.ndkim[0], 2);
	assert_string_equal(s.dkim1[0], "other.test/s2/fail");
	assert_string_equal(s.spf[0], "bounce.example.com/mfrom/softfail");
	assert_int_equal(s.count[1], 1); /* quarantine */
	assert_int_equal(s.count[2], 1); /* one DKIM result */
	assert_int_equal(s.ndkim[2], 1);
	assert_string_equal(s.ip[3], "192.0.2.9");
	s = rows(st, NULL, NULL);
	assert_int_equal(s.n, 5);
	assert_string_equal(s.day[4], "2026-01-03");
	assert_int_equal(rows(st, NULL, "EXAMPLE.com").n, 5);
	assert_int_equal(rows(st, NULL, "other.test").n, 0);
	assert_int_equal(rows(st, "2026-01-04", NULL).n, 0);
	/* policy_published: one per day and domain, the latest wins. */
	r = rec("192.0.2.1", "2026-01-03", "none");
	r->u.dmarc.p = "quarantine";
	apply1(st, r);
	struct seen p = { 0 };
	struct store_filter f = { 0 };
	assert_int_equal(store_dmarc_policies(st, &f, collect, &p, err, sizeof(err)), 0);
	assert_int_equal(p.n, 2);
	assert_string_equal(p.p[0], "reject");
	assert_string_equal(p.p[1], "quarantine");
	store_close(st);
	/* Reopened (read-only, as the CLI does): everything is still there. */
	st = store_open(path, true, err, sizeof(err));
	assert_non_null(st);
	s = rows(st, "2026-01-03", NULL);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.count[0], 2);
	store_close(st);
}

static struct store_writer_stats wait_written(struct store_writer *w, unsigned long long n)
{
	struct store_writer_stats s;
	for (int i = 0; i < 500; i++) {
		store_writer_stats(w, &s);
		if (s.written >= n)
			break;
		usleep(10000);
	}
	return s;
}

static void test_writer_batches(void **state)
{
	(void)state;
	struct store *st = open_rw();
	char err[256];
	/* A flush interval far away: only full batches are written until stop. */
	struct store_writer_options o = { .queue_max = 100, .batch_max = 10, .flush_ms = 60000 };
	struct store_writer *w = store_writer_start(st, &o, err, sizeof(err));
	assert_non_null(w);
	for (int i = 0; i < 25; i++)
		assert_int_equal(store_writer_submit(w, rec("192.0.2.1", "2026-01-02", "none")), 0);
	struct store_writer_stats s = wait_written(w, 20);
	assert_int_equal(s.written, 20);
	usleep(50000);
	store_writer_stats(w, &s);
	assert_int_equal(s.written, 20); /* the last 5 wait for the interval */
	assert_int_equal(s.batches, 2);
	assert_int_equal(s.queued, 5);
	store_writer_stop(w, &s); /* drains */
	assert_int_equal(s.written, 25);
	assert_int_equal(s.batches, 3);
	assert_int_equal(s.submitted, 25);
	assert_int_equal(s.dropped, 0);
	struct seen r = rows(st, NULL, NULL);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.count[0], 25);
	store_close(st);
}

static void test_writer_interval(void **state)
{
	(void)state;
	struct store *st = open_rw();
	char err[256];
	struct store_writer_options o = { .queue_max = 100, .batch_max = 1000, .flush_ms = 30 };
	struct store_writer *w = store_writer_start(st, &o, err, sizeof(err));
	assert_non_null(w);
	for (int i = 0; i < 3; i++)
		assert_int_equal(store_writer_submit(w, rec("192.0.2.7", "2026-01-02", "reject")), 0);
	struct store_writer_stats s = wait_written(w, 3);
	assert_int_equal(s.written, 3); /* without a full batch and without stop */
	assert_true(s.batches >= 1 && s.batches <= 3);
	store_writer_stop(w, NULL);
	assert_int_equal(rows(st, NULL, NULL).count[0], 3);
	store_close(st);
}

static void test_writer_queue_full(void **state)
{
	(void)state;
	struct store *st = open_rw();
	char err[256];
	/* Batches larger than the queue and a far interval: nothing leaves the queue. */
	struct store_writer_options o = { .queue_max = 4, .batch_max = 100, .flush_ms = 60000 };
	struct store_writer *w = store_writer_start(st, &o, err, sizeof(err));
	assert_non_null(w);
	int refused = 0;
	for (int i = 0; i < 6; i++)
		refused += store_writer_submit(w, rec("192.0.2.3", "2026-01-02", "none")) < 0;
	assert_int_equal(refused, 2);
	struct store_writer_stats s;
	store_writer_stats(w, &s);
	assert_int_equal(s.dropped, 2);
	assert_int_equal(s.queued, 4);
	assert_int_equal(s.written, 0);
	store_writer_stop(w, &s);
	assert_int_equal(s.written, 4);
	assert_int_equal(s.dropped, 2);
	assert_int_equal(rows(st, NULL, NULL).count[0], 4);
	store_close(st);
}

static void test_day_parse(void **state)
{
	(void)state;
	char d[11];
	assert_int_equal(store_day_parse("2024-02-29", 10, d), 0);
	assert_string_equal(d, "2024-02-29");
	assert_int_equal(store_day_parse("2000-02-29", 10, d), 0);
	assert_int_equal(store_day_parse("2026-12-31", 10, d), 0);
	const char *bad[] = { "2023-02-29", "1900-02-29", "2026-13-01", "2026-00-10", "2026-04-31",
			      "2026-1-01",  "2026/01/01", "1969-12-31", "20a6-01-01", "2026-01-00",
			      "2026-01-011", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(store_day_parse(bad[i], strlen(bad[i]), d), -1);
	assert_int_equal(store_day_parse("2026-01-01x", 10, d), 0); /* the length counts */
}

/* Runs DKIM/DMARC over msg with TXT answers from zone (name, record pairs; others NXDOMAIN),
 * SPF given as passed for mail_from's domain, and returns the aggregate records. */
static size_t agg(const char *msg, const char *const *zone, unsigned roll, const char *override,
		  struct store_record **out)
{
	const char *at = strrchr("bounce@Other.TEST", '@');
	struct auth_params p = { .authserv_id = "mx.test", .now = 1700000000, .spf_result = "pass",
				 .spf_domain = at + 1, .dmarc_roll = roll };
	struct auth_check *a = auth_check_new(slice_cstr(msg), &p);
	assert_non_null(a);
	const char *name;
	while ((name = auth_check_next_query(a))) {
		struct slice rec[1];
		struct txt_answer ans = { TXT_NXDOMAIN, rec, 0 };
		for (size_t i = 0; zone[i]; i += 2)
			if (!strcmp(zone[i], name)) {
				rec[0] = slice_cstr(zone[i + 1]);
				ans = (struct txt_answer){ TXT_OK, rec, 1 };
			}
		auth_check_answer(a, name, &ans);
	}
	auth_check_finish(a);
	struct dmarc_agg_facts f = { .auth = a, .source_ip = "192.0.2.5",
				     .mail_from = "bounce@Other.TEST", .override = override,
				     .override_comment = override ? "arc=pass sealer=list.test" : NULL,
				     .now = 1700000000 };
	size_t n = dmarc_agg_records(&f, out, DMARC_FROM_DOMAINS_MAX);
	auth_check_free(a); /* the records own copies of everything */
	return n;
}

static void test_dmarc_agg_rows(void **state)
{
	(void)state;
	static const char *const zone[] = {
		"_dmarc.half.test", "v=DMARC1; p=reject; pct=50; rua=mailto:r@half.test",
		"_dmarc.shop.co.uk", "v=DMARC1; p=reject; sp=quarantine; aspf=s",
		NULL,
	};
	struct store_record *r[DMARC_FROM_DOMAINS_MAX];
	/* Out of the pct sample: quarantine instead of reject, reason sampled_out. */
	assert_int_equal(agg("From: a@half.test\r\nSubject: x\r\n\r\nbody\r\n", zone, 70, NULL, r), 1);
	const struct store_dmarc *d = &r[0]->u.dmarc;
	assert_string_equal(d->day, "2023-11-14");
	assert_string_equal(d->domain, "half.test");
	assert_string_equal(d->source_ip, "192.0.2.5");
	assert_string_equal(d->envelope_from, "other.test");
	assert_string_equal(d->disposition, "quarantine");
	assert_string_equal(d->reason, "sampled_out");
	assert_string_equal(d->dkim, "fail");
	assert_string_equal(d->spf, "fail");
	assert_string_equal(d->p, "reject");
	assert_int_equal(d->pct, 50);
	assert_string_equal(d->rua, "mailto:r@half.test");
	assert_string_equal(d->spf_result, "pass");
	assert_string_equal(d->spf_scope, "mfrom");
	assert_string_equal(d->spf_domain, "Other.TEST");
	assert_int_equal(d->ndkim_auth, 0);
	store_record_free(r[0]);
	/* In the sample: reject, no reason. Overridden: none, the override's reason. */
	assert_int_equal(agg("From: a@half.test\r\n\r\nbody\r\n", zone, 10, NULL, r), 1);
	assert_string_equal(r[0]->u.dmarc.disposition, "reject");
	assert_string_equal(r[0]->u.dmarc.reason, "");
	store_record_free(r[0]);
	assert_int_equal(agg("From: a@half.test\r\n\r\nbody\r\n", zone, 10, "trusted_forwarder",
			     r), 1);
	assert_string_equal(r[0]->u.dmarc.disposition, "none");
	assert_string_equal(r[0]->u.dmarc.reason, "trusted_forwarder");
	assert_string_equal(r[0]->u.dmarc.comment, "arc=pass sealer=list.test");
	store_record_free(r[0]);
	/* A subdomain under its organization's record: the row belongs to the policy domain. Three
	 * author domains, one without a record: two rows, each with the applied disposition. */
	assert_int_equal(agg("From: a@news.shop.co.uk, b@half.test, c@none.test\r\n\r\nx\r\n",
			     zone, 10, NULL, r), 2);
	assert_string_equal(r[0]->u.dmarc.domain, "shop.co.uk");
	assert_string_equal(r[0]->u.dmarc.header_from, "news.shop.co.uk");
	assert_string_equal(r[0]->u.dmarc.aspf, "s");
	assert_string_equal(r[0]->u.dmarc.sp, "quarantine");
	assert_string_equal(r[0]->u.dmarc.disposition, "reject"); /* half.test decided */
	assert_string_equal(r[0]->u.dmarc.reason, "other");
	assert_non_null(strstr(r[0]->u.dmarc.comment, "the policy of half.test applied"));
	assert_string_equal(r[1]->u.dmarc.domain, "half.test");
	assert_string_equal(r[1]->u.dmarc.reason, "");
	store_record_free(r[0]);
	store_record_free(r[1]);
	/* No record anywhere: nothing to report. */
	assert_int_equal(agg("From: a@none.test\r\n\r\nbody\r\n", zone, 0, NULL, r), 0);
}

/* ---- reputation records: statistics, snapshots, operator lists, retention ---- */

/* A STAT record: increments inc at counter c, and one refusal of code (if any). */
static struct store_record *stat(enum store_entity_kind kind, const char *key, const char *day,
				 long long first, long long last, enum stat_counter c,
				 unsigned long long inc, const char *code)
{
	struct store_record *r = store_record_new(STORE_STAT);
	assert_non_null(r);
	struct store_stat *t = &r->u.stat;
	t->kind = kind;
	t->key = arena_strdup(&r->a, key);
	t->day = arena_strdup(&r->a, day);
	t->first_ts = first, t->last_ts = last;
	t->n[c] = inc;
	if (code) {
		t->reason[0].code = arena_strdup(&r->a, code);
		t->reason[0].n = inc;
		t->nreason = 1;
	}
	return r;
}

#define SROWS_MAX 32
struct srow {
	char key[64], day[11], helo[64], mail_from[64];
	enum store_entity_kind kind;
	long long first, last;
	unsigned long long c[ST__COUNT];
	size_t nreason, left_off;
	char reasons[256]; /* "code=n,code=n" */
};
struct srows {
	size_t n;
	struct srow r[SROWS_MAX];
};

static int collect_stat(void *arg, const struct store_stat *t)
{
	struct srows *s = arg;
	if (s->n == SROWS_MAX)
		return 1;
	struct srow *o = &s->r[s->n++];
	snprintf(o->key, sizeof(o->key), "%s", t->key);
	snprintf(o->day, sizeof(o->day), "%s", t->day);
	snprintf(o->helo, sizeof(o->helo), "%s", t->helo ? t->helo : "(null)");
	snprintf(o->mail_from, sizeof(o->mail_from), "%s", t->mail_from ? t->mail_from : "(null)");
	o->kind = t->kind;
	o->first = t->first_ts, o->last = t->last_ts;
	memcpy(o->c, t->n, sizeof(o->c));
	o->nreason = t->nreason, o->left_off = t->nreason_left_off;
	size_t len = 0;
	for (size_t i = 0; i < t->nreason; i++)
		len += (size_t)snprintf(o->reasons + len, sizeof(o->reasons) - len, "%s%s=%llu",
					i ? "," : "", t->reason[i].code, t->reason[i].n);
	return 0;
}

static struct srows stat_rows(struct store *st, const struct store_stat_filter *f)
{
	struct srows s = { 0 };
	char err[256];
	if (store_stat_rows(st, f, collect_stat, &s, err, sizeof(err)) < 0)
		fail_msg("store_stat_rows: %s", err);
	return s;
}

static void apply_all(struct store *st, struct store_record **b, size_t n)
{
	char err[256];
	int rc = store_apply(st, b, n, err, sizeof(err));
	for (size_t i = 0; i < n; i++)
		store_record_free(b[i]);
	if (rc < 0)
		fail_msg("store_apply: %s", err);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(store_entity_kind_name(STORE_ENT_IP), "ip");
	assert_string_equal(store_entity_kind_name(STORE_ENT_NET), "net");
	assert_string_equal(store_entity_kind_name(STORE_ENT_DOMAIN), "domain");
	assert_null(store_entity_kind_name((enum store_entity_kind)3));
	enum store_entity_kind k;
	assert_int_equal(store_entity_kind_parse("net", &k), 0);
	assert_int_equal(k, STORE_ENT_NET);
	assert_int_equal(store_entity_kind_parse("IP", &k), -1);
	assert_string_equal(stat_counter_name(ST_CONNECTIONS), "connections");
	assert_string_equal(stat_counter_name(ST_MSG_RCPTS), "message_rcpts");
	assert_string_equal(stat_counter_name(ST_COMPLAINTS), "complaints");
	assert_null(stat_counter_name(ST__COUNT));
	for (int i = 0; i < ST__COUNT; i++)
		assert_non_null(stat_counter_name((enum stat_counter)i));
	assert_string_equal(store_record_kind_name(STORE_STAT), "stat");
	assert_string_equal(store_record_kind_name(STORE_PRUNE), "prune");
}

/* The helpers the producers use: a record for an entity at a time, reasons merged by code. */
static void test_stat_helpers(void **state)
{
	(void)state;
	assert_null(store_stat_new(STORE_ENT_IP, "", 1));
	assert_null(store_stat_new((enum store_entity_kind)9, "x", 1));
	char key[] = "192.0.2.1";
	struct store_record *r = store_stat_new(STORE_ENT_IP, key, 1772625600 + 43199);
	assert_non_null(r);
	key[0] = 'X'; /* copied */
	const struct store_stat *t = &r->u.stat;
	assert_int_equal(r->kind, STORE_STAT);
	assert_string_equal(t->key, "192.0.2.1");
	assert_string_equal(t->day, "2026-03-04");
	assert_int_equal(t->first_ts, 1772625600 + 43199); /* 23:59:59 */
	assert_int_equal(t->last_ts, t->first_ts);
	char code[] = "MXS-A";
	assert_int_equal(store_stat_reason_add(r, code, 2), 0);
	code[4] = 'B';
	assert_int_equal(store_stat_reason_add(r, code, 1), 0);
	assert_int_equal(store_stat_reason_add(r, "MXS-A", 3), 0);
	assert_int_equal(t->nreason, 2);
	assert_string_equal(t->reason[0].code, "MXS-A");
	assert_int_equal(t->reason[0].n, 5);
	assert_string_equal(t->reason[1].code, "MXS-B");
	for (int i = 2; i < STORE_STAT_REASONS_MAX; i++) {
		char c[8];
		snprintf(c, sizeof(c), "C%d", i);
		assert_int_equal(store_stat_reason_add(r, c, 1), 0);
	}
	assert_int_equal(store_stat_reason_add(r, "full", 1), -1);
	assert_int_equal(store_stat_reason_add(r, "MXS-B", 1), 0); /* a known code still adds */
	char helo[] = "mx.example";
	assert_int_equal(store_record_set(r, &r->u.stat.helo, helo), 0);
	helo[0] = 'X';
	assert_string_equal(t->helo, "mx.example");
	assert_int_equal(store_record_set(r, &r->u.stat.helo, NULL), 0);
	assert_null(t->helo);
	store_record_free(r);
}

/* Records and batches add up; first/last are min/max; samples keep the latest given. */
static void test_stat_additive(void **state)
{
	(void)state;
	struct store *st = open_rw();
	const char *day = "2026-03-04";
	struct store_record *b[5] = {
		stat(STORE_ENT_IP, "192.0.2.1", day, 1000, 1010, ST_CONNECTIONS, 1, NULL),
		stat(STORE_ENT_IP, "192.0.2.1", day, 990, 1005, ST_MESSAGES, 2, NULL),
		stat(STORE_ENT_IP, "192.0.2.1", day, 0, 0, ST_REJECT, 3, "MXS-SPF-001"),
		stat(STORE_ENT_IP, "192.0.2.1", day, 1001, 1020, ST_REJECT, 1, "MXS-REP-003"),
		stat(STORE_ENT_NET, "192.0.2.0/24", day, 995, 995, ST_CONNECTIONS, 1, NULL),
	};
	b[0]->u.stat.helo = "first.example";
	b[1]->u.stat.helo = "second.example";
	b[1]->u.stat.mail_from = "a@sender.example";
	apply_all(st, b, 5);
	/* A second batch: more of the same, samples NULL (kept) or new (replace), no ts. */
	struct store_record *c[3] = {
		stat(STORE_ENT_IP, "192.0.2.1", day, 0, 0, ST_CONNECTIONS, 4, NULL),
		stat(STORE_ENT_IP, "192.0.2.1", day, 1500, 1500, ST_REJECT, 2, "MXS-SPF-001"),
		stat(STORE_ENT_IP, "192.0.2.1", day, 0, 0, ST_INBOX, 1, NULL),
	};
	c[2]->u.stat.mail_from = "b@sender.example";
	c[2]->u.stat.n[ST_TLS] = 7;
	apply_all(st, c, 3);
	struct store_stat_filter f = { 0 };
	struct srows s = stat_rows(st, &f);
	assert_int_equal(s.n, 2);
	/* Ordered by key: "192.0.2.0/24" < "192.0.2.1". */
	assert_string_equal(s.r[0].key, "192.0.2.0/24");
	assert_int_equal(s.r[0].kind, STORE_ENT_NET);
	assert_int_equal(s.r[0].c[ST_CONNECTIONS], 1);
	assert_string_equal(s.r[0].helo, "(null)");
	assert_int_equal(s.r[0].nreason, 0);
	assert_string_equal(s.r[1].key, "192.0.2.1");
	assert_int_equal(s.r[1].kind, STORE_ENT_IP);
	assert_string_equal(s.r[1].day, day);
	assert_int_equal(s.r[1].first, 990);
	assert_int_equal(s.r[1].last, 1500);
	assert_int_equal(s.r[1].c[ST_CONNECTIONS], 5);
	assert_int_equal(s.r[1].c[ST_MESSAGES], 2);
	assert_int_equal(s.r[1].c[ST_REJECT], 6);
	assert_int_equal(s.r[1].c[ST_INBOX], 1);
	assert_int_equal(s.r[1].c[ST_TLS], 7);
	assert_int_equal(s.r[1].c[ST_JUNK], 0);
	assert_string_equal(s.r[1].helo, "second.example");
	assert_string_equal(s.r[1].mail_from, "b@sender.example");
	/* Reasons add up across records and batches, most frequent first. */
	assert_string_equal(s.r[1].reasons, "MXS-SPF-001=5,MXS-REP-003=1");
	assert_int_equal(s.r[1].left_off, 0);
	store_close(st);
}

/* Every counter has its own column: each one round-trips with a distinct value. */
static void test_stat_all_counters(void **state)
{
	(void)state;
	struct store *st = open_rw();
	struct store_record *r = stat(STORE_ENT_DOMAIN, "example.com", "2026-03-04", 0, 0,
				      ST_CONNECTIONS, 0, NULL);
	for (int i = 0; i < ST__COUNT; i++)
		r->u.stat.n[i] = 100 + (unsigned long long)i;
	r->u.stat.n[ST_COMPLAINTS] = 1ull << 40;
	apply1(st, r);
	struct store_stat_filter f = { 0 };
	struct srows s = stat_rows(st, &f);
	assert_int_equal(s.n, 1);
	for (int i = 0; i < ST_COMPLAINTS; i++)
		assert_int_equal(s.r[0].c[i], 100 + i);
	assert_int_equal(s.r[0].c[ST_COMPLAINTS], 1ull << 40);
	assert_int_equal(s.r[0].first, 0); /* never given: 0 back */
	store_close(st);
}

/* More distinct reason codes than a row carries: the most frequent, and how many were left off. */
static void test_stat_reasons_left_off(void **state)
{
	(void)state;
	struct store *st = open_rw();
	struct store_record *b[STORE_STAT_REASONS_MAX + 2];
	for (int i = 0; i < STORE_STAT_REASONS_MAX + 2; i++) {
		char code[16];
		snprintf(code, sizeof(code), "MXS-T-%03d", i);
		b[i] = stat(STORE_ENT_IP, "198.51.100.7", "2026-03-04", 0, 0, ST_REJECT,
			    (unsigned long long)i + 1, code);
	}
	/* One record with several codes at once. */
	struct store_record *m = stat(STORE_ENT_IP, "198.51.100.8", "2026-03-04", 0, 0, ST_REJECT,
				      3, NULL);
	m->u.stat.reason[0].code = "B", m->u.stat.reason[0].n = 1;
	m->u.stat.reason[1].code = "A", m->u.stat.reason[1].n = 2;
	m->u.stat.reason[2].code = "", m->u.stat.reason[2].n = 9; /* no code: not stored */
	m->u.stat.nreason = 3;
	apply_all(st, b, STORE_STAT_REASONS_MAX + 2);
	apply1(st, m);
	struct store_stat_filter f = { 0 };
	struct srows s = stat_rows(st, &f);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.r[0].nreason, STORE_STAT_REASONS_MAX);
	assert_int_equal(s.r[0].left_off, 2);
	assert_int_equal(strncmp(s.r[0].reasons, "MXS-T-009=10,MXS-T-008=9,", 25), 0);
	assert_string_equal(s.r[1].reasons, "A=2,B=1");
	assert_int_equal(s.r[1].c[ST_REJECT], 3);
	store_close(st);
}

static void test_stat_filters(void **state)
{
	(void)state;
	struct store *st = open_rw();
	const char *days[] = { "2026-03-01", "2026-03-02", "2026-03-03" };
	struct store_record *b[12];
	size_t n = 0;
	for (int d = 0; d < 3; d++) {
		b[n++] = stat(STORE_ENT_IP, "192.0.2.1", days[d], 0, 0, ST_RCPT, 1, NULL);
		b[n++] = stat(STORE_ENT_NET, "192.0.2.0/24", days[d], 0, 0, ST_RCPT, 1, NULL);
		b[n++] = stat(STORE_ENT_DOMAIN, "example.com", days[d], 0, 0, ST_RCPT, 1, NULL);
		b[n++] = stat(STORE_ENT_IP, "2001:db8::1", days[d], 0, 0, ST_RCPT, 1, NULL);
	}
	apply_all(st, b, n);
	struct store_stat_filter f = { 0 };
	struct srows s = stat_rows(st, &f);
	assert_int_equal(s.n, 12);
	/* key, then day */
	assert_string_equal(s.r[0].key, "192.0.2.0/24");
	assert_string_equal(s.r[0].day, "2026-03-01");
	assert_string_equal(s.r[2].day, "2026-03-03");
	assert_string_equal(s.r[3].key, "192.0.2.1");
	assert_string_equal(s.r[11].key, "example.com");
	f = (struct store_stat_filter){ .by_kind = true, .kind = STORE_ENT_IP };
	s = stat_rows(st, &f);
	assert_int_equal(s.n, 6);
	assert_string_equal(s.r[3].key, "2001:db8::1");
	f.kind = STORE_ENT_DOMAIN;
	assert_int_equal(stat_rows(st, &f).n, 3);
	f = (struct store_stat_filter){ .key = "192.0.2.1" };
	assert_int_equal(stat_rows(st, &f).n, 3);
	f.by_kind = true, f.kind = STORE_ENT_NET; /* the key is an ip's: no net row */
	assert_int_equal(stat_rows(st, &f).n, 0);
	f = (struct store_stat_filter){ .day_from = "2026-03-02" };
	assert_int_equal(stat_rows(st, &f).n, 8);
	f.day_to = "2026-03-02";
	s = stat_rows(st, &f);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.r[0].day, "2026-03-02");
	f = (struct store_stat_filter){ .day_to = "2026-03-01", .key = "" };
	assert_int_equal(stat_rows(st, &f).n, 4);
	f = (struct store_stat_filter){ .limit = 5 };
	s = stat_rows(st, &f);
	assert_int_equal(s.n, 5);
	assert_string_equal(s.r[4].key, "192.0.2.1");
	f = (struct store_stat_filter){ .key = "192.0.2.9" };
	assert_int_equal(stat_rows(st, &f).n, 0);
	store_close(st);
}

/* A record the backend cannot take fails its whole batch, rolled back, with a reason. */
static void test_stat_bad_record(void **state)
{
	(void)state;
	struct store *st = open_rw();
	char err[256];
	struct store_record *b[3] = {
		stat(STORE_ENT_IP, "192.0.2.1", "2026-03-04", 0, 0, ST_RCPT, 1, NULL),
		stat(STORE_ENT_IP, "192.0.2.1", "2026-02-30", 0, 0, ST_RCPT, 1, NULL),
		stat((enum store_entity_kind)7, "192.0.2.1", "2026-03-04", 0, 0, ST_RCPT, 1, NULL),
	};
	assert_int_equal(store_apply(st, b, 2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bad day '2026-02-30'"));
	assert_int_equal(store_apply(st, b + 2, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bad entity"));
	b[2]->u.stat.kind = STORE_ENT_IP;
	b[2]->u.stat.key = "";
	assert_int_equal(store_apply(st, b + 2, 1, err, sizeof(err)), -1);
	struct store_stat_filter f = { 0 };
	assert_int_equal(stat_rows(st, &f).n, 0);
	/* The statements are still usable afterwards. */
	assert_int_equal(store_apply(st, b, 1, err, sizeof(err)), 0);
	assert_int_equal(stat_rows(st, &f).r[0].c[ST_RCPT], 1);
	for (int i = 0; i < 3; i++)
		store_record_free(b[i]);
	store_close(st);
}

static struct store_record *rep(enum store_entity_kind kind, const char *key, long long ts,
				double good)
{
	struct store_record *r = store_record_new(STORE_REP);
	assert_non_null(r);
	struct store_rep *p = &r->u.rep;
	p->kind = kind;
	p->key = key;
	p->updated_ts = ts;
	p->good = good, p->junk = 1.5, p->refused = 2.25, p->unknown = 0.125, p->traps = 3;
	p->complaints = 4, p->hammer = 0.5, p->tokens = 9.75;
	p->limited_until = ts + 60;
	p->hammers_today = 2;
	p->hammer_day = "2026-03-04";
	return r;
}

#define REPS_MAX 8
struct reps {
	size_t n;
	struct store_rep r[REPS_MAX];
	char key[REPS_MAX][64], hday[REPS_MAX][11];
};

static int collect_rep(void *arg, const struct store_rep *r)
{
	struct reps *s = arg;
	if (s->n == REPS_MAX)
		return 1;
	s->r[s->n] = *r;
	snprintf(s->key[s->n], sizeof(s->key[0]), "%s", r->key);
	snprintf(s->hday[s->n], sizeof(s->hday[0]), "%s", r->hammer_day);
	s->n++;
	return 0;
}

static struct reps reps(struct store *st)
{
	struct reps s = { 0 };
	char err[256];
	if (store_rep_load(st, collect_rep, &s, err, sizeof(err)) < 0)
		fail_msg("store_rep_load: %s", err);
	return s;
}

static void test_rep_upsert_load(void **state)
{
	(void)state;
	struct store *st = open_rw();
	struct store_record *b[4] = {
		rep(STORE_ENT_IP, "192.0.2.1", 1000, 10),
		rep(STORE_ENT_NET, "192.0.2.0/24", 1000, 20),
		rep(STORE_ENT_DOMAIN, "example.com", 1000, 30),
		rep(STORE_ENT_IP, "192.0.2.1", 2000, 11), /* the same entity: replaces */
	};
	b[3]->u.rep.hammer_day = NULL;
	b[3]->u.rep.limited_until = 0;
	apply_all(st, b, 4);
	struct reps s = reps(st);
	assert_int_equal(s.n, 3);
	/* kind (as text), then key */
	assert_string_equal(s.key[0], "example.com");
	assert_int_equal(s.r[0].kind, STORE_ENT_DOMAIN);
	assert_string_equal(s.key[1], "192.0.2.1");
	assert_int_equal(s.r[1].kind, STORE_ENT_IP);
	assert_int_equal(s.r[1].updated_ts, 2000);
	assert_true(s.r[1].good == 11);
	assert_true(s.r[1].junk == 1.5 && s.r[1].refused == 2.25 && s.r[1].unknown == 0.125);
	assert_true(s.r[1].traps == 3 && s.r[1].complaints == 4 && s.r[1].hammer == 0.5);
	assert_true(s.r[1].tokens == 9.75);
	assert_int_equal(s.r[1].limited_until, 0);
	assert_int_equal(s.r[1].hammers_today, 2);
	assert_string_equal(s.hday[1], "");
	assert_string_equal(s.key[2], "192.0.2.0/24");
	assert_int_equal(s.r[2].limited_until, 1060);
	assert_string_equal(s.hday[2], "2026-03-04");
	store_close(st);
}

#define IPL_MAX 8
struct ipl {
	size_t n;
	char line[IPL_MAX][128];
};

static int collect_ipl(void *arg, const struct store_iplist *e)
{
	struct ipl *s = arg;
	if (s->n == IPL_MAX)
		return 1;
	snprintf(s->line[s->n++], sizeof(s->line[0]), "%s %s %lld %s", e->cidr, e->action,
		 e->created_ts, e->reason);
	return 0;
}

static struct store_record *ipl(const char *cidr, const char *action, const char *reason,
				long long ts, bool remove)
{
	struct store_record *r = store_record_new(STORE_IPLIST);
	assert_non_null(r);
	r->u.iplist = (struct store_iplist){ cidr, action, reason, ts, remove };
	return r;
}

static void test_iplist(void **state)
{
	(void)state;
	struct store *st = open_rw();
	char err[256];
	struct store_record *b[5] = {
		ipl("192.0.2.0/24", "block", "spam run", 100, false),
		ipl("2001:db8::/64", "allow", "", 101, false),
		ipl("198.51.100.1/32", "allow", "partner", 102, false),
		ipl("192.0.2.0/24", "allow", "fixed", 200, false), /* replaces the block */
		ipl("198.51.100.1/32", NULL, NULL, 0, true),	    /* deletes */
	};
	apply_all(st, b, 5);
	struct ipl s = { 0 };
	assert_int_equal(store_iplist_load(st, collect_ipl, &s, err, sizeof(err)), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.line[0], "192.0.2.0/24 allow 200 fixed");
	assert_string_equal(s.line[1], "2001:db8::/64 allow 101 ");
	/* Removing what is not there is fine; an unknown action fails the batch. */
	apply1(st, ipl("203.0.113.0/24", NULL, NULL, 0, true));
	struct store_record *bad = ipl("203.0.113.0/24", "maybe", "", 1, false);
	assert_int_equal(store_apply(st, &bad, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "CHECK"));
	store_record_free(bad);
	s.n = 0;
	assert_int_equal(store_iplist_load(st, collect_ipl, &s, err, sizeof(err)), 0);
	assert_int_equal(s.n, 2);
	store_close(st);
}

static void test_prune(void **state)
{
	(void)state;
	struct store *st = open_rw();
	char err[256];
	const char *days[] = { "2025-01-01", "2025-12-31", "2026-01-01", "2026-01-02" };
	for (int d = 0; d < 4; d++) {
		struct store_record *b[2] = {
			stat(STORE_ENT_IP, "192.0.2.1", days[d], 0, 0, ST_REJECT, 1, "MXS-X"),
			stat(STORE_ENT_DOMAIN, "example.com", days[d], 0, 0, ST_RCPT, 1, NULL),
		};
		apply_all(st, b, 2);
	}
	struct store_record *r[2] = { rep(STORE_ENT_IP, "192.0.2.1", 5000, 1),
				      rep(STORE_ENT_IP, "192.0.2.2", 4999, 1) };
	apply_all(st, r, 2);
	struct store_record *p = store_record_new(STORE_PRUNE);
	p->u.prune.before_day = "2026-01-01";
	p->u.prune.rep_before_ts = 5000;
	apply1(st, p);
	struct store_stat_filter f = { 0 };
	struct srows s = stat_rows(st, &f);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.r[0].day, "2026-01-01");
	assert_string_equal(s.r[0].reasons, "MXS-X=1");
	struct reps rs = reps(st);
	assert_int_equal(rs.n, 1);
	assert_string_equal(rs.key[0], "192.0.2.1");
	/* No reason row outlives its day's statistics. */
	sqlite3 *db;
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*), min(day) FROM stat_reason", -1,
					    &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), 2);
	assert_string_equal((const char *)sqlite3_column_text(q, 1), "2026-01-01");
	sqlite3_finalize(q);
	sqlite3_close(db);
	/* The record from a retention setting: 2026-03-04 12:00 UTC, 90 days -> 2025-12-04. */
	p = store_prune_record_new(1772625600, 90);
	assert_non_null(p);
	assert_string_equal(p->u.prune.before_day, "2025-12-04");
	assert_int_equal(p->u.prune.rep_before_ts, 1772625600 - 400LL * 86400);
	store_record_free(p);
	char day[11];
	store_day_of(1772625600, day);
	assert_string_equal(day, "2026-03-04");
	/* An empty prune deletes nothing; a bad day fails. */
	p = store_record_new(STORE_PRUNE);
	apply1(st, p);
	assert_int_equal(stat_rows(st, &f).n, 4);
	p = store_record_new(STORE_PRUNE);
	p->u.prune.before_day = "yesterday";
	assert_int_equal(store_apply(st, &p, 1, err, sizeof(err)), -1);
	store_record_free(p);
	store_close(st);
}

/* The writer applies retention by itself when it starts (then once per UTC day). */
static void test_writer_retention(void **state)
{
	(void)state;
	struct store *st = open_rw();
	char err[256], today[11], old[11];
	long long now = (long long)time(NULL);
	store_day_of(now, today);
	store_day_of(now - 91LL * 86400, old);
	struct store_record *b[2] = {
		stat(STORE_ENT_IP, "192.0.2.1", old, 0, 0, ST_RCPT, 1, NULL),
		stat(STORE_ENT_IP, "192.0.2.1", today, 0, 0, ST_RCPT, 1, NULL),
	};
	apply_all(st, b, 2);
	struct store_writer_options o = { .queue_max = 10, .batch_max = 10, .flush_ms = 20,
					  .retention_days = 90 };
	struct store_writer *w = store_writer_start(st, &o, err, sizeof(err));
	assert_non_null(w);
	assert_int_equal(store_writer_submit(w, stat(STORE_ENT_IP, "192.0.2.1", today, 0, 0,
						     ST_RCPT, 1, NULL)), 0);
	struct store_writer_stats ws = wait_written(w, 1);
	store_writer_stop(w, &ws);
	assert_int_equal(ws.prunes, 1); /* once: the day did not change */
	struct store_stat_filter f = { 0 };
	struct srows s = stat_rows(st, &f);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.r[0].day, today);
	assert_int_equal(s.r[0].c[ST_RCPT], 2);
	store_close(st);
}

/* The v1 schema, as the version-1 program created it, with one DMARC row. */
static const char v1_sql[] =
	"CREATE TABLE dmarc_policy ("
	" day TEXT NOT NULL, domain TEXT NOT NULL,"
	" adkim TEXT NOT NULL, aspf TEXT NOT NULL, p TEXT NOT NULL, sp TEXT NOT NULL,"
	" pct INTEGER NOT NULL, fo TEXT NOT NULL, rua TEXT NOT NULL,"
	" PRIMARY KEY (day, domain)) WITHOUT ROWID;"
	"CREATE TABLE dmarc_row ("
	" id INTEGER PRIMARY KEY,"
	" day TEXT NOT NULL, domain TEXT NOT NULL, source_ip TEXT NOT NULL,"
	" header_from TEXT NOT NULL, envelope_from TEXT NOT NULL,"
	" disposition TEXT NOT NULL, dkim TEXT NOT NULL, spf TEXT NOT NULL,"
	" reason TEXT NOT NULL, comment TEXT NOT NULL,"
	" auth_key TEXT NOT NULL,"
	" count INTEGER NOT NULL,"
	" UNIQUE (day, domain, source_ip, header_from, envelope_from, disposition, dkim, spf,"
	"  reason, comment, auth_key));"
	"CREATE TABLE dmarc_auth ("
	" row_id INTEGER NOT NULL REFERENCES dmarc_row(id) ON DELETE CASCADE,"
	" seq INTEGER NOT NULL, method TEXT NOT NULL, domain TEXT NOT NULL,"
	" selector TEXT NOT NULL, scope TEXT NOT NULL, result TEXT NOT NULL,"
	" PRIMARY KEY (row_id, seq)) WITHOUT ROWID;"
	"INSERT INTO dmarc_policy VALUES ('2025-06-01', 'example.com', 'r', 'r', 'reject',"
	" 'reject', 100, '0', 'mailto:a@example.com');"
	"INSERT INTO dmarc_row VALUES (1, '2025-06-01', 'example.com', '192.0.2.4',"
	" 'example.com', 'example.com', 'reject', 'fail', 'fail', '', '', 'spf\x1f" "x', 7);"
	"INSERT INTO dmarc_auth VALUES (1, 0, 'spf', 'example.com', '', 'mfrom', 'fail');"
	"PRAGMA user_version = 1;";

static void test_migrate_v1(void **state)
{
	(void)state;
	char err[512];
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, v1_sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	/* The CLI (read-only) refuses a v1 file; the server migrates it. */
	assert_null(store_open(path, true, err, sizeof(err)));
	assert_non_null(strstr(err, "schema version 1"));
	struct store *st = open_rw();
	assert_int_equal(store_schema_version(st), 2);
	/* The DMARC data is untouched and still counts on. */
	struct seen s = rows(st, NULL, NULL);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.count[0], 7);
	assert_string_equal(s.spf[0], "example.com/mfrom/fail");
	apply1(st, rec("192.0.2.4", "2025-06-01", "none"));
	assert_int_equal(rows(st, NULL, NULL).n, 2);
	/* The new tables work. */
	apply1(st, stat(STORE_ENT_IP, "192.0.2.4", "2025-06-01", 0, 0, ST_MESSAGES, 3, NULL));
	apply1(st, rep(STORE_ENT_IP, "192.0.2.4", 10, 1));
	apply1(st, ipl("192.0.2.4/32", "block", "", 10, false));
	struct store_stat_filter f = { 0 };
	assert_int_equal(stat_rows(st, &f).r[0].c[ST_MESSAGES], 3);
	assert_int_equal(reps(st).n, 1);
	store_close(st);
	/* Opened again: already version 2, nothing re-run; read-only opens now. */
	st = store_open(path, true, err, sizeof(err));
	assert_non_null(st);
	assert_int_equal(store_schema_version(st), 2);
	assert_int_equal(stat_rows(st, &f).n, 1);
	store_close(st);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Throughput of the SMTP loop's load: one STAT record per entity per message (ip, /24,
 * MAIL FROM domain, From domain: 4 per message) from 2,000 IPs in 200 ranges and 500
 * domains, through the writer with the default batch and queue sizes, flushed as fast as
 * it applies. Prints records/s; asserts only that it keeps up with 1,000 messages/s.
 */
static struct store_record *load_record(int m, int i)
{
	char key[32];
	unsigned h = (unsigned)m * 2654435761u;
	struct store_record *r;
	switch (i) {
	case 0:
		snprintf(key, sizeof(key), "10.%u.%u.%u", (h >> 8) % 10, (h >> 16) % 20, h % 10);
		r = stat(STORE_ENT_IP, key, "2026-03-04", 1000 + m, 1000 + m, ST_MESSAGES, 1,
			 m % 10 ? NULL : "MXS-SPF-001");
		r->u.stat.helo = "mail.example";
		r->u.stat.n[ST_RCPT] = 2;
		return r;
	case 1:
		snprintf(key, sizeof(key), "10.%u.%u.0/24", (h >> 8) % 10, (h >> 16) % 20);
		return stat(STORE_ENT_NET, key, "2026-03-04", 1000 + m, 1000 + m, ST_MESSAGES, 1,
			    NULL);
	case 2:
		snprintf(key, sizeof(key), "d%u.example", (h >> 4) % 500);
		return stat(STORE_ENT_DOMAIN, key, "2026-03-04", 1000 + m, 1000 + m, ST_MESSAGES,
			    1, NULL);
	default:
		snprintf(key, sizeof(key), "f%u.example", (h >> 12) % 500);
		return stat(STORE_ENT_DOMAIN, key, "2026-03-04", 1000 + m, 1000 + m, ST_INBOX, 1,
			    NULL);
	}
}

static void test_stat_throughput(void **state)
{
	(void)state;
	struct store *st = open_rw();
	char err[256];
	struct store_writer_options o = { .queue_max = 10000, .batch_max = 500, .flush_ms = 10 };
	struct store_writer *w = store_writer_start(st, &o, err, sizeof(err));
	assert_non_null(w);
	const int msgs = 10000;
	unsigned long long dropped = 0;
	double t0 = now_s();
	for (int m = 0; m < msgs; m++) {
		for (int i = 0; i < 4; i++) {
			/* Queue full: a real loop drops the record; here wait so every one counts. */
			while (store_writer_submit(w, load_record(m, i)) < 0) {
				dropped++;
				usleep(1000);
			}
		}
	}
	struct store_writer_stats ws;
	store_writer_stop(w, &ws);
	double secs = now_s() - t0;
	double rate = (double)ws.written / secs;
	printf("# stat records: %llu written in %llu transactions, %.2f s: %.0f records/s "
	       "(%llu submits waited for room)\n",
	       ws.written, ws.batches, secs, rate, dropped);
	assert_int_equal(ws.failed, 0);
	/* The sums are exact whatever the batching. */
	unsigned long long total = 0;
	sqlite3 *db;
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT sum(messages), sum(inbox) FROM stat_day", -1,
					    &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	total = (unsigned long long)sqlite3_column_int64(q, 0);
	assert_int_equal(total, 3ull * (unsigned long long)msgs);
	assert_int_equal(sqlite3_column_int64(q, 1), msgs);
	sqlite3_finalize(q);
	sqlite3_close(db);
	assert_true(rate > 4000); /* 4 records per message at 1,000 messages/s */
	store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_wal_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upsert_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_interval, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_queue_full, setup, teardown),
		cmocka_unit_test(test_day_parse),
		cmocka_unit_test(test_dmarc_agg_rows),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_stat_helpers),
		cmocka_unit_test_setup_teardown(test_stat_additive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stat_all_counters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stat_reasons_left_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stat_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stat_bad_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rep_upsert_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iplist, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_retention, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stat_throughput, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
