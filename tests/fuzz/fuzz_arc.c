/*
 * fuzz_arc.c - a whole message through auth_check: ARC headers, DKIM
 * signatures, From and DMARC, with every TXT name answered from the first
 * line of the input (or NXDOMAIN), then Authentication-Results.
 */
#include "auth/auth.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	const char *nl = memchr(p, '\n', size);
	struct slice rec = { p, nl ? (size_t)(nl - p) : 0 };
	struct slice msg = nl ? (struct slice){ nl + 1, size - (size_t)(nl + 1 - p) }
			      : (struct slice){ p, size };
	struct auth_params ap = { .authserv_id = "mx.test", .now = 1700000000,
				  .spf_result = "pass", .spf_domain = "example.com" };
	struct auth_check *a = auth_check_new(msg, &ap);
	if (!a)
		return 0;
	const char *name;
	unsigned k = 0;
	while ((name = auth_check_next_query(a))) {
		struct txt_answer ans = { (enum txt_status)(k++ % 4), &rec, 1 };
		if (ans.status != TXT_OK)
			ans.n = 0;
		auth_check_answer(a, name, &ans);
	}
	auth_check_finish(a);
	struct buf out = { 0 };
	auth_check_results(a, &out);
	buf_free(&out);
	auth_check_free(a);
	struct buf stripped = { 0 };
	auth_strip_own_results(msg, "mx.test", &stripped);
	buf_free(&stripped);
	return 0;
}
