/*
 * features.h - a message as a set of hashed features for the classifier.
 *
 * features_extract() parses the message with GMime under the limits of
 * core/limits.h (parts, depth, decoded bytes), decodes transfer encodings and
 * charsets to UTF-8, turns HTML into text, and emits features of several
 * families, each hashed (xxhash, family as the seed) to 32 bits:
 *   g: character 4-grams of the raw message start    w: words of decoded text
 *   p: orthogonal sparse word pairs (distance 1..3)  s/fn/fd/rt/...: header tokens
 *   u: URL hosts and domains                        ct/pt/cs/att: MIME structure
 *   h: HTML obfuscation signals                      m/mw: size, parser warnings
 * Every feature is binary: a set, not a bag (duplicates are dropped).
 * With FEAT_NAMES the printable name of each feature is kept too (explanations,
 * golden tests); without it no name is ever built, which is the fast path.
 * FEAT_ORIGINS keeps only the raw family and token of each feature (a short
 * copy) and features_name_format() makes the name of the few a caller
 * reports, the same name FEAT_NAMES gives (the server's headers show five).
 * FEAT_SITE_NEUTRAL reads a copy of the message without the top-level header
 * fields FEATURES_SITE_HEADERS lists (the shipped model is trained that way).
 * It does not look at the envelope or authentication results: those belong to
 * a later, stacked stage so that the content model stays pure.
 */
#ifndef MX_CONTENT_FEATURES_H
#define MX_CONTENT_FEATURES_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	FEAT_NAMES = 1u << 0,     /* keep names (slower) */
	FEAT_NO_NGRAMS = 1u << 1, /* leave out the 4-gram family (golden files) */
	FEAT_NO_LIGHT = 1u << 2,  /* always parse with GMime (tests of the light path) */
	FEAT_ORIGINS = 1u << 3,   /* keep each feature's family and token raw, unformatted:
				   * names only for the features asked (the server) */
	FEAT_SITE_NEUTRAL = 1u << 4, /* read the message without the headers that name the
				      * receiving site: recipients and Received (a model
				      * trained on one site's mail, for any site) */
};

/* The header fields FEAT_SITE_NEUTRAL leaves out: the recipients' addresses and
 * the Received trace, whose top (the receiving site's own hops) is the same on
 * every message of a site and tells another site nothing. */
#define FEATURES_SITE_HEADERS \
	"received", "to", "cc", "delivered-to", "x-original-to", "envelope-to", "x-envelope-to"

#define FEATURES_CHARSETS_MAX 16
#define FEATURES_CHARSET_NAME_MAX 48

struct features {
	unsigned flags;
	uint32_t *hash;      /* n unique feature hashes, in order of first emission */
	uint32_t *name_off;  /* FEAT_NAMES/FEAT_ORIGINS: offset of each name in names */
	size_t n;
	size_t ngrams;       /* the first ngrams hashes are the byte 4-grams (family g) */
	struct buf names;    /* FEAT_NAMES: NUL-terminated names; FEAT_ORIGINS: raw records */
	bool truncated;      /* CONTENT_FEATURES_MAX reached */
	bool light;          /* the message took the light path, not GMime's parser */
	/* scratch, reused from message to message */
	uint32_t *seen;      /* dedup table of hashes */
	size_t seen_mask;    /* part of the table in use, grows per message */
	struct buf text;     /* decoded text of the current part */
	struct buf html;     /* HTML turned into text */
	struct buf neutral;  /* FEAT_SITE_NEUTRAL: the message without the site's headers */
	uint32_t *words;     /* word hashes of the current text run */
	size_t nwords;       /* words used so far in this message */
	size_t decoded;      /* decoded bytes used so far in this message */
	/* charset converters (GMimeFilter *, NULL: cannot convert) by charset name:
	 * iconv_open costs more than decoding a typical part, so they are kept */
	struct features_charset {
		char name[FEATURES_CHARSET_NAME_MAX];
		void *filter;
	} charsets[FEATURES_CHARSETS_MAX];
	size_t ncharsets;
};

/* GMime's one-time initialisation; features_extract() calls it too, but a
 * program about to start threads calls it first. */
void features_global_init(void);
/* Ready for use; no allocation until the first message. */
void features_init(struct features *f, unsigned flags);
void features_free(struct features *f);
/* Replaces f's features with those of msg; 0, or -1 on allocation failure. */
int features_extract(struct features *f, const char *msg, size_t len);
/* Name of feature i ("" without FEAT_NAMES). */
const char *features_name(const struct features *f, size_t i);
/* Name of feature i into out, with FEAT_NAMES or FEAT_ORIGINS (cut to
 * outlen - 1 bytes); 0, or -1 when cut, unknown or without names ("" then). */
int features_name_format(const struct features *f, size_t i, char *out, size_t outlen);
/* Whether the message last extracted has the feature of hash h. */
bool features_has(const struct features *f, uint32_t h);
/* The stable hash of one feature name such as "w:viagra" (tests, docs). */
uint32_t features_hash_name(const char *name);

#endif
