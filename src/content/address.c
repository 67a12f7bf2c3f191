/*
 * address.c - the simple forms of an address list, as GMime 3.2 reads them;
 * see address.h. Each form taken here was checked against GMime itself (its
 * parser's warnings, addresses and display names); the unit tests compare the
 * two on the edge cases. GMime builds a display name from the raw phrase (or
 * the comment after a bare address): quotes removed, line breaks unfolded to
 * spaces, white space trimmed at both ends and kept inside.
 */
#include "content/address.h"

#include <string.h>

struct cursor {
	const char *v;
	size_t n, i;
};

static bool fws(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static void skip_fws(struct cursor *c)
{
	while (c->i < c->n && fws(c->v[c->i]))
		c->i++;
}

static bool at(const struct cursor *c, char ch)
{
	return c->i < c->n && c->v[c->i] == ch;
}

/* RFC 5322 3.2.3 atext */
static bool atext(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("!#$%&'*+-/=?^_`{|}~", ch));
}

static bool domain_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '_';
}

/* Dot-separated runs of ok characters; false on an empty run. */
static bool dot_atoms(struct cursor *c, bool (*ok)(char))
{
	for (;;) {
		size_t start = c->i;
		while (c->i < c->n && ok(c->v[c->i]))
			c->i++;
		if (c->i == start)
			return false;
		if (!at(c, '.'))
			return true;
		c->i++;
	}
}

/* local@domain without white space, comments or quotes inside. GMime decodes
 * IDN (xn--) labels to UTF-8 and drops a trailing dot: not taken. */
static bool addr_spec(struct cursor *c, struct address *a)
{
	size_t start = c->i;
	if (!dot_atoms(c, atext) || !at(c, '@'))
		return false;
	c->i++;
	size_t domain = c->i;
	if (!dot_atoms(c, domain_char))
		return false;
	for (size_t i = domain; i + 4 <= c->i; i++)
		if ((c->v[i] | 0x20) == 'x' && (c->v[i + 1] | 0x20) == 'n' && c->v[i + 2] == '-' &&
		    c->v[i + 3] == '-')
			return false;
	a->addr = (struct slice){c->v + start, c->i - start};
	return true;
}

/* Appends ch to the display name being built (when one is wanted), a line
 * break unfolded to a space. */
static void name_add(char *name, size_t *k, char ch)
{
	if (name)
		name[(*k)++] = ch == '\r' || ch == '\n' ? ' ' : ch;
}

static void name_done(struct address *a, const char *name, size_t k)
{
	size_t s = 0;
	if (!name)
		return;
	while (s < k && fws(name[s]))
		s++;
	while (k > s && fws(name[k - 1]))
		k--;
	a->name = (struct slice){name + s, k - s};
}

/* "(comment)" after a bare address: its text is GMime's display name. No
 * nesting, quotes or escapes. */
static bool comment(struct cursor *c, struct address *a, char *name)
{
	size_t k = 0;
	for (c->i++; c->i < c->n && c->v[c->i] != ')'; c->i++) {
		char ch = c->v[c->i];
		if (ch == '(' || ch == '\\' || ch == '"')
			return false;
		name_add(name, &k, ch);
	}
	if (!at(c, ')'))
		return false;
	c->i++;
	name_done(a, name, k);
	return true;
}

/* The phrase before '<': atoms, quoted strings without escapes, dots but not
 * first (GMime warns). */
static bool phrase(struct cursor *c, struct address *a, char *name)
{
	size_t k = 0;
	bool words = false;
	while (c->i < c->n && c->v[c->i] != '<') {
		char ch = c->v[c->i++];
		if (ch == '"') {
			for (; c->i < c->n && c->v[c->i] != '"'; c->i++) {
				if (c->v[c->i] == '\\')
					return false;
				name_add(name, &k, c->v[c->i]);
			}
			if (!at(c, '"'))
				return false;
			c->i++;
			words = true;
		} else if (fws(ch) || atext(ch) || (ch == '.' && words)) {
			name_add(name, &k, ch);
			words |= !fws(ch);
		} else {
			return false;
		}
	}
	name_done(a, name, k);
	return true;
}

/* One mailbox: local@domain [(comment)] or [phrase] <local@domain>. */
static bool mailbox(struct cursor *c, struct address *a, char *name)
{
	size_t start = c->i;
	a->name = SLICE_LIT("");
	if (addr_spec(c, a)) {
		skip_fws(c);
		return !at(c, '(') || comment(c, a, name);
	}
	c->i = start;
	if (!phrase(c, a, name) || !at(c, '<'))
		return false;
	c->i++;
	if (!addr_spec(c, a) || !at(c, '>'))
		return false;
	c->i++;
	return true;
}

/* Printable ASCII and folding white space, no encoded word: what GMime would
 * decode (RFC 2047, 8-bit text) is its own. */
static bool plain_text(const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (((v[i] < ' ' || v[i] > '~') && !fws(v[i])) ||
		    (v[i] == '=' && i + 1 < n && v[i + 1] == '?'))
			return false;
	return true;
}

int address_list_simple(const char *v, size_t n, struct address *first, char *name_buf)
{
	if (!plain_text(v, n))
		return -1;
	struct cursor c = {v, n, 0};
	struct address other;
	int count = 0;
	skip_fws(&c);
	if (c.i == n)
		return 0;
	for (;;) {
		if (!mailbox(&c, count ? &other : first, count ? NULL : name_buf))
			return -1;
		count++;
		skip_fws(&c);
		if (c.i == n)
			return count;
		if (!at(&c, ','))
			return -1;
		c.i++;
		skip_fws(&c);
		if (c.i == n)
			return -1; /* a trailing comma: GMime takes it, not proven here */
	}
}
