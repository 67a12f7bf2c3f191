/*
 * fcrdns.c - forward-confirmed reverse DNS; see fcrdns.h.
 */
#include "net/fcrdns.h"
#include "core/limits.h"
#include "net/dns.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct fcrdns {
	struct dns *dns;
	struct dns_query *q;
	struct dns_answer *ptr;
	size_t idx;
	int family;
	unsigned char ip[16];
	fcrdns_fn cb;
	void *arg;
	bool done;
};

static void finish(struct fcrdns *f, const char *name)
{
	f->done = true;
	f->q = NULL;
	f->cb(f->arg, name); /* may free f */
}

static void on_addr(void *arg, const struct dns_answer *a);

static void next_name(struct fcrdns *f)
{
	if (f->idx >= f->ptr->n || f->idx >= SPF_MX_PTR_LIMIT) {
		finish(f, NULL);
		return;
	}
	f->q = dns_lookup(f->dns, f->ptr->rr[f->idx].name, f->family == AF_INET ? DNS_A : DNS_AAAA,
			  on_addr, f);
	if (!f->q)
		finish(f, NULL);
}

static void on_addr(void *arg, const struct dns_answer *a)
{
	struct fcrdns *f = arg;
	f->q = NULL;
	for (size_t i = 0; a->status == DNS_OK && i < a->n; i++) {
		const void *p = f->family == AF_INET ? (const void *)&a->rr[i].addr.a
						     : (const void *)&a->rr[i].addr.aaaa;
		if (memcmp(p, f->ip, f->family == AF_INET ? 4 : 16) == 0) {
			finish(f, f->ptr->rr[f->idx].name);
			return;
		}
	}
	f->idx++;
	next_name(f);
}

static void on_ptr(void *arg, const struct dns_answer *a)
{
	struct fcrdns *f = arg;
	f->q = NULL;
	if (a->status != DNS_OK) {
		finish(f, NULL);
		return;
	}
	f->ptr = dns_answer_ref(a);
	f->idx = 0;
	next_name(f);
}

struct fcrdns *fcrdns_start(struct dns *dns, const char *ip, fcrdns_fn cb, void *arg)
{
	char rev[80];
	struct fcrdns *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->dns = dns;
	f->cb = cb;
	f->arg = arg;
	if (inet_pton(AF_INET, ip, f->ip) == 1)
		f->family = AF_INET;
	else if (inet_pton(AF_INET6, ip, f->ip) == 1)
		f->family = AF_INET6;
	if (!f->family || dns_reverse_name(ip, rev, sizeof(rev)) < 0 ||
	    !(f->q = dns_lookup(dns, rev, DNS_PTR, on_ptr, f))) {
		free(f);
		return NULL;
	}
	return f;
}

void fcrdns_free(struct fcrdns *f)
{
	if (!f)
		return;
	if (f->q)
		dns_cancel(f->q);
	if (f->ptr)
		dns_answer_unref(f->ptr);
	free(f);
}
