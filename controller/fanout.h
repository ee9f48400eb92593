/*
 * fanout: runs one piece of work per host on up to `parallel` threads.
 * A slow or dead host holds only its own thread (every step it runs has a
 * timeout); results are kept per host by the work itself.
 */
#ifndef IVR_CONTROLLER_FANOUT_H
#define IVR_CONTROLLER_FANOUT_H

#include <stddef.h>

/* The work for host i; ctx is shared and borrowed. */
typedef void (*fanout_fn)(void *ctx, size_t i);

/* Runs fn(ctx, i) for every i < n, at most parallel at once; waits. */
void fanout_run(size_t n, int parallel, fanout_fn fn, void *ctx);

#endif
