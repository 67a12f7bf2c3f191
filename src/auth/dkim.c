/*
 * dkim.c - DKIM verification and signing (RFC 6376, RFC 8463, RFC 8301); see dkim.h.
 *
 * Order of checks for one signature, so each outcome has one reason:
 * tag-list and required tags (permerror) -> algorithm policy (permerror) ->
 * expiry (fail) -> key record (temperror/permerror) -> body hash (fail) ->
 * header signature (fail).
 */
#include "auth/dkim.h"
#include "auth/taglist.h"

#include <ctype.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void set(struct dkim_sig *s, enum dkim_result r, const char *why)
{
	s->result = r;
	s->reason = why;
	s->pending = false;
}

static bool slice_is(struct slice v, const char *lit)
{
	size_t n = strlen(lit);
	return v.len == n && memcmp(v.p, lit, n) == 0;
}

/* Copies a DNS name (LDH labels, dots), lower-cased; false if not one. */
static bool copy_domain(char *out, size_t cap, struct slice v)
{
	if (v.len == 0 || v.len >= cap || v.p[0] == '.' || v.p[v.len - 1] == '.')
		return false;
	for (size_t i = 0; i < v.len; i++) {
		unsigned char c = (unsigned char)v.p[i];
		if (!(isalnum(c) || c == '-' || c == '.' || c == '_'))
			return false;
		if (c == '.' && v.p[i + 1] == '.')
			return false;
		out[i] = (char)tolower(c);
	}
	out[v.len] = '\0';
	return true;
}

/* True when sub equals dom or ends with "." dom (both lower-case). */
static bool domain_within(const char *sub, size_t sublen, const char *dom)
{
	size_t n = strlen(dom);
	if (sublen == n)
		return strncasecmp(sub, dom, n) == 0;
	return sublen > n && sub[sublen - n - 1] == '.' && strncasecmp(sub + sublen - n, dom, n) == 0;
}

/* Splits a colon list item by item: returns false at the end. FWS around items is skipped. */
static bool colon_next(struct slice *list, struct slice *item)
{
	const char *p = list->p, *end = list->p + list->len;
	if (!p || p >= end)
		return false;
	const char *c = memchr(p, ':', (size_t)(end - p));
	const char *e = c ? c : end;
	const char *s = p;
	while (s < e && isspace((unsigned char)*s))
		s++;
	const char *t = e;
	while (t > s && isspace((unsigned char)t[-1]))
		t--;
	*item = (struct slice){ s, (size_t)(t - s) };
	list->p = c ? c + 1 : end;
	list->len = (size_t)(end - list->p);
	return true;
}

static const EVP_MD *alg_md(enum dkim_alg a)
{
	return a == DKIM_RSA_SHA1 ? EVP_sha1() : EVP_sha256();
}

static int parse_alg(struct slice v)
{
	if (slice_is(v, "rsa-sha256"))
		return DKIM_RSA_SHA256;
	if (slice_is(v, "ed25519-sha256"))
		return DKIM_ED25519_SHA256;
	if (slice_is(v, "rsa-sha1"))
		return DKIM_RSA_SHA1;
	return -1;
}

static const char *parse_canon(struct dkim_sig *s, const struct tag *c)
{
	/* DKIM defaults to simple/simple (RFC 6376 3.5); ARC signers always say, and
	 * dkimpy takes relaxed/relaxed for an AMS without c=, as do we. */
	s->hc = s->bc = s->kind == DKIM_KIND_AMS ? CANON_RELAXED : CANON_SIMPLE;
	if (!c)
		return NULL;
	struct slice v = c->value;
	const char *slash = memchr(v.p, '/', v.len);
	struct slice hs = { v.p, slash ? (size_t)(slash - v.p) : v.len };
	int hc = canon_parse(hs), bc = CANON_SIMPLE;
	if (slash)
		bc = canon_parse((struct slice){ slash + 1, v.len - hs.len - 1 });
	if (hc < 0 || bc < 0)
		return "unknown canonicalization (c=)";
	s->hc = (enum canon)hc;
	s->bc = (enum canon)bc;
	return NULL;
}

static const char *parse_h(struct dkim_sig *s, struct slice v)
{
	struct slice item;
	bool from = false;
	s->nh = 0;
	while (colon_next(&v, &item)) {
		if (item.len == 0)
			return "empty name in h=";
		if (s->nh == DKIM_SIGNED_HEADERS_MAX)
			return "too many names in h=";
		if (slice_eq_ci(item, "from"))
			from = true;
		if (s->kind == DKIM_KIND_AMS && slice_eq_ci(item, "arc-seal"))
			return "ARC-Seal in h= (RFC 8617 4.1.2)";
		s->h[s->nh++] = item;
	}
	if (!from && s->kind == DKIM_KIND_SIG)
		return "From not signed (RFC 6376 5.4)";
	return NULL;
}

static const char *parse_auid(struct dkim_sig *s, const struct tag *i)
{
	if (!i) {
		snprintf(s->auid, sizeof(s->auid), "@%s", s->d);
		return NULL;
	}
	const char *at = memchr(i->value.p, '@', i->value.len);
	if (!at || i->value.len >= sizeof(s->auid))
		return "bad i=";
	const char *dom = at + 1;
	size_t dlen = i->value.len - (size_t)(dom - i->value.p);
	if (!domain_within(dom, dlen, s->d))
		return "i= not within d= (RFC 6376 3.5)";
	memcpy(s->auid, i->value.p, i->value.len);
	s->auid[i->value.len] = '\0';
	return NULL;
}

static const char *parse_b(struct dkim_sig *s, struct slice v)
{
	if (base64_decode_ws(v, s->b, sizeof(s->b), &s->blen) < 0 || s->blen == 0)
		return "bad b= (base64)";
	size_t k = 0;
	for (size_t i = 0; i < v.len && k < sizeof(s->bprefix) - 1; i++)
		if (!isspace((unsigned char)v.p[i]))
			s->bprefix[k++] = v.p[i];
	s->bprefix[k] = '\0';
	return NULL;
}

static const char *required[3][8] = {
	[DKIM_KIND_SIG] = { "v", "a", "b", "bh", "d", "h", "s", NULL },
	[DKIM_KIND_AMS] = { "i", "a", "b", "bh", "d", "h", "s", NULL },
	[DKIM_KIND_AS] = { "i", "a", "b", "d", "s", "cv", NULL },
};

static const char *parse_tags(struct dkim_sig *s, const struct taglist *tl, time_t now)
{
	for (size_t k = 0; required[s->kind][k]; k++)
		if (!taglist_get(tl, required[s->kind][k]))
			return s->kind == DKIM_KIND_SIG ? "required tag missing"
							: "required ARC tag missing";
	const struct tag *t;
	if (s->kind == DKIM_KIND_SIG && !slice_is(taglist_get(tl, "v")->value, "1"))
		return "unknown version (v=)";
	if (s->kind != DKIM_KIND_SIG) {
		uint64_t inst;
		if (parse_u64(taglist_get(tl, "i")->value, 2, &inst) < 0 || inst < 1 ||
		    inst > ARC_INSTANCES_MAX)
			return "bad ARC instance (i=)";
		s->instance = (unsigned)inst;
	}
	if (s->kind == DKIM_KIND_AS) {
		struct slice cv = taglist_get(tl, "cv")->value;
		if (slice_is(cv, "none"))
			s->cv = ARC_CV_NONE;
		else if (slice_is(cv, "pass"))
			s->cv = ARC_CV_PASS;
		else if (slice_is(cv, "fail"))
			s->cv = ARC_CV_FAIL;
		else
			return "bad cv=";
		if (taglist_get(tl, "h"))
			return "h= in ARC-Seal (RFC 8617 4.1.3)";
	}
	if (!copy_domain(s->d, sizeof(s->d), taglist_get(tl, "d")->value))
		return "bad d=";
	if (!copy_domain(s->s, sizeof(s->s), taglist_get(tl, "s")->value))
		return "bad s=";
	snprintf(s->keyname, sizeof(s->keyname), "%s._domainkey.%s", s->s, s->d);
	int alg = parse_alg(taglist_get(tl, "a")->value);
	if (alg < 0)
		return "unknown algorithm (a=)";
	s->alg = (enum dkim_alg)alg;
	if (s->alg == DKIM_RSA_SHA1)
		return "rsa-sha1 not accepted (RFC 8301 3.1)";
	const char *why;
	if ((why = parse_b(s, taglist_get(tl, "b")->value)))
		return why;
	if (s->kind != DKIM_KIND_AS) {
		if ((why = parse_canon(s, taglist_get(tl, "c"))))
			return why;
		if ((why = parse_h(s, taglist_get(tl, "h")->value)))
			return why;
		if (base64_decode_ws(taglist_get(tl, "bh")->value, s->bh, sizeof(s->bh), &s->bhlen) <
			    0 ||
		    s->bhlen != (size_t)EVP_MD_get_size(alg_md(s->alg)))
			return "bad bh=";
	} else {
		s->hc = s->bc = CANON_RELAXED;
	}
	if (s->kind == DKIM_KIND_SIG && (why = parse_auid(s, taglist_get(tl, "i"))))
		return why;
	if ((t = taglist_get(tl, "q"))) {
		struct slice list = t->value, item;
		bool dns = false;
		while (colon_next(&list, &item))
			dns |= slice_is(item, "dns/txt");
		if (!dns)
			return "no known query method (q=)";
	}
	if ((t = taglist_get(tl, "l"))) {
		if (parse_u64(t->value, 18, &s->l) < 0)
			return "bad l=";
		s->has_l = true;
	}
	if ((t = taglist_get(tl, "t"))) {
		if (parse_u64(t->value, 12, &s->t) < 0)
			return "bad t=";
		s->has_t = true;
	}
	if ((t = taglist_get(tl, "x"))) {
		if (parse_u64(t->value, 12, &s->x) < 0)
			return "bad x=";
		s->has_x = true;
		if (s->has_t && s->x < s->t)
			return "x= earlier than t=";
	}
	(void)now;
	return NULL;
}

void dkim_sig_parse(struct dkim_sig *s, enum dkim_kind kind, const struct headers *h, size_t idx,
		    time_t now)
{
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->field = idx;
	s->reason = "";
	const struct header_field *f = &h->f[idx];
	struct taglist tl;
	int rc = taglist_parse(&tl, f->value.p, f->value.len);
	if (rc != TAGLIST_OK) {
		set(s, DKIM_PERMERROR, taglist_error_name(rc));
		return;
	}
	const char *why = parse_tags(s, &tl, now);
	if (why) {
		set(s, DKIM_PERMERROR, why);
		return;
	}
	if (s->has_x && now > 0 && (uint64_t)now > s->x) {
		set(s, DKIM_FAIL, "signature expired (x=)");
		return;
	}
	s->pending = true;
}

/* ---- keys ------------------------------------------------------------- */

struct dkim_key {
	EVP_PKEY *pkey;
	bool testing, strict;
};

static EVP_PKEY *rsa_from_der(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)len);
	if (k && p == der + len)
		return k;
	EVP_PKEY_free(k);
	p = der; /* some publish a bare PKCS#1 RSAPublicKey */
	k = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)len);
	if (k && p == der + len)
		return k;
	EVP_PKEY_free(k);
	return NULL;
}

static const char *key_parse(struct dkim_key *k, struct dkim_sig *s, struct slice rec,
			     enum dkim_result *res)
{
	struct taglist tl;
	*res = DKIM_PERMERROR;
	if (taglist_parse(&tl, rec.p, rec.len) != TAGLIST_OK)
		return "key record syntax";
	const struct tag *t = taglist_get(&tl, "v");
	if (t && (t != &tl.t[0] || !slice_is(t->value, "DKIM1")))
		return "key record version (v=)";
	if ((t = taglist_get(&tl, "h"))) {
		struct slice list = t->value, item;
		bool ok = false;
		while (colon_next(&list, &item))
			ok |= slice_is(item, s->alg == DKIM_RSA_SHA1 ? "sha1" : "sha256");
		if (!ok)
			return "hash not allowed by key (h=)";
	}
	bool ed = false;
	if ((t = taglist_get(&tl, "k"))) {
		if (slice_is(t->value, "ed25519"))
			ed = true;
		else if (!slice_is(t->value, "rsa"))
			return "unknown key type (k=)";
	}
	if (ed != (s->alg == DKIM_ED25519_SHA256))
		return "key type does not match a=";
	if ((t = taglist_get(&tl, "s"))) {
		struct slice list = t->value, item;
		bool ok = false;
		while (colon_next(&list, &item))
			ok |= slice_is(item, "*") || slice_is(item, "email");
		if (!ok)
			return "key not for email (s=)";
	}
	if ((t = taglist_get(&tl, "t"))) {
		struct slice list = t->value, item;
		while (colon_next(&list, &item)) {
			k->testing |= slice_is(item, "y");
			k->strict |= slice_is(item, "s");
		}
	}
	t = taglist_get(&tl, "p");
	if (!t)
		return "no p= in key record";
	if (t->value.len == 0)
		return "key revoked (empty p=)";
	unsigned char der[DKIM_RSA_BITS_MAX / 4 + 64];
	size_t dlen;
	if (base64_decode_ws(t->value, der, sizeof(der), &dlen) < 0)
		return "bad key data (p=)";
	if (ed) {
		if (dlen != 32)
			return "bad Ed25519 key length";
		k->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der, dlen);
	} else {
		k->pkey = rsa_from_der(der, dlen);
		if (k->pkey && EVP_PKEY_get_base_id(k->pkey) != EVP_PKEY_RSA) {
			EVP_PKEY_free(k->pkey);
			k->pkey = NULL;
		}
	}
	if (!k->pkey)
		return "bad key data (p=)";
	s->key_bits = (unsigned)EVP_PKEY_get_bits(k->pkey);
	if (!ed && s->key_bits < DKIM_RSA_BITS_MIN)
		return "RSA key shorter than 1024 bits (RFC 8301 3.2)";
	if (!ed && s->key_bits > DKIM_RSA_BITS_MAX)
		return "RSA key too long";
	if (k->strict && s->kind == DKIM_KIND_SIG) {
		const char *at = strchr(s->auid, '@');
		if (at && strcasecmp(at + 1, s->d) != 0)
			return "i= is a subdomain of d= but the key has t=s";
	}
	s->testing = k->testing;
	*res = DKIM_PASS;
	return NULL;
}

/* Takes the key from the answer; false (result set) when there is none usable. */
static bool key_from_answer(struct dkim_key *k, struct dkim_sig *s, const struct txt_answer *a)
{
	memset(k, 0, sizeof(*k));
	switch (a->status) {
	case TXT_TEMPFAIL:
		set(s, DKIM_TEMPERROR, "key lookup failed temporarily");
		return false;
	case TXT_NXDOMAIN:
	case TXT_NODATA:
		set(s, DKIM_PERMERROR, "no key record");
		return false;
	case TXT_OK:
		break;
	}
	const char *why = "no key record";
	enum dkim_result res = DKIM_PERMERROR;
	for (size_t i = 0; i < a->n; i++) {
		struct slice rec = a->rec[i];
		if (rec.len > AUTH_TXT_MAX)
			continue;
		why = key_parse(k, s, rec, &res);
		if (!why)
			return true;
		EVP_PKEY_free(k->pkey);
		memset(k, 0, sizeof(*k));
		if (a->n > 1 && strcmp(why, "key record syntax") == 0)
			continue; /* an unrelated TXT record at the same name */
		break;
	}
	set(s, res, why);
	return false;
}

/* ---- hashing and signatures ----------------------------------------- */

static bool verify_raw(EVP_PKEY *key, enum dkim_alg alg, const void *data, size_t len,
		       const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = false;
	if (!ctx)
		return false;
	if (alg == DKIM_ED25519_SHA256) {
		unsigned char hash[32];
		unsigned hl;
		if (EVP_Digest(data, len, hash, &hl, EVP_sha256(), NULL) == 1 &&
		    EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1)
			ok = EVP_DigestVerify(ctx, sig, siglen, hash, hl) == 1;
	} else if (EVP_DigestVerifyInit(ctx, NULL, alg_md(alg), NULL, key) == 1) {
		ok = EVP_DigestVerify(ctx, sig, siglen, data, len) == 1;
	}
	EVP_MD_CTX_free(ctx);
	return ok;
}

int dkim_sign_data(EVP_PKEY *key, enum dkim_alg alg, const void *data, size_t len,
		   struct buf *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int rc = -1;
	size_t siglen = 0;
	unsigned char hash[32];
	unsigned hl = 0;
	if (!ctx)
		return -1;
	if (alg == DKIM_ED25519_SHA256) {
		if (EVP_Digest(data, len, hash, &hl, EVP_sha256(), NULL) != 1 ||
		    EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) != 1)
			goto out;
		data = hash;
		len = hl;
	} else if (EVP_DigestSignInit(ctx, NULL, alg_md(alg), NULL, key) != 1) {
		goto out;
	}
	if (EVP_DigestSign(ctx, NULL, &siglen, data, len) != 1 || buf_reserve(out, siglen) < 0)
		goto out;
	if (EVP_DigestSign(ctx, (unsigned char *)out->p + out->len, &siglen, data, len) != 1)
		goto out;
	out->len += siglen;
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

struct body_hasher {
	EVP_MD_CTX *md;
	uint64_t limit; /* UINT64_MAX: none */
	uint64_t total;
	bool failed;
	size_t fill; /* relaxed output comes in word-sized pieces: batch them */
	char batch[8192];
};

static void body_flush(struct body_hasher *bh)
{
	if (bh->fill && EVP_DigestUpdate(bh->md, bh->batch, bh->fill) != 1)
		bh->failed = true;
	bh->fill = 0;
}

static void body_sink(void *arg, const char *p, size_t n)
{
	struct body_hasher *bh = arg;
	uint64_t take = n;
	if (bh->total < bh->limit) {
		if (bh->limit - bh->total < take)
			take = bh->limit - bh->total;
		if (take > sizeof(bh->batch) - bh->fill) {
			body_flush(bh);
			if (take >= sizeof(bh->batch)) {
				if (EVP_DigestUpdate(bh->md, p, (size_t)take) != 1)
					bh->failed = true;
				take = 0;
			}
		}
		memcpy(bh->batch + bh->fill, p, (size_t)take);
		bh->fill += (size_t)take;
	}
	bh->total += n;
}

/* Hashes the canonical body; *total gets its full canonical length. -1 on error. */
static int body_digest(enum dkim_alg alg, enum canon bc, struct slice body, uint64_t limit,
		       unsigned char *out, unsigned *outlen, uint64_t *total)
{
	struct body_hasher *bh = malloc(sizeof(*bh));
	if (!bh)
		return -1;
	*bh = (struct body_hasher){ EVP_MD_CTX_new(), limit, 0, false, 0, { 0 } };
	if (!bh->md || EVP_DigestInit_ex(bh->md, alg_md(alg), NULL) != 1) {
		EVP_MD_CTX_free(bh->md);
		free(bh);
		return -1;
	}
	canon_body(bc, body, body_sink, bh);
	body_flush(bh);
	int rc = bh->failed || EVP_DigestFinal_ex(bh->md, out, outlen) != 1 ? -1 : 0;
	EVP_MD_CTX_free(bh->md);
	*total = bh->total;
	free(bh);
	return rc;
}

int dkim_body_hash(struct buf *out, enum dkim_alg alg, enum canon bc, struct slice body,
		   uint64_t l)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n;
	uint64_t total;
	if (body_digest(alg, bc, body, l, md, &n, &total) < 0)
		return -1;
	return base64_encode(out, md, n);
}

int dkim_sig_self(struct buf *out, const struct dkim_sig *s, const struct headers *h)
{
	const struct header_field *f = &h->f[s->field];
	/* Find "b=" as a tag (start of value or after ';'), then drop up to ';' or the end. */
	struct taglist tl;
	if (taglist_parse(&tl, f->value.p, f->value.len) != TAGLIST_OK)
		return -1;
	const struct tag *b = taglist_get(&tl, "b");
	if (!b)
		return -1;
	const char *eq = b->name.p + 1;
	while (*eq != '=')
		eq++;
	const char *end = f->raw.p + f->raw.len;
	const char *stop = eq + 1;
	while (stop < end && *stop != ';')
		stop++;
	struct buf tmp = { 0 };
	if (buf_append(&tmp, f->raw.p, (size_t)(eq + 1 - f->raw.p)) < 0 ||
	    buf_append(&tmp, stop, (size_t)(end - stop)) < 0) {
		buf_free(&tmp);
		return -1;
	}
	struct header_field copy = {
		.name = { tmp.p + (f->name.p - f->raw.p), f->name.len },
		.value = { tmp.p + (f->value.p - f->raw.p),
			   tmp.len - (size_t)(f->value.p - f->raw.p) },
		.raw = { tmp.p, tmp.len },
	};
	int rc = canon_header(out, s->hc, &copy, false);
	buf_free(&tmp);
	return rc;
}

/* Appends the canonical fields named by h=, bottom-up per name (RFC 6376 5.4.2). */
static int hash_signed_headers(struct buf *out, const struct headers *h, enum canon hc,
			       const struct slice *names, size_t nh)
{
	for (size_t i = 0; i < nh; i++) {
		size_t used = 0; /* earlier h= entries with the same name */
		for (size_t k = 0; k < i; k++)
			if (names[k].len == names[i].len &&
			    !strncasecmp(names[k].p, names[i].p, names[i].len))
				used++;
		for (size_t j = h->n; j-- > 0;) {
			if (!header_is_slice(&h->f[j], names[i]))
				continue;
			if (used--)
				continue;
			if (canon_header(out, hc, &h->f[j], true) < 0)
				return -1;
			break;
		}
	}
	return 0;
}

void dkim_sig_verify_data(struct dkim_sig *s, const struct txt_answer *key, const void *data,
			  size_t len)
{
	struct dkim_key k;
	if (!key_from_answer(&k, s, key))
		return;
	if (verify_raw(k.pkey, s->alg, data, len, s->b, s->blen))
		set(s, DKIM_PASS, "");
	else
		set(s, DKIM_FAIL, "signature did not verify");
	EVP_PKEY_free(k.pkey);
}

void dkim_sig_verify(struct dkim_sig *s, const struct headers *h, const struct txt_answer *key)
{
	struct dkim_key k;
	if (!key_from_answer(&k, s, key))
		return;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen;
	uint64_t total;
	struct buf data = { 0 };
	if (body_digest(s->alg, s->bc, h->body, s->has_l ? s->l : UINT64_MAX, md, &mdlen, &total) <
	    0) {
		set(s, DKIM_TEMPERROR, "internal error (digest)");
		goto out;
	}
	if (s->has_l && total < s->l) {
		set(s, DKIM_FAIL, "l= longer than the body");
		goto out;
	}
	s->body_partial = s->has_l && total > s->l;
	if (mdlen != s->bhlen || memcmp(md, s->bh, mdlen) != 0) {
		set(s, DKIM_FAIL, "body hash did not verify");
		goto out;
	}
	if (hash_signed_headers(&data, h, s->hc, s->h, s->nh) < 0 || dkim_sig_self(&data, s, h) < 0) {
		set(s, DKIM_TEMPERROR, "internal error (memory)");
		goto out;
	}
	if (verify_raw(k.pkey, s->alg, data.p, data.len, s->b, s->blen))
		set(s, DKIM_PASS, s->body_partial ? "l= left part of the body unsigned" : "");
	else
		set(s, DKIM_FAIL, "signature did not verify");
out:
	buf_free(&data);
	EVP_PKEY_free(k.pkey);
}

/* ---- verifier ---------------------------------------------------------- */

int dkim_verifier_init(struct dkim_verifier *v, const struct headers *h, time_t now)
{
	memset(v, 0, sizeof(*v));
	v->h = h;
	size_t n = headers_count(h, "DKIM-Signature");
	if (n > DKIM_SIGNATURES_MAX) {
		v->ignored = n - DKIM_SIGNATURES_MAX;
		n = DKIM_SIGNATURES_MAX;
	}
	if (n == 0)
		return 0;
	v->sig = calloc(n, sizeof(*v->sig));
	if (!v->sig)
		return -1;
	/* Top-down: the most recently added signature first. */
	for (size_t i = 0; i < h->n && v->nsig < n; i++)
		if (header_is(&h->f[i], "DKIM-Signature"))
			dkim_sig_parse(&v->sig[v->nsig++], DKIM_KIND_SIG, h, i, now);
	return 0;
}

const char *dkim_verifier_query(const struct dkim_verifier *v, size_t *cursor)
{
	for (; *cursor < v->nsig; (*cursor)++) {
		const struct dkim_sig *s = &v->sig[*cursor];
		if (!s->pending)
			continue;
		bool seen = false;
		for (size_t k = 0; k < *cursor && !seen; k++)
			seen = v->sig[k].pending && !strcmp(v->sig[k].keyname, s->keyname);
		if (!seen)
			return v->sig[(*cursor)++].keyname;
	}
	return NULL;
}

void dkim_verifier_answer(struct dkim_verifier *v, const char *name, const struct txt_answer *a)
{
	for (size_t i = 0; i < v->nsig; i++)
		if (v->sig[i].pending && !strcasecmp(v->sig[i].keyname, name))
			dkim_sig_verify(&v->sig[i], v->h, a);
}

void dkim_verifier_finish(struct dkim_verifier *v)
{
	for (size_t i = 0; i < v->nsig; i++)
		if (v->sig[i].pending)
			set(&v->sig[i], DKIM_TEMPERROR, "key lookup not answered");
}

void dkim_verifier_free(struct dkim_verifier *v)
{
	free(v->sig);
	memset(v, 0, sizeof(*v));
}

/* ---- signing ------------------------------------------------------------ */

static const char *const default_signed[] = {
	"From", "Reply-To", "Subject", "Date", "To", "Cc", "Message-ID", "In-Reply-To",
	"References", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
	"List-Id", "List-Unsubscribe", "List-Unsubscribe-Post", "Sender", NULL,
};

/* Fields that occur at most once (RFC 5322 3.6): over-signed so none can be added. */
static bool oversigned(const char *name)
{
	static const char *const once[] = { "From", "Reply-To", "Subject", "Date", "To", "Cc",
					    "Message-ID", "MIME-Version", "Content-Type", NULL };
	for (size_t i = 0; once[i]; i++)
		if (!strcasecmp(once[i], name))
			return true;
	return false;
}

static int default_h(struct buf *hl, const struct headers *h)
{
	for (size_t i = 0; default_signed[i]; i++) {
		size_t c = headers_count(h, default_signed[i]);
		if (c && oversigned(default_signed[i]))
			c++;
		char lower[64];
		size_t n = strlen(default_signed[i]);
		for (size_t k = 0; k <= n; k++)
			lower[k] = (char)tolower((unsigned char)default_signed[i][k]);
		while (c--)
			if (buf_printf(hl, "%s%s", hl->len ? ":" : "", lower) < 0)
				return -1;
	}
	return 0;
}

/* Appends text folded at most ~76 columns: breaks only where brk allows. */
static int append_folded(struct buf *out, size_t *col, const char *p, size_t n, char brk)
{
	size_t i = 0;
	while (i < n) {
		size_t chunk = n - i;
		if (*col + chunk > 76) {
			size_t room = *col < 76 ? 76 - *col : 0;
			size_t cut = room;
			if (brk) { /* cut after the last brk within the room */
				cut = 0;
				for (size_t k = 0; k < room && i + k < n; k++)
					if (p[i + k] == brk)
						cut = k + 1;
			}
			if (cut == 0 && *col > 1) {
				if (buf_append(out, "\r\n\t", 3) < 0)
					return -1;
				*col = 1;
				continue;
			}
			if (cut == 0)
				cut = chunk < 72 ? chunk : 72;
			chunk = cut;
		}
		if (buf_append(out, p + i, chunk) < 0)
			return -1;
		*col += chunk;
		i += chunk;
	}
	return 0;
}

int dkim_sign(struct buf *out, const struct headers *h, const struct dkim_sign_opts *o,
	      char *err, size_t errlen)
{
	enum dkim_alg alg;
	int id = EVP_PKEY_get_base_id(o->key);
	if (id == EVP_PKEY_RSA)
		alg = DKIM_RSA_SHA256;
	else if (id == EVP_PKEY_ED25519)
		alg = DKIM_ED25519_SHA256;
	else {
		snprintf(err, errlen, "key is neither RSA nor Ed25519");
		return -1;
	}
	if (!headers_count(h, "From")) {
		snprintf(err, errlen, "message has no From field (RFC 6376 5.4)");
		return -1;
	}
	struct buf hl = { 0 }, sig = { 0 }, data = { 0 }, b = { 0 }, bh = { 0 };
	int rc = -1;
	if (o->headers ? buf_append_str(&hl, o->headers) : default_h(&hl, h))
		goto oom;
	uint64_t total = 0;
	if (o->body_length) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned n;
		if (body_digest(alg, o->bc, h->body, UINT64_MAX, md, &n, &total) < 0)
			goto oom;
	}
	if (dkim_body_hash(&bh, alg, o->bc, h->body, UINT64_MAX) < 0)
		goto oom;
	if (buf_printf(&sig, "DKIM-Signature: v=1; a=%s; c=%s/%s; d=%s; s=%s;\r\n\tt=%lld;",
		       dkim_alg_name(alg), canon_name(o->hc), canon_name(o->bc), o->domain,
		       o->selector, (long long)o->now) < 0)
		goto oom;
	if (o->expire && buf_printf(&sig, " x=%lld;", (long long)o->now + (long long)o->expire) < 0)
		goto oom;
	if (o->identity && buf_printf(&sig, " i=%s;", o->identity) < 0)
		goto oom;
	if (o->body_length && buf_printf(&sig, " l=%llu;", (unsigned long long)total) < 0)
		goto oom;
	size_t col = 4;
	if (buf_append_str(&sig, "\r\n\th=") < 0 || append_folded(&sig, &col, hl.p, hl.len, ':') < 0)
		goto oom;
	if (buf_append_str(&sig, ";\r\n\tbh=") < 0 || buf_append(&sig, bh.p, bh.len) < 0 ||
	    buf_append_str(&sig, ";\r\n\tb=") < 0)
		goto oom;
	/* Hash the signed fields, then this field with b= empty (no CRLF). */
	struct dkim_sig tmp = { .hc = o->hc };
	if (hl.len > 0) {
		struct slice list = { hl.p, hl.len }, item;
		while (colon_next(&list, &item)) {
			if (tmp.nh == DKIM_SIGNED_HEADERS_MAX) {
				snprintf(err, errlen, "too many names in h=");
				goto fail;
			}
			tmp.h[tmp.nh++] = item;
		}
	}
	struct headers self;
	if (headers_parse(&self, sig.p, sig.len) < 0 || self.n != 1) {
		headers_free(&self);
		snprintf(err, errlen, "bad signature field (domain or selector)");
		goto fail;
	}
	int hrc = hash_signed_headers(&data, h, o->hc, tmp.h, tmp.nh);
	if (hrc == 0)
		hrc = canon_header(&data, o->hc, &self.f[0], false);
	headers_free(&self);
	if (hrc < 0 || dkim_sign_data(o->key, alg, data.p, data.len, &b) < 0) {
		snprintf(err, errlen, "signing failed");
		goto fail;
	}
	struct buf b64 = { 0 };
	if (base64_encode(&b64, (unsigned char *)b.p, b.len) < 0) {
		buf_free(&b64);
		goto oom;
	}
	col = 3;
	rc = append_folded(&sig, &col, b64.p, b64.len, 0);
	buf_free(&b64);
	if (rc < 0 || buf_append_str(&sig, "\r\n") < 0 || buf_append(out, sig.p, sig.len) < 0)
		goto oom;
	rc = 0;
	goto done;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	rc = -1;
done:
	buf_free(&hl);
	buf_free(&sig);
	buf_free(&data);
	buf_free(&b);
	buf_free(&bh);
	return rc;
}

EVP_PKEY *dkim_load_key(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: cannot open", path);
		return NULL;
	}
	EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	if (!k) {
		/* dkimpy writes Ed25519 private keys as the base64 of the 32-octet seed. */
		char text[128];
		rewind(f);
		size_t n = fread(text, 1, sizeof(text) - 1, f);
		unsigned char seed[48];
		size_t slen;
		if (base64_decode_ws((struct slice){ text, n }, seed, sizeof(seed), &slen) == 0 &&
		    slen == 32)
			k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	}
	fclose(f);
	if (!k) {
		snprintf(err, errlen, "%s: not a PEM private key or an Ed25519 seed", path);
		return NULL;
	}
	int id = EVP_PKEY_get_base_id(k);
	if (id != EVP_PKEY_RSA && id != EVP_PKEY_ED25519) {
		EVP_PKEY_free(k);
		snprintf(err, errlen, "%s: key is neither RSA nor Ed25519", path);
		return NULL;
	}
	return k;
}

const char *dkim_result_name(enum dkim_result r)
{
	static const char *const names[] = { "none",   "pass",      "fail",     "neutral",
					     "policy", "temperror", "permerror" };
	return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}

const char *dkim_alg_name(enum dkim_alg a)
{
	switch (a) {
	case DKIM_RSA_SHA256: return "rsa-sha256";
	case DKIM_ED25519_SHA256: return "ed25519-sha256";
	case DKIM_RSA_SHA1: return "rsa-sha1";
	}
	return "?";
}
