/*
 * command.h - SMTP command line parser (RFC 5321 4.1, 4.1.2; RFC 1870, 6152, 6531).
 *
 * Parses one complete command line (without its CRLF) into a verb and, for
 * MAIL and RCPT, the reverse/forward path and the ESMTP parameters we
 * advertise: SIZE, BODY=7BIT|8BITMIME, SMTPUTF8. Addresses are checked against
 * the RFC 5321 grammar (dot-string or quoted local part, domain or address
 * literal, length limits); UTF-8 is accepted in them (RFC 6531) and flagged,
 * so the session can insist on the SMTPUTF8 parameter.
 * The parser borrows the line: slices in struct smtp_command point into it.
 * It does not know session state; ordering is the session's job.
 */
#ifndef MX_SMTP_COMMAND_H
#define MX_SMTP_COMMAND_H

#include "core/buf.h"

#include <stdbool.h>
#include <stdint.h>

enum smtp_verb {
	SMTP_UNKNOWN,
	SMTP_HELO,
	SMTP_EHLO,
	SMTP_MAIL,
	SMTP_RCPT,
	SMTP_DATA,
	SMTP_RSET,
	SMTP_NOOP,
	SMTP_QUIT,
	SMTP_VRFY,
	SMTP_EXPN,
	SMTP_HELP,
	SMTP_STARTTLS,
	SMTP_AUTH,
	SMTP_BDAT,
};

enum smtp_body { SMTP_BODY_UNSPEC, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME };

/* What went wrong, each mapped to one reply by smtp_parse_reply(). */
enum smtp_parse_error {
	SMTP_PARSE_OK,
	SMTP_PARSE_UNKNOWN,      /* 500 5.5.1 */
	SMTP_PARSE_SYNTAX,       /* 501 5.5.4 */
	SMTP_PARSE_BAD_PATH,     /* 501 5.1.3 (RCPT) / 5.1.7 (MAIL) */
	SMTP_PARSE_PATH_TOO_LONG,/* 501 5.1.3 / 5.1.7 */
	SMTP_PARSE_BAD_PARAM,    /* 555 5.5.4 */
};

struct smtp_command {
	enum smtp_verb verb;
	struct slice arg;        /* everything after the verb and one space */
	/* MAIL/RCPT */
	struct slice path;       /* mailbox without <> and source route; empty for <> */
	struct slice local, domain;
	bool null_path;          /* MAIL FROM:<> */
	bool postmaster;         /* RCPT TO:<postmaster> without domain */
	bool utf8;               /* the mailbox has non-ASCII octets */
	bool has_size;
	uint64_t size;
	enum smtp_body body;
	bool smtputf8;
};

enum smtp_parse_error smtp_parse_command(const char *line, size_t len, struct smtp_command *cmd);
/* The reply text for a parse error (code and enhanced code included). */
const char *smtp_parse_error_text(enum smtp_parse_error e, enum smtp_verb verb, int *code,
				  const char **enh);
/* Validates a domain (RFC 5321 Domain, or address literal when brackets are allowed). */
bool smtp_valid_domain(const char *p, size_t len, bool allow_literal, bool *utf8);
/* True when [p, p+len) is well-formed UTF-8 (RFC 3629). */
bool smtp_valid_utf8(const char *p, size_t len);

#endif
