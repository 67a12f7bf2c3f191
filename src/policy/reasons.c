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
		"socket; use your SMTP library's message submission, which converts line endings." },
	[R_LINE_TOO_LONG] = { "MXS-SMTP-002", "line too long",
		"A command line was longer than 512 octets or a message line longer than 1000 "
		"octets including CRLF (RFC 5321 4.5.3.1).",
		"Encode long lines (quoted-printable or base64) before sending; fold long headers." },
	[R_MESSAGE_TOO_BIG] = { "MXS-SMTP-003", "message too big",
		"The message is larger than this server's message_size_limit (announced in the EHLO "
		"SIZE keyword, RFC 1870).",
		"Send a smaller message, or share large files by link." },
	[R_RELAY_DENIED] = { "MXS-SMTP-004", "relay access denied",
		"The recipient's domain is not one this MX receives mail for. This server is an "
		"inbound MX only and relays nothing.",
		"Check the recipient address and the domain's MX records; send through your own "
		"provider's submission server." },
	[R_UNKNOWN_RECIPIENT] = { "MXS-SMTP-005", "unknown recipient",
		"The recipient address does not exist in this domain.",
		"Check the address for typos and remove it from your list if it keeps failing." },
	[R_TOO_MANY_RECIPIENTS] = { "MXS-SMTP-006", "too many recipients",
		"The message had more recipients than smtp_max_recipients allows in one "
		"transaction (RFC 5321 4.5.3.1.8).",
		"Nothing is lost: send the remaining recipients in another transaction; every "
		"standard SMTP client does so by itself." },
	[R_TOO_MANY_CONNECTIONS] = { "MXS-SMTP-007", "server busy",
		"The server has reached its limit of simultaneous connections.",
		"Retry later; your server's queue does this by itself." },
	[R_TOO_MANY_CONNECTIONS_IP] = { "MXS-SMTP-008", "too many connections from your IP",
		"Your IP address has more simultaneous connections open than this server allows "
		"from one client.",
		"Open fewer parallel connections to this MX (a handful is plenty); retry later." },
	[R_TOO_MANY_ERRORS] = { "MXS-SMTP-009", "too many errors",
		"The session produced more failed commands than allowed, and was closed.",
		"Check the SMTP dialogue of your client; the earlier replies name the errors." },
	[R_TIMEOUT] = { "MXS-SMTP-010", "timeout",
		"The client sent nothing for longer than the command or data timeout "
		"(RFC 5321 4.5.3.2).",
		"Check network connectivity and that your client does not hold idle connections." },
	[R_SESSION_LIMIT] = { "MXS-SMTP-011", "session too long",
		"The session lasted longer than this server allows one session to last.",
		"Use shorter sessions: deliver, QUIT, reconnect." },
	[R_LOCAL_ERROR] = { "MXS-SMTP-012", "local delivery error",
		"The receiving server could not store the message durably (for example a disk "
		"error). Nothing was delivered and nothing is lost: the reply was a temporary "
		"failure.",
		"Nothing to fix on your side: your server retries later. The operator is alerted "
		"by the log." },
	[R_UTF8_NOT_DECLARED] = { "MXS-SMTP-013", "non-ASCII address without SMTPUTF8",
		"An address contained UTF-8 but the MAIL command did not carry the SMTPUTF8 "
		"parameter (RFC 6531 3.4).",
		"Have your client send MAIL FROM:<...> SMTPUTF8 for internationalized addresses." },
	[R_SHUTDOWN] = { "MXS-SMTP-014", "server shutting down",
		"The server is restarting or shutting down.", "Retry later; nothing is lost." },
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
