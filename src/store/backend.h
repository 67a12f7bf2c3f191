/*
 * backend.h - what a store backend provides (internal to src/store/).
 *
 * store.c keeps one of these per open store and forwards the public calls of
 * store.h to it. SQLite (sqlite.c) is the only backend today; a Redis backend
 * for clusters adds a second table and a way to choose it (a redis:// path).
 */
#ifndef MX_STORE_BACKEND_H
#define MX_STORE_BACKEND_H

#include "store/store.h"

struct store_backend {
	const char *name;
	void *(*open)(const char *path, bool readonly, char *err, size_t errlen);
	void (*close)(void *h);
	int (*schema_version)(void *h);
	int (*apply)(void *h, struct store_record *const *recs, size_t n, char *err,
		     size_t errlen);
	int (*dmarc_rows)(void *h, const struct store_filter *f, store_dmarc_cb cb, void *arg,
			  char *err, size_t errlen);
	int (*dmarc_policies)(void *h, const struct store_filter *f, store_dmarc_cb cb,
			      void *arg, char *err, size_t errlen);
	int (*stat_rows)(void *h, const struct store_stat_filter *f, store_stat_cb cb, void *arg,
			 char *err, size_t errlen);
	int (*rep_load)(void *h, store_rep_cb cb, void *arg, char *err, size_t errlen);
	int (*iplist_load)(void *h, store_iplist_cb cb, void *arg, char *err, size_t errlen);
};

extern const struct store_backend store_sqlite_backend;
/* Schema version the SQLite backend writes. */
#define STORE_SQLITE_SCHEMA 2
/*
 * The writer's connection: a 32 MiB page cache (the default 2 MiB thrashes once
 * today's statistics rows outgrow it) and a WAL checkpointed every 10,000 pages
 * (40 MiB) instead of 1,000, so a page incremented by many batches is written
 * back once per checkpoint (docs/store.md "Figures").
 */
#define STORE_SQLITE_WRITER_PRAGMAS \
	"PRAGMA cache_size = -32768; PRAGMA wal_autocheckpoint = 10000"


#endif
