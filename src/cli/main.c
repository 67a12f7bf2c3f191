/*
 * main.c - `mxscreen COMMAND ...`: subcommand dispatch.
 *
 * Global options -c FILE and -o name=value may come before the command; each
 * command also takes them after its name.
 */
#include "cli/cli.h"
#include "core/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef MXSCREEN_VERSION
#define MXSCREEN_VERSION "0.0.0"
#endif

struct command {
	const char *name;
	int (*run)(struct cli_ctx *ctx, int argc, char **argv);
	const char *usage;
};

static int cmd_version(struct cli_ctx *ctx, int argc, char **argv)
{
	(void)ctx, (void)argc, (void)argv;
	printf("mxscreen %s\n", MXSCREEN_VERSION);
	return EXIT_OK;
}

static const struct command commands[] = {
	{ "serve", cmd_serve, "serve [-c FILE] [-o name=value]...   run the MX" },
	{ "config", cmd_config, "config check|dump|doc [-c FILE] [-o name=value]..." },
	{ "version", cmd_version, "version" },
};

static int usage(FILE *out)
{
	fprintf(out, "usage: mxscreen [-c FILE] [-o name=value]... COMMAND [ARGS]\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  mxscreen %s\n", commands[i].usage);
	return EXIT_USAGE;
}

bool cli_common_option(struct cli_ctx *ctx, int opt, const char *arg)
{
	if (opt == 'c') {
		ctx->config_path = arg;
		return true;
	}
	if (opt == 'o') {
		if (ctx->noverrides >= CLI_OVERRIDES_MAX) {
			fprintf(stderr, "mxscreen: too many -o options\n");
			exit(EXIT_USAGE);
		}
		ctx->overrides[ctx->noverrides++] = arg;
		return true;
	}
	return false;
}

struct config *cli_load_config(const struct cli_ctx *ctx, char *err, size_t errlen)
{
	struct config *c = config_new();
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (ctx->config_path && config_load_file(c, ctx->config_path, err, errlen) < 0)
		goto fail;
	for (size_t i = 0; i < ctx->noverrides; i++) {
		char sub[512];
		if (config_set_override(c, ctx->overrides[i], sub, sizeof(sub)) < 0) {
			snprintf(err, errlen, "-o %s", sub);
			goto fail;
		}
	}
	if (config_finish(c, err, errlen) < 0)
		goto fail;
	return c;
fail:
	config_unref(c);
	return NULL;
}

int main(int argc, char **argv)
{
	struct cli_ctx ctx = { .argv0 = argv[0] };
	int i = 1;
	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return EXIT_OK;
		}
		if ((strcmp(argv[i], "-c") && strcmp(argv[i], "-o")) || i + 1 >= argc)
			return usage(stderr);
		cli_common_option(&ctx, argv[i][1], argv[i + 1]);
		i += 2;
	}
	if (i >= argc)
		return usage(stderr);
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (strcmp(argv[i], commands[k].name) == 0)
			return commands[k].run(&ctx, argc - i, argv + i);
	fprintf(stderr, "mxscreen: unknown command '%s'\n", argv[i]);
	return usage(stderr);
}
