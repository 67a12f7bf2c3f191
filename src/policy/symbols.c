/*
 * symbols.c - the symbol catalogue; see symbols.h.
 */
#include "policy/symbols.h"

#include <string.h>

static const struct symbol_info catalogue[SYM__COUNT] = {
	[SYM_NONE] = { "NONE", 0, "" },
	[SYM_IP_ALLOWLISTED] = { "IP_ALLOWLISTED", -5,
		"the client IP is on an allow list (config or operator): no limits, no refusal for reputation or DNSBL" },
	[SYM_IP_BLOCKLISTED] = { "IP_BLOCKLISTED", 10,
		"the client IP is on a block list (config or operator)" },
	[SYM_DNSBL] = { "DNSBL_<ZONE>_<CODE>", 0,
		"the client IP is listed in a DNS blocklist with this return code; score = the zone's weight" },
	[SYM_DNSWL] = { "DNSWL_<ZONE>_<CODE>", 0,
		"the client IP is listed in a DNS allowlist with this return code; score = minus the zone's weight" },
	[SYM_DNSBL_REFUSED] = { "DNSBL_REFUSED", 0,
		"a DNS list answered 127.255.255.x: it refused the query (never a listing)" },
	[SYM_PREGREET] = { "PREGREET", 3,
		"the client spoke before the banner (RFC 5321 4.3.1: it must wait), as spam bots do" },
	[SYM_EARLY_PIPELINING] = { "EARLY_PIPELINING", 1,
		"the client sent commands after HELO/EHLO before the reply (pipelining not negotiated)" },
	[SYM_NO_FCRDNS] = { "NO_FCRDNS", 0.5,
		"the client IP has no forward-confirmed reverse DNS name" },
	[SYM_REP_IP_GOOD] = { "REP_IP_GOOD", -1, "the client IP has a good reputation here" },
	[SYM_REP_IP_SUSPECT] = { "REP_IP_SUSPECT", 1, "the client IP has a suspect reputation here" },
	[SYM_REP_IP_BAD] = { "REP_IP_BAD", 3, "the client IP has a bad reputation here" },
	[SYM_REP_NET_SUSPECT] = { "REP_NET_SUSPECT", 0.5,
		"the client's /24 (IPv4) or /64 (IPv6) has a suspect reputation here" },
	[SYM_REP_NET_BAD] = { "REP_NET_BAD", 1.5,
		"the client's /24 (IPv4) or /64 (IPv6) has a bad reputation here" },
	[SYM_REP_DOMAIN_GOOD] = { "REP_DOMAIN_GOOD", -1,
		"the sender domain (MAIL FROM) has a good reputation here" },
	[SYM_REP_DOMAIN_BAD] = { "REP_DOMAIN_BAD", 2,
		"the sender domain (MAIL FROM) has a bad reputation here" },
	[SYM_RATE_LIMIT_IP] = { "RATE_LIMIT_IP", 0,
		"the client IP is over its sending limit (recipients per hour, from its reputation)" },
	[SYM_RATE_LIMIT_NET] = { "RATE_LIMIT_NET", 0,
		"the client's /24 or /64 is over its sending limit" },
	[SYM_HAMMERING] = { "HAMMERING", 0,
		"the client came back before the retry-after time it was given" },
	[SYM_SPF_PASS] = { "SPF_PASS", -0.5, "SPF pass (RFC 7208)" },
	[SYM_SPF_FAIL] = { "SPF_FAIL", 3, "SPF fail: the domain says this IP may not send its mail" },
	[SYM_SPF_SOFTFAIL] = { "SPF_SOFTFAIL", 1, "SPF softfail (~all): probably not authorized" },
	[SYM_SPF_NEUTRAL] = { "SPF_NEUTRAL", 0, "SPF neutral: the domain makes no assertion" },
	[SYM_SPF_NONE] = { "SPF_NONE", 0, "no SPF record (never a refusal)" },
	[SYM_SPF_TEMPERROR] = { "SPF_TEMPERROR", 0, "SPF could not be evaluated: DNS failed temporarily" },
	[SYM_SPF_PERMERROR] = { "SPF_PERMERROR", 0.5, "the domain's SPF record is broken" },
	[SYM_CERTIFIED_SENDER] = { "CERTIFIED_SENDER", -5,
		"the sender domain is certified (certified_domains) and SPF- or DKIM-aligned: no sending limits, no content junking" },
	[SYM_DOMAIN_ALLOWLISTED] = { "DOMAIN_ALLOWLISTED", -5,
		"the sender domain is on allow_domains and SPF- or DKIM-aligned" },
	[SYM_TRAP_HIT] = { "TRAP_HIT", 10, "a recipient is a spam trap (never told to the sender)" },
	[SYM_LONG_LINE] = { "LONG_LINE", 0.5,
		"a line is longer than 1000 octets (RFC 5321 4.5.3.1.6); stored as received" },
	[SYM_SENDERID_PASS] = { "SENDERID_PASS", 0, "Sender ID pass (RFC 4406)" },
	[SYM_SENDERID_FAIL] = { "SENDERID_FAIL", 1, "Sender ID fail: the PRA's domain does not authorize this IP" },
	[SYM_DKIM_PASS] = { "DKIM_PASS", -0.5, "a DKIM signature verifies (RFC 6376)" },
	[SYM_DKIM_FAIL] = { "DKIM_FAIL", 1, "a DKIM signature does not verify" },
	[SYM_DKIM_TEMPERROR] = { "DKIM_TEMPERROR", 0, "a DKIM key lookup failed temporarily" },
	[SYM_DKIM_PERMERROR] = { "DKIM_PERMERROR", 0.5, "a DKIM signature or key is broken" },
	[SYM_ARC_PASS] = { "ARC_PASS", 0, "the ARC chain validates (RFC 8617)" },
	[SYM_ARC_FAIL] = { "ARC_FAIL", 0.5, "the ARC chain does not validate" },
	[SYM_DMARC_PASS] = { "DMARC_PASS", -1, "DMARC pass: SPF or DKIM aligned with From (RFC 7489)" },
	[SYM_DMARC_FAIL] = { "DMARC_FAIL", 1, "DMARC fail, the domain's policy is p=none" },
	[SYM_DMARC_REJECT] = { "DMARC_REJECT", 0, "DMARC fail under p=reject" },
	[SYM_DMARC_QUARANTINE] = { "DMARC_QUARANTINE", 0, "DMARC fail under p=quarantine" },
	[SYM_DMARC_OVERRIDE_ARC] = { "DMARC_OVERRIDE_ARC", 0,
		"a DMARC failure overridden by a trusted ARC sealer (arc_trusted_sealers)" },
	[SYM_DMARC_TEMPERROR] = { "DMARC_TEMPERROR", 0, "DMARC could not be evaluated: DNS failed temporarily" },
	[SYM_CONTENT_SCL] = { "CONTENT_SCL_<n>", 0,
		"the classifier's Spam Confidence Level: SCL content_junk_scl scores junk_score, SCL 4 scores 0, "
		"higher SCLs in proportion; below 4, -0.5 a level (at most -2)" },
	[SYM_CONTENT] = { "<classifier symbol>", 0, "a content fact named by the classifier" },
};

const struct symbol_info *symbol_info(enum symbol_id id)
{
	if ((unsigned)id >= SYM__COUNT)
		id = SYM_NONE;
	return &catalogue[id];
}

void symbols_add_named(struct symbols *l, enum symbol_id id, const char *name, double score)
{
	if (l->n >= SYMBOLS_MAX) {
		l->dropped++;
		return;
	}
	struct symbol *s = &l->s[l->n++];
	s->id = id;
	size_t n = strlen(name);
	if (n >= sizeof(s->name))
		n = sizeof(s->name) - 1;
	memcpy(s->name, name, n);
	s->name[n] = '\0';
	s->score = score;
	s->dry_run = false;
}

void symbols_add(struct symbols *l, enum symbol_id id)
{
	const struct symbol_info *i = symbol_info(id);
	symbols_add_named(l, id, i->name, i->score);
}

bool symbols_has(const struct symbols *l, enum symbol_id id)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->s[i].id == id)
			return true;
	return false;
}

double symbols_score(const struct symbols *l)
{
	double t = 0;
	for (size_t i = 0; i < l->n; i++)
		if (!l->s[i].dry_run)
			t += l->s[i].score;
	return t;
}

int symbols_format(const struct symbols *l, struct buf *out)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < l->n; i++)
		rc = buf_printf(out, "%s%s=%g%s", i ? " " : "", l->s[i].name, l->s[i].score,
				l->s[i].dry_run ? "(dry-run)" : "");
	if (rc == 0 && l->n == 0)
		rc = buf_append_str(out, "none");
	return rc;
}

static size_t name_part(char *out, size_t k, size_t outlen, const char *p)
{
	for (; p && *p && k + 1 < outlen; p++) {
		char c = *p;
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 32);
		else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			c = '_';
		out[k++] = c;
	}
	return k;
}

void symbol_name_build(char *out, size_t outlen, const char *prefix, const char *part,
		       const char *suffix)
{
	if (!outlen)
		return;
	size_t k = name_part(out, 0, outlen, prefix);
	k = name_part(out, k, outlen, part);
	k = name_part(out, k, outlen, suffix);
	out[k] = '\0';
}

void symbols_doc(FILE *out)
{
	fputs("# Symbols\n\nGenerated by `mxscreen symbols` from src/policy/symbols.c. Every fact that can "
	      "matter to a verdict is one of these; the verdict engine adds the scores (positive: towards "
	      "Junk) and applies its rules (docs/reputation.md). A message is junked when the sum reaches "
	      "`junk_score`.\n\n| symbol | default score | meaning |\n|---|---|---|\n",
	      out);
	for (size_t i = 1; i < SYM__COUNT; i++)
		fprintf(out, "| `%s` | %g | %s |\n", catalogue[i].name, catalogue[i].score,
			catalogue[i].desc);
}
