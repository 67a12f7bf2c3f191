/*
 * cmd_dmarc.c - `mxscreen dmarc aggregate|report`: the stored DMARC aggregate data.
 *
 * Both read the store (read-only; the server may be running). `aggregate`
 * prints the rows of RFC 7489 Appendix C with their counts, per day and policy
 * domain, and the policy_published entries: key=value lines, or one JSON
 * document (jansson) with --json. Order is stable: day, domain, source IP,
 * header_from, first seen. `report` writes the Appendix C aggregate report
 * (XML, GLib's markup escaping into a GString) of one policy domain and UTC day.
 * Not here: sending reports to the rua= addresses.
 */
#include "cli/cli.h"
#include "core/config.h"
#include "store/store.h"

#include <getopt.h>
#include <glib.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
	"usage: mxscreen dmarc aggregate [-c FILE] [-o name=value]... [--day YYYY-MM-DD] "
	"[--domain DOMAIN] [--json]\n"
	"       mxscreen dmarc report [-c FILE] [-o name=value]... --domain DOMAIN "
	"--day YYYY-MM-DD\n";

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

/* ---- Appendix C report ---------------------------------------------------- */

struct report {
	GString *out; /* the document; GLib aborts when out of memory */
	int depth;    /* of open elements: one space of indentation each */
	size_t npolicy, nrows;
	size_t replaced; /* characters written as U+FFFD (append_text) */
};

/*
 * Appends v as character data. XML 1.0 (section 2.2) cannot carry C0 controls
 * other than tab, LF and CR, nor U+FFFE/U+FFFF, and a parser reads a raw CR as
 * LF: those, and bytes that are not UTF-8, become U+FFFD, so the document is
 * well-formed whatever the store holds. g_markup_escape_text() escapes the rest
 * (& < > " '); it would write C0 controls as &#x1;, which XML 1.0 forbids too.
 * Returns how many characters were replaced.
 */
static size_t append_text(GString *out, const char *v)
{
	GString *clean = g_string_sized_new(strlen(v));
	size_t replaced = 0;
	for (const char *p = v; *p;) {
		gunichar c = g_utf8_get_char_validated(p, -1);
		bool ok = c != (gunichar)-1 && c != (gunichar)-2;
		const char *next = ok ? g_utf8_next_char(p) : p + 1;
		if (ok && (c >= 0x20 || c == '\t' || c == '\n') && c != 0xFFFE && c != 0xFFFF) {
			g_string_append_len(clean, p, next - p);
		} else {
			g_string_append_unichar(clean, 0xFFFD);
			replaced++;
		}
		p = next;
	}
	char *text = g_markup_escape_text(clean->str, (gssize)clean->len);
	g_string_append(out, text);
	g_free(text);
	g_string_free(clean, TRUE);
	return replaced;
}

static void el(struct report *r, const char *name, const char *v)
{
	g_string_append_printf(r->out, "%*s<%s>", r->depth, "", name);
	r->replaced += append_text(r->out, v ? v : "");
	g_string_append_printf(r->out, "</%s>\n", name);
}

static void open_el(struct report *r, const char *name)
{
	g_string_append_printf(r->out, "%*s<%s>\n", r->depth++, "", name);
}

static void close_el(struct report *r, const char *name)
{
	g_string_append_printf(r->out, "%*s</%s>\n", --r->depth, "", name);
}

static int report_policy(void *arg, const struct store_dmarc *d)
{
	struct report *r = arg;
	char pct[16];
	snprintf(pct, sizeof(pct), "%u", d->pct);
	open_el(r, "policy_published");
	el(r, "domain", d->domain);
	el(r, "adkim", d->adkim);
	el(r, "aspf", d->aspf);
	el(r, "p", d->p);
	el(r, "sp", d->sp);
	el(r, "pct", pct);
	el(r, "fo", d->fo);
	close_el(r, "policy_published");
	r->npolicy++;
	return 0;
}

static int report_row(void *arg, const struct store_dmarc *d)
{
	struct report *r = arg;
	char count[32];
	snprintf(count, sizeof(count), "%llu", d->count);
	open_el(r, "record");
	open_el(r, "row");
	el(r, "source_ip", d->source_ip);
	el(r, "count", count);
	open_el(r, "policy_evaluated");
	el(r, "disposition", d->disposition);
	el(r, "dkim", d->dkim);
	el(r, "spf", d->spf);
	if (*d->reason) {
		open_el(r, "reason");
		el(r, "type", d->reason);
		if (*d->comment)
			el(r, "comment", d->comment);
		close_el(r, "reason");
	}
	close_el(r, "policy_evaluated");
	close_el(r, "row");
	open_el(r, "identifiers");
	el(r, "envelope_from", d->envelope_from);
	el(r, "header_from", d->header_from);
	close_el(r, "identifiers");
	open_el(r, "auth_results");
	for (size_t i = 0; i < d->ndkim_auth; i++) {
		open_el(r, "dkim");
		el(r, "domain", d->dkim_auth[i].domain);
		el(r, "selector", d->dkim_auth[i].selector);
		el(r, "result", d->dkim_auth[i].result);
		close_el(r, "dkim");
	}
	/* The schema wants one spf result at least: "none" when SPF was not checked. */
	open_el(r, "spf");
	el(r, "domain", d->spf_result ? d->spf_domain : d->envelope_from);
	el(r, "scope", d->spf_result ? d->spf_scope : "mfrom");
	el(r, "result", d->spf_result ? d->spf_result : "none");
	close_el(r, "spf");
	close_el(r, "auth_results");
	close_el(r, "record");
	r->nrows++;
	return 0;
}

/* report_metadata: we are the reporter; the range is the UTC day. */
static void report_metadata(struct report *r, const char *hostname, const struct store_filter *f)
{
	struct tm tm = { 0 };
	tm.tm_year = atoi(f->day) - 1900;
	tm.tm_mon = atoi(f->day + 5) - 1;
	tm.tm_mday = atoi(f->day + 8);
	long long begin = (long long)timegm(&tm);
	char email[300], id[600], b[32], e[32];
	snprintf(email, sizeof(email), "postmaster@%s", hostname);
	snprintf(id, sizeof(id), "%s!%s!%s", hostname, f->domain, f->day);
	snprintf(b, sizeof(b), "%lld", begin);
	snprintf(e, sizeof(e), "%lld", begin + 86399);
	el(r, "version", "1.0");
	open_el(r, "report_metadata");
	el(r, "org_name", hostname);
	el(r, "email", email);
	el(r, "report_id", id);
	open_el(r, "date_range");
	el(r, "begin", b);
	el(r, "end", e);
	close_el(r, "date_range");
	close_el(r, "report_metadata");
}

/* Writes the report to stdout: EXIT_OK, EXIT_NEGATIVE (no data), EXIT_TEMPFAIL. */
static int report_xml(struct store *st, const char *hostname, const struct store_filter *f)
{
	struct report r = { .out = g_string_new("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n") };
	char err[512];
	int rc = EXIT_TEMPFAIL;
	open_el(&r, "feedback");
	report_metadata(&r, hostname, f);
	if (store_dmarc_policies(st, f, report_policy, &r, err, sizeof(err)) < 0)
		goto out;
	if (r.npolicy == 0) {
		snprintf(err, sizeof(err), "nothing recorded for %s on %s", f->domain, f->day);
		rc = EXIT_NEGATIVE;
		goto out;
	}
	if (store_dmarc_rows(st, f, report_row, &r, err, sizeof(err)) < 0)
		goto out;
	close_el(&r, "feedback");
	if (fwrite(r.out->str, 1, r.out->len, stdout) != r.out->len || fflush(stdout) != 0) {
		snprintf(err, sizeof(err), "cannot write the report");
		goto out;
	}
	if (r.replaced)
		fprintf(stderr,
			"mxscreen: dmarc report: %zu characters XML cannot carry written as"
			" U+FFFD\n",
			r.replaced);
	rc = EXIT_OK;
out:
	g_string_free(r.out, TRUE);
	if (rc != EXIT_OK)
		fprintf(stderr, "mxscreen: dmarc report: %s\n", err);
	return rc;
}

/* ---- command ------------------------------------------------------------- */

struct dmarc_opts {
	char day[11];
	const char *domain;
	bool json;
};

/* Options of both subcommands; EXIT_OK or EXIT_USAGE (after saying why). */
static int parse_opts(struct cli_ctx *ctx, int argc, char **argv, struct dmarc_opts *o)
{
	static const struct option longopts[] = {
		{ "day", required_argument, NULL, 'd' },
		{ "domain", required_argument, NULL, 'D' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:o:", longopts, NULL)) != -1) {
		if (cli_common_option(ctx, opt, optarg))
			continue;
		if (opt == 'd' && store_day_parse(optarg, strlen(optarg), o->day) < 0) {
			fprintf(stderr, "mxscreen: --day: '%s' is not a date YYYY-MM-DD\n", optarg);
			return EXIT_USAGE;
		}
		if (opt == 'D')
			o->domain = optarg;
		else if (opt == 'j')
			o->json = true;
		else if (opt != 'd')
			break;
	}
	if (opt != -1 || optind != argc) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

struct store *cli_open_store(struct cli_ctx *ctx, char **hostname, int *rc)
{
	char err[1024], path[4096];
	struct config *cfg = cli_load_config(ctx, err, sizeof(err));
	*rc = EXIT_USAGE;
	if (!cfg) {
		fprintf(stderr, "mxscreen: config error: %s\n", err);
		return NULL;
	}
	int prc = store_path(cfg, path, sizeof(path));
	if (hostname)
		*hostname = strdup(cfg->hostname);
	config_unref(cfg);
	if (hostname && !*hostname) {
		fprintf(stderr, "mxscreen: out of memory\n");
		return NULL;
	}
	if (prc < 0 || access(path, F_OK) < 0) {
		fprintf(stderr, "mxscreen: no store at %s (`mxscreen serve` creates it)\n",
			prc < 0 ? "store_path" : path);
		return NULL;
	}
	struct store *st = store_open(path, true, err, sizeof(err));
	if (!st) {
		fprintf(stderr, "mxscreen: store: %s\n", err);
		*rc = EXIT_TEMPFAIL;
	}
	return st;
}

static int aggregate(struct store *st, const struct dmarc_opts *o)
{
	char err[1024];
	struct store_filter f = { .day = o->day, .domain = o->domain };
	int rc;
	if (o->json)
		rc = aggregate_json(st, &f, err, sizeof(err));
	else
		rc = store_dmarc_policies(st, &f, print_policy_text, NULL, err, sizeof(err)) < 0 ||
				     store_dmarc_rows(st, &f, print_row_text, NULL, err, sizeof(err)) < 0
			     ? -1
			     : 0;
	if (rc < 0 || fflush(stdout) != 0) {
		fprintf(stderr, "mxscreen: store: %s\n", rc < 0 ? err : "cannot write the output");
		return EXIT_TEMPFAIL;
	}
	return EXIT_OK;
}

int cmd_dmarc(struct cli_ctx *ctx, int argc, char **argv)
{
	bool report = argc >= 2 && !strcmp(argv[1], "report");
	if (argc < 2 || (!report && strcmp(argv[1], "aggregate") != 0)) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	struct dmarc_opts o = { 0 };
	int rc = parse_opts(ctx, argc - 1, argv + 1, &o);
	if (rc != EXIT_OK)
		return rc;
	if (report && (!o.domain || !o.day[0] || o.json)) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	char *hostname = NULL;
	struct store *st = cli_open_store(ctx, &hostname, &rc);
	if (st) {
		if (report) {
			struct store_filter f = { .day = o.day, .domain = o.domain };
			rc = report_xml(st, hostname, &f);
		} else {
			rc = aggregate(st, &o);
		}
		store_close(st);
	}
	free(hostname);
	return rc;
}
