/*
 * conns: the connections the HTTP front holds, and the deadline each one
 * is under, so that a client that sends slowly cannot hold a connection
 * (and with many of them, the runtime) for long.
 *
 * A connection waits for its first request's headers at most `request`
 * ms from connecting, and for a later request's at most `idle` ms from
 * the previous answer (which covers a keep-alive connection at rest, as
 * the idle timeout would); a request body must arrive within `request`
 * ms of its headers.  While the application works on a request, no
 * deadline runs.  conns_sweep shuts down (shutdown(2), not close: the
 * HTTP library still owns the descriptor) every connection past its
 * deadline; the library then sees the end and closes it.
 *
 * Thread-safe: one mutex over the list.  An entry is removed before the
 * library closes its descriptor, so a sweep never touches a reused one.
 */
#ifndef IVR_RUNTIME_CONNS_H
#define IVR_RUNTIME_CONNS_H

#include <pthread.h>
#include <stdint.h>

enum conns_phase {
	CONNS_HEADERS, /* waiting for a request's headers */
	CONNS_BODY,    /* headers read, the body arriving */
	CONNS_BUSY     /* the application answers: no deadline */
};

struct conn_entry {
	int fd;
	int64_t since_ms; /* the phase began */
	int64_t limit_ms; /* how long the phase may last, 0: no limit */
	enum conns_phase phase;
	struct conn_entry *prev, *next;
};

struct conns {
	pthread_mutex_t lock;
	struct conn_entry *head;
	int64_t request_ms, idle_ms;
	unsigned open;
	uint64_t cut; /* connections shut down by a sweep */
};

/* Sets c up empty with the two deadlines (ms, > 0). */
void conns_init(struct conns *c, int64_t request_ms, int64_t idle_ms);

/* Frees every entry left. */
void conns_release(struct conns *c);

/* A new connection on fd at now_ms, waiting for its first request.
 * Returns the entry (owned by c until conns_closed), NULL without memory
 * (the connection then has no deadline). */
struct conn_entry *conns_opened(struct conns *c, int fd, int64_t now_ms);

/* The connection is closing: removes and frees e (NULL is a no-op). */
void conns_closed(struct conns *c, struct conn_entry *e);

/* e enters phase at now_ms; CONNS_HEADERS after an answer uses the idle
 * deadline.  NULL is a no-op. */
void conns_phase(struct conns *c, struct conn_entry *e, enum conns_phase phase,
		 int64_t now_ms);

/* Shuts down every connection past its deadline at now_ms; returns how
 * many. */
unsigned conns_sweep(struct conns *c, int64_t now_ms);

#endif
