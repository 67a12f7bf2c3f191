/*
 * writer.h - the store writer: a thread that applies queued records in batches.
 *
 * The SMTP event loop must never wait for SQLite, so it hands records to
 * store_writer_submit(), which only takes a mutex and appends to a bounded
 * queue. The writer thread applies them in one transaction per flush: when
 * batch_max records are waiting, or flush_ms after the previous flush. A full
 * queue refuses the record (counted in `dropped`; the caller logs it): the
 * loop is never blocked and nothing is lost silently. store_writer_stop()
 * writes everything still queued before it returns (SIGTERM drain); a kill -9
 * loses at most what was queued since the last flush. With retention_days the
 * thread also applies retention once per UTC day (it is the only writer).
 */
#ifndef MX_STORE_WRITER_H
#define MX_STORE_WRITER_H

#include "store/store.h"

#include <stddef.h>

struct store_writer_options {
	size_t queue_max;  /* records waiting at most */
	size_t batch_max;  /* records per transaction at most */
	unsigned flush_ms; /* longest a record waits for its flush */
	/* > 0: the thread applies a STORE_PRUNE (store_prune_record_new) for this many days of
	 * statistics when it starts and at the first flush of each UTC day. 0: never. */
	unsigned retention_days;
};

struct store_writer_stats {
	unsigned long long submitted; /* accepted into the queue */
	unsigned long long written;   /* committed */
	unsigned long long batches;   /* transactions committed */
	unsigned long long dropped;   /* refused: queue full */
	unsigned long long failed;    /* lost in a failed transaction (logged) */
	unsigned long long prunes;    /* retention passes committed */
	size_t queued;                /* waiting now */
};

struct store_writer;

/* Starts the thread; the writer owns st until store_writer_stop(). NULL with err set. */
struct store_writer *store_writer_start(struct store *st, const struct store_writer_options *o,
					char *err, size_t errlen);
/* Takes rec (always: queued, or freed when the queue is full). 0, or -1 when full. */
int store_writer_submit(struct store_writer *w, struct store_record *rec);
void store_writer_stats(struct store_writer *w, struct store_writer_stats *out);
/* Asks for a flush now and waits until every record submitted before the call is
 * written (or failed), at most timeout_ms. For readers that must see what was
 * sent (`mxscreen ip show`), never on the mail path. 0, or -1 on timeout. */
int store_writer_sync(struct store_writer *w, unsigned timeout_ms);
/* Writes what is queued, joins the thread, frees the writer (not the store). */
void store_writer_stop(struct store_writer *w, struct store_writer_stats *final);

#endif
