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
#define MODEL_VERSION 2
#define MODEL_HAS_STATE 1u /* flags: accumulators follow the weights */

struct model_params {
	float eta;     /* learning rate */
	float margin;  /* train when y * score < margin (logit units) */
	float g0;      /* initial AdaGrad accumulator */
	float calib_a; /* probability = sigmoid(calib_a * score + calib_b) */
	float calib_b;
};

struct model {
	unsigned bits;
	uint32_t mask;
	float *w;
	float *g;       /* AdaGrad accumulators; NULL when read-only */
	float bias;
	float gbias;
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

/* Raw score (logit) of the features; higher is spammier. */
double model_score(const struct model *m, const struct features *f);
/* Calibrated spam probability of a score. */
double model_probability(const struct model *m, double score);
/* Contribution of feature i to the score. */
double model_contribution(const struct model *m, const struct features *f, size_t i);
/* One online step on the gold label; returns true when weights changed. */
bool model_train(struct model *m, const struct features *f, bool spam);
/* Size of the file model_save would write. */
size_t model_file_size(unsigned bits, bool with_state);

#endif
