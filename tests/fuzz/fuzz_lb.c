/*
 * libFuzzer: any bytes as what a balancer answers: HAProxy's `show
 * servers state` and `show stat` CSV, and an nginx upstream file (read,
 * and rewritten for each state); as an HAProxy configuration file and an
 * upstream file, a member added and removed; and the members listed.
 */
#include <string.h>

#include "fuzz_util.h"
#include "lb.h"

static int
count(void *ctx, const struct lb_entry *e)
{
	size_t *n = ctx;

	if (e->name[0] == '\0' || strlen(e->name) >= sizeof(e->name))
		abort();
	return ++*n < 1000 ? 0 : ERR_OVERFLOW;
}

/* A member added then removed: the text comes back as it was. */
static void
pool_edits(const char *text)
{
	struct buf added, removed;

	buf_init(&added, 2 * 1024 * 1024);
	buf_init(&removed, 2 * 1024 * 1024);
	if (lb_haproxy_config_add(&added, text, "ivr", "ivr-09",
				  "127.0.0.9:8080 check", NULL) == 0 &&
	    lb_haproxy_config_remove(&removed, buf_cstr(&added), "ivr",
				     "ivr-09", NULL) == 0 &&
	    strcmp(buf_cstr(&removed), text) != 0 &&
	    text[strlen(text) - 1] == '\n')
		abort();
	buf_reset(&added);
	buf_reset(&removed);
	lb_haproxy_config_remove(&removed, text, "ivr", "ivr-01", NULL);
	if (lb_nginx_add_line(&added, text, "127.0.0.9:8080", "", NULL) == 0)
		lb_nginx_remove_line(&removed, buf_cstr(&added),
				     "127.0.0.9:8080", NULL);
	buf_release(&added);
	buf_release(&removed);
}

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
	lb_haproxy_parse_state(&admin, &op, &(int){ 0 }, text, "ivr", "ivr-01",
			       NULL);
	memcpy(text, data, size); /* strtok_r changed it */
	text[size] = '\0';
	lb_haproxy_parse_scur(text, "ivr", "ivr-01");
	memcpy(text, data, size);
	text[size] = '\0';
	pool_edits(text);
	lb_nginx_parse_members(text, count, &(size_t){ 0 }, NULL);
	lb_haproxy_parse_members(text, "ivr", count, &(size_t){ 0 }, NULL);
	free(text);
	return 0;
}
