/* SPDX-License-Identifier: MIT */
/*
 * JSON reader and writer (json.h). The reader is a recursive-descent parser
 * over one message; its recursion is bounded by JSON_MAX_DEPTH. Error texts
 * follow QEMU 7.2's json-parser where it has one ("JSON parse error,
 * expecting value", "missing : in object pair", "expected separator in
 * dict", "key is not a string in object", "invalid keyword 'x'", "invalid
 * escape sequence in string", "stray 'x'", "JSON nesting depth limit
 * exceeded").
 */
#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
	const char *s;
	size_t n, i;
	char *err;
	size_t errlen;
	bool failed;
};

static void fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (p->failed)
		return;
	p->failed = true;
	if (!p->errlen)
		return;
	k = snprintf(p->err, p->errlen, "JSON parse error, ");
	if (k < 0 || (size_t)k >= p->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(p->err + k, p->errlen - (size_t)k, fmt, ap);
	va_end(ap);
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_delim(char c)
{
	return is_ws(c) || c == '{' || c == '}' || c == '[' || c == ']' || c == ',' || c == ':' ||
	       c == '"';
}

static void skip_ws(struct parser *p)
{
	while (p->i < p->n && is_ws(p->s[p->i]))
		p->i++;
}

/* "stray 'TEXT'": the token from start to the next delimiter, printable ASCII only */
static void stray(struct parser *p, size_t start)
{
	char t[40];
	size_t k = 0, i = start;

	while (i < p->n && k < sizeof(t) - 1 && (i == start || !is_delim(p->s[i]))) {
		unsigned char c = (unsigned char)p->s[i++];
		t[k++] = c >= 0x20 && c < 0x7f && c != '\'' ? (char)c : '?';
	}
	t[k] = 0;
	fail(p, "stray '%s'", t);
}

static struct json *node(enum json_type t)
{
	struct json *v = calloc(1, sizeof(*v));
	if (v)
		v->type = t;
	return v;
}

void json_free(struct json *v)
{
	if (!v)
		return;
	if (v->type == JSON_ARRAY || v->type == JSON_OBJECT) {
		for (size_t k = 0; k < v->len; k++) {
			json_free(v->items[k]);
			if (v->keys)
				free(v->keys[k]);
		}
	}
	free(v->items);
	free(v->keys);
	free(v->str);
	free(v);
}

/* ---- strings ---- */

struct sbuf {
	char *p;
	size_t len, cap;
};

static bool sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 32;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *q = realloc(b->p, cap);
		if (!q)
			return false;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
	return true;
}

static size_t utf8_put(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* one UTF-8 sequence at s[0..n): its length and code point, 0 if invalid */
static size_t utf8_get(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2, c = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3, c = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4, c = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[k] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

static int hex4(const char *s, size_t n, uint32_t *out)
{
	uint32_t v = 0;

	if (n < 4)
		return -1;
	for (int k = 0; k < 4; k++) {
		char c = s[k];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* at the opening quote; the decoded string (NUL-terminated) or NULL */
static char *parse_string(struct parser *p, size_t *len)
{
	struct sbuf b = {0};
	size_t start = p->i;

	p->i++; /* the quote */
	if (!sb_add(&b, "", 0))
		goto oom;
	for (;;) {
		if (p->i >= p->n) {
			stray(p, start);
			goto bad;
		}
		unsigned char c = (unsigned char)p->s[p->i];
		if (c == '"') {
			p->i++;
			break;
		}
		if (c < 0x20) {
			stray(p, start);
			goto bad;
		}
		if (c != '\\') {
			uint32_t cp;
			size_t k = utf8_get((const unsigned char *)p->s + p->i, p->n - p->i, &cp);
			if (!k) {
				fail(p, "invalid UTF-8 sequence in string");
				goto bad;
			}
			if (!sb_add(&b, p->s + p->i, k))
				goto oom;
			p->i += k;
			continue;
		}
		if (p->i + 1 >= p->n) {
			stray(p, start);
			goto bad;
		}
		char e = p->s[p->i + 1], one;
		p->i += 2;
		switch (e) {
		case '"':
		case '\\':
		case '/':
			one = e;
			break;
		case 'b':
			one = '\b';
			break;
		case 'f':
			one = '\f';
			break;
		case 'n':
			one = '\n';
			break;
		case 'r':
			one = '\r';
			break;
		case 't':
			one = '\t';
			break;
		case 'u': {
			uint32_t cp, lo;
			char o[4];
			if (hex4(p->s + p->i, p->n - p->i, &cp)) {
				fail(p, "invalid escape sequence in string");
				goto bad;
			}
			p->i += 4;
			if (cp >= 0xd800 && cp <= 0xdbff && p->i + 6 <= p->n &&
			    p->s[p->i] == '\\' && p->s[p->i + 1] == 'u' &&
			    !hex4(p->s + p->i + 2, p->n - p->i - 2, &lo) && lo >= 0xdc00 &&
			    lo <= 0xdfff) {
				p->i += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xd800 && cp <= 0xdfff) {
				fail(p, "\\u%04x is not a valid Unicode character", cp);
				goto bad;
			}
			if (!sb_add(&b, o, utf8_put(o, cp)))
				goto oom;
			continue;
		}
		default:
			fail(p, "invalid escape sequence in string");
			goto bad;
		}
		if (!sb_add(&b, &one, 1))
			goto oom;
	}
	*len = b.len;
	return b.p;
oom:
	fail(p, "out of memory");
bad:
	free(b.p);
	return NULL;
}

/* ---- numbers and keywords ---- */

static bool digit(char c)
{
	return c >= '0' && c <= '9';
}

static struct json *parse_number(struct parser *p)
{
	size_t start = p->i, i = p->i;
	const char *s = p->s;

	if (i < p->n && s[i] == '-')
		i++;
	if (i < p->n && s[i] == '0') {
		i++;
	} else if (i < p->n && digit(s[i])) {
		while (i < p->n && digit(s[i]))
			i++;
	} else {
		stray(p, start);
		return NULL;
	}
	if (i < p->n && s[i] == '.') {
		i++;
		if (i >= p->n || !digit(s[i])) {
			stray(p, start);
			return NULL;
		}
		while (i < p->n && digit(s[i]))
			i++;
	}
	if (i < p->n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < p->n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= p->n || !digit(s[i])) {
			stray(p, start);
			return NULL;
		}
		while (i < p->n && digit(s[i]))
			i++;
	}
	if (i < p->n && !is_delim(s[i])) {
		stray(p, start);
		return NULL;
	}
	struct json *v = node(JSON_NUMBER);
	if (!v || !(v->str = strndup(s + start, i - start))) {
		free(v);
		fail(p, "out of memory");
		return NULL;
	}
	v->len = i - start;
	p->i = i;
	return v;
}

static struct json *parse_keyword(struct parser *p)
{
	size_t start = p->i, i = p->i;
	char word[24];

	while (i < p->n && !is_delim(p->s[i]))
		i++;
	size_t len = i - start;
	struct json *v = NULL;
	if (len == 4 && !memcmp(p->s + start, "true", 4)) {
		v = node(JSON_BOOL);
		if (v)
			v->boolean = true;
	} else if (len == 5 && !memcmp(p->s + start, "false", 5)) {
		v = node(JSON_BOOL);
	} else if (len == 4 && !memcmp(p->s + start, "null", 4)) {
		v = node(JSON_NULL);
	} else {
		bool alpha = true;
		for (size_t k = start; k < i && alpha; k++) {
			char c = p->s[k];
			alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
		}
		if (!alpha || len >= sizeof(word)) {
			stray(p, start);
			return NULL;
		}
		memcpy(word, p->s + start, len);
		word[len] = 0;
		fail(p, "invalid keyword '%s'", word);
		return NULL;
	}
	if (!v)
		fail(p, "out of memory");
	p->i = i;
	return v;
}

/* ---- arrays and objects ---- */

static bool add_member(struct parser *p, struct json *c, char *key, struct json *item)
{
	if ((c->len & (c->len - 1)) == 0) { /* 0, 1, 2, 4, ...: grow */
		size_t cap = c->len ? c->len * 2 : 1;
		struct json **items = realloc(c->items, cap * sizeof(*items));
		if (items)
			c->items = items;
		if (items && c->type == JSON_OBJECT) {
			char **keys = realloc(c->keys, cap * sizeof(*keys));
			if (!keys)
				items = NULL;
			else
				c->keys = keys;
		}
		if (!items) {
			fail(p, "out of memory");
			free(key);
			json_free(item);
			return false;
		}
	}
	c->items[c->len] = item;
	if (c->type == JSON_OBJECT)
		c->keys[c->len] = key;
	c->len++;
	return true;
}

static struct json *parse_value(struct parser *p, unsigned depth);

/* at a position where a value may start: does one? */
static bool value_starts(struct parser *p)
{
	if (p->i >= p->n)
		return false;
	char c = p->s[p->i];
	return c != '}' && c != ']' && c != ',' && c != ':';
}

static struct json *parse_container(struct parser *p, unsigned depth, bool object)
{
	struct json *c = node(object ? JSON_OBJECT : JSON_ARRAY);
	char close = object ? '}' : ']';

	if (!c) {
		fail(p, "out of memory");
		return NULL;
	}
	p->i++; /* the opening bracket */
	skip_ws(p);
	if (p->i < p->n && p->s[p->i] == close) {
		p->i++;
		return c;
	}
	for (;;) {
		char *key = NULL;
		skip_ws(p);
		if (!value_starts(p)) {
			fail(p, "expecting value");
			goto bad;
		}
		if (object) {
			size_t klen;
			if (p->s[p->i] != '"') {
				fail(p, "key is not a string in object");
				goto bad;
			}
			key = parse_string(p, &klen);
			if (!key)
				goto bad;
			for (size_t k = 0; k < c->len; k++) {
				if (!strcmp(c->keys[k], key)) {
					fail(p, "duplicate key");
					free(key);
					goto bad;
				}
			}
			skip_ws(p);
			if (p->i >= p->n || p->s[p->i] != ':') {
				fail(p, "missing : in object pair");
				free(key);
				goto bad;
			}
			p->i++;
			skip_ws(p);
			if (!value_starts(p)) {
				fail(p, "expecting value");
				free(key);
				goto bad;
			}
		}
		struct json *item = parse_value(p, depth + 1);
		if (!item) {
			free(key);
			goto bad;
		}
		if (!add_member(p, c, key, item))
			goto bad;
		skip_ws(p);
		if (p->i < p->n && p->s[p->i] == ',') {
			p->i++;
			continue;
		}
		if (p->i < p->n && p->s[p->i] == close) {
			p->i++;
			return c;
		}
		if (p->i >= p->n)
			fail(p, "expecting value");
		else
			fail(p,
			     object ? "expected separator in dict" : "expected separator in list");
		goto bad;
	}
bad:
	json_free(c);
	return NULL;
}

static struct json *parse_value(struct parser *p, unsigned depth)
{
	if (depth > JSON_MAX_DEPTH) {
		if (!p->failed)
			snprintf(p->err, p->errlen, "JSON nesting depth limit exceeded");
		p->failed = true;
		return NULL;
	}
	skip_ws(p);
	if (!value_starts(p)) {
		fail(p, "expecting value");
		return NULL;
	}
	char c = p->s[p->i];
	if (c == '{' || c == '[')
		return parse_container(p, depth, c == '{');
	if (c == '"') {
		struct json *v = node(JSON_STRING);
		if (!v) {
			fail(p, "out of memory");
			return NULL;
		}
		v->str = parse_string(p, &v->len);
		if (!v->str) {
			free(v);
			return NULL;
		}
		return v;
	}
	if (c == '-' || digit(c))
		return parse_number(p);
	return parse_keyword(p);
}

struct json *json_parse(const char *text, size_t len, char *err, size_t errlen)
{
	struct parser p = {.s = text, .n = len, .err = err, .errlen = errlen};
	struct json *v;

	if (errlen)
		err[0] = 0;
	v = parse_value(&p, 1);
	if (v) {
		skip_ws(&p);
		if (p.i < p.n) {
			stray(&p, p.i);
			json_free(v);
			v = NULL;
		}
	}
	return v;
}

const struct json *json_get(const struct json *obj, const char *key)
{
	if (!obj || obj->type != JSON_OBJECT)
		return NULL;
	for (size_t k = 0; k < obj->len; k++)
		if (!strcmp(obj->keys[k], key))
			return obj->items[k];
	return NULL;
}

bool json_int(const struct json *v, int64_t lo, int64_t hi, int64_t *out)
{
	char *end;
	long long x;

	if (!v || v->type != JSON_NUMBER || strpbrk(v->str, ".eE"))
		return false;
	x = strtoll(v->str, &end, 10);
	if (*end || x < lo || x > hi)
		return false;
	*out = x;
	return true;
}

/* ---- writing ---- */

void jb_init(struct jbuf *b)
{
	memset(b, 0, sizeof(*b));
}

void jb_free(struct jbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

void jb_raw(struct jbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *q = realloc(b->p, cap);
		if (!q) {
			b->oom = true;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

void jb_puts(struct jbuf *b, const char *s)
{
	jb_raw(b, s, strlen(s));
}

void jb_printf(struct jbuf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(tmp)) {
		jb_raw(b, tmp, (size_t)n);
		return;
	}
	char *big = malloc((size_t)n + 1);
	if (!big) {
		b->oom = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	jb_raw(b, big, (size_t)n);
	free(big);
}

void jb_string(struct jbuf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	jb_raw(b, "\"", 1);
	while (i < n) {
		unsigned char c = u[i];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			size_t j = i;
			while (j < n && u[j] >= 0x20 && u[j] < 0x7f && u[j] != '"' && u[j] != '\\')
				j++;
			jb_raw(b, s + i, j - i);
			i = j;
			continue;
		}
		switch (c) {
		case '"':
			jb_raw(b, "\\\"", 2);
			i++;
			continue;
		case '\\':
			jb_raw(b, "\\\\", 2);
			i++;
			continue;
		case '\n':
			jb_raw(b, "\\n", 2);
			i++;
			continue;
		case '\r':
			jb_raw(b, "\\r", 2);
			i++;
			continue;
		case '\t':
			jb_raw(b, "\\t", 2);
			i++;
			continue;
		}
		uint32_t cp;
		size_t k = utf8_get(u + i, n - i, &cp);
		if (!k) {
			cp = 0xfffd;
			k = 1;
		}
		i += k;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			jb_printf(b, "\\u%04X\\u%04X", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
		} else {
			jb_printf(b, "\\u%04X", cp);
		}
	}
	jb_raw(b, "\"", 1);
}

void jb_cstring(struct jbuf *b, const char *s)
{
	jb_string(b, s, strlen(s));
}

/* iterative over the nesting (a value comes from json_parse, so at most
 * JSON_MAX_DEPTH deep, but the writer does not rely on it) */
void jb_value(struct jbuf *b, const struct json *v)
{
	struct frame {
		const struct json *c;
		size_t k;
	};
	struct frame stack[JSON_MAX_DEPTH + 1];
	unsigned sp = 0;

	for (;;) {
		/* write v (scalars completely, containers their opening) */
		switch (v->type) {
		case JSON_NULL:
			jb_puts(b, "null");
			break;
		case JSON_BOOL:
			jb_puts(b, v->boolean ? "true" : "false");
			break;
		case JSON_NUMBER:
			jb_raw(b, v->str, v->len);
			break;
		case JSON_STRING:
			jb_string(b, v->str, v->len);
			break;
		case JSON_ARRAY:
		case JSON_OBJECT:
			if (sp > JSON_MAX_DEPTH) {
				jb_puts(b, "null"); /* not reachable from json_parse() */
				break;
			}
			jb_puts(b, v->type == JSON_ARRAY ? "[" : "{");
			stack[sp++] = (struct frame){v, 0};
			break;
		}
		/* the next value to write, closing finished containers */
		v = NULL;
		while (sp) {
			struct frame *f = &stack[sp - 1];
			if (f->k < f->c->len) {
				if (f->k)
					jb_puts(b, ", ");
				if (f->c->type == JSON_OBJECT) {
					jb_cstring(b, f->c->keys[f->k]);
					jb_puts(b, ": ");
				}
				v = f->c->items[f->k++];
				break;
			}
			jb_puts(b, f->c->type == JSON_ARRAY ? "]" : "}");
			sp--;
		}
		if (!v)
			return;
	}
}
