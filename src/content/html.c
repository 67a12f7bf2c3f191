/*
 * html.c - HTML to text with link targets and obfuscation signals; see html.h.
 */
#include "content/html.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* strncasecmp(a, lit, n) == 0 for a lowercase literal lit of n bytes (no NUL),
 * inline: tag and attribute names are short and compared often. */
static inline bool ieq(const char *a, const char *lit, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		unsigned char ch = (unsigned char)a[k];
		if ((unsigned char)(ch + (((unsigned)(ch - 'A') < 26u) << 5)) != (unsigned char)lit[k])
			return false;
	}
	return true;
}

/* Tags whose content is not text. */
static bool skip_content_tag(const char *name, size_t n)
{
	return (n == 6 && ieq(name, "script", 6)) ||
	       (n == 5 && ieq(name, "style", 5));
}

/* Tags that separate words. */
static bool block_tag(const char *name, size_t n)
{
	static const struct {
		const char *name;
		size_t len;
	} blocks[] = {
#define B(s) {s, sizeof(s) - 1}
	    B("br"), B("p"), B("div"), B("tr"), B("td"), B("th"), B("li"),
	    B("table"), B("h1"), B("h2"), B("h3"), B("h4"), B("h5"), B("h6"),
	    B("title"), B("hr"), B("blockquote"), B("pre"), B("center"),
	    B("ul"), B("ol"), B("dd"), B("dt"), B("body"), B("head"), B("option"),
#undef B
	};
	for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++)
		if (blocks[i].len == n && ieq(name, blocks[i].name, n))
			return true;
	return false;
}

static const char *memmem_ci(const char *h, size_t hn, const char *needle)
{
	size_t nn = strlen(needle);
	if (nn > hn)
		return NULL;
	char low[16]; /* the needle in lowercase: "-->" or a closing tag */
	if (nn >= sizeof(low)) {
		int first = tolower((unsigned char)needle[0]);
		for (size_t i = 0; i + nn <= hn; i++)
			if (tolower((unsigned char)h[i]) == first && !strncasecmp(h + i, needle, nn))
				return h + i;
		return NULL;
	}
	for (size_t k = 0; k < nn; k++)
		low[k] = (char)tolower((unsigned char)needle[k]);
	for (size_t i = 0; i + nn <= hn; i++)
		if (ieq(h + i, low, nn))
			return h + i;
	return NULL;
}

/* Value of attribute attr (lowercase, with '=') in the tag text; length or 0. */
static size_t attr_value(const char *tag, size_t n, const char *attr, const char **val)
{
	size_t an = strlen(attr);
	int first = attr[0]; /* attr is lowercase */
	for (size_t i = 0; i + an <= n; i++) {
		if ((tag[i] | 0x20) != first || !ieq(tag + i, attr, an))
			continue;
		if (i > 0 && !isspace((unsigned char)tag[i - 1]) && tag[i - 1] != '"' &&
		    tag[i - 1] != '\'')
			continue;
		size_t j = i + an;
		while (j < n && isspace((unsigned char)tag[j]))
			j++;
		if (j >= n || tag[j] != '=')
			continue;
		j++;
		while (j < n && isspace((unsigned char)tag[j]))
			j++;
		char q = 0;
		if (j < n && (tag[j] == '"' || tag[j] == '\''))
			q = tag[j++];
		size_t s = j;
		while (j < n && (q ? tag[j] != q : !isspace((unsigned char)tag[j]) && tag[j] != '>'))
			j++;
		*val = tag + s;
		return j - s;
	}
	return 0;
}

static void style_facts(const char *s, size_t n, struct html_facts *f)
{
	char v[256];
	size_t k = 0;
	for (size_t i = 0; i < n && k + 1 < sizeof(v); i++)
		if (!isspace((unsigned char)s[i]))
			v[k++] = (char)tolower((unsigned char)s[i]);
	v[k] = '\0';
	if (strstr(v, "display:none") || strstr(v, "visibility:hidden") ||
	    strstr(v, "font-size:0") || strstr(v, "font-size:1px") || strstr(v, "font-size:2px"))
		f->hidden = true;
	if (strstr(v, "color:#fff") || strstr(v, "color:white"))
		f->white_text = true;
}

static void tag_facts(const char *name, size_t nn, const char *tag, size_t n,
		      struct html_facts *f, html_url_fn on_url, void *arg)
{
	const char *v;
	size_t vn;
	if ((vn = attr_value(tag, n, "style", &v)) > 0)
		style_facts(v, vn, f);
	if (nn == 1 && (name[0] == 'a' || name[0] == 'A')) {
		if ((vn = attr_value(tag, n, "href", &v)) > 0) {
			f->links++;
			on_url(arg, v, vn);
		}
	} else if (nn == 3 && ieq(name, "img", 3)) {
		f->images++;
		if ((vn = attr_value(tag, n, "src", &v)) > 0)
			on_url(arg, v, vn);
	} else if (nn == 4 && ieq(name, "form", 4)) {
		f->form = true;
		if ((vn = attr_value(tag, n, "action", &v)) > 0)
			on_url(arg, v, vn);
	} else if (nn == 6 && ieq(name, "iframe", 6)) {
		f->iframe = true;
		if ((vn = attr_value(tag, n, "src", &v)) > 0)
			on_url(arg, v, vn);
	} else if (nn == 4 && ieq(name, "font", 4)) {
		if ((vn = attr_value(tag, n, "size", &v)) > 0 &&
		    (v[0] == '-' || v[0] == '0' || (v[0] == '1' && vn == 1)))
			f->tiny_font = true;
		if ((vn = attr_value(tag, n, "color", &v)) > 0 &&
		    ((vn >= 4 && ieq(v, "#fff", 4)) || (vn == 5 && ieq(v, "white", 5))))
			f->white_text = true;
	}
}

static int put_utf8(struct buf *out, unsigned long cp)
{
	char u[4];
	size_t n;
	if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		cp = 0xFFFD;
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (char)(0xF0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	return buf_append(out, u, n);
}

/* Decodes the character reference at p[0] == '&'; returns bytes consumed (0: not one). */
static size_t char_ref(const char *p, size_t n, struct buf *out, struct html_facts *f, int *rc)
{
	static const struct {
		const char *name;
		const char *text;
	} named[] = { { "amp", "&" },	{ "lt", "<" },	 { "gt", ">" },	  { "quot", "\"" },
		      { "apos", "'" },	{ "nbsp", " " }, { "copy", "\xc2\xa9" },
		      { "reg", "\xc2\xae" }, { "euro", "\xe2\x82\xac" }, { "pound", "\xc2\xa3" } };
	size_t end = 1;
	while (end < n && end < 12 && p[end] != ';')
		end++;
	if (end >= n || p[end] != ';' || end < 2)
		return 0;
	if (p[1] == '#') {
		unsigned long cp = 0;
		size_t i = 2;
		bool hex = i < end && (p[i] == 'x' || p[i] == 'X');
		if (hex)
			i++;
		if (i == end)
			return 0;
		for (; i < end; i++) {
			int d = hex ? (isxdigit((unsigned char)p[i])
					       ? (isdigit((unsigned char)p[i]) ? p[i] - '0'
									      : (tolower((unsigned char)p[i]) - 'a' + 10))
					       : -1)
				    : (isdigit((unsigned char)p[i]) ? p[i] - '0' : -1);
			if (d < 0)
				return 0;
			cp = cp * (hex ? 16 : 10) + (unsigned long)d;
			if (cp > 0x10FFFF)
				cp = 0x110000;
		}
		if (cp < 0x80 && isalnum((int)cp))
			f->numeric_refs++;
		*rc |= put_utf8(out, cp);
		return end + 1;
	}
	for (size_t k = 0; k < sizeof(named) / sizeof(named[0]); k++)
		if (named[k].name[0] == p[1] && strlen(named[k].name) == end - 1 &&
		    !strncmp(p + 1, named[k].name, end - 1)) {
			*rc |= buf_append_str(out, named[k].text);
			return end + 1;
		}
	return 0;
}

int html_to_text(const char *h, size_t n, struct buf *out, struct html_facts *f,
		 html_url_fn on_url, void *arg)
{
	int rc = 0;
	size_t i = 0;
	while (i < n && rc == 0) {
		char c = h[i];
		if (c == '&') {
			size_t used = char_ref(h + i, n - i, out, f, &rc);
			if (used) {
				i += used;
				continue;
			}
			rc |= buf_append(out, "&", 1);
			i++;
			continue;
		}
		if (c != '<') {
			size_t s = i;
			while (i < n && h[i] != '<' && h[i] != '&')
				i++;
			rc |= buf_append(out, h + s, i - s);
			continue;
		}
		/* comment */
		if (n - i >= 4 && !memcmp(h + i, "<!--", 4)) {
			const char *e = memmem_ci(h + i + 4, n - i - 4, "-->");
			size_t after = e ? (size_t)(e - h) + 3 : n;
			if (out->len && isalpha((unsigned char)out->p[out->len - 1]) && after < n &&
			    isalpha((unsigned char)h[after]))
				f->comment_in_word = true;
			f->tag_bytes += after - i;
			i = after;
			continue;
		}
		size_t s = i + 1;
		bool closing = s < n && h[s] == '/';
		if (closing)
			s++;
		size_t e = s;
		while (e < n && (isalnum((unsigned char)h[e]) || h[e] == '!'))
			e++;
		if (e == s && !closing) {
			/* a lone '<' is text */
			rc |= buf_append(out, "<", 1);
			i++;
			continue;
		}
		const char *name = h + s;
		size_t nn = e - s;
		const char *gt = memchr(h + e, '>', n - e);
		size_t tag_end = gt ? (size_t)(gt - h) + 1 : n;
		if (!closing)
			tag_facts(name, nn, h + e, tag_end - e - (gt ? 1 : 0), f, on_url, arg);
		if (block_tag(name, nn))
			rc |= buf_append(out, " ", 1);
		f->tag_bytes += tag_end - i;
		i = tag_end;
		if (!closing && skip_content_tag(name, nn)) {
			if (nn == 6)
				f->script = true;
			char close[10];
			memcpy(close, "</", 2);
			memcpy(close + 2, name, nn);
			close[2 + nn] = '\0';
			const char *ce = memmem_ci(h + i, n - i, close);
			size_t to = ce ? (size_t)(ce - h) : n;
			f->tag_bytes += to - i;
			i = to;
		}
	}
	return rc ? -1 : 0;
}
