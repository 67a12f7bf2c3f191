/*
 * fileread.h - reading whole message files: one at a time (file_read), or many
 * with one system call for all of them (struct file_batch, io_uring).
 *
 * Batch commands (`classify --batch`, `eval`) read thousands of small files;
 * open/fstat/read/close cost four system calls each, and a system call costs
 * about 1-2 us on a virtual machine with page-table isolation: more than the
 * copying. A file_batch queues up to FILE_BATCH_MAX files and reads them all
 * with one io_uring_enter(2). Whatever io_uring cannot settle (kernel without
 * io_uring or with it forbidden by seccomp or sysctl, a file larger than a
 * slot, a file that is not regular, any error) is read again by file_read(),
 * so results and errno values are those of file_read() whichever way a file
 * was read.
 */
#ifndef MX_CORE_FILEREAD_H
#define MX_CORE_FILEREAD_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

/* Reads the regular file path whole into b (b->p[b->len] is a NUL). 0, or -1
 * with errno: from open/read, EINVAL when it is not a regular file (a FIFO is
 * refused, not waited on), EFBIG when larger than FILE_READ_MAX. */
int file_read(const char *path, struct buf *b);

struct file_batch;

/* A reader for one thread; use_uring false reads with file_read() only.
 * NULL on ENOMEM. */
struct file_batch *file_batch_new(bool use_uring);
void file_batch_free(struct file_batch *fb);
/* Whether this reader uses io_uring (false when the kernel refused it), and
 * how many files it has given from io_uring's reads and from file_read(). */
bool file_batch_uring(const struct file_batch *fb);
void file_batch_counts(const struct file_batch *fb, size_t *from_ring, size_t *from_read);

/* Queues path (borrowed until the files are read) as file number
 * file_batch_count() - 1; at most FILE_BATCH_MAX files per submission, -1 when
 * full. The first file_batch_add() after a submission starts a new one. */
int file_batch_add(struct file_batch *fb, const char *path);
size_t file_batch_count(const struct file_batch *fb);
/* Reads every queued file. Afterwards file_batch_get(fb, k) gives file k. */
void file_batch_submit(struct file_batch *fb);
/* File k of the last submission: 0 with *p and *len (p[len] is a NUL; valid
 * until the next file_batch_get or file_batch_add), or -1 with errno as
 * file_read() sets it. */
int file_batch_get(struct file_batch *fb, size_t k, const char **p, size_t *len);

#endif
