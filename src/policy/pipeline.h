/*
 * pipeline.h - the checks of one SMTP session, stage by stage.
 *
 * The session (smtp/session.c) speaks the protocol; at each stage it hands
 * what the client said to the pipeline, which gathers the facts (lists,
 * reputation and limits, DNS lists, reverse DNS, SPF, recipients and traps,
 * Sender ID, DKIM, ARC, DMARC, the classifier), asks the verdict engine
 * (verdict.c) and returns the verdict; the session only turns it into a
 * reply. Lookups run asynchronously: a stage that has to wait returns
 * PIPELINE_PENDING and calls the session back from the loop.
 * At the end of DATA the header block is parsed once (auth/headers.c, shared
 * by DKIM, ARC, DMARC) and the headers mxscreen adds are built here.
 * Every decision is logged (event=decision) and counted (reputation/rep.c).
 * Not here: the protocol, replies, delivery.
 */
#ifndef MX_POLICY_PIPELINE_H
#define MX_POLICY_PIPELINE_H

#include "core/arena.h"
#include "core/buf.h"
#include "policy/verdict.h"

#include <stdbool.h>

struct event_base;
struct smtp_settings;
struct smtp_server;
struct pipeline;

typedef void (*pipeline_fn)(void *arg, const struct verdict *v);

enum pipeline_status { PIPELINE_DONE, PIPELINE_PENDING };

/* What the session knows of itself, for the Received header and logs. */
struct pipeline_session {
	const char *id;      /* session id for logs */
	const char *ip;
	bool esmtp, smtputf8;
	const char *tls_version, *tls_cipher;
};

/* ta: the session's transaction arena (reset by the session with pipeline_reset). */
struct pipeline *pipeline_new(struct smtp_server *srv, struct smtp_settings *set,
			      const struct pipeline_session *ps, struct arena *sa,
			      struct arena *ta, pipeline_fn cb, void *arg);
void pipeline_free(struct pipeline *p);
/* The facts so far (read-only). */
const struct verdict_facts *pipeline_facts(const struct pipeline *p);

/* Connect: lists, reputation, DNS lists, reverse DNS; PENDING while the banner waits. */
enum pipeline_status pipeline_connect(struct pipeline *p, struct verdict *v);
/* The client talked before the banner. */
void pipeline_pregreet(struct pipeline *p);
void pipeline_helo(struct pipeline *p, const char *helo, bool esmtp, bool early_pipelining);
void pipeline_tls(struct pipeline *p, const char *version, const char *cipher);
/* MAIL FROM (the path, "" for the null sender): SPF; PENDING while it runs. */
enum pipeline_status pipeline_mail(struct pipeline *p, const char *mail_from, bool smtputf8,
				   struct verdict *v);
/* A recipient of a local domain that exists: trap?, limits. *trap is set for traps. */
void pipeline_rcpt(struct pipeline *p, const char *addr, bool *trap, struct verdict *v);
/* A recipient outside the local domains was refused (counted as an RCPT command). */
void pipeline_rcpt_relay(struct pipeline *p);
/* An unknown recipient was refused. */
void pipeline_rcpt_unknown(struct pipeline *p);
/*
 * End of DATA: msg is the message as received (the pipeline may replace its
 * contents: forged Authentication-Results of ours are removed). long_line: a
 * line over 1000 octets. On INBOX/JUNK, hdr receives the header block to put
 * above the message (Return-Path ... Received). PENDING while lookups run.
 */
enum pipeline_status pipeline_data(struct pipeline *p, struct buf *msg, bool long_line,
				   const char *msgid, const char *const *rcpts, size_t nrcpts,
				   struct buf *hdr, struct verdict *v);
/* The session refused something itself (protocol, size, ...): counted with its reason. */
void pipeline_refused(struct pipeline *p, enum reason r, int code);
/* The final answer of the message: stored (or the store failed: 451). */
void pipeline_delivered(struct pipeline *p, bool stored);
/* End of the transaction (RSET, new MAIL, after the reply): forgets its facts. */
void pipeline_reset(struct pipeline *p);

#endif
