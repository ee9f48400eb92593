/*
 * vxml: see vxml.h.  Documents are written as text with every value
 * escaped; nothing here parses XML.
 */
#include "vxml.h"

#include <string.h>

static const char header[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<vxml xmlns=\"http://www.w3.org/2001/vxml\" version=\"2.1\" "
	"xml:lang=\"en-GB\">\n";

int
vxml_escape(struct buf *out, const char *s, struct err *err)
{
	int rc = 0;

	for (; *s != '\0' && rc == 0; s++) {
		switch (*s) {
		case '&':
			rc = buf_append_str(out, "&amp;", err);
			break;
		case '<':
			rc = buf_append_str(out, "&lt;", err);
			break;
		case '>':
			rc = buf_append_str(out, "&gt;", err);
			break;
		case '"':
			rc = buf_append_str(out, "&quot;", err);
			break;
		case '\'':
			rc = buf_append_str(out, "&apos;", err);
			break;
		default:
			rc = buf_append(out, s, 1, err);
		}
	}
	return rc;
}

/* <prompt>text</prompt> for each prompt. */
static int
prompts(struct buf *out, const json_t *list, struct err *err)
{
	size_t i;
	json_t *p;
	int rc = 0;

	json_array_foreach (list, i, p) {
		if ((rc = buf_append_str(out, "<prompt>", err)) < 0 ||
		    (rc = vxml_escape(out, json_string_value(p), err)) < 0 ||
		    (rc = buf_append_str(out, "</prompt>\n", err)) < 0)
			break;
	}
	return rc;
}

/* A DTMF grammar for 1..max keys of any kind. */
static int
grammar(struct buf *out, int max, struct err *err)
{
	return buf_appendf(
		out, err,
		"<grammar mode=\"dtmf\" version=\"1.0\" root=\"keys\">\n"
		"<rule id=\"keys\" scope=\"public\">\n"
		"<item repeat=\"1-%d\"><one-of><item>0</item><item>1</item>"
		"<item>2</item><item>3</item><item>4</item><item>5</item>"
		"<item>6</item><item>7</item><item>8</item><item>9</item>"
		"<item>*</item><item>#</item></one-of></item>\n"
		"</rule>\n</grammar>\n",
		max);
}

/* An event handler that submits the event name instead of digits. */
static int
event_handler(struct buf *out, const struct vxml_step *s, const char *event,
	      struct err *err)
{
	int rc = buf_appendf(out, err,
			     "<%s><assign name=\"event\" expr=\"'%s'\"/>"
			     "<submit next=\"",
			     event, event);

	if (rc == 0)
		rc = vxml_escape(out, s->submit_url, err);
	if (rc == 0)
		rc = buf_appendf(out, err,
				 "\" method=\"post\" namelist=\"call_id "
				 "event\"/></%s>\n",
				 event);
	return rc;
}

static int
field(struct buf *out, const struct vxml_step *s, struct err *err)
{
	int rc = buf_appendf(out, err,
			     "<field name=\"digits\">\n"
			     "<property name=\"timeout\" value=\"%dms\"/>\n"
			     "<property name=\"interdigittimeout\" "
			     "value=\"%dms\"/>\n",
			     s->timeout_ms, s->inter_digit_ms);

	if (rc == 0 && s->term != '\0')
		rc = buf_appendf(out, err,
				 "<property name=\"termchar\" value=\"%c\"/>\n",
				 s->term);
	if (rc == 0)
		rc = grammar(out, s->max_digits + (s->term ? 1 : 0), err);
	if (rc == 0)
		rc = prompts(out, s->prompts, err);
	if (rc == 0)
		rc = event_handler(out, s, "noinput", err);
	if (rc == 0)
		rc = event_handler(out, s, "nomatch", err);
	if (rc == 0)
		rc = buf_append_str(out, "<filled><submit next=\"", err);
	if (rc == 0)
		rc = vxml_escape(out, s->submit_url, err);
	if (rc == 0)
		rc = buf_append_str(out,
				    "\" method=\"post\" namelist=\"call_id "
				    "digits token\"/></filled>\n</field>\n",
				    err);
	return rc;
}

static int
var(struct buf *out, const char *name, const char *value, struct err *err)
{
	int rc = buf_appendf(out, err, "<var name=\"%s\" expr=\"'", name);

	if (rc == 0)
		rc = vxml_escape(out, value, err);
	if (rc == 0)
		rc = buf_append_str(out, "'\"/>\n", err);
	return rc;
}

static int
ending(struct buf *out, const struct vxml_step *s, struct err *err)
{
	int rc = buf_append_str(out, "<block>\n", err);

	if (rc == 0)
		rc = prompts(out, s->prompts, err);
	if (rc == 0 && !s->to_agent)
		return buf_append_str(out, "<disconnect/>\n</block>\n", err);
	if (rc == 0)
		rc = buf_append_str(out,
				    "</block>\n<transfer name=\"adviser\" "
				    "bridge=\"true\" dest=\"",
				    err);
	if (rc == 0)
		rc = vxml_escape(out, s->agent_uri, err);
	if (rc == 0)
		rc = buf_append_str(out, "\"/>\n<block><disconnect/></block>\n",
				    err);
	return rc;
}

int
vxml_step(struct buf *out, const struct vxml_step *s, struct err *err)
{
	int rc = buf_append_str(out, header, err);

	if (rc == 0)
		rc = buf_append_str(out, "<form id=\"step\">\n", err);
	if (rc == 0)
		rc = var(out, "call_id", s->call_id, err);
	if (rc == 0 && !s->ended)
		rc = var(out, "token", s->token, err);
	if (rc == 0 && !s->ended)
		rc = var(out, "event", "", err);
	if (rc == 0)
		rc = s->ended ? ending(out, s, err) : field(out, s, err);
	if (rc == 0)
		rc = buf_append_str(out, "</form>\n</vxml>\n", err);
	return rc;
}

int
vxml_message(struct buf *out, const char *text, struct err *err)
{
	int rc = buf_append_str(out, header, err);

	if (rc == 0)
		rc = buf_append_str(out,
				    "<form id=\"message\">\n<block>\n"
				    "<prompt>",
				    err);
	if (rc == 0)
		rc = vxml_escape(out, text, err);
	if (rc == 0)
		rc = buf_append_str(out,
				    "</prompt>\n<disconnect/>\n</block>\n"
				    "</form>\n</vxml>\n",
				    err);
	return rc;
}
