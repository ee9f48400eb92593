/*
 * usage: ivrctl's help, printed by `ivrctl --help` and after arguments it
 * cannot take: every command with its flags and what it does.  Keep it
 * true with docs/runbook.md.
 */
#ifndef IVR_CONTROLLER_USAGE_H
#define IVR_CONTROLLER_USAGE_H

/* The synopsis (each command and its flags), then what each does: two
 * texts, printed one after the other. */
extern const char usage_synopsis[];
extern const char usage_text[];

#endif
