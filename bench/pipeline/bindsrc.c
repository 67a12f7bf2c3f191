/*
 * bench/pipeline/bindsrc.c: LD_PRELOAD shim that binds every IPv4 TCP socket to
 * the source address in $BENCH_BIND before it connects.
 *
 * smtp-source has no option for its source address, and on Linux a connection
 * to any 127.0.0.x leaves from 127.0.0.1; the pipeline bench needs senders on
 * several 127.0.0.x addresses (per-IP reputation, limits, FCrDNS), so each
 * smtp-source instance runs with this shim and its own BENCH_BIND.
 * Build: cc -O2 -shared -fPIC -o bindsrc.so bindsrc.c -ldl
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	static int (*real_connect)(int, const struct sockaddr *, socklen_t);
	const char *src = getenv("BENCH_BIND");

	if (real_connect == NULL)
		real_connect = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT,
										    "connect");
	if (src != NULL && addr != NULL && addr->sa_family == AF_INET) {
		struct sockaddr_in sin;

		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		if (inet_pton(AF_INET, src, &sin.sin_addr) == 1)
			(void)bind(fd, (struct sockaddr *)&sin, sizeof(sin)); /* connect() reports failures */
	}
	return real_connect(fd, addr, len);
}
