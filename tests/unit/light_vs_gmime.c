/*
 * light_vs_gmime - reads message file paths on stdin and prints each message
 * whose features differ between the light path and the GMime path (hashes, in
 * emission order: the score is a float sum in that order), then a summary line
 * "compared=N differ=M" on stderr. Exit 0 when none differ, 1 when some do, 2 on
 * a read error. Used by tests/integration/test_classifier.py on the whole corpus;
 * features.c promises the two paths agree.
 */
#include "content/features.h"
#include "core/buf.h"
#include "core/fileread.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* LF line ends to CRLF (a message as SMTP carries it); bare CRs kept. */
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
	bool crlf = argc == 2 && !strcmp(argv[1], "--crlf");
	if (argc > 1 && !crlf) {
		fprintf(stderr, "usage: light_vs_gmime [--crlf] < PATHS\n");
		return 2;
	}
	struct features light, gmime;
	features_init(&light, 0);
	features_init(&gmime, FEAT_NO_LIGHT);
	struct buf msg = { 0 }, conv = { 0 };
	char path[4096];
	size_t compared = 0, differ = 0, nlight = 0;
	int rc = 0;
	while (fgets(path, sizeof(path), stdin)) {
		path[strcspn(path, "\r\n")] = '\0';
		if (!*path)
			continue;
		if (file_read(path, &msg) < 0) {
			fprintf(stderr, "light_vs_gmime: %s: %s\n", path, strerror(errno));
			rc = 2;
			break;
		}
		if (crlf && to_crlf(&msg, &conv) < 0) {
			fprintf(stderr, "light_vs_gmime: out of memory\n");
			rc = 2;
			break;
		}
		const struct buf *m = crlf ? &conv : &msg;
		const char *p = m->p ? m->p : "";
		if (features_extract(&light, p, m->len) < 0 ||
		    features_extract(&gmime, p, m->len) < 0) {
			fprintf(stderr, "light_vs_gmime: out of memory\n");
			rc = 2;
			break;
		}
		compared++;
		nlight += light.light;
		if (light.n != gmime.n ||
		    memcmp(light.hash, gmime.hash, light.n * sizeof(*light.hash)) != 0) {
			differ++;
			printf("%s\n", path);
		}
	}
	fprintf(stderr, "compared=%zu differ=%zu light=%zu\n", compared, differ, nlight);
	buf_free(&msg);
	buf_free(&conv);
	features_free(&light);
	features_free(&gmime);
	return rc ? rc : differ ? 1 : 0;
}
