/*
 * fuzz_config.c - libFuzzer target for the config file parser (src/core/config.c).
 *
 * The input is written to a temporary file and loaded with config_load_file.
 * When it loads, the effective configuration must survive a round trip:
 * dump, load the dump into a fresh config, dump again, identical text.
 * config_finish is left out: it looks at the host name and the file system.
 */
#include "core/config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static void write_file(const void *p, size_t n)
{
	if (!path[0]) {
		snprintf(path, sizeof(path), "/tmp/fuzz_config.XXXXXX");
		int fd = mkstemp(path);
		if (fd < 0)
			abort();
		close(fd);
	}
	FILE *f = fopen(path, "wb");
	if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
		abort();
}

static char *dump(const struct config *c, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);
	if (!f)
		abort();
	config_dump(c, f);
	fclose(f);
	return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 16)
		return 0;
	write_file(data, size);
	struct config *c = config_new();
	char err[512];
	err[0] = '\0';
	if (!c)
		abort();
	if (config_load_file(c, path, err, sizeof(err)) < 0) {
		/* errors name the file (and line) */
		if (strncmp(err, path, strlen(path)) != 0)
			abort();
		config_unref(c);
		return 0;
	}
	size_t len1, len2;
	char *d1 = dump(c, &len1);
	write_file(d1, len1);
	struct config *c2 = config_new();
	if (!c2)
		abort();
	if (config_load_file(c2, path, err, sizeof(err)) < 0) {
		/*
		 * Known limit: a dumped line longer than the loader's line limit
		 * (a value of ~4 KB) does not load back. Anything else is a bug.
		 */
		if (!strstr(err, "line longer than"))
			abort();
	} else {
		char *d2 = dump(c2, &len2);
		if (len1 != len2 || memcmp(d1, d2, len1) != 0)
			abort();
		free(d2);
	}
	free(d1);
	config_unref(c2);
	config_unref(c);
	return 0;
}
