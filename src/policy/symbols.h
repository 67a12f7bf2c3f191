/*
 * symbols.h - the named facts that a verdict is explained by.
 *
 * Every check that can matter to a verdict adds a symbol: a name from the
 * catalogue below (or a dynamic name such as DNSBL_<ZONE>_<CODE>), a score
 * (positive: towards junk, negative: towards the Inbox) and a one-line
 * description, as rspamd does. The verdict engine (verdict.c) adds the
 * scores and applies its rules; the list travels to the X-Mxscreen-Symbols
 * header, the decision log line and the statistics. docs/symbols.md is
 * generated from this table (`mxscreen symbols`).
 * Not here: deciding anything (verdict.c), gathering the facts (pipeline.c).
 */
#ifndef MX_POLICY_SYMBOLS_H
#define MX_POLICY_SYMBOLS_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>

enum symbol_id {
	SYM_NONE = 0,
	/* connection */
	SYM_IP_ALLOWLISTED,
	SYM_IP_BLOCKLISTED,
	SYM_DNSBL,       /* dynamic name: DNSBL_<ZONE>_<CODE>, score = weight */
	SYM_DNSWL,       /* dynamic name: DNSWL_<ZONE>_<CODE>, score = -weight */
	SYM_DNSBL_REFUSED,
	SYM_PREGREET,
	SYM_EARLY_PIPELINING,
	SYM_NO_FCRDNS,
	SYM_REP_IP_GOOD,
	SYM_REP_IP_SUSPECT,
	SYM_REP_IP_BAD,
	SYM_REP_NET_SUSPECT,
	SYM_REP_NET_BAD,
	SYM_REP_DOMAIN_GOOD,
	SYM_REP_DOMAIN_BAD,
	SYM_RATE_LIMIT_IP,
	SYM_RATE_LIMIT_NET,
	SYM_HAMMERING,
	/* MAIL FROM */
	SYM_SPF_PASS,
	SYM_SPF_FAIL,
	SYM_SPF_SOFTFAIL,
	SYM_SPF_NEUTRAL,
	SYM_SPF_NONE,
	SYM_SPF_TEMPERROR,
	SYM_SPF_PERMERROR,
	SYM_CERTIFIED_SENDER,
	SYM_DOMAIN_ALLOWLISTED,
	/* RCPT TO */
	SYM_TRAP_HIT,
	/* end of DATA */
	SYM_LONG_LINE,
	SYM_SENDERID_PASS,
	SYM_SENDERID_FAIL,
	SYM_DKIM_PASS,
	SYM_DKIM_FAIL,
	SYM_DKIM_TEMPERROR,
	SYM_DKIM_PERMERROR,
	SYM_ARC_PASS,
	SYM_ARC_FAIL,
	SYM_DMARC_PASS,
	SYM_DMARC_FAIL,
	SYM_DMARC_REJECT,
	SYM_DMARC_QUARANTINE,
	SYM_DMARC_OVERRIDE_ARC,
	SYM_DMARC_TEMPERROR,
	SYM_CONTENT_SCL, /* dynamic name: CONTENT_SCL_<n>, score from the SCL (verdict.c) */
	SYM_CONTENT,     /* dynamic name: a content symbol of the classifier */
	SYM__COUNT
};

struct symbol_info {
	const char *name;  /* for dynamic ones, the pattern ("DNSBL_<ZONE>_<CODE>") */
	double score;      /* default; dynamic ones carry their own */
	const char *desc;  /* one line */
};

#define SYMBOL_NAME_MAX 200
#define SYMBOLS_MAX 48

struct symbol {
	enum symbol_id id;
	char name[SYMBOL_NAME_MAX];
	double score;
	bool dry_run; /* its check is in dry-run mode: shown and counted, decides nothing */
};

struct symbols {
	struct symbol s[SYMBOLS_MAX];
	size_t n;
	size_t dropped; /* symbols past SYMBOLS_MAX (logged, never silently) */
};

const struct symbol_info *symbol_info(enum symbol_id id);
/* Adds a catalogue symbol with its default score. */
void symbols_add(struct symbols *l, enum symbol_id id);
/* Adds a symbol with its own name and score (dynamic ones). */
void symbols_add_named(struct symbols *l, enum symbol_id id, const char *name, double score);
bool symbols_has(const struct symbols *l, enum symbol_id id);
/* Sum of the scores of the symbols that are not in dry-run mode. */
double symbols_score(const struct symbols *l);
/* "NAME=score NAME=score ..." (dry-run ones as NAME=score(dry-run)); -1 on ENOMEM. */
int symbols_format(const struct symbols *l, struct buf *out);
/* Symbol name made from parts: upper case, [^A-Z0-9] to '_'; into out. */
void symbol_name_build(char *out, size_t outlen, const char *prefix, const char *part,
		       const char *suffix);
/* Prints the catalogue as Markdown (docs/symbols.md). */
#include <stdio.h>
void symbols_doc(FILE *out);

#endif
