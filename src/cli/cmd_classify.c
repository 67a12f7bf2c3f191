/*
 * cmd_classify.c - `mxscreen classify`, `mxscreen train` and `mxscreen features`.
 *
 * classify: one message on stdin -> "spam|ham probability=P scl=N score=S" and
 * its top features; --batch: file paths on stdin, one result line per file in
 * input order (no explanation: the throughput path; --threads N, default one
 * per CPU). train: online steps on the gold
 * label for each file, then an atomic replace of the model (a missing model
 * file starts fresh). features: the feature names of a message (debugging,
 * golden files). The model defaults to the content_model setting.
 */
#include "cli/cli.h"
#include "content/classify.h"
#include "core/config.h"
#include "core/fileread.h"
#include "core/limits.h"

#include <errno.h>
#include <stdatomic.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_read_stream(FILE *f, struct buf *b)
{
	buf_reset(b);
	for (;;) {
		if (buf_reserve(b, 65536) < 0)
			return -1;
		size_t r = fread(b->p + b->len, 1, b->cap - b->len - 1, f);
		b->len += r;
		if (r == 0)
			return ferror(f) ? -1 : 0;
		if (b->len > SMTP_MESSAGE_SIZE_DEFAULT * 4ull) {
			errno = EFBIG;
			return -1;
		}
	}
}

/* Model path: --model, else the content_model setting. */
static int model_path(struct cli_ctx *ctx, const char *opt, char *out, size_t outlen)
{
	if (opt)
		return snprintf(out, outlen, "%s", opt) < (int)outlen ? 0 : -1;
	char err[512];
	struct config *c = cli_load_config(ctx, err, sizeof(err));
	if (!c) {
		fprintf(stderr, "mxscreen: config error: %s\n", err);
		return -1;
	}
	int rc = content_model_resolve(c->content_model, out, outlen);
	config_unref(c);
	return rc;
}

static const struct option classify_opts[] = {
	{ "model", required_argument, NULL, 'm' },
	{ "batch", no_argument, NULL, 'b' },
	{ "json", no_argument, NULL, 'j' },
	{ "threads", required_argument, NULL, 't' },
	{ NULL, 0, NULL, 0 },
};

/* --batch: paths are read first, handed out to the threads in chunks of
 * FILE_BATCH_MAX (an atomic counter: no thread idles at the end while another
 * still has a share of slow messages), each thread with its own file reader
 * (one system call per chunk) and feature buffers (the mapped model is shared
 * read-only), and the result lines printed in input order. */
struct batch {
	const struct model *m;
	char **paths;
	char **lines;
	size_t n;
	unsigned nthreads;
	atomic_size_t next; /* first path not yet taken */
	int rc;
};

struct batch_worker {
	struct batch *b;
	pthread_t tid;
	int rc;
};

static void batch_one(struct batch *b, struct features *f, struct file_batch *fb, size_t k,
		      size_t i, int *rc)
{
	char line[PATH_MAX + 128];
	const char *msg;
	size_t len;
	if (file_batch_get(fb, k, &msg, &len) < 0) {
		snprintf(line, sizeof(line), "%s error=\"%s\"", b->paths[i], strerror(errno));
		*rc = EXIT_USAGE;
	} else if (features_extract(f, msg, len) < 0) {
		snprintf(line, sizeof(line), "%s error=\"out of memory\"", b->paths[i]);
		*rc = EXIT_BUG;
	} else {
		struct content_result r;
		content_classify_features(b->m, f, 0, &r);
		snprintf(line, sizeof(line), "%s %s probability=%.6f scl=%d", b->paths[i],
			 r.scl >= 5 ? "spam" : "ham", r.probability, r.scl);
	}
	b->lines[i] = strdup(line);
}

static void *batch_run(void *arg)
{
	struct batch_worker *w = arg;
	struct batch *b = w->b;
	struct file_batch *fb = file_batch_new(true);
	if (!fb) {
		w->rc = EXIT_BUG;
		return NULL;
	}
	struct features f;
	features_init(&f, model_feature_flags(b->m));
	for (;;) {
		size_t i = atomic_fetch_add_explicit(&b->next, FILE_BATCH_MAX, memory_order_relaxed);
		if (i >= b->n)
			break;
		size_t end = i + FILE_BATCH_MAX < b->n ? i + FILE_BATCH_MAX : b->n;
		for (size_t k = i; k < end; k++)
			file_batch_add(fb, b->paths[k]);
		file_batch_submit(fb);
		for (size_t k = i; k < end; k++)
			batch_one(b, &f, fb, k - i, k, &w->rc);
	}
	file_batch_free(fb);
	features_free(&f);
	return NULL;
}

static int classify_batch(const struct model *m, unsigned nthreads)
{
	struct batch b = { .m = m };
	size_t cap = 0;
	char line[PATH_MAX + 2];
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!*line)
			continue;
		if (b.n == cap) {
			cap = cap ? 2 * cap : 1024;
			char **np = realloc(b.paths, cap * sizeof(*np));
			if (!np)
				return EXIT_BUG;
			b.paths = np;
		}
		if (!(b.paths[b.n] = strdup(line)))
			return EXIT_BUG;
		b.n++;
	}
	b.lines = calloc(b.n ? b.n : 1, sizeof(*b.lines));
	if (!b.lines)
		return EXIT_BUG;
	if (nthreads == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		nthreads = cpus > 0 ? (unsigned)cpus : 1;
	}
	if (nthreads > 64)
		nthreads = 64;
	if (nthreads > b.n)
		nthreads = b.n ? (unsigned)b.n : 1;
	b.nthreads = nthreads;
	struct batch_worker w[64];
	features_global_init(); /* GMime's one-time set-up, before the threads */
	for (unsigned t = 0; t < nthreads; t++) {
		w[t] = (struct batch_worker){ .b = &b };
		if (t > 0 && pthread_create(&w[t].tid, NULL, batch_run, &w[t]) != 0) {
			fprintf(stderr, "mxscreen classify: cannot start a thread\n");
			return EXIT_BUG;
		}
	}
	batch_run(&w[0]);
	int rc = EXIT_OK;
	for (unsigned t = 0; t < nthreads; t++) {
		if (t > 0)
			pthread_join(w[t].tid, NULL);
		if (w[t].rc > rc)
			rc = w[t].rc;
	}
	for (size_t i = 0; i < b.n; i++) {
		puts(b.lines[i] ? b.lines[i] : "error=\"out of memory\"");
		free(b.lines[i]);
		free(b.paths[i]);
	}
	free(b.lines);
	free(b.paths);
	return rc;
}

int cmd_classify(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *mopt = NULL;
	bool batch = false, json = false;
	unsigned threads = 0;
	int opt;
	while ((opt = getopt_long(argc, argv, "c:o:", classify_opts, NULL)) != -1) {
		if (opt == 'm')
			mopt = optarg;
		else if (opt == 'b')
			batch = true;
		else if (opt == 'j')
			json = true;
		else if (opt == 't')
			threads = (unsigned)atoi(optarg);
		else if (!cli_common_option(ctx, opt, optarg))
			goto usage;
	}
	if (optind != argc)
		goto usage;
	char path[PATH_MAX], err[512];
	if (model_path(ctx, mopt, path, sizeof(path)) < 0)
		return EXIT_USAGE;
	struct model *m = model_open(path, err, sizeof(err));
	if (!m) {
		fprintf(stderr, "mxscreen classify: %s\n", err);
		return EXIT_USAGE;
	}
	if (batch) {
		int rc = classify_batch(m, threads);
		model_free(m);
		return rc;
	}
	struct buf msg = { 0 };
	if (cli_read_stream(stdin, &msg) < 0) {
		fprintf(stderr, "mxscreen classify: reading stdin: %s\n", strerror(errno));
		model_free(m);
		return EXIT_USAGE;
	}
	struct features f;
	features_init(&f, FEAT_NAMES | model_feature_flags(m));
	struct content_result r;
	int rc = EXIT_OK;
	if (features_extract(&f, msg.p ? msg.p : "", msg.len) < 0) {
		rc = EXIT_BUG;
		goto out;
	}
	content_classify_features(m, &f, CONTENT_TOP_MAX, &r);
	const char *cls = r.scl >= 5 ? "spam" : "ham";
	if (json) {
		printf("{\"class\":\"%s\",\"probability\":%.6f,\"scl\":%d,\"score\":%.4f,"
		       "\"features\":%zu,\"top\":[", cls, r.probability, r.scl, r.score, f.n);
		for (size_t i = 0; i < r.ntop; i++) {
			printf("%s{\"feature\":\"", i ? "," : "");
			for (const char *p = r.top[i].name; *p; p++)
				printf(*p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
			printf("\",\"contribution\":%.4f}", r.top[i].contribution);
		}
		printf("],\"symbols\":[");
		for (size_t i = 0; i < r.nsymbols; i++)
			printf("%s{\"name\":\"%s\",\"weight\":%.4f,\"description\":\"%s\"}",
			       i ? "," : "", r.symbols[i].name, r.symbols[i].weight,
			       r.symbols[i].description);
		printf("]}\n");
	} else {
		printf("%s probability=%.6f scl=%d score=%.4f features=%zu\n", cls, r.probability,
		       r.scl, r.score, f.n);
		for (size_t i = 0; i < r.ntop; i++)
			printf("  %+.4f %s\n", r.top[i].contribution, r.top[i].name);
		for (size_t i = 0; i < r.nsymbols; i++)
			printf("  symbol %s %+.4f %s\n", r.symbols[i].name, r.symbols[i].weight,
			       r.symbols[i].description);
	}
out:
	features_free(&f);
	buf_free(&msg);
	model_free(m);
	return rc;
usage:
	fprintf(stderr, "usage: mxscreen classify [--json] [--model FILE] < MESSAGE\n"
			"       mxscreen classify --batch [--threads N] [--model FILE] < PATHS\n");
	return EXIT_USAGE;
}

static const struct option train_opts[] = {
	{ "model", required_argument, NULL, 'm' },
	{ "spam", no_argument, NULL, 's' },
	{ "ham", no_argument, NULL, 'h' },
	{ "bits", required_argument, NULL, 'B' },
	{ NULL, 0, NULL, 0 },
};

int cmd_train(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *mopt = NULL;
	int label = -1;
	unsigned bits = MODEL_BITS_DEFAULT;
	int opt;
	while ((opt = getopt_long(argc, argv, "c:o:", train_opts, NULL)) != -1) {
		if (opt == 'm')
			mopt = optarg;
		else if (opt == 's')
			label = 1;
		else if (opt == 'h')
			label = 0;
		else if (opt == 'B')
			bits = (unsigned)atoi(optarg);
		else if (!cli_common_option(ctx, opt, optarg))
			goto usage;
	}
	if (label < 0 || optind >= argc)
		goto usage;
	char path[PATH_MAX], err[512];
	if (model_path(ctx, mopt, path, sizeof(path)) < 0)
		return EXIT_USAGE;
	struct model *m;
	if (access(path, F_OK) == 0) {
		m = model_load(path, err, sizeof(err));
	} else {
		m = model_new(bits, NULL);
		snprintf(err, sizeof(err), "cannot create a model of %u bits", bits);
	}
	if (!m) {
		fprintf(stderr, "mxscreen train: %s\n", err);
		return EXIT_USAGE;
	}
	struct features f;
	features_init(&f, model_feature_flags(m));
	struct buf msg = { 0 };
	size_t trained = 0, updated = 0;
	int rc = EXIT_OK;
	for (int i = optind; i < argc; i++) {
		if (file_read(argv[i], &msg) < 0) {
			fprintf(stderr, "mxscreen train: %s: %s\n", argv[i], strerror(errno));
			rc = EXIT_USAGE;
			continue;
		}
		if (features_extract(&f, msg.p ? msg.p : "", msg.len) < 0) {
			rc = EXIT_BUG;
			break;
		}
		trained++;
		updated += model_train(m, &f, label == 1);
	}
	if (rc != EXIT_BUG && model_save(m, path, true, err, sizeof(err)) < 0) {
		fprintf(stderr, "mxscreen train: %s\n", err);
		rc = EXIT_TEMPFAIL;
	}
	if (rc != EXIT_BUG)
		printf("trained=%zu updated=%zu model=%s\n", trained, updated, path);
	buf_free(&msg);
	features_free(&f);
	model_free(m);
	return rc;
usage:
	fprintf(stderr, "usage: mxscreen train --spam|--ham [--model FILE] [--bits N] FILE...\n");
	return EXIT_USAGE;
}

int cmd_features(struct cli_ctx *ctx, int argc, char **argv)
{
	(void)ctx;
	unsigned flags = FEAT_NAMES;
	if (argc == 2 && !strcmp(argv[1], "--no-ngrams"))
		flags |= FEAT_NO_NGRAMS;
	else if (argc != 1) {
		fprintf(stderr, "usage: mxscreen features [--no-ngrams] < MESSAGE\n");
		return EXIT_USAGE;
	}
	struct buf msg = { 0 };
	if (cli_read_stream(stdin, &msg) < 0) {
		fprintf(stderr, "mxscreen features: reading stdin: %s\n", strerror(errno));
		return EXIT_USAGE;
	}
	struct features f;
	features_init(&f, flags);
	int rc = features_extract(&f, msg.p ? msg.p : "", msg.len) < 0 ? EXIT_BUG : EXIT_OK;
	for (size_t i = 0; rc == EXIT_OK && i < f.n; i++)
		printf("%08x %s\n", f.hash[i], features_name(&f, i));
	features_free(&f);
	buf_free(&msg);
	return rc;
}
