/*
 * usage: ivrctl's help, printed by `ivrctl --help` and after arguments it
 * cannot take: every command with its flags and what it does.  Keep it
 * true with docs/runbook.md.
 */
#ifndef IVR_CONTROLLER_USAGE_H
#define IVR_CONTROLLER_USAGE_H

extern const char usage_text[];

#endif
