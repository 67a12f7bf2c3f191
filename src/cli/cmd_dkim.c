/*
 * cmd_dkim.c - `mxscreen dkim sign|record`: DKIM signing from the command line.
 *
 * sign: reads a message on stdin (LF or CRLF line ends; written out with
 * CRLF) and writes it with a DKIM-Signature field on top. record: prints the
 * DNS TXT record that publishes the public half of a private key, for
 * <selector>._domainkey.<domain>. verify: DKIM alone, one line per signature,
 * keys from --txt NAME=RECORD; --repeat N verifies N times and prints the rate
 * on stderr (bench/dkim). The full picture with DMARC and ARC is `mxscreen auth`.
 */
#include "auth/dkim.h"
#include "auth/headers.h"
#include "auth/taglist.h"
#include "cli/cli.h"

#include <getopt.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>

int cli_read_message(FILE *in, struct buf *out)
{
	char chunk[65536];
	size_t n;
	char prev = 0;
	while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0) {
		for (size_t i = 0; i < n; i++) {
			char c = chunk[i];
			if (c == '\n' && prev != '\r' && buf_append(out, "\r", 1) < 0)
				return -1;
			if (buf_append(out, &c, 1) < 0)
				return -1;
			prev = c;
		}
	}
	return ferror(in) ? -1 : 0;
}

static int dkim_usage(void)
{
	fprintf(stderr, "usage: mxscreen dkim sign --domain D --selector S --key FILE "
			"[--algorithm rsa-sha256|ed25519-sha256] [--canon H/B] [--headers a:b:c] "
			"[--identity I] [--expire SECONDS] [--body-length] < MESSAGE\n"
			"       mxscreen dkim record --key FILE\n"
			"       mxscreen dkim verify [--txt NAME=RECORD]... [--time T] [--repeat N] "
			"< MESSAGE\n");
	return EXIT_USAGE;
}

static int dkim_record(EVP_PKEY *key)
{
	struct buf b64 = { 0 };
	unsigned char *der = NULL;
	int len;
	const char *k = "rsa";
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519) {
		unsigned char raw[32];
		size_t rl = sizeof(raw);
		if (EVP_PKEY_get_raw_public_key(key, raw, &rl) != 1)
			return EXIT_BUG;
		base64_encode(&b64, raw, rl);
		k = "ed25519";
	} else {
		if ((len = i2d_PUBKEY(key, &der)) <= 0)
			return EXIT_BUG;
		base64_encode(&b64, der, (size_t)len);
		OPENSSL_free(der);
	}
	printf("v=DKIM1; k=%s; p=%s\n", k, buf_cstr(&b64));
	buf_free(&b64);
	return EXIT_OK;
}

static double now_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One full verification: parse, every signature, keys from the static table. */
static int verify_once(const struct buf *msg, const struct cli_static_txt *st, time_t now,
		       bool print)
{
	struct headers h;
	struct dkim_verifier v;
	int worst = EXIT_OK;
	if (headers_parse(&h, msg->p ? msg->p : "", msg->len) < 0 ||
	    dkim_verifier_init(&v, &h, now) < 0) {
		headers_free(&h);
		return EXIT_USAGE;
	}
	size_t cur = 0;
	const char *name;
	while ((name = dkim_verifier_query(&v, &cur))) {
		struct slice recs[CLI_STATIC_TXT_MAX];
		struct txt_answer a;
		cli_static_txt_answer(st, name, recs, &a);
		dkim_verifier_answer(&v, name, &a);
	}
	dkim_verifier_finish(&v);
	if (v.nsig == 0)
		worst = EXIT_NEGATIVE;
	for (size_t i = 0; i < v.nsig; i++) {
		const struct dkim_sig *s = &v.sig[i];
		if (s->result != DKIM_PASS)
			worst = s->result == DKIM_TEMPERROR ? EXIT_TEMPFAIL : EXIT_NEGATIVE;
		if (print)
			printf("dkim=%s d=%s s=%s a=%s%s%s%s\n", dkim_result_name(s->result), s->d,
			       s->s, dkim_alg_name(s->alg), *s->reason ? " (" : "", s->reason,
			       *s->reason ? ")" : "");
	}
	if (print && v.nsig == 0)
		printf("dkim=none\n");
	dkim_verifier_free(&v);
	headers_free(&h);
	return worst;
}

static int dkim_verify_cmd(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "txt", required_argument, NULL, 'T' },
		{ "time", required_argument, NULL, 't' },
		{ "repeat", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_static_txt st = { 0 };
	time_t now = time(NULL);
	unsigned long repeat = 1;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:o:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'T':
			if (cli_static_txt_add(&st, optarg) < 0)
				return dkim_usage();
			break;
		case 't': now = (time_t)strtoll(optarg, NULL, 10); break;
		case 'n': repeat = strtoul(optarg, NULL, 10); break;
		default:
			if (!cli_common_option(ctx, opt, optarg))
				return dkim_usage();
		}
	}
	if (optind != argc || repeat == 0)
		return dkim_usage();
	struct buf msg = { 0 };
	if (cli_read_message(stdin, &msg) < 0) {
		buf_free(&msg);
		return EXIT_USAGE;
	}
	int rc = verify_once(&msg, &st, now, true);
	if (repeat > 1) {
		double t0 = now_sec();
		for (unsigned long i = 1; i < repeat; i++)
			verify_once(&msg, &st, now, false);
		double dt = now_sec() - t0;
		fprintf(stderr, "verifications=%lu seconds=%.3f per_second=%.1f\n", repeat - 1, dt,
			(double)(repeat - 1) / dt);
	}
	buf_free(&msg);
	return rc;
}

int cmd_dkim(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "domain", required_argument, NULL, 'd' },
		{ "selector", required_argument, NULL, 's' },
		{ "key", required_argument, NULL, 'k' },
		{ "algorithm", required_argument, NULL, 'a' },
		{ "canon", required_argument, NULL, 'C' },
		{ "headers", required_argument, NULL, 'H' },
		{ "identity", required_argument, NULL, 'i' },
		{ "expire", required_argument, NULL, 'x' },
		{ "body-length", no_argument, NULL, 'l' },
		{ "time", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	if (argc < 2)
		return dkim_usage();
	const char *action = argv[1];
	argc--, argv++;
	if (!strcmp(action, "verify"))
		return dkim_verify_cmd(ctx, argc, argv);
	struct dkim_sign_opts o = { .hc = CANON_RELAXED, .bc = CANON_RELAXED, .now = time(NULL) };
	const char *keyfile = NULL, *alg = NULL;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:o:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd': o.domain = optarg; break;
		case 's': o.selector = optarg; break;
		case 'k': keyfile = optarg; break;
		case 'a': alg = optarg; break;
		case 'H': o.headers = optarg; break;
		case 'i': o.identity = optarg; break;
		case 'x': o.expire = strtoull(optarg, NULL, 10); break;
		case 't': o.now = (time_t)strtoll(optarg, NULL, 10); break;
		case 'l': o.body_length = true; break;
		case 'C': {
			const char *slash = strchr(optarg, '/');
			size_t hl = slash ? (size_t)(slash - optarg) : strlen(optarg);
			int hc = canon_parse((struct slice){ optarg, hl });
			int bc = slash ? canon_parse(slice_cstr(slash + 1)) : CANON_SIMPLE;
			if (hc < 0 || bc < 0)
				return dkim_usage();
			o.hc = (enum canon)hc;
			o.bc = (enum canon)bc;
			break;
		}
		default:
			if (!cli_common_option(ctx, opt, optarg))
				return dkim_usage();
		}
	}
	if (!keyfile || optind != argc)
		return dkim_usage();
	char err[512];
	EVP_PKEY *key = dkim_load_key(keyfile, err, sizeof(err));
	if (!key) {
		fprintf(stderr, "mxscreen dkim: %s\n", err);
		return EXIT_USAGE;
	}
	int rc = EXIT_USAGE;
	if (!strcmp(action, "record")) {
		rc = dkim_record(key);
		goto out;
	}
	if (strcmp(action, "sign") || !o.domain || !o.selector) {
		rc = dkim_usage();
		goto out;
	}
	int id = EVP_PKEY_get_base_id(key);
	if (alg && strcmp(alg, id == EVP_PKEY_RSA ? "rsa-sha256" : "ed25519-sha256")) {
		fprintf(stderr, "mxscreen dkim: the key does not fit --algorithm %s\n", alg);
		goto out;
	}
	o.key = key;
	struct buf msg = { 0 }, sig = { 0 };
	struct headers h;
	if (cli_read_message(stdin, &msg) < 0 || headers_parse(&h, msg.p ? msg.p : "", msg.len) < 0) {
		fprintf(stderr, "mxscreen dkim: cannot read the message (or header too large)\n");
		buf_free(&msg);
		goto out;
	}
	if (dkim_sign(&sig, &h, &o, err, sizeof(err)) < 0) {
		fprintf(stderr, "mxscreen dkim: %s\n", err);
	} else {
		fwrite(sig.p, 1, sig.len, stdout);
		fwrite(msg.p, 1, msg.len, stdout);
		rc = fflush(stdout) ? EXIT_BUG : EXIT_OK;
	}
	headers_free(&h);
	buf_free(&msg);
	buf_free(&sig);
out:
	EVP_PKEY_free(key);
	return rc;
}
