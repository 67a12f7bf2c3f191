/*
 * fcrdns.h - forward-confirmed reverse DNS of a client address (asynchronous).
 *
 * PTR of the address, then A/AAAA of each name (at most 10, as RFC 7208 4.6.4
 * bounds the ptr mechanism): the first name that resolves back to the address
 * is the confirmed name. Any failure (NXDOMAIN, timeout, no match) gives NULL.
 */
#ifndef MX_NET_FCRDNS_H
#define MX_NET_FCRDNS_H

struct dns;
struct fcrdns;

/* name: the confirmed name, or NULL; valid during the call only. */
typedef void (*fcrdns_fn)(void *arg, const char *name);

struct fcrdns *fcrdns_start(struct dns *dns, const char *ip, fcrdns_fn cb, void *arg);
/* Cancels (cb is not called) or frees after the callback. */
void fcrdns_free(struct fcrdns *f);

#endif
