/*
 * arena.h - region allocator: many small allocations, one free.
 *
 * An SMTP session owns two arenas: one for the session (HELO name, TLS facts)
 * and one for the current transaction (envelope), reset on RSET and after
 * each message. Protocol code never frees individual fields.
 * Chunks are allocated lazily, so an idle session costs no arena memory.
 */
#ifndef MX_CORE_ARENA_H
#define MX_CORE_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
	struct arena_chunk *head;
	size_t chunk_size;
};

void arena_init(struct arena *a, size_t chunk_size);
/* Returns NULL only when memory is exhausted. Alignment: max_align_t. */
void *arena_alloc(struct arena *a, size_t n);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_strdup(struct arena *a, const char *s);
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Frees all chunks; the arena can be used again. */
void arena_reset(struct arena *a);

#endif
