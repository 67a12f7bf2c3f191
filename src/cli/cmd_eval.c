/*
 * cmd_eval.c - `mxscreen eval`: a TREC spam track immediate-feedback run.
 *
 * For each line of the index ("spam ../data/inmail.1", paths relative to the
 * index's directory), in order: extract features, classify, record the score,
 * then train on the gold label. Prints the message counts, the TREC measures
 * (content/trec.h) and the throughput (reading, parsing, classifying and
 * training, one core). --results writes the TREC result lines; --save writes
 * the trained model (with --calibrate, Platt parameters fitted on the run's
 * own out-of-sample scores, the intercept at most 0: p >= 0.5 needs a score >= 0; --compact drops the training state: half the size,
 * further training restarts the adaptive rates); --train-only FILE also trains on a second index
 * first (no scores: a train/test split). --bits, --eta and --margin exist for
 * experiments; the defaults are model_default_params().
 */
#include "cli/cli.h"
#include "content/classify.h"
#include "content/trec.h"
#include "core/fileread.h"
#include "core/limits.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct index_entry {
	char *path;
	bool spam;
};

static void free_index(struct index_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].path);
	free(e);
}

static struct index_entry *read_index(const char *index, size_t *count)
{
	FILE *f = fopen(index, "r");
	if (!f) {
		fprintf(stderr, "mxscreen eval: %s: %s\n", index, strerror(errno));
		return NULL;
	}
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", index);
	char *slash = strrchr(dir, '/');
	if (slash)
		slash[1] = '\0';
	else
		dir[0] = '\0';
	struct index_entry *e = NULL;
	size_t n = 0, cap = 0;
	char line[PATH_MAX];
	int lineno = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		char *sp = strchr(line, ' ');
		if (!*line)
			continue;
		if (!sp || (strncmp(line, "spam ", 5) && strncmp(line, "ham ", 4))) {
			fprintf(stderr, "mxscreen eval: %s:%d: expected 'spam|ham PATH'\n", index,
				lineno);
			goto fail;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			struct index_entry *ne = realloc(e, cap * sizeof(*e));
			if (!ne)
				goto fail;
			e = ne;
		}
		const char *p = sp + 1;
		size_t len = strlen(dir) + strlen(p) + 1;
		e[n].path = malloc(len);
		if (!e[n].path)
			goto fail;
		snprintf(e[n].path, len, "%s%s", p[0] == '/' ? "" : dir, p);
		e[n].spam = line[0] == 's';
		n++;
	}
	fclose(f);
	*count = n;
	return e;
fail:
	fclose(f);
	free_index(e, n);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const struct option eval_opts[] = {
	{ "index", required_argument, NULL, 'i' },
	{ "model", required_argument, NULL, 'm' },
	{ "fresh", no_argument, NULL, 'f' },
	{ "results", required_argument, NULL, 'r' },
	{ "save", required_argument, NULL, 's' },
	{ "calibrate", no_argument, NULL, 'C' },
	{ "compact", no_argument, NULL, 'K' },
	{ "train-only", required_argument, NULL, 't' },
	{ "bits", required_argument, NULL, 'B' },
	{ "eta", required_argument, NULL, 'e' },
	{ "margin", required_argument, NULL, 'M' },
	{ "g0", required_argument, NULL, 'G' },
	{ "step-cap", required_argument, NULL, 'S' },
	{ "eta4", required_argument, NULL, '4' },
	{ "stack-eta", required_argument, NULL, 'F' },
	{ "ngram-bits", required_argument, NULL, 'N' },
	{ "noise-tau", required_argument, NULL, 'T' },
	{ "site-neutral", no_argument, NULL, 'U' },
	{ "step-cap4", required_argument, NULL, 'P' },
	{ "no-train", no_argument, NULL, 'n' },
	{ "measure", required_argument, NULL, 'R' },
	{ NULL, 0, NULL, 0 },
};

struct eval_opts {
	const char *index, *model, *results, *save, *train_only, *measure;
	bool fresh, calibrate, no_train, compact;
	unsigned bits;
	struct model_params p;
};

/* Features of message i of e[0..n): the files are read FILE_BATCH_MAX at a
 * time (one system call for all), in index order. EXIT_OK, or EXIT_USAGE /
 * EXIT_BUG after saying why. */
static int extract(struct file_batch *fb, struct features *f, const struct index_entry *e,
		   size_t n, size_t i)
{
	size_t k = i % FILE_BATCH_MAX;
	if (k == 0) {
		for (size_t j = i; j < n && j < i + FILE_BATCH_MAX; j++)
			file_batch_add(fb, e[j].path);
		file_batch_submit(fb);
	}
	const char *msg;
	size_t len;
	if (file_batch_get(fb, k, &msg, &len) < 0) {
		fprintf(stderr, "mxscreen eval: %s: %s\n", e[i].path, strerror(errno));
		return EXIT_USAGE;
	}
	if (features_extract(f, msg, len) < 0) {
		fprintf(stderr, "mxscreen eval: out of memory\n");
		return EXIT_BUG;
	}
	return EXIT_OK;
}

static int train_first(struct model *m, struct features *f, struct file_batch *fb,
		       const char *index)
{
	size_t n;
	struct index_entry *e = read_index(index, &n);
	if (!e)
		return EXIT_USAGE;
	int rc = EXIT_OK;
	for (size_t i = 0; rc == EXIT_OK && i < n; i++) {
		rc = extract(fb, f, e, n, i);
		if (rc == EXIT_OK)
			model_train(m, f, e[i].spam);
	}
	free_index(e, n);
	return rc;
}

static void print_measures(struct trec_row *rows, size_t n, double msgs_per_s);

static int run(const struct eval_opts *o, struct model *m)
{
	size_t n;
	struct index_entry *e = read_index(o->index, &n);
	if (!e)
		return EXIT_USAGE;
	struct trec_row *rows = calloc(n ? n : 1, sizeof(*rows));
	struct features f;
	features_init(&f, model_feature_flags(m));
	struct file_batch *fb = file_batch_new(true);
	int rc = EXIT_OK;
	if (!rows || !fb) {
		rc = EXIT_BUG;
		goto out;
	}
	if (o->train_only && (rc = train_first(m, &f, fb, o->train_only)) != EXIT_OK)
		goto out;
	FILE *res = NULL;
	if (o->results && !(res = fopen(o->results, "w"))) {
		fprintf(stderr, "mxscreen eval: %s: %s\n", o->results, strerror(errno));
		rc = EXIT_USAGE;
		goto out;
	}
	double t0 = now_s();
	for (size_t i = 0; i < n; i++) {
		if ((rc = extract(fb, &f, e, n, i)) != EXIT_OK)
			break;
		struct content_result r;
		content_classify_features(m, &f, 0, &r);
		rows[i] = (struct trec_row){ r.score, e[i].spam, r.scl >= 5 };
		if (res)
			fprintf(res, "%s judge=%s class=%s score=%.6f\n", e[i].path,
				e[i].spam ? "spam" : "ham", r.scl >= 5 ? "spam" : "ham", r.score);
		if (!o->no_train)
			model_train(m, &f, e[i].spam);
	}
	double secs = now_s() - t0;
	if (res && fclose(res) != 0) {
		fprintf(stderr, "mxscreen eval: %s: write error\n", o->results);
		rc = EXIT_USAGE;
	}
	if (rc != EXIT_OK)
		goto out;
	if (o->calibrate) {
		double a, b;
		if (trec_platt(rows, n, &a, &b) == 0) {
			/* never junk on the model's own ham side: a message the
			 * fused score does not lean to spam (a short note, mail of
			 * an unseen stream with little evidence either way) stays
			 * below SCL 5 whatever the training stream's mix was */
			if (b > 0)
				b = 0;
			m->p.calib_a = (float)a;
			m->p.calib_b = (float)b;
			printf("calibration a=%.6f b=%.6f\n", a, b);
		}
	}
	print_measures(rows, n, secs > 0 ? (double)n / secs : 0.0);
	if (m->w4)
		printf("fusion bias=%.4f rich=%.4f ngram=%.4f\n", m->stack[0], m->stack[1],
		       m->stack[2]);
	char err[512];
	if (o->save && model_save(m, o->save, !o->compact, err, sizeof(err)) < 0) {
		fprintf(stderr, "mxscreen eval: %s\n", err);
		rc = EXIT_TEMPFAIL;
	}
out:
	file_batch_free(fb);
	features_free(&f);
	free(rows);
	free_index(e, n);
	return rc;
}

static void print_measures(struct trec_row *rows, size_t n, double msgs_per_s)
{
	struct trec_measures t;
	trec_measure(rows, n, &t);
	printf("messages=%zu ham=%zu spam=%zu\n", t.messages, t.ham, t.spam);
	printf("roca_pct=%.4f lam_pct=%.4f hm_pct=%.4f sm_pct=%.4f sm_at_hm_0.1=%.4f "
	       "msgs_per_s=%.0f\n",
	       t.roca_pct, t.lam_pct, t.hm_pct, t.sm_pct, t.sm_at_hm01_pct, msgs_per_s);
}

/* Measures of "<path> judge=J class=C score=S" lines (any filter's results). */
static int measure_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "mxscreen eval: %s: %s\n", path, strerror(errno));
		return EXIT_USAGE;
	}
	struct trec_row *rows = NULL;
	size_t n = 0, cap = 0;
	char line[PATH_MAX + 128];
	int rc = EXIT_OK;
	while (fgets(line, sizeof(line), f)) {
		const char *j = strstr(line, " judge="), *c = strstr(line, " class="),
			   *s = strstr(line, " score=");
		if (!j || !c || !s) {
			fprintf(stderr, "mxscreen eval: %s: bad line: %s", path, line);
			rc = EXIT_USAGE;
			break;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 1024;
			struct trec_row *nr = realloc(rows, cap * sizeof(*rows));
			if (!nr) {
				rc = EXIT_BUG;
				break;
			}
			rows = nr;
		}
		rows[n++] = (struct trec_row){ strtod(s + 7, NULL), !strncmp(j + 7, "spam", 4),
					       !strncmp(c + 7, "spam", 4) };
	}
	fclose(f);
	if (rc == EXIT_OK)
		print_measures(rows, n, 0);
	free(rows);
	return rc;
}

int cmd_eval(struct cli_ctx *ctx, int argc, char **argv)
{
	struct eval_opts o = { .bits = MODEL_BITS_DEFAULT, .p = model_default_params() };
	int opt;
	while ((opt = getopt_long(argc, argv, "c:o:", eval_opts, NULL)) != -1) {
		switch (opt) {
		case 'i': o.index = optarg; break;
		case 'm': o.model = optarg; break;
		case 'f': o.fresh = true; break;
		case 'r': o.results = optarg; break;
		case 's': o.save = optarg; break;
		case 'C': o.calibrate = true; break;
		case 'K': o.compact = true; break;
		case 't': o.train_only = optarg; break;
		case 'n': o.no_train = true; break;
		case 'R': o.measure = optarg; break;
		case 'B': o.bits = (unsigned)atoi(optarg); break;
		case 'e': o.p.eta = strtof(optarg, NULL); break;
		case 'M': o.p.margin = strtof(optarg, NULL); break;
		case 'G': o.p.g0 = strtof(optarg, NULL); break;
		case 'S': o.p.step_cap = strtof(optarg, NULL); break;
		case '4': o.p.eta4 = strtof(optarg, NULL); break;
		case 'F': o.p.stack_eta = strtof(optarg, NULL); break;
		case 'N': o.p.ngram_bits = (unsigned)atoi(optarg); break;
		case 'T': o.p.noise_tau = strtof(optarg, NULL); break;
		case 'U': o.p.site_neutral = true; break;
		case 'P': o.p.step_cap4 = strtof(optarg, NULL); break;
		default:
			if (!cli_common_option(ctx, opt, optarg))
				goto usage;
		}
	}
	if (o.measure && optind == argc)
		return measure_file(o.measure);
	if (!o.index || optind != argc || (o.model && o.fresh))
		goto usage;
	char err[512];
	struct model *m = o.model ? model_load(o.model, err, sizeof(err)) : model_new(o.bits, &o.p);
	if (!m) {
		fprintf(stderr, "mxscreen eval: %s\n", o.model ? err : "bad --bits or out of memory");
		return EXIT_USAGE;
	}
	int rc = run(&o, m);
	model_free(m);
	return rc;
usage:
	fprintf(stderr, "usage: mxscreen eval --index DIR/full/index [--model FILE | --fresh] "
			"[--results FILE] [--save FILE [--calibrate] [--compact]] [--train-only INDEX] "
			"[--no-train] [--bits N] [--eta X] [--margin X] [--g0 X]\n"
			"       [--site-neutral] [--step-cap X] [--noise-tau X] [--eta4 X] [--step-cap4 X] [--stack-eta X]\n"
			"       [--ngram-bits N (0: the rich model alone, as in version 2 files)]\n"
			"       mxscreen eval --measure RESULTS   measures of a TREC result file\n");
	return EXIT_USAGE;
}
