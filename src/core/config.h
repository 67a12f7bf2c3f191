/*
 * config.h - the one table of every mxscreen setting, and the loaded config.
 *
 * Settings come from built-in defaults, then the config file (`name = value`
 * lines, `#` comments), then `-o name=value` overrides, in that order. A loaded
 * struct config is immutable and reference counted: sessions keep the config
 * they started with, SIGHUP swaps in a new one (src/cli/cmd_serve.c).
 * docs/configuration.md is generated from the table (`mxscreen config doc`).
 */
#ifndef MX_CORE_CONFIG_H
#define MX_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum bare_newline_mode { BARE_NEWLINE_REJECT, BARE_NEWLINE_NORMALIZE };
enum spf_action { SPF_ACTION_REJECT, SPF_ACTION_FACTS };
enum spf_temp_action { SPF_TEMP_TEMPFAIL, SPF_TEMP_FACTS };
enum check_mode { MODE_ENFORCE, MODE_DRY_RUN };
enum long_lines_mode { LONG_LINES_ACCEPT, LONG_LINES_REJECT };
enum dnsbl_mode { DNSBL_MODE_ENFORCE, DNSBL_MODE_DRY_RUN };

struct config {
	int refs;
	/* identity and paths */
	char *hostname;
	char *var_dir;
	char *run_user;
	char *control_socket;
	char *portal_url;
	/* listeners */
	char *smtp_listen;
	/* recipients */
	char *local_domains;
	char *recipients;
	/* limits */
	uint64_t message_size_limit;
	uint64_t smtp_max_recipients;
	uint64_t smtp_command_timeout;
	uint64_t smtp_data_timeout;
	uint64_t smtp_session_limit;
	uint64_t smtp_max_errors;
	uint64_t smtp_max_connections;
	uint64_t smtp_max_connections_per_ip;
	int smtp_bare_newline; /* enum bare_newline_mode */
	/* TLS */
	char *tls_cert;
	char *tls_key;
	/* delivery and process */
	uint64_t delivery_threads;
	uint64_t shutdown_timeout;
	int log_level; /* enum log_level */
	/* DNS (net/dns.c) */
	char *dns_servers;
	uint64_t dns_timeout_ms;
	uint64_t dns_tries;
	uint64_t dns_cache_size;
	uint64_t dns_cache_max_ttl;
	uint64_t dns_negative_ttl;
	/* SPF and Sender ID (auth/spf.c) */
	bool spf_check;
	int spf_fail;      /* enum spf_action */
	int spf_permerror; /* enum spf_action */
	int spf_temperror; /* enum spf_temp_action */
	bool sender_id_check;
	/* DKIM, ARC, DMARC (auth/auth.c) */
	bool dkim_check;
	bool dmarc_enforce;
	char *arc_trusted_sealers;
	/* the store (store/) and what goes into it */
	char *store_path;
	uint64_t store_flush_ms;
	uint64_t store_batch_max;
	uint64_t store_queue_max;
	uint64_t stats_retention_days;
	bool dmarc_aggregate;
	/* DNSBL/DNSWL (reputation/dnsbl.c) */
	char *dnsbl_zones;
	char *dnswl_zones;
	int dnsbl_mode; /* enum dnsbl_mode */
	uint64_t dnsbl_threshold;
	/* content classifier */
	bool content_filter;
	char *content_model;
	uint64_t content_junk_scl;
	/* the verdict engine (policy/verdict.c) */
	uint64_t junk_score;
	int smtp_long_lines; /* enum long_lines_mode */
	uint64_t smtp_greet_wait_ms;
	/* reputation, limits, lists (reputation/) */
	uint64_t reputation_half_life;
	int rate_limit_mode; /* enum check_mode */
	uint64_t rate_limit_new, rate_limit_good, rate_limit_suspect, rate_limit_bad;
	uint64_t rate_limit_net_factor;
	uint64_t rate_limit_escalate;
	char *allow_ips, *block_ips, *allow_domains, *certified_domains, *trap_addresses;
	uint64_t clock_offset;
};

struct config_setting {
	const char *name;
	int type;
	size_t offset;
	const char *def;
	const char *choices; /* enum: values separated by '|'; else NULL */
	uint64_t min, max;    /* numeric bounds */
	const char *doc;
};

/* Fresh config with every default applied; NULL on ENOMEM. */
struct config *config_new(void);
struct config *config_ref(struct config *c);
void config_unref(struct config *c);

/* Each returns 0, or -1 with a one-line message in err. */
int config_set(struct config *c, const char *name, const char *value, char *err, size_t errlen);
int config_set_override(struct config *c, const char *name_eq_value, char *err, size_t errlen);
int config_load_file(struct config *c, const char *path, char *err, size_t errlen);
/* Fills derived defaults (hostname) and checks cross-setting consistency. */
int config_finish(struct config *c, char *err, size_t errlen);

/* Prints `name = value` for every setting. */
void config_dump(const struct config *c, FILE *out);
/* Prints the settings table as Markdown (docs/configuration.md). */
void config_doc(FILE *out);
const struct config_setting *config_settings(size_t *n);
/* Value of one setting as text, into out. */
const char *config_value_str(const struct config *c, const struct config_setting *s, char *out,
			     size_t outlen);

/* Iterates a comma/space separated list setting: returns the next item or 0. */
size_t config_list_next(const char **cursor, const char **item);
/* True when domain (case-insensitive) is in local_domains. */
bool config_is_local_domain(const struct config *c, const char *domain, size_t len);

#endif
