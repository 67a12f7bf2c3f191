/*
 * server.c - listeners, settings generations and server-wide state; see server.h.
 */
#include "smtp/server.h"
#include "reputation/dnsbl.h"
#include "reputation/rep.h"
#include "content/classify.h"
#include "core/config.h"
#include "core/log.h"
#include "deliver/pool.h"
#include "deliver/recipients.h"
#include "net/dns.h"
#include "net/tls.h"
#include "store/store.h"
#include "store/writer.h"

#include <event2/event.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct smtp_settings *smtp_settings_new(struct config *cfg, char *err, size_t errlen)
{
	struct smtp_settings *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->refs = 1;
	s->rcpts = recipients_load(cfg->recipients, err, errlen);
	if (!s->rcpts) {
		free(s);
		return NULL;
	}
	s->tls = tls_server_ctx(cfg, err, errlen);
	if (!s->tls) {
		recipients_free(s->rcpts);
		free(s);
		return NULL;
	}
	if (cfg->content_filter) {
		char sub[512];
		s->content = content_filter_new(cfg->content_model, sub, sizeof(sub));
		if (!s->content) {
			snprintf(err, errlen, "content_model: %s (content_filter = no runs without it)",
				 sub);
			SSL_CTX_free(s->tls);
			recipients_free(s->rcpts);
			free(s);
			return NULL;
		}
		log_msg(LOG_INFO, NULL, "event=content_model path=%s",
			content_filter_path(s->content));
	}
	/* DNS lists: parsed once per settings generation (config_finish checked the syntax). */
	if (*cfg->dnsbl_zones)
		s->dnsbl = dnsbl_zones_parse(cfg->dnsbl_zones, false, err, errlen);
	if (*cfg->dnswl_zones)
		s->dnswl = dnsbl_zones_parse(cfg->dnswl_zones, true, err, errlen);
	if ((*cfg->dnsbl_zones && !s->dnsbl) || (*cfg->dnswl_zones && !s->dnswl)) {
		dnsbl_zones_unref(s->dnsbl);
		dnsbl_zones_unref(s->dnswl);
		content_filter_free(s->content);
		SSL_CTX_free(s->tls);
		recipients_free(s->rcpts);
		free(s);
		return NULL;
	}
	s->cfg = config_ref(cfg);
	return s;
}

struct smtp_settings *smtp_settings_ref(struct smtp_settings *s)
{
	s->refs++; /* loop thread only */
	return s;
}

void smtp_settings_unref(struct smtp_settings *s)
{
	if (!s || --s->refs > 0)
		return;
	SSL_CTX_free(s->tls);
	recipients_free(s->rcpts);
	content_filter_free(s->content);
	dnsbl_zones_unref(s->dnsbl);
	dnsbl_zones_unref(s->dnswl);
	dns_free(s->dns);
	config_unref(s->cfg);
	free(s);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	(void)l;
	smtp_session_accept(arg, fd, sa, salen);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	(void)l;
	(void)arg;
	/* EMFILE and friends: log and go on; libevent retries on the next event. */
	log_msg(LOG_WARN, NULL, "event=accept_error error=%d", EVUTIL_SOCKET_ERROR());
}

/* Gives settings a resolver: prev's when the dns_* settings did not change. */
static int attach_dns(struct smtp_settings *set, struct event_base *base, struct dns *prev,
		      char *err, size_t errlen)
{
	struct dns_options o;
	dns_options_from_config(&o, set->cfg);
	if (prev && dns_options_equal(&o, dns_options(prev))) {
		set->dns = dns_ref(prev);
		return 0;
	}
	set->dns = dns_new(base, &o, err, errlen);
	return set->dns ? 0 : -1;
}

int smtp_server_start(struct smtp_server *srv, struct event_base *base,
		      struct smtp_settings *settings, const int *fds, size_t nfds)
{
	memset(srv, 0, sizeof(*srv));
	srv->base = base;
	srv->settings = settings;
	srv->started = time(NULL);
	srv->pool = delivery_pool_new(base, settings->cfg->delivery_threads);
	if (!srv->pool)
		return -1;
	char err[256];
	if (attach_dns(settings, base, NULL, err, sizeof(err)) < 0) {
		log_msg(LOG_ERR, NULL, "event=dns_init_failed error=\"%s\"", err);
		return -1;
	}
	for (size_t i = 0; i < nfds && i < SMTP_LISTENERS_MAX; i++) {
		struct evconnlistener *l =
			evconnlistener_new(base, on_accept, srv, LEV_OPT_CLOSE_ON_FREE, -1, fds[i]);
		if (!l)
			return -1;
		evconnlistener_set_error_cb(l, on_accept_error);
		srv->listeners[srv->nlisteners++] = l;
	}
	return 0;
}

int smtp_server_open_store(struct smtp_server *srv, char *err, size_t errlen)
{
	const struct config *cfg = srv->settings->cfg;
	char path[4096], sub[768];
	if (store_path(cfg, path, sizeof(path)) < 0) {
		snprintf(err, errlen, "store_path: too long");
		return -1;
	}
	srv->store = store_open(path, false, sub, sizeof(sub));
	if (!srv->store) {
		snprintf(err, errlen, "store: %s", sub);
		return -1;
	}
	srv->rep = rep_new(cfg, srv->store, sub, sizeof(sub));
	if (!srv->rep) {
		snprintf(err, errlen, "store: %s", sub);
		store_close(srv->store);
		srv->store = NULL;
		return -1;
	}
	struct store_writer_options o = {
		.queue_max = cfg->store_queue_max,
		.batch_max = cfg->store_batch_max,
		.flush_ms = (unsigned)cfg->store_flush_ms,
	};
	srv->store_writer = store_writer_start(srv->store, &o, sub, sizeof(sub));
	if (!srv->store_writer) {
		snprintf(err, errlen, "store: %s", sub);
		rep_free(srv->rep);
		srv->rep = NULL;
		store_close(srv->store);
		srv->store = NULL;
		return -1;
	}
	rep_attach(srv->rep, srv->base, srv->store_writer, path);
	log_msg(LOG_INFO, NULL, "event=store_open path=%s schema=%d queue_max=%zu batch_max=%zu "
		"flush_ms=%u", path, store_schema_version(srv->store), o.queue_max, o.batch_max,
		o.flush_ms);
	return 0;
}

int smtp_server_reload(struct smtp_server *srv, struct smtp_settings *settings, char *err,
		       size_t errlen)
{
	struct dns *prev = srv->settings->dns;
	if (attach_dns(settings, srv->base, prev, err, errlen) < 0) {
		smtp_settings_unref(settings);
		return -1;
	}
	if (settings->dns != prev)
		log_msg(LOG_INFO, NULL, "event=dns_reconfigured servers=\"%s\"",
			dns_options(settings->dns)->servers);
	if (srv->rep && rep_reconfigure(srv->rep, settings->cfg, err, errlen) < 0) {
		smtp_settings_unref(settings);
		return -1;
	}
	smtp_settings_unref(srv->settings);
	srv->settings = settings;
	return 0;
}

void smtp_server_drain(struct smtp_server *srv)
{
	srv->draining = true;
	for (size_t i = 0; i < srv->nlisteners; i++) {
		evconnlistener_free(srv->listeners[i]);
		srv->listeners[i] = NULL;
	}
	srv->nlisteners = 0;
}

bool smtp_server_idle(const struct smtp_server *srv)
{
	return srv->nsessions == 0 && (!srv->pool || delivery_pool_pending(srv->pool) == 0);
}

void smtp_server_free(struct smtp_server *srv)
{
	smtp_server_drain(srv);
	delivery_pool_free(srv->pool);
	srv->pool = NULL;
	rep_free(srv->rep); /* queues its last statistics and snapshots */
	srv->rep = NULL;
	if (srv->store_writer) {
		struct store_writer_stats st;
		store_writer_stop(srv->store_writer, &st);
		log_msg(LOG_INFO, NULL, "event=store_close written=%llu batches=%llu dropped=%llu "
			"failed=%llu", st.written, st.batches, st.dropped, st.failed);
		srv->store_writer = NULL;
	}
	store_close(srv->store);
	srv->store = NULL;
	smtp_settings_unref(srv->settings);
	srv->settings = NULL;
}
