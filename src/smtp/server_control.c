/*
 * server_control.c - the server's own commands on the control socket:
 * `status` (counters, store writer, model), `sessions` (one object per open
 * session) and `ip` (handed to the reputation module, rep_control()). They
 * run on the loop thread.
 * Not here: `reload` (cli/cmd_serve.c: it needs the command line's -c/-o).
 */
#include "content/classify.h"
#include "core/config.h"
#include "deliver/pool.h"
#include "net/control.h"
#include "smtp/server.h"
#include "reputation/rep.h"
#include "store/writer.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#ifndef MXSCREEN_VERSION
#define MXSCREEN_VERSION "0.0.0"
#endif

static json_t *store_stats(struct smtp_server *srv)
{
	if (!srv->store_writer)
		return json_null();
	struct store_writer_stats st;
	store_writer_stats(srv->store_writer, &st);
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "submitted", (json_int_t)st.submitted,
			 "written", (json_int_t)st.written, "batches", (json_int_t)st.batches,
			 "dropped", (json_int_t)st.dropped, "failed", (json_int_t)st.failed,
			 "queued", (json_int_t)st.queued);
}

static json_t *cmd_status(void *arg, const char *const *args, size_t nargs, char *err,
			  size_t errlen)
{
	(void)args;
	struct smtp_server *srv = arg;
	if (nargs) {
		snprintf(err, errlen, "usage: status (no arguments)");
		return NULL;
	}
	const struct config *cfg = srv->settings->cfg;
	const struct content_filter *cf = srv->settings->content;
	time_t now = time(NULL);
	char started[32];
	struct tm tm;
	strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&srv->started, &tm));
	json_t *o = json_pack(
		"{s:I,s:s,s:s,s:I,s:s,s:s,s:s,s:b,s:I,s:{s:I,s:I},s:I,s:I,s:o,s:o}", "pid",
		(json_int_t)getpid(), "version", MXSCREEN_VERSION, "started",
		started, "uptime_s",
		(json_int_t)(now > srv->started ? now - srv->started : 0), "hostname",
		cfg->hostname, "listen", cfg->smtp_listen, "var_dir", cfg->var_dir, "draining",
		srv->draining, "sessions", (json_int_t)srv->nsessions, "connections", "accepted",
		(json_int_t)srv->accepted, "refused", (json_int_t)srv->refused,
		"messages_delivered", (json_int_t)srv->messages, "deliveries_pending",
		(json_int_t)(srv->pool ? delivery_pool_pending(srv->pool) : 0), "store",
		store_stats(srv), "content_model",
		cf ? json_string(content_filter_path(cf)) : json_null());
	if (!o)
		snprintf(err, errlen, "out of memory");
	return o;
}

static void add_session(void *arg, const struct smtp_session_info *i)
{
	json_t *s = json_pack("{s:s,s:s,s:s,s:f,s:s?,s:s?,s:b,s:i}", "id", i->id, "ip", i->ip,
			      "state", i->state, "age_s", (double)(long long)(i->age * 10) / 10,
			      "helo", i->helo, "rdns", i->rdns, "tls", i->tls, "transactions",
			      (int)i->transactions);
	if (s)
		json_array_append_new(arg, s);
}

static json_t *cmd_sessions(void *arg, const char *const *args, size_t nargs, char *err,
			    size_t errlen)
{
	(void)args;
	struct smtp_server *srv = arg;
	if (nargs) {
		snprintf(err, errlen, "usage: sessions (no arguments)");
		return NULL;
	}
	json_t *list = json_array();
	if (!list) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	smtp_server_each_session(srv, add_session, list);
	return json_pack("{s:I,s:o}", "count", (json_int_t)srv->nsessions, "sessions", list);
}

/* `mxscreen ip show|allow|block|unblock|list`: the reputation module answers. */
static json_t *cmd_ip(void *arg, const char *const *args, size_t nargs, char *err,
		      size_t errlen)
{
	struct smtp_server *srv = arg;
	if (!srv->rep) {
		snprintf(err, errlen, "reputation is not loaded yet");
		return NULL;
	}
	return rep_control(srv->rep, args, nargs, err, errlen);
}

int smtp_server_control_register(struct smtp_server *srv, struct control *c)
{
	if (control_register(c, "status", cmd_status, srv) < 0 ||
	    control_register(c, "sessions", cmd_sessions, srv) < 0 ||
	    control_register(c, "ip", cmd_ip, srv) < 0)
		return -1;
	return 0;
}
