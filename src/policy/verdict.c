/*
 * verdict.c - the verdict engine; see verdict.h.
 */
#include "policy/verdict.h"

#include <string.h>

void verdict_decide(const struct config *cfg, const struct verdict_facts *facts,
		    struct verdict *v)
{
	(void)cfg;
	(void)facts;
	memset(v, 0, sizeof(*v));
	v->action = VERDICT_INBOX;
	v->reason = R_NONE;
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
