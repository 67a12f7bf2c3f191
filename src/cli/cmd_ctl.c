/*
 * cmd_ctl.c - the admin commands that talk to the running server through its
 * control socket (net/control.h): `mxscreen status`, `sessions`, `reload` and
 * `ip show|allow|block|unblock|list`.
 *
 * -c FILE and -o name=value (to find var_dir and control_socket) may come
 * before or after the arguments. `--json` prints the server's answer as it
 * came; otherwise it is rendered as text: key: value lines, nested objects
 * indented, a list of flat objects as a table. Exit codes: 0 ok, 1 the server
 * answered ok=false (or refused us), 2 usage or config error, 3 the server is
 * not running (no socket, connection refused).
 * `ip` arguments go to the server as given: ["block","192.0.2.0/24","--reason","TEXT"];
 * the reputation module's handler parses them.
 */
#include "cli/cli.h"
#include "core/config.h"
#include "net/control.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CTL_TABLE_COLS 16

struct ctl_opts {
	bool json;
	const char *reason;
	const char *pos[CONTROL_ARGS_MAX];
	size_t npos;
};

/* Options anywhere on the line (getopt permutes); positional words in o->pos. */
static int ctl_parse(struct cli_ctx *ctx, int argc, char **argv, bool takes_reason,
		     struct ctl_opts *o)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "reason", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "c:o:", longopts, NULL)) != -1) {
		if (opt == 'j')
			o->json = true;
		else if (opt == 'r' && takes_reason)
			o->reason = optarg;
		else if (!cli_common_option(ctx, opt, optarg))
			return -1;
	}
	for (int i = optind; i < argc; i++) {
		if (o->npos >= CONTROL_ARGS_MAX - 2)
			return -1;
		o->pos[o->npos++] = argv[i];
	}
	return 0;
}

/* ---- text rendering ------------------------------------------------------ */

/* Control characters (a client's HELO, say) never reach the terminal as such. */
static void put_clean(FILE *out, const char *s)
{
	for (; *s; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, out);
}

static const char *scalar_text(const json_t *v, char *buf, size_t len)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		return json_string_value(v);
	case JSON_INTEGER:
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return buf;
	case JSON_REAL:
		snprintf(buf, len, "%g", json_real_value(v));
		return buf;
	case JSON_TRUE:
		return "yes";
	case JSON_FALSE:
		return "no";
	default:
		return "-";
	}
}

static bool is_scalar(const json_t *v)
{
	return !json_is_object(v) && !json_is_array(v);
}

/* A list of objects whose members are all scalars, with few enough columns. */
static bool is_table(const json_t *a, const char **cols, size_t *ncols)
{
	size_t i, n = 0;
	json_t *row;
	if (json_array_size(a) == 0)
		return false;
	json_array_foreach(a, i, row) {
		if (!json_is_object(row))
			return false;
		const char *k;
		json_t *v;
		json_object_foreach(row, k, v) {
			if (!is_scalar(v))
				return false;
			size_t c = 0;
			while (c < n && strcmp(cols[c], k) != 0)
				c++;
			if (c == n) {
				if (n == CTL_TABLE_COLS)
					return false;
				cols[n++] = k;
			}
		}
	}
	*ncols = n;
	return true;
}

static void render_table(FILE *out, const json_t *a, int indent)
{
	const char *cols[CTL_TABLE_COLS];
	size_t ncols = 0, width[CTL_TABLE_COLS], i;
	is_table(a, cols, &ncols);
	char buf[64];
	json_t *row;
	for (size_t c = 0; c < ncols; c++) {
		width[c] = strlen(cols[c]);
		json_array_foreach(a, i, row) {
			json_t *v = json_object_get(row, cols[c]);
			size_t w = strlen(v ? scalar_text(v, buf, sizeof(buf)) : "-");
			if (w > width[c])
				width[c] = w;
		}
	}
	fprintf(out, "%*s", indent, "");
	for (size_t c = 0; c < ncols; c++)
		fprintf(out, c + 1 < ncols ? "%-*s  " : "%.*s\n", (int)width[c], cols[c]);
	json_array_foreach(a, i, row) {
		fprintf(out, "%*s", indent, "");
		for (size_t c = 0; c < ncols; c++) {
			json_t *v = json_object_get(row, cols[c]);
			const char *t = v ? scalar_text(v, buf, sizeof(buf)) : "-";
			put_clean(out, t);
			if (c + 1 < ncols)
				fprintf(out, "%*s", (int)(width[c] - strlen(t) + 2), "");
		}
		fputc('\n', out);
	}
}

static void render_object(FILE *out, const json_t *o, int indent);
static void render_value(FILE *out, const char *key, const json_t *v, int indent, bool dash);

/* One element of a list that is not a table: an object as "- first: ..." and its
 * other members aligned under the first; anything else as "- value". */
static void render_item(FILE *out, const json_t *e, int indent)
{
	if (!json_is_object(e) || json_object_size(e) == 0) {
		render_value(out, NULL, e, indent, false);
		return;
	}
	const char *k;
	json_t *v;
	bool first = true;
	json_object_foreach((json_t *)e, k, v) {
		render_value(out, k, v, indent + 2, first);
		first = false;
	}
}

/* dash: the first member of a list item, written "- key: value" two columns left. */
static void render_value(FILE *out, const char *key, const json_t *v, int indent, bool dash)
{
	char buf[64];
	fprintf(out, "%*s%s", dash ? indent - 2 : indent, "", dash ? "- " : "");
	if (key) {
		put_clean(out, key);
		fputc(':', out);
	} else {
		fputc('-', out);
	}
	if (is_scalar(v)) {
		fputc(' ', out);
		put_clean(out, scalar_text(v, buf, sizeof(buf)));
		fputc('\n', out);
	} else if (json_is_object(v)) {
		if (json_object_size(v) == 0) {
			fprintf(out, " (none)\n");
			return;
		}
		fputc('\n', out);
		render_object(out, v, indent + 2);
	} else {
		const char *cols[CTL_TABLE_COLS];
		size_t ncols, i;
		json_t *e;
		bool scalars = true;
		json_array_foreach(v, i, e) scalars = scalars && is_scalar(e);
		if (json_array_size(v) == 0) {
			fprintf(out, " (none)\n");
		} else if (scalars) {
			json_array_foreach(v, i, e) {
				fputs(i ? ", " : " ", out);
				put_clean(out, scalar_text(e, buf, sizeof(buf)));
			}
			fputc('\n', out);
		} else if (is_table(v, cols, &ncols)) {
			fputc('\n', out);
			render_table(out, v, indent + 2);
		} else {
			fputc('\n', out);
			json_array_foreach(v, i, e) render_item(out, e, indent + 2);
		}
	}
}

static void render_object(FILE *out, const json_t *o, int indent)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)o, k, v) {
		if (indent == 0 && strcmp(k, "ok") == 0)
			continue;
		render_value(out, k, v, indent, false);
	}
}

/* ---- the call ------------------------------------------------------------ */

static int ctl_run(struct cli_ctx *ctx, const struct ctl_opts *o, const char *cmd,
		   const char *const *args, size_t nargs)
{
	char err[1024], path[512];
	struct config *cfg = cli_load_config(ctx, err, sizeof(err));
	if (!cfg) {
		fprintf(stderr, "mxscreen: config error: %s\n", err);
		return EXIT_USAGE;
	}
	int rc = control_socket_path(cfg, path, sizeof(path), err, sizeof(err));
	config_unref(cfg);
	if (rc != 0) {
		fprintf(stderr, "mxscreen: %s\n",
			rc > 0 ? "control_socket is empty: the control socket is disabled" : err);
		return EXIT_USAGE;
	}
	json_t *ans;
	rc = control_call(path, cmd, args, nargs, &ans, err, sizeof(err));
	if (rc == CONTROL_NOT_RUNNING) {
		fprintf(stderr, "mxscreen: %s\n", err);
		return EXIT_TEMPFAIL;
	}
	if (rc < 0) {
		fprintf(stderr, "mxscreen: %s\n", err);
		return EXIT_NEGATIVE;
	}
	bool ok = json_is_true(json_object_get(ans, "ok"));
	if (o->json) {
		char *s = json_dumps(ans, JSON_COMPACT);
		if (s)
			printf("%s\n", s);
		free(s);
	} else if (ok) {
		render_object(stdout, ans, 0);
	}
	if (!ok) {
		const char *e = json_string_value(json_object_get(ans, "error"));
		fprintf(stderr, "mxscreen: %s: ", cmd);
		put_clean(stderr, e ? e : "failed");
		fputc('\n', stderr);
	}
	json_decref(ans);
	return ok ? EXIT_OK : EXIT_NEGATIVE;
}

/* status, sessions, reload: no arguments. */
static int ctl_simple(struct cli_ctx *ctx, int argc, char **argv, const char *cmd)
{
	struct ctl_opts o = { 0 };
	if (ctl_parse(ctx, argc, argv, false, &o) < 0 || o.npos) {
		fprintf(stderr, "usage: mxscreen %s [--json] [-c FILE] [-o name=value]...\n", cmd);
		return EXIT_USAGE;
	}
	return ctl_run(ctx, &o, cmd, NULL, 0);
}

int cmd_status(struct cli_ctx *ctx, int argc, char **argv)
{
	return ctl_simple(ctx, argc, argv, "status");
}

int cmd_sessions(struct cli_ctx *ctx, int argc, char **argv)
{
	return ctl_simple(ctx, argc, argv, "sessions");
}

int cmd_reload(struct cli_ctx *ctx, int argc, char **argv)
{
	return ctl_simple(ctx, argc, argv, "reload");
}

int cmd_ip(struct cli_ctx *ctx, int argc, char **argv)
{
	static const char *const subs[] = { "show", "allow", "block", "unblock", "list" };
	struct ctl_opts o = { 0 };
	bool ok = ctl_parse(ctx, argc, argv, true, &o) == 0 && o.npos >= 1;
	size_t sub = 0;
	while (ok && sub < sizeof(subs) / sizeof(subs[0]) && strcmp(o.pos[0], subs[sub]) != 0)
		sub++;
	ok = ok && sub < sizeof(subs) / sizeof(subs[0]);
	if (ok && strcmp(subs[sub], "list") == 0)
		ok = o.npos <= 2 && !o.reason;
	else if (ok)
		ok = o.npos == 2 && (!o.reason || strcmp(subs[sub], "show") != 0);
	if (!ok) {
		fprintf(stderr, "usage: mxscreen ip show|allow|block|unblock IP[/LEN] [--reason TEXT] "
				"[--json] [-c FILE] [-o name=value]...\n"
				"       mxscreen ip list [WHAT] [--json]\n");
		return EXIT_USAGE;
	}
	const char *args[CONTROL_ARGS_MAX];
	size_t n = 0;
	for (size_t i = 0; i < o.npos; i++)
		args[n++] = o.pos[i];
	if (o.reason) {
		args[n++] = "--reason";
		args[n++] = o.reason;
	}
	return ctl_run(ctx, &o, "ip", args, n);
}
