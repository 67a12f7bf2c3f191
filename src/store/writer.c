/*
 * writer.c - the store writer thread and its bounded queue; see writer.h.
 *
 * The queue is a ring of record pointers under one mutex. The thread sleeps on
 * a condition variable until batch_max records wait, the flush deadline passes
 * or stop is asked, then takes up to batch_max records out of the ring and
 * applies them with the mutex released, so submitters wait at most for a
 * pointer copy. Retention (a STORE_PRUNE of its own) runs in the same thread,
 * between batches, when the UTC day has changed since the last one.
 */
#include "store/writer.h"
#include "core/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct store_writer {
	struct store *st;
	struct store_writer_options o;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_cond_t done_cv;  /* broadcast after every batch (store_writer_sync) */
	bool flush_now;          /* store_writer_sync asks for a flush before the deadline */
	struct store_record **ring;
	size_t head, n;
	bool stop;
	struct store_writer_stats stats;
	char pruned_day[11]; /* UTC day of the last retention pass; thread only */
};

static void deadline_after(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Applies one batch; called without the mutex. */
static void flush(struct store_writer *w, struct store_record **batch, size_t n)
{
	char err[512];
	int rc = store_apply(w->st, batch, n, err, sizeof(err));
	if (rc < 0)
		log_msg(LOG_ERR, NULL, "event=store_write_failed records=%zu error=\"%s\"", n, err);
	for (size_t i = 0; i < n; i++)
		store_record_free(batch[i]);
	pthread_mutex_lock(&w->mu);
	if (rc == 0) {
		w->stats.written += n;
		w->stats.batches++;
	} else {
		w->stats.failed += n;
	}
	pthread_cond_broadcast(&w->done_cv);
	pthread_mutex_unlock(&w->mu);
}

/* Applies retention when the UTC day changed since the last pass; called without the mutex. */
static void maybe_prune(struct store_writer *w)
{
	if (!w->o.retention_days)
		return;
	long long now = (long long)time(NULL);
	char today[11];
	store_day_of(now, today);
	if (!strcmp(today, w->pruned_day))
		return;
	struct store_record *r = store_prune_record_new(now, w->o.retention_days);
	char err[512];
	if (!r || store_apply(w->st, &r, 1, err, sizeof(err)) < 0) {
		log_msg(LOG_ERR, NULL, "event=store_prune_failed error=\"%s\"",
			r ? err : "out of memory");
	} else {
		log_msg(LOG_INFO, NULL, "event=store_prune stats_before=%s rep_before_ts=%lld",
			r->u.prune.before_day, r->u.prune.rep_before_ts);
		memcpy(w->pruned_day, today, sizeof(today));
		pthread_mutex_lock(&w->mu);
		w->stats.prunes++;
		pthread_mutex_unlock(&w->mu);
	}
	store_record_free(r);
}

static void *run(void *arg)
{
	struct store_writer *w = arg;
	struct store_record **batch = calloc(w->o.batch_max, sizeof(*batch));
	struct timespec deadline;
	maybe_prune(w);
	deadline_after(&deadline, w->o.flush_ms);
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->stop && !w->flush_now && w->n < w->o.batch_max) {
			int rc = pthread_cond_timedwait(&w->cv, &w->mu, &deadline);
			if (rc == ETIMEDOUT)
				break;
		}
		w->flush_now = false;
		if (w->n == 0) {
			if (w->stop)
				break;
			pthread_mutex_unlock(&w->mu);
			maybe_prune(w);
			deadline_after(&deadline, w->o.flush_ms);
			pthread_mutex_lock(&w->mu);
			continue;
		}
		size_t take = w->n < w->o.batch_max ? w->n : w->o.batch_max;
		if (!batch)
			take = 1; /* out of memory: one record per transaction, slowly but surely */
		struct store_record *one[1];
		struct store_record **b = batch ? batch : one;
		for (size_t i = 0; i < take; i++) {
			b[i] = w->ring[w->head];
			w->head = (w->head + 1) % w->o.queue_max;
		}
		w->n -= take;
		pthread_mutex_unlock(&w->mu);
		flush(w, b, take);
		maybe_prune(w);
		deadline_after(&deadline, w->o.flush_ms);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	free(batch);
	return NULL;
}

struct store_writer *store_writer_start(struct store *st, const struct store_writer_options *o,
					char *err, size_t errlen)
{
	struct store_writer *w = calloc(1, sizeof(*w));
	if (!w || o->queue_max == 0 || o->batch_max == 0 ||
	    !(w->ring = calloc(o->queue_max, sizeof(*w->ring)))) {
		snprintf(err, errlen, w ? "bad queue size or out of memory" : "out of memory");
		free(w);
		return NULL;
	}
	w->st = st;
	w->o = *o;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_cond_init(&w->done_cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&w->mu, NULL);
	int rc = pthread_create(&w->thread, NULL, run, w);
	if (rc != 0) {
		snprintf(err, errlen, "writer thread: %s", strerror(rc));
		pthread_cond_destroy(&w->cv);
		pthread_cond_destroy(&w->done_cv);
		pthread_mutex_destroy(&w->mu);
		free(w->ring);
		free(w);
		return NULL;
	}
	return w;
}

int store_writer_submit(struct store_writer *w, struct store_record *rec)
{
	pthread_mutex_lock(&w->mu);
	if (w->n == w->o.queue_max || w->stop) {
		w->stats.dropped++;
		pthread_mutex_unlock(&w->mu);
		store_record_free(rec);
		return -1;
	}
	w->ring[(w->head + w->n) % w->o.queue_max] = rec;
	w->n++;
	w->stats.submitted++;
	if (w->n >= w->o.batch_max)
		pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

int store_writer_sync(struct store_writer *w, unsigned timeout_ms)
{
	struct timespec deadline;
	deadline_after(&deadline, timeout_ms);
	int rc = 0;
	pthread_mutex_lock(&w->mu);
	unsigned long long target = w->stats.submitted;
	w->flush_now = true;
	pthread_cond_signal(&w->cv);
	while (w->stats.written + w->stats.failed < target && !w->stop)
		if (pthread_cond_timedwait(&w->done_cv, &w->mu, &deadline) == ETIMEDOUT) {
			rc = -1;
			break;
		}
	pthread_mutex_unlock(&w->mu);
	return rc;
}

void store_writer_stats(struct store_writer *w, struct store_writer_stats *out)
{
	pthread_mutex_lock(&w->mu);
	*out = w->stats;
	out->queued = w->n;
	pthread_mutex_unlock(&w->mu);
}

void store_writer_stop(struct store_writer *w, struct store_writer_stats *final)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	if (final)
		store_writer_stats(w, final);
	pthread_cond_destroy(&w->cv);
	pthread_cond_destroy(&w->done_cv);
	pthread_mutex_destroy(&w->mu);
	free(w->ring);
	free(w);
}
