/*
 * control.h - the control socket of the running server, and its client.
 *
 * A UNIX stream socket (setting control_socket, default <var_dir>/control.sock,
 * mode 0600) served by the server's event loop. One request per connection:
 * the client writes one JSON object on one line,
 *     {"cmd":"ip","args":["show","192.0.2.1"]}\n
 * and the server answers one JSON object on one line, then closes:
 *     {"ok":true,...}\n   or   {"ok":false,"error":"..."}\n
 * Only root and the server's own uid may talk (SO_PEERCRED). Requests are
 * bounded (CONTROL_REQUEST_MAX), timed (CONTROL_TIMEOUT_SEC) and so are the
 * connections open at once (CONTROL_CONNECTIONS_MAX); core/limits.h.
 * Commands are registered by the modules that own them (control_register);
 * handlers run on the loop thread, so they may read server state directly.
 * Not here: the commands themselves (smtp/server_control.c, cli/cmd_serve.c,
 * the reputation module), authentication beyond the peer's uid.
 */
#ifndef MX_NET_CONTROL_H
#define MX_NET_CONTROL_H

#include "core/limits.h"

#include <jansson.h>
#include <stddef.h>

struct event_base;
struct config;
struct control;

/* A command handler: args are the request's "args" strings (borrowed for the
 * call). Returns the answer object (the server adds "ok":true), or NULL with
 * err set (the answer is {"ok":false,"error":err}). */
typedef json_t *(*control_fn)(void *arg, const char *const *args, size_t nargs, char *err,
			      size_t errlen);

/* The socket's path from the config: control_socket, relative to var_dir
 * unless absolute. 0; 1 when control_socket is empty (disabled); -1 when the
 * path does not fit a UNIX socket address (err set). */
int control_socket_path(const struct config *cfg, char *out, size_t outlen, char *err,
			size_t errlen);

/* Binds path (a stale socket left by a crashed server is replaced; anything
 * else there is an error) with mode 0600 and serves it on base. NULL with err set. */
struct control *control_start(struct event_base *base, const char *path, char *err,
			      size_t errlen);
/* cmd: at most CONTROL_CMD_MAX-1 octets. 0, or -1 (duplicate, table full, bad name). */
int control_register(struct control *c, const char *cmd, control_fn fn, void *arg);
/* Closes every control connection and the socket, and unlinks it. NULL is fine. */
void control_stop(struct control *c);

/* A parsed request: cmd and args point into root. */
struct control_request {
	json_t *root;
	const char *cmd;
	const char *args[CONTROL_ARGS_MAX];
	size_t nargs;
};

/* Parses one request (the bytes of the line, without its newline): a JSON
 * object with "cmd" (a non-empty string of letters, digits, '-' and '_',
 * shorter than CONTROL_CMD_MAX) and optional "args" (an array of at most
 * CONTROL_ARGS_MAX strings without NUL); no other member. 0 (free with
 * control_request_free), or -1 with err set and nothing to free. */
int control_request_parse(const char *data, size_t len, struct control_request *req, char *err,
			  size_t errlen);
void control_request_free(struct control_request *req);

/* The client: sends {cmd, args} to the server at path and reads its answer.
 * 0 with *answer set (any "ok"); CONTROL_NOT_RUNNING when nothing listens
 * there (no socket, connection refused); CONTROL_FAILED otherwise (permission,
 * timeout, an answer that is not a JSON object). err set when not 0. */
enum { CONTROL_NOT_RUNNING = -1, CONTROL_FAILED = -2 };
int control_call(const char *path, const char *cmd, const char *const *args, size_t nargs,
		 json_t **answer, char *err, size_t errlen);

#endif
