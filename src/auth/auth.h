/*
 * auth.h - message authentication of one message: DKIM, ARC and DMARC
 * together, and the Authentication-Results header field (RFC 8601).
 *
 * One struct auth_check drives the three verifiers over a single DNS seam:
 * next_query hands out each TXT name once (key records and DMARC records,
 * including the organizational-domain fallback, which appears only after the
 * first DMARC answer), answer feeds one answer to every verifier waiting for
 * it, finish aligns and decides. The SPF result comes from outside (the SPF
 * module runs at MAIL FROM). The driver owns concurrency and caching: the SMTP
 * session issues the queries in parallel on the event loop, the CLI and tests
 * answer them one by one.
 */
#ifndef MX_AUTH_AUTH_H
#define MX_AUTH_AUTH_H

#include "auth/arc.h"
#include "auth/dkim.h"
#include "auth/dmarc.h"
#include "auth/headers.h"
#include "auth/txt.h"
#include "core/buf.h"

#include <stdbool.h>
#include <time.h>

struct auth_params {
	const char *authserv_id; /* our host name */
	time_t now;
	/* SPF, decided elsewhere: result name ("pass", "fail", ...) or NULL when not checked. */
	const char *spf_result;
	const char *spf_domain;  /* the domain checked: MAIL FROM domain or HELO */
	bool spf_helo;           /* the HELO identity was checked (null sender) */
	const char *senderid_resinfo; /* "sender-id=... header.from=..." or NULL */
	unsigned dmarc_roll;     /* 0..99 for pct sampling */
	const char *client_ip;   /* the SMTP client, for arc smtp.remote-ip; NULL: not known */
};

struct auth_check {
	struct auth_params p;
	struct headers h;
	bool header_ok;
	struct dkim_verifier dkim;
	struct arc_eval arc;
	struct dmarc_eval dmarc;
	char **asked;
	size_t nasked, capasked;
	bool finished;
};

/* NULL when out of memory. The message must outlive the check. */
struct auth_check *auth_check_new(struct slice message, const struct auth_params *p);
/* A TXT name not handed out before, or NULL when there is nothing (more) to ask now. */
const char *auth_check_next_query(struct auth_check *a);
void auth_check_answer(struct auth_check *a, const char *name, const struct txt_answer *ans);
/* After every handed-out name was answered (or given up on) and next_query is NULL. */
void auth_check_finish(struct auth_check *a);
/* Appends "Authentication-Results: ...\r\n", folded one result per line. */
int auth_check_results(const struct auth_check *a, struct buf *out);
void auth_check_free(struct auth_check *a);
/* True when some result is temperror (a DNS lookup failed temporarily). */
bool auth_check_temperror(const struct auth_check *a);

/* The DKIM pass domains (d=) for DMARC, into out (up to max). */
size_t auth_dkim_pass_domains(const struct auth_check *a, const char **out, size_t max);

/*
 * Copies message to out without the Authentication-Results fields that carry
 * authserv_id (RFC 8601 5: a forged result claiming to be ours). Returns the
 * number of fields removed, or -1 when out of memory.
 */
int auth_strip_own_results(struct slice message, const char *authserv_id, struct buf *out);

#endif
