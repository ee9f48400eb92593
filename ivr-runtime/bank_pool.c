/*
 * bank_pool: connections lent to a server's threads (see bank.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bank.h"

struct bank_pool {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	struct bank_config cfg;
	char *path, *conninfo;
	int size, opened, nidle;
	struct bank **idle;
};

int
bank_pool_new(struct bank_pool **out, const struct bank_config *cfg, int size,
	      struct err *err)
{
	struct bank_pool *p = calloc(1, sizeof(*p));
	pthread_condattr_t a;

	if (p == NULL || size < 1 ||
	    (p->idle = calloc((size_t)size, sizeof(*p->idle))) == NULL ||
	    (p->path = strdup(cfg->path ? cfg->path : "")) == NULL ||
	    (p->conninfo = strdup(cfg->conninfo ? cfg->conninfo : "")) ==
		    NULL) {
		if (p != NULL) {
			free(p->idle);
			free(p->path);
			free(p);
		}
		return err_set(err, size < 1 ? ERR_RANGE : ERR_NOMEM,
			       size < 1 ? "pool size must be at least 1"
					: "out of memory");
	}
	p->cfg = *cfg;
	p->cfg.path = p->path;
	p->cfg.conninfo = p->conninfo;
	p->size = size;
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&p->freed, &a);
	pthread_condattr_destroy(&a);
	*out = p;
	return 0;
}

int
bank_pool_get(struct bank **out, struct bank_pool *p, int64_t wait_ms,
	      struct err *err)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += wait_ms / 1000;
	until.tv_nsec += (wait_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&p->lock);
	while (p->nidle == 0 && p->opened == p->size && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&p->freed, &p->lock, &until);
	if (p->nidle > 0) {
		*out = p->idle[--p->nidle];
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
	if (p->opened == p->size) {
		pthread_mutex_unlock(&p->lock);
		return err_set(err, ERR_BUSY,
			       "all %d database connections are in use",
			       p->size);
	}
	p->opened++;
	pthread_mutex_unlock(&p->lock);
	if ((rc = bank_connect(out, &p->cfg, err)) < 0) {
		pthread_mutex_lock(&p->lock);
		p->opened--;
		pthread_cond_signal(&p->freed);
		pthread_mutex_unlock(&p->lock);
	}
	return rc;
}

void
bank_pool_put(struct bank_pool *p, struct bank *b)
{
	if (b == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->idle[p->nidle++] = b;
	pthread_cond_signal(&p->freed);
	pthread_mutex_unlock(&p->lock);
}

void
bank_pool_free(struct bank_pool *p)
{
	if (p == NULL)
		return;
	for (int i = 0; i < p->nidle; i++)
		bank_close(p->idle[i]);
	pthread_cond_destroy(&p->freed);
	pthread_mutex_destroy(&p->lock);
	free(p->idle);
	free(p->path);
	free(p->conninfo);
	free(p);
}
