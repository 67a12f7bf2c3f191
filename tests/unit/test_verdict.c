/*
 * Unit tests for the verdict engine (src/policy/verdict.c) as a table: facts in,
 * action + reason + reply code + symbols out; and for the sending limits
 * (token buckets of src/reputation/rep.c) through their public calls, with the
 * clock moved by clock_offset instead of sleeping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "content/classify.h"
#include "core/config.h"
#include "policy/verdict.h"
#include "reputation/rep.h"

static struct config *cfg_with(const char *const *overrides)
{
	struct config *c = config_new();
	assert_non_null(c);
	char err[256];
	for (; overrides && *overrides; overrides++)
		assert_int_equal(config_set_override(c, *overrides, err, sizeof(err)), 0);
	assert_int_equal(config_finish(c, err, sizeof(err)), 0);
	return c;
}

struct row {
	const char *name;
	const char *overrides[4];
	enum verdict_stage stage;
	void (*facts)(struct verdict_facts *f);
	enum verdict_action action;
	enum reason reason;
	int code;
	const char *enh;
	const char *symbols; /* expected X-Mxscreen-Symbols text (NULL: not checked) */
};

static struct content_result scl9 = { .scl = 9, .probability = 0.999 };
static struct content_result scl4 = { .scl = 4, .probability = 0.5 };
static struct content_result scl1 = { .scl = 1, .probability = 0.01 };

static void f_none(struct verdict_facts *f) { (void)f; }
static void f_block(struct verdict_facts *f)
{
	f->ip_list = LIST_BLOCK;
	snprintf(f->ip_list_entry, sizeof(f->ip_list_entry), "operator 192.0.2.0/24");
}
static void f_allow_and_listed(struct verdict_facts *f)
{
	f->ip_list = LIST_ALLOW;
	f->ndnsl = 1;
	snprintf(f->dnsl[0].symbol, sizeof(f->dnsl[0].symbol), "DNSBL_BL_TEST_2");
	f->dnsl[0].weight = 5;
}
static void f_dnsbl3(struct verdict_facts *f)
{
	f->ndnsl = 2;
	snprintf(f->dnsl[0].symbol, sizeof(f->dnsl[0].symbol), "DNSBL_BL_TEST_2");
	f->dnsl[0].weight = 2;
	snprintf(f->dnsl[1].symbol, sizeof(f->dnsl[1].symbol), "DNSBL_OTHER_TEST_4");
	f->dnsl[1].weight = 1;
}
static void f_dnsbl3_wl1(struct verdict_facts *f)
{
	f_dnsbl3(f);
	f->ndnsl = 3;
	snprintf(f->dnsl[2].symbol, sizeof(f->dnsl[2].symbol), "DNSWL_WL_TEST_3");
	f->dnsl[2].weight = 1;
	f->dnsl[2].allow = true;
}
static void f_limited(struct verdict_facts *f)
{
	f->limit.over = true;
	f->limit.retry_after = 120;
	f->limit.rate_per_hour = 30;
	snprintf(f->limit.scope_key, sizeof(f->limit.scope_key), "192.0.2.7");
}
static void f_limited_net_hammer(struct verdict_facts *f)
{
	f_limited(f);
	f->limit.net = true;
	f->limit.hammering = true;
	f->limit.escalate = true;
	snprintf(f->limit.scope_key, sizeof(f->limit.scope_key), "192.0.2.0/24");
}
static void f_limited_certified(struct verdict_facts *f)
{
	f_limited(f);
	f->domain_certified = true;
}
static void f_spf_fail(struct verdict_facts *f)
{
	f->spf_checked = true;
	f->spf = SPF_FAIL;
	f->spf_domain = "forged.test";
	f->spf_sender = "a@forged.test";
}
static void f_spf_temperror(struct verdict_facts *f)
{
	f->spf_checked = true;
	f->spf = SPF_TEMPERROR;
	f->spf_domain = "slow.test";
}
static void f_dmarc_reject(struct verdict_facts *f)
{
	f->dkim_checked = true;
	f->dmarc = DMARC_FAIL;
	f->dmarc_disposition = DMARC_POLICY_REJECT;
	f->dmarc_from = "bank.test";
	f->content = &scl1;
}
static void f_dmarc_quarantine(struct verdict_facts *f)
{
	f_dmarc_reject(f);
	f->dmarc_disposition = DMARC_POLICY_QUARANTINE;
}
static void f_scl9(struct verdict_facts *f) { f->content = &scl9; }
static void f_scl9_certified(struct verdict_facts *f)
{
	f->content = &scl9;
	f->domain_certified = true;
}
static void f_weak_evidence(struct verdict_facts *f)
{
	/* no single refusal: SPF softfail 1 + DKIM fail 1 + bad IP 3 + SCL 4 (0) = 5 */
	f->content = &scl4;
	f->spf_checked = true;
	f->spf = SPF_SOFTFAIL;
	f->dkim_checked = true;
	f->dkim = DKIM_FAIL;
	f->rep_ip = REP_BAD;
}
static void f_long_line(struct verdict_facts *f)
{
	f->long_line = true;
	f->content = &scl1;
}
static void f_clean(struct verdict_facts *f)
{
	f->content = &scl1;
	f->spf_checked = true;
	f->spf = SPF_PASS;
	f->dkim_checked = true;
	f->dkim = DKIM_PASS;
	f->dmarc = DMARC_PASS;
}

static const struct row rows[] = {
	{ "nothing known at connect", { NULL }, STAGE_CONNECT, f_none, VERDICT_CONTINUE, R_NONE, 0, NULL, "none" },
	{ "operator block", { NULL }, STAGE_CONNECT, f_block, VERDICT_REJECT, R_IP_BLOCKED, 554, "5.7.1", "IP_BLOCKLISTED=10" },
	{ "allow list beats DNSBL", { NULL }, STAGE_CONNECT, f_allow_and_listed, VERDICT_CONTINUE, R_NONE, 0, NULL, "IP_ALLOWLISTED=-5 DNSBL_BL_TEST_2=5" },
	{ "DNSBL weight at threshold", { NULL }, STAGE_CONNECT, f_dnsbl3, VERDICT_REJECT, R_DNSBL, 554, "5.7.1", "DNSBL_BL_TEST_2=2 DNSBL_OTHER_TEST_4=1" },
	{ "DNSWL weight takes it below", { NULL }, STAGE_CONNECT, f_dnsbl3_wl1, VERDICT_CONTINUE, R_NONE, 0, NULL, NULL },
	{ "DNSBL dry-run", { "dnsbl_mode=dry-run", NULL }, STAGE_CONNECT, f_dnsbl3, VERDICT_CONTINUE, R_NONE, 0, NULL, "DNSBL_BL_TEST_2=2(dry-run) DNSBL_OTHER_TEST_4=1(dry-run)" },
	{ "limited IP", { NULL }, STAGE_RCPT, f_limited, VERDICT_LIMIT, R_RATE_LIMIT_IP, 421, "4.7.28", "RATE_LIMIT_IP=0" },
	{ "limited range, hammering, no escalation setting", { NULL }, STAGE_CONNECT, f_limited_net_hammer, VERDICT_LIMIT, R_RATE_LIMIT_NET, 421, "4.7.28", "RATE_LIMIT_NET=0 HAMMERING=0" },
	{ "escalation only when set", { "rate_limit_escalate=3", NULL }, STAGE_CONNECT, f_limited_net_hammer, VERDICT_REJECT, R_RATE_LIMIT_ESCALATED, 550, "5.7.28", NULL },
	{ "limit dry-run", { "rate_limit_mode=dry-run", NULL }, STAGE_RCPT, f_limited, VERDICT_CONTINUE, R_NONE, 0, NULL, "RATE_LIMIT_IP=0(dry-run)" },
	{ "certified skips limits", { NULL }, STAGE_RCPT, f_limited_certified, VERDICT_CONTINUE, R_NONE, 0, NULL, NULL },
	{ "SPF fail refused", { NULL }, STAGE_MAIL, f_spf_fail, VERDICT_REJECT, R_SPF_FAIL, 550, "5.7.23", "SPF_FAIL=3" },
	{ "SPF fail as facts", { "spf_fail=facts", NULL }, STAGE_MAIL, f_spf_fail, VERDICT_CONTINUE, R_NONE, 0, NULL, "SPF_FAIL=3" },
	{ "SPF temperror deferred", { NULL }, STAGE_MAIL, f_spf_temperror, VERDICT_TEMPFAIL, R_SPF_TEMPERROR, 451, "4.4.3", NULL },
	{ "DMARC reject", { NULL }, STAGE_DATA, f_dmarc_reject, VERDICT_REJECT, R_DMARC_REJECT, 550, "5.7.1", NULL },
	{ "DMARC reject not enforced", { "dmarc_enforce=no", NULL }, STAGE_DATA, f_dmarc_reject, VERDICT_INBOX, R_NONE, 0, NULL, NULL },
	{ "DMARC quarantine", { NULL }, STAGE_DATA, f_dmarc_quarantine, VERDICT_JUNK, R_DMARC_QUARANTINE, 0, NULL, NULL },
	{ "content junk", { NULL }, STAGE_DATA, f_scl9, VERDICT_JUNK, R_CONTENT_JUNK, 0, NULL, "CONTENT_SCL_9=25" },
	{ "certified never junked for content", { NULL }, STAGE_DATA, f_scl9_certified, VERDICT_INBOX, R_NONE, 0, NULL, NULL },
	{ "content threshold 10: SCL 9 alone is not junk", { "content_junk_scl=10", NULL }, STAGE_DATA, f_scl9, VERDICT_INBOX, R_NONE, 0, NULL, NULL },
	{ "weak evidence adds up", { NULL }, STAGE_DATA, f_weak_evidence, VERDICT_JUNK, R_SCORE_JUNK, 0, NULL, "REP_IP_BAD=3 SPF_SOFTFAIL=1 DKIM_FAIL=1 CONTENT_SCL_4=0" },
	{ "junk_score 6: not enough", { "junk_score=6", NULL }, STAGE_DATA, f_weak_evidence, VERDICT_INBOX, R_NONE, 0, NULL, NULL },
	{ "long line accepted", { NULL }, STAGE_DATA, f_long_line, VERDICT_INBOX, R_NONE, 0, NULL, "LONG_LINE=0.5 CONTENT_SCL_1=-1.5" },
	{ "long line refused by setting", { "smtp_long_lines=reject", NULL }, STAGE_DATA, f_long_line, VERDICT_REJECT, R_LINE_TOO_LONG, 550, "5.6.0", NULL },
	{ "clean and authenticated", { NULL }, STAGE_DATA, f_clean, VERDICT_INBOX, R_NONE, 0, NULL, "SPF_PASS=-0.5 DKIM_PASS=-0.5 DMARC_PASS=-1 CONTENT_SCL_1=-1.5" },
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct config *cfg = cfg_with(r->overrides);
		struct verdict_facts f = { .client_ip = "192.0.2.7", .client_net = "192.0.2.0/24",
					   .mail_from = "a@example.net" };
		r->facts(&f);
		struct verdict v;
		verdict_decide(cfg, r->stage, &f, &v);
		struct buf b = { 0 };
		assert_int_equal(symbols_format(&v.sym, &b), 0);
		if (v.action != r->action || v.reason != r->reason || v.code != r->code ||
		    (r->enh && (!v.enh || strcmp(v.enh, r->enh) != 0)) ||
		    (r->symbols && strcmp(buf_cstr(&b), r->symbols) != 0))
			fail_msg("row '%s': got %s %s %d %s symbols \"%s\"", r->name,
				 verdict_action_name(v.action), reason_get(v.reason)->code, v.code,
				 v.enh ? v.enh : "-", buf_cstr(&b));
		/* every refusal names its reason, and its reply code agrees with the class */
		if (v.action == VERDICT_REJECT)
			assert_true(v.code >= 500 && v.reason != R_NONE);
		if (v.action == VERDICT_TEMPFAIL || v.action == VERDICT_LIMIT)
			assert_true(v.code >= 400 && v.code < 500 && v.reason != R_NONE);
		buf_free(&b);
		config_unref(cfg);
	}
}

static void test_limit_reply_is_parsable(void **state)
{
	(void)state;
	struct config *cfg = cfg_with(NULL);
	struct verdict_facts f = { .client_ip = "192.0.2.7" };
	f_limited(&f);
	struct verdict v;
	verdict_decide(cfg, STAGE_RCPT, &f, &v);
	assert_non_null(strstr(v.detail, "retry-after=120s rate=30/h scope=ip"));
	assert_non_null(strstr(v.detail, "192.0.2.7"));
	config_unref(cfg);
}

/* ---- token buckets -------------------------------------------------------- */

static struct reputation *rep_at(struct config **cfg, long long offset, const char *extra)
{
	char off[64];
	snprintf(off, sizeof(off), "clock_offset=%lld", offset);
	const char *o[] = { "rate_limit_new=20", off, extra, NULL };
	*cfg = cfg_with(o);
	char err[256];
	struct reputation *r = rep_new(*cfg, NULL, err, sizeof(err));
	assert_non_null(r);
	return r;
}

static void move_clock(struct reputation *r, struct config **cfg, long long offset,
		       const char *extra)
{
	char off[64];
	snprintf(off, sizeof(off), "clock_offset=%lld", offset);
	const char *o[] = { "rate_limit_new=20", off, extra, NULL };
	struct config *c = cfg_with(o);
	char err[256];
	assert_int_equal(rep_reconfigure(r, c, err, sizeof(err)), 0);
	config_unref(*cfg);
	*cfg = c;
}

/* Charges recipients until the first refusal; returns how many were allowed. */
static int charge(struct reputation *r, const char *ip, int max, struct verdict_facts *out)
{
	for (int i = 0; i < max; i++) {
		struct verdict_facts f = { .client_ip = ip };
		rep_rcpt(r, &f);
		if (f.limit.over) {
			*out = f;
			return i;
		}
	}
	return max;
}

static void test_bucket_warmup_refill_and_range(void **state)
{
	(void)state;
	struct config *cfg;
	struct reputation *r = rep_at(&cfg, 0, "rate_limit_net_factor=1");
	struct verdict_facts f;
	/* a stranger: 20/h, capacity 20 */
	assert_int_equal(charge(r, "192.0.2.1", 100, &f), 20);
	assert_false(f.limit.net);
	assert_int_equal(f.limit.rate_per_hour, 20);
	assert_int_equal(f.limit.retry_after, 180); /* one token at 20/h */
	/* another IP of the same /24 has its own allowance, but the /24's (factor 1: 20) is spent */
	assert_int_equal(charge(r, "192.0.2.2", 100, &f), 0);
	assert_true(f.limit.net);
	assert_string_equal(f.limit.scope_key, "192.0.2.0/24");
	/* another /24 is unaffected */
	assert_int_equal(charge(r, "192.0.3.1", 100, &f), 20);
	/* coming back after retry-after: not hammering, and one more token */
	move_clock(r, &cfg, 180, "rate_limit_net_factor=1");
	struct verdict_facts c = { .client_ip = "192.0.2.1" };
	rep_connect(r, "192.0.2.1", &c);
	assert_false(c.limit.over);
	assert_int_equal(charge(r, "192.0.3.1", 100, &f), 1);
	/* an hour later the bucket is full again */
	move_clock(r, &cfg, 180 + 3600, "rate_limit_net_factor=1");
	assert_int_equal(charge(r, "192.0.3.1", 100, &f), 20);
	rep_free(r);
	config_unref(cfg);
}

static void test_hammering_counts_and_escalates_only_by_setting(void **state)
{
	(void)state;
	struct config *cfg;
	struct reputation *r = rep_at(&cfg, 0, "rate_limit_escalate=2");
	struct verdict_facts f;
	assert_int_equal(charge(r, "198.51.100.9", 100, &f), 20);
	struct verdict_facts c1 = { .client_ip = "198.51.100.9" };
	rep_connect(r, "198.51.100.9", &c1); /* back at once */
	assert_true(c1.limit.over && c1.limit.hammering);
	assert_false(c1.limit.escalate);
	struct verdict_facts c2 = { .client_ip = "198.51.100.9" };
	rep_connect(r, "198.51.100.9", &c2);
	assert_true(c2.limit.escalate); /* the second hammer of the day reaches the setting */
	rep_free(r);
	config_unref(cfg);
}

static void test_inbox_history_grows_allowance_and_bad_behaviour_shrinks_it(void **state)
{
	(void)state;
	struct config *cfg;
	struct reputation *r = rep_at(&cfg, 0, NULL);
	for (int i = 0; i < 100; i++)
		rep_outcome(r, "203.0.113.5", "good.test", VERDICT_INBOX, "MXS-NONE", 1);
	struct verdict_facts c = { .client_ip = "203.0.113.5" };
	rep_connect(r, "203.0.113.5", &c);
	assert_int_equal(c.rep_ip, REP_GOOD);
	struct verdict_facts f;
	assert_int_equal(charge(r, "203.0.113.5", 1000, &f), 60); /* 20 * (1 + 100/50) */
	for (int i = 0; i < 300; i++)
		rep_outcome(r, "203.0.113.6", NULL, VERDICT_JUNK, "MXS-CNT-001", 1);
	struct verdict_facts d = { .client_ip = "203.0.113.6" };
	rep_connect(r, "203.0.113.6", &d);
	assert_int_equal(d.rep_ip, REP_BAD);
	assert_int_equal(charge(r, "203.0.113.6", 1000, &f), 10); /* rate_limit_bad 6: the floor 10 */
	assert_int_equal(f.limit.rate_per_hour, 6);
	/* the domain carries its own record */
	struct verdict_facts m = { 0 };
	rep_mail(r, "good.test", &m);
	assert_int_equal(m.rep_domain, REP_GOOD);
	rep_free(r);
	config_unref(cfg);
}

static void test_lists_and_traps(void **state)
{
	(void)state;
	struct config *cfg;
	struct reputation *r = rep_at(&cfg, 0, "block_ips=192.0.2.0/24, 192.0.2.9");
	struct verdict_facts c = { 0 };
	rep_connect(r, "192.0.2.1", &c);
	assert_int_equal(c.ip_list, LIST_BLOCK);
	const char *args[] = { "allow", "192.0.2.1/32", "--reason", "partner" };
	char err[256];
	json_t *o = rep_control(r, args, 4, err, sizeof(err));
	assert_non_null(o);
	json_decref(o);
	struct verdict_facts c2 = { 0 };
	rep_connect(r, "192.0.2.1", &c2); /* the more specific operator allow wins */
	assert_int_equal(c2.ip_list, LIST_ALLOW);
	assert_string_equal(c2.ip_list_reason, "partner");
	const char *bad[] = { "block", "192.0.2.1/24" };
	assert_null(rep_control(r, bad, 2, err, sizeof(err))); /* host bits set */
	assert_non_null(strstr(err, "host bits"));
	rep_free(r);
	config_unref(cfg);
	r = rep_at(&cfg, 0, "trap_addresses=trap@example.com, @traps.example.org");
	assert_true(rep_is_trap(r, "TRAP@example.com"));
	assert_true(rep_is_trap(r, "x@traps.example.org"));
	assert_false(rep_is_trap(r, "x@sub.traps.example.org"));
	assert_false(rep_is_trap(r, "trap@example.org"));
	rep_free(r);
	config_unref(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_limit_reply_is_parsable),
		cmocka_unit_test(test_bucket_warmup_refill_and_range),
		cmocka_unit_test(test_hammering_counts_and_escalates_only_by_setting),
		cmocka_unit_test(test_inbox_history_grows_allowance_and_bad_behaviour_shrinks_it),
		cmocka_unit_test(test_lists_and_traps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
