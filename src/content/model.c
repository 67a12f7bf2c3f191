/*
 * model.c - online logistic regression on hashed features, model file; see model.h.
 */
#include "content/model.h"
#include "core/limits.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define BYTE_ORDER_MARK 0x01020304u
#define HEADER_SIZE 128

struct file_header {
	char magic[8];
	uint32_t version;
	uint32_t bits;
	uint32_t flags;
	uint32_t byte_order;
	float eta, margin, g0, calib_a, calib_b, bias, gbias;
	uint32_t reserved0;
	uint64_t trained_ham, trained_spam, updates;
	uint64_t weights_sum; /* version 2: checksum of this header (this field 0) and weights */
	/* version 3 (0 in older files): the byte-4-gram model and the fusion */
	uint32_t ngram_bits;
	float eta4, stack_eta, step_cap, bias4, stack[3];
	float noise_tau, step_cap4;
};
_Static_assert(sizeof(struct file_header) == HEADER_SIZE, "model header layout");

struct model_params model_default_params(void)
{
	/* Sound defaults, not fitted to one corpus: see docs/classifier.md. */
	return (struct model_params){
		.eta = 0.2f, .margin = 2.0f, .g0 = 1e-4f, .calib_a = 1.0f, .calib_b = 0.0f,
		.step_cap = MODEL_STEP_CAP, .eta4 = MODEL_ETA4, .stack_eta = MODEL_STACK_ETA,
		.ngram_bits = MODEL_NGRAM_BITS, .noise_tau = MODEL_NOISE_TAU,
		.step_cap4 = MODEL_STEP_CAP4,
	};
}

static size_t ngram_bytes(unsigned ngram_bits)
{
	return ngram_bits ? ((size_t)1 << ngram_bits) * sizeof(float) : 0;
}

size_t model_file_size(unsigned bits, unsigned ngram_bits, bool with_state)
{
	size_t w = ((size_t)1 << bits) * sizeof(float);
	return HEADER_SIZE + w * (with_state ? 2 : 1) + ngram_bytes(ngram_bits) + sizeof(uint64_t);
}

/* A fresh fusion: the rich model's score as it is (what a version 2 model
 * gives), the 4-gram model weighed in as it learns. */
static void stack_init(struct model *m)
{
	m->stack[0] = 0;
	m->stack[1] = 1;
	m->stack[2] = 0;
}

static void errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

struct model *model_new(unsigned bits, const struct model_params *p)
{
	if (bits < MODEL_BITS_MIN || bits > MODEL_BITS_MAX)
		return NULL;
	struct model *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	size_t n = (size_t)1 << bits;
	m->bits = bits;
	m->mask = (uint32_t)(n - 1);
	m->p = p ? *p : model_default_params();
	m->owned = true;
	m->w = calloc(n, sizeof(float));
	m->g = malloc(n * sizeof(float));
	if (m->p.ngram_bits && (m->p.ngram_bits < MODEL_BITS_MIN || m->p.ngram_bits > MODEL_BITS_MAX))
		m->p.ngram_bits = 0;
	if (m->p.ngram_bits) {
		m->w4 = calloc((size_t)1 << m->p.ngram_bits, sizeof(float));
		m->mask4 = (uint32_t)(((size_t)1 << m->p.ngram_bits) - 1);
	}
	stack_init(m);
	if (!m->w || !m->g || (m->p.ngram_bits && !m->w4)) {
		model_free(m);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		m->g[i] = m->p.g0;
	m->gbias = m->p.g0;
	return m;
}

void model_free(struct model *m)
{
	if (!m)
		return;
	if (m->map)
		munmap(m->map, m->maplen);
	if (m->owned) {
		free(m->w);
		free(m->g);
		free(m->w4);
	}
	free(m);
}

/* Checksum of header h (its weights_sum taken as 0) and the weights: XXH64 of
 * the weights, seeded with XXH64 of the header. */
static uint64_t weights_sum(const struct file_header *h, const float *w, const float *w4)
{
	struct file_header z = *h;
	z.weights_sum = 0;
	uint64_t sum = XXH64(w, ((size_t)1 << h->bits) * sizeof(float), XXH64(&z, sizeof(z), 0));
	if (h->version >= 3 && h->ngram_bits)
		sum = XXH64(w4, ngram_bytes(h->ngram_bits), sum);
	return sum;
}

/* Checks a file image (whole: every checksum; else, in a version 2 file, only
 * header and weights, without reading the training state); fills m's header
 * fields and w4 (an offset in img). 0 or -1/err. */
static int check_image(const void *img, size_t len, bool whole, struct model *m,
		       bool *has_state, char *err, size_t errlen)
{
	struct file_header h;
	if (len < HEADER_SIZE + sizeof(uint64_t)) {
		errf(err, errlen, "not a model file (too short)");
		return -1;
	}
	memcpy(&h, img, sizeof(h));
	if (memcmp(h.magic, MODEL_MAGIC, 8) != 0) {
		errf(err, errlen, "not a model file (bad magic)");
		return -1;
	}
	if ((h.version != 1 && h.version != MODEL_VERSION) || h.byte_order != BYTE_ORDER_MARK) {
		errf(err, errlen, "model file version %u / byte order not supported", h.version);
		return -1;
	}
	if (h.bits < MODEL_BITS_MIN || h.bits > MODEL_BITS_MAX) {
		errf(err, errlen, "model hash bits %u out of range %d..%d", h.bits, MODEL_BITS_MIN,
		     MODEL_BITS_MAX);
		return -1;
	}
	*has_state = (h.flags & MODEL_HAS_STATE) != 0;
	if (h.version < 3) {
		h.ngram_bits = 0;
		h.eta4 = h.stack_eta = h.step_cap = h.bias4 = h.noise_tau = h.step_cap4 = 0;
		h.stack[0] = 0;
		h.stack[1] = 1;
		h.stack[2] = 0;
	} else if (h.ngram_bits && (h.ngram_bits < MODEL_BITS_MIN || h.ngram_bits > MODEL_BITS_MAX)) {
		errf(err, errlen, "model 4-gram bits %u out of range %d..%d", h.ngram_bits,
		     MODEL_BITS_MIN, MODEL_BITS_MAX);
		return -1;
	}
	if (len != model_file_size(h.bits, h.ngram_bits, *has_state)) {
		errf(err, errlen, "model file size %zu does not match its header", len);
		return -1;
	}
	uint64_t sum;
	memcpy(&sum, (const char *)img + len - sizeof(sum), sizeof(sum));
	size_t wbytes = ((size_t)1 << h.bits) * sizeof(float);
	const float *w4 = (const float *)((const char *)img + HEADER_SIZE +
					  wbytes * (*has_state ? 2 : 1));
	bool ok = h.version >= 2 && !whole
			  ? weights_sum(&h, (const float *)((const char *)img + HEADER_SIZE), w4) ==
				    h.weights_sum
			  : XXH64(img, len - sizeof(sum), 0) == sum;
	if (!ok) {
		errf(err, errlen, "model file checksum mismatch (damaged or partly written)");
		return -1;
	}
	m->bits = h.bits;
	m->mask = (uint32_t)((1u << h.bits) - 1);
	m->p = (struct model_params){ .eta = h.eta,
				      .margin = h.margin,
				      .g0 = h.g0,
				      .calib_a = h.calib_a,
				      .calib_b = h.calib_b,
				      .step_cap = h.step_cap,
				      .eta4 = h.eta4,
				      .stack_eta = h.stack_eta,
				      .ngram_bits = h.ngram_bits,
				      .noise_tau = h.noise_tau,
				      .step_cap4 = h.step_cap4,
				      .site_neutral = (h.flags & MODEL_SITE_NEUTRAL) != 0 };
	m->w4 = h.ngram_bits ? (float *)w4 : NULL; /* points into img */
	m->mask4 = h.ngram_bits ? (uint32_t)((1u << h.ngram_bits) - 1) : 0;
	m->bias4 = h.bias4;
	memcpy(m->stack, h.stack, sizeof(m->stack));
	m->bias = h.bias;
	m->gbias = h.gbias;
	m->trained_ham = h.trained_ham;
	m->trained_spam = h.trained_spam;
	m->updates = h.updates;
	return 0;
}

static struct model *map_model(const char *path, bool whole, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		errf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > model_file_size(MODEL_BITS_MAX, MODEL_BITS_MAX, true)) {
		errf(err, errlen, "%s: not a regular file of a model's size", path);
		close(fd);
		return NULL;
	}
	size_t len = (size_t)st.st_size;
	void *map = len ? mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
	close(fd);
	if (map == MAP_FAILED) {
		errf(err, errlen, "%s: mmap: %s", path, len ? strerror(errno) : "empty file");
		return NULL;
	}
	struct model *m = calloc(1, sizeof(*m));
	bool state;
	char sub[256];
	if (!m || check_image(map, len, whole, m, &state, sub, sizeof(sub)) < 0) {
		errf(err, errlen, "%s: %s", path, m ? sub : "out of memory");
		munmap(map, len);
		free(m);
		return NULL;
	}
	m->map = map;
	m->maplen = len;
	m->w = (float *)((char *)map + HEADER_SIZE);
	return m;
}

struct model *model_open(const char *path, char *err, size_t errlen)
{
	return map_model(path, false, err, errlen);
}

struct model *model_load(const char *path, char *err, size_t errlen)
{
	struct model *ro = map_model(path, true, err, errlen);
	if (!ro)
		return NULL;
	struct model *m = model_new(ro->bits, &ro->p);
	if (!m) {
		errf(err, errlen, "out of memory");
		model_free(ro);
		return NULL;
	}
	size_t n = (size_t)1 << ro->bits;
	memcpy(m->w, ro->w, n * sizeof(float));
	if (ro->w4)
		memcpy(m->w4, ro->w4, ngram_bytes(ro->p.ngram_bits));
	m->bias4 = ro->bias4;
	memcpy(m->stack, ro->stack, sizeof(m->stack));
	if (ro->maplen == model_file_size(ro->bits, ro->p.ngram_bits, true))
		memcpy(m->g, ro->w + n, n * sizeof(float));
	else
		for (size_t i = 0; i < n; i++) /* state dropped: a trained weight is not new */
			m->g[i] = m->w[i] != 0 ? 0.01f : m->p.g0;
	m->bias = ro->bias;
	m->gbias = ro->gbias;
	m->trained_ham = ro->trained_ham;
	m->trained_spam = ro->trained_spam;
	m->updates = ro->updates;
	model_free(ro);
	return m;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int model_save(const struct model *m, const char *path, bool with_state, char *err,
	       size_t errlen)
{
	with_state = with_state && m->g;
	struct file_header h;
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, MODEL_MAGIC, 8);
	h.version = MODEL_VERSION;
	h.bits = m->bits;
	h.flags = (with_state ? MODEL_HAS_STATE : 0) | (m->p.site_neutral ? MODEL_SITE_NEUTRAL : 0);
	h.byte_order = BYTE_ORDER_MARK;
	h.eta = m->p.eta;
	h.margin = m->p.margin;
	h.g0 = m->p.g0;
	h.calib_a = m->p.calib_a;
	h.calib_b = m->p.calib_b;
	h.bias = m->bias;
	h.gbias = m->gbias;
	h.trained_ham = m->trained_ham;
	h.trained_spam = m->trained_spam;
	h.updates = m->updates;
	h.ngram_bits = m->w4 ? m->p.ngram_bits : 0;
	h.eta4 = m->p.eta4;
	h.stack_eta = m->p.stack_eta;
	h.step_cap = m->p.step_cap;
	h.noise_tau = m->p.noise_tau;
	h.step_cap4 = m->p.step_cap4;
	h.bias4 = m->bias4;
	memcpy(h.stack, m->stack, sizeof(h.stack));
	h.weights_sum = weights_sum(&h, m->w, m->w4);

	size_t plen = strlen(path);
	char *tmp = malloc(plen + 32);
	if (!tmp) {
		errf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		errf(err, errlen, "%s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	size_t wbytes = ((size_t)1 << m->bits) * sizeof(float);
	XXH64_state_t *xs = XXH64_createState();
	int rc = xs ? 0 : -1;
	if (rc == 0) {
		XXH64_reset(xs, 0);
		XXH64_update(xs, &h, sizeof(h));
		XXH64_update(xs, m->w, wbytes);
		if (with_state)
			XXH64_update(xs, m->g, wbytes);
		if (h.ngram_bits)
			XXH64_update(xs, m->w4, ngram_bytes(h.ngram_bits));
		uint64_t sum = XXH64_digest(xs);
		rc = write_all(fd, &h, sizeof(h));
		if (rc == 0)
			rc = write_all(fd, m->w, wbytes);
		if (rc == 0 && with_state)
			rc = write_all(fd, m->g, wbytes);
		if (rc == 0 && h.ngram_bits)
			rc = write_all(fd, m->w4, ngram_bytes(h.ngram_bits));
		if (rc == 0)
			rc = write_all(fd, &sum, sizeof(sum));
		XXH64_freeState(xs);
	}
	if (rc == 0)
		rc = fsync(fd);
	if (close(fd) < 0)
		rc = -1;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -1;
	if (rc < 0) {
		errf(err, errlen, "%s: write: %s", path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	/* make the rename itself durable */
	char *dircopy = strdup(path);
	if (dircopy) {
		int dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		free(dircopy);
	}
	free(tmp);
	return 0;
}

static double feature_scale(const struct features *f)
{
	return f->n ? 1.0 / sqrt((double)f->n) : 0.0;
}

unsigned model_feature_flags(const struct model *m)
{
	return m->p.site_neutral ? FEAT_SITE_NEUTRAL : 0;
}

/* The rich model's logit: every feature, x = 1/sqrt(n). */
static double rich_score(const struct model *m, const struct features *f)
{
	const float *w = m->w;
	uint32_t mask = m->mask;
	/* four accumulators: independent loads, deterministic order */
	float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	size_t i = 0, n = f->n;
	for (; i + 4 <= n; i += 4) {
		s0 += w[f->hash[i] & mask];
		s1 += w[f->hash[i + 1] & mask];
		s2 += w[f->hash[i + 2] & mask];
		s3 += w[f->hash[i + 3] & mask];
	}
	for (; i < n; i++)
		s0 += w[f->hash[i] & mask];
	return m->bias + ((double)s0 + s1 + s2 + s3) * feature_scale(f);
}

/* The byte-4-gram model's logit: a plain sum over the 4-grams (binary, not
 * normalised: the TREC 2007 design). */
static double ngram_score(const struct model *m, const struct features *f)
{
	if (!m->w4)
		return 0;
	const float *w = m->w4;
	uint32_t mask = m->mask4;
	float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	size_t i = 0, n = f->ngrams;
	for (; i + 4 <= n; i += 4) {
		s0 += w[f->hash[i] & mask];
		s1 += w[f->hash[i + 1] & mask];
		s2 += w[f->hash[i + 2] & mask];
		s3 += w[f->hash[i + 3] & mask];
	}
	for (; i < n; i++)
		s0 += w[f->hash[i] & mask];
	return m->bias4 + ((double)s0 + s1 + s2 + s3);
}

static double clip(double x)
{
	return x > MODEL_STACK_CLIP ? MODEL_STACK_CLIP : x < -MODEL_STACK_CLIP ? -MODEL_STACK_CLIP : x;
}

void model_scores(const struct model *m, const struct features *f, struct model_scores *s)
{
	s->rich = rich_score(m, f);
	s->ngram = ngram_score(m, f);
	if (!m->w4) {
		s->fused = s->rich;
		return;
	}
	s->fused = m->stack[0] + m->stack[1] * clip(s->rich) + m->stack[2] * clip(s->ngram);
}

double model_score(const struct model *m, const struct features *f)
{
	struct model_scores s;
	model_scores(m, f, &s);
	return s.fused;
}

double model_contribution(const struct model *m, const struct features *f, size_t i)
{
	if (i >= f->n)
		return 0;
	double c = m->w[f->hash[i] & m->mask] * feature_scale(f);
	return m->w4 ? m->stack[1] * c : c;
}

double model_ngram_contribution(const struct model *m, const struct model_scores *s)
{
	return m->w4 ? m->stack[2] * clip(s->ngram) : 0;
}

double model_probability(const struct model *m, double score)
{
	double z = m->p.calib_a * score + m->p.calib_b;
	return 1.0 / (1.0 + exp(-z));
}

static double sigmoid(double z)
{
	return 1.0 / (1.0 + exp(-z));
}

/* The rich model's step: AdaGrad on every feature, scaled down when it would
 * move this message's own score by more than step_cap (a new feature's first
 * AdaGrad step is about eta whatever the gradient: on a message of n new
 * features the score moves by about eta * sqrt(n), 11 logits at n = 3,000,
 * which is how one near-duplicate with the opposite label swung the next copy). */
static void rich_step(struct model *m, const struct features *f, double s, bool spam)
{
	double p = sigmoid(s);
	double x = feature_scale(f);
	double err = p - (spam ? 1.0 : 0.0);
	float gi = (float)(err * x);
	float gi2 = gi * gi;
	float eta = m->p.eta;
	float scale = 1.0f;
	if (m->p.step_cap > 0) {
		double move = 0; /* |change of own score| at full step */
		for (size_t i = 0; i < f->n; i++) {
			uint32_t k = f->hash[i] & m->mask;
			move += 1.0 / sqrt((double)m->g[k] + gi2);
		}
		move *= eta * fabs((double)gi) * x;
		if (move > m->p.step_cap)
			scale = (float)(m->p.step_cap / move);
	}
	/* a confident error may be label noise (the same newsletter is one
	 * user's ham and another's spam): the further past noise_tau on the
	 * wrong side, the smaller the step */
	double wrong = -(spam ? s : -s) - m->p.noise_tau;
	if (m->p.noise_tau > 0 && wrong > 0)
		scale /= (float)(1 + wrong);
	float step = eta * gi * scale;
	for (size_t i = 0; i < f->n; i++) {
		uint32_t k = f->hash[i] & m->mask;
		float G = m->g[k] + gi2;
		m->g[k] = G;
		m->w[k] -= step / sqrtf(G);
	}
	m->gbias += (float)(err * err);
	m->bias -= (float)(eta * err / sqrt(m->gbias)) * 0.1f;
	m->updates++;
}

bool model_train(struct model *m, const struct features *f, bool spam)
{
	if (!m->g)
		return false;
	if (spam)
		m->trained_spam++;
	else
		m->trained_ham++;
	struct model_scores sc;
	model_scores(m, f, &sc);
	double y01 = spam ? 1.0 : 0.0;
	if (m->w4) {
		/* the fusion learns from the base scores before either learns */
		double e = y01 - sigmoid(sc.fused);
		float r = (float)(m->p.stack_eta * e);
		m->stack[0] += r;
		m->stack[1] += r * (float)clip(sc.rich);
		m->stack[2] += r * (float)clip(sc.ngram);
		/* the 4-gram model: every message, one fixed rate */
		double d4 = m->p.eta4 * (y01 - sigmoid(sc.ngram));
		/* its own score moves by d4 per 4-gram: about 12 logits on a
		 * message of 3,000 bytes at full error; bounded by step_cap4 */
		double move4 = fabs(d4) * (double)(f->ngrams + 1);
		if (m->p.step_cap4 > 0 && move4 > m->p.step_cap4)
			d4 *= m->p.step_cap4 / move4;
		float d = (float)d4;
		for (size_t i = 0; i < f->ngrams; i++)
			m->w4[f->hash[i] & m->mask4] += d;
		m->bias4 += d;
	}
	double y = spam ? 1 : -1;
	if (y * sc.rich >= m->p.margin)
		return false;
	rich_step(m, f, sc.rich, spam);
	return true;
}
