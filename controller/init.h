/*
 * init: ivrctl init, a first plan for a new user.  It reads each named
 * host's SSH key (without trusting it), and once the operator has checked
 * the fingerprints, writes known_hosts beside the plan and a commented plan
 * that names those hosts and loads as a valid plan (it is loaded before it
 * is put in place; nothing is left behind when it would not be).  Existing
 * files are never replaced unless forced.  The dialogue is main.c's.
 */
#ifndef IVR_CONTROLLER_INIT_H
#define IVR_CONTROLLER_INIT_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "ssh.h"

#define INIT_MAX_HOSTS 1000

struct init_host {
	char name[65];
	char address[256];
	int port;
	struct ssh_hostkey key;
};

struct init_opts {
	const char *out;	 /* the plan to write (plan.yaml) */
	const char *environment; /* staging */
	const char *user;	 /* the operator's login name */
	const char *identity;	 /* NULL: ssh-agent */
	const char *agent_root;	 /* /opt/ivr */
	const char *agent_path;	 /* <agent_root>/bin/ivr-agent */
	const char *health_url;	 /* https://{address}:8080/readyz */
	const char *calls_url;	 /* https://{address}:8080/calls */
	const char *ca_file;	 /* the plan's tls.ca_file, or NULL */
	int port;		 /* 22 */
	bool yes;		 /* trust the keys shown without asking */
	bool force;		 /* replace existing files */
	struct init_host *hosts;
	size_t nhosts;
	char agent_path_buf[1100];
	char identity_buf[4096]; /* --identity made absolute */
	char ca_file_buf[4096];	 /* --ca-file made absolute */
};

/*
 * Parses init's arguments (argv[0] is "init"): options, then HOST...,
 * each [NAME=]ADDRESS[:PORT].  Returns 0 (free with init_release) or
 * ERR_INVAL with a message naming the argument.
 */
int init_parse(struct init_opts *o, int argc, char **argv, struct err *err);

/* Reads every host's key (o->hosts[i].key).  Returns 0 or the first
 * host's error, which names it. */
int init_scan(struct init_opts *o, struct err *err);

/*
 * Writes o->out and known_hosts beside it.  Returns 0, ERR_EXISTS (a file
 * is there and force is off), or an error of writing or of loading the
 * written plan (then nothing is left).  *known_hosts gets the path written.
 */
int init_write(const struct init_opts *o, char *known_hosts, size_t size,
	       struct err *err);

void init_release(struct init_opts *o);

/* ivrctl init ARGS (init_dialog.c): scans, shows, asks, writes, tells.
 * Returns an exit code (exitcode.h). */
int init_command(int argc, char **argv);

#endif
