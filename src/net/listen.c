/*
 * listen.c - listening sockets; see listen.h.
 */
#include "net/listen.h"
#include "core/config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int listen_split(const char *item, size_t len, char *host, size_t hostlen, char *port,
		 size_t portlen)
{
	const char *colon;
	const char *h = item;
	size_t hl;
	if (len && item[0] == '[') {
		const char *rb = memchr(item, ']', len);
		if (!rb || rb + 1 >= item + len || rb[1] != ':')
			return -1;
		h = item + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = NULL;
		for (size_t i = 0; i < len; i++)
			if (item[i] == ':')
				colon = item + i;
		if (!colon)
			return -1;
		hl = (size_t)(colon - item);
	}
	size_t pl = (size_t)(item + len - colon - 1);
	if (hl == 0 || hl >= hostlen || pl == 0 || pl >= portlen)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	memcpy(port, colon + 1, pl);
	port[pl] = '\0';
	return 0;
}

int listen_open(const char *list, int *out, size_t outmax, char *err, size_t errlen)
{
	const char *cur = list, *item;
	size_t len, n = 0;
	while ((len = config_list_next(&cur, &item)) > 0) {
		char host[256], port[16];
		if (listen_split(item, len, host, sizeof(host), port, sizeof(port)) < 0) {
			snprintf(err, errlen, "smtp_listen: bad listener '%.*s' (want host:port)",
				 (int)len, item);
			goto fail;
		}
		struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV,
					  .ai_socktype = SOCK_STREAM };
		struct addrinfo *ai;
		int gai = getaddrinfo(host, port, &hints, &ai);
		if (gai != 0) {
			snprintf(err, errlen, "smtp_listen: %s:%s: %s", host, port,
				 gai_strerror(gai));
			goto fail;
		}
		if (n >= outmax) {
			freeaddrinfo(ai);
			snprintf(err, errlen, "smtp_listen: more than %zu listeners", outmax);
			goto fail;
		}
		int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		int one = 1;
		if (fd >= 0) {
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (ai->ai_family == AF_INET6)
				setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		}
		if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
			snprintf(err, errlen, "smtp_listen: %s:%s: %s", host, port,
				 strerror(errno));
			if (fd >= 0)
				close(fd);
			freeaddrinfo(ai);
			goto fail;
		}
		freeaddrinfo(ai);
		out[n++] = fd;
	}
	return (int)n;
fail:
	for (size_t i = 0; i < n; i++)
		close(out[i]);
	return -1;
}
