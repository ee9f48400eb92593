/*
 * libFuzzer: any bytes as what a balancer answers: HAProxy's `show
 * servers state` and `show stat` CSV, and an nginx upstream file (read,
 * and rewritten for each state).
 */
#include <string.h>

#include "fuzz_util.h"
#include "lb.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	int64_t admin, op;
	struct lb_member m;
	struct buf out;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	lb_nginx_parse(&m, text, "127.0.0.1:8080", NULL);
	for (int s = LB_STATE_READY; s <= LB_STATE_MAINT; s++) {
		buf_init(&out, 2 * 1024 * 1024);
		lb_nginx_rewrite(&out, text, "127.0.0.1:8080", (enum lb_state)s,
				 NULL);
		buf_release(&out);
	}
	lb_haproxy_parse_state(&admin, &op, text, "ivr", "ivr-01", NULL);
	memcpy(text, data, size); /* strtok_r changed it */
	text[size] = '\0';
	lb_haproxy_parse_scur(text, "ivr", "ivr-01");
	free(text);
	return 0;
}
