/*
 * fuzz_store_day.c - the day parser of the store (`dmarc aggregate --day`).
 */
#include "store/store.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[11];
	if (store_day_parse((const char *)data, size, out) == 0) {
		/* Accepted: exactly the input, digits and dashes, a real month and day. */
		if (size != 10 || memcmp(out, data, 10) != 0 || out[10] != '\0' || out[4] != '-' ||
		    out[7] != '-')
			abort();
		int m = (out[5] - '0') * 10 + (out[6] - '0'), d = (out[8] - '0') * 10 + (out[9] - '0');
		if (m < 1 || m > 12 || d < 1 || d > 31)
			abort();
	}
	return 0;
}
