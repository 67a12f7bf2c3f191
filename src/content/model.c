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
	uint8_t reserved[HEADER_SIZE - 88];
};
_Static_assert(sizeof(struct file_header) == HEADER_SIZE, "model header layout");

struct model_params model_default_params(void)
{
	/* Sound defaults, not fitted to one corpus: see docs/classifier.md. */
	return (struct model_params){
		.eta = 0.2f, .margin = 2.0f, .g0 = 1e-4f, .calib_a = 1.0f, .calib_b = 0.0f
	};
}

size_t model_file_size(unsigned bits, bool with_state)
{
	size_t w = ((size_t)1 << bits) * sizeof(float);
	return HEADER_SIZE + w * (with_state ? 2 : 1) + sizeof(uint64_t);
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
	if (!m->w || !m->g) {
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
	}
	free(m);
}

/* Checksum of header h (its weights_sum taken as 0) and the weights: XXH64 of
 * the weights, seeded with XXH64 of the header. */
static uint64_t weights_sum(const struct file_header *h, const float *w)
{
	struct file_header z = *h;
	z.weights_sum = 0;
	return XXH64(w, ((size_t)1 << h->bits) * sizeof(float), XXH64(&z, sizeof(z), 0));
}

/* Checks a file image (whole: every checksum; else, in a version 2 file, only
 * header and weights, without reading the training state); fills m's header
 * fields. 0 or -1/err. */
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
	if (len != model_file_size(h.bits, *has_state)) {
		errf(err, errlen, "model file size %zu does not match its header", len);
		return -1;
	}
	uint64_t sum;
	memcpy(&sum, (const char *)img + len - sizeof(sum), sizeof(sum));
	bool ok = h.version >= 2 && !whole
			  ? weights_sum(&h, (const float *)((const char *)img + HEADER_SIZE)) ==
				    h.weights_sum
			  : XXH64(img, len - sizeof(sum), 0) == sum;
	if (!ok) {
		errf(err, errlen, "model file checksum mismatch (damaged or partly written)");
		return -1;
	}
	m->bits = h.bits;
	m->mask = (uint32_t)((1u << h.bits) - 1);
	m->p = (struct model_params){ h.eta, h.margin, h.g0, h.calib_a, h.calib_b };
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
	    (uint64_t)st.st_size > model_file_size(MODEL_BITS_MAX, true)) {
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
	if (ro->maplen == model_file_size(ro->bits, true))
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
	h.flags = with_state ? MODEL_HAS_STATE : 0;
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
	h.weights_sum = weights_sum(&h, m->w);

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
		uint64_t sum = XXH64_digest(xs);
		rc = write_all(fd, &h, sizeof(h));
		if (rc == 0)
			rc = write_all(fd, m->w, wbytes);
		if (rc == 0 && with_state)
			rc = write_all(fd, m->g, wbytes);
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

double model_score(const struct model *m, const struct features *f)
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

double model_contribution(const struct model *m, const struct features *f, size_t i)
{
	return i < f->n ? m->w[f->hash[i] & m->mask] * feature_scale(f) : 0;
}

double model_probability(const struct model *m, double score)
{
	double z = m->p.calib_a * score + m->p.calib_b;
	return 1.0 / (1.0 + exp(-z));
}

bool model_train(struct model *m, const struct features *f, bool spam)
{
	if (!m->g)
		return false;
	if (spam)
		m->trained_spam++;
	else
		m->trained_ham++;
	double s = model_score(m, f);
	double y = spam ? 1 : -1;
	if (y * s >= m->p.margin)
		return false;
	double p = 1.0 / (1.0 + exp(-s));
	double x = feature_scale(f);
	double err = p - (spam ? 1.0 : 0.0);
	float gi = (float)(err * x);
	float gi2 = gi * gi;
	float eta = m->p.eta;
	for (size_t i = 0; i < f->n; i++) {
		uint32_t k = f->hash[i] & m->mask;
		float G = m->g[k] + gi2;
		m->g[k] = G;
		m->w[k] -= eta * gi / sqrtf(G);
	}
	m->gbias += (float)(err * err);
	m->bias -= (float)(eta * err / sqrt(m->gbias)) * 0.1f;
	m->updates++;
	return true;
}
