/*
 * usage: ivrctl's help, printed by `ivrctl --help` and after arguments it
 * cannot take: every command with its flags and what it does.  Keep it
 * true with docs/runbook.md.
 */
#ifndef IVR_CONTROLLER_USAGE_H
#define IVR_CONTROLLER_USAGE_H

/* The synopsis (each command and its flags), then what each does (in
 * two parts, each within C's length for a string): printed in order. */
extern const char usage_synopsis[];
extern const char usage_text[];
extern const char usage_text_more[];

#endif
