/* libFuzzer: any bytes as the runtime's runtime.yaml, and as a call
 * flow: both loaders with every check. */
#include "config.h"
#include "flow.h"
#include "fuzz_util.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[256];
	struct diag_list d;
	struct config c;
	struct flow *f = NULL;

	fuzz_file(path, sizeof(path), "runtime.yaml", data, size);
	diag_list_init(&d, 100);
	if (config_defaults(&c, fuzz_dir(), NULL) == 0)
		config_load(&c, path, &d, NULL);
	config_release(&c);
	diag_list_release(&d);
	diag_list_init(&d, 100);
	flow_load(&f, path, &d, NULL);
	flow_free(f);
	diag_list_release(&d);
	return 0;
}
