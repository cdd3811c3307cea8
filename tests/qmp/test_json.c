/* SPDX-License-Identifier: MIT */
/*
 * The QMP JSON reader and writer (vmm/qmp/json.c): values and their written
 * form, string escapes and UTF-8, the error messages QEMU 7.2 gives for the
 * same input, the nesting limit (1024 deep parses, 1025 does not; a million
 * deep is refused without deep recursion), every truncation of a document
 * refused cleanly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static int checks, failures;

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		checks++;                                                                          \
		if (!(c)) {                                                                        \
			failures++;                                                                \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);      \
		}                                                                                  \
	} while (0)

/* parse and write back: the text, or "ERR: message" */
static char *roundtrip(const char *in, size_t len)
{
	char err[256];
	struct json *v = json_parse(in, len, err, sizeof(err));
	struct jbuf b;
	jb_init(&b);
	if (!v) {
		jb_printf(&b, "ERR: %s", err);
		return b.p;
	}
	jb_value(&b, v);
	json_free(v);
	return b.p;
}

static void expect(const char *in, const char *want)
{
	char *got = roundtrip(in, strlen(in));
	checks++;
	if (!got || strcmp(got, want)) {
		failures++;
		fprintf(stderr, "input %s\n  got  %s\n  want %s\n", in, got ? got : "(null)", want);
	}
	free(got);
}

int main(void)
{
	/* values, as QEMU writes them */
	expect(" {\"execute\" : \"stop\",\"id\":[1, -2.5e3,true,false,null,{}]} ",
	       "{\"execute\": \"stop\", \"id\": [1, -2.5e3, true, false, null, {}]}");
	expect("[]", "[]");
	expect("\"\"", "\"\"");
	expect("0", "0");
	expect("-0.0E+1", "-0.0E+1");
	/* escapes in, and out: control characters and non-ASCII as \uXXXX */
	expect("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", "\"a\\\"b\\\\c/d\\u0008\\u000C\\n\\r\\t\"");
	expect("\"\\u00e9\xc3\xa9\"", "\"\\u00E9\\u00E9\"");
	expect("\"\\ud83d\\ude00\"", "\"\\uD83D\\uDE00\"");
	expect("\"\xf0\x9f\x98\x80\"", "\"\\uD83D\\uDE00\"");
	expect("\"nul\\u0000x\"", "\"nul\\u0000x\"");

	/* errors, worded as QEMU 7.2's */
	expect("{\"execute\": \"stop\",}", "ERR: JSON parse error, expecting value");
	expect("{\"a\" 1}", "ERR: JSON parse error, missing : in object pair");
	expect("{\"a\":1 \"b\":2}", "ERR: JSON parse error, expected separator in dict");
	expect("[1 2]", "ERR: JSON parse error, expected separator in list");
	expect("{1:2}", "ERR: JSON parse error, key is not a string in object");
	expect("[1,]", "ERR: JSON parse error, expecting value");
	expect("{\"a\":}", "ERR: JSON parse error, expecting value");
	expect("{,}", "ERR: JSON parse error, expecting value");
	expect("}", "ERR: JSON parse error, expecting value");
	expect("", "ERR: JSON parse error, expecting value");
	expect("xyz", "ERR: JSON parse error, invalid keyword 'xyz'");
	expect("[tru]", "ERR: JSON parse error, invalid keyword 'tru'");
	expect("\"\\x\"", "ERR: JSON parse error, invalid escape sequence in string");
	expect("\"\\ud800\"", "ERR: JSON parse error, \\ud800 is not a valid Unicode character");
	expect("{\"a\":1,\"a\":2}", "ERR: JSON parse error, duplicate key");
	expect("01", "ERR: JSON parse error, stray '01'");
	expect("[1.]", "ERR: JSON parse error, stray '1.'");
	expect("[-]", "ERR: JSON parse error, stray '-'");
	expect("\"a\x01\"", "ERR: JSON parse error, stray '\"a?'");
	expect("\"a\xff\"", "ERR: JSON parse error, invalid UTF-8 sequence in string");
	expect("\"\xed\xa0\x80\"", "ERR: JSON parse error, invalid UTF-8 sequence in string");
	expect("\"\xc0\xaf\"", "ERR: JSON parse error, invalid UTF-8 sequence in string");
	expect("\"open", "ERR: JSON parse error, stray '\"open'");
	expect("1 2", "ERR: JSON parse error, stray '2'");

	/* lookups */
	{
		char err[128];
		const char *t =
		    "{\"a\": 42, \"b\": \"x\", \"c\": 1.5, \"d\": -9223372036854775808}";
		struct json *v = json_parse(t, strlen(t), err, sizeof(err));
		int64_t i = 0;
		CHECK(v && v->type == JSON_OBJECT && v->len == 4);
		CHECK(json_int(json_get(v, "a"), 0, 100, &i) && i == 42);
		CHECK(!json_int(json_get(v, "a"), 0, 41, &i));
		CHECK(!json_int(json_get(v, "b"), 0, 100, &i));
		CHECK(!json_int(json_get(v, "c"), 0, 100, &i));
		CHECK(json_int(json_get(v, "d"), INT64_MIN, 0, &i) && i == INT64_MIN);
		CHECK(json_get(v, "b")->type == JSON_STRING && !strcmp(json_get(v, "b")->str, "x"));
		CHECK(json_get(v, "zz") == NULL);
		json_free(v);
	}

	/* nesting: JSON_MAX_DEPTH parses, one more does not; far deeper is refused
	 * at the limit (the parser recurses no deeper) */
	static const size_t depths[] = {JSON_MAX_DEPTH, JSON_MAX_DEPTH + 1, 1000000};
	for (size_t d = 0; d < sizeof(depths) / sizeof(depths[0]); d++) {
		size_t depth = depths[d];
		char *s = malloc(2 * depth);
		for (size_t k = 0; k < depth; k++) {
			s[k] = '[';
			s[2 * depth - 1 - k] = ']';
		}
		char *got = roundtrip(s, 2 * depth);
		if (depth == JSON_MAX_DEPTH)
			CHECK(got && strncmp(got, "[[[[", 4) == 0 && strlen(got) == 2 * depth);
		else
			CHECK(got && !strcmp(got, "ERR: JSON nesting depth limit exceeded"));
		free(got);
		free(s);
	}

	/* every proper prefix of a document is refused, with a message */
	{
		const char *doc =
		    "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": "
		    "[\"oob\", \"\\u00e9\", 1.5e-3, true, null]}, \"id\": {\"x\": [1]}}";
		size_t len = strlen(doc);
		int refused = 0;
		for (size_t k = 0; k < len; k++) {
			char err[256];
			struct json *v = json_parse(doc, k, err, sizeof(err));
			if (!v && err[0])
				refused++;
			json_free(v);
		}
		CHECK(refused == (int)len);
		char *got = roundtrip(doc, len);
		CHECK(got && strncmp(got, "ERR", 3) != 0);
		free(got);
	}

	printf("test_qmp_json: %d checks, %d failures\n", checks, failures);
	return failures ? 1 : 0;
}
