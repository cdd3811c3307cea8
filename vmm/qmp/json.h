/* SPDX-License-Identifier: MIT */
/*
 * A small JSON (RFC 8259) reader and writer for the QMP server: a message is
 * parsed into a tree of struct json values; replies are written into a
 * growing buffer. Strings are UTF-8 (checked), \u escapes decoded (a lone
 * surrogate is refused); numbers keep their text so that an "id" is echoed
 * as the client sent it. Nesting is limited to JSON_MAX_DEPTH (the parser
 * recurses at most that deep) and a message to JSON_MAX_LEN bytes.
 */
#ifndef SOFTKVM_VMM_QMP_JSON_H
#define SOFTKVM_VMM_QMP_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 1024	  /* QEMU's json-streamer MAX_NESTING */
#define JSON_MAX_LEN   (1u << 20) /* bytes of one message */

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json {
	enum json_type type;
	bool boolean;
	char *str;  /* STRING: the decoded UTF-8 (NUL-terminated, len bytes); NUMBER: its text */
	size_t len; /* STRING/NUMBER: bytes; ARRAY/OBJECT: members */
	struct json **items;
	char **keys; /* OBJECT: the member names (decoded) */
};

/*
 * Parse exactly one JSON value from text[0..len) (whitespace around it
 * allowed). Returns the value, or NULL with a QEMU-style message ("JSON
 * parse error, expecting value") in err.
 */
struct json *json_parse(const char *text, size_t len, char *err, size_t errlen);
void json_free(struct json *v);
/* OBJECT member by name, or NULL */
const struct json *json_get(const struct json *obj, const char *key);
/* is a NUMBER an integer in [lo, hi]? (its value in *out) */
bool json_int(const struct json *v, int64_t lo, int64_t hi, int64_t *out);

/* ---- writing ---- */

struct jbuf {
	char *p;
	size_t len, cap;
	bool oom; /* an allocation failed: the content is incomplete */
};

void jb_init(struct jbuf *b);
void jb_free(struct jbuf *b);
void jb_raw(struct jbuf *b, const char *s, size_t n);
void jb_puts(struct jbuf *b, const char *s);
void jb_printf(struct jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* a JSON string of s[0..n): quotes, escapes; non-ASCII as \uXXXX (invalid UTF-8 as U+FFFD) */
void jb_string(struct jbuf *b, const char *s, size_t n);
void jb_cstring(struct jbuf *b, const char *s);
/* a value, as QEMU prints one: ", " and ": " separators */
void jb_value(struct jbuf *b, const struct json *v);

#endif
