/*
 * arc.h - ARC chain validation (RFC 8617 5.2).
 *
 * The ARC sets of a message (ARC-Authentication-Results, ARC-Message-Signature,
 * ARC-Seal with the same i=) are checked for structure first: instances 1..N
 * each exactly once (N <= 50), the newest seal's cv not "fail", cv=none on
 * instance 1 and cv=pass above. Then every AMS and every AS is verified with
 * its key, through the same DNS seam as DKIM (auth/txt.h). The chain passes
 * when the newest AMS and all seals verify. oldest_pass is the lowest instance
 * from which every AMS up to N verifies (0 when all do; 5.2 step 6, reported
 * as header.oldest-pass, RFC 8617 10.1), what a receiver uses to trust the
 * oldest intermediary still vouching for the content. A failure's reason names
 * the instance and the signature's own reason ("ARC-Seal i=2: signature did
 * not verify").
 * Not here: sealing (adding our own ARC set); the trusted-sealer decision (policy).
 */
#ifndef MX_AUTH_ARC_H
#define MX_AUTH_ARC_H

#include "auth/dkim.h"
#include "auth/headers.h"
#include "auth/txt.h"

#include <time.h>

struct arc_set {
	size_t aar, ams, as; /* field indexes */
	struct dkim_sig ams_sig, as_sig;
	struct slice aar_value; /* after "i=N;" */
};

struct arc_eval {
	const struct headers *h;
	struct arc_set *set; /* set[0] is instance 1 */
	unsigned n;
	enum arc_cv result;
	const char *reason; /* "" on pass and none; else why, naming the instance */
	char why[192];      /* reason when it names a signature and its own reason */
	unsigned oldest_pass;
	bool structural; /* the result was decided before any key */
};

/* 0, or -1 when out of memory. */
int arc_init(struct arc_eval *a, const struct headers *h, time_t now);
const char *arc_query(const struct arc_eval *a, size_t *cursor);
void arc_answer(struct arc_eval *a, const char *name, const struct txt_answer *ans);
void arc_finish(struct arc_eval *a);
void arc_free(struct arc_eval *a);
const char *arc_cv_name(enum arc_cv cv);
/* The sealers (d= of every ARC-Seal, instance 1 first) joined by ':', into out; 0 or -1. */
int arc_chain_domains(const struct arc_eval *a, struct buf *out);
/* The i= of an ARC-Authentication-Results value and the rest after its ';'; 0 if bad. */
unsigned arc_aar_instance(struct slice value, struct slice *rest);

#endif
