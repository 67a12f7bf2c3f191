/*
 * rep_ctl.c - the operator commands on reputation (`mxscreen ip ...`), served
 * on the control socket: show, allow, block, unblock, list. An allow or block
 * takes effect on the next connection (the lists are consulted at connect)
 * and is persisted in the store (STORE_IPLIST), so a restart keeps it.
 */
#include "reputation/rep_internal.h"
#include "core/config.h"
#include "core/log.h"
#include "reputation/cidr.h"
#include "store/writer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct input {
	const char *name;
	double value, weight;
};

/* The inputs of an entity's score, the ones that weigh most first. */
static json_t *drivers(const struct rep_entity *e)
{
	struct input in[] = {
		{ "inbox", e->good, 1 },	  { "junk", e->junk, -1 },
		{ "refused", e->refused, -1 },	  { "unknown_rcpt", e->unknown, -0.5 },
		{ "trap_hits", e->traps, -25 },	  { "complaints", e->complaints, -10 },
		{ "hammering", e->hammer, -2 },
	};
	size_t n = sizeof(in) / sizeof(in[0]);
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && fabs(in[j].value * in[j].weight) >
						fabs(in[j - 1].value * in[j - 1].weight); j--) {
			struct input t = in[j];
			in[j] = in[j - 1];
			in[j - 1] = t;
		}
	json_t *a = json_array();
	for (size_t i = 0; i < n && i < 4; i++)
		if (in[i].value >= 0.005)
			json_array_append_new(a, json_pack("{s:s, s:f, s:f}", "input", in[i].name,
							   "decayed", round(in[i].value * 100) / 100,
							   "effect", round(in[i].value * in[i].weight * 100) / 100));
	return a;
}

static json_t *entity_json(struct reputation *r, struct rep_entity *e, long long now)
{
	rep_entity_refresh(r, e, now);
	double rate = rep_entity_rate(r, e);
	json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:o}", "kind", store_entity_kind_name(e->kind),
			      "key", e->key, "state", rep_state_name(rep_entity_state(e)), "score",
			      rep_entity_score(e), "drivers", drivers(e));
	if (e->kind != STORE_ENT_DOMAIN) {
		json_t *al = json_pack("{s:i, s:f, s:i}", "rate_per_hour", (json_int_t)lround(rate),
				       "tokens", floor(e->tokens * 100) / 100, "capacity",
				       (json_int_t)lround(rep_capacity(rate)));
		if (e->limited_until > now)
			json_object_set_new(al, "retry_after", json_integer(e->limited_until - now));
		json_object_set_new(al, "hammers_today", json_integer((json_int_t)e->hammers_today));
		json_object_set_new(o, "allowance", al);
	}
	return o;
}

struct days_ctx {
	json_t *a;
};

static json_t *counters_json(const unsigned long long *n)
{
	json_t *c = json_object();
	for (int i = 0; i < ST__COUNT; i++)
		json_object_set_new(c, stat_counter_name((enum stat_counter)i),
				    json_integer((json_int_t)n[i]));
	return c;
}

static int day_row(void *arg, const struct store_stat *s)
{
	struct days_ctx *c = arg;
	json_t *o = json_pack("{s:s, s:s, s:s, s:o}", "day", s->day, "kind",
			      store_entity_kind_name(s->kind), "key", s->key, "counters",
			      counters_json(s->n));
	if (s->helo)
		json_object_set_new(o, "sample_helo", json_string(s->helo));
	if (s->mail_from)
		json_object_set_new(o, "sample_mail_from", json_string(s->mail_from));
	json_t *rs = json_object();
	for (size_t i = 0; i < s->nreason; i++)
		json_object_set_new(rs, s->reason[i].code, json_integer((json_int_t)s->reason[i].n));
	json_object_set_new(o, "refusals", rs);
	json_array_append_new(c->a, o);
	return 0;
}

/* The last 7 UTC days of counters of an entity: what the store has, plus what is not flushed. */
static json_t *last_days(struct reputation *r, struct rep_entity *e, long long now)
{
	struct days_ctx c = { json_array() };
	char from[11];
	store_day_of(now - 6 * 86400, from);
	if (r->store_path[0]) {
		char err[256];
		struct store *st = store_open(r->store_path, true, err, sizeof(err));
		if (st) {
			struct store_stat_filter f = { .by_kind = true, .kind = e->kind, .key = e->key,
						       .day_from = from };
			if (store_stat_rows(st, &f, day_row, &c, err, sizeof(err)) < 0)
				log_msg(LOG_WARN, NULL, "event=store_read_failed what=ip_show error=\"%s\"",
					err);
			store_close(st);
		}
	}
	if (e->dirty_stat && e->stat_day[0]) {
		json_t *p = json_pack("{s:s, s:s, s:s, s:b, s:o}", "day", e->stat_day, "kind",
				      store_entity_kind_name(e->kind), "key", e->key, "pending", 1,
				      "counters", counters_json(e->n));
		json_array_append_new(c.a, p);
	}
	return c.a;
}

static json_t *list_entry_json(const struct cidr_entry *le, const char *source)
{
	char net[CIDR_TEXT_MAX];
	cidr_format(&le->net, net, sizeof(net));
	return json_pack("{s:s, s:s, s:s, s:s}", "cidr", net, "action",
			 le->tag.action == LIST_ALLOW ? "allow" : "block", "source", source, "reason",
			 le->reason ? le->reason : "");
}

static json_t *cmd_show(struct reputation *r, const char *arg, char *err, size_t errlen)
{
	char ip[INET6_ADDRSTRLEN], net[CIDR_TEXT_MAX];
	if (ip_normalize(arg, ip, sizeof(ip)) < 0 || ip_range_key(ip, net, sizeof(net)) < 0) {
		snprintf(err, errlen, "ip show: '%s' is not an IP address", arg);
		return NULL;
	}
	long long now = rep_now(r);
	/* what was sent must show: hand the pending statistics over and let the writer commit
	 * them (milliseconds; an operator command, never the mail path) */
	rep_flush(r);
	if (r->writer && store_writer_sync(r->writer, 2000) < 0)
		log_msg(LOG_WARN, NULL, "event=store_sync_timeout what=ip_show");
	json_t *o = json_pack("{s:s, s:s}", "ip", ip, "net", net);
	int src;
	const struct cidr_entry *le = rep_list_lookup(r, ip, &src);
	json_object_set_new(o, "list", le ? list_entry_json(le, src ? "operator" : "config")
					  : json_null());
	json_t *ents = json_array(), *days = json_array();
	const char *keys[2] = { ip, net };
	for (int i = 0; i < 2; i++) {
		struct rep_entity *e = rep_entity_get(r, i == 0 ? STORE_ENT_IP : STORE_ENT_NET, keys[i],
						      true);
		if (!e)
			continue;
		json_array_append_new(ents, entity_json(r, e, now));
		json_t *d = last_days(r, e, now);
		json_array_extend(days, d);
		json_decref(d);
	}
	json_object_set_new(o, "entities", ents);
	json_object_set_new(o, "days", days);
	return o;
}

static json_t *cmd_set(struct reputation *r, const char *verb, const char *const *args,
		       size_t nargs, char *err, size_t errlen)
{
	if (nargs < 1) {
		snprintf(err, errlen, "ip %s: which IP or range?", verb);
		return NULL;
	}
	struct cidr net;
	if (cidr_parse(args[0], strlen(args[0]), &net) < 0) {
		snprintf(err, errlen, "ip %s: '%s' is not an IP address or CIDR range (host bits "
				      "must be zero beyond the prefix)", verb, args[0]);
		return NULL;
	}
	char text[CIDR_TEXT_MAX];
	cidr_format(&net, text, sizeof(text));
	char reason[200] = "";
	size_t k = 0;
	for (size_t i = 1; i < nargs && k < sizeof(reason); i++) {
		if (strcmp(args[i], "--reason") == 0)
			continue; /* `ip block NET --reason TEXT`: the client forwards the words */
		k += (size_t)snprintf(reason + k, sizeof(reason) - k, "%s%s", k ? " " : "", args[i]);
	}
	bool remove = strcmp(verb, "unblock") == 0;
	struct store_record *rec = store_record_new(STORE_IPLIST);
	if (!rec) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	struct store_iplist *l = &rec->u.iplist;
	l->cidr = arena_strdup(&rec->a, text);
	l->action = arena_strdup(&rec->a, remove ? "block" : verb);
	l->reason = arena_strdup(&rec->a, reason);
	l->created_ts = rep_now(r);
	l->remove = remove;
	int had;
	if (remove) {
		had = cidr_set_remove(rep_op_list(r), &net);
	} else {
		had = cidr_set_add(rep_op_list(r), &net,
				   (struct cidr_tag){ strcmp(verb, "allow") == 0 ? LIST_ALLOW : LIST_BLOCK,
						      NULL },
				   reason);
		if (had < 0) {
			store_record_free(rec);
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
	}
	bool stored = rep_submit(r, rec) == 0;
	log_msg(LOG_INFO, NULL, "event=operator_list action=%s cidr=%s reason=\"%s\"", verb, text,
		reason);
	json_t *o = json_pack("{s:s, s:s, s:b, s:b}", "action", verb, "cidr", text, "persisted",
			      stored, remove ? "removed" : "added", remove ? had == 1 : had == 1);
	if (remove && had != 1)
		json_object_set_new(o, "note", json_string("no operator entry for exactly this "
							   "range (config entries change in the "
							   "config file)"));
	return o;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "cidr")),
		      json_string_value(json_object_get(*(json_t *const *)b, "cidr")));
}

static json_t *cmd_list(struct reputation *r)
{
	json_t *items[2] = { json_array(), json_array() };
	const struct cidr_set *sets[2] = { rep_cfg_list(r), rep_op_list(r) };
	for (int i = 0; i < 2; i++) {
		if (!sets[i])
			continue;
		size_t cur = 0;
		const struct cidr_entry *le;
		size_t n = cidr_set_count(sets[i]), k = 0;
		json_t **v = calloc(n ? n : 1, sizeof(*v));
		while (v && (le = cidr_set_next(sets[i], &cur)) && k < n)
			v[k++] = list_entry_json(le, i ? "operator" : "config");
		if (v) {
			qsort(v, k, sizeof(*v), cmp_entry);
			for (size_t j = 0; j < k; j++)
				json_array_append_new(items[i], v[j]);
		}
		free(v);
	}
	json_array_extend(items[0], items[1]);
	json_decref(items[1]);
	return json_pack("{s:o}", "entries", items[0]);
}

json_t *rep_control(struct reputation *r, const char *const *args, size_t nargs, char *err,
		    size_t errlen)
{
	if (nargs < 1) {
		snprintf(err, errlen, "ip: show|allow|block|unblock|list");
		return NULL;
	}
	const char *verb = args[0];
	if (strcmp(verb, "show") == 0) {
		if (nargs != 2) {
			snprintf(err, errlen, "usage: ip show IP");
			return NULL;
		}
		return cmd_show(r, args[1], err, errlen);
	}
	if (strcmp(verb, "allow") == 0 || strcmp(verb, "block") == 0 ||
	    strcmp(verb, "unblock") == 0)
		return cmd_set(r, verb, args + 1, nargs - 1, err, errlen);
	if (strcmp(verb, "list") == 0)
		return cmd_list(r);
	snprintf(err, errlen, "ip: unknown command '%s' (show|allow|block|unblock|list)", verb);
	return NULL;
}
