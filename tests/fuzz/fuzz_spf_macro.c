/*
 * fuzz_spf_macro.c - the SPF macro expander (RFC 7208 7) on arbitrary macro-strings.
 *
 * The first byte picks domain-spec or explanation mode and IPv4 or IPv6.
 */
#include "auth/spf.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool explain = data[0] & 1;
	struct spf_macro_ctx c = {
		.sender = "strong-bad@email.example.com",
		.local = "strong-bad",
		.sender_domain = "email.example.com",
		.domain = "email.example.com",
		.ip = (data[0] & 2) ? "2001:db8::cb01" : "192.0.2.3",
		.helo = "mx.example.org",
		.receiver = "mx.test",
		.ptr = (data[0] & 4) ? "mx.example.org" : NULL,
		.now = 1700000000,
	};
	struct buf out = { 0 };
	int rc = spf_macro_expand(&c, (const char *)data + 1, size - 1, explain, &out);
	if (rc == SPF_MACRO_OK && out.len > 0 && !out.p)
		abort();
	buf_free(&out);
	(void)spf_domain_spec_ok((const char *)data + 1, size - 1);
	return 0;
}
