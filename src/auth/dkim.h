/*
 * dkim.h - DKIM signatures (RFC 6376): verification and signing.
 *
 * Algorithms: rsa-sha256 and ed25519-sha256 (RFC 8463). rsa-sha1 and RSA keys
 * under 1024 bits are refused as permerror (RFC 8301 3.1, 3.2). Every
 * DKIM-Signature field (up to DKIM_SIGNATURES_MAX) gets its own result and
 * reason. Verification is split at the DNS seam (auth/txt.h): init parses the
 * signatures, query lists the key names s._domainkey.d still needed, answer
 * verifies every signature waiting for that name, finish turns unanswered
 * ones into temperror. The same signature machinery verifies ARC's
 * ARC-Message-Signature and ARC-Seal (arc.c).
 * Deviations: l= is honoured and flagged (body_partial when content follows
 * the signed part); z= is ignored; a key record's first valid TXT record is used.
 */
#ifndef MX_AUTH_DKIM_H
#define MX_AUTH_DKIM_H

#include "auth/canon.h"
#include "auth/headers.h"
#include "auth/txt.h"
#include "core/buf.h"
#include "core/limits.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* RFC 8601 2.7.1 result values. */
enum dkim_result {
	DKIM_NONE,
	DKIM_PASS,
	DKIM_FAIL,
	DKIM_NEUTRAL,
	DKIM_POLICY,
	DKIM_TEMPERROR,
	DKIM_PERMERROR,
};

enum dkim_alg { DKIM_RSA_SHA256, DKIM_ED25519_SHA256, DKIM_RSA_SHA1 };
/* A DKIM-Signature, an ARC-Message-Signature or an ARC-Seal. */
enum dkim_kind { DKIM_KIND_SIG, DKIM_KIND_AMS, DKIM_KIND_AS };
enum arc_cv { ARC_CV_NONE, ARC_CV_PASS, ARC_CV_FAIL };

#define DKIM_KEYNAME_MAX (DKIM_SELECTOR_MAX + SMTP_DOMAIN_MAX + 13)

struct dkim_sig {
	enum dkim_kind kind;
	enum dkim_result result;
	const char *reason; /* static text: why not pass; "" on pass */
	bool pending;       /* parsed, waiting for the key */
	size_t field;       /* index in struct headers */
	enum dkim_alg alg;
	enum canon hc, bc;
	char d[SMTP_DOMAIN_MAX + 1];
	char s[DKIM_SELECTOR_MAX + 1];
	char auid[SMTP_PATH_MAX + 1]; /* i= (DKIM), or "" */
	char keyname[DKIM_KEYNAME_MAX + 1];
	char bprefix[9]; /* header.b (RFC 6008): first 8 characters of b= */
	struct slice h[DKIM_SIGNED_HEADERS_MAX];
	size_t nh;
	unsigned char b[DKIM_RSA_BITS_MAX / 8];
	size_t blen;
	unsigned char bh[EVP_MAX_MD_SIZE];
	size_t bhlen;
	bool has_l, has_t, has_x;
	uint64_t l, t, x;
	bool body_partial; /* l= left content of the body unsigned */
	unsigned instance; /* ARC i= */
	enum arc_cv cv;    /* ARC-Seal cv= */
	bool testing;      /* key record t=y */
	unsigned key_bits;
};

/*
 * Parses the field as a signature of the given kind. On a syntax or policy
 * problem sets result (permerror, or fail for an expired signature) and
 * reason; otherwise sets pending. now: seconds since the epoch, for x=.
 */
void dkim_sig_parse(struct dkim_sig *s, enum dkim_kind kind, const struct headers *h, size_t idx,
		    time_t now);
/*
 * Finishes a pending DKIM-Signature or ARC-Message-Signature with its key
 * answer: body hash, header hash, signature. Sets result and reason.
 */
void dkim_sig_verify(struct dkim_sig *s, const struct headers *h, const struct txt_answer *key);
/*
 * Finishes a pending signature over data already prepared by the caller
 * (ARC-Seal): the key from the answer, then the signature over data.
 */
void dkim_sig_verify_data(struct dkim_sig *s, const struct txt_answer *key, const void *data,
			  size_t len);
/*
 * Appends the canonical form of the signature field itself, with the value
 * of b= removed and no CRLF: the last input of the header hash (3.7).
 */
int dkim_sig_self(struct buf *out, const struct dkim_sig *s, const struct headers *h);

struct dkim_verifier {
	const struct headers *h;
	struct dkim_sig *sig;
	size_t nsig;
	size_t ignored; /* DKIM-Signature fields beyond DKIM_SIGNATURES_MAX */
};

/* 0, or -1 when out of memory. */
int dkim_verifier_init(struct dkim_verifier *v, const struct headers *h, time_t now);
/* The next key name still needed (each name once), or NULL; *cursor starts at 0. */
const char *dkim_verifier_query(const struct dkim_verifier *v, size_t *cursor);
void dkim_verifier_answer(struct dkim_verifier *v, const char *name, const struct txt_answer *a);
/* Unanswered signatures become temperror. */
void dkim_verifier_finish(struct dkim_verifier *v);
void dkim_verifier_free(struct dkim_verifier *v);

struct dkim_sign_opts {
	const char *domain;
	const char *selector;
	const char *identity; /* i=, or NULL */
	EVP_PKEY *key;        /* RSA -> rsa-sha256, Ed25519 -> ed25519-sha256 */
	enum canon hc, bc;
	const char *headers;  /* h= as a colon list; NULL: the default set, From over-signed */
	time_t now;           /* t= */
	uint64_t expire;      /* x= = now + expire, 0: no x= */
	bool body_length;     /* add l= */
};

/* Appends "DKIM-Signature: ...\r\n" for the message to out. 0, or -1 with err. */
int dkim_sign(struct buf *out, const struct headers *h, const struct dkim_sign_opts *o,
	      char *err, size_t errlen);
/* Private key from a PEM file (RSA or Ed25519), or a dkimpy-style base64 Ed25519 seed. */
EVP_PKEY *dkim_load_key(const char *path, char *err, size_t errlen);

/*
 * Signs data with key for the algorithm: RSA over the data with the hash,
 * Ed25519 over SHA-256(data) (RFC 8463 3). Appends the raw signature to out.
 */
int dkim_sign_data(EVP_PKEY *key, enum dkim_alg alg, const void *data, size_t len,
		   struct buf *out);
/* Appends the base64 of the body hash for (alg, canon, l) (l = UINT64_MAX: whole body). */
int dkim_body_hash(struct buf *out, enum dkim_alg alg, enum canon bc, struct slice body,
		   uint64_t l);

const char *dkim_result_name(enum dkim_result r);
const char *dkim_alg_name(enum dkim_alg a);

#endif
