/*
 * trec.c - TREC spam track measures; see trec.h.
 */
#include "content/trec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int by_score(const void *a, const void *b)
{
	double x = ((const struct trec_row *)a)->score, y = ((const struct trec_row *)b)->score;
	return (x > y) - (x < y);
}

static double logit(double p)
{
	return log(p / (1 - p));
}

int trec_measure(struct trec_row *rows, size_t n, struct trec_measures *out)
{
	memset(out, 0, sizeof(*out));
	out->messages = n;
	size_t fp = 0, fn = 0;
	for (size_t i = 0; i < n; i++) {
		if (rows[i].spam) {
			out->spam++;
			fn += !rows[i].as_spam;
		} else {
			out->ham++;
			fp += rows[i].as_spam;
		}
	}
	size_t nh = out->ham, ns = out->spam;
	out->hm_pct = nh ? 100.0 * (double)fp / (double)nh : 0;
	out->sm_pct = ns ? 100.0 * (double)fn / (double)ns : 0;
	if (nh && ns) {
		double hm = (fp + 0.5) / (nh + 0.5), sm = (fn + 0.5) / (ns + 0.5);
		double z = (logit(hm) + logit(sm)) / 2;
		out->lam_pct = 100.0 / (1 + exp(-z));
	} else {
		out->lam_pct = nh ? out->hm_pct : out->sm_pct;
	}
	if (n > 1)
		qsort(rows, n, sizeof(*rows), by_score);
	if (nh && ns) {
		/* for each spam: hams strictly below + half the hams tied with it */
		double good = 0;
		size_t ham_below = 0, i = 0;
		while (i < n) {
			size_t j = i, h = 0, s = 0;
			while (j < n && rows[j].score == rows[i].score) {
				if (rows[j].spam)
					s++;
				else
					h++;
				j++;
			}
			good += (double)s * ((double)ham_below + 0.5 * (double)h);
			ham_below += h;
			i = j;
		}
		out->roca_pct = 100.0 * (1.0 - good / ((double)nh * (double)ns));
	}
	if (ns) {
		size_t allowed = nh / 1000; /* floor(0.001 * ham) */
		double thr = -INFINITY;
		if (nh > allowed) {
			/* the (allowed+1)-th highest ham score */
			size_t seen = 0;
			for (size_t i = n; i-- > 0;)
				if (!rows[i].spam && ++seen == allowed + 1) {
					thr = rows[i].score;
					break;
				}
		}
		size_t missed = 0;
		for (size_t i = 0; i < n; i++)
			if (rows[i].spam && rows[i].score <= thr)
				missed++;
		out->sm_at_hm01_pct = 100.0 * (double)missed / (double)ns;
	}
	return 0;
}

int trec_platt(const struct trec_row *rows, size_t n, double *a, double *b)
{
	size_t np = 0, nn = 0;
	for (size_t i = 0; i < n; i++)
		np += rows[i].spam, nn += !rows[i].spam;
	if (!np || !nn)
		return -1;
	double tp = (np + 1.0) / (np + 2.0), tn = 1.0 / (nn + 2.0);
	double A = 1, B = 0;
	/* Newton's method with a small ridge and step halving (Lin, Lin & Weng 2007) */
	for (int it = 0; it < 100; it++) {
		double h11 = 1e-9, h22 = 1e-9, h21 = 0, g1 = 0, g2 = 0, f0 = 0;
		for (size_t i = 0; i < n; i++) {
			double s = rows[i].score, t = rows[i].spam ? tp : tn;
			double z = A * s + B, p = 1 / (1 + exp(-z));
			double d2 = p * (1 - p);
			h11 += s * s * d2, h22 += d2, h21 += s * d2;
			g1 += s * (p - t), g2 += p - t;
			f0 += z >= 0 ? t * z - z - log1p(exp(-z)) : t * z - log1p(exp(z));
		}
		f0 = -f0;
		if (fabs(g1) < 1e-6 && fabs(g2) < 1e-6)
			break;
		double det = h11 * h22 - h21 * h21;
		double dA = -(h22 * g1 - h21 * g2) / det, dB = -(-h21 * g1 + h11 * g2) / det;
		double step = 1;
		for (; step > 1e-10; step /= 2) {
			double nA = A + step * dA, nB = B + step * dB, f1 = 0;
			for (size_t i = 0; i < n; i++) {
				double t = rows[i].spam ? tp : tn, z = nA * rows[i].score + nB;
				f1 += z >= 0 ? t * z - z - log1p(exp(-z)) : t * z - log1p(exp(z));
			}
			if (-f1 < f0 + 1e-4 * step * (g1 * dA + g2 * dB)) {
				A = nA, B = nB;
				break;
			}
		}
		if (step <= 1e-10)
			break;
	}
	*a = A;
	*b = B;
	return 0;
}
