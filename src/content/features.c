/*
 * features.c - MIME decoding (GMime) and feature extraction; see features.h.
 *
 * Order of work for one message: raw 4-grams of the start (no parse needed),
 * then either the light path (one text part, plain ASCII headers: see "the
 * light path" below) or GMime parses the message; top-level headers give header tokens; the
 * MIME tree is walked depth-first (at most MIME_PARTS_MAX parts, nesting
 * MIME_DEPTH_MAX), text parts are decoded through GMime's transfer-decoding
 * and charset filters, at most MIME_PART_DECODED_MAX bytes each and
 * MIME_DECODED_MAX in all, and non-text parts are never decoded: their type
 * and file name are features. Line ends do not matter: CR is ignored by the
 * 4-gram family, so the same message read from a file (LF) or SMTP (CRLF) has
 * the same features.
 */
#include "content/features.h"
#include "content/address.h"
#include "content/html.h"
#include "core/limits.h"

#include <ctype.h>
#include <gmime/gmime.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#define XXH_INLINE_ALL /* short keys: the call overhead is most of the cost */
#include <xxhash.h>

#define SEEN_BITS 17 /* dedup table, > 2 * CONTENT_FEATURES_MAX (+ growth slack) */
#define SEEN_START 16384 /* 64 KiB: measured faster than growing from L1 size */
#define TOKEN_MAX 40
#define PAIR_WINDOW 2 /* 3 measured no better on either half of the corpus, and slower */
_Static_assert(PAIR_WINDOW <= 9, "pair names write the distance as one digit");
#define URLS_MAX 200
#define HEADERS_MAX 200
#define STRUCT_MAX 256

_Static_assert((1u << SEEN_BITS) >= 2 * CONTENT_FEATURES_MAX, "dedup table too small");

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

static void gmime_start(void)
{
	g_mime_init();
}

void features_global_init(void)
{
	pthread_once(&gmime_once, gmime_start);
}

void features_init(struct features *f, unsigned flags)
{
	memset(f, 0, sizeof(*f));
	f->flags = flags;
}

void features_free(struct features *f)
{
	free(f->hash);
	free(f->name_off);
	free(f->seen);
	free(f->words);
	buf_free(&f->names);
	buf_free(&f->text);
	buf_free(&f->html);
	buf_free(&f->neutral);
	for (size_t i = 0; i < f->ncharsets; i++)
		if (f->charsets[i].filter)
			g_object_unref(f->charsets[i].filter);
	memset(f, 0, sizeof(*f));
}

const char *features_name(const struct features *f, size_t i)
{
	if (!(f->flags & FEAT_NAMES) || i >= f->n)
		return "";
	return f->names.p + f->name_off[i];
}

/* g_mime_filter_charset_new(cs, "UTF-8") (a new reference, NULL when GMime
 * cannot convert cs), from f's cache: a used filter is reset to its initial
 * state, which is what a new one has. */
static GMimeFilter *charset_filter(struct features *f, const char *cs)
{
	size_t n = strlen(cs);
	if (n >= FEATURES_CHARSET_NAME_MAX)
		return g_mime_filter_charset_new(cs, "UTF-8");
	for (size_t i = 0; i < f->ncharsets; i++)
		if (!strcmp(f->charsets[i].name, cs)) {
			GMimeFilter *cf = f->charsets[i].filter;
			if (!cf)
				return NULL;
			g_mime_filter_reset(cf);
			return g_object_ref(cf);
		}
	size_t slot = f->ncharsets < FEATURES_CHARSETS_MAX
			  ? f->ncharsets++
			  : (size_t)(cs[0] + n) % FEATURES_CHARSETS_MAX;
	struct features_charset *e = &f->charsets[slot];
	if (e->filter)
		g_object_unref(e->filter);
	memcpy(e->name, cs, n + 1);
	e->filter = g_mime_filter_charset_new(cs, "UTF-8");
	return e->filter ? g_object_ref(e->filter) : NULL;
}

/* ---- hashing ----------------------------------------------------------- */

static uint64_t family_seed(const char *fam)
{
	return XXH3_64bits(fam, strlen(fam));
}

static uint32_t hash_token(uint64_t seed, const char *tok, size_t n)
{
	return (uint32_t)XXH3_64bits_withSeed(tok, n, seed);
}

uint32_t features_hash_name(const char *name)
{
	const char *colon = strchr(name, ':');
	if (!colon)
		return hash_token(0, name, strlen(name));
	char fam[16];
	size_t fn = (size_t)(colon - name);
	if (fn >= sizeof(fam))
		fn = sizeof(fam) - 1;
	memcpy(fam, name, fn);
	fam[fn] = '\0';
	return hash_token(family_seed(fam), colon + 1, strlen(colon + 1));
}

static uint32_t mix32(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return (uint32_t)x;
}

/* ---- emission ---------------------------------------------------------- */

struct ctx {
	struct features *f;
	int oom;
	/* family seeds, computed once per message (cheap) */
	uint64_t s_w, s_s, s_fn, s_r, s_xm, s_u, s_li;
	size_t urls;
	char structure[STRUCT_MAX];
	size_t slen;
	size_t parts;
	bool any_text, any_plain, any_html;
	struct html_facts hf;
	/* names of the last words, for pair names */
	char last[3][TOKEN_MAX + 1];
	uint32_t lasth[3];
	size_t nlast;
};

/* The printable name of a feature: "fam:tok", control characters, DEL and
 * backslash as \xNN. At most name_len(fam, n) bytes with the NUL. One
 * function for both FEAT_NAMES and the names made on demand from FEAT_ORIGINS,
 * so the two are the same by construction. */
static size_t name_len(size_t famlen, size_t n)
{
	return famlen + 1 + 4 * n + 1;
}

static size_t format_name(char *out, const char *fam, size_t famlen, const char *tok, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char *o = out;
	memcpy(o, fam, famlen);
	o += famlen;
	*o++ = ':';
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)tok[i];
		if (ch < 0x20 || ch == 0x7f || ch == '\\') {
			*o++ = '\\';
			*o++ = 'x';
			*o++ = hex[ch >> 4];
			*o++ = hex[ch & 15];
		} else {
			*o++ = (char)ch;
		}
	}
	*o++ = '\0';
	return (size_t)(o - out);
}

/* FEAT_NAMES: the name of the feature about to be added, formatted.
 * FEAT_ORIGINS: where it came from, raw (family length, family, token length,
 * token): a copy of a few bytes, formatted only for the features a caller
 * reports (features_name_format). */
static __attribute__((noinline)) void add_name(struct ctx *c, const char *fam, const char *tok,
					       size_t n)
{
	struct features *f = c->f;
	size_t famlen = strlen(fam);
	f->name_off[f->n] = (uint32_t)f->names.len;
	if (!(f->flags & FEAT_NAMES)) {
		if (n > UINT16_MAX)
			n = UINT16_MAX;
		if (buf_reserve(&f->names, famlen + n + 3) < 0)
			goto oom;
		unsigned char *o = (unsigned char *)f->names.p + f->names.len;
		o[0] = (unsigned char)famlen;
		memcpy(o + 1, fam, famlen);
		o[1 + famlen] = (unsigned char)(n & 0xff);
		o[2 + famlen] = (unsigned char)(n >> 8);
		if (n)
			memcpy(o + 3 + famlen, tok, n);
		f->names.len += famlen + n + 3;
		return;
	}
	if (buf_reserve(&f->names, name_len(famlen, n)) < 0)
		goto oom;
	f->names.len += format_name(f->names.p + f->names.len, fam, famlen, tok, n);
	return;
oom:
	c->oom = 1;
}

/* add_name(), with the FEAT_ORIGINS record written in line when it fits (the
 * family is a literal: its length is known at compile time). */
static inline __attribute__((always_inline)) void note_name(struct ctx *c, const char *fam,
							    const char *tok, size_t n)
{
	struct features *f = c->f;
	size_t famlen = strlen(fam);
	if ((f->flags & FEAT_NAMES) || n > 255 || f->names.cap - f->names.len < famlen + n + 3) {
		add_name(c, fam, tok, n);
		return;
	}
	f->name_off[f->n] = (uint32_t)f->names.len;
	unsigned char *o = (unsigned char *)f->names.p + f->names.len;
	o[0] = (unsigned char)famlen;
	memcpy(o + 1, fam, famlen);
	o[1 + famlen] = (unsigned char)n;
	o[2 + famlen] = 0;
	memcpy(o + 3 + famlen, tok, n);
	f->names.len += famlen + n + 3;
}

int features_name_format(const struct features *f, size_t i, char *out, size_t outlen)
{
	if (outlen == 0)
		return -1;
	out[0] = '\0';
	if (i >= f->n || !(f->flags & (FEAT_NAMES | FEAT_ORIGINS)))
		return -1;
	if (f->flags & FEAT_NAMES)
		return snprintf(out, outlen, "%s", f->names.p + f->name_off[i]) < (int)outlen ? 0 : -1;
	const unsigned char *r = (const unsigned char *)f->names.p + f->name_off[i];
	size_t famlen = r[0];
	const char *fam = (const char *)r + 1;
	size_t n = (size_t)r[1 + famlen] | (size_t)r[2 + famlen] << 8;
	const char *tok = (const char *)r + 3 + famlen;
	char small[256];
	size_t need = name_len(famlen, n);
	char *tmp = need <= sizeof(small) ? small : malloc(need);
	if (!tmp)
		return -1;
	format_name(tmp, fam, famlen, tok, n);
	int w = snprintf(out, outlen, "%s", tmp);
	if (tmp != small)
		free(tmp);
	return w < (int)outlen ? 0 : -1;
}

/* The dedup table holds hashes (0 is "empty": a zero hash is stored as 1,
 * which only merges two features in 2^32) in its first seen_mask + 1 slots;
 * it starts small so that it stays in the L1 cache, and is cleared by memset. */
static void seen_insert(struct features *f, uint32_t key)
{
	size_t i = key & f->seen_mask;
	while (f->seen[i])
		i = (i + 1) & f->seen_mask;
	f->seen[i] = key;
}

static __attribute__((noinline)) void seen_grow(struct features *f)
{
	f->seen_mask = f->seen_mask * 2 + 1;
	memset(f->seen, 0, (f->seen_mask + 1) * sizeof(*f->seen));
	for (size_t k = 0; k < f->n; k++)
		seen_insert(f, f->hash[k] ? f->hash[k] : 1);
}

/* Slot of key in the dedup table: where it is, or the empty slot to put it.
 * The load stays low (seen_grow), so this is mostly one probe. */
static inline size_t seen_slot(const uint32_t *seen, size_t mask, uint32_t key)
{
	size_t i = key & mask;
	while (seen[i] && seen[i] != key)
		i = (i + 1) & mask;
	return i;
}

bool features_has(const struct features *f, uint32_t h)
{
	if (!f->seen || f->n == 0)
		return false;
	uint32_t key = h ? h : 1;
	return f->seen[seen_slot(f->seen, f->seen_mask, key)] == key;
}

/* Adds feature h unless already present; fam/tok only used for its name.
 * The hottest function of the classifier: inlined, names out of line.
 * Whether h is new is a coin toss for 4-grams, so there is no branch on it:
 * storing a present key again, and writing hash[n] before knowing whether n
 * moves on, are harmless. */
static inline __attribute__((always_inline)) void emit_hash(struct ctx *c, uint32_t h, const char *fam, const char *tok, size_t n)
{
	struct features *f = c->f;
	if (f->n >= CONTENT_FEATURES_MAX) {
		f->truncated = true;
		return;
	}
	if (f->n * 2 >= f->seen_mask)
		seen_grow(f);
	uint32_t key = h ? h : 1;
	size_t i = seen_slot(f->seen, f->seen_mask, key);
	bool fresh = !f->seen[i];
	f->seen[i] = key;
	if ((f->flags & (FEAT_NAMES | FEAT_ORIGINS)) && fresh)
		note_name(c, fam, tok, n);
	f->hash[f->n] = h;
	f->n += fresh;
}

static void emit(struct ctx *c, uint64_t seed, const char *fam, const char *tok, size_t n)
{
	emit_hash(c, hash_token(seed, tok, n), fam, tok, n);
}

/* emit() for a family used rarely: computes its seed. */
static void emit1(struct ctx *c, const char *fam, const char *tok)
{
	emit(c, family_seed(fam), fam, tok, strlen(tok));
}

static void emitf(struct ctx *c, const char *fam, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void emitf(struct ctx *c, const char *fam, const char *fmt, ...)
{
	char tok[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tok, sizeof(tok), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	emit1(c, fam, tok);
}

static unsigned bucket_log2(size_t n)
{
	unsigned b = 0;
	while (n > 1) {
		n >>= 1;
		b++;
	}
	return b;
}

/* ---- character 4-grams of the raw start --------------------------------- */

/* The first family emitted: the table starts empty and cannot fill up, so
 * the loop keeps its state in registers (emit_hash's checks are not needed). */
_Static_assert(2 * CONTENT_NGRAM_PREFIX < SEEN_START && CONTENT_NGRAM_PREFIX < CONTENT_FEATURES_MAX,
	       "4-grams must fit the initial dedup table");

static void ngrams(struct ctx *c, const char *msg, size_t len)
{
	struct features *f = c->f;
	if ((f->flags & FEAT_NO_NGRAMS) || f->n != 0)
		return;
	bool names = f->flags & (FEAT_NAMES | FEAT_ORIGINS);
	uint32_t *seen = f->seen, *hash = f->hash;
	size_t mask = f->seen_mask, n = 0;
	uint32_t win = 0;
	size_t used = 0;
	for (size_t i = 0; i < len && used < CONTENT_NGRAM_PREFIX; i++) {
		unsigned char ch = (unsigned char)msg[i];
		if (ch == '\r')
			continue;
		win = (win << 8) | ch;
		if (++used < 4)
			continue;
		uint32_t h = mix32(0x67ULL << 40 | win), key = h ? h : 1;
		size_t k = seen_slot(seen, mask, key);
		bool fresh = !seen[k];
		seen[k] = key;
		if (names && fresh) {
			char tok[4] = {(char)(win >> 24), (char)(win >> 16), (char)(win >> 8),
				       (char)win};
			f->n = n;
			note_name(c, "g", tok, 4);
		}
		hash[n] = h;
		n += fresh;
	}
	f->n = n;
	f->ngrams = n;
}

/* ---- words -------------------------------------------------------------- */

/* Byte classes of the tokenizer (a table: this runs on every byte of text).
 * Bit 1: starts a word (ASCII letters and digits, '$', every non-ASCII byte,
 * so UTF-8 words stay whole); bit 2: may continue one (also - ' . _). */
enum { WORD_START = 1, WORD_INNER = 2 };
static const unsigned char word_class[256] = {
#define S3 (WORD_START | WORD_INNER)
	['$'] = S3, ['-'] = WORD_INNER, ['\''] = WORD_INNER, ['.'] = WORD_INNER,
	['_'] = WORD_INNER,
	['0' ... '9'] = S3, ['A' ... 'Z'] = S3, ['a' ... 'z'] = S3, [0x80 ... 0xff] = S3,
#undef S3
};

static inline bool word_start(unsigned char ch)
{
	return word_class[ch] & WORD_START;
}

static inline bool word_inner(unsigned char ch)
{
	return word_class[ch] & WORD_INNER;
}

/* tolower() of the C locale, which mxscreen never leaves; inline, as this
 * runs on every byte of text. */
static inline unsigned char ascii_lower(unsigned char ch)
{
	return (unsigned char)(ch + (((unsigned)(ch - 'A') < 26u) << 5));
}

/* strncasecmp(a, lit, n) == 0 for a lowercase literal lit of n bytes (no NUL),
 * inline: the header and URL paths call it often on short strings. */
static inline bool ieq(const char *a, const char *lit, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (ascii_lower((unsigned char)a[k]) != (unsigned char)lit[k])
			return false;
	return true;
}

/* Lowercased byte of a word-continuing byte, 0 for any other byte (the
 * tokenizer's inner loop: one load per byte). */
static const unsigned char word_lower[256] = {
	['$'] = '$', ['-'] = '-', ['\''] = '\'', ['.'] = '.', ['_'] = '_',
#define D(x) [x] = x
	D('0'), D('1'), D('2'), D('3'), D('4'), D('5'), D('6'), D('7'), D('8'), D('9'),
	D('a'), D('b'), D('c'), D('d'), D('e'), D('f'), D('g'), D('h'), D('i'), D('j'),
	D('k'), D('l'), D('m'), D('n'), D('o'), D('p'), D('q'), D('r'), D('s'), D('t'),
	D('u'), D('v'), D('w'), D('x'), D('y'), D('z'),
#undef D
#define U(x) [x] = x + 32
	U('A'), U('B'), U('C'), U('D'), U('E'), U('F'), U('G'), U('H'), U('I'), U('J'),
	U('K'), U('L'), U('M'), U('N'), U('O'), U('P'), U('Q'), U('R'), U('S'), U('T'),
	U('U'), U('V'), U('W'), U('X'), U('Y'), U('Z'),
#undef U
#define H(x) [x] = x, [x + 1] = x + 1, [x + 2] = x + 2, [x + 3] = x + 3
#define H16(x) H(x), H(x + 4), H(x + 8), H(x + 12)
	H16(0x80), H16(0x90), H16(0xa0), H16(0xb0), H16(0xc0), H16(0xd0), H16(0xe0), H16(0xf0),
#undef H16
#undef H
};

/* Calls fn for each normalised token of s (lowercase ASCII, trimmed).
 * Inlined into each caller so that fn is a direct (inlinable) call. */
typedef void (*token_fn)(struct ctx *c, const char *tok, size_t n, void *arg);

static inline __attribute__((always_inline)) void tokenize(struct ctx *c, const char *s,
							   size_t len, token_fn fn, void *arg)
{
	size_t i = 0;
	char tok[TOKEN_MAX + 1];
	while (i < len) {
		while (i < len && !word_start((unsigned char)s[i]))
			i++;
		/* lowercase copy of the first TOKEN_MAX bytes; longer words only
		 * need their length */
		size_t st = i, end = len - st > TOKEN_MAX ? st + TOKEN_MAX : len;
		unsigned char l;
		while (i < end && (l = word_lower[(unsigned char)s[i]]) != 0) {
			tok[i - st] = (char)l;
			i++;
		}
		if (i == end)
			while (i < len && word_inner((unsigned char)s[i]))
				i++;
		size_t n = i - st;
		while (n > 0 && (s[st + n - 1] == '-' || s[st + n - 1] == '\'' ||
				 s[st + n - 1] == '.' || s[st + n - 1] == '_'))
			n--;
		if (n == 0)
			continue;
		if (n > TOKEN_MAX) {
			fn(c, "#long", 5, arg);
			continue;
		}
		if (n > 4 && (unsigned)(tok[0] - '0') < 10u) {
			/* long numbers (ids, phone numbers) only by their length */
			size_t k = 1;
			while (k < n && (unsigned)(tok[k] - '0') < 10u)
				k++;
			if (k == n)
				n = (size_t)snprintf(tok, sizeof(tok), "#num%zu", n);
		}
		if (n == 1 && tok[0] != '$')
			continue;
		fn(c, tok, n, arg);
	}
}

static inline __attribute__((always_inline)) void body_word(struct ctx *c, const char *tok,
							    size_t n, void *arg)
{
	(void)arg;
	struct features *f = c->f;
	if (f->nwords >= CONTENT_WORDS_MAX)
		return;
	f->nwords++;
	uint32_t h = hash_token(c->s_w, tok, n);
	emit_hash(c, h, "w", tok, n);
	/* orthogonal sparse bigrams: this word with each of the PAIR_WINDOW before it */
	for (size_t d = 1; d <= PAIR_WINDOW && d <= c->nlast; d++) {
		size_t k = (c->nlast - d) % 3;
		uint32_t ph = mix32(((uint64_t)c->lasth[k] << 32 | h) ^ (0x70ULL + d) << 56);
		if (f->flags & (FEAT_NAMES | FEAT_ORIGINS)) {
			/* "prev~d~tok", built by hand: snprintf per pair was a
			 * tenth of the server's classification time */
			char name[2 * TOKEN_MAX + 8];
			size_t pl = strlen(c->last[k]), nn = 0;
			memcpy(name, c->last[k], pl);
			nn = pl;
			name[nn++] = '~';
			name[nn++] = (char)('0' + d);
			name[nn++] = '~';
			memcpy(name + nn, tok, n);
			nn += n;
			emit_hash(c, ph, "p", name, nn);
		} else {
			emit_hash(c, ph, "p", NULL, 0);
		}
	}
	size_t k = c->nlast % 3;
	c->lasth[k] = h;
	if (f->flags & (FEAT_NAMES | FEAT_ORIGINS)) {
		memcpy(c->last[k], tok, n);
		c->last[k][n] = '\0';
	}
	c->nlast++;
}

struct famarg {
	uint64_t seed;
	const char *fam;
	size_t max;
	bool letters_only;
};

static void family_word(struct ctx *c, const char *tok, size_t n, void *arg)
{
	struct famarg *a = arg;
	if (a->max == 0)
		return;
	if (a->letters_only) {
		if (n < 3 || n > 12)
			return;
		for (size_t i = 0; i < n; i++)
			if (!isalpha((unsigned char)tok[i]))
				return;
	}
	a->max--;
	emit(c, a->seed, a->fam, tok, n);
}

static void family_tokens(struct ctx *c, uint64_t seed, const char *fam, const char *s,
			  size_t len, size_t max, bool letters_only)
{
	if (len > CONTENT_HEADER_VALUE_MAX)
		len = CONTENT_HEADER_VALUE_MAX;
	struct famarg a = { seed, fam, max, letters_only };
	tokenize(c, s, len, family_word, &a);
}

/* ---- URLs --------------------------------------------------------------- */

/* Registered-domain approximation: last two labels, three under a short
 * second-level label of a two-letter TLD (co.uk, com.br). No PSL here: this is
 * a feature, not a policy decision. */
static size_t domain_tail(const char *h, size_t n)
{
	size_t dots = 0, i = n;
	size_t pos[3] = { 0 };
	while (i > 0 && dots < 3) {
		i--;
		if (h[i] == '.')
			pos[dots++] = i;
	}
	if (dots < 2)
		return 0;
	size_t tld = n - pos[0] - 1, sld = pos[0] - pos[1] - 1;
	if (tld == 2 && sld <= 3)
		return dots >= 3 ? pos[2] + 1 : 0;
	return pos[1] + 1;
}

static void host_features(struct ctx *c, uint64_t seed, const char *fam, const char *host,
			  size_t n)
{
	char h[SMTP_DOMAIN_MAX + 1];
	size_t k = 0;
	for (size_t i = 0; i < n && k < SMTP_DOMAIN_MAX; i++)
		h[k++] = (char)tolower((unsigned char)host[i]);
	while (k > 0 && h[k - 1] == '.')
		k--;
	if (k == 0)
		return;
	bool ip = true;
	for (size_t i = 0; i < k; i++)
		if (!isdigit((unsigned char)h[i]) && h[i] != '.')
			ip = false;
	if (ip) {
		emit(c, seed, fam, "#ip", 3);
		return;
	}
	emit(c, seed, fam, h, k);
	size_t t = domain_tail(h, k);
	if (t)
		emit(c, seed, fam, h + t, k - t);
}

static void url(struct ctx *c, const char *u, size_t n)
{
	if (c->urls >= URLS_MAX)
		return;
	size_t i = 0;
	if (n >= 7 && ieq(u, "http://", 7))
		i = 7;
	else if (n >= 8 && ieq(u, "https://", 8))
		i = 8;
	else if (n >= 4 && ieq(u, "www.", 4))
		i = 0;
	else if (n >= 7 && ieq(u, "mailto:", 7)) {
		emit(c, c->s_u, "u", "#mailto", 7);
		return;
	} else
		return;
	c->urls++;
	size_t s = i;
	while (i < n && (isalnum((unsigned char)u[i]) || u[i] == '.' || u[i] == '-' || u[i] == '@' ||
			 u[i] == '%' || u[i] == '_'))
		i++;
	const char *host = u + s;
	size_t hn = i - s;
	const char *at = memchr(host, '@', hn);
	if (at) {
		emit(c, c->s_u, "u", "#userinfo", 9);
		hn -= (size_t)(at + 1 - host);
		host = at + 1;
	}
	if (memchr(host, '%', hn))
		emit(c, c->s_u, "u", "#escaped", 8);
	if (i < n && u[i] == ':')
		emit(c, c->s_u, "u", "#port", 5);
	host_features(c, c->s_u, "u", host, hn);
}

static void html_url(void *arg, const char *u, size_t n)
{
	url(arg, u, n);
}

/* Whether any of the 16 positions at p (17 bytes read) starts "ht" or "ww",
 * case-insensitively: most of a text has none, and is skipped 16 bytes at a time. */
typedef unsigned char v16u __attribute__((vector_size(16)));

static inline bool url_candidates16(const char *p)
{
	v16u a, b;
	memcpy(&a, p, 16);
	memcpy(&b, p + 1, 16);
	a |= 0x20;
	b |= 0x20;
	v16u m = (v16u)(((a == 'h') & (b == 't')) | ((a == 'w') & (b == 'w')));
	uint64_t x[2];
	memcpy(x, &m, sizeof(x));
	return (x[0] | x[1]) != 0;
}

static void scan_urls(struct ctx *c, const char *s, size_t n)
{
	size_t i = 0;
	while (i + 4 <= n) {
		if (i + 17 <= n && !url_candidates16(s + i)) {
			i += 16;
			continue;
		}
		for (size_t stop = i + 16; i < stop && i + 4 <= n; i++) {
			char ch = s[i] | 0x20;
			/* cheap filter before the exact comparisons: "http" or "www." */
			if (!((ch == 'h' && (s[i + 1] | 0x20) == 't' && (s[i + 3] | 0x20) == 'p') ||
			      (ch == 'w' && (s[i + 1] | 0x20) == 'w' && s[i + 3] == '.')))
				continue;
			if ((n - i >= 7 && ieq(s + i, "http://", 7)) ||
			    (n - i >= 8 && ieq(s + i, "https://", 8)) ||
			    (ieq(s + i, "www.", 4) && (i == 0 || !isalnum((unsigned char)s[i - 1])))) {
				size_t e = i;
				while (e < n && !isspace((unsigned char)s[e]) && s[e] != '"' &&
				       s[e] != '>' && s[e] != '<')
					e++;
				url(c, s + i, e - i);
				i = e;
			}
		}
	}
}

/* ---- headers ------------------------------------------------------------ */

/* The domain of a's address (after its last '@'), NULL when it has none. */
static struct slice addr_domain(const struct address *a)
{
	const char *at = a->addr.p ? memrchr(a->addr.p, '@', a->addr.len) : NULL;
	if (!at)
		return (struct slice){ NULL, 0 };
	return (struct slice){ at + 1, a->addr.len - (size_t)(at + 1 - a->addr.p) };
}

/* a: the first address of From, NULL when there is none. */
static void from_features(struct ctx *c, const struct address *a, struct slice *from_domain)
{
	*from_domain = (struct slice){ NULL, 0 };
	if (!a) {
		emit1(c, "fd", "#none");
		return;
	}
	if (a->name.len)
		family_tokens(c, c->s_fn, "fn", a->name.p, a->name.len, 16, false);
	else
		emit(c, c->s_fn, "fn", "#none", 5);
	if (!a->addr.p)
		return; /* a group */
	struct slice d = addr_domain(a);
	if (!d.len) {
		emit1(c, "fd", "#nodomain");
		return;
	}
	*from_domain = d;
	host_features(c, family_seed("fd"), "fd", d.p,
		      d.len < SMTP_DOMAIN_MAX ? d.len : SMTP_DOMAIN_MAX);
	size_t digits = 0;
	for (const char *p = a->addr.p; p < d.p; p++)
		digits += isdigit((unsigned char)*p) != 0;
	if (digits >= 3)
		emit1(c, "fl", "#digits");
}

static void reply_to_features(struct ctx *c, const struct address *a, struct slice from_domain)
{
	if (!a || !a->addr.p)
		return;
	struct slice d = addr_domain(a);
	bool same = d.p && from_domain.p && d.len == from_domain.len &&
		    !strncasecmp(d.p, from_domain.p, d.len);
	emit1(c, "rt", same ? "#same" : "#mismatch");
}

/* The first address of GMime's list l into *a; NULL when l has none. */
static const struct address *gmime_first_address(InternetAddressList *l, struct address *a)
{
	if (!l || internet_address_list_length(l) < 1)
		return NULL;
	InternetAddress *ia = internet_address_list_get_address(l, 0);
	const char *name = internet_address_get_name(ia);
	a->name = name ? (struct slice){ name, strnlen(name, CONTENT_HEADER_VALUE_MAX) }
		       : SLICE_LIT("");
	a->addr = (struct slice){ NULL, 0 };
	if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
		const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
		a->addr = addr ? slice_cstr(addr) : SLICE_LIT("");
	}
	return a;
}

static void message_id_features(struct ctx *c, const char *v, size_t len)
{
	const char *at = memrchr(v, '@', len);
	if (!at) {
		emit1(c, "mid", "#noat");
		return;
	}
	at++;
	size_t n = 0, left = len - (size_t)(at - v);
	while (n < left && at[n] && at[n] != '>' && !isspace((unsigned char)at[n]) &&
	       n < SMTP_DOMAIN_MAX)
		n++;
	host_features(c, family_seed("mid"), "mid", at, n);
}

struct hdr_state {
	size_t count, received;
	bool has_to, has_date, has_mid;
	uint64_t s_hn;
};

/* Folding white space only (isspace() would also take \v and \f, GMime does not). */
static bool fws(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* True when raw header text tokenizes exactly as GMime's decoded value would:
 * printable ASCII and folding white space, no encoded word, not cut. Decoding
 * then only unfolds and trims white space, which the tokenizer skips anyway. */
static bool tokens_as_decoded(const char *raw, size_t n)
{
	if (!raw || n > CONTENT_HEADER_VALUE_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)raw[i];
		if ((ch < 0x20 && !fws((char)ch)) || ch >= 0x7f ||
		    (ch == '=' && i + 1 < n && raw[i + 1] == '?'))
			return false;
	}
	return true;
}

static void parser_warning(gint64 offset, GMimeParserWarning code, const gchar *item,
			   gpointer arg);

/* GMime's parser options for the light path, made on first use: for the
 * address headers GMime would parse and the header values it would decode,
 * whose warnings are features. */
struct light_gmime {
	struct ctx *c;
	GMimeParserOptions *opts;
};

static GMimeParserOptions *light_opts(struct light_gmime *g)
{
	if (!g->opts) {
		g->opts = g_mime_parser_options_new();
		g_mime_parser_options_set_warning_callback(g->opts, parser_warning, g->c);
	}
	return g->opts;
}

/* What g_mime_header_get_value() makes of a raw header value: unfolded, then
 * RFC 2047 and charset decoded, warnings to g's callback. g_free() it. */
static char *light_decoded(struct light_gmime *g, const char *raw, size_t n)
{
	char *copy = g_strndup(raw, n);
	char *unfolded = g_mime_utils_header_unfold(copy);
	char *v = g_mime_utils_header_decode_text(light_opts(g), unfolded);
	g_free(unfolded);
	g_free(copy);
	return v;
}

/* The value of a header whose tokens are used: raw where decoding cannot change
 * them, else decoded by GMime (gh) or as GMime would (lg, into *owned). */
static const char *header_value(GMimeHeader *gh, struct light_gmime *lg, const char *raw,
				size_t *n, char **owned)
{
	*owned = NULL;
	if (tokens_as_decoded(raw, *n))
		return raw;
	const char *v = gh ? g_mime_header_get_value(gh) : (*owned = light_decoded(lg, raw, *n));
	if (v)
		*n = strnlen(v, CONTENT_HEADER_VALUE_MAX);
	return v;
}

/* One top-level header, raw. Decoded values on demand from GMime's header gh
 * (GMime path) or as GMime would decode them (lg, light path). */
static void header_one(struct ctx *c, struct hdr_state *st, const char *name, size_t nlen,
		       GMimeHeader *gh, struct light_gmime *lg, const char *raw, size_t rawlen)
{
	if (st->count++ >= HEADERS_MAX)
		return;
	char lname[64];
	size_t k = 0;
	for (; k < nlen && k < sizeof(lname) - 1; k++)
		lname[k] = (char)tolower((unsigned char)name[k]);
	lname[k] = '\0';
	emit(c, st->s_hn, "hn", lname, k);
	const char *v = raw;
	size_t vlen = rawlen;
	char *owned = NULL;
	if (k == 8 && !memcmp(lname, "received", 8)) {
		if (v && st->received++ < 8)
			family_tokens(c, c->s_r, "r", v, vlen, 32, true);
	} else if ((k == 8 && !memcmp(lname, "x-mailer", 8)) ||
		   (k == 10 && !memcmp(lname, "user-agent", 10))) {
		/* decoded values are costly (RFC 2047, charsets): only where used */
		if (v)
			v = header_value(gh, lg, v, &vlen, &owned);
		if (v)
			family_tokens(c, c->s_xm, "xm", v, vlen, 16, false);
	} else if ((k == 7 && !memcmp(lname, "list-id", 7)) ||
		   (k == 10 && !memcmp(lname, "precedence", 10))) {
		if (v)
			v = header_value(gh, lg, v, &vlen, &owned);
		if (v)
			family_tokens(c, c->s_li, "li", v, vlen, 8, false);
	} else if (k == 2 && !memcmp(lname, "to", 2)) {
		st->has_to = true;
	} else if (k == 4 && !memcmp(lname, "date", 4)) {
		st->has_date = true;
	} else if (k == 10 && !memcmp(lname, "message-id", 10)) {
		st->has_mid = true;
		if (v)
			message_id_features(c, v, vlen);
	}
	g_free(owned);
}

static void header_finish(struct ctx *c, struct hdr_state *st, const char *subject,
			  size_t slen, const struct address *from, const struct address *reply_to)
{
	if (st->count > HEADERS_MAX)
		emit1(c, "m", "#many_headers");
	emitf(c, "m", "#received%zu", st->received > 8 ? 9 : st->received);
	if (!st->has_to)
		emit1(c, "m", "#no_to");
	if (!st->has_date)
		emit1(c, "m", "#no_date");
	if (!st->has_mid)
		emit1(c, "m", "#no_msgid");
	if (slen > CONTENT_HEADER_VALUE_MAX)
		slen = CONTENT_HEADER_VALUE_MAX;
	size_t up = 0, low = 0, other = 0;
	for (size_t i = 0; i < slen; i++) {
		unsigned char ch = (unsigned char)subject[i];
		up += isupper(ch) != 0;
		low += islower(ch) != 0;
		other += !isspace(ch);
	}
	if (other) {
		family_tokens(c, c->s_s, "s", subject, slen, 32, false);
		if (up > 4 && up > 2 * low)
			emit(c, c->s_s, "s", "#caps", 5);
		if (memchr(subject, '!', slen))
			emit(c, c->s_s, "s", "#bang", 5);
		for (size_t i = 0; i < slen; i++)
			if ((unsigned char)subject[i] >= 0x80) {
				emit(c, c->s_s, "s", "#8bit", 5);
				break;
			}
	} else {
		emit1(c, "s", "#none");
	}
	struct slice from_domain;
	from_features(c, from, &from_domain);
	reply_to_features(c, reply_to, from_domain);
}

static void header_features(struct ctx *c, GMimeMessage *m)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(GMIME_OBJECT(m));
	int count = hl ? g_mime_header_list_get_count(hl) : 0;
	struct hdr_state st = { .s_hn = family_seed("hn") };
	for (int i = 0; i < count; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
		const char *name = g_mime_header_get_name(h);
		if (!name)
			continue;
		const char *raw = g_mime_header_get_raw_value(h);
		header_one(c, &st, name, strlen(name), h, NULL, raw, raw ? strlen(raw) : 0);
	}
	const char *subject = g_mime_message_get_subject(m);
	struct address from, reply_to;
	header_finish(c, &st, subject ? subject : "",
		      subject ? strnlen(subject, CONTENT_HEADER_VALUE_MAX) : 0,
		      gmime_first_address(g_mime_message_get_from(m), &from),
		      gmime_first_address(g_mime_message_get_reply_to(m), &reply_to));
}

/* ---- MIME walk ---------------------------------------------------------- */

static void structure_add(struct ctx *c, const char *s)
{
	size_t n = strlen(s);
	if (c->slen + n >= STRUCT_MAX)
		return;
	memcpy(c->structure + c->slen, s, n);
	c->slen += n;
	c->structure[c->slen] = '\0';
}

/* Reads at most max decoded (and UTF-8 converted) bytes of part into f->text. */
static int decode_part(struct ctx *c, GMimePart *part, size_t max)
{
	struct features *f = c->f;
	buf_reset(&f->text);
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	if (!w)
		return 0;
	GMimeStream *raw = g_mime_data_wrapper_get_stream(w);
	if (!raw)
		return 0;
	g_mime_stream_reset(raw);
	GMimeStream *fs = g_mime_stream_filter_new(raw);
	GMimeContentEncoding enc = g_mime_data_wrapper_get_encoding(w);
	if (enc == GMIME_CONTENT_ENCODING_BASE64 || enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
	    enc == GMIME_CONTENT_ENCODING_UUENCODE) {
		GMimeFilter *d = g_mime_filter_basic_new(enc, FALSE);
		g_mime_stream_filter_add(GMIME_STREAM_FILTER(fs), d);
		g_object_unref(d);
	}
	const char *cs = g_mime_object_get_content_type_parameter(GMIME_OBJECT(part), "charset");
	if (cs && *cs) {
		const char *canon = g_mime_charset_canon_name(cs);
		char lc[48];
		size_t k = 0;
		for (; canon && canon[k] && k < sizeof(lc) - 1; k++)
			lc[k] = (char)tolower((unsigned char)canon[k]);
		lc[k] = '\0';
		if (strcmp(lc, "us-ascii") && strcmp(lc, "utf-8")) {
			GMimeFilter *cf = charset_filter(f, cs);
			if (cf) {
				g_mime_stream_filter_add(GMIME_STREAM_FILTER(fs), cf);
				g_object_unref(cf);
				emitf(c, "cs", "%s", lc);
			} else {
				emit1(c, "cs", "#unknown");
			}
		}
	}
	if (buf_reserve(&f->text, max + 1) < 0) {
		g_object_unref(fs);
		return -1;
	}
	while (f->text.len < max) {
		ssize_t r = g_mime_stream_read(fs, f->text.p + f->text.len, max - f->text.len);
		if (r <= 0)
			break;
		f->text.len += (size_t)r;
	}
	if (f->text.len >= max)
		emit1(c, "m", "#part_cut");
	g_object_unref(fs);
	return 0;
}

static void text_features(struct ctx *c, const char *s, size_t n)
{
	c->nlast = 0; /* pairs do not span parts */
	tokenize(c, s, n, body_word, NULL);
	scan_urls(c, s, n);
}

/* Features of one decoded text part (both the GMime and the light path). */
static void part_text(struct ctx *c, bool html, const char *s, size_t n)
{
	struct features *f = c->f;
	f->decoded += n;
	c->any_text = true;
	if (html) {
		c->any_html = true;
		buf_reset(&f->html);
		if (html_to_text(s, n, &f->html, &c->hf, html_url, c) < 0) {
			c->oom = 1;
			return;
		}
		/* URLs typed as text inside HTML are found by scan_urls too */
		text_features(c, f->html.p, f->html.len);
	} else {
		c->any_plain = true;
		text_features(c, s, n);
	}
}

/* The att features of a leaf: its "type/subtype" as written, and the
 * extension of its file name (NULL when none). */
static void att_features(struct ctx *c, const char *ts, const char *fname)
{
	emitf(c, "att", "%s", ts);
	const char *dot = fname ? strrchr(fname, '.') : NULL;
	if (dot && strlen(dot + 1) <= 8)
		emitf(c, "att", "ext:%s", dot + 1);
}

static void leaf(struct ctx *c, GMimeObject *obj, const char *type, const char *sub)
{
	struct features *f = c->f;
	GMimeContentDisposition *disp = g_mime_object_get_content_disposition(obj);
	bool attachment = disp && g_mime_content_disposition_is_attachment(disp);
	bool text = !strcasecmp(type, "text") &&
		    (!strcasecmp(sub, "plain") || !strcasecmp(sub, "html"));
	const char *fname = GMIME_IS_PART(obj) ? g_mime_part_get_filename(GMIME_PART(obj)) : NULL;
	if (attachment || !text || fname) {
		char ts[128]; /* emitf()'s limit */
		snprintf(ts, sizeof(ts), "%s/%s", type, sub);
		att_features(c, ts, fname);
	}
	if (!text || !GMIME_IS_PART(obj) || f->decoded >= MIME_DECODED_MAX)
		return;
	size_t max = MIME_DECODED_MAX - f->decoded;
	if (max > MIME_PART_DECODED_MAX)
		max = MIME_PART_DECODED_MAX;
	if (decode_part(c, GMIME_PART(obj), max) < 0) {
		c->oom = 1;
		return;
	}
	part_text(c, !strcasecmp(sub, "html"), f->text.p, f->text.len);
}

static void walk(struct ctx *c, GMimeObject *obj, int depth)
{
	if (c->parts >= MIME_PARTS_MAX) {
		emit1(c, "m", "#parts_limit");
		return;
	}
	c->parts++;
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	const char *type = ct ? g_mime_content_type_get_media_type(ct) : NULL;
	const char *sub = ct ? g_mime_content_type_get_media_subtype(ct) : NULL;
	if (!type)
		type = "text";
	if (!sub)
		sub = "plain";
	char ts[96];
	snprintf(ts, sizeof(ts), "%s/%s", type, sub);
	for (char *p = ts; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	structure_add(c, ts);
	emitf(c, "pt", "%s", ts);
	if (GMIME_IS_MULTIPART(obj)) {
		if (depth >= MIME_DEPTH_MAX) {
			emit1(c, "m", "#depth_limit");
			return;
		}
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		int n = g_mime_multipart_get_count(mp);
		structure_add(c, "(");
		for (int i = 0; i < n; i++) {
			if (c->parts >= MIME_PARTS_MAX) {
				emit1(c, "m", "#parts_limit");
				break;
			}
			if (i)
				structure_add(c, ",");
			walk(c, g_mime_multipart_get_part(mp, i), depth + 1);
		}
		structure_add(c, ")");
		if (n == 0)
			emit1(c, "m", "#empty_multipart");
	} else if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
		GMimeObject *body = inner ? g_mime_message_get_mime_part(inner) : NULL;
		if (body && depth < MIME_DEPTH_MAX) {
			structure_add(c, "(");
			walk(c, body, depth + 1);
			structure_add(c, ")");
		}
	} else {
		leaf(c, obj, type, sub);
	}
}

static void parser_warning(gint64 offset, GMimeParserWarning code, const gchar *item,
			   gpointer arg)
{
	(void)offset, (void)item;
	emitf(arg, "mw", "%d", (int)code);
}

static void html_signals(struct ctx *c)
{
	const struct html_facts *h = &c->hf;
	if (!c->any_html)
		return;
	if (h->hidden)
		emit1(c, "h", "#hidden");
	if (h->tiny_font)
		emit1(c, "h", "#tiny_font");
	if (h->white_text)
		emit1(c, "h", "#white_text");
	if (h->comment_in_word)
		emit1(c, "h", "#comment_in_word");
	if (h->script)
		emit1(c, "h", "#script");
	if (h->form)
		emit1(c, "h", "#form");
	if (h->iframe)
		emit1(c, "h", "#iframe");
	if (h->numeric_refs > 3)
		emit1(c, "h", "#numeric_refs");
	emitf(c, "h", "#images%u", bucket_log2(h->images + 1));
	emitf(c, "h", "#links%u", bucket_log2(h->links + 1));
	if (!c->any_plain)
		emit1(c, "h", "#html_only");
	size_t text = c->f->html.len;
	emitf(c, "h", "#markup_ratio%u", (unsigned)(h->tag_bytes * 4 / (h->tag_bytes + text + 1)));
}

static int prepare(struct features *f)
{
	if (!f->hash) {
		f->hash = malloc(CONTENT_FEATURES_MAX * sizeof(*f->hash));
		f->seen = calloc((size_t)1 << SEEN_BITS, sizeof(*f->seen));
		if (!f->hash || !f->seen)
			return -1;
		if (f->flags & (FEAT_NAMES | FEAT_ORIGINS)) {
			f->name_off = malloc(CONTENT_FEATURES_MAX * sizeof(*f->name_off));
			if (!f->name_off)
				return -1;
		}
	}
	f->n = 0;
	f->ngrams = 0;
	f->truncated = false;
	f->nwords = 0;
	f->decoded = 0;
	buf_reset(&f->names);
	f->seen_mask = SEEN_START - 1;
	memset(f->seen, 0, SEEN_START * sizeof(*f->seen));
	return 0;
}

/* ---- the light path ------------------------------------------------------ */

/*
 * Most mail is one text part, or a multipart of a few text parts, with plain
 * headers. For such a message GMime's object tree (allocations, lazy
 * decoding, teardown) costs more than everything else together: the light
 * path reads the headers and splits the parts itself and emits exactly the
 * features the GMime path would, in the same order, decoding with GMime's own
 * pieces where it must (quoted-printable and base64 step functions, charset
 * filters of single-byte charsets, header unfolding and RFC 2047 decoding, the
 * address parser). It only accepts what it fully understands and bails out
 * (to GMime) before emitting anything on the slightest doubt: 8-bit or encoded
 * words in content or part headers, a header that must be unique appearing
 * twice, control characters, continuation or name oddities, address headers
 * with unclosed or quoted comments or longer than CONTENT_HEADER_VALUE_MAX, a
 * Content-Type or Content-Disposition with parameters it does not fully
 * understand (comments, escapes, RFC 2231, repeats, values that are neither
 * tokens nor plain quoted strings), a single part that is not text/plain or
 * text/html, nested multiparts, message parts, digests, parts without headers
 * or content, a multipart body with CR, a transfer encoding other than
 * 7bit/8bit/binary/quoted-printable/base64, other Content-* headers, or a
 * charset that is neither ASCII, UTF-8 nor single-byte. File names (name=,
 * filename=) and dispositions are read as GMime reads them. GMime's parser
 * warnings are features, emitted where GMime emits them, before the header
 * features: values that are not UTF-8 (mw:3, as the header block is read),
 * then what the message finds as it takes its headers in order (address
 * headers parsed, Subject, Date and Message-Id decoded), then an empty
 * parameter before another (mw:13) and a multipart without its end boundary,
 * whose last part then runs to the end of the message (mw:7).
 * tests/unit/test_content.c and the features fuzz target check both paths
 * give the same features in the same order.
 */
#define LIGHT_HEADERS_MAX 128

/* Headers the light path looks at; from H_FROM to H_CONTENT_OTHER GMime wants
 * each at most once (it warns and picks one otherwise). */
enum light_kind {
	H_OTHER,
	H_FROM,
	H_SENDER,
	H_REPLY_TO,
	H_TO,
	H_CC,
	H_BCC, /* addresses */
	H_SUBJECT,
	H_DATE,
	H_MESSAGE_ID,
	H_IN_REPLY_TO,
	H_REFERENCES,
	H_MIME_VERSION,
	H_CONTENT_TYPE,
	H_CTE,
	H_CONTENT_DISPOSITION,
	H_CONTENT_CLASS,
	H_CONTENT_DESCRIPTION,
	H_CONTENT_OTHER, /* filed by GMime under the body part, like all content-* */
};

struct light_hdr {
	const char *name, *value;
	size_t nlen, vlen;
	enum light_kind kind;
	bool encoded; /* 8-bit bytes or "=?" in the value: GMime decodes it (top level only) */
};

#define LIGHT_PARTS_MAX 16
#define LIGHT_DEPTH_MAX 4 /* multipart levels the light path follows */
#define LIGHT_NODES_MAX (3 * LIGHT_PARTS_MAX)
#define LIGHT_BOUNDARY_MAX 72 /* RFC 2046 5.1.1: at most 70 characters */
#define LIGHT_NAME_MAX 255     /* a longer file name is left to GMime */

/* One leaf: the body of a single-part message or a part of a multipart. */
struct light_part {
	const char *raw; /* undecoded content */
	size_t raw_len;
	char ts[64];	 /* "type/subtype", lowercase */
	char att[64];	 /* "type/subtype" as written: its att feature */
	bool text, html; /* text/plain or text/html: decoded; anything else is an att */
	bool attachment; /* an att too: Content-Disposition attachment */
	GMimeContentEncoding encoding;
	char cs[48];	  /* charset parameter as given, "" when none */
	char charset[48]; /* lowercase canonical, "" when none needs a feature */
	bool has_fname;	  /* g_mime_part_get_filename() is not NULL: an att too */
	char fname[LIGHT_NAME_MAX + 1];
};

/* A multipart as GMime's walk meets it, in order: a multipart opens (its
 * type), its leaves and inner multiparts follow, it closes. */
enum light_node_kind { NODE_OPEN, NODE_LEAF, NODE_CLOSE };
struct light_node {
	enum light_node_kind kind;
	size_t part; /* NODE_LEAF: index in light_msg.part */
	char ts[64]; /* NODE_OPEN: "multipart/subtype" */
};

struct light_msg {
	struct light_hdr h[LIGHT_HEADERS_MAX];
	size_t n;
	size_t body;
	struct light_part part[LIGHT_PARTS_MAX];
	size_t nparts;
	struct light_node node[LIGHT_NODES_MAX]; /* a multipart: the tree in walk order; none
						  * for a single part */
	size_t nnodes;
	bool nested; /* a multipart inside the top-level one */
	/* GMime parser warnings, which it emits before any header feature */
	bool empty_param; /* GMIME_WARN_INVALID_PARAMETER */
	bool truncated;	  /* GMIME_WARN_TRUNCATED_MESSAGE: no end boundary */
};

/* The parameters of a Content-Type or Content-Disposition that the light path
 * reads: plain tokens or quoted strings, no repeats (see light_params()). */
struct light_params {
	char cs[48];
	char boundary[LIGHT_BOUNDARY_MAX + 1];
	char name[LIGHT_NAME_MAX + 1]; /* Content-Type name=, Content-Disposition filename= */
	bool has_name;
	bool empty; /* an empty parameter before another one, which GMime warns about */
};

/* Content-Type and Content-Disposition of an entity, as the light path reads them. */
struct light_ct {
	char ts[64];  /* "type/subtype", lowercase */
	char att[64]; /* as written */
	struct light_params p, disp;
	bool attachment; /* disposition "attachment" (any case) */
};

static enum light_kind header_kind(const char *name, size_t n)
{
	static const struct {
		const char *name;
		size_t len;
		enum light_kind kind;
	} known[] = {
#define K(s, k) {s, sizeof(s) - 1, k}
	    K("from", H_FROM),
	    K("sender", H_SENDER),
	    K("reply-to", H_REPLY_TO),
	    K("to", H_TO),
	    K("cc", H_CC),
	    K("bcc", H_BCC),
	    K("subject", H_SUBJECT),
	    K("date", H_DATE),
	    K("message-id", H_MESSAGE_ID),
	    K("in-reply-to", H_IN_REPLY_TO),
	    K("references", H_REFERENCES),
	    K("mime-version", H_MIME_VERSION),
	    K("content-type", H_CONTENT_TYPE),
	    K("content-transfer-encoding", H_CTE),
	    K("content-disposition", H_CONTENT_DISPOSITION),
	    K("content-class", H_CONTENT_CLASS),
	    K("content-description", H_CONTENT_DESCRIPTION),
#undef K
	};
	unsigned char first = ascii_lower((unsigned char)name[0]);
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (known[i].len == n && (unsigned char)known[i].name[0] == first &&
		    ieq(name, known[i].name, n))
			return known[i].kind;
	return n >= 8 && ieq(name, "content-", 8) ? H_CONTENT_OTHER : H_OTHER;
}

static bool address_header(enum light_kind k)
{
	return k >= H_FROM && k <= H_BCC;
}

static const char *trim(const char *p, size_t *n)
{
	while (*n && fws(*p))
		p++, (*n)--;
	while (*n && fws(p[*n - 1]))
		(*n)--;
	return p;
}

/* Whether any of the 16 bytes at p is one light_header_block() looks at
 * closer: 8-bit, a control other than tab, DEL, or '=' (an encoded word?). */
static inline bool header_suspects16(const char *p)
{
	v16u a;
	memcpy(&a, p, 16);
	v16u m = (v16u)((a >= 0x7f) | ((a < 0x20) & (a != '\t')) | (a == '='));
	uint64_t x[2];
	memcpy(x, &m, sizeof(x));
	return (x[0] | x[1]) != 0;
}

/* The header block of msg from pos on, up to the empty line (its end in *body);
 * false on anything the light path leaves to GMime. A line starting with "--"
 * could be a boundary: that too. 8-bit bytes and encoded words in values only
 * at the top (a message's own headers), marked as encoded. */
static bool light_header_block(const char *msg, size_t pos, size_t len, bool top,
			       struct light_hdr *hs, size_t *nh, size_t *body)
{
	*nh = 0;
	for (;;) {
		if (pos >= len)
			return false; /* no body separator: leave it to GMime */
		const char *nl = memchr(msg + pos, '\n', len - pos);
		if (!nl)
			return false;
		size_t eol = (size_t)(nl - msg), end = eol;
		if (end > pos && msg[end - 1] == '\r')
			end--;
		size_t i = pos;
		while (i + 16 <= end && !header_suspects16(msg + i))
			i += 16;
		bool encoded = false;
		for (; i < end; i++) {
			unsigned char ch = (unsigned char)msg[i];
			if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
				return false;
			if (ch >= 0x80 || (ch == '=' && i + 1 < end && msg[i + 1] == '?')) {
				if (!top)
					return false;
				encoded = true;
			}
		}
		if (end == pos) {
			*body = eol + 1;
			return *nh > 0;
		}
		if (msg[pos] == ' ' || msg[pos] == '\t') {
			if (!*nh)
				return false;
			struct light_hdr *h = &hs[*nh - 1];
			h->vlen = end - (size_t)(h->value - msg);
			h->encoded |= encoded;
		} else {
			const char *colon = memchr(msg + pos, ':', end - pos);
			if (!colon || colon == msg + pos || *nh == LIGHT_HEADERS_MAX ||
			    (end - pos >= 2 && msg[pos] == '-' && msg[pos + 1] == '-'))
				return false;
			for (const char *p = msg + pos; p < colon; p++)
				if (*p <= ' ' || *p > '~')
					return false;
			hs[(*nh)++] = (struct light_hdr){
			    .name = msg + pos,
			    .value = colon + 1,
			    .nlen = (size_t)(colon - msg - pos),
			    .vlen = end - (size_t)(colon + 1 - msg),
			    .encoded = encoded,
			};
		}
		pos = eol + 1;
	}
}
/* RFC 2045 5.1 token: no space, control or tspecial. */
static bool is_token(const char *p, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch <= ' ' || ch >= 0x7f || strchr("()<>@,;:\\\"/[]?=", ch))
			return false;
	}
	return true;
}

/*
 * The parameters after the first ';' (semi, or NULL) of a Content-Type or
 * Content-Disposition value v: true when simple enough (name=token or
 * name="quoted string" without quotes, backslashes, ';' or folds inside, no
 * comments, no RFC 2231, no repeats). An empty parameter is skipped; GMime warns about it
 * unless it is the last one. name_key: the parameter kept in pa->name.
 */
static bool light_params(const char *v, size_t n, const char *semi, const char *name_key,
			 struct light_params *pa)
{
	pa->cs[0] = pa->boundary[0] = pa->name[0] = '\0';
	pa->has_name = pa->empty = false;
	const char *seen[8];
	size_t seen_len[8], nseen = 0, name_len = strlen(name_key);
	while (semi) {
		const char *p = semi + 1;
		size_t left = n - (size_t)(p - v);
		semi = memchr(p, ';', left);
		size_t pn = semi ? (size_t)(semi - p) : left;
		p = trim(p, &pn);
		if (!pn) {
			pa->empty |= semi != NULL;
			continue;
		}
		const char *eq = memchr(p, '=', pn);
		if (!eq || memchr(p, '*', (size_t)(eq - p)) || memchr(p, '"', (size_t)(eq - p)))
			return false;
		size_t kn = (size_t)(eq - p), vn = pn - kn - 1;
		const char *k = trim(p, &kn), *val = trim(eq + 1, &vn);
		if (!is_token(k, kn) || nseen == 8)
			return false;
		for (size_t i = 0; i < nseen; i++) /* GMime warns about repeated parameters */
			if (seen_len[i] == kn && !strncasecmp(seen[i], k, kn))
				return false;
		seen[nseen] = k;
		seen_len[nseen++] = kn;
		if (vn >= 2 && val[0] == '"' && val[vn - 1] == '"') {
			val++, vn -= 2;
			/* GMime unfolds a folded value first */
			if (memchr(val, '"', vn) || memchr(val, '\n', vn) || memchr(val, '\r', vn))
				return false;
		} else if (!is_token(val, vn)) {
			return false;
		}
		bool name = kn == name_len && ieq(k, name_key, kn);
		char *into = name				 ? pa->name
			     : kn == 7 && ieq(k, "charset", 7)	 ? pa->cs
			     : kn == 8 && ieq(k, "boundary", 8) ? pa->boundary
								 : NULL;
		size_t cap = name	      ? sizeof(pa->name)
			     : into == pa->cs ? sizeof(pa->cs)
					      : sizeof(pa->boundary);
		if (into) {
			if ((vn == 0 && !name) || vn >= cap)
				return false;
			memcpy(into, val, vn);
			into[vn] = '\0';
			pa->has_name |= name;
		}
	}
	return true;
}

/* Splits a Content-Type or Content-Disposition value into its first item
 * (*item, *in, trimmed) and the ';' after it (*semi, NULL when none); false on
 * comments and backslashes, which the light path leaves to GMime. */
static bool light_value(const char **v, size_t *n, const char **semi, const char **item,
			size_t *in)
{
	if (memchr(*v, '(', *n) || memchr(*v, '\\', *n))
		return false;
	*v = trim(*v, n);
	*semi = memchr(*v, ';', *n);
	*in = *semi ? (size_t)(*semi - *v) : *n;
	*item = trim(*v, in);
	return true;
}

/* "type/subtype; charset=x; boundary=y; name=z": true when simple enough. */
static bool light_content_type(const char *v, size_t n, struct light_ct *ct)
{
	const char *semi, *t, *slash;
	size_t tn;
	if (!light_value(&v, &n, &semi, &t, &tn) || !(slash = memchr(t, '/', tn)) ||
	    tn >= sizeof(ct->ts) || !is_token(t, (size_t)(slash - t)) ||
	    !is_token(slash + 1, tn - (size_t)(slash + 1 - t)))
		return false;
	for (size_t i = 0; i < tn; i++)
		ct->ts[i] = (char)ascii_lower((unsigned char)t[i]);
	ct->ts[tn] = '\0';
	memcpy(ct->att, t, tn);
	ct->att[tn] = '\0';
	return light_params(v, n, semi, "name", &ct->p);
}

/* "inline", "attachment; filename=x" (any token, simple parameters). */
static bool light_disposition(const char *v, size_t n, struct light_ct *ct)
{
	const char *semi, *d;
	size_t dn;
	if (!light_value(&v, &n, &semi, &d, &dn) || !is_token(d, dn))
		return false;
	ct->attachment = dn == 10 && ieq(d, "attachment", 10);
	return light_params(v, n, semi, "filename", &ct->disp);
}

static bool ascii_clean(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80 || p[i] == 0x1b)
			return false;
	return true;
}

/* An address header light_addresses() parses as GMime's message parser does:
 * not cut, and comments, if any, closed and without quotes or escapes around
 * (GMime recovers from an unclosed comment after an address in its own way). */
static bool plain_address_header(const char *v, size_t n)
{
	if (n > CONTENT_HEADER_VALUE_MAX)
		return false;
	if (!memchr(v, '(', n))
		return true;
	int depth = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i] == '"' || v[i] == '\\')
			return false;
		depth += (v[i] == '(') - (v[i] == ')');
		if (depth < 0)
			return false;
	}
	return depth == 0;
}

/* Decodes a base64 or quoted-printable body into out as GMime's decoding
 * filter does (its step functions, chunk by chunk), until MIME_PART_DECODED_MAX
 * bytes are out: decode_part() reads no further. 0, or -1 when out of memory. */
static int light_decode(struct buf *out, GMimeContentEncoding enc, const char *in, size_t n)
{
	GMimeEncoding st;
	g_mime_encoding_init_decode(&st, enc);
	buf_reset(out);
	size_t pos = 0;
	while (out->len < MIME_PART_DECODED_MAX) {
		size_t chunk = n - pos < 65536 ? n - pos : 65536;
		bool last = pos + chunk == n;
		if (buf_reserve(out, g_mime_encoding_outlen(&st, chunk) + 1) < 0)
			return -1;
		char *o = out->p + out->len;
		out->len += last ? g_mime_encoding_flush(&st, in + pos, chunk, o)
				 : g_mime_encoding_step(&st, in + pos, chunk, o);
		pos += chunk;
		if (last)
			break;
	}
	return 0;
}

/*
 * The text of a part in charset cs, as decode_part() gets it through GMime's
 * charset filter. Single-byte charsets without state only (ISO 8859, KOI8,
 * Windows 125x but 1258, which composes characters): each byte converts on its own, so
 * converting the text at once gives what the filter gives chunk by chunk. The
 * GMime path emits the charset only when it can convert it. ASCII text needs
 * no conversion; other text is converted by the same (cached) filter:
 * light_leaf() converts them again. Text cut by light_decode() is left to GMime:
 * bytes the charset lacks are dropped, so GMime might read on to fill the part.
 * Emits nothing.
 */
static bool single_byte_charset(const char *canon)
{
	if (!strncmp(canon, "windows-", 8))
		canon += 8; /* GMime's name for windows-1252 is windows-cp1252 */
	return !strncmp(canon, "iso-8859-", 9) || !strcmp(canon, "koi8-r") ||
	       !strcmp(canon, "koi8-u") ||
	       (!strncmp(canon, "cp125", 5) && canon[5] >= '0' && canon[5] <= '7' && !canon[6]);
}

static bool light_part_ok(struct features *f, struct light_part *pt)
{
	pt->charset[0] = '\0';
	if (!pt->text || !pt->cs[0])
		return true;
	const char *canon = g_mime_charset_canon_name(pt->cs);
	size_t k = 0;
	for (; canon && canon[k] && k < sizeof(pt->charset) - 1; k++)
		pt->charset[k] = (char)tolower((unsigned char)canon[k]);
	pt->charset[k] = '\0';
	if (!strcmp(pt->charset, "us-ascii") || !strcmp(pt->charset, "utf-8")) {
		pt->charset[0] = '\0';
		return true;
	}
	if (!single_byte_charset(pt->charset))
		return false;
	GMimeFilter *cf = charset_filter(f, pt->cs);
	if (!cf)
		return false;
	g_object_unref(cf);
	const char *text = pt->raw;
	size_t len = pt->raw_len;
	if (pt->encoding != GMIME_CONTENT_ENCODING_DEFAULT) {
		if (light_decode(&f->text, pt->encoding, text, len) < 0)
			return false;
		text = f->text.p, len = f->text.len;
	}
	return ascii_clean(text, len < MIME_PART_DECODED_MAX ? len : MIME_PART_DECODED_MAX) ||
	       len < MIME_PART_DECODED_MAX;
}
/* The content headers of an entity (the message, or a part of a multipart:
 * top) into ct and *enc. */
static bool light_entity(struct light_hdr *hs, size_t nh, bool top, struct light_msg *lm,
			 struct light_ct *ct, GMimeContentEncoding *enc)
{
	uint32_t once = 0; /* kinds seen */
	snprintf(ct->ts, sizeof(ct->ts), "text/plain");
	snprintf(ct->att, sizeof(ct->att), "text/plain");
	light_params(NULL, 0, NULL, "name", &ct->p); /* no parameters yet */
	light_params(NULL, 0, NULL, "filename", &ct->disp);
	ct->attachment = false;
	*enc = GMIME_CONTENT_ENCODING_DEFAULT;
	for (size_t i = 0; i < nh; i++) {
		struct light_hdr *h = &hs[i];
		h->kind = header_kind(h->name, h->nlen);
		if (address_header(h->kind) && !plain_address_header(h->value, h->vlen))
			return false;
		if (h->encoded && h->kind >= H_CONTENT_TYPE)
			return false;
		if (h->kind == H_CONTENT_OTHER)
			return false; /* id, location, md5...: GMime knows them */
		if (h->kind != H_OTHER) {
			if (once & (1u << h->kind))
				return false;
			once |= 1u << h->kind;
		}
		if (h->kind == H_CONTENT_TYPE) {
			if (!light_content_type(h->value, h->vlen, ct))
				return false;
		} else if (h->kind == H_CTE) {
			size_t n = h->vlen;
			const char *v = trim(h->value, &n);
			if (n == 16 && ieq(v, "quoted-printable", 16))
				*enc = GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE;
			else if (n == 6 && ieq(v, "base64", 6))
				*enc = GMIME_CONTENT_ENCODING_BASE64;
			else if (!((n == 4 &&
				    (ieq(v, "7bit", 4) || ieq(v, "8bit", 4))) ||
				   (n == 6 && ieq(v, "binary", 6))))
				return false;
		} else if (h->kind == H_CONTENT_DISPOSITION) {
			if (!light_disposition(h->value, h->vlen, ct))
				return false;
		} else if (!top) {
			for (size_t j = 0; j < i; j++) /* GMime warns about any repeat in a part */
				if (hs[j].nlen == h->nlen && !strncasecmp(hs[j].name, h->name, h->nlen))
					return false;
		}
	}
	lm->empty_param |= ct->p.empty || ct->disp.empty;
	return true;
}

/* A leaf entity of type ct with content raw: false when the light path does
 * not take it. At the top only text/plain and text/html. */
static bool light_leaf_part(struct features *f, struct light_msg *lm, const struct light_ct *ct,
			    GMimeContentEncoding enc, const char *raw, size_t n, bool top)
{
	if (lm->nparts == LIGHT_PARTS_MAX || !strncmp(ct->ts, "multipart/", 10) ||
	    !strncmp(ct->ts, "message/", 8))
		return false;
	struct light_part *pt = &lm->part[lm->nparts++];
	pt->raw = raw, pt->raw_len = n, pt->encoding = enc;
	memcpy(pt->ts, ct->ts, sizeof(pt->ts));
	memcpy(pt->att, ct->att, sizeof(pt->att));
	memcpy(pt->cs, ct->p.cs, sizeof(pt->cs));
	pt->html = !strcmp(ct->ts, "text/html");
	pt->text = pt->html || !strcmp(ct->ts, "text/plain");
	pt->attachment = ct->attachment;
	/* g_mime_part_get_filename(): the disposition's filename, else the type's name */
	const struct light_params *named = ct->disp.has_name ? &ct->disp : &ct->p;
	pt->has_fname = named->has_name;
	memcpy(pt->fname, named->name, sizeof(pt->fname));
	if (top && !pt->text)
		return false;
	return light_part_ok(f, pt);
}

/* 1 when line (without its newline) is "--boundary" followed by nothing but
 * spaces, tabs and CRs (GMime's linear white space: a CRLF line end leaves its
 * CR here), 2 for "--boundary--" so followed, else 0: GMime's test. */
static int boundary_line(const char *line, size_t n, const char *b, size_t bl)
{
	if (n < bl + 2 || line[0] != '-' || line[1] != '-' || memcmp(line + 2, b, bl))
		return 0;
	size_t i = bl + 2;
	int kind = 1;
	if (n >= i + 2 && line[i] == '-' && line[i + 1] == '-')
		kind = 2, i += 2;
	while (i < n && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
		i++;
	return i == n ? kind : 0;
}

/* The boundaries of the multiparts the light path is inside, outermost first
 * (GMime's boundary stack). */
struct light_stack {
	const char *b[LIGHT_DEPTH_MAX];
	size_t bl[LIGHT_DEPTH_MAX];
};

/* Where a scan stopped: the first line at or after pos that is a boundary line
 * of one of the levels 0..nb-1 (tested innermost first, as GMime's
 * check_boundary()), kind 1 or 2 (end) and its level, or kind 0 at the end of
 * the message. */
struct light_stop {
	size_t pos, eol; /* the line, without its newline */
	int kind, level;
};

static struct light_stop next_boundary(const char *msg, size_t pos, size_t len,
				       const struct light_stack *st, int nb)
{
	while (pos < len) {
		const char *nl = memchr(msg + pos, '\n', len - pos);
		size_t eol = nl ? (size_t)(nl - msg) : len;
		for (int k = nb - 1; k >= 0; k--) {
			int b = boundary_line(msg + pos, eol - pos, st->b[k], st->bl[k]);
			if (b)
				return (struct light_stop){ pos, eol, b, k };
		}
		pos = eol + 1;
	}
	return (struct light_stop){ len, len, 0, -1 };
}

/* A multipart the light path reads: with a boundary, not a digest (whose parts
 * default to message/rfc822), no transfer encoding. */
static bool multipart_ok(const struct light_ct *ct, GMimeContentEncoding enc)
{
	return ct->p.boundary[0] && strcmp(ct->ts, "multipart/digest") &&
	       enc == GMIME_CONTENT_ENCODING_DEFAULT;
}

static bool light_node(struct light_msg *lm, enum light_node_kind kind, const char *ts)
{
	if (lm->nnodes == LIGHT_NODES_MAX)
		return false;
	struct light_node *nd = &lm->node[lm->nnodes++];
	nd->kind = kind;
	nd->part = lm->nparts - 1; /* NODE_LEAF: the part just added */
	snprintf(nd->ts, sizeof(nd->ts), "%s", ts ? ts : "");
	return true;
}

/*
 * The parts of the multipart whose boundary is level d of st, from pos (the end
 * of its headers), as GMime's parser splits them (parser_construct_multipart):
 * the preamble up to its first boundary line and the epilogue after its end
 * boundary are not features; the line end before a boundary line belongs to
 * it: two bytes when the boundary line itself ends in CR LF (or in CR at the
 * end of the message), else one, whatever the line before ends with. A part
 * that is a multipart itself is read the same way one level down (a line that
 * is the boundary of any level ends a part, innermost tested first). Without
 * an end boundary, the last part of the top-level multipart runs to the end of
 * the message (newline included) and GMime warns that the message is
 * truncated. Anything else irregular (a missing end boundary below the top, a
 * part ended by an outer boundary, a preamble ended by one, an epilogue that
 * runs to the end of the message) is left to GMime. *stop is where the parent
 * goes on: the boundary line, of an outer level, after the epilogue.
 */
static bool light_multipart(struct features *f, const char *msg, size_t pos, size_t len,
			    struct light_stack *st, int d, struct light_msg *lm,
			    struct light_stop *stop)
{
	struct light_hdr hs[LIGHT_HEADERS_MAX];
	struct light_stop s = next_boundary(msg, pos, len, st, d + 1); /* the preamble */
	if (s.kind != 1 || s.level != d)
		return false;
	for (;;) {
		if (s.eol == len) { /* a boundary on the last line: no part follows it */
			lm->truncated = true;
			return d == 0 && !lm->nested && lm->nparts > 0;
		}
		struct light_ct ct;
		GMimeContentEncoding enc;
		size_t nh, content;
		if (!light_header_block(msg, s.eol + 1, len, false, hs, &nh, &content) ||
		    !light_entity(hs, nh, false, lm, &ct, &enc))
			return false;
		if (!strncmp(ct.ts, "multipart/", 10)) {
			if (d + 1 == LIGHT_DEPTH_MAX || !multipart_ok(&ct, enc) ||
			    !light_node(lm, NODE_OPEN, ct.ts))
				return false;
			lm->nested = true;
			st->b[d + 1] = ct.p.boundary;
			st->bl[d + 1] = strlen(ct.p.boundary);
			if (!light_multipart(f, msg, content, len, st, d + 1, lm, &s) ||
			    !light_node(lm, NODE_CLOSE, NULL))
				return false;
		} else {
			s = next_boundary(msg, content, len, st, d + 1);
			if (s.kind == 0) { /* no end boundary */
				lm->truncated = true;
				return d == 0 && !lm->nested &&
				       light_leaf_part(f, lm, &ct, enc, msg + content, len - content,
						       false) &&
				       light_node(lm, NODE_LEAF, NULL);
			}
			size_t crlf = msg[s.eol - 1] == '\r' ? 2 : 1, n = s.pos - content;
			if (s.pos < content + 1 ||
			    !light_leaf_part(f, lm, &ct, enc, msg + content, n > crlf ? n - crlf : 0,
					     false) ||
			    !light_node(lm, NODE_LEAF, NULL))
				return false;
		}
		if (s.level != d)
			return false; /* an outer boundary ended this multipart */
		if (s.kind == 1)
			continue;
		if (d == 0) { /* the end: the epilogue is no feature */
			stop->kind = 0;
			return true;
		}
		*stop = next_boundary(msg, s.eol == len ? len : s.eol + 1, len, st, d);
		return stop->kind != 0;
	}
}

/* Decides whether msg takes the light path; fills lm (decoding may use
 * f->text). Emits nothing. */
static bool light_eligible(struct features *f, const char *msg, size_t len, struct light_msg *lm)
{
	lm->empty_param = lm->truncated = false;
	size_t start = 0;
	if (len >= 5 && !memcmp(msg, "From ", 5)) {
		/* an mbox "From " line: GMime's parser passes over it, without a
		 * warning, and reads the headers after it */
		const char *nl = memchr(msg, '\n', len);
		if (!nl)
			return false;
		start = (size_t)(nl - msg) + 1;
	}
	if (!light_header_block(msg, start, len, true, lm->h, &lm->n, &lm->body) ||
	    (start && !lm->n))
		return false;
	lm->nparts = lm->nnodes = 0;
	lm->nested = false;
	struct light_ct ct;
	GMimeContentEncoding enc;
	if (!light_entity(lm->h, lm->n, true, lm, &ct, &enc))
		return false;
	if (strncmp(ct.ts, "multipart/", 10))
		return light_leaf_part(f, lm, &ct, enc, msg + lm->body, len - lm->body, true);
	if (!multipart_ok(&ct, enc))
		return false;
	struct light_stack st = { .b = { ct.p.boundary }, .bl = { strlen(ct.p.boundary) } };
	struct light_stop stop;
	return light_node(lm, NODE_OPEN, ct.ts) &&
	       light_multipart(f, msg, lm->body, len, &st, 0, lm, &stop) &&
	       light_node(lm, NODE_CLOSE, NULL);
}
/* leaf() and decode_part() for a part light_eligible() accepted. */
static void light_leaf(struct ctx *c, const struct light_part *pt)
{
	struct features *f = c->f;
	if (pt->attachment || !pt->text || pt->has_fname)
		att_features(c, pt->att, pt->has_fname ? pt->fname : NULL);
	if (!pt->text || f->decoded >= MIME_DECODED_MAX)
		return;
	size_t max = MIME_DECODED_MAX - f->decoded;
	if (max > MIME_PART_DECODED_MAX)
		max = MIME_PART_DECODED_MAX;
	if (pt->charset[0])
		emitf(c, "cs", "%s", pt->charset);
	const char *text = pt->raw;
	size_t len = pt->raw_len;
	if (pt->encoding != GMIME_CONTENT_ENCODING_DEFAULT) {
		if (light_decode(&f->text, pt->encoding, text, len) < 0) {
			c->oom = 1;
			return;
		}
		text = f->text.p, len = f->text.len;
	}
	GMimeFilter *cf = NULL;
	if (pt->charset[0] &&
	    !ascii_clean(text, len < MIME_PART_DECODED_MAX ? len : MIME_PART_DECODED_MAX)) {
		/* light_part_ok() made sure the filter exists and len is below the cut */
		if (text != f->text.p &&
		    (buf_reset(&f->text), buf_append(&f->text, text, len) < 0)) {
			c->oom = 1;
			return;
		}
		cf = charset_filter(f, pt->cs);
		char *out;
		size_t outpre;
		g_mime_filter_complete(cf, f->text.p, f->text.len, 0, &out, &len, &outpre);
		text = out;
	}
	if (len >= max) {
		len = max;
		emit1(c, "m", "#part_cut");
	}
	part_text(c, pt->html, text, len);
	if (cf)
		g_object_unref(cf);
}

/* GMime's parse of an address header v[0, n) of the light path, unfolded. */
static InternetAddressList *gmime_addresses(GMimeParserOptions *opts, const char *v, size_t n)
{
	char tmp[CONTENT_HEADER_VALUE_MAX + 1];
	if (n > CONTENT_HEADER_VALUE_MAX)
		n = CONTENT_HEADER_VALUE_MAX;
	for (size_t i = 0; i < n; i++)
		tmp[i] = v[i] == '\r' || v[i] == '\n' ? ' ' : v[i];
	tmp[n] = '\0';
	return internet_address_list_parse(opts, tmp);
}

/* The first address of an address header v[0, n) of the light path (NULL when
 * it has none): address_list_simple()'s when it takes the value (name_buf as
 * there, CONTENT_HEADER_VALUE_MAX bytes), else GMime's, which reports its
 * warnings; *list (when not NULL) then holds GMime's list, to unref after use. */
static const struct address *light_address(struct light_gmime *g, const char *v, size_t n,
					   struct address *a, char *name_buf,
					   InternetAddressList **list)
{
	if (!v)
		return NULL;
	int count = n <= CONTENT_HEADER_VALUE_MAX ? address_list_simple(v, n, a, name_buf) : -1;
	if (count >= 0)
		return count ? a : NULL;
	InternetAddressList *l = gmime_addresses(light_opts(g), v, n);
	const struct address *first = gmime_first_address(l, a);
	if (list)
		*list = l;
	else if (l)
		g_object_unref(l);
	return first;
}


static void light_message(struct ctx *c, const struct light_msg *lm)
{
	struct light_gmime g = { .c = c };
	/* GMime's parser warns about values that are not UTF-8 while it reads the
	 * header block, ... */
	for (size_t i = 0; i < lm->n; i++) {
		const struct light_hdr *h = &lm->h[i];
		if (h->encoded && !g_utf8_validate(h->value, (gssize)h->vlen, NULL))
			parser_warning(-1, GMIME_WARN_UNENCODED_8BIT_HEADER, NULL, c);
	}
	/* ... then the message takes the headers in order: it parses address
	 * headers and decodes the others (their warnings are features: this
	 * order, before the header features) */
	const char *subject = "";
	size_t subject_len = 0;
	char *decoded = NULL, name[CONTENT_HEADER_VALUE_MAX];
	struct address a, b, other;
	const struct address *from = NULL, *reply_to = NULL;
	InternetAddressList *from_list = NULL, *reply_to_list = NULL;
	for (size_t i = 0; i < lm->n; i++) {
		const struct light_hdr *h = &lm->h[i];
		if (address_header(h->kind)) {
			if (h->kind == H_FROM)
				from = light_address(&g, h->value, h->vlen, &a, name, &from_list);
			else if (h->kind == H_REPLY_TO)
				reply_to = light_address(&g, h->value, h->vlen, &b, NULL,
							 &reply_to_list);
			else
				light_address(&g, h->value, h->vlen, &other, NULL, NULL);
			/* GMime decodes an address header as text too, after its
			 * address parse: an invalid encoded word warns again there */
			if (h->encoded)
				g_free(light_decoded(&g, h->value, h->vlen));
		} else if (h->kind == H_SUBJECT && !h->encoded) /* light_entity: one Subject */
			subject = h->value, subject_len = h->vlen;
		else if (h->kind == H_SUBJECT) {
			if ((decoded = light_decoded(&g, h->value, h->vlen))) {
				subject = decoded;
				subject_len = strnlen(decoded, CONTENT_HEADER_VALUE_MAX);
			}
		} else if (h->encoded)
			g_free(light_decoded(&g, h->value, h->vlen));
	}
	/* ... then what it finds in the content type and the body */
	if (lm->empty_param)
		parser_warning(-1, GMIME_WARN_INVALID_PARAMETER, NULL, c);
	if (lm->truncated)
		parser_warning(-1, GMIME_WARN_TRUNCATED_MESSAGE, NULL, c);
	struct hdr_state st = { .s_hn = family_seed("hn") };
	for (size_t i = 0; i < lm->n; i++) {
		const struct light_hdr *h = &lm->h[i];
		if (h->kind >= H_CONTENT_TYPE)
			continue; /* GMime files these under the body part */
		header_one(c, &st, h->name, h->nlen, NULL, &g, h->value, h->vlen);
	}
	header_finish(c, &st, subject, subject_len, from, reply_to);
	g_free(decoded);
	if (from_list)
		g_object_unref(from_list);
	if (reply_to_list)
		g_object_unref(reply_to_list);
	if (g.opts)
		g_mime_parser_options_free(g.opts);

	if (!lm->nnodes) {
		c->parts = 1;
		structure_add(c, lm->part[0].ts);
		emitf(c, "pt", "%s", lm->part[0].ts);
		light_leaf(c, &lm->part[0]);
		return;
	}
	/* walk()'s order: each entity's type, "(" children separated by "," ")" */
	size_t children[LIGHT_DEPTH_MAX];
	int d = -1;
	for (size_t i = 0; i < lm->nnodes; i++) {
		const struct light_node *nd = &lm->node[i];
		if (nd->kind == NODE_CLOSE) {
			structure_add(c, ")");
			d--;
			continue;
		}
		if (d >= 0 && children[d]++)
			structure_add(c, ",");
		c->parts++;
		const char *ts = nd->kind == NODE_OPEN ? nd->ts : lm->part[nd->part].ts;
		structure_add(c, ts);
		emitf(c, "pt", "%s", ts);
		if (nd->kind == NODE_OPEN) {
			structure_add(c, "(");
			children[++d] = 0;
		} else {
			light_leaf(c, &lm->part[nd->part]);
		}
	}
}

/* Is the header line at p (field name up to ':') one of FEATURES_SITE_HEADERS? */
static bool site_header(const char *p, size_t n)
{
	static const char *const names[] = { FEATURES_SITE_HEADERS };
	size_t k = 0;
	while (k < n && p[k] != ':' && p[k] != ' ' && p[k] != '\t' && p[k] != '\n')
		k++;
	size_t c = k;
	while (c < n && (p[c] == ' ' || p[c] == '\t'))
		c++;
	if (c >= n || p[c] != ':')
		return false;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == k && strncasecmp(p, names[i], k) == 0)
			return true;
	return false;
}

/* A copy of msg without the top-level header fields of FEATURES_SITE_HEADERS
 * (with their continuation lines); the header block ends at the first empty
 * line (LF or CRLF), the body is copied as it is. */
static int site_neutral(struct buf *out, const char *msg, size_t len)
{
	buf_reset(out);
	if (buf_reserve(out, len + 1) < 0)
		return -1;
	size_t pos = 0;
	bool drop = false;
	while (pos < len) {
		const char *nl = memchr(msg + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - msg) + 1 : len;
		const char *line = msg + pos;
		size_t ll = end - pos;
		if (ll == 1 || (ll == 2 && line[0] == '\r')) /* the empty line: body follows */
			break;
		if (line[0] == ' ' || line[0] == '\t') {
			if (!drop)
				buf_append(out, line, ll);
		} else {
			drop = site_header(line, ll);
			if (!drop)
				buf_append(out, line, ll);
		}
		pos = end;
	}
	buf_append(out, msg + pos, len - pos);
	out->p[out->len] = '\0';
	return 0;
}

int features_extract(struct features *f, const char *msg, size_t len)
{
	pthread_once(&gmime_once, gmime_start);
	if (prepare(f) < 0)
		return -1;
	if (f->flags & FEAT_SITE_NEUTRAL) {
		if (site_neutral(&f->neutral, msg, len) < 0)
			return -1;
		msg = f->neutral.p;
		len = f->neutral.len;
	}
	struct ctx c = { .f = f };
	c.s_w = family_seed("w");
	c.s_s = family_seed("s");
	c.s_fn = family_seed("fn");
	c.s_r = family_seed("r");
	c.s_xm = family_seed("xm");
	c.s_u = family_seed("u");
	c.s_li = family_seed("li");

	ngrams(&c, msg, len);
	emitf(&c, "m", "#size%u", bucket_log2(len));

	struct light_msg lm;
	f->light = !(f->flags & FEAT_NO_LIGHT) && light_eligible(f, msg, len, &lm);
	if (f->light) {
		light_message(&c, &lm);
		goto done;
	}
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer(msg, len);
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	GMimeParserOptions *opts = g_mime_parser_options_new();
	g_mime_parser_options_set_warning_callback(opts, parser_warning, &c);
	GMimeMessage *m = g_mime_parser_construct_message(parser, opts);
	if (m) {
		header_features(&c, m);
		GMimeObject *body = g_mime_message_get_mime_part(m);
		if (body)
			walk(&c, body, 0);
		g_object_unref(m);
	} else {
		emit1(&c, "m", "#unparsable");
		text_features(&c, msg, len < MIME_PART_DECODED_MAX ? len : MIME_PART_DECODED_MAX);
	}
	g_mime_parser_options_free(opts);
	g_object_unref(parser);
	g_object_unref(stream);
done:
	if (c.slen)
		emit1(&c, "ct", c.structure);
	if (!c.any_text)
		emit1(&c, "m", "#no_text");
	html_signals(&c);
	emitf(&c, "u", "#count%u", bucket_log2(c.urls + 1));
	emitf(&c, "m", "#words%u", bucket_log2(f->nwords + 1));
	return c.oom ? -1 : 0;
}
