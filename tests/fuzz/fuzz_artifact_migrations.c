/*
 * libFuzzer: any bytes as a release artifact (a tar, compressed or not)
 * whose migrations ivrctl's database step reads: release.json's list, the
 * share/db[/postgresql]/NNN_name.sql files, their kinds and checksums.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "db.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/fuzz-artifact.XXXXXX";
	struct bank_migrations s;
	struct err e;
	int fd = mkstemp(path);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size) {
		if (db_release_migrations(&s, path, PLAN_DB_POSTGRESQL, &e) ==
		    0)
			bank_migrations_free(&s);
		if (db_release_migrations(&s, path, PLAN_DB_SQLITE, &e) == 0)
			bank_migrations_free(&s);
	}
	close(fd);
	unlink(path);
	return 0;
}
