/*
 * pra.h - the Purported Responsible Address of RFC 4407 section 2.
 *
 * Walks the header block of a message (unfolded, RFC 5322 2.2.3) and applies
 * the selection steps: Resent-Sender (unless it belongs to an earlier
 * resending block than the first Resent-From), Resent-From, Sender, From; a
 * header that holds several mailboxes or none with a domain makes the PRA
 * undeterminable (step 6). Not here: RFC 2047 decoding (addresses are ASCII or
 * UTF-8 as received), obsolete route syntax beyond dropping it.
 */
#ifndef MX_AUTH_PRA_H
#define MX_AUTH_PRA_H

#include "core/limits.h"

#include <stdbool.h>
#include <stddef.h>

struct pra {
	char header[16];                 /* "Resent-Sender", "Resent-From", "Sender", "From" */
	char mailbox[SMTP_PATH_MAX + 1]; /* local@domain */
	const char *domain;              /* into mailbox */
};

/* 0 with out filled, or -1 when the PRA cannot be determined (RFC 4407 2, step 6). */
int pra_select(const char *msg, size_t len, struct pra *out);
/* One mailbox from a header value: 0, or -1 when none or several (exposed for tests). */
int pra_mailbox(const char *v, size_t n, char *out, size_t outlen);

#endif
