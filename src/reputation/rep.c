/*
 * rep.c - sender reputation and sending limits; see rep.h and docs/reputation.md.
 */
#include "reputation/rep_internal.h"
#include "core/config.h"
#include "core/log.h"
#include "reputation/cidr.h"
#include "store/writer.h"

#include <event2/event.h>
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- time and decay ------------------------------------------------------ */

long long rep_now(const struct reputation *r)
{
	return (long long)time(NULL) + (long long)r->cfg->clock_offset;
}

static void day_of(long long t, char out[11])
{
	store_day_of(t, out);
}

static void decay(const struct reputation *r, struct rep_entity *e, long long now)
{
	if (now <= e->updated) {
		if (!e->updated)
			e->updated = now;
		return;
	}
	double k = exp2(-(double)(now - e->updated) / (double)r->cfg->reputation_half_life);
	e->good *= k;
	e->junk *= k;
	e->refused *= k;
	e->unknown *= k;
	e->traps *= k;
	e->complaints *= k;
	e->hammer *= k;
	e->updated = now;
}

static double badness(const struct rep_entity *e)
{
	return e->junk + e->refused + 0.5 * e->unknown + 25 * e->traps + 10 * e->complaints +
	       2 * e->hammer;
}

int rep_entity_score(const struct rep_entity *e)
{
	double bad = badness(e);
	double s = 100.0 * (e->good - bad) / (e->good + bad + 10.0);
	if (s > 100)
		s = 100;
	if (s < -100)
		s = -100;
	return (int)lround(s);
}

enum rep_state rep_entity_state(const struct rep_entity *e)
{
	int s = rep_entity_score(e);
	if (s < -60)
		return REP_BAD;
	if (s < -20)
		return REP_SUSPECT;
	if (s >= 40 && e->good >= 5)
		return REP_GOOD;
	return REP_NEUTRAL;
}

/* Recipients per hour for an entity in its state; ranges get rate_limit_net_factor times. */
double rep_entity_rate(const struct reputation *r, const struct rep_entity *e)
{
	const struct config *c = r->cfg;
	double rate;
	switch (rep_entity_state(e)) {
	case REP_BAD:
		rate = (double)c->rate_limit_bad;
		break;
	case REP_SUSPECT:
		rate = (double)c->rate_limit_suspect;
		break;
	default:
		/* warm-up: every 50 (decayed) Inbox deliveries add the starting allowance */
		rate = (double)c->rate_limit_new * (1.0 + e->good / 50.0);
		if (rate > (double)c->rate_limit_good)
			rate = (double)c->rate_limit_good;
		break;
	}
	if (e->kind == STORE_ENT_NET)
		rate *= (double)c->rate_limit_net_factor;
	return rate;
}

double rep_capacity(double rate)
{
	return rate < 10 ? 10 : rate; /* one hour of refill */
}

static void refill(const struct reputation *r, struct rep_entity *e, long long now)
{
	double rate = rep_entity_rate(r, e), cap = rep_capacity(rate);
	if (!e->bucket_init) {
		e->tokens = cap;
		e->tokens_ts = now;
		e->bucket_init = true;
		return;
	}
	if (now > e->tokens_ts)
		e->tokens += rate * (double)(now - e->tokens_ts) / 3600.0;
	e->tokens_ts = now;
	if (e->tokens > cap)
		e->tokens = cap;
}

/* ---- entities ------------------------------------------------------------ */

static void entity_free(void *p)
{
	struct rep_entity *e = p;
	free(e->helo);
	free(e->mail_from);
	free(e);
}

struct rep_entity *rep_entity_get(struct reputation *r, enum store_entity_kind kind,
				  const char *key, bool create)
{
	if (!key || !*key || strlen(key) >= REP_KEY_MAX)
		return NULL;
	struct rep_entity *e = g_hash_table_lookup(r->ent[kind], key);
	if (e || !create)
		return e;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->kind = kind;
	snprintf(e->key, sizeof(e->key), "%s", key);
	g_hash_table_insert(r->ent[kind], e->key, e);
	return e;
}

static void mark_dirty(struct reputation *r, struct rep_entity *e, bool rep, bool stat)
{
	e->dirty_rep |= rep;
	e->dirty_stat |= stat;
	if (!e->in_dirty_list) {
		e->in_dirty_list = true;
		g_ptr_array_add(r->dirty, e);
	}
}

/* The entities of one event: the IP, its range, and the domain when given. */
struct trio {
	struct rep_entity *e[3];
};

static struct trio entities(struct reputation *r, const char *ip, const char *domain)
{
	struct trio t = { { NULL, NULL, NULL } };
	char norm[INET6_ADDRSTRLEN], net[CIDR_TEXT_MAX];
	if (ip && ip_normalize(ip, norm, sizeof(norm)) == 0) {
		t.e[0] = rep_entity_get(r, STORE_ENT_IP, norm, true);
		if (ip_range_key(norm, net, sizeof(net)) == 0)
			t.e[1] = rep_entity_get(r, STORE_ENT_NET, net, true);
	}
	if (domain && *domain && strlen(domain) < REP_KEY_MAX) {
		char low[REP_KEY_MAX];
		size_t i = 0;
		for (; domain[i]; i++)
			low[i] = (char)(domain[i] >= 'A' && domain[i] <= 'Z' ? domain[i] + 32 : domain[i]);
		low[i] = '\0';
		t.e[2] = rep_entity_get(r, STORE_ENT_DOMAIN, low, true);
	}
	return t;
}

/* ---- statistics ----------------------------------------------------------- */

static void stat_queue(struct reputation *r, struct rep_entity *e);

/* Makes the pending statistics those of today (handing yesterday's to the writer). */
static void stat_day_roll(struct reputation *r, struct rep_entity *e, long long now)
{
	char today[11];
	day_of(now, today);
	if (strcmp(e->stat_day, today) == 0)
		return;
	if (e->stat_day[0] && e->dirty_stat)
		stat_queue(r, e);
	memcpy(e->stat_day, today, sizeof(today));
}

static void stat_touch(struct reputation *r, struct rep_entity *e, long long now)
{
	stat_day_roll(r, e, now);
	if (!e->first_ts || now < e->first_ts)
		e->first_ts = now;
	if (now > e->last_ts)
		e->last_ts = now;
	mark_dirty(r, e, false, true);
}

static void stat_reason(struct rep_entity *e, const char *code)
{
	for (size_t i = 0; i < e->nreason; i++)
		if (strcmp(e->reason[i].code, code) == 0) {
			e->reason[i].n++;
			return;
		}
	if (e->nreason < REP_REASONS_MAX) {
		snprintf(e->reason[e->nreason].code, sizeof(e->reason[0].code), "%s", code);
		e->reason[e->nreason++].n = 1;
	}
	/* more distinct codes in one flush interval than a record holds: the counters
	 * (reject/tempfail/limited) still count them */
}

int rep_submit(struct reputation *r, struct store_record *rec)
{
	if (!rec)
		return -1;
	if (!r->writer) {
		store_record_free(rec);
		return 0;
	}
	enum store_record_kind kind = rec->kind; /* the writer frees a record it refuses */
	if (store_writer_submit(r->writer, rec) < 0) {
		if (r->dropped++ % 1000 == 0)
			log_msg(LOG_WARN, NULL, "event=store_queue_full record=%s dropped_total=%llu",
				store_record_kind_name(kind), r->dropped);
		return -1;
	}
	return 0;
}

static void stat_queue(struct reputation *r, struct rep_entity *e)
{
	struct store_record *rec = store_record_new(STORE_STAT);
	if (rec) {
		struct store_stat *s = &rec->u.stat;
		s->day = arena_strdup(&rec->a, e->stat_day);
		s->kind = e->kind;
		s->key = arena_strdup(&rec->a, e->key);
		s->first_ts = e->first_ts;
		s->last_ts = e->last_ts;
		memcpy(s->n, e->n, sizeof(s->n));
		s->helo = e->helo ? arena_strdup(&rec->a, e->helo) : NULL;
		s->mail_from = e->mail_from ? arena_strdup(&rec->a, e->mail_from) : NULL;
		for (size_t i = 0; i < e->nreason; i++) {
			s->reason[i].code = arena_strdup(&rec->a, e->reason[i].code);
			s->reason[i].n = e->reason[i].n;
		}
		s->nreason = e->nreason;
		rep_submit(r, rec);
	}
	memset(e->n, 0, sizeof(e->n));
	e->first_ts = e->last_ts = 0;
	free(e->helo);
	free(e->mail_from);
	e->helo = e->mail_from = NULL;
	e->nreason = 0;
	e->dirty_stat = false;
}

static void rep_queue(struct reputation *r, struct rep_entity *e)
{
	struct store_record *rec = store_record_new(STORE_REP);
	if (rec) {
		struct store_rep *s = &rec->u.rep;
		s->kind = e->kind;
		s->key = arena_strdup(&rec->a, e->key);
		s->updated_ts = e->updated;
		s->good = e->good;
		s->junk = e->junk;
		s->refused = e->refused;
		s->unknown = e->unknown;
		s->traps = e->traps;
		s->complaints = e->complaints;
		s->hammer = e->hammer;
		s->tokens = e->bucket_init ? e->tokens : -1;
		s->limited_until = e->limited_until;
		s->hammers_today = e->hammers_today;
		s->hammer_day = arena_strdup(&rec->a, e->hammer_day);
		rep_submit(r, rec);
	}
	e->dirty_rep = false;
}

void rep_flush(struct reputation *r)
{
	for (guint i = 0; i < r->dirty->len; i++) {
		struct rep_entity *e = g_ptr_array_index(r->dirty, i);
		if (e->dirty_stat)
			stat_queue(r, e);
		if (e->dirty_rep)
			rep_queue(r, e);
		e->in_dirty_list = false;
	}
	g_ptr_array_set_size(r->dirty, 0);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	rep_flush(arg);
}

/* ---- lists --------------------------------------------------------------- */

static int load_config_lists(struct reputation *r, const struct config *cfg, char *err,
			     size_t errlen)
{
	struct cidr_set *s = cidr_set_new();
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	char e2[200];
	if (cidr_set_parse_list(s, cfg->allow_ips, (struct cidr_tag){ LIST_ALLOW, NULL },
				"allow_ips", e2, sizeof(e2)) < 0 ||
	    cidr_set_parse_list(s, cfg->block_ips, (struct cidr_tag){ LIST_BLOCK, NULL },
				"block_ips", e2, sizeof(e2)) < 0) {
		snprintf(err, errlen, "allow_ips/block_ips: %s", e2);
		cidr_set_free(s);
		return -1;
	}
	cidr_set_free(r->cfg_list);
	r->cfg_list = s;
	return 0;
}

/* The most specific entry of either list; the operator's wins a tie. */
const struct cidr_entry *rep_list_lookup(const struct reputation *r, const char *ip, int *src)
{
	const struct cidr_entry *a = r->op_list ? cidr_set_lookup(r->op_list, ip) : NULL;
	const struct cidr_entry *b = r->cfg_list ? cidr_set_lookup(r->cfg_list, ip) : NULL;
	if (a && (!b || a->net.prefix >= b->net.prefix)) {
		*src = 1;
		return a;
	}
	*src = 0;
	return b;
}

static bool domain_in_list(const char *list, const char *domain)
{
	if (!domain || !*domain)
		return false;
	size_t dl = strlen(domain);
	const char *cur = list, *item;
	size_t n;
	while ((n = config_list_next(&cur, &item)) > 0) {
		if (n == dl && strncasecmp(item, domain, n) == 0)
			return true;
		/* a subdomain of a listed domain */
		if (dl > n && domain[dl - n - 1] == '.' && strncasecmp(domain + dl - n, item, n) == 0)
			return true;
	}
	return false;
}

bool rep_domain_listed(const struct reputation *r, const char *domain, bool certified)
{
	return domain_in_list(certified ? r->cfg->certified_domains : r->cfg->allow_domains,
			      domain);
}

bool rep_is_trap(const struct reputation *r, const char *addr)
{
	const char *at = addr ? strrchr(addr, '@') : NULL;
	if (!at)
		return false;
	size_t al = strlen(addr);
	const char *cur = r->cfg->trap_addresses, *item;
	size_t n;
	while ((n = config_list_next(&cur, &item)) > 0) {
		if (item[0] == '@') {
			if (strlen(at) == n && strncasecmp(item, at, n) == 0)
				return true;
		} else if (n == al && strncasecmp(item, addr, n) == 0) {
			return true;
		}
	}
	return false;
}

/* ---- life ---------------------------------------------------------------- */

struct load_ctx {
	struct reputation *r;
	size_t n;
};

static int load_rep(void *arg, const struct store_rep *s)
{
	struct load_ctx *c = arg;
	struct rep_entity *e = rep_entity_get(c->r, s->kind, s->key, true);
	if (!e)
		return 0;
	e->updated = s->updated_ts;
	e->good = s->good;
	e->junk = s->junk;
	e->refused = s->refused;
	e->unknown = s->unknown;
	e->traps = s->traps;
	e->complaints = s->complaints;
	e->hammer = s->hammer;
	if (s->tokens >= 0) {
		e->tokens = s->tokens;
		e->tokens_ts = s->updated_ts;
		e->bucket_init = true;
	}
	e->limited_until = s->limited_until;
	e->hammers_today = s->hammers_today;
	snprintf(e->hammer_day, sizeof(e->hammer_day), "%s", s->hammer_day ? s->hammer_day : "");
	c->n++;
	return 0;
}

static int load_iplist(void *arg, const struct store_iplist *l)
{
	struct load_ctx *c = arg;
	struct cidr net;
	if (cidr_parse(l->cidr, strlen(l->cidr), &net) < 0)
		return 0;
	int action = strcmp(l->action, "allow") == 0 ? LIST_ALLOW : LIST_BLOCK;
	cidr_set_add(c->r->op_list, &net, (struct cidr_tag){ action, NULL }, l->reason);
	return 0;
}

struct reputation *rep_new(const struct config *cfg, struct store *st, char *err,
			   size_t errlen)
{
	struct reputation *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->cfg = config_ref((struct config *)cfg);
	for (int k = 0; k < STORE_ENT__COUNT; k++)
		r->ent[k] = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, entity_free);
	r->dirty = g_ptr_array_new();
	r->op_list = cidr_set_new();
	if (!r->op_list || load_config_lists(r, cfg, err, errlen) < 0) {
		rep_free(r);
		return NULL;
	}
	if (st) {
		struct load_ctx c = { r, 0 };
		char e2[256];
		if (store_rep_load(st, load_rep, &c, e2, sizeof(e2)) < 0 ||
		    store_iplist_load(st, load_iplist, &c, e2, sizeof(e2)) < 0) {
			snprintf(err, errlen, "loading reputation: %s", e2);
			rep_free(r);
			return NULL;
		}
		log_msg(LOG_INFO, NULL, "event=reputation_loaded entities=%zu operator_entries=%zu",
			c.n, cidr_set_count(r->op_list));
	}
	return r;
}

void rep_attach(struct reputation *r, struct event_base *base, struct store_writer *w,
		const char *store_path)
{
	r->base = base;
	r->writer = w;
	snprintf(r->store_path, sizeof(r->store_path), "%s", store_path ? store_path : "");
	r->timer = event_new(base, -1, EV_PERSIST, on_timer, r);
	uint64_t ms = r->cfg->store_flush_ms < 100 ? 100 : r->cfg->store_flush_ms;
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
	if (r->timer)
		event_add(r->timer, &tv);
}

int rep_reconfigure(struct reputation *r, const struct config *cfg, char *err, size_t errlen)
{
	if (load_config_lists(r, cfg, err, errlen) < 0)
		return -1;
	struct config *old = (struct config *)r->cfg;
	r->cfg = config_ref((struct config *)cfg);
	config_unref(old);
	return 0;
}

void rep_free(struct reputation *r)
{
	if (!r)
		return;
	if (r->timer)
		event_free(r->timer);
	rep_flush(r);
	for (int k = 0; k < STORE_ENT__COUNT; k++)
		if (r->ent[k])
			g_hash_table_destroy(r->ent[k]);
	if (r->dirty)
		g_ptr_array_free(r->dirty, TRUE);
	cidr_set_free(r->cfg_list);
	cidr_set_free(r->op_list);
	config_unref((struct config *)r->cfg);
	free(r);
}

/* ---- the stages ------------------------------------------------------------ */

static void limit_fill(struct reputation *r, struct rep_entity *e, long long now,
		       struct verdict_limit *L)
{
	L->over = true;
	L->net = e->kind == STORE_ENT_NET;
	L->retry_after = (unsigned)(e->limited_until > now ? e->limited_until - now : 1);
	L->rate_per_hour = (unsigned)lround(rep_entity_rate(r, e));
	if (!L->rate_per_hour)
		L->rate_per_hour = 1;
	snprintf(L->scope_key, sizeof(L->scope_key), "%s", e->key);
}

/* A sender back before its retry-after: a hammer, counted per day for escalation. */
static void hammered(struct reputation *r, struct rep_entity *e, long long now,
		     struct verdict_limit *L)
{
	char today[11];
	day_of(now, today);
	if (strcmp(e->hammer_day, today) != 0) {
		memcpy(e->hammer_day, today, sizeof(today));
		e->hammers_today = 0;
	}
	e->hammers_today++;
	e->hammer += 1;
	L->hammering = true;
	if (r->cfg->rate_limit_escalate && e->hammers_today >= r->cfg->rate_limit_escalate)
		L->escalate = true;
	mark_dirty(r, e, true, false);
}

void rep_connect(struct reputation *r, const char *ip, struct verdict_facts *f)
{
	long long now = rep_now(r);
	int src;
	const struct cidr_entry *le = rep_list_lookup(r, ip, &src);
	if (le) {
		f->ip_list = (enum list_action)le->tag.action;
		char net[CIDR_TEXT_MAX];
		cidr_format(&le->net, net, sizeof(net));
		snprintf(f->ip_list_entry, sizeof(f->ip_list_entry), "%s %s",
			 src ? "operator" : "config", net);
		snprintf(f->ip_list_reason, sizeof(f->ip_list_reason), "%s", le->reason);
	}
	struct trio t = entities(r, ip, NULL);
	for (int i = 0; i < 2; i++) {
		struct rep_entity *e = t.e[i];
		if (!e)
			continue;
		decay(r, e, now);
		stat_touch(r, e, now);
		e->n[ST_CONNECTIONS]++;
		if (i == 0) {
			f->rep_ip = rep_entity_state(e);
			f->rep_ip_score = rep_entity_score(e);
		} else {
			f->rep_net = rep_entity_state(e);
			f->rep_net_score = rep_entity_score(e);
		}
		if (f->ip_list != LIST_ALLOW && e->limited_until > now && !f->limit.over) {
			limit_fill(r, e, now, &f->limit);
			hammered(r, e, now, &f->limit);
		}
	}
	if (f->ip_list == LIST_BLOCK) {
		f->rep_ip = REP_BLOCKED;
	}
}

void rep_mail(struct reputation *r, const char *domain, struct verdict_facts *f)
{
	struct rep_entity *e = rep_entity_get(r, STORE_ENT_DOMAIN, domain, false);
	f->rep_domain = REP_NEUTRAL;
	f->rep_domain_score = 0;
	if (!e)
		return;
	decay(r, e, rep_now(r));
	f->rep_domain = rep_entity_state(e);
	f->rep_domain_score = rep_entity_score(e);
}

void rep_rcpt(struct reputation *r, struct verdict_facts *f)
{
	memset(&f->limit, 0, sizeof(f->limit));
	if (f->ip_list == LIST_ALLOW || f->domain_certified || f->domain_allowed)
		return;
	long long now = rep_now(r);
	struct trio t = entities(r, f->client_ip, NULL);
	for (int i = 0; i < 2; i++) {
		struct rep_entity *e = t.e[i];
		if (!e)
			continue;
		decay(r, e, now);
		refill(r, e, now);
		if (e->tokens < 1.0) {
			double rate = rep_entity_rate(r, e);
			long long wait = (long long)ceil((1.0 - e->tokens) * 3600.0 / rate);
			e->limited_until = now + (wait < 1 ? 1 : wait);
			mark_dirty(r, e, true, false);
			limit_fill(r, e, now, &f->limit);
			return;
		}
	}
	for (int i = 0; i < 2; i++)
		if (t.e[i]) {
			t.e[i]->tokens -= 1.0;
			mark_dirty(r, t.e[i], true, false);
		}
}

void rep_count(struct reputation *r, const char *ip, const char *domain, enum stat_counter c,
	       unsigned long long n)
{
	if (!n || (unsigned)c >= ST__COUNT)
		return;
	long long now = rep_now(r);
	struct trio t = entities(r, ip, domain);
	for (int i = 0; i < 3; i++) {
		struct rep_entity *e = t.e[i];
		if (!e)
			continue;
		stat_touch(r, e, now);
		e->n[c] += n;
		bool rep = true;
		decay(r, e, now);
		switch (c) {
		case ST_UNKNOWN_RCPT:
			e->unknown += (double)n;
			break;
		case ST_TRAP_HITS:
			e->traps += (double)n;
			break;
		case ST_COMPLAINTS:
			e->complaints += (double)n;
			break;
		default:
			rep = false;
			break;
		}
		if (rep)
			mark_dirty(r, e, true, false);
	}
}

/* Refusals that say something about the sender (not a size or a local error). */
static bool refusal_counts(const char *code)
{
	static const char *const bad[] = { "MXS-SPF-001", "MXS-DMARC-001", "MXS-SMTP-004",
					   "MXS-SMTP-001", "MXS-REP-002", "MXS-REP-001" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (strcmp(code, bad[i]) == 0)
			return true;
	return false;
}

void rep_outcome(struct reputation *r, const char *ip, const char *domain,
		 enum verdict_action a, const char *reason_code, size_t nrcpts)
{
	long long now = rep_now(r);
	struct trio t = entities(r, ip, domain);
	for (int i = 0; i < 3; i++) {
		struct rep_entity *e = t.e[i];
		if (!e)
			continue;
		decay(r, e, now);
		stat_touch(r, e, now);
		switch (a) {
		case VERDICT_INBOX:
			e->n[ST_INBOX]++;
			if (nrcpts)
				e->good += 1;
			break;
		case VERDICT_JUNK:
			e->n[ST_JUNK]++;
			e->junk += 1;
			break;
		case VERDICT_REJECT:
			e->n[ST_REJECT]++;
			if (refusal_counts(reason_code))
				e->refused += 1;
			stat_reason(e, reason_code);
			break;
		case VERDICT_TEMPFAIL:
			e->n[ST_TEMPFAIL]++;
			stat_reason(e, reason_code);
			break;
		case VERDICT_LIMIT:
			e->n[ST_LIMITED]++;
			stat_reason(e, reason_code);
			break;
		case VERDICT_CONTINUE:
			break;
		}
		mark_dirty(r, e, true, true);
	}
}

static void set_sample(char **dst, const char *v)
{
	char *c = strdup(v);
	if (!c)
		return;
	free(*dst);
	*dst = c;
}

void rep_sample(struct reputation *r, const char *ip, const char *helo, const char *mail_from)
{
	struct trio t = entities(r, ip, NULL);
	if (!t.e[0])
		return;
	stat_touch(r, t.e[0], rep_now(r));
	if (helo)
		set_sample(&t.e[0]->helo, helo);
	if (mail_from)
		set_sample(&t.e[0]->mail_from, mail_from);
}

void rep_entity_refresh(struct reputation *r, struct rep_entity *e, long long now)
{
	decay(r, e, now);
	if (e->kind != STORE_ENT_DOMAIN)
		refill(r, e, now);
}

struct cidr_set *rep_op_list(struct reputation *r)
{
	return r->op_list;
}

const struct cidr_set *rep_cfg_list(const struct reputation *r)
{
	return r->cfg_list;
}
