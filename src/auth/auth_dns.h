/*
 * auth_dns.h - runs a struct auth_check over the asynchronous resolver (net/dns).
 *
 * Every TXT name the check hands out is looked up at once, in parallel, on
 * the event loop; each answer is fed back, which may hand out more names
 * (DMARC's organizational-domain fallback); when none is outstanding the
 * check is finished and done() is called, always from the loop, never from
 * inside auth_dns_start(). The resolver's cache serves repeated keys.
 */
#ifndef MX_AUTH_AUTH_DNS_H
#define MX_AUTH_AUTH_DNS_H

#include "auth/auth.h"

struct dns;
struct event_base;
struct auth_dns;

typedef void (*auth_dns_done)(void *arg, struct auth_check *a);

/* NULL when out of memory. The check must outlive the run. */
struct auth_dns *auth_dns_start(struct event_base *base, struct dns *dns, struct auth_check *a,
				auth_dns_done done, void *arg);
/* Cancels a running lookup set (done is not called) or frees a finished one. */
void auth_dns_free(struct auth_dns *r);

#endif
