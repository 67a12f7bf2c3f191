/* Unit tests for src/core/fileread.c: file_read() and the io_uring batch reader,
 * which must give the same bytes and the same errno values as file_read() for
 * every kind of path (regular, empty, larger than a slot, missing, directory,
 * FIFO with and without data waiting, a /proc file whose size says 0,
 * relative), over several submissions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fileread.h"
#include "core/limits.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/mxs-fileread-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

/* Writes n bytes of a pattern that depends on seed to dir/name; returns the path. */
static char *make_file(const char *name, size_t n, unsigned seed)
{
	char *path = malloc(256);
	assert_non_null(path);
	snprintf(path, 256, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	for (size_t i = 0; i < n; i++)
		fputc((int)((i * 31 + seed) % 251), f);
	assert_int_equal(fclose(f), 0);
	return path;
}

static void assert_pattern(const char *p, size_t len, size_t n, unsigned seed)
{
	assert_int_equal(len, n);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] != (i * 31 + seed) % 251)
			fail_msg("byte %zu differs", i);
	assert_int_equal(p[len], '\0');
}

static void test_file_read(void **state)
{
	(void)state;
	char *small = make_file("small", 1000, 1), *empty = make_file("empty", 0, 0);
	struct buf b = { 0 };
	assert_int_equal(file_read(small, &b), 0);
	assert_pattern(b.p, b.len, 1000, 1);
	assert_int_equal(file_read(empty, &b), 0);
	assert_int_equal(b.len, 0);
	char missing[256];
	snprintf(missing, sizeof(missing), "%s/missing", dir);
	errno = 0;
	assert_int_equal(file_read(missing, &b), -1);
	assert_int_equal(errno, ENOENT);
	errno = 0;
	assert_int_equal(file_read(dir, &b), -1);
	assert_int_equal(errno, EINVAL);
	/* larger than FILE_READ_MAX (a sparse file): EFBIG, whatever errno held */
	char big[256];
	snprintf(big, sizeof(big), "%s/big", dir);
	int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)FILE_READ_MAX + 1), 0);
	close(fd);
	errno = ENOENT;
	assert_int_equal(file_read(big, &b), -1);
	assert_int_equal(errno, EFBIG);
	/* a FIFO without a writer: refused at once, not waited on */
	char fifo[256];
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	errno = 0;
	assert_int_equal(file_read(fifo, &b), -1);
	assert_int_equal(errno, EINVAL);
	buf_free(&b);
	free(small);
	free(empty);
}

/* One reader through three submissions: every kind of path, files on both
 * sides of the slot size, more than FILE_BATCH_MAX refused. */
static void batch_kinds(bool use_uring)
{
	struct file_batch *fb = file_batch_new(use_uring);
	assert_non_null(fb);
	if (use_uring && !file_batch_uring(fb)) {
		/* only acceptable when the kernel refuses io_uring to this process,
		 * or is older than the features the reader needs (Linux 5.17) */
		struct io_uring ring;
		int rc = io_uring_queue_init(8, &ring, 0);
		if (rc == 0) {
			unsigned need = IORING_FEAT_LINKED_FILE | IORING_FEAT_RW_CUR_POS;
			bool old = (ring.features & need) != need;
			io_uring_queue_exit(&ring);
			assert_true(old);
			print_message("this kernel's io_uring is too old: file_read() path only\n");
		} else {
			print_message("io_uring refused here (%s): file_read() path only\n",
				      strerror(-rc));
		}
	}
	const size_t sizes[] = { 1, 100, 4096, 70000, FILE_BATCH_SLOT - 1, FILE_BATCH_SLOT,
				 FILE_BATCH_SLOT + 1, 3 * FILE_BATCH_SLOT };
	const size_t nsizes = sizeof(sizes) / sizeof(sizes[0]);
	char *paths[FILE_BATCH_MAX];
	size_t expect_ring = 0, expect_read = 0;
	for (unsigned round = 0; round < 3; round++) {
		for (size_t k = 0; k < FILE_BATCH_MAX; k++) {
			char name[32];
			snprintf(name, sizeof(name), "f%u-%zu", round, k);
			paths[k] = make_file(name, sizes[(k + round) % nsizes], round * 100 + (unsigned)k);
			assert_int_equal(file_batch_add(fb, paths[k]), 0);
			if (sizes[(k + round) % nsizes] < FILE_BATCH_SLOT && use_uring &&
			    file_batch_uring(fb))
				expect_ring++;
			else
				expect_read++;
		}
		assert_int_equal(file_batch_count(fb), FILE_BATCH_MAX);
		assert_int_equal(file_batch_add(fb, paths[0]), -1);
		file_batch_submit(fb);
		for (size_t k = 0; k < FILE_BATCH_MAX; k++) {
			const char *p;
			size_t len;
			assert_int_equal(file_batch_get(fb, k, &p, &len), 0);
			assert_pattern(p, len, sizes[(k + round) % nsizes], round * 100 + (unsigned)k);
			free(paths[k]);
		}
	}
	size_t from_ring, from_read;
	file_batch_counts(fb, &from_ring, &from_read);
	assert_int_equal(from_ring, expect_ring);
	assert_int_equal(from_read, expect_read);

	/* errors: the errno values of file_read(), in a batch with good files */
	char *good = make_file("good", 500, 7), *empty = make_file("empty", 0, 0);
	char missing[256], fifo[256], fifo_data[256], rel[256];
	snprintf(missing, sizeof(missing), "%s/missing", dir);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	snprintf(fifo_data, sizeof(fifo_data), "%s/fifo-data", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(mkfifo(fifo_data, 0600), 0);
	int wfd = open(fifo_data, O_RDWR | O_NONBLOCK); /* a writer, with bytes waiting */
	assert_true(wfd >= 0);
	assert_int_equal(write(wfd, "From: x\n\nhi\n", 13), 13);
	struct buf proc = { 0 };
	assert_int_equal(file_read("/proc/version", &proc), 0); /* st_size 0, has bytes */
	assert_true(proc.len > 0);
	char cwd[4096];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	snprintf(rel, sizeof(rel), "good");
	const char *mixed[] = { missing, good, dir, fifo, empty, rel, fifo_data, "/proc/version" };
	const int want_errno[] = { ENOENT, 0, EINVAL, EINVAL, 0, 0, EINVAL, 0 };
	const size_t nmixed = sizeof(mixed) / sizeof(mixed[0]);
	for (unsigned round = 0; round < 2; round++) {
		/* the second round reuses the slots the failures of the first left */
		for (size_t k = 0; k < nmixed; k++)
			assert_int_equal(file_batch_add(fb, mixed[k]), 0);
		file_batch_submit(fb);
		for (size_t k = 0; k < nmixed; k++) {
			const char *p = NULL;
			size_t len = 0;
			errno = 0;
			int rc = file_batch_get(fb, k, &p, &len);
			if (want_errno[k]) {
				assert_int_equal(rc, -1);
				assert_int_equal(errno, want_errno[k]);
			} else {
				assert_int_equal(rc, 0);
				if (mixed[k] == empty)
					assert_int_equal(len, 0);
				else if (k == nmixed - 1) {
					assert_int_equal(len, proc.len);
					assert_memory_equal(p, proc.p, proc.len + 1);
				}
				else
					assert_pattern(p, len, 500, 7);
			}
		}
	}
	errno = 0;
	assert_int_equal(file_batch_get(fb, nmixed, &(const char *){ NULL }, &(size_t){ 0 }), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(chdir(cwd), 0);
	close(wfd);
	buf_free(&proc);
	free(good);
	free(empty);
	file_batch_free(fb);
}

static void test_batch_uring(void **state)
{
	(void)state;
	batch_kinds(true);
}

static void test_batch_plain(void **state)
{
	(void)state;
	batch_kinds(false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_file_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_uring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_plain, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
