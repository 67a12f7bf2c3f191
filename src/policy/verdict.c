/*
 * verdict.c - the verdict engine; see verdict.h.
 */
#include "policy/verdict.h"
#include "content/classify.h"
#include "core/config.h"

#include <string.h>

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
	const struct content_result *c = facts->content;
	if (c && cfg->content_filter) {
		if ((uint64_t)c->scl >= cfg->content_junk_scl) {
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
