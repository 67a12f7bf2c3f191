/*
 * dmarc.c - DMARC policy discovery, alignment and disposition; see dmarc.h.
 */
#include "auth/dmarc.h"
#include "auth/taglist.h"

#include <ctype.h>
#include <libpsl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool slice_is(struct slice v, const char *lit)
{
	size_t n = strlen(lit);
	return v.len == n && memcmp(v.p, lit, n) == 0;
}

static int parse_policy(struct slice v)
{
	if (v.len == 4 && !strncasecmp(v.p, "none", 4))
		return DMARC_POLICY_NONE;
	if (v.len == 10 && !strncasecmp(v.p, "quarantine", 10))
		return DMARC_POLICY_QUARANTINE;
	if (v.len == 6 && !strncasecmp(v.p, "reject", 6))
		return DMARC_POLICY_REJECT;
	return -1;
}

static bool copy_value(char *out, size_t cap, struct slice v)
{
	if (v.len >= cap)
		return false;
	memcpy(out, v.p, v.len);
	out[v.len] = '\0';
	return true;
}

/* A syntactically valid DMARC URI list (6.4): comma separated URIs with a scheme. */
static bool valid_uri_list(struct slice v)
{
	size_t i = 0;
	bool any = false;
	while (i < v.len) {
		while (i < v.len && isspace((unsigned char)v.p[i]))
			i++;
		size_t s = i;
		while (i < v.len && v.p[i] != ',')
			i++;
		size_t e = i;
		while (e > s && isspace((unsigned char)v.p[e - 1]))
			e--;
		const char *colon = memchr(v.p + s, ':', e - s);
		if (!colon || colon == v.p + s || colon + 1 == v.p + e)
			return false;
		for (const char *c = v.p + s; c < colon; c++)
			if (!isalnum((unsigned char)*c) && *c != '+' && *c != '-' && *c != '.')
				return false;
		any = true;
		i++;
	}
	return any;
}

enum dmarc_record_status dmarc_record_parse(struct dmarc_record *r, struct slice txt,
					    const char **why)
{
	memset(r, 0, sizeof(*r));
	r->pct = 100;
	*why = "";
	/* 6.6.3 step 4: only records that begin with v=DMARC1 count. */
	size_t i = 0;
	while (i < txt.len && (txt.p[i] == ' ' || txt.p[i] == '\t'))
		i++;
	if (i == txt.len || txt.p[i++] != 'v')
		return DMARC_RECORD_NOT_DMARC;
	while (i < txt.len && (txt.p[i] == ' ' || txt.p[i] == '\t'))
		i++;
	if (i == txt.len || txt.p[i++] != '=')
		return DMARC_RECORD_NOT_DMARC;
	while (i < txt.len && (txt.p[i] == ' ' || txt.p[i] == '\t'))
		i++;
	if (txt.len - i < 6 || memcmp(txt.p + i, "DMARC1", 6) != 0 ||
	    (txt.len - i > 6 && !strchr(" \t;", txt.p[i + 6])))
		return DMARC_RECORD_NOT_DMARC;
	struct taglist tl;
	if (taglist_parse(&tl, txt.p, txt.len) != TAGLIST_OK) {
		*why = "record syntax";
		return DMARC_RECORD_INVALID;
	}
	const struct tag *t;
	bool rua_ok = false;
	if ((t = taglist_get(&tl, "rua")) && valid_uri_list(t->value))
		rua_ok = copy_value(r->rua, sizeof(r->rua), t->value);
	if ((t = taglist_get(&tl, "ruf")) && valid_uri_list(t->value))
		copy_value(r->ruf, sizeof(r->ruf), t->value);
	int p = -1, sp = -1;
	if ((t = taglist_get(&tl, "p")))
		p = parse_policy(t->value);
	if ((t = taglist_get(&tl, "sp")))
		sp = parse_policy(t->value);
	bool sp_bad = t && sp < 0;
	if (p < 0 || sp_bad) {
		/* 6.6.3 step 6: act as p=none when rua= is usable, else ignore the record. */
		if (!rua_ok) {
			*why = p < 0 ? "missing or invalid p=" : "invalid sp=";
			return DMARC_RECORD_INVALID;
		}
		r->p_from_rua = true;
		p = DMARC_POLICY_NONE;
		sp = -1;
	}
	r->p = (enum dmarc_policy)p;
	r->has_sp = sp >= 0;
	r->sp = sp >= 0 ? (enum dmarc_policy)sp : r->p;
	/* Optional tags with a bad value keep their default (6.3: unknown values are ignored). */
	if ((t = taglist_get(&tl, "adkim")))
		r->adkim_strict = slice_is(t->value, "s");
	if ((t = taglist_get(&tl, "aspf")))
		r->aspf_strict = slice_is(t->value, "s");
	if ((t = taglist_get(&tl, "pct"))) {
		uint64_t v;
		if (parse_u64(t->value, 3, &v) == 0 && v <= 100)
			r->pct = (unsigned)v;
	}
	if ((t = taglist_get(&tl, "fo")) && t->value.len > 0)
		copy_value(r->fo, sizeof(r->fo), t->value);
	if (!r->fo[0])
		strcpy(r->fo, "0");
	return DMARC_RECORD_OK;
}

/* ---- organizational domain ----------------------------------------------- */

static const psl_ctx_t *psl;
static pthread_once_t psl_once = PTHREAD_ONCE_INIT;

static void psl_load(void)
{
	psl = psl_latest(NULL); /* the system list if installed, else the built-in one */
	if (!psl)
		psl = psl_builtin();
}

int dmarc_org_domain(const char *domain, char *out, size_t outlen)
{
	pthread_once(&psl_once, psl_load);
	const char *reg = psl ? psl_registrable_domain(psl, domain) : NULL;
	const char *src = reg ? reg : domain;
	if (strlen(src) >= outlen)
		return -1;
	strcpy(out, src);
	return 0;
}

/* ---- From: author domains ------------------------------------------------- */

static bool valid_domain(const char *d)
{
	size_t n = strlen(d);
	if (n == 0 || n > 253 || d[0] == '.' || !strchr(d, '.'))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];
		if (!(isalnum(c) || c == '-' || c == '.' || c == '_' || c >= 0x80))
			return false;
		if (c == '.' && d[i + 1] == '.')
			return false;
	}
	return true;
}

/* Takes the domain of one addr-spec (after its last '@') into the list. */
static int take_addr(const char *a, size_t n, char (*out)[SMTP_DOMAIN_MAX + 1], size_t max,
		     size_t *count)
{
	while (n && isspace((unsigned char)*a))
		a++, n--;
	while (n && isspace((unsigned char)a[n - 1]))
		n--;
	if (n == 0)
		return 0;
	const char *at = NULL;
	for (size_t i = 0; i < n; i++)
		if (a[i] == '@')
			at = a + i;
	if (!at)
		return -1;
	size_t dl = n - (size_t)(at + 1 - a);
	while (dl && at[dl] == '.')
		dl--; /* trailing root dot */
	char dom[SMTP_DOMAIN_MAX + 1];
	if (dl == 0 || dl > SMTP_DOMAIN_MAX)
		return -1;
	for (size_t i = 0; i < dl; i++)
		dom[i] = (char)tolower((unsigned char)at[1 + i]);
	dom[dl] = '\0';
	if (!valid_domain(dom))
		return -1;
	for (size_t i = 0; i < *count; i++)
		if (!strcmp(out[i], dom))
			return 0;
	if (*count == max)
		return -1;
	strcpy(out[(*count)++], dom);
	return 0;
}

int dmarc_from_domains(struct slice v, char (*out)[SMTP_DOMAIN_MAX + 1], size_t max, size_t *n)
{
	/* mailbox-list (RFC 5322 3.4): display names, quoted strings, comments,
	 * angle addresses, groups; the text of an addr-spec is collected outside
	 * comments and quotes. */
	char addr[SMTP_PATH_MAX * 2];
	size_t alen = 0;
	bool angle = false, had_angle = false, overflow = false;
	*n = 0;
	for (size_t i = 0; i <= v.len; i++) {
		char c = i < v.len ? v.p[i] : ',';
		if (c == '(' && !angle) {
			int depth = 1;
			for (i++; i < v.len && depth; i++) {
				if (v.p[i] == '\\')
					i++;
				else if (v.p[i] == '(')
					depth++;
				else if (v.p[i] == ')')
					depth--;
			}
			if (depth)
				return -1;
			i--;
			continue;
		}
		if (c == '"') {
			size_t s = i;
			for (i++; i < v.len && v.p[i] != '"'; i++)
				if (v.p[i] == '\\')
					i++;
			if (i >= v.len)
				return -1;
			if (angle || !had_angle) { /* quoted local part: keep it */
				size_t q = i + 1 - s;
				if (alen + q < sizeof(addr))
					memcpy(addr + alen, v.p + s, q), alen += q;
				else
					overflow = true;
			}
			continue;
		}
		if (c == '<' && !angle) {
			angle = true;
			had_angle = true;
			alen = 0;
			continue;
		}
		if (c == '>' && angle) {
			angle = false;
			continue;
		}
		if (!angle && (c == ',' || c == ';' || c == ':')) {
			if (c == ':') { /* group display name */
				alen = 0;
				had_angle = false;
				continue;
			}
			if (overflow || take_addr(addr, alen, out, max, n) < 0)
				return -1;
			alen = 0;
			had_angle = false;
			overflow = false;
			continue;
		}
		if (had_angle && !angle)
			continue; /* text after the angle address */
		if (c == '\r' || c == '\n')
			continue;
		if (alen + 1 < sizeof(addr))
			addr[alen++] = c;
		else
			overflow = true;
	}
	return *n ? 0 : -1;
}

/* ---- evaluation ------------------------------------------------------------ */

void dmarc_init(struct dmarc_eval *e, const struct headers *h)
{
	memset(e, 0, sizeof(*e));
	e->reason = "";
	size_t nfrom = headers_count(h, "From");
	if (nfrom != 1) {
		e->result = DMARC_PERMERROR;
		e->reason = nfrom ? "several From fields" : "no From field";
		return;
	}
	const struct header_field *from = NULL;
	for (size_t i = 0; i < h->n && !from; i++)
		if (header_is(&h->f[i], "From"))
			from = &h->f[i];
	char doms[DMARC_FROM_DOMAINS_MAX][SMTP_DOMAIN_MAX + 1];
	size_t n;
	if (dmarc_from_domains(from->value, doms, DMARC_FROM_DOMAINS_MAX, &n) < 0) {
		e->result = DMARC_PERMERROR;
		e->reason = "no usable author domain in From";
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct dmarc_domain *d = &e->dom[i];
		strcpy(d->from, doms[i]);
		if (dmarc_org_domain(d->from, d->org, sizeof(d->org)) < 0)
			strcpy(d->org, d->from);
		snprintf(d->qname, sizeof(d->qname), "_dmarc.%s", doms[i]);
		d->reason = "";
	}
	e->n = n;
}

const char *dmarc_query(const struct dmarc_eval *e, size_t *cursor)
{
	for (; *cursor < e->n; (*cursor)++) {
		const struct dmarc_domain *d = &e->dom[*cursor];
		if (d->state < 2)
			return e->dom[(*cursor)++].qname;
	}
	return NULL;
}

static void answer_one(struct dmarc_domain *d, const struct txt_answer *a)
{
	if (a->status == TXT_TEMPFAIL) {
		d->tempfail = true;
		d->state = 2;
		return;
	}
	size_t found = 0, invalid = 0;
	struct dmarc_record rec;
	const char *why = "";
	for (size_t i = 0; a->status == TXT_OK && i < a->n; i++) {
		if (a->rec[i].len > AUTH_TXT_MAX)
			continue;
		const char *w;
		switch (dmarc_record_parse(&rec, a->rec[i], &w)) {
		case DMARC_RECORD_OK:
			if (!found++)
				d->rec = rec;
			break;
		case DMARC_RECORD_INVALID:
			invalid++;
			why = w;
			break;
		case DMARC_RECORD_NOT_DMARC:
			break;
		}
	}
	if (found == 1) {
		d->have_record = true;
		d->record_at_org = d->state == 1;
		d->state = 2;
		return;
	}
	if (found > 1 || invalid) {
		/* 6.6.3 steps 5-6: several records, or an unusable one: no DMARC. */
		d->reason = found > 1 ? "several DMARC records" : why;
		d->state = 2;
		return;
	}
	if (d->state == 0 && strcmp(d->org, d->from) != 0) {
		char org[sizeof(d->org)];
		memcpy(org, d->org, sizeof(org));
		d->state = 1;
		snprintf(d->qname, sizeof(d->qname), "_dmarc.%s", org);
		return;
	}
	d->state = 2;
}

void dmarc_answer(struct dmarc_eval *e, const char *name, const struct txt_answer *a)
{
	for (size_t i = 0; i < e->n; i++)
		if (e->dom[i].state < 2 && !strcasecmp(e->dom[i].qname, name))
			answer_one(&e->dom[i], a);
}

static bool aligned(const char *id, const char *from, const char *from_org, bool strict)
{
	if (!id || !*id)
		return false;
	if (!strcasecmp(id, from))
		return true;
	if (strict)
		return false;
	char org[SMTP_DOMAIN_MAX + 1];
	if (dmarc_org_domain(id, org, sizeof(org)) < 0)
		return false;
	return !strcasecmp(org, from_org);
}

static void evaluate(struct dmarc_domain *d, const struct dmarc_auth *auth)
{
	if (d->state < 2) {
		d->tempfail = true; /* never answered */
		d->state = 2;
	}
	if (d->tempfail) {
		d->result = DMARC_TEMPERROR;
		d->reason = "policy lookup failed temporarily";
		return;
	}
	if (!d->have_record) {
		d->result = DMARC_NONE;
		if (!*d->reason)
			d->reason = "no DMARC record";
		return;
	}
	for (size_t i = 0; i < auth->ndkim_pass && !d->dkim_aligned; i++)
		d->dkim_aligned = aligned(auth->dkim_pass[i], d->from, d->org, d->rec.adkim_strict);
	d->spf_aligned = auth->spf_pass &&
			 aligned(auth->spf_domain, d->from, d->org, d->rec.aspf_strict);
	/* sp= governs subdomains found through their organization's record. */
	bool sub = d->record_at_org && strcmp(d->from, d->org) != 0;
	d->policy = sub ? d->rec.sp : d->rec.p;
	if (d->dkim_aligned || d->spf_aligned) {
		d->result = DMARC_PASS;
		d->disposition = DMARC_POLICY_NONE;
		return;
	}
	d->result = DMARC_FAIL;
	d->reason = "neither SPF nor DKIM aligned with From";
	d->disposition = d->policy;
	if (d->policy != DMARC_POLICY_NONE && auth->roll >= d->rec.pct) {
		/* 6.6.4: outside the sample, apply the next less strict policy. */
		d->sampled_out = true;
		d->disposition = d->policy == DMARC_POLICY_REJECT ? DMARC_POLICY_QUARANTINE
								  : DMARC_POLICY_NONE;
	}
}

/* Ranks outcomes so that the worst author domain decides. */
static int severity(const struct dmarc_domain *d)
{
	switch (d->result) {
	case DMARC_FAIL: return 10 + (int)d->disposition;
	case DMARC_TEMPERROR: return 5;
	case DMARC_PERMERROR: return 4;
	case DMARC_PASS: return 2;
	case DMARC_NONE: return 1;
	}
	return 0;
}

void dmarc_finish(struct dmarc_eval *e, const struct dmarc_auth *auth)
{
	if (e->n == 0)
		return; /* permerror decided by init */
	for (size_t i = 0; i < e->n; i++)
		evaluate(&e->dom[i], auth);
	e->worst = 0;
	for (size_t i = 1; i < e->n; i++)
		if (severity(&e->dom[i]) > severity(&e->dom[e->worst]))
			e->worst = i;
	e->result = e->dom[e->worst].result;
	e->reason = e->dom[e->worst].reason;
}

const char *dmarc_result_name(enum dmarc_result r)
{
	static const char *const names[] = { "none", "pass", "fail", "temperror", "permerror" };
	return (unsigned)r < 5 ? names[r] : "?";
}

const char *dmarc_policy_name(enum dmarc_policy p)
{
	static const char *const names[] = { "none", "quarantine", "reject" };
	return (unsigned)p < 3 ? names[p] : "?";
}
