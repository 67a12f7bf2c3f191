/* Unit tests for the control socket (src/net/control.c): the request parser, the
 * command table, and a real socket served by an event loop while a client thread
 * calls it (stale socket replaced, mode 0600, unlink on stop, not-running cases). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/config.h"
#include "net/control.h"

static int parse(const char *s, struct control_request *req, char *err, size_t errlen)
{
	return control_request_parse(s, strlen(s), req, err, errlen);
}

static void test_parse_good(void **state)
{
	(void)state;
	struct control_request r;
	char err[256];
	assert_int_equal(parse("{\"cmd\":\"ip\",\"args\":[\"show\",\"127.0.0.5\"]}", &r, err,
			       sizeof(err)),
			 0);
	assert_string_equal(r.cmd, "ip");
	assert_int_equal(r.nargs, 2);
	assert_string_equal(r.args[0], "show");
	assert_string_equal(r.args[1], "127.0.0.5");
	control_request_free(&r);
	assert_int_equal(parse(" {\"args\":[],\"cmd\":\"status\"}\r", &r, err, sizeof(err)), 0);
	assert_string_equal(r.cmd, "status");
	assert_int_equal(r.nargs, 0);
	control_request_free(&r);
	assert_int_equal(parse("{\"cmd\":\"sessions\"}", &r, err, sizeof(err)), 0);
	control_request_free(&r);
}

static void test_parse_bad(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "", "bad request" },
		{ "garbage", "bad request" },
		{ "[\"status\"]", "not a JSON object" },
		{ "{\"args\":[]}", "\"cmd\"" },
		{ "{\"cmd\":\"\"}", "\"cmd\"" },
		{ "{\"cmd\":\"two words\"}", "\"cmd\"" },
		{ "{\"cmd\":\"../x\"}", "\"cmd\"" },
		{ "{\"cmd\":7}", "\"cmd\"" },
		{ "{\"cmd\":\"abcdefghijabcdefghijabcdefghijab\"}", "\"cmd\"" }, /* 32 octets */
		{ "{\"cmd\":\"ip\",\"args\":\"show\"}", "\"args\"" },
		{ "{\"cmd\":\"ip\",\"args\":[1]}", "\"args\"" },
		{ "{\"cmd\":\"ip\",\"args\":[\"a\\u0000b\"]}", "bad request" },
		{ "{\"cmd\":\"ip\",\"cmd\":\"ip\"}", "duplicate" },
		{ "{\"cmd\":\"ip\",\"user\":\"root\"}", "unknown member 'user'" },
		{ "{\"cmd\":\"status\"} {\"cmd\":\"status\"}", "bad request" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct control_request r;
		char err[256] = "";
		if (parse(cases[i].in, &r, err, sizeof(err)) == 0)
			fail_msg("accepted: %s", cases[i].in);
		if (!strstr(err, cases[i].want))
			fail_msg("%s: error '%s' lacks '%s'", cases[i].in, err, cases[i].want);
		assert_null(r.root);
	}
}

static void test_parse_limits(void **state)
{
	(void)state;
	char buf[CONTROL_REQUEST_MAX + 64], err[256];
	struct control_request r;
	/* CONTROL_ARGS_MAX arguments pass; one more does not. */
	for (int extra = 0; extra <= 1; extra++) {
		size_t n = (size_t)snprintf(buf, sizeof(buf), "{\"cmd\":\"ip\",\"args\":[");
		for (int i = 0; i < CONTROL_ARGS_MAX + extra; i++)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\"a%d\"", i ? "," : "", i);
		snprintf(buf + n, sizeof(buf) - n, "]}");
		int rc = parse(buf, &r, err, sizeof(err));
		assert_int_equal(rc, extra ? -1 : 0);
		if (rc == 0) {
			assert_int_equal(r.nargs, CONTROL_ARGS_MAX);
			control_request_free(&r);
		}
	}
	/* A request of CONTROL_REQUEST_MAX octets or more is refused unread. */
	size_t n = (size_t)snprintf(buf, sizeof(buf), "{\"cmd\":\"ip\",\"args\":[\"");
	memset(buf + n, 'x', CONTROL_REQUEST_MAX - n - 3);
	memcpy(buf + CONTROL_REQUEST_MAX - 3, "\"]}", 4);
	assert_int_equal(strlen(buf), CONTROL_REQUEST_MAX);
	assert_int_equal(parse(buf, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "longer than"));
	buf[CONTROL_REQUEST_MAX - 4] = '\0';
	memcpy(buf + CONTROL_REQUEST_MAX - 5, "\"]}", 4); /* one octet shorter */
	assert_int_equal(parse(buf, &r, err, sizeof(err)), 0);
	control_request_free(&r);
}

/* ---- a real socket ---------------------------------------------------------- */

static char dir[64], sock[96];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/mxs-ctl-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(sock, sizeof(sock), "%s/control.sock", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static json_t *h_echo(void *arg, const char *const *args, size_t nargs, char *err,
		      size_t errlen)
{
	(*(int *)arg)++;
	if (nargs && strcmp(args[0], "fail") == 0) {
		snprintf(err, errlen, "asked to fail");
		return NULL;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < nargs; i++)
		json_array_append_new(a, json_string(args[i]));
	return json_pack("{s:o}", "args", a);
}

static json_t *h_array(void *arg, const char *const *args, size_t nargs, char *err,
		       size_t errlen)
{
	(void)arg, (void)args, (void)nargs, (void)err, (void)errlen;
	return json_array(); /* a handler bug: not an object */
}

struct call {
	const char *cmd;
	const char *args[4];
	size_t nargs;
	int rc;
	json_t *ans;
	char err[512];
	volatile int done;
};

static void *client(void *arg)
{
	struct call *c = arg;
	c->rc = control_call(sock, c->cmd, c->args, c->nargs, &c->ans, c->err, sizeof(c->err));
	c->done = 1;
	return NULL;
}

/* Runs one client call against the loop until it has its answer. */
static void run_call(struct event_base *base, struct call *c)
{
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, client, c), 0);
	while (!c->done)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(1000);
	pthread_join(t, NULL);
}

static void test_socket_roundtrip(void **state)
{
	(void)state;
	/* A stale socket of a crashed server is replaced. */
	int stale = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock);
	assert_int_equal(bind(stale, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(stale);
	/* Nothing listens on it: the client says the server is not running. */
	struct call c0 = { .cmd = "status" };
	client(&c0);
	assert_int_equal(c0.rc, CONTROL_NOT_RUNNING);
	assert_non_null(strstr(c0.err, "connection refused"));

	struct event_base *base = event_base_new();
	char err[512];
	struct control *ctl = control_start(base, sock, err, sizeof(err));
	if (!ctl)
		fail_msg("control_start: %s", err);
	struct stat st;
	assert_int_equal(stat(sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);

	int calls = 0;
	assert_int_equal(control_register(ctl, "echo", h_echo, &calls), 0);
	assert_int_equal(control_register(ctl, "echo", h_echo, &calls), -1);
	assert_int_equal(control_register(ctl, "bad name", h_echo, &calls), -1);
	assert_int_equal(control_register(ctl, "array", h_array, NULL), 0);

	struct call c1 = { .cmd = "echo", .args = { "show", "192.0.2.1" }, .nargs = 2 };
	run_call(base, &c1);
	assert_int_equal(c1.rc, 0);
	assert_true(json_is_true(json_object_get(c1.ans, "ok")));
	json_t *a = json_object_get(c1.ans, "args");
	assert_int_equal(json_array_size(a), 2);
	assert_string_equal(json_string_value(json_array_get(a, 1)), "192.0.2.1");
	json_decref(c1.ans);

	struct call c2 = { .cmd = "echo", .args = { "fail" }, .nargs = 1 };
	run_call(base, &c2);
	assert_int_equal(c2.rc, 0);
	assert_true(json_is_false(json_object_get(c2.ans, "ok")));
	assert_string_equal(json_string_value(json_object_get(c2.ans, "error")), "asked to fail");
	json_decref(c2.ans);

	struct call c3 = { .cmd = "nosuch" };
	run_call(base, &c3);
	assert_int_equal(c3.rc, 0);
	assert_non_null(strstr(json_string_value(json_object_get(c3.ans, "error")),
			       "unknown command 'nosuch' (known: echo array)"));
	json_decref(c3.ans);

	struct call c4 = { .cmd = "array" };
	run_call(base, &c4);
	assert_int_equal(c4.rc, 0);
	assert_non_null(strstr(json_string_value(json_object_get(c4.ans, "error")),
			       "internal error"));
	json_decref(c4.ans);
	assert_int_equal(calls, 2);

	control_stop(ctl);
	assert_int_equal(access(sock, F_OK), -1);
	event_base_free(base);
	struct call c5 = { .cmd = "status" };
	client(&c5);
	assert_int_equal(c5.rc, CONTROL_NOT_RUNNING);
	assert_non_null(strstr(c5.err, "no control socket"));
}

static void test_not_a_socket(void **state)
{
	(void)state;
	FILE *f = fopen(sock, "w");
	assert_non_null(f);
	fclose(f);
	struct event_base *base = event_base_new();
	char err[512];
	assert_null(control_start(base, sock, err, sizeof(err)));
	assert_non_null(strstr(err, "not a socket"));
	assert_int_equal(access(sock, F_OK), 0); /* the operator's file stays */
	unlink(sock);
	event_base_free(base);
}

static void test_socket_path(void **state)
{
	(void)state;
	struct config *cfg = config_new();
	char err[256], out[512];
	assert_int_equal(config_finish(cfg, err, sizeof(err)), 0);
	assert_int_equal(control_socket_path(cfg, out, sizeof(out), err, sizeof(err)), 0);
	char want[512];
	snprintf(want, sizeof(want), "%s/control.sock", cfg->var_dir);
	assert_string_equal(out, want);
	assert_int_equal(config_set(cfg, "control_socket", "/run/mx.sock", err, sizeof(err)), 0);
	assert_int_equal(control_socket_path(cfg, out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "/run/mx.sock");
	assert_int_equal(config_set(cfg, "control_socket", "", err, sizeof(err)), 0);
	assert_int_equal(control_socket_path(cfg, out, sizeof(out), err, sizeof(err)), 1);
	char longdir[200];
	memset(longdir, 'd', sizeof(longdir) - 1);
	longdir[0] = '/';
	longdir[sizeof(longdir) - 1] = '\0';
	assert_int_equal(config_set(cfg, "var_dir", longdir, err, sizeof(err)), 0);
	assert_int_equal(config_set(cfg, "control_socket", "control.sock", err, sizeof(err)), 0);
	assert_int_equal(control_socket_path(cfg, out, sizeof(out), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "longer than a UNIX socket address"));
	config_unref(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test_setup_teardown(test_socket_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_socket, setup, teardown),
		cmocka_unit_test(test_socket_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
