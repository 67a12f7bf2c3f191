/*
 * verdict.c - the verdict engine; see verdict.h.
 */
#include "policy/verdict.h"

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
	if (!cfg->dmarc_enforce || !f->dmarc || strcmp(f->dmarc, "fail") != 0 ||
	    !f->dmarc_disposition || strcmp(f->dmarc_disposition, "none") == 0)
		return;
	if (arc_trusted(cfg, f)) {
		buf_printf(&v->headers, "X-Mxscreen-Reasons: dmarc=fail overridden by trusted ARC "
					"sealer %s\r\n", f->arc_sealer);
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

void verdict_decide(const struct config *cfg, const struct verdict_facts *facts,
		    struct verdict *v)
{
	memset(v, 0, sizeof(*v));
	v->action = VERDICT_INBOX;
	v->reason = R_NONE;
	decide_dmarc(cfg, facts, v);
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
