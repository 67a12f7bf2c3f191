/*
 * rep.h - sender reputation and sending limits, in memory, for the SMTP loop.
 *
 * One entry per IP, range (/24 for IPv4, /64 for IPv6) and sender domain, in
 * hash tables: exponentially decaying sums of what the entity did here (Inbox
 * deliveries, junk, refusals, unknown recipients, trap hits, complaints,
 * hammering), the score and state computed from them (docs/reputation.md),
 * and a token bucket for IPs and ranges refilled at a rate derived from the
 * state. Operator and config allow/block lists are checked here too.
 * The loop never waits: per-day statistics and snapshots are accumulated
 * here and handed to the store writer in batches (a timer, every
 * store_flush_ms); the state is loaded from the store at start, so a restart
 * resets nobody. Loop thread only.
 * Not here: decisions (policy/verdict.c), DNS lists (reputation/dnsbl.c).
 */
#ifndef MX_REPUTATION_REP_H
#define MX_REPUTATION_REP_H

#include "policy/verdict.h"
#include "store/store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct config;
struct event_base;
struct store;
struct store_writer;
struct reputation;

/* Loads the state from st (may be NULL: start empty). NULL with err set. */
struct reputation *rep_new(const struct config *cfg, struct store *st, char *err,
			   size_t errlen);
/* Starts the flush timer; records go to w (may be NULL: kept in memory only). */
void rep_attach(struct reputation *r, struct event_base *base, struct store_writer *w,
		const char *store_path);
/* New settings (reload): rates, lists, half-life. -1 with err when a list does not parse. */
int rep_reconfigure(struct reputation *r, const struct config *cfg, char *err, size_t errlen);
/* Queues everything pending (snapshots and statistics) to the writer. */
void rep_flush(struct reputation *r);
void rep_free(struct reputation *r);

/* The clock of reputation and statistics: time(NULL) + clock_offset. */
long long rep_now(const struct reputation *r);

/* Connect: lists, states, limit (a sender still told to wait); counts the connection. */
void rep_connect(struct reputation *r, const char *ip, struct verdict_facts *f);
/* MAIL FROM: the sender domain's state, domain allow/certified lists. */
void rep_mail(struct reputation *r, const char *domain, struct verdict_facts *f);
/* A recipient about to be accepted: charges the buckets; fills f->limit. */
void rep_rcpt(struct reputation *r, struct verdict_facts *f);
/* True when addr (local@domain) is a spam trap (trap_addresses). */
bool rep_is_trap(const struct reputation *r, const char *addr);
/* True when domain is on certified_domains (certified) or allow_domains. */
bool rep_domain_listed(const struct reputation *r, const char *domain, bool certified);

/* Counts an event of the session's IP, range and (when not NULL) domain. */
void rep_count(struct reputation *r, const char *ip, const char *domain, enum stat_counter c,
	       unsigned long long n);
/* A refusal or a verdict of the session's entities, with its reason code. */
void rep_outcome(struct reputation *r, const char *ip, const char *domain,
		 enum verdict_action a, const char *reason_code, size_t nrcpts);
/* Sample HELO and MAIL FROM of the IP for the statistics. */
void rep_sample(struct reputation *r, const char *ip, const char *helo, const char *mail_from);

/* Operator commands (control socket): "show", "allow", "block", "unblock", "list". */
json_t *rep_control(struct reputation *r, const char *const *args, size_t nargs, char *err,
		    size_t errlen);

#endif
