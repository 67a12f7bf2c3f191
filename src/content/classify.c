/*
 * classify.c - probability, SCL, top features; the serving content filter. See classify.h.
 */
#include "content/classify.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const double content_scl_cuts[SCL_MAX] = { 0.01, 0.03, 0.10, 0.25, 0.50,
					   0.75, 0.90, 0.98, 0.999 };

const struct content_symbol_def content_symbol_table[] = {
	{ "CNT_HTML_HIDDEN_TEXT", "h:#hidden", "HTML text hidden from the reader" },
	{ "CNT_HTML_TINY_FONT", "h:#tiny_font", "HTML text in a font too small to read" },
	{ "CNT_HTML_WHITE_TEXT", "h:#white_text", "HTML text in white" },
	{ "CNT_HTML_COMMENT_IN_WORD", "h:#comment_in_word", "HTML comments inside words" },
	{ "CNT_HTML_NUMERIC_REFS", "h:#numeric_refs", "letters written as numeric references" },
	{ "CNT_HTML_SCRIPT", "h:#script", "HTML with a script" },
	{ "CNT_HTML_FORM", "h:#form", "HTML with a form" },
	{ "CNT_HTML_IFRAME", "h:#iframe", "HTML with an iframe" },
	{ "CNT_HTML_ONLY", "h:#html_only", "HTML without a plain-text part" },
	{ "CNT_URL_USERINFO", "u:#userinfo", "a link with user@ before the host" },
	{ "CNT_URL_IP", "u:#ip", "a link to an IP address" },
	{ "CNT_URL_ESCAPED", "u:#escaped", "a link with a %-escaped host" },
	{ "CNT_URL_PORT", "u:#port", "a link with an explicit port" },
	{ "CNT_REPLY_TO_MISMATCH", "rt:#mismatch", "Reply-To domain differs from From's" },
	{ "CNT_FROM_DIGITS", "fl:#digits", "From local part mostly digits" },
	{ "CNT_FROM_NO_DOMAIN", "fd:#nodomain", "From without a domain" },
	{ "CNT_NO_DATE", "m:#no_date", "no Date header" },
	{ "CNT_NO_MESSAGE_ID", "m:#no_msgid", "no Message-ID header" },
	{ "CNT_MESSAGE_ID_NO_AT", "mid:#noat", "Message-ID without @" },
	{ "CNT_SUBJECT_CAPS", "s:#caps", "Subject mostly in capitals" },
	{ "CNT_SUBJECT_BANG", "s:#bang", "Subject with exclamation marks" },
	{ "CNT_CHARSET_UNKNOWN", "cs:#unknown", "a charset that cannot be decoded" },
	{ "CNT_MIME_UNPARSABLE", "m:#unparsable", "MIME structure that cannot be parsed" },
	{ "CNT_MIME_EMPTY_MULTIPART", "m:#empty_multipart", "a multipart without parts" },
};
const size_t content_symbol_count = sizeof(content_symbol_table) / sizeof(content_symbol_table[0]);
_Static_assert(sizeof(content_symbol_table) / sizeof(content_symbol_table[0]) <= CONTENT_SYMBOLS_MAX,
	       "content symbols fit a content_result");

static uint32_t symbol_hash[sizeof(content_symbol_table) / sizeof(content_symbol_table[0])];
static pthread_once_t symbol_once = PTHREAD_ONCE_INIT;

static void symbol_hashes(void)
{
	for (size_t i = 0; i < content_symbol_count; i++)
		symbol_hash[i] = features_hash_name(content_symbol_table[i].feature);
}

/* The content symbols of f (a few hash look-ups), weighed by the model. */
static void content_symbols(const struct model *m, const struct features *f,
			    struct content_result *r)
{
	pthread_once(&symbol_once, symbol_hashes);
	double x = f->n ? 1.0 / sqrt((double)f->n) : 0;
	double share = m->w4 ? m->stack[1] : 1;
	for (size_t i = 0; i < content_symbol_count; i++) {
		if (!features_has(f, symbol_hash[i]))
			continue;
		struct content_symbol *s = &r->symbols[r->nsymbols++];
		s->name = content_symbol_table[i].name;
		s->description = content_symbol_table[i].description;
		s->weight = m->w[symbol_hash[i] & m->mask] * x * share;
	}
}

int content_scl(double p)
{
	int scl = 0;
	while (scl < SCL_MAX && p >= content_scl_cuts[scl])
		scl++;
	return scl;
}

void content_classify_features(const struct model *m, const struct features *f, size_t ntop,
			       struct content_result *r)
{
	memset(r, 0, sizeof(*r));
	struct model_scores sc;
	model_scores(m, f, &sc);
	r->score = sc.fused;
	r->rich_score = sc.rich;
	r->ngram_score = sc.ngram;
	r->probability = model_probability(m, r->score);
	r->scl = content_scl(r->probability);
	if (!(f->flags & (FEAT_NAMES | FEAT_ORIGINS)) || ntop == 0)
		return;
	content_symbols(m, f, r);
	/* the 4-gram model's share is one line of its own, the last */
	bool ngram_line = m->w4 != NULL;
	if (ntop + ngram_line > CONTENT_TOP_MAX)
		ntop = CONTENT_TOP_MAX - ngram_line;
	/* keep the ntop largest |contribution|, sorted, by insertion */
	size_t idx[CONTENT_TOP_MAX];
	double val[CONTENT_TOP_MAX];
	size_t k = 0;
	/* byte 4-grams ("g:eren") tell a person nothing: with the 4-gram model
	 * beside it, the reasons are the rich model's other features */
	for (size_t i = ngram_line ? f->ngrams : 0; i < f->n; i++) {
		double c = model_contribution(m, f, i);
		if (c == 0)
			continue;
		size_t pos = k;
		while (pos > 0 && fabs(val[pos - 1]) < fabs(c))
			pos--;
		if (pos >= ntop)
			continue;
		size_t end = k < ntop ? k : ntop - 1;
		memmove(idx + pos + 1, idx + pos, (end - pos) * sizeof(idx[0]));
		memmove(val + pos + 1, val + pos, (end - pos) * sizeof(val[0]));
		idx[pos] = i;
		val[pos] = c;
		if (k < ntop)
			k++;
	}
	for (size_t i = 0; i < k; i++) {
		features_name_format(f, idx[i], r->top[i].name, sizeof(r->top[i].name));
		r->top[i].contribution = val[i];
	}
	if (ngram_line) {
		snprintf(r->top[k].name, sizeof(r->top[k].name), "%s", CONTENT_NGRAM_LINE);
		r->top[k].contribution = model_ngram_contribution(m, &sc);
		k++;
	}
	r->ntop = k;
}

/* ---- serving ------------------------------------------------------------ */

struct content_filter {
	char path[PATH_MAX];
	struct model *model;
	struct features feat;
	struct stat st;   /* of the mapped file */
	time_t checked;
};

int content_model_resolve(const char *path, char *out, size_t outlen)
{
	if (path[0] == '/' || access(path, R_OK) == 0) {
		if ((size_t)snprintf(out, outlen, "%s", path) >= outlen)
			return -1;
		return 0;
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			if ((size_t)snprintf(out, outlen, "%s/../%s", exe, path) < outlen &&
			    access(out, R_OK) == 0)
				return 0;
		}
	}
	if ((size_t)snprintf(out, outlen, "%s", path) >= outlen)
		return -1;
	return 0;
}

struct content_filter *content_filter_new(const char *path, char *err, size_t errlen)
{
	struct content_filter *cf = calloc(1, sizeof(*cf));
	if (!cf) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (content_model_resolve(path, cf->path, sizeof(cf->path)) < 0) {
		snprintf(err, errlen, "model path too long");
		free(cf);
		return NULL;
	}
	cf->model = model_open(cf->path, err, errlen);
	if (!cf->model || stat(cf->path, &cf->st) < 0) {
		model_free(cf->model);
		free(cf);
		return NULL;
	}
	cf->checked = time(NULL);
	/* names for the top five only */
	features_init(&cf->feat, FEAT_ORIGINS | model_feature_flags(cf->model));
	return cf;
}

void content_filter_free(struct content_filter *cf)
{
	if (!cf)
		return;
	model_free(cf->model);
	features_free(&cf->feat);
	free(cf);
}

const char *content_filter_path(const struct content_filter *cf)
{
	return cf->path;
}

/* Re-maps the model when the file was replaced; keeps the old one on error. */
static void refresh(struct content_filter *cf)
{
	time_t now = time(NULL);
	if (now == cf->checked)
		return;
	cf->checked = now;
	struct stat st;
	if (stat(cf->path, &st) < 0)
		return;
	if (st.st_ino == cf->st.st_ino && st.st_dev == cf->st.st_dev &&
	    st.st_mtime == cf->st.st_mtime && st.st_size == cf->st.st_size)
		return;
	char err[256];
	struct model *m = model_open(cf->path, err, sizeof(err));
	if (!m)
		return;
	model_free(cf->model);
	cf->model = m;
	cf->st = st;
	/* a model trained on other features reads messages its way */
	cf->feat.flags = (cf->feat.flags & ~(unsigned)FEAT_SITE_NEUTRAL) | model_feature_flags(m);
}

int content_filter_classify(struct content_filter *cf, const char *msg, size_t len,
			    struct content_result *r)
{
	refresh(cf);
	if (features_extract(&cf->feat, msg, len) < 0) {
		memset(r, 0, sizeof(*r));
		return -1;
	}
	content_classify_features(cf->model, &cf->feat, 5, r);
	return 0;
}
