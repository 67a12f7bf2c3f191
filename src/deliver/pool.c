/*
 * pool.c - delivery threads; see pool.h.
 */
#include "deliver/pool.h"
#include "core/log.h"
#include "deliver/maildir.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

struct delivery_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct delivery_job *todo, **todo_tail;
	struct delivery_job *done, **done_tail;
	size_t pending;
	bool stop;
	pthread_t *threads;
	size_t nthreads;
	int wake[2];
	struct event *wake_ev;
};

static void *worker(void *arg)
{
	struct delivery_pool *p = arg;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->todo && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		if (!p->todo)
			break;
		struct delivery_job *job = p->todo;
		p->todo = job->next;
		if (!p->todo)
			p->todo_tail = &p->todo;
		pthread_mutex_unlock(&p->mu);

		job->rc = maildir_deliver(job->mailboxes, job->junk, job->n, job->parts, 2,
					  job->unique, job->err, sizeof(job->err));

		pthread_mutex_lock(&p->mu);
		job->next = NULL;
		*p->done_tail = job;
		p->done_tail = &job->next;
		char c = 1;
		ssize_t w;
		do
			w = write(p->wake[1], &c, 1);
		while (w < 0 && errno == EINTR);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct delivery_pool *p = arg;
	char drain[64];
	while (read(fd, drain, sizeof(drain)) > 0)
		;
	pthread_mutex_lock(&p->mu);
	struct delivery_job *list = p->done;
	p->done = NULL;
	p->done_tail = &p->done;
	pthread_mutex_unlock(&p->mu);
	while (list) {
		struct delivery_job *next = list->next;
		p->pending--;
		list->done(list);
		list = next;
	}
}

struct delivery_pool *delivery_pool_new(struct event_base *base, size_t threads)
{
	struct delivery_pool *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->todo_tail = &p->todo;
	p->done_tail = &p->done;
	if (pipe2(p->wake, O_NONBLOCK | O_CLOEXEC) < 0)
		goto fail;
	p->wake_ev = event_new(base, p->wake[0], EV_READ | EV_PERSIST, on_wake, p);
	if (!p->wake_ev || event_add(p->wake_ev, NULL) < 0)
		goto fail;
	p->threads = calloc(threads, sizeof(*p->threads));
	if (!p->threads)
		goto fail;
	for (size_t i = 0; i < threads; i++) {
		if (pthread_create(&p->threads[i], NULL, worker, p) != 0)
			goto fail;
		p->nthreads++;
	}
	return p;
fail:
	log_msg(LOG_ERR, NULL, "event=delivery_pool_failed");
	delivery_pool_free(p);
	return NULL;
}

void delivery_pool_submit(struct delivery_pool *p, struct delivery_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&p->mu);
	*p->todo_tail = job;
	p->todo_tail = &job->next;
	p->pending++;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

size_t delivery_pool_pending(const struct delivery_pool *p)
{
	return p->pending;
}

void delivery_pool_free(struct delivery_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (size_t i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	free(p->threads);
	if (p->wake_ev)
		event_free(p->wake_ev);
	if (p->wake[0] > 0) {
		close(p->wake[0]);
		close(p->wake[1]);
	}
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
}
