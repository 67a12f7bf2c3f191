/*
 * pipeline.c - the checks of one SMTP session, stage by stage; see pipeline.h.
 */
#include "policy/pipeline.h"
#include "auth/auth.h"
#include "auth/auth_dns.h"
#include "auth/pra.h"
#include "auth/spf.h"
#include "content/classify.h"
#include "core/config.h"
#include "core/log.h"
#include "net/fcrdns.h"
#include "reputation/cidr.h"
#include "reputation/dnsbl.h"
#include "reputation/rep.h"
#include "smtp/received.h"
#include "smtp/server.h"
#include "store/dmarc_agg.h"
#include "store/writer.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum wait_for { WAIT_NONE, WAIT_CONNECT, WAIT_SPF, WAIT_DATA };

struct pipeline {
	struct smtp_server *srv;
	struct smtp_settings *set;
	const struct config *cfg;
	struct reputation *rep;
	struct pipeline_session ps;
	struct arena *sa, *ta;
	pipeline_fn cb;
	void *arg;
	enum wait_for waiting;
	struct verdict_facts f;
	char ip[64], net[64];
	/* connect */
	struct dnsbl_check *dnsbl;
	struct fcrdns *fcrdns;
	bool fcrdns_wanted_by_data; /* end of DATA waits for the reverse lookup */
	struct event *greet_timer;
	bool greet_wait_over;
	/* transaction */
	char *domain;               /* MAIL FROM domain, lower case, or NULL */
	struct spf_eval *spf;
	bool spf_for_senderid;
	char *spf_received, *spf_authres, *senderid_authres, *pra;
	struct auth_check *auth;
	struct auth_dns *auth_run;
	struct content_result content;
	struct buf *msg, *hdr;
	const char *msgid;
	const char *const *rcpts;
	struct store_record *agg[DMARC_FROM_DOMAINS_MAX];
	size_t nagg;
	/* over the limit at RCPT, but the MAIL FROM domain is certified and DKIM may align it:
	 * decided at the end of DATA (the limit then applies unless it did) */
	bool limit_deferred;
	struct verdict_limit deferred;
	enum verdict_action final_action;
	enum reason final_reason;
};

/* ---- helpers ------------------------------------------------------------ */

static void log_decision(struct pipeline *p, enum verdict_stage stage, const struct verdict *v)
{
	struct buf b = { 0 };
	if (symbols_format(&v->sym, &b) < 0)
		buf_reset(&b);
	log_msg(v->action == VERDICT_CONTINUE ? LOG_DEBUG : LOG_INFO, p->ps.id,
		"event=decision stage=%s ip=%s verdict=%s reason=%s score=%.1f%s%s symbols=\"%s\"%s",
		verdict_stage_name(stage), p->ip, verdict_action_name(v->action),
		reason_get(v->reason)->code, v->score, p->msgid ? " msgid=" : "",
		p->msgid ? p->msgid : "", b.p ? b.p : "",
		v->dry_run_refusal ? " dry_run_would=refuse" : "");
	if (v->dry_run_refusal)
		log_msg(LOG_INFO, p->ps.id, "event=dry_run stage=%s ip=%s reason=%s", verdict_stage_name(stage),
			p->ip, reason_get(v->dry_run_reason)->code);
	buf_free(&b);
}

static void decide(struct pipeline *p, enum verdict_stage stage, struct verdict *v)
{
	verdict_decide(p->cfg, stage, &p->f, v);
	log_decision(p, stage, v);
	if (v->action == VERDICT_REJECT || v->action == VERDICT_TEMPFAIL ||
	    v->action == VERDICT_LIMIT)
		rep_outcome(p->rep, p->ip, p->domain, v->action, reason_get(v->reason)->code,
			    stage == STAGE_DATA ? p->f.nrcpts : 0);
}

static char *lower_domain(struct arena *a, const char *addr)
{
	const char *at = addr ? strrchr(addr, '@') : NULL;
	if (!at || !at[1])
		return NULL;
	char *d = arena_strdup(a, at + 1);
	for (char *q = d; q && *q; q++)
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q + 32);
	return d;
}

/* ---- lifecycle ---------------------------------------------------------- */

struct pipeline *pipeline_new(struct smtp_server *srv, struct smtp_settings *set,
			      const struct pipeline_session *ps, struct arena *sa,
			      struct arena *ta, pipeline_fn cb, void *arg)
{
	struct pipeline *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->srv = srv;
	p->set = set;
	p->cfg = set->cfg;
	p->rep = srv->rep;
	p->ps = *ps;
	p->sa = sa;
	p->ta = ta;
	p->cb = cb;
	p->arg = arg;
	if (ip_normalize(ps->ip, p->ip, sizeof(p->ip)) < 0)
		snprintf(p->ip, sizeof(p->ip), "%s", ps->ip);
	if (ip_range_key(p->ip, p->net, sizeof(p->net)) < 0)
		snprintf(p->net, sizeof(p->net), "%s", p->ip);
	p->f.client_ip = p->ip;
	p->f.client_net = p->net;
	return p;
}

static void agg_discard(struct pipeline *p)
{
	for (size_t i = 0; i < p->nagg; i++)
		store_record_free(p->agg[i]);
	p->nagg = 0;
}

void pipeline_reset(struct pipeline *p)
{
	agg_discard(p);
	spf_free(p->spf);
	p->spf = NULL;
	auth_dns_free(p->auth_run);
	auth_check_free(p->auth);
	p->auth_run = NULL;
	p->auth = NULL;
	if (p->waiting == WAIT_SPF || p->waiting == WAIT_DATA)
		p->waiting = WAIT_NONE;
	p->fcrdns_wanted_by_data = false;
	p->limit_deferred = false;
	p->domain = NULL;
	p->spf_received = p->spf_authres = p->senderid_authres = p->pra = NULL;
	p->msg = p->hdr = NULL;
	p->msgid = NULL;
	p->rcpts = NULL;
	struct verdict_facts *f = &p->f;
	f->mail_from = NULL;
	f->spf_checked = false;
	f->spf_domain = f->spf_sender = f->spf_explanation = f->spf_problem = NULL;
	f->domain_certified = f->domain_allowed = false;
	f->certified_domain = NULL;
	f->rep_domain = REP_NEUTRAL;
	f->rep_domain_score = 0;
	f->nrcpts = f->ntraps = 0;
	f->long_line = false;
	f->senderid_checked = f->dkim_checked = false;
	f->dkim_domain = f->arc_sealer = f->dmarc_from = NULL;
	f->content = NULL;
	memset(&f->limit, 0, sizeof(f->limit));
}

void pipeline_free(struct pipeline *p)
{
	if (!p)
		return;
	pipeline_reset(p);
	fcrdns_free(p->fcrdns);
	dnsbl_check_free(p->dnsbl);
	if (p->greet_timer)
		event_free(p->greet_timer);
	free(p);
}

const struct verdict_facts *pipeline_facts(const struct pipeline *p)
{
	return &p->f;
}

/* ---- connect ------------------------------------------------------------ */

static void connect_ready(struct pipeline *p)
{
	if (p->waiting != WAIT_CONNECT || !p->greet_wait_over || p->dnsbl)
		return;
	p->waiting = WAIT_NONE;
	struct verdict v;
	decide(p, STAGE_CONNECT, &v);
	p->cb(p->arg, &v);
}

static void on_greet_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct pipeline *p = arg;
	p->greet_wait_over = true;
	connect_ready(p);
}

static void on_fcrdns(void *arg, const char *name)
{
	struct pipeline *p = arg;
	if (name)
		p->f.client_rdns = arena_strdup(p->sa, name);
	p->f.fcrdns_done = true;
	fcrdns_free(p->fcrdns);
	p->fcrdns = NULL;
	log_msg(LOG_DEBUG, p->ps.id, "event=fcrdns ip=%s name=%s", p->ip, name ? name : "unknown");
	if (p->fcrdns_wanted_by_data) {
		p->fcrdns_wanted_by_data = false;
		struct verdict v;
		if (pipeline_data(p, p->msg, p->f.long_line, p->msgid, p->rcpts, p->f.nrcpts, p->hdr,
				  &v) == PIPELINE_DONE)
			p->cb(p->arg, &v);
	}
}

/* The DNS list answers: one symbol per hit, counted; 127.255.255.x is a refusal, not a listing. */
static void on_dnsbl(void *arg, const struct dnsbl_result *r)
{
	struct pipeline *p = arg;
	struct verdict_facts *f = &p->f;
	for (size_t i = 0; i < r->nhits && f->ndnsl < VERDICT_DNS_HITS_MAX; i++) {
		struct verdict_dnsl_hit *h = &f->dnsl[f->ndnsl++];
		snprintf(h->symbol, sizeof(h->symbol), "%s", r->hit[i].symbol);
		h->weight = r->hit[i].weight;
		h->allow = r->hit[i].allow;
	}
	f->dnsbl_refused = r->refused > 0;
	log_msg(LOG_INFO, p->ps.id, "event=dnsbl ip=%s hits=%zu block_weight=%d allow_weight=%d "
		"refused=%u tempfail=%u wildcard=%u", p->ip, r->nhits, r->block_weight,
		r->allow_weight, r->refused, r->tempfail, r->wildcard);
	dnsbl_check_free(p->dnsbl); /* the callback may free the check */
	p->dnsbl = NULL;
	connect_ready(p);
}

enum pipeline_status pipeline_connect(struct pipeline *p, struct verdict *v)
{
	rep_connect(p->rep, p->ip, &p->f);
	if (p->set->dns)
		p->fcrdns = fcrdns_start(p->set->dns, p->ip, on_fcrdns, p);
	/* The banner waits for the DNS lists (bounded by the resolver's timeouts), like
	 * postscreen; an allow-listed client is not looked up. */
	if (p->set->dns && (p->set->dnsbl || p->set->dnswl) && p->f.ip_list != LIST_ALLOW)
		p->dnsbl = dnsbl_check_start(p->set->dns, p->set->dnsbl, p->set->dnswl, p->ip,
					     on_dnsbl, p);
	if (p->dnsbl)
		p->waiting = WAIT_CONNECT;
	if (p->cfg->smtp_greet_wait_ms > 0) {
		p->greet_timer = evtimer_new(p->srv->base, on_greet_timer, p);
		if (p->greet_timer) {
			struct timeval tv = { (time_t)(p->cfg->smtp_greet_wait_ms / 1000),
					      (suseconds_t)(p->cfg->smtp_greet_wait_ms % 1000) * 1000 };
			evtimer_add(p->greet_timer, &tv);
			p->waiting = WAIT_CONNECT;
			return PIPELINE_PENDING;
		}
	}
	p->greet_wait_over = true;
	if (p->dnsbl)
		return PIPELINE_PENDING;
	decide(p, STAGE_CONNECT, v);
	return PIPELINE_DONE;
}

void pipeline_pregreet(struct pipeline *p)
{
	if (!p->f.pregreet)
		log_msg(LOG_INFO, p->ps.id, "event=pregreet ip=%s", p->ip);
	p->f.pregreet = true;
}

void pipeline_helo(struct pipeline *p, const char *helo, bool esmtp, bool early_pipelining)
{
	p->f.helo = helo;
	p->ps.esmtp = esmtp;
	if (early_pipelining && !p->f.early_pipelining)
		log_msg(LOG_INFO, p->ps.id, "event=early_pipelining ip=%s", p->ip);
	p->f.early_pipelining |= early_pipelining;
	rep_sample(p->rep, p->ip, helo, NULL);
}

void pipeline_tls(struct pipeline *p, const char *version, const char *cipher)
{
	p->f.tls = true;
	p->ps.tls_version = version;
	p->ps.tls_cipher = cipher;
	rep_count(p->rep, p->ip, NULL, ST_TLS, 1);
}

/* ---- MAIL FROM: SPF ------------------------------------------------------ */

static void spf_done(void *arg, struct spf_eval *e);

static bool spf_begin(struct pipeline *p, bool sender_id)
{
	struct spf_request req = {
		.ip = p->ip,
		.helo = p->f.helo,
		.sender = p->f.mail_from,
		.receiver = p->cfg->hostname,
		.identity = SPF_ID_MAILFROM,
	};
	if (sender_id) {
		req.sender = p->pra;
		req.identity = SPF_ID_PRA;
		req.sender_id = true;
	}
	p->spf_for_senderid = sender_id;
	p->spf = spf_start(p->set->dns, &req, spf_done, p);
	return p->spf != NULL;
}

/* Keeps the result text of a finished evaluation in the transaction arena. */
static char *spf_text(struct pipeline *p, struct spf_eval *e, bool received)
{
	struct buf b = { 0 };
	int rc = received ? spf_received_header(&b, e) : spf_auth_results(&b, e);
	char *t = rc == 0 ? arena_strndup(p->ta, b.p ? b.p : "", b.len) : NULL;
	buf_free(&b);
	return t;
}

/* Certified or allow-listed sender domain, aligned through SPF or DKIM. */
static void domain_lists(struct pipeline *p)
{
	struct verdict_facts *f = &p->f;
	const char *cand[2] = { NULL, NULL };
	if (f->spf_checked && f->spf == SPF_PASS && p->domain)
		cand[0] = p->domain;
	if (f->dkim_checked && f->dkim_domain)
		cand[1] = f->dkim_domain;
	for (int i = 0; i < 2; i++) {
		if (!cand[i])
			continue;
		if (rep_domain_listed(p->rep, cand[i], true)) {
			f->domain_certified = true;
			f->certified_domain = cand[i];
		} else if (rep_domain_listed(p->rep, cand[i], false)) {
			f->domain_allowed = true;
			f->certified_domain = cand[i];
		}
	}
}

static void mail_decide(struct pipeline *p, struct verdict *v)
{
	domain_lists(p);
	decide(p, STAGE_MAIL, v);
	if (p->f.spf_checked)
		rep_count(p->rep, p->ip, p->domain,
			  p->f.spf == SPF_PASS ? ST_SPF_PASS : ST_SPF_FAIL,
			  p->f.spf == SPF_PASS || p->f.spf == SPF_FAIL ? 1 : 0);
}

static void data_auth(struct pipeline *p, struct verdict *v, bool *pending);

static void spf_done(void *arg, struct spf_eval *e)
{
	struct pipeline *p = arg;
	p->spf = NULL;
	enum spf_result r = spf_result(e);
	if (p->spf_for_senderid) {
		p->f.senderid_checked = true;
		p->f.senderid = r;
		log_msg(LOG_INFO, p->ps.id, "event=sender_id msgid=%s result=%s pra=%s",
			p->msgid ? p->msgid : "", spf_result_name(r), p->pra ? p->pra : "");
		spf_free(e);
		struct verdict v;
		bool pending = false;
		data_auth(p, &v, &pending);
		if (!pending)
			p->cb(p->arg, &v);
		return;
	}
	struct verdict_facts *f = &p->f;
	f->spf_checked = true;
	f->spf = r;
	f->spf_domain = arena_strdup(p->ta, spf_domain(e));
	f->spf_sender = arena_strdup(p->ta, spf_sender(e));
	const char *exp = spf_explanation(e);
	f->spf_explanation = exp ? arena_strdup(p->ta, exp) : NULL;
	f->spf_problem = arena_strdup(p->ta, spf_problem(e));
	p->spf_received = spf_text(p, e, true);
	p->spf_authres = spf_text(p, e, false);
	log_msg(LOG_INFO, p->ps.id, "event=spf result=%s identity=%s domain=%s mechanism=\"%s\" "
		"problem=\"%s\" dns_terms=%u", spf_result_name(r), spf_identity_name(spf_identity(e)),
		spf_domain(e), spf_mechanism(e), spf_problem(e), spf_dns_terms(e));
	spf_free(e);
	p->waiting = WAIT_NONE;
	struct verdict v;
	mail_decide(p, &v);
	p->cb(p->arg, &v);
}

enum pipeline_status pipeline_mail(struct pipeline *p, const char *mail_from, bool smtputf8,
				   struct verdict *v)
{
	p->ps.smtputf8 = smtputf8;
	p->f.mail_from = mail_from;
	p->domain = lower_domain(p->ta, mail_from);
	rep_mail(p->rep, p->domain, &p->f);
	rep_sample(p->rep, p->ip, NULL, mail_from);
	if (p->cfg->spf_check && p->set->dns && mail_from && spf_begin(p, false)) {
		p->waiting = WAIT_SPF;
		return PIPELINE_PENDING;
	}
	mail_decide(p, v);
	return PIPELINE_DONE;
}

/* ---- RCPT TO ------------------------------------------------------------- */

void pipeline_rcpt(struct pipeline *p, const char *addr, bool *trap, struct verdict *v)
{
	*trap = rep_is_trap(p->rep, addr);
	rep_count(p->rep, p->ip, p->domain, ST_RCPT, 1);
	if (*trap) {
		/* Accepted like any recipient: the sender is never told. Not charged either,
		 * so a trap changes nothing the sender can observe in the session. */
		memset(v, 0, sizeof(*v));
		v->action = VERDICT_CONTINUE;
		p->f.ntraps++;
		log_msg(LOG_INFO, p->ps.id, "event=trap_rcpt ip=%s", p->ip);
		return;
	}
	domain_lists(p);
	rep_rcpt(p->rep, &p->f);
	decide(p, STAGE_RCPT, v);
	if (v->action == VERDICT_LIMIT && p->domain && p->cfg->dkim_check &&
	    rep_domain_listed(p->rep, p->domain, true)) {
		/* A certified domain not (yet) aligned by SPF: DKIM, checked after DATA, may
		 * align it. Accept provisionally; the limit applies then unless it does. */
		p->limit_deferred = true;
		p->deferred = p->f.limit;
		memset(v, 0, sizeof(*v));
		v->action = VERDICT_CONTINUE;
		log_msg(LOG_INFO, p->ps.id, "event=limit_deferred ip=%s domain=%s note=certified_if_dkim_aligned",
			p->ip, p->domain);
	}
}

void pipeline_rcpt_relay(struct pipeline *p)
{
	rep_count(p->rep, p->ip, p->domain, ST_RCPT, 1);
}

void pipeline_rcpt_unknown(struct pipeline *p)
{
	rep_count(p->rep, p->ip, p->domain, ST_RCPT, 1);
	rep_count(p->rep, p->ip, p->domain, ST_UNKNOWN_RCPT, 1);
}

void pipeline_refused(struct pipeline *p, enum reason r, int code)
{
	rep_outcome(p->rep, p->ip, p->domain, code >= 500 ? VERDICT_REJECT : VERDICT_TEMPFAIL,
		    reason_get(r)->code, 0);
}

/* ---- end of DATA ---------------------------------------------------------- */

/* The sender-id entry of Authentication-Results, in the transaction arena; NULL if unchecked. */
static char *senderid_resinfo(struct pipeline *p)
{
	if (!p->f.senderid_checked)
		return NULL;
	if (p->pra && p->senderid_authres) {
		const char *at = strrchr(p->pra, '@');
		return arena_printf(p->ta, "sender-id=%s header.%s=%s",
				    spf_result_name(p->f.senderid), p->senderid_authres,
				    at ? at + 1 : p->pra);
	}
	return arena_printf(p->ta, "sender-id=%s (no purported responsible address)",
			    spf_result_name(p->f.senderid));
}

/* Appends Authentication-Results and Received-SPF for this transaction. */
static int auth_headers(struct pipeline *p, struct buf *h)
{
	int rc = 0;
	if (p->auth) {
		rc = auth_check_results(p->auth, h); /* spf and sender-id included */
	} else if (p->f.spf_checked || p->f.senderid_checked) {
		rc = buf_printf(h, "Authentication-Results: %s", p->cfg->hostname);
		if (rc == 0 && p->f.spf_checked && p->spf_authres)
			rc = buf_printf(h, ";\r\n\t%s", p->spf_authres);
		char *sid = senderid_resinfo(p);
		if (rc == 0 && sid)
			rc = buf_printf(h, ";\r\n\t%s", sid);
		if (rc == 0)
			rc = buf_append_str(h, "\r\n");
	}
	if (rc == 0 && p->f.spf_checked && p->spf_received)
		rc = buf_append_str(h, p->spf_received);
	return rc;
}

/* The DKIM/ARC/DMARC facts of the message. */
static void auth_facts(struct pipeline *p)
{
	const struct auth_check *a = p->auth;
	struct verdict_facts *f = &p->f;
	if (!a || !a->header_ok)
		return;
	enum dkim_result best = DKIM_NONE;
	static const int rank[] = { [DKIM_NONE] = 0, [DKIM_PERMERROR] = 1, [DKIM_NEUTRAL] = 2,
				    [DKIM_POLICY] = 2, [DKIM_TEMPERROR] = 3, [DKIM_FAIL] = 4,
				    [DKIM_PASS] = 5 };
	for (size_t i = 0; i < a->dkim.nsig; i++) {
		const struct dkim_sig *g = &a->dkim.sig[i];
		if (rank[g->result] > rank[best])
			best = g->result;
		if (g->result == DKIM_PASS && !f->dkim_domain)
			f->dkim_domain = g->d;
	}
	f->dkim_checked = true;
	f->dkim = best;
	f->arc = a->arc.result;
	if (a->arc.result != ARC_CV_NONE && a->arc.n)
		f->arc_sealer = a->arc.set[a->arc.n - 1].as_sig.d;
	const struct dmarc_eval *d = &a->dmarc;
	f->dmarc = d->result;
	if (d->n) {
		f->dmarc_from = d->dom[d->worst].from;
		if (d->result == DMARC_FAIL)
			f->dmarc_disposition = d->dom[d->worst].disposition;
	}
}

/* Builds the DMARC aggregate rows of the message (before auth results may be freed). */
static void agg_collect(struct pipeline *p, const struct verdict *v)
{
	agg_discard(p);
	if (!p->srv->store_writer || !p->cfg->dmarc_aggregate || !p->auth)
		return;
	struct dmarc_agg_facts af = {
		.auth = p->auth,
		.source_ip = p->ip,
		.mail_from = p->f.mail_from,
		.override = v->dmarc_override,
		.override_comment = v->dmarc_override_comment,
		.now = time(NULL),
	};
	p->nagg = dmarc_agg_records(&af, p->agg, DMARC_FROM_DOMAINS_MAX);
}

/* The message got its final answer (250 stored, or 5xx): hand the rows to the store. */
static void agg_submit(struct pipeline *p)
{
	for (size_t i = 0; i < p->nagg; i++)
		if (store_writer_submit(p->srv->store_writer, p->agg[i]) < 0) {
			struct store_writer_stats st;
			store_writer_stats(p->srv->store_writer, &st);
			log_msg(LOG_WARN, p->ps.id, "event=store_queue_full msgid=%s record=dmarc "
				"dropped_total=%llu", p->msgid ? p->msgid : "", st.dropped);
		}
	p->nagg = 0; /* the writer owns them now */
}

static void count_auth(struct pipeline *p)
{
	const struct verdict_facts *f = &p->f;
	if (!f->dkim_checked)
		return;
	if (f->dkim == DKIM_PASS || f->dkim == DKIM_FAIL)
		rep_count(p->rep, p->ip, p->domain, f->dkim == DKIM_PASS ? ST_DKIM_PASS : ST_DKIM_FAIL,
			  1);
	if (f->dmarc == DMARC_PASS || f->dmarc == DMARC_FAIL)
		rep_count(p->rep, p->ip, p->domain,
			  f->dmarc == DMARC_PASS ? ST_DMARC_PASS : ST_DMARC_FAIL, 1);
}

/* The verdict of the message, and on Inbox/Junk the header block. */
static void data_verdict(struct pipeline *p, struct verdict *v)
{
	p->waiting = WAIT_NONE;
	auth_facts(p);
	domain_lists(p);
	count_auth(p);
	if (p->set->content && content_filter_classify(p->set->content, p->msg->p ? p->msg->p : "",
						       p->msg->len, &p->content) == 0)
		p->f.content = &p->content;
	decide(p, STAGE_DATA, v);
	if (p->limit_deferred && !p->f.domain_certified &&
	    (v->action == VERDICT_INBOX || v->action == VERDICT_JUNK)) {
		/* not aligned after all: the sending limit applies (421, nothing stored) */
		p->f.limit = p->deferred;
		decide(p, STAGE_RCPT, v);
	}
	agg_collect(p, v);
	p->final_action = v->action;
	p->final_reason = v->reason;
	if (v->action == VERDICT_REJECT) {
		agg_submit(p); /* refused for good: exactly what the domain wants reported */
		return;
	}
	if (v->action != VERDICT_INBOX && v->action != VERDICT_JUNK)
		return;
	struct received_info ri = {
		.helo = p->f.helo,
		.rdns = p->f.client_rdns,
		.ip = p->ip,
		.hostname = p->cfg->hostname,
		.esmtp = p->ps.esmtp,
		.smtputf8 = p->ps.smtputf8,
		.tls_version = p->ps.tls_version,
		.tls_cipher = p->ps.tls_cipher,
		.id = p->msgid,
		.rcpt = p->f.nrcpts == 1 ? p->rcpts[0] : NULL,
		.when = time(NULL),
	};
	struct buf *h = p->hdr;
	buf_reset(h);
	int rc = buf_printf(h, "Return-Path: <%s>\r\nX-Mxscreen-Id: %s\r\n", p->f.mail_from,
			    p->msgid);
	if (rc == 0)
		rc = verdict_headers(v, &p->f, h);
	if (rc == 0)
		rc = auth_headers(p, h);
	if (rc == 0)
		rc = received_header(h, &ri);
	if (rc < 0) {
		v->action = VERDICT_TEMPFAIL;
		v->reason = R_LOCAL_ERROR;
		v->code = 451;
		v->enh = "4.3.0";
		snprintf(v->detail, sizeof(v->detail), "Error: out of memory, try again later");
		return;
	}
	/* RFC 8601 5: results that claim to be ours but come from outside are forged. */
	struct buf clean = { 0 };
	int forged = auth_strip_own_results((struct slice){ p->msg->p ? p->msg->p : "", p->msg->len },
					    p->cfg->hostname, &clean);
	if (forged > 0) {
		log_msg(LOG_INFO, p->ps.id, "event=forged_authres msgid=%s removed=%d", p->msgid, forged);
		auth_dns_free(p->auth_run); /* both point into the message being replaced */
		auth_check_free(p->auth);
		p->auth_run = NULL;
		p->auth = NULL;
		p->f.dkim_domain = p->f.arc_sealer = p->f.dmarc_from = NULL;
		buf_free(p->msg);
		*p->msg = clean;
	} else {
		buf_free(&clean);
	}
}

static void data_auth_done(void *arg, struct auth_check *a)
{
	struct pipeline *p = arg;
	const struct dmarc_eval *d = &a->dmarc;
	log_msg(LOG_INFO, p->ps.id, "event=auth msgid=%s dkim_signatures=%zu arc=%s dmarc=%s from=%s "
		"reason=\"%s\"", p->msgid, a->dkim.nsig, arc_cv_name(a->arc.result),
		dmarc_result_name(d->result), d->n ? d->dom[d->worst].from : "",
		d->reason ? d->reason : "");
	struct verdict v;
	data_verdict(p, &v);
	p->cb(p->arg, &v);
}

/* DKIM, ARC and DMARC, when enabled: their lookups run asynchronously, then the verdict. */
static void data_auth(struct pipeline *p, struct verdict *v, bool *pending)
{
	if (p->cfg->dkim_check && p->set->dns) {
		struct auth_params ap = {
			.authserv_id = p->cfg->hostname,
			.now = time(NULL),
			.spf_result = p->f.spf_checked ? spf_result_name(p->f.spf) : NULL,
			.spf_domain = p->f.spf_domain,
			.spf_helo = p->f.spf_checked && !(p->f.mail_from && *p->f.mail_from),
			.senderid_resinfo = senderid_resinfo(p),
			.dmarc_roll = (unsigned)(random() % 100),
			.client_ip = p->ip,
		};
		p->auth = auth_check_new((struct slice){ p->msg->p ? p->msg->p : "", p->msg->len }, &ap);
		if (p->auth)
			p->auth_run = auth_dns_start(p->srv->base, p->set->dns, p->auth, data_auth_done, p);
		if (p->auth_run) {
			*pending = true;
			return; /* data_auth_done() goes on */
		}
		auth_check_free(p->auth); /* out of memory: no results, not no mail */
		p->auth = NULL;
	}
	data_verdict(p, v);
}

enum pipeline_status pipeline_data(struct pipeline *p, struct buf *msg, bool long_line,
				   const char *msgid, const char *const *rcpts, size_t nrcpts,
				   struct buf *hdr, struct verdict *v)
{
	p->msg = msg;
	p->hdr = hdr;
	p->msgid = msgid;
	p->rcpts = rcpts;
	p->f.nrcpts = nrcpts;
	if (p->f.ntraps > nrcpts)
		p->f.ntraps = nrcpts;
	p->f.long_line = long_line;
	p->waiting = WAIT_DATA;
	if (p->fcrdns) {
		/* the Received header names the client: wait for the lookup (bounded by DNS timeouts) */
		p->fcrdns_wanted_by_data = true;
		return PIPELINE_PENDING;
	}
	rep_count(p->rep, p->ip, p->domain, ST_DATA, 1);
	if (p->cfg->sender_id_check && p->set->dns) {
		struct pra pra;
		if (pra_select(msg->p ? msg->p : "", msg->len, &pra) < 0) {
			/* RFC 4407 2 step 6: no PRA; RFC 4406 makes that a permanent error */
			p->f.senderid_checked = true;
			p->f.senderid = SPF_PERMERROR;
		} else {
			p->pra = arena_strdup(p->ta, pra.mailbox);
			char *h = arena_strdup(p->ta, pra.header);
			for (char *q = h; q && *q; q++)
				*q = (char)(*q >= 'A' && *q <= 'Z' ? *q + 32 : *q);
			p->senderid_authres = h;
			if (p->pra && h && spf_begin(p, true))
				return PIPELINE_PENDING; /* spf_done() goes on */
		}
	}
	bool pending = false;
	data_auth(p, v, &pending);
	return pending ? PIPELINE_PENDING : PIPELINE_DONE;
}

/* The From domain when DMARC found it aligned (SPF or DKIM) and it is not the MAIL FROM
 * domain: it gets its own statistics and reputation; NULL otherwise. */
static const char *aligned_from_domain(const struct pipeline *p)
{
	const struct verdict_facts *f = &p->f;
	if (!f->dkim_checked || f->dmarc != DMARC_PASS || !f->dmarc_from)
		return NULL;
	if (p->domain && strcasecmp(p->domain, f->dmarc_from) == 0)
		return NULL;
	return f->dmarc_from;
}

void pipeline_delivered(struct pipeline *p, bool stored)
{
	const char *from = aligned_from_domain(p);
	if (stored && from) {
		rep_count(p->rep, NULL, from, ST_MESSAGES, 1);
		rep_count(p->rep, NULL, from, ST_MSG_RCPTS, p->f.nrcpts);
		rep_outcome(p->rep, NULL, from, p->final_action, reason_get(p->final_reason)->code,
			    p->f.nrcpts - p->f.ntraps);
	}
	if (stored) {
		agg_submit(p);
		rep_count(p->rep, p->ip, p->domain, ST_MESSAGES, 1);
		rep_count(p->rep, p->ip, p->domain, ST_MSG_RCPTS, p->f.nrcpts);
		if (p->f.ntraps)
			rep_count(p->rep, p->ip, p->domain, ST_TRAP_HITS, p->f.ntraps);
		rep_outcome(p->rep, p->ip, p->domain, p->final_action,
			    reason_get(p->final_reason)->code, p->f.nrcpts - p->f.ntraps);
	} else {
		rep_outcome(p->rep, p->ip, p->domain, VERDICT_TEMPFAIL, reason_get(R_LOCAL_ERROR)->code,
			    0);
	}
}
