/*
 * libFuzzer: the runtime's HTTP request handling and call engine, through
 * its handlers (http_exchange), not a socket, on a real SQLite bank.  An
 * input is lines, each one request:
 *   S<body>        POST /calls
 *   I<body>        POST /calls/<the newest call>/input
 *   K<key> <body>  the same with an Idempotency-Key header
 *   D              DELETE /calls/<the newest call>
 *   V<form>        POST /vxml/step with call_id=<the newest call>&<form>
 *   G<url>         GET url
 *   X<method> <url> <body>
 * Calls left open are hung up after each input, and lockouts cleared, so
 * that one input cannot spoil the next.
 */
#include <jansson.h>
#include <sqlite3.h>
#include <string.h>

#include "bank.h"
#include "config.h"
#include "flow.h"
#include "fuzz_util.h"
#include "http.h"
#include "log.h"

#define MAX_CALLS 16

static struct http_server srv;
static struct config cfg;
static struct flow *flow;
static struct log lg;
static sqlite3 *admin; /* clears lockouts between inputs */

static void
init_once(void)
{
	char db[256];
	struct diag_list d;
	struct bank *b = NULL;
	json_t *cred = NULL;
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

	diag_list_init(&d, 20);
	log_init(&lg, "fuzz", null);
	lg.level = LOG_LEVEL_ERROR;
	snprintf(db, sizeof(db), "%s/bank.db", fuzz_dir());
	unlink(db);
	if (config_defaults(&cfg, IVR_SOURCE_DIR "/ivr-runtime", NULL) < 0 ||
	    config_set_str(&cfg.db_path, db, NULL) < 0 ||
	    bank_open(&b, db, 5000, NULL) < 0 ||
	    bank_migrate(b, cfg.migrations_dir, NULL, NULL) < 0 ||
	    bank_seed(&cred, b, 2, 1, 1000, NULL) < 0 ||
	    flow_load(&flow, cfg.flows_path, &d, NULL) < 0 ||
	    http_init(&srv, &cfg, flow, &lg, "9.9.9", "fuzz", "token", NULL) <
		    0 ||
	    sqlite3_open(db, &admin) != SQLITE_OK)
		abort();
	json_decref(cred);
	bank_close(b);
	diag_list_release(&d);
}

/* The call id in an answer to POST /calls, into ids. */
static void
remember(char ids[][64], int *n, const char *text, size_t len)
{
	json_t *o = json_loadb(text, len, 0, NULL);
	const char *id = json_string_value(json_object_get(o, "call_id"));

	if (id != NULL && *n < MAX_CALLS)
		snprintf(ids[(*n)++], 64, "%s", id);
	json_decref(o);
}

static void
request(const char *method, const char *url, const char *body,
	const char *const *headers, char ids[][64], int *n)
{
	unsigned status = 0;
	size_t len = 0;
	char *text = NULL;

	if (http_exchange(&srv, method, url, body, strlen(body), headers,
			  &status, &text, &len) == 0 &&
	    status == 201)
		remember(ids, n, text, len);
	free(text);
}

static void
one_line(char *line, char ids[][64], int *n)
{
	const char *newest = *n ? ids[*n - 1] : "0000000000000000";
	char url[256];
	char *sp;

	switch (line[0]) {
	case 'S':
		request("POST", "/calls", line + 1, NULL, ids, n);
		break;
	case 'I':
	case 'K':
		snprintf(url, sizeof(url), "/calls/%s/input", newest);
		if (line[0] == 'I') {
			request("POST", url, line + 1, NULL, ids, n);
		} else if ((sp = strchr(line + 1, ' ')) != NULL) {
			const char *h[] = { "Idempotency-Key", line + 1, NULL };

			*sp = '\0';
			request("POST", url, sp + 1, h, ids, n);
		}
		break;
	case 'D':
		snprintf(url, sizeof(url), "/calls/%s", newest);
		request("DELETE", url, "", NULL, ids, n);
		break;
	case 'G':
		request("GET", line + 1, "", NULL, ids, n);
		break;
	case 'V': {
		char form[8300];

		snprintf(form, sizeof(form), "call_id=%s&%s", newest, line + 1);
		request("POST", "/vxml/step", form, NULL, ids, n);
		break;
	}
	case 'X':
		if ((sp = strchr(line + 1, ' ')) != NULL) {
			char *body;

			*sp = '\0';
			body = strchr(sp + 1, ' ');
			if (body != NULL)
				*body++ = '\0';
			request(line + 1, sp + 1, body ? body : "", NULL, ids,
				n);
		}
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char ids[MAX_CALLS][64], url[128], *text, *line, *save = NULL;
	int n = 0;

	if (flow == NULL)
		init_once();
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save))
		one_line(line, ids, &n);
	free(text);
	for (int i = 0; i < n; i++) {
		snprintf(url, sizeof(url), "/calls/%s", ids[i]);
		request("DELETE", url, "", NULL, ids, &n);
	}
	sqlite3_exec(admin, "DELETE FROM lockouts", NULL, NULL, NULL);
	return 0;
}
