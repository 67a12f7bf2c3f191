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
 * Recorded today: DMARC aggregate data (RFC 7489 7.2, Appendix C): per UTC day,
 * per policy domain, the evaluated rows with counts and the published policy.
 * Not here: turning DMARC results into rows (store/dmarc_agg.c), reports.
 */
#ifndef MX_STORE_STORE_H
#define MX_STORE_STORE_H

#include "core/arena.h"
#include "core/limits.h"

#include <stdbool.h>
#include <stddef.h>

struct config;

enum store_record_kind { STORE_DMARC };

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

struct store_record {
	enum store_record_kind kind;
	struct arena a; /* owns every string of the record */
	union {
		struct store_dmarc dmarc;
	} u;
};

struct store_record *store_record_new(enum store_record_kind kind);
void store_record_free(struct store_record *r);

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

/* Parses a day "YYYY-MM-DD" (a real Gregorian date, year 1970..9999) into out
 * (11 octets). 0, or -1 when it is not one. */
int store_day_parse(const char *s, size_t len, char out[11]);

#endif
