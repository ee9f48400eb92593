/* libFuzzer: any bytes as a YAML file, walked with the typed getters. */
#include <stddef.h>
#include <stdint.h>

#include "ydoc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const keys[] = { "hosts", "listen", "port", NULL };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag_list d;
	struct ydoc doc;
	struct buf b;
	const char *s;
	int64_t v;
	bool flag;

	diag_list_init(&d, 20);
	if (ydoc_load_string(&doc, "f.yaml", (const char *)data, size, &d,
			     NULL) == 0 &&
	    doc.root != NULL) {
		ydoc_check_keys(&d, &doc, doc.root, keys);
		ydoc_get_str(&s, &d, &doc, doc.root, "hosts", false);
		ydoc_get_int(&v, &d, &doc, doc.root, "port", false, 1, 65535);
		ydoc_get_bool(&flag, &d, &doc, doc.root, "listen", false);
		ydoc_get_duration(&v, &d, &doc, doc.root, "listen", false, 0,
				  1000);
	}
	buf_init(&b, 1024 * 1024);
	diag_format(&b, &d, NULL);
	buf_release(&b);
	diag_list_release(&d);
	ydoc_release(&doc);
	return 0;
}
