/* libFuzzer: any bytes as a deployment plan, loaded end to end (every
 * section, every check, every problem placed). */
#include <string.h>

#include "fuzz_util.h"
#include "plan.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[256];
	struct diag_list d;
	struct plan *p = NULL;
	struct buf b;

	fuzz_file(path, sizeof(path), "plan.yaml", data, size);
	diag_list_init(&d, 200);
	if (plan_load(&p, path, &d, NULL) == 0)
		plan_size_hosts(&p->failure_budget, p->nhosts, p->nhosts);
	buf_init(&b, 1024 * 1024);
	diag_format(&b, &d, NULL);
	buf_release(&b);
	diag_list_release(&d);
	plan_free(p);
	return 0;
}
