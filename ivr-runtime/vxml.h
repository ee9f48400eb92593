/*
 * vxml: the same call steps as VoiceXML 2.1 documents, for a voice
 * browser.  Each document speaks the step's prompts and either collects
 * DTMF digits (submitting them, with the call id and the transfer token, to
 * the next step; no-input and no-match submit an event instead), transfers
 * the caller to an adviser, or says goodbye and disconnects.  Every
 * document validates against the W3C VoiceXML 2.1 schema.
 *
 * The grammar accepts any keys up to the step's length and the server
 * decides what they mean, so that no-match is counted in one place.
 */
#ifndef IVR_RUNTIME_VXML_H
#define IVR_RUNTIME_VXML_H

#include <jansson.h>
#include <stdbool.h>

#include "buf.h"
#include "err.h"

#define VXML_CONTENT_TYPE "application/voicexml+xml; charset=utf-8"

struct vxml_step {
	const char *call_id;
	const json_t *prompts; /* array of strings */
	const char *token;     /* transfer token to carry; "" when none */
	const char *submit_url;
	bool ended;
	bool to_agent;	       /* ended: transfer (else disconnect) */
	const char *agent_uri; /* where advisers answer */
	/* while not ended: what to collect */
	int max_digits;
	char term; /* '\0': none */
	int timeout_ms;
	int inter_digit_ms;
};

/* Appends the document for one step to out.  0 or the buffer's error. */
int vxml_step(struct buf *out, const struct vxml_step *s, struct err *err);

/*
 * Appends a document that says text and disconnects (busy, errors).
 * 0 or the buffer's error.
 */
int vxml_message(struct buf *out, const char *text, struct err *err);

/* Appends s with the five XML special characters escaped. */
int vxml_escape(struct buf *out, const char *s, struct err *err);

#endif
