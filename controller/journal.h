/*
 * journal: the controller's append-only record of what it set out to do
 * and what happened, one JSON object per line, per environment.  Each
 * line is written with one write(2) and fsynced, so a crash loses at most
 * the line being written.  `ivrctl history` reads it back.
 *
 * The journal records intent; the hosts' state.json records what runs.
 * Rollback and status work without it.
 *
 * Also here: the environment lock, so that one deployment or rollback
 * runs per environment at a time (a file beside the journal, created
 * exclusively, naming its holder).
 *
 * With the plan's `state: {backend: etcd}` both are shared by every
 * controller (journal_etcd.c): the lock is a key bound to a lease that a
 * thread renews every third of its time to live, taken in one transaction
 * that fails when the key exists; each event is a key of its own under
 * the environment's prefix, read back in the order etcd created them.
 * The file is then this machine's copy of what it wrote.  An event etcd
 * could not take is kept and sent again before the next one, in order.
 */
#ifndef IVR_CONTROLLER_JOURNAL_H
#define IVR_CONTROLLER_JOURNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "err.h"
#include "plan.h"

struct journal_shared; /* journal_int.h */

struct journal {
	char path[4096];
	char lock[4200];
	int fd;
	bool locked;
	bool started;		       /* a start event was written */
	struct journal_shared *shared; /* NULL: files on this machine */
	char where[256];	       /* etcd: the environment's prefix */
	size_t unwritten; /* after closing: events etcd never took */
	char run[64];	  /* the run the lock is for, when known (its holder
			     names it) */
};

/*
 * The journal and lock paths for p: the plan's `journal`, else
 * $XDG_STATE_HOME/ivr-deploy/<environment>.journal (~/.local/state when
 * unset).  Creates the folder.  Returns 0 or ERR_IO.  Release with
 * journal_close.
 */
int journal_open(struct journal *j, const struct plan *p, struct err *err);

/* The same paths and folder (and the etcd client), without opening the
 * journal's file: for reading it.  Release with journal_close. */
int journal_paths(struct journal *j, const struct plan *p, struct err *err);

/* j as the file journal at path, for reading (nothing to close). */
void journal_file(struct journal *j, const char *path);

/* Where the journal is, for messages: its file, or etcd's prefix. */
const char *journal_where(const struct journal *j);

/*
 * Whether the lock is still surely held: false once its lease expired or
 * could not be renewed for half its time to live (why says so).  Always
 * true for a file lock.
 */
bool journal_lock_held(struct journal *j, char *why, size_t size);

/* Events etcd has not taken (kept in the file); 0 for a file journal. */
size_t journal_unwritten(struct journal *j);

/*
 * Takes the environment's lock (its holder names j->run when set).
 * Returns 0; ERR_BUSY with the holder ("locked by ops@host pid 123 since
 * ..."); or, for a lock whose process is gone, ERR_BUSY saying so unless
 * break_stale, which removes it first; ERR_IO when the lock cannot be
 * reached (etcd does not answer).
 */
int journal_lock(struct journal *j, bool break_stale, struct err *err);

/* Appends one event (stolen), adding "at".  Never fails the caller. */
void journal_write(struct journal *j, json_t *event);

/* "user@host": this controller's operator and machine, into out. */
void journal_operator(char *out, size_t size);

/* Who runs this controller: the account of its real user id (not
 * $USER, which anyone can set), else $USER. */
const char *journal_user(void);

/* Whether list (a JSON array) holds the string name. */
bool journal_list_has(const json_t *list, const char *name);

/* The account that started run (journal_runs' entry): its "user", else
 * its operator's name before '@' (journals from before the field). */
void journal_run_user(char *out, size_t size, const json_t *run);

/* Releases the lock if held and closes the journal. */
void journal_close(struct journal *j);

/*
 * Reads the journal into *out: a list of runs, oldest first, each
 * its start event's fields (id, kind, operator, at, plan_sha256, to, and
 * for deployments artifact and sha256) plus "from" (once read from the
 * fleet), "approved" (the phases approved so far), "failed_steps" (host
 * moves that failed) and "end" (the end event, absent while the run is
 * open; a "resume" event opens it again).  Lines cut by a crash are
 * skipped.  Returns 0, ERR_IO (no journal) or etcd's error.
 */
int journal_runs(json_t **out, struct journal *j, struct err *err);

/*
 * The journal's events of one kind (event, e.g. "db_backup"), oldest
 * first, the last of those with the same value at key (a resumed run
 * records its backup again under its id).  A new list; empty when there
 * is no journal.
 */
json_t *journal_events(struct journal *j, const char *event, const char *key);

/*
 * The journal's last run that may have changed the fleet (runs that ended
 * before reading it, refused or locked, are passed over) when it is a
 * deployment still open: killed before its end, or stopped at an approval
 * gate (outcome "waiting") or at a safe point when its lock was lost
 * (outcome "stopped").  A new reference, or NULL: none (err's code 0),
 * or the journal could not be read (etcd: err says why; err may be NULL).
 */
json_t *journal_open_run(struct journal *j, struct err *err);

/*
 * The release the fleet ran before the deployment that brought current,
 * as the journal at path tells it, into out (size bytes): its finished
 * runs replayed as a stack, where a deployment that ended "done" pushes
 * its release, a rollback that ended "done" unwinds to its target (or
 * pushes it), and every other run (rolled back, refused, inconsistent,
 * open) leaves it as it was.  Returns 1 when the stack's top is current
 * and a release lies below it; 0 when the journal cannot tell (none, or
 * it does not end where the fleet stands: other controllers deployed).
 */
int journal_release_before(char *out, size_t size, struct journal *j,
			   const char *current);

/*
 * The deployments and rollbacks in the journal at path as a table (id,
 * who, when, from -> to, outcome, duration), appended to out.  Returns 0,
 * ERR_IO (no journal) or out's error.
 */
int journal_history(struct buf *out, struct journal *j, struct err *err);

#endif
