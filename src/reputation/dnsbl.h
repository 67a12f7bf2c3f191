/*
 * dnsbl.h - DNS block and allow lists (DNSBL/DNSWL, RFC 5782): weighted zones, asynchronous lookups.
 *
 * A zone list is the setting syntax of Postfix's postscreen_dnsbl_sites:
 * items `zone[=FILTER][*WEIGHT]` separated by commas or white space, where
 * FILTER is an address pattern over the answer (each octet a number or
 * [a;b;c..d]) and WEIGHT an integer 0..DNSBL_WEIGHT_MAX (default 1). A zone
 * named several times is asked once; its answer is matched against each item.
 * A check asks every zone for one client address (RFC 5782 2.1 for IPv4,
 * 2.4 nibbles for IPv6) through net/dns.c and reports, once all answers are
 * in, the hits as named symbols with weights (docs/dnsbl.md for the rules).
 * Not here: what the weights lead to (policy/verdict.c, reputation/rep.c);
 * TXT reasons of listings; dnsbl_mode (the verdict engine applies it).
 * Loop thread only.
 */
#ifndef MX_REPUTATION_DNSBL_H
#define MX_REPUTATION_DNSBL_H

#include "core/limits.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dns;
struct dns_answer;

/* One return-code pattern: for each octet, the set of values it may take. */
struct dnsbl_filter {
	uint8_t octet[4][32]; /* bitmap: bit v of octet[i] set when value v matches */
};

struct dnsbl_item {
	char *filter_text; /* as written, or NULL for "any code" */
	struct dnsbl_filter filter;
	int weight;
};

struct dnsbl_zone {
	char *name;   /* lower case, no trailing dot */
	char *symbol; /* "DNSBL_ZEN_EXAMPLE_ORG": the prefix of this zone's symbols */
	struct dnsbl_item *item;
	size_t nitems;
};

/* A parsed zone list; immutable and reference counted (checks hold one; the count is
 * atomic, so a settings generation released on another thread may hold one too). */
struct dnsbl_zones {
	int refs;
	bool allow; /* a DNSWL list: hits mean allowlisting */
	struct dnsbl_zone *zone;
	size_t n;
};

/*
 * Parses a zone list; allow selects DNSWL (symbols DNSWL_...). An empty spec
 * is a list of no zones. NULL with a one-line reason in err on a syntax
 * error (or "out of memory").
 */
struct dnsbl_zones *dnsbl_zones_parse(const char *spec, bool allow, char *err, size_t errlen);
struct dnsbl_zones *dnsbl_zones_ref(struct dnsbl_zones *z);
void dnsbl_zones_unref(struct dnsbl_zones *z);
/* Whether code (an answer address, network order) matches a filter. */
bool dnsbl_filter_match(const struct dnsbl_filter *f, struct in_addr code);

/* What one zone said about the address. */
enum dnsbl_status {
	DNSBL_PENDING,    /* not answered yet */
	DNSBL_NOT_LISTED, /* NXDOMAIN or no A record */
	DNSBL_LISTED,     /* at least one code matched an item */
	DNSBL_UNMATCHED,  /* 127.x codes, none matched an item's filter */
	DNSBL_WILDCARD,   /* only answers outside 127.0.0.0/8: a wildcarded or hijacked zone */
	DNSBL_REFUSED,    /* 127.255.255.x: the list refused to answer (limits, public resolver) */
	DNSBL_TEMPFAIL,   /* timeout, SERVFAIL, network: unknown */
};

struct dnsbl_hit {
	const char *zone; /* the zone's name (lives as long as the check's zones) */
	char code[INET_ADDRSTRLEN];
	int weight; /* sum of the weights of the zone's items whose filter matched code */
	bool allow;
	char symbol[DNSBL_SYMBOL_MAX]; /* DNSBL_<ZONE>_<last octet of code> / DNSWL_... */
};

struct dnsbl_zone_result {
	const struct dnsbl_zone *zone;
	bool allow;
	enum dnsbl_status status;
	struct in_addr *codes; /* the distinct 127.x codes answered (refusals included) */
	size_t ncodes;
};

struct dnsbl_result {
	char ip[INET6_ADDRSTRLEN]; /* normalised (IPv4-mapped as IPv4) */
	struct dnsbl_hit *hit;     /* one per (list, zone, code) that matched */
	size_t nhits;
	struct dnsbl_zone_result *zone; /* blocklist zones first, then allowlist zones */
	size_t nzones;
	int block_weight; /* sum of the weights of blocklist hits */
	int allow_weight; /* sum of the weights of allowlist hits */
	unsigned tempfail; /* zones that failed temporarily */
	unsigned refused;  /* zones that refused (127.255.255.x) */
	unsigned wildcard; /* zones that answered only outside 127.0.0.0/8 */
};

/*
 * The pure part of a check, exposed for tests: prepares r for the zones of bl
 * and wl (either may be NULL) and an address; then dnsbl_result_answer()
 * records what zone i (index into r->zone) answered. 0 or -1 (out of
 * memory, or ip not an address for prepare).
 */
int dnsbl_result_prepare(struct dnsbl_result *r, const struct dnsbl_zones *bl,
			 const struct dnsbl_zones *wl, const char *ip);
int dnsbl_result_answer(struct dnsbl_result *r, size_t i, const struct dns_answer *ans);
void dnsbl_result_free(struct dnsbl_result *r);
const char *dnsbl_status_name(enum dnsbl_status st);

/* The query name for ip under zone ("2.0.0.127.zone", IPv6 nibbles). 0 or -1. */
int dnsbl_query_name(const char *ip, const char *zone, char *out, size_t outlen);

struct dnsbl_check;
/* r is valid during the callback only; the callback may free the check. */
typedef void (*dnsbl_done_fn)(void *arg, const struct dnsbl_result *r);

/*
 * Asks every zone of bl and wl (either may be NULL) about ip and calls cb
 * once when all have answered or failed (the resolver's own timeouts bound
 * the wait). cb is never called from inside this function. The check holds
 * references to the resolver and the zone lists. NULL when out of memory or
 * when ip is not an address (errno ENOMEM / EINVAL).
 */
struct dnsbl_check *dnsbl_check_start(struct dns *dns, const struct dnsbl_zones *bl,
				      const struct dnsbl_zones *wl, const char *ip,
				      dnsbl_done_fn cb, void *arg);
/* Cancels what is in flight (cb is not called) and frees. NULL is fine. */
void dnsbl_check_free(struct dnsbl_check *c);

#endif
