/*
 * fuzz_dmarc_record.c - DMARC record parser and the From address parser.
 */
#include "auth/dmarc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slice in = { (const char *)data, size };
	struct dmarc_record r;
	const char *why;
	if (dmarc_record_parse(&r, in, &why) == DMARC_RECORD_OK) {
		if (r.pct > 100 || strlen(r.rua) >= sizeof(r.rua) || strlen(r.fo) >= sizeof(r.fo))
			abort();
	}
	char doms[DMARC_FROM_DOMAINS_MAX][SMTP_DOMAIN_MAX + 1];
	size_t n;
	if (dmarc_from_domains(in, doms, DMARC_FROM_DOMAINS_MAX, &n) == 0) {
		if (n == 0 || n > DMARC_FROM_DOMAINS_MAX)
			abort();
		for (size_t i = 0; i < n; i++) {
			char org[SMTP_DOMAIN_MAX + 1];
			dmarc_org_domain(doms[i], org, sizeof(org));
		}
	}
	return 0;
}
