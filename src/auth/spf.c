/*
 * spf.c - check_host() of RFC 7208 (and RFC 4406 Sender ID) as a resumable state machine.
 *
 * RFC 7208 sections: 4.3 initial processing, 4.4/4.5 record lookup and
 * selection (TXT only), 4.6 record syntax and evaluation, 4.6.4 limits (10
 * DNS-querying terms, 2 void lookups, 10 MX / PTR names), 5 mechanisms, 6
 * modifiers (redirect, exp), 7 macros, 8 results, 9.1 Received-SPF.
 * RFC 4406 3.3/3.4: spf2.0/<scopes> selection and the v=spf1 fallback.
 *
 * How it resumes: every DNS question goes through need(name, type), which
 * returns the answer when it is cached or has just arrived, or starts the
 * query and returns NULL; the evaluator then returns, and the DNS callback
 * runs it again from the same state. Term handlers keep their progress in the
 * frame (phase, sub index) so that nothing is counted twice.
 */
#include "auth/spf.h"
#include "core/limits.h"
#include "net/dns.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum fstate { FS_FETCH, FS_TERMS, FS_EXP };
enum step { ST_WAIT, ST_AGAIN, ST_DONE };
enum tres { T_WAIT, T_NEXT, T_MATCH, T_ERROR, T_PUSHED };

struct frame {
	enum fstate state;
	char domain[SPF_DOMAIN_MAX + 3];
	char *text; /* the selected record, owned */
	struct spf_record rec;
	size_t ti;
	int phase;
	size_t sub;
	struct dns_answer *list;
	char target[SPF_DOMAIN_MAX + 3];
	bool redirected;
};

struct spf_eval {
	struct dns *dns;
	spf_done_fn done;
	void *arg;
	struct event *kick;
	bool finished;
	/* request */
	enum spf_identity identity;
	bool sender_id;
	char ip[64];
	int family;
	unsigned char ipb[16];
	char *helo, *sender, *local, *sender_domain, *receiver;
	/* state */
	struct frame frames[SPF_DEPTH_MAX];
	int depth;
	enum spf_result child_result;
	unsigned dns_terms, voids;
	enum spf_result result;
	char *explanation;
	char mechanism[128];
	char problem[400];
	/* the one outstanding DNS question and the answer last received */
	struct dns_query *q;
	char want_name[SPF_DOMAIN_MAX + 3];
	int want_type;
	struct dns_answer *got;
	char got_name[SPF_DOMAIN_MAX + 3];
	int got_type;
	bool got_invalid;
	/* %{p} (RFC 7208 7.3): validated names of the client address */
	int p_state;
	struct dns_answer *p_list;
	size_t p_idx;
	char *p_valid[SPF_MX_PTR_LIMIT];
	size_t p_nvalid;
	struct buf scratch;
};

/* ---- small helpers --------------------------------------------------- */

const char *spf_result_name(enum spf_result r)
{
	static const char *const n[] = { "none",     "neutral",   "pass",     "fail",
					 "softfail", "temperror", "permerror" };
	return (unsigned)r < 7 ? n[r] : "?";
}

const char *spf_identity_name(enum spf_identity id)
{
	return id == SPF_ID_HELO ? "helo" : id == SPF_ID_PRA ? "pra" : "mailfrom";
}

static bool is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(int c)
{
	return is_alpha(c) || is_digit(c);
}

static bool toplabel_ok(const char *s, size_t n)
{
	if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	bool alpha = false, hyphen = false;
	for (size_t i = 0; i < n; i++) {
		if (is_alpha(s[i]))
			alpha = true;
		else if (s[i] == '-')
			hyphen = true;
		else if (!is_digit(s[i]))
			return false;
	}
	return alpha || hyphen;
}

/* RFC 7208 4.3: a multi-label name, labels 1..63, whole <= 253, a real top label. */
static bool domain_ok(const char *d)
{
	size_t n = strlen(d);
	if (n && d[n - 1] == '.')
		n--;
	if (n == 0 || n > SPF_DOMAIN_MAX)
		return false;
	size_t labels = 0, start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || d[i] == '.') {
			size_t l = i - start;
			if (l == 0 || l > 63)
				return false;
			labels++;
			if (i == n && !toplabel_ok(d + start, l))
				return false;
			start = i + 1;
		}
	}
	return labels >= 2;
}

/* A name that can be asked at all (RFC 1035 2.3.4 lengths); else it does not exist. */
static bool query_name_ok(const char *d)
{
	size_t n = strlen(d);
	if (n && d[n - 1] == '.')
		n--;
	if (n == 0 || n > SPF_DOMAIN_MAX)
		return false;
	size_t start = 0;
	for (size_t i = 0; i <= n; i++)
		if (i == n || d[i] == '.') {
			if (i - start == 0 || i - start > 63)
				return false;
			start = i + 1;
		}
	return true;
}

static bool cidr_match(const unsigned char *a, const unsigned char *b, int bits)
{
	int full = bits / 8, rest = bits % 8;
	if (full && memcmp(a, b, (size_t)full) != 0)
		return false;
	if (rest) {
		unsigned char mask = (unsigned char)(0xff << (8 - rest));
		if ((a[full] & mask) != (b[full] & mask))
			return false;
	}
	return true;
}

/* ---- macros (RFC 7208 7) ------------------------------------------- */

static bool is_delim(char c)
{
	return c && strchr(".-+,/_=", c) != NULL;
}

static int url_escape_append(struct buf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
			if (buf_append(out, &s[i], 1) < 0)
				return -1;
		} else if (buf_printf(out, "%%%02X", c) < 0) {
			return -1;
		}
	}
	return 0;
}

static void ip_nibbles(const char *ip, char *out, size_t outlen)
{
	unsigned char b[16];
	if (inet_pton(AF_INET6, ip, b) != 1) {
		snprintf(out, outlen, "%s", ip);
		return;
	}
	/* the nibbles keep the letter case the address was written in (as pyspf does) */
	bool upper = false;
	for (const char *p = ip; *p; p++)
		upper |= *p >= 'A' && *p <= 'F';
	const char *hex = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	size_t o = 0;
	for (int i = 0; i < 16 && o + 4 < outlen; i++) {
		if (i)
			out[o++] = '.';
		out[o++] = hex[b[i] >> 4];
		out[o++] = '.';
		out[o++] = hex[b[i] & 15];
	}
	out[o] = '\0';
}

/* Appends the transformed value of one macro letter. */
static int expand_letter(struct buf *out, const char *val, unsigned keep, bool reverse,
			 const char *delims, bool upper)
{
	/* split at any delimiter, keep empty parts, then reverse / keep / join with '.' */
	size_t vlen = strlen(val);
	size_t nparts = 1;
	for (size_t i = 0; i < vlen; i++)
		if (strchr(delims, val[i]))
			nparts++;
	struct slice stack_parts[64], *parts = stack_parts;
	if (nparts > 64) {
		parts = malloc(nparts * sizeof(*parts));
		if (!parts)
			return -1;
	}
	size_t k = 0, start = 0;
	for (size_t i = 0; i <= vlen; i++)
		if (i == vlen || strchr(delims, val[i])) {
			parts[k++] = (struct slice){ val + start, i - start };
			start = i + 1;
		}
	if (reverse)
		for (size_t i = 0; i < k / 2; i++) {
			struct slice t = parts[i];
			parts[i] = parts[k - 1 - i];
			parts[k - 1 - i] = t;
		}
	size_t first = keep && keep < k ? k - keep : 0;
	struct buf tmp = { 0 };
	int rc = 0;
	for (size_t i = first; i < k && rc == 0; i++) {
		if (i > first)
			rc = buf_append(&tmp, ".", 1);
		if (rc == 0)
			rc = buf_append(&tmp, parts[i].p, parts[i].len);
	}
	if (rc == 0) {
		if (upper)
			rc = url_escape_append(out, tmp.p ? tmp.p : "", tmp.len);
		else
			rc = buf_append(out, tmp.p ? tmp.p : "", tmp.len);
	}
	buf_free(&tmp);
	if (parts != stack_parts)
		free(parts);
	return rc;
}

/*
 * One pass over a macro-string. With out == NULL only the syntax is checked;
 * *ends_macro tells whether the string ends with a macro-expand (domain-end).
 */
static int macro_scan(const struct spf_macro_ctx *c, const char *s, size_t len, bool explain,
		      struct buf *out, bool *ends_macro)
{
	bool need_ptr = false;
	size_t i = 0;
	if (ends_macro)
		*ends_macro = false;
	while (i < len) {
		unsigned char ch = (unsigned char)s[i];
		if (ch != '%') {
			if (ch > 0x7e || ch < 0x20 || (ch == ' ' && !explain))
				return SPF_MACRO_SYNTAX;
			if (out && buf_append(out, &s[i], 1) < 0)
				return SPF_MACRO_NOMEM;
			if (ends_macro)
				*ends_macro = false;
			i++;
			continue;
		}
		if (i + 1 >= len)
			return SPF_MACRO_SYNTAX;
		char n = s[i + 1];
		if (ends_macro)
			*ends_macro = true;
		if (n == '%' || n == '_' || n == '-') {
			const char *rep = n == '%' ? "%" : n == '_' ? " " : "%20";
			if (out && buf_append_str(out, rep) < 0)
				return SPF_MACRO_NOMEM;
			i += 2;
			continue;
		}
		if (n != '{')
			return SPF_MACRO_SYNTAX;
		size_t j = i + 2;
		if (j >= len)
			return SPF_MACRO_SYNTAX;
		char letter = s[j];
		bool upper = letter >= 'A' && letter <= 'Z';
		char lower = (char)tolower((unsigned char)letter);
		if (!strchr("slodiphcrtv", lower) || !letter)
			return SPF_MACRO_SYNTAX;
		if (!explain && (lower == 'c' || lower == 'r' || lower == 't'))
			return SPF_MACRO_SYNTAX;
		j++;
		unsigned keep = 0;
		bool digits = false;
		while (j < len && is_digit(s[j])) {
			digits = true;
			if (keep < 100000)
				keep = keep * 10 + (unsigned)(s[j] - '0');
			j++;
		}
		if (digits && keep == 0)
			return SPF_MACRO_SYNTAX;
		bool reverse = false;
		if (j < len && (s[j] == 'r' || s[j] == 'R')) {
			reverse = true;
			j++;
		}
		char delims[8] = { 0 };
		size_t nd = 0;
		while (j < len && is_delim(s[j])) {
			if (!strchr(delims, s[j]) && nd < sizeof(delims) - 1)
				delims[nd++] = s[j];
			j++;
		}
		if (j >= len || s[j] != '}')
			return SPF_MACRO_SYNTAX;
		i = j + 1;
		if (!out)
			continue;
		if (!nd)
			delims[0] = '.';
		char tmp[128];
		const char *val = "";
		switch (lower) {
		case 's': val = c->sender; break;
		case 'l': val = c->local; break;
		case 'o': val = c->sender_domain; break;
		case 'd': val = c->domain; break;
		case 'h': val = c->helo; break;
		case 'i':
			if (strchr(c->ip ? c->ip : "", ':')) {
				ip_nibbles(c->ip, tmp, sizeof(tmp));
				val = tmp;
			} else {
				val = c->ip;
			}
			break;
		case 'c': {
			unsigned char b6[16];
			val = c->ip;
			if (c->ip && inet_pton(AF_INET6, c->ip, b6) == 1 &&
			    inet_ntop(AF_INET6, b6, tmp, sizeof(tmp)))
				val = tmp; /* RFC 5952 form */
			break;
		}
		case 'v': val = strchr(c->ip ? c->ip : "", ':') ? "ip6" : "in-addr"; break;
		case 'r': val = c->receiver && *c->receiver ? c->receiver : "unknown"; break;
		case 't':
			snprintf(tmp, sizeof(tmp), "%lld", c->now);
			val = tmp;
			break;
		case 'p':
			if (!c->ptr) {
				need_ptr = true;
				continue;
			}
			val = c->ptr;
			break;
		}
		if (expand_letter(out, val ? val : "", keep, reverse, delims, upper) < 0)
			return SPF_MACRO_NOMEM;
	}
	return need_ptr ? SPF_MACRO_NEED_PTR : SPF_MACRO_OK;
}

int spf_macro_expand(const struct spf_macro_ctx *c, const char *s, size_t len, bool explain,
		     struct buf *out)
{
	return macro_scan(c, s, len, explain, out, NULL);
}

bool spf_domain_spec_ok(const char *s, size_t len)
{
	bool ends_macro;
	if (len == 0 || macro_scan(NULL, s, len, false, NULL, &ends_macro) != SPF_MACRO_OK)
		return false;
	if (ends_macro)
		return true;
	size_t n = len;
	if (s[n - 1] == '.')
		n--;
	size_t dot = n;
	while (dot > 0 && s[dot - 1] != '.')
		dot--;
	if (dot == 0)
		return false; /* domain-end needs "." toplabel */
	return toplabel_ok(s + dot, n - dot);
}

/* ---- record parsing (RFC 7208 4.6.1, 5, 6) --------------------------- */

static int parse_cidr(const char *s, size_t n, int max)
{
	if (n == 0 || n > 3 || (n > 1 && s[0] == '0'))
		return -1;
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v > max ? -1 : v;
}

/* Takes [ "/" ip4-cidr ] [ "//" ip6-cidr ] off the end of s[0..*len). */
static int strip_dual_cidr(const char *s, size_t *len, int *c4, int *c6)
{
	size_t n = *len, d = n;
	while (d > 0 && is_digit(s[d - 1]))
		d--;
	if (d < n && d >= 2 && s[d - 1] == '/' && s[d - 2] == '/') {
		if ((*c6 = parse_cidr(s + d, n - d, 128)) < 0)
			return -1;
		n = d - 2;
		d = n;
		while (d > 0 && is_digit(s[d - 1]))
			d--;
	}
	if (d < n && d >= 1 && s[d - 1] == '/') {
		if ((*c4 = parse_cidr(s + d, n - d, 32)) < 0)
			return -1;
		n = d - 1;
	}
	*len = n;
	return 0;
}

static bool modifier_name_ok(const char *s, size_t n)
{
	if (n == 0 || !is_alpha(s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

static int errf(char *err, size_t errlen, const char *fmt, const char *t, size_t n)
{
	snprintf(err, errlen, fmt, (int)(n > 60 ? 60 : n), t);
	return -1;
}

static int parse_term(const char *t, size_t n, struct spf_record *rec, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] < 0x21 || (unsigned char)t[i] > 0x7e)
			return errf(err, errlen, "invalid character in term '%.*s'", t, n);
	size_t k = 0;
	while (k < n && t[k] != ':' && t[k] != '/' && t[k] != '=')
		k++;
	if (k < n && t[k] == '=') {
		if (!modifier_name_ok(t, k))
			return errf(err, errlen, "invalid modifier '%.*s'", t, n);
		const char *v = t + k + 1;
		size_t vn = n - k - 1;
		struct slice *slot = NULL;
		if (k == 8 && strncasecmp(t, "redirect", 8) == 0)
			slot = &rec->redirect;
		else if (k == 3 && strncasecmp(t, "exp", 3) == 0)
			slot = &rec->exp;
		if (slot) {
			if (slot->p)
				return errf(err, errlen, "modifier given twice: '%.*s'", t, n);
			if (!spf_domain_spec_ok(v, vn))
				return errf(err, errlen, "invalid domain-spec in '%.*s'", t, n);
			*slot = (struct slice){ v, vn };
			return 0;
		}
		if (macro_scan(NULL, v, vn, false, NULL, NULL) != SPF_MACRO_OK)
			return errf(err, errlen, "invalid macro-string in '%.*s'", t, n);
		return 0; /* unknown modifiers are ignored (6) */
	}
	struct spf_term term;
	memset(&term, 0, sizeof(term));
	term.text = (struct slice){ t, n };
	term.cidr4 = term.cidr6 = -1;
	term.qualifier = '+';
	size_t p = 0;
	if (strchr("+-~?", t[0])) {
		term.qualifier = t[0];
		p = 1;
	}
	size_t ns = p;
	while (p < n && t[p] != ':' && t[p] != '/')
		p++;
	const char *name = t + ns;
	size_t nlen = p - ns;
	static const struct {
		const char *name;
		enum spf_mech m;
	} mechs[] = { { "all", SPF_M_ALL },   { "include", SPF_M_INCLUDE }, { "a", SPF_M_A },
		      { "mx", SPF_M_MX },     { "ptr", SPF_M_PTR },	    { "ip4", SPF_M_IP4 },
		      { "ip6", SPF_M_IP6 },   { "exists", SPF_M_EXISTS } };
	size_t mi;
	for (mi = 0; mi < sizeof(mechs) / sizeof(mechs[0]); mi++)
		if (strlen(mechs[mi].name) == nlen && strncasecmp(name, mechs[mi].name, nlen) == 0)
			break;
	if (mi == sizeof(mechs) / sizeof(mechs[0]))
		return errf(err, errlen, "unknown mechanism '%.*s'", t, n);
	term.mech = mechs[mi].m;
	const char *rest = t + p;
	size_t rn = n - p;
	switch (term.mech) {
	case SPF_M_ALL:
		if (rn)
			return errf(err, errlen, "'all' takes no argument: '%.*s'", t, n);
		break;
	case SPF_M_INCLUDE:
	case SPF_M_EXISTS:
		if (rn < 2 || rest[0] != ':' || !spf_domain_spec_ok(rest + 1, rn - 1))
			return errf(err, errlen, "invalid domain-spec in '%.*s'", t, n);
		term.spec = (struct slice){ rest + 1, rn - 1 };
		break;
	case SPF_M_PTR:
		if (rn == 0)
			break;
		if (rest[0] != ':' || !spf_domain_spec_ok(rest + 1, rn - 1))
			return errf(err, errlen, "invalid argument in '%.*s'", t, n);
		term.spec = (struct slice){ rest + 1, rn - 1 };
		break;
	case SPF_M_A:
	case SPF_M_MX: {
		if (rn == 0)
			break;
		const char *arg = rest[0] == ':' ? rest + 1 : rest;
		size_t an = rest[0] == ':' ? rn - 1 : rn;
		if (strip_dual_cidr(arg, &an, &term.cidr4, &term.cidr6) < 0)
			return errf(err, errlen, "invalid CIDR length in '%.*s'", t, n);
		if (rest[0] == ':') {
			if (!spf_domain_spec_ok(arg, an))
				return errf(err, errlen, "invalid domain-spec in '%.*s'", t, n);
			term.spec = (struct slice){ arg, an };
		} else if (an) {
			return errf(err, errlen, "invalid CIDR length in '%.*s'", t, n);
		}
		break;
	}
	case SPF_M_IP4:
	case SPF_M_IP6: {
		if (rn < 2 || rest[0] != ':')
			return errf(err, errlen, "missing address in '%.*s'", t, n);
		const char *a = rest + 1;
		size_t an = rn - 1, slash = 0;
		while (slash < an && a[slash] != '/')
			slash++;
		char addr[64];
		if (slash == 0 || slash >= sizeof(addr))
			return errf(err, errlen, "invalid address in '%.*s'", t, n);
		memcpy(addr, a, slash);
		addr[slash] = '\0';
		bool v6 = term.mech == SPF_M_IP6;
		if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, term.ip) != 1)
			return errf(err, errlen, "invalid address in '%.*s'", t, n);
		if (slash < an) {
			int c = parse_cidr(a + slash + 1, an - slash - 1, v6 ? 128 : 32);
			if (c < 0)
				return errf(err, errlen, "invalid CIDR length in '%.*s'", t, n);
			if (v6)
				term.cidr6 = c;
			else
				term.cidr4 = c;
		}
		break;
	}
	}
	if (rec->nterms % 8 == 0) {
		struct spf_term *x = realloc(rec->terms, (rec->nterms + 8) * sizeof(*x));
		if (!x) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		rec->terms = x;
	}
	rec->terms[rec->nterms++] = term;
	return 0;
}

int spf_parse_record(const char *txt, size_t len, size_t skip, struct spf_record *rec,
		     char *err, size_t errlen)
{
	memset(rec, 0, sizeof(*rec));
	size_t i = skip;
	while (i < len) {
		if (txt[i] == ' ') {
			i++;
			continue;
		}
		size_t s = i;
		while (i < len && txt[i] != ' ')
			i++;
		if (parse_term(txt + s, i - s, rec, err, errlen) < 0) {
			free(rec->terms);
			memset(rec, 0, sizeof(*rec));
			return -1;
		}
	}
	return 0;
}

/* ---- evaluation -------------------------------------------------------- */

static void run(struct spf_eval *e);

static void drop_got(struct spf_eval *e)
{
	if (e->got)
		dns_answer_unref(e->got);
	e->got = NULL;
	e->got_invalid = false;
}

static void on_dns(void *arg, const struct dns_answer *ans)
{
	struct spf_eval *e = arg;
	e->q = NULL;
	drop_got(e);
	e->got = dns_answer_ref(ans);
	memcpy(e->got_name, e->want_name, sizeof(e->got_name));
	e->got_type = e->want_type;
	run(e);
}

/* The answer for (name, type) if known now; else starts the query and returns NULL. */
static const struct dns_answer *need(struct spf_eval *e, const char *name, int type)
{
	if (e->got && e->got_type == type && strcasecmp(e->got_name, name) == 0)
		return e->got;
	drop_got(e);
	snprintf(e->got_name, sizeof(e->got_name), "%s", name);
	e->got_type = type;
	if (!query_name_ok(name)) {
		/* RFC 7208 4.3 / 5: a name that cannot be asked does not exist */
		e->got = dns_answer_status(DNS_NXDOMAIN, type);
		e->got_invalid = true;
		return e->got;
	}
	const struct dns_answer *c = dns_cached(e->dns, name, type);
	if (c) {
		e->got = dns_answer_ref(c);
		return e->got;
	}
	snprintf(e->want_name, sizeof(e->want_name), "%s", name);
	e->want_type = type;
	e->got_name[0] = '\0';
	e->q = dns_lookup(e->dns, name, type, on_dns, e);
	if (!e->q) {
		e->got = dns_answer_status(DNS_TEMPFAIL, type);
		snprintf(e->got_name, sizeof(e->got_name), "%s", name);
		return e->got;
	}
	return NULL;
}

static void frame_clear(struct frame *f);

static void clear_frames(struct spf_eval *e)
{
	while (e->depth > 0)
		frame_clear(&e->frames[--e->depth]);
}

static enum step fail_with(struct spf_eval *e, enum spf_result r, const char *fmt, const char *a)
{
	e->result = r;
	snprintf(e->problem, sizeof(e->problem), fmt, a ? a : "");
	clear_frames(e);
	return ST_DONE;
}

/*
 * Counts a lookup that returned nothing; past the limit (RFC 7208 4.6.4) the
 * evaluation ends with permerror and this returns true.
 */
static bool count_void(struct spf_eval *e, const struct dns_answer *a)
{
	if ((a->status == DNS_NXDOMAIN || a->status == DNS_NODATA) && !e->got_invalid &&
	    ++e->voids > SPF_VOID_LOOKUP_LIMIT) {
		fail_with(e, SPF_PERMERROR, "more than 2 void lookups%s", "");
		return true;
	}
	return false;
}

/* A mechanism's lookup that failed (temperror) or was one void too many (permerror). */
static bool lookup_failed(struct spf_eval *e, const struct dns_answer *a, const char *fmt,
			  const char *name)
{
	if (a->status == DNS_TEMPFAIL) {
		fail_with(e, SPF_TEMPERROR, fmt, name);
		return true;
	}
	return count_void(e, a);
}

static bool addr_matches(const struct spf_eval *e, const struct dns_answer *a, int c4, int c6)
{
	if (a->status != DNS_OK)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		if (e->family == AF_INET && a->type == DNS_A &&
		    cidr_match((const unsigned char *)&a->rr[i].addr.a, e->ipb, c4 < 0 ? 32 : c4))
			return true;
		if (e->family == AF_INET6 && a->type == DNS_AAAA &&
		    cidr_match((const unsigned char *)&a->rr[i].addr.aaaa, e->ipb,
			       c6 < 0 ? 128 : c6))
			return true;
	}
	return false;
}

static int addr_type(const struct spf_eval *e)
{
	return e->family == AF_INET6 ? DNS_AAAA : DNS_A;
}

static bool name_in_domain(const char *name, const char *domain)
{
	size_t n = strlen(name), d = strlen(domain);
	if (n && name[n - 1] == '.')
		n--;
	if (d && domain[d - 1] == '.')
		d--;
	if (n < d || strncasecmp(name + n - d, domain, d) != 0)
		return false;
	return n == d || name[n - d - 1] == '.';
}

/* Resolves %{p}: PTR, then the first 10 names that point back. */
static enum step p_resolve(struct spf_eval *e)
{
	if (e->p_state == 0) {
		char rev[80];
		if (dns_reverse_name(e->ip, rev, sizeof(rev)) < 0) {
			e->p_state = 2;
			return ST_AGAIN;
		}
		const struct dns_answer *a = need(e, rev, DNS_PTR);
		if (!a)
			return ST_WAIT;
		if (a->status != DNS_OK) {
			e->p_state = 2;
			return ST_AGAIN;
		}
		e->p_list = dns_answer_ref(a);
		e->p_idx = 0;
		e->p_state = 1;
	}
	while (e->p_state == 1 && e->p_idx < e->p_list->n && e->p_idx < SPF_MX_PTR_LIMIT) {
		const char *name = e->p_list->rr[e->p_idx].name;
		const struct dns_answer *a = need(e, name, addr_type(e));
		if (!a)
			return ST_WAIT;
		if (addr_matches(e, a, -1, -1) && e->p_nvalid < SPF_MX_PTR_LIMIT) {
			e->p_valid[e->p_nvalid] = strdup(name);
			if (e->p_valid[e->p_nvalid])
				e->p_nvalid++;
		}
		e->p_idx++;
	}
	e->p_state = 2;
	dns_answer_unref(e->p_list);
	e->p_list = NULL;
	return ST_AGAIN;
}

/* RFC 7208 7.3 p: the target domain itself, else a subdomain, else any, else "unknown". */
static const char *p_choice(const struct spf_eval *e, const char *domain)
{
	if (e->p_state != 2)
		return NULL;
	for (size_t i = 0; i < e->p_nvalid; i++)
		if (strcasecmp(e->p_valid[i], domain) == 0)
			return e->p_valid[i];
	for (size_t i = 0; i < e->p_nvalid; i++)
		if (name_in_domain(e->p_valid[i], domain))
			return e->p_valid[i];
	return e->p_nvalid ? e->p_valid[0] : "unknown";
}

/*
 * Expands a domain-spec into out (cut from the left to 253 octets, RFC 7208 7.3).
 * ST_DONE with e->result set on a syntax error, ST_WAIT while %{p} resolves.
 */
static enum step expand_domain(struct spf_eval *e, struct frame *f, struct slice spec,
			       bool explain, char *out, size_t outlen)
{
	struct spf_macro_ctx c = {
		.sender = e->sender,
		.local = e->local,
		.sender_domain = e->sender_domain,
		.domain = f->domain,
		.ip = e->ip,
		.helo = e->helo ? e->helo : "unknown",
		.receiver = e->receiver,
		.ptr = p_choice(e, f->domain),
		.now = (long long)time(NULL),
	};
	buf_reset(&e->scratch);
	int rc = spf_macro_expand(&c, spec.p, spec.len, explain, &e->scratch);
	if (rc == SPF_MACRO_NEED_PTR) {
		enum step s = p_resolve(e);
		return s == ST_WAIT ? ST_WAIT : ST_AGAIN;
	}
	if (rc == SPF_MACRO_NOMEM)
		return fail_with(e, SPF_TEMPERROR, "out of memory%s", "");
	if (rc != SPF_MACRO_OK)
		return fail_with(e, SPF_PERMERROR, "invalid macro in '%s'", "domain-spec");
	const char *s = buf_cstr(&e->scratch);
	size_t n = e->scratch.len;
	if (!explain) {
		if (n && s[n - 1] == '.')
			n--;
		while (n > SPF_DOMAIN_MAX) {
			const char *dot = memchr(s, '.', n);
			if (!dot) {
				n = 0;
				break;
			}
			n -= (size_t)(dot + 1 - s);
			s = dot + 1;
		}
	}
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, s, n);
	out[n] = '\0';
	return ST_DONE;
}

static void frame_clear(struct frame *f)
{
	free(f->text);
	free(f->rec.terms);
	if (f->list)
		dns_answer_unref(f->list);
	memset(f, 0, sizeof(*f));
}

static void push_frame(struct spf_eval *e, const char *domain, bool redirected)
{
	char copy[sizeof(e->frames[0].domain)];
	snprintf(copy, sizeof(copy), "%s", domain); /* domain may live in the parent frame */
	struct frame *f = &e->frames[e->depth++];
	memset(f, 0, sizeof(*f));
	memcpy(f->domain, copy, sizeof(copy));
	f->state = FS_FETCH;
	f->redirected = redirected;
}

static bool prefix_ci(const char *s, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	return n >= l && strncasecmp(s, lit, l) == 0;
}

/* RFC 4406 3.3: "spf2.0/scope,scope" naming the scope; returns the tag length or 0. */
static size_t spf2_tag(const char *s, size_t n, const char *scope)
{
	if (!prefix_ci(s, n, "spf2.0/"))
		return 0;
	size_t i = 7, end = i;
	while (end < n && s[end] != ' ')
		end++;
	bool found = false;
	size_t sl = strlen(scope);
	while (i < end) {
		size_t j = i;
		while (j < end && s[j] != ',')
			j++;
		if (j - i == sl && strncasecmp(s + i, scope, sl) == 0)
			found = true;
		i = j + 1;
	}
	return found ? end : 0;
}

/* RFC 7208 4.5 (and RFC 4406 3.4): one record or none; several are a permerror. */
static enum step select_record(struct spf_eval *e, struct frame *f, const struct dns_answer *a)
{
	if (a->status == DNS_TEMPFAIL)
		return fail_with(e, SPF_TEMPERROR, "DNS failure looking up %s TXT", f->domain);
	const struct dns_rr *pick = NULL;
	size_t skip = 0, count = 0;
	if (a->status == DNS_OK && e->sender_id) {
		const char *scope = e->identity == SPF_ID_PRA ? "pra" : "mfrom";
		for (size_t i = 0; i < a->n; i++) {
			size_t t = spf2_tag(a->rr[i].txt, a->rr[i].txt_len, scope);
			if (t) {
				pick = &a->rr[i];
				skip = t;
				count++;
			}
		}
	}
	if (a->status == DNS_OK && count == 0) {
		for (size_t i = 0; i < a->n; i++) {
			const char *t = a->rr[i].txt;
			size_t n = a->rr[i].txt_len;
			if (prefix_ci(t, n, "v=spf1") && (n == 6 || t[6] == ' ')) {
				pick = &a->rr[i];
				skip = 6;
				count++;
			}
		}
	}
	if (count == 0) {
		if (f->redirected || e->depth > 1)
			return fail_with(e, SPF_PERMERROR, "no SPF record at %s", f->domain);
		e->result = SPF_NONE;
		snprintf(e->problem, sizeof(e->problem), "no SPF record at %s", f->domain);
		clear_frames(e);
		return ST_DONE;
	}
	if (count > 1)
		return fail_with(e, SPF_PERMERROR, "more than one SPF record at %s", f->domain);
	f->text = malloc(pick->txt_len + 1);
	if (!f->text)
		return fail_with(e, SPF_TEMPERROR, "out of memory%s", "");
	memcpy(f->text, pick->txt, pick->txt_len + 1);
	char err[160];
	if (spf_parse_record(f->text, pick->txt_len, skip, &f->rec, err, sizeof(err)) < 0)
		return fail_with(e, SPF_PERMERROR, "%s", err);
	f->state = FS_TERMS;
	f->ti = 0;
	f->phase = 0;
	return ST_AGAIN;
}

static bool count_term(struct spf_eval *e)
{
	return ++e->dns_terms > SPF_DNS_MECH_LIMIT;
}

static enum spf_result qualifier_result(char q)
{
	switch (q) {
	case '-': return SPF_FAIL;
	case '~': return SPF_SOFTFAIL;
	case '?': return SPF_NEUTRAL;
	default: return SPF_PASS;
	}
}

/* Phase 0 of a DNS term: expand the target (default <domain>) and count the term. */
static enum step term_target(struct spf_eval *e, struct frame *f, const struct spf_term *t)
{
	if (t->spec.len) {
		enum step s = expand_domain(e, f, t->spec, false, f->target, sizeof(f->target));
		if (s != ST_DONE || e->depth == 0)
			return s;
	} else {
		memcpy(f->target, f->domain, sizeof(f->target));
	}
	if (count_term(e))
		return fail_with(e, SPF_PERMERROR, "more than 10 DNS-querying terms%s", "");
	f->phase = 1;
	f->sub = 0;
	return ST_DONE;
}

static enum tres eval_term(struct spf_eval *e, struct frame *f, const struct spf_term *t)
{
	if (t->mech == SPF_M_ALL)
		return T_MATCH;
	if (t->mech == SPF_M_IP4 || t->mech == SPF_M_IP6) {
		int fam = t->mech == SPF_M_IP4 ? AF_INET : AF_INET6;
		int bits = fam == AF_INET ? (t->cidr4 < 0 ? 32 : t->cidr4)
					  : (t->cidr6 < 0 ? 128 : t->cidr6);
		return e->family == fam && cidr_match(t->ip, e->ipb, bits) ? T_MATCH : T_NEXT;
	}
	if (f->phase == 0) {
		enum step s = term_target(e, f, t);
		if (e->depth == 0)
			return T_ERROR;
		if (s == ST_WAIT)
			return T_WAIT;
		if (s == ST_AGAIN)
			return T_PUSHED; /* %{p} progressed: run again */
	}
	const struct dns_answer *a;
	switch (t->mech) {
	case SPF_M_INCLUDE:
		if (f->phase == 1) {
			if (e->depth >= SPF_DEPTH_MAX) {
				fail_with(e, SPF_PERMERROR, "include nesting too deep%s", "");
				return T_ERROR;
			}
			f->phase = 2;
			push_frame(e, f->target, false);
			return T_PUSHED;
		}
		switch (e->child_result) {
		case SPF_PASS: return T_MATCH;
		case SPF_FAIL:
		case SPF_SOFTFAIL:
		case SPF_NEUTRAL: return T_NEXT;
		case SPF_TEMPERROR:
			fail_with(e, SPF_TEMPERROR, "include:%s: temperror", f->target);
			return T_ERROR;
		default:
			fail_with(e, SPF_PERMERROR, "include:%s: no usable record", f->target);
			return T_ERROR;
		}
	case SPF_M_A:
	case SPF_M_EXISTS: {
		int type = t->mech == SPF_M_EXISTS ? DNS_A : addr_type(e);
		a = need(e, f->target, type);
		if (!a)
			return T_WAIT;
		if (lookup_failed(e, a, "DNS failure looking up %s", f->target))
			return T_ERROR;
		if (t->mech == SPF_M_EXISTS)
			return a->status == DNS_OK ? T_MATCH : T_NEXT;
		return addr_matches(e, a, t->cidr4, t->cidr6) ? T_MATCH : T_NEXT;
	}
	case SPF_M_MX:
		if (f->phase == 1) {
			a = need(e, f->target, DNS_MX);
			if (!a)
				return T_WAIT;
			if (lookup_failed(e, a, "DNS failure looking up %s MX", f->target))
				return T_ERROR;
			if (a->n > SPF_MX_PTR_LIMIT) {
				fail_with(e, SPF_PERMERROR, "more than 10 MX records at %s", f->target);
				return T_ERROR;
			}
			if (a->status != DNS_OK)
				return T_NEXT;
			f->list = dns_answer_ref(a);
			f->phase = 2;
			f->sub = 0;
		}
		while (f->sub < f->list->n) {
			const char *name = f->list->rr[f->sub].name;
			a = need(e, name, addr_type(e));
			if (!a)
				return T_WAIT;
			if (lookup_failed(e, a, "DNS failure looking up %s", name))
				return T_ERROR;
			f->sub++;
			if (addr_matches(e, a, t->cidr4, t->cidr6))
				return T_MATCH;
		}
		return T_NEXT;
	case SPF_M_PTR:
		if (f->phase == 1) {
			char rev[80];
			if (dns_reverse_name(e->ip, rev, sizeof(rev)) < 0)
				return T_NEXT;
			a = need(e, rev, DNS_PTR);
			if (!a)
				return T_WAIT;
			if (a->status == DNS_TEMPFAIL)
				return T_NEXT; /* RFC 7208 5.5: a DNS error means no match */
			if (count_void(e, a))
				return T_ERROR;
			if (a->status != DNS_OK)
				return T_NEXT;
			f->list = dns_answer_ref(a);
			f->phase = 2;
			f->sub = 0;
		}
		while (f->sub < f->list->n && f->sub < SPF_MX_PTR_LIMIT) {
			const char *name = f->list->rr[f->sub].name;
			if (!name_in_domain(name, f->target)) {
				f->sub++;
				continue;
			}
			a = need(e, name, addr_type(e));
			if (!a)
				return T_WAIT;
			f->sub++;
			if (addr_matches(e, a, -1, -1))
				return T_MATCH;
		}
		return T_NEXT;
	default:
		return T_NEXT;
	}
}

static void next_term(struct frame *f)
{
	f->ti++;
	f->phase = 0;
	f->sub = 0;
	if (f->list) {
		dns_answer_unref(f->list);
		f->list = NULL;
	}
}

/* A frame reached its result: pop an include, or finish (with exp= on fail). */
static enum step frame_result(struct spf_eval *e, enum spf_result r)
{
	struct frame *f = &e->frames[e->depth - 1];
	if (e->depth > 1) {
		e->child_result = r;
		frame_clear(f);
		e->depth--;
		return ST_AGAIN;
	}
	e->result = r;
	if (r == SPF_FAIL && f->rec.exp.p) {
		f->state = FS_EXP;
		f->phase = 0;
		return ST_AGAIN;
	}
	return ST_DONE;
}

static enum step step_exp(struct spf_eval *e, struct frame *f)
{
	if (f->phase == 0) {
		enum step s = expand_domain(e, f, f->rec.exp, false, f->target, sizeof(f->target));
		if (e->depth == 0) { /* a bad exp= spec: no explanation, result stands */
			e->result = SPF_FAIL;
			e->problem[0] = '\0';
			return ST_DONE;
		}
		if (s != ST_DONE)
			return s;
		f->phase = 1;
	}
	if (f->phase == 1) {
		const struct dns_answer *a = need(e, f->target, DNS_TXT);
		if (!a)
			return ST_WAIT;
		if (a->status != DNS_OK || a->n != 1)
			return ST_DONE;
		free(f->text);
		f->text = strdup(a->rr[0].txt);
		f->rec.exp = (struct slice){ NULL, 0 }; /* points into the old text */
		if (!f->text)
			return ST_DONE;
		f->phase = 2;
	}
	char tmp[SPF_EXPLANATION_MAX + 1];
	struct slice text = { f->text, strlen(f->text) };
	enum step s = expand_domain(e, f, text, true, tmp, sizeof(tmp));
	if (e->depth == 0) {
		e->result = SPF_FAIL;
		e->problem[0] = '\0';
		return ST_DONE;
	}
	if (s != ST_DONE)
		return s;
	e->explanation = strdup(tmp);
	return ST_DONE;
}

static enum step step(struct spf_eval *e)
{
	if (e->depth == 0)
		return ST_DONE;
	struct frame *f = &e->frames[e->depth - 1];
	switch (f->state) {
	case FS_FETCH: {
		const struct dns_answer *a = need(e, f->domain, DNS_TXT);
		if (!a)
			return ST_WAIT;
		return select_record(e, f, a);
	}
	case FS_EXP:
		return step_exp(e, f);
	case FS_TERMS:
		break;
	}
	if (f->ti < f->rec.nterms) {
		const struct spf_term *t = &f->rec.terms[f->ti];
		switch (eval_term(e, f, t)) {
		case T_WAIT: return ST_WAIT;
		case T_ERROR: return ST_DONE;
		case T_PUSHED: return ST_AGAIN;
		case T_NEXT: next_term(f); return ST_AGAIN;
		case T_MATCH:
			snprintf(e->mechanism, sizeof(e->mechanism), "%.*s", (int)t->text.len,
				 t->text.p);
			return frame_result(e, qualifier_result(t->qualifier));
		}
	}
	if (!f->rec.redirect.p)
		return frame_result(e, SPF_NEUTRAL);
	/* redirect= (6.1): the target's record replaces this one */
	char target[SPF_DOMAIN_MAX + 3];
	enum step s = expand_domain(e, f, f->rec.redirect, false, target, sizeof(target));
	if (e->depth == 0 || s != ST_DONE)
		return s;
	if (count_term(e))
		return fail_with(e, SPF_PERMERROR, "more than 10 DNS-querying terms%s", "");
	e->depth--;
	frame_clear(f);
	push_frame(e, target, true);
	return ST_AGAIN;
}

static void finish(struct spf_eval *e)
{
	e->finished = true;
	clear_frames(e);
	drop_got(e);
	if (e->result != SPF_FAIL) {
		free(e->explanation);
		e->explanation = NULL;
	}
	e->done(e->arg, e);
}

static void run(struct spf_eval *e)
{
	for (;;) {
		enum step s = step(e);
		if (s == ST_WAIT)
			return;
		if (s == ST_DONE) {
			finish(e); /* may free e */
			return;
		}
	}
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct spf_eval *e = arg;
	if (e->depth == 0)
		finish(e);
	else
		run(e);
}

static char *dup_or_empty(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

struct spf_eval *spf_start(struct dns *dns, const struct spf_request *req, spf_done_fn done,
			   void *arg)
{
	struct spf_eval *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->dns = dns;
	e->done = done;
	e->arg = arg;
	e->identity = req->identity;
	e->sender_id = req->sender_id;
	e->kick = evtimer_new(dns_event_base(dns), on_kick, e);
	snprintf(e->ip, sizeof(e->ip), "%s", req->ip ? req->ip : "");
	unsigned char b[16];
	if (inet_pton(AF_INET, e->ip, b) == 1) {
		e->family = AF_INET;
		memcpy(e->ipb, b, 4);
	} else if (inet_pton(AF_INET6, e->ip, b) == 1) {
		static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		if (memcmp(b, mapped, 12) == 0) {
			/* RFC 7208 5: an IPv4-mapped client is an IPv4 client */
			e->family = AF_INET;
			memcpy(e->ipb, b + 12, 4);
			inet_ntop(AF_INET, b + 12, e->ip, sizeof(e->ip));
		} else {
			e->family = AF_INET6;
			memcpy(e->ipb, b, 16);
		}
	}
	e->helo = strdup(req->helo ? req->helo : "");
	e->receiver = strdup(req->receiver ? req->receiver : "unknown");
	const char *sender = req->sender ? req->sender : "";
	if (!*sender && e->identity == SPF_ID_MAILFROM)
		e->identity = SPF_ID_HELO;
	if (e->identity == SPF_ID_HELO) {
		size_t n = strlen(e->helo ? e->helo : "");
		e->sender = malloc(n + 12);
		if (e->sender)
			snprintf(e->sender, n + 12, "postmaster@%s", e->helo);
	} else {
		e->sender = strdup(sender);
	}
	if (!e->kick || !e->helo || !e->receiver || !e->sender) {
		spf_free(e);
		return NULL;
	}
	const char *at = strrchr(e->sender, '@');
	if (at) {
		e->local = at == e->sender ? strdup("postmaster")
					   : dup_or_empty(e->sender, (size_t)(at - e->sender));
		e->sender_domain = strdup(at + 1);
	} else {
		e->local = strdup("postmaster");
		e->sender_domain = strdup(e->sender);
	}
	if (!e->local || !e->sender_domain) {
		spf_free(e);
		return NULL;
	}
	size_t dl = strlen(e->sender_domain);
	if (dl && e->sender_domain[dl - 1] == '.')
		e->sender_domain[dl - 1] = '\0';
	if (!e->family) {
		e->result = SPF_PERMERROR;
		snprintf(e->problem, sizeof(e->problem), "invalid client address");
	} else if (!domain_ok(e->sender_domain)) {
		/* RFC 7208 4.3: malformed or single-label domain */
		e->result = SPF_NONE;
		snprintf(e->problem, sizeof(e->problem), "not a checkable domain name");
	} else {
		push_frame(e, e->sender_domain, false);
	}
	struct timeval zero = { 0, 0 };
	evtimer_add(e->kick, &zero);
	return e;
}

void spf_free(struct spf_eval *e)
{
	if (!e)
		return;
	if (e->q)
		dns_cancel(e->q);
	clear_frames(e);
	drop_got(e);
	if (e->p_list)
		dns_answer_unref(e->p_list);
	for (size_t i = 0; i < e->p_nvalid; i++)
		free(e->p_valid[i]);
	if (e->kick)
		event_free(e->kick);
	free(e->helo);
	free(e->sender);
	free(e->local);
	free(e->sender_domain);
	free(e->receiver);
	free(e->explanation);
	buf_free(&e->scratch);
	free(e);
}

enum spf_result spf_result(const struct spf_eval *e)
{
	return e->result;
}

enum spf_identity spf_identity(const struct spf_eval *e)
{
	return e->identity;
}

const char *spf_domain(const struct spf_eval *e)
{
	return e->sender_domain;
}

const char *spf_sender(const struct spf_eval *e)
{
	return e->sender;
}

const char *spf_explanation(const struct spf_eval *e)
{
	return e->explanation;
}

const char *spf_mechanism(const struct spf_eval *e)
{
	return e->mechanism;
}

const char *spf_problem(const struct spf_eval *e)
{
	return e->problem;
}

unsigned spf_dns_terms(const struct spf_eval *e)
{
	return e->dns_terms;
}

/* ---- headers ----------------------------------------------------------- */

/* Appends s as a quoted-string (RFC 5322 3.2.4), dropping what cannot be quoted. */
static int append_quoted(struct buf *out, const char *s)
{
	if (buf_append(out, "\"", 1) < 0)
		return -1;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f)
			continue;
		if ((c == '"' || c == '\\') && buf_append(out, "\\", 1) < 0)
			return -1;
		if (buf_append(out, s, 1) < 0)
			return -1;
	}
	return buf_append(out, "\"", 1);
}

/* Appends s inside a comment: parentheses and backslashes escaped, controls dropped. */
static int append_ctext(struct buf *out, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f)
			continue;
		if ((c == '(' || c == ')' || c == '\\') && buf_append(out, "\\", 1) < 0)
			return -1;
		if (buf_append(out, s, 1) < 0)
			return -1;
	}
	return 0;
}

static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= 0x20 || c >= 0x7f || strchr("()<>@,;:\\\"/[]?=", c))
			return false;
	}
	return true;
}

int spf_received_header(struct buf *out, const struct spf_eval *e)
{
	const char *who = e->sender;
	char comment[600];
	switch (e->result) {
	case SPF_PASS:
		snprintf(comment, sizeof(comment), "domain of %s designates %s as permitted sender",
			 who, e->ip);
		break;
	case SPF_FAIL:
		snprintf(comment, sizeof(comment),
			 "domain of %s does not designate %s as permitted sender", who, e->ip);
		break;
	case SPF_SOFTFAIL:
		snprintf(comment, sizeof(comment),
			 "domain of transitioning %s does not designate %s as permitted sender",
			 who, e->ip);
		break;
	case SPF_NEUTRAL:
		snprintf(comment, sizeof(comment),
			 "%s is neither permitted nor denied by domain of %s", e->ip, who);
		break;
	case SPF_NONE:
		snprintf(comment, sizeof(comment),
			 "domain of %s does not designate permitted sender hosts", who);
		break;
	case SPF_TEMPERROR:
		snprintf(comment, sizeof(comment), "error in processing during lookup of %s", who);
		break;
	case SPF_PERMERROR:
		snprintf(comment, sizeof(comment), "permanent error in processing domain of %s",
			 who);
		break;
	}
	int rc = buf_printf(out, "Received-SPF: %s (%s: ", spf_result_name(e->result),
			    e->receiver);
	if (rc == 0)
		rc = append_ctext(out, comment);
	if (rc == 0)
		rc = buf_printf(out, ")\r\n\tclient-ip=%s; envelope-from=", e->ip);
	if (rc == 0)
		rc = append_quoted(out, e->identity == SPF_ID_HELO ? "" : e->sender);
	if (rc == 0)
		rc = buf_append_str(out, "; helo=");
	if (rc == 0)
		rc = is_token(e->helo) ? buf_append_str(out, e->helo) : append_quoted(out, e->helo);
	if (rc == 0)
		rc = buf_printf(out, ";\r\n\treceiver=%s; identity=%s", e->receiver,
				spf_identity_name(e->identity));
	if (rc == 0 && e->mechanism[0]) {
		rc = buf_append_str(out, "; mechanism=");
		if (rc == 0)
			rc = append_quoted(out, e->mechanism);
	}
	if (rc == 0 && e->problem[0] &&
	    (e->result == SPF_PERMERROR || e->result == SPF_TEMPERROR)) {
		rc = buf_append_str(out, ";\r\n\tproblem=");
		if (rc == 0)
			rc = append_quoted(out, e->problem);
	}
	if (rc == 0)
		rc = buf_append_str(out, ";\r\n");
	return rc;
}

int spf_auth_results(struct buf *out, const struct spf_eval *e)
{
	const char *ptype = e->identity == SPF_ID_HELO ? "smtp.helo" : "smtp.mailfrom";
	const char *val = e->identity == SPF_ID_HELO ? e->helo : e->sender_domain;
	int rc = buf_printf(out, "spf=%s %s=", spf_result_name(e->result), ptype);
	if (rc == 0)
		rc = is_token(val) ? buf_append_str(out, val) : append_quoted(out, val);
	return rc;
}
