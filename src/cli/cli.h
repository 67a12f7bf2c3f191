/*
 * cli.h - what every subcommand shares: options -c/-o, config loading, exit codes.
 *
 * Exit codes (ARCHITECTURE.md): 0 ok, 1 negative result, 2 usage or input
 * error, 3 temporary failure (DNS), 70 internal bug.
 */
#ifndef MX_CLI_CLI_H
#define MX_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "core/buf.h"

struct config;

enum { EXIT_OK = 0, EXIT_NEGATIVE = 1, EXIT_USAGE = 2, EXIT_TEMPFAIL = 3, EXIT_BUG = 70 };

#define CLI_OVERRIDES_MAX 128

struct cli_ctx {
	const char *argv0;
	const char *config_path;
	const char *overrides[CLI_OVERRIDES_MAX];
	size_t noverrides;
};

/* Handles -c FILE and -o name=value for a command's getopt loop: true if taken. */
bool cli_common_option(struct cli_ctx *ctx, int opt, const char *arg);
/* Builds the config from defaults, -c file and -o overrides; NULL after printing why. */
struct config *cli_load_config(const struct cli_ctx *ctx, char *err, size_t errlen);

int cmd_serve(struct cli_ctx *ctx, int argc, char **argv);
int cmd_config(struct cli_ctx *ctx, int argc, char **argv);
int cmd_spf(struct cli_ctx *ctx, int argc, char **argv);

struct dns;
struct event_base;
/* A resolver for a CLI command: --dns HOST:PORT, else $MXSCREEN_DNS, else dns_servers. */
struct dns *cli_dns(const struct config *cfg, const char *dns_flag, struct event_base *base,
		    char *err, size_t errlen);
int cmd_dkim(struct cli_ctx *ctx, int argc, char **argv);
int cmd_auth(struct cli_ctx *ctx, int argc, char **argv);
int cmd_dmarc(struct cli_ctx *ctx, int argc, char **argv);
int cmd_stats(struct cli_ctx *ctx, int argc, char **argv);
struct store;
/* Opens the configured store read-only (cmd_dmarc.c); NULL after printing why, *rc the exit
 * status (EXIT_USAGE: bad config or no store yet; EXIT_TEMPFAIL: unreadable). hostname, if
 * not NULL, receives a copy of the configured hostname (free it). */
struct store *cli_open_store(struct cli_ctx *ctx, char **hostname, int *rc);
int cmd_dnsbl(struct cli_ctx *ctx, int argc, char **argv);

struct buf;
struct slice;
struct txt_answer;

/* TXT answers given on the command line (--txt NAME=RECORD); others are NXDOMAIN. */
#define CLI_STATIC_TXT_MAX 64
struct cli_static_txt {
	const char *name[CLI_STATIC_TXT_MAX];
	struct slice rec[CLI_STATIC_TXT_MAX];
	size_t n;
};
int cli_static_txt_add(struct cli_static_txt *st, char *name_eq_record);
/* recs must have room for CLI_STATIC_TXT_MAX; ans points into it. */
void cli_static_txt_answer(const struct cli_static_txt *st, const char *name,
			   struct slice *recs, struct txt_answer *ans);
/* Reads a message from in, turning bare LF line ends into CRLF. 0 or -1. */
int cli_read_message(FILE *in, struct buf *out);
int cmd_classify(struct cli_ctx *ctx, int argc, char **argv);
int cmd_train(struct cli_ctx *ctx, int argc, char **argv);
int cmd_eval(struct cli_ctx *ctx, int argc, char **argv);
int cmd_features(struct cli_ctx *ctx, int argc, char **argv);
/* cmd_ctl.c: through the running server's control socket. */
int cmd_status(struct cli_ctx *ctx, int argc, char **argv);
int cmd_sessions(struct cli_ctx *ctx, int argc, char **argv);
int cmd_reload(struct cli_ctx *ctx, int argc, char **argv);
int cmd_ip(struct cli_ctx *ctx, int argc, char **argv);

struct buf;
/* Reads a whole stream into b (bounded); 0, or -1 with errno. Files:
 * file_read() and struct file_batch (core/fileread.h). */
int cli_read_stream(FILE *f, struct buf *b);

#endif
