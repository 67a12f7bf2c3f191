/*
 * fuzz_features.c - MIME -> features: GMime parsing, decoding, HTML to text and
 * every feature family on arbitrary input, with names (the slower, fuller path)
 * and without. Checks the bounds the classifier relies on, and that the light
 * path gives exactly GMime's features in GMime's order (features.c promises it:
 * the score is a float sum in that order), and that the names the server makes
 * on demand (FEAT_ORIGINS) are the names FEAT_NAMES keeps; and the site-neutral
 * reading (FEAT_SITE_NEUTRAL) on the same input.
 */
#include "content/features.h"
#include "core/limits.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct features a, b;
	features_init(&a, FEAT_NAMES);
	features_init(&b, 0);
	if (features_extract(&a, (const char *)data, size) == 0 &&
	    features_extract(&b, (const char *)data, size) == 0) {
		/* the names do not change what is extracted */
		if (a.n != b.n || a.n > CONTENT_FEATURES_MAX ||
		    memcmp(a.hash, b.hash, a.n * sizeof(*a.hash)) != 0)
			abort();
		for (size_t i = 0; i < a.n; i++)
			if (features_hash_name(features_name(&a, i)) != a.hash[i] &&
			    strncmp(features_name(&a, i), "g:", 2) != 0 &&
			    strncmp(features_name(&a, i), "p:", 2) != 0 &&
			    strchr(features_name(&a, i), '\\') == NULL)
				abort(); /* a family hashed differently from its name */
	}
	struct features o;
	features_init(&o, FEAT_ORIGINS);
	if (features_extract(&a, (const char *)data, size) == 0 &&
	    features_extract(&o, (const char *)data, size) == 0) {
		if (a.n != o.n || memcmp(a.hash, o.hash, a.n * sizeof(*a.hash)) != 0)
			abort();
		char name[512];
		for (size_t i = 0; i < o.n; i++) {
			int cut = features_name_format(&o, i, name, sizeof(name));
			if (strncmp(name, features_name(&a, i), sizeof(name) - 1) != 0 ||
			    (cut == 0) != (strlen(features_name(&a, i)) < sizeof(name)))
				abort(); /* a name made on demand differs */
		}
	}
	features_free(&o);
	/* the site-neutral copy of the message (a header-line scanner of its own) */
	struct features sn;
	features_init(&sn, FEAT_SITE_NEUTRAL | FEAT_ORIGINS);
	if (features_extract(&sn, (const char *)data, size) == 0 &&
	    (sn.n > CONTENT_FEATURES_MAX || sn.ngrams > sn.n || sn.neutral.len > size))
		abort();
	features_free(&sn);
	struct features g;
	features_init(&g, FEAT_NO_LIGHT);
	if (features_extract(&b, (const char *)data, size) == 0 &&
	    features_extract(&g, (const char *)data, size) == 0) {
		if (b.n != g.n || memcmp(b.hash, g.hash, b.n * sizeof(*b.hash)) != 0)
			abort(); /* light path and GMime disagree */
	}
	features_free(&g);
	features_free(&a);
	features_free(&b);
	return 0;
}
