/*
 * control.c - the control socket: listener, connections, request parser,
 * command table, and the blocking client the CLI uses; see control.h.
 *
 * A connection lives until its one answer is written (or its timeout): read
 * up to the first newline (or EOF), parse, run the handler, write the answer,
 * close once the output is drained. Refusals that come before any reading
 * (peer uid, too many connections) are one non-blocking send and a close.
 */
#include "net/control.h"
#include "core/config.h"
#include "core/log.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct control_cmd {
	char name[CONTROL_CMD_MAX];
	control_fn fn;
	void *arg;
};

struct control_conn {
	struct control *c;
	struct bufferevent *bev;
	struct control_conn *prev, *next;
	unsigned uid;
	bool answered;
};

struct control {
	struct event_base *base;
	struct evconnlistener *lis;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct control_cmd cmds[CONTROL_COMMANDS_MAX];
	size_t ncmds;
	struct control_conn *conns;
	size_t nconns;
};

/* ---- paths -------------------------------------------------------------- */

int control_socket_path(const struct config *cfg, char *out, size_t outlen, char *err,
			size_t errlen)
{
	const char *p = cfg->control_socket;
	if (!*p)
		return 1;
	int n = p[0] == '/' ? snprintf(out, outlen, "%s", p)
			    : snprintf(out, outlen, "%s/%s", cfg->var_dir, p);
	size_t max = sizeof(((struct sockaddr_un *)0)->sun_path);
	if (n < 0 || (size_t)n >= outlen || (size_t)n >= max) {
		snprintf(err, errlen,
			 "control_socket: the path is longer than a UNIX socket address allows "
			 "(%zu octets); set control_socket to a shorter absolute path",
			 max - 1);
		return -1;
	}
	return 0;
}

static int sun_of(const char *path, struct sockaddr_un *sun, char *err, size_t errlen)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	size_t len = strlen(path);
	if (len == 0 || len >= sizeof(sun->sun_path)) {
		snprintf(err, errlen, "control socket path too long: %.200s", path);
		return -1;
	}
	memcpy(sun->sun_path, path, len + 1);
	return 0;
}

/* ---- the request parser --------------------------------------------------- */

static bool cmd_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= CONTROL_CMD_MAX)
		return false;
	for (; *s; s++) {
		char ch = *s;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return false;
	}
	return true;
}

static int parse_fields(struct control_request *req, char *err, size_t errlen)
{
	json_t *root = req->root;
	if (!json_is_object(root)) {
		snprintf(err, errlen, "bad request: not a JSON object");
		return -1;
	}
	const char *key;
	json_t *v;
	json_object_foreach(root, key, v) {
		if (strcmp(key, "cmd") != 0 && strcmp(key, "args") != 0) {
			snprintf(err, errlen, "bad request: unknown member '%.64s'", key);
			return -1;
		}
	}
	v = json_object_get(root, "cmd");
	if (!json_is_string(v) || !cmd_name_ok(json_string_value(v))) {
		snprintf(err, errlen, "bad request: \"cmd\" must be a command name");
		return -1;
	}
	req->cmd = json_string_value(v);
	v = json_object_get(root, "args");
	if (!v)
		return 0;
	if (!json_is_array(v)) {
		snprintf(err, errlen, "bad request: \"args\" must be an array of strings");
		return -1;
	}
	if (json_array_size(v) > CONTROL_ARGS_MAX) {
		snprintf(err, errlen, "bad request: more than %d arguments", CONTROL_ARGS_MAX);
		return -1;
	}
	size_t i;
	json_t *a;
	json_array_foreach(v, i, a) {
		/* jansson refuses \u0000 without JSON_ALLOW_NUL; the length check says so here. */
		if (!json_is_string(a) || strlen(json_string_value(a)) != json_string_length(a)) {
			snprintf(err, errlen, "bad request: \"args\" must be an array of strings");
			return -1;
		}
		req->args[req->nargs++] = json_string_value(a);
	}
	return 0;
}

int control_request_parse(const char *data, size_t len, struct control_request *req, char *err,
			  size_t errlen)
{
	memset(req, 0, sizeof(*req));
	if (len >= CONTROL_REQUEST_MAX) {
		snprintf(err, errlen, "bad request: longer than %d octets", CONTROL_REQUEST_MAX);
		return -1;
	}
	json_error_t jerr;
	req->root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!req->root) {
		snprintf(err, errlen, "bad request: %.200s", jerr.text);
		return -1;
	}
	if (parse_fields(req, err, errlen) < 0) {
		control_request_free(req);
		return -1;
	}
	return 0;
}

void control_request_free(struct control_request *req)
{
	json_decref(req->root);
	memset(req, 0, sizeof(*req));
}

/* ---- answers ------------------------------------------------------------ */

/* The answer line for a handler's result: {"ok":true, ...result} or the error. */
static char *answer_line(json_t *result, const char *error)
{
	json_t *a = json_object();
	if (!a)
		return NULL;
	if (result && json_is_object(result)) {
		json_object_set_new(a, "ok", json_true());
		json_object_update(a, result);
	} else {
		json_object_set_new(a, "ok", json_false());
		json_object_set_new(a, "error", json_string(error && *error ? error
									   : "internal error"));
	}
	char *s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return s;
}

static char *error_line(const char *error)
{
	return answer_line(NULL, error);
}

/* ---- connections ---------------------------------------------------------- */

static void conn_free(struct control_conn *k)
{
	struct control *c = k->c;
	if (k->prev)
		k->prev->next = k->next;
	else
		c->conns = k->next;
	if (k->next)
		k->next->prev = k->prev;
	c->nconns--;
	bufferevent_free(k->bev);
	free(k);
}

static void on_written(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_free(arg);
}

static void on_event(struct bufferevent *bev, short what, void *arg);

static void send_answer(struct control_conn *k, char *line)
{
	k->answered = true;
	bufferevent_disable(k->bev, EV_READ);
	if (!line) {
		conn_free(k);
		return;
	}
	struct evbuffer *out = bufferevent_get_output(k->bev);
	evbuffer_add(out, line, strlen(line));
	evbuffer_add(out, "\n", 1);
	free(line);
	bufferevent_setcb(k->bev, NULL, on_written, on_event, k);
	bufferevent_enable(k->bev, EV_WRITE);
}

static const struct control_cmd *find_cmd(const struct control *c, const char *name)
{
	for (size_t i = 0; i < c->ncmds; i++)
		if (strcmp(c->cmds[i].name, name) == 0)
			return &c->cmds[i];
	return NULL;
}

static char *unknown_cmd_line(const struct control *c, const char *name)
{
	char err[CONTROL_COMMANDS_MAX * CONTROL_CMD_MAX + 64];
	size_t n = (size_t)snprintf(err, sizeof(err), "unknown command '%s' (known:", name);
	for (size_t i = 0; i < c->ncmds && n < sizeof(err); i++)
		n += (size_t)snprintf(err + n, sizeof(err) - n, " %s", c->cmds[i].name);
	if (n < sizeof(err))
		snprintf(err + n, sizeof(err) - n, ")");
	return error_line(err);
}

static void handle_request(struct control_conn *k, const char *data, size_t len)
{
	char err[1024] = "";
	struct control_request req;
	char q[1100];
	if (control_request_parse(data, len, &req, err, sizeof(err)) < 0) {
		log_msg(LOG_WARN, NULL, "event=control_bad_request uid=%u error=%s", k->uid,
			log_quote(q, sizeof(q), err, strlen(err)));
		send_answer(k, error_line(err));
		return;
	}
	const struct control_cmd *cmd = find_cmd(k->c, req.cmd);
	if (!cmd) {
		log_msg(LOG_INFO, NULL, "event=control cmd=%s uid=%u ok=0 error=unknown_command",
			req.cmd, k->uid);
		send_answer(k, unknown_cmd_line(k->c, req.cmd));
		control_request_free(&req);
		return;
	}
	json_t *result = cmd->fn(cmd->arg, req.args, req.nargs, err, sizeof(err));
	if (result && !json_is_object(result)) {
		json_decref(result);
		result = NULL;
		snprintf(err, sizeof(err), "internal error: the handler of '%s' gave no object",
			 req.cmd);
	}
	if (result)
		log_msg(LOG_INFO, NULL, "event=control cmd=%s uid=%u ok=1", req.cmd, k->uid);
	else
		log_msg(LOG_WARN, NULL, "event=control cmd=%s uid=%u ok=0 error=%s", req.cmd, k->uid,
			log_quote(q, sizeof(q), err, strlen(err)));
	send_answer(k, answer_line(result, err));
	json_decref(result);
	control_request_free(&req);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct control_conn *k = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr nl = evbuffer_search(in, "\n", 1, NULL);
	size_t have = evbuffer_get_length(in);
	if (nl.pos < 0 && have < CONTROL_REQUEST_MAX)
		return; /* wait for the rest of the line */
	size_t len = nl.pos < 0 ? have : (size_t)nl.pos;
	if (len >= CONTROL_REQUEST_MAX) {
		log_msg(LOG_WARN, NULL, "event=control_bad_request uid=%u error=too_large", k->uid);
		char err[96];
		snprintf(err, sizeof(err), "bad request: longer than %d octets",
			 CONTROL_REQUEST_MAX);
		send_answer(k, error_line(err));
		return;
	}
	handle_request(k, (const char *)evbuffer_pullup(in, (ssize_t)len), len);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct control_conn *k = arg;
	if (k->answered) {
		conn_free(k); /* peer gone or write timeout */
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		send_answer(k, error_line("timeout: no complete request"));
		return;
	}
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t have = evbuffer_get_length(in);
	if ((what & BEV_EVENT_EOF) && have > 0 && have < CONTROL_REQUEST_MAX) {
		/* a request without its newline, then EOF: still one request */
		handle_request(k, (const char *)evbuffer_pullup(in, (ssize_t)have), have);
		return;
	}
	conn_free(k);
}

/* A refusal before anything is read: one short answer, best effort. */
static void refuse_now(int fd, const char *why)
{
	char *line = error_line(why);
	if (line) {
		char msg[512];
		int n = snprintf(msg, sizeof(msg), "%s\n", line);
		if (n > 0 && (size_t)n < sizeof(msg)) {
			ssize_t w = send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
			(void)w;
		}
		free(line);
	}
	close(fd);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	(void)l, (void)sa, (void)salen;
	struct control *c = arg;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 || clen != sizeof(cred)) {
		log_msg(LOG_WARN, NULL, "event=control_refused error=no_peer_credentials");
		refuse_now(fd, "permission denied: no peer credentials");
		return;
	}
	if (cred.uid != 0 && cred.uid != geteuid()) {
		log_msg(LOG_WARN, NULL, "event=control_refused uid=%u pid=%ld", (unsigned)cred.uid,
			(long)cred.pid);
		refuse_now(fd, "permission denied: only root and the server's user may use the "
			       "control socket");
		return;
	}
	if (c->nconns >= CONTROL_CONNECTIONS_MAX) {
		log_msg(LOG_WARN, NULL, "event=control_refused uid=%u error=busy",
			(unsigned)cred.uid);
		refuse_now(fd, "busy: too many control connections, try again");
		return;
	}
	struct control_conn *k = calloc(1, sizeof(*k));
	if (!k) {
		close(fd);
		return;
	}
	k->c = c;
	k->uid = (unsigned)cred.uid;
	k->bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!k->bev) {
		close(fd);
		free(k);
		return;
	}
	k->next = c->conns;
	if (k->next)
		k->next->prev = k;
	c->conns = k;
	c->nconns++;
	struct timeval t = { CONTROL_TIMEOUT_SEC, 0 };
	bufferevent_set_timeouts(k->bev, &t, &t);
	bufferevent_setcb(k->bev, on_read, NULL, on_event, k);
	bufferevent_enable(k->bev, EV_READ);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	(void)l, (void)arg;
	log_msg(LOG_WARN, NULL, "event=control_accept_error error=%d", EVUTIL_SOCKET_ERROR());
}

/* ---- the server socket ------------------------------------------------------- */

/* The var_dir lock guarantees no other server owns path: a socket there was left
 * by a crash. Anything that is not a socket is the operator's and stays. */
static int remove_stale(const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "control socket %.900s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "control socket %.900s: exists and is not a socket", path);
		return -1;
	}
	if (unlink(path) < 0) {
		snprintf(err, errlen, "control socket %.900s: %s", path, strerror(errno));
		return -1;
	}
	log_msg(LOG_INFO, NULL, "event=control_stale_removed path=%s", path);
	return 0;
}

static int bind_socket(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	if (sun_of(path, &sun, err, errlen) < 0 || remove_stale(path, err, errlen) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		return -1;
	}
	/* The umask makes the socket 0600 from its first instant: no chmod window. */
	mode_t old = umask(0177);
	int rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	int bind_errno = errno;
	umask(old);
	if (rc < 0 || listen(fd, CONTROL_CONNECTIONS_MAX) < 0) {
		snprintf(err, errlen, "control socket %.900s: %s", path,
			 strerror(rc < 0 ? bind_errno : errno));
		close(fd);
		if (rc == 0)
			unlink(path);
		return -1;
	}
	return fd;
}

struct control *control_start(struct event_base *base, const char *path, char *err,
			      size_t errlen)
{
	struct control *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->base = base;
	if (strlen(path) >= sizeof(c->path)) {
		snprintf(err, errlen, "control socket path too long: %.200s", path);
		free(c);
		return NULL;
	}
	snprintf(c->path, sizeof(c->path), "%s", path);
	int fd = bind_socket(path, err, errlen);
	if (fd < 0) {
		free(c);
		return NULL;
	}
	c->lis = evconnlistener_new(base, on_accept, c, LEV_OPT_CLOSE_ON_FREE, 0, fd);
	if (!c->lis) {
		snprintf(err, errlen, "control socket: cannot listen");
		close(fd);
		unlink(path);
		free(c);
		return NULL;
	}
	evconnlistener_set_error_cb(c->lis, on_accept_error);
	log_msg(LOG_INFO, NULL, "event=control_listen path=%s", path);
	return c;
}

int control_register(struct control *c, const char *cmd, control_fn fn, void *arg)
{
	if (!c || !fn || !cmd_name_ok(cmd) || find_cmd(c, cmd) || c->ncmds >= CONTROL_COMMANDS_MAX)
		return -1;
	struct control_cmd *e = &c->cmds[c->ncmds++];
	snprintf(e->name, sizeof(e->name), "%s", cmd);
	e->fn = fn;
	e->arg = arg;
	return 0;
}

void control_stop(struct control *c)
{
	if (!c)
		return;
	while (c->conns)
		conn_free(c->conns);
	evconnlistener_free(c->lis);
	unlink(c->path);
	free(c);
}

/* ---- the client ------------------------------------------------------------ */

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static char *request_line(const char *cmd, const char *const *args, size_t nargs)
{
	json_t *req = json_object(), *a = json_array();
	if (!req || !a) {
		json_decref(req);
		json_decref(a);
		return NULL;
	}
	for (size_t i = 0; i < nargs; i++)
		json_array_append_new(a, json_string(args[i]));
	json_object_set_new(req, "cmd", json_string(cmd));
	json_object_set_new(req, "args", a);
	char *s = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	return s;
}

/* Reads to EOF (bounded). 0, or -1 with err set. */
static int read_answer(int fd, char **out, size_t *outlen, char *err, size_t errlen)
{
	size_t cap = 4096, len = 0;
	char *b = malloc(cap);
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (;;) {
		if (len == cap) {
			if (cap >= CONTROL_ANSWER_MAX) {
				snprintf(err, errlen, "the answer is larger than %d octets",
					 CONTROL_ANSWER_MAX);
				free(b);
				return -1;
			}
			char *nb = realloc(b, cap * 2);
			if (!nb) {
				snprintf(err, errlen, "out of memory");
				free(b);
				return -1;
			}
			b = nb;
			cap *= 2;
		}
		ssize_t r = recv(fd, b + len, cap - len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		/* A peer that closes with our bytes unread (a refusal before it read the
		 * request) resets the connection after its answer: the answer stands. */
		if (r < 0 && errno == ECONNRESET && len > 0)
			break;
		if (r < 0) {
			snprintf(err, errlen, "reading the answer: %s",
				 errno == EAGAIN || errno == EWOULDBLOCK ? "timed out"
									  : strerror(errno));
			free(b);
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	*out = b;
	*outlen = len;
	return 0;
}

int control_call(const char *path, const char *cmd, const char *const *args, size_t nargs,
		 json_t **answer, char *err, size_t errlen)
{
	*answer = NULL;
	struct sockaddr_un sun;
	if (sun_of(path, &sun, err, errlen) < 0)
		return CONTROL_FAILED;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return CONTROL_FAILED;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;
		close(fd);
		if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR) {
			snprintf(err, errlen, "the server is not running (%s: %s)", path,
				 e == ECONNREFUSED ? "connection refused" : "no control socket");
			return CONTROL_NOT_RUNNING;
		}
		if (e == EACCES || e == EPERM)
			snprintf(err, errlen,
				 "%s: permission denied (only root and the server's user may use "
				 "the control socket)", path);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(e));
		return CONTROL_FAILED;
	}
	struct timeval t = { CONTROL_CLIENT_TIMEOUT_SEC, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &t, sizeof(t));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &t, sizeof(t));
	char *line = request_line(cmd, args, nargs);
	if (!line) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return CONTROL_FAILED;
	}
	size_t n = strlen(line);
	int wrc = n >= CONTROL_REQUEST_MAX ? -2
					   : write_all(fd, line, n) < 0 ? -1 : write_all(fd, "\n", 1);
	free(line);
	if (wrc == -2) {
		snprintf(err, errlen, "the request is longer than %d octets", CONTROL_REQUEST_MAX);
		close(fd);
		return CONTROL_FAILED;
	}
	if (wrc < 0 && errno != EPIPE && errno != ECONNRESET) {
		snprintf(err, errlen, "sending the request: %s", strerror(errno));
		close(fd);
		return CONTROL_FAILED;
	}
	/* EPIPE: the server may have refused us before reading; its answer says why. */
	char *ans;
	size_t alen;
	int rc = read_answer(fd, &ans, &alen, err, errlen);
	close(fd);
	if (rc < 0)
		return CONTROL_FAILED;
	if (alen == 0) {
		free(ans);
		snprintf(err, errlen, "the server closed the connection without an answer");
		return CONTROL_FAILED;
	}
	json_error_t jerr;
	*answer = json_loadb(ans, alen, 0, &jerr);
	free(ans);
	if (!*answer || !json_is_object(*answer)) {
		json_decref(*answer);
		*answer = NULL;
		snprintf(err, errlen, "the server's answer is not a JSON object");
		return CONTROL_FAILED;
	}
	return 0;
}
