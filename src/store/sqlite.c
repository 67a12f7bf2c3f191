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
#include <stdint.h>
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
	/* 1 -> 2: reputation (docs/reputation.md): per-entity daily statistics, reputation
	 * snapshots, operator allow/block entries. Statistics are keyed day first: the rows the
	 * SMTP loop increments (today's) are contiguous, so a batch dirties few pages however
	 * long the history, and retention deletes a key range. The (key, day) index serves
	 * `stats --key`; a row's key and day never change, so it costs one insert per new
	 * entity-day and nothing per increment. */
	"CREATE TABLE stat_day ("
	" key TEXT NOT NULL, day TEXT NOT NULL, kind TEXT NOT NULL,"
	" first_ts INTEGER, last_ts INTEGER,"
	" connections INTEGER NOT NULL, rcpt INTEGER NOT NULL, data INTEGER NOT NULL,"
	" messages INTEGER NOT NULL, message_rcpts INTEGER NOT NULL, inbox INTEGER NOT NULL,"
	" junk INTEGER NOT NULL, reject INTEGER NOT NULL, tempfail INTEGER NOT NULL,"
	" limited INTEGER NOT NULL, trap_hits INTEGER NOT NULL, unknown_rcpt INTEGER NOT NULL,"
	" spf_pass INTEGER NOT NULL, spf_fail INTEGER NOT NULL, dkim_pass INTEGER NOT NULL,"
	" dkim_fail INTEGER NOT NULL, dmarc_pass INTEGER NOT NULL, dmarc_fail INTEGER NOT NULL,"
	" tls INTEGER NOT NULL, complaints INTEGER NOT NULL,"
	" helo TEXT, mail_from TEXT,"
	" PRIMARY KEY (day, kind, key)) WITHOUT ROWID;"
	"CREATE INDEX stat_day_by_key ON stat_day (key, day);"
	"CREATE TABLE stat_reason ("
	" key TEXT NOT NULL, day TEXT NOT NULL, kind TEXT NOT NULL, code TEXT NOT NULL,"
	" n INTEGER NOT NULL,"
	" PRIMARY KEY (day, kind, key, code)) WITHOUT ROWID;"
	"CREATE TABLE rep ("
	" kind TEXT NOT NULL, key TEXT NOT NULL, updated_ts INTEGER NOT NULL,"
	" good REAL NOT NULL, junk REAL NOT NULL, refused REAL NOT NULL, unknown REAL NOT NULL,"
	" traps REAL NOT NULL, complaints REAL NOT NULL, hammer REAL NOT NULL,"
	" tokens REAL NOT NULL, limited_until INTEGER NOT NULL,"
	" hammers_today INTEGER NOT NULL, hammer_day TEXT NOT NULL,"
	" PRIMARY KEY (kind, key)) WITHOUT ROWID;"
	"CREATE TABLE iplist ("
	" cidr TEXT NOT NULL PRIMARY KEY,"
	" action TEXT NOT NULL CHECK (action IN ('allow', 'block')),"
	" reason TEXT NOT NULL, created_ts INTEGER NOT NULL) WITHOUT ROWID;",
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

/* The counters in enum stat_counter order (stat_counter_name() gives the same names). */
#define STAT_COLS \
	"connections, rcpt, data, messages, message_rcpts, inbox, junk, reject, tempfail," \
	" limited, trap_hits, unknown_rcpt, spf_pass, spf_fail, dkim_pass, dkim_fail," \
	" dmarc_pass, dmarc_fail, tls, complaints"
#define ADD(c) " " #c " = " #c " + excluded." #c

_Static_assert(ST__COUNT == 20, "STAT_COLS, sql_stat and the stat_day table list every counter");

/* first/last: NULL (not given) never wins; a NULL sample keeps the stored one. */
static const char sql_stat[] =
	"INSERT INTO stat_day (key, day, kind, first_ts, last_ts, " STAT_COLS ", helo, mail_from)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
	" ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27)"
	" ON CONFLICT (key, day, kind) DO UPDATE SET"
	" first_ts = coalesce(min(first_ts, excluded.first_ts), first_ts, excluded.first_ts),"
	" last_ts = coalesce(max(last_ts, excluded.last_ts), last_ts, excluded.last_ts),"
	ADD(connections) "," ADD(rcpt) "," ADD(data) "," ADD(messages) "," ADD(message_rcpts) ","
	ADD(inbox) "," ADD(junk) "," ADD(reject) "," ADD(tempfail) "," ADD(limited) ","
	ADD(trap_hits) "," ADD(unknown_rcpt) "," ADD(spf_pass) "," ADD(spf_fail) ","
	ADD(dkim_pass) "," ADD(dkim_fail) "," ADD(dmarc_pass) "," ADD(dmarc_fail) "," ADD(tls) ","
	ADD(complaints) ","
	" helo = coalesce(excluded.helo, helo), mail_from = coalesce(excluded.mail_from, mail_from)";

static const char sql_reason[] =
	"INSERT INTO stat_reason (key, day, kind, code, n) VALUES (?1, ?2, ?3, ?4, ?5)"
	" ON CONFLICT (key, day, kind, code) DO UPDATE SET n = n + excluded.n";

static const char sql_rep[] =
	"INSERT INTO rep (kind, key, updated_ts, good, junk, refused, unknown, traps, complaints,"
	" hammer, tokens, limited_until, hammers_today, hammer_day)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
	" ON CONFLICT (kind, key) DO UPDATE SET updated_ts = excluded.updated_ts,"
	" good = excluded.good, junk = excluded.junk, refused = excluded.refused,"
	" unknown = excluded.unknown, traps = excluded.traps, complaints = excluded.complaints,"
	" hammer = excluded.hammer, tokens = excluded.tokens,"
	" limited_until = excluded.limited_until, hammers_today = excluded.hammers_today,"
	" hammer_day = excluded.hammer_day";

static const char sql_iplist_put[] =
	"INSERT INTO iplist (cidr, action, reason, created_ts) VALUES (?1, ?2, ?3, ?4)"
	" ON CONFLICT (cidr) DO UPDATE SET action = excluded.action, reason = excluded.reason,"
	" created_ts = excluded.created_ts";

enum {
	Q_POLICY, Q_ROW, Q_AUTH, Q_STAT, Q_REASON, Q_REP, Q_IPLIST_PUT, Q_IPLIST_DEL,
	Q_PRUNE_STAT, Q_PRUNE_REASON, Q_PRUNE_REP, Q_N
};

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
	    exec(s->db, STORE_SQLITE_WRITER_PRAGMAS, sub, sizeof(sub)) < 0 ||
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

/* Binds the entity's key at ikey and its kind's name at ikind; -1 (err set) when invalid. */
static int bind_entity(sqlite3_stmt *st, int ikey, int ikind, enum store_entity_kind kind,
		       const char *key, char *err, size_t errlen)
{
	const char *name = store_entity_kind_name(kind);
	if (!name || !key || !*key) {
		snprintf(err, errlen, "bad entity: kind %d key '%s'", (int)kind, key ? key : "");
		sqlite3_clear_bindings(st);
		return -1;
	}
	bind_text(st, ikey, key);
	bind_text(st, ikind, name);
	return 0;
}

static void bind_ts(sqlite3_stmt *st, int i, long long ts)
{
	if (ts)
		sqlite3_bind_int64(st, i, ts);
	else
		sqlite3_bind_null(st, i);
}

/* Binds an unsigned counter; SQLite integers are signed 64-bit, so the largest ones clamp. */
static void bind_count(sqlite3_stmt *st, int i, unsigned long long n)
{
	sqlite3_bind_int64(st, i, n > (unsigned long long)INT64_MAX ? INT64_MAX : (sqlite3_int64)n);
}

static int apply_stat(struct sq *s, const struct store_stat *t, char *err, size_t errlen)
{
	char day[11];
	if (!t->day || store_day_parse(t->day, strlen(t->day), day) < 0) {
		snprintf(err, errlen, "stat record: bad day '%s'", t->day ? t->day : "");
		return -1;
	}
	sqlite3_stmt *st = s->q[Q_STAT];
	if (bind_entity(st, 1, 3, t->kind, t->key, err, errlen) < 0)
		return -1;
	bind_text(st, 2, day);
	bind_ts(st, 4, t->first_ts);
	bind_ts(st, 5, t->last_ts);
	for (int i = 0; i < ST__COUNT; i++)
		bind_count(st, 6 + i, t->n[i]);
	if (t->helo)
		bind_text(st, 26, t->helo);
	if (t->mail_from)
		bind_text(st, 27, t->mail_from);
	if (step_done(s, st, "stat_day", err, errlen) < 0)
		return -1;
	st = s->q[Q_REASON];
	for (size_t i = 0; i < t->nreason && i < STORE_STAT_REASONS_MAX; i++) {
		if (!t->reason[i].code || !*t->reason[i].code || !t->reason[i].n)
			continue;
		bind_text(st, 1, t->key);
		bind_text(st, 2, day);
		bind_text(st, 3, store_entity_kind_name(t->kind));
		bind_text(st, 4, t->reason[i].code);
		bind_count(st, 5, t->reason[i].n);
		if (step_done(s, st, "stat_reason", err, errlen) < 0)
			return -1;
	}
	return 0;
}

static int apply_rep(struct sq *s, const struct store_rep *r, char *err, size_t errlen)
{
	sqlite3_stmt *st = s->q[Q_REP];
	if (bind_entity(st, 2, 1, r->kind, r->key, err, errlen) < 0)
		return -1;
	sqlite3_bind_int64(st, 3, r->updated_ts);
	const double v[] = { r->good, r->junk,	     r->refused, r->unknown,
			     r->traps, r->complaints, r->hammer, r->tokens };
	for (int i = 0; i < 8; i++)
		sqlite3_bind_double(st, 4 + i, v[i]);
	sqlite3_bind_int64(st, 12, r->limited_until);
	bind_count(st, 13, r->hammers_today);
	bind_text(st, 14, r->hammer_day);
	return step_done(s, st, "rep", err, errlen);
}

static int apply_iplist(struct sq *s, const struct store_iplist *e, char *err, size_t errlen)
{
	if (!e->cidr || !*e->cidr) {
		snprintf(err, errlen, "iplist record without a cidr");
		return -1;
	}
	sqlite3_stmt *st = s->q[e->remove ? Q_IPLIST_DEL : Q_IPLIST_PUT];
	bind_text(st, 1, e->cidr);
	if (!e->remove) {
		bind_text(st, 2, e->action);
		bind_text(st, 3, e->reason);
		sqlite3_bind_int64(st, 4, e->created_ts);
	}
	return step_done(s, st, "iplist", err, errlen);
}

static int apply_prune(struct sq *s, const struct store_prune *p, char *err, size_t errlen)
{
	if (p->before_day && *p->before_day) {
		char day[11];
		if (store_day_parse(p->before_day, strlen(p->before_day), day) < 0) {
			snprintf(err, errlen, "prune record: bad day '%s'", p->before_day);
			return -1;
		}
		for (int q = Q_PRUNE_STAT; q <= Q_PRUNE_REASON; q++) {
			bind_text(s->q[q], 1, day);
			if (step_done(s, s->q[q], "prune", err, errlen) < 0)
				return -1;
		}
	}
	if (p->rep_before_ts) {
		sqlite3_bind_int64(s->q[Q_PRUNE_REP], 1, p->rep_before_ts);
		if (step_done(s, s->q[Q_PRUNE_REP], "prune", err, errlen) < 0)
			return -1;
	}
	return 0;
}

static int prepare(struct sq *s, char *err, size_t errlen)
{
	static const char *const sql[Q_N] = {
		sql_policy,
		sql_row,
		sql_auth,
		sql_stat,
		sql_reason,
		sql_rep,
		sql_iplist_put,
		"DELETE FROM iplist WHERE cidr = ?1",
		"DELETE FROM stat_day WHERE day < ?1",
		"DELETE FROM stat_reason WHERE day < ?1",
		"DELETE FROM rep WHERE updated_ts < ?1",
	};
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
		case STORE_STAT:
			rc = apply_stat(s, &recs[i]->u.stat, err, errlen);
			break;
		case STORE_REP:
			rc = apply_rep(s, &recs[i]->u.rep, err, errlen);
			break;
		case STORE_IPLIST:
			rc = apply_iplist(s, &recs[i]->u.iplist, err, errlen);
			break;
		case STORE_PRUNE:
			rc = apply_prune(s, &recs[i]->u.prune, err, errlen);
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

/* Fills row->reason with the most frequent codes of the row's entity and day (copied into a,
 * the statement's text does not outlive the next step). 0, or -1 with err set. */
static int stat_reasons(struct sq *s, sqlite3_stmt *rs, struct store_stat *row, struct arena *a,
			char *err, size_t errlen)
{
	sqlite3_reset(rs);
	bind_text(rs, 1, row->key);
	bind_text(rs, 2, row->day);
	bind_text(rs, 3, store_entity_kind_name(row->kind));
	int rc;
	while ((rc = sqlite3_step(rs)) == SQLITE_ROW) {
		if (row->nreason == STORE_STAT_REASONS_MAX) {
			row->nreason_left_off++;
			continue;
		}
		char *code = arena_strdup(a, col(rs, 0));
		if (!code) {
			db_err(NULL, "stat_reason query", err, errlen);
			return -1;
		}
		row->reason[row->nreason].code = code;
		row->reason[row->nreason++].n = (unsigned long long)sqlite3_column_int64(rs, 1);
	}
	if (rc != SQLITE_DONE) {
		db_err(s->db, "stat_reason query", err, errlen);
		return -1;
	}
	return 0;
}

static void bind_opt(sqlite3_stmt *st, int i, const char *v)
{
	if (v && *v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

static int sq_stat_rows(void *h, const struct store_stat_filter *f, store_stat_cb cb, void *arg,
			char *err, size_t errlen)
{
	struct sq *s = h;
	sqlite3_stmt *st = NULL, *rs = NULL;
	int ret = -1;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT key, day, kind, first_ts, last_ts, " STAT_COLS ", helo, mail_from"
			       " FROM stat_day WHERE (?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR key = ?2)"
			       " AND (?3 IS NULL OR day >= ?3) AND (?4 IS NULL OR day <= ?4)"
			       " ORDER BY key, day, kind LIMIT ?5",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db,
			       "SELECT code, n FROM stat_reason WHERE key = ?1 AND day = ?2 AND kind = ?3"
			       " ORDER BY n DESC, code",
			       -1, &rs, NULL) != SQLITE_OK) {
		db_err(s->db, "stat_day query", err, errlen);
		goto out;
	}
	if (f && f->by_kind) {
		const char *kind = store_entity_kind_name(f->kind);
		if (!kind) {
			snprintf(err, errlen, "bad entity kind %d", (int)f->kind);
			goto out;
		}
		bind_opt(st, 1, kind);
	}
	if (f) {
		bind_opt(st, 2, f->key);
		bind_opt(st, 3, f->day_from);
		bind_opt(st, 4, f->day_to);
	}
	sqlite3_bind_int64(st, 5, f && f->limit && f->limit < INT64_MAX ? (sqlite3_int64)f->limit : -1);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_stat row = { .key = col(st, 0), .day = col(st, 1) };
		if (store_entity_kind_parse(col(st, 2), &row.kind) < 0) {
			snprintf(err, errlen, "stat_day: unknown kind '%s'", col(st, 2));
			goto out;
		}
		row.first_ts = sqlite3_column_int64(st, 3);
		row.last_ts = sqlite3_column_int64(st, 4);
		for (int i = 0; i < ST__COUNT; i++)
			row.n[i] = (unsigned long long)sqlite3_column_int64(st, 5 + i);
		row.helo = (const char *)sqlite3_column_text(st, 5 + ST__COUNT);
		row.mail_from = (const char *)sqlite3_column_text(st, 6 + ST__COUNT);
		struct arena a;
		arena_init(&a, 256);
		int stop = 0, bad = stat_reasons(s, rs, &row, &a, err, errlen);
		if (!bad)
			stop = cb(arg, &row);
		arena_reset(&a);
		if (bad)
			goto out;
		if (stop)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		db_err(s->db, "stat_day query", err, errlen);
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(st);
	sqlite3_finalize(rs);
	return ret;
}

static int sq_rep_load(void *h, store_rep_cb cb, void *arg, char *err, size_t errlen)
{
	struct sq *s = h;
	sqlite3_stmt *st = NULL;
	int ret = -1;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT kind, key, updated_ts, good, junk, refused, unknown, traps,"
			       " complaints, hammer, tokens, limited_until, hammers_today, hammer_day"
			       " FROM rep ORDER BY kind, key",
			       -1, &st, NULL) != SQLITE_OK) {
		db_err(s->db, "rep query", err, errlen);
		return -1;
	}
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_rep r = { .key = col(st, 1), .updated_ts = sqlite3_column_int64(st, 2) };
		if (store_entity_kind_parse(col(st, 0), &r.kind) < 0) {
			snprintf(err, errlen, "rep: unknown kind '%s'", col(st, 0));
			goto out;
		}
		double *v[] = { &r.good, &r.junk,	&r.refused, &r.unknown,
				&r.traps, &r.complaints, &r.hammer,  &r.tokens };
		for (int i = 0; i < 8; i++)
			*v[i] = sqlite3_column_double(st, 3 + i);
		r.limited_until = sqlite3_column_int64(st, 11);
		r.hammers_today = (unsigned long long)sqlite3_column_int64(st, 12);
		r.hammer_day = col(st, 13);
		if (cb(arg, &r))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		db_err(s->db, "rep query", err, errlen);
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(st);
	return ret;
}

static int sq_iplist_load(void *h, store_iplist_cb cb, void *arg, char *err, size_t errlen)
{
	struct sq *s = h;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT cidr, action, reason, created_ts FROM iplist ORDER BY cidr", -1,
			       &st, NULL) != SQLITE_OK) {
		db_err(s->db, "iplist query", err, errlen);
		return -1;
	}
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_iplist e = { .cidr = col(st, 0), .action = col(st, 1),
					  .reason = col(st, 2),
					  .created_ts = sqlite3_column_int64(st, 3) };
		if (cb(arg, &e))
			break;
	}
	int ret = 0;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		db_err(s->db, "iplist query", err, errlen);
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
	.stat_rows = sq_stat_rows,
	.rep_load = sq_rep_load,
	.iplist_load = sq_iplist_load,
};
