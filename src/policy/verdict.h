/*
 * verdict.h - the verdict engine: typed facts in, one decision out.
 *
 * The pipeline (pipeline.c) gathers facts at each SMTP stage (connect, HELO,
 * MAIL, RCPT, end of DATA) into one struct verdict_facts per session and asks
 * verdict_decide() what to do. This is the only place in mxscreen that turns
 * facts into a decision: continue, Inbox, Junk, refuse (5xx), defer (4xx) or
 * limit (421 and close), with the reason code (policy/reasons.h) and the
 * symbols (policy/symbols.h) that explain it. The engine is a pure function
 * of the facts and the settings: no I/O, no clock, no state.
 * Not here: gathering facts, replying, delivering, counting.
 */
#ifndef MX_POLICY_VERDICT_H
#define MX_POLICY_VERDICT_H

#include "auth/dkim.h"
#include "auth/dmarc.h"
#include "auth/spf.h"
#include "core/buf.h"
#include "core/limits.h"
#include "policy/reasons.h"
#include "policy/symbols.h"

#include <stdbool.h>
#include <stddef.h>

struct config;
struct content_result;

enum verdict_stage { STAGE_CONNECT, STAGE_HELO, STAGE_MAIL, STAGE_RCPT, STAGE_DATA };

enum verdict_action {
	VERDICT_CONTINUE, /* not the last stage: go on */
	VERDICT_INBOX,
	VERDICT_JUNK,
	VERDICT_REJECT,   /* 5xx */
	VERDICT_TEMPFAIL, /* 4xx, the session goes on */
	VERDICT_LIMIT,    /* 421 and close: over a sending limit */
};

/* Reputation states, best first (reputation/rep.c computes them). */
enum rep_state { REP_NEUTRAL = 0, REP_GOOD, REP_SUSPECT, REP_BAD, REP_BLOCKED };
enum list_action { LIST_NONE = 0, LIST_ALLOW, LIST_BLOCK };

#define VERDICT_DNS_HITS_MAX 16

struct verdict_dnsl_hit {
	char symbol[200]; /* DNSBL_<ZONE>_<CODE> / DNSWL_... (as reputation/dnsbl.h makes it) */
	double weight;
	bool allow; /* DNSWL */
};

struct verdict_limit {
	bool over;             /* a bucket is empty (or the sender must still wait) */
	bool net;              /* the range's bucket, not the IP's own */
	bool hammering;        /* came back before retry_after */
	unsigned retry_after;  /* seconds */
	unsigned rate_per_hour;
	char scope_key[256];   /* "192.0.2.7" or "192.0.2.0/24" */
	bool escalate;         /* rate_limit_escalate reached: 5xx */
};

struct verdict_facts {
	/* connection */
	const char *client_ip;
	const char *client_net;   /* /24 or /64 key */
	const char *client_rdns;  /* forward-confirmed name; NULL unknown */
	bool fcrdns_done;         /* the lookup finished (NULL name then means none) */
	enum list_action ip_list; /* most specific allow/block entry */
	char ip_list_entry[80];   /* "operator 192.0.2.0/24" or "config ..." */
	char ip_list_reason[200];
	bool pregreet, early_pipelining;
	struct verdict_dnsl_hit dnsl[VERDICT_DNS_HITS_MAX];
	size_t ndnsl;
	bool dnsbl_refused;       /* a list answered 127.255.255.x */
	enum rep_state rep_ip, rep_net, rep_domain;
	int rep_ip_score, rep_net_score, rep_domain_score;
	struct verdict_limit limit;
	const char *helo;
	bool tls;
	/* MAIL FROM */
	const char *mail_from;    /* "" for the null sender */
	bool spf_checked;
	enum spf_result spf;
	const char *spf_domain, *spf_sender, *spf_explanation, *spf_problem;
	bool domain_certified;    /* the MAIL FROM or DKIM domain is certified and aligned */
	bool domain_allowed;      /* the same for allow_domains */
	const char *certified_domain;
	/* RCPT */
	size_t nrcpts, ntraps;    /* accepted recipients, of which spam traps */
	/* end of DATA */
	bool long_line;
	bool senderid_checked;
	enum spf_result senderid;
	bool dkim_checked;        /* DKIM/ARC/DMARC below are valid */
	enum dkim_result dkim;    /* best over the signatures */
	const char *dkim_domain;  /* d= of a passing signature, or NULL */
	enum arc_cv arc;
	const char *arc_sealer;
	enum dmarc_result dmarc;
	const char *dmarc_from;
	enum dmarc_policy dmarc_disposition; /* on fail, after pct */
	const struct content_result *content; /* NULL: not classified */
};

struct verdict {
	enum verdict_action action;
	enum reason reason;
	int code;                /* refusals: the SMTP reply code */
	const char *enh;         /* and its enhanced status code */
	char detail[700];        /* refusals: what exactly, for the reply; may be empty */
	struct symbols sym;
	double score;            /* sum of the enforcing symbols */
	bool dry_run_refusal;    /* a dry-run check would have refused: `dry_run_reason` */
	enum reason dry_run_reason;
	/* A failed DMARC policy not applied by local policy: RFC 7489 PolicyOverrideType
	 * ("trusted_forwarder", "local_policy") and a comment; NULL when none. */
	const char *dmarc_override;
	char dmarc_override_comment[SMTP_DOMAIN_MAX + 32];
};

void verdict_decide(const struct config *cfg, enum verdict_stage stage,
		    const struct verdict_facts *facts, struct verdict *v);
/* The headers that explain an Inbox/Junk verdict: X-Mxscreen-Verdict, X-Mxscreen-Symbols,
 * X-Mxscreen-SCL and X-Mxscreen-Reasons. 0, or -1 on ENOMEM. */
int verdict_headers(const struct verdict *v, const struct verdict_facts *facts, struct buf *h);
const char *verdict_action_name(enum verdict_action a);
const char *verdict_stage_name(enum verdict_stage s);
const char *rep_state_name(enum rep_state s);

#endif
