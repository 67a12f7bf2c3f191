/*
 * dns.h - asynchronous stub resolver: c-ares driven by the libevent loop, with a cache.
 *
 * c-ares sockets become libevent events (ARES_OPT_SOCK_STATE_CB) and one timer
 * follows ares_timeout(), so no lookup ever blocks the loop. Answers are
 * parsed here from the raw message (RFC 1035 4.1) so that TXT character-strings,
 * TTLs and the SOA of negative answers (RFC 2308 5) are all available. The cache
 * keeps positive and negative answers for their TTL (bounded by dns_cache_max_ttl),
 * at most dns_cache_size entries (least recently used out first). Temporary
 * failures (timeout, SERVFAIL, refused, network errors) are never cached.
 * Only the types mxscreen needs: A, AAAA, MX, PTR, TXT. Not here: DNSSEC, search
 * lists (every name is absolute), EDNS tuning.
 */
#ifndef MX_NET_DNS_H
#define MX_NET_DNS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct config;
struct dns;
struct dns_query;

enum dns_type { DNS_A = 1, DNS_PTR = 12, DNS_MX = 15, DNS_TXT = 16, DNS_AAAA = 28 };

enum dns_status {
	DNS_OK,       /* at least one record of the type */
	DNS_NODATA,   /* the name exists, no record of the type */
	DNS_NXDOMAIN, /* RCODE 3: no such name */
	DNS_TEMPFAIL, /* timeout, SERVFAIL, refused, network: try again later */
};

struct dns_rr {
	union {
		struct in_addr a;
		struct in6_addr aaaa;
	} addr;
	uint16_t pref;    /* MX */
	const char *name; /* MX exchange, PTR target: lower-case, no trailing dot */
	const char *txt;  /* TXT: the character-strings concatenated, NUL-terminated */
	size_t txt_len;
	uint16_t nstrings; /* TXT: number of character-strings */
};

/* Immutable and reference counted: keep one with dns_answer_ref(). */
struct dns_answer {
	int refs;
	enum dns_status status;
	int type;
	uint32_t ttl;
	size_t n;
	struct dns_rr *rr;
};

struct dns_options {
	const char *servers; /* "host:port,host:port"; NULL or "": /etc/resolv.conf */
	unsigned timeout_ms; /* first try; c-ares doubles it per round */
	unsigned tries;
	size_t cache_size;   /* entries; 0 disables the cache */
	uint32_t cache_max_ttl;
	uint32_t negative_ttl; /* NXDOMAIN/NODATA without an SOA */
};

/* Fills options from the settings (dns_servers, dns_timeout_ms, ...). */
void dns_options_from_config(struct dns_options *o, const struct config *cfg);

struct dns *dns_new(struct event_base *base, const struct dns_options *o, char *err,
		    size_t errlen);
/* Cancels every query (their callbacks are not called) and frees. */
/* Resolvers are reference counted (loop thread only): each settings generation
 * holds one, so a reload that changes dns_* settings gets a new resolver while
 * sessions of the old generation finish on theirs. dns_free drops a reference;
 * the last one cancels what is in flight and frees. */
struct dns *dns_ref(struct dns *d);
void dns_free(struct dns *d);
/* The options a resolver was made with (servers copied), and whether two
 * option sets make the same resolver. */
const struct dns_options *dns_options(const struct dns *d);
bool dns_options_equal(const struct dns_options *a, const struct dns_options *b);

typedef void (*dns_callback)(void *arg, const struct dns_answer *ans);

/*
 * Returns the cached answer for (name, type), or NULL. The pointer is valid
 * until control returns to the loop; take a reference to keep it.
 */
const struct dns_answer *dns_cached(struct dns *d, const char *name, int type);
/*
 * Starts a lookup. cb runs later from the loop (never from inside this call),
 * exactly once unless the query is cancelled. The answer is valid during the
 * callback. Returns NULL only when out of memory.
 */
struct dns_query *dns_lookup(struct dns *d, const char *name, int type, dns_callback cb,
			     void *arg);
void dns_cancel(struct dns_query *q);

struct dns_answer *dns_answer_ref(const struct dns_answer *a);
void dns_answer_unref(const struct dns_answer *a);
/* An answer that carries only a status (no records); owned by the caller. */
struct dns_answer *dns_answer_status(enum dns_status st, int type);

struct event_base *dns_event_base(struct dns *d);
/* Lookups not answered yet. */
size_t dns_pending(const struct dns *d);
unsigned long long dns_cache_hits(const struct dns *d);
unsigned long long dns_queries_sent(const struct dns *d);
/* Drops every cached answer. */
void dns_cache_clear(struct dns *d);

/* "4.3.2.1.in-addr.arpa" / nibble ".ip6.arpa" name of an address; -1 if not an IP. */
int dns_reverse_name(const char *ip, char *out, size_t outlen);
/* Parses one DNS response message (exposed for the fuzz target). */
struct dns_answer *dns_parse_response(const unsigned char *msg, size_t len, int type);
const char *dns_status_name(enum dns_status st);
const char *dns_type_name(int type);

#endif
