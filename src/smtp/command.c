/*
 * command.c - SMTP command line parser; see command.h.
 *
 * A cursor walks the line once. Grammar references are RFC 5321 4.1.2
 * (Mailbox, Dot-string, Quoted-string, Domain, address-literal) with the
 * RFC 6531 3.3 extension of atext/qtext/sub-domain to UTF-8.
 */
#include "smtp/command.h"
#include "core/limits.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

struct cursor {
	const char *p, *end;
};

static const struct {
	const char *name;
	enum smtp_verb verb;
} verbs[] = {
	{ "HELO", SMTP_HELO }, { "EHLO", SMTP_EHLO }, { "MAIL", SMTP_MAIL },
	{ "RCPT", SMTP_RCPT }, { "DATA", SMTP_DATA }, { "RSET", SMTP_RSET },
	{ "NOOP", SMTP_NOOP }, { "QUIT", SMTP_QUIT }, { "VRFY", SMTP_VRFY },
	{ "EXPN", SMTP_EXPN }, { "HELP", SMTP_HELP }, { "STARTTLS", SMTP_STARTTLS },
	{ "AUTH", SMTP_AUTH }, { "BDAT", SMTP_BDAT },
};

bool smtp_valid_utf8(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	while (p < end) {
		unsigned c = *p;
		size_t n;
		unsigned min;
		if (c < 0x80) {
			p++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1, min = 0x80, c &= 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2, min = 0x800, c &= 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3, min = 0x10000, c &= 0x07;
		} else {
			return false;
		}
		if ((size_t)(end - p) <= n)
			return false;
		for (size_t i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			c = (c << 6) | (p[i] & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return false;
		p += n + 1;
	}
	return true;
}

/* atext of RFC 5322 3.2.3, plus UTF-8 octets (checked as a whole later). */
static bool is_atext(unsigned char c)
{
	return isalnum(c) || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL || c >= 0x80;
}

static bool is_letdig(unsigned char c)
{
	return isalnum(c) || c >= 0x80;
}

static bool valid_address_literal(const char *p, size_t len)
{
	char tmp[64];
	if (len < 3 || p[0] != '[' || p[len - 1] != ']' || len - 2 >= sizeof(tmp))
		return false;
	const char *in = p + 1;
	size_t n = len - 2;
	unsigned char addr[16];
	if (n > 5 && strncasecmp(in, "IPv6:", 5) == 0) {
		memcpy(tmp, in + 5, n - 5);
		tmp[n - 5] = '\0';
		return inet_pton(AF_INET6, tmp, addr) == 1;
	}
	memcpy(tmp, in, n);
	tmp[n] = '\0';
	return inet_pton(AF_INET, tmp, addr) == 1;
}

bool smtp_valid_domain(const char *p, size_t len, bool allow_literal, bool *utf8)
{
	if (len == 0 || len > SMTP_DOMAIN_MAX)
		return false;
	if (p[0] == '[')
		return allow_literal && valid_address_literal(p, len);
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '.') {
			/* sub-domain = Let-dig [Ldh-str]: no empty label, no trailing '-' */
			if (label == 0 || p[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (c >= 0x80 && utf8)
			*utf8 = true;
		if (label == 0 ? !is_letdig(c) : !(is_letdig(c) || c == '-'))
			return false;
		if (++label > 63)
			return false;
	}
	if (label == 0 || p[len - 1] == '-')
		return false;
	return smtp_valid_utf8(p, len);
}

/* Local-part = Dot-string / Quoted-string. Leaves c after it. */
static bool parse_local_part(struct cursor *c, struct smtp_command *cmd)
{
	const char *start = c->p;
	if (c->p < c->end && *c->p == '"') {
		c->p++;
		for (;;) {
			if (c->p >= c->end)
				return false;
			unsigned char ch = (unsigned char)*c->p;
			if (ch == '"')
				break;
			if (ch == '\\') {
				/* quoted-pairSMTP: %d92 %d32-126 */
				if (c->p + 1 >= c->end || c->p[1] < 32 || c->p[1] > 126)
					return false;
				c->p += 2;
				continue;
			}
			if (ch < 32 || ch == 127)
				return false;
			if (ch >= 0x80)
				cmd->utf8 = true;
			c->p++;
		}
		c->p++;
	} else {
		bool dot_ok = false;
		while (c->p < c->end && *c->p != '@' && *c->p != '>') {
			unsigned char ch = (unsigned char)*c->p;
			if (ch == '.') {
				if (!dot_ok)
					return false;
				dot_ok = false;
			} else if (is_atext(ch)) {
				if (ch >= 0x80)
					cmd->utf8 = true;
				dot_ok = true;
			} else {
				return false;
			}
			c->p++;
		}
		if (!dot_ok)
			return false; /* empty, or ends with '.' */
	}
	cmd->local = (struct slice){ start, (size_t)(c->p - start) };
	return cmd->local.len <= SMTP_LOCAL_PART_MAX;
}

/* Path = "<" [ A-d-l ":" ] Mailbox ">", or "<>" when allowed. */
static enum smtp_parse_error parse_path(struct cursor *c, struct smtp_command *cmd,
					bool allow_null, bool allow_postmaster)
{
	if (c->p >= c->end || *c->p != '<')
		return SMTP_PARSE_BAD_PATH;
	const char *close = memchr(c->p, '>', (size_t)(c->end - c->p));
	/* A '>' inside a quoted local part is legal; find the real end below. */
	c->p++;
	if (allow_null && c->p < c->end && *c->p == '>') {
		cmd->null_path = true;
		cmd->path = (struct slice){ c->p, 0 };
		c->p++;
		return SMTP_PARSE_OK;
	}
	if (!close)
		return SMTP_PARSE_BAD_PATH;
	/* Obsolete source route (RFC 5321 4.1.2 A-d-l): skip up to ':'. */
	if (c->p < c->end && *c->p == '@') {
		const char *colon = memchr(c->p, ':', (size_t)(c->end - c->p));
		if (!colon)
			return SMTP_PARSE_BAD_PATH;
		c->p = colon + 1;
	}
	const char *mbox = c->p;
	if (allow_postmaster && (size_t)(c->end - c->p) >= 11 &&
	    strncasecmp(c->p, "postmaster>", 11) == 0) {
		cmd->postmaster = true;
		cmd->local = (struct slice){ c->p, 10 };
		cmd->domain = (struct slice){ c->p + 10, 0 };
		cmd->path = cmd->local;
		c->p += 11;
		return SMTP_PARSE_OK;
	}
	if (!parse_local_part(c, cmd))
		return SMTP_PARSE_BAD_PATH;
	if (c->p >= c->end || *c->p != '@')
		return SMTP_PARSE_BAD_PATH;
	c->p++;
	const char *dom = c->p;
	if (c->p < c->end && *c->p == '[') {
		const char *rb = memchr(c->p, ']', (size_t)(c->end - c->p));
		if (!rb)
			return SMTP_PARSE_BAD_PATH;
		c->p = rb + 1;
	} else {
		while (c->p < c->end && *c->p != '>')
			c->p++;
	}
	cmd->domain = (struct slice){ dom, (size_t)(c->p - dom) };
	if (c->p >= c->end || *c->p != '>')
		return SMTP_PARSE_BAD_PATH;
	if (!smtp_valid_domain(cmd->domain.p, cmd->domain.len, true, &cmd->utf8))
		return SMTP_PARSE_BAD_PATH;
	cmd->path = (struct slice){ mbox, (size_t)(c->p - mbox) };
	c->p++;
	if (cmd->path.len + 2 > SMTP_PATH_MAX)
		return SMTP_PARSE_PATH_TOO_LONG;
	if (cmd->utf8 && !smtp_valid_utf8(cmd->local.p, cmd->local.len))
		return SMTP_PARSE_BAD_PATH;
	return SMTP_PARSE_OK;
}

static bool param_is(struct slice kw, const char *name)
{
	return slice_eq_ci(kw, name);
}

/* esmtp-param *(SP esmtp-param); esmtp-keyword ["=" esmtp-value] (RFC 5321 4.1.2). */
static enum smtp_parse_error parse_params(struct cursor *c, struct smtp_command *cmd)
{
	int count = 0;
	while (c->p < c->end) {
		if (*c->p != ' ')
			return SMTP_PARSE_SYNTAX;
		while (c->p < c->end && *c->p == ' ')
			c->p++;
		if (c->p >= c->end)
			break;
		if (++count > SMTP_PARAMS_MAX)
			return SMTP_PARSE_BAD_PARAM;
		const char *kw = c->p;
		while (c->p < c->end && (isalnum((unsigned char)*c->p) || *c->p == '-'))
			c->p++;
		struct slice key = { kw, (size_t)(c->p - kw) };
		struct slice val = { c->p, 0 };
		bool has_val = false;
		if (c->p < c->end && *c->p == '=') {
			c->p++;
			val.p = c->p;
			while (c->p < c->end && *c->p != ' ' && *c->p != '=' &&
			       (unsigned char)*c->p > 32 && (unsigned char)*c->p < 127)
				c->p++;
			val.len = (size_t)(c->p - val.p);
			has_val = true;
		}
		if (key.len == 0 || (c->p < c->end && *c->p != ' '))
			return SMTP_PARSE_SYNTAX;
		if (cmd->verb == SMTP_MAIL && param_is(key, "SIZE")) {
			if (!has_val || val.len == 0 || val.len > 20 || cmd->has_size)
				return SMTP_PARSE_BAD_PARAM;
			uint64_t n = 0;
			for (size_t i = 0; i < val.len; i++) {
				if (!isdigit((unsigned char)val.p[i]))
					return SMTP_PARSE_BAD_PARAM;
				unsigned d = (unsigned)(val.p[i] - '0');
				n = n > (UINT64_MAX - d) / 10 ? UINT64_MAX : n * 10 + d;
			}
			cmd->has_size = true;
			cmd->size = n;
		} else if (cmd->verb == SMTP_MAIL && param_is(key, "BODY")) {
			if (!has_val || cmd->body != SMTP_BODY_UNSPEC)
				return SMTP_PARSE_BAD_PARAM;
			if (slice_eq_ci(val, "7BIT"))
				cmd->body = SMTP_BODY_7BIT;
			else if (slice_eq_ci(val, "8BITMIME"))
				cmd->body = SMTP_BODY_8BITMIME;
			else
				return SMTP_PARSE_BAD_PARAM;
		} else if (cmd->verb == SMTP_MAIL && param_is(key, "SMTPUTF8")) {
			if (has_val || cmd->smtputf8)
				return SMTP_PARSE_BAD_PARAM;
			cmd->smtputf8 = true;
		} else {
			return SMTP_PARSE_BAD_PARAM;
		}
	}
	return SMTP_PARSE_OK;
}

static enum smtp_parse_error parse_mail_rcpt(struct cursor *c, struct smtp_command *cmd)
{
	const char *kw = cmd->verb == SMTP_MAIL ? "FROM:" : "TO:";
	size_t kwlen = strlen(kw);
	if ((size_t)(c->end - c->p) < kwlen || strncasecmp(c->p, kw, kwlen) != 0)
		return SMTP_PARSE_SYNTAX;
	c->p += kwlen;
	/* RFC 5321 has no space here; widespread clients send one. */
	while (c->p < c->end && *c->p == ' ')
		c->p++;
	enum smtp_parse_error e =
		parse_path(c, cmd, cmd->verb == SMTP_MAIL, cmd->verb == SMTP_RCPT);
	if (e != SMTP_PARSE_OK)
		return e;
	return parse_params(c, cmd);
}

enum smtp_parse_error smtp_parse_command(const char *line, size_t len, struct smtp_command *cmd)
{
	memset(cmd, 0, sizeof(*cmd));
	struct cursor c = { line, line + len };
	const char *verb = c.p;
	while (c.p < c.end && isalpha((unsigned char)*c.p))
		c.p++;
	struct slice v = { verb, (size_t)(c.p - verb) };
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (slice_eq_ci(v, verbs[i].name)) {
			cmd->verb = verbs[i].verb;
			break;
		}
	if (cmd->verb == SMTP_UNKNOWN || (c.p < c.end && *c.p != ' ')) {
		cmd->verb = SMTP_UNKNOWN;
		return SMTP_PARSE_UNKNOWN;
	}
	if (c.p < c.end)
		c.p++;
	cmd->arg = (struct slice){ c.p, (size_t)(c.end - c.p) };
	for (size_t i = 0; i < cmd->arg.len; i++)
		if ((unsigned char)cmd->arg.p[i] < 32 || cmd->arg.p[i] == 127)
			return SMTP_PARSE_SYNTAX;
	switch (cmd->verb) {
	case SMTP_HELO:
	case SMTP_EHLO: {
		/* Keep the first word; many clients append junk. Empty is an error. */
		const char *sp = memchr(cmd->arg.p, ' ', cmd->arg.len);
		if (sp)
			cmd->arg.len = (size_t)(sp - cmd->arg.p);
		if (cmd->arg.len == 0 || cmd->arg.len > SMTP_HELO_MAX)
			return SMTP_PARSE_SYNTAX;
		return SMTP_PARSE_OK;
	}
	case SMTP_MAIL:
	case SMTP_RCPT:
		return parse_mail_rcpt(&c, cmd);
	case SMTP_DATA:
	case SMTP_RSET:
	case SMTP_QUIT:
	case SMTP_STARTTLS:
		return cmd->arg.len ? SMTP_PARSE_SYNTAX : SMTP_PARSE_OK;
	default:
		return SMTP_PARSE_OK;
	}
}

const char *smtp_parse_error_text(enum smtp_parse_error e, enum smtp_verb verb, int *code,
				  const char **enh)
{
	bool sender = verb == SMTP_MAIL;
	switch (e) {
	case SMTP_PARSE_OK:
		*code = 250, *enh = "2.0.0";
		return "OK";
	case SMTP_PARSE_UNKNOWN:
		*code = 500, *enh = "5.5.1";
		return "Command unrecognized";
	case SMTP_PARSE_SYNTAX:
		*code = 501, *enh = "5.5.4";
		return "Syntax error in parameters or arguments";
	case SMTP_PARSE_BAD_PATH:
		*code = 501, *enh = sender ? "5.1.7" : "5.1.3";
		return sender ? "Bad sender address syntax" : "Bad recipient address syntax";
	case SMTP_PARSE_PATH_TOO_LONG:
		*code = 501, *enh = sender ? "5.1.7" : "5.1.3";
		return "Path too long";
	case SMTP_PARSE_BAD_PARAM:
		*code = 555, *enh = "5.5.4";
		return "MAIL FROM/RCPT TO parameters not recognized or not implemented";
	}
	*code = 451, *enh = "4.3.0";
	return "Internal error";
}
