/*
 * limits.h - every fixed input limit of mxscreen, in one place, with its source.
 *
 * Limits that an operator may want to change are settings (core/config.c) whose
 * defaults are the constants below; the rest are protocol constants.
 */
#ifndef MX_CORE_LIMITS_H
#define MX_CORE_LIMITS_H

/* RFC 5321 4.5.3.1.4: command line, including the verb and <CRLF>. */
#define SMTP_COMMAND_LINE_MAX 512
/* RFC 5321 4.5.3.1.6: text line of message content, including <CRLF>. */
#define SMTP_TEXT_LINE_MAX 1000
/* RFC 5321 4.5.3.1.5: reply line, including the code and <CRLF>. */
#define SMTP_REPLY_LINE_MAX 512
/* RFC 5321 4.5.3.1.1 / 4.5.3.1.2 / 4.5.3.1.3: local-part, domain, path. */
#define SMTP_LOCAL_PART_MAX 64
#define SMTP_DOMAIN_MAX 255
#define SMTP_PATH_MAX 256
/* RFC 5321 4.5.3.1.8: at least 100 recipients must be accepted; our default. */
#define SMTP_RECIPIENTS_DEFAULT 100
/* RFC 5321 4.5.3.2.7: server timeout waiting for the next command, 5 minutes. */
#define SMTP_COMMAND_TIMEOUT_DEFAULT 300
/* RFC 5321 4.5.3.2.5: inactivity while receiving a DATA block, 3 minutes. */
#define SMTP_DATA_TIMEOUT_DEFAULT 180
/* Whole-session wall clock limit (no RFC; bounds slow-drip clients). */
#define SMTP_SESSION_LIMIT_DEFAULT 1800
/* Client errors (4xx/5xx replies to its commands) before 421 and close. */
#define SMTP_MAX_ERRORS_DEFAULT 10
/* Default maximum message size (RFC 1870 SIZE), 25 MiB. */
#define SMTP_MESSAGE_SIZE_DEFAULT 26214400
/* Connection limits (421 4.7.0 beyond). */
#define SMTP_MAX_CONNECTIONS_DEFAULT 1000
#define SMTP_MAX_CONNECTIONS_PER_IP_DEFAULT 50
/* HELO/EHLO argument kept at most this long (a domain or address literal). */
#define SMTP_HELO_MAX SMTP_DOMAIN_MAX
/* ESMTP parameters on one MAIL/RCPT command. */
#define SMTP_PARAMS_MAX 16

/* DNS resolver defaults (net/dns.c). */
#define DNS_TIMEOUT_MS_DEFAULT 2000
#define DNS_TRIES_DEFAULT 2
#define DNS_CACHE_SIZE_DEFAULT 10000
/* RFC 7208 4.6.4: terms that cause DNS queries, per check_host() evaluation. */
#define SPF_DNS_MECH_LIMIT 10
/* RFC 7208 4.6.4: lookups returning no records (NXDOMAIN or NODATA). */
#define SPF_VOID_LOOKUP_LIMIT 2
/* RFC 7208 4.6.4: MX records / PTR names considered for one mx / ptr term. */
#define SPF_MX_PTR_LIMIT 10
/* RFC 7208 7.3: an expanded domain name is cut from the left to this length. */
#define SPF_DOMAIN_MAX 253
/* Nesting of include/redirect (the 10-lookup limit bounds it; this bounds memory). */
#define SPF_DEPTH_MAX 12
/* Size of an explanation string after expansion (RFC 7208 6.2). */
#define SPF_EXPLANATION_MAX 800

/* DNSBL/DNSWL (reputation/dnsbl.c). A query name is at most 253 octets (RFC 1035
 * 2.3.4 less the root): the 64 octets of an IPv6 nibble name leave 189 for the zone.
 * Zones per list bound the queries a connection costs; weights are per item. */
#define DNSBL_ZONE_NAME_MAX 189
#define DNSBL_ZONES_MAX 32
#define DNSBL_ITEMS_MAX 128
#define DNSBL_WEIGHT_MAX 100
/* "DNSBL_" + the zone with dots as underscores + "_" + an octet + NUL */
#define DNSBL_SYMBOL_MAX (6 + DNSBL_ZONE_NAME_MAX + 1 + 3 + 1)

/* Size of one configuration file line. */
#define CONFIG_LINE_MAX 4096
/* One log line. */
#define LOG_LINE_MAX 2048

/* Message authentication (DKIM RFC 6376, ARC RFC 8617, DMARC RFC 7489): our bounds
 * on work per message. None is set by an RFC; each keeps a hostile message cheap. */
/* Header fields parsed per message; beyond, authentication gives up (permerror). */
#define AUTH_HEADER_FIELDS_MAX 1000
/* Octets of header (all fields) looked at. */
#define AUTH_HEADER_SIZE_MAX (1024 * 1024)
/* DKIM-Signature fields verified per message; the rest are ignored and counted. */
#define DKIM_SIGNATURES_MAX 8
/* Entries in one h= list (over-signing counts). */
#define DKIM_SIGNED_HEADERS_MAX 64
/* Tags in one tag-list (RFC 6376 3.2): signature, key record, ARC, DMARC record. */
#define TAGLIST_TAGS_MAX 32
/* Selector length (a DNS name, RFC 6376 3.1) and the key name s._domainkey.d. */
#define DKIM_SELECTOR_MAX 255
/* RFC 8301 3.2: verifiers MUST NOT accept RSA keys shorter than 1024 bits. */
#define DKIM_RSA_BITS_MIN 1024
/* Largest RSA key verified: bounds the cost of one verification. */
#define DKIM_RSA_BITS_MAX 8192
/* RFC 8617 4.2.1: ARC instance numbers run from 1 to 50. */
#define ARC_INSTANCES_MAX 50
/* Distinct author (From) domains evaluated by DMARC per message. */
#define DMARC_FROM_DOMAINS_MAX 4
/* TXT record octets considered for a key or policy record. */
#define AUTH_TXT_MAX 8192
/* The store (src/store/): the writer thread's queue and batches. No RFC; the
 * queue bounds the memory statistics may take when the disk is slow. */
#define STORE_QUEUE_DEFAULT 10000
#define STORE_BATCH_DEFAULT 500
#define STORE_FLUSH_MS_DEFAULT 1000
/* How long a store connection waits for another's lock (the CLI reading, a migration). */
#define STORE_BUSY_TIMEOUT_MS 5000
/* Days of per-entity statistics kept (docs/reputation.md; SNDS-style history wants a year
 * and a bit, 90 days at least so a quarter can be compared). */
#define STATS_RETENTION_DEFAULT 400
#define STATS_RETENTION_MIN 90
/* Reputation snapshots not updated for this many days are deleted (a stranger again). */
#define STORE_REP_RETENTION_DAYS 400
/* Content classifier (src/content/). No RFC sets these; they bound the work
 * and memory one message can cost the classifier, whatever its size. */
/* MIME parts examined per message, and multipart/message nesting depth. */
#define MIME_PARTS_MAX 64
#define MIME_DEPTH_MAX 8
/* Decoded (transfer-decoded, UTF-8) text kept per message, all parts together. */
#define MIME_DECODED_MAX (256 * 1024)
/* Decoded bytes read from one part (text parts are cut here). */
#define MIME_PART_DECODED_MAX (128 * 1024)
/* Raw octets of the message start fed to the character 4-gram family. */
#define CONTENT_NGRAM_PREFIX 3000
/* Words of decoded text turned into word and word-pair features. */
#define CONTENT_WORDS_MAX 3000
/* Features per message, all families together (beyond: the rest is dropped). */
#define CONTENT_FEATURES_MAX 32768
/* A header value looked at by the header-token family. */
#define CONTENT_HEADER_VALUE_MAX 2048
/* Model hash bits: 2^16..2^22 weights (the model file stays <= 32 MiB with its
 * training state, <= 16 MiB without). */
#define MODEL_BITS_MIN 16
#define MODEL_BITS_MAX 22
#define MODEL_BITS_DEFAULT 20
/* Files read by the batch commands (src/core/fileread.c): the largest message
 * file taken (a message file beyond it is refused with EFBIG), files per
 * io_uring submission, and the per-file buffer of a submission (a larger file
 * is read again the ordinary way). */
#define FILE_READ_MAX (4ull * SMTP_MESSAGE_SIZE_DEFAULT)
#define FILE_BATCH_MAX 16
#define FILE_BATCH_SLOT (128 * 1024)

/* The control socket (src/net/control.c). No RFC; they bound what one local
 * client can make the event loop hold or wait for. */
/* One request line (a JSON object and its newline). */
#define CONTROL_REQUEST_MAX (64 * 1024)
/* Arguments in one request, and the length of a command name. */
#define CONTROL_ARGS_MAX 32
#define CONTROL_CMD_MAX 32
/* Commands that can be registered. */
#define CONTROL_COMMANDS_MAX 32
/* Control connections open at once; beyond, the next is answered "busy" and closed. */
#define CONTROL_CONNECTIONS_MAX 16
/* Seconds a control client has to send its request, and to take the answer. */
#define CONTROL_TIMEOUT_SEC 10
/* Largest answer the CLI reads. */
#define CONTROL_ANSWER_MAX (64 * 1024 * 1024)
/* Seconds the CLI waits for an answer (a reload loads the model on the loop). */
#define CONTROL_CLIENT_TIMEOUT_SEC 60

#endif
