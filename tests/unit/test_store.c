/* Unit tests for the store (src/store/): SQLite schema and migrations, upsert counting,
 * queries, the writer thread's batches and queue accounting, day parsing, and DMARC
 * aggregate rows from auth results (dmarc_agg.c). */
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
	assert_int_equal(store_schema_current(), 1);
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
	assert_int_equal(sqlite3_column_int(q, 0), 1);
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
	assert_int_equal(store_schema_version(st), 1);
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
