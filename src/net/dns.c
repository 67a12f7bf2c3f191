/*
 * dns.c - asynchronous resolver over c-ares and libevent, with a TTL cache; see dns.h.
 *
 * RFC 1035 4.1 message parsing (with name compression), RFC 2308 5 negative
 * caching (TTL from the SOA of the authority section, min(TTL, MINIMUM)).
 */
#include "net/dns.h"
#include "core/config.h"

#include <arpa/inet.h>
#include <ares.h>
#include <ctype.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct watch {
	int fd;
	struct event *ev;
	short what;
};

struct cache_entry {
	struct cache_entry *hnext;          /* hash chain */
	struct cache_entry *lru_prev, *lru_next;
	uint32_t hash;
	int type;
	time_t expires;
	struct dns_answer *ans;
	char name[];
};

struct dns_query {
	struct dns *d;
	struct dns_query *prev, *next; /* pending list */
	dns_callback cb;
	void *arg;
	int type;
	bool cancelled, started, done;
	struct dns_answer *early; /* answered from inside ares_query() */
	struct event *defer;
	char name[256];
};

struct dns {
	int refs; /* loop thread only */
	char *servers; /* opt.servers points here */
	struct event_base *base;
	ares_channel ch;
	bool channel_ok;
	struct event *timer;
	struct watch *watches;
	size_t nwatch, watch_cap;
	struct dns_query *pending;
	size_t npending;
	struct dns_options opt;
	/* cache */
	struct cache_entry **table;
	size_t table_size, nentries;
	struct cache_entry *lru_head, *lru_tail;
	unsigned long long hits, sent;
};

static time_t now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

void dns_options_from_config(struct dns_options *o, const struct config *cfg)
{
	o->servers = cfg->dns_servers;
	o->timeout_ms = (unsigned)cfg->dns_timeout_ms;
	o->tries = (unsigned)cfg->dns_tries;
	o->cache_size = (size_t)cfg->dns_cache_size;
	o->cache_max_ttl = (uint32_t)cfg->dns_cache_max_ttl;
	o->negative_ttl = (uint32_t)cfg->dns_negative_ttl;
}

const char *dns_status_name(enum dns_status st)
{
	switch (st) {
	case DNS_OK: return "ok";
	case DNS_NODATA: return "nodata";
	case DNS_NXDOMAIN: return "nxdomain";
	case DNS_TEMPFAIL: return "tempfail";
	}
	return "?";
}

const char *dns_type_name(int type)
{
	switch (type) {
	case DNS_A: return "A";
	case DNS_AAAA: return "AAAA";
	case DNS_MX: return "MX";
	case DNS_PTR: return "PTR";
	case DNS_TXT: return "TXT";
	}
	return "?";
}

/* ---- answers ----------------------------------------------------------- */

struct dns_answer *dns_answer_ref(const struct dns_answer *a)
{
	struct dns_answer *m = (struct dns_answer *)a;
	m->refs++;
	return m;
}

void dns_answer_unref(const struct dns_answer *a)
{
	struct dns_answer *m = (struct dns_answer *)a;
	if (m && --m->refs == 0)
		free(m);
}

struct dns_answer *dns_answer_status(enum dns_status st, int type)
{
	struct dns_answer *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->refs = 1;
	a->status = st;
	a->type = type;
	return a;
}

static uint16_t get16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * Reads a possibly compressed name at *off into out (lower-case, dots, no
 * trailing dot); advances *off past the name as it appears at *off.
 */
static int read_name(const unsigned char *m, size_t len, size_t *off, char *out, size_t outlen)
{
	size_t pos = *off, o = 0;
	bool jumped = false;
	for (int hops = 0; hops < 64; hops++) {
		if (pos >= len)
			return -1;
		unsigned c = m[pos];
		if (c == 0) {
			if (!jumped)
				*off = pos + 1;
			if (o >= outlen)
				return -1;
			out[o] = '\0';
			return 0;
		}
		if ((c & 0xc0) == 0xc0) {
			if (pos + 1 >= len)
				return -1;
			if (!jumped)
				*off = pos + 2;
			jumped = true;
			pos = (size_t)((c & 0x3f) << 8 | m[pos + 1]);
			continue;
		}
		if (c & 0xc0)
			return -1;
		if (pos + 1 + c > len || o + c + 2 > outlen)
			return -1;
		if (o)
			out[o++] = '.';
		for (unsigned i = 0; i < c; i++) {
			unsigned char ch = m[pos + 1 + i];
			out[o++] = ch == 0 ? '?' : (char)tolower(ch);
		}
		pos += 1 + c;
	}
	return -1;
}

struct tmp_rr {
	struct dns_rr rr;
	size_t name_off, txt_off; /* into strings; SIZE_MAX: none */
};

static int strings_add(unsigned char **s, size_t *len, size_t *cap, const void *p, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t c = *cap ? *cap : 256;
		while (c < *len + n + 1)
			c *= 2;
		unsigned char *x = realloc(*s, c);
		if (!x)
			return -1;
		*s = x;
		*cap = c;
	}
	memcpy(*s + *len, p, n);
	*len += n;
	return 0;
}

struct dns_answer *dns_parse_response(const unsigned char *m, size_t len, int type)
{
	if (len < 12)
		return NULL;
	unsigned rcode = m[3] & 0x0f;
	unsigned qd = get16(m + 4), an = get16(m + 6), ns = get16(m + 8);
	size_t off = 12;
	char name[256];
	for (unsigned i = 0; i < qd; i++) {
		if (read_name(m, len, &off, name, sizeof(name)) < 0 || off + 4 > len)
			return NULL;
		off += 4;
	}
	struct tmp_rr *rrs = NULL;
	size_t nrr = 0, rr_cap = 0;
	unsigned char *str = NULL;
	size_t slen = 0, scap = 0;
	uint32_t min_ttl = UINT32_MAX, neg_ttl = UINT32_MAX;
	struct dns_answer *ans = NULL;
	for (unsigned i = 0; i < an + ns; i++) {
		if (read_name(m, len, &off, name, sizeof(name)) < 0 || off + 10 > len)
			goto out;
		unsigned rtype = get16(m + off), rclass = get16(m + off + 2);
		uint32_t ttl = get32(m + off + 4);
		size_t rdlen = get16(m + off + 8);
		off += 10;
		if (off + rdlen > len)
			goto out;
		size_t rd = off, end = off + rdlen;
		off = end;
		if (ttl > 0x7fffffff)
			ttl = 0;
		if (i >= an) {
			if (rtype == 6 && rdlen >= 4) { /* SOA: MINIMUM is the last field */
				uint32_t minimum = get32(m + end - 4);
				uint32_t t = ttl < minimum ? ttl : minimum;
				if (t < neg_ttl)
					neg_ttl = t;
			}
			continue;
		}
		if (rclass != 1 || (int)rtype != type)
			continue; /* CNAMEs of the chain and anything else */
		if (nrr == rr_cap) {
			size_t c = rr_cap ? rr_cap * 2 : 8;
			if (c > 4096)
				goto out;
			struct tmp_rr *x = realloc(rrs, c * sizeof(*x));
			if (!x)
				goto out;
			rrs = x;
			rr_cap = c;
		}
		struct tmp_rr *t = &rrs[nrr];
		memset(t, 0, sizeof(*t));
		t->name_off = t->txt_off = SIZE_MAX;
		switch (type) {
		case DNS_A:
			if (rdlen != 4)
				continue;
			memcpy(&t->rr.addr.a, m + rd, 4);
			break;
		case DNS_AAAA:
			if (rdlen != 16)
				continue;
			memcpy(&t->rr.addr.aaaa, m + rd, 16);
			break;
		case DNS_MX:
		case DNS_PTR: {
			size_t p = rd;
			if (type == DNS_MX) {
				if (rdlen < 3)
					continue;
				t->rr.pref = get16(m + rd);
				p += 2;
			}
			if (read_name(m, len, &p, name, sizeof(name)) < 0 || p > end)
				goto out;
			t->name_off = slen;
			if (strings_add(&str, &slen, &scap, name, strlen(name) + 1) < 0)
				goto out;
			break;
		}
		case DNS_TXT: {
			t->txt_off = slen;
			size_t p = rd;
			while (p < end) {
				size_t n = m[p];
				if (p + 1 + n > end)
					goto out;
				if (strings_add(&str, &slen, &scap, m + p + 1, n) < 0)
					goto out;
				t->rr.txt_len += n;
				t->rr.nstrings++;
				p += 1 + n;
			}
			if (strings_add(&str, &slen, &scap, "", 1) < 0)
				goto out;
			break;
		}
		default:
			continue;
		}
		if (ttl < min_ttl)
			min_ttl = ttl;
		nrr++;
	}
	ans = calloc(1, sizeof(*ans) + nrr * sizeof(struct dns_rr) + slen + 1);
	if (!ans)
		goto out;
	ans->refs = 1;
	ans->type = type;
	ans->n = nrr;
	ans->rr = (struct dns_rr *)(ans + 1);
	char *sbase = (char *)(ans->rr + nrr);
	if (slen)
		memcpy(sbase, str, slen);
	for (size_t i = 0; i < nrr; i++) {
		ans->rr[i] = rrs[i].rr;
		if (rrs[i].name_off != SIZE_MAX)
			ans->rr[i].name = sbase + rrs[i].name_off;
		if (rrs[i].txt_off != SIZE_MAX)
			ans->rr[i].txt = sbase + rrs[i].txt_off;
	}
	if (rcode == 0 && nrr > 0) {
		ans->status = DNS_OK;
		ans->ttl = min_ttl;
	} else if (rcode == 0 || rcode == 3) {
		ans->status = rcode == 3 ? DNS_NXDOMAIN : DNS_NODATA;
		ans->ttl = neg_ttl;
	} else {
		ans->status = DNS_TEMPFAIL;
		ans->ttl = 0;
	}
out:
	free(rrs);
	free(str);
	return ans;
}

/* ---- cache ------------------------------------------------------------- */

static uint32_t hash_key(const char *name, int type)
{
	uint32_t h = 2166136261u ^ (uint32_t)type;
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h;
}

static void lru_unlink(struct dns *d, struct cache_entry *e)
{
	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else
		d->lru_head = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		d->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void lru_push(struct dns *d, struct cache_entry *e)
{
	e->lru_prev = NULL;
	e->lru_next = d->lru_head;
	if (d->lru_head)
		d->lru_head->lru_prev = e;
	d->lru_head = e;
	if (!d->lru_tail)
		d->lru_tail = e;
}

static void cache_remove(struct dns *d, struct cache_entry *e)
{
	struct cache_entry **pp = &d->table[e->hash & (d->table_size - 1)];
	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	lru_unlink(d, e);
	dns_answer_unref(e->ans);
	free(e);
	d->nentries--;
}

static struct cache_entry *cache_find(struct dns *d, const char *name, int type)
{
	if (!d->table)
		return NULL;
	uint32_t h = hash_key(name, type);
	for (struct cache_entry *e = d->table[h & (d->table_size - 1)]; e; e = e->hnext)
		if (e->hash == h && e->type == type && strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

static void cache_put(struct dns *d, const char *name, int type, struct dns_answer *ans)
{
	if (!d->table || ans->status == DNS_TEMPFAIL)
		return;
	uint32_t ttl = ans->ttl;
	if (ans->status != DNS_OK && ttl == UINT32_MAX)
		ttl = d->opt.negative_ttl;
	if (ttl > d->opt.cache_max_ttl)
		ttl = d->opt.cache_max_ttl;
	if (ttl == 0)
		return;
	struct cache_entry *old = cache_find(d, name, type);
	if (old)
		cache_remove(d, old);
	while (d->nentries >= d->opt.cache_size && d->lru_tail)
		cache_remove(d, d->lru_tail);
	size_t nlen = strlen(name);
	struct cache_entry *e = calloc(1, sizeof(*e) + nlen + 1);
	if (!e)
		return;
	memcpy(e->name, name, nlen + 1);
	e->type = type;
	e->hash = hash_key(name, type);
	e->expires = now_s() + (time_t)ttl;
	e->ans = dns_answer_ref(ans);
	size_t b = e->hash & (d->table_size - 1);
	e->hnext = d->table[b];
	d->table[b] = e;
	lru_push(d, e);
	d->nentries++;
}

void dns_cache_clear(struct dns *d)
{
	while (d->lru_tail)
		cache_remove(d, d->lru_tail);
}

/* Lower-cases and drops one trailing dot; -1 when too long. */
static int norm_name(const char *in, char *out, size_t outlen)
{
	size_t n = strlen(in);
	if (n && in[n - 1] == '.')
		n--;
	if (n + 1 > outlen)
		return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[n] = '\0';
	return 0;
}

const struct dns_answer *dns_cached(struct dns *d, const char *name, int type)
{
	char key[256];
	if (!d->table || norm_name(name, key, sizeof(key)) < 0)
		return NULL;
	struct cache_entry *e = cache_find(d, key, type);
	if (!e)
		return NULL;
	if (e->expires <= now_s()) {
		cache_remove(d, e);
		return NULL;
	}
	lru_unlink(d, e);
	lru_push(d, e);
	d->hits++;
	return e->ans;
}

/* ---- c-ares in the event loop ------------------------------------------ */

static void reschedule(struct dns *d)
{
	struct timeval tv, *t = ares_timeout(d->ch, NULL, &tv);
	if (t)
		evtimer_add(d->timer, t);
	else
		evtimer_del(d->timer);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct dns *d = arg;
	ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	reschedule(d);
}

static void on_sock(evutil_socket_t fd, short what, void *arg)
{
	struct dns *d = arg;
	ares_process_fd(d->ch, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
			(what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	reschedule(d);
}

static void sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns *d = data;
	size_t i;
	for (i = 0; i < d->nwatch; i++)
		if (d->watches[i].fd == fd)
			break;
	short what = (short)((readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
	if (i < d->nwatch) {
		struct watch *w = &d->watches[i];
		if (w->what == what)
			return;
		event_free(w->ev);
		if (!what) {
			d->watches[i] = d->watches[--d->nwatch];
			return;
		}
		w->ev = event_new(d->base, fd, what | EV_PERSIST, on_sock, d);
		w->what = what;
		if (w->ev)
			event_add(w->ev, NULL);
		return;
	}
	if (!what)
		return;
	if (d->nwatch == d->watch_cap) {
		size_t c = d->watch_cap ? d->watch_cap * 2 : 8;
		struct watch *x = realloc(d->watches, c * sizeof(*x));
		if (!x)
			return;
		d->watches = x;
		d->watch_cap = c;
	}
	struct watch *w = &d->watches[d->nwatch++];
	w->fd = fd;
	w->what = what;
	w->ev = event_new(d->base, fd, what | EV_PERSIST, on_sock, d);
	if (w->ev)
		event_add(w->ev, NULL);
}

struct dns *dns_new(struct event_base *base, const struct dns_options *o, char *err,
		    size_t errlen)
{
	static bool lib_init;
	if (!lib_init) {
		if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
			snprintf(err, errlen, "c-ares: library init failed");
			return NULL;
		}
		lib_init = true;
	}
	struct dns *d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->refs = 1;
	d->base = base;
	d->opt = *o;
	d->servers = strdup(o->servers ? o->servers : "");
	d->opt.servers = d->servers;
	if (!d->servers) {
		snprintf(err, errlen, "out of memory");
		free(d);
		return NULL;
	}
	d->timer = evtimer_new(base, on_timer, d);
	struct ares_options ao;
	memset(&ao, 0, sizeof(ao));
	ao.sock_state_cb = sock_state;
	ao.sock_state_cb_data = d;
	ao.timeout = (int)(o->timeout_ms ? o->timeout_ms : 2000);
	ao.tries = (int)(o->tries ? o->tries : 1);
	ao.flags = ARES_FLAG_NOCHECKRESP | ARES_FLAG_NOSEARCH;
	int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS;
	int rc = ares_init_options(&d->ch, &ao, mask);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
		dns_free(d);
		return NULL;
	}
	d->channel_ok = true;
	if (o->servers && *o->servers) {
		rc = ares_set_servers_ports_csv(d->ch, o->servers);
		if (rc != ARES_SUCCESS) {
			snprintf(err, errlen, "dns_servers '%s': %s", o->servers, ares_strerror(rc));
			dns_free(d);
			return NULL;
		}
	}
	if (o->cache_size) {
		size_t ts = 64;
		while (ts < o->cache_size * 2 && ts < ((size_t)1 << 24))
			ts *= 2;
		d->table = calloc(ts, sizeof(*d->table));
		d->table_size = ts;
		if (!d->table) {
			snprintf(err, errlen, "out of memory");
			dns_free(d);
			return NULL;
		}
	}
	if (!d->timer) {
		snprintf(err, errlen, "cannot create DNS timer");
		dns_free(d);
		return NULL;
	}
	return d;
}

static void pending_unlink(struct dns_query *q)
{
	struct dns *d = q->d;
	if (q->prev)
		q->prev->next = q->next;
	else if (d->pending == q)
		d->pending = q->next;
	if (q->next)
		q->next->prev = q->prev;
	q->prev = q->next = NULL;
	d->npending--;
}

static void deliver(struct dns_query *q, struct dns_answer *a)
{
	struct dns_answer oom = { .refs = 2, .status = DNS_TEMPFAIL, .type = q->type };
	pending_unlink(q);
	q->done = true;
	if (!q->cancelled && q->cb)
		q->cb(q->arg, a ? a : &oom);
	dns_answer_unref(a);
	if (q->defer)
		event_free(q->defer);
	free(q);
}

static void on_defer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct dns_query *q = arg;
	struct dns_answer *a = q->early;
	q->early = NULL;
	deliver(q, a);
}

static void on_ares(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	(void)timeouts;
	struct dns_query *q = arg;
	struct dns *d = q->d;
	struct dns_answer *a = NULL;
	if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
		pending_unlink(q);
		if (q->defer)
			event_free(q->defer);
		free(q);
		return;
	}
	if (abuf && alen >= 12)
		a = dns_parse_response(abuf, (size_t)alen, q->type);
	if (!a) {
		enum dns_status st = DNS_TEMPFAIL;
		if (status == ARES_ENOTFOUND || status == ARES_EBADNAME)
			st = DNS_NXDOMAIN;
		else if (status == ARES_ENODATA)
			st = DNS_NODATA;
		a = dns_answer_status(st, q->type);
		if (a && st != DNS_TEMPFAIL)
			a->ttl = UINT32_MAX;
	}
	if (!a)
		a = dns_answer_status(DNS_TEMPFAIL, q->type);
	if (a)
		cache_put(d, q->name, q->type, a);
	if (!q->started) {
		/* called from inside ares_query(): hand over from the loop */
		q->early = a;
		q->defer = evtimer_new(d->base, on_defer, q);
		if (q->defer)
			{
			struct timeval zero = { 0, 0 };
			evtimer_add(q->defer, &zero);
		}
		return;
	}
	deliver(q, a);
}

struct dns_query *dns_lookup(struct dns *d, const char *name, int type, dns_callback cb,
			     void *arg)
{
	struct dns_query *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->d = d;
	q->cb = cb;
	q->arg = arg;
	q->type = type;
	q->next = d->pending;
	if (d->pending)
		d->pending->prev = q;
	d->pending = q;
	d->npending++;
	if (norm_name(name, q->name, sizeof(q->name)) < 0 || !*q->name) {
		/* cannot be asked; a name that cannot exist */
		struct dns_answer *a = dns_answer_status(DNS_NXDOMAIN, type);
		q->early = a;
		q->defer = evtimer_new(d->base, on_defer, q);
		if (!a || !q->defer) {
			dns_answer_unref(a);
			pending_unlink(q);
			if (q->defer)
				event_free(q->defer);
			free(q);
			return NULL;
		}
		q->started = true;
		{
			struct timeval zero = { 0, 0 };
			evtimer_add(q->defer, &zero);
		}
		return q;
	}
	d->sent++;
	ares_query(d->ch, q->name, 1 /* C_IN */, type, on_ares, q);
	q->started = true; /* from now on on_ares delivers directly */
	reschedule(d);
	return q;
}

void dns_cancel(struct dns_query *q)
{
	if (q)
		q->cancelled = true;
}

struct event_base *dns_event_base(struct dns *d)
{
	return d->base;
}

size_t dns_pending(const struct dns *d)
{
	size_t n = 0;
	for (const struct dns_query *q = d->pending; q; q = q->next)
		n += !q->cancelled;
	return n;
}

unsigned long long dns_cache_hits(const struct dns *d)
{
	return d->hits;
}

unsigned long long dns_queries_sent(const struct dns *d)
{
	return d->sent;
}

struct dns *dns_ref(struct dns *d)
{
	d->refs++;
	return d;
}

bool dns_options_equal(const struct dns_options *a, const struct dns_options *b)
{
	return strcmp(a->servers ? a->servers : "", b->servers ? b->servers : "") == 0 &&
	       a->timeout_ms == b->timeout_ms && a->tries == b->tries &&
	       a->cache_size == b->cache_size && a->cache_max_ttl == b->cache_max_ttl &&
	       a->negative_ttl == b->negative_ttl;
}

const struct dns_options *dns_options(const struct dns *d)
{
	return &d->opt;
}

void dns_free(struct dns *d)
{
	if (!d || --d->refs > 0)
		return;
	if (d->channel_ok)
		ares_destroy(d->ch); /* on_ares(ARES_EDESTRUCTION) frees in-flight queries */
	while (d->pending) {
		struct dns_query *q = d->pending;
		pending_unlink(q);
		dns_answer_unref(q->early);
		if (q->defer)
			event_free(q->defer);
		free(q);
	}
	for (size_t i = 0; i < d->nwatch; i++)
		if (d->watches[i].ev)
			event_free(d->watches[i].ev);
	free(d->watches);
	if (d->timer)
		event_free(d->timer);
	if (d->table) {
		dns_cache_clear(d);
		free(d->table);
	}
	free(d->servers);
	free(d);
}

int dns_reverse_name(const char *ip, char *out, size_t outlen)
{
	unsigned char b[16];
	if (inet_pton(AF_INET, ip, b) == 1) {
		int n = snprintf(out, outlen, "%u.%u.%u.%u.in-addr.arpa", b[3], b[2], b[1], b[0]);
		return n < 0 || (size_t)n >= outlen ? -1 : 0;
	}
	if (inet_pton(AF_INET6, ip, b) != 1 || outlen < 74)
		return -1;
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (int i = 15; i >= 0; i--) {
		out[o++] = hex[b[i] & 15];
		out[o++] = '.';
		out[o++] = hex[b[i] >> 4];
		out[o++] = '.';
	}
	memcpy(out + o, "ip6.arpa", 9);
	return 0;
}
