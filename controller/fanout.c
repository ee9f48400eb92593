/*
 * fanout: see fanout.h.  Workers take the next index from a shared
 * counter, so a slow host never blocks work that could start elsewhere.
 */
#include "fanout.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct pool {
	fanout_fn fn;
	void *ctx;
	size_t n;
	atomic_size_t next;
};

static void *
worker(void *arg)
{
	struct pool *p = arg;
	size_t i;

	while ((i = atomic_fetch_add(&p->next, 1)) < p->n)
		p->fn(p->ctx, i);
	return NULL;
}

void
fanout_run(size_t n, int parallel, fanout_fn fn, void *ctx)
{
	struct pool p = { .fn = fn, .ctx = ctx, .n = n };
	size_t workers = parallel < 1 ? 1 : (size_t)parallel;
	pthread_t *t;
	size_t started = 0;

	atomic_init(&p.next, 0);
	if (workers > n)
		workers = n;
	t = calloc(workers ? workers : 1, sizeof(*t));
	for (size_t i = 0; t != NULL && i < workers; i++)
		if (pthread_create(&t[i], NULL, worker, &p) == 0)
			started++;
	if (started == 0)
		worker(&p); /* no thread to be had: do it here */
	for (size_t i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	free(t);
}
