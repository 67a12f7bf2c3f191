/*
 * recipients.h - the table of valid local recipients (setting `recipients`).
 *
 * `any` accepts every local part of a local domain. Otherwise the file lists
 * one address per line (`#` comments); lookups are case-insensitive. The
 * postmaster of every local domain always exists (RFC 5321 4.5.1).
 */
#ifndef MX_DELIVER_RECIPIENTS_H
#define MX_DELIVER_RECIPIENTS_H

#include <stdbool.h>
#include <stddef.h>

struct recipients;

/* spec is "any" or a file path. NULL with err set on failure. */
struct recipients *recipients_load(const char *spec, char *err, size_t errlen);
bool recipients_has(const struct recipients *r, const char *local, size_t local_len,
		    const char *domain, size_t domain_len);
size_t recipients_count(const struct recipients *r);
void recipients_free(struct recipients *r);

#endif
