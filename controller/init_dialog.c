/*
 * init_dialog: ivrctl init's dialogue with the operator (init.c does the
 * work): the fingerprints shown, the question asked, the outcome told.
 * With main.c and deploy_events.c, one of the files that print.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "exitcode.h"
#include "init.h"

/* Whether the operator trusts the keys shown: --yes, or "yes" typed on
 * a terminal.  Without a terminal and without --yes, nothing is trusted. */
static bool
trusted(const struct init_opts *o)
{
	char answer[16];

	if (o->yes)
		return true;
	if (!isatty(STDIN_FILENO)) {
		fprintf(stderr, "ivrctl: init: no terminal to ask on; check "
				"the fingerprints above out of band, then run "
				"again with --yes\n");
		return false;
	}
	printf("Are these the hosts' keys (checked out of band)? Type yes to "
	       "write %s: ",
	       o->out);
	fflush(stdout);
	if (fgets(answer, sizeof(answer), stdin) == NULL ||
	    strcmp(answer, "yes\n") != 0) {
		fprintf(stderr, "ivrctl: init: not confirmed; nothing was "
				"written\n");
		return false;
	}
	return true;
}

int
init_command(int argc, char **argv)
{
	char known_hosts[4096];
	struct init_opts o;
	struct err e;
	int rc = EXITCODE_BAD_INPUT;

	err_init(&e);
	if (init_parse(&o, argc - 1, argv + 1, &e) < 0) {
		fprintf(stderr, "ivrctl: %s\n", e.msg);
		goto out;
	}
	if (ssh_global_init(&e) < 0 || init_scan(&o, &e) < 0) {
		fprintf(stderr, "ivrctl: init: %s; nothing was written\n",
			e.msg);
		rc = EXITCODE_ERROR;
		goto out;
	}
	for (size_t i = 0; i < o.nhosts; i++)
		printf("%-16s %s:%d  %s %s\n", o.hosts[i].name,
		       o.hosts[i].address, o.hosts[i].port, o.hosts[i].key.type,
		       o.hosts[i].key.fingerprint);
	if (!trusted(&o))
		goto out;
	if (init_write(&o, known_hosts, sizeof(known_hosts), &e) < 0) {
		fprintf(stderr, "ivrctl: %s\n", e.msg);
		rc = e.code == ERR_EXISTS ? EXITCODE_BAD_INPUT : EXITCODE_ERROR;
		goto out;
	}
	printf("wrote %s (%zu host%s) and %s; next: ivrctl validate %s\n",
	       o.out, o.nhosts, o.nhosts == 1 ? "" : "s", known_hosts, o.out);
	rc = EXITCODE_DONE;
out:
	init_release(&o);
	return rc;
}
