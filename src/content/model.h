/*
 * model.h - hashed-feature online logistic regression and its model file.
 *
 * A model is 2^bits float weights indexed by feature hash (low bits), a bias,
 * and optionally per-weight AdaGrad accumulators (the training state). Score
 * = bias + sum of w[h] * x over the message's features, x = 1/sqrt(n) (binary
 * features, unit length). Training is on the gold label with a margin: a
 * message already classified on the right side by more than the margin (in
 * logit units) teaches nothing, so repeated feedback does not overfit. Given
 * the same messages in the same order the result is bit-identical.
 *
 * File (little-endian, native float): a 64-byte header (magic, version,
 * bits, flags, learning parameters, counters), the weights, the optional
 * accumulators, then an XXH64 checksum of everything before it. Readers mmap
 * it read-only and share it; writers write a temporary file in the same
 * directory, fsync it, rename it over the old one and fsync the directory,
 * so a reader sees the old or the new model, never a mix.
 */
#ifndef MX_CONTENT_MODEL_H
#define MX_CONTENT_MODEL_H

#include "content/features.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MODEL_MAGIC "MXSMODEL"
/* Version 2 adds a checksum of header and weights alone, so that a reader that
 * only classifies neither reads nor verifies the training state; version 1
 * files (one checksum over everything) are still read. */
/* Version 3 adds the byte-4-gram model (its weights after the rich model's
 * and its state) and the stacked fusion of the two; version 1 and 2 files
 * (the rich model alone) are still read and score as before. */
#define MODEL_VERSION 3
#define MODEL_HAS_STATE 1u /* flags: accumulators follow the weights */
#define MODEL_SITE_NEUTRAL 2u /* flags: trained on FEAT_SITE_NEUTRAL features */

struct model_params {
	float eta;     /* rich model: AdaGrad learning rate */
	float margin;  /* rich model: train when y * score < margin (logit units) */
	float g0;      /* rich model: initial AdaGrad accumulator */
	float calib_a; /* probability = sigmoid(calib_a * fused score + calib_b) */
	float calib_b;
	float step_cap;  /* rich model: one training message moves its own score by at
			  * most this much (logit units); 0: no cap */
	float eta4;      /* byte-4-gram model: fixed learning rate, every message */
	float stack_eta; /* fusion: fixed learning rate of the stacked regression */
	unsigned ngram_bits; /* byte-4-gram weights: 2^ngram_bits; 0: no 4-gram model,
			      * no fusion (the score is the rich model's, as in version 2) */
	float noise_tau; /* rich model: a message scored more than this (logit units)
			  * on the wrong side may be label noise: its step is divided
			  * by 1 + the excess; 0: off */
	float step_cap4; /* byte-4-gram model: one message moves its own score by at
			  * most this much; 0: no cap */
	bool site_neutral; /* features read without the site's headers (FEAT_SITE_NEUTRAL):
			    * what the shipped model is trained on, so what it reads */
};

/* Defaults of the parameters added with version 3, chosen on the first half
 * of the SpamAssassin corpus in time order (docs/classifier.md). */
#define MODEL_STEP_CAP 0.0f
#define MODEL_NOISE_TAU 1.0f
#define MODEL_STEP_CAP4 6.0f
#define MODEL_ETA4 0.004f
#define MODEL_STACK_ETA 0.002f
#define MODEL_NGRAM_BITS 19

/* The stacked fusion's inputs are the base models' logits, clipped to this. */
#define MODEL_STACK_CLIP 12.0f

/* The scores of one message: each base model's and the fusion's. */
struct model_scores {
	double rich;  /* AdaGrad model on all families */
	double ngram; /* byte-4-gram model (0 without one) */
	double fused; /* stacked: stack[0] + stack[1] * rich + stack[2] * ngram */
};

struct model {
	unsigned bits;
	uint32_t mask;
	float *w;
	float *g;       /* AdaGrad accumulators; NULL when read-only */
	float bias;
	float gbias;
	float *w4;      /* byte-4-gram weights (2^p.ngram_bits), NULL without */
	uint32_t mask4;
	float bias4;
	float stack[3]; /* fusion: bias, weight of the rich logit, of the 4-gram logit */
	struct model_params p;
	uint64_t trained_ham, trained_spam, updates;
	/* storage */
	void *map;      /* mmap'd file (read-only models) */
	size_t maplen;
	bool owned;     /* w/g malloc'd */
};

/* Defaults: what `train --fresh`, eval --fresh and the shipped model use. */
struct model_params model_default_params(void);

/* A fresh all-zero model with training state; NULL on ENOMEM or bad bits. */
struct model *model_new(unsigned bits, const struct model_params *p);
/* Maps path read-only (classification); NULL with err set. */
struct model *model_open(const char *path, char *err, size_t errlen);
/* Reads path into memory for training (state created if the file has none). */
struct model *model_load(const char *path, char *err, size_t errlen);
/* Atomic replace of path; with_state keeps the accumulators. 0 or -1/err. */
int model_save(const struct model *m, const char *path, bool with_state, char *err,
	       size_t errlen);
void model_free(struct model *m);

/* The features_init() flags a model's features need (FEAT_SITE_NEUTRAL or 0). */
unsigned model_feature_flags(const struct model *m);
/* Raw score (logit) of the features, the fused one; higher is spammier. */
double model_score(const struct model *m, const struct features *f);
/* Every score of the features. */
void model_scores(const struct model *m, const struct features *f, struct model_scores *s);
/* Calibrated spam probability of a score. */
double model_probability(const struct model *m, double score);
/* Contribution of feature i, through the rich model, to the fused score. */
double model_contribution(const struct model *m, const struct features *f, size_t i);
/* Contribution of the byte-4-gram model to the fused score. */
double model_ngram_contribution(const struct model *m, const struct model_scores *s);
/* One online step of all three models on the gold label (the 4-gram model and
 * the fusion learn from every message, the rich model near errors only);
 * returns true when the rich model's weights changed. */
bool model_train(struct model *m, const struct features *f, bool spam);
/* Size of the file model_save would write. */
size_t model_file_size(unsigned bits, unsigned ngram_bits, bool with_state);

#endif
