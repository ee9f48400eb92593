/*
 * What the fuzz targets share: a private folder per process and a file
 * written in it.  Header-only (each target is one program).
 */
#ifndef IVR_FUZZ_UTIL_H
#define IVR_FUZZ_UTIL_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fileio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_dir_path[64];

static inline void
fuzz_dir_remove(void)
{
	fileio_remove_tree(fuzz_dir_path, NULL);
}

/* This process's folder under /tmp, made on first use and removed when
 * the fuzzer exits. */
static inline const char *
fuzz_dir(void)
{
	if (fuzz_dir_path[0] == '\0') {
		snprintf(fuzz_dir_path, sizeof(fuzz_dir_path),
			 "/tmp/ivr-fuzz.XXXXXX");
		if (mkdtemp(fuzz_dir_path) == NULL)
			abort();
		atexit(fuzz_dir_remove);
	}
	return fuzz_dir_path;
}

/* Writes data to <fuzz_dir>/name (0600) into path (at least 128 bytes). */
static inline void
fuzz_file(char *path, size_t size, const char *name, const uint8_t *data,
	  size_t n)
{
	int fd;

	snprintf(path, size, "%s/%s", fuzz_dir(), name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (n > 0 && write(fd, data, n) != (ssize_t)n))
		abort();
	close(fd);
}

#endif
