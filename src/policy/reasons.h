/*
 * reasons.h - the catalogue of reason codes carried by every refusal.
 *
 * Each refusal of mail (and each verdict) names a reason code such as
 * MXS-SMTP-004. The catalogue gives its title, what it means and how a sender
 * fixes it; the portal renders one help page per code and the SMTP reply links
 * to it (<portal_url>/help/<code>). docs/reasons.md is generated from it.
 */
#ifndef MX_POLICY_REASONS_H
#define MX_POLICY_REASONS_H

#include <stddef.h>

enum reason {
	R_NONE = 0,
	R_BARE_NEWLINE,
	R_LINE_TOO_LONG,
	R_MESSAGE_TOO_BIG,
	R_RELAY_DENIED,
	R_UNKNOWN_RECIPIENT,
	R_TOO_MANY_RECIPIENTS,
	R_TOO_MANY_CONNECTIONS,
	R_TOO_MANY_CONNECTIONS_IP,
	R_TOO_MANY_ERRORS,
	R_TIMEOUT,
	R_SESSION_LIMIT,
	R_LOCAL_ERROR,
	R_UTF8_NOT_DECLARED,
	R_SHUTDOWN,
	R_SPF_FAIL,
	R_SPF_TEMPERROR,
	R_SPF_PERMERROR,
	R_DMARC_REJECT,
	R_DMARC_QUARANTINE,
	R_CONTENT_JUNK,
	R_SCORE_JUNK,
	R_IP_BLOCKED,
	R_DNSBL,
	R_RATE_LIMIT_IP,
	R_RATE_LIMIT_NET,
	R_RATE_LIMIT_ESCALATED,
	R__COUNT
};

struct reason_info {
	const char *code;  /* MXS-SMTP-004 */
	const char *title; /* short, for replies and logs */
	const char *cause; /* what happened */
	const char *fix;   /* what the sender can do */
	int reply;         /* the reply code it is given in (0: not a refusal: a verdict such as Junk) */
	const char *enh;   /* and its enhanced status code (RFC 3463) */
};

const struct reason_info *reason_get(enum reason r);
/* Looks a code up by its name (MXS-...); NULL when unknown. */
const struct reason_info *reason_find(const char *code);
size_t reason_count(void);
const struct reason_info *reason_at(size_t i);

#endif
