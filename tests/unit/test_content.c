/* Unit tests for the content classifier (src/content/): features, model file, SCL, TREC measures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <gmime/gmime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "content/address.h"
#include "content/classify.h"
#include "content/features.h"
#include "content/html.h"
#include "content/model.h"
#include "content/trec.h"
#include "core/limits.h"

#include <xxhash.h>

#ifndef UNIT_SRC_DIR
#define UNIT_SRC_DIR "."
#endif
#define GOLDEN UNIT_SRC_DIR "/golden/content/"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *p = malloc((size_t)n + 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	p[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return p;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Feature names of msg, one per line, in the order extracted. */
static char *feature_lines_ordered(const char *msg, size_t len, unsigned flags, bool sorted)
{
	struct features f;
	features_init(&f, FEAT_NAMES | flags);
	assert_int_equal(features_extract(&f, msg, len), 0);
	const char **names = malloc((f.n + 1) * sizeof(*names));
	size_t total = 1;
	for (size_t i = 0; i < f.n; i++) {
		names[i] = features_name(&f, i);
		total += strlen(names[i]) + 1;
	}
	if (sorted)
		qsort(names, f.n, sizeof(*names), cmp_str);
	char *out = malloc(total), *p = out;
	for (size_t i = 0; i < f.n; i++)
		p += sprintf(p, "%s\n", names[i]);
	*p = '\0';
	free(names);
	features_free(&f);
	return out;
}

/* Sorted feature names of msg, one per line (the golden file format). */
static char *feature_lines(const char *msg, size_t len, unsigned flags)
{
	return feature_lines_ordered(msg, len, flags, true);
}

static void golden(const char *name)
{
	char path[512];
	size_t len, glen;
	snprintf(path, sizeof(path), GOLDEN "%s.eml", name);
	char *msg = slurp(path, &len);
	snprintf(path, sizeof(path), GOLDEN "%s.features", name);
	char *want = slurp(path, &glen);
	char *got = feature_lines(msg, len, FEAT_NO_NGRAMS);
	if (strcmp(got, want) != 0) {
		fprintf(stderr, "golden %s differs; got:\n%s\n", name, got);
		fail();
	}
	free(msg);
	free(want);
	free(got);
}

static void test_golden_nested(void **state) { (void)state; golden("nested"); }
static void test_golden_bad_base64(void **state) { (void)state; golden("badb64"); }
static void test_golden_charsets(void **state) { (void)state; golden("charset"); }
static void test_golden_html(void **state) { (void)state; golden("html"); }

static bool has_feature(const struct features *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(features_name(f, i), name))
			return true;
	return false;
}

static void test_huge_headers(void **state)
{
	(void)state;
	/* 1,000 headers and a 200 kB Subject: bounded work, no crash */
	size_t cap = 1u << 20, n = 0;
	char *m = malloc(cap);
	for (int i = 0; i < 1000; i++)
		n += (size_t)sprintf(m + n, "X-Filler-%d: value %d\n", i, i);
	n += (size_t)sprintf(m + n, "Subject: ");
	for (int i = 0; i < 20000; i++)
		n += (size_t)sprintf(m + n, "%s", i % 8 == 7 ? "longword\n " : "longword ");
	n += (size_t)sprintf(m + n, "\n\nbody text\n");
	struct features f;
	features_init(&f, FEAT_NAMES);
	assert_int_equal(features_extract(&f, m, n), 0);
	assert_true(has_feature(&f, "m:#many_headers"));
	assert_true(has_feature(&f, "s:longword"));
	assert_true(has_feature(&f, "w:body"));
	assert_true(f.n <= CONTENT_FEATURES_MAX);
	features_free(&f);
	free(m);
}

static void test_deep_nesting_and_many_parts(void **state)
{
	(void)state;
	size_t cap = 1u << 20, n = 0;
	char *m = malloc(cap);
	n += (size_t)sprintf(m + n, "Subject: deep\nMIME-Version: 1.0\n");
	for (int d = 0; d < 40; d++)
		n += (size_t)sprintf(m + n, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", d, d);
	n += (size_t)sprintf(m + n, "Content-Type: text/plain\n\ndeepest\n");
	for (int d = 39; d >= 0; d--)
		n += (size_t)sprintf(m + n, "--b%d--\n", d);
	struct features f;
	features_init(&f, FEAT_NAMES);
	assert_int_equal(features_extract(&f, m, n), 0);
	assert_true(has_feature(&f, "m:#depth_limit"));
	assert_false(has_feature(&f, "w:deepest"));
	/* 200 sibling parts: at most MIME_PARTS_MAX are looked at */
	n = (size_t)sprintf(m, "Subject: wide\nContent-Type: multipart/mixed; boundary=w\n\n");
	for (int i = 0; i < 200; i++)
		n += (size_t)sprintf(m + n, "--w\nContent-Type: text/plain\n\npart%d words\n", i);
	n += (size_t)sprintf(m + n, "--w--\n");
	assert_int_equal(features_extract(&f, m, n), 0);
	assert_true(has_feature(&f, "m:#parts_limit"));
	assert_true(has_feature(&f, "w:part0"));
	assert_false(has_feature(&f, "w:part150"));
	features_free(&f);
	free(m);
}

static void test_crlf_equals_lf(void **state)
{
	(void)state;
	size_t len;
	char *lf = slurp(GOLDEN "nested.eml", &len);
	char *crlf = malloc(2 * len + 1);
	size_t k = 0;
	for (size_t i = 0; i < len; i++) {
		if (lf[i] == '\n')
			crlf[k++] = '\r';
		crlf[k++] = lf[i];
	}
	char *a = feature_lines(lf, len, 0), *b = feature_lines(crlf, k, 0);
	assert_string_equal(a, b);
	free(a);
	free(b);
	free(lf);
	free(crlf);
}

/* The light path and the GMime path give msg the same features in the same
 * order (the score is a float sum in that order). */
static void assert_paths_agree(const char *msg, size_t len)
{
	char *light = feature_lines_ordered(msg, len, 0, false);
	char *gmime = feature_lines_ordered(msg, len, FEAT_NO_LIGHT, false);
	if (strcmp(light, gmime) != 0) {
		fprintf(stderr, "message:\n%.*s\nlight:\n%s\ngmime:\n%s\n", (int)len, msg, light,
			gmime);
		fail();
	}
	free(light);
	free(gmime);
}

/* assert_paths_agree(), and msg took the light path (light) or GMime's parser. */
static void assert_path_taken(const char *msg, bool light)
{
	assert_paths_agree(msg, strlen(msg));
	struct features f;
	features_init(&f, 0);
	assert_int_equal(features_extract(&f, msg, strlen(msg)), 0);
	bool took = f.light;
	features_free(&f);
	if (took != light)
		fail_msg("expected the %s path for:\n%s", light ? "light" : "GMime", msg);
}

/* The light path must give exactly GMime's features, in the same order (the
 * score is a float sum in that order; see features.c). */
static void test_light_path_equals_gmime(void **state)
{
	(void)state;
	static const char *const msgs[] = {
		"From: Alice <alice@a.example>\nTo: b@b.example, \"Doe, J\" <j@d.example>\n"
		"Subject: hello there!\nMessage-ID: <x@a.example>\nDate: Mon, 1 Jan 2001\n"
		"X-Mailer: Foo 1.0\nReceived: from a.example (a.example [192.0.2.1])\n"
		"\tby mx.example with ESMTP id 123; Mon, 1 Jan 2001\n\n"
		"Plain text, see http://www.example.com/x and www.test.example.\n",
		"From: x@y.example\r\nContent-Type: text/html; charset=\"iso-8859-1\"\r\n"
		"Content-Transfer-Encoding: 7bit\r\nReply-To: z@other.example\r\n\r\n"
		"<p>Buy <a href=\"http://shop.example/\">now</a></p>\r\n",
		"Subject: no from\nTo: undisclosed-recipients:;\nCc: bad address <<>>\n\nbody\n",
		"Subject: utf8\nContent-Type: text/plain; charset=utf-8; format=flowed\n\n"
		"Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln\n",
		"Subject: inline\nContent-Type: text/plain\nContent-Disposition:  INLINE \n"
		"Content-Class: urn:content-classes:message\nContent-Description: a note\n\nx\n",
		"Content-Transfer-Encoding: quoted-printable\n\n"
		"soft=\nbreak, =3D sign, bad =ZZ, =\n",
		"Content-Type: text/html; charset=iso-8859-1\n"
		"Content-Transfer-Encoding: Quoted-Printable\n\n<p>a=20b=\r\nc</p>=",
		"Content-Transfer-Encoding: base64\n\nSGVsbG8gd29y bGQh\n!!garbage==\nQUJD\n",
		"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
		"R3LDvMOfZSBhdXMgS8O2bG4K\n",
		"Content-Type: text/plain; charset=windows-1252\n\n"
		"undefined \x81 and \x80uro caf\xe9\n",
		"Content-Type: text/html; charset=iso-8859-7\n\n"
		"<b>\xe1\xe2\xe3 \xae unassigned</b>\n",
		"Content-Type: text/plain; charset=koi8-r\n\n\xf0\xd2\xc9\xd7\xc5\xd4\n",
		"Content-Type: text/plain; charset=Windows-1251\n"
		"Content-Transfer-Encoding: 8bit\n\n\xcf\xf0\xe8\n",
		"Content-Type: text/plain; charset=iso-8859-1\n"
		"Content-Transfer-Encoding: quoted-printable\n\ncaf=E9 cr=E8me\n",
		"From: p@promo.example (Promo (Inc) Name)\nTo: a@b.example (A\n  B)\n\nx\n",
		"From: p@promo.example (unclosed\n\nx\n",
		"Content-Type: multipart/signed; boundary=b;\n"
		" protocol=\"application/pgp-signature\"\n\n"
		"preamble\n--b\nContent-Type: text/plain\n\nhello\n--b\n"
		"Content-Type: Application/PGP-Signature\n\nsig\n--b--\nepilogue\n",
		"Content-Type: multipart/alternative; boundary=\"x y\"\n\n--x y  \n"
		"Content-Type: text/plain; charset=iso-8859-1\n"
		"Content-Transfer-Encoding: quoted-printable\n\ncaf=E9\n--x y\n"
		"Content-Type: text/html\n\n<b>hi</b>\n\n--x y--\n",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n"
		"x\n--bb\n--b-- trailing\n--b--\n",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n"
		"\n--b--\n",
		"Subject: CRLF headers, LF body\r\n"
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
		"--b\nContent-Type: text/plain\n\nhello world\n--b--\n",
		/* no end boundary: the last part runs to the end (GMime warns) */
		"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n"
		"no end\n",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n"
		"no end, no newline",
		"Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain\n\n"
		"x\n--b\nContent-Type: text/html\n\n<p>y</p>\n\n",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n"
		"boundary as the last line\n--b",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n"
		"end boundary as the last line\n--b--",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n"
		"x\n--b\nContent-Type: text/plain\n\n",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n"
		"x\n--b\nContent-Type: text/plain\n\nends in a partial end boundary\n--b-",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n"
		"x\n--b\nContent-Type: text/plain\n",
		"Content-Type: multipart/mixed; boundary=b\n\npreamble only\n--b",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\n",
		"To: a b <c@d.example>x\nContent-Type: multipart/mixed; boundary=b\n\n"
		"--b\nContent-Type: text/plain\n\naddress warning too\n",
		"To: a b <c@d.example>x\nContent-Type: text/plain;; charset=us-ascii\n\n"
		"address warning too\n",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n"
		"x\n--b\nContent-Type: text/html;; charset=us-ascii\n\n<p>both warnings</p>\n",
		/* empty parameters: GMime warns unless the last one is empty */
		"Content-Type: text/plain;\n\ntrailing semicolon\n",
		"Content-Type: text/plain; charset=us-ascii;\n\ntrailing semicolon\n",
		"Content-Type: text/plain; charset=us-ascii; ; \n\ntwo trailing\n",
		"Content-Type: text/plain;; charset=iso-8859-1\n\ncaf\xe9\n",
		"Content-Type: text/html;;;;;;\n\n<p>many</p>\n",
		"Content-Type: text/plain ;\n ;\n\tcharset=us-ascii\n\nfolded\n",
		"Content-Type: multipart/alternative;; boundary=b\n\n--b\n"
		"Content-Type: text/plain;;\n\nx\n--b--\n",
		"Content-Disposition: inline;;\n\nempty disposition parameter\n",
		"Content-Type: text/plain; name=\n\nempty name\n",
		/* file names and attachments */
		"Content-Type: text/plain; name=x.txt\n\nnamed\n",
		"Content-Type: text/plain; name=\"a b.TXT\"\n\nquoted name\n",
		"Content-Type: text/plain; name=\"\"\n\nempty quoted name\n",
		"Content-Type: text/plain; name=noext\n\nx\n",
		"Content-Type: text/plain; name=\"x.\"\n\nempty extension\n",
		"Content-Type: text/plain; name=x.toolongext\n\nx\n",
		"Content-Type: text/plain; name=\"a.t\n xt\"\n\nfolded name\n",
		"Content-Type: multipart/mixed; boundary=\"a\n b\"\n\n--a b\n"
		"Content-Type: text/plain\n\nfolded boundary\n--a b--\n",
		"Content-Disposition: inline; filename=x.txt\n\nnamed by the disposition\n",
		"Content-Disposition: attachment\n\nan attachment\n",
		"Content-Disposition: ATTACHMENT ; filename=\"r.pdf\"\n"
		"Content-Type: text/plain; name=other.doc\n\nfilename wins\n",
		"Content-Disposition: foo\n\nneither inline nor attachment\n",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n"
		"see attached\n--b\nContent-Type: application/octet-stream; name=\"setup.exe\"\n"
		"Content-Transfer-Encoding: base64\nContent-Disposition: attachment; "
		"filename=\"setup.exe\"\n\nTVqQAAMAAAAEAAAA\n--b\n"
		"Content-Type: image/GIF; name=pic.gif\n\nGIF89a\n--b\n"
		"Content-Type: text/html; charset=iso-8859-1; name=page.html\n"
		"Content-Disposition: attachment\n\n<p>caf\xe9</p>\n--b--\n",
		/* these must bail out to GMime; still the same features */
		"Content-Type: multipart/mixed; boundary=b\n\n--b\n\nno headers\n--b--\n",
		"Content-Type: multipart/mixed; boundary=b\n\n--b--\n",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n"
		"--b--\n",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
		"Content-Type: text/plain\r\n\r\nx\r\n--b--\r\n",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n"
		"x\n--b\nContent-Type: multipart/alternative; boundary=c\n\n--c\n\ny\n--c--\n"
		"--b--\n",
		"Content-Type: multipart/mixed\n\nno boundary\n",
		"Content-Type: multipart/mixed; boundary=a\n\n--a\nX-Foo: a\nX-Foo: b\n"
		"Content-Type: text/html\n\nrepeated header in a part\n--a--\n",
		"Content-Type: multipart/digest; boundary=b\n\n--b\n\nx\n--b--\n",
		"From: Promo <p@promo.example>(x\n  y\n\nx\n",
		"From: \"(q\" <p@promo.example> (c)\n\nx\n",
		"Content-Type: text/plain; charset=windows-1258\n\ncomposes a\xcc\n",
		"Content-Type: text/plain; charset=gb2312\n\n\xc4\xe3\xba\xc3\n",
		"Content-Transfer-Encoding: x-uuencode\n\nbegin 644 x\n#86)C\n`\nend\n",
		"Content-Disposition: inline;\n\nempty parameter\n",
		"Content-Description: =?utf-8?q?encoded?=\n\nx\n",
		"Content-Class: a\nContent-Class: b\n\ntwice\n",
		"Subject: =?utf-8?q?encoded?=\n\nx\n",
		"Subject: a\nSubject: b\n\ntwo subjects\n",
		"Content-Type: text/plain;;\n\nempty parameter\n",
		"Subject: \xe9t\xe9\n\n" "8-bit header\n",
		"Subject: no body separator\n",
		"From someone Mon Jan 1\nSubject: mbox\n\nx\n",
		/* found by fuzzing the two paths against each other */
		"Content-Type: text/html; charset/=\"iso-8859-1\"\n\n<p>x</p>\n",
		"Content-Type: text/plain; charset=iso-8859-h1lel\n\nx\n",
		"Content-Type: text/plain; charset=us-asciplain; charset=us-ascii\n\nx\n",
		"From: Promo <p@promo.example>(Reply-To: other@elsewhere\n\nx\n",
		"Content-Type: \vtext/html\n\n<p>vertical tab</p>\n",
		/* names and domains GMime decodes: the message goes to GMime */
		"From: =?utf-8?q?J=C3=B6rg?= <j@b.example>\nSubject: x\n\nbody\n",
		"From: J\xc3\xb6rg <j@b.example>\nSubject: x\n\nbody\n",
		"From: j@b\xc3\xbc.example\nSubject: x\n\nbody\n",
	};
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
		assert_paths_agree(msgs[i], strlen(msgs[i]));
}

/* Multiparts with CRLF line ends (as SMTP carries them) take the light path and
 * agree with GMime, including its rule that the line end before a boundary is
 * two bytes when the boundary line ends in CR LF, else one, whatever the line
 * before ends with. */
static void test_light_path_crlf_multiparts(void **state)
{
	(void)state;
	static const char *const light[] = {
		"From: a@b.example\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n"
		"preamble\r\n--b1\r\nContent-Type: text/plain\r\n\r\nplain words\r\n"
		"--b1\r\nContent-Type: text/html\r\n\r\n<p>html words</p>\r\n--b1--\r\nepilogue\r\n",
		/* quoted-printable soft breaks and base64 with CRLF */
		"Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n"
		"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: "
		"quoted-printable\r\n\r\nsoft=\r\nbreak caf=E9\r\n--q\r\n"
		"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
		"aGVsbG8g\r\nd29ybGQ=\r\n--q--\r\n",
		/* boundary lines with trailing white space before the CR */
		"Content-Type: multipart/mixed; boundary=w\r\n\r\n--w \t\r\nContent-Type: text/plain"
		"\r\n\r\nfirst\r\n--w-- \r\n",
		/* mixed: LF content before a CRLF boundary, CRLF content before an LF one */
		"Content-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\nContent-Type: text/plain\r\n"
		"\r\nlf line\n--m\r\nContent-Type: text/plain\r\n\r\ncrlf line\r\n--m\n"
		"Content-Type: text/plain\r\n\r\nlast\r\n--m--\r\n",
		/* an empty part, and an end boundary at the end without a line end */
		"Content-Type: multipart/mixed; boundary=e\r\n\r\n--e\r\nContent-Type: text/plain\r\n"
		"\r\n\r\n--e\r\nContent-Type: text/plain\r\n\r\nx\r\n--e--",
		/* the end boundary's CR is the message's last byte */
		"Content-Type: multipart/mixed; boundary=e\r\n\r\n--e\r\nContent-Type: text/plain\r\n"
		"\r\nx\r\n--e--\r",
		/* no end boundary: truncated, GMime warns */
		"Content-Type: multipart/mixed; boundary=t\r\n\r\n--t\r\nContent-Type: text/plain\r\n"
		"\r\nno end\r\n",
	};
	for (size_t i = 0; i < sizeof(light) / sizeof(light[0]); i++)
		assert_path_taken(light[i], true);
}

/* An mbox "From " line before the headers (the corpus as the npm package ships
 * it): GMime's parser passes over it without a warning; so does the light path. */
static void test_light_path_mbox_from_line(void **state)
{
	(void)state;
	static const char *const msgs[] = {
		"From someone@example.com  Mon Jun 25 13:11:28 2001\nReturn-Path: <a@b.example>\n"
		"From: a@b.example\nSubject: mbox\n\nbody words\n",
		"From someone Mon Jan 1\r\nSubject: crlf\r\nContent-Type: multipart/mixed; "
		"boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\npart\r\n--b--\r\n",
		/* no headers after it, or no line end: left to GMime */
		"From someone Mon Jan 1\n\nbody only\n",
		"From someone Mon Jan 1",
		"From someone\nFrom other\nSubject: two from lines\n\nx\n",
	};
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
		assert_path_taken(msgs[i], i < 2);
}

/* Multiparts inside multiparts: the light path follows GMime's boundary stack
 * (a line that is any level's boundary ends a part, innermost tested first) and
 * emits walk()'s order; irregular nestings go to GMime, with the same features. */
static void test_light_path_nested_multiparts(void **state)
{
	(void)state;
	static const char *const light[] = {
		"From: a@b.example\nContent-Type: multipart/mixed; boundary=out\n\npreamble\n"
		"--out\nContent-Type: multipart/alternative; boundary=in\n\ninner preamble\n"
		"--in\nContent-Type: text/plain\n\nplain words\n--in\nContent-Type: text/html\n\n"
		"<p>html words</p>\n--in--\ninner epilogue\n--out\nContent-Type: application/pdf; "
		"name=\"a.pdf\"\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment\n"
		"\nJVBERi0xLjQK\n--out--\nepilogue\n",
		/* the same with CRLF, the inner boundary a prefix of the outer one */
		"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain"
		"\r\n\r\nfirst\r\n--b\r\nContent-Type: multipart/related; boundary=\"b-1\"\r\n\r\n"
		"--b-1\r\nContent-Type: text/html\r\n\r\n<b>x</b>\r\n--b-1--\r\n\r\n--b--\r\n",
		/* three levels */
		"Content-Type: multipart/mixed; boundary=L0\n\n--L0\nContent-Type: multipart/mixed; "
		"boundary=L1\n\n--L1\nContent-Type: multipart/alternative; boundary=L2\n\n--L2\n"
		"Content-Type: text/plain\n\ndeep\n--L2--\n--L1\nContent-Type: text/plain\n\nmid\n"
		"--L1--\n--L0--\n",
	};
	static const char *const gmime[] = {
		/* the inner multipart ended by the outer boundary, no end of its own */
		"Content-Type: multipart/mixed; boundary=out\n\n--out\nContent-Type: multipart/"
		"alternative; boundary=in\n\n--in\nContent-Type: text/plain\n\nx\n--out\n"
		"Content-Type: text/plain\n\ny\n--out--\n",
		/* the inner preamble ended by the outer boundary: an empty multipart */
		"Content-Type: multipart/mixed; boundary=out\n\n--out\nContent-Type: multipart/"
		"alternative; boundary=in\n\nno parts\n--out--\n",
		/* the inner epilogue runs to the end: the outer has no end */
		"Content-Type: multipart/mixed; boundary=out\n\n--out\nContent-Type: multipart/"
		"alternative; boundary=in\n\n--in\nContent-Type: text/plain\n\nx\n--in--\nrest\n",
		/* five levels: deeper than the light path follows */
		"Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: multipart/mixed; "
		"boundary=b\n\n--b\nContent-Type: multipart/mixed; boundary=c\n\n--c\nContent-Type: "
		"multipart/mixed; boundary=d\n\n--d\nContent-Type: multipart/mixed; boundary=e\n\n--e\n"
		"Content-Type: text/plain\n\nz\n--e--\n--d--\n--c--\n--b--\n--a--\n",
	};
	for (size_t i = 0; i < sizeof(light) / sizeof(light[0]); i++)
		assert_path_taken(light[i], true);
	for (size_t i = 0; i < sizeof(gmime) / sizeof(gmime[0]); i++)
		assert_path_taken(gmime[i], false);
}

/* Top-level headers with 8-bit bytes or encoded words: the light path decodes
 * them as GMime does and emits GMime's warnings where GMime emits them (header
 * values that are not UTF-8 while the header block is read, then address,
 * Subject, Date and Message-Id warnings in header order, then the content's). */
static void test_light_path_encoded_headers(void **state)
{
	(void)state;
	static const char *const msgs[] = {
		"From: a@b.example\nSubject: =?UTF-8?B?SGVsbG8gV29ybGQ=?=\n\nbody\n",
		"From: a@b.example\nSubject: =?iso-8859-1?Q?Caf=E9_cr=E8me?= now\n\nbody\n",
		"From: a@b.example\nSubject: =?utf-8?q?broken\n\nbody\n",
		"From: a@b.example\nSubject: =?bogus-charset?Q?x=E9y?=\n\nbody\n",
		"From: a@b.example\nSubject: =?utf-8?X?abc?= and =?utf-8?B?***?=\n\nbody\n",
		"From: a@b.example\nSubject: caf\xe9 cr\xe8me latin-1\n\nbody\n",
		"From: a@b.example\nSubject: caf\xc3\xa9 UTF-8\n\nbody\n",
		"From: a@b.example\nSubject: =?UTF-8?B?SGVs?=\n =?UTF-8?B?bG8=?= FREE!!\n\nbody\n",
		"From: a@b.example\r\nSubject: =?UTF-8?Q?fold?=\r\n\t=?UTF-8?Q?ed_CRLF?=\r\n\r\nbody\r\n",
		"From: =?utf-8?q?J=C3=B6rg?= <j@b.example>\nSubject: x\n\nbody\n",
		"From: J\xf6rg <j@b.example>\nSubject: x\n\nbody\n",
		/* GMime decodes an address header as text after parsing it: an invalid
		 * encoded word warns there too (found by fuzzing the two paths) */
		"From:#=?x- c@dt=iso-unknown-41?Q?Mr_X?= <x@y.exa\nSubject: x\n\nbody\n",
		"From: =?x- c?Q?Mr_X?= <x@y.example>\nCc: =?x- c?Q?Mr_Y?=\n\nbody\n",
		"From: a@b.example\nTo: =?utf-8?q?Z?= <z@c.example>, bad@\nSubject: \xff\n\nb\n",
		"From: a@b.example\nX-Mailer: =?utf-8?q?Mailer_=C3=A9_2?=\nUser-Agent: \xe9t\xe9\n\nb\n",
		"From: a@b.example\nList-Id: =?utf-8?q?liste?= <l.example>\nPrecedence: bu\xf6lk\n\nb\n",
		"From: a@b.example\nDate: Mon, 1 Jan 2001 \xe9\nMessage-ID: <=?x?q?y?=@b.example>\n\nb\n",
		"From: a@b.example\nReceived: from h\xe9 by mx\nOrganization: Soci\xe9t\xe9\n\nb\n",
		"From: a@b.example\nSubject: =?utf-8?q?x?=\nContent-Type: text/plain;; charset=utf-8\n\nb\n",
		"From: a@b.example\nSubject: \xe9\nContent-Type: multipart/mixed; boundary=b\n\n"
		"--b\nContent-Type: text/plain\n\npart\n",
		/* left to GMime: content headers and part headers with 8-bit or encoded words */
		"From: a@b.example\nContent-Type: text/plain; name=\"=?utf-8?q?x?=\"\n\nb\n",
		"From: a@b.example\nContent-Description: caf\xe9\n\nb\n",
		"From: a@b.example\nContent-Type: multipart/mixed; boundary=b\n\n"
		"--b\nContent-Type: text/plain\nX-Part: \xe9\n\npart\n--b--\n",
	};
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
		assert_paths_agree(msgs[i], strlen(msgs[i]));
}

/* An address header longer than CONTENT_HEADER_VALUE_MAX: the light path used
 * to parse it cut, and GMime warned about the cut address. */
static void test_light_path_long_address_header(void **state)
{
	(void)state;
	struct buf m = { 0 };
	assert_int_equal(buf_append_str(&m, "From: a@b.example\nTo: "), 0);
	for (int i = 0; i < 80; i++)
		assert_int_equal(buf_printf(&m, "%s\"Person %d\" <person%d@example.com>",
					    i ? ", " : "", i, i), 0);
	assert_int_equal(buf_append_str(&m, "\nSubject: x\n\nbody\n"), 0);
	assert_true(m.len > CONTENT_HEADER_VALUE_MAX);
	assert_paths_agree(m.p, m.len);
	buf_free(&m);
}

static void count_warning(gint64 offset, GMimeParserWarning code, const gchar *item, gpointer arg)
{
	(void)offset, (void)code, (void)item;
	(*(int *)arg)++;
}

/* address_list_simple() on v gives what GMime's parser gives (no warning,
 * the same number of addresses, the same first address and display name), or
 * declines; taken: whether it must take v. */
static void address_as_gmime(const char *v, bool taken)
{
	size_t n = strlen(v);
	struct address a;
	char name[CONTENT_HEADER_VALUE_MAX], tmp[CONTENT_HEADER_VALUE_MAX + 1];
	int count = address_list_simple(v, n, &a, name);
	if ((count >= 0) != taken) {
		fprintf(stderr, "address_list_simple(%s): %d\n", v, count);
		fail();
	}
	if (count < 0)
		return;
	for (size_t i = 0; i <= n; i++) /* the light path hands GMime the value unfolded */
		tmp[i] = v[i] == '\r' || v[i] == '\n' ? ' ' : v[i];
	int warnings = 0;
	GMimeParserOptions *opts = g_mime_parser_options_new();
	g_mime_parser_options_set_warning_callback(opts, count_warning, &warnings);
	InternetAddressList *l = internet_address_list_parse(opts, tmp);
	assert_int_equal(warnings, 0);
	assert_int_equal(l ? internet_address_list_length(l) : 0, count);
	if (count > 0) {
		InternetAddress *ia = internet_address_list_get_address(l, 0);
		assert_true(INTERNET_ADDRESS_IS_MAILBOX(ia));
		const char *gname = internet_address_get_name(ia);
		assert_int_equal(strlen(gname ? gname : ""), a.name.len);
		assert_memory_equal(gname ? gname : "", a.name.p, a.name.len);
		const char *gaddr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
		assert_int_equal(strlen(gaddr), a.addr.len);
		assert_memory_equal(gaddr, a.addr.p, a.addr.len);
	}
	if (l)
		g_object_unref(l);
	g_mime_parser_options_free(opts);
}

/* The address forms the light path reads itself: the same addresses, names
 * and warnings (none) as GMime's parser, the same features as the GMime path;
 * the forms it leaves to GMime are still equal (8-bit names and encoded words:
 * in test_light_path_equals_gmime). */
static void test_light_path_addresses(void **state)
{
	(void)state;
	static const struct {
		const char *v;
		bool taken;
	} cases[] = {
		{ "a@b.example", true },
		{ "Name <a@b.example>", true },
		{ "  Name  Two\t<a@b.example>  ", true },
		{ "\"Quoted Name\" <a@b.example>", true },
		{ "\"Doe, John\" <j@d.example>, \"Roe; Jane <x>\" <r@d.example>", true },
		{ "<a@b.example>", true },
		{ "\"\" <a@b.example>", true },
		{ "\" \" <a@b.example>", true },
		{ "\"  Padded  \" Name <a@b.example>", true },
		{ "Jo\"hn\" <a@b.example>", true },
		{ "Mr. J. Doe <a@b.example>", true },
		{ "a@b.example (Comment here)", true },
		{ "a@b.example(c),c@d.example (  e  )", true },
		{ "a@b.example ()", true },
		{ "Name\r\n <a@b.example>,\r\n\tc@D.EXAMPLE", true },
		{ "\"Folded\r\n Name\" <a@b.example>", true },
		{ "Name <A.B+tag@Sub.B-C.EXAMPLE>", true },
		{ "bounce-x=y.example@b.example", true },
		{ "Name <a@b.example>, Other <123456@c.example>, d@e.example", true },
		{ "", true },
		{ "  ", true },
		{ "\"Esc \\\"q\\\"\" <a@b.example>", false },
		{ "a@b.example (outer (nested))", false },
		{ "a@b.example, ", false },
		{ "a@b.example,,c@d.example", false },
		{ ",a@b.example", false },
		{ "Name <a@b.example", false },
		{ "Name <a@b.example> (c)", false },
		{ "Name <a@b.example.>", false },
		{ "a@b.example.", false },
		{ "Name <@route.example:a@b.example>", false },
		{ "a@[192.0.2.1]", false },
		{ "Group: a@b.example, c@d.example;", false },
		{ "undisclosed-recipients:;", false },
		{ "a@xn--bcher-kva.example", false },
		{ "a@XN--bcher-kva.example", false },
		{ ".Dot <a@b.example>", false },
		{ "Na,me <a@b.example>", false },
		{ "Name@x <a@b.example>", false },
		{ "Name <a@b.example> x", false },
		{ "Name", false },
		{ "\"unclosed <a@b.example>", false },
		{ "Name <\"a b\"@b.example>", false },
		{ "Name < a@b.example >", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		address_as_gmime(cases[i].v, cases[i].taken);
		char msg[512];
		snprintf(msg, sizeof(msg),
			 "From: %s\nReply-To: %s\nTo: %s\nCc: %s\nSubject: x\n\nbody\n", cases[i].v,
			 cases[i].v, cases[i].v, cases[i].v);
		assert_paths_agree(msg, strlen(msg));
	}
}

static void test_empty_and_garbage(void **state)
{
	(void)state;
	struct features f;
	features_init(&f, 0);
	assert_int_equal(features_extract(&f, "", 0), 0);
	static const char junk[] = "\0\0\xff\xfe<<<>>>--\n\n\n:::";
	assert_int_equal(features_extract(&f, junk, sizeof(junk)), 0);
	features_free(&f);
}

static void test_hash_stability(void **state)
{
	(void)state;
	/* Changing these breaks every model file in the field: bump MODEL_VERSION. */
	assert_int_equal(features_hash_name("w:viagra"), 0x3dd30974u);
	assert_int_equal(features_hash_name("u:example.com"), 0xd8769bc0u);
	assert_int_equal(features_hash_name("hn:x-mailer"), 0x3728f4b4u);
	/* the extractor uses the same function */
	struct features f;
	features_init(&f, FEAT_NAMES | FEAT_NO_NGRAMS);
	static const char msg[] = "Subject: hi\n\nviagra\n";
	assert_int_equal(features_extract(&f, msg, sizeof(msg) - 1), 0);
	bool found = false;
	for (size_t i = 0; i < f.n; i++)
		if (!strcmp(features_name(&f, i), "w:viagra")) {
			assert_int_equal(f.hash[i], features_hash_name("w:viagra"));
			found = true;
		}
	assert_true(found);
	features_free(&f);
}

static void test_html_to_text(void **state)
{
	(void)state;
	struct buf out = { 0 };
	struct html_facts hf = { 0 };
	static const char h[] = "<p>a&lt;b &#65;&#x42; c<br>d</p><script>x<y</script>e & f <";
	assert_int_equal(html_to_text(h, sizeof(h) - 1, &out, &hf, (html_url_fn)abort, NULL), 0);
	assert_string_equal(buf_cstr(&out), " a<b AB c d e & f <");
	assert_true(hf.script);
	assert_int_equal(hf.numeric_refs, 2);
	buf_free(&out);
}

/* ---- model ---------------------------------------------------------------- */

static void train_toy(struct model *m, struct features *f)
{
	static const char spam[] = "Subject: cheap pills\n\nbuy cheap pills now viagra\n";
	static const char ham[] = "Subject: meeting\n\nthe meeting notes for tomorrow\n";
	for (int i = 0; i < 20; i++) {
		features_extract(f, spam, sizeof(spam) - 1);
		model_train(m, f, true);
		features_extract(f, ham, sizeof(ham) - 1);
		model_train(m, f, false);
	}
}

static void test_model_learns_and_round_trips(void **state)
{
	(void)state;
	char path[] = "/tmp/mxs-model-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	struct model *m = model_new(16, NULL);
	assert_non_null(m);
	struct features f;
	features_init(&f, 0);
	train_toy(m, &f);
	static const char probe[] = "Subject: cheap\n\nviagra pills\n";
	features_extract(&f, probe, sizeof(probe) - 1);
	double s = model_score(m, &f);
	assert_true(s > 0);
	char err[256];
	assert_int_equal(model_save(m, path, true, err, sizeof(err)), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal((size_t)st.st_size, model_file_size(16, MODEL_NGRAM_BITS, true));
	struct model *ro = model_open(path, err, sizeof(err));
	assert_non_null(ro);
	assert_true(model_score(ro, &f) == s);
	assert_int_equal(ro->trained_spam, 20);
	assert_int_equal(ro->trained_ham, 20);
	/* a loaded model goes on learning exactly like the original */
	struct model *rw = model_load(path, err, sizeof(err));
	assert_non_null(rw);
	train_toy(m, &f);
	train_toy(rw, &f);
	features_extract(&f, probe, sizeof(probe) - 1);
	assert_true(model_score(rw, &f) == model_score(m, &f));
	/* without the state: half the size, same scores */
	assert_int_equal(model_save(m, path, false, err, sizeof(err)), 0);
	struct model *compact = model_open(path, err, sizeof(err));
	assert_non_null(compact);
	assert_true(model_score(compact, &f) == model_score(m, &f));
	model_free(compact);
	model_free(rw);
	model_free(ro);
	model_free(m);
	features_free(&f);
	unlink(path);
}

static void test_model_rejects_damage(void **state)
{
	(void)state;
	char path[] = "/tmp/mxs-model-XXXXXX";
	int fd = mkstemp(path);
	close(fd);
	struct model *m = model_new(16, NULL);
	char err[256];
	assert_int_equal(model_save(m, path, false, err, sizeof(err)), 0);
	model_free(m);
	/* flip one byte of a weight: checksum */
	fd = open(path, O_RDWR);
	assert_int_equal(pwrite(fd, "\x01", 1, 1000), 1);
	close(fd);
	assert_null(model_open(path, err, sizeof(err)));
	assert_non_null(strstr(err, "checksum"));
	/* truncated */
	assert_int_equal(truncate(path, 5000), 0);
	assert_null(model_open(path, err, sizeof(err)));
	/* not a model */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "hello world, not a model at all, really not one. padding padding "
				   "padding padding padding padding padding padding padding padding "
				   "padding padding padding",
			       150), 150);
	close(fd);
	assert_null(model_open(path, err, sizeof(err)));
	assert_non_null(strstr(err, "magic"));
	assert_null(model_new(MODEL_BITS_MAX + 1, NULL));
	unlink(path);
}

/* Version 2: a classifying reader checks header and weights only (the state
 * is neither read nor checked: a damaged state still classifies), a training
 * reader checks everything; version 1 files (the shipped model) still open. */
static void test_model_version2_checksums(void **state)
{
	(void)state;
	char path[] = "/tmp/mxs-model-XXXXXX";
	int fd = mkstemp(path);
	close(fd);
	struct model *m = model_new(16, NULL);
	m->w[7] = 0.5f;
	char err[256];
	assert_int_equal(model_save(m, path, true, err, sizeof(err)), 0);
	model_free(m);
	fd = open(path, O_RDONLY);
	uint32_t version;
	assert_int_equal(pread(fd, &version, 4, 8), 4);
	close(fd);
	assert_int_equal(version, 3);
	size_t wbytes = ((size_t)1 << 16) * sizeof(float);
	/* one byte of the training state */
	fd = open(path, O_RDWR);
	assert_int_equal(pwrite(fd, "\x7f", 1, 128 + wbytes + 100), 1);
	close(fd);
	struct model *ro = model_open(path, err, sizeof(err));
	assert_non_null(ro);
	assert_true(ro->w[7] == 0.5f);
	model_free(ro);
	assert_null(model_load(path, err, sizeof(err)));
	assert_non_null(strstr(err, "checksum"));
	/* one byte of a weight: neither */
	fd = open(path, O_RDWR);
	assert_int_equal(pwrite(fd, "\x01", 1, 128 + 40), 1);
	close(fd);
	assert_null(model_open(path, err, sizeof(err)));
	assert_non_null(strstr(err, "checksum"));
	unlink(path);
	/* a header field (the learning rate at offset 24) is covered too */
	m = model_new(16, NULL);
	assert_int_equal(model_save(m, path, false, err, sizeof(err)), 0);
	model_free(m);
	fd = open(path, O_RDWR);
	assert_int_equal(pwrite(fd, "\x11", 1, 24), 1);
	close(fd);
	assert_null(model_open(path, err, sizeof(err)));
	unlink(path);
	/* version 1: one checksum over everything, no weights_sum (offset 80), and
	 * the rich model alone (no 4-gram weights) */
	struct model_params rich_only = model_default_params();
	rich_only.ngram_bits = 0;
	m = model_new(16, &rich_only);
	m->w[9] = -0.25f;
	assert_int_equal(model_save(m, path, true, err, sizeof(err)), 0);
	model_free(m);
	size_t len = model_file_size(16, 0, true);
	char *img = malloc(len);
	assert_non_null(img);
	fd = open(path, O_RDWR);
	assert_int_equal(pread(fd, img, len, 0), (ssize_t)len);
	version = 1;
	memcpy(img + 8, &version, 4);
	memset(img + 80, 0, 8);
	uint64_t sum = XXH64(img, len - 8, 0);
	memcpy(img + len - 8, &sum, 8);
	assert_int_equal(pwrite(fd, img, len, 0), (ssize_t)len);
	close(fd);
	free(img);
	ro = model_open(path, err, sizeof(err));
	assert_non_null(ro);
	assert_true(ro->w[9] == -0.25f);
	model_free(ro);
	struct model *rw = model_load(path, err, sizeof(err));
	assert_non_null(rw);
	model_free(rw);
	/* in version 1 the classifying reader checks the state too */
	fd = open(path, O_RDWR);
	assert_int_equal(pwrite(fd, "\x7f", 1, 128 + wbytes + 100), 1);
	close(fd);
	assert_null(model_open(path, err, sizeof(err)));
	unlink(path);
}

static void test_atomic_replace(void **state)
{
	(void)state;
	char path[] = "/tmp/mxs-model-XXXXXX";
	int fd = mkstemp(path);
	close(fd);
	struct model *a = model_new(16, NULL);
	struct features f;
	features_init(&f, 0);
	char err[256];
	assert_int_equal(model_save(a, path, false, err, sizeof(err)), 0);
	/* a reader maps the old model ... */
	struct model *reader = model_open(path, err, sizeof(err));
	assert_non_null(reader);
	struct stat before, after;
	stat(path, &before);
	/* ... while a writer replaces it */
	train_toy(a, &f);
	assert_int_equal(model_save(a, path, true, err, sizeof(err)), 0);
	stat(path, &after);
	assert_true(before.st_ino != after.st_ino); /* renamed over, not rewritten */
	static const char probe[] = "Subject: cheap\n\nviagra pills\n";
	features_extract(&f, probe, sizeof(probe) - 1);
	assert_true(model_score(reader, &f) == 0); /* the old mapping is intact */
	struct model *fresh = model_open(path, err, sizeof(err));
	assert_true(model_score(fresh, &f) > 0);
	/* no temporary file left behind */
	char tmp[64];
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	assert_int_equal(access(tmp, F_OK), -1);
	/* an unwritable destination fails cleanly and keeps the old file */
	assert_int_equal(model_save(a, "/nonexistent-dir/x.model", true, err, sizeof(err)), -1);
	model_free(fresh);
	model_free(reader);
	model_free(a);
	features_free(&f);
	unlink(path);
}

/* Version 3: the byte-4-gram model and the fusion travel in the file (scores
 * identical after a round trip, with and without the state); a model without
 * the 4-gram model scores with the rich model alone, as version 2 did. */
static void test_model_fusion(void **state)
{
	(void)state;
	char path[] = "/tmp/mxs-model-XXXXXX";
	int fd = mkstemp(path);
	close(fd);
	struct model *m = model_new(16, NULL);
	assert_non_null(m->w4);
	assert_true(m->stack[1] == 1 && m->stack[2] == 0); /* starts as the rich model */
	struct features f;
	features_init(&f, 0);
	train_toy(m, &f);
	static const char probe[] = "Subject: cheap\n\nviagra pills\n";
	features_extract(&f, probe, sizeof(probe) - 1);
	assert_true(f.ngrams > 0 && f.ngrams < f.n);
	struct model_scores sc;
	model_scores(m, &f, &sc);
	assert_true(sc.rich > 0 && sc.ngram > 0);
	assert_true(m->stack[2] > 0); /* the fusion learnt to weigh the 4-gram model in */
	assert_true(sc.fused == model_score(m, &f));
	char err[256];
	for (int with_state = 0; with_state < 2; with_state++) {
		assert_int_equal(model_save(m, path, with_state, err, sizeof(err)), 0);
		struct model *ro = model_open(path, err, sizeof(err));
		assert_non_null(ro);
		struct model_scores rs;
		model_scores(ro, &f, &rs);
		assert_true(rs.rich == sc.rich && rs.ngram == sc.ngram && rs.fused == sc.fused);
		model_free(ro);
	}
	/* a damaged 4-gram weight is caught by the classifying reader */
	fd = open(path, O_RDWR);
	assert_int_equal(pwrite(fd, "\x01", 1, 128 + 2 * ((size_t)1 << 16) * 4 + 64), 1);
	close(fd);
	assert_null(model_open(path, err, sizeof(err)));
	model_free(m);
	/* the rich model alone */
	struct model_params p = model_default_params();
	p.ngram_bits = 0;
	m = model_new(16, &p);
	assert_null(m->w4);
	train_toy(m, &f);
	features_extract(&f, probe, sizeof(probe) - 1);
	model_scores(m, &f, &sc);
	assert_true(sc.fused == sc.rich && sc.ngram == 0);
	model_free(m);
	features_free(&f);
	unlink(path);
}

/* FEAT_SITE_NEUTRAL reads a message without the headers that name the
 * receiving site: the same message to another recipient through other hops
 * has the same features, and a model trained so says it in its file. */
static void test_site_neutral(void **state)
{
	(void)state;
	static const char a[] = "Received: from mx.site-a.example by in.site-a.example\n"
				"\tfor <alice@site-a.example>; Mon, 1 Jul 2002 10:00:00 +0000\n"
				"From: Sender <s@sender.example>\n"
				"To: alice@site-a.example\n"
				"Subject: lunch\n"
				"Delivered-To: alice@site-a.example\n"
				"\n"
				"To: this body line stays\n";
	static const char b[] = "From: Sender <s@sender.example>\r\n"
				"Subject: lunch\r\n"
				"CC: bob@site-b.example,\r\n"
				" carol@site-b.example\r\n"
				"\r\n"
				"To: this body line stays\r\n";
	static const char c[] = "From: Sender <s@sender.example>\n"
				"Subject: lunch\n"
				"\n"
				"To: this body line stays\n";
	struct features fa, fc;
	features_init(&fa, FEAT_SITE_NEUTRAL | FEAT_NAMES);
	features_init(&fc, FEAT_NAMES);
	assert_int_equal(features_extract(&fc, c, sizeof(c) - 1), 0);
	for (int k = 0; k < 2; k++) {
		const char *msg = k ? b : a;
		size_t len = k ? sizeof(b) - 1 : sizeof(a) - 1;
		assert_int_equal(features_extract(&fa, msg, len), 0);
		assert_int_equal(fa.n, fc.n);
		assert_memory_equal(fa.hash, fc.hash, fa.n * sizeof(*fa.hash));
	}
	/* without the flag the recipient is read */
	struct features fr;
	features_init(&fr, FEAT_NAMES);
	assert_int_equal(features_extract(&fr, a, sizeof(a) - 1), 0);
	assert_true(fr.n != fc.n);
	features_free(&fr);
	features_free(&fa);
	features_free(&fc);
	char path[] = "/tmp/mxs-model-XXXXXX";
	int fd = mkstemp(path);
	close(fd);
	struct model_params p = model_default_params();
	p.site_neutral = true;
	struct model *m = model_new(16, &p);
	char err[256];
	assert_int_equal(model_save(m, path, false, err, sizeof(err)), 0);
	struct model *ro = model_open(path, err, sizeof(err));
	assert_non_null(ro);
	assert_int_equal(model_feature_flags(ro), FEAT_SITE_NEUTRAL);
	model_free(ro);
	model_free(m);
	m = model_new(16, NULL);
	assert_int_equal(model_feature_flags(m), 0);
	model_free(m);
	unlink(path);
}

/* Reasons a person can act on: no byte 4-grams among the top features when the
 * 4-gram model is there, and its share as the last line. */
static void test_explanation_without_4grams(void **state)
{
	(void)state;
	struct model *m = model_new(16, NULL);
	struct features f;
	features_init(&f, FEAT_NAMES);
	train_toy(m, &f);
	static const char probe[] = "Subject: cheap\n\nviagra pills\n";
	features_extract(&f, probe, sizeof(probe) - 1);
	struct content_result r;
	content_classify_features(m, &f, 5, &r);
	assert_int_equal(r.ntop, 6);
	for (size_t i = 0; i + 1 < r.ntop; i++)
		assert_true(strncmp(r.top[i].name, "g:", 2) != 0);
	assert_string_equal(r.top[5].name, CONTENT_NGRAM_LINE);
	struct model_scores sc;
	model_scores(m, &f, &sc);
	assert_true(r.top[5].contribution == m->stack[2] * sc.ngram);
	assert_true(r.score == sc.fused && r.rich_score == sc.rich && r.ngram_score == sc.ngram);
	model_free(m);
	features_free(&f);
}

/* Content symbols: the named facts a message has, weighed by the model, for
 * the verdict engine; a message without them has none. */
static void test_content_symbols(void **state)
{
	(void)state;
	struct model *m = model_new(16, NULL);
	struct features f;
	features_init(&f, FEAT_ORIGINS);
	train_toy(m, &f);
	static const char msg[] = "From: Shop <a@shop.example>\n"
				  "Reply-To: b@elsewhere.example\n"
				  "Subject: FREE MONEY!!!\n"
				  "\n"
				  "visit http://www.bank.example@203.0.113.9/login now\n";
	assert_int_equal(features_extract(&f, msg, sizeof(msg) - 1), 0);
	struct content_result r;
	content_classify_features(m, &f, 5, &r);
	const char *want[] = { "CNT_URL_USERINFO", "CNT_URL_IP", "CNT_REPLY_TO_MISMATCH",
			       "CNT_NO_DATE", "CNT_NO_MESSAGE_ID", "CNT_SUBJECT_CAPS",
			       "CNT_SUBJECT_BANG" };
	for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
		bool found = false;
		for (size_t i = 0; i < r.nsymbols; i++)
			if (!strcmp(r.symbols[i].name, want[k])) {
				found = true;
				assert_true(r.symbols[i].description[0] != '\0');
			}
		if (!found)
			fail_msg("symbol %s missing", want[k]);
	}
	assert_true(r.nsymbols < content_symbol_count);
	/* a weight is the feature's contribution: a trained feature weighs */
	for (int i = 0; i < 10; i++) {
		features_extract(&f, msg, sizeof(msg) - 1);
		model_train(m, &f, true);
	}
	content_classify_features(m, &f, 5, &r);
	for (size_t i = 0; i < r.nsymbols; i++)
		assert_true(r.symbols[i].weight > 0);
	/* none without the explanation path, none on a plain message */
	content_classify_features(m, &f, 0, &r);
	assert_int_equal(r.nsymbols, 0);
	static const char plain[] = "From: a@b.example\nDate: Mon, 1 Jul 2002 10:00:00 +0000\n"
				    "Message-ID: <1@b.example>\nSubject: notes\n\nsee you\n";
	features_extract(&f, plain, sizeof(plain) - 1);
	content_classify_features(m, &f, 5, &r);
	assert_int_equal(r.nsymbols, 0);
	model_free(m);
	features_free(&f);
}

static void test_scl_mapping(void **state)
{
	(void)state;
	assert_int_equal(content_scl(0.0), 0);
	assert_int_equal(content_scl(0.0099), 0);
	assert_int_equal(content_scl(0.01), 1);
	assert_int_equal(content_scl(0.4999), 4);
	assert_int_equal(content_scl(0.5), 5);
	assert_int_equal(content_scl(0.998), 8);
	assert_int_equal(content_scl(0.999), 9);
	assert_int_equal(content_scl(1.0), 9);
	for (int i = 1; i < SCL_MAX; i++)
		assert_true(content_scl_cuts[i] > content_scl_cuts[i - 1]);
}

/* ---- TREC measures --------------------------------------------------------- */

#define R(s, spam, cls) { (s), (spam), (cls) }

static void test_trec_perfect_and_inverted(void **state)
{
	(void)state;
	struct trec_row perfect[] = { R(-2, 0, 0), R(-1, 0, 0), R(1, 1, 1), R(2, 1, 1) };
	struct trec_measures t;
	trec_measure(perfect, 4, &t);
	assert_int_equal(t.ham, 2);
	assert_int_equal(t.spam, 2);
	assert_true(t.roca_pct == 0);
	assert_true(t.hm_pct == 0 && t.sm_pct == 0);
	assert_true(t.sm_at_hm01_pct == 0);
	/* lam with zero errors: (0.5/2.5) both -> 20% */
	assert_true(fabs(t.lam_pct - 20.0) < 1e-9);
	struct trec_row inverted[] = { R(2, 0, 1), R(1, 0, 1), R(-1, 1, 0), R(-2, 1, 0) };
	trec_measure(inverted, 4, &t);
	assert_true(fabs(t.roca_pct - 100) < 1e-9);
	assert_true(t.hm_pct == 100 && t.sm_pct == 100);
	assert_true(fabs(t.lam_pct - 100.0) < 1e-9); /* smoothed rates 2.5/2.5 = 1 */
}

static void test_trec_ties_and_hand_case(void **state)
{
	(void)state;
	/* all tied: ROC area 1/2 */
	struct trec_row tied[] = { R(0, 0, 0), R(0, 1, 0), R(0, 0, 0), R(0, 1, 0) };
	struct trec_measures t;
	trec_measure(tied, 4, &t);
	assert_true(fabs(t.roca_pct - 50) < 1e-9);
	/* hams 1,3,5; spams 2,4,6: pairs spam>ham = 1+2+3 = 6 of 9 -> (1-ROCA)% = 33.33 */
	struct trec_row c[] = { R(1, 0, 0), R(2, 1, 0), R(3, 0, 0), R(4, 1, 1), R(5, 0, 1), R(6, 1, 1) };
	trec_measure(c, 6, &t);
	assert_true(fabs(t.roca_pct - 100.0 / 3) < 1e-9);
	assert_true(fabs(t.hm_pct - 100.0 / 3) < 1e-9); /* ham 5 */
	assert_true(fabs(t.sm_pct - 100.0 / 3) < 1e-9); /* spam 2 */
	/* lam: hm = sm = 1.5/3.5 -> lam = 1.5/3.5 */
	assert_true(fabs(t.lam_pct - 100 * 1.5 / 3.5) < 1e-9);
	/* 3 hams: floor(0.003) = 0 may be above the threshold = 5: spams 2, 4 missed */
	assert_true(fabs(t.sm_at_hm01_pct - 200.0 / 3) < 1e-9);
	/* a tie between a ham and a spam counts one half */
	struct trec_row half[] = { R(1, 0, 0), R(1, 1, 0) };
	trec_measure(half, 2, &t);
	assert_true(fabs(t.roca_pct - 50) < 1e-9);
}

static void test_trec_one_class_only(void **state)
{
	(void)state;
	struct trec_row ham[] = { R(-1, 0, 0), R(2, 0, 1), R(-3, 0, 0), R(-4, 0, 0) };
	struct trec_measures t;
	trec_measure(ham, 4, &t);
	assert_int_equal(t.spam, 0);
	assert_true(t.roca_pct == 0);
	assert_true(t.hm_pct == 25 && t.sm_pct == 0);
	assert_true(t.lam_pct == 25);
	assert_true(t.sm_at_hm01_pct == 0);
	struct trec_row spam[] = { R(1, 1, 1), R(-2, 1, 0) };
	trec_measure(spam, 2, &t);
	assert_int_equal(t.ham, 0);
	assert_true(t.roca_pct == 0);
	assert_true(t.sm_pct == 50 && t.lam_pct == 50);
	assert_true(t.sm_at_hm01_pct == 0); /* no ham: every threshold is fine */
	trec_measure(NULL, 0, &t);
	assert_int_equal(t.messages, 0);
}

static void test_trec_many_hams_threshold(void **state)
{
	(void)state;
	/* 2000 hams at 0..1999: floor(2) hams may score above the threshold, so the
	 * threshold is the 3rd highest ham (1997); spam at 1998 passes, 1997 not */
	size_t n = 2003;
	struct trec_row *r = calloc(n, sizeof(*r));
	for (size_t i = 0; i < 2000; i++)
		r[i] = (struct trec_row)R((double)i, 0, 0);
	r[2000] = (struct trec_row)R(1998, 1, 1);
	r[2001] = (struct trec_row)R(1997, 1, 1);
	r[2002] = (struct trec_row)R(5000, 1, 1);
	struct trec_measures t;
	trec_measure(r, n, &t);
	assert_true(fabs(t.sm_at_hm01_pct - 100.0 / 3) < 1e-9);
	free(r);
}

static void test_platt(void **state)
{
	(void)state;
	struct trec_row r[200];
	for (int i = 0; i < 200; i++)
		r[i] = (struct trec_row)R((i % 2 ? 1.0 : -1.0) * (1 + (i % 7)), i % 2, i % 2);
	r[0].spam = true; /* one mistake so the fit is finite */
	double a, b;
	assert_int_equal(trec_platt(r, 200, &a, &b), 0);
	assert_true(a > 0);
	struct trec_row one[] = { R(1, 1, 1) };
	assert_int_equal(trec_platt(one, 1, &a, &b), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_nested),
		cmocka_unit_test(test_golden_bad_base64),
		cmocka_unit_test(test_golden_charsets),
		cmocka_unit_test(test_golden_html),
		cmocka_unit_test(test_huge_headers),
		cmocka_unit_test(test_deep_nesting_and_many_parts),
		cmocka_unit_test(test_crlf_equals_lf),
		cmocka_unit_test(test_light_path_equals_gmime),
		cmocka_unit_test(test_light_path_crlf_multiparts),
		cmocka_unit_test(test_light_path_mbox_from_line),
		cmocka_unit_test(test_light_path_nested_multiparts),
		cmocka_unit_test(test_light_path_encoded_headers),
		cmocka_unit_test(test_light_path_long_address_header),
		cmocka_unit_test(test_light_path_addresses),
		cmocka_unit_test(test_empty_and_garbage),
		cmocka_unit_test(test_hash_stability),
		cmocka_unit_test(test_html_to_text),
		cmocka_unit_test(test_model_learns_and_round_trips),
		cmocka_unit_test(test_model_rejects_damage),
		cmocka_unit_test(test_model_version2_checksums),
		cmocka_unit_test(test_atomic_replace),
		cmocka_unit_test(test_scl_mapping),
		cmocka_unit_test(test_trec_perfect_and_inverted),
		cmocka_unit_test(test_trec_ties_and_hand_case),
		cmocka_unit_test(test_trec_one_class_only),
		cmocka_unit_test(test_trec_many_hams_threshold),
		cmocka_unit_test(test_platt),
		cmocka_unit_test(test_model_fusion),
		cmocka_unit_test(test_site_neutral),
		cmocka_unit_test(test_explanation_without_4grams),
		cmocka_unit_test(test_content_symbols),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
