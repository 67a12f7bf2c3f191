/*
 * fuzz_spf_record.c - the SPF record parser (RFC 7208 4.6.1) on arbitrary bytes.
 */
#include "auth/spf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *t = malloc(size + 1);
	if (!t)
		return 0;
	memcpy(t, data, size);
	t[size] = '\0';
	struct spf_record rec;
	char err[160];
	size_t skip = size >= 6 ? 6 : 0;
	if (spf_parse_record(t, size, skip, &rec, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < rec.nterms; i++) {
			const struct spf_term *term = &rec.terms[i];
			if (term->spec.len && !spf_domain_spec_ok(term->spec.p, term->spec.len))
				abort(); /* the parser accepted a spec the checker refuses */
			if (term->text.p < t || term->text.p + term->text.len > t + size)
				abort();
		}
		free(rec.terms);
	}
	free(t);
	return 0;
}
