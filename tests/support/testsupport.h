/*
 * testsupport: what integration tests share: temporary folders, starting
 * and stopping programs by pid, free loopback ports, and HTTP requests
 * (libcurl) with JSON bodies.  Test code only.
 */
#ifndef IVR_TESTS_TESTSUPPORT_H
#define IVR_TESTS_TESTSUPPORT_H

#include <jansson.h>
#include <stdio.h>
#include <stdbool.h>
#include <sys/types.h>

/* Makes a fresh folder /tmp/ivr-<name>.XXXXXX into out (>= 64 bytes). */
void ts_tmpdir(char *out, const char *name);

/* Removes a folder made by ts_tmpdir and everything in it. */
void ts_rmrf(const char *dir);

/*
 * Starts argv[0] with argv, its stdout and stderr appended to log_path.
 * Returns the pid (> 0) or -1.
 */
pid_t ts_spawn(const char *const argv[], const char *log_path);

/*
 * Sends sig to pid and waits up to timeout_ms for it to exit, then
 * SIGKILLs it.  Returns the wait status, or -1 when it had to be killed.
 */
int ts_stop(pid_t pid, int sig, int timeout_ms);

/* Waits up to timeout_ms for pid to exit by itself; status or -1. */
int ts_wait_exit(pid_t pid, int timeout_ms);

/*
 * Starts argv with pipes to its stdin (*to) and from its stdout (*from);
 * stderr goes to log_path.  Returns the pid or -1.
 */
pid_t ts_spawn_pipes(const char *const argv[], int *to, int *from,
		     const char *log_path);

/* Runs argv to completion (output to log_path); its exit code or -1. */
int ts_run(const char *const argv[], const char *log_path);

/* A TCP port on 127.0.0.1 that was free a moment ago. */
int ts_free_port(void);

/*
 * Sends an HTTP request; body may be NULL; header may be NULL or one
 * "Name: value" line.  Returns the status (0 when no answer) and, when out
 * is not NULL, the body parsed as JSON (NULL if it is not JSON).
 */
long ts_http(const char *method, const char *url, const char *body,
	     const char *header, json_t **out);

/* The same, returning the raw body (malloc'd) in *text. */
long ts_http_text(const char *method, const char *url, const char *body,
		  const char *header, char **text);

/* The same, also returning the response's header lines in *head. */
long ts_http_headers(const char *method, const char *url, const char *body,
		     const char *header, char **text, char **head);

/* Polls url until it answers 200 or timeout_ms passes. */
bool ts_wait_http_ok(const char *url, int timeout_ms);

/* An ivr-agent serving over pipes. */
struct ts_agent {
	pid_t pid;
	int to, from;
	void *reader; /* struct jsonrpc_reader * */
	long next_id;
	int progress;	  /* notifications before the last answer */
	FILE *transcript; /* when set: every line, as {"dir", "msg"} */
};

/* Starts `bin serve --root root`, stderr to log.  Returns 0 or -1. */
int ts_agent_start(struct ts_agent *a, const char *bin, const char *root,
		   const char *log);

/* ts_agent_start with one more argument (flag; NULL for none). */
int ts_agent_start_flag(struct ts_agent *a, const char *bin, const char *root,
			const char *flag, const char *log);

/* Closes its stdin and waits for it (SIGKILL after 5 s). */
void ts_agent_stop(struct ts_agent *a);

/* Writes one line (a newline is added). */
void ts_agent_send(struct ts_agent *a, const char *line);

/* Reads answers up to one that is not a notification; NULL on failure. */
json_t *ts_agent_read(struct ts_agent *a);

/*
 * Calls method with params (stolen, may be NULL) and returns the whole
 * answer ({"result"} or {"error"}), or NULL when none came.
 */
json_t *ts_agent_call(struct ts_agent *a, const char *method, json_t *params);

/*
 * Checks a transcript against schemas/agent-protocol.schema.json with
 * scripts/validate-agent-transcript.py (output appended to log).  Returns
 * the validator's exit code.
 */
int ts_agent_check_transcript(const char *source_dir, const char *path,
			      const char *log);

/* Reads a whole small file (malloc'd, NUL-terminated) or NULL. */
char *ts_read_file(const char *path);

#endif
