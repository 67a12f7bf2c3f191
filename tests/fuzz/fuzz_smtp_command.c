/*
 * fuzz_smtp_command.c - libFuzzer target for the SMTP command parser
 * (src/smtp/command.c).
 *
 * The input is one command line without its CRLF. Beyond "no crash", checks
 * the parser's promises: every slice points into the line, lengths respect
 * the RFC 5321 limits, flags agree with the verb, and every result maps to a
 * reply. The line is copied into an exact-size heap block so ASan sees any
 * read past its end.
 */
#include "core/limits.h"
#include "smtp/command.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_slice(struct slice s, const char *line, size_t len)
{
	if (s.len == 0)
		return;
	if (!s.p || s.p < line || s.p + s.len > line + len)
		abort();
}

static bool same_slice(struct slice a, struct slice b)
{
	return a.p == b.p && a.len == b.len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4 * SMTP_COMMAND_LINE_MAX)
		return 0;
	char *line = malloc(size ? size : 1);
	if (!line)
		return 0;
	if (size)
		memcpy(line, data, size);
	struct smtp_command c;
	enum smtp_parse_error e = smtp_parse_command(line, size, &c);
	check_slice(c.arg, line, size);
	check_slice(c.path, line, size);
	check_slice(c.local, line, size);
	check_slice(c.domain, line, size);
	int code = 0;
	const char *enh = NULL;
	const char *text = smtp_parse_error_text(e, c.verb, &code, &enh);
	if (!text || !enh || code < 200 || code > 599)
		abort();
	if (e == SMTP_PARSE_UNKNOWN && c.verb != SMTP_UNKNOWN)
		abort();
	if (e == SMTP_PARSE_OK) {
		if (c.verb == SMTP_UNKNOWN)
			abort();
		/* nothing accepted carries a control character */
		for (size_t i = 0; i < c.arg.len; i++)
			if ((unsigned char)c.arg.p[i] < 32 || c.arg.p[i] == 127)
				abort();
		if ((c.verb == SMTP_HELO || c.verb == SMTP_EHLO) &&
		    (c.arg.len == 0 || c.arg.len > SMTP_HELO_MAX))
			abort();
		if (c.verb == SMTP_MAIL || c.verb == SMTP_RCPT) {
			if (c.null_path && (c.verb != SMTP_MAIL || c.path.len))
				abort();
			if (c.postmaster && c.verb != SMTP_RCPT)
				abort();
			if (!c.null_path && !c.postmaster) {
				if (c.local.len == 0 || c.local.len > SMTP_LOCAL_PART_MAX ||
				    c.domain.len == 0 || c.domain.len > SMTP_DOMAIN_MAX ||
				    c.path.len + 2 > SMTP_PATH_MAX)
					abort();
				/* path is exactly local "@" domain */
				if (c.path.p != c.local.p ||
				    c.path.len != c.local.len + 1 + c.domain.len ||
				    c.local.p[c.local.len] != '@' ||
				    c.domain.p != c.local.p + c.local.len + 1)
					abort();
				bool utf8 = false;
				if (!smtp_valid_domain(c.domain.p, c.domain.len, true, &utf8))
					abort();
				if (!smtp_valid_utf8(c.path.p, c.path.len))
					abort();
				bool high = false;
				for (size_t i = 0; i < c.path.len; i++)
					high |= (unsigned char)c.path.p[i] >= 0x80;
				if (high != c.utf8)
					abort();
			}
		} else if (c.has_size || c.body || c.smtputf8 || c.null_path || c.postmaster) {
			abort();
		}
		if ((c.verb == SMTP_DATA || c.verb == SMTP_RSET || c.verb == SMTP_QUIT ||
		     c.verb == SMTP_STARTTLS) &&
		    c.arg.len)
			abort();
	}
	/* The parser is a pure function of the line. */
	struct smtp_command a;
	if (smtp_parse_command(line, size, &a) != e || a.verb != c.verb ||
	    !same_slice(a.arg, c.arg) || !same_slice(a.path, c.path) ||
	    !same_slice(a.local, c.local) || !same_slice(a.domain, c.domain) ||
	    a.null_path != c.null_path || a.postmaster != c.postmaster || a.utf8 != c.utf8 ||
	    a.has_size != c.has_size || a.size != c.size || a.body != c.body ||
	    a.smtputf8 != c.smtputf8)
		abort();
	free(line);
	return 0;
}
