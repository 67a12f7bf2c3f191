/*
 * verdict.h - the hand-off from the SMTP session to the verdict engine.
 *
 * After DATA, before the reply, the session gathers the facts of the
 * transaction and asks verdict_decide() what to do: deliver to the Inbox, to
 * Junk, refuse (5xx) or defer (4xx), with a reason code and header lines that
 * explain the verdict. Today the engine has no checks and always answers
 * Inbox; authentication, content and reputation modules add facts here, and
 * this is the only place that turns facts into a decision.
 */
#ifndef MX_POLICY_VERDICT_H
#define MX_POLICY_VERDICT_H

#include "core/buf.h"
#include "core/limits.h"
#include "policy/reasons.h"

#include <stdbool.h>
#include <stddef.h>

struct config;
struct content_result;

enum verdict_action { VERDICT_INBOX, VERDICT_JUNK, VERDICT_REJECT, VERDICT_TEMPFAIL };

struct verdict_facts {
	const char *client_ip;
	const char *client_rdns; /* NULL when unknown */
	const char *helo;
	const char *mail_from;   /* "" for the null sender */
	const char *const *rcpts;
	size_t nrcpts;
	bool tls;
	const char *spf;         /* SPF result at MAIL FROM ("pass", "softfail", ...); NULL: not checked */
	const char *spf_domain;  /* the domain SPF checked (MAIL FROM domain or HELO name) */
	const char *sender_id;   /* Sender ID (PRA) result after DATA; NULL: not checked */
	const char *pra;         /* the PRA mailbox; NULL when none */
	struct slice message;    /* the message as received (unstuffed, CRLF) */
	/* DKIM, ARC, DMARC (auth/auth.c) after DATA; all NULL when not checked */
	const char *dkim;        /* best DKIM result over the signatures ("none" without any) */
	const char *dkim_domain; /* d= of a passing signature, or NULL */
	const char *arc;         /* ARC chain: "none", "pass", "fail" */
	const char *arc_sealer;  /* d= of the newest ARC-Seal, or NULL */
	const char *dmarc;       /* "none", "pass", "fail", "temperror", "permerror" */
	const char *dmarc_from;  /* the author domain DMARC decided on, or NULL */
	const char *dmarc_disposition; /* fail: "none", "quarantine", "reject" after pct */
	const struct content_result *content; /* classifier output; NULL: not classified */
};

struct verdict {
	enum verdict_action action;
	enum reason reason;
	int code;                /* REJECT/TEMPFAIL: the SMTP reply code */
	const char *enh;         /* and its enhanced status code */
	char detail[200];        /* REJECT/TEMPFAIL: what exactly, for the reply; may be empty */
	struct buf headers;      /* header lines added above the message (CRLF) */
	/* A failed DMARC policy not applied by local policy: RFC 7489 PolicyOverrideType
	 * ("trusted_forwarder", "local_policy") and a comment; NULL when none. */
	const char *dmarc_override;
	char dmarc_override_comment[SMTP_DOMAIN_MAX + 32];
};

void verdict_decide(const struct config *cfg, const struct verdict_facts *facts,
		    struct verdict *v);
void verdict_free(struct verdict *v);
const char *verdict_action_name(enum verdict_action a);

#endif
