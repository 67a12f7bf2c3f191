/*
 * cmd_spf.c - `mxscreen spf`: evaluate SPF (and Sender ID) for one message, print the result.
 *
 *   mxscreen spf --ip IP --helo NAME --mail-from ADDR [--dns HOST:PORT] [--pra FILE]
 *                [--scope mfrom] [-c FILE] [-o name=value]...
 *
 * Output: `spf=<result> smtp.mailfrom=<domain>` (smtp.helo=<name> for the null
 * sender), then `exp="..."` when the domain published an explanation; with
 * --pra, `senderid=<result> header.<field>=<domain>` for the PRA of RFC 4407.
 * --scope mfrom evaluates the MAIL FROM with Sender ID records (spf2.0/mfrom,
 * falling back to v=spf1) and prints `senderid=<result> smtp.mailfrom=...`.
 * Exit: 0 pass/neutral/none, 1 fail/softfail/permerror, 2 usage, 3 temperror.
 * The resolver is --dns, else $MXSCREEN_DNS, else the dns_servers setting.
 * --repeat N [--cold] (for bench/spf) evaluates N times more and prints
 * `repeat=N seconds=S rate=R`; --cold empties the DNS cache before each.
 */
#include "auth/pra.h"
#include "auth/spf.h"
#include "cli/cli.h"
#include "core/config.h"
#include "net/dns.h"

#include <ctype.h>
#include <event2/event.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct dns *cli_dns(const struct config *cfg, const char *dns_flag, struct event_base *base,
		    char *err, size_t errlen)
{
	struct dns_options o;
	dns_options_from_config(&o, cfg);
	const char *env = getenv("MXSCREEN_DNS");
	if (dns_flag && *dns_flag)
		o.servers = dns_flag;
	else if (env && *env)
		o.servers = env;
	return dns_new(base, &o, err, errlen);
}

struct run {
	struct event_base *base;
	bool done;
};

static void on_done(void *arg, struct spf_eval *e)
{
	(void)e;
	struct run *r = arg;
	r->done = true;
	event_base_loopbreak(r->base);
}

/* Runs one evaluation to completion on the private loop; NULL when out of memory. */
static struct spf_eval *evaluate(struct dns *dns, struct event_base *base,
				 const struct spf_request *req)
{
	struct run r = { .base = base };
	struct spf_eval *e = spf_start(dns, req, on_done, &r);
	while (e && !r.done)
		if (event_base_dispatch(base) < 0)
			break;
	return e;
}

static int exit_for(enum spf_result r)
{
	switch (r) {
	case SPF_TEMPERROR: return EXIT_TEMPFAIL;
	case SPF_FAIL:
	case SPF_SOFTFAIL:
	case SPF_PERMERROR: return EXIT_NEGATIVE;
	default: return EXIT_OK;
	}
}

static int worse(int a, int b)
{
	if (a == EXIT_TEMPFAIL || b == EXIT_TEMPFAIL)
		return EXIT_TEMPFAIL;
	return a > b ? a : b;
}

static void print_quoted(const char *key, const char *s)
{
	printf("%s=\"", key);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
	printf("\"\n");
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 65536, n = 0;
	char *p = malloc(cap);
	while (p) {
		size_t r = fread(p + n, 1, cap - n, f);
		n += r;
		if (n < cap)
			break;
		if (cap >= (64u << 20)) {
			break; /* headers are at the start; a huge body does not matter */
		}
		char *x = realloc(p, cap * 2);
		if (!x) {
			free(p);
			p = NULL;
			break;
		}
		p = x;
		cap *= 2;
	}
	fclose(f);
	*len = n;
	return p;
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

int cmd_spf(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ip", required_argument, NULL, 'i' },
		{ "helo", required_argument, NULL, 'H' },
		{ "mail-from", required_argument, NULL, 'm' },
		{ "dns", required_argument, NULL, 'd' },
		{ "pra", required_argument, NULL, 'p' },
		{ "scope", required_argument, NULL, 's' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "cold", no_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ip = NULL, *helo = NULL, *from = NULL, *dns_flag = NULL, *pra_file = NULL;
	bool scope_mfrom = false, cold = false;
	long repeat = 0;
	int opt;
	while ((opt = getopt_long(argc, argv, "c:o:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'i': ip = optarg; break;
		case 'H': helo = optarg; break;
		case 'm': from = optarg; break;
		case 'd': dns_flag = optarg; break;
		case 'p': pra_file = optarg; break;
		case 'r': repeat = strtol(optarg, NULL, 10); break;
		case 'C': cold = true; break;
		case 's':
			if (strcmp(optarg, "mfrom") != 0) {
				fprintf(stderr, "mxscreen spf: --scope takes 'mfrom'\n");
				return EXIT_USAGE;
			}
			scope_mfrom = true;
			break;
		default:
			if (!cli_common_option(ctx, opt, optarg))
				goto usage;
		}
	}
	if (optind != argc || !ip || (!helo && !from))
		goto usage;
	char err[1024];
	struct config *cfg = cli_load_config(ctx, err, sizeof(err));
	if (!cfg) {
		fprintf(stderr, "mxscreen: config error: %s\n", err);
		return EXIT_USAGE;
	}
	size_t msg_len = 0;
	char *msg = NULL;
	if (pra_file && !(msg = read_file(pra_file, &msg_len))) {
		fprintf(stderr, "mxscreen spf: cannot read %s\n", pra_file);
		config_unref(cfg);
		return EXIT_USAGE;
	}
	struct event_base *base = event_base_new();
	struct dns *dns = base ? cli_dns(cfg, dns_flag, base, err, sizeof(err)) : NULL;
	if (!dns) {
		fprintf(stderr, "mxscreen spf: %s\n", base ? err : "cannot create event loop");
		free(msg);
		if (base)
			event_base_free(base);
		config_unref(cfg);
		return EXIT_USAGE;
	}
	struct spf_request req = {
		.ip = ip,
		.helo = helo,
		.sender = from,
		.receiver = cfg->hostname,
		.identity = SPF_ID_MAILFROM,
		.sender_id = scope_mfrom,
	};
	int rc = EXIT_BUG;
	struct spf_eval *e = evaluate(dns, base, &req);
	if (e) {
		struct buf b = { 0 };
		spf_auth_results(&b, e);
		const char *line = buf_cstr(&b);
		if (scope_mfrom)
			printf("senderid=%s\n", line + 4);
		else
			printf("%s\n", line);
		if (spf_explanation(e))
			print_quoted("exp", spf_explanation(e));
		if (spf_result(e) == SPF_PERMERROR || spf_result(e) == SPF_TEMPERROR)
			fprintf(stderr, "problem: %s\n", spf_problem(e));
		buf_free(&b);
		rc = exit_for(spf_result(e));
		spf_free(e);
	}
	if (e && repeat > 0) {
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (long i = 0; i < repeat; i++) {
			if (cold)
				dns_cache_clear(dns);
			struct spf_eval *x = evaluate(dns, base, &req);
			if (!x)
				break;
			spf_free(x);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		printf("repeat=%ld seconds=%.3f rate=%.1f queries=%llu\n", repeat, secs,
		       secs > 0 ? (double)repeat / secs : 0.0, dns_queries_sent(dns));
	}
	if (e && msg) {
		struct pra pra;
		if (pra_select(msg, msg_len, &pra) < 0) {
			printf("senderid=permerror (no purported responsible address)\n");
			rc = worse(rc, EXIT_NEGATIVE);
		} else {
			struct spf_request r2 = req;
			r2.sender = pra.mailbox;
			r2.identity = SPF_ID_PRA;
			r2.sender_id = true;
			struct spf_eval *s = evaluate(dns, base, &r2);
			if (s) {
				lower(pra.header);
				printf("senderid=%s header.%s=%s\n", spf_result_name(spf_result(s)),
				       pra.header, spf_domain(s));
				if (spf_explanation(s))
					print_quoted("exp", spf_explanation(s));
				rc = worse(rc, exit_for(spf_result(s)));
				spf_free(s);
			} else {
				rc = EXIT_BUG;
			}
		}
	}
	dns_free(dns);
	event_base_free(base);
	free(msg);
	config_unref(cfg);
	return rc;
usage:
	fprintf(stderr, "usage: mxscreen spf --ip IP (--helo NAME | --mail-from ADDR)... "
			"[--dns HOST:PORT] [--pra MESSAGE_FILE] [--scope mfrom]\n");
	return EXIT_USAGE;
}
