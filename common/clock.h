/*
 * clock: the monotonic clock in milliseconds, and sleeping, for deadlines
 * and polling loops.  Never affected by changes to the wall clock.
 */
#ifndef IVR_COMMON_CLOCK_H
#define IVR_COMMON_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in milliseconds. */
int64_t clock_now_ms(void);

/* Sleeps ms milliseconds (less if a signal arrives). */
void clock_sleep_ms(int64_t ms);

#endif
