/*
 * journal_int: what the files of the journal module share (not for use
 * outside it): journal.c (paths, the file lock, writing), journal_read.c
 * (reading the runs back) and journal_etcd.c (the shared backend).
 */
#ifndef IVR_CONTROLLER_JOURNAL_INT_H
#define IVR_CONTROLLER_JOURNAL_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "etcd.h"
#include "journal.h"

/* The shared state of an etcd-backed journal (journal_etcd.c). */
struct journal_shared {
	struct etcd etcd;
	char prefix[256]; /* <prefix><environment>/ */
	int64_t ttl_ms;
	/* the lock: the value written, its lease, the renewing thread */
	char holder[1024];
	int64_t lease;
	pthread_t keeper;
	bool keeping;
	pthread_mutex_t mu; /* the fields below, and writes' order */
	pthread_cond_t wake;
	bool stop;
	atomic_llong renewed_ms; /* last renewal (clock_now_ms) */
	atomic_bool lost;
	char lost_why[512];
	json_t *pending;   /* events etcd has not taken: [[key, text]] */
	int64_t failed_ms; /* the last failed write */
	char write_error[512];
};

/* The time now as 2026-11-30T03:33:49.123Z. */
void journal_now_text(char *out, size_t size);

/* The lock's holder as written: user, host, pid, since, and the run
 * when known (a new object). */
json_t *journal_holder_json(const struct journal *j);

/* journal_etcd.c */

/* The etcd client and prefix for p's environment. */
int journal_etcd_setup(struct journal *j, const struct plan *p,
		       struct err *err);

/* Takes the environment's lock on etcd (journal_lock's contract). */
int journal_etcd_lock(struct journal *j, bool break_stale, struct err *err);

/* Sends one event's text (kept to send again when etcd cannot take it). */
void journal_etcd_write(struct journal *j, const char *text);

/* Sends what is kept, stops renewing and releases the lock. */
void journal_etcd_close(struct journal *j);

/* Calls fn with each event on etcd, in the order they were written. */
int journal_etcd_each(struct journal *j, void (*fn)(void *ctx, json_t *ev),
		      void *ctx, struct err *err);

#endif
