/*
 * jsonrpc: JSON-RPC 2.0 messages, one JSON object per line, on jansson.
 *
 * Three layers, usable apart:
 * - framing: struct jsonrpc_reader pulls bytes through a read function (a
 *   file descriptor here, an SSH channel in the controller) and hands out
 *   whole lines, each at most max_line bytes, with a deadline;
 * - parsing: jsonrpc_parse turns a line into a struct jsonrpc_msg (request,
 *   notification, result or error) and, for anything malformed, says which
 *   JSON-RPC error to answer with, so a server never crashes on input;
 * - building and writing: constructors for each kind, and
 *   jsonrpc_encode/jsonrpc_write_fd to put one on the wire.
 *
 * Batches (JSON arrays) are not part of this protocol and are refused with
 * JSONRPC_INVALID_REQUEST.
 */
#ifndef IVR_COMMON_JSONRPC_H
#define IVR_COMMON_JSONRPC_H

#include <jansson.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

/* The error codes that JSON-RPC 2.0 defines. */
#define JSONRPC_PARSE_ERROR	 (-32700)
#define JSONRPC_INVALID_REQUEST	 (-32600)
#define JSONRPC_METHOD_NOT_FOUND (-32601)
#define JSONRPC_INVALID_PARAMS	 (-32602)
#define JSONRPC_INTERNAL_ERROR	 (-32603)

/* The default cap on one message, in bytes. */
#define JSONRPC_LINE_MAX (1024 * 1024)

/*
 * Reads up to cap bytes into dst, waiting at most timeout_ms (< 0: no
 * limit).  Returns 0 with *got > 0, ERR_EOF when the peer closed, ERR_TIMEOUT
 * or ERR_IO.
 */
typedef int (*jsonrpc_read_fn)(void *ctx, void *dst, size_t cap, int timeout_ms,
			       size_t *got, struct err *err);

/* A jsonrpc_read_fn for a file descriptor; ctx points to the int fd. */
int jsonrpc_fd_read(void *ctx, void *dst, size_t cap, int timeout_ms,
		    size_t *got, struct err *err);

struct jsonrpc_reader {
	struct buf in;	 /* bytes read and not yet handed out */
	size_t max_line; /* longest line accepted, without '\n' */
	size_t handed;	 /* bytes of the last line handed out */
	int discarding;	 /* skipping the rest of an oversize line */
	jsonrpc_read_fn read;
	void *ctx; /* borrowed, passed to read */
};

/* Sets r up over read/ctx (borrowed).  No allocation until the first read. */
void jsonrpc_reader_init(struct jsonrpc_reader *r, size_t max_line,
			 jsonrpc_read_fn read, void *ctx);

/*
 * Waits at most timeout_ms (< 0: no limit) for the next whole line and
 * points *line at it (without its '\n' or a '\r' before that), *len its
 * length.  The line is borrowed until the next call.  Returns 0; ERR_EOF when
 * the stream ends (a last line without '\n' is dropped and reported:
 * "stream ended inside a message"); ERR_TIMEOUT; ERR_OVERFLOW for a line
 * over max_line (its remaining bytes are skipped, so the next call goes on
 * with the following line); or the read function's error.
 */
int jsonrpc_reader_next(struct jsonrpc_reader *r, const char **line,
			size_t *len, int timeout_ms, struct err *err);

/* Frees r's buffer. */
void jsonrpc_reader_release(struct jsonrpc_reader *r);

enum jsonrpc_kind {
	JSONRPC_KIND_INVALID,
	JSONRPC_KIND_REQUEST,
	JSONRPC_KIND_NOTIFICATION,
	JSONRPC_KIND_RESULT,
	JSONRPC_KIND_ERROR,
};

/*
 * A parsed message.  root owns everything; the other pointers borrow from
 * it and live until jsonrpc_msg_release.
 */
struct jsonrpc_msg {
	enum jsonrpc_kind kind;
	json_t *root;		   /* owned; NULL if the line was not JSON */
	json_t *id;		   /* requests and responses; NULL otherwise */
	const char *method;	   /* requests and notifications */
	json_t *params;		   /* requests and notifications; may be NULL */
	json_t *result;		   /* JSONRPC_KIND_RESULT */
	int error_code;		   /* KIND_ERROR: the peer's; KIND_INVALID:
				      the code to answer with */
	const char *error_message; /* JSONRPC_KIND_ERROR */
	json_t *error_data;	   /* JSONRPC_KIND_ERROR; may be NULL */
};

/*
 * Parses len bytes of line into msg.  Returns 0, or ERR_PARSE (not JSON;
 * msg->error_code JSONRPC_PARSE_ERROR) or ERR_PROTO (JSON but not a JSON-RPC
 * 2.0 message; JSONRPC_INVALID_REQUEST), with err saying what is wrong and
 * msg->kind JSONRPC_KIND_INVALID; msg->id is then the message's id when one
 * could be read.  Release msg in every case.
 */
int jsonrpc_parse(struct jsonrpc_msg *msg, const char *line, size_t len,
		  struct err *err);

/* Frees what msg holds and empties it. */
void jsonrpc_msg_release(struct jsonrpc_msg *msg);

/*
 * The error response to send for a message that jsonrpc_parse refused:
 * msg's id (or null), msg->error_code and err's message.  New reference, or
 * NULL when out of memory.
 */
json_t *jsonrpc_reject(const struct jsonrpc_msg *msg, const struct err *err);

/*
 * Builders.  Each returns a new reference or NULL when out of memory.
 * params, result and data are stolen (NULL: omitted); id is borrowed and
 * copied (NULL: JSON null).
 */
json_t *jsonrpc_request_new(json_int_t id, const char *method, json_t *params);
json_t *jsonrpc_notification_new(const char *method, json_t *params);
json_t *jsonrpc_result_new(const json_t *id, json_t *result);
json_t *jsonrpc_error_new(const json_t *id, int code, const char *message,
			  json_t *data);

/*
 * Appends msg as one compact line ending in '\n' to out; the buffer's limit
 * caps the message.  Returns 0, ERR_OVERFLOW or ERR_INTERNAL (jansson could
 * not encode it).
 */
int jsonrpc_encode(struct buf *out, const json_t *msg, struct err *err);

/*
 * Writes msg as one line to fd, at most max bytes.  Returns 0, ERR_OVERFLOW,
 * ERR_EOF (the reader went away: EPIPE) or ERR_IO.
 */
int jsonrpc_write_fd(int fd, const json_t *msg, size_t max, struct err *err);

#endif
