/* libFuzzer: any bytes as one JSON-RPC line, and the reply to a refusal. */
#include <stddef.h>
#include <stdint.h>

#include "jsonrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jsonrpc_msg msg;
	struct err e;

	if (jsonrpc_parse(&msg, (const char *)data, size, &e) < 0) {
		json_t *reply = jsonrpc_reject(&msg, &e);
		struct buf b;

		buf_init(&b, JSONRPC_LINE_MAX);
		if (reply != NULL)
			jsonrpc_encode(&b, reply, NULL);
		buf_release(&b);
		json_decref(reply);
	}
	jsonrpc_msg_release(&msg);
	return 0;
}
