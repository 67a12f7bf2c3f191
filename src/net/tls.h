/*
 * tls.h - TLS server contexts for STARTTLS (RFC 3207).
 *
 * With tls_cert/tls_key set, loads them (and checks they match). Without, uses
 * <var_dir>/tls/selfsigned.{crt,key}, generating an EC P-256 self-signed
 * certificate for `hostname` on first start. TLS 1.2 is the minimum.
 * A new context is built on every (re)load; OpenSSL reference-counts it, so
 * sessions already in TLS keep theirs.
 */
#ifndef MX_NET_TLS_H
#define MX_NET_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

struct config;

/* Returns a new SSL_CTX, or NULL with a message in err. */
SSL_CTX *tls_server_ctx(const struct config *cfg, char *err, size_t errlen);

#endif
