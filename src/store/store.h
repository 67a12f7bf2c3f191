/*
 * store.h - the store: durable statistics and aggregate data behind one
 * interface, whatever the backend (SQLite now; Redis for clusters later).
 *
 * Writes are records (struct store_record, strings in the record's own arena)
 * applied in batches, one transaction per batch (store_apply). The SMTP loop
 * never writes itself: it queues records to the writer thread of
 * store/writer.h. Reads (the CLI; later the portal) call the query functions.
 * A struct store is used by one thread at a time. Each backend is a table of
 * functions (struct store_backend); a new record kind is one enum value, one
 * union member and one case per backend.
 * Recorded: DMARC aggregate data (RFC 7489 7.2, Appendix C): per UTC day,
 * per policy domain, the evaluated rows with counts and the published policy;
 * per-entity daily statistics (STORE_STAT, additive), reputation snapshots
 * (STORE_REP) and operator allow/block entries (STORE_IPLIST), both upserted;
 * retention (STORE_PRUNE). Semantics: docs/store.md, docs/reputation.md.
 * Not here: turning DMARC results into rows (store/dmarc_agg.c), reports,
 * computing reputation (src/reputation/).
 */
#ifndef MX_STORE_STORE_H
#define MX_STORE_STORE_H

#include "core/arena.h"
#include "core/limits.h"

#include <stdbool.h>
#include <stddef.h>

struct config;

enum store_record_kind { STORE_DMARC, STORE_STAT, STORE_REP, STORE_IPLIST, STORE_PRUNE };
/* "dmarc", "stat", "rep", "iplist", "prune" (for logs such as event=store_queue_full). */
const char *store_record_kind_name(enum store_record_kind k);

struct store_dkim_auth {
	const char *domain, *selector, *result; /* d=, s=, DKIMResultType */
};

/* One evaluated DMARC row (Appendix C "record") with its policy_published. */
struct store_dmarc {
	const char *day;       /* YYYY-MM-DD, UTC */
	const char *domain;    /* policy domain: where the record was found; the report's domain */
	/* policy_published */
	const char *adkim, *aspf; /* "r" or "s" */
	const char *p, *sp;       /* none / quarantine / reject */
	unsigned pct;
	const char *fo, *rua;
	/* row and identifiers */
	const char *source_ip;
	const char *header_from;
	const char *envelope_from; /* RFC5321.MailFrom domain; "" for the null sender */
	const char *disposition;   /* applied: none / quarantine / reject */
	const char *dkim, *spf;    /* DMARC-aligned results: pass / fail */
	const char *reason;        /* PolicyOverrideType, or "" */
	const char *comment;       /* its comment, or "" */
	/* auth_results: the raw results */
	struct store_dkim_auth dkim_auth[DKIM_SIGNATURES_MAX];
	size_t ndkim_auth;
	const char *spf_domain, *spf_scope, *spf_result; /* scope mfrom / helo; NULL: not checked */
	unsigned long long count; /* queries: the row's count; records: ignored (one message) */
};

/* The entities of docs/reputation.md "Entities and their keys". */
enum store_entity_kind { STORE_ENT_IP, STORE_ENT_NET, STORE_ENT_DOMAIN };
#define STORE_ENT__COUNT 3
/* "ip", "net", "domain"; NULL for a value out of range. */
const char *store_entity_kind_name(enum store_entity_kind k);
/* The kind named name ("ip", "net", "domain"). 0, or -1 when it is none. */
int store_entity_kind_parse(const char *name, enum store_entity_kind *out);

/* Per-day counters of an entity; each is a column of the same name (stat_counter_name). */
enum stat_counter {
	ST_CONNECTIONS, ST_RCPT, ST_DATA, ST_MESSAGES, ST_MSG_RCPTS, ST_INBOX, ST_JUNK,
	ST_REJECT, ST_TEMPFAIL, ST_LIMITED, ST_TRAP_HITS, ST_UNKNOWN_RCPT, ST_SPF_PASS,
	ST_SPF_FAIL, ST_DKIM_PASS, ST_DKIM_FAIL, ST_DMARC_PASS, ST_DMARC_FAIL, ST_TLS,
	ST_COMPLAINTS, ST__COUNT
};
/* "connections", "rcpt", "data", "messages", "message_rcpts", "inbox", ...; NULL out of range. */
const char *stat_counter_name(enum stat_counter c);

#define STORE_STAT_REASONS_MAX 8

/*
 * STORE_STAT: increments for one entity on one UTC day, added to what is
 * stored (records and batches add up). As a query row: the totals.
 */
struct store_stat {
	const char *day; /* YYYY-MM-DD, UTC */
	enum store_entity_kind kind;
	const char *key;             /* "192.0.2.1", "192.0.2.0/24", "2001:db8::/64", "example.com" */
	long long first_ts, last_ts; /* unix seconds; stored as min(first), max(last); 0: not given */
	unsigned long long n[ST__COUNT];
	const char *helo, *mail_from; /* latest samples, or NULL (keep the stored one) */
	struct {
		const char *code; /* reason code, e.g. "MXS-REP-003" */
		unsigned long long n;
	} reason[STORE_STAT_REASONS_MAX]; /* refusals by reason code */
	size_t nreason;
	/* Query rows only: distinct codes left off because more than STORE_STAT_REASONS_MAX were
	 * stored (the most frequent are returned). Ignored in records. */
	size_t nreason_left_off;
};

/* STORE_REP: the reputation snapshot of one entity (upsert by kind + key). */
struct store_rep {
	enum store_entity_kind kind;
	const char *key;
	long long updated_ts; /* when the decayed values below were computed */
	double good, junk, refused, unknown, traps, complaints, hammer; /* decayed sums */
	double tokens;             /* token bucket level at updated_ts */
	long long limited_until;   /* 0 or unix seconds */
	unsigned long long hammers_today;
	const char *hammer_day; /* YYYY-MM-DD of hammers_today, or NULL/"" */
};

/* STORE_IPLIST: an operator allow/block entry (upsert by cidr; remove deletes it). */
struct store_iplist {
	const char *cidr;   /* "192.0.2.1/32", "192.0.2.0/24", "2001:db8::/64" */
	const char *action; /* "allow" or "block" */
	const char *reason; /* free text, may be "" */
	long long created_ts;
	bool remove; /* true: delete the entry for this cidr (action, reason ignored) */
};

/*
 * STORE_PRUNE: retention. Deletes the statistics of days before before_day and
 * the reputation snapshots with updated_ts < rep_before_ts (0: none deleted).
 * store_prune_record_new() fills both from a retention setting.
 */
struct store_prune {
	const char *before_day; /* YYYY-MM-DD; NULL or "": no statistics deleted */
	long long rep_before_ts;
};

struct store_record {
	enum store_record_kind kind;
	struct arena a; /* owns every string of the record */
	union {
		struct store_dmarc dmarc;
		struct store_stat stat;
		struct store_rep rep;
		struct store_iplist iplist;
		struct store_prune prune;
	} u;
};

struct store_record *store_record_new(enum store_record_kind kind);
void store_record_free(struct store_record *r);
/*
 * A STORE_PRUNE record for `now` (unix seconds): statistics older than
 * retention_days days (before_day = the UTC day of now - retention_days days),
 * reputation snapshots not updated for STORE_REP_RETENTION_DAYS. NULL when out
 * of memory. The writer submits one itself (store_writer_options.retention_days).
 */
struct store_record *store_prune_record_new(long long now, unsigned retention_days);
/*
 * A STORE_STAT record for the entity kind/key (copied) at unix time now: day =
 * the UTC day of now, first_ts = last_ts = now, every counter 0. NULL when out
 * of memory or kind/key is invalid.
 */
struct store_record *store_stat_new(enum store_entity_kind kind, const char *key, long long now);
/* Adds n refusals with reason code (copied) to a STAT record, merged with the same code. 0, or
 * -1 when STORE_STAT_REASONS_MAX other codes are there already or out of memory. */
int store_stat_reason_add(struct store_record *r, const char *code, unsigned long long n);
/* Copies a sample (HELO or MAIL FROM) into the record: *field = copy of v. 0, or -1 (memory). */
int store_record_set(struct store_record *r, const char **field, const char *v);
/* The UTC day (YYYY-MM-DD) of unix time t into out. */
void store_day_of(long long t, char out[11]);

struct store;

/* The SQLite file to use: store_path, or <var_dir>/mxscreen.db. -1 when out is too small. */
int store_path(const struct config *cfg, char *out, size_t outlen);

/*
 * Opens (creating and migrating it unless readonly) the store at path. NULL
 * with err set. A read-only open of a store with another schema version fails.
 */
struct store *store_open(const char *path, bool readonly, char *err, size_t errlen);
void store_close(struct store *st);
/* Schema version of the open store (PRAGMA user_version for SQLite). */
int store_schema_version(const struct store *st);
/* The schema version this program writes. */
int store_schema_current(void);

/* Applies records in one transaction; all or none. 0, or -1 with err set. */
int store_apply(struct store *st, struct store_record *const *recs, size_t n, char *err,
		size_t errlen);

/* Query filter: NULL or "" matches everything. */
struct store_filter {
	const char *day;    /* YYYY-MM-DD */
	const char *domain; /* policy domain */
};

/* Called per row; the strings live until the callback returns. Non-zero stops. */
typedef int (*store_dmarc_cb)(void *arg, const struct store_dmarc *row);

/* Rows (with their counts and raw results) ordered by day, domain, source_ip,
 * header_from, then first seen. 0, or -1 with err set. */
int store_dmarc_rows(struct store *st, const struct store_filter *f, store_dmarc_cb cb,
		     void *arg, char *err, size_t errlen);
/* policy_published entries (only the policy fields and day/domain are set). */
int store_dmarc_policies(struct store *st, const struct store_filter *f, store_dmarc_cb cb,
			 void *arg, char *err, size_t errlen);

/* Statistics query: NULL or "" matches everything. */
struct store_stat_filter {
	bool by_kind; /* true: only `kind`; false (as zeroed): every kind */
	enum store_entity_kind kind;
	const char *key;             /* exact key; NULL = all */
	const char *day_from, *day_to; /* inclusive; NULL = open */
	size_t limit;                /* rows at most; 0 = no limit */
};
/* Called per row; the strings live until the callback returns. Non-zero stops. */
typedef int (*store_stat_cb)(void *arg, const struct store_stat *row);
typedef int (*store_rep_cb)(void *arg, const struct store_rep *row);
typedef int (*store_iplist_cb)(void *arg, const struct store_iplist *row);

/* Statistics rows (counters, first/last ts, samples, reason counts) ordered by
 * key, day, kind. 0, or -1 with err set. */
int store_stat_rows(struct store *st, const struct store_stat_filter *f, store_stat_cb cb,
		    void *arg, char *err, size_t errlen);
/* Every reputation snapshot, ordered by kind, key. 0, or -1 with err set. */
int store_rep_load(struct store *st, store_rep_cb cb, void *arg, char *err, size_t errlen);
/* Every operator list entry, ordered by cidr. 0, or -1 with err set. */
int store_iplist_load(struct store *st, store_iplist_cb cb, void *arg, char *err,
		      size_t errlen);

/* Parses a day "YYYY-MM-DD" (a real Gregorian date, year 1970..9999) into out
 * (11 octets). 0, or -1 when it is not one. */
int store_day_parse(const char *s, size_t len, char out[11]);

#endif
