/*
 * libFuzzer: the agent's methods with their params, as JSON-RPC lines, on
 * a root of its own that holds two staged releases.  The methods that
 * would start programs (service.*, rollback, config.put with a version
 * to check against), signal a process
 * (lb.set_state on nginx) or reach the network (a url; hello's
 * health_url) are not called: their params are checked by the same
 * params.c that the others exercise.
 */
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "fuzz_util.h"
#include "jsonrpc.h"
#include "layout.h"
#include "log.h"
#include "rpc.h"

static const char *const allowed[] = {
	"hello",	  "stage",	  "activate",	"releases.list",
	"releases.prune", "lb.get_state", "lb.members", "calls.wait_idle",
	"config.put",	  "config.get",	  NULL,
};

static struct agent a;
static struct log lg;
static char root[256];

static bool
may_call(const struct jsonrpc_msg *m)
{
	bool ok = false;

	for (size_t i = 0; allowed[i] != NULL; i++)
		ok = ok || strcmp(m->method, allowed[i]) == 0;
	/* config.put runs the release's runtime when it names one */
	if (strcmp(m->method, "config.put") == 0 &&
	    json_object_get(m->params, "version") != NULL)
		return false;
	/* no network: no url, and wait methods only with a bad one */
	if (json_object_get(m->params, "url") != NULL ||
	    json_object_get(m->params, "health_url") != NULL)
		ok = strcmp(m->method, "calls.wait_idle") == 0 &&
		     json_is_string(json_object_get(m->params, "url")) &&
		     strncmp(json_string_value(
				     json_object_get(m->params, "url")),
			     "http", 4) != 0;
	return ok;
}

static void
call(const struct jsonrpc_msg *m)
{
	json_t *params = m->params ? json_incref(m->params) : json_object();
	json_t *result = NULL;
	struct err e;

	if (!json_is_object(params)) {
		json_decref(params);
		return;
	}
	for (const struct rpc_method *x = agent_methods; x->name; x++)
		if (strcmp(x->name, m->method) == 0 &&
		    x->fn(&result, &a, params, &e) == 0)
			json_decref(result);
	json_decref(params);
}

/* releases/<v> with a release.json, as staging leaves it. */
static void
fake_release(const char *v)
{
	char dir[512], file[600];

	snprintf(dir, sizeof(dir), "%s/releases/%s", root, v);
	snprintf(file, sizeof(file), "%s/release.json", dir);
	struct err e;

	if (mkdir(dir, 0755) < 0) {
		perror(dir);
		abort();
	}
	if (fileio_write_atomic(file, "{}", 2, 0644, &e) < 0) {
		fprintf(stderr, "%s\n", e.msg);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *line, *save = NULL;
	struct jsonrpc_msg m;

	if (text == NULL)
		return 0;
	if (root[0] == '\0') {
		snprintf(root, sizeof(root), "%s/root", fuzz_dir());
		log_init(&lg, "fuzz", open("/dev/null", O_WRONLY));
		a.log = &lg;
		a.out_fd = open("/dev/null", O_WRONLY);
	}
	/* a fresh root each time: the same input, the same run */
	fileio_remove_tree(root, NULL);
	if (mkdir(root, 0700) < 0 || layout_init(root, NULL) < 0)
		abort();
	fake_release("1.0.0");
	fake_release("1.1.0");
	snprintf(a.root, sizeof(a.root), "%s", root);
	memcpy(text, data, size);
	text[size] = '\0';
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (jsonrpc_parse(&m, line, strlen(line), NULL) == 0 &&
		    m.kind == JSONRPC_KIND_REQUEST && may_call(&m))
			call(&m);
		jsonrpc_msg_release(&m);
	}
	free(text);
	return 0;
}
