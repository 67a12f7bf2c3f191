/*
 * maildir.c - durable Maildir delivery; see maildir.h.
 */
#include "deliver/maildir.h"
#include "core/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define TMP_SUFFIX ".mxs-tmp"

char *maildir_mailbox_path(struct arena *a, const char *var_dir, const char *local,
			   size_t local_len, const char *domain, size_t domain_len)
{
	struct buf b = { 0 };
	int rc = buf_printf(&b, "%s/mail/", var_dir);
	for (size_t i = 0; rc == 0 && i < domain_len; i++) {
		unsigned char c = (unsigned char)domain[i];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		/* A validated domain has only letters, digits, '-', '.', UTF-8 and brackets;
		 * still, nothing in it may end the path early or add a component. */
		if (c == '/' || c == '%' || c < 0x20 || c == 0x7f || (i == 0 && c == '.'))
			rc = buf_printf(&b, "%%%02X", c);
		else
			rc = buf_append(&b, &c, 1);
	}
	rc = rc ? rc : buf_append(&b, "/", 1);
	for (size_t i = 0; rc == 0 && i < local_len; i++) {
		unsigned char c = (unsigned char)local[i];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		bool plain = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80 ||
			     (c && strchr("._+=-", c) && !(i == 0 && c == '.'));
		rc = plain ? buf_append(&b, &c, 1) : buf_printf(&b, "%%%02X", c);
	}
	char *out = rc ? NULL : arena_strndup(a, b.p, b.len);
	buf_free(&b);
	return out;
}

void maildir_unique(char *out, size_t outlen, const char *hostname)
{
	static unsigned long counter;
	struct timeval tv;
	gettimeofday(&tv, NULL);
	unsigned long q = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
	snprintf(out, outlen, "%lld.M%06ldP%ldQ%lu.%s", (long long)tv.tv_sec, (long)tv.tv_usec,
		 (long)getpid(), q, hostname);
}

static int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

/* mkdir -p with every newly created directory fsynced into its parent. */
static int ensure_dir(char *path)
{
	struct stat st;
	if (stat(path, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : (errno = ENOTDIR, -1);
	char *slash = strrchr(path, '/');
	if (slash && slash != path) {
		*slash = '\0';
		int rc = ensure_dir(path);
		*slash = '/';
		if (rc < 0)
			return -1;
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -1;
	if (slash && slash != path) {
		*slash = '\0';
		int rc = fsync_dir(path);
		*slash = '/';
		return rc;
	}
	return 0;
}

static int ensure_maildir(const char *mailbox, bool junk)
{
	static const char *const subs[] = { "tmp", "new", "cur" };
	char path[4096];
	for (size_t i = 0; i < 3; i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s%s/%s", mailbox, junk ? "/.Junk" : "",
				     subs[i]) >= sizeof(path))
			return errno = ENAMETOOLONG, -1;
		if (ensure_dir(path) < 0)
			return -1;
	}
	if (junk) {
		/* Maildir++: a folder is marked by an empty maildirfolder file. */
		if ((size_t)snprintf(path, sizeof(path), "%s/.Junk/maildirfolder", mailbox) >=
		    sizeof(path))
			return errno = ENAMETOOLONG, -1;
		int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return -1;
		close(fd);
	}
	return 0;
}

static int write_all(int fd, const struct slice *parts, size_t nparts)
{
	for (size_t i = 0; i < nparts; i++) {
		const char *p = parts[i].p;
		size_t left = parts[i].len;
		while (left) {
			ssize_t w = write(fd, p, left);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return -1;
			p += w;
			left -= (size_t)w;
		}
	}
	return 0;
}

static int new_path(char *out, size_t outlen, const char *mailbox, bool junk, const char *unique)
{
	if ((size_t)snprintf(out, outlen, "%s%s/new/%s", mailbox, junk ? "/.Junk" : "", unique) >=
	    outlen)
		return errno = ENAMETOOLONG, -1;
	return 0;
}

int maildir_deliver(const char *const *mailboxes, const bool *junk, size_t n,
		    const struct slice *parts, size_t nparts, const char *unique, char *err,
		    size_t errlen)
{
	char tmp[4096], dst[4096];
	size_t linked = 0;
	const char *step = "mkdir";
	int fd = -1;
	bool tmp_made = false;

	if (n == 0) {
		snprintf(err, errlen, "no mailbox");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (ensure_maildir(mailboxes[i], false) < 0 ||
		    (junk[i] && ensure_maildir(mailboxes[i], true) < 0))
			goto fail;
	step = "create";
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/tmp/%s" TMP_SUFFIX, mailboxes[0], unique) >=
	    sizeof(tmp)) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		goto fail;
	tmp_made = true;
	step = "write";
	if (write_all(fd, parts, nparts) < 0)
		goto fail;
	step = "fsync";
	if (fsync(fd) < 0)
		goto fail;
	step = "close";
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	step = "link";
	for (; linked < n; linked++) {
		if (new_path(dst, sizeof(dst), mailboxes[linked], junk[linked], unique) < 0 ||
		    link(tmp, dst) < 0)
			goto fail;
	}
	step = "fsync-dir";
	for (size_t i = 0; i < n; i++) {
		if ((size_t)snprintf(dst, sizeof(dst), "%s%s/new", mailboxes[i],
				     junk[i] ? "/.Junk" : "") >= sizeof(dst) ||
		    fsync_dir(dst) < 0)
			goto fail;
	}
	unlink(tmp);
	return 0;
fail:
	snprintf(err, errlen, "%s: %s", step, strerror(errno));
	if (fd >= 0)
		close(fd);
	for (size_t i = 0; i < linked; i++)
		if (new_path(dst, sizeof(dst), mailboxes[i], junk[i], unique) == 0)
			unlink(dst);
	if (tmp_made)
		unlink(tmp);
	return -1;
}

/* Calls fn(path, name, arg) for every entry of dir but "." and "..". */
static void for_each_entry(const char *dir, void (*fn)(const char *, const char *, void *),
			   void *arg)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	char path[4096];
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < sizeof(path))
			fn(path, e->d_name, arg);
	}
	closedir(d);
}

struct clean_ctx {
	time_t now;
	size_t *removed;
};

/* A tmp/ entry goes when it is one of ours (an interrupted delivery) or, like
 * any Maildir reader's, older than 36 hours; dot files are left alone. */
static void clean_file(const char *path, const char *name, void *arg)
{
	struct clean_ctx *ctx = arg;
	if (name[0] == '.')
		return;
	size_t len = strlen(name), sl = strlen(TMP_SUFFIX);
	bool ours = len > sl && strcmp(name + len - sl, TMP_SUFFIX) == 0;
	struct stat st;
	if (!ours && (stat(path, &st) < 0 || ctx->now - st.st_mtime < 36 * 3600))
		return;
	if (unlink(path) == 0)
		(*ctx->removed)++;
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void clean_mailbox(const char *mailbox, const char *name, void *arg)
{
	(void)name;
	char path[4096];
	if (!is_dir(mailbox))
		return;
	if ((size_t)snprintf(path, sizeof(path), "%s/tmp", mailbox) < sizeof(path))
		for_each_entry(path, clean_file, arg);
	if ((size_t)snprintf(path, sizeof(path), "%s/.Junk/tmp", mailbox) < sizeof(path))
		for_each_entry(path, clean_file, arg);
}

static void clean_domain(const char *domain_dir, const char *name, void *arg)
{
	(void)name;
	if (is_dir(domain_dir))
		for_each_entry(domain_dir, clean_mailbox, arg);
}

void maildir_clean_tmp(const char *var_dir, size_t *removed)
{
	char path[4096];
	struct clean_ctx ctx = { time(NULL), removed };
	*removed = 0;
	if ((size_t)snprintf(path, sizeof(path), "%s/mail", var_dir) < sizeof(path))
		for_each_entry(path, clean_domain, &ctx);
}
