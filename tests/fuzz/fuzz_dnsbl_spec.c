/*
 * fuzz_dnsbl_spec.c - the dnsbl_zones/dnswl_zones list parser (src/reputation/dnsbl.c),
 * and the answer rules on what it parsed.
 *
 * For any accepted list: bounds hold (zones, weights, symbol names), and
 * answers made from the input's own bytes give hits whose weights add up to
 * the totals, never from a refusal code or outside 127.0.0.0/8.
 */
#include "core/limits.h"
#include "core/log.h"
#include "net/dns.h"
#include "reputation/dnsbl.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_answers(const struct dnsbl_zones *z, const uint8_t *data, size_t size)
{
	struct dnsbl_result r;
	if (dnsbl_result_prepare(&r, z->allow ? NULL : z, z->allow ? z : NULL, "192.0.2.1") < 0)
		return;
	struct dns_rr rr[16];
	memset(rr, 0, sizeof(rr));
	struct dns_answer a = { .refs = 1, .status = DNS_OK, .type = DNS_A, .rr = rr };
	for (size_t i = 0; i + 4 <= size && a.n < 16; i += 4, a.n++) {
		unsigned char b[4] = { 127, data[i + 1], data[i + 2], data[i + 3] };
		if (data[i] & 1) /* sometimes outside 127/8 */
			b[0] = data[i];
		memcpy(&rr[a.n].addr.a, b, 4);
	}
	for (size_t i = 0; i < r.nzones; i++)
		dnsbl_result_answer(&r, i, &a);
	int sum = 0;
	for (size_t i = 0; i < r.nhits; i++) {
		const struct dnsbl_hit *h = &r.hit[i];
		struct in_addr code;
		if (inet_pton(AF_INET, h->code, &code) != 1)
			abort();
		const unsigned char *b = (const unsigned char *)&code.s_addr;
		if (b[0] != 127 || (b[1] == 255 && b[2] == 255))
			abort();
		if (strncmp(h->symbol, z->allow ? "DNSWL_" : "DNSBL_", 6) != 0)
			abort();
		sum += h->weight;
	}
	if (sum != (z->allow ? r.allow_weight : r.block_weight))
		abort();
	dnsbl_result_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 8192)
		return 0;
	log_set_level(LOG_ERR); /* wildcard and refusal warnings are expected here */
	char *spec = malloc(size + 1);
	if (!spec)
		return 0;
	memcpy(spec, data, size);
	spec[size] = '\0';
	char err[512];
	for (int allow = 0; allow < 2; allow++) {
		struct dnsbl_zones *z = dnsbl_zones_parse(spec, allow, err, sizeof(err));
		if (!z)
			continue;
		size_t items = 0;
		if (z->n > DNSBL_ZONES_MAX)
			abort();
		for (size_t i = 0; i < z->n; i++) {
			if (strlen(z->zone[i].name) > DNSBL_ZONE_NAME_MAX || z->zone[i].nitems == 0)
				abort();
			for (size_t k = 0; k < z->zone[i].nitems; k++)
				if (z->zone[i].item[k].weight < 0 ||
				    z->zone[i].item[k].weight > DNSBL_WEIGHT_MAX)
					abort();
			items += z->zone[i].nitems;
		}
		if (items > DNSBL_ITEMS_MAX)
			abort();
		check_answers(z, data, size);
		dnsbl_zones_unref(z);
	}
	free(spec);
	return 0;
}
