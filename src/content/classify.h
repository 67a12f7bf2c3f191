/*
 * classify.h - spam probability, Spam Confidence Level and explanation of one message.
 *
 * SCL (0..9) is a fixed, documented mapping of the calibrated spam probability
 * (docs/classifier.md): the cut points below are probabilities, so SCL >= 5
 * means p >= 0.5 and SCL 9 means p >= 0.999. The model's calibration (Platt
 * parameters in its header, fitted on out-of-sample scores by `eval
 * --calibrate`) is what makes the probability mean what it says.
 *
 * struct content_filter is the serving side: a model path, the mmap'd model
 * and a reusable feature buffer; it re-maps the model when the file was
 * replaced (checked at most once a second), so `mxscreen train` on a live
 * server takes effect without a restart. One per thread; not locked.
 */
#ifndef MX_CONTENT_CLASSIFY_H
#define MX_CONTENT_CLASSIFY_H

#include "content/features.h"
#include "content/model.h"

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define SCL_MAX 9
#define CONTENT_TOP_MAX 8

struct content_top {
	char name[64];
	double contribution; /* to the score; > 0 spammy */
};

/* The name of the top[] line that gives the byte-4-gram model's share. */
#define CONTENT_NGRAM_LINE "4grams:model"

/* Content symbols: facts about a message that carry across mail streams
 * (header and format anomalies, HTML obfuscation, URL tricks), each a feature
 * of the rich model, named for the verdict engine to weigh with the
 * authentication and reputation facts. The weight is what the model learnt:
 * the feature's contribution to this message's fused score (logit units, > 0
 * spammy). At most CONTENT_SYMBOLS_MAX, in the order of content_symbol_table. */
#define CONTENT_SYMBOLS_MAX 24

struct content_symbol {
	const char *name;        /* "CNT_HTML_HIDDEN_TEXT": static storage */
	const char *description; /* one short line: static storage */
	double weight;
};

struct content_result {
	double score;       /* raw logit: the fused score (the rich one in a version 2 model) */
	double probability; /* calibrated */
	int scl;
	/* the features that moved the score most (never byte 4-grams when the model
	 * has a 4-gram model), then CONTENT_NGRAM_LINE with that model's share */
	struct content_top top[CONTENT_TOP_MAX];
	size_t ntop;
	double rich_score;  /* the base models' logits, before the fusion */
	double ngram_score;
	/* the content symbols the message has (with explanations: ntop > 0) */
	struct content_symbol symbols[CONTENT_SYMBOLS_MAX];
	size_t nsymbols;
};

/* Every content symbol: name, the feature that carries it, description. */
struct content_symbol_def {
	const char *name;
	const char *feature;
	const char *description;
};
extern const struct content_symbol_def content_symbol_table[];
extern const size_t content_symbol_count;

/* Probability cut points of SCL 1..9. */
extern const double content_scl_cuts[SCL_MAX];
int content_scl(double probability);

/* Classifies features already extracted; top needs FEAT_NAMES or FEAT_ORIGINS. */
void content_classify_features(const struct model *m, const struct features *f, size_t ntop,
			       struct content_result *r);

struct content_filter;
/* The model path is used as given, else resolved against the executable's
 * ../ (a build directory in the source tree); NULL with err when unusable. */
struct content_filter *content_filter_new(const char *path, char *err, size_t errlen);
void content_filter_free(struct content_filter *cf);
/* 0, or -1 (out of memory): r is then zeroed. */
int content_filter_classify(struct content_filter *cf, const char *msg, size_t len,
			    struct content_result *r);
const char *content_filter_path(const struct content_filter *cf);
/* Resolves a model path the way content_filter_new does; into out. */
int content_model_resolve(const char *path, char *out, size_t outlen);

#endif
