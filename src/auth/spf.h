/*
 * spf.h - SPF (RFC 7208) and Sender ID (RFC 4406) evaluation, asynchronous.
 *
 * spf_start() runs check_host() (RFC 7208 4) as a resumable state machine over
 * the DNS module: it never blocks, and calls back once with the result. One
 * evaluation owns a stack of records (include/redirect), the DNS-term and
 * void-lookup counters (4.6.4) and the explanation (6.2). Sender ID uses the
 * same engine with spf2.0/pra or spf2.0/mfrom record selection and the v=spf1
 * fallback (RFC 4406 3.4). The record parser and the macro expander (7) are
 * exported for tests and fuzzing. Not here: type 99 (SPF) lookups, which RFC
 * 7208 3.1 removed; best-guess or local policies.
 */
#ifndef MX_AUTH_SPF_H
#define MX_AUTH_SPF_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>

struct dns;

enum spf_result {
	SPF_NONE,
	SPF_NEUTRAL,
	SPF_PASS,
	SPF_FAIL,
	SPF_SOFTFAIL,
	SPF_TEMPERROR,
	SPF_PERMERROR,
};

enum spf_identity { SPF_ID_MAILFROM, SPF_ID_HELO, SPF_ID_PRA };

struct spf_request {
	const char *ip;       /* client address, text (IPv4 or IPv6) */
	const char *helo;     /* HELO/EHLO argument; NULL: unknown */
	const char *sender;   /* MAIL FROM or PRA mailbox; NULL or "": check the HELO */
	const char *receiver; /* our host name, for %{r} and the headers */
	enum spf_identity identity;
	bool sender_id;       /* RFC 4406 record selection (spf2.0/<scope>, v=spf1 fallback) */
};

struct spf_eval;
typedef void (*spf_done_fn)(void *arg, struct spf_eval *e);

/*
 * Starts an evaluation; done is called once from the event loop (never from
 * inside spf_start). NULL when out of memory.
 */
struct spf_eval *spf_start(struct dns *dns, const struct spf_request *req, spf_done_fn done,
			   void *arg);
/* Cancels a running evaluation (done is not called) or frees a finished one. */
void spf_free(struct spf_eval *e);

enum spf_result spf_result(const struct spf_eval *e);
/* The identity actually checked (MAILFROM becomes HELO for the null sender). */
enum spf_identity spf_identity(const struct spf_eval *e);
/* The <domain> of check_host(): the mail domain or the HELO name. */
const char *spf_domain(const struct spf_eval *e);
/* The <sender> of check_host(): "postmaster@helo" for the HELO identity. */
const char *spf_sender(const struct spf_eval *e);
/* fail only: the domain's expanded explanation (exp=), or NULL. */
const char *spf_explanation(const struct spf_eval *e);
/* The matched mechanism, or the reason of an error; "" when none. */
const char *spf_mechanism(const struct spf_eval *e);
const char *spf_problem(const struct spf_eval *e);
/* DNS-querying terms and void lookups used (RFC 7208 4.6.4). */
unsigned spf_dns_terms(const struct spf_eval *e);

const char *spf_result_name(enum spf_result r);
const char *spf_identity_name(enum spf_identity id);

/* "Received-SPF: ..." (RFC 7208 9.1) with CRLF, folded. */
int spf_received_header(struct buf *out, const struct spf_eval *e);
/* The spf resinfo of Authentication-Results (RFC 8601 2.7.2), no CRLF:
 * "spf=pass smtp.mailfrom=example.com". */
int spf_auth_results(struct buf *out, const struct spf_eval *e);

/* ---- exported for unit tests and fuzzing ---------------------------- */

enum spf_mech {
	SPF_M_ALL,
	SPF_M_INCLUDE,
	SPF_M_A,
	SPF_M_MX,
	SPF_M_PTR,
	SPF_M_IP4,
	SPF_M_IP6,
	SPF_M_EXISTS,
};

struct spf_term {
	enum spf_mech mech;
	char qualifier;     /* + - ~ ? */
	struct slice spec;  /* domain-spec, unexpanded; len 0: none */
	int cidr4, cidr6;   /* -1: not given */
	unsigned char ip[16];
	struct slice text;  /* the whole term, for logs and headers */
};

struct spf_record {
	struct spf_term *terms;
	size_t nterms;
	struct slice redirect, exp; /* p NULL: not given */
};

/*
 * Parses the terms of a record whose version tag (v=spf1 or spf2.0/...) is
 * `skip` octets long. Returns 0, or -1 (permerror) with a reason in err.
 * On success, free rec->terms with free().
 */
int spf_parse_record(const char *txt, size_t len, size_t skip, struct spf_record *rec,
		     char *err, size_t errlen);

struct spf_macro_ctx {
	const char *sender;    /* s */
	const char *local;     /* l */
	const char *sender_domain; /* o */
	const char *domain;    /* d */
	const char *ip;        /* i, c */
	const char *helo;      /* h */
	const char *receiver;  /* r */
	const char *ptr;       /* p: NULL while the validated name is not known */
	long long now;         /* t */
};

enum { SPF_MACRO_OK = 0, SPF_MACRO_SYNTAX = -1, SPF_MACRO_NEED_PTR = 1, SPF_MACRO_NOMEM = -2 };

/*
 * Expands a macro-string (RFC 7208 7). explain: an explanation string (c, r, t
 * allowed, spaces literal). Domain names are not truncated here.
 */
int spf_macro_expand(const struct spf_macro_ctx *c, const char *s, size_t len, bool explain,
		     struct buf *out);
/* True when s is a syntactically valid domain-spec (RFC 7208 7.1 / 4.6.1). */
bool spf_domain_spec_ok(const char *s, size_t len);

#endif
