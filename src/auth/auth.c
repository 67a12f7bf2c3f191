/*
 * auth.c - DKIM + ARC + DMARC for one message, and Authentication-Results; see auth.h.
 */
#include "auth/auth.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct auth_check *auth_check_new(struct slice message, const struct auth_params *p)
{
	struct auth_check *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->p = *p;
	a->header_ok = headers_parse(&a->h, message.p, message.len) == 0;
	if (!a->header_ok) {
		headers_free(&a->h);
		return a;
	}
	if (dkim_verifier_init(&a->dkim, &a->h, p->now) < 0 || arc_init(&a->arc, &a->h, p->now) < 0) {
		auth_check_free(a);
		return NULL;
	}
	dmarc_init(&a->dmarc, &a->h);
	return a;
}

static bool asked(const struct auth_check *a, const char *name)
{
	for (size_t i = 0; i < a->nasked; i++)
		if (!strcasecmp(a->asked[i], name))
			return true;
	return false;
}

static const char *hand_out(struct auth_check *a, const char *name)
{
	if (a->nasked == a->capasked) {
		size_t cap = a->capasked ? a->capasked * 2 : 8;
		char **n = realloc(a->asked, cap * sizeof(*n));
		if (!n)
			return NULL;
		a->asked = n;
		a->capasked = cap;
	}
	char *dup = strdup(name);
	if (!dup)
		return NULL;
	a->asked[a->nasked++] = dup;
	return dup;
}

const char *auth_check_next_query(struct auth_check *a)
{
	if (!a->header_ok || a->finished)
		return NULL;
	const char *name;
	size_t cur = 0;
	while ((name = dkim_verifier_query(&a->dkim, &cur)))
		if (!asked(a, name))
			return hand_out(a, name);
	cur = 0;
	while ((name = arc_query(&a->arc, &cur)))
		if (!asked(a, name))
			return hand_out(a, name);
	cur = 0;
	while ((name = dmarc_query(&a->dmarc, &cur)))
		if (!asked(a, name))
			return hand_out(a, name);
	return NULL;
}

void auth_check_answer(struct auth_check *a, const char *name, const struct txt_answer *ans)
{
	if (!a->header_ok || a->finished)
		return;
	dkim_verifier_answer(&a->dkim, name, ans);
	arc_answer(&a->arc, name, ans);
	dmarc_answer(&a->dmarc, name, ans);
}

size_t auth_dkim_pass_domains(const struct auth_check *a, const char **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < a->dkim.nsig && n < max; i++)
		if (a->dkim.sig[i].result == DKIM_PASS)
			out[n++] = a->dkim.sig[i].d;
	return n;
}

void auth_check_finish(struct auth_check *a)
{
	if (!a->header_ok || a->finished)
		return;
	a->finished = true;
	dkim_verifier_finish(&a->dkim);
	arc_finish(&a->arc);
	const char *pass[DKIM_SIGNATURES_MAX];
	struct dmarc_auth da = {
		.spf_pass = a->p.spf_result && !strcmp(a->p.spf_result, "pass"),
		.spf_domain = a->p.spf_domain,
		.dkim_pass = pass,
		.ndkim_pass = auth_dkim_pass_domains(a, pass, DKIM_SIGNATURES_MAX),
		.roll = a->p.dmarc_roll,
	};
	dmarc_finish(&a->dmarc, &da);
}

/* Appends a ptype value, quoted when it is not a plain token (RFC 8601 2.2). */
static int add_value(struct buf *out, const char *v)
{
	bool plain = *v != '\0';
	for (const char *p = v; *p && plain; p++)
		plain = isalnum((unsigned char)*p) || strchr("-._@+/=", *p);
	if (plain)
		return buf_append_str(out, v);
	if (buf_append(out, "\"", 1) < 0)
		return -1;
	for (const char *p = v; *p; p++)
		if ((*p == '"' || *p == '\\') ? buf_printf(out, "\\%c", *p) : buf_append(out, p, 1))
			return -1;
	return buf_append(out, "\"", 1);
}

static int add_dkim(struct buf *out, const struct dkim_sig *s)
{
	if (buf_printf(out, ";\r\n\tdkim=%s", dkim_result_name(s->result)) < 0)
		return -1;
	const char *why = s->reason;
	if (s->testing && buf_append_str(out, " (test mode key)") < 0)
		return -1;
	if (*why && buf_printf(out, " (%s)", why) < 0)
		return -1;
	if (!*s->d)
		return 0;
	if (buf_append_str(out, " header.d=") < 0 || add_value(out, s->d) < 0)
		return -1;
	if (*s->s && (buf_append_str(out, " header.s=") < 0 || add_value(out, s->s) < 0))
		return -1;
	if (s->result != DKIM_PERMERROR && buf_printf(out, " header.a=%s", dkim_alg_name(s->alg)) < 0)
		return -1;
	if (*s->bprefix && (buf_append_str(out, " header.b=") < 0 || add_value(out, s->bprefix) < 0))
		return -1;
	return 0;
}

/*
 * arc=: the chain length and its sealers in a comment, then the properties
 * registered for arc (RFC 8617 10.1): header.oldest-pass on pass, and
 * smtp.remote-ip. No arc.chain: "arc" is no registered ptype (RFC 8601 2.3).
 */
static int add_arc(struct buf *out, const struct arc_eval *r, const char *client_ip)
{
	if (buf_printf(out, ";\r\n\tarc=%s", arc_cv_name(r->result)) < 0)
		return -1;
	if (r->result == ARC_CV_PASS) {
		if (buf_printf(out, " (i=%u chain=", r->n) < 0 || arc_chain_domains(r, out) < 0 ||
		    buf_printf(out, ") header.oldest-pass=%u", r->oldest_pass) < 0)
			return -1;
	} else if (r->result == ARC_CV_FAIL && buf_printf(out, " (%s)", r->reason) < 0) {
		return -1;
	}
	if (client_ip && *client_ip &&
	    (buf_append_str(out, " smtp.remote-ip=") < 0 || add_value(out, client_ip) < 0))
		return -1;
	return 0;
}

int auth_check_results(const struct auth_check *a, struct buf *out)
{
	if (buf_printf(out, "Authentication-Results: %s", a->p.authserv_id) < 0)
		return -1;
	if (a->p.spf_result) {
		if (buf_printf(out, ";\r\n\tspf=%s", a->p.spf_result) < 0)
			return -1;
		if (a->p.spf_domain && *a->p.spf_domain &&
		    (buf_append_str(out, a->p.spf_helo ? " smtp.helo=" : " smtp.mailfrom=") < 0 ||
		     add_value(out, a->p.spf_domain) < 0))
			return -1;
	}
	if (a->p.senderid_resinfo && buf_printf(out, ";\r\n\t%s", a->p.senderid_resinfo) < 0)
		return -1;
	if (!a->header_ok)
		return buf_append_str(out, ";\r\n\tdkim=permerror (header too large);\r\n"
					   "\tdmarc=permerror (header too large)\r\n");
	if (a->dkim.nsig == 0 && buf_append_str(out, ";\r\n\tdkim=none") < 0)
		return -1;
	for (size_t i = 0; i < a->dkim.nsig; i++)
		if (add_dkim(out, &a->dkim.sig[i]) < 0)
			return -1;
	const struct dmarc_eval *d = &a->dmarc;
	if (buf_printf(out, ";\r\n\tdmarc=%s", dmarc_result_name(d->result)) < 0)
		return -1;
	if (d->n > 0) {
		const struct dmarc_domain *w = &d->dom[d->worst];
		if (w->have_record) {
			if (buf_printf(out, " (p=%s sp=%s dis=%s%s)", dmarc_policy_name(w->rec.p),
				       dmarc_policy_name(w->rec.sp),
				       dmarc_policy_name(w->disposition),
				       w->sampled_out ? " pct-sampled-out" : "") < 0)
				return -1;
		} else if (*w->reason && buf_printf(out, " (%s)", w->reason) < 0) {
			return -1;
		}
		if (buf_append_str(out, " header.from=") < 0 || add_value(out, w->from) < 0)
			return -1;
		if (w->have_record && buf_printf(out, " policy.dmarc=%s",
						 dmarc_policy_name(w->policy)) < 0)
			return -1;
	} else if (*d->reason && buf_printf(out, " (%s)", d->reason) < 0) {
		return -1;
	}
	if (add_arc(out, &a->arc, a->p.client_ip) < 0)
		return -1;
	return buf_append_str(out, "\r\n");
}

bool auth_check_temperror(const struct auth_check *a)
{
	if (!a->header_ok)
		return false;
	for (size_t i = 0; i < a->dkim.nsig; i++)
		if (a->dkim.sig[i].result == DKIM_TEMPERROR)
			return true;
	return a->dmarc.result == DMARC_TEMPERROR;
}

void auth_check_free(struct auth_check *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->nasked; i++)
		free(a->asked[i]);
	free(a->asked);
	dkim_verifier_free(&a->dkim);
	arc_free(&a->arc);
	headers_free(&a->h);
	free(a);
}

/* The authserv-id that begins an Authentication-Results value (RFC 8601 2.2). */
static bool results_of(const struct header_field *f, const char *id)
{
	const char *p = f->value.p, *end = p + f->value.len;
	while (p < end && isspace((unsigned char)*p))
		p++;
	size_t n = strlen(id);
	if ((size_t)(end - p) < n || strncasecmp(p, id, n) != 0)
		return false;
	p += n;
	return p == end || *p == ';' || isspace((unsigned char)*p) || *p == '(';
}

int auth_strip_own_results(struct slice message, const char *authserv_id, struct buf *out)
{
	struct headers h;
	if (headers_parse(&h, message.p, message.len) < 0) {
		headers_free(&h);
		return buf_append(out, message.p, message.len) < 0 ? -1 : 0;
	}
	int removed = 0;
	const char *copied = message.p;
	for (size_t i = 0; i < h.n; i++) {
		const struct header_field *f = &h.f[i];
		if (!header_is(f, "Authentication-Results") || !results_of(f, authserv_id))
			continue;
		if (buf_append(out, copied, (size_t)(f->raw.p - copied)) < 0)
			goto oom;
		copied = f->raw.p + f->raw.len;
		if (copied + 2 <= message.p + message.len && copied[0] == '\r')
			copied += 2; /* its CRLF */
		removed++;
	}
	if (buf_append(out, copied, (size_t)(message.p + message.len - copied)) < 0)
		goto oom;
	headers_free(&h);
	return removed;
oom:
	headers_free(&h);
	return -1;
}
