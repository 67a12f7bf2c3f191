/*
 * dnsbl.c - DNSBL/DNSWL zone lists and asynchronous checks; see dnsbl.h and docs/dnsbl.md.
 *
 * After Postfix postscreen_dnsbl.c: a zone named several times is asked once
 * and its answer goes past every (filter, weight) item of that zone; the
 * caller is always called back from the loop, never from inside the call that
 * started the check, so it has one code path. Unlike postscreen, each
 * distinct code is its own hit (a symbol per code explains the verdict), and
 * answers that are no listing are told apart: 127.255.255.x (the list refused
 * us) and answers outside 127.0.0.0/8 (a wildcarded zone) never count.
 */
#include "reputation/dnsbl.h"
#include "core/config.h"
#include "core/log.h"
#include "net/dns.h"
#include "reputation/cidr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XSTR(x) #x
#define NSTR_LIMIT(x) XSTR(x)

/* ---- zone lists ---- */

static void zones_free(struct dnsbl_zones *z)
{
	for (size_t i = 0; i < z->n; i++) {
		for (size_t k = 0; k < z->zone[i].nitems; k++)
			free(z->zone[i].item[k].filter_text);
		free(z->zone[i].item);
		free(z->zone[i].name);
		free(z->zone[i].symbol);
	}
	free(z->zone);
	free(z);
}

struct dnsbl_zones *dnsbl_zones_ref(struct dnsbl_zones *z)
{
	if (z)
		__atomic_add_fetch(&z->refs, 1, __ATOMIC_RELAXED);
	return z;
}

void dnsbl_zones_unref(struct dnsbl_zones *z)
{
	if (z && __atomic_sub_fetch(&z->refs, 1, __ATOMIC_ACQ_REL) == 0)
		zones_free(z);
}

bool dnsbl_filter_match(const struct dnsbl_filter *f, struct in_addr code)
{
	const unsigned char *b = (const unsigned char *)&code.s_addr;
	for (int i = 0; i < 4; i++)
		if (!(f->octet[i][b[i] / 8] & (1u << (b[i] % 8))))
			return false;
	return true;
}

/* A decimal octet value at *p (no sign, no leading zero); advances *p. -1 if none. */
static int parse_octet_value(const char **p, const char *end)
{
	const char *s = *p;
	if (s >= end || !isdigit((unsigned char)*s))
		return -1;
	int v = 0, nd = 0;
	while (s < end && isdigit((unsigned char)*s) && nd < 4) {
		v = v * 10 + (*s++ - '0');
		nd++;
	}
	if (v > 255 || nd > 3 || (nd > 1 && **p == '0'))
		return -1;
	*p = s;
	return v;
}

static void set_range(uint8_t bits[32], int lo, int hi)
{
	for (int v = lo; v <= hi; v++)
		bits[v / 8] |= (uint8_t)(1u << (v % 8));
}

/* One octet pattern: a number or [elem;elem...] with elem a number or a..b. */
static int parse_octet_pattern(const char **p, const char *end, uint8_t bits[32])
{
	const char *s = *p;
	if (s < end && *s != '[') {
		int v = parse_octet_value(&s, end);
		if (v < 0)
			return -1;
		set_range(bits, v, v);
		*p = s;
		return 0;
	}
	s++; /* '[' */
	for (;;) {
		int lo = parse_octet_value(&s, end), hi = lo;
		if (lo < 0)
			return -1;
		if (end - s >= 2 && s[0] == '.' && s[1] == '.') {
			s += 2;
			hi = parse_octet_value(&s, end);
			if (hi < lo)
				return -1;
		}
		set_range(bits, lo, hi);
		if (s < end && *s == ';') {
			s++;
			continue;
		}
		if (s < end && *s == ']') {
			*p = s + 1;
			return 0;
		}
		return -1;
	}
}

static int parse_filter(const char *s, size_t len, struct dnsbl_filter *f)
{
	const char *p = s, *end = s + len;
	memset(f, 0, sizeof(*f));
	for (int i = 0; i < 4; i++) {
		if (i > 0) {
			if (p >= end || *p != '.')
				return -1;
			p++;
		}
		if (parse_octet_pattern(&p, end, f->octet[i]) < 0)
			return -1;
	}
	return p == end ? 0 : -1;
}

/* A zone name: labels of letters, digits, '-' and '_' (1..63 octets), an
 * optional trailing dot; copied lower case into out. 0 or -1. */
static int parse_zone_name(const char *s, size_t len, char *out)
{
	if (len && s[len - 1] == '.')
		len--;
	if (len == 0 || len > DNSBL_ZONE_NAME_MAX)
		return -1;
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0)
				return -1;
			label = 0;
		} else if (isalnum(c) || c == '-' || c == '_') {
			if (++label > 63)
				return -1;
		} else {
			return -1;
		}
		out[i] = (char)tolower(c);
	}
	if (label == 0)
		return -1;
	out[len] = '\0';
	return 0;
}

static struct dnsbl_zone *find_or_add_zone(struct dnsbl_zones *z, const char *name,
					   const char *prefix)
{
	for (size_t i = 0; i < z->n; i++)
		if (strcmp(z->zone[i].name, name) == 0)
			return &z->zone[i];
	struct dnsbl_zone *zs = realloc(z->zone, (z->n + 1) * sizeof(*zs));
	if (!zs)
		return NULL;
	z->zone = zs;
	struct dnsbl_zone *nz = &zs[z->n];
	memset(nz, 0, sizeof(*nz));
	nz->name = strdup(name);
	size_t nlen = strlen(name), plen = strlen(prefix);
	nz->symbol = malloc(plen + nlen + 1);
	if (!nz->name || !nz->symbol) {
		free(nz->name);
		free(nz->symbol);
		return NULL;
	}
	memcpy(nz->symbol, prefix, plen);
	for (size_t i = 0; i <= nlen; i++) {
		char c = name[i];
		nz->symbol[plen + i] = c == '.' || c == '-' ? '_' : (char)toupper((unsigned char)c);
	}
	z->n++;
	return nz;
}

/* Parses one item into z: 0, or -1 with the item and what is wrong in err. */
static int parse_item(struct dnsbl_zones *z, const char *s, size_t len, size_t *nitems, char *err,
		      size_t errlen)
{
	const char *star = memchr(s, '*', len), *why = NULL;
	size_t body = star ? (size_t)(star - s) : len;
	int weight = 1;
	if (star) {
		const char *w = star + 1, *wend = s + len;
		if (w < wend && *w == '-') {
			why = "negative weight (allowlist zones go in dnswl_zones)";
			goto bad;
		}
		int v = parse_octet_value(&w, wend); /* at most 3 digits, no leading zero */
		if (v < 0 || w != wend || v > DNSBL_WEIGHT_MAX) {
			why = "weight must be a number 0.." NSTR_LIMIT(DNSBL_WEIGHT_MAX);
			goto bad;
		}
		weight = v;
	}
	const char *eq = memchr(s, '=', body);
	size_t nlen = eq ? (size_t)(eq - s) : body;
	char name[DNSBL_ZONE_NAME_MAX + 2];
	if (parse_zone_name(s, nlen, name) < 0) {
		why = "not a zone name";
		goto bad;
	}
	struct dnsbl_item it = { .weight = weight };
	if (eq) {
		size_t flen = body - nlen - 1;
		if (parse_filter(eq + 1, flen, &it.filter) < 0) {
			why = "bad return-code filter (e.g. 127.0.0.2, 127.0.0.[2..11], "
			      "127.0.[0;1].[2;4..7])";
			goto bad;
		}
		if (!(it.filter.octet[0][127 / 8] & (1u << (127 % 8)))) {
			why = "the filter can never match: list answers are in 127.0.0.0/8";
			goto bad;
		}
	} else {
		memset(&it.filter, 0xff, sizeof(it.filter));
	}
	if (++*nitems > DNSBL_ITEMS_MAX) {
		why = "too many items (at most " NSTR_LIMIT(DNSBL_ITEMS_MAX) ")";
		goto bad;
	}
	bool known = false;
	for (size_t i = 0; i < z->n; i++)
		known |= strcmp(z->zone[i].name, name) == 0;
	if (!known && z->n >= DNSBL_ZONES_MAX) {
		why = "too many zones (at most " NSTR_LIMIT(DNSBL_ZONES_MAX) ")";
		goto bad;
	}
	struct dnsbl_zone *zone = find_or_add_zone(z, name, z->allow ? "DNSWL_" : "DNSBL_");
	if (!zone)
		goto nomem;
	struct dnsbl_item *items = realloc(zone->item, (zone->nitems + 1) * sizeof(*items));
	if (!items)
		goto nomem;
	zone->item = items;
	if (eq && !(it.filter_text = strndup(eq + 1, body - nlen - 1)))
		goto nomem;
	zone->item[zone->nitems++] = it;
	return 0;
bad:
	snprintf(err, errlen, "'%.*s': %s", (int)(len > 200 ? 200 : len), s, why);
	return -1;
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

struct dnsbl_zones *dnsbl_zones_parse(const char *spec, bool allow, char *err, size_t errlen)
{
	struct dnsbl_zones *z = calloc(1, sizeof(*z));
	if (!z) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	z->refs = 1;
	z->allow = allow;
	const char *cur = spec ? spec : "", *item;
	size_t n, nitems = 0;
	while ((n = config_list_next(&cur, &item)) > 0)
		if (parse_item(z, item, n, &nitems, err, errlen) < 0) {
			zones_free(z);
			return NULL;
		}
	return z;
}

/* ---- matching answers ---- */

const char *dnsbl_status_name(enum dnsbl_status st)
{
	switch (st) {
	case DNSBL_PENDING: return "pending";
	case DNSBL_NOT_LISTED: return "not-listed";
	case DNSBL_LISTED: return "listed";
	case DNSBL_UNMATCHED: return "unmatched";
	case DNSBL_WILDCARD: return "wildcard";
	case DNSBL_REFUSED: return "refused";
	case DNSBL_TEMPFAIL: return "tempfail";
	}
	return "?";
}

int dnsbl_query_name(const char *ip, const char *zone, char *out, size_t outlen)
{
	char norm[INET6_ADDRSTRLEN], rev[80];
	if (ip_normalize(ip, norm, sizeof(norm)) < 0 || dns_reverse_name(norm, rev, sizeof(rev)) < 0)
		return -1;
	/* dns_reverse_name() ends in ".in-addr.arpa" / ".ip6.arpa": keep what is before */
	char *suffix = strstr(rev, strchr(norm, ':') ? ".ip6.arpa" : ".in-addr.arpa");
	if (!suffix)
		return -1;
	*suffix = '\0';
	int n = snprintf(out, outlen, "%s.%s", rev, zone);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int dnsbl_result_prepare(struct dnsbl_result *r, const struct dnsbl_zones *bl,
			 const struct dnsbl_zones *wl, const char *ip)
{
	memset(r, 0, sizeof(*r));
	if (ip_normalize(ip, r->ip, sizeof(r->ip)) < 0) {
		errno = EINVAL;
		return -1;
	}
	size_t n = (bl ? bl->n : 0) + (wl ? wl->n : 0);
	r->zone = calloc(n ? n : 1, sizeof(*r->zone));
	if (!r->zone)
		return -1;
	for (int list = 0; list < 2; list++) {
		const struct dnsbl_zones *z = list == 0 ? bl : wl;
		for (size_t i = 0; z && i < z->n; i++) {
			struct dnsbl_zone_result *zr = &r->zone[r->nzones++];
			zr->zone = &z->zone[i];
			zr->allow = z->allow;
			zr->status = DNSBL_PENDING;
		}
	}
	return 0;
}

void dnsbl_result_free(struct dnsbl_result *r)
{
	for (size_t i = 0; i < r->nzones; i++)
		free(r->zone[i].codes);
	free(r->zone);
	free(r->hit);
	memset(r, 0, sizeof(*r));
}

static int cmp_code(const void *a, const void *b)
{
	uint32_t x = ntohl(((const struct in_addr *)a)->s_addr);
	uint32_t y = ntohl(((const struct in_addr *)b)->s_addr);
	return x < y ? -1 : x > y;
}

static void set_status(struct dnsbl_result *r, struct dnsbl_zone_result *zr, enum dnsbl_status st)
{
	zr->status = st;
	r->tempfail += st == DNSBL_TEMPFAIL;
	r->refused += st == DNSBL_REFUSED;
	r->wildcard += st == DNSBL_WILDCARD;
}

/* Adds the hit of one code of a zone when an item matches it; 0 or -1 (memory). */
static int match_code(struct dnsbl_result *r, struct dnsbl_zone_result *zr, struct in_addr code)
{
	const struct dnsbl_zone *z = zr->zone;
	int weight = 0;
	bool matched = false;
	for (size_t k = 0; k < z->nitems; k++)
		if (dnsbl_filter_match(&z->item[k].filter, code)) {
			matched = true;
			weight += z->item[k].weight;
		}
	if (!matched)
		return 0;
	struct dnsbl_hit *h = realloc(r->hit, (r->nhits + 1) * sizeof(*h));
	if (!h)
		return -1;
	r->hit = h;
	h = &r->hit[r->nhits++];
	memset(h, 0, sizeof(*h));
	h->zone = z->name;
	inet_ntop(AF_INET, &code, h->code, sizeof(h->code));
	h->weight = weight;
	h->allow = zr->allow;
	snprintf(h->symbol, sizeof(h->symbol), "%s_%u", z->symbol,
		 ((const unsigned char *)&code.s_addr)[3]);
	if (zr->allow)
		r->allow_weight += weight;
	else
		r->block_weight += weight;
	zr->status = DNSBL_LISTED;
	return 0;
}

int dnsbl_result_answer(struct dnsbl_result *r, size_t i, const struct dns_answer *ans)
{
	struct dnsbl_zone_result *zr = &r->zone[i];
	if (zr->status != DNSBL_PENDING)
		return 0;
	if (!ans || ans->status == DNS_TEMPFAIL) {
		set_status(r, zr, DNSBL_TEMPFAIL);
		return 0;
	}
	if (ans->status != DNS_OK || ans->type != DNS_A || ans->n == 0) {
		set_status(r, zr, DNSBL_NOT_LISTED);
		return 0;
	}
	zr->codes = calloc(ans->n, sizeof(*zr->codes));
	if (!zr->codes) {
		set_status(r, zr, DNSBL_TEMPFAIL);
		return -1;
	}
	bool refused = false;
	size_t outside = 0;
	char text[INET_ADDRSTRLEN];
	for (size_t k = 0; k < ans->n; k++) {
		struct in_addr a = ans->rr[k].addr.a;
		const unsigned char *b = (const unsigned char *)&a.s_addr;
		if (b[0] != 127) {
			if (outside++ == 0) {
				inet_ntop(AF_INET, &a, text, sizeof(text));
				log_msg(LOG_WARN, NULL,
					"event=dnsbl_wildcard zone=%s ip=%s answer=%s "
					"note=\"answers outside 127.0.0.0/8 are ignored\"",
					zr->zone->name, r->ip, text);
			}
			continue;
		}
		refused |= b[1] == 255 && b[2] == 255;
		bool dup = false;
		for (size_t j = 0; j < zr->ncodes; j++)
			dup |= zr->codes[j].s_addr == a.s_addr;
		if (!dup)
			zr->codes[zr->ncodes++] = a;
	}
	qsort(zr->codes, zr->ncodes, sizeof(*zr->codes), cmp_code);
	if (refused) {
		/* An error code from the list: nothing in this answer is a listing. */
		inet_ntop(AF_INET, &zr->codes[zr->ncodes - 1], text, sizeof(text));
		log_msg(LOG_WARN, NULL,
			"event=dnsbl_refused zone=%s ip=%s code=%s note=\"the list refused the "
			"query (query limit or public resolver)\"",
			zr->zone->name, r->ip, text);
		set_status(r, zr, DNSBL_REFUSED);
		return 0;
	}
	if (zr->ncodes == 0) {
		set_status(r, zr, DNSBL_WILDCARD);
		return 0;
	}
	zr->status = DNSBL_UNMATCHED;
	for (size_t j = 0; j < zr->ncodes; j++)
		if (match_code(r, zr, zr->codes[j]) < 0) {
			set_status(r, zr, DNSBL_TEMPFAIL);
			return -1;
		}
	return 0;
}

/* ---- checks ---- */

struct zone_query {
	struct dnsbl_check *c;
	size_t i;
	struct dns_query *q;
};

struct dnsbl_check {
	struct dns *dns;
	struct dnsbl_zones *bl, *wl;
	struct dnsbl_result r;
	struct zone_query *zq;
	size_t pending;
	struct event *done_ev; /* when nothing had to be asked: report from the loop */
	dnsbl_done_fn cb;
	void *arg;
};

static void on_answer(void *arg, const struct dns_answer *ans)
{
	struct zone_query *zq = arg;
	struct dnsbl_check *c = zq->c;
	zq->q = NULL;
	dnsbl_result_answer(&c->r, zq->i, ans);
	if (--c->pending == 0)
		c->cb(c->arg, &c->r); /* may free c: nothing after this */
}

static void on_done_event(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct dnsbl_check *c = arg;
	c->cb(c->arg, &c->r);
}

struct dnsbl_check *dnsbl_check_start(struct dns *dns, const struct dnsbl_zones *bl,
				      const struct dnsbl_zones *wl, const char *ip,
				      dnsbl_done_fn cb, void *arg)
{
	struct dnsbl_check *c = calloc(1, sizeof(*c));
	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	if (dnsbl_result_prepare(&c->r, bl, wl, ip) < 0) {
		int e = errno;
		free(c);
		errno = e;
		return NULL;
	}
	c->dns = dns_ref(dns);
	/* The check keeps the lists alive; the count is not part of their value. */
	c->bl = dnsbl_zones_ref((struct dnsbl_zones *)(uintptr_t)bl);
	c->wl = dnsbl_zones_ref((struct dnsbl_zones *)(uintptr_t)wl);
	c->cb = cb;
	c->arg = arg;
	c->zq = calloc(c->r.nzones ? c->r.nzones : 1, sizeof(*c->zq));
	if (!c->zq)
		goto nomem;
	for (size_t i = 0; i < c->r.nzones; i++) {
		char name[DNSBL_ZONE_NAME_MAX + 80];
		c->zq[i] = (struct zone_query){ c, i, NULL };
		if (dnsbl_query_name(c->r.ip, c->r.zone[i].zone->name, name, sizeof(name)) < 0) {
			dnsbl_result_answer(&c->r, i, NULL);
			continue;
		}
		const struct dns_answer *cached = dns_cached(dns, name, DNS_A);
		if (cached) {
			dnsbl_result_answer(&c->r, i, cached);
			continue;
		}
		c->zq[i].q = dns_lookup(dns, name, DNS_A, on_answer, &c->zq[i]);
		if (c->zq[i].q)
			c->pending++;
		else
			dnsbl_result_answer(&c->r, i, NULL); /* out of memory: unknown */
	}
	if (c->pending == 0) {
		struct timeval zero = { 0, 0 };
		c->done_ev = evtimer_new(dns_event_base(dns), on_done_event, c);
		if (!c->done_ev || evtimer_add(c->done_ev, &zero) < 0)
			goto nomem;
	}
	return c;
nomem:
	dnsbl_check_free(c);
	errno = ENOMEM;
	return NULL;
}

void dnsbl_check_free(struct dnsbl_check *c)
{
	if (!c)
		return;
	for (size_t i = 0; c->zq && i < c->r.nzones; i++)
		dns_cancel(c->zq[i].q);
	if (c->done_ev)
		event_free(c->done_ev);
	free(c->zq);
	dnsbl_result_free(&c->r);
	dnsbl_zones_unref(c->bl);
	dnsbl_zones_unref(c->wl);
	dns_free(c->dns);
	free(c);
}
