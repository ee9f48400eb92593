/*
 * conns: see conns.h.
 */
#include "conns.h"

#include <stdlib.h>
#include <sys/socket.h>

void
conns_init(struct conns *c, int64_t request_ms, int64_t idle_ms)
{
	pthread_mutex_init(&c->lock, NULL);
	c->head = NULL;
	c->request_ms = request_ms;
	c->idle_ms = idle_ms;
	c->open = 0;
	c->cut = 0;
}

void
conns_release(struct conns *c)
{
	struct conn_entry *e = c->head, *next;

	for (; e != NULL; e = next) {
		next = e->next;
		free(e);
	}
	c->head = NULL;
	pthread_mutex_destroy(&c->lock);
}

struct conn_entry *
conns_opened(struct conns *c, int fd, int64_t now_ms)
{
	struct conn_entry *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return NULL;
	e->fd = fd;
	e->since_ms = now_ms;
	e->limit_ms = c->request_ms;
	e->phase = CONNS_HEADERS;
	pthread_mutex_lock(&c->lock);
	e->next = c->head;
	if (c->head != NULL)
		c->head->prev = e;
	c->head = e;
	c->open++;
	pthread_mutex_unlock(&c->lock);
	return e;
}

void
conns_closed(struct conns *c, struct conn_entry *e)
{
	if (e == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	c->open--;
	pthread_mutex_unlock(&c->lock);
	free(e);
}

void
conns_phase(struct conns *c, struct conn_entry *e, enum conns_phase phase,
	    int64_t now_ms)
{
	if (e == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	e->phase = phase;
	e->since_ms = now_ms;
	e->limit_ms = phase == CONNS_BUSY      ? 0
		      : phase == CONNS_HEADERS ? c->idle_ms
					       : c->request_ms;
	pthread_mutex_unlock(&c->lock);
}

unsigned
conns_sweep(struct conns *c, int64_t now_ms)
{
	unsigned n = 0;

	pthread_mutex_lock(&c->lock);
	for (struct conn_entry *e = c->head; e != NULL; e = e->next) {
		if (e->limit_ms == 0 || now_ms - e->since_ms <= e->limit_ms)
			continue;
		/* The library sees the end on its next read and closes the
		 * connection; until then the entry stays, without a limit. */
		shutdown(e->fd, SHUT_RDWR);
		e->limit_ms = 0;
		n++;
	}
	c->cut += n;
	pthread_mutex_unlock(&c->lock);
	return n;
}
