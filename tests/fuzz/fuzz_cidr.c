/*
 * fuzz_cidr.c - CIDR prefix parsing and config lists of prefixes (src/reputation/cidr.c).
 *
 * Checks what must hold for any input: a parsed prefix formats to text that
 * parses back to the same prefix and contains its own network address; every
 * entry a list adds is found again by a lookup of its network address.
 */
#include "reputation/cidr.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cidr c, again;
	char text[CIDR_TEXT_MAX];
	if (cidr_parse((const char *)data, size, &c) == 0) {
		if (cidr_format(&c, text, sizeof(text)) != 0 ||
		    cidr_parse(text, strlen(text), &again) != 0 || !cidr_equal(&c, &again))
			abort();
		struct cidr host = c;
		host.prefix = c.family == AF_INET ? 32 : 128;
		if (!cidr_contains(&c, &host))
			abort();
	}
	if (size > 4096)
		return 0;
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	char out[INET6_ADDRSTRLEN], key[CIDR_TEXT_MAX];
	if (ip_normalize(s, out, sizeof(out)) == 0 && ip_range_key(s, key, sizeof(key)) != 0)
		abort();
	struct cidr_set *set = cidr_set_new();
	char err[256];
	if (set && cidr_set_parse_list(set, s, (struct cidr_tag){ 1, NULL }, "fuzz", err,
				       sizeof(err)) == 0) {
		size_t cur = 0;
		const struct cidr_entry *e;
		while ((e = cidr_set_next(set, &cur))) {
			struct cidr host = e->net;
			host.prefix = host.family == AF_INET ? 32 : 128;
			const struct cidr_entry *f = cidr_set_lookup_cidr(set, &host);
			if (!f || f->net.prefix < e->net.prefix)
				abort();
		}
		cur = 0;
		while ((e = cidr_set_next(set, &cur))) {
			struct cidr net = e->net;
			if (cidr_set_remove(set, &net) != 1)
				abort();
			cur = 0;
		}
		if (cidr_set_count(set) != 0)
			abort();
	}
	cidr_set_free(set);
	free(s);
	return 0;
}
