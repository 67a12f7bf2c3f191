/*
 * session.c - one ESMTP server session (RFC 5321) as a state machine.
 *
 * States: HELO (waiting for EHLO/HELO) -> READY -> MAIL -> RCPT -> DATA ->
 * DELIVERING -> READY ..., plus CLOSING. Input is read line by line (512-octet
 * command lines, RFC 5321 4.5.3.1.4) or, in DATA, fed to the DATA reader.
 * PIPELINING (RFC 2920): replies to a group are written together; after the
 * end of DATA no further input is read until the message's reply is sent
 * (the delivery runs on a pool thread). STARTTLS (RFC 3207) discards any
 * input that followed the command and forgets the EHLO. Every reply carries
 * an enhanced status code (RFC 2034/3463) except the banner and EHLO.
 * The checks and the decisions are not here: at each stage the session hands
 * what the client said to the pipeline (policy/pipeline.c) and turns the
 * verdict it returns into a reply. While the pipeline waits for lookups
 * (the banner, SPF at MAIL FROM, the end of DATA) the session is in S_WAIT
 * and reads no input (like S_DELIVERING). Every refusal names its reason
 * from the catalogue (policy/reasons.c), which also gives its reply code.
 * Not here: AUTH (this is an MX), CHUNKING/BDAT, DSN.
 */
#include "core/arena.h"
#include "core/config.h"
#include "core/limits.h"
#include "core/log.h"
#include "deliver/maildir.h"
#include "deliver/pool.h"
#include "deliver/recipients.h"
#include "policy/pipeline.h"
#include "smtp/command.h"
#include "smtp/data.h"
#include "smtp/reply.h"
#include "smtp/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum sstate { S_HELO, S_READY, S_MAIL, S_RCPT, S_DATA, S_WAIT, S_DELIVERING, S_CLOSING };
static const char *const state_names[] = { "helo", "ready", "mail", "rcpt", "data",
					   "wait", "delivering", "closing" };

/* What a session in S_WAIT waits for: the stage whose verdict comes back. */
enum waiting { W_NONE, W_BANNER, W_MAIL, W_DATA };

struct rcpt {
	char *addr;    /* as given, for logs and Received */
	char *mailbox; /* Maildir path */
};

struct smtp_session {
	struct smtp_server *srv;
	struct smtp_settings *set;
	const struct config *cfg;
	struct smtp_session *prev, *next;
	struct bufferevent *bev;
	int fd;
	char id[16];
	struct sockaddr_storage peer;
	char ip[INET6_ADDRSTRLEN];
	enum sstate st;
	bool esmtp, tls, discard_line, dead, close_after_reply;
	unsigned errors;
	unsigned ntx;
	struct event *life_timer;
	struct arena sa; /* session lifetime */
	struct arena ta; /* transaction lifetime */
	char *helo;
	char *tls_version, *tls_cipher;
	struct pipeline *pl;   /* the checks of this session */
	enum waiting waiting;  /* S_WAIT: which verdict comes back */
	bool banner_sent;
	/* transaction */
	char *mail_from;
	bool smtputf8;
	struct rcpt *rcpts;
	size_t nrcpt, rcpt_cap;
	const char **rcpt_addrs;
	struct smtp_data_reader dr;
	struct buf msg, hdr;
	struct delivery_job job;
	char msgid[32];
};

static void process_input(struct smtp_session *s);
static void session_free(struct smtp_session *s);

/* ---- output ---------------------------------------------------------- */

static void send_buf(struct smtp_session *s, struct buf *b)
{
	if (b->len)
		bufferevent_write(s->bev, b->p, b->len);
	buf_free(b);
}

#define REPLY(s, code, enh, ...)                                  \
	do {                                                      \
		struct buf rb_ = { 0 };                           \
		smtp_reply(&rb_, code, enh, __VA_ARGS__);         \
		send_buf(s, &rb_);                                \
	} while (0)

/* A refusal in the code given (a verdict's), with its reason code and help link. */
#define REFUSE_AS(s, code_, enh_, why_, ...)                                             \
	do {                                                                             \
		struct buf rb_ = { 0 };                                                  \
		smtp_reply_reason(&rb_, code_, enh_, why_, (s)->cfg->portal_url,         \
				  __VA_ARGS__);                                          \
		send_buf(s, &rb_);                                                       \
		log_msg(LOG_INFO, (s)->id, "event=refuse code=%d enh=%s reason=%s", code_, \
			enh_, reason_get(why_)->code);                                   \
		if ((s)->pl)                                                             \
			pipeline_refused((s)->pl, why_, code_);                          \
	} while (0)
/* A refusal in the reply code the reason catalogue gives it. */
#define REFUSE(s, why_, ...) \
	REFUSE_AS(s, reason_get(why_)->reply, reason_get(why_)->enh, why_, __VA_ARGS__)

static void on_drained(struct bufferevent *bev, void *arg)
{
	(void)bev;
	session_free(arg);
}

static void free_later(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	session_free(arg);
}

/*
 * Ends the session from inside command processing: callers up the stack still
 * hold s, so the free happens on the next loop iteration.
 */
static void session_kill(struct smtp_session *s)
{
	s->st = S_CLOSING;
	bufferevent_disable(s->bev, EV_READ | EV_WRITE);
	bufferevent_setcb(s->bev, NULL, NULL, NULL, NULL);
	if (event_base_once(s->srv->base, -1, EV_TIMEOUT, free_later, s, &(struct timeval){ 0, 0 }) < 0)
		log_msg(LOG_ERR, s->id, "event=bug what=session_leak");
}

static void on_event(struct bufferevent *bev, short what, void *arg);

/* Stops reading, flushes what is queued, then frees the session. */
static void close_after_flush(struct smtp_session *s)
{
	if (s->st == S_CLOSING)
		return;
	s->st = S_CLOSING;
	bufferevent_enable(s->bev, EV_WRITE);
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_setcb(s->bev, NULL, on_drained, on_event, s);
	bufferevent_set_timeouts(s->bev, NULL, &(struct timeval){ 10, 0 });
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		session_kill(s);
}

/* Counts a client error; past the limit, 421 and close. Returns true if closed. */
static bool client_error(struct smtp_session *s)
{
	if (++s->errors < s->cfg->smtp_max_errors)
		return false;
	REFUSE(s, R_TOO_MANY_ERRORS, "%s Error: too many errors, closing",
	       s->cfg->hostname);
	close_after_flush(s);
	return true;
}

static void set_timeout(struct smtp_session *s, uint64_t secs)
{
	struct timeval tv = { (time_t)secs, 0 };
	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

/* ---- transaction ----------------------------------------------------- */

static void reset_transaction(struct smtp_session *s)
{
	if (s->pl)
		pipeline_reset(s->pl);
	arena_reset(&s->ta);
	s->mail_from = NULL;
	s->smtputf8 = false;
	s->rcpts = NULL;
	s->rcpt_addrs = NULL;
	s->nrcpt = s->rcpt_cap = 0;
	buf_free(&s->msg);
	buf_free(&s->hdr);
	if (s->st != S_HELO)
		s->st = S_READY;
}

/* ---- commands -------------------------------------------------------- */

static void cmd_helo(struct smtp_session *s, const struct smtp_command *c)
{
	reset_transaction(s);
	s->helo = arena_strndup(&s->sa, c->arg.p, c->arg.len);
	s->esmtp = c->verb == SMTP_EHLO;
	s->st = S_READY;
	/* More input before our reply: pipelining that was not negotiated (postscreen's test). */
	bool early = evbuffer_get_length(bufferevent_get_input(s->bev)) > 0;
	pipeline_helo(s->pl, s->helo, s->esmtp, early);
	if (!s->esmtp) {
		REPLY(s, 250, NULL, "%s", s->cfg->hostname);
		return;
	}
	struct buf b = { 0 };
	buf_printf(&b, "%s greets [%s]\nPIPELINING\nSIZE %llu\n8BITMIME\nENHANCEDSTATUSCODES\n",
		   s->cfg->hostname, s->ip, (unsigned long long)s->cfg->message_size_limit);
	if (s->set->tls && !s->tls)
		buf_append_str(&b, "STARTTLS\n");
	buf_append_str(&b, "SMTPUTF8");
	struct buf rb = { 0 };
	smtp_reply_text(&rb, 250, NULL, b.p, b.len);
	buf_free(&b);
	send_buf(s, &rb);
}

static bool need_helo(struct smtp_session *s)
{
	if (s->st != S_HELO)
		return false;
	REPLY(s, 503, "5.5.1", "Error: send HELO/EHLO first");
	client_error(s);
	return true;
}

/* ---- waiting for the pipeline ------------------------------------------ */

/* Lookups run: no input is read until the verdict is in. */
static void wait_pipeline(struct smtp_session *s, enum waiting w)
{
	s->st = S_WAIT;
	s->waiting = w;
	bufferevent_disable(s->bev, EV_READ);
}

/* Back from S_WAIT: read commands again. */
static void resume_input(struct smtp_session *s)
{
	set_timeout(s, s->cfg->smtp_command_timeout);
	bufferevent_enable(s->bev, EV_READ);
	process_input(s);
}

/* A refusal decided by the verdict engine; LIMIT closes the connection. */
static void refuse_verdict(struct smtp_session *s, const struct verdict *v, const char *prefix)
{
	REFUSE_AS(s, v->code, v->enh, v->reason, "%s%s", prefix,
		  v->detail[0] ? v->detail : reason_get(v->reason)->title);
	if (v->action == VERDICT_LIMIT)
		close_after_flush(s);
}

static bool refusal(const struct verdict *v)
{
	return v->action == VERDICT_REJECT || v->action == VERDICT_TEMPFAIL ||
	       v->action == VERDICT_LIMIT;
}

static void mail_verdict(struct smtp_session *s, const struct verdict *v)
{
	s->st = S_MAIL;
	if (refusal(v)) {
		refuse_verdict(s, v, "");
		if (s->st != S_CLOSING)
			reset_transaction(s);
		return;
	}
	REPLY(s, 250, "2.1.0", "Sender <%s> OK", s->mail_from);
}

static void cmd_mail(struct smtp_session *s, const struct smtp_command *c)
{
	if (need_helo(s))
		return;
	if (s->st != S_READY) {
		REPLY(s, 503, "5.5.1", "Error: nested MAIL command");
		client_error(s);
		return;
	}
	if (!s->esmtp && (c->has_size || c->body || c->smtputf8)) {
		REPLY(s, 555, "5.5.4", "ESMTP parameters need EHLO");
		client_error(s);
		return;
	}
	if (c->has_size && c->size > s->cfg->message_size_limit) {
		REFUSE(s, R_MESSAGE_TOO_BIG, "Message size %llu exceeds the limit of %llu octets",
		       (unsigned long long)c->size,
		       (unsigned long long)s->cfg->message_size_limit);
		client_error(s);
		return;
	}
	if (c->utf8 && !c->smtputf8) {
		REFUSE(s, R_UTF8_NOT_DECLARED, "Non-ASCII sender address needs the SMTPUTF8 parameter");
		client_error(s);
		return;
	}
	s->mail_from = arena_strndup(&s->ta, c->path.p, c->path.len);
	s->smtputf8 = c->smtputf8;
	s->st = S_MAIL;
	struct verdict v;
	if (pipeline_mail(s->pl, s->mail_from ? s->mail_from : "", s->smtputf8, &v) ==
	    PIPELINE_PENDING) {
		wait_pipeline(s, W_MAIL);
		return; /* the reply comes from on_verdict() */
	}
	mail_verdict(s, &v);
}

static bool rcpt_known(struct smtp_session *s, const char *mailbox)
{
	for (size_t i = 0; i < s->nrcpt; i++)
		if (strcmp(s->rcpts[i].mailbox, mailbox) == 0)
			return true;
	return false;
}

static void cmd_rcpt(struct smtp_session *s, const struct smtp_command *c)
{
	if (need_helo(s))
		return;
	if (s->st != S_MAIL && s->st != S_RCPT) {
		REPLY(s, 503, "5.5.1", "Error: need MAIL command");
		client_error(s);
		return;
	}
	if (c->utf8 && !s->smtputf8) {
		REFUSE(s, R_UTF8_NOT_DECLARED,
		       "Non-ASCII recipient address needs SMTPUTF8 on MAIL");
		client_error(s);
		return;
	}
	if (s->nrcpt >= s->cfg->smtp_max_recipients) {
		/* Not an error: the client sends the rest in the next transaction. */
		REFUSE(s, R_TOO_MANY_RECIPIENTS, "Error: too many recipients");
		return;
	}
	struct slice dom = c->domain;
	if (c->postmaster) {
		const char *cur = s->cfg->local_domains, *item;
		dom.len = config_list_next(&cur, &item);
		dom.p = item;
	}
	if (!config_is_local_domain(s->cfg, dom.p, dom.len)) {
		pipeline_rcpt_relay(s->pl);
		REFUSE(s, R_RELAY_DENIED, "<%.*s>: Relay access denied",
		       (int)c->path.len, c->path.p);
		client_error(s);
		return;
	}
	char *addr = arena_printf(&s->ta, "%.*s@%.*s", (int)c->local.len, c->local.p,
				  (int)dom.len, dom.p);
	bool trap = false;
	struct verdict v;
	pipeline_rcpt(s->pl, addr ? addr : "", &trap, &v);
	if (!trap && !recipients_has(s->set->rcpts, c->local.p, c->local.len, dom.p, dom.len)) {
		pipeline_rcpt_unknown(s->pl);
		REFUSE(s, R_UNKNOWN_RECIPIENT,
		       "<%.*s>: Recipient address rejected: user unknown", (int)c->path.len,
		       c->path.p);
		client_error(s);
		return;
	}
	if (refusal(&v)) {
		refuse_verdict(s, &v, "");
		return;
	}
	/* A trap's copy goes to the trap store, never to a user's mailbox. */
	char *mailbox = trap ? arena_printf(&s->ta, "%s/traps", s->cfg->var_dir)
			     : maildir_mailbox_path(&s->ta, s->cfg->var_dir, c->local.p,
						    c->local.len, dom.p, dom.len);
	if (!mailbox) {
		REFUSE(s, R_LOCAL_ERROR, "Out of memory");
		return;
	}
	if (!rcpt_known(s, mailbox)) {
		if (s->nrcpt == s->rcpt_cap) {
			size_t cap = s->rcpt_cap ? s->rcpt_cap * 2 : 4;
			struct rcpt *n = arena_alloc(&s->ta, cap * sizeof(*n));
			if (!n) {
				REFUSE(s, R_LOCAL_ERROR, "Out of memory");
				return;
			}
			if (s->nrcpt)
				memcpy(n, s->rcpts, s->nrcpt * sizeof(*n));
			s->rcpts = n;
			s->rcpt_cap = cap;
		}
		s->rcpts[s->nrcpt].addr = arena_strndup(&s->ta, c->path.p, c->path.len);
		s->rcpts[s->nrcpt].mailbox = mailbox;
		s->nrcpt++;
	}
	s->st = S_RCPT;
	REPLY(s, 250, "2.1.5", "Recipient <%.*s> OK", (int)c->path.len, c->path.p);
}

static void cmd_data(struct smtp_session *s)
{
	if (need_helo(s))
		return;
	if (s->st == S_MAIL) {
		REPLY(s, 554, "5.5.1", "Error: no valid recipients");
		client_error(s);
		return;
	}
	if (s->st != S_RCPT) {
		REPLY(s, 503, "5.5.1", "Error: need RCPT command");
		client_error(s);
		return;
	}
	s->ntx++;
	snprintf(s->msgid, sizeof(s->msgid), "%s.%u", s->id, s->ntx);
	buf_reset(&s->msg);
	smtp_data_init(&s->dr, &s->msg, s->cfg->message_size_limit,
		       s->cfg->smtp_bare_newline == BARE_NEWLINE_NORMALIZE);
	s->st = S_DATA;
	set_timeout(s, s->cfg->smtp_data_timeout);
	REPLY(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
}

static int flush_plaintext(struct smtp_session *s)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	struct evbuffer_iovec v[8];
	int n = evbuffer_peek(out, -1, NULL, v, 8);
	if (n > 8)
		return -1; /* a client that does not read its replies */
	for (int i = 0; i < n; i++) {
		const char *p = v[i].iov_base;
		size_t len = v[i].iov_len, off = 0;
		while (off < len) {
			ssize_t w = send(s->fd, p + off, len - off, MSG_NOSIGNAL);
			if (w < 0 && errno == EAGAIN) {
				struct pollfd pfd = { .fd = s->fd, .events = POLLOUT };
				if (poll(&pfd, 1, 1000) <= 0)
					return -1;
				continue;
			}
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return -1;
			off += (size_t)w;
		}
	}
	return 0;
}

static void start_tls(struct smtp_session *s)
{
	if (s->tls) {
		REPLY(s, 503, "5.5.1", "Error: TLS already active");
		client_error(s);
		return;
	}
	if (!s->set->tls) {
		REPLY(s, 454, "4.7.0", "TLS not available");
		client_error(s);
		return;
	}
	REPLY(s, 220, "2.0.0", "Ready to start TLS");
	/*
	 * Flush the plaintext replies ourselves (a socket bufferevent's output is
	 * frozen at the front); input after STARTTLS is discarded (RFC 3207 4.2).
	 */
	if (flush_plaintext(s) < 0) {
		session_kill(s);
		return;
	}
	SSL *ssl = SSL_new(s->set->tls);
	struct bufferevent *tb =
		ssl ? bufferevent_openssl_socket_new(s->srv->base, s->fd, ssl,
						     BUFFEREVENT_SSL_ACCEPTING, 0)
		    : NULL;
	if (!tb) {
		if (ssl)
			SSL_free(ssl);
		session_kill(s);
		return;
	}
	bufferevent_free(s->bev);
	s->bev = tb;
	bufferevent_openssl_set_allow_dirty_shutdown(tb, 1);
	s->tls = true;
	reset_transaction(s);
	s->st = S_HELO;
	s->esmtp = false;
	s->helo = NULL;
	bufferevent_setcb(tb, NULL, NULL, on_event, s);
	set_timeout(s, s->cfg->smtp_command_timeout);
	bufferevent_enable(tb, EV_READ | EV_WRITE);
}

static void handle_line(struct smtp_session *s, const char *line, size_t len)
{
	struct smtp_command c;
	enum smtp_parse_error e = smtp_parse_command(line, len, &c);
	if (e != SMTP_PARSE_OK) {
		int code;
		const char *enh;
		const char *text = smtp_parse_error_text(e, c.verb, &code, &enh);
		REPLY(s, code, enh, "%s", text);
		client_error(s);
		return;
	}
	switch (c.verb) {
	case SMTP_HELO:
	case SMTP_EHLO:
		cmd_helo(s, &c);
		break;
	case SMTP_MAIL:
		cmd_mail(s, &c);
		break;
	case SMTP_RCPT:
		cmd_rcpt(s, &c);
		break;
	case SMTP_DATA:
		cmd_data(s);
		break;
	case SMTP_RSET:
		reset_transaction(s);
		REPLY(s, 250, "2.0.0", "OK");
		break;
	case SMTP_NOOP:
		REPLY(s, 250, "2.0.0", "OK");
		break;
	case SMTP_QUIT:
		REPLY(s, 221, "2.0.0", "%s closing connection", s->cfg->hostname);
		close_after_flush(s);
		break;
	case SMTP_VRFY:
		REPLY(s, 252, "2.5.2", "Cannot VRFY user, but will accept message and attempt "
				       "delivery");
		break;
	case SMTP_HELP:
		REPLY(s, 214, "2.0.0",
		      "mxscreen inbound MX. Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY "
		      "HELP STARTTLS\nAbout refusals: %s/help/",
		      s->cfg->portal_url);
		break;
	case SMTP_STARTTLS:
		start_tls(s);
		break;
	case SMTP_EXPN:
	case SMTP_AUTH:
	case SMTP_BDAT:
	case SMTP_UNKNOWN:
		REPLY(s, 502, "5.5.1", "Command not implemented");
		client_error(s);
		break;
	}
}

/* ---- end of DATA and delivery ---------------------------------------- */

static void delivered(struct delivery_job *job)
{
	struct smtp_session *s = job->arg;
	pipeline_delivered(s->pl, job->rc == 0);
	if (job->rc == 0) {
		s->srv->messages++;
		log_msg(LOG_INFO, s->id, "event=delivered msgid=%s size=%zu rcpts=%zu", s->msgid,
			s->msg.len, s->nrcpt);
	} else {
		log_msg(LOG_ERR, s->id, "event=delivery_failed msgid=%s error=\"%s\"", s->msgid,
			job->err);
	}
	if (s->dead) {
		/* The client left; the message is stored (or not) all the same. */
		session_free(s);
		return;
	}
	if (job->rc == 0)
		REPLY(s, 250, "2.0.0", "Ok: delivered as %s", s->msgid);
	else
		REFUSE(s, R_LOCAL_ERROR,
		       "Error: local delivery failed, try again later");
	s->st = S_READY;
	reset_transaction(s);
	if (s->close_after_reply || s->srv->closing) {
		REFUSE(s, R_SHUTDOWN, "%s Service shutting down", s->cfg->hostname);
		close_after_flush(s);
		return;
	}
	set_timeout(s, s->cfg->smtp_command_timeout);
	bufferevent_enable(s->bev, EV_READ);
	process_input(s);
}

static void data_refused(struct smtp_session *s)
{
	const struct smtp_data_reader *r = &s->dr;
	if (r->oom)
		REFUSE(s, R_LOCAL_ERROR, "Error: out of memory, try again later");
	else if (r->too_big)
		REFUSE(s, R_MESSAGE_TOO_BIG,
		       "Message exceeds the limit of %llu octets, nothing delivered",
		       (unsigned long long)s->cfg->message_size_limit);
	else
		REFUSE(s, R_BARE_NEWLINE,
		       "Message contains bare %s, nothing delivered; lines must end with CRLF",
		       r->bare_cr ? "CR" : "LF");
	s->st = S_READY;
	reset_transaction(s);
	set_timeout(s, s->cfg->smtp_command_timeout);
	client_error(s);
}

/* The verdict of the message: refuse, or hand it to a delivery thread. */
static void data_verdict(struct smtp_session *s, const struct verdict *v)
{
	if (v->action != VERDICT_INBOX && v->action != VERDICT_JUNK) {
		refuse_verdict(s, v, "Message refused: ");
		if (s->st == S_CLOSING)
			return;
		s->st = S_READY;
		reset_transaction(s);
		set_timeout(s, s->cfg->smtp_command_timeout);
		return;
	}
	const char **mailboxes = arena_alloc(&s->ta, s->nrcpt * sizeof(*mailboxes));
	bool *junk = arena_alloc(&s->ta, s->nrcpt * sizeof(*junk));
	if (!mailboxes || !junk) {
		s->dr.oom = true;
		data_refused(s);
		return;
	}
	size_t traps_dir_len = strlen(s->cfg->var_dir) + 6;
	for (size_t i = 0; i < s->nrcpt; i++) {
		mailboxes[i] = s->rcpts[i].mailbox;
		/* the trap store keeps what arrived, never in a Junk subfolder */
		bool trap = strlen(mailboxes[i]) == traps_dir_len &&
			    strcmp(mailboxes[i] + traps_dir_len - 6, "/traps") == 0 &&
			    strncmp(mailboxes[i], s->cfg->var_dir, traps_dir_len - 6) == 0;
		junk[i] = v->action == VERDICT_JUNK && !trap;
	}
	memset(&s->job, 0, sizeof(s->job));
	s->job.mailboxes = mailboxes;
	s->job.junk = junk;
	s->job.n = s->nrcpt;
	s->job.parts[0] = (struct slice){ s->hdr.p, s->hdr.len };
	s->job.parts[1] = (struct slice){ s->msg.p ? s->msg.p : "", s->msg.len };
	maildir_unique(s->job.unique, sizeof(s->job.unique), s->cfg->hostname);
	s->job.done = delivered;
	s->job.arg = s;
	s->st = S_DELIVERING;
	bufferevent_disable(s->bev, EV_READ);
	delivery_pool_submit(s->srv->pool, &s->job);
}

static void data_end(struct smtp_session *s)
{
	if (!smtp_data_ok(&s->dr)) {
		data_refused(s);
		return;
	}
	s->rcpt_addrs = arena_alloc(&s->ta, (s->nrcpt ? s->nrcpt : 1) * sizeof(*s->rcpt_addrs));
	if (!s->rcpt_addrs) {
		s->dr.oom = true;
		data_refused(s);
		return;
	}
	for (size_t i = 0; i < s->nrcpt; i++)
		s->rcpt_addrs[i] = s->rcpts[i].addr;
	struct verdict v;
	if (pipeline_data(s->pl, &s->msg, s->dr.line_too_long, s->msgid, s->rcpt_addrs, s->nrcpt,
			  &s->hdr, &v) == PIPELINE_PENDING) {
		wait_pipeline(s, W_DATA);
		return; /* on_verdict() goes on */
	}
	data_verdict(s, &v);
}

/* The banner, once the connect stage has decided. */
static void banner(struct smtp_session *s, const struct verdict *v)
{
	s->banner_sent = true;
	if (refusal(v)) {
		/* RFC 5321 3.1: 554 instead of 220 means no service; 421 closes too. */
		refuse_verdict(s, v, "");
		close_after_flush(s);
		return;
	}
	REPLY(s, 220, NULL, "%s ESMTP mxscreen", s->cfg->hostname);
}

/* A stage that waited in S_WAIT has its verdict. */
static void on_verdict(void *arg, const struct verdict *v)
{
	struct smtp_session *s = arg;
	if (s->st != S_WAIT)
		return; /* closing: the answer is of no use any more */
	enum waiting w = s->waiting;
	s->waiting = W_NONE;
	switch (w) {
	case W_BANNER:
		s->st = S_HELO;
		banner(s, v);
		break;
	case W_MAIL:
		mail_verdict(s, v);
		break;
	case W_DATA:
		data_verdict(s, v);
		break;
	case W_NONE:
		break;
	}
	if (s->st == S_HELO || s->st == S_READY || s->st == S_MAIL)
		resume_input(s);
}

/* ---- input ----------------------------------------------------------- */

/* Feeds buffered input to the DATA reader; true when DATA ended. */
static bool feed_data(struct smtp_session *s, struct evbuffer *in)
{
	while (evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		size_t used = smtp_data_feed(&s->dr, v.iov_base, v.iov_len);
		evbuffer_drain(in, used);
		if (smtp_data_done(&s->dr)) {
			data_end(s);
			return true;
		}
	}
	return false;
}

static void process_input(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	char line[SMTP_COMMAND_LINE_MAX + 1];
	while (s->st != S_CLOSING && s->st != S_DELIVERING && s->st != S_WAIT && !s->dead) {
		if (s->st == S_DATA) {
			if (!feed_data(s, in))
				return;
			continue;
		}
		size_t eol_len;
		struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
		size_t avail = evbuffer_get_length(in);
		if (eol.pos < 0) {
			if (avail >= SMTP_COMMAND_LINE_MAX) {
				/* Over-long line with no end yet: answer once, drop until LF. */
				evbuffer_drain(in, avail);
				if (!s->discard_line) {
					s->discard_line = true;
					REFUSE(s, R_LINE_TOO_LONG,
					       "Error: line too long");
					client_error(s);
				}
			}
			return;
		}
		size_t total = (size_t)eol.pos + eol_len;
		if (s->discard_line) {
			s->discard_line = false;
			evbuffer_drain(in, total);
			continue;
		}
		if (total > SMTP_COMMAND_LINE_MAX) {
			evbuffer_drain(in, total);
			REFUSE(s, R_LINE_TOO_LONG, "Error: line too long");
			client_error(s);
			continue;
		}
		evbuffer_remove(in, line, total);
		size_t n = (size_t)eol.pos;
		if (n && line[n - 1] == '\r')
			n--;
		line[n] = '\0';
		handle_line(s, line, n);
		/* STARTTLS replaces the bufferevent: what followed it is dropped with the old one. */
		in = bufferevent_get_input(s->bev);
	}
}

static void on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	struct smtp_session *s = arg;
	if (s->st == S_WAIT && s->waiting == W_BANNER) {
		/* Input before the banner: kept for after it, noted as a fact. */
		pipeline_pregreet(s->pl);
		return;
	}
	process_input(s);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;
	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		/* TLS handshake done. */
		SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
		if (ssl) {
			s->tls_version = arena_strdup(&s->sa, SSL_get_version(ssl));
			s->tls_cipher = arena_strdup(&s->sa, SSL_get_cipher_name(ssl));
			pipeline_tls(s->pl, s->tls_version, s->tls_cipher);
			log_msg(LOG_INFO, s->id, "event=tls version=%s cipher=%s", s->tls_version,
				s->tls_cipher);
		}
		bufferevent_setcb(s->bev, on_read, NULL, on_event, s);
		process_input(s);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (s->st == S_CLOSING) {
			session_free(s);
			return;
		}
		log_msg(LOG_INFO, s->id, "event=timeout state=%s", state_names[s->st]);
		bufferevent_enable(s->bev, EV_WRITE);
		REFUSE(s, R_TIMEOUT, "%s Error: timeout exceeded", s->cfg->hostname);
		close_after_flush(s);
		return;
	}
	/* EOF or error: the client is gone. */
	if (what & BEV_EVENT_ERROR)
		log_msg(LOG_INFO, s->id, "event=io_error state=%s error=\"%s\"", state_names[s->st],
			strerror(EVUTIL_SOCKET_ERROR()));
	if (s->st == S_DELIVERING) {
		s->dead = true;
		bufferevent_disable(s->bev, EV_READ | EV_WRITE);
		return;
	}
	session_free(s);
}

static void on_life_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct smtp_session *s = arg;
	if (s->st == S_DELIVERING) {
		s->close_after_reply = true;
		return;
	}
	if (s->st == S_CLOSING)
		return;
	REFUSE(s, R_SESSION_LIMIT, "%s Error: session time limit exceeded",
	       s->cfg->hostname);
	close_after_flush(s);
}

/* ---- lifecycle ------------------------------------------------------- */

static void session_free(struct smtp_session *s)
{
	if (s->st == S_DELIVERING && !s->dead) {
		/* never free under a running delivery job */
		s->dead = true;
		return;
	}
	log_msg(LOG_INFO, s->id, "event=disconnect ip=%s transactions=%u errors=%u", s->ip,
		s->ntx, s->errors);
	if (s->prev)
		s->prev->next = s->next;
	else
		s->srv->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->srv->nsessions--;
	if (s->life_timer)
		event_free(s->life_timer);
	pipeline_free(s->pl);
	if (s->bev) {
		/* Without BEV_OPT_CLOSE_ON_FREE (we own the fd) the SSL is ours to free too. */
		SSL *ssl = s->tls ? bufferevent_openssl_get_ssl(s->bev) : NULL;
		bufferevent_free(s->bev);
		if (ssl)
			SSL_free(ssl);
	}
	if (s->fd >= 0) {
		/* Drain unread input so close() sends FIN, not RST, after our last reply. */
		char junk[4096];
		while (recv(s->fd, junk, sizeof(junk), MSG_DONTWAIT) > 0)
			;
		close(s->fd);
	}
	arena_reset(&s->sa);
	arena_reset(&s->ta);
	buf_free(&s->msg);
	buf_free(&s->hdr);
	smtp_settings_unref(s->set);
	free(s);
}

static size_t count_from_ip(const struct smtp_server *srv, const char *ip)
{
	size_t n = 0;
	for (const struct smtp_session *s = srv->sessions; s; s = s->next)
		n += strcmp(s->ip, ip) == 0;
	return n;
}

static void refuse_connection(int fd, const struct config *cfg, enum reason r, const char *ip)
{
	struct buf b = { 0 };
	smtp_reply_reason(&b, 421, "4.7.0", r, cfg->portal_url, "%s Error: %s, try again later",
			  cfg->hostname, reason_get(r)->title);
	ssize_t w = send(fd, b.p, b.len, MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)w;
	buf_free(&b);
	log_msg(LOG_INFO, NULL, "event=refuse_connection ip=%s reason=%s", ip, reason_get(r)->code);
	close(fd);
}

static void ip_string(const struct sockaddr *sa, char *out, size_t outlen)
{
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], out, (socklen_t)outlen);
			return;
		}
		inet_ntop(AF_INET6, &s6->sin6_addr, out, (socklen_t)outlen);
	} else if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out,
			  (socklen_t)outlen);
	} else {
		snprintf(out, outlen, "unknown");
	}
}

void smtp_session_accept(struct smtp_server *srv, int fd, const struct sockaddr *sa, int salen)
{
	const struct config *cfg = srv->settings->cfg;
	char ip[INET6_ADDRSTRLEN];
	ip_string(sa, ip, sizeof(ip));
	if (srv->draining) {
		refuse_connection(fd, cfg, R_SHUTDOWN, ip);
		return;
	}
	if (srv->nsessions >= cfg->smtp_max_connections) {
		srv->refused++;
		refuse_connection(fd, cfg, R_TOO_MANY_CONNECTIONS, ip);
		return;
	}
	if (count_from_ip(srv, ip) >= cfg->smtp_max_connections_per_ip) {
		srv->refused++;
		refuse_connection(fd, cfg, R_TOO_MANY_CONNECTIONS_IP, ip);
		return;
	}
	struct smtp_session *s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		return;
	}
	s->srv = srv;
	s->set = smtp_settings_ref(srv->settings);
	s->cfg = s->set->cfg;
	s->fd = fd;
	memcpy(&s->peer, sa, (size_t)salen < sizeof(s->peer) ? (size_t)salen : sizeof(s->peer));
	memcpy(s->ip, ip, sizeof(ip));
	unsigned char rnd[6];
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memset(rnd, 0, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(s->id + 2 * i, 3, "%02x", rnd[i]);
	arena_init(&s->sa, 512);
	arena_init(&s->ta, 1024);
	s->st = S_HELO;
	s->next = srv->sessions;
	if (s->next)
		s->next->prev = s;
	srv->sessions = s;
	srv->nsessions++;
	srv->accepted++;
	s->bev = bufferevent_socket_new(srv->base, fd, 0);
	s->life_timer = evtimer_new(srv->base, on_life_timer, s);
	if (!s->bev || !s->life_timer) {
		session_free(s);
		return;
	}
	struct timeval life = { (time_t)cfg->smtp_session_limit, 0 };
	evtimer_add(s->life_timer, &life);
	bufferevent_setcb(s->bev, on_read, NULL, on_event, s);
	set_timeout(s, cfg->smtp_command_timeout);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	log_msg(LOG_INFO, s->id, "event=connect ip=%s", s->ip);
	struct pipeline_session ps = { .id = s->id, .ip = s->ip };
	s->pl = pipeline_new(srv, s->set, &ps, &s->sa, &s->ta, on_verdict, s);
	if (!s->pl) {
		session_free(s);
		return;
	}
	struct verdict v;
	if (pipeline_connect(s->pl, &v) == PIPELINE_PENDING) {
		s->st = S_WAIT;
		s->waiting = W_BANNER; /* input is read (pregreet), not processed */
		return;
	}
	banner(s, &v);
}

void smtp_server_close_sessions(struct smtp_server *srv)
{
	srv->closing = true;
	struct smtp_session *s = srv->sessions;
	while (s) {
		struct smtp_session *next = s->next;
		smtp_session_shutdown(s);
		s = next;
	}
}

void smtp_session_shutdown(struct smtp_session *s)
{
	if (s->st == S_DELIVERING) {
		s->close_after_reply = true;
		return;
	}
	if (s->st == S_CLOSING)
		return;
	REFUSE(s, R_SHUTDOWN, "%s Service shutting down", s->cfg->hostname);
	close_after_flush(s);
}

/* ---- for the control socket (`mxscreen sessions`) -------------------------- */

void smtp_server_each_session(const struct smtp_server *srv,
			      void (*fn)(void *arg, const struct smtp_session_info *info),
			      void *arg)
{
	struct timeval now, end;
	event_base_gettimeofday_cached(srv->base, &now);
	for (const struct smtp_session *s = srv->sessions; s; s = s->next) {
		/* The age is read off the session-limit timer (armed at connect for
		 * smtp_session_limit): no start time to keep in the session. */
		double age = (double)s->cfg->smtp_session_limit;
		if (s->life_timer && event_pending(s->life_timer, EV_TIMEOUT, &end))
			age -= (double)(end.tv_sec - now.tv_sec) +
			       (double)(end.tv_usec - now.tv_usec) / 1e6;
		const char *st = state_names[s->st];
		struct smtp_session_info info = {
			.id = s->id, .ip = s->ip, .state = st, .helo = s->helo, .rdns = s->pl ? pipeline_facts(s->pl)->client_rdns : NULL,
			.tls = s->tls, .transactions = s->ntx, .age = age < 0 ? 0 : age,
		};
		fn(arg, &info);
	}
}
