/*
 * dmarc_agg.h - DMARC aggregate rows (RFC 7489 7.2, Appendix C) from the
 * results of one message, as store records.
 *
 * One record per author domain of the From field whose DMARC evaluation found
 * a policy record (several author domains: one row each, every row with the
 * disposition the message actually got). Domains without a record, and
 * messages without a usable From, are not recorded: there is no one to report to.
 * The caller decides when: after the final reply (250 delivered, or a 5xx
 * refusal), never for a 4xx the sender will retry.
 */
#ifndef MX_STORE_DMARC_AGG_H
#define MX_STORE_DMARC_AGG_H

#include "store/store.h"

#include <time.h>

struct auth_check;

struct dmarc_agg_facts {
	const struct auth_check *auth; /* finished */
	const char *source_ip;
	const char *mail_from;        /* "" for the null sender */
	const char *override;         /* PolicyOverrideType applied by local policy, or NULL */
	const char *override_comment; /* or NULL */
	time_t now;
};

/* Fills out (up to max) with new records; returns how many. Out of memory: fewer. */
size_t dmarc_agg_records(const struct dmarc_agg_facts *f, struct store_record **out, size_t max);

#endif
