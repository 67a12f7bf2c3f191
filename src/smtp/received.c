/*
 * received.c - the Received trace header; see received.h.
 */
#include "smtp/received.h"

#include <stdio.h>

void received_date(char *out, size_t outlen, time_t when)
{
	struct tm tm;
	gmtime_r(&when, &tm);
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	snprintf(out, outlen, "%s, %d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7],
		 tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		 tm.tm_sec);
}

int received_header(struct buf *out, const struct received_info *ri)
{
	const char *proto;
	bool tls = ri->tls_version != NULL;
	if (ri->smtputf8)
		proto = tls ? "UTF8SMTPS" : "UTF8SMTP";
	else if (ri->esmtp)
		proto = tls ? "ESMTPS" : "ESMTP";
	else
		proto = tls ? "SMTPS" : "SMTP";
	char date[64];
	received_date(date, sizeof(date), ri->when);
	int rc = buf_printf(out, "Received: from %s (%s [%s])\r\n\tby %s (mxscreen) with %s",
			    ri->helo ? ri->helo : "unknown", ri->rdns ? ri->rdns : "unknown",
			    ri->ip, ri->hostname, proto);
	if (rc == 0 && tls)
		rc = buf_printf(out, " (%s %s)", ri->tls_version,
				ri->tls_cipher ? ri->tls_cipher : "unknown");
	if (rc == 0)
		rc = buf_printf(out, "\r\n\tid %s", ri->id);
	if (rc == 0 && ri->rcpt)
		rc = buf_printf(out, "\r\n\tfor <%s>", ri->rcpt);
	if (rc == 0)
		rc = buf_printf(out, "; %s\r\n", date);
	return rc;
}
