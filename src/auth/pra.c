/*
 * pra.c - PRA selection (RFC 4407 section 2); see pra.h.
 */
#include "auth/pra.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

enum hkind { H_OTHER, H_RESENT_SENDER, H_RESENT_FROM, H_SENDER, H_FROM, H_TRACE };

struct hdr {
	enum hkind kind;
	const char *v;
	size_t n;
};

#define PRA_HEADERS_MAX 512

static enum hkind kind_of(const char *name, size_t n)
{
	static const struct {
		const char *name;
		enum hkind k;
	} t[] = { { "resent-sender", H_RESENT_SENDER },
		  { "resent-from", H_RESENT_FROM },
		  { "sender", H_SENDER },
		  { "from", H_FROM },
		  { "received", H_TRACE },
		  { "return-path", H_TRACE } };
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strlen(t[i].name) == n && strncasecmp(t[i].name, name, n) == 0)
			return t[i].k;
	return H_OTHER;
}

/*
 * Extracts the single mailbox of an address list: display names, comments and
 * quoted strings are skipped; a top-level comma or a group means several.
 */
int pra_mailbox(const char *v, size_t n, char *out, size_t outlen)
{
	char flat[1024];
	size_t o = 0, angle_start = (size_t)-1, angle_end = (size_t)-1;
	int depth = 0, mailboxes_sep = 0;
	bool in_quote = false, seen_text = false;
	for (size_t i = 0; i < n; i++) {
		char c = v[i];
		if (in_quote) {
			if (c == '\\' && i + 1 < n)
				i++;
			else if (c == '"')
				in_quote = false;
			if (angle_start != (size_t)-1 && angle_end == (size_t)-1 && o < sizeof(flat) - 1)
				flat[o++] = c;
			continue;
		}
		if (depth) {
			if (c == '\\' && i + 1 < n)
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			continue;
		}
		switch (c) {
		case '(':
			depth = 1;
			continue;
		case '"':
			in_quote = true;
			seen_text = true;
			if (angle_start != (size_t)-1 && angle_end == (size_t)-1 && o < sizeof(flat) - 1)
				flat[o++] = c;
			continue;
		case '<':
			if (angle_start != (size_t)-1)
				return -1;
			angle_start = o;
			continue;
		case '>':
			if (angle_start == (size_t)-1 || angle_end != (size_t)-1)
				return -1;
			angle_end = o;
			continue;
		case ',':
		case ';':
			mailboxes_sep++;
			continue;
		case ':':
			if (angle_start == (size_t)-1 || angle_end != (size_t)-1)
				return -1; /* a group */
			break;
		case ' ':
		case '\t':
		case '\r':
		case '\n':
			continue;
		default:
			break;
		}
		seen_text = true;
		if (o < sizeof(flat) - 1)
			flat[o++] = c;
	}
	(void)seen_text;
	if (in_quote || depth || mailboxes_sep)
		return -1;
	flat[o] = '\0';
	const char *addr = flat;
	size_t alen = o;
	if (angle_start != (size_t)-1) {
		if (angle_end == (size_t)-1)
			return -1;
		addr = flat + angle_start;
		alen = angle_end - angle_start;
		/* obsolete route: <@a,@b:local@domain> */
		const char *colon = memchr(addr, ':', alen);
		if (alen && addr[0] == '@' && colon) {
			alen -= (size_t)(colon + 1 - addr);
			addr = colon + 1;
		}
	}
	const char *at = NULL;
	for (size_t i = 0; i < alen; i++)
		if (addr[i] == '@')
			at = addr + i;
	if (!at || at == addr + alen - 1 || alen >= outlen)
		return -1;
	memcpy(out, addr, alen);
	out[alen] = '\0';
	return 0;
}

static bool nonempty(const struct hdr *h)
{
	int depth = 0;
	for (size_t i = 0; i < h->n; i++) {
		char c = h->v[i];
		if (depth) {
			depth += c == '(' ? 1 : c == ')' ? -1 : 0;
			continue;
		}
		if (c == '(')
			depth = 1;
		else if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
			return true;
	}
	return false;
}

static int take(const struct hdr *h, const char *name, struct pra *out)
{
	if (pra_mailbox(h->v, h->n, out->mailbox, sizeof(out->mailbox)) < 0)
		return -1;
	snprintf(out->header, sizeof(out->header), "%s", name);
	out->domain = strrchr(out->mailbox, '@') + 1;
	return 0;
}

int pra_select(const char *msg, size_t len, struct pra *out)
{
	struct hdr hs[PRA_HEADERS_MAX];
	size_t nh = 0, i = 0;
	memset(out, 0, sizeof(*out));
	while (i < len && nh < PRA_HEADERS_MAX) {
		if (msg[i] == '\r' || msg[i] == '\n')
			break; /* end of the header block */
		size_t ls = i;
		const char *colon = NULL;
		/* a field runs until a line end not followed by WSP */
		while (i < len) {
			if (msg[i] == '\n' && !(i + 1 < len && (msg[i + 1] == ' ' || msg[i + 1] == '\t'))) {
				i++;
				break;
			}
			if (!colon && msg[i] == ':')
				colon = msg + i;
			i++;
		}
		if (!colon)
			continue; /* not a field: ignore */
		size_t nlen = (size_t)(colon - (msg + ls));
		while (nlen && (msg[ls + nlen - 1] == ' ' || msg[ls + nlen - 1] == '\t'))
			nlen--;
		hs[nh].kind = kind_of(msg + ls, nlen);
		hs[nh].v = colon + 1;
		hs[nh].n = (size_t)(msg + i - (colon + 1));
		nh++;
	}
	/* Step 1: the first non-empty Resent-Sender */
	size_t rs = nh, rf = nh;
	for (size_t k = 0; k < nh; k++)
		if (hs[k].kind == H_RESENT_SENDER && nonempty(&hs[k])) {
			rs = k;
			break;
		}
	for (size_t k = 0; k < nh; k++)
		if (hs[k].kind == H_RESENT_FROM && nonempty(&hs[k])) {
			rf = k;
			break;
		}
	if (rs < nh) {
		bool trace_between = false;
		if (rf < rs)
			for (size_t k = rf + 1; k < rs; k++)
				trace_between |= hs[k].kind == H_TRACE;
		if (!trace_between)
			return take(&hs[rs], "Resent-Sender", out);
	}
	/* Step 2: the first non-empty Resent-From */
	if (rf < nh)
		return take(&hs[rf], "Resent-From", out);
	/* Steps 3 and 4: exactly one non-empty Sender, else exactly one non-empty From */
	static const enum hkind order[] = { H_SENDER, H_FROM };
	static const char *const names[] = { "Sender", "From" };
	for (int s = 0; s < 2; s++) {
		size_t count = 0, at = 0;
		for (size_t k = 0; k < nh; k++)
			if (hs[k].kind == order[s] && nonempty(&hs[k])) {
				count++;
				at = k;
			}
		if (count == 1)
			return take(&hs[at], names[s], out);
		if (count > 1)
			return -1;
	}
	return -1;
}
