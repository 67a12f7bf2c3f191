/*
 * address.h - the simple forms of an address list (RFC 5322 3.4), read as
 * GMime 3.2's parser reads them, for the classifier's light path.
 *
 * address_list_simple() either proves that GMime parses a header value without
 * a warning and gives its first mailbox exactly (address and display name), or
 * declines: then the caller asks GMime. The forms taken, comma-separated:
 * local@domain, local@domain (comment), <local@domain>, phrase <local@domain>,
 * where a phrase is atoms, dots and quoted strings. Not taken: groups, route
 * addresses, domain literals, IDN (xn--) domains, backslashes, nested
 * comments, empty list items, anything unclosed; encoded words, 8-bit bytes
 * and controls anywhere.
 */
#ifndef MX_CONTENT_ADDRESS_H
#define MX_CONTENT_ADDRESS_H

#include "core/buf.h"

/* One address as the features use it (borrowed). */
struct address {
	struct slice name; /* display name, unquoted and trimmed; "" when none */
	struct slice addr; /* local@domain; p NULL for a group */
};

/* The number of mailboxes in v[0, n) when it is a list in the simple forms
 * (0 for an empty value), the first in *first: its address a slice of v, its
 * display name built in name_buf (n bytes; NULL when the name is not wanted,
 * first->name is then ""); -1 when GMime must parse v. */
int address_list_simple(const char *v, size_t n, struct address *first, char *name_buf);

#endif
