/*
 * fuzz_control_request.c - the control socket's request parser (net/control.c).
 *
 * Whatever the bytes, the parser must not crash or leak; an accepted request
 * has a well-formed command name and at most CONTROL_ARGS_MAX string
 * arguments, and rebuilding it as the client does gives the same request.
 */
#include "net/control.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_same(const struct control_request *a, const struct control_request *b)
{
	if (strcmp(a->cmd, b->cmd) != 0 || a->nargs != b->nargs)
		abort();
	for (size_t i = 0; i < a->nargs; i++)
		if (strcmp(a->args[i], b->args[i]) != 0)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct control_request req;
	char err[256];
	if (control_request_parse((const char *)data, size, &req, err, sizeof(err)) < 0) {
		if (!err[0] || req.root || req.cmd || req.nargs)
			abort(); /* an error says why and leaves nothing to free */
		return 0;
	}
	size_t n = strlen(req.cmd);
	if (n == 0 || n >= CONTROL_CMD_MAX || req.nargs > CONTROL_ARGS_MAX)
		abort();
	json_t *args = json_array();
	for (size_t i = 0; i < req.nargs; i++)
		json_array_append_new(args, json_string(req.args[i]));
	json_t *again = json_pack("{s:s,s:o}", "cmd", req.cmd, "args", args);
	char *line = again ? json_dumps(again, JSON_COMPACT) : NULL;
	if (!line || strchr(line, '\n'))
		abort(); /* the client's request is one line */
	struct control_request req2;
	if (control_request_parse(line, strlen(line), &req2, err, sizeof(err)) < 0)
		abort();
	check_same(&req, &req2);
	control_request_free(&req2);
	free(line);
	json_decref(again);
	control_request_free(&req);
	return 0;
}
