/*
 * cmd_dnsbl.c - `mxscreen dnsbl`: what the configured DNSBL/DNSWL zones say about one address.
 *
 *   mxscreen dnsbl --ip IP [--dns HOST:PORT] [--json] [-c FILE] [-o name=value]...
 *
 * Asks the zones of dnsbl_zones and dnswl_zones (as the server would, through
 * the same resolver and rules: reputation/dnsbl.c) and prints one line per
 * zone, one per hit (symbol and weight) and a summary:
 *   zone=bl.example.net list=block status=listed codes=127.0.0.2
 *   symbol=DNSBL_BL_EXAMPLE_NET_2 weight=2 zone=bl.example.net code=127.0.0.2
 *   ip=192.0.2.1 block_weight=2 allow_weight=0 threshold=3 mode=enforce tempfail=0 ...
 * --json prints the same as one object. Exit: 0 no blocklist hit, 1 a
 * blocklist hit, 2 usage or config error, 3 no hit but a blocklist zone could
 * not answer (tempfail or refused). The resolver is --dns, else $MXSCREEN_DNS,
 * else dns_servers.
 */
#include "cli/cli.h"
#include "core/config.h"
#include "net/dns.h"
#include "reputation/dnsbl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

struct run {
	struct event_base *base;
	struct dnsbl_check *check;
	bool json;
	const struct config *cfg;
	int rc;
};

static const char *mode_name(const struct config *cfg)
{
	return cfg->dnsbl_mode == DNSBL_MODE_DRY_RUN ? "dry-run" : "enforce";
}

static int exit_for(const struct dnsbl_result *r)
{
	bool unknown = false;
	for (size_t i = 0; i < r->nhits; i++)
		if (!r->hit[i].allow)
			return EXIT_NEGATIVE;
	for (size_t i = 0; i < r->nzones; i++)
		unknown |= !r->zone[i].allow && (r->zone[i].status == DNSBL_TEMPFAIL ||
						 r->zone[i].status == DNSBL_REFUSED);
	return unknown ? EXIT_TEMPFAIL : EXIT_OK;
}

static void print_text(const struct dnsbl_result *r, const struct config *cfg)
{
	char code[INET_ADDRSTRLEN];
	for (size_t i = 0; i < r->nzones; i++) {
		const struct dnsbl_zone_result *z = &r->zone[i];
		printf("zone=%s list=%s status=%s", z->zone->name, z->allow ? "allow" : "block",
		       dnsbl_status_name(z->status));
		for (size_t k = 0; k < z->ncodes; k++) {
			inet_ntop(AF_INET, &z->codes[k], code, sizeof(code));
			printf("%s%s", k ? "," : " codes=", code);
		}
		putchar('\n');
	}
	for (size_t i = 0; i < r->nhits; i++)
		printf("symbol=%s weight=%d zone=%s code=%s\n", r->hit[i].symbol, r->hit[i].weight,
		       r->hit[i].zone, r->hit[i].code);
	printf("ip=%s block_weight=%d allow_weight=%d threshold=%llu mode=%s tempfail=%u "
	       "refused=%u wildcard=%u\n",
	       r->ip, r->block_weight, r->allow_weight, (unsigned long long)cfg->dnsbl_threshold,
	       mode_name(cfg), r->tempfail, r->refused, r->wildcard);
}

static int print_json(const struct dnsbl_result *r, const struct config *cfg)
{
	char code[INET_ADDRSTRLEN];
	json_t *zones = json_array(), *hits = json_array();
	for (size_t i = 0; zones && i < r->nzones; i++) {
		const struct dnsbl_zone_result *z = &r->zone[i];
		json_t *codes = json_array();
		for (size_t k = 0; codes && k < z->ncodes; k++) {
			inet_ntop(AF_INET, &z->codes[k], code, sizeof(code));
			json_array_append_new(codes, json_string(code));
		}
		json_array_append_new(zones, json_pack("{s:s, s:s, s:s, s:o*}", "zone", z->zone->name,
						       "list", z->allow ? "allow" : "block", "status",
						       dnsbl_status_name(z->status), "codes", codes));
	}
	for (size_t i = 0; hits && i < r->nhits; i++) {
		const struct dnsbl_hit *h = &r->hit[i];
		json_array_append_new(hits, json_pack("{s:s, s:i, s:s, s:s, s:s}", "symbol",
						      h->symbol, "weight", h->weight, "zone",
						      h->zone, "code", h->code, "list",
						      h->allow ? "allow" : "block"));
	}
	json_t *doc = json_pack("{s:s, s:o*, s:o*, s:i, s:i, s:I, s:s, s:i, s:i, s:i}", "ip", r->ip,
				"zones", zones, "hits", hits, "block_weight", r->block_weight,
				"allow_weight", r->allow_weight, "threshold",
				(json_int_t)cfg->dnsbl_threshold, "mode", mode_name(cfg),
				"tempfail", (int)r->tempfail, "refused", (int)r->refused,
				"wildcard", (int)r->wildcard);
	int rc = doc && json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 ? 0 : -1;
	if (rc == 0)
		putchar('\n');
	json_decref(doc);
	return rc;
}

static void on_done(void *arg, const struct dnsbl_result *r)
{
	struct run *run = arg;
	run->rc = exit_for(r);
	if (!run->json)
		print_text(r, run->cfg);
	else if (print_json(r, run->cfg) < 0)
		run->rc = EXIT_BUG;
	dnsbl_check_free(run->check);
	run->check = NULL;
	event_base_loopbreak(run->base);
}

int cmd_dnsbl(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ip", required_argument, NULL, 'i' },
		{ "dns", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ip = NULL, *dns_flag = NULL;
	bool json = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "c:o:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'i': ip = optarg; break;
		case 'd': dns_flag = optarg; break;
		case 'j': json = true; break;
		default:
			if (!cli_common_option(ctx, opt, optarg))
				goto usage;
		}
	}
	if (optind != argc || !ip)
		goto usage;
	char err[1024];
	struct config *cfg = cli_load_config(ctx, err, sizeof(err));
	if (!cfg) {
		fprintf(stderr, "mxscreen: config error: %s\n", err);
		return EXIT_USAGE;
	}
	int rc = EXIT_USAGE;
	struct dnsbl_zones *bl = dnsbl_zones_parse(cfg->dnsbl_zones, false, err, sizeof(err));
	struct dnsbl_zones *wl = bl ? dnsbl_zones_parse(cfg->dnswl_zones, true, err, sizeof(err))
				    : NULL;
	struct event_base *base = NULL;
	struct dns *dns = NULL;
	if (!bl || !wl) {
		fprintf(stderr, "mxscreen dnsbl: %s\n", err); /* config_finish checked: memory */
		goto out;
	}
	if (bl->n + wl->n == 0) {
		fprintf(stderr, "mxscreen dnsbl: no zones: set dnsbl_zones and/or dnswl_zones "
				"(-o dnsbl_zones=...)\n");
		goto out;
	}
	base = event_base_new();
	dns = base ? cli_dns(cfg, dns_flag, base, err, sizeof(err)) : NULL;
	if (!dns) {
		fprintf(stderr, "mxscreen dnsbl: %s\n", base ? err : "cannot create event loop");
		goto out;
	}
	struct run run = { .base = base, .json = json, .cfg = cfg, .rc = EXIT_BUG };
	run.check = dnsbl_check_start(dns, bl, wl, ip, on_done, &run);
	if (!run.check) {
		if (errno == EINVAL)
			fprintf(stderr, "mxscreen dnsbl: '%s' is not an IP address\n", ip);
		else
			fprintf(stderr, "mxscreen dnsbl: out of memory\n");
		rc = errno == EINVAL ? EXIT_USAGE : EXIT_BUG;
		goto out;
	}
	while (run.check)
		if (event_base_dispatch(base) < 0)
			break;
	dnsbl_check_free(run.check);
	rc = run.rc;
out:
	dnsbl_zones_unref(bl);
	dnsbl_zones_unref(wl);
	dns_free(dns);
	if (base)
		event_base_free(base);
	config_unref(cfg);
	return rc;
usage:
	fprintf(stderr, "usage: mxscreen dnsbl --ip IP [--dns HOST:PORT] [--json] "
			"[-o dnsbl_zones=...] [-o dnswl_zones=...]\n");
	return EXIT_USAGE;
}
