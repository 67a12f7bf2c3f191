/* Unit tests for the settings table and config loading (src/core/config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/limits.h"

static char dir[64];

static int setup_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_config.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Writes text to <dir>/name and returns the path (static storage). */
static const char *write_file(const char *name, const char *text)
{
	static char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	return path;
}

static char *dump(const struct config *c)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	config_dump(c, f);
	fclose(f);
	return text;
}

static const char *value(const struct config *c, const char *name)
{
	static char out[CONFIG_LINE_MAX];
	size_t n;
	const struct config_setting *s = config_settings(&n);
	for (size_t i = 0; i < n; i++)
		if (strcmp(s[i].name, name) == 0)
			return config_value_str(c, &s[i], out, sizeof(out));
	fail_msg("no setting %s", name);
	return NULL;
}

static void test_defaults(void **state)
{
	(void)state;
	struct config *c = config_new();
	assert_non_null(c);
	assert_string_equal(c->hostname, "");
	assert_string_equal(c->var_dir, "./var");
	assert_string_equal(c->smtp_listen, "127.0.0.1:2525");
	assert_string_equal(c->local_domains, "localhost");
	assert_string_equal(c->recipients, "any");
	assert_string_equal(c->tls_cert, "");
	assert_string_equal(c->tls_key, "");
	assert_int_equal(c->message_size_limit, SMTP_MESSAGE_SIZE_DEFAULT);
	assert_int_equal(c->smtp_max_recipients, SMTP_RECIPIENTS_DEFAULT);
	assert_int_equal(c->smtp_command_timeout, SMTP_COMMAND_TIMEOUT_DEFAULT);
	assert_int_equal(c->smtp_data_timeout, SMTP_DATA_TIMEOUT_DEFAULT);
	assert_int_equal(c->smtp_session_limit, SMTP_SESSION_LIMIT_DEFAULT);
	assert_int_equal(c->smtp_max_errors, SMTP_MAX_ERRORS_DEFAULT);
	assert_int_equal(c->smtp_max_connections, SMTP_MAX_CONNECTIONS_DEFAULT);
	assert_int_equal(c->smtp_max_connections_per_ip, SMTP_MAX_CONNECTIONS_PER_IP_DEFAULT);
	assert_int_equal(c->smtp_bare_newline, BARE_NEWLINE_REJECT);
	assert_string_equal(value(c, "smtp_bare_newline"), "reject");
	assert_string_equal(value(c, "smtp_command_timeout"), "300s");
	/* every row: a doc, a default inside its own bounds, settable to its default */
	size_t n;
	const struct config_setting *s = config_settings(&n);
	assert_true(n >= 20);
	char err[256];
	for (size_t i = 0; i < n; i++) {
		assert_non_null(s[i].doc);
		assert_true(strlen(s[i].doc) > 10);
		assert_non_null(s[i].def);
		if (config_set(c, s[i].name, s[i].def, err, sizeof(err)) < 0)
			fail_msg("%s: default does not apply: %s", s[i].name, err);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(s[i].name, s[j].name);
	}
	config_unref(c);
}

static void test_refcount(void **state)
{
	(void)state;
	struct config *c = config_new();
	assert_ptr_equal(config_ref(c), c);
	assert_int_equal(c->refs, 2);
	config_unref(c);
	assert_int_equal(c->refs, 1);
	config_unref(c); /* frees; ASan reports a leak or double free otherwise */
	config_unref(NULL);
}

static void expect_set(struct config *c, const char *name, const char *v)
{
	char err[256] = "";
	if (config_set(c, name, v, err, sizeof(err)) < 0)
		fail_msg("%s = '%s': %s", name, v, err);
}

static void expect_error(struct config *c, const char *name, const char *v, const char *needle)
{
	char err[256] = "";
	if (config_set(c, name, v, err, sizeof(err)) == 0)
		fail_msg("%s = '%s' was accepted", name, v);
	if (!strstr(err, needle))
		fail_msg("%s = '%s': message '%s' lacks '%s'", name, v, err, needle);
}

static void test_set_size(void **state)
{
	(void)state;
	struct config *c = config_new();
	expect_set(c, "message_size_limit", "10k");
	assert_int_equal(c->message_size_limit, 10240);
	expect_set(c, "message_size_limit", "10K");
	assert_int_equal(c->message_size_limit, 10240);
	expect_set(c, "message_size_limit", "2m");
	assert_int_equal(c->message_size_limit, 2 * 1024 * 1024);
	expect_set(c, "message_size_limit", "1g");
	assert_int_equal(c->message_size_limit, 1024 * 1024 * 1024);
	expect_set(c, "message_size_limit", "2G"); /* the maximum, 2^31 */
	assert_int_equal(c->message_size_limit, 1ull << 31);
	expect_set(c, "message_size_limit", "1024"); /* the minimum */
	assert_int_equal(c->message_size_limit, 1024);
	expect_error(c, "message_size_limit", "1023", "out of range");
	expect_error(c, "message_size_limit", "3g", "out of range");
	expect_error(c, "message_size_limit", "2147483649", "out of range");
	expect_error(c, "message_size_limit", "10x", "not a valid size");
	expect_error(c, "message_size_limit", "10kb", "not a valid size");
	expect_error(c, "message_size_limit", "10 k", "not a valid size");
	expect_error(c, "message_size_limit", "k", "not a valid size");
	expect_error(c, "message_size_limit", "", "message_size_limit");
	expect_error(c, "message_size_limit", "-1", "not a valid size");
	expect_error(c, "message_size_limit", "+5k", "not a valid size");
	expect_error(c, "message_size_limit", " 5k", "not a valid size");
	expect_error(c, "message_size_limit", "99999999999999999999", "not a valid size");
	expect_error(c, "message_size_limit", "18446744073709551615k", "not a valid size");
	/* a refused value leaves the old one */
	assert_int_equal(c->message_size_limit, 1024);
	config_unref(c);
}

static void test_set_duration(void **state)
{
	(void)state;
	struct config *c = config_new();
	expect_set(c, "smtp_command_timeout", "30");
	assert_int_equal(c->smtp_command_timeout, 30);
	expect_set(c, "smtp_command_timeout", "45s");
	assert_int_equal(c->smtp_command_timeout, 45);
	expect_set(c, "smtp_command_timeout", "5m");
	assert_int_equal(c->smtp_command_timeout, 300);
	expect_set(c, "smtp_command_timeout", "2h");
	assert_int_equal(c->smtp_command_timeout, 7200);
	expect_set(c, "smtp_command_timeout", "1d");
	assert_int_equal(c->smtp_command_timeout, 86400);
	expect_error(c, "smtp_command_timeout", "2d", "out of range 1..86400");
	expect_error(c, "smtp_command_timeout", "0", "out of range");
	expect_error(c, "smtp_command_timeout", "5M", "not a valid duration");
	expect_error(c, "smtp_command_timeout", "5w", "not a valid duration");
	expect_error(c, "smtp_command_timeout", "1h30m", "not a valid duration");
	expect_set(c, "smtp_session_limit", "7d");
	assert_int_equal(c->smtp_session_limit, 604800);
	expect_set(c, "shutdown_timeout", "0"); /* a minimum of 0 */
	assert_int_equal(c->shutdown_timeout, 0);
	assert_string_equal(value(c, "smtp_session_limit"), "604800s");
	config_unref(c);
}

static void test_set_number(void **state)
{
	(void)state;
	struct config *c = config_new();
	expect_set(c, "smtp_max_recipients", "1");
	assert_int_equal(c->smtp_max_recipients, 1);
	expect_set(c, "smtp_max_recipients", "100000");
	expect_error(c, "smtp_max_recipients", "0", "out of range 1..100000");
	expect_error(c, "smtp_max_recipients", "100001", "out of range");
	expect_error(c, "smtp_max_recipients", "10k", "not a valid number"); /* no units */
	expect_error(c, "smtp_max_recipients", "1.5", "not a valid number");
	expect_error(c, "smtp_max_recipients", "0x10", "not a valid number");
	expect_error(c, "smtp_max_recipients", "lots", "smtp_max_recipients: 'lots'");
	assert_int_equal(c->smtp_max_recipients, 100000);
	config_unref(c);
}

static void test_set_enum_and_string(void **state)
{
	(void)state;
	struct config *c = config_new();
	expect_set(c, "smtp_bare_newline", "normalize");
	assert_int_equal(c->smtp_bare_newline, BARE_NEWLINE_NORMALIZE);
	assert_string_equal(value(c, "smtp_bare_newline"), "normalize");
	expect_set(c, "smtp_bare_newline", "reject");
	assert_int_equal(c->smtp_bare_newline, BARE_NEWLINE_REJECT);
	expect_error(c, "smtp_bare_newline", "Normalize", "not one of reject|normalize");
	expect_error(c, "smtp_bare_newline", "", "not one of");
	expect_error(c, "smtp_bare_newline", "reject|normalize", "not one of");
	expect_error(c, "smtp_bare_newline", "rejec", "not one of");
	expect_set(c, "log_level", "error");
	assert_string_equal(value(c, "log_level"), "error");
	expect_set(c, "log_level", "debug");
	assert_string_equal(value(c, "log_level"), "debug");
	expect_set(c, "hostname", "mx.example");
	assert_string_equal(c->hostname, "mx.example");
	expect_set(c, "hostname", "");
	assert_string_equal(c->hostname, "");
	config_unref(c);
}

static void test_unknown_key(void **state)
{
	(void)state;
	struct config *c = config_new();
	expect_error(c, "no_such_setting", "1", "unknown setting 'no_such_setting'");
	expect_error(c, "Hostname", "x", "unknown setting"); /* names are case-sensitive */
	expect_error(c, "", "x", "unknown setting");
	expect_error(c, "hostname ", "x", "unknown setting");
	config_unref(c);
}

static void test_load_file(void **state)
{
	(void)state;
	struct config *c = config_new();
	char err[512] = "";
	const char *path = write_file("good.conf", "# mxscreen test\n"
						   "\n"
						   "   \t\n"
						   "hostname = mx.example   # trailing comment\n"
						   "  message_size_limit=10m\n"
						   "smtp_listen = 127.0.0.1:2526, [::1]:2526\n"
						   "portal_url = http://p.example/?a=b\n"
						   "smtp_bare_newline\t=\tnormalize\r\n"
						   "#smtp_max_recipients = 7\n"
						   "local_domains = a.example b.example\n"
						   "run_user = \"ESMTP #1 \\\"mx\\\"\"  # quoted\n"
						   "tls_key = \"\"\n");
	if (config_load_file(c, path, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_string_equal(c->hostname, "mx.example");
	assert_int_equal(c->message_size_limit, 10 * 1024 * 1024);
	assert_string_equal(c->smtp_listen, "127.0.0.1:2526, [::1]:2526");
	assert_string_equal(c->portal_url, "http://p.example/?a=b");
	assert_int_equal(c->smtp_bare_newline, BARE_NEWLINE_NORMALIZE);
	assert_int_equal(c->smtp_max_recipients, SMTP_RECIPIENTS_DEFAULT);
	assert_string_equal(c->local_domains, "a.example b.example");
	assert_string_equal(c->run_user, "ESMTP #1 \"mx\"");
	assert_string_equal(c->tls_key, "");
	/* the last of several lines wins */
	path = write_file("twice.conf", "hostname = a\nhostname = b\n");
	assert_int_equal(config_load_file(c, path, err, sizeof(err)), 0);
	assert_string_equal(c->hostname, "b");
	/* an empty file changes nothing */
	path = write_file("empty.conf", "");
	assert_int_equal(config_load_file(c, path, err, sizeof(err)), 0);
	assert_string_equal(c->hostname, "b");
	config_unref(c);
}

static void expect_load_error(const char *text, const char *suffix)
{
	struct config *c = config_new();
	char err[512] = "", want[256];
	const char *path = write_file("bad.conf", text);
	assert_int_equal(config_load_file(c, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s%s", path, suffix);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("error '%s' does not start with '%s'", err, want);
	config_unref(c);
}

static void test_load_file_errors(void **state)
{
	(void)state;
	expect_load_error("# ok\nhostname = a\nhostname a\n", ":3: expected 'name = value'");
	expect_load_error("\n\n\n\nno_such = 1\n", ":5: unknown setting 'no_such'");
	expect_load_error("smtp_max_recipients = 0\n", ":1: smtp_max_recipients: 0 is out of range");
	expect_load_error("message_size_limit = big\n", ":1: message_size_limit: 'big'");
	expect_load_error("smtp_bare_newline = maybe\n", ":1: smtp_bare_newline: 'maybe'");
	expect_load_error("= 1\n", ":1: unknown setting ''");
	expect_load_error("host#name = a\n", ":1: expected 'name = value'");
	expect_load_error("hostname = \"a\n", ":1: hostname: unterminated quoted value");
	expect_load_error("hostname = \"a\" b\n", ":1: hostname: text after the closing quote");
	expect_load_error("hostname = \"a\\n\"\n", ":1: hostname: only");
	/* a line longer than the limit is an error, not silently cut */
	size_t n = CONFIG_LINE_MAX + 100;
	char *text = malloc(n + 1);
	memcpy(text, "hostname = ", 11);
	memset(text + 11, 'h', n - 12);
	text[n - 1] = '\n';
	text[n] = '\0';
	expect_load_error(text, ":1: line longer than");
	free(text);
	/* a missing file names itself */
	struct config *c = config_new();
	char err[512], missing[128];
	snprintf(missing, sizeof(missing), "%s/missing.conf", dir);
	assert_int_equal(config_load_file(c, missing, err, sizeof(err)), -1);
	assert_non_null(strstr(err, missing));
	assert_non_null(strstr(err, "No such file"));
	config_unref(c);
}

static void test_overrides(void **state)
{
	(void)state;
	struct config *c = config_new();
	char err[512] = "";
	const char *path =
		write_file("o.conf", "hostname = from-file.example\nsmtp_max_recipients = 7\n");
	assert_int_equal(config_load_file(c, path, err, sizeof(err)), 0);
	/* -o comes after the file (src/cli/main.c) and wins */
	assert_int_equal(config_set_override(c, "hostname=from-cli.example", err, sizeof(err)), 0);
	assert_int_equal(config_set_override(c, "smtp_max_recipients = 9", err, sizeof(err)), 0);
	assert_int_equal(config_set_override(c, "portal_url=http://x/?a=b", err, sizeof(err)), 0);
	assert_string_equal(c->hostname, "from-cli.example");
	assert_int_equal(c->smtp_max_recipients, 9);
	assert_string_equal(c->portal_url, "http://x/?a=b");
	assert_int_equal(config_set_override(c, "tls_cert=", err, sizeof(err)), 0);
	assert_string_equal(c->tls_cert, "");
	assert_int_equal(config_set_override(c, "hostname", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "name=value"));
	assert_int_equal(config_set_override(c, "=x", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "name=value"));
	assert_int_equal(config_set_override(c, "nope=1", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown setting 'nope'"));
	assert_int_equal(config_set_override(c, "smtp_max_recipients=0", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "out of range"));
	char longname[300];
	memset(longname, 'n', 200);
	strcpy(longname + 200, "=1");
	assert_int_equal(config_set_override(c, longname, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown setting"));
	assert_string_equal(c->hostname, "from-cli.example");
	config_unref(c);
}

static void test_finish(void **state)
{
	(void)state;
	char err[512] = "";
	struct config *c = config_new();
	/* an empty hostname is filled from the system */
	assert_int_equal(config_finish(c, err, sizeof(err)), 0);
	assert_true(strlen(c->hostname) > 0);
	config_unref(c);

	c = config_new();
	expect_set(c, "tls_cert", "/etc/ssl/cert.pem");
	assert_int_equal(config_finish(c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "tls_cert and tls_key"));
	expect_set(c, "tls_cert", "");
	expect_set(c, "tls_key", "/etc/ssl/key.pem");
	assert_int_equal(config_finish(c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "tls_cert and tls_key"));
	config_unref(c);

	c = config_new();
	char missing[128];
	snprintf(missing, sizeof(missing), "%s/no-recipients", dir);
	expect_set(c, "recipients", missing);
	assert_int_equal(config_finish(c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "recipients"));
	assert_non_null(strstr(err, missing));
	expect_set(c, "recipients", write_file("rcpts", "a@localhost\n"));
	assert_int_equal(config_finish(c, err, sizeof(err)), 0);
	config_unref(c);

	c = config_new();
	expect_set(c, "hostname", "mx/evil");
	assert_int_equal(config_finish(c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "hostname"));
	config_unref(c);

	c = config_new();
	expect_set(c, "var_dir", "");
	assert_int_equal(config_finish(c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "var_dir"));
	config_unref(c);

	c = config_new();
	expect_set(c, "smtp_listen", " , ");
	assert_int_equal(config_finish(c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "smtp_listen"));
	config_unref(c);

	c = config_new();
	expect_set(c, "local_domains", "");
	assert_int_equal(config_finish(c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "local_domains"));
	config_unref(c);
}

static void test_dump_round_trip(void **state)
{
	(void)state;
	char err[512] = "";
	struct config *c = config_new();
	expect_set(c, "hostname", "mx.example");
	expect_set(c, "message_size_limit", "3m");
	expect_set(c, "smtp_data_timeout", "2h");
	expect_set(c, "smtp_bare_newline", "normalize");
	expect_set(c, "log_level", "warn");
	expect_set(c, "smtp_listen", "127.0.0.1:25, [::1]:25");
	expect_set(c, "portal_url", "https://portal.example/x?y=z");
	expect_set(c, "tls_cert", "/etc/ssl/c.pem");
	expect_set(c, "tls_key", "/etc/ssl/k.pem");
	/* '#', quotes and backslashes survive the round trip (quoted on dump) */
	expect_set(c, "portal_url", "https://portal.example/help#top");
	expect_set(c, "tls_cert", "/etc/ssl/\"odd\\name#1.pem");
	char *d1 = dump(c);
	assert_non_null(strstr(d1, "message_size_limit = 3145728\n"));
	assert_non_null(strstr(d1, "portal_url = \"https://portal.example/help#top\"\n"));
	assert_non_null(strstr(d1, "tls_cert = \"/etc/ssl/\\\"odd\\\\name#1.pem\"\n"));
	assert_non_null(strstr(d1, "tls_key = /etc/ssl/k.pem\n"));
	assert_non_null(strstr(d1, "smtp_data_timeout = 7200s\n"));
	assert_non_null(strstr(d1, "smtp_bare_newline = normalize\n"));
	size_t n;
	config_settings(&n);
	size_t lines = 0;
	for (const char *p = d1; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, n);

	const char *path = write_file("dump.conf", d1);
	struct config *c2 = config_new();
	if (config_load_file(c2, path, err, sizeof(err)) < 0)
		fail_msg("dump does not load back: %s", err);
	char *d2 = dump(c2);
	assert_string_equal(d1, d2);
	assert_string_equal(c2->portal_url, "https://portal.example/help#top");
	assert_string_equal(c2->tls_cert, "/etc/ssl/\"odd\\name#1.pem");
	free(d1);
	free(d2);
	config_unref(c2);
	config_unref(c);

	/* the defaults too */
	c = config_new();
	d1 = dump(c);
	path = write_file("dump-defaults.conf", d1);
	c2 = config_new();
	expect_set(c2, "smtp_max_recipients", "3");
	assert_int_equal(config_load_file(c2, path, err, sizeof(err)), 0);
	d2 = dump(c2);
	assert_string_equal(d1, d2);
	free(d1);
	free(d2);
	config_unref(c2);
	config_unref(c);
}

static void test_local_domains(void **state)
{
	(void)state;
	struct config *c = config_new();
	expect_set(c, "local_domains", "example.com, Example.NET,other.example  last.example");
	assert_true(config_is_local_domain(c, "example.com", 11));
	assert_true(config_is_local_domain(c, "EXAMPLE.COM", 11));
	assert_true(config_is_local_domain(c, "example.net", 11));
	assert_true(config_is_local_domain(c, "other.example", 13));
	assert_true(config_is_local_domain(c, "Last.Example", 12));
	assert_false(config_is_local_domain(c, "example.co", 10));
	assert_false(config_is_local_domain(c, "xample.com", 10));
	assert_false(config_is_local_domain(c, "sub.example.com", 15));
	assert_false(config_is_local_domain(c, "example.com.evil", 16));
	assert_false(config_is_local_domain(c, "", 0));
	/* the length counts, not a NUL */
	assert_true(config_is_local_domain(c, "example.comXYZ", 11));
	const char *cur = " a, b ,,c", *item;
	assert_int_equal(config_list_next(&cur, &item), 1);
	assert_memory_equal(item, "a", 1);
	assert_int_equal(config_list_next(&cur, &item), 1);
	assert_memory_equal(item, "b", 1);
	assert_int_equal(config_list_next(&cur, &item), 1);
	assert_memory_equal(item, "c", 1);
	assert_int_equal(config_list_next(&cur, &item), 0);
	config_unref(c);
}

static void test_doc_lists_every_setting(void **state)
{
	(void)state;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	config_doc(f);
	fclose(f);
	size_t n;
	const struct config_setting *s = config_settings(&n);
	for (size_t i = 0; i < n; i++) {
		char cell[128];
		snprintf(cell, sizeof(cell), "| `%s` |", s[i].name);
		if (!strstr(text, cell))
			fail_msg("config doc lacks %s", s[i].name);
	}
	assert_non_null(strstr(text, "reject / normalize"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_refcount),
		cmocka_unit_test(test_set_size),
		cmocka_unit_test(test_set_duration),
		cmocka_unit_test(test_set_number),
		cmocka_unit_test(test_set_enum_and_string),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_load_file_errors),
		cmocka_unit_test(test_overrides),
		cmocka_unit_test(test_finish),
		cmocka_unit_test(test_dump_round_trip),
		cmocka_unit_test(test_local_domains),
		cmocka_unit_test(test_doc_lists_every_setting),
	};
	return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
