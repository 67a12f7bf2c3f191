/* Unit tests for the SMTP command line parser (src/smtp/command.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/limits.h"
#include "smtp/command.h"

/* Parses a NUL-terminated line; checks that every slice lies inside it. */
static enum smtp_parse_error parse(const char *line, struct smtp_command *c)
{
	size_t len = strlen(line);
	enum smtp_parse_error e = smtp_parse_command(line, len, c);
	const struct slice *s[] = { &c->arg, &c->path, &c->local, &c->domain };
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		if (!s[i]->p)
			continue;
		assert_true(s[i]->p >= line && s[i]->p + s[i]->len <= line + len);
	}
	return e;
}

static void assert_slice(struct slice s, const char *want)
{
	assert_int_equal(s.len, strlen(want));
	assert_memory_equal(s.p, want, s.len);
}

static enum smtp_parse_error mail(const char *arg, struct smtp_command *c)
{
	static char line[1024];
	snprintf(line, sizeof(line), "MAIL FROM:%s", arg);
	return parse(line, c);
}

static enum smtp_parse_error rcpt(const char *arg, struct smtp_command *c)
{
	static char line[1024];
	snprintf(line, sizeof(line), "RCPT TO:%s", arg);
	return parse(line, c);
}

static void test_every_verb(void **state)
{
	(void)state;
	static const struct {
		const char *line;
		enum smtp_verb verb;
	} cases[] = {
		{ "HELO a.example", SMTP_HELO },
		{ "EHLO a.example", SMTP_EHLO },
		{ "MAIL FROM:<a@b.example>", SMTP_MAIL },
		{ "RCPT TO:<a@b.example>", SMTP_RCPT },
		{ "DATA", SMTP_DATA },
		{ "RSET", SMTP_RSET },
		{ "NOOP", SMTP_NOOP },
		{ "NOOP anything goes", SMTP_NOOP },
		{ "QUIT", SMTP_QUIT },
		{ "VRFY user", SMTP_VRFY },
		{ "EXPN list", SMTP_EXPN },
		{ "HELP", SMTP_HELP },
		{ "HELP MAIL", SMTP_HELP },
		{ "STARTTLS", SMTP_STARTTLS },
		{ "AUTH PLAIN", SMTP_AUTH },
		{ "BDAT 10 LAST", SMTP_BDAT },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_command c;
		assert_int_equal(parse(cases[i].line, &c), SMTP_PARSE_OK);
		assert_int_equal(c.verb, cases[i].verb);
	}
}

static void test_verbs_case_insensitive(void **state)
{
	(void)state;
	struct smtp_command c;
	assert_int_equal(parse("ehlo a.example", &c), SMTP_PARSE_OK);
	assert_int_equal(c.verb, SMTP_EHLO);
	assert_int_equal(parse("Data", &c), SMTP_PARSE_OK);
	assert_int_equal(c.verb, SMTP_DATA);
	assert_int_equal(parse("StartTLS", &c), SMTP_PARSE_OK);
	assert_int_equal(c.verb, SMTP_STARTTLS);
	assert_int_equal(parse("mail from:<a@b.example>", &c), SMTP_PARSE_OK);
	assert_int_equal(c.verb, SMTP_MAIL);
	assert_int_equal(parse("rCpT tO:<a@b.example>", &c), SMTP_PARSE_OK);
	assert_int_equal(c.verb, SMTP_RCPT);
}

static void test_unknown_verbs(void **state)
{
	(void)state;
	const char *bad[] = { "", " ", "FOO", "MAILFROM:<a@b>", "MAIL:<a@b>", "EHLO\ta.example",
			      "HEL", "QUITX", "1234", "DATA\r", "\xc3\xa9HLO x" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct smtp_command c;
		assert_int_equal(parse(bad[i], &c), SMTP_PARSE_UNKNOWN);
		assert_int_equal(c.verb, SMTP_UNKNOWN);
	}
}

static void test_mail_plain(void **state)
{
	(void)state;
	struct smtp_command c;
	assert_int_equal(mail("<joe@Example.COM>", &c), SMTP_PARSE_OK);
	assert_slice(c.path, "joe@Example.COM");
	assert_slice(c.local, "joe");
	assert_slice(c.domain, "Example.COM");
	assert_false(c.null_path);
	assert_false(c.utf8);
	assert_false(c.has_size);
	assert_int_equal(c.body, SMTP_BODY_UNSPEC);
	assert_false(c.smtputf8);
	/* dot-atoms and every atext special */
	assert_int_equal(mail("<a.b.c@d.example>", &c), SMTP_PARSE_OK);
	assert_slice(c.local, "a.b.c");
	assert_int_equal(mail("<!#$%&'*+-/=?^_`{|}~@x.example>", &c), SMTP_PARSE_OK);
	assert_slice(c.local, "!#$%&'*+-/=?^_`{|}~");
	/* trailing spaces are harmless */
	assert_int_equal(mail("<a@b.example>   ", &c), SMTP_PARSE_OK);
}

static void test_null_path(void **state)
{
	(void)state;
	struct smtp_command c;
	assert_int_equal(mail("<>", &c), SMTP_PARSE_OK);
	assert_true(c.null_path);
	assert_int_equal(c.path.len, 0);
	assert_int_equal(mail("<> SIZE=100", &c), SMTP_PARSE_OK);
	assert_true(c.null_path);
	assert_true(c.has_size);
	assert_int_equal(c.size, 100);
	/* the null path is for MAIL only */
	assert_int_equal(rcpt("<>", &c), SMTP_PARSE_BAD_PATH);
	assert_int_equal(mail("<>x", &c), SMTP_PARSE_SYNTAX);
	assert_int_equal(mail("<", &c), SMTP_PARSE_BAD_PATH);
}

static void test_space_after_colon(void **state)
{
	(void)state;
	struct smtp_command c;
	assert_int_equal(parse("MAIL FROM: <a@b.example>", &c), SMTP_PARSE_OK);
	assert_slice(c.path, "a@b.example");
	assert_int_equal(parse("RCPT TO:  <a@b.example>", &c), SMTP_PARSE_OK);
	assert_slice(c.path, "a@b.example");
	assert_int_equal(parse("MAIL FROM: <>", &c), SMTP_PARSE_OK);
	assert_true(c.null_path);
	/* but not before the colon, and the path needs its brackets */
	assert_int_equal(parse("MAIL FROM :<a@b.example>", &c), SMTP_PARSE_SYNTAX);
	assert_int_equal(parse("MAIL TO:<a@b.example>", &c), SMTP_PARSE_SYNTAX);
	assert_int_equal(parse("RCPT FROM:<a@b.example>", &c), SMTP_PARSE_SYNTAX);
	assert_int_equal(parse("MAIL", &c), SMTP_PARSE_SYNTAX);
	assert_int_equal(mail("a@b.example", &c), SMTP_PARSE_BAD_PATH);
	assert_int_equal(mail("", &c), SMTP_PARSE_BAD_PATH);
	assert_int_equal(mail("<a@b.example", &c), SMTP_PARSE_BAD_PATH);
}

static void test_source_route(void **state)
{
	(void)state;
	struct smtp_command c;
	assert_int_equal(mail("<@relay.example:joe@b.example>", &c), SMTP_PARSE_OK);
	assert_slice(c.path, "joe@b.example");
	assert_slice(c.local, "joe");
	assert_slice(c.domain, "b.example");
	assert_int_equal(rcpt("<@r1.example,@r2.example:joe@b.example>", &c), SMTP_PARSE_OK);
	assert_slice(c.path, "joe@b.example");
	assert_int_equal(rcpt("<@r1.example joe@b.example>", &c), SMTP_PARSE_BAD_PATH);
	assert_int_equal(rcpt("<@r1.example:>", &c), SMTP_PARSE_BAD_PATH);
}

static void test_quoted_local_part(void **state)
{
	(void)state;
	struct smtp_command c;
	assert_int_equal(mail("<\"john doe\"@b.example>", &c), SMTP_PARSE_OK);
	assert_slice(c.local, "\"john doe\"");
	assert_slice(c.domain, "b.example");
	assert_int_equal(rcpt("<\"a\\\"b\\\\c\"@b.example>", &c), SMTP_PARSE_OK);
	assert_slice(c.local, "\"a\\\"b\\\\c\"");
	/* a '>' inside the quotes is not the end of the path */
	assert_int_equal(rcpt("<\"a>b\"@b.example>", &c), SMTP_PARSE_OK);
	assert_slice(c.local, "\"a>b\"");
	assert_slice(c.domain, "b.example");
	assert_slice(c.path, "\"a>b\"@b.example");
	assert_int_equal(rcpt("<\"a@b\"@c.example>", &c), SMTP_PARSE_OK);
	assert_slice(c.domain, "c.example");
	assert_int_equal(rcpt("<\"\"@b.example>", &c), SMTP_PARSE_OK);
	/* unterminated, escaped end quote, bad escape, nothing after */
	assert_int_equal(rcpt("<\"abc@b.example>", &c), SMTP_PARSE_BAD_PATH);
	assert_int_equal(rcpt("<\"abc\\\"@b.example>", &c), SMTP_PARSE_BAD_PATH);
	assert_int_equal(rcpt("<\"a\\\xc3\xa9\"@b.example>", &c), SMTP_PARSE_BAD_PATH);
	assert_int_equal(rcpt("<\"abc\">", &c), SMTP_PARSE_BAD_PATH);
	assert_int_equal(rcpt("<\"abc\"x@b.example>", &c), SMTP_PARSE_BAD_PATH);
	/* UTF-8 inside quotes is flagged */
	assert_int_equal(rcpt("<\"j\xc3\xb6rg\"@b.example>", &c), SMTP_PARSE_OK);
	assert_true(c.utf8);
}

static void test_address_literals(void **state)
{
	(void)state;
	struct smtp_command c;
	assert_int_equal(rcpt("<a@[192.0.2.1]>", &c), SMTP_PARSE_OK);
	assert_slice(c.domain, "[192.0.2.1]");
	assert_int_equal(rcpt("<a@[IPv6:2001:db8::1]>", &c), SMTP_PARSE_OK);
	assert_slice(c.domain, "[IPv6:2001:db8::1]");
	assert_int_equal(rcpt("<a@[ipv6:::1]>", &c), SMTP_PARSE_OK);
	assert_int_equal(rcpt("<a@[IPv6:::ffff:192.0.2.1]>", &c), SMTP_PARSE_OK);
	const char *bad[] = { "<a@[192.0.2.256]>", "<a@[192.0.2]>",	 "<a@[]>",
			      "<a@[2001:db8::1]>", "<a@[IPv6:192.0.2.1]>", "<a@[IPv6:]>",
			      "<a@[192.0.2.1>",    "<a@[192.0.2.1]x>",	 "<a@x[192.0.2.1]>",
			      "<a@[IPv6:1:2:3:4:5:6:7:8:9]>" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(rcpt(bad[i], &c), SMTP_PARSE_BAD_PATH);
	char lit[128];
	snprintf(lit, sizeof(lit), "<a@[IPv6:%s]>",
		 "0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000");
	assert_int_equal(rcpt(lit, &c), SMTP_PARSE_BAD_PATH);
}

static void test_bad_addresses(void **state)
{
	(void)state;
	const char *bad[] = {
		"<joe>",		 /* no domain */
		"<joe@>",		 /* empty domain */
		"<@b.example>",		 /* empty local part (and no route colon) */
		"<a@b..example>",	 /* empty label */
		"<a@.b.example>",	 /* leading dot */
		"<a@b.example.>",	 /* trailing dot */
		"<a@b-.example>",	 /* label ends with '-' */
		"<a@b.example->",	 /* trailing '-' */
		"<a@-b.example>",	 /* label starts with '-' */
		"<a@b_c.example>",	 /* '_' is no letter-digit-hyphen */
		"<a@b example>",	 /* space */
		"<.a@b.example>",	 /* local part starts with '.' */
		"<a.@b.example>",	 /* ends with '.' */
		"<a..b@b.example>",	 /* two dots */
		"<a b@b.example>",	 /* space in dot-string */
		"<a(b)@b.example>",	 /* specials */
		"<a,b@b.example>",
		"<a@b@c.example>",
		"<a@b.example",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct smtp_command c;
		enum smtp_parse_error e = rcpt(bad[i], &c);
		if (e != SMTP_PARSE_BAD_PATH)
			fail_msg("%s: got %d", bad[i], e);
	}
}

static void test_length_limits(void **state)
{
	(void)state;
	struct smtp_command c;
	char addr[600], label[80];
	/* a label of 63 octets is fine, 64 is not */
	memset(label, 'l', 63);
	label[63] = '\0';
	snprintf(addr, sizeof(addr), "<a@%s.example>", label);
	assert_int_equal(rcpt(addr, &c), SMTP_PARSE_OK);
	snprintf(addr, sizeof(addr), "<a@%sl.example>", label);
	assert_int_equal(rcpt(addr, &c), SMTP_PARSE_BAD_PATH);
	/* local part of 64 octets is fine, 65 is not */
	char local[70];
	memset(local, 'x', 64);
	local[64] = '\0';
	snprintf(addr, sizeof(addr), "<%s@b.example>", local);
	assert_int_equal(rcpt(addr, &c), SMTP_PARSE_OK);
	assert_int_equal(c.local.len, 64);
	snprintf(addr, sizeof(addr), "<%sx@b.example>", local);
	assert_int_equal(rcpt(addr, &c), SMTP_PARSE_BAD_PATH);
	/* path: "<" 64 "@" domain ">" of exactly 256 octets is fine, 257 too long */
	char dom[300];
	size_t dlen = 256 - 2 - 64 - 1; /* 189 */
	size_t k = 0;
	while (k < dlen) {
		size_t n = dlen - k > 50 ? 49 : dlen - k;
		memset(dom + k, 'd', n);
		k += n;
		if (k < dlen)
			dom[k++] = '.';
	}
	dom[dlen] = '\0';
	snprintf(addr, sizeof(addr), "<%s@%s>", local, dom);
	assert_int_equal(strlen(addr), 256);
	assert_int_equal(rcpt(addr, &c), SMTP_PARSE_OK);
	snprintf(addr, sizeof(addr), "<%s@d%s>", local, dom);
	assert_int_equal(strlen(addr), 257);
	assert_int_equal(rcpt(addr, &c), SMTP_PARSE_PATH_TOO_LONG);
	assert_int_equal(mail(addr, &c), SMTP_PARSE_PATH_TOO_LONG);
	/* a domain over 255 octets is a bad path whatever the rest */
	char bigdom[300];
	k = 0;
	while (k < 260) {
		memset(bigdom + k, 'z', 9);
		k += 9;
		bigdom[k++] = '.';
	}
	memcpy(bigdom + k, "com", 4);
	snprintf(addr, sizeof(addr), "<a@%s>", bigdom);
	enum smtp_parse_error e = rcpt(addr, &c);
	assert_true(e == SMTP_PARSE_BAD_PATH || e == SMTP_PARSE_PATH_TOO_LONG);
}

static void test_utf8_addresses(void **state)
{
	(void)state;
	struct smtp_command c;
	assert_int_equal(rcpt("<j\xc3\xb6rg@b.example>", &c), SMTP_PARSE_OK);
	assert_true(c.utf8);
	assert_int_equal(rcpt("<a@b\xc3\xbc\x63her.example>", &c), SMTP_PARSE_OK);
	assert_true(c.utf8);
	assert_int_equal(rcpt("<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.example>", &c),
			 SMTP_PARSE_OK);
	assert_true(c.utf8);
	assert_int_equal(rcpt("<\xf0\x9f\x98\x80@b.example>", &c), SMTP_PARSE_OK);
	assert_true(c.utf8);
	assert_int_equal(rcpt("<ascii@b.example>", &c), SMTP_PARSE_OK);
	assert_false(c.utf8);
	const char *bad[] = {
		"<j\xc3@b.example>",		/* truncated sequence */
		"<j\xb6rg@b.example>",		/* lone continuation */
		"<\xc0\xaf@b.example>",		/* overlong '/' */
		"<\xe0\x80\xaf@b.example>",	/* overlong */
		"<\xed\xa0\x80@b.example>",	/* surrogate */
		"<\xf4\x90\x80\x80@b.example>", /* above U+10FFFF */
		"<\xff@b.example>",
		"<a@b\xc3.example>",
		"<a@\xc3\xb6\xc3.example>",
		"<\"\xc3\"@b.example>",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum smtp_parse_error e = rcpt(bad[i], &c);
		if (e != SMTP_PARSE_BAD_PATH)
			fail_msg("case %zu: got %d", i, e);
	}
	assert_true(smtp_valid_utf8("", 0));
	assert_true(smtp_valid_utf8("\xf4\x8f\xbf\xbf", 4));
	assert_false(smtp_valid_utf8("\xf4\x8f\xbf", 3));
	assert_false(smtp_valid_utf8("\xf8\x88\x80\x80\x80", 5));
}

static void test_postmaster(void **state)
{
	(void)state;
	struct smtp_command c;
	assert_int_equal(rcpt("<postmaster>", &c), SMTP_PARSE_OK);
	assert_true(c.postmaster);
	assert_slice(c.local, "postmaster");
	assert_int_equal(c.domain.len, 0);
	assert_int_equal(rcpt("<PostMaster>", &c), SMTP_PARSE_OK);
	assert_true(c.postmaster);
	assert_int_equal(rcpt("<postmaster@b.example>", &c), SMTP_PARSE_OK);
	assert_false(c.postmaster);
	assert_slice(c.domain, "b.example");
	/* only RCPT has the domain-less postmaster */
	assert_int_equal(mail("<postmaster>", &c), SMTP_PARSE_BAD_PATH);
	assert_int_equal(rcpt("<postmasters>", &c), SMTP_PARSE_BAD_PATH);
	assert_int_equal(rcpt("<postmaster> FOO=1", &c), SMTP_PARSE_BAD_PARAM);
}

static void test_size_param(void **state)
{
	(void)state;
	struct smtp_command c;
	assert_int_equal(mail("<a@b.example> SIZE=12345", &c), SMTP_PARSE_OK);
	assert_true(c.has_size);
	assert_int_equal(c.size, 12345);
	assert_int_equal(mail("<a@b.example> size=0", &c), SMTP_PARSE_OK);
	assert_true(c.has_size);
	assert_int_equal(c.size, 0);
	assert_int_equal(mail("<a@b.example>  SIZE=7  ", &c), SMTP_PARSE_OK);
	assert_int_equal(c.size, 7);
	/* RFC 1870 size-value is 1*20DIGIT; what does not fit 64 bits saturates */
	assert_int_equal(mail("<a@b.example> SIZE=18446744073709551615", &c), SMTP_PARSE_OK);
	assert_true(c.size == UINT64_MAX);
	assert_int_equal(mail("<a@b.example> SIZE=18446744073709551616", &c), SMTP_PARSE_OK);
	assert_true(c.size == UINT64_MAX);
	assert_int_equal(mail("<a@b.example> SIZE=99999999999999999999", &c), SMTP_PARSE_OK);
	assert_true(c.size == UINT64_MAX);
	assert_int_equal(mail("<a@b.example> SIZE=00000000000000000042", &c), SMTP_PARSE_OK);
	assert_int_equal(c.size, 42);
	const char *bad[] = { "<a@b.example> SIZE=123456789012345678901", "<a@b.example> SIZE",
			      "<a@b.example> SIZE=", "<a@b.example> SIZE=12a",
			      "<a@b.example> SIZE=-1", "<a@b.example> SIZE=+1",
			      "<a@b.example> SIZE=1 SIZE=2", "<a@b.example> SIZE=0x10" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum smtp_parse_error e = mail(bad[i], &c);
		if (e != SMTP_PARSE_BAD_PARAM)
			fail_msg("%s: got %d", bad[i], e);
	}
	assert_int_equal(mail("<a@b.example> SIZE=1=2", &c), SMTP_PARSE_SYNTAX);
}

static void test_body_param(void **state)
{
	(void)state;
	struct smtp_command c;
	assert_int_equal(mail("<a@b.example> BODY=7BIT", &c), SMTP_PARSE_OK);
	assert_int_equal(c.body, SMTP_BODY_7BIT);
	assert_int_equal(mail("<a@b.example> body=8bitmime", &c), SMTP_PARSE_OK);
	assert_int_equal(c.body, SMTP_BODY_8BITMIME);
	assert_int_equal(mail("<a@b.example> BODY=BINARYMIME", &c), SMTP_PARSE_BAD_PARAM);
	assert_int_equal(mail("<a@b.example> BODY=", &c), SMTP_PARSE_BAD_PARAM);
	assert_int_equal(mail("<a@b.example> BODY", &c), SMTP_PARSE_BAD_PARAM);
	assert_int_equal(mail("<a@b.example> BODY=7BIT BODY=7BIT", &c), SMTP_PARSE_BAD_PARAM);
	assert_int_equal(mail("<a@b.example> BODY=8BITMIME SIZE=10 SMTPUTF8", &c), SMTP_PARSE_OK);
	assert_int_equal(c.body, SMTP_BODY_8BITMIME);
	assert_int_equal(c.size, 10);
	assert_true(c.smtputf8);
}

static void test_smtputf8_param(void **state)
{
	(void)state;
	struct smtp_command c;
	assert_int_equal(mail("<j\xc3\xb6rg@b.example> SMTPUTF8", &c), SMTP_PARSE_OK);
	assert_true(c.smtputf8);
	assert_true(c.utf8);
	assert_int_equal(mail("<a@b.example> smtputf8", &c), SMTP_PARSE_OK);
	assert_true(c.smtputf8);
	assert_false(c.utf8);
	assert_int_equal(mail("<a@b.example> SMTPUTF8=yes", &c), SMTP_PARSE_BAD_PARAM);
	assert_int_equal(mail("<a@b.example> SMTPUTF8=", &c), SMTP_PARSE_BAD_PARAM);
	assert_int_equal(mail("<a@b.example> SMTPUTF8 SMTPUTF8", &c), SMTP_PARSE_BAD_PARAM);
}

static void test_unknown_params(void **state)
{
	(void)state;
	struct smtp_command c;
	assert_int_equal(mail("<a@b.example> RET=HDRS", &c), SMTP_PARSE_BAD_PARAM);
	assert_int_equal(mail("<a@b.example> AUTH=<>", &c), SMTP_PARSE_BAD_PARAM);
	assert_int_equal(mail("<a@b.example> X-FOO", &c), SMTP_PARSE_BAD_PARAM);
	/* MAIL parameters are not RCPT parameters */
	assert_int_equal(rcpt("<a@b.example> SIZE=10", &c), SMTP_PARSE_BAD_PARAM);
	assert_int_equal(rcpt("<a@b.example> BODY=7BIT", &c), SMTP_PARSE_BAD_PARAM);
	assert_int_equal(rcpt("<a@b.example> SMTPUTF8", &c), SMTP_PARSE_BAD_PARAM);
	assert_int_equal(rcpt("<a@b.example> NOTIFY=NEVER", &c), SMTP_PARSE_BAD_PARAM);
	/* malformed parameter syntax */
	assert_int_equal(mail("<a@b.example>SIZE=10", &c), SMTP_PARSE_SYNTAX);
	assert_int_equal(mail("<a@b.example> =10", &c), SMTP_PARSE_SYNTAX);
	assert_int_equal(mail("<a@b.example> SI_ZE=10", &c), SMTP_PARSE_SYNTAX);
	assert_int_equal(mail("<a@b.example> SIZE=\xc3\xa9", &c), SMTP_PARSE_SYNTAX);
	/* more parameters than we ever advertise */
	char many[512] = "<a@b.example>";
	for (int i = 0; i < SMTP_PARAMS_MAX + 1; i++)
		strcat(many, " X");
	assert_int_equal(mail(many, &c), SMTP_PARSE_BAD_PARAM);
}

static void test_control_characters(void **state)
{
	(void)state;
	struct smtp_command c;
	const char *bad[] = { "MAIL FROM:<a@b.example>\r", "MAIL FROM:<a\x01@b.example>",
			      "RCPT TO:<a@b.example>\x7f", "EHLO a\tb", "HELO a\x1b", "VRFY a\nb" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse(bad[i], &c), SMTP_PARSE_SYNTAX);
	/* a NUL is a control character too: the length is what counts */
	static const char nul_noop[] = "NOOP \0x";
	assert_int_equal(smtp_parse_command(nul_noop, sizeof(nul_noop) - 1, &c), SMTP_PARSE_SYNTAX);
	static const char nul_mail[] = "MAIL FROM:<a@b\0c>";
	assert_int_equal(smtp_parse_command(nul_mail, sizeof(nul_mail) - 1, &c), SMTP_PARSE_SYNTAX);
}

static void test_helo_ehlo(void **state)
{
	(void)state;
	struct smtp_command c;
	assert_int_equal(parse("EHLO client.example", &c), SMTP_PARSE_OK);
	assert_slice(c.arg, "client.example");
	assert_int_equal(parse("HELO [192.0.2.1]", &c), SMTP_PARSE_OK);
	assert_slice(c.arg, "[192.0.2.1]");
	/* only the first word is kept */
	assert_int_equal(parse("EHLO client.example extra words", &c), SMTP_PARSE_OK);
	assert_slice(c.arg, "client.example");
	assert_int_equal(parse("EHLO", &c), SMTP_PARSE_SYNTAX);
	assert_int_equal(parse("EHLO ", &c), SMTP_PARSE_SYNTAX);
	assert_int_equal(parse("HELO", &c), SMTP_PARSE_SYNTAX);
	char line[SMTP_HELO_MAX + 16];
	memcpy(line, "EHLO ", 5);
	memset(line + 5, 'h', SMTP_HELO_MAX);
	line[5 + SMTP_HELO_MAX] = '\0';
	assert_int_equal(parse(line, &c), SMTP_PARSE_OK);
	assert_int_equal(c.arg.len, SMTP_HELO_MAX);
	line[5 + SMTP_HELO_MAX] = 'h';
	line[6 + SMTP_HELO_MAX] = '\0';
	assert_int_equal(parse(line, &c), SMTP_PARSE_SYNTAX);
}

static void test_no_argument_verbs(void **state)
{
	(void)state;
	struct smtp_command c;
	const char *bad[] = { "DATA x", "RSET now", "QUIT bye", "STARTTLS please" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse(bad[i], &c), SMTP_PARSE_SYNTAX);
	assert_int_equal(parse("DATA", &c), SMTP_PARSE_OK);
	assert_int_equal(c.arg.len, 0);
	assert_int_equal(parse("QUIT", &c), SMTP_PARSE_OK);
}

static void expect_text(enum smtp_parse_error e, enum smtp_verb v, int code, const char *enh)
{
	int got_code = 0;
	const char *got_enh = NULL;
	const char *text = smtp_parse_error_text(e, v, &got_code, &got_enh);
	assert_non_null(text);
	assert_true(text[0] != '\0');
	assert_int_equal(got_code, code);
	assert_string_equal(got_enh, enh);
}

static void test_error_text(void **state)
{
	(void)state;
	expect_text(SMTP_PARSE_OK, SMTP_NOOP, 250, "2.0.0");
	expect_text(SMTP_PARSE_UNKNOWN, SMTP_UNKNOWN, 500, "5.5.1");
	expect_text(SMTP_PARSE_SYNTAX, SMTP_EHLO, 501, "5.5.4");
	expect_text(SMTP_PARSE_BAD_PATH, SMTP_MAIL, 501, "5.1.7");
	expect_text(SMTP_PARSE_BAD_PATH, SMTP_RCPT, 501, "5.1.3");
	expect_text(SMTP_PARSE_PATH_TOO_LONG, SMTP_MAIL, 501, "5.1.7");
	expect_text(SMTP_PARSE_PATH_TOO_LONG, SMTP_RCPT, 501, "5.1.3");
	expect_text(SMTP_PARSE_BAD_PARAM, SMTP_MAIL, 555, "5.5.4");
	expect_text(SMTP_PARSE_BAD_PARAM, SMTP_RCPT, 555, "5.5.4");
	int code;
	const char *enh;
	assert_string_equal(smtp_parse_error_text(SMTP_PARSE_BAD_PATH, SMTP_MAIL, &code, &enh),
			    "Bad sender address syntax");
	assert_string_equal(smtp_parse_error_text(SMTP_PARSE_BAD_PATH, SMTP_RCPT, &code, &enh),
			    "Bad recipient address syntax");
}

static void test_valid_domain(void **state)
{
	(void)state;
	bool utf8 = false;
	assert_true(smtp_valid_domain("a", 1, false, NULL));
	assert_true(smtp_valid_domain("x-1.example", 11, false, &utf8));
	assert_false(utf8);
	assert_false(smtp_valid_domain("", 0, false, NULL));
	assert_false(smtp_valid_domain("[192.0.2.1]", 11, false, NULL));
	assert_true(smtp_valid_domain("[192.0.2.1]", 11, true, NULL));
	assert_true(smtp_valid_domain("b\xc3\xbc.example", 11, false, &utf8));
	assert_true(utf8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_verb),
		cmocka_unit_test(test_verbs_case_insensitive),
		cmocka_unit_test(test_unknown_verbs),
		cmocka_unit_test(test_mail_plain),
		cmocka_unit_test(test_null_path),
		cmocka_unit_test(test_space_after_colon),
		cmocka_unit_test(test_source_route),
		cmocka_unit_test(test_quoted_local_part),
		cmocka_unit_test(test_address_literals),
		cmocka_unit_test(test_bad_addresses),
		cmocka_unit_test(test_length_limits),
		cmocka_unit_test(test_utf8_addresses),
		cmocka_unit_test(test_postmaster),
		cmocka_unit_test(test_size_param),
		cmocka_unit_test(test_body_param),
		cmocka_unit_test(test_smtputf8_param),
		cmocka_unit_test(test_unknown_params),
		cmocka_unit_test(test_control_characters),
		cmocka_unit_test(test_helo_ehlo),
		cmocka_unit_test(test_no_argument_verbs),
		cmocka_unit_test(test_error_text),
		cmocka_unit_test(test_valid_domain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
