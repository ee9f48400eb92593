/*
 * libFuzzer: any bytes as what etcd's JSON gateway answers (its status
 * code taken from the first byte), read by etcd_parse and, for a range
 * answer, each entry decoded as the journal and the lock read them: never
 * a crash or a leak, an entry's value always NUL-ended at its length.
 */
#include <string.h>

#include "etcd.h"
#include "fuzz_util.h"

static const long codes[] = { 200, 400, 404, 503 };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct etcd_kv kv;
	json_t *doc = NULL, *entry;
	struct err e;
	size_t i;

	if (size == 0)
		return 0;
	if (etcd_parse(&doc, (const char *)data + 1, size - 1,
		       codes[data[0] % 4], &e) < 0) {
		if (doc != NULL)
			abort(); /* an error leaves no answer */
		return 0;
	}
	json_array_foreach (json_object_get(doc, "kvs"), i, entry) {
		if (etcd_kv_decode(&kv, entry, &e) < 0) {
			if (kv.key != NULL || kv.value != NULL)
				abort();
			continue;
		}
		if (kv.value[kv.len] != '\0' || kv.len > ETCD_VALUE_MAX)
			abort();
		/* what the journal does with a value */
		json_decref(json_loadb(kv.value, kv.len, 0, NULL));
		etcd_kv_release(&kv);
	}
	json_decref(doc);
	return 0;
}
