/*
 * reasons.c - the reason code catalogue; see reasons.h.
 */
#include "policy/reasons.h"

#include <string.h>

static const struct reason_info reasons[R__COUNT] = {
	[R_NONE] = { "MXS-NONE", "no reason", "", "" },
	[R_BARE_NEWLINE] = { "MXS-SMTP-001", "bare LF or CR in message data",
		"The message contained a line feed not preceded by a carriage return (bare LF) or a "
		"carriage return not followed by a line feed (bare CR). SMTP requires CRLF line "
		"endings (RFC 5321 2.3.8); bare line endings are how SMTP smuggling attacks hide a "
		"second message inside the first, so the whole message was refused and nothing was "
		"delivered.",
		"Send every line ending as CRLF. Most often a script writes '\\n' directly to the "
		"socket; use your SMTP library's message submission, which converts line endings.",
		550, "5.6.0" },
	[R_LINE_TOO_LONG] = { "MXS-SMTP-002", "line too long",
		"A command line was longer than 512 octets (RFC 5321 4.5.3.1.4), or a message line "
		"longer than 1000 octets including CRLF (4.5.3.1.6) while this server's "
		"smtp_long_lines setting is 'reject'. By default long message lines are accepted, "
		"stored as received and only noted (symbol LONG_LINE), as RFC 5321 4.5.3.1 asks.",
		"Encode long lines (quoted-printable or base64) before sending; fold long headers.",
		500, "5.5.2" },
	[R_MESSAGE_TOO_BIG] = { "MXS-SMTP-003", "message too big",
		"The message is larger than this server's message_size_limit (announced in the EHLO "
		"SIZE keyword, RFC 1870).",
		"Send a smaller message, or share large files by link.",
		552, "5.3.4" },
	[R_RELAY_DENIED] = { "MXS-SMTP-004", "relay access denied",
		"The recipient's domain is not one this MX receives mail for. This server is an "
		"inbound MX only and relays nothing.",
		"Check the recipient address and the domain's MX records; send through your own "
		"provider's submission server.",
		550, "5.7.1" },
	[R_UNKNOWN_RECIPIENT] = { "MXS-SMTP-005", "unknown recipient",
		"The recipient address does not exist in this domain.",
		"Check the address for typos and remove it from your list if it keeps failing.",
		550, "5.1.1" },
	[R_TOO_MANY_RECIPIENTS] = { "MXS-SMTP-006", "too many recipients",
		"The message had more recipients than smtp_max_recipients allows in one "
		"transaction (RFC 5321 4.5.3.1.8).",
		"Nothing is lost: send the remaining recipients in another transaction; every "
		"standard SMTP client does so by itself.",
		452, "4.5.3" },
	[R_TOO_MANY_CONNECTIONS] = { "MXS-SMTP-007", "server busy",
		"The server has reached its limit of simultaneous connections.",
		"Retry later; your server's queue does this by itself.",
		421, "4.7.0" },
	[R_TOO_MANY_CONNECTIONS_IP] = { "MXS-SMTP-008", "too many connections from your IP",
		"Your IP address has more simultaneous connections open than this server allows "
		"from one client.",
		"Open fewer parallel connections to this MX (a handful is plenty); retry later.",
		421, "4.7.0" },
	[R_TOO_MANY_ERRORS] = { "MXS-SMTP-009", "too many errors",
		"The session produced more failed commands than allowed, and was closed.",
		"Check the SMTP dialogue of your client; the earlier replies name the errors.",
		421, "4.7.0" },
	[R_TIMEOUT] = { "MXS-SMTP-010", "timeout",
		"The client sent nothing for longer than the command or data timeout "
		"(RFC 5321 4.5.3.2).",
		"Check network connectivity and that your client does not hold idle connections.",
		421, "4.4.2" },
	[R_SESSION_LIMIT] = { "MXS-SMTP-011", "session too long",
		"The session lasted longer than this server allows one session to last.",
		"Use shorter sessions: deliver, QUIT, reconnect.",
		421, "4.4.2" },
	[R_LOCAL_ERROR] = { "MXS-SMTP-012", "local delivery error",
		"The receiving server could not store the message durably (for example a disk "
		"error). Nothing was delivered and nothing is lost: the reply was a temporary "
		"failure.",
		"Nothing to fix on your side: your server retries later. The operator is alerted "
		"by the log.",
		451, "4.3.0" },
	[R_UTF8_NOT_DECLARED] = { "MXS-SMTP-013", "non-ASCII address without SMTPUTF8",
		"An address contained UTF-8 but the MAIL command did not carry the SMTPUTF8 "
		"parameter (RFC 6531 3.4).",
		"Have your client send MAIL FROM:<...> SMTPUTF8 for internationalized addresses.",
		553, "5.6.7" },
	[R_SHUTDOWN] = { "MXS-SMTP-014", "server shutting down",
		"The server is restarting or shutting down.", "Retry later; nothing is lost.",
		421, "4.3.2" },
	[R_SPF_FAIL] = { "MXS-SPF-001", "SPF fail",
		"The domain in the envelope sender (MAIL FROM, or the HELO name for bounces) "
		"publishes an SPF record (RFC 7208) that does not list the sending IP address and "
		"ends in '-all': the domain says this IP may not send its mail. The reply quotes the "
		"domain's own explanation when it publishes one (exp=).",
		"If the mail is legitimate, add the sending server to the domain's SPF record (for "
		"example ip4:192.0.2.1 or include: your provider's record), or send through a "
		"server the record already lists. A domain without any SPF record is never "
		"refused for that reason.",
		550, "5.7.23" },
	[R_SPF_TEMPERROR] = { "MXS-SPF-002", "SPF temporary DNS error",
		"Looking up the sender domain's SPF record or a name it refers to failed "
		"temporarily (timeout or SERVFAIL), so SPF could not be evaluated (RFC 7208 "
		"2.6.6). Nothing is refused for good: the reply was a temporary failure.",
		"Your server retries by itself. If it keeps happening, check that the domain's "
		"name servers answer TXT, A and MX queries for every name the SPF record uses.",
		451, "4.4.3" },
	[R_SPF_PERMERROR] = { "MXS-SPF-003", "SPF record broken",
		"The sender domain's SPF record could not be interpreted (RFC 7208 2.6.7): a "
		"syntax error, more than one v=spf1 record, more than 10 DNS-querying terms "
		"(include, a, mx, ptr, exists, redirect) or more than 2 lookups that found "
		"nothing. This server refuses such mail only when configured to.",
		"Fix the record: publish exactly one TXT record starting with v=spf1, check it "
		"with an SPF validator, and flatten nested includes to stay under 10 lookups.",
		550, "5.7.24" },
	[R_DMARC_REJECT] = { "MXS-DMARC-001", "DMARC policy reject",
		"The author domain in From publishes a DMARC policy of p=reject (RFC 7489), and the "
		"message had neither an SPF pass nor a DKIM pass aligned with that domain. The domain "
		"owner asked receivers to refuse such mail, so it was refused and not delivered.",
		"Sign the mail with DKIM for the From domain (d= equal to it or its parent), or send "
		"from servers listed in the SPF record of a MAIL FROM domain aligned with From. Mailing "
		"lists and forwarders: add an ARC seal; operators can trust a sealer with "
		"arc_trusted_sealers.",
		550, "5.7.1" },
	[R_DMARC_QUARANTINE] = { "MXS-DMARC-002", "DMARC policy quarantine",
		"The author domain in From publishes p=quarantine and the message had no aligned SPF "
		"or DKIM pass, so it was delivered to the recipient's Junk folder, as the domain "
		"owner asked.",
		"As for MXS-DMARC-001: align SPF or DKIM with the From domain." },
	[R_CONTENT_JUNK] = { "MXS-CNT-001", "content classified as junk",
		"The content classifier gave the message a Spam Confidence Level (SCL) at or above "
		"this server's junk threshold, so it was delivered to the recipient's Junk folder "
		"instead of the Inbox. The X-Mxscreen-Reasons header of the delivered message names "
		"the features that weighed most.",
		"Send what recipients asked for, from a consistent domain, with a plain-text part, "
		"working unsubscribe links and no link shorteners or hidden text. Recipients who "
		"mark your mail as not junk teach the classifier." },

	[R_SCORE_JUNK] = { "MXS-POL-001", "junk by combined evidence",
		"No single check refused the message, but the scores of its symbols (authentication "
		"results, reputation, blocklists, content; listed in the X-Mxscreen-Symbols header) "
		"added up to this server's junk_score, so it was delivered to the Junk folder.",
		"Look at the symbols with positive scores: authenticate with SPF, DKIM and DMARC, "
		"keep complaint and unknown-recipient rates low, and get off blocklists." },
	[R_IP_BLOCKED] = { "MXS-REP-001", "IP blocked by the operator",
		"The sending IP address (or its range) is on this server's block list, set by its "
		"operator in the configuration or with `mxscreen ip block`, with the reason quoted "
		"in the reply.",
		"Contact the postmaster of the receiving domain (postmaster@ is always accepted from "
		"other IPs) or file a mitigation request on this portal.", 554, "5.7.1" },
	[R_DNSBL] = { "MXS-REP-002", "listed in DNS blocklists",
		"The sending IP address is listed in DNS blocklists that this server consults, with "
		"a total weight at or above its dnsbl_threshold. The reply names each list and "
		"return code (DNSBL_<ZONE>_<CODE>). A list that refuses the query (127.255.255.x) "
		"never counts as a listing.",
		"Look the IP up on each named list's web site, fix the cause (an infected host, an "
		"open relay, a compromised account, poor list hygiene) and request delisting.",
		554, "5.7.1" },
	[R_RATE_LIMIT_IP] = { "MXS-REP-003", "IP over its sending limit",
		"Your IP address sent more recipients than its current allowance here. The "
		"allowance grows with good history (new IPs start small and warm up) and shrinks "
		"with junk, refusals, unknown recipients, trap hits and complaints. The reply says "
		"when to come back and at what rate, as `retry-after=<seconds>s rate=<n>/h "
		"scope=ip`; the connection is closed (421, a temporary failure: nothing is lost).",
		"Let your queue retry after the time given and send at or below the rate given; "
		"coming back earlier counts against you. Warm new IPs up gradually. Nothing is ever "
		"turned into a permanent refusal unless rate_limit_escalate says so.",
		421, "4.7.28" },
	[R_RATE_LIMIT_NET] = { "MXS-REP-004", "range over its sending limit",
		"The /24 (IPv4) or /64 (IPv6) of your IP address sent more recipients than the "
		"range's allowance here: the limit is on your neighbours' and your traffic together, "
		"not on your IP's own record (`scope=net` in the reply).",
		"Retry after the time given. If you share the range with other senders, ask your "
		"provider about their reputation, or send from a dedicated range.", 421, "4.7.28" },
	[R_RATE_LIMIT_ESCALATED] = { "MXS-REP-005", "kept sending while told to wait",
		"Your IP or range was over its sending limit and came back before the retry-after "
		"time more often in one day than this server's rate_limit_escalate setting allows, "
		"so the temporary refusal became a permanent one. The reply names the setting and "
		"the rate to keep.",
		"Honour retry-after: configure your MTA's retry schedule and connection rate for "
		"this domain; the refusal ends when the hammering stops (the count is per day).",
		550, "5.7.28" },
};

const struct reason_info *reason_get(enum reason r)
{
	if ((unsigned)r >= R__COUNT)
		r = R_NONE;
	return &reasons[r];
}

const struct reason_info *reason_find(const char *code)
{
	for (size_t i = 1; i < R__COUNT; i++)
		if (strcmp(reasons[i].code, code) == 0)
			return &reasons[i];
	return NULL;
}

size_t reason_count(void)
{
	return R__COUNT - 1;
}

const struct reason_info *reason_at(size_t i)
{
	return reason_get((enum reason)(i + 1));
}
