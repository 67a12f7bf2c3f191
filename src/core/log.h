/*
 * log.h - one line per event, key=value (logfmt), stamped with a session id.
 *
 * Lines go to stderr in a single write(2) so that lines from threads never mix.
 * Values that may contain spaces or quotes are quoted with log_quote().
 */
#ifndef MX_CORE_LOG_H
#define MX_CORE_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERR };

void log_set_level(enum log_level level);
int log_level_parse(const char *name, enum log_level *out);
/* sess may be NULL for events that belong to no session. */
void log_msg(enum log_level level, const char *sess, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Writes s as a logfmt value (quoted and escaped when needed) into out. */
const char *log_quote(char *out, size_t outlen, const char *s, size_t len);

#endif
