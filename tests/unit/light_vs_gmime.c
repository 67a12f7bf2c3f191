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

int main(void)
{
	struct features light, gmime;
	features_init(&light, 0);
	features_init(&gmime, FEAT_NO_LIGHT);
	struct buf msg = { 0 };
	char path[4096];
	size_t compared = 0, differ = 0;
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
		const char *p = msg.p ? msg.p : "";
		if (features_extract(&light, p, msg.len) < 0 ||
		    features_extract(&gmime, p, msg.len) < 0) {
			fprintf(stderr, "light_vs_gmime: out of memory\n");
			rc = 2;
			break;
		}
		compared++;
		if (light.n != gmime.n ||
		    memcmp(light.hash, gmime.hash, light.n * sizeof(*light.hash)) != 0) {
			differ++;
			printf("%s\n", path);
		}
	}
	fprintf(stderr, "compared=%zu differ=%zu\n", compared, differ);
	buf_free(&msg);
	features_free(&light);
	features_free(&gmime);
	return rc ? rc : differ ? 1 : 0;
}
