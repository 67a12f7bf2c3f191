/* Unit tests for Maildir delivery and the recipient table (src/deliver/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/arena.h"
#include "deliver/maildir.h"
#include "deliver/recipients.h"

static char var[64];

static int make_var(void **state)
{
	(void)state;
	snprintf(var, sizeof(var), "/tmp/test_maildir.XXXXXX");
	return mkdtemp(var) ? 0 : -1;
}

static int remove_var(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", var);
	return system(cmd) == 0 ? 0 : -1;
}

/* Fresh var_dir per test: <var>/<name>. Static storage. */
static const char *subdir(const char *name)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", var, name);
	assert_int_equal(mkdir(path, 0700), 0);
	return path;
}

static size_t count_files(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static bool exists(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool exists(const char *fmt, ...)
{
	char path[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	struct stat st;
	return lstat(path, &st) == 0;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void assert_file_is(const char *path, const char *want)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	char got[4096];
	size_t n = fread(got, 1, sizeof(got), f);
	fclose(f);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(got, want, n);
}

static const char *path_of(struct arena *a, const char *local, const char *domain)
{
	return maildir_mailbox_path(a, "/v", local, strlen(local), domain, strlen(domain));
}

static void test_mailbox_path_encoding(void **state)
{
	(void)state;
	struct arena a;
	arena_init(&a, 4096);
	assert_string_equal(path_of(&a, "joe", "example.com"), "/v/mail/example.com/joe");
	assert_string_equal(path_of(&a, "Joe.Smith", "Example.COM"),
			    "/v/mail/example.com/joe.smith");
	assert_string_equal(path_of(&a, "a+tag=x_y-z", "d"), "/v/mail/d/a+tag=x_y-z");
	assert_string_equal(path_of(&a, "a/b", "d"), "/v/mail/d/a%2Fb");
	assert_string_equal(path_of(&a, "..", "d"), "/v/mail/d/%2E.");
	assert_string_equal(path_of(&a, ".", "d"), "/v/mail/d/%2E");
	assert_string_equal(path_of(&a, ".hidden", "d"), "/v/mail/d/%2Ehidden");
	assert_string_equal(path_of(&a, "a..b", "d"), "/v/mail/d/a..b");
	assert_string_equal(path_of(&a, "\"john doe\"", "d"), "/v/mail/d/%22john%20doe%22");
	assert_string_equal(path_of(&a, "100%", "d"), "/v/mail/d/100%25");
	assert_string_equal(path_of(&a, "a\tb\x7f", "d"), "/v/mail/d/a%09b%7F");
	assert_string_equal(path_of(&a, "j\xc3\xb6rg", "d"), "/v/mail/d/j\xc3\xb6rg");
	char *p = maildir_mailbox_path(&a, "/v", "a\0b", 3, "d", 1);
	assert_string_equal(p, "/v/mail/d/a%00b");
	/* the domain: lowercased, no '/' and no leading dot */
	assert_string_equal(path_of(&a, "x", "A/B"), "/v/mail/a%2Fb/x");
	assert_string_equal(path_of(&a, "x", ".."), "/v/mail/%2E./x");
	assert_string_equal(path_of(&a, "x", "[IPv6:::1]"), "/v/mail/[ipv6:::1]/x");
	arena_reset(&a);
}

/*
 * Whatever the octets, the local part is one path component: no '/', not
 * "." or "..", no NUL, and two different local parts (ignoring ASCII case)
 * never share a directory.
 */
static void test_mailbox_path_never_escapes(void **state)
{
	(void)state;
	struct arena a;
	arena_init(&a, 1 << 16);
	uint32_t rng = 12345;
	const char *prefix = "/v/mail/d/";
	for (int iter = 0; iter < 20000; iter++) {
		char local[12];
		size_t n = 1 + iter % 11;
		for (size_t i = 0; i < n; i++) {
			rng = rng * 1103515245u + 12345u;
			unsigned r = rng >> 16;
			/* favour the dangerous octets */
			static const char risky[] = { '.', '/', '\0', '%', '\\', '\n', 'A' };
			local[i] = (r & 1) ? risky[(r >> 1) % sizeof(risky)] : (char)(r >> 8);
		}
		char *p = maildir_mailbox_path(&a, "/v", local, n, "d", 1);
		assert_non_null(p);
		assert_memory_equal(p, prefix, strlen(prefix));
		const char *comp = p + strlen(prefix);
		assert_null(strchr(comp, '/'));
		assert_true(strlen(comp) > 0);
		assert_string_not_equal(comp, ".");
		assert_string_not_equal(comp, "..");
		assert_true(comp[0] != '.');
		/* decoding gives back the lowercased local part: no two share a name */
		char dec[64];
		size_t k = 0;
		for (const char *q = comp; *q; k++) {
			if (*q == '%') {
				unsigned v;
				assert_int_equal(sscanf(q + 1, "%2X", &v), 1);
				dec[k] = (char)v;
				q += 3;
			} else {
				dec[k] = *q++;
			}
		}
		assert_int_equal(k, n);
		for (size_t i = 0; i < n; i++) {
			char want = (local[i] >= 'A' && local[i] <= 'Z') ? local[i] - 'A' + 'a' : local[i];
			assert_int_equal(dec[i], want);
		}
		if (iter % 1000 == 999)
			arena_reset(&a);
	}
	/* control octets in the domain cannot cut the path short either */
	char *p = maildir_mailbox_path(&a, "/v", "x", 1, "d\0/..", 5);
	assert_non_null(p);
	assert_int_equal(strncmp(p, "/v/mail/d", 9), 0);
	assert_null(strstr(p, "/../"));
	assert_true(strlen(p) > strlen("/v/mail/d/x"));
	arena_reset(&a);
}

static void test_unique(void **state)
{
	(void)state;
	char a[128], b[128];
	maildir_unique(a, sizeof(a), "mx.example");
	maildir_unique(b, sizeof(b), "mx.example");
	assert_string_not_equal(a, b);
	assert_non_null(strstr(a, ".mx.example"));
	assert_null(strchr(a, '/'));
}

struct box {
	const char *path;
	bool junk;
};

static int deliver(const struct box *boxes, size_t n, const char *unique, char *err,
		   size_t errlen)
{
	const char *mailboxes[8];
	bool junk[8];
	for (size_t i = 0; i < n; i++) {
		mailboxes[i] = boxes[i].path;
		junk[i] = boxes[i].junk;
	}
	static const struct slice parts[] = {
		{ "Return-Path: <a@b>\r\n", 20 },
		{ "Subject: hi\r\n\r\nbody\r\n", 21 },
	};
	return maildir_deliver(mailboxes, junk, n, parts, 2, unique, err, errlen);
}

#define MESSAGE "Return-Path: <a@b>\r\nSubject: hi\r\n\r\nbody\r\n"

static void test_deliver_several(void **state)
{
	(void)state;
	const char *v = subdir("several");
	struct arena a;
	arena_init(&a, 4096);
	struct box boxes[] = {
		{ maildir_mailbox_path(&a, v, "ann", 3, "d.example", 9), false },
		{ maildir_mailbox_path(&a, v, "bob", 3, "d.example", 9), false },
		{ maildir_mailbox_path(&a, v, "cy", 2, "e.example", 9), true },
	};
	char unique[128], err[256] = "", path[512];
	maildir_unique(unique, sizeof(unique), "mx.example");
	if (deliver(boxes, 3, unique, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	for (size_t i = 0; i < 3; i++) {
		const char *sub = boxes[i].junk ? "/.Junk" : "";
		snprintf(path, sizeof(path), "%s%s/new/%s", boxes[i].path, sub, unique);
		assert_file_is(path, MESSAGE);
		struct stat st;
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
		assert_true(exists("%s/cur", boxes[i].path));
		assert_true(exists("%s%s/cur", boxes[i].path, sub));
		/* no tmp leftovers anywhere */
		snprintf(path, sizeof(path), "%s/tmp", boxes[i].path);
		assert_int_equal(count_files(path), 0);
	}
	assert_int_equal(count_files(path), 0);
	/* the junk recipient got a Maildir++ folder, the others none; Inbox new/ empty */
	assert_true(exists("%s/.Junk/maildirfolder", boxes[2].path));
	snprintf(path, sizeof(path), "%s/new", boxes[2].path);
	assert_int_equal(count_files(path), 0);
	assert_false(exists("%s/.Junk", boxes[0].path));
	/* a second message lands next to the first */
	char unique2[128];
	maildir_unique(unique2, sizeof(unique2), "mx.example");
	assert_int_equal(deliver(boxes, 2, unique2, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/new", boxes[0].path);
	assert_int_equal(count_files(path), 2);
	/* no mailbox: an error, not a crash */
	assert_int_equal(deliver(boxes, 0, unique2, err, sizeof(err)), -1);
	arena_reset(&a);
}

/* After a failed delivery no new/ holds the message and no tmp/ a leftover. */
static void assert_nothing_delivered(const struct box *boxes, size_t n, const char *unique)
{
	for (size_t i = 0; i < n; i++) {
		const char *sub = boxes[i].junk ? "/.Junk" : "";
		assert_false(exists("%s%s/new/%s", boxes[i].path, sub, unique));
		char path[512];
		snprintf(path, sizeof(path), "%s/tmp", boxes[i].path);
		assert_int_equal(count_files(path), 0);
	}
}

static void test_deliver_rollback_on_link_failure(void **state)
{
	(void)state;
	const char *v = subdir("rollback-link");
	char b0[512], b1[512], b2[512], path[600], err[256] = "", unique[128];
	snprintf(b0, sizeof(b0), "%s/mail/d/a", v);
	snprintf(b1, sizeof(b1), "%s/mail/d/b", v);
	snprintf(b2, sizeof(b2), "%s/mail/d/c", v);
	struct box boxes[] = { { b0, false }, { b1, true }, { b2, false } };
	/* c's new/ is a dangling symlink: mkdir -p accepts it, link() into it fails */
	snprintf(path, sizeof(path), "%s/mail", v);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/mail/d", v);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(mkdir(b2, 0700), 0);
	snprintf(path, sizeof(path), "%s/new", b2);
	assert_int_equal(symlink("/nonexistent/mxscreen-test", path), 0);
	maildir_unique(unique, sizeof(unique), "mx");
	assert_int_equal(deliver(boxes, 3, unique, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "link"));
	assert_nothing_delivered(boxes, 2, unique);
	snprintf(path, sizeof(path), "%s/new", b0);
	assert_int_equal(count_files(path), 0);
	snprintf(path, sizeof(path), "%s/.Junk/new", b1);
	assert_int_equal(count_files(path), 0);
	snprintf(path, sizeof(path), "%s/tmp", b2);
	assert_int_equal(count_files(path), 0);
}

static void test_deliver_rollback_on_existing_name(void **state)
{
	(void)state;
	const char *v = subdir("rollback-exists");
	struct arena a;
	arena_init(&a, 4096);
	struct box boxes[] = {
		{ maildir_mailbox_path(&a, v, "a", 1, "d", 1), false },
		{ maildir_mailbox_path(&a, v, "b", 1, "d", 1), false },
		{ maildir_mailbox_path(&a, v, "c", 1, "d", 1), false },
	};
	char unique[128], err[256] = "", path[600];
	maildir_unique(unique, sizeof(unique), "mx");
	/* create the Maildirs with one delivery, then plant a file under the next name */
	char first[128];
	maildir_unique(first, sizeof(first), "mx");
	assert_int_equal(deliver(boxes, 3, first, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/new/%s", boxes[2].path, unique);
	write_text(path, "somebody else's\n");
	assert_int_equal(deliver(boxes, 3, unique, err, sizeof(err)), -1);
	assert_nothing_delivered(boxes, 2, unique);
	/* the foreign file is left alone */
	assert_file_is(path, "somebody else's\n");
	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/new", boxes[i].path);
		assert_int_equal(count_files(path), 1); /* the first message only */
	}
	arena_reset(&a);
}

static void test_deliver_rollback_on_file_instead_of_dir(void **state)
{
	(void)state;
	const char *v = subdir("rollback-file");
	struct arena a;
	arena_init(&a, 4096);
	struct box boxes[] = {
		{ maildir_mailbox_path(&a, v, "a", 1, "d", 1), false },
		{ maildir_mailbox_path(&a, v, "b", 1, "d", 1), false },
		{ maildir_mailbox_path(&a, v, "c", 1, "d", 1), true },
	};
	char unique[128], err[256] = "", path[600];
	maildir_unique(unique, sizeof(unique), "mx");
	/* b's mailbox directory is a regular file */
	snprintf(path, sizeof(path), "%s/mail", v);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/mail/d", v);
	assert_int_equal(mkdir(path, 0700), 0);
	write_text(boxes[1].path, "not a directory\n");
	assert_int_equal(deliver(boxes, 3, unique, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "Not a directory"));
	assert_nothing_delivered((struct box[]){ boxes[0], boxes[2] }, 2, unique);
	/* c's .Junk is a file: fails too */
	snprintf(path, sizeof(path), "%s/mail/d/c", v);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/mail/d/c/.Junk", v);
	write_text(path, "x");
	struct box two[] = { boxes[0], boxes[2] };
	assert_int_equal(deliver(two, 2, unique, err, sizeof(err)), -1);
	assert_nothing_delivered(two, 1, unique);
	snprintf(path, sizeof(path), "%s/new", boxes[0].path);
	assert_int_equal(count_files(path), 0);
	arena_reset(&a);
}

static void set_age(const char *path, time_t seconds)
{
	struct timeval tv[2];
	gettimeofday(&tv[0], NULL);
	tv[0].tv_sec -= seconds;
	tv[1] = tv[0];
	assert_int_equal(utimes(path, tv), 0);
}

static void test_clean_tmp(void **state)
{
	(void)state;
	const char *v = subdir("clean");
	char vdir[256];
	snprintf(vdir, sizeof(vdir), "%s", v);
	struct arena a;
	arena_init(&a, 4096);
	struct box boxes[] = {
		{ maildir_mailbox_path(&a, vdir, "a", 1, "d", 1), true },
		{ maildir_mailbox_path(&a, vdir, "b", 1, "e", 1), false },
	};
	char unique[128], err[256] = "", path[600];
	maildir_unique(unique, sizeof(unique), "mx");
	assert_int_equal(deliver(boxes, 2, unique, err, sizeof(err)), 0);
	/* leftovers of a crash (ours), a fresh and an old foreign tmp file */
	snprintf(path, sizeof(path), "%s/tmp/1.M1P1Q1.mx.mxs-tmp", boxes[0].path);
	write_text(path, "partial");
	snprintf(path, sizeof(path), "%s/.Junk/tmp/2.M2P2Q2.mx.mxs-tmp", boxes[0].path);
	write_text(path, "partial");
	snprintf(path, sizeof(path), "%s/tmp/3.M3P3Q3.mx.mxs-tmp", boxes[1].path);
	write_text(path, "partial");
	snprintf(path, sizeof(path), "%s/tmp/fresh-foreign", boxes[1].path);
	write_text(path, "another MDA is writing this");
	snprintf(path, sizeof(path), "%s/tmp/old-foreign", boxes[1].path);
	write_text(path, "abandoned");
	set_age(path, 37 * 3600);
	snprintf(path, sizeof(path), "%s/tmp/young-foreign", boxes[1].path);
	write_text(path, "recent");
	set_age(path, 35 * 3600);
	size_t removed = 99;
	maildir_clean_tmp(vdir, &removed);
	assert_int_equal(removed, 4);
	snprintf(path, sizeof(path), "%s/tmp", boxes[0].path);
	assert_int_equal(count_files(path), 0);
	snprintf(path, sizeof(path), "%s/.Junk/tmp", boxes[0].path);
	assert_int_equal(count_files(path), 0);
	assert_true(exists("%s/tmp/fresh-foreign", boxes[1].path));
	assert_true(exists("%s/tmp/young-foreign", boxes[1].path));
	assert_false(exists("%s/tmp/old-foreign", boxes[1].path));
	/* delivered mail is never touched */
	snprintf(path, sizeof(path), "%s/.Junk/new/%s", boxes[0].path, unique);
	assert_file_is(path, MESSAGE);
	snprintf(path, sizeof(path), "%s/new/%s", boxes[1].path, unique);
	assert_file_is(path, MESSAGE);
	/* a var_dir without mail/ is fine */
	maildir_clean_tmp(subdir("clean-empty"), &removed);
	assert_int_equal(removed, 0);
	arena_reset(&a);
}

static void test_recipients_file(void **state)
{
	(void)state;
	char path[256], err[256] = "";
	snprintf(path, sizeof(path), "%s/recipients", var);
	write_text(path, "# valid recipients\n"
			 "\n"
			 "alice@example.com\n"
			 "  Bob@Example.COM   # the boss\n"
			 "\tcarol@other.example\t\n"
			 "dave@example.com\r\n"
			 "   # indented comment\n");
	struct recipients *r = recipients_load(path, err, sizeof(err));
	if (!r)
		fail_msg("%s", err);
	assert_int_equal(recipients_count(r), 4);
	assert_true(recipients_has(r, "alice", 5, "example.com", 11));
	assert_true(recipients_has(r, "ALICE", 5, "EXAMPLE.com", 11));
	assert_true(recipients_has(r, "bob", 3, "example.com", 11));
	assert_true(recipients_has(r, "Carol", 5, "Other.Example", 13));
	assert_true(recipients_has(r, "dave", 4, "example.com", 11));
	assert_false(recipients_has(r, "carol", 5, "example.com", 11));
	assert_false(recipients_has(r, "eve", 3, "example.com", 11));
	assert_false(recipients_has(r, "alic", 4, "example.com", 11));
	assert_false(recipients_has(r, "", 0, "example.com", 11));
	/* the postmaster always exists */
	assert_true(recipients_has(r, "postmaster", 10, "example.com", 11));
	assert_true(recipients_has(r, "PostMaster", 10, "other.example", 13));
	/* lengths count, not NULs; absurd lengths are simply unknown */
	assert_true(recipients_has(r, "alice@junk", 5, "example.comjunk", 11));
	static char huge[1000];
	memset(huge, 'a', sizeof(huge));
	assert_false(recipients_has(r, huge, sizeof(huge), "example.com", 11));
	recipients_free(r);

	r = recipients_load("any", err, sizeof(err));
	assert_non_null(r);
	assert_true(recipients_has(r, "anyone", 6, "example.com", 11));
	recipients_free(r);
	recipients_free(NULL);
}

static void test_recipients_errors(void **state)
{
	(void)state;
	char path[256], err[256] = "", want[300];
	snprintf(path, sizeof(path), "%s/recipients-bad", var);
	write_text(path, "alice@example.com\n# fine\nnot-an-address\n");
	assert_null(recipients_load(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:3:", path);
	assert_non_null(strstr(err, want));
	snprintf(path, sizeof(path), "%s/recipients-missing", var);
	assert_null(recipients_load(path, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	/* an address longer than a path can be is refused, not cut */
	snprintf(path, sizeof(path), "%s/recipients-long", var);
	char text[400];
	memset(text, 'x', 300);
	strcpy(text + 300, "@example.com\n");
	write_text(path, text);
	assert_null(recipients_load(path, err, sizeof(err)));
}

/* A long comment line is a comment, not the start of an address line. */
static void test_recipients_long_comment(void **state)
{
	(void)state;
	char path[256], err[256] = "";
	snprintf(path, sizeof(path), "%s/recipients-comment", var);
	char text[2048] = "# ";
	for (int i = 0; i < 40; i++)
		strcat(text, "contact admin@example.com ");
	strcat(text, "\nalice@example.com\n");
	write_text(path, text);
	struct recipients *r = recipients_load(path, err, sizeof(err));
	if (!r)
		fail_msg("%s", err);
	assert_int_equal(recipients_count(r), 1);
	assert_true(recipients_has(r, "alice", 5, "example.com", 11));
	assert_false(recipients_has(r, "admin", 5, "example.com", 11));
	recipients_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mailbox_path_encoding),
		cmocka_unit_test(test_mailbox_path_never_escapes),
		cmocka_unit_test(test_unique),
		cmocka_unit_test(test_deliver_several),
		cmocka_unit_test(test_deliver_rollback_on_link_failure),
		cmocka_unit_test(test_deliver_rollback_on_existing_name),
		cmocka_unit_test(test_deliver_rollback_on_file_instead_of_dir),
		cmocka_unit_test(test_clean_tmp),
		cmocka_unit_test(test_recipients_file),
		cmocka_unit_test(test_recipients_errors),
		cmocka_unit_test(test_recipients_long_comment),
	};
	return cmocka_run_group_tests(tests, make_var, remove_var);
}
