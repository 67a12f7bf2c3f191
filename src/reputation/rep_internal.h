/*
 * rep_internal.h - what rep.c shares with rep_ctl.c (not for other modules).
 */
#ifndef MX_REPUTATION_REP_INTERNAL_H
#define MX_REPUTATION_REP_INTERNAL_H

#include "reputation/rep.h"

#include <glib.h>

struct cidr_set;
struct cidr_entry;

#define REP_KEY_MAX 256
#define REP_REASONS_MAX STORE_STAT_REASONS_MAX
#define REP_INPUTS_SHOWN 4

struct rep_entity {
	enum store_entity_kind kind;
	char key[REP_KEY_MAX];
	/* reputation: decayed sums at `updated` */
	long long updated;
	double good, junk, refused, unknown, traps, complaints, hammer;
	/* token bucket (IPs and ranges) */
	double tokens;
	long long tokens_ts;
	bool bucket_init;
	long long limited_until;
	unsigned long long hammers_today;
	char hammer_day[11];
	bool dirty_rep;
	/* statistics of `stat_day` not yet handed to the writer */
	char stat_day[11];
	unsigned long long n[ST__COUNT];
	long long first_ts, last_ts;
	char *helo, *mail_from;
	struct {
		char code[24];
		unsigned long long n;
	} reason[REP_REASONS_MAX];
	size_t nreason;
	bool dirty_stat;
	bool in_dirty_list;
};

struct reputation {
	const struct config *cfg;
	GHashTable *ent[STORE_ENT__COUNT]; /* key -> struct rep_entity */
	GPtrArray *dirty;
	struct cidr_set *cfg_list, *op_list; /* allow/block: config, operator */
	struct event_base *base;
	struct event *timer;
	struct store_writer *writer;
	char store_path[1024];
	unsigned long long dropped;
};


struct rep_entity *rep_entity_get(struct reputation *r, enum store_entity_kind kind,
				  const char *key, bool create);
/* Decays the sums and refills the bucket up to now. */
void rep_entity_refresh(struct reputation *r, struct rep_entity *e, long long now);
double rep_entity_rate(const struct reputation *r, const struct rep_entity *e);
double rep_capacity(double rate);
int rep_entity_score(const struct rep_entity *e);
enum rep_state rep_entity_state(const struct rep_entity *e);
/* The most specific list entry for ip; *src 1 operator, 0 config. */
const struct cidr_entry *rep_list_lookup(const struct reputation *r, const char *ip, int *src);
struct cidr_set *rep_op_list(struct reputation *r);
const struct cidr_set *rep_cfg_list(const struct reputation *r);
/* Hands a record to the store writer (freed when there is none). 0, or -1 when dropped. */
int rep_submit(struct reputation *r, struct store_record *rec);

#endif
