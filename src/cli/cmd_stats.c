/*
 * cmd_stats.c - `mxscreen stats`: the stored per-day statistics of IPs, ranges
 * and domains (store record STORE_STAT, docs/store.md).
 *
 * Reads the store read-only (the server may be running): rows filtered by
 * kind, key and an inclusive day range, ordered by key then day. Output is a
 * text table (one line per entity and day: the main counters as columns, the
 * other non-zero counters, refusals by reason code and the samples after them)
 * or one JSON document (jansson) with --json. Both are built from the same
 * collected JSON rows. Not here: reputation scores (`mxscreen ip show` asks
 * the running server).
 */
#include "cli/cli.h"
#include "store/store.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage_text[] =
	"usage: mxscreen stats [-c FILE] [-o name=value]... [--kind ip|net|domain] [--key KEY] "
	"[--from YYYY-MM-DD] [--to YYYY-MM-DD] [--limit N] [--json]\n";

/* The counters shown as table columns (the others follow as name=n when not zero). */
static const struct {
	enum stat_counter c;
	const char *head;
} columns[] = {
	{ ST_CONNECTIONS, "CONN" }, { ST_RCPT, "RCPT" },     { ST_MESSAGES, "MSGS" },
	{ ST_INBOX, "INBOX" },	    { ST_JUNK, "JUNK" },     { ST_REJECT, "REJECT" },
	{ ST_TEMPFAIL, "TEMPFAIL" }, { ST_LIMITED, "LIMITED" },
};
#define NCOLUMNS (sizeof(columns) / sizeof(columns[0]))

static json_t *json_str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* Appends one row to the JSON array arg; non-zero (out of memory) stops the query. */
static int add_row(void *arg, const struct store_stat *t)
{
	json_t *counters = json_object(), *reasons = json_object();
	for (int i = 0; counters && i < ST__COUNT; i++)
		if (json_object_set_new(counters, stat_counter_name((enum stat_counter)i),
					json_integer((json_int_t)t->n[i])) < 0)
			goto fail;
	for (size_t i = 0; reasons && i < t->nreason; i++)
		if (json_object_set_new(reasons, t->reason[i].code,
					json_integer((json_int_t)t->reason[i].n)) < 0)
			goto fail;
	if (!counters || !reasons)
		goto fail;
	json_t *row = json_pack("{s:s, s:s, s:s, s:I, s:I, s:o, s:o, s:I, s:o, s:o}", "day",
				t->day, "kind", store_entity_kind_name(t->kind), "key", t->key,
				"first_ts", (json_int_t)t->first_ts, "last_ts",
				(json_int_t)t->last_ts, "counters", counters, "reasons", reasons,
				"reasons_left_off", (json_int_t)t->nreason_left_off, "helo",
				json_str_or_null(t->helo), "mail_from",
				json_str_or_null(t->mail_from));
	return row ? json_array_append_new(arg, row) : -1; /* json_pack took the objects */
fail:
	json_decref(counters);
	json_decref(reasons);
	return -1;
}

static long long jint(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

/* The separator before a DETAILS item: two spaces before the first (a column), one after. */
static const char *sep(bool *first)
{
	const char *s = *first ? "  " : " ";
	*first = false;
	return s;
}

/* A value for a key=value field: quoted when it has spaces, quotes, '=', backslashes or
 * controls; controls (samples come from the network) are written as \xNN. */
static void kv(bool *first, const char *key, const char *v)
{
	bool plain = *v != '\0';
	for (const unsigned char *p = (const unsigned char *)v; *p && plain; p++)
		plain = *p > ' ' && *p != 0x7f && !strchr("\"=\\", *p);
	if (plain) {
		printf("%s%s=%s", sep(first), key, v);
		return;
	}
	printf("%s%s=\"", sep(first), key);
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p < ' ' || *p == 0x7f)
			printf("\\x%02x", *p);
		else
			printf(*p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
	}
	putchar('"');
}

static void time_field(bool *first, const char *key, long long ts)
{
	char buf[32];
	time_t t = (time_t)ts;
	struct tm tm;
	if (ts && gmtime_r(&t, &tm) && strftime(buf, sizeof(buf), "%H:%M:%SZ", &tm))
		printf("%s%s=%s", sep(first), key, buf);
}

static void print_table(json_t *rows)
{
	size_t keyw = 3, i;
	json_t *row;
	json_array_foreach(rows, i, row) {
		size_t l = strlen(json_string_value(json_object_get(row, "key")));
		keyw = l > keyw ? l : keyw;
	}
	printf("%-10s  %-6s  %-*s", "DAY", "KIND", (int)keyw, "KEY");
	for (size_t c = 0; c < NCOLUMNS; c++)
		printf("  %*s", (int)strlen(columns[c].head), columns[c].head);
	printf("  DETAILS\n");
	json_array_foreach(rows, i, row) {
		json_t *counters = json_object_get(row, "counters");
		printf("%-10s  %-6s  %-*s", json_string_value(json_object_get(row, "day")),
		       json_string_value(json_object_get(row, "kind")), (int)keyw,
		       json_string_value(json_object_get(row, "key")));
		bool shown[ST__COUNT] = { false };
		for (size_t c = 0; c < NCOLUMNS; c++) {
			printf("  %*lld", (int)strlen(columns[c].head),
			       jint(counters, stat_counter_name(columns[c].c)));
			shown[columns[c].c] = true;
		}
		bool first = true;
		for (int c = 0; c < ST__COUNT; c++) {
			long long v = jint(counters, stat_counter_name((enum stat_counter)c));
			if (!shown[c] && v)
				printf("%s%s=%lld", sep(&first), stat_counter_name((enum stat_counter)c),
				       v);
		}
		json_t *reasons = json_object_get(row, "reasons");
		if (json_object_size(reasons)) {
			const char *code;
			json_t *n;
			printf("%sreasons=", sep(&first));
			const char *comma = "";
			json_object_foreach(reasons, code, n) {
				printf("%s%s:%lld", comma, code, (long long)json_integer_value(n));
				comma = ",";
			}
			long long more = jint(row, "reasons_left_off");
			if (more)
				printf(",+%lld_more", more);
		}
		time_field(&first, "first", jint(row, "first_ts"));
		time_field(&first, "last", jint(row, "last_ts"));
		const char *helo = json_string_value(json_object_get(row, "helo"));
		const char *from = json_string_value(json_object_get(row, "mail_from"));
		if (helo)
			kv(&first, "helo", helo);
		if (from)
			kv(&first, "mail_from", from);
		putchar('\n');
	}
}

struct stats_opts {
	struct store_stat_filter f;
	char from[11], to[11];
	char *key;
	bool json;
};

/* EXIT_OK, or EXIT_USAGE after saying why. */
static int parse_opts(struct cli_ctx *ctx, int argc, char **argv, struct stats_opts *o)
{
	static const struct option longopts[] = {
		{ "kind", required_argument, NULL, 'k' }, { "key", required_argument, NULL, 'K' },
		{ "from", required_argument, NULL, 'f' }, { "to", required_argument, NULL, 't' },
		{ "limit", required_argument, NULL, 'l' }, { "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:o:", longopts, NULL)) != -1) {
		if (cli_common_option(ctx, opt, optarg))
			continue;
		switch (opt) {
		case 'k':
			if (store_entity_kind_parse(optarg, &o->f.kind) < 0) {
				fprintf(stderr, "mxscreen: --kind: '%s' is not ip, net or domain\n",
					optarg);
				return EXIT_USAGE;
			}
			o->f.by_kind = true;
			break;
		case 'K':
			/* Keys are stored lower case (domains, IPv6 hex digits). */
			free(o->key);
			o->key = strdup(optarg);
			if (!o->key) {
				fprintf(stderr, "mxscreen: out of memory\n");
				return EXIT_USAGE;
			}
			for (char *p = o->key; *p; p++)
				*p = (char)tolower((unsigned char)*p);
			break;
		case 'f':
		case 't':
			if (store_day_parse(optarg, strlen(optarg), opt == 'f' ? o->from : o->to) < 0) {
				fprintf(stderr, "mxscreen: --%s: '%s' is not a date YYYY-MM-DD\n",
					opt == 'f' ? "from" : "to", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'l': {
			char *end;
			errno = 0;
			unsigned long long n = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || *optarg == '-' || n > SIZE_MAX) {
				fprintf(stderr, "mxscreen: --limit: '%s' is not a number\n", optarg);
				return EXIT_USAGE;
			}
			o->f.limit = (size_t)n;
			break;
		}
		case 'j':
			o->json = true;
			break;
		default:
			fputs(usage_text, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	o->f.key = o->key;
	o->f.day_from = o->from[0] ? o->from : NULL;
	o->f.day_to = o->to[0] ? o->to : NULL;
	return EXIT_OK;
}

int cmd_stats(struct cli_ctx *ctx, int argc, char **argv)
{
	struct stats_opts o = { 0 };
	int rc = parse_opts(ctx, argc, argv, &o);
	if (rc != EXIT_OK) {
		free(o.key);
		return rc;
	}
	struct store *st = cli_open_store(ctx, NULL, &rc);
	if (!st) {
		free(o.key);
		return rc;
	}
	char err[1024];
	json_t *rows = json_array();
	json_t *doc = json_pack("{s:i, s:o*}", "schema", store_schema_version(st), "rows", rows);
	rc = EXIT_TEMPFAIL;
	if (!doc || !rows) {
		snprintf(err, sizeof(err), "out of memory");
		goto out;
	}
	if (store_stat_rows(st, &o.f, add_row, rows, err, sizeof(err)) < 0)
		goto out;
	if (o.json) {
		if (json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0)
			goto write_failed;
		putchar('\n');
	} else {
		print_table(rows);
	}
	if (fflush(stdout) != 0)
		goto write_failed;
	rc = EXIT_OK;
	goto out;
write_failed:
	snprintf(err, sizeof(err), "cannot write the output");
out:
	if (rc != EXIT_OK)
		fprintf(stderr, "mxscreen: stats: %s\n", err);
	json_decref(doc);
	store_close(st);
	free(o.key);
	return rc;
}
