/*
 * cmd_auth.c - `mxscreen auth`: DKIM, ARC and DMARC of a message on stdin;
 * prints the Authentication-Results field that the MX would add.
 *
 * Lookups go to the resolver (--dns HOST:PORT, else $MXSCREEN_DNS, else the
 * dns_servers setting), all in parallel on one event loop; or, with --txt
 * NAME=RECORD options (repeatable; every other name is NXDOMAIN), to those
 * records only, which checks a key or a policy before it is published.
 * SPF: with --ip, SPF (RFC 7208) is evaluated for --mail-from (or --helo for
 * the null sender) first, as the MX does at MAIL FROM; --spf RESULT instead
 * takes a result decided elsewhere. DMARC aligns with either.
 * Exit status: 0 results printed, 3 when a DNS lookup failed temporarily
 * (some result is temperror), 2 usage or unreadable input.
 */
#include "auth/auth.h"
#include "auth/auth_dns.h"
#include "auth/spf.h"
#include "cli/cli.h"
#include "core/config.h"
#include "net/dns.h"

#include <event2/event.h>
#include <getopt.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int cli_static_txt_add(struct cli_static_txt *st, char *name_eq_record)
{
	char *eq = strchr(name_eq_record, '=');
	if (!eq || st->n == CLI_STATIC_TXT_MAX)
		return -1;
	*eq = '\0';
	st->name[st->n] = name_eq_record;
	st->rec[st->n++] = slice_cstr(eq + 1);
	return 0;
}

void cli_static_txt_answer(const struct cli_static_txt *st, const char *name,
			   struct slice *recs, struct txt_answer *ans)
{
	size_t n = 0;
	for (size_t i = 0; i < st->n; i++)
		if (!strcasecmp(st->name[i], name))
			recs[n++] = st->rec[i];
	*ans = (struct txt_answer){ n ? TXT_OK : TXT_NXDOMAIN, recs, n };
}

static void static_answer(const struct cli_static_txt *st, struct auth_check *a, const char *name)
{
	struct slice recs[CLI_STATIC_TXT_MAX];
	struct txt_answer ans;
	cli_static_txt_answer(st, name, recs, &ans);
	auth_check_answer(a, name, &ans);
}

struct loop_run {
	struct event_base *base;
	bool done;
};

static void on_spf_done(void *arg, struct spf_eval *e)
{
	(void)e;
	struct loop_run *r = arg;
	r->done = true;
	event_base_loopbreak(r->base);
}

static void on_auth_done(void *arg, struct auth_check *a)
{
	(void)a;
	struct loop_run *r = arg;
	r->done = true;
	event_base_loopbreak(r->base);
}

static bool run_loop(struct loop_run *r)
{
	while (!r->done)
		if (event_base_dispatch(r->base) < 0)
			return false;
	return true;
}

static int auth_usage(void)
{
	fprintf(stderr, "usage: mxscreen auth [--ip IP] [--helo NAME] [--mail-from ADDR] "
			"[--spf RESULT] [--dns HOST:PORT | --txt NAME=RECORD...] [--time T] [--dmarc-roll N] "
			"[-c FILE] [-o name=value]... < MESSAGE\n");
	return EXIT_USAGE;
}

int cmd_auth(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ip", required_argument, NULL, 'I' },
		{ "helo", required_argument, NULL, 'E' },
		{ "mail-from", required_argument, NULL, 'M' },
		{ "spf", required_argument, NULL, 'S' },
		{ "txt", required_argument, NULL, 'T' },
		{ "dns", required_argument, NULL, 'D' },
		{ "time", required_argument, NULL, 't' },
		{ "dmarc-roll", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_static_txt st = { 0 };
	const char *helo = NULL, *mail_from = NULL, *ip = NULL, *dns_flag = NULL;
	struct auth_params p = { .now = time(NULL) };
	unsigned char rnd = 0;
	RAND_bytes(&rnd, 1);
	p.dmarc_roll = rnd % 100;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:o:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'I': ip = optarg; break;
		case 'E': helo = optarg; break;
		case 'M': mail_from = optarg; break;
		case 'S': p.spf_result = optarg; break;
		case 't': p.now = (time_t)strtoll(optarg, NULL, 10); break;
		case 'r': p.dmarc_roll = (unsigned)strtoul(optarg, NULL, 10) % 100; break;
		case 'D': dns_flag = optarg; break;
		case 'T':
			if (cli_static_txt_add(&st, optarg) < 0)
				return auth_usage();
			break;
		default:
			if (!cli_common_option(ctx, opt, optarg))
				return auth_usage();
		}
	}
	if (optind != argc)
		return auth_usage();
	char err[512];
	struct config *cfg = cli_load_config(ctx, err, sizeof(err));
	if (!cfg) {
		fprintf(stderr, "mxscreen: config error: %s\n", err);
		return EXIT_USAGE;
	}
	p.authserv_id = cfg->hostname;
	struct buf msg = { 0 }, out = { 0 };
	struct event_base *base = NULL;
	struct dns *dns = NULL;
	struct spf_eval *spf = NULL;
	struct auth_check *a = NULL;
	int rc = EXIT_OK;
	if (cli_read_message(stdin, &msg) < 0) {
		fprintf(stderr, "mxscreen auth: cannot read the message\n");
		rc = EXIT_USAGE;
		goto done;
	}
	if (st.n == 0 || (ip && !p.spf_result)) {
		if (!(base = event_base_new()) ||
		    !(dns = cli_dns(cfg, dns_flag, base, err, sizeof(err)))) {
			fprintf(stderr, "mxscreen auth: %s\n", base ? err : "no event loop");
			rc = EXIT_USAGE;
			goto done;
		}
	}
	p.client_ip = ip;
	if (ip && !p.spf_result) {
		struct spf_request req = { .ip = ip, .helo = helo, .sender = mail_from,
					   .receiver = cfg->hostname,
					   .identity = SPF_ID_MAILFROM };
		struct loop_run lr = { .base = base };
		spf = spf_start(dns, &req, on_spf_done, &lr);
		if (!spf || !run_loop(&lr)) {
			rc = EXIT_BUG;
			goto done;
		}
		p.spf_result = spf_result_name(spf_result(spf));
		p.spf_domain = spf_domain(spf);
		p.spf_helo = spf_identity(spf) == SPF_ID_HELO;
	} else if (p.spf_result) {
		const char *at = mail_from ? strrchr(mail_from, '@') : NULL;
		if (at && at[1]) {
			p.spf_domain = at + 1;
		} else {
			p.spf_domain = helo;
			p.spf_helo = true;
		}
	}
	a = auth_check_new((struct slice){ msg.p ? msg.p : "", msg.len }, &p);
	if (!a) {
		rc = EXIT_BUG;
		goto done;
	}
	if (st.n) {
		const char *name;
		while ((name = auth_check_next_query(a)))
			static_answer(&st, a, name);
		auth_check_finish(a);
	} else {
		struct loop_run lr = { .base = base };
		struct auth_dns *r = auth_dns_start(base, dns, a, on_auth_done, &lr);
		bool ok = r && run_loop(&lr);
		auth_dns_free(r);
		if (!ok) {
			rc = EXIT_BUG;
			goto done;
		}
	}
	if (auth_check_results(a, &out) < 0) {
		rc = EXIT_BUG;
		goto done;
	}
	fwrite(out.p, 1, out.len, stdout);
	if (auth_check_temperror(a) || (p.spf_result && !strcmp(p.spf_result, "temperror")))
		rc = EXIT_TEMPFAIL;
done:
	auth_check_free(a);
	spf_free(spf);
	if (dns)
		dns_free(dns);
	if (base)
		event_base_free(base);
	buf_free(&msg);
	buf_free(&out);
	config_unref(cfg);
	return rc;
}
