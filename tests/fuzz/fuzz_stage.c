/*
 * libFuzzer: any bytes as an artifact (tar.gz) staged as release 1.0.0:
 * the sha256 check, libarchive, every entry check (names, links and
 * chains of them, hard links, sparse entries, sizes), release.json.
 * Limits small enough that no input can fill the disk.
 */
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "fuzz_util.h"
#include "hash.h"
#include "layout.h"
#include "stage.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct stage_limits lim = { 4 * 1024 * 1024, 200, 0 };
	unsigned char d[HASH_SHA256_LEN];
	char root[256], name[HASH_SHA256_HEX_LEN + 16], sha[80], path[512];
	struct stage_result r;

	snprintf(root, sizeof(root), "%s/root", fuzz_dir());
	fileio_remove_tree(root, NULL);
	if (mkdir(root, 0700) < 0 || layout_init(root, NULL) < 0)
		abort();
	hash_sha256_buf(d, data, size, NULL);
	hash_hex(sha, d, sizeof(d));
	snprintf(name, sizeof(name), "root/incoming/%s", sha);
	fuzz_file(path, sizeof(path), name, data, size);
	stage_release(&r, root, "1.0.0", sha, &lim, NULL, NULL, NULL);
	return 0;
}
