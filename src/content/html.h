/*
 * html.h - HTML to text for the classifier, with link targets and obfuscation signals.
 *
 * Not an HTML parser: a single forward scan that drops tags, comments, script
 * and style, decodes character references (HTML 4 named basics and numeric) to
 * UTF-8, keeps link targets (href, src, action) for the URL features, and
 * notes the tricks spam uses to hide or break up text (hidden or tiny text,
 * comments inside words, numeric references for plain letters). Inline tags
 * vanish without a trace so that "v<b></b>iagra" reads "viagra"; block tags
 * become a space. Output and work are bounded by the input length.
 */
#ifndef MX_CONTENT_HTML_H
#define MX_CONTENT_HTML_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>

struct html_facts {
	bool hidden;          /* display:none, visibility:hidden, font-size:0/1 */
	bool tiny_font;       /* <font size=1> or smaller */
	bool white_text;      /* color white / #fff */
	bool comment_in_word; /* <!-- --> between two letters */
	bool script, form, iframe;
	size_t images, links;
	size_t numeric_refs;  /* &#NN; for ASCII letters and digits */
	size_t tag_bytes;     /* markup, against text bytes */
};

typedef void (*html_url_fn)(void *arg, const char *url, size_t len);

/* Appends the text of html to out; 0, or -1 on allocation failure. */
int html_to_text(const char *html, size_t len, struct buf *out, struct html_facts *facts,
		 html_url_fn on_url, void *arg);

#endif
