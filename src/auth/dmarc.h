/*
 * dmarc.h - DMARC (RFC 7489): policy records, discovery, alignment, disposition.
 *
 * dmarc_init() takes the author domains from the From field (RFC 7489 6.6.1:
 * a message without exactly one From field is a permerror; one From with
 * several mailboxes is evaluated for each distinct domain, and the worst
 * outcome wins). Discovery (6.6.3) goes through the DNS seam of auth/txt.h:
 * _dmarc.<author domain>, then _dmarc.<organizational domain> (libpsl) when
 * the first has no DMARC record. dmarc_finish() aligns the SPF and DKIM
 * results (relaxed: same organizational domain; strict: equal) and turns the
 * policy (p, or sp for a subdomain under its organization's record; pct
 * sampling, 6.6.4) into a disposition for the verdict engine.
 * Not here: aggregate/failure reports (rua/ruf are only kept).
 */
#ifndef MX_AUTH_DMARC_H
#define MX_AUTH_DMARC_H

#include "auth/headers.h"
#include "auth/txt.h"
#include "core/buf.h"
#include "core/limits.h"

#include <stdbool.h>

enum dmarc_result { DMARC_NONE, DMARC_PASS, DMARC_FAIL, DMARC_TEMPERROR, DMARC_PERMERROR };
enum dmarc_policy { DMARC_POLICY_NONE, DMARC_POLICY_QUARANTINE, DMARC_POLICY_REJECT };

struct dmarc_record {
	enum dmarc_policy p, sp;
	bool has_sp;
	bool adkim_strict, aspf_strict;
	unsigned pct;
	bool p_from_rua; /* p= was missing or bad but rua= valid: p=none (6.6.3 step 6) */
	char rua[512], ruf[512], fo[16];
};

enum dmarc_record_status { DMARC_RECORD_OK, DMARC_RECORD_NOT_DMARC, DMARC_RECORD_INVALID };

/* Parses one TXT record. NOT_DMARC: does not start with v=DMARC1 (discarded);
 * INVALID: a DMARC record to ignore (why says which tag). */
enum dmarc_record_status dmarc_record_parse(struct dmarc_record *r, struct slice txt,
					    const char **why);

struct dmarc_domain {
	char from[SMTP_DOMAIN_MAX + 1];
	char org[SMTP_DOMAIN_MAX + 1];
	char qname[SMTP_DOMAIN_MAX + 8];
	int state; /* 0: ask _dmarc.from, 1: ask _dmarc.org, 2: discovery over */
	bool have_record, record_at_org, tempfail;
	struct dmarc_record rec;
	enum dmarc_result result;
	const char *reason;
	bool dkim_aligned, spf_aligned;
	enum dmarc_policy policy;      /* the one that applies (p or sp) */
	enum dmarc_policy disposition; /* after pct sampling */
	bool sampled_out;
};

struct dmarc_eval {
	struct dmarc_domain dom[DMARC_FROM_DOMAINS_MAX];
	size_t n;
	enum dmarc_result result;
	const char *reason;
	size_t worst; /* index of the domain that decided the result */
};

/* What alignment is checked against. */
struct dmarc_auth {
	bool spf_pass;
	const char *spf_domain;      /* MAIL FROM domain (or HELO) SPF checked */
	const char *const *dkim_pass; /* d= of every passing DKIM signature */
	size_t ndkim_pass;
	unsigned roll; /* 0..99, uniform: pct sampling compares roll < pct */
};

void dmarc_init(struct dmarc_eval *e, const struct headers *h);
const char *dmarc_query(const struct dmarc_eval *e, size_t *cursor);
void dmarc_answer(struct dmarc_eval *e, const char *name, const struct txt_answer *a);
void dmarc_finish(struct dmarc_eval *e, const struct dmarc_auth *auth);

/* Organizational domain of domain (RFC 7489 3.2, libpsl); copies domain when it
 * is itself a public suffix or unknown. -1 when out does not fit. */
int dmarc_org_domain(const char *domain, char *out, size_t outlen);
/* Author domains of a From value, lower-case, distinct, up to max. -1 on syntax. */
int dmarc_from_domains(struct slice value, char (*out)[SMTP_DOMAIN_MAX + 1], size_t max,
		       size_t *n);

const char *dmarc_result_name(enum dmarc_result r);
const char *dmarc_policy_name(enum dmarc_policy p);

#endif
