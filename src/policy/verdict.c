/*
 * verdict.c - the verdict engine; see verdict.h.
 */
#include "policy/verdict.h"
#include "content/classify.h"
#include "core/config.h"


#include <stdio.h>
#include <string.h>
#include <strings.h>

/* True when the newest ARC sealer is in arc_trusted_sealers and the chain passes. */
static bool arc_trusted(const struct config *cfg, const struct verdict_facts *f)
{
	if (!f->arc || strcmp(f->arc, "pass") != 0 || !f->arc_sealer)
		return false;
	const char *cur = cfg->arc_trusted_sealers, *item;
	size_t n, len = strlen(f->arc_sealer);
	while ((n = config_list_next(&cur, &item)) > 0)
		if (n == len && strncasecmp(item, f->arc_sealer, n) == 0)
			return true;
	return false;
}

/* RFC 7489 6.6.2/6.7: the domain owner's disposition, unless local policy overrides it. */
static void decide_dmarc(const struct config *cfg, const struct verdict_facts *f,
			 struct verdict *v)
{
	if (!f->dmarc || strcmp(f->dmarc, "fail") != 0 || !f->dmarc_disposition ||
	    strcmp(f->dmarc_disposition, "none") == 0)
		return;
	/* RFC 7489 7.2.1.1 PolicyOverrideType names what overrode the disposition. */
	if (!cfg->dmarc_enforce) {
		v->dmarc_override = "local_policy";
		snprintf(v->dmarc_override_comment, sizeof(v->dmarc_override_comment),
			 "dmarc_enforce=no");
		return;
	}
	if (arc_trusted(cfg, f)) {
		buf_printf(&v->headers, "X-Mxscreen-Reasons: dmarc=fail overridden by trusted ARC "
					"sealer %s\r\n", f->arc_sealer);
		v->dmarc_override = "trusted_forwarder";
		snprintf(v->dmarc_override_comment, sizeof(v->dmarc_override_comment),
			 "arc=pass sealer=%s", f->arc_sealer);
		return;
	}
	if (strcmp(f->dmarc_disposition, "reject") == 0) {
		v->action = VERDICT_REJECT;
		v->reason = R_DMARC_REJECT;
		v->code = 550;
		v->enh = "5.7.1";
		snprintf(v->detail, sizeof(v->detail),
			 "%s publishes DMARC p=reject and this message has no aligned SPF or DKIM pass",
			 f->dmarc_from ? f->dmarc_from : "the From domain");
	} else if (strcmp(f->dmarc_disposition, "quarantine") == 0) {
		v->action = VERDICT_JUNK;
		v->reason = R_DMARC_QUARANTINE;
		buf_printf(&v->headers, "X-Mxscreen-Reasons: %s dmarc=fail header.from=%s "
					"policy=quarantine\r\n", reason_get(R_DMARC_QUARANTINE)->code,
			   f->dmarc_from ? f->dmarc_from : "?");
	}
}

/* A feature name made safe for a header value: printable ASCII, no ';'. */
static void header_safe(const char *in, char *out, size_t outlen)
{
	size_t k = 0;
	for (; *in && k + 1 < outlen; in++) {
		unsigned char ch = (unsigned char)*in;
		out[k++] = ch > 0x20 && ch < 0x7f && ch != ';' ? (char)ch : '?';
	}
	out[k] = '\0';
}

/* X-Mxscreen-SCL and X-Mxscreen-Reasons (folded, one feature a line). */
static int content_headers(struct buf *h, const struct content_result *c, enum reason r)
{
	int rc = buf_printf(h, "X-Mxscreen-SCL: %d\r\nX-Mxscreen-Reasons: %s; p=%.4f",
			    c->scl, r == R_NONE ? "none" : reason_get(r)->code, c->probability);
	for (size_t i = 0; rc == 0 && i < c->ntop; i++) {
		char name[sizeof(c->top[i].name)];
		header_safe(c->top[i].name, name, sizeof(name));
		rc = buf_printf(h, ";\r\n\t%s=%+.3f", name, c->top[i].contribution);
	}
	if (rc == 0)
		rc = buf_append_str(h, "\r\n");
	return rc;
}

void verdict_decide(const struct config *cfg, const struct verdict_facts *facts,
		    struct verdict *v)
{
	memset(v, 0, sizeof(*v));
	v->action = VERDICT_INBOX;
	v->reason = R_NONE;
	decide_dmarc(cfg, facts, v);
	if (v->action == VERDICT_REJECT)
		return;
	const struct content_result *c = facts->content;
	if (c && cfg->content_filter) {
		if (v->action == VERDICT_INBOX && (uint64_t)c->scl >= cfg->content_junk_scl) {
			v->action = VERDICT_JUNK;
			v->reason = R_CONTENT_JUNK;
		}
		if (content_headers(&v->headers, c, v->reason) < 0)
			buf_reset(&v->headers); /* out of memory: deliver without them */
	}
}

void verdict_free(struct verdict *v)
{
	buf_free(&v->headers);
}

const char *verdict_action_name(enum verdict_action a)
{
	static const char *const names[] = { "inbox", "junk", "reject", "tempfail" };
	return (unsigned)a < 4 ? names[a] : "?";
}
