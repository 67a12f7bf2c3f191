/*
 * dmarc_agg.c - DMARC aggregate rows from auth results; see dmarc_agg.h.
 *
 * The disposition of a row is the one applied to the message (RFC 7489
 * Appendix C "the final policy applied"): the deciding author domain's after
 * pct sampling, or none when local policy overrode it. A row says why it
 * differs from the domain's own policy: sampled_out (6.6.4), the override
 * (trusted_forwarder, local_policy), or other when another author domain of
 * the same From decided.
 */
#include "store/dmarc_agg.h"
#include "auth/auth.h"

#include <string.h>

static const char *day_of(time_t now, char out[11])
{
	struct tm tm;
	if (!gmtime_r(&now, &tm) || strftime(out, 11, "%Y-%m-%d", &tm) != 10)
		strcpy(out, "1970-01-01");
	return out;
}

/* The policy fields as published at d's policy domain. */
static int set_policy(struct store_record *r, const struct dmarc_domain *d)
{
	struct store_dmarc *o = &r->u.dmarc;
	o->domain = arena_strdup(&r->a, d->record_at_org ? d->org : d->from);
	o->adkim = d->rec.adkim_strict ? "s" : "r";
	o->aspf = d->rec.aspf_strict ? "s" : "r";
	o->p = dmarc_policy_name(d->rec.p);
	o->sp = dmarc_policy_name(d->rec.sp);
	o->pct = d->rec.pct;
	o->fo = arena_strdup(&r->a, d->rec.fo);
	o->rua = arena_strdup(&r->a, d->rec.rua);
	return o->domain && o->fo && o->rua ? 0 : -1;
}

static int set_auth(struct store_record *r, const struct auth_check *a)
{
	struct store_dmarc *o = &r->u.dmarc;
	for (size_t i = 0; i < a->dkim.nsig && o->ndkim_auth < DKIM_SIGNATURES_MAX; i++) {
		const struct dkim_sig *g = &a->dkim.sig[i];
		if (g->kind != DKIM_KIND_SIG)
			continue;
		struct store_dkim_auth *k = &o->dkim_auth[o->ndkim_auth++];
		k->domain = arena_strdup(&r->a, g->d);
		k->selector = arena_strdup(&r->a, g->s);
		k->result = dkim_result_name(g->result);
		if (!k->domain || !k->selector)
			return -1;
	}
	if (a->p.spf_result) {
		o->spf_domain = arena_strdup(&r->a, a->p.spf_domain ? a->p.spf_domain : "");
		o->spf_scope = a->p.spf_helo ? "helo" : "mfrom";
		o->spf_result = a->p.spf_result;
		if (!o->spf_domain)
			return -1;
	}
	return 0;
}

static enum dmarc_policy own_disposition(const struct dmarc_domain *d)
{
	return d->result == DMARC_FAIL ? d->disposition : DMARC_POLICY_NONE;
}

static void set_reason(struct store_record *r, const struct dmarc_agg_facts *f,
		       const struct dmarc_domain *d, const struct dmarc_domain *decider,
		       enum dmarc_policy applied)
{
	struct store_dmarc *o = &r->u.dmarc;
	enum dmarc_policy own = own_disposition(d);
	o->reason = o->comment = "";
	if (f->override && own != DMARC_POLICY_NONE) {
		o->reason = f->override;
		o->comment = f->override_comment ? arena_strdup(&r->a, f->override_comment) : "";
	} else if (own != applied) {
		o->reason = "other";
		o->comment = arena_printf(&r->a, "several author domains; the policy of %s applied",
					  decider->from);
	} else if (d->sampled_out) {
		o->reason = "sampled_out";
	}
	if (!o->comment)
		o->comment = "";
}

static struct store_record *one_row(const struct dmarc_agg_facts *f,
				    const struct dmarc_domain *d,
				    const struct dmarc_domain *decider, enum dmarc_policy applied,
				    const char *day, const char *envelope_domain)
{
	struct store_record *r = store_record_new(STORE_DMARC);
	if (!r)
		return NULL;
	struct store_dmarc *o = &r->u.dmarc;
	o->day = arena_strdup(&r->a, day);
	o->source_ip = arena_strdup(&r->a, f->source_ip ? f->source_ip : "");
	o->header_from = arena_strdup(&r->a, d->from);
	o->envelope_from = arena_strdup(&r->a, envelope_domain);
	o->disposition = dmarc_policy_name(applied);
	o->dkim = d->dkim_aligned ? "pass" : "fail";
	o->spf = d->spf_aligned ? "pass" : "fail";
	set_reason(r, f, d, decider, applied);
	if (!o->day || !o->source_ip || !o->header_from || !o->envelope_from ||
	    set_policy(r, d) < 0 || set_auth(r, f->auth) < 0) {
		store_record_free(r);
		return NULL;
	}
	return r;
}

size_t dmarc_agg_records(const struct dmarc_agg_facts *f, struct store_record **out, size_t max)
{
	const struct auth_check *a = f->auth;
	if (!a || !a->header_ok || !a->finished)
		return 0;
	const struct dmarc_eval *e = &a->dmarc;
	if (e->n == 0)
		return 0;
	const struct dmarc_domain *decider = &e->dom[e->worst];
	enum dmarc_policy applied = f->override ? DMARC_POLICY_NONE : own_disposition(decider);
	char day[11];
	day_of(f->now, day);
	const char *mf = f->mail_from ? f->mail_from : "";
	const char *at = strrchr(mf, '@');
	char envelope[SMTP_DOMAIN_MAX + 1];
	size_t k = 0;
	for (const char *p = at ? at + 1 : ""; *p && k < SMTP_DOMAIN_MAX; p++)
		envelope[k++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	envelope[k] = '\0';
	size_t n = 0;
	for (size_t i = 0; i < e->n && n < max; i++) {
		const struct dmarc_domain *d = &e->dom[i];
		if (!d->have_record || (d->result != DMARC_PASS && d->result != DMARC_FAIL))
			continue;
		struct store_record *r = one_row(f, d, decider, applied, day, envelope);
		if (r)
			out[n++] = r;
	}
	return n;
}
