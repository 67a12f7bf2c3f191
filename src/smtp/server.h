/*
 * server.h - the SMTP server: listeners, sessions, limits, reload, drain.
 *
 * One libevent loop owns every socket. A struct smtp_settings bundles what a
 * (re)load produces (config, TLS context, recipient table); each session keeps
 * a reference to the settings it started with, so SIGHUP never disturbs a
 * running session. Sessions are in a list for connection limits and shutdown.
 */
#ifndef MX_SMTP_SERVER_H
#define MX_SMTP_SERVER_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <time.h>

struct event_base;
struct evconnlistener;
struct delivery_pool;
struct dns;
struct smtp_session;
struct config;
struct recipients;
struct content_filter;
struct dnsbl_zones;
struct store;
struct store_writer;
struct reputation;

struct smtp_settings {
	int refs;
	struct config *cfg;
	SSL_CTX *tls;             /* NULL: STARTTLS not offered */
	struct recipients *rcpts;
	struct content_filter *content; /* NULL when content_filter = no */
	struct dnsbl_zones *dnsbl, *dnswl; /* NULL when none are configured */
	struct dns *dns;          /* resolver for SPF, Sender ID, DKIM and FCrDNS: set by
				     smtp_server_start/_reload, shared while dns_* stay equal */
};

/* Builds settings from a finished config; NULL with err set. */
struct smtp_settings *smtp_settings_new(struct config *cfg, char *err, size_t errlen);
struct smtp_settings *smtp_settings_ref(struct smtp_settings *s);
void smtp_settings_unref(struct smtp_settings *s);

#define SMTP_LISTENERS_MAX 16

struct smtp_server {
	struct event_base *base;
	struct smtp_settings *settings;
	struct evconnlistener *listeners[SMTP_LISTENERS_MAX];
	size_t nlisteners;
	struct delivery_pool *pool;
	struct store *store;      /* owned by store_writer's thread while it runs */
	struct store_writer *store_writer; /* NULL: nothing is recorded */
	struct reputation *rep;   /* reputation, limits, lists (loaded with the store) */
	struct smtp_session *sessions;
	size_t nsessions;
	bool draining;            /* SIGTERM: no new sessions */
	bool closing;             /* drain deadline passed: close sessions */
	unsigned long long accepted, refused, messages;
	time_t started;           /* smtp_server_start, for `mxscreen status` */
};

int smtp_server_start(struct smtp_server *srv, struct event_base *base,
		      struct smtp_settings *settings, const int *fds, size_t nfds);
/* Opens the store (store_path), loads the reputation state from it and starts
 * its writer thread; after privileges are dropped, so the file belongs to
 * run_user. 0, or -1 with err set. */
int smtp_server_open_store(struct smtp_server *srv, char *err, size_t errlen);
/* Installs new settings for sessions that start from now on (it takes the
 * reference). The resolver is kept when the dns_* settings are unchanged, else
 * a new one serves the new generation. -1 (settings released, old ones kept,
 * err set) when that resolver cannot be made. */
int smtp_server_reload(struct smtp_server *srv, struct smtp_settings *settings, char *err,
		       size_t errlen);
/* Stops accepting; sessions go on. */
void smtp_server_drain(struct smtp_server *srv);
/* Sends 421 to every session not in the middle of a delivery and closes it. */
void smtp_server_close_sessions(struct smtp_server *srv);
/* True when no session and no delivery is left. */
bool smtp_server_idle(const struct smtp_server *srv);
/* Also writes every queued store record before it returns (SIGTERM drain). */
void smtp_server_free(struct smtp_server *srv);

/* session.c */
void smtp_session_accept(struct smtp_server *srv, int fd, const struct sockaddr *sa, int salen);
void smtp_session_shutdown(struct smtp_session *s);

/* One session as `mxscreen sessions` shows it; the strings are borrowed for the call. */
struct smtp_session_info {
	const char *id, *ip, *state;
	const char *helo; /* NULL before EHLO/HELO */
	const char *rdns; /* forward-confirmed client name, or NULL */
	bool tls;
	unsigned transactions; /* DATA commands accepted so far */
	double age;            /* seconds since connect */
};
void smtp_server_each_session(const struct smtp_server *srv,
			      void (*fn)(void *arg, const struct smtp_session_info *info),
			      void *arg);

/* server_control.c: the `status`, `sessions` and `ip` commands of the control socket. */
struct control;
int smtp_server_control_register(struct smtp_server *srv, struct control *c);

#endif
