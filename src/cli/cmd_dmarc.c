/*
 * cmd_dmarc.c - `mxscreen dmarc aggregate`: the stored DMARC aggregate data.
 *
 * Reads the store (read-only; the server may be running) and prints the rows
 * of RFC 7489 Appendix C with their counts, per day and policy domain, and the
 * policy_published entries: key=value lines, or one JSON document (jansson)
 * with --json. Order is stable: day, domain, source IP, header_from, first seen.
 * Not here yet: the XML report itself (`dmarc report`).
 */
#include "cli/cli.h"
#include "core/config.h"
#include "store/store.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
	"usage: mxscreen dmarc aggregate [-c FILE] [-o name=value]... [--day YYYY-MM-DD] "
	"[--domain DOMAIN] [--json]\n";

/* ---- key=value lines ---------------------------------------------------- */

/* A value for a key=value line: "-" when empty, quoted when it has spaces. */
static void kv(const char *key, const char *v)
{
	if (!v || !*v) {
		printf(" %s=-", key);
		return;
	}
	if (!strpbrk(v, " \t\"=\\")) {
		printf(" %s=%s", key, v);
		return;
	}
	printf(" %s=\"", key);
	for (const char *p = v; *p; p++)
		printf(*p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
	putchar('"');
}

static int print_row_text(void *arg, const struct store_dmarc *d)
{
	(void)arg;
	printf("row day=%s", d->day);
	kv("domain", d->domain);
	kv("source_ip", d->source_ip);
	printf(" count=%llu", d->count);
	kv("header_from", d->header_from);
	kv("envelope_from", d->envelope_from);
	kv("disposition", d->disposition);
	kv("dkim", d->dkim);
	kv("spf", d->spf);
	kv("reason", d->reason);
	kv("comment", d->comment);
	for (size_t i = 0; i < d->ndkim_auth; i++)
		printf(" auth_dkim=%s/%s/%s", d->dkim_auth[i].domain, d->dkim_auth[i].selector,
		       d->dkim_auth[i].result);
	if (d->spf_result)
		printf(" auth_spf=%s/%s/%s", d->spf_domain, d->spf_scope, d->spf_result);
	putchar('\n');
	return 0;
}

static int print_policy_text(void *arg, const struct store_dmarc *d)
{
	(void)arg;
	printf("policy day=%s", d->day);
	kv("domain", d->domain);
	kv("adkim", d->adkim);
	kv("aspf", d->aspf);
	kv("p", d->p);
	kv("sp", d->sp);
	printf(" pct=%u", d->pct);
	kv("fo", d->fo);
	kv("rua", d->rua);
	putchar('\n');
	return 0;
}

/* ---- JSON ---------------------------------------------------------------- */

/* Appends to a JSON array; a non-zero return stops the query (out of memory). */
static int add_row_json(void *arg, const struct store_dmarc *d)
{
	json_t *dkim = json_array(), *auth = json_object();
	for (size_t i = 0; dkim && i < d->ndkim_auth; i++)
		json_array_append_new(dkim, json_pack("{s:s, s:s, s:s}", "domain",
						      d->dkim_auth[i].domain, "selector",
						      d->dkim_auth[i].selector, "result",
						      d->dkim_auth[i].result));
	json_t *spf = d->spf_result ? json_pack("{s:s, s:s, s:s}", "domain", d->spf_domain,
						"scope", d->spf_scope, "result", d->spf_result)
				    : json_null();
	if (auth) {
		json_object_set_new(auth, "dkim", dkim ? dkim : json_null());
		json_object_set_new(auth, "spf", spf ? spf : json_null());
	}
	json_t *row = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o*}",
				"day", d->day, "domain", d->domain, "source_ip", d->source_ip,
				"count", (json_int_t)d->count, "header_from", d->header_from,
				"envelope_from", d->envelope_from, "disposition", d->disposition,
				"dkim", d->dkim, "spf", d->spf, "reason", d->reason, "comment",
				d->comment, "auth_results", auth);
	return row ? json_array_append_new(arg, row) : -1;
}

static int add_policy_json(void *arg, const struct store_dmarc *d)
{
	json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s}", "day", d->day,
			      "domain", d->domain, "adkim", d->adkim, "aspf", d->aspf, "p", d->p,
			      "sp", d->sp, "pct", (int)d->pct, "fo", d->fo, "rua", d->rua);
	return p ? json_array_append_new(arg, p) : -1;
}

static int aggregate_json(struct store *st, const struct store_filter *f, char *err,
			  size_t errlen)
{
	json_t *rows = json_array(), *pols = json_array();
	json_t *doc = json_pack("{s:i, s:o*, s:o*}", "schema", store_schema_version(st),
				"policies", pols, "rows", rows);
	int rc = -1;
	if (!doc || !rows || !pols) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (store_dmarc_policies(st, f, add_policy_json, pols, err, errlen) < 0 ||
	    store_dmarc_rows(st, f, add_row_json, rows, err, errlen) < 0)
		goto out;
	if (json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0) {
		snprintf(err, errlen, "cannot write the output");
		goto out;
	}
	putchar('\n');
	rc = 0;
out:
	json_decref(doc);
	return rc;
}

/* ---- command ------------------------------------------------------------- */

static int aggregate(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "day", required_argument, NULL, 'd' },
		{ "domain", required_argument, NULL, 'D' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	char day[11] = "";
	const char *domain = NULL;
	bool json = false;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:o:", longopts, NULL)) != -1) {
		if (cli_common_option(ctx, opt, optarg))
			continue;
		if (opt == 'd' && store_day_parse(optarg, strlen(optarg), day) == 0)
			continue;
		if (opt == 'd') {
			fprintf(stderr, "mxscreen: --day: '%s' is not a date YYYY-MM-DD\n", optarg);
			return EXIT_USAGE;
		}
		if (opt == 'D')
			domain = optarg;
		else if (opt == 'j')
			json = true;
		else {
			fputs(usage_text, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	char err[1024], path[4096];
	struct config *cfg = cli_load_config(ctx, err, sizeof(err));
	if (!cfg) {
		fprintf(stderr, "mxscreen: config error: %s\n", err);
		return EXIT_USAGE;
	}
	int rc = store_path(cfg, path, sizeof(path));
	config_unref(cfg);
	if (rc < 0 || access(path, F_OK) < 0) {
		fprintf(stderr, "mxscreen: no store at %s (`mxscreen serve` creates it)\n",
			rc < 0 ? "store_path" : path);
		return EXIT_USAGE;
	}
	struct store *st = store_open(path, true, err, sizeof(err));
	if (!st) {
		fprintf(stderr, "mxscreen: store: %s\n", err);
		return EXIT_TEMPFAIL;
	}
	struct store_filter f = { .day = day, .domain = domain };
	if (json)
		rc = aggregate_json(st, &f, err, sizeof(err));
	else
		rc = store_dmarc_policies(st, &f, print_policy_text, NULL, err, sizeof(err)) < 0 ||
				     store_dmarc_rows(st, &f, print_row_text, NULL, err, sizeof(err)) < 0
			     ? -1
			     : 0;
	store_close(st);
	if (rc < 0 || fflush(stdout) != 0) {
		fprintf(stderr, "mxscreen: store: %s\n", rc < 0 ? err : "cannot write the output");
		return EXIT_TEMPFAIL;
	}
	return EXIT_OK;
}

int cmd_dmarc(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "aggregate"))
		return aggregate(ctx, argc - 1, argv + 1);
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}
