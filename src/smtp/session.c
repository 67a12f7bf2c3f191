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
 * SPF (auth/spf.c) runs at MAIL FROM and Sender ID after DATA, both
 * asynchronously in state S_AUTH: input is not read until the result is in
 * (like S_DELIVERING). A PTR lookup with forward confirmation starts at
 * connect; the Received header names the client only when it is confirmed.
 * Not here: AUTH (this is an MX), CHUNKING/BDAT, DSN.
 */
#include "auth/auth.h"
#include "auth/auth_dns.h"
#include "auth/pra.h"
#include "auth/spf.h"
#include "core/arena.h"
#include "core/config.h"
#include "core/limits.h"
#include "core/log.h"
#include "deliver/maildir.h"
#include "deliver/pool.h"
#include "deliver/recipients.h"
#include "net/fcrdns.h"
#include "content/classify.h"
#include "policy/verdict.h"
#include "smtp/command.h"
#include "smtp/data.h"
#include "smtp/received.h"
#include "smtp/reply.h"
#include "smtp/server.h"
#include "store/dmarc_agg.h"
#include "store/writer.h"

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

enum sstate { S_HELO, S_READY, S_MAIL, S_RCPT, S_DATA, S_AUTH, S_DELIVERING, S_CLOSING };

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
	struct fcrdns *fcrdns; /* running reverse lookup */
	char *rdns;            /* forward-confirmed client name, or NULL */
	struct spf_eval *spf;  /* running SPF or Sender ID evaluation (S_AUTH) */
	bool await_fcrdns;     /* end of DATA waits (S_AUTH) for the reverse lookup */
	struct auth_check *auth;  /* DKIM, ARC, DMARC of the message (transaction) */
	struct auth_dns *auth_run; /* its lookups (S_AUTH while running) */
	/* transaction */
	char *mail_from;
	bool smtputf8;
	enum spf_result spf_result; /* valid when spf_checked */
	bool spf_checked, senderid_checked;
	char *spf_domain, *spf_received, *spf_authres; /* transaction arena */
	char *senderid_authres, *pra;
	enum spf_result senderid_result;
	struct rcpt *rcpts;
	size_t nrcpt, rcpt_cap;
	struct smtp_data_reader dr;
	struct buf msg, hdr;
	struct delivery_job job;
	char msgid[32];
	/* DMARC aggregate rows of the message, recorded after its final reply */
	struct store_record *agg[DMARC_FROM_DOMAINS_MAX];
	size_t nagg;
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

#define REFUSE(s, code_, enh_, why_, ...)                                                \
	do {                                                                             \
		struct buf rb_ = { 0 };                                                  \
		smtp_reply_reason(&rb_, code_, enh_, why_, (s)->cfg->portal_url,         \
				  __VA_ARGS__);                                          \
		send_buf(s, &rb_);                                                       \
		log_msg(LOG_INFO, (s)->id, "event=refuse code=%d enh=%s reason=%s", code_, \
			enh_, reason_get(why_)->code);                                   \
	} while (0)

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
	REFUSE(s, 421, "4.7.0", R_TOO_MANY_ERRORS, "%s Error: too many errors, closing",
	       s->cfg->hostname);
	close_after_flush(s);
	return true;
}

static void set_timeout(struct smtp_session *s, uint64_t secs)
{
	struct timeval tv = { (time_t)secs, 0 };
	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

/* ---- statistics ------------------------------------------------------ */

static void agg_discard(struct smtp_session *s)
{
	for (size_t i = 0; i < s->nagg; i++)
		store_record_free(s->agg[i]);
	s->nagg = 0;
}

/* Builds the DMARC aggregate rows of the message (before auth results may be freed). */
static void agg_collect(struct smtp_session *s, const struct verdict *v)
{
	agg_discard(s);
	if (!s->srv->store_writer || !s->cfg->dmarc_aggregate || !s->auth)
		return;
	struct dmarc_agg_facts f = {
		.auth = s->auth,
		.source_ip = s->ip,
		.mail_from = s->mail_from,
		.override = v->dmarc_override,
		.override_comment = v->dmarc_override_comment,
		.now = time(NULL),
	};
	s->nagg = dmarc_agg_records(&f, s->agg, DMARC_FROM_DOMAINS_MAX);
}

/* The message got its final answer (250 stored, or 5xx): hand the rows to the store. */
static void agg_submit(struct smtp_session *s)
{
	for (size_t i = 0; i < s->nagg; i++)
		if (store_writer_submit(s->srv->store_writer, s->agg[i]) < 0) {
			struct store_writer_stats st;
			store_writer_stats(s->srv->store_writer, &st);
			log_msg(LOG_WARN, s->id, "event=store_queue_full msgid=%s record=dmarc "
				"dropped_total=%llu", s->msgid, st.dropped);
		}
	s->nagg = 0; /* the writer owns them now */
}

/* ---- transaction ----------------------------------------------------- */

static void reset_transaction(struct smtp_session *s)
{
	agg_discard(s);
	arena_reset(&s->ta);
	s->mail_from = NULL;
	s->smtputf8 = false;
	s->spf_checked = s->senderid_checked = false;
	s->spf_domain = s->spf_received = s->spf_authres = NULL;
	s->senderid_authres = s->pra = NULL;
	auth_dns_free(s->auth_run);
	auth_check_free(s->auth);
	s->auth_run = NULL;
	s->auth = NULL;
	s->rcpts = NULL;
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

/* ---- SPF at MAIL FROM, Sender ID after DATA -------------------------- */

static void mail_spf_done(void *arg, struct spf_eval *e);
static void data_senderid_done(void *arg, struct spf_eval *e);

/*
 * Starts SPF (sender_id false: MAIL FROM or HELO identity) or Sender ID (PRA of
 * the message). Returns false when nothing was started (then go on at once).
 */
static bool spf_begin(struct smtp_session *s, bool sender_id)
{
	struct spf_request req = {
		.ip = s->ip,
		.helo = s->helo,
		.sender = s->mail_from,
		.receiver = s->cfg->hostname,
		.identity = SPF_ID_MAILFROM,
	};
	if (sender_id) {
		req.sender = s->pra;
		req.identity = SPF_ID_PRA;
		req.sender_id = true;
	}
	s->spf = spf_start(s->set->dns, &req, sender_id ? data_senderid_done : mail_spf_done, s);
	if (!s->spf)
		return false;
	s->st = S_AUTH;
	bufferevent_disable(s->bev, EV_READ);
	return true;
}

/* Back from S_AUTH: read commands again. */
static void resume_input(struct smtp_session *s)
{
	set_timeout(s, s->cfg->smtp_command_timeout);
	bufferevent_enable(s->bev, EV_READ);
	process_input(s);
}

/* Keeps the result text of a finished evaluation in the transaction arena. */
static char *spf_text(struct smtp_session *s, struct spf_eval *e, bool received)
{
	struct buf b = { 0 };
	int rc = received ? spf_received_header(&b, e) : spf_auth_results(&b, e);
	char *t = rc == 0 ? arena_strndup(&s->ta, b.p ? b.p : "", b.len) : NULL;
	buf_free(&b);
	return t;
}

static void mail_spf_done(void *arg, struct spf_eval *e)
{
	struct smtp_session *s = arg;
	s->spf = NULL;
	if (s->st != S_AUTH) { /* closing: the answer is of no use any more */
		spf_free(e);
		return;
	}
	enum spf_result r = spf_result(e);
	s->spf_checked = true;
	s->spf_result = r;
	s->spf_domain = arena_strdup(&s->ta, spf_domain(e));
	s->spf_received = spf_text(s, e, true);
	s->spf_authres = spf_text(s, e, false);
	log_msg(LOG_INFO, s->id, "event=spf result=%s identity=%s domain=%s mechanism=\"%s\" "
		"problem=\"%s\" dns_terms=%u", spf_result_name(r), spf_identity_name(spf_identity(e)),
		spf_domain(e), spf_mechanism(e), spf_problem(e), spf_dns_terms(e));
	s->st = S_MAIL;
	bool refused = true;
	if (r == SPF_FAIL && s->cfg->spf_fail == SPF_ACTION_REJECT) {
		const char *exp = spf_explanation(e);
		REFUSE(s, 550, "5.7.23", R_SPF_FAIL,
		       "SPF: %s does not designate %s as permitted sender for <%s>%s%s%s",
		       spf_domain(e), s->ip, spf_sender(e), exp ? "\nThe domain explains: \"" : "",
		       exp ? exp : "", exp ? "\"" : "");
	} else if (r == SPF_TEMPERROR && s->cfg->spf_temperror == SPF_TEMP_TEMPFAIL) {
		REFUSE(s, 451, "4.4.3", R_SPF_TEMPERROR,
		       "SPF: temporary DNS failure checking %s, try again later", spf_domain(e));
	} else if (r == SPF_PERMERROR && s->cfg->spf_permerror == SPF_ACTION_REJECT) {
		REFUSE(s, 550, "5.7.24", R_SPF_PERMERROR, "SPF: the record of %s is broken: %s",
		       spf_domain(e), spf_problem(e));
	} else {
		refused = false;
		REPLY(s, 250, "2.1.0", "Sender <%s> OK", s->mail_from);
	}
	spf_free(e);
	if (refused)
		reset_transaction(s);
	resume_input(s);
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
		REFUSE(s, 552, "5.3.4", R_MESSAGE_TOO_BIG,
		       "Message size %llu exceeds the limit of %llu octets",
		       (unsigned long long)c->size,
		       (unsigned long long)s->cfg->message_size_limit);
		client_error(s);
		return;
	}
	if (c->utf8 && !c->smtputf8) {
		REFUSE(s, 553, "5.6.7", R_UTF8_NOT_DECLARED,
		       "Non-ASCII sender address needs the SMTPUTF8 parameter");
		client_error(s);
		return;
	}
	s->mail_from = arena_strndup(&s->ta, c->path.p, c->path.len);
	s->smtputf8 = c->smtputf8;
	s->st = S_MAIL;
	if (s->cfg->spf_check && s->set->dns && s->mail_from && spf_begin(s, false))
		return; /* the reply comes from mail_spf_done() */
	REPLY(s, 250, "2.1.0", "Sender <%s> OK", s->mail_from);
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
		REFUSE(s, 553, "5.6.7", R_UTF8_NOT_DECLARED,
		       "Non-ASCII recipient address needs SMTPUTF8 on MAIL");
		client_error(s);
		return;
	}
	if (s->nrcpt >= s->cfg->smtp_max_recipients) {
		/* Not an error: the client sends the rest in the next transaction. */
		REFUSE(s, 452, "4.5.3", R_TOO_MANY_RECIPIENTS, "Error: too many recipients");
		return;
	}
	struct slice dom = c->domain;
	if (c->postmaster) {
		const char *cur = s->cfg->local_domains, *item;
		dom.len = config_list_next(&cur, &item);
		dom.p = item;
	}
	if (!config_is_local_domain(s->cfg, dom.p, dom.len)) {
		REFUSE(s, 550, "5.7.1", R_RELAY_DENIED, "<%.*s>: Relay access denied",
		       (int)c->path.len, c->path.p);
		client_error(s);
		return;
	}
	if (!recipients_has(s->set->rcpts, c->local.p, c->local.len, dom.p, dom.len)) {
		REFUSE(s, 550, "5.1.1", R_UNKNOWN_RECIPIENT,
		       "<%.*s>: Recipient address rejected: user unknown", (int)c->path.len,
		       c->path.p);
		client_error(s);
		return;
	}
	char *mailbox = maildir_mailbox_path(&s->ta, s->cfg->var_dir, c->local.p, c->local.len,
					     dom.p, dom.len);
	if (!mailbox) {
		REFUSE(s, 451, "4.3.0", R_LOCAL_ERROR, "Out of memory");
		return;
	}
	if (!rcpt_known(s, mailbox)) {
		if (s->nrcpt == s->rcpt_cap) {
			size_t cap = s->rcpt_cap ? s->rcpt_cap * 2 : 4;
			struct rcpt *n = arena_alloc(&s->ta, cap * sizeof(*n));
			if (!n) {
				REFUSE(s, 451, "4.3.0", R_LOCAL_ERROR, "Out of memory");
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
	if (job->rc == 0) {
		s->srv->messages++;
		agg_submit(s);
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
		REFUSE(s, 451, "4.3.0", R_LOCAL_ERROR,
		       "Error: local delivery failed, try again later");
	s->st = S_READY;
	reset_transaction(s);
	if (s->close_after_reply || s->srv->closing) {
		REFUSE(s, 421, "4.3.2", R_SHUTDOWN, "%s Service shutting down", s->cfg->hostname);
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
		REFUSE(s, 451, "4.3.0", R_LOCAL_ERROR, "Error: out of memory, try again later");
	else if (r->too_big)
		REFUSE(s, 552, "5.3.4", R_MESSAGE_TOO_BIG,
		       "Message exceeds the limit of %llu octets, nothing delivered",
		       (unsigned long long)s->cfg->message_size_limit);
	else if (r->bare_lf || r->bare_cr)
		REFUSE(s, 550, "5.6.0", R_BARE_NEWLINE,
		       "Message contains bare %s, nothing delivered; lines must end with CRLF",
		       r->bare_cr ? "CR" : "LF");
	else
		REFUSE(s, 500, "5.6.0", R_LINE_TOO_LONG,
		       "Message has a line longer than %d octets, nothing delivered",
		       SMTP_TEXT_LINE_MAX);
	s->st = S_READY;
	reset_transaction(s);
	set_timeout(s, s->cfg->smtp_command_timeout);
	client_error(s);
}

static void data_verdict(struct smtp_session *s);
static void data_auth(struct smtp_session *s);
static char *senderid_resinfo(struct smtp_session *s);

static void data_auth_done(void *arg, struct auth_check *a)
{
	struct smtp_session *s = arg;
	if (s->st != S_AUTH)
		return; /* closing: the results are of no use any more */
	const struct dmarc_eval *d = &a->dmarc;
	log_msg(LOG_INFO, s->id, "event=auth msgid=%s dkim_signatures=%zu arc=%s dmarc=%s from=%s "
		"reason=\"%s\"", s->msgid, a->dkim.nsig, arc_cv_name(a->arc.result),
		dmarc_result_name(d->result), d->n ? d->dom[d->worst].from : "",
		d->reason ? d->reason : "");
	data_verdict(s);
	if (s->st == S_READY)
		resume_input(s); /* refused by the verdict: read the next command */
}

/* DKIM, ARC and DMARC, when enabled: their lookups run in S_AUTH, then the verdict. */
static void data_auth(struct smtp_session *s)
{
	if (s->cfg->dkim_check && s->set->dns) {
		struct auth_params p = {
			.authserv_id = s->cfg->hostname,
			.now = time(NULL),
			.spf_result = s->spf_checked ? spf_result_name(s->spf_result) : NULL,
			.spf_domain = s->spf_domain,
			.spf_helo = s->spf_checked && !(s->mail_from && *s->mail_from),
			.senderid_resinfo = senderid_resinfo(s),
			.dmarc_roll = (unsigned)(random() % 100),
			.client_ip = s->ip,
		};
		s->auth = auth_check_new((struct slice){ s->msg.p ? s->msg.p : "", s->msg.len }, &p);
		if (s->auth)
			s->auth_run = auth_dns_start(s->srv->base, s->set->dns, s->auth,
						     data_auth_done, s);
		if (s->auth_run) {
			s->st = S_AUTH;
			bufferevent_disable(s->bev, EV_READ);
			return; /* data_auth_done() goes on */
		}
		auth_check_free(s->auth); /* out of memory: no results, not no mail */
		s->auth = NULL;
	}
	data_verdict(s);
}

static void data_senderid_done(void *arg, struct spf_eval *e)
{
	struct smtp_session *s = arg;
	s->spf = NULL;
	if (s->st != S_AUTH) {
		spf_free(e);
		return;
	}
	s->senderid_checked = true;
	s->senderid_result = spf_result(e);
	log_msg(LOG_INFO, s->id, "event=sender_id msgid=%s result=%s pra=%s", s->msgid,
		spf_result_name(spf_result(e)), s->pra ? s->pra : "");
	spf_free(e);
	data_auth(s);
	if (s->st == S_READY)
		resume_input(s); /* refused by the verdict: read the next command */
}

static void data_end(struct smtp_session *s)
{
	if (!smtp_data_ok(&s->dr)) {
		data_refused(s);
		return;
	}
	if (s->fcrdns) {
		/* the Received header names the client: wait for the lookup (bounded by DNS timeouts) */
		s->await_fcrdns = true;
		s->st = S_AUTH;
		bufferevent_disable(s->bev, EV_READ);
		return;
	}
	if (s->cfg->sender_id_check && s->set->dns) {
		struct pra pra;
		if (pra_select(s->msg.p ? s->msg.p : "", s->msg.len, &pra) < 0) {
			/* RFC 4407 2 step 6: no PRA; RFC 4406 makes that a permanent error */
			s->senderid_checked = true;
			s->senderid_result = SPF_PERMERROR;
		} else {
			s->pra = arena_strdup(&s->ta, pra.mailbox);
			char *h = arena_strdup(&s->ta, pra.header);
			for (char *p = h; p && *p; p++)
				*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
			s->senderid_authres = h;
			if (s->pra && h && spf_begin(s, true))
				return; /* data_senderid_done() goes on */
		}
	}
	data_auth(s);
}

/* The sender-id entry of Authentication-Results, in the transaction arena; NULL if unchecked. */
static char *senderid_resinfo(struct smtp_session *s)
{
	if (!s->senderid_checked)
		return NULL;
	if (s->pra && s->senderid_authres) {
		const char *at = strrchr(s->pra, '@');
		return arena_printf(&s->ta, "sender-id=%s header.%s=%s",
				    spf_result_name(s->senderid_result), s->senderid_authres,
				    at ? at + 1 : s->pra);
	}
	return arena_printf(&s->ta, "sender-id=%s (no purported responsible address)",
			    spf_result_name(s->senderid_result));
}

/* Appends Authentication-Results and Received-SPF for this transaction. */
static int auth_headers(struct smtp_session *s, struct buf *h)
{
	int rc = 0;
	if (s->auth) {
		rc = auth_check_results(s->auth, h); /* spf and sender-id included */
	} else if (s->spf_checked || s->senderid_checked) {
		rc = buf_printf(h, "Authentication-Results: %s", s->cfg->hostname);
		if (rc == 0 && s->spf_checked && s->spf_authres)
			rc = buf_printf(h, ";\r\n\t%s", s->spf_authres);
		char *sid = senderid_resinfo(s);
		if (rc == 0 && sid)
			rc = buf_printf(h, ";\r\n\t%s", sid);
		if (rc == 0)
			rc = buf_append_str(h, "\r\n");
	}
	if (rc == 0 && s->spf_checked && s->spf_received)
		rc = buf_append_str(h, s->spf_received);
	return rc;
}

/* The DKIM/ARC/DMARC facts of the transaction for the verdict engine. */
static void auth_facts(struct smtp_session *s, struct verdict_facts *f)
{
	const struct auth_check *a = s->auth;
	if (!a || !a->header_ok)
		return;
	enum dkim_result best = DKIM_NONE;
	static const int rank[] = { [DKIM_NONE] = 0, [DKIM_PERMERROR] = 1, [DKIM_NEUTRAL] = 2,
				    [DKIM_POLICY] = 2, [DKIM_TEMPERROR] = 3, [DKIM_FAIL] = 4,
				    [DKIM_PASS] = 5 };
	for (size_t i = 0; i < a->dkim.nsig; i++) {
		const struct dkim_sig *g = &a->dkim.sig[i];
		if (rank[g->result] > rank[best])
			best = g->result;
		if (g->result == DKIM_PASS && !f->dkim_domain)
			f->dkim_domain = g->d;
	}
	f->dkim = dkim_result_name(best);
	f->arc = arc_cv_name(a->arc.result);
	if (a->arc.result != ARC_CV_NONE && a->arc.n)
		f->arc_sealer = a->arc.set[a->arc.n - 1].as_sig.d;
	const struct dmarc_eval *d = &a->dmarc;
	f->dmarc = dmarc_result_name(d->result);
	if (d->n) {
		f->dmarc_from = d->dom[d->worst].from;
		if (d->result == DMARC_FAIL)
			f->dmarc_disposition = dmarc_policy_name(d->dom[d->worst].disposition);
	}
}

static void data_verdict(struct smtp_session *s)
{
	const char **addrs = arena_alloc(&s->ta, s->nrcpt * sizeof(*addrs));
	const char **mailboxes = arena_alloc(&s->ta, s->nrcpt * sizeof(*mailboxes));
	bool *junk = arena_alloc(&s->ta, s->nrcpt * sizeof(*junk));
	if (!addrs || !mailboxes || !junk) {
		s->dr.oom = true;
		data_refused(s);
		return;
	}
	for (size_t i = 0; i < s->nrcpt; i++) {
		addrs[i] = s->rcpts[i].addr;
		mailboxes[i] = s->rcpts[i].mailbox;
	}
	struct verdict_facts facts = {
		.client_ip = s->ip,
		.client_rdns = s->rdns,
		.helo = s->helo,
		.mail_from = s->mail_from,
		.rcpts = addrs,
		.nrcpts = s->nrcpt,
		.tls = s->tls,
		.spf = s->spf_checked ? spf_result_name(s->spf_result) : NULL,
		.spf_domain = s->spf_domain,
		.sender_id = s->senderid_checked ? spf_result_name(s->senderid_result) : NULL,
		.pra = s->pra,
		.message = { s->msg.p ? s->msg.p : "", s->msg.len },
	};
	auth_facts(s, &facts);
	struct content_result content;
	if (s->set->content &&
	    content_filter_classify(s->set->content, facts.message.p, facts.message.len,
				    &content) == 0)
		facts.content = &content;
	struct verdict v;
	verdict_decide(s->cfg, &facts, &v);
	agg_collect(s, &v);
	log_msg(LOG_INFO, s->id, "event=verdict msgid=%s verdict=%s reason=%s scl=%d", s->msgid,
		verdict_action_name(v.action), reason_get(v.reason)->code,
		facts.content ? content.scl : -1);
	if (v.action == VERDICT_REJECT || v.action == VERDICT_TEMPFAIL) {
		REFUSE(s, v.code, v.enh, v.reason, "Message refused: %s",
		       v.detail[0] ? v.detail : reason_get(v.reason)->title);
		if (v.action == VERDICT_REJECT)
			agg_submit(s); /* refused for good: exactly what the domain wants reported */
		verdict_free(&v);
		s->st = S_READY;
		reset_transaction(s);
		set_timeout(s, s->cfg->smtp_command_timeout);
		return;
	}
	struct received_info ri = {
		.helo = s->helo,
		.rdns = s->rdns,
		.ip = s->ip,
		.hostname = s->cfg->hostname,
		.esmtp = s->esmtp,
		.smtputf8 = s->smtputf8,
		.tls_version = s->tls_version,
		.tls_cipher = s->tls_cipher,
		.id = s->msgid,
		.rcpt = s->nrcpt == 1 ? s->rcpts[0].addr : NULL,
		.when = time(NULL),
	};
	buf_reset(&s->hdr);
	int rc = buf_printf(&s->hdr, "Return-Path: <%s>\r\nX-Mxscreen-Id: %s\r\n", s->mail_from,
			    s->msgid);
	if (rc == 0 && v.headers.len)
		rc = buf_append(&s->hdr, v.headers.p, v.headers.len);
	if (rc == 0)
		rc = auth_headers(s, &s->hdr);
	if (rc == 0)
		rc = received_header(&s->hdr, &ri);
	for (size_t i = 0; i < s->nrcpt; i++)
		junk[i] = v.action == VERDICT_JUNK;
	verdict_free(&v);
	if (rc < 0) {
		s->dr.oom = true;
		data_refused(s);
		return;
	}
	/* RFC 8601 5: results that claim to be ours but come from outside are forged. */
	struct buf clean = { 0 };
	int forged = auth_strip_own_results((struct slice){ s->msg.p ? s->msg.p : "", s->msg.len },
					    s->cfg->hostname, &clean);
	if (forged > 0) {
		log_msg(LOG_INFO, s->id, "event=forged_authres msgid=%s removed=%d", s->msgid, forged);
		auth_dns_free(s->auth_run); /* both point into the message being replaced */
		auth_check_free(s->auth);
		s->auth_run = NULL;
		s->auth = NULL;
		buf_free(&s->msg);
		s->msg = clean;
	} else {
		buf_free(&clean);
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
	while (s->st != S_CLOSING && s->st != S_DELIVERING && s->st != S_AUTH && !s->dead) {
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
					REFUSE(s, 500, "5.5.2", R_LINE_TOO_LONG,
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
			REFUSE(s, 500, "5.5.2", R_LINE_TOO_LONG, "Error: line too long");
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
	process_input(arg);
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
		log_msg(LOG_INFO, s->id, "event=timeout state=%d", s->st);
		bufferevent_enable(s->bev, EV_WRITE);
		REFUSE(s, 421, "4.4.2", R_TIMEOUT, "%s Error: timeout exceeded", s->cfg->hostname);
		close_after_flush(s);
		return;
	}
	/* EOF or error: the client is gone. */
	if (what & BEV_EVENT_ERROR)
		log_msg(LOG_INFO, s->id, "event=io_error state=%d error=\"%s\"", s->st,
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
	REFUSE(s, 421, "4.4.2", R_SESSION_LIMIT, "%s Error: session time limit exceeded",
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
	agg_discard(s);
	spf_free(s->spf);
	auth_dns_free(s->auth_run);
	auth_check_free(s->auth);
	fcrdns_free(s->fcrdns);
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

static void on_fcrdns(void *arg, const char *name)
{
	struct smtp_session *s = arg;
	if (name)
		s->rdns = arena_strdup(&s->sa, name);
	fcrdns_free(s->fcrdns);
	s->fcrdns = NULL;
	log_msg(LOG_DEBUG, s->id, "event=fcrdns ip=%s name=%s", s->ip, name ? name : "unknown");
	if (s->await_fcrdns) {
		s->await_fcrdns = false;
		if (s->st != S_AUTH)
			return;
		data_end(s);
		if (s->st == S_READY)
			resume_input(s);
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
	REPLY(s, 220, NULL, "%s ESMTP mxscreen", cfg->hostname);
	if (s->set->dns)
		s->fcrdns = fcrdns_start(s->set->dns, s->ip, on_fcrdns, s);
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
	REFUSE(s, 421, "4.3.2", R_SHUTDOWN, "%s Service shutting down", s->cfg->hostname);
	close_after_flush(s);
}

/* ---- for the control socket (`mxscreen sessions`) -------------------------- */

static const char *const sstate_names[] = {
	[S_HELO] = "helo", [S_READY] = "ready", [S_MAIL] = "mail", [S_RCPT] = "rcpt",
	[S_DATA] = "data", [S_AUTH] = "auth", [S_DELIVERING] = "delivering",
	[S_CLOSING] = "closing",
};

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
		const char *st = (size_t)s->st < sizeof(sstate_names) / sizeof(sstate_names[0]) &&
						 sstate_names[s->st]
					 ? sstate_names[s->st]
					 : "?";
		struct smtp_session_info info = {
			.id = s->id, .ip = s->ip, .state = st, .helo = s->helo, .rdns = s->rdns,
			.tls = s->tls, .transactions = s->ntx, .age = age < 0 ? 0 : age,
		};
		fn(arg, &info);
	}
}
