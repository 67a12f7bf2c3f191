/*
 * fileread.c - whole message files, one at a time or many per system call;
 * see fileread.h.
 *
 * A submission of n files is 5n io_uring operations and one io_uring_enter:
 * for file k, the chain openat(path) into the registered file slot k ->
 * fadvise(SEQUENTIAL) -> read(FILE_BATCH_SLOT bytes) -> read(a few bytes more)
 * -> close(slot k), both reads at the file position, the second read and the
 * close hard-linked so that they run whatever the read before gave. The
 * fadvise is the file-type check: it fails on a FIFO (ESPIPE), which cancels
 * the rest (the slot's file is then replaced by the next open into it); a
 * directory fails the read (EISDIR). A file is taken from its slot only when
 * the first read gave 1 to FILE_BATCH_SLOT - 1 bytes and the second none:
 * the whole file, up to its end. Anything else (an error, an empty file or a
 * device giving nothing, a file that fills the slot, more bytes after a short
 * read) goes to file_read(), which gives the answer (or the errno) a plain
 * read would. No statx: io_uring always hands statx to a worker thread, which
 * made a submission slower than four plain system calls per file.
 */
#include "core/fileread.h"
#include "core/limits.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int file_read(const char *path, struct buf *b)
{
	/* O_NONBLOCK: opening a FIFO does not wait for a writer (it is then
	 * refused as not regular); regular files ignore the flag */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	if (fd < 0)
		return -1;
	buf_reset(b);
	int e = 0;
	if (fstat(fd, &st) < 0)
		e = errno;
	else if (!S_ISREG(st.st_mode))
		e = EINVAL;
	else if ((uint64_t)st.st_size > FILE_READ_MAX)
		e = EFBIG;
	if (e) {
		close(fd);
		errno = e;
		return -1;
	}
	int rc = buf_reserve(b, (size_t)st.st_size + 1);
	while (rc == 0) {
		ssize_t r = read(fd, b->p + b->len, b->cap - b->len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			rc = -1;
		if (r <= 0)
			break;
		b->len += (size_t)r;
		if (b->len == (size_t)st.st_size)
			break; /* a regular file's size: no read() for EOF */
		if (b->len > FILE_READ_MAX) {
			errno = EFBIG; /* it grew while we read */
			rc = -1;
			break;
		}
		if (b->len + 1 >= b->cap)
			rc = buf_reserve(b, 65536);
	}
	close(fd);
	if (rc == 0)
		buf_cstr(b);
	return rc;
}

enum { OP_OPEN, OP_ADVISE, OP_READ, OP_EOF, OP_CLOSE, OPS };

struct slot {
	const char *path;
	int read_res, eof_res;
	char eof[8]; /* the second read's bytes (none at the end of the file) */
};

struct file_batch {
	struct io_uring ring;
	bool uring;
	bool submitted;
	size_t n;
	size_t from_ring, from_read;
	char *data;    /* FILE_BATCH_MAX slots of FILE_BATCH_SLOT bytes */
	struct buf own; /* file_read()'s buffer */
	struct slot slot[FILE_BATCH_MAX];
};

/* io_uring with the operations used and a table of FILE_BATCH_MAX registered
 * (direct) descriptors, or -1. LINKED_FILE (Linux 5.17): a linked read finds
 * the file the open before it put in the slot (older kernels look the slot up
 * at submission, and ignore the slot of an open before 5.15); RW_CUR_POS: the
 * offset -1 of the reads means the file position. */
static int uring_init(struct file_batch *fb)
{
	if (io_uring_queue_init(OPS * FILE_BATCH_MAX, &fb->ring, 0) < 0)
		return -1;
	struct io_uring_probe *probe = io_uring_get_probe_ring(&fb->ring);
	bool ok = (fb->ring.features & IORING_FEAT_LINKED_FILE) &&
		  (fb->ring.features & IORING_FEAT_RW_CUR_POS) && probe &&
		  io_uring_opcode_supported(probe, IORING_OP_OPENAT) &&
		  io_uring_opcode_supported(probe, IORING_OP_FADVISE) &&
		  io_uring_opcode_supported(probe, IORING_OP_READ) &&
		  io_uring_opcode_supported(probe, IORING_OP_CLOSE);
	if (probe)
		io_uring_free_probe(probe);
	int fds[FILE_BATCH_MAX];
	for (size_t k = 0; k < FILE_BATCH_MAX; k++)
		fds[k] = -1;
	if (ok && io_uring_register_files(&fb->ring, fds, FILE_BATCH_MAX) < 0)
		ok = false;
	if (ok && !(fb->data = malloc((size_t)FILE_BATCH_MAX * FILE_BATCH_SLOT)))
		ok = false;
	if (!ok) {
		io_uring_queue_exit(&fb->ring);
		return -1;
	}
	return 0;
}

struct file_batch *file_batch_new(bool use_uring)
{
	struct file_batch *fb = calloc(1, sizeof(*fb));
	if (fb && use_uring)
		fb->uring = uring_init(fb) == 0;
	return fb;
}

void file_batch_free(struct file_batch *fb)
{
	if (!fb)
		return;
	if (fb->uring) {
		io_uring_queue_exit(&fb->ring);
		free(fb->data);
	}
	buf_free(&fb->own);
	free(fb);
}

bool file_batch_uring(const struct file_batch *fb)
{
	return fb->uring;
}

void file_batch_counts(const struct file_batch *fb, size_t *from_ring, size_t *from_read)
{
	*from_ring = fb->from_ring;
	*from_read = fb->from_read;
}

int file_batch_add(struct file_batch *fb, const char *path)
{
	if (fb->submitted) {
		fb->n = 0;
		fb->submitted = false;
	}
	if (fb->n == FILE_BATCH_MAX)
		return -1;
	fb->slot[fb->n++] = (struct slot){ .path = path, .read_res = -ECANCELED,
					   .eof_res = -ECANCELED };
	return 0;
}

size_t file_batch_count(const struct file_batch *fb)
{
	return fb->n;
}

static struct io_uring_sqe *sqe_for(struct file_batch *fb, size_t k, unsigned op)
{
	/* the ring has room for OPS * FILE_BATCH_MAX: never NULL here */
	struct io_uring_sqe *sqe = io_uring_get_sqe(&fb->ring);
	io_uring_sqe_set_data64(sqe, (uint64_t)k * OPS + op);
	return sqe;
}

/* The kernel failed us mid-way (not an error of one file): stop using the
 * ring. Reads may still be in flight into fb->data, so neither the ring nor
 * the buffer is touched again: every file goes to file_read() from now on,
 * and both are left as they are (a leak, once, of what should not happen). */
static void uring_give_up(struct file_batch *fb)
{
	fb->uring = false;
	fb->data = NULL;
	for (size_t k = 0; k < fb->n; k++)
		fb->slot[k].read_res = fb->slot[k].eof_res = -ECANCELED;
}

void file_batch_submit(struct file_batch *fb)
{
	fb->submitted = true;
	if (!fb->uring || fb->n == 0)
		return;
	for (size_t k = 0; k < fb->n; k++) {
		struct io_uring_sqe *sqe = sqe_for(fb, k, OP_OPEN);
		/* no O_CLOEXEC: a direct descriptor has no fd to inherit */
		io_uring_prep_openat_direct(sqe, AT_FDCWD, fb->slot[k].path, O_RDONLY | O_NONBLOCK,
					    0, (unsigned)k);
		sqe->flags |= IOSQE_IO_LINK;
		sqe = sqe_for(fb, k, OP_ADVISE);
		io_uring_prep_fadvise(sqe, (int)k, 0, 0, POSIX_FADV_SEQUENTIAL);
		sqe->flags |= IOSQE_FIXED_FILE | IOSQE_IO_LINK;
		/* offset -1: at the file position, which the first read moves */
		sqe = sqe_for(fb, k, OP_READ);
		io_uring_prep_read(sqe, (int)k, fb->data + k * FILE_BATCH_SLOT, FILE_BATCH_SLOT,
				   (uint64_t)-1);
		sqe->flags |= IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK;
		sqe = sqe_for(fb, k, OP_EOF);
		io_uring_prep_read(sqe, (int)k, fb->slot[k].eof, sizeof(fb->slot[k].eof),
				   (uint64_t)-1);
		sqe->flags |= IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK;
		io_uring_prep_close_direct(sqe_for(fb, k, OP_CLOSE), (unsigned)k);
	}
	unsigned want = OPS * (unsigned)fb->n;
	int rc;
	do
		rc = io_uring_submit_and_wait(&fb->ring, want);
	while (rc == -EINTR);
	if (rc != (int)want) {
		uring_give_up(fb);
		return;
	}
	for (unsigned got = 0; got < want; got++) {
		struct io_uring_cqe *cqe;
		do
			rc = io_uring_wait_cqe(&fb->ring, &cqe);
		while (rc == -EINTR);
		if (rc < 0) {
			uring_give_up(fb);
			return;
		}
		uint64_t d = io_uring_cqe_get_data64(cqe);
		if (d % OPS == OP_READ)
			fb->slot[d / OPS].read_res = cqe->res;
		else if (d % OPS == OP_EOF)
			fb->slot[d / OPS].eof_res = cqe->res;
		io_uring_cqe_seen(&fb->ring, cqe);
	}
}

int file_batch_get(struct file_batch *fb, size_t k, const char **p, size_t *len)
{
	if (k >= fb->n || !fb->submitted) {
		errno = EINVAL;
		return -1;
	}
	struct slot *s = &fb->slot[k];
	if (fb->uring && s->read_res > 0 && s->read_res < FILE_BATCH_SLOT && s->eof_res == 0) {
		char *d = fb->data + k * FILE_BATCH_SLOT;
		d[s->read_res] = '\0';
		*p = d;
		*len = (size_t)s->read_res;
		fb->from_ring++;
		return 0;
	}
	fb->from_read++;
	if (file_read(s->path, &fb->own) < 0)
		return -1;
	*p = buf_cstr(&fb->own);
	*len = fb->own.len;
	return 0;
}
