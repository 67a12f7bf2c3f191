/*
 * trec.h - the TREC spam track measures of a run (Cormack & Lynam, TREC 2005).
 *
 * Input: per message, the gold label, the filter's binary class and its score
 * (higher = spammier). Output:
 *   roca_pct   (1-ROCA)%: area above the ROC curve, percent; ties between a
 *              ham and a spam score count one half. 0 when a class is empty.
 *   hm_pct     ham misclassification %, sm_pct spam misclassification %, of the
 *              filter's classes.
 *   lam_pct    logistic average misclassification: invlogit((logit(hm) +
 *              logit(sm)) / 2) with the rates smoothed as (errors + 0.5) /
 *              (n + 0.5) (the CEAS 2007 rule) so zero errors stay finite;
 *              with one class empty it is that of the other class, unsmoothed.
 *   sm_at_hm_0.1  spam misclassification % at the score threshold that
 *              misclassifies at most 0.1% of the ham (floor(0.001 * ham) hams
 *              may lie above it; a spam scoring at or below it is missed).
 */
#ifndef MX_CONTENT_TREC_H
#define MX_CONTENT_TREC_H

#include <stdbool.h>
#include <stddef.h>

struct trec_row {
	double score;
	bool spam;     /* gold label */
	bool as_spam;  /* the filter's class */
};

struct trec_measures {
	size_t messages, ham, spam;
	double roca_pct, lam_pct, hm_pct, sm_pct, sm_at_hm01_pct;
};

/* Sorts rows by score (in place); always 0. */
int trec_measure(struct trec_row *rows, size_t n, struct trec_measures *out);

/* Platt scaling: a, b minimising the log loss of sigmoid(a * score + b) on the
 * gold labels, with Platt's smoothed targets; -1 when a class is empty. */
int trec_platt(const struct trec_row *rows, size_t n, double *a, double *b);

#endif
