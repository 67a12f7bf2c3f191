/*
 * log.c - logfmt event lines on stderr; see log.h.
 */
#include "core/log.h"
#include "core/limits.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;
static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_set_level(enum log_level level)
{
	min_level = level;
}

int log_level_parse(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	return -1;
}

void log_msg(enum log_level level, const char *sess, const char *fmt, ...)
{
	if (level < min_level)
		return;
	char line[LOG_LINE_MAX];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof(line), "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, ts.tv_nsec / 1000000, level_names[level]);
	if (sess && n > 0 && (size_t)n < sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n, "sess=%s ", sess);
	if (n > 0 && (size_t)n < sizeof(line)) {
		va_list ap;
		va_start(ap, fmt);
		n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line) - 1) {
		/* Mark an overlong line instead of cutting it silently. */
		n = sizeof(line) - 1;
		memcpy(line + n - 11, " truncated=1", 11);
	}
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}

const char *log_quote(char *out, size_t outlen, const char *s, size_t len)
{
	if (outlen < 3) {
		if (outlen)
			out[0] = '\0';
		return out;
	}
	int needs = len == 0;
	for (size_t i = 0; i < len && !needs; i++)
		needs = s[i] == ' ' || s[i] == '"' || s[i] == '=' || (unsigned char)s[i] < 0x21;
	if (!needs) {
		size_t n = len < outlen - 1 ? len : outlen - 1;
		memcpy(out, s, n);
		out[n] = '\0';
		return out;
	}
	size_t o = 0;
	out[o++] = '"';
	for (size_t i = 0; i < len && o + 5 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}
