/*
 * arc.c - ARC chain validation (RFC 8617); see arc.h.
 */
#include "auth/arc.h"
#include "core/limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void decide(struct arc_eval *a, enum arc_cv r, const char *why)
{
	a->result = r;
	a->reason = why;
}

/* Fails the chain on signature s of instance inst, with its own reason. */
static void decide_sig(struct arc_eval *a, const struct dkim_sig *s, unsigned inst)
{
	snprintf(a->why, sizeof(a->why), "%s i=%u: %s",
		 s->kind == DKIM_KIND_AS ? "ARC-Seal" : "ARC-Message-Signature", inst,
		 *s->reason ? s->reason : "did not verify");
	decide(a, ARC_CV_FAIL, a->why);
}

unsigned arc_aar_instance(struct slice v, struct slice *rest)
{
	size_t i = 0;
	while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == '\r' || v.p[i] == '\n'))
		i++;
	if (i + 1 >= v.len || v.p[i] != 'i')
		return 0;
	i++;
	while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t'))
		i++;
	if (i >= v.len || v.p[i++] != '=')
		return 0;
	while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t'))
		i++;
	unsigned n = 0, digits = 0;
	while (i < v.len && v.p[i] >= '0' && v.p[i] <= '9' && digits < 3) {
		n = n * 10 + (unsigned)(v.p[i++] - '0');
		digits++;
	}
	while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t'))
		i++;
	if (!digits || i >= v.len || v.p[i] != ';' || n < 1 || n > ARC_INSTANCES_MAX)
		return 0;
	*rest = (struct slice){ v.p + i + 1, v.len - i - 1 };
	return n;
}

/* Instance of an AMS/AS field without a full parse: its i= tag. */
static unsigned sig_instance(const struct header_field *f)
{
	struct slice rest;
	/* i= is usually first; otherwise find "i=" after a ';'. */
	unsigned n = arc_aar_instance(f->value, &rest);
	if (n)
		return n;
	for (size_t k = 0; k + 1 < f->value.len; k++) {
		if (f->value.p[k] != ';')
			continue;
		n = arc_aar_instance((struct slice){ f->value.p + k + 1, f->value.len - k - 1 },
				     &rest);
		if (n)
			return n;
	}
	/* i= as the last tag, with no ';' after it. */
	const char *p = f->value.p, *end = p + f->value.len;
	for (const char *q = p; q + 2 < end; q++) {
		if ((q == p || q[-1] == ';' || q[-1] == ' ') && q[0] == 'i' && q[1] == '=') {
			unsigned v = 0, d = 0;
			for (q += 2; q < end && *q >= '0' && *q <= '9' && d < 3; q++, d++)
				v = v * 10 + (unsigned)(*q - '0');
			return d && v >= 1 && v <= ARC_INSTANCES_MAX ? v : 0;
		}
	}
	return 0;
}

int arc_init(struct arc_eval *a, const struct headers *h, time_t now)
{
	memset(a, 0, sizeof(*a));
	a->h = h;
	a->reason = "";
	unsigned max = 0;
	size_t count = 0;
	for (size_t i = 0; i < h->n; i++) {
		const struct header_field *f = &h->f[i];
		struct slice rest;
		unsigned inst;
		if (header_is(f, "ARC-Authentication-Results"))
			inst = arc_aar_instance(f->value, &rest);
		else if (header_is(f, "ARC-Message-Signature") || header_is(f, "ARC-Seal"))
			inst = sig_instance(f);
		else
			continue;
		count++;
		if (inst == 0) {
			a->structural = true;
			decide(a, ARC_CV_FAIL, "ARC header without a valid instance (i=)");
			return 0;
		}
		if (inst > max)
			max = inst;
	}
	if (count == 0) {
		a->structural = true;
		decide(a, ARC_CV_NONE, "no ARC sets");
		return 0;
	}
	a->structural = true;
	if (count != 3 * (size_t)max) {
		decide(a, ARC_CV_FAIL, "missing or duplicate ARC header for an instance");
		return 0;
	}
	a->set = calloc(max, sizeof(*a->set));
	if (!a->set)
		return -1;
	a->n = max;
	for (unsigned k = 0; k < max; k++)
		a->set[k].aar = a->set[k].ams = a->set[k].as = SIZE_MAX;
	for (size_t i = 0; i < h->n; i++) {
		const struct header_field *f = &h->f[i];
		struct slice rest;
		size_t *slot;
		unsigned inst;
		if (header_is(f, "ARC-Authentication-Results")) {
			inst = arc_aar_instance(f->value, &rest);
			slot = &a->set[inst - 1].aar;
			a->set[inst - 1].aar_value = rest;
		} else if (header_is(f, "ARC-Message-Signature")) {
			inst = sig_instance(f);
			slot = &a->set[inst - 1].ams;
		} else if (header_is(f, "ARC-Seal")) {
			inst = sig_instance(f);
			slot = &a->set[inst - 1].as;
		} else {
			continue;
		}
		if (*slot != SIZE_MAX) {
			decide(a, ARC_CV_FAIL, "missing or duplicate ARC header for an instance");
			return 0;
		}
		*slot = i;
	}
	for (unsigned k = 0; k < max; k++) {
		struct arc_set *s = &a->set[k];
		if (s->aar == SIZE_MAX || s->ams == SIZE_MAX || s->as == SIZE_MAX) {
			decide(a, ARC_CV_FAIL, "missing or duplicate ARC header for an instance");
			return 0;
		}
		dkim_sig_parse(&s->ams_sig, DKIM_KIND_AMS, h, s->ams, now);
		dkim_sig_parse(&s->as_sig, DKIM_KIND_AS, h, s->as, now);
		if (s->as_sig.result == DKIM_PERMERROR || s->ams_sig.result == DKIM_PERMERROR) {
			decide_sig(a, s->as_sig.result == DKIM_PERMERROR ? &s->as_sig : &s->ams_sig,
				   k + 1);
			return 0;
		}
		if (s->as_sig.instance != k + 1 || s->ams_sig.instance != k + 1) {
			decide(a, ARC_CV_FAIL, "ARC instance mismatch");
			return 0;
		}
	}
	if (a->set[max - 1].as_sig.cv == ARC_CV_FAIL) {
		decide(a, ARC_CV_FAIL, "newest ARC-Seal says cv=fail");
		return 0;
	}
	for (unsigned k = 0; k < max; k++) {
		enum arc_cv want = k == 0 ? ARC_CV_NONE : ARC_CV_PASS;
		if (a->set[k].as_sig.cv != want) {
			decide(a, ARC_CV_FAIL, k == 0 ? "ARC-Seal i=1 without cv=none"
						      : "ARC-Seal i>1 without cv=pass");
			return 0;
		}
	}
	a->structural = false;
	return 0;
}

/* Signature k of the chain: AMS of set k/2 for even k, AS for odd. */
static struct dkim_sig *sig_at(const struct arc_eval *a, size_t k)
{
	struct arc_set *s = &a->set[k / 2];
	return k % 2 ? &s->as_sig : &s->ams_sig;
}

const char *arc_query(const struct arc_eval *a, size_t *cursor)
{
	if (a->structural)
		return NULL;
	for (; *cursor < 2 * (size_t)a->n; (*cursor)++) {
		const struct dkim_sig *s = sig_at(a, *cursor);
		if (!s->pending)
			continue;
		bool seen = false;
		for (size_t k = 0; k < *cursor && !seen; k++)
			seen = sig_at(a, k)->pending && !strcmp(sig_at(a, k)->keyname, s->keyname);
		if (!seen)
			return sig_at(a, (*cursor)++)->keyname;
	}
	return NULL;
}

/* The data an ARC-Seal of instance inst signs (RFC 8617 5.1.1). */
static int seal_data(const struct arc_eval *a, unsigned inst, struct buf *out)
{
	for (unsigned k = 0; k < inst; k++) {
		const struct arc_set *s = &a->set[k];
		if (canon_header(out, CANON_RELAXED, &a->h->f[s->aar], true) < 0 ||
		    canon_header(out, CANON_RELAXED, &a->h->f[s->ams], true) < 0)
			return -1;
		if (k + 1 < inst && canon_header(out, CANON_RELAXED, &a->h->f[s->as], true) < 0)
			return -1;
	}
	return dkim_sig_self(out, &a->set[inst - 1].as_sig, a->h);
}

void arc_answer(struct arc_eval *a, const char *name, const struct txt_answer *ans)
{
	if (a->structural)
		return;
	for (unsigned k = 0; k < a->n; k++) {
		struct arc_set *s = &a->set[k];
		if (s->ams_sig.pending && !strcasecmp(s->ams_sig.keyname, name))
			dkim_sig_verify(&s->ams_sig, a->h, ans);
		if (s->as_sig.pending && !strcasecmp(s->as_sig.keyname, name)) {
			struct buf data = { 0 };
			if (seal_data(a, k + 1, &data) < 0) {
				s->as_sig.result = DKIM_TEMPERROR;
				s->as_sig.reason = "internal error (memory)";
				s->as_sig.pending = false;
			} else {
				dkim_sig_verify_data(&s->as_sig, ans, data.p, data.len);
			}
			buf_free(&data);
		}
	}
}

void arc_finish(struct arc_eval *a)
{
	if (a->structural)
		return;
	for (unsigned k = 0; k < a->n; k++) {
		struct dkim_sig *v[2] = { &a->set[k].ams_sig, &a->set[k].as_sig };
		for (int j = 0; j < 2; j++)
			if (v[j]->pending) {
				v[j]->pending = false;
				v[j]->result = DKIM_TEMPERROR;
				v[j]->reason = "key lookup not answered";
			}
	}
	/* RFC 8617 5.2: the newest AMS (step 5), then the seals newest first (step 7). */
	struct arc_set *top = &a->set[a->n - 1];
	if (top->ams_sig.result != DKIM_PASS) {
		decide_sig(a, &top->ams_sig, a->n);
		return;
	}
	for (unsigned k = a->n; k-- > 0;) {
		if (a->set[k].as_sig.result != DKIM_PASS) {
			decide_sig(a, &a->set[k].as_sig, k + 1);
			return;
		}
	}
	a->oldest_pass = 0;
	for (unsigned k = a->n; k-- > 0;) {
		if (a->set[k].ams_sig.result != DKIM_PASS) {
			a->oldest_pass = k + 2;
			break;
		}
	}
	decide(a, ARC_CV_PASS, "");
}

void arc_free(struct arc_eval *a)
{
	free(a->set);
	memset(a, 0, sizeof(*a));
}

int arc_chain_domains(const struct arc_eval *a, struct buf *out)
{
	for (unsigned k = 0; k < a->n; k++)
		if (buf_printf(out, "%s%s", k ? ":" : "", a->set[k].as_sig.d) < 0)
			return -1;
	return 0;
}

const char *arc_cv_name(enum arc_cv cv)
{
	switch (cv) {
	case ARC_CV_NONE: return "none";
	case ARC_CV_PASS: return "pass";
	case ARC_CV_FAIL: return "fail";
	}
	return "?";
}
