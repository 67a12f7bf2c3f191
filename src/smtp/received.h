/*
 * received.h - the Received trace header (RFC 5321 4.4, RFC 5322 3.6.7).
 *
 * from <HELO> (<rDNS or unknown> [<IP>]) by <hostname> (mxscreen)
 * with <SMTP|ESMTP|ESMTPS|UTF8SMTP|UTF8SMTPS> (<TLS version> <cipher>)
 * id <message id> [for <recipient>]; <RFC 5322 date>
 * Protocol names are from the IANA Mail Transmission Types registry
 * (RFC 3848, RFC 6531). `for` is written only with a single recipient, so
 * one copy never reveals the others' addresses.
 */
#ifndef MX_SMTP_RECEIVED_H
#define MX_SMTP_RECEIVED_H

#include "core/buf.h"

#include <stdbool.h>
#include <time.h>

struct received_info {
	const char *helo;
	const char *rdns; /* NULL: unknown */
	const char *ip;
	const char *hostname;
	bool esmtp, smtputf8;
	const char *tls_version, *tls_cipher; /* NULL without TLS */
	const char *id;
	const char *rcpt; /* NULL: more than one recipient */
	time_t when;
};

int received_header(struct buf *out, const struct received_info *ri);
/* RFC 5322 3.3 date-time in UTC, into out (at least 40 octets). */
void received_date(char *out, size_t outlen, time_t when);

#endif
