/*
 * maildir.h - durable Maildir delivery: 250 means the message is on disk.
 *
 * Layout: <var_dir>/mail/<domain>/<local-part>/{tmp,new,cur} and the Maildir++
 * folder .Junk/ inside it. One delivery writes the message once into tmp/ of
 * the first mailbox, fsyncs it, hard-links it into new/ of every recipient
 * (Inbox or .Junk), fsyncs each new/ directory, then removes the tmp/ name
 * (the qmail/Maildir protocol). Any failure removes every link already made:
 * no recipient sees a partial or lone copy. Directories created on the way are
 * fsynced into their parents. Messages are stored with CRLF line ends, as
 * received. Not done here: quotas, sieve, LMTP (another module).
 */
#ifndef MX_DELIVER_MAILDIR_H
#define MX_DELIVER_MAILDIR_H

#include "core/arena.h"
#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>

/*
 * Mailbox directory of local@domain under var_dir, in arena memory. The domain
 * is lowercased, with '/', '%', control octets and a leading dot %XX-encoded;
 * the local part is lowercased too (mailboxes are case-insensitive here), and
 * any octet other than [a-z0-9._+=-] or UTF-8 is %XX-encoded, as is a leading
 * dot, so an address can never name a path outside its domain directory.
 */
char *maildir_mailbox_path(struct arena *a, const char *var_dir, const char *local,
			   size_t local_len, const char *domain, size_t domain_len);

/* A unique Maildir file name (time, pid, counter, host), into out. */
void maildir_unique(char *out, size_t outlen, const char *hostname);

/*
 * Delivers parts (concatenated) to every mailbox. junk selects .Junk/.
 * Returns 0, or -1 with err set; on -1 nothing is visible in any new/.
 */
int maildir_deliver(const char *const *mailboxes, const bool *junk, size_t n,
		    const struct slice *parts, size_t nparts, const char *unique, char *err,
		    size_t errlen);

/* Removes our tmp/ leftovers of a crash and tmp/ files older than 36 hours. */
void maildir_clean_tmp(const char *var_dir, size_t *removed);

#endif
