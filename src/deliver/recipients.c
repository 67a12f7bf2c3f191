/*
 * recipients.c - valid local recipients; see recipients.h.
 */
#include "deliver/recipients.h"
#include "core/limits.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct recipients {
	bool any;
	char **addrs; /* lowercased, sorted */
	size_t n;
};

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct recipients *recipients_load(const char *spec, char *err, size_t errlen)
{
	struct recipients *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (strcmp(spec, "any") == 0) {
		r->any = true;
		return r;
	}
	FILE *f = fopen(spec, "r");
	if (!f) {
		snprintf(err, errlen, "recipients: %s: %s", spec, strerror(errno));
		free(r);
		return NULL;
	}
	/* Whole lines, however long: a fixed buffer split long comments into "addresses". */
	char *line = NULL;
	size_t linecap = 0, cap = 0;
	int lineno = 0;
	while (getline(&line, &linecap, f) >= 0) {
		lineno++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *s = line;
		while (isspace((unsigned char)*s))
			s++;
		size_t len = strlen(s);
		while (len && isspace((unsigned char)s[len - 1]))
			s[--len] = '\0';
		if (!len)
			continue;
		if (!strchr(s, '@') || len > SMTP_PATH_MAX) {
			snprintf(err, errlen, "recipients: %s:%d: not an address", spec, lineno);
			goto fail;
		}
		for (char *p = s; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if (r->n == cap) {
			cap = cap ? cap * 2 : 64;
			char **na = realloc(r->addrs, cap * sizeof(*na));
			if (!na)
				goto oom;
			r->addrs = na;
		}
		if (!(r->addrs[r->n] = strdup(s)))
			goto oom;
		r->n++;
	}
	free(line);
	fclose(f);
	qsort(r->addrs, r->n, sizeof(*r->addrs), cmp);
	return r;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	free(line);
	fclose(f);
	recipients_free(r);
	return NULL;
}

bool recipients_has(const struct recipients *r, const char *local, size_t local_len,
		    const char *domain, size_t domain_len)
{
	if (r->any || (local_len == 10 && strncasecmp(local, "postmaster", 10) == 0))
		return true;
	char key[SMTP_PATH_MAX + 2];
	if (local_len + domain_len + 2 > sizeof(key))
		return false;
	size_t k = 0;
	for (size_t i = 0; i < local_len; i++)
		key[k++] = (char)tolower((unsigned char)local[i]);
	key[k++] = '@';
	for (size_t i = 0; i < domain_len; i++)
		key[k++] = (char)tolower((unsigned char)domain[i]);
	key[k] = '\0';
	const char *kp = key;
	return bsearch(&kp, r->addrs, r->n, sizeof(*r->addrs), cmp) != NULL;
}

size_t recipients_count(const struct recipients *r)
{
	return r->n;
}

void recipients_free(struct recipients *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		free(r->addrs[i]);
	free(r->addrs);
	free(r);
}
