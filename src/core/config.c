/*
 * config.c - the settings table, parsing, validation, dump and docs; see config.h.
 *
 * Every setting of mxscreen is one row of `settings[]` below: name, type,
 * default, bounds and a one-line doc. Adding a setting means adding a field to
 * struct config and a row here; docs/configuration.md is regenerated from it.
 */
#include "core/config.h"
#include "core/limits.h"
#include "core/log.h"
#include "reputation/dnsbl.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum cfg_type { CFG_STR, CFG_UINT, CFG_SIZE, CFG_DURATION, CFG_BOOL, CFG_ENUM };

static const char *const type_names[] = { "string", "number", "size", "duration", "bool",
					  "enum" };

#define STR(n, d, doc) { #n, CFG_STR, offsetof(struct config, n), d, NULL, 0, 0, doc }
#define NUM(t, n, d, lo, hi, doc) { #n, t, offsetof(struct config, n), d, NULL, lo, hi, doc }
#define ENUM(n, d, ch, doc) { #n, CFG_ENUM, offsetof(struct config, n), d, ch, 0, 0, doc }
#define XSTR(x) #x
#define NSTR(x) XSTR(x)

static const struct config_setting settings[] = {
	STR(hostname, "", "Name of this MX in the banner, Received headers and "
			  "Authentication-Results; empty means the system host name"),
	STR(var_dir, "./var", "State directory: Maildirs under mail/, TLS material under tls/, "
			      "the store"),
	STR(run_user, "", "When started as root, switch to this user after binding listeners; "
			  "empty keeps the current user"),
	STR(control_socket, "control.sock",
	    "UNIX socket of the running server for `mxscreen status|sessions|reload|ip`; a "
	    "relative path is under var_dir; mode 0600, owned by run_user; empty disables it. "
	    "Read at start"),
	STR(portal_url, "http://127.0.0.1:8025",
	    "Base URL of the sender portal; refusals link to <portal_url>/help/<reason code>"),
	STR(smtp_listen, "127.0.0.1:2525",
	    "SMTP listeners, comma separated host:port; IPv6 as [addr]:port"),
	STR(local_domains, "localhost",
	    "Domains this MX receives mail for, comma separated; anything else is relaying "
	    "(550 5.7.1)"),
	STR(recipients, "any", "Valid recipients: 'any' (every local part of a local domain) or "
			       "a file with one address per line"),
	NUM(CFG_SIZE, message_size_limit, NSTR(SMTP_MESSAGE_SIZE_DEFAULT), 1024, 1ull << 31,
	    "Largest accepted message in octets (SIZE, RFC 1870; 552 5.3.4 beyond)"),
	NUM(CFG_UINT, smtp_max_recipients, NSTR(SMTP_RECIPIENTS_DEFAULT), 1, 100000,
	    "Recipients per message (RFC 5321 4.5.3.1.8; 452 4.5.3 beyond)"),
	NUM(CFG_DURATION, smtp_command_timeout, NSTR(SMTP_COMMAND_TIMEOUT_DEFAULT), 1, 86400,
	    "Time to wait for the next command (RFC 5321 4.5.3.2.7); then 421 4.4.2"),
	NUM(CFG_DURATION, smtp_data_timeout, NSTR(SMTP_DATA_TIMEOUT_DEFAULT), 1, 86400,
	    "Inactivity allowed while receiving message data (RFC 5321 4.5.3.2.5)"),
	NUM(CFG_DURATION, smtp_session_limit, NSTR(SMTP_SESSION_LIMIT_DEFAULT), 1, 604800,
	    "Longest a session may last in all; then 421 4.4.2 and close"),
	NUM(CFG_UINT, smtp_max_errors, NSTR(SMTP_MAX_ERRORS_DEFAULT), 1, 1000,
	    "Client errors (4xx/5xx replies) per session before 421 4.7.0 and close"),
	NUM(CFG_UINT, smtp_max_connections, NSTR(SMTP_MAX_CONNECTIONS_DEFAULT), 1, 1000000,
	    "Simultaneous SMTP connections in all; beyond: 421 4.7.0 and close"),
	NUM(CFG_UINT, smtp_max_connections_per_ip, NSTR(SMTP_MAX_CONNECTIONS_PER_IP_DEFAULT), 1,
	    1000000, "Simultaneous SMTP connections from one client IP; beyond: 421 4.7.0"),
	ENUM(smtp_bare_newline, "reject", "reject|normalize",
	     "Message data with a bare LF or CR: 'reject' refuses it (550 5.6.0 after the "
	     "terminator); 'normalize' takes a bare LF as a line end. Only CRLF.CRLF ever ends "
	     "DATA, and a bare CR is refused in both modes"),
	STR(tls_cert, "", "PEM certificate chain for STARTTLS; empty: a self-signed certificate "
			  "is generated under <var_dir>/tls/"),
	STR(tls_key, "", "PEM private key for tls_cert"),
	NUM(CFG_UINT, delivery_threads, "16", 1, 256,
	    "Threads that write and fsync Maildir deliveries off the event loop (concurrent fsyncs share journal commits)"),
	NUM(CFG_DURATION, shutdown_timeout, "30", 0, 3600,
	    "On SIGTERM, how long sessions may go on before they are closed with 421"),
	ENUM(log_level, "info", "debug|info|warn|error", "Least severe log level written"),
	STR(dns_servers, "", "DNS servers, comma separated host:port (IPv6 as [addr]:port); empty "
			     "uses /etc/resolv.conf. CLI commands also take --dns HOST:PORT and "
			     "MXSCREEN_DNS"),
	NUM(CFG_UINT, dns_timeout_ms, NSTR(DNS_TIMEOUT_MS_DEFAULT), 50, 60000,
	    "Milliseconds to wait for the first try of a DNS query (doubled per retry round)"),
	NUM(CFG_UINT, dns_tries, NSTR(DNS_TRIES_DEFAULT), 1, 10,
	    "Tries per DNS query before it is a temporary failure"),
	NUM(CFG_UINT, dns_cache_size, NSTR(DNS_CACHE_SIZE_DEFAULT), 0, 10000000,
	    "DNS answers kept in the cache (least recently used out first); 0 disables it"),
	NUM(CFG_DURATION, dns_cache_max_ttl, "1d", 0, 604800,
	    "Longest a DNS answer is cached, whatever its TTL"),
	NUM(CFG_DURATION, dns_negative_ttl, "60", 0, 86400,
	    "Cache time of NXDOMAIN/NODATA answers that carry no SOA (RFC 2308 5)"),
	{ "spf_check", CFG_BOOL, offsetof(struct config, spf_check), "yes", NULL, 0, 0,
	  "Evaluate SPF (RFC 7208) at MAIL FROM (HELO identity for the null sender)" },
	ENUM(spf_fail, "reject", "reject|facts",
	     "SPF fail: 'reject' answers 550 5.7.23 with the domain's explanation; 'facts' "
	     "passes the result on to the verdict"),
	ENUM(spf_permerror, "facts", "reject|facts",
	     "SPF permerror (a broken record): 'reject' answers 550 5.7.24; 'facts' passes it on"),
	ENUM(spf_temperror, "tempfail", "tempfail|facts",
	     "SPF temperror (DNS failure): 'tempfail' answers 451 4.4.3; 'facts' passes it on"),
	{ "sender_id_check", CFG_BOOL, offsetof(struct config, sender_id_check), "yes", NULL, 0,
	  0, "Evaluate Sender ID (RFC 4406, PRA of RFC 4407) at the end of DATA; the result is "
	     "a fact for the verdict and an Authentication-Results entry, never a reject" },
	{ "dkim_check", CFG_BOOL, offsetof(struct config, dkim_check), "yes", NULL, 0, 0,
	  "Verify DKIM (RFC 6376), ARC (RFC 8617) and DMARC (RFC 7489) at the end of DATA; the "
	  "results are facts for the verdict and entries of Authentication-Results" },
	{ "dmarc_enforce", CFG_BOOL, offsetof(struct config, dmarc_enforce), "yes", NULL, 0, 0,
	  "Apply the author domain's DMARC policy on failure: p=reject refuses with 550 5.7.1, "
	  "p=quarantine delivers to Junk; 'no' keeps the result as a fact only" },
	STR(arc_trusted_sealers, "",
	    "ARC sealers (d= of the newest ARC-Seal, comma separated) whose passing chain overrides "
	    "a DMARC failure: mailing lists and forwarders you trust"),
	{ "dmarc_aggregate", CFG_BOOL, offsetof(struct config, dmarc_aggregate), "yes", NULL, 0, 0,
	  "Record DMARC aggregate data (RFC 7489 7.2) in the store for every message whose From "
	  "domain publishes a DMARC record, refused ones included (docs/store.md)" },
	STR(store_path, "", "SQLite file of the store (statistics, DMARC aggregate data); empty: "
			    "<var_dir>/mxscreen.db. Read at start"),
	NUM(CFG_UINT, store_flush_ms, NSTR(STORE_FLUSH_MS_DEFAULT), 10, 60000,
	    "Milliseconds between store flushes: a kill -9 or crash loses at most the records "
	    "queued in this time (a clean SIGTERM loses none). Read at start"),
	NUM(CFG_UINT, store_batch_max, NSTR(STORE_BATCH_DEFAULT), 1, 100000,
	    "Records written per store transaction at most; a full batch is written at once. "
	    "Read at start"),
	NUM(CFG_UINT, store_queue_max, NSTR(STORE_QUEUE_DEFAULT), 1, 10000000,
	    "Records waiting for the store writer at most; beyond, records are dropped, counted "
	    "and logged (event=store_queue_full), never waited for. Read at start"),
	STR(dnsbl_zones, "",
	    "DNS blocklists asked about every client address, comma or space separated items "
	    "`zone[=FILTER][*WEIGHT]` as in Postfix's postscreen_dnsbl_sites: FILTER limits the "
	    "return codes that count, each octet a number or [a;b;c..d] (`127.0.0.[2..11]`), "
	    "WEIGHT 0..100 (default 1); a zone may be named several times with different "
	    "filters, it is asked once. Each code answered is a symbol `DNSBL_<ZONE>_<last "
	    "octet>` weighing the sum of the matching items; 127.255.255.x (the list refused "
	    "the query) and answers outside 127.0.0.0/8 never count. Example: "
	    "`zen.example.org=127.0.0.[2..11]*3, bl.example.net*2` (docs/dnsbl.md; try a list "
	    "with `mxscreen dnsbl --ip IP`)"),
	STR(dnswl_zones, "",
	    "DNS allowlists, same syntax as dnsbl_zones; a hit is a symbol `DNSWL_<ZONE>_<last "
	    "octet>` whose weight counts for the client (allowlisting), e.g. "
	    "`list.dnswl.example=127.0.[0..255].[1..3]*2`"),
	ENUM(dnsbl_mode, "enforce", "enforce|dry-run",
	     "'enforce': a connection whose blocklist weight, less its allowlist weight, reaches "
	     "dnsbl_threshold is refused; 'dry-run': the hits are logged, counted and shown, "
	     "nothing is refused"),
	NUM(CFG_UINT, dnsbl_threshold, "3", 1, 1000,
	    "Total DNSBL weight (less DNSWL weight) at which a connection is refused"),
	NUM(CFG_UINT, stats_retention_days, NSTR(STATS_RETENTION_DEFAULT), STATS_RETENTION_MIN,
	    36500,
	    "Days of per-IP, per-range and per-domain statistics kept in the store (at least 90); "
	    "older days are deleted once a day, and reputation snapshots not updated for 400 days. "
	    "Read at start"),
	NUM(CFG_BOOL, content_filter, "yes", 0, 0,
	    "Classify every message after DATA (content classifier, docs/classifier.md)"),
	STR(content_model, "models/mxscreen.model",
	    "Classifier model file; a relative path is looked up in the working directory, "
	    "then next to the program's directory (../ of the binary)"),
	NUM(CFG_UINT, content_junk_scl, "5", 1, 10,
	    "Spam Confidence Level (0-9) from which a message goes to the Junk folder; 10: never"),
	NUM(CFG_UINT, junk_score, "5", 1, 1000,
	    "Sum of symbol scores (X-Mxscreen-Symbols, docs/symbols.md) from which a message "
	    "goes to the Junk folder even when no single check junks it"),
	ENUM(smtp_long_lines, "accept", "accept|reject",
	     "Message lines longer than 1000 octets (RFC 5321 4.5.3.1.6): 'accept' stores the "
	     "message as received with the symbol LONG_LINE (as RFC 5321 4.5.3.1 asks of "
	     "servers); 'reject' refuses it with 550 5.6.0 after the terminator"),
	NUM(CFG_UINT, smtp_greet_wait_ms, "0", 0, 30000,
	    "Milliseconds the banner waits (longer while DNS list lookups run, up to the DNS "
	    "timeout); a client that talks before the banner gets the symbol PREGREET "
	    "(RFC 5321 4.3.1: a client must wait for the greeting)"),
	NUM(CFG_DURATION, reputation_half_life, "7d", 3600, 31536000,
	    "Half-life of the decaying counters reputation is computed from "
	    "(docs/reputation.md): behaviour that improves recovers the score at this pace"),
	ENUM(rate_limit_mode, "enforce", "enforce|dry-run",
	     "Sending limits (token buckets per IP and range): 'enforce' answers 421 4.7.28 and "
	     "closes; 'dry-run' only logs, counts and shows the symbol"),
	NUM(CFG_UINT, rate_limit_new, "60", 1, 100000000,
	    "Recipients per hour allowed to an IP without history (warm-up); it grows with "
	    "Inbox deliveries up to rate_limit_good"),
	NUM(CFG_UINT, rate_limit_good, "3600", 1, 100000000,
	    "Recipients per hour allowed to an IP with a good reputation"),
	NUM(CFG_UINT, rate_limit_suspect, "30", 1, 100000000,
	    "Recipients per hour allowed to an IP with a suspect reputation"),
	NUM(CFG_UINT, rate_limit_bad, "6", 1, 100000000,
	    "Recipients per hour allowed to an IP with a bad reputation"),
	NUM(CFG_UINT, rate_limit_net_factor, "4", 1, 1000,
	    "A /24 (IPv4) or /64 (IPv6) is allowed this many times the rate of one IP of its state"),
	NUM(CFG_UINT, rate_limit_escalate, "0", 0, 1000000,
	    "Times in one UTC day a limited sender may come back before its retry-after time "
	    "before the 421 becomes 550 5.7.28 naming this setting; 0: never (always 4xx)"),
	STR(allow_ips, "", "IP addresses and ranges (CIDR, comma separated) exempt from limits, "
			   "blocklists and reputation refusals"),
	STR(block_ips, "", "IP addresses and ranges (CIDR, comma separated) refused at connect "
			   "(554 5.7.1 MXS-REP-001); `mxscreen ip block` adds to them at run time"),
	STR(allow_domains, "", "Sender domains exempt from limits and content junking when SPF- "
			       "or DKIM-aligned (comma separated)"),
	STR(certified_domains, "",
	    "Certified sender domains (a sender-certification program): when SPF- or "
	    "DKIM-aligned they skip the sending limits and content junking; never an "
	    "authentication failure"),
	STR(trap_addresses, "",
	    "Spam trap addresses and domains (user@domain or @domain, comma separated): mail "
	    "to them is accepted into <var_dir>/traps/ (never a user mailbox), counted as a trap "
	    "hit for the source, and the sender is never told"),
	NUM(CFG_DURATION, clock_offset, "0", 0, 315360000,
	    "For tests: seconds added to the clock of reputation, limits and statistics (decay "
	    "without sleeping); leave 0 in production"),
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

const struct config_setting *config_settings(size_t *n)
{
	*n = NSETTINGS;
	return settings;
}

static void errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static const struct config_setting *find_setting(const char *name, size_t len)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (strlen(settings[i].name) == len && strncmp(settings[i].name, name, len) == 0)
			return &settings[i];
	return NULL;
}

static int enum_index(const char *choices, const char *v)
{
	size_t vlen = strlen(v);
	int idx = 0;
	for (const char *p = choices;; idx++) {
		const char *bar = strchr(p, '|');
		size_t n = bar ? (size_t)(bar - p) : strlen(p);
		if (n == vlen && strncmp(p, v, n) == 0)
			return idx;
		if (!bar)
			return -1;
		p = bar + 1;
	}
}

static const char *enum_name(const char *choices, int idx, char *out, size_t outlen)
{
	const char *p = choices;
	for (int i = 0; i < idx && p; i++) {
		p = strchr(p, '|');
		if (p)
			p++;
	}
	if (!p)
		return "?";
	const char *bar = strchr(p, '|');
	size_t n = bar ? (size_t)(bar - p) : strlen(p);
	snprintf(out, outlen, "%.*s", (int)n, p);
	return out;
}

/* Parses an unsigned number with an optional unit suffix. */
static int parse_number(int type, const char *v, uint64_t *out)
{
	if (!isdigit((unsigned char)*v))
		return -1;
	errno = 0;
	char *end;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno)
		return -1;
	uint64_t mul = 1;
	if (type == CFG_SIZE && *end) {
		switch (tolower((unsigned char)*end)) {
		case 'k': mul = 1024; break;
		case 'm': mul = 1024 * 1024; break;
		case 'g': mul = 1024ull * 1024 * 1024; break;
		default: return -1;
		}
		end++;
	} else if (type == CFG_DURATION && *end) {
		switch (*end) {
		case 's': mul = 1; break;
		case 'm': mul = 60; break;
		case 'h': mul = 3600; break;
		case 'd': mul = 86400; break;
		default: return -1;
		}
		end++;
	}
	if (*end || (n && mul > UINT64_MAX / n))
		return -1;
	*out = n * mul;
	return 0;
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1") ||
	    !strcasecmp(v, "on"))
		*out = true;
	else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0") ||
		 !strcasecmp(v, "off"))
		*out = false;
	else
		return -1;
	return 0;
}

static int apply(struct config *c, const struct config_setting *s, const char *v, char *err,
		 size_t errlen)
{
	char *field = (char *)c + s->offset;
	switch (s->type) {
	case CFG_STR: {
		char *dup = strdup(v);
		if (!dup) {
			errf(err, errlen, "out of memory");
			return -1;
		}
		free(*(char **)field);
		*(char **)field = dup;
		return 0;
	}
	case CFG_UINT:
	case CFG_SIZE:
	case CFG_DURATION: {
		uint64_t n;
		if (parse_number(s->type, v, &n) < 0) {
			errf(err, errlen, "%s: '%s' is not a valid %s", s->name, v,
			     type_names[s->type]);
			return -1;
		}
		if (n < s->min || n > s->max) {
			errf(err, errlen, "%s: %s is out of range %llu..%llu", s->name, v,
			     (unsigned long long)s->min, (unsigned long long)s->max);
			return -1;
		}
		*(uint64_t *)field = n;
		return 0;
	}
	case CFG_BOOL:
		if (parse_bool(v, (bool *)field) < 0) {
			errf(err, errlen, "%s: '%s' is not yes/no", s->name, v);
			return -1;
		}
		return 0;
	case CFG_ENUM: {
		int idx = enum_index(s->choices, v);
		if (idx < 0) {
			errf(err, errlen, "%s: '%s' is not one of %s", s->name, v, s->choices);
			return -1;
		}
		*(int *)field = idx;
		return 0;
	}
	}
	errf(err, errlen, "%s: internal error: unknown type", s->name);
	return -1;
}

int config_set(struct config *c, const char *name, const char *value, char *err, size_t errlen)
{
	const struct config_setting *s = find_setting(name, strlen(name));
	if (!s) {
		errf(err, errlen, "unknown setting '%s'", name);
		return -1;
	}
	return apply(c, s, value, err, errlen);
}

int config_set_override(struct config *c, const char *nv, char *err, size_t errlen)
{
	const char *eq = strchr(nv, '=');
	if (!eq || eq == nv) {
		errf(err, errlen, "-o expects name=value, got '%s'", nv);
		return -1;
	}
	char name[128];
	size_t n = (size_t)(eq - nv);
	while (n && isspace((unsigned char)nv[n - 1]))
		n--;
	if (n >= sizeof(name)) {
		errf(err, errlen, "unknown setting '%.*s'", (int)n, nv);
		return -1;
	}
	memcpy(name, nv, n);
	name[n] = '\0';
	const char *v = eq + 1;
	while (isspace((unsigned char)*v))
		v++;
	return config_set(c, name, v, err, errlen);
}

struct config *config_new(void)
{
	struct config *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->refs = 1;
	char err[256];
	for (size_t i = 0; i < NSETTINGS; i++)
		if (apply(c, &settings[i], settings[i].def, err, sizeof(err)) < 0) {
			log_msg(LOG_ERR, NULL, "event=config_bug %s", err);
			abort();
		}
	return c;
}

struct config *config_ref(struct config *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
	return c;
}

void config_unref(struct config *c)
{
	if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	for (size_t i = 0; i < NSETTINGS; i++)
		if (settings[i].type == CFG_STR)
			free(*(char **)((char *)c + settings[i].offset));
	free(c);
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* The value after '=': either bare (up to a '#' comment, trimmed) or
 * double-quoted, where \" and \\ are the only escapes and '#' is literal;
 * config_dump() quotes what would not survive the bare form. Rewrites s in
 * place; NULL on success, else what is wrong. */
static const char *parse_value(char *s, char **value)
{
	while (isspace((unsigned char)*s))
		s++;
	if (*s != '"') {
		char *hash = strchr(s, '#');
		if (hash)
			*hash = '\0';
		*value = trim(s);
		return NULL;
	}
	char *in = s + 1, *out = s;
	*value = s;
	for (;; in++) {
		if (*in == '\0' || *in == '\n')
			return "unterminated quoted value";
		if (*in == '"')
			break;
		if (*in == '\\') {
			in++;
			if (*in != '"' && *in != '\\')
				return "only \\\" and \\\\ may be escaped in a quoted value";
		}
		*out++ = *in;
	}
	*out = '\0';
	for (in++; isspace((unsigned char)*in); in++)
		;
	if (*in && *in != '#')
		return "text after the closing quote";
	return NULL;
}

int config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		errf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	char line[CONFIG_LINE_MAX];
	char sub[256];
	int lineno = 0, rc = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		size_t len = strlen(line);
		if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
			errf(err, errlen, "%s:%d: line longer than %d octets", path, lineno,
			     CONFIG_LINE_MAX - 2);
			rc = -1;
			break;
		}
		char *s = line;
		while (isspace((unsigned char)*s))
			s++;
		if (!*s || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq || memchr(s, '#', (size_t)(eq - s))) {
			errf(err, errlen, "%s:%d: expected 'name = value'", path, lineno);
			rc = -1;
			break;
		}
		*eq = '\0';
		char *name = trim(s), *value;
		const char *why = parse_value(eq + 1, &value);
		if (why) {
			errf(err, errlen, "%s:%d: %s: %s", path, lineno, name, why);
			rc = -1;
			break;
		}
		if (config_set(c, name, value, sub, sizeof(sub)) < 0) {
			errf(err, errlen, "%s:%d: %s", path, lineno, sub);
			rc = -1;
			break;
		}
	}
	if (rc == 0 && ferror(f)) {
		errf(err, errlen, "%s: read error", path);
		rc = -1;
	}
	fclose(f);
	return rc;
}

size_t config_list_next(const char **cursor, const char **item)
{
	const char *p = *cursor;
	while (*p == ',' || isspace((unsigned char)*p))
		p++;
	const char *start = p;
	while (*p && *p != ',' && !isspace((unsigned char)*p))
		p++;
	*item = start;
	*cursor = p;
	return (size_t)(p - start);
}

bool config_is_local_domain(const struct config *c, const char *domain, size_t len)
{
	const char *cur = c->local_domains, *item;
	size_t n;
	while ((n = config_list_next(&cur, &item)) > 0)
		if (n == len && strncasecmp(item, domain, len) == 0)
			return true;
	return false;
}

int config_finish(struct config *c, char *err, size_t errlen)
{
	if (!*c->hostname) {
		char host[256];
		if (gethostname(host, sizeof(host)) < 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		free(c->hostname);
		c->hostname = strdup(host);
		if (!c->hostname) {
			errf(err, errlen, "out of memory");
			return -1;
		}
	}
	for (const char *p = c->hostname; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.') {
			errf(err, errlen, "hostname: '%s' is not a domain name", c->hostname);
			return -1;
		}
	if (!*c->var_dir) {
		errf(err, errlen, "var_dir: must not be empty");
		return -1;
	}
	const char *cur = c->smtp_listen, *item;
	if (config_list_next(&cur, &item) == 0) {
		errf(err, errlen, "smtp_listen: no listener given");
		return -1;
	}
	cur = c->local_domains;
	if (config_list_next(&cur, &item) == 0) {
		errf(err, errlen, "local_domains: no domain given");
		return -1;
	}
	if (!*c->tls_cert != !*c->tls_key) {
		errf(err, errlen, "tls_cert and tls_key must be set together");
		return -1;
	}
	for (int allow = 0; allow < 2; allow++) {
		char sub[300];
		struct dnsbl_zones *z = dnsbl_zones_parse(allow ? c->dnswl_zones : c->dnsbl_zones,
							  allow, sub, sizeof(sub));
		if (!z) {
			errf(err, errlen, "%s: %s", allow ? "dnswl_zones" : "dnsbl_zones", sub);
			return -1;
		}
		dnsbl_zones_unref(z);
	}
	if (strcmp(c->recipients, "any") != 0 && access(c->recipients, R_OK) < 0) {
		errf(err, errlen, "recipients: %s: %s", c->recipients, strerror(errno));
		return -1;
	}
	return 0;
}

const char *config_value_str(const struct config *c, const struct config_setting *s, char *out,
			     size_t outlen)
{
	const char *field = (const char *)c + s->offset;
	switch (s->type) {
	case CFG_STR:
		snprintf(out, outlen, "%s", *(char *const *)field);
		break;
	case CFG_BOOL:
		snprintf(out, outlen, "%s", *(const bool *)field ? "yes" : "no");
		break;
	case CFG_ENUM:
		enum_name(s->choices, *(const int *)field, out, outlen);
		break;
	case CFG_DURATION:
		snprintf(out, outlen, "%llus", (unsigned long long)*(const uint64_t *)field);
		break;
	default:
		snprintf(out, outlen, "%llu", (unsigned long long)*(const uint64_t *)field);
	}
	return out;
}

void config_dump(const struct config *c, FILE *out)
{
	char v[CONFIG_LINE_MAX];
	for (size_t i = 0; i < NSETTINGS; i++) {
		const char *val = config_value_str(c, &settings[i], v, sizeof(v));
		size_t n = strlen(val);
		bool quote = strpbrk(val, "#\"\\") ||
			     (n && (isspace((unsigned char)val[0]) ||
				    isspace((unsigned char)val[n - 1])));
		if (!quote) {
			fprintf(out, "%s = %s\n", settings[i].name, val);
			continue;
		}
		fprintf(out, "%s = \"", settings[i].name);
		for (const char *p = val; *p; p++) {
			if (*p == '"' || *p == '\\')
				fputc('\\', out);
			fputc(*p, out);
		}
		fputs("\"\n", out);
	}
}

void config_doc(FILE *out)
{
	fprintf(out, "# mxscreen settings\n\n"
		     "Generated by `mxscreen config doc` from the table in src/core/config.c; "
		     "do not edit.\n"
		     "Set them in the config file (`name = value`, `-c FILE`) or on the command "
		     "line (`-o name=value`).\n"
		     "In the file, `#` starts a comment; a value that contains `#` is written in "
		     "double quotes, where `\\\"` and `\\\\` are the only escapes.\n"
		     "Sizes take k/m/g suffixes, durations s/m/h/d (default seconds).\n\n"
		     "| name | type | default | meaning |\n|---|---|---|---|\n");
	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct config_setting *s = &settings[i];
		fprintf(out, "| `%s` | ", s->name);
		if (s->type == CFG_ENUM) /* '|' would split the Markdown cell */
			for (const char *p = s->choices; *p; p++)
				fputs(*p == '|' ? " / " : (char[]){ *p, 0 }, out);
		else
			fputs(type_names[s->type], out);
		fprintf(out, " | `%s` | %s |\n", s->def, s->doc);
	}
}
