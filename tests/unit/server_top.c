/*
 * server_top - reads message file paths on stdin and prints, for each message
 * (line ends made CRLF, as SMTP carries it to the server), the result of the
 * server's content path, content_filter_classify(): "path scl score" and the
 * top features with their contributions, one per line. With --names it prints
 * the same from a FEAT_NAMES extraction (every feature named, as the server
 * did before it named only the features it reports) and
 * content_classify_features(); the two outputs must be identical
 * (tests/integration/test_classifier.py). Also the program to measure the
 * server path's CPU per message (valgrind --tool=callgrind).
 * usage: server_top [--names] MODEL < PATHS
 */
#include "content/classify.h"
#include "core/buf.h"
#include "core/fileread.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int to_crlf(const struct buf *in, struct buf *out)
{
	buf_reset(out);
	for (size_t i = 0; i < in->len; i++) {
		if (in->p[i] == '\n' && (i == 0 || in->p[i - 1] != '\r') && buf_append(out, "\r", 1) < 0)
			return -1;
		if (buf_append(out, in->p + i, 1) < 0)
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	bool names = argc == 3 && !strcmp(argv[1], "--names");
	if (argc != 2 + names) {
		fprintf(stderr, "usage: server_top [--names] MODEL < PATHS\n");
		return 2;
	}
	const char *model = argv[argc - 1];
	char err[512];
	struct content_filter *cf = NULL;
	struct model *m = NULL;
	struct features f;
	features_init(&f, FEAT_NAMES);
	if (names) {
		m = model_open(model, err, sizeof(err));
		if (m)
			features_init(&f, FEAT_NAMES | model_feature_flags(m));
	} else
		cf = content_filter_new(model, err, sizeof(err));
	if (!cf && !m) {
		fprintf(stderr, "server_top: %s\n", err);
		return 2;
	}
	struct buf msg = { 0 }, conv = { 0 };
	char path[4096];
	int rc = 0;
	while (fgets(path, sizeof(path), stdin)) {
		path[strcspn(path, "\r\n")] = '\0';
		if (!*path)
			continue;
		if (file_read(path, &msg) < 0 || to_crlf(&msg, &conv) < 0) {
			fprintf(stderr, "server_top: %s: %s\n", path, strerror(errno));
			rc = 2;
			break;
		}
		const char *p = conv.p ? conv.p : "";
		struct content_result r;
		int x = names ? features_extract(&f, p, conv.len) : content_filter_classify(cf, p, conv.len, &r);
		if (x < 0) {
			fprintf(stderr, "server_top: out of memory\n");
			rc = 2;
			break;
		}
		if (names)
			content_classify_features(m, &f, 5, &r);
		printf("%s scl=%d score=%.6f\n", path, r.scl, r.score);
		for (size_t i = 0; i < r.ntop; i++)
			printf("  %s=%+.6f\n", r.top[i].name, r.top[i].contribution);
	}
	buf_free(&msg);
	buf_free(&conv);
	features_free(&f);
	content_filter_free(cf);
	model_free(m);
	return rc;
}
