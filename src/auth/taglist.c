/*
 * taglist.c - RFC 6376 3.2 tag-list parser and base64 helpers; see taglist.h.
 *
 *   tag-list  = tag-spec *( ";" tag-spec ) [ ";" ]
 *   tag-spec  = [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
 *   tag-name  = ALPHA *ALNUMPUNC        ALNUMPUNC = ALPHA / DIGIT / "_"
 *   tag-value = [ tval *( 1*(WSP / FWS) tval ) ]   tval = 1*VALCHAR
 *   VALCHAR   = %x21-3A / %x3C-7E
 * Octets >= 0x80 are accepted in values (UTF-8 in z= copies, EAI addresses).
 */
#include "auth/taglist.h"

#include <string.h>

static bool is_fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_valchar(unsigned char c)
{
	return (c >= 0x21 && c <= 0x7e && c != ';') || c >= 0x80;
}

int taglist_parse(struct taglist *tl, const char *p, size_t len)
{
	size_t i = 0;
	tl->n = 0;
	for (;;) {
		while (i < len && is_fws(p[i]))
			i++;
		if (i == len)
			return TAGLIST_OK; /* empty list, or a trailing ";" */
		if (!is_alpha(p[i]))
			return TAGLIST_SYNTAX;
		size_t ns = i;
		while (i < len && (is_alpha(p[i]) || is_digit(p[i]) || p[i] == '_'))
			i++;
		struct slice name = { p + ns, i - ns };
		while (i < len && is_fws(p[i]))
			i++;
		if (i == len || p[i] != '=')
			return TAGLIST_SYNTAX;
		i++;
		while (i < len && is_fws(p[i]))
			i++;
		size_t vs = i, ve = i;
		while (i < len && p[i] != ';') {
			if (is_valchar((unsigned char)p[i]))
				ve = i + 1;
			else if (!is_fws(p[i]))
				return TAGLIST_SYNTAX;
			i++;
		}
		for (size_t k = 0; k < tl->n; k++)
			if (tl->t[k].name.len == name.len && !memcmp(tl->t[k].name.p, name.p, name.len))
				return TAGLIST_DUPLICATE;
		if (tl->n == TAGLIST_TAGS_MAX)
			return TAGLIST_TOO_MANY;
		tl->t[tl->n++] = (struct tag){ name, { p + vs, ve - vs } };
		if (i == len)
			return TAGLIST_OK;
		i++; /* ';' */
	}
}

const char *taglist_error_name(int err)
{
	switch (err) {
	case TAGLIST_OK: return "ok";
	case TAGLIST_SYNTAX: return "tag-list syntax error";
	case TAGLIST_DUPLICATE: return "duplicate tag";
	case TAGLIST_TOO_MANY: return "too many tags";
	}
	return "?";
}

const struct tag *taglist_get(const struct taglist *tl, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < tl->n; i++)
		if (tl->t[i].name.len == n && !memcmp(tl->t[i].name.p, name, n))
			return &tl->t[i];
	return NULL;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int base64_decode_ws(struct slice in, unsigned char *out, size_t outcap, size_t *outlen)
{
	uint32_t acc = 0;
	unsigned bits = 0, pad = 0;
	size_t n = 0, chars = 0;
	for (size_t i = 0; i < in.len; i++) {
		char c = in.p[i];
		if (is_fws(c))
			continue;
		if (c == '=') {
			pad++;
			chars++;
			continue;
		}
		int v = b64_value(c);
		if (v < 0 || pad)
			return -1;
		chars++;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == outcap)
				return -1;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	/* Whole quads only, padding only where needed; leftover bits are not checked. */
	if (chars % 4 || pad > 2 || (pad && (bits == 0 || pad != (bits == 4 ? 2u : 1u))))
		return -1;
	*outlen = n;
	return 0;
}

int base64_encode(struct buf *out, const unsigned char *in, size_t len)
{
	static const char tbl[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	if (buf_reserve(out, (len + 2) / 3 * 4) < 0)
		return -1;
	char *o = out->p + out->len;
	size_t i = 0;
	for (; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*o++ = tbl[v >> 18];
		*o++ = tbl[(v >> 12) & 63];
		*o++ = tbl[(v >> 6) & 63];
		*o++ = tbl[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
		*o++ = tbl[v >> 18];
		*o++ = tbl[(v >> 12) & 63];
		*o++ = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	out->len = (size_t)(o - out->p);
	return 0;
}

int parse_u64(struct slice s, size_t max_digits, uint64_t *out)
{
	if (s.len == 0 || s.len > max_digits || max_digits > 19)
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < s.len; i++) {
		if (!is_digit(s.p[i]))
			return -1;
		v = v * 10 + (uint64_t)(s.p[i] - '0');
	}
	*out = v;
	return 0;
}
