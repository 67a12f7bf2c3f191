/*
 * fuzz_taglist.c - the RFC 6376 tag-list parser, and what is built on it:
 * DKIM-Signature parsing (as DKIM, AMS and AS) and key records with a fixed signature.
 */
#include "auth/dkim.h"
#include "auth/taglist.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct taglist tl;
	if (taglist_parse(&tl, (const char *)data, size) == TAGLIST_OK) {
		for (size_t i = 0; i < tl.n; i++) {
			/* Every slice lies inside the input. */
			if (tl.t[i].name.p < (const char *)data ||
			    tl.t[i].value.p + tl.t[i].value.len > (const char *)data + size)
				abort();
			unsigned char out[512];
			size_t n;
			base64_decode_ws(tl.t[i].value, out, sizeof(out), &n);
		}
	}
	/* As a signature field value of each kind. */
	static const char *const names[] = { "DKIM-Signature: ", "ARC-Message-Signature: ",
					     "ARC-Seal: " };
	for (int k = 0; k < 3; k++) {
		struct buf msg = { 0 };
		buf_append_str(&msg, names[k]);
		buf_append(&msg, data, size);
		buf_append_str(&msg, "\r\nFrom: a@example.com\r\n\r\nbody\r\n");
		struct headers h;
		if (headers_parse(&h, msg.p, msg.len) == 0 && h.n > 0) {
			struct dkim_sig s;
			dkim_sig_parse(&s, (enum dkim_kind)k, &h, 0, 1700000000);
			if (s.pending) {
				/* And the input as its key record. */
				struct slice rec = { (const char *)data, size };
				struct txt_answer a = { TXT_OK, &rec, 1 };
				if (k == DKIM_KIND_AS)
					dkim_sig_verify_data(&s, &a, "x", 1);
				else
					dkim_sig_verify(&s, &h, &a);
			}
		}
		headers_free(&h);
		buf_free(&msg);
	}
	return 0;
}
