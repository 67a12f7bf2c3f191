/*
 * verdict.c - the verdict engine; see verdict.h.
 *
 * Order of the rules at each stage: allow lists first (an allowed client or
 * domain skips every limit and refusal but authentication failures a domain
 * owner asked us to enforce), then explicit blocks, then checks in their
 * order of certainty. A check in dry-run mode adds its symbol marked
 * "(dry-run)" and records what it would have done; it never refuses.
 */
#include "policy/verdict.h"
#include "content/classify.h"
#include "core/config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static void refuse(struct verdict *v, enum verdict_action a, enum reason r, int code,
		   const char *enh)
{
	v->action = a;
	v->reason = r;
	v->code = code;
	v->enh = enh;
}

/* A check in dry-run mode: its last symbol is marked, the refusal only noted. */
static void dry_run(struct verdict *v, enum reason r)
{
	if (v->sym.n)
		v->sym.s[v->sym.n - 1].dry_run = true;
	if (!v->dry_run_refusal) {
		v->dry_run_refusal = true;
		v->dry_run_reason = r;
	}
}

/* ---- symbols from facts ------------------------------------------------ */

static void rep_symbols(struct symbols *l, enum rep_state s, enum symbol_id good,
			enum symbol_id suspect, enum symbol_id bad)
{
	if (s == REP_GOOD && good != SYM_NONE)
		symbols_add(l, good);
	else if (s == REP_SUSPECT && suspect != SYM_NONE)
		symbols_add(l, suspect);
	else if (s == REP_BAD)
		symbols_add(l, bad);
}

/* Marks the symbols of one kind as dry-run (their check decides nothing). */
static void mark_dry_run(struct symbols *l, enum symbol_id id)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->s[i].id == id)
			l->s[i].dry_run = true;
}

static void connect_symbols(const struct config *cfg, const struct verdict_facts *f,
			    struct symbols *l)
{
	if (f->ip_list == LIST_ALLOW)
		symbols_add(l, SYM_IP_ALLOWLISTED);
	if (f->ip_list == LIST_BLOCK)
		symbols_add(l, SYM_IP_BLOCKLISTED);
	for (size_t i = 0; i < f->ndnsl; i++)
		symbols_add_named(l, f->dnsl[i].allow ? SYM_DNSWL : SYM_DNSBL, f->dnsl[i].symbol,
				  f->dnsl[i].allow ? -f->dnsl[i].weight : f->dnsl[i].weight);
	if (cfg->dnsbl_mode == DNSBL_MODE_DRY_RUN)
		mark_dry_run(l, SYM_DNSBL);
	if (f->dnsbl_refused)
		symbols_add(l, SYM_DNSBL_REFUSED);
	if (f->pregreet)
		symbols_add(l, SYM_PREGREET);
	if (f->fcrdns_done && !f->client_rdns)
		symbols_add(l, SYM_NO_FCRDNS);
	rep_symbols(l, f->rep_ip, SYM_REP_IP_GOOD, SYM_REP_IP_SUSPECT, SYM_REP_IP_BAD);
	rep_symbols(l, f->rep_net, SYM_NONE, SYM_REP_NET_SUSPECT, SYM_REP_NET_BAD);
}

static void mail_symbols(const struct verdict_facts *f, struct symbols *l)
{
	if (f->early_pipelining)
		symbols_add(l, SYM_EARLY_PIPELINING);
	if (f->spf_checked) {
		static const enum symbol_id spf_sym[] = {
			[SPF_NONE] = SYM_SPF_NONE,	       [SPF_NEUTRAL] = SYM_SPF_NEUTRAL,
			[SPF_PASS] = SYM_SPF_PASS,	       [SPF_FAIL] = SYM_SPF_FAIL,
			[SPF_SOFTFAIL] = SYM_SPF_SOFTFAIL,   [SPF_TEMPERROR] = SYM_SPF_TEMPERROR,
			[SPF_PERMERROR] = SYM_SPF_PERMERROR,
		};
		if ((unsigned)f->spf < sizeof(spf_sym) / sizeof(spf_sym[0]))
			symbols_add(l, spf_sym[f->spf]);
	}
	rep_symbols(l, f->rep_domain, SYM_REP_DOMAIN_GOOD, SYM_NONE, SYM_REP_DOMAIN_BAD);
	if (f->domain_certified)
		symbols_add(l, SYM_CERTIFIED_SENDER);
	else if (f->domain_allowed)
		symbols_add(l, SYM_DOMAIN_ALLOWLISTED);
}

static void limit_symbols(const struct config *cfg, const struct verdict_facts *f,
			  struct symbols *l)
{
	if (!f->limit.over)
		return;
	symbols_add(l, f->limit.net ? SYM_RATE_LIMIT_NET : SYM_RATE_LIMIT_IP);
	if (f->limit.hammering)
		symbols_add(l, SYM_HAMMERING);
	if (cfg->rate_limit_mode == MODE_DRY_RUN) {
		mark_dry_run(l, SYM_RATE_LIMIT_IP);
		mark_dry_run(l, SYM_RATE_LIMIT_NET);
	}
}

/* CONTENT_SCL_<n>: SCL content_junk_scl scores junk_score, SCL 4 nothing, below 4 a little
 * towards the Inbox (at most -2, so a clean text never hides an authentication failure). */
static double scl_score(const struct config *cfg, int scl)
{
	if (scl < 4)
		return (scl - 4) * 0.5;
	double span = (double)cfg->content_junk_scl - 4;
	return (double)cfg->junk_score * (scl - 4) / (span > 0 ? span : 1);
}

static void data_symbols(const struct config *cfg, const struct verdict_facts *f,
			 struct symbols *l)
{
	if (f->ntraps)
		symbols_add(l, SYM_TRAP_HIT);
	if (f->long_line)
		symbols_add(l, SYM_LONG_LINE);
	if (f->senderid_checked) {
		if (f->senderid == SPF_PASS)
			symbols_add(l, SYM_SENDERID_PASS);
		else if (f->senderid == SPF_FAIL)
			symbols_add(l, SYM_SENDERID_FAIL);
	}
	if (f->dkim_checked) {
		if (f->dkim == DKIM_PASS)
			symbols_add(l, SYM_DKIM_PASS);
		else if (f->dkim == DKIM_FAIL)
			symbols_add(l, SYM_DKIM_FAIL);
		else if (f->dkim == DKIM_TEMPERROR)
			symbols_add(l, SYM_DKIM_TEMPERROR);
		else if (f->dkim == DKIM_PERMERROR)
			symbols_add(l, SYM_DKIM_PERMERROR);
		if (f->arc == ARC_CV_PASS)
			symbols_add(l, SYM_ARC_PASS);
		else if (f->arc == ARC_CV_FAIL)
			symbols_add(l, SYM_ARC_FAIL);
		if (f->dmarc == DMARC_PASS)
			symbols_add(l, SYM_DMARC_PASS);
		else if (f->dmarc == DMARC_TEMPERROR)
			symbols_add(l, SYM_DMARC_TEMPERROR);
		else if (f->dmarc == DMARC_FAIL)
			symbols_add(l, f->dmarc_disposition == DMARC_POLICY_REJECT ? SYM_DMARC_REJECT
				       : f->dmarc_disposition == DMARC_POLICY_QUARANTINE
					       ? SYM_DMARC_QUARANTINE
					       : SYM_DMARC_FAIL);
	}
	const struct content_result *c = f->content;
	if (c) {
		char name[SYMBOL_NAME_MAX];
		snprintf(name, sizeof(name), "CONTENT_SCL_%d", c->scl);
		symbols_add_named(l, SYM_CONTENT_SCL, name, scl_score(cfg, c->scl));
	}
}

/* ---- decisions per stage ------------------------------------------------ */

static double dnsl_weight(const struct verdict_facts *f, bool allow)
{
	double w = 0;
	for (size_t i = 0; i < f->ndnsl; i++)
		if (f->dnsl[i].allow == allow)
			w += f->dnsl[i].weight;
	return w;
}

/* Allow-listed clients and domains skip limits and reputation refusals. */
static bool exempt(const struct verdict_facts *f)
{
	return f->ip_list == LIST_ALLOW || f->domain_certified || f->domain_allowed;
}

static void decide_limit(const struct config *cfg, const struct verdict_facts *f,
			 struct verdict *v)
{
	if (!f->limit.over || exempt(f))
		return;
	const struct verdict_limit *L = &f->limit;
	bool escalate = L->escalate && cfg->rate_limit_escalate > 0 &&
			cfg->rate_limit_mode == MODE_ENFORCE;
	enum reason r = escalate ? R_RATE_LIMIT_ESCALATED
				 : L->net ? R_RATE_LIMIT_NET : R_RATE_LIMIT_IP;
	if (cfg->rate_limit_mode == MODE_DRY_RUN) {
		dry_run(v, r);
		return;
	}
	if (escalate) {
		refuse(v, VERDICT_REJECT, r, 550, "5.7.28");
		snprintf(v->detail, sizeof(v->detail),
			 "%s %s kept sending while told to wait (rate_limit_escalate=%llu "
			 "refusals today); slow down to rate=%u/h and retry after %us",
			 L->net ? "range" : "IP", L->scope_key,
			 (unsigned long long)cfg->rate_limit_escalate, L->rate_per_hour,
			 L->retry_after);
		return;
	}
	refuse(v, VERDICT_LIMIT, r, 421, "4.7.28");
	snprintf(v->detail, sizeof(v->detail),
		 "%s %s is over its sending limit of %u recipients/hour (set by its reputation "
		 "here); come back in %u seconds at no more than that rate\n"
		 "retry-after=%us rate=%u/h scope=%s",
		 L->net ? "Your range" : "Your IP", L->scope_key, L->rate_per_hour, L->retry_after,
		 L->retry_after, L->rate_per_hour, L->net ? "net" : "ip");
}

static void decide_connect(const struct config *cfg, const struct verdict_facts *f,
			   struct verdict *v)
{
	if (f->ip_list == LIST_ALLOW)
		return;
	if (f->ip_list == LIST_BLOCK) {
		refuse(v, VERDICT_REJECT, R_IP_BLOCKED, 554, "5.7.1");
		snprintf(v->detail, sizeof(v->detail), "%s is blocked here (%s%s%s)", f->client_ip,
			 f->ip_list_entry[0] ? f->ip_list_entry : "block list",
			 f->ip_list_reason[0] ? ": " : "", f->ip_list_reason);
		return;
	}
	double bl = dnsl_weight(f, false), wl = dnsl_weight(f, true);
	if (bl > 0 && bl - wl >= (double)cfg->dnsbl_threshold) {
		if (cfg->dnsbl_mode == DNSBL_MODE_DRY_RUN) {
			dry_run(v, R_DNSBL);
		} else {
			refuse(v, VERDICT_REJECT, R_DNSBL, 554, "5.7.1");
			size_t k = (size_t)snprintf(v->detail, sizeof(v->detail),
						    "%s is listed in DNS blocklists (weight %g, less "
						    "allowlists %g, threshold %llu):",
						    f->client_ip, bl, wl,
						    (unsigned long long)cfg->dnsbl_threshold);
			for (size_t i = 0; i < f->ndnsl && k < sizeof(v->detail); i++)
				if (!f->dnsl[i].allow)
					k += (size_t)snprintf(v->detail + k, sizeof(v->detail) - k,
							      " %s", f->dnsl[i].symbol);
			return;
		}
	}
	decide_limit(cfg, f, v);
}

static void decide_mail(const struct config *cfg, const struct verdict_facts *f,
			struct verdict *v)
{
	if (!f->spf_checked || f->ip_list == LIST_ALLOW)
		return;
	const char *exp = f->spf_explanation;
	switch (f->spf) {
	case SPF_FAIL:
		if (cfg->spf_fail != SPF_ACTION_REJECT)
			return;
		refuse(v, VERDICT_REJECT, R_SPF_FAIL, 550, "5.7.23");
		snprintf(v->detail, sizeof(v->detail),
			 "SPF: %s does not designate %s as permitted sender for <%s>%s%s%s",
			 f->spf_domain ? f->spf_domain : "?", f->client_ip,
			 f->spf_sender ? f->spf_sender : "", exp ? "\nThe domain explains: \"" : "",
			 exp ? exp : "", exp ? "\"" : "");
		return;
	case SPF_TEMPERROR:
		if (cfg->spf_temperror != SPF_TEMP_TEMPFAIL)
			return;
		refuse(v, VERDICT_TEMPFAIL, R_SPF_TEMPERROR, 451, "4.4.3");
		snprintf(v->detail, sizeof(v->detail),
			 "SPF: temporary DNS failure checking %s, try again later",
			 f->spf_domain ? f->spf_domain : "?");
		return;
	case SPF_PERMERROR:
		if (cfg->spf_permerror != SPF_ACTION_REJECT)
			return;
		refuse(v, VERDICT_REJECT, R_SPF_PERMERROR, 550, "5.7.24");
		snprintf(v->detail, sizeof(v->detail), "SPF: the record of %s is broken: %s",
			 f->spf_domain ? f->spf_domain : "?", f->spf_problem ? f->spf_problem : "");
		return;
	default:
		return;
	}
}

/* True when the newest ARC sealer is in arc_trusted_sealers and the chain passes. */
static bool arc_trusted(const struct config *cfg, const struct verdict_facts *f)
{
	if (f->arc != ARC_CV_PASS || !f->arc_sealer)
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
	if (!f->dkim_checked || f->dmarc != DMARC_FAIL ||
	    f->dmarc_disposition == DMARC_POLICY_NONE)
		return;
	/* RFC 7489 7.2.1.1 PolicyOverrideType names what overrode the disposition. */
	if (!cfg->dmarc_enforce) {
		v->dmarc_override = "local_policy";
		snprintf(v->dmarc_override_comment, sizeof(v->dmarc_override_comment),
			 "dmarc_enforce=no");
		return;
	}
	if (arc_trusted(cfg, f)) {
		symbols_add(&v->sym, SYM_DMARC_OVERRIDE_ARC);
		v->dmarc_override = "trusted_forwarder";
		snprintf(v->dmarc_override_comment, sizeof(v->dmarc_override_comment),
			 "arc=pass sealer=%s", f->arc_sealer);
		return;
	}
	if (f->dmarc_disposition == DMARC_POLICY_REJECT) {
		refuse(v, VERDICT_REJECT, R_DMARC_REJECT, 550, "5.7.1");
		snprintf(v->detail, sizeof(v->detail),
			 "%s publishes DMARC p=reject and this message has no aligned SPF or DKIM pass",
			 f->dmarc_from ? f->dmarc_from : "the From domain");
	} else {
		v->action = VERDICT_JUNK;
		v->reason = R_DMARC_QUARANTINE;
	}
}

static void decide_data(const struct config *cfg, const struct verdict_facts *f,
			struct verdict *v)
{
	v->action = VERDICT_INBOX;
	if (f->long_line && cfg->smtp_long_lines == LONG_LINES_REJECT) {
		refuse(v, VERDICT_REJECT, R_LINE_TOO_LONG, 550, "5.6.0");
		snprintf(v->detail, sizeof(v->detail),
			 "Message has a line longer than %d octets and smtp_long_lines=reject here; "
			 "encode long lines (quoted-printable or base64)", SMTP_TEXT_LINE_MAX);
		return;
	}
	decide_dmarc(cfg, f, v);
	if (v->action != VERDICT_INBOX)
		return;
	if (f->domain_certified || f->domain_allowed)
		return; /* certified and aligned: never junked for content or score */
	const struct content_result *c = f->content;
	if (c && cfg->content_filter && (uint64_t)c->scl >= cfg->content_junk_scl) {
		v->action = VERDICT_JUNK;
		v->reason = R_CONTENT_JUNK;
		return;
	}
	if (v->score >= (double)cfg->junk_score) {
		v->action = VERDICT_JUNK;
		v->reason = R_SCORE_JUNK;
	}
}

void verdict_decide(const struct config *cfg, enum verdict_stage stage,
		    const struct verdict_facts *f, struct verdict *v)
{
	memset(v, 0, sizeof(*v));
	v->action = VERDICT_CONTINUE;
	v->reason = R_NONE;
	connect_symbols(cfg, f, &v->sym);
	if (stage >= STAGE_MAIL)
		mail_symbols(f, &v->sym);
	if (stage == STAGE_CONNECT || stage == STAGE_RCPT)
		limit_symbols(cfg, f, &v->sym);
	if (stage == STAGE_DATA)
		data_symbols(cfg, f, &v->sym);
	if (stage != STAGE_DATA) {
		v->score = symbols_score(&v->sym);
		switch (stage) {
		case STAGE_CONNECT:
			decide_connect(cfg, f, v);
			break;
		case STAGE_MAIL:
			decide_mail(cfg, f, v);
			break;
		case STAGE_RCPT:
			decide_limit(cfg, f, v);
			break;
		default:
			break;
		}
		return;
	}
	v->score = symbols_score(&v->sym);
	decide_data(cfg, f, v);
}

/* ---- headers ------------------------------------------------------------ */

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

int verdict_headers(const struct verdict *v, const struct verdict_facts *f, struct buf *h)
{
	int rc = buf_printf(h, "X-Mxscreen-Verdict: %s; reason=%s; score=%.1f\r\n",
			    verdict_action_name(v->action),
			    v->reason == R_NONE ? "none" : reason_get(v->reason)->code, v->score);
	if (rc == 0)
		rc = buf_append_str(h, "X-Mxscreen-Symbols: ");
	if (rc == 0)
		rc = symbols_format(&v->sym, h);
	if (rc == 0)
		rc = buf_append_str(h, "\r\n");
	if (rc == 0 && symbols_has(&v->sym, SYM_DMARC_OVERRIDE_ARC))
		rc = buf_printf(h, "X-Mxscreen-Reasons: dmarc=fail overridden by trusted ARC "
				   "sealer %s\r\n", f->arc_sealer ? f->arc_sealer : "?");
	if (rc == 0 && v->reason == R_DMARC_QUARANTINE)
		rc = buf_printf(h, "X-Mxscreen-Reasons: %s dmarc=fail header.from=%s "
				   "policy=quarantine\r\n", reason_get(R_DMARC_QUARANTINE)->code,
				f->dmarc_from ? f->dmarc_from : "?");
	const struct content_result *c = f->content;
	if (rc == 0 && c) {
		rc = buf_printf(h, "X-Mxscreen-SCL: %d\r\nX-Mxscreen-Reasons: %s; p=%.4f", c->scl,
				v->reason == R_NONE ? "none" : reason_get(v->reason)->code,
				c->probability);
		for (size_t i = 0; rc == 0 && i < c->ntop; i++) {
			char name[sizeof(c->top[i].name)];
			header_safe(c->top[i].name, name, sizeof(name));
			rc = buf_printf(h, ";\r\n\t%s=%+.3f", name, c->top[i].contribution);
		}
		if (rc == 0)
			rc = buf_append_str(h, "\r\n");
	}
	return rc;
}

const char *verdict_action_name(enum verdict_action a)
{
	static const char *const names[] = { "continue", "inbox",    "junk",
					     "reject",   "tempfail", "limit" };
	return (unsigned)a < sizeof(names) / sizeof(names[0]) ? names[a] : "?";
}

const char *verdict_stage_name(enum verdict_stage s)
{
	static const char *const names[] = { "connect", "helo", "mail", "rcpt", "data" };
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

const char *rep_state_name(enum rep_state s)
{
	static const char *const names[] = { "neutral", "good", "suspect", "bad", "blocked" };
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}
