/*
 * cidr.c - IPv4/IPv6 prefixes and prefix sets with most-specific lookup; see cidr.h.
 *
 * The set is a dense array of entries (iteration, removal by moving the last
 * entry into the hole) plus an open-addressing hash table of indexes into it
 * (linear probing, backward-shift deletion, so no tombstones). The hash is
 * XXH64 with a per-set random seed: the addresses looked up come from the
 * network, and the entries may come from automatic listings.
 */
#include "reputation/cidr.h"
#include "core/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <xxhash.h>

#define V4_BITS 32
#define V6_BITS 128

/* A hash slot: the entry index + 1 (0: empty) and the high bits of the key's
 * hash, so that a probe rarely touches an entry that is not the one. */
struct slot {
	uint32_t idx;
	uint32_t fp;
};

struct cidr_set {
	struct cidr_entry *e;
	size_t n, cap;
	struct slot *slot;
	size_t nslots;  /* a power of two, or 0 */
	uint64_t seed;
	/* entries per prefix length, and the lengths present, longest first */
	uint32_t count4[V4_BITS + 1], count6[V6_BITS + 1];
	uint8_t lens4[V4_BITS + 1], lens6[V6_BITS + 1];
	size_t nlens4, nlens6;
};

static const unsigned char mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static unsigned family_bits(int family)
{
	return family == AF_INET ? V4_BITS : V6_BITS;
}

/* Clears every bit of addr beyond the first prefix bits. */
static void mask_addr(unsigned char addr[16], unsigned prefix)
{
	unsigned byte = prefix / 8, rem = prefix % 8;
	if (rem) {
		addr[byte] &= (unsigned char)(0xff << (8 - rem));
		byte++;
	}
	if (byte < 16)
		memset(addr + byte, 0, 16 - byte);
}

static bool host_bits_clear(const struct cidr *c)
{
	unsigned char m[16];
	memcpy(m, c->addr, 16);
	mask_addr(m, c->prefix);
	return memcmp(m, c->addr, 16) == 0;
}

/* Fills out from a 16-byte IPv6 address, taking IPv4-mapped as IPv4 /32. */
static void from_v6_bytes(const unsigned char b[16], struct cidr *out)
{
	memset(out, 0, sizeof(*out));
	if (memcmp(b, mapped_prefix, 12) == 0) {
		out->family = AF_INET;
		out->prefix = V4_BITS;
		memcpy(out->addr, b + 12, 4);
	} else {
		out->family = AF_INET6;
		out->prefix = V6_BITS;
		memcpy(out->addr, b, 16);
	}
}

void cidr_from_in4(const struct in_addr *a, struct cidr *out)
{
	memset(out, 0, sizeof(*out));
	out->family = AF_INET;
	out->prefix = V4_BITS;
	memcpy(out->addr, &a->s_addr, 4);
}

void cidr_from_in6(const struct in6_addr *a, struct cidr *out)
{
	from_v6_bytes(a->s6_addr, out);
}

/* A bare address, NUL-terminated; 0 or -1. */
static int parse_addr(const char *s, struct cidr *out)
{
	unsigned char b[16];
	if (strchr(s, ':')) {
		if (inet_pton(AF_INET6, s, b) != 1)
			return -1;
		from_v6_bytes(b, out);
		return 0;
	}
	if (inet_pton(AF_INET, s, b) != 1)
		return -1;
	cidr_from_in4((const struct in_addr *)(const void *)b, out);
	return 0;
}

/* cidr_parse(), with host bits either refused (strict) or cleared. */
static int parse_prefix(const char *s, size_t len, struct cidr *out, bool strict)
{
	char text[CIDR_TEXT_MAX + 1];
	if (len == 0 || len >= sizeof(text) || memchr(s, '\0', len))
		return -1;
	memcpy(text, s, len);
	text[len] = '\0';
	char *slash = strchr(text, '/');
	long prefix = -1;
	if (slash) {
		*slash = '\0';
		const char *p = slash + 1;
		size_t nd = strlen(p);
		if (nd == 0 || nd > 3 || (p[0] == '0' && nd > 1))
			return -1;
		prefix = 0;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				return -1;
			prefix = prefix * 10 + (*p - '0');
		}
	}
	/* "::ffff:a.b.c.d/N" is parsed as IPv6 first, then mapped down. */
	unsigned char b[16];
	struct cidr c;
	memset(&c, 0, sizeof(c));
	if (strchr(text, ':')) {
		if (inet_pton(AF_INET6, text, b) != 1)
			return -1;
		if (prefix > V6_BITS)
			return -1;
		if (memcmp(b, mapped_prefix, 12) == 0 && (prefix < 0 || prefix >= 96)) {
			c.family = AF_INET;
			c.prefix = prefix < 0 ? V4_BITS : (unsigned)prefix - 96;
			memcpy(c.addr, b + 12, 4);
		} else {
			c.family = AF_INET6;
			c.prefix = prefix < 0 ? V6_BITS : (unsigned)prefix;
			memcpy(c.addr, b, 16);
		}
	} else {
		if (inet_pton(AF_INET, text, b) != 1 || prefix > V4_BITS)
			return -1;
		c.family = AF_INET;
		c.prefix = prefix < 0 ? V4_BITS : (unsigned)prefix;
		memcpy(c.addr, b, 4);
	}
	if (!host_bits_clear(&c)) {
		if (strict)
			return -1;
		mask_addr(c.addr, c.prefix);
	}
	*out = c;
	return 0;
}

int cidr_parse(const char *s, size_t len, struct cidr *out)
{
	return parse_prefix(s, len, out, true);
}

int cidr_format(const struct cidr *c, char *out, size_t outlen)
{
	char a[INET6_ADDRSTRLEN];
	if (!inet_ntop(c->family, c->addr, a, sizeof(a)))
		return -1;
	int n = snprintf(out, outlen, "%s/%u", a, c->prefix);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

bool cidr_equal(const struct cidr *a, const struct cidr *b)
{
	return a->family == b->family && a->prefix == b->prefix &&
	       memcmp(a->addr, b->addr, 16) == 0;
}

bool cidr_contains(const struct cidr *net, const struct cidr *h)
{
	if (net->family != h->family || net->prefix > h->prefix)
		return false;
	unsigned char m[16];
	memcpy(m, h->addr, 16);
	mask_addr(m, net->prefix);
	return memcmp(m, net->addr, 16) == 0;
}

int ip_normalize(const char *ip, char *out, size_t outlen)
{
	struct cidr c;
	if (parse_addr(ip, &c) < 0)
		return -1;
	return inet_ntop(c.family, c.addr, out, (socklen_t)(outlen > 1024 ? 1024 : outlen)) ? 0
											  : -1;
}

int ip_range_key(const char *ip, char *out, size_t outlen)
{
	struct cidr c;
	if (parse_addr(ip, &c) < 0)
		return -1;
	c.prefix = c.family == AF_INET ? 24 : 64;
	mask_addr(c.addr, c.prefix);
	return cidr_format(&c, out, outlen);
}

/* ---- the set ---- */

struct cidr_set *cidr_set_new(void)
{
	struct cidr_set *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	if (getrandom(&s->seed, sizeof(s->seed), GRND_NONBLOCK) != (ssize_t)sizeof(s->seed))
		s->seed = (uint64_t)(uintptr_t)s ^ 0x9e3779b97f4a7c15ull;
	return s;
}

void cidr_set_free(struct cidr_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->e[i].reason);
	free(s->e);
	free(s->slot);
	free(s);
}

size_t cidr_set_count(const struct cidr_set *s)
{
	return s->n;
}

static uint64_t hash_key(const struct cidr_set *s, const struct cidr *c)
{
	unsigned char k[18];
	k[0] = c->family == AF_INET ? 4 : 6;
	k[1] = (unsigned char)c->prefix;
	memcpy(k + 2, c->addr, 16);
	return XXH64(k, sizeof(k), s->seed);
}

/* The slot holding net, or the empty slot where it would go. nslots > 0. */
static size_t find_slot(const struct cidr_set *s, const struct cidr *net)
{
	uint64_t h = hash_key(s, net);
	size_t mask = s->nslots - 1, i = (size_t)h & mask;
	uint32_t fp = (uint32_t)(h >> 32);
	while (s->slot[i].idx &&
	       (s->slot[i].fp != fp || !cidr_equal(&s->e[s->slot[i].idx - 1].net, net)))
		i = (i + 1) & mask;
	return i;
}

static void set_slot(struct cidr_set *s, size_t i, size_t idx)
{
	s->slot[i].idx = (uint32_t)(idx + 1);
	s->slot[i].fp = (uint32_t)(hash_key(s, &s->e[idx].net) >> 32);
}

static int rehash(struct cidr_set *s, size_t nslots)
{
	struct slot *slot = calloc(nslots, sizeof(*slot));
	if (!slot)
		return -1;
	free(s->slot);
	s->slot = slot;
	s->nslots = nslots;
	for (size_t i = 0; i < s->n; i++)
		set_slot(s, find_slot(s, &s->e[i].net), i);
	return 0;
}

/* Rebuilds the list of prefix lengths present, longest first. */
static void update_lens(struct cidr_set *s, int family)
{
	if (family == AF_INET) {
		s->nlens4 = 0;
		for (int l = V4_BITS; l >= 0; l--)
			if (s->count4[l])
				s->lens4[s->nlens4++] = (uint8_t)l;
	} else {
		s->nlens6 = 0;
		for (int l = V6_BITS; l >= 0; l--)
			if (s->count6[l])
				s->lens6[s->nlens6++] = (uint8_t)l;
	}
}

static void count_len(struct cidr_set *s, const struct cidr *net, int delta)
{
	uint32_t *cnt = net->family == AF_INET ? &s->count4[net->prefix] : &s->count6[net->prefix];
	bool was = *cnt != 0;
	*cnt = (uint32_t)((int64_t)*cnt + delta);
	if (was != (*cnt != 0))
		update_lens(s, net->family);
}

static bool valid_net(const struct cidr *net)
{
	return (net->family == AF_INET || net->family == AF_INET6) &&
	       net->prefix <= family_bits(net->family) && host_bits_clear(net);
}

int cidr_set_add(struct cidr_set *s, const struct cidr *net, struct cidr_tag tag,
		 const char *reason)
{
	if (!valid_net(net)) {
		errno = EINVAL;
		return -1;
	}
	char *r = strdup(reason ? reason : "");
	if (!r)
		return -1;
	if (s->nslots) {
		size_t i = find_slot(s, net);
		if (s->slot[i].idx) {
			struct cidr_entry *e = &s->e[s->slot[i].idx - 1];
			free(e->reason);
			e->reason = r;
			e->tag = tag;
			return 0;
		}
	}
	if (s->n >= UINT32_MAX - 1)
		goto nomem;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct cidr_entry *e = realloc(s->e, cap * sizeof(*e));
		if (!e)
			goto nomem;
		s->e = e;
		s->cap = cap;
	}
	/* Load factor at most 1/2 keeps probe sequences short. */
	if ((s->n + 1) * 2 > s->nslots && rehash(s, s->nslots ? s->nslots * 2 : 32) < 0)
		goto nomem;
	struct cidr_entry *e = &s->e[s->n];
	e->net = *net;
	e->tag = tag;
	e->reason = r;
	set_slot(s, find_slot(s, net), s->n++);
	count_len(s, net, +1);
	return 1;
nomem:
	free(r);
	errno = ENOMEM;
	return -1;
}

/* Empties slot i and moves later members of its probe run back (no tombstones). */
static void delete_slot(struct cidr_set *s, size_t i)
{
	size_t mask = s->nslots - 1, j = i;
	s->slot[i].idx = 0;
	for (;;) {
		j = (j + 1) & mask;
		if (!s->slot[j].idx)
			return;
		size_t home = (size_t)hash_key(s, &s->e[s->slot[j].idx - 1].net) & mask;
		/* Move j to i when its home is not in the cyclic range (i, j]. */
		bool in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!in_range) {
			s->slot[i] = s->slot[j];
			s->slot[j].idx = 0;
			i = j;
		}
	}
}

int cidr_set_remove(struct cidr_set *s, const struct cidr *net)
{
	if (!s->nslots || !valid_net(net))
		return 0;
	size_t i = find_slot(s, net);
	if (!s->slot[i].idx)
		return 0;
	size_t idx = s->slot[i].idx - 1;
	delete_slot(s, i);
	count_len(s, net, -1);
	free(s->e[idx].reason);
	size_t last = s->n - 1;
	if (idx != last) {
		s->e[idx] = s->e[last];
		set_slot(s, find_slot(s, &s->e[idx].net), idx);
	}
	s->n--;
	return 1;
}

const struct cidr_entry *cidr_set_get(const struct cidr_set *s, const struct cidr *net)
{
	if (!s->nslots || !valid_net(net))
		return NULL;
	size_t i = find_slot(s, net);
	return s->slot[i].idx ? &s->e[s->slot[i].idx - 1] : NULL;
}

const struct cidr_entry *cidr_set_lookup_cidr(const struct cidr_set *s, const struct cidr *h)
{
	if (!s->n)
		return NULL;
	const uint8_t *lens = h->family == AF_INET ? s->lens4 : s->lens6;
	size_t nlens = h->family == AF_INET ? s->nlens4 : s->nlens6;
	struct cidr k = *h;
	for (size_t i = 0; i < nlens; i++) {
		if (lens[i] > h->prefix)
			continue;
		k.prefix = lens[i];
		mask_addr(k.addr, k.prefix); /* lengths only shrink: masking accumulates */
		size_t slot = find_slot(s, &k);
		if (s->slot[slot].idx)
			return &s->e[s->slot[slot].idx - 1];
	}
	return NULL;
}

const struct cidr_entry *cidr_set_lookup4(const struct cidr_set *s, const struct in_addr *a)
{
	struct cidr h;
	cidr_from_in4(a, &h);
	return cidr_set_lookup_cidr(s, &h);
}

const struct cidr_entry *cidr_set_lookup6(const struct cidr_set *s, const struct in6_addr *a)
{
	struct cidr h;
	cidr_from_in6(a, &h);
	return cidr_set_lookup_cidr(s, &h);
}

const struct cidr_entry *cidr_set_lookup(const struct cidr_set *s, const char *ip)
{
	struct cidr h;
	if (parse_addr(ip, &h) < 0)
		return NULL;
	return cidr_set_lookup_cidr(s, &h);
}

const struct cidr_entry *cidr_set_next(const struct cidr_set *s, size_t *cursor)
{
	return *cursor < s->n ? &s->e[(*cursor)++] : NULL;
}

/* Why item is not a prefix, into err. */
static void explain(const char *item, size_t n, char *err, size_t errlen)
{
	struct cidr c;
	char hint[CIDR_TEXT_MAX];
	if (parse_prefix(item, n, &c, false) == 0 && cidr_format(&c, hint, sizeof(hint)) == 0)
		snprintf(err, errlen, "'%.*s': host bits set beyond /%u (did you mean %s?)", (int)n,
			 item, c.prefix, hint);
	else
		snprintf(err, errlen, "'%.*s': not an IPv4 or IPv6 address or prefix",
			 (int)(n > 64 ? 64 : n), item);
}

int cidr_set_parse_list(struct cidr_set *s, const char *list, struct cidr_tag tag,
			const char *reason, char *err, size_t errlen)
{
	const char *cur = list, *item;
	size_t n;
	struct cidr c;
	while ((n = config_list_next(&cur, &item)) > 0)
		if (cidr_parse(item, n, &c) < 0) {
			explain(item, n, err, errlen);
			return -1;
		}
	/* Every item is valid; only memory can fail now. Undo what this call added. */
	size_t before = s->n;
	cur = list;
	while ((n = config_list_next(&cur, &item)) > 0) {
		cidr_parse(item, n, &c);
		if (cidr_set_add(s, &c, tag, reason) < 0) {
			while (s->n > before)
				cidr_set_remove(s, &s->e[s->n - 1].net);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	return 0;
}
