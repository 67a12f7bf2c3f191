/*
 * cmd_serve.c - `mxscreen serve`: run the MX.
 *
 * Start-up order: config, lock var_dir (one server per state directory),
 * clean Maildir tmp/ leftovers of a crash, bind listeners, TLS, drop
 * privileges (run_user), then the event loop. SIGHUP reloads the config file,
 * certificates and recipient table for new sessions (listeners stay as they
 * are); so does `mxscreen reload` through the control socket, which is
 * opened after the privileges are dropped (it belongs to run_user) and also
 * answers `status` and `sessions`. SIGTERM/SIGINT stop accepting, let sessions
 * finish for shutdown_timeout, then send 421 to the rest; a delivery in
 * progress always completes before exit.
 */
#include "cli/cli.h"
#include "core/config.h"
#include "core/log.h"
#include "deliver/maildir.h"
#include "net/control.h"
#include "net/listen.h"
#include "smtp/server.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

struct serve {
	struct cli_ctx *cli;
	struct event_base *base;
	struct smtp_server srv;
	struct control *control;
	char *listen_spec;
	struct event *sig_term, *sig_int, *sig_hup, *drain_tick, *drain_deadline;
};

static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int lock_var_dir(const char *var_dir, char *err, size_t errlen)
{
	if (mkdir(var_dir, 0755) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "var_dir %s: %s", var_dir, strerror(errno));
		return -1;
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/mxscreen.lock", var_dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "%.900s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(err, errlen, "%.900s: another mxscreen serves this var_dir", path);
		close(fd);
		return -1;
	}
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || write(fd, pid, (size_t)n) != n) {
		snprintf(err, errlen, "%.900s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd; /* kept open for the life of the process */
}

static int drop_privileges(const char *user, char *err, size_t errlen)
{
	if (!*user || geteuid() != 0)
		return 0;
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		snprintf(err, errlen, "run_user: no such user '%s'", user);
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		snprintf(err, errlen, "run_user %s: %s", user, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		snprintf(err, errlen, "run_user %s: could regain root", user);
		return -1;
	}
	return 0;
}

static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct serve *sv = arg;
	if (smtp_server_idle(&sv->srv))
		event_base_loopexit(sv->base, NULL);
}

static void on_drain_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct serve *sv = arg;
	log_msg(LOG_INFO, NULL, "event=shutdown_deadline sessions=%zu", sv->srv.nsessions);
	smtp_server_close_sessions(&sv->srv);
}

static void on_term(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct serve *sv = arg;
	if (sv->srv.draining) {
		return;
	}
	log_msg(LOG_INFO, NULL, "event=shutdown signal=%d sessions=%zu", (int)sig,
		sv->srv.nsessions);
	smtp_server_drain(&sv->srv);
	const struct config *cfg = sv->srv.settings->cfg;
	sv->drain_tick = event_new(sv->base, -1, EV_PERSIST, on_drain_tick, sv);
	sv->drain_deadline = evtimer_new(sv->base, on_drain_deadline, sv);
	event_add(sv->drain_tick, &(struct timeval){ 0, 50000 });
	event_add(sv->drain_deadline, &(struct timeval){ (time_t)cfg->shutdown_timeout, 0 });
}

/* Reloads the config file, certificates and recipient table for new sessions
 * (SIGHUP and `mxscreen reload`). 0, or -1 with err set and the old config kept. */
static int serve_reload(struct serve *sv, char *err, size_t errlen)
{
	struct config *c = cli_load_config(sv->cli, err, errlen);
	struct smtp_settings *set = c ? smtp_settings_new(c, err, errlen) : NULL;
	if (!set) {
		log_msg(LOG_ERR, NULL, "event=reload_failed error=\"%s\" note=keeping_old_config",
			err);
		config_unref(c);
		return -1;
	}
	enum log_level level = (enum log_level)c->log_level;
	bool rebind = strcmp(c->smtp_listen, sv->listen_spec) != 0;
	config_unref(c);
	if (smtp_server_reload(&sv->srv, set, err, errlen) < 0) {
		log_msg(LOG_ERR, NULL, "event=reload_failed error=\"%s\" note=keeping_old_config",
			err);
		return -1;
	}
	if (rebind)
		log_msg(LOG_WARN, NULL, "event=reload_listen_unchanged note=restart_to_rebind");
	log_set_level(level);
	log_msg(LOG_INFO, NULL, "event=reload ok=1");
	return 0;
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig, (void)what;
	char err[1024];
	serve_reload(arg, err, sizeof(err));
}

static json_t *ctl_reload(void *arg, const char *const *args, size_t nargs, char *err,
			  size_t errlen)
{
	(void)args;
	struct serve *sv = arg;
	if (nargs) {
		snprintf(err, errlen, "usage: reload (no arguments)");
		return NULL;
	}
	if (serve_reload(sv, err, errlen) < 0)
		return NULL;
	const struct config *cfg = sv->srv.settings->cfg;
	bool rebind = strcmp(cfg->smtp_listen, sv->listen_spec) != 0;
	return json_pack("{s:b,s:s}", "reloaded", 1, "note",
			 rebind ? "smtp_listen changed: restart to rebind the listeners"
				: "new sessions use the new configuration");
}

/* The control socket, if control_socket is set; after the privileges are dropped. */
static int serve_control(struct serve *sv, const struct config *cfg, char *err, size_t errlen)
{
	char path[512];
	int rc = control_socket_path(cfg, path, sizeof(path), err, errlen);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	sv->control = control_start(sv->base, path, err, errlen);
	if (!sv->control)
		return -1;
	if (smtp_server_control_register(&sv->srv, sv->control) < 0 ||
	    control_register(sv->control, "reload", ctl_reload, sv) < 0) {
		snprintf(err, errlen, "control socket: cannot register the commands");
		return -1;
	}
	return 0;
}

int cmd_serve(struct cli_ctx *ctx, int argc, char **argv)
{
	int opt;
	while ((opt = getopt(argc, argv, "c:o:")) != -1)
		if (!cli_common_option(ctx, opt, optarg))
			return EXIT_USAGE;
	if (optind != argc) {
		fprintf(stderr, "usage: mxscreen serve [-c FILE] [-o name=value]...\n");
		return EXIT_USAGE;
	}
	char err[1024];
	struct config *cfg = cli_load_config(ctx, err, sizeof(err));
	if (!cfg) {
		fprintf(stderr, "mxscreen: config error: %s\n", err);
		return EXIT_USAGE;
	}
	log_set_level((enum log_level)cfg->log_level);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();

	struct serve sv = { .cli = ctx };
	int fds[SMTP_LISTENERS_MAX], nfds = -1, rc = EXIT_USAGE;
	struct smtp_settings *set = NULL;
	if (lock_var_dir(cfg->var_dir, err, sizeof(err)) < 0)
		goto fail;
	size_t removed;
	maildir_clean_tmp(cfg->var_dir, &removed);
	if (removed)
		log_msg(LOG_INFO, NULL, "event=tmp_cleaned files=%zu", removed);
	nfds = listen_open(cfg->smtp_listen, fds, SMTP_LISTENERS_MAX, err, sizeof(err));
	if (nfds < 0)
		goto fail;
	set = smtp_settings_new(cfg, err, sizeof(err));
	if (!set)
		goto fail;
	if (drop_privileges(cfg->run_user, err, sizeof(err)) < 0)
		goto fail;
	sv.base = event_base_new();
	if (!sv.base || smtp_server_start(&sv.srv, sv.base, set, fds, (size_t)nfds) < 0) {
		snprintf(err, sizeof(err), "cannot start the event loop");
		rc = EXIT_BUG;
		goto fail;
	}
	set = NULL; /* owned by the server now */
	nfds = 0;
	if (smtp_server_open_store(&sv.srv, err, sizeof(err)) < 0 ||
	    serve_control(&sv, cfg, err, sizeof(err)) < 0) {
		control_stop(sv.control);
		smtp_server_free(&sv.srv);
		event_base_free(sv.base);
		rc = EXIT_USAGE;
		goto fail;
	}
	sv.listen_spec = cfg->smtp_listen;
	sv.sig_term = evsignal_new(sv.base, SIGTERM, on_term, &sv);
	sv.sig_int = evsignal_new(sv.base, SIGINT, on_term, &sv);
	sv.sig_hup = evsignal_new(sv.base, SIGHUP, on_hup, &sv);
	event_add(sv.sig_term, NULL);
	event_add(sv.sig_int, NULL);
	event_add(sv.sig_hup, NULL);
	log_msg(LOG_INFO, NULL, "event=start listen=%s hostname=%s var_dir=%s pid=%ld",
		cfg->smtp_listen, cfg->hostname, cfg->var_dir, (long)getpid());
	event_base_dispatch(sv.base);
	log_msg(LOG_INFO, NULL, "event=stop accepted=%llu messages=%llu refused=%llu",
		sv.srv.accepted, sv.srv.messages, sv.srv.refused);
	control_stop(sv.control);
	smtp_server_free(&sv.srv);
	event_free(sv.sig_term);
	event_free(sv.sig_int);
	event_free(sv.sig_hup);
	if (sv.drain_tick)
		event_free(sv.drain_tick);
	if (sv.drain_deadline)
		event_free(sv.drain_deadline);
	event_base_free(sv.base);
	config_unref(cfg);
	return EXIT_OK;
fail:
	fprintf(stderr, "mxscreen: %s\n", err);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	smtp_settings_unref(set);
	config_unref(cfg);
	return rc;
}
