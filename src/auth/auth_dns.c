/*
 * auth_dns.c - auth_check over net/dns; see auth_dns.h.
 */
#include "auth/auth_dns.h"
#include "net/dns.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

struct lookup {
	struct auth_dns *run;
	struct dns_query *q;
	char *name;
};

struct auth_dns {
	struct dns *dns;
	struct auth_check *a;
	auth_dns_done done;
	void *arg;
	struct event *kick; /* finishes from the loop when nothing was asked */
	struct lookup **l;
	size_t n, cap, pending;
	bool finished;
};

static void finish(struct auth_dns *r)
{
	if (r->finished)
		return;
	r->finished = true;
	auth_check_finish(r->a);
	r->done(r->arg, r->a);
}

static void on_answer(void *arg, const struct dns_answer *ans);

/* Starts a lookup for every name the check hands out; false when out of memory. */
static bool pump(struct auth_dns *r)
{
	const char *name;
	while ((name = auth_check_next_query(r->a))) {
		if (r->n == r->cap) {
			size_t cap = r->cap ? r->cap * 2 : 8;
			struct lookup **nl = realloc(r->l, cap * sizeof(*nl));
			if (!nl)
				return false;
			r->l = nl;
			r->cap = cap;
		}
		struct lookup *l = calloc(1, sizeof(*l));
		if (!l || !(l->name = strdup(name))) {
			free(l);
			return false;
		}
		l->run = r;
		r->l[r->n++] = l;
		r->pending++;
		l->q = dns_lookup(r->dns, l->name, DNS_TXT, on_answer, l);
		if (!l->q) {
			r->pending--;
			struct txt_answer t = { TXT_TEMPFAIL, NULL, 0 };
			auth_check_answer(r->a, l->name, &t);
		}
	}
	return true;
}

static void on_answer(void *arg, const struct dns_answer *ans)
{
	struct lookup *l = arg;
	struct auth_dns *r = l->run;
	l->q = NULL;
	r->pending--;
	struct slice recs[64];
	size_t n = 0;
	enum txt_status st = (enum txt_status)ans->status; /* same order, see txt.h */
	for (size_t i = 0; i < ans->n && n < 64; i++)
		if (ans->rr[i].txt)
			recs[n++] = (struct slice){ ans->rr[i].txt, ans->rr[i].txt_len };
	if (st == TXT_OK && n == 0)
		st = TXT_NODATA;
	struct txt_answer t = { st, recs, n };
	auth_check_answer(r->a, l->name, &t);
	if (!pump(r)) {
		/* Out of memory: what is unanswered becomes temperror at finish. */
	}
	if (r->pending == 0)
		finish(r);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct auth_dns *r = arg;
	if (r->pending == 0)
		finish(r);
}

struct auth_dns *auth_dns_start(struct event_base *base, struct dns *dns, struct auth_check *a,
				auth_dns_done done, void *arg)
{
	struct auth_dns *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->dns = dns;
	r->a = a;
	r->done = done;
	r->arg = arg;
	r->kick = evtimer_new(base, on_kick, r);
	if (!r->kick || !pump(r)) {
		auth_dns_free(r);
		return NULL;
	}
	if (r->pending == 0) {
		struct timeval zero = { 0, 0 };
		evtimer_add(r->kick, &zero);
	}
	return r;
}

void auth_dns_free(struct auth_dns *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		if (r->l[i]->q)
			dns_cancel(r->l[i]->q);
		free(r->l[i]->name);
		free(r->l[i]);
	}
	free(r->l);
	if (r->kick)
		event_free(r->kick);
	free(r);
}
