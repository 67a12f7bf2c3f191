/*
 * txt.h - the narrow DNS seam of message authentication.
 *
 * DKIM, ARC and DMARC never resolve names themselves. Each verifier lists the
 * TXT names it needs, is handed each answer (the TXT records, or NODATA,
 * NXDOMAIN, TEMPFAIL) and then finishes. Whoever drives it (the SMTP session
 * over the asynchronous resolver, the CLI, a unit test with keys given
 * directly) owns the lookups, their concurrency and their cache.
 */
#ifndef MX_AUTH_TXT_H
#define MX_AUTH_TXT_H

#include "core/buf.h"

#include <stddef.h>

/* Same order as enum dns_status of net/dns.h. */
enum txt_status { TXT_OK, TXT_NODATA, TXT_NXDOMAIN, TXT_TEMPFAIL };

/* One answer: for TXT_OK, n records, each the concatenation of its strings. */
struct txt_answer {
	enum txt_status status;
	const struct slice *rec;
	size_t n;
};

#endif
