/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target of the QMP JSON reader (vmm/qmp/json.c): any input is parsed
 * without a crash or unbounded recursion; a value that parses is written
 * (jb_value), and that text parses again and writes back identically.
 *
 * Without libFuzzer, tests/fuzz/replay.c drives it with fuzz_random_input():
 * JSON-shaped random text (tokens, strings with escapes and UTF-8, numbers,
 * nesting up to twice JSON_MAX_DEPTH), often truncated or with a byte
 * flipped.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/replay.h"
#include "json.h"

static unsigned long inputs, parsed, rejected;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct json *v = json_parse((const char *)data, size, err, sizeof(err));

	inputs++;
	if (!v) {
		if (!err[0]) {
			fprintf(stderr, "fuzz_qmp_json: an error without a message\n");
			abort();
		}
		rejected++;
		return 0;
	}
	parsed++;
	struct jbuf a, b;
	jb_init(&a);
	jb_init(&b);
	jb_value(&a, v);
	json_free(v);
	if (a.oom)
		abort();
	struct json *w = json_parse(a.p, a.len, err, sizeof(err));
	if (!w) {
		fprintf(stderr, "fuzz_qmp_json: written value does not parse (%s): %.200s\n", err,
			a.p);
		abort();
	}
	jb_value(&b, w);
	json_free(w);
	if (a.len != b.len || memcmp(a.p, b.p, a.len)) {
		fprintf(stderr, "fuzz_qmp_json: not a fixed point: %.200s / %.200s\n", a.p, b.p);
		abort();
	}
	jb_free(&a);
	jb_free(&b);
	return 0;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static const char *const tokens[] = {
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    " ",
    "\n",
    "\"a\"",
    "\"execute\"",
    "\"id\"",
    "\"\\u00e9\"",
    "\"\\ud83d\\ude00\"",
    "\"\\ud800\"",
    "\"\\x\"",
    "\"\xc3\xa9\"",
    "\"\xff\"",
    "\"\\n\\t\\\"\"",
    "0",
    "-1",
    "1.5e3",
    "01",
    "1.",
    "-",
    "1e999",
    "true",
    "false",
    "null",
    "tru",
    "xyz",
    "\"",
    "\\",
    "\x01",
    "\"unterminated",
};

/* a valid value (so that the writer and the round trip get exercised too) */
static void gen(uint64_t *seed, unsigned depth, uint8_t *buf, size_t cap, size_t *n)
{
	static const char *const scalars[] = {
	    "0",
	    "-12",
	    "3.25e-7",
	    "1E+2",
	    "true",
	    "false",
	    "null",
	    "\"\"",
	    "\"qmp\"",
	    "\"\\u00e9\\ud83d\\ude00\\n\"",
	    "\"\xc3\xa9\xe2\x82\xac\"",
	    "\"a\\\"b\"",
	};
	unsigned kind = (unsigned)(rnd(seed) % (depth < 6 ? 4 : 2));
	if (kind < 2) {
		const char *t = scalars[rnd(seed) % (sizeof(scalars) / sizeof(scalars[0]))];
		size_t l = strlen(t);
		if (*n + l <= cap) {
			memcpy(buf + *n, t, l);
			*n += l;
		}
		return;
	}
	bool obj = kind == 3;
	unsigned members = (unsigned)(rnd(seed) % 4);
	if (*n + 2 > cap)
		return;
	buf[(*n)++] = obj ? '{' : '[';
	for (unsigned m = 0; m < members && *n + 16 < cap; m++) {
		if (m)
			buf[(*n)++] = ',';
		if (obj)
			*n += (size_t)snprintf((char *)buf + *n, cap - *n, "\"k%u\":", m);
		gen(seed, depth + 1, buf, cap - 1, n);
	}
	if (*n < cap)
		buf[(*n)++] = obj ? '}' : ']';
}

size_t fuzz_random_input(uint64_t *seed, unsigned long k, uint8_t *buf, size_t cap)
{
	size_t n = 0;
	(void)k;
	if (rnd(seed) % 2 == 0) {
		gen(seed, 0, buf, cap, &n);
	} else if (rnd(seed) % 4 == 0) {
		/* deep nesting, past the limit or just below it */
		size_t depth = (size_t)(rnd(seed) % (2 * JSON_MAX_DEPTH + 2));
		if (depth > cap / 2)
			depth = cap / 2;
		for (size_t i = 0; i < depth; i++)
			buf[n++] = rnd(seed) & 1 ? '[' : '{';
		for (size_t i = depth; i-- > 0 && n < cap;)
			buf[n++] = buf[i] == '[' ? ']' : '}';
	} else {
		size_t ntok = (size_t)(rnd(seed) % 64);
		for (size_t i = 0; i < ntok; i++) {
			const char *t = tokens[rnd(seed) % (sizeof(tokens) / sizeof(tokens[0]))];
			size_t l = strlen(t);
			if (n + l > cap)
				break;
			memcpy(buf + n, t, l);
			n += l;
		}
	}
	if (n && rnd(seed) % 4 == 0)
		n = (size_t)(rnd(seed) % n); /* truncated */
	if (n && rnd(seed) % 4 == 0)
		buf[rnd(seed) % n] = (uint8_t)rnd(seed); /* a byte flipped */
	return n;
}

void fuzz_stats(FILE *f)
{
	fprintf(f, "fuzz_qmp_json: %lu inputs, %lu parsed, %lu rejected\n", inputs, parsed,
		rejected);
}
