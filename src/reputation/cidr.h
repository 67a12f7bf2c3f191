/*
 * cidr.h - IPv4 and IPv6 prefixes (CIDR, RFC 4632 / RFC 4291 2.3) and sets of them.
 *
 * A struct cidr is one prefix in network byte order. Text forms are
 * "192.0.2.1" (/32), "192.0.2.0/24", "2001:db8::/64", "2001:db8::1" (/128).
 * IPv4-mapped IPv6 (::ffff:a.b.c.d, RFC 4291 2.5.5.2) is taken as the IPv4
 * address, and a mapped prefix of /96 or longer as the IPv4 prefix 96 bits
 * shorter: a client that arrives on a dual-stack socket matches IPv4 entries.
 * Host bits set beyond the prefix ("192.0.2.1/24") are an error, never
 * normalised: such an entry is usually a typo for a /32 or the wrong prefix,
 * and widening it silently could block a whole network.
 *
 * A struct cidr_set maps prefixes to a tag (the caller's action and datum)
 * and an owned reason string; a lookup finds the most specific prefix
 * containing an address. Entries live in one hash table keyed by (family,
 * prefix length, masked address), and the set keeps the prefix lengths
 * present, so a lookup is one probe per distinct length present (at most 33
 * for IPv4, 129 for IPv6), whatever the number of entries.
 * Not here: what the tags mean (reputation/, policy/), persistence (store/).
 * Loop thread only, like everything that holds a set.
 */
#ifndef MX_REPUTATION_CIDR_H
#define MX_REPUTATION_CIDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest text of a prefix: an IPv6 address (45 with an embedded IPv4) + "/128". */
#define CIDR_TEXT_MAX (INET6_ADDRSTRLEN + 4)

struct cidr {
	int family;             /* AF_INET or AF_INET6 */
	unsigned prefix;        /* 0..32 or 0..128 */
	unsigned char addr[16]; /* network order; IPv4 in the first 4, host bits and the rest 0 */
};

/* Parses s[0..len) (no NUL needed): an address or address/prefix. 0, or -1
 * for anything else (syntax, prefix out of range, host bits set). */
int cidr_parse(const char *s, size_t len, struct cidr *out);
/* Canonical text, inet_ntop form and "/N" always: "192.0.2.0/24", "192.0.2.1/32",
 * "2001:db8::/64". 0, or -1 when out is too small (CIDR_TEXT_MAX always fits). */
int cidr_format(const struct cidr *c, char *out, size_t outlen);
/* The /32 or /128 of an address (IPv4-mapped IPv6 taken as IPv4). */
void cidr_from_in4(const struct in_addr *a, struct cidr *out);
void cidr_from_in6(const struct in6_addr *a, struct cidr *out);
/* Whether the host prefix h (an address) lies inside net. */
bool cidr_contains(const struct cidr *net, const struct cidr *h);
bool cidr_equal(const struct cidr *a, const struct cidr *b);

/* inet_ntop form of an address; IPv4-mapped IPv6 becomes IPv4. 0, or -1 if ip
 * is not an address or out is too small (INET6_ADDRSTRLEN always fits). */
int ip_normalize(const char *ip, char *out, size_t outlen);
/* The range an address belongs to for reputation: its IPv4 /24 or IPv6 /64,
 * as cidr_format() text ("192.0.2.0/24", "2001:db8::/64"). 0 or -1 as above. */
int ip_range_key(const char *ip, char *out, size_t outlen);

/* What an entry means to its owner: an action from the owner's enum and a
 * borrowed pointer (the owner keeps it alive as long as the set). */
struct cidr_tag {
	int action;
	const void *data;
};

struct cidr_entry {
	struct cidr net;
	struct cidr_tag tag;
	char *reason; /* owned by the set; "" when none was given */
};

struct cidr_set;

/* An empty set; NULL when out of memory. */
struct cidr_set *cidr_set_new(void);
void cidr_set_free(struct cidr_set *s);
size_t cidr_set_count(const struct cidr_set *s);

/* Adds net with tag and a copy of reason (NULL: ""). Returns 1 when added,
 * 0 when net was present (its tag and reason are replaced), -1 when out of
 * memory (the set is unchanged). */
int cidr_set_add(struct cidr_set *s, const struct cidr *net, struct cidr_tag tag,
		 const char *reason);
/* Removes the entry of exactly this prefix: 1 removed, 0 not present. */
int cidr_set_remove(struct cidr_set *s, const struct cidr *net);
/* The entry of exactly this prefix, or NULL. */
const struct cidr_entry *cidr_set_get(const struct cidr_set *s, const struct cidr *net);

/*
 * The most specific entry containing the address, or NULL. Returned entries
 * are valid until the next add or remove. The text form takes what
 * ip_normalize() takes (and returns NULL for anything else).
 */
const struct cidr_entry *cidr_set_lookup(const struct cidr_set *s, const char *ip);
const struct cidr_entry *cidr_set_lookup4(const struct cidr_set *s, const struct in_addr *a);
const struct cidr_entry *cidr_set_lookup6(const struct cidr_set *s, const struct in6_addr *a);
/* Same for a host prefix (a /32 or /128 from cidr_from_in4/6 or cidr_parse). */
const struct cidr_entry *cidr_set_lookup_cidr(const struct cidr_set *s, const struct cidr *h);

/*
 * Iterates: start with *cursor = 0; returns NULL at the end. The order is
 * unspecified (callers that show entries sort them). Adding or removing
 * during an iteration invalidates it.
 */
const struct cidr_entry *cidr_set_next(const struct cidr_set *s, size_t *cursor);

/*
 * Adds every item of a config list (comma and/or white space separated, as
 * config_list_next() reads it), each with tag and reason. All or nothing: on
 * the first bad item nothing is added and err says which item and why.
 * 0 or -1. An item already present gets the new tag and reason.
 */
int cidr_set_parse_list(struct cidr_set *s, const char *list, struct cidr_tag tag,
			const char *reason, char *err, size_t errlen);

#endif
