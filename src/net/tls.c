/*
 * tls.c - TLS server contexts and the self-signed fallback certificate.
 */
#include "net/tls.h"
#include "core/config.h"
#include "core/log.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void ssl_err(char *err, size_t errlen, const char *what, const char *path)
{
	unsigned long e = ERR_get_error();
	char msg[256];
	ERR_error_string_n(e, msg, sizeof(msg));
	snprintf(err, errlen, "%s %s: %s", what, path, e ? msg : strerror(errno));
	ERR_clear_error();
}

static int write_pem(const char *path, int mode, int (*fn)(FILE *, void *), void *obj)
{
	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return errno = ENAMETOOLONG, -1;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -1;
	}
	int ok = fn(f, obj);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		ok = 0;
	fclose(f);
	if (!ok || rename(tmp, path) < 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int pem_key(FILE *f, void *k)
{
	return PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
}

static int pem_cert(FILE *f, void *x)
{
	return PEM_write_X509(f, x);
}

static int generate_selfsigned(const char *host, const char *crt, const char *key, char *err,
			       size_t errlen)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	int rc = -1;
	if (!pk || !x)
		goto out;
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)time(NULL));
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 86400);
	X509_set_version(x, 2);
	X509_set_pubkey(x, pk);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)host, -1, -1,
				   0);
	X509_set_issuer_name(x, name);
	char san[300];
	snprintf(san, sizeof(san), "DNS:%s", host);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
	if (ext) {
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	if (!X509_sign(x, pk, EVP_sha256()))
		goto out;
	if (write_pem(key, 0600, pem_key, pk) < 0 || write_pem(crt, 0644, pem_cert, x) < 0)
		goto out;
	rc = 0;
	log_msg(LOG_INFO, NULL, "event=tls_selfsigned_created cert=%s", crt);
out:
	if (rc < 0)
		ssl_err(err, errlen, "cannot create self-signed certificate", crt);
	X509_free(x);
	EVP_PKEY_free(pk);
	return rc;
}

SSL_CTX *tls_server_ctx(const struct config *cfg, char *err, size_t errlen)
{
	char crt[4096], key[4096];
	if (*cfg->tls_cert) {
		snprintf(crt, sizeof(crt), "%s", cfg->tls_cert);
		snprintf(key, sizeof(key), "%s", cfg->tls_key);
	} else {
		char dir[4000];
		if ((size_t)snprintf(dir, sizeof(dir), "%s/tls", cfg->var_dir) >= sizeof(dir)) {
			snprintf(err, errlen, "var_dir: path too long");
			return NULL;
		}
		if (mkdir(cfg->var_dir, 0755) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "var_dir %s: %s", cfg->var_dir, strerror(errno));
			return NULL;
		}
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "%s: %s", dir, strerror(errno));
			return NULL;
		}
		if ((size_t)snprintf(crt, sizeof(crt), "%s/selfsigned.crt", dir) >= sizeof(crt) ||
		    (size_t)snprintf(key, sizeof(key), "%s/selfsigned.key", dir) >= sizeof(key)) {
			snprintf(err, errlen, "var_dir: path too long");
			return NULL;
		}
		if (access(crt, R_OK) < 0 || access(key, R_OK) < 0)
			if (generate_selfsigned(cfg->hostname, crt, key, err, errlen) < 0)
				return NULL;
	}
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		ssl_err(err, errlen, "SSL_CTX_new", "");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(ctx, crt) != 1) {
		ssl_err(err, errlen, "cannot load certificate", crt);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
		ssl_err(err, errlen, mismatch ? "key does not match certificate" : "cannot load key",
			key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ssl_err(err, errlen, "key does not match certificate", crt);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}
