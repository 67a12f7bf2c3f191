/*
 * pool.h - delivery threads: the blocking fsync work, off the event loop.
 *
 * The event loop submits a job; one of N threads runs it (maildir_deliver)
 * and queues it as done; the loop learns of done jobs through a pipe it
 * watches and calls the job's callback on the loop thread. Job memory belongs
 * to the submitter until the callback has run.
 */
#ifndef MX_DELIVER_POOL_H
#define MX_DELIVER_POOL_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>

struct event_base;

struct delivery_job {
	/* input */
	const char *const *mailboxes;
	const bool *junk;
	size_t n;
	struct slice parts[2];
	char unique[256];
	/* output */
	int rc;
	char err[256];
	/* completion, on the loop thread */
	void (*done)(struct delivery_job *job);
	void *arg;
	struct delivery_job *next;
};

struct delivery_pool;

struct delivery_pool *delivery_pool_new(struct event_base *base, size_t threads);
void delivery_pool_submit(struct delivery_pool *p, struct delivery_job *job);
/* Jobs submitted and not yet completed (callback not yet run). */
size_t delivery_pool_pending(const struct delivery_pool *p);
/* Waits for running jobs, stops the threads. Pending callbacks are not run. */
void delivery_pool_free(struct delivery_pool *p);

#endif
