/*
 * sqlite.c - the SQLite backend of the store (store.h, backend.h).
 *
 * One database file in WAL mode (readers, such as the CLI, never block the
 * writer), synchronous=NORMAL: a committed batch survives a crash of the
 * process; a power loss may lose the last batches, never corrupt the file.
 * The schema is versioned with PRAGMA user_version: migrations[i] takes
 * version i to i+1, all pending ones in one transaction at open. A file from a
 * newer mxscreen is refused. Schema and record semantics: docs/store.md.
 */
#include "core/limits.h"
#include "store/backend.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const migrations[] = {
	/* 0 -> 1: DMARC aggregate data (RFC 7489 Appendix C). */
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
	" PRIMARY KEY (row_id, seq)) WITHOUT ROWID;",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == STORE_SQLITE_SCHEMA,
	       "one migration per schema version");

static const char sql_policy[] =
	"INSERT INTO dmarc_policy (day, domain, adkim, aspf, p, sp, pct, fo, rua)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
	" ON CONFLICT (day, domain) DO UPDATE SET adkim = excluded.adkim, aspf = excluded.aspf,"
	" p = excluded.p, sp = excluded.sp, pct = excluded.pct, fo = excluded.fo,"
	" rua = excluded.rua";

static const char sql_row[] =
	"INSERT INTO dmarc_row (day, domain, source_ip, header_from, envelope_from, disposition,"
	" dkim, spf, reason, comment, auth_key, count)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 1)"
	" ON CONFLICT (day, domain, source_ip, header_from, envelope_from, disposition, dkim, spf,"
	" reason, comment, auth_key) DO UPDATE SET count = count + 1"
	" RETURNING id, count";

static const char sql_auth[] =
	"INSERT INTO dmarc_auth (row_id, seq, method, domain, selector, scope, result)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

enum { Q_POLICY, Q_ROW, Q_AUTH, Q_N };

struct sq {
	sqlite3 *db;
	sqlite3_stmt *q[Q_N]; /* prepared on first write */
	int version;
};

static void db_err(sqlite3 *db, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
}

static int exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
	sqlite3_free(msg);
	return -1;
}

static int user_version(sqlite3 *db)
{
	sqlite3_stmt *st;
	int v = -1;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Brings the schema to STORE_SQLITE_SCHEMA in one transaction. */
static int migrate(struct sq *s, char *err, size_t errlen)
{
	if (exec(s->db, "BEGIN IMMEDIATE", err, errlen) < 0)
		return -1;
	int v = user_version(s->db);
	if (v < 0 || v > STORE_SQLITE_SCHEMA) {
		if (v < 0)
			db_err(s->db, "user_version", err, errlen);
		else
			snprintf(err, errlen, "schema version %d is newer than this mxscreen's %d", v,
				 STORE_SQLITE_SCHEMA);
		exec(s->db, "ROLLBACK", err + strlen(err), 0);
		return -1;
	}
	for (int i = v; i < STORE_SQLITE_SCHEMA; i++)
		if (exec(s->db, migrations[i], err, errlen) < 0) {
			exec(s->db, "ROLLBACK", err + strlen(err), 0);
			return -1;
		}
	char sql[64];
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", STORE_SQLITE_SCHEMA);
	if (exec(s->db, sql, err, errlen) < 0 || exec(s->db, "COMMIT", err, errlen) < 0) {
		exec(s->db, "ROLLBACK", err + strlen(err), 0);
		return -1;
	}
	s->version = STORE_SQLITE_SCHEMA;
	return 0;
}

static void sq_close(void *h)
{
	struct sq *s = h;
	if (!s)
		return;
	for (int i = 0; i < Q_N; i++)
		sqlite3_finalize(s->q[i]);
	sqlite3_close(s->db);
	free(s);
}

static void *sq_open(const char *path, bool readonly, char *err, size_t errlen)
{
	struct sq *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	if (sqlite3_open_v2(path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
	if (readonly) {
		s->version = user_version(s->db);
		if (s->version != STORE_SQLITE_SCHEMA) {
			if (s->version < 0)
				snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(s->db));
			else
				snprintf(err, errlen, "%s: schema version %d, this mxscreen reads %d "
					 "(start `mxscreen serve` once to migrate)", path, s->version,
					 STORE_SQLITE_SCHEMA);
			goto fail;
		}
		return s;
	}
	char sub[512];
	if (exec(s->db, "PRAGMA journal_mode = WAL", sub, sizeof(sub)) < 0 ||
	    exec(s->db, "PRAGMA synchronous = NORMAL", sub, sizeof(sub)) < 0 ||
	    exec(s->db, "PRAGMA foreign_keys = ON", sub, sizeof(sub)) < 0 ||
	    migrate(s, sub, sizeof(sub)) < 0) {
		snprintf(err, errlen, "%s: %s", path, sub);
		goto fail;
	}
	return s;
fail:
	sq_close(s);
	return NULL;
}

static int sq_schema_version(void *h)
{
	return ((struct sq *)h)->version;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_STATIC);
}

static int step_done(struct sq *s, sqlite3_stmt *st, const char *what, char *err, size_t errlen)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_DONE)
		return 0;
	db_err(s->db, what, err, errlen);
	return -1;
}

/*
 * The identity of a row's raw results: every DKIM (domain, selector, result)
 * and the SPF (domain, scope, result), separated by control characters that no
 * DNS name or result contains. Only compared, never parsed.
 */
static char *auth_key(struct store_record *r)
{
	const struct store_dmarc *d = &r->u.dmarc;
	char *k = arena_strdup(&r->a, "");
	for (size_t i = 0; k && i < d->ndkim_auth; i++)
		k = arena_printf(&r->a, "%sdkim\x1f%s\x1f%s\x1f%s\x1e", k, d->dkim_auth[i].domain,
				 d->dkim_auth[i].selector, d->dkim_auth[i].result);
	if (k && d->spf_result)
		k = arena_printf(&r->a, "%sspf\x1f%s\x1f%s\x1f%s", k, d->spf_domain ? d->spf_domain : "",
				 d->spf_scope ? d->spf_scope : "", d->spf_result);
	return k;
}

static int insert_auth(struct sq *s, sqlite3_int64 row, int seq, const char *method,
		       const char *domain, const char *selector, const char *scope,
		       const char *result, char *err, size_t errlen)
{
	sqlite3_stmt *st = s->q[Q_AUTH];
	sqlite3_bind_int64(st, 1, row);
	sqlite3_bind_int(st, 2, seq);
	bind_text(st, 3, method);
	bind_text(st, 4, domain);
	bind_text(st, 5, selector);
	bind_text(st, 6, scope);
	bind_text(st, 7, result);
	return step_done(s, st, "dmarc_auth", err, errlen);
}

static int apply_dmarc(struct sq *s, struct store_record *r, char *err, size_t errlen)
{
	const struct store_dmarc *d = &r->u.dmarc;
	sqlite3_stmt *st = s->q[Q_POLICY];
	const char *pol[] = { d->day, d->domain, d->adkim, d->aspf, d->p, d->sp };
	for (int i = 0; i < 6; i++)
		bind_text(st, i + 1, pol[i]);
	sqlite3_bind_int(st, 7, (int)d->pct);
	bind_text(st, 8, d->fo);
	bind_text(st, 9, d->rua);
	if (step_done(s, st, "dmarc_policy", err, errlen) < 0)
		return -1;
	const char *key = auth_key(r);
	if (!key) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	st = s->q[Q_ROW];
	const char *row[] = { d->day,	      d->domain, d->source_ip, d->header_from,
			      d->envelope_from, d->disposition, d->dkim, d->spf,
			      d->reason,       d->comment, key };
	for (int i = 0; i < 11; i++)
		bind_text(st, i + 1, row[i]);
	if (sqlite3_step(st) != SQLITE_ROW) {
		db_err(s->db, "dmarc_row", err, errlen);
		sqlite3_reset(st);
		return -1;
	}
	sqlite3_int64 id = sqlite3_column_int64(st, 0), count = sqlite3_column_int64(st, 1);
	if (step_done(s, st, "dmarc_row", err, errlen) < 0)
		return -1;
	if (count != 1)
		return 0; /* the raw results are part of the identity: stored with the row */
	int seq = 0;
	for (size_t i = 0; i < d->ndkim_auth; i++)
		if (insert_auth(s, id, seq++, "dkim", d->dkim_auth[i].domain, d->dkim_auth[i].selector,
				"", d->dkim_auth[i].result, err, errlen) < 0)
			return -1;
	if (d->spf_result && insert_auth(s, id, seq, "spf", d->spf_domain, "", d->spf_scope,
					 d->spf_result, err, errlen) < 0)
		return -1;
	return 0;
}

static int prepare(struct sq *s, char *err, size_t errlen)
{
	static const char *const sql[Q_N] = { sql_policy, sql_row, sql_auth };
	for (int i = 0; i < Q_N; i++)
		if (!s->q[i] && sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT,
						   &s->q[i], NULL) != SQLITE_OK) {
			db_err(s->db, "prepare", err, errlen);
			return -1;
		}
	return 0;
}

static int sq_apply(void *h, struct store_record *const *recs, size_t n, char *err, size_t errlen)
{
	struct sq *s = h;
	if (prepare(s, err, errlen) < 0 || exec(s->db, "BEGIN IMMEDIATE", err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int rc = -1;
		switch (recs[i]->kind) {
		case STORE_DMARC:
			rc = apply_dmarc(s, recs[i], err, errlen);
			break;
		}
		if (rc < 0) {
			char ignore[8];
			exec(s->db, "ROLLBACK", ignore, sizeof(ignore));
			return -1;
		}
	}
	if (exec(s->db, "COMMIT", err, errlen) < 0) {
		char ignore[8];
		exec(s->db, "ROLLBACK", ignore, sizeof(ignore));
		return -1;
	}
	return 0;
}

/* ---- queries ------------------------------------------------------------ */

static const char *col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? (const char *)t : "";
}

/* Binds the filter as ?1 (day) and ?2 (domain); NULL binds match everything. */
static void bind_filter(sqlite3_stmt *st, const struct store_filter *f)
{
	if (f && f->day && *f->day)
		sqlite3_bind_text(st, 1, f->day, -1, SQLITE_STATIC);
	if (f && f->domain && *f->domain)
		sqlite3_bind_text(st, 2, f->domain, -1, SQLITE_STATIC);
}

#define FILTER " WHERE (?1 IS NULL OR day = ?1) AND (?2 IS NULL OR domain = ?2 COLLATE NOCASE)"

static int sq_dmarc_rows(void *h, const struct store_filter *f, store_dmarc_cb cb, void *arg,
			 char *err, size_t errlen)
{
	struct sq *s = h;
	sqlite3_stmt *st = NULL, *au = NULL;
	int ret = -1;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT id, day, domain, source_ip, header_from, envelope_from,"
			       " disposition, dkim, spf, reason, comment, count FROM dmarc_row" FILTER
			       " ORDER BY day, domain, source_ip, header_from, id",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db,
			       "SELECT method, domain, selector, scope, result FROM dmarc_auth"
			       " WHERE row_id = ?1 ORDER BY seq",
			       -1, &au, NULL) != SQLITE_OK) {
		db_err(s->db, "dmarc_row query", err, errlen);
		goto out;
	}
	bind_filter(st, f);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_dmarc d = { 0 };
		struct arena a;
		arena_init(&a, 512);
		d.day = col(st, 1);
		d.domain = col(st, 2);
		d.source_ip = col(st, 3);
		d.header_from = col(st, 4);
		d.envelope_from = col(st, 5);
		d.disposition = col(st, 6);
		d.dkim = col(st, 7);
		d.spf = col(st, 8);
		d.reason = col(st, 9);
		d.comment = col(st, 10);
		d.count = (unsigned long long)sqlite3_column_int64(st, 11);
		sqlite3_reset(au);
		sqlite3_bind_int64(au, 1, sqlite3_column_int64(st, 0));
		int arc;
		bool oom = false;
		while ((arc = sqlite3_step(au)) == SQLITE_ROW) {
			char *dom = arena_strdup(&a, col(au, 1)), *sel = arena_strdup(&a, col(au, 2));
			char *scope = arena_strdup(&a, col(au, 3)), *res = arena_strdup(&a, col(au, 4));
			oom |= !dom || !sel || !scope || !res;
			if (oom)
				break;
			if (!strcmp(col(au, 0), "spf")) {
				d.spf_domain = dom, d.spf_scope = scope, d.spf_result = res;
			} else if (d.ndkim_auth < DKIM_SIGNATURES_MAX) {
				d.dkim_auth[d.ndkim_auth++] =
					(struct store_dkim_auth){ dom, sel, res };
			}
		}
		bool bad = oom || arc != SQLITE_DONE;
		int stop = 0;
		if (bad)
			db_err(oom ? NULL : s->db, "dmarc_auth query", err, errlen);
		else
			stop = cb(arg, &d);
		arena_reset(&a);
		if (bad)
			goto out;
		if (stop)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		db_err(s->db, "dmarc_row query", err, errlen);
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(st);
	sqlite3_finalize(au);
	return ret;
}

static int sq_dmarc_policies(void *h, const struct store_filter *f, store_dmarc_cb cb,
			     void *arg, char *err, size_t errlen)
{
	struct sq *s = h;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT day, domain, adkim, aspf, p, sp, pct, fo, rua FROM dmarc_policy"
			       FILTER " ORDER BY day, domain",
			       -1, &st, NULL) != SQLITE_OK) {
		db_err(s->db, "dmarc_policy query", err, errlen);
		return -1;
	}
	bind_filter(st, f);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_dmarc d = {
			.day = col(st, 0), .domain = col(st, 1), .adkim = col(st, 2),
			.aspf = col(st, 3), .p = col(st, 4), .sp = col(st, 5),
			.pct = (unsigned)sqlite3_column_int(st, 6), .fo = col(st, 7),
			.rua = col(st, 8),
		};
		if (cb(arg, &d))
			break;
	}
	int ret = 0;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		db_err(s->db, "dmarc_policy query", err, errlen);
		ret = -1;
	}
	sqlite3_finalize(st);
	return ret;
}

const struct store_backend store_sqlite_backend = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.schema_version = sq_schema_version,
	.apply = sq_apply,
	.dmarc_rows = sq_dmarc_rows,
	.dmarc_policies = sq_dmarc_policies,
};
