/*
 * listen.h - listening sockets from `host:port` lists (IPv4, [IPv6]:port).
 *
 * Sockets are bound before privileges are dropped and are non-blocking.
 */
#ifndef MX_NET_LISTEN_H
#define MX_NET_LISTEN_H

#include <stddef.h>

/* Opens every listener of the comma separated list; fds into out (max outmax).
 * Returns the count, or -1 with err set (nothing left open). */
int listen_open(const char *list, int *out, size_t outmax, char *err, size_t errlen);
/* Parses one "host:port" / "[v6]:port" item into host and port strings. */
int listen_split(const char *item, size_t len, char *host, size_t hostlen, char *port,
		 size_t portlen);

#endif
