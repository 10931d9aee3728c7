/* pbjson_test.c: unit tests of pbjson, protobuf <-> JSON by descriptor (exact bytes of the
 * contract). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "harness.h"
#include "pbjson.h"
#include "mesh.pb-c.h"
#include "posts.pb-c.h"
#include "sample.pb-c.h"

/* ---- helpers -------------------------------------------------------------------------------- */

/* buf_text returns buf's bytes as a NUL-terminated malloc'd string. */
static char *buf_text(const pbjson_buf *buf)
{
	char *s = malloc(buf->len + 1);
	ck_assert_ptr_nonnull(s);
	if (buf->len > 0)
		memcpy(s, buf->data, buf->len);
	s[buf->len] = '\0';
	return s;
}

/* assert_message_json asserts msg encodes to exactly want. */
static void assert_message_json(const ProtobufCMessage *msg, const char *want)
{
	pbjson_buf buf;
	char *got;
	pbjson_buf_init(&buf);
	ck_assert_int_eq(pbjson_encode_message(&buf, msg), 0);
	got = buf_text(&buf);
	ck_assert_msg(strcmp(got, want) == 0, "\n got  %s\n want %s", got, want);
	free(got);
	pbjson_buf_fini(&buf);
}

static const ProtobufCFieldDescriptor *everything_field(const char *name)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(&sample__everything__descriptor, name);
	ck_assert_msg(f != NULL, "sample.Everything has no field %s", name);
	return f;
}

/* assert_field_json asserts field name of msg encodes to exactly want. */
static void assert_field_json(const Sample__Everything *msg, const char *name, const char *want)
{
	pbjson_buf buf;
	char *got;
	pbjson_buf_init(&buf);
	ck_assert_int_eq(pbjson_encode_field(&buf, &msg->base, everything_field(name)), 0);
	got = buf_text(&buf);
	ck_assert_msg(strcmp(got, want) == 0, "field %s:\n got  %s\n want %s", name, got, want);
	free(got);
	pbjson_buf_fini(&buf);
}

/* assert_string_json asserts the len bytes of s encode to exactly want. */
static void assert_string_json(const char *s, size_t len, const char *want)
{
	pbjson_buf buf;
	char *got;
	pbjson_buf_init(&buf);
	ck_assert_int_eq(pbjson_encode_string(&buf, s, len), 0);
	got = buf_text(&buf);
	ck_assert_msg(strcmp(got, want) == 0, "\n got  %s\n want %s", got, want);
	free(got);
	pbjson_buf_fini(&buf);
}

static void assert_double_json(double v, const char *want)
{
	Sample__Everything e = SAMPLE__EVERYTHING__INIT;
	e.dbl = v;
	assert_field_json(&e, "dbl", want);
}

static void assert_float_json(float v, const char *want)
{
	Sample__Everything e = SAMPLE__EVERYTHING__INIT;
	e.flt = v;
	assert_field_json(&e, "flt", want);
}

/* decode_text parses text with jansson and decodes it as desc; NULL on failure, err set. */
static ProtobufCMessage *decode_text(const ProtobufCMessageDescriptor *desc, const char *text,
				     char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *obj = json_loads(text, 0, &jerr);
	ProtobufCMessage *msg;
	ck_assert_msg(obj != NULL, "test JSON does not parse: %s: %s", text, jerr.text);
	err[0] = '\0';
	msg = pbjson_decode(desc, obj, err, errlen);
	json_decref(obj);
	return msg;
}

/* assert_decode_fails asserts text does not decode as sample.Everything and that the reason
 * contains needle. */
static void assert_decode_fails(const char *text, const char *needle)
{
	char err[256];
	ProtobufCMessage *msg =
	    decode_text(&sample__everything__descriptor, text, err, sizeof(err));
	if (msg != NULL)
		protobuf_c_message_free_unpacked(msg, NULL);
	ck_assert_msg(msg == NULL, "%s decoded, should fail", text);
	ck_assert_msg(strstr(err, needle) != NULL, "%s: error '%s' does not name '%s'", text, err,
		      needle);
}

/* write_file writes text into a new file in dir and stores its path in out. */
static void write_file(const char *dir, const char *name, const char *text, char *out,
		       size_t outlen)
{
	FILE *f;
	snprintf(out, outlen, "%s/%s", dir, name);
	f = fopen(out, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

static char tmpdir[128];

static void tmpdir_setup(void)
{
	ck_assert_int_eq(harness_tmpdir(tmpdir, sizeof(tmpdir)), 0);
}

static void tmpdir_teardown(void)
{
	harness_rmtree(tmpdir);
}

/* ---- encoding ------------------------------------------------------------------------------- */

START_TEST(test_pbjson_encode_zero_message_writes_every_field)
{
	Sample__Everything e = SAMPLE__EVERYTHING__INIT;
	assert_message_json(
	    &e.base, "{\"i32\":0,\"i64\":0,\"u32\":0,\"u64\":0,\"s32\":0,\"s64\":0,\"f32\":0,"
		     "\"f64\":0,\"sf32\":0,\"sf64\":0,\"flt\":0,\"dbl\":0,\"flag\":false,"
		     "\"text\":\"\",\"blob\":\"\",\"color\":\"COLOR_UNSPECIFIED\",\"inner\":null,"
		     "\"numbers\":[],\"words\":[],\"inners\":[],\"snakeCaseName\":\"\"}");
}
END_TEST

START_TEST(test_pbjson_encode_calloc_message_writes_null_strings_as_empty)
{
	/* A message whose string pointers are NULL (not protobuf_c_empty_string). */
	Sample__Inner inner;
	memset(&inner, 0, sizeof(inner));
	inner.base.descriptor = &sample__inner__descriptor;
	assert_message_json(&inner.base, "{\"id\":0,\"label\":\"\"}");
}
END_TEST

START_TEST(test_pbjson_encode_every_field_set)
{
	Sample__Everything e = SAMPLE__EVERYTHING__INIT;
	Sample__Inner inner = SAMPLE__INNER__INIT, in1 = SAMPLE__INNER__INIT,
		      in2 = SAMPLE__INNER__INIT;
	Sample__Inner *inners[] = {&in1, &in2};
	int64_t numbers[] = {1, -2, 3};
	char *words[] = {"a", "b"};
	uint8_t blob[] = {0, 1, 2};
	e.i32 = -42;
	e.i64 = INT64_MIN;
	e.u32 = UINT32_MAX;
	e.u64 = UINT64_MAX;
	e.s32 = INT32_MIN;
	e.s64 = INT64_MAX;
	e.f32 = 7;
	e.f64 = 8;
	e.sf32 = -9;
	e.sf64 = -10;
	e.flt = 1.5f;
	e.dbl = 0.1;
	e.flag = 1;
	e.text = "hi";
	e.blob.data = blob;
	e.blob.len = sizeof(blob);
	e.color = SAMPLE__COLOR__GREEN;
	inner.id = 5;
	inner.label = "in";
	e.inner = &inner;
	e.n_numbers = 3;
	e.numbers = numbers;
	e.n_words = 2;
	e.words = words;
	in1.id = 1;
	in1.label = "x";
	in2.id = 2;
	e.n_inners = 2;
	e.inners = inners;
	e.choice_case = SAMPLE__EVERYTHING__CHOICE_CHOICE_NUMBER;
	e.choice_number = 7;
	e.snake_case_name = "snake";
	assert_message_json(
	    &e.base,
	    "{\"i32\":-42,\"i64\":-9223372036854775808,\"u32\":4294967295,"
	    "\"u64\":18446744073709551615,\"s32\":-2147483648,\"s64\":9223372036854775807,"
	    "\"f32\":7,\"f64\":8,\"sf32\":-9,\"sf64\":-10,\"flt\":1.5,\"dbl\":0.1,\"flag\":true,"
	    "\"text\":\"hi\",\"blob\":\"AAEC\",\"color\":\"GREEN\","
	    "\"inner\":{\"id\":5,\"label\":\"in\"},\"numbers\":[1,-2,3],\"words\":[\"a\",\"b\"],"
	    "\"inners\":[{\"id\":1,\"label\":\"x\"},{\"id\":2,\"label\":\"\"}],\"choiceNumber\":7,"
	    "\"snakeCaseName\":\"snake\"}");
}
END_TEST

START_TEST(test_pbjson_encode_integer_extremes)
{
	Sample__Everything e = SAMPLE__EVERYTHING__INIT;
	e.i64 = INT64_MIN;
	assert_field_json(&e, "i64", "-9223372036854775808");
	e.i64 = INT64_MAX;
	assert_field_json(&e, "i64", "9223372036854775807");
	e.u64 = UINT64_MAX;
	assert_field_json(&e, "u64", "18446744073709551615");
	e.i32 = -1;
	assert_field_json(&e, "i32", "-1");
	e.i32 = INT32_MIN;
	assert_field_json(&e, "i32", "-2147483648");
	e.s64 = INT64_MIN;
	assert_field_json(&e, "s64", "-9223372036854775808");
	e.sf64 = INT64_MIN;
	assert_field_json(&e, "sf64", "-9223372036854775808");
	e.f64 = UINT64_MAX;
	assert_field_json(&e, "f64", "18446744073709551615");
	e.u32 = UINT32_MAX;
	assert_field_json(&e, "u32", "4294967295");
	e.f32 = UINT32_MAX;
	assert_field_json(&e, "f32", "4294967295");
	e.sf32 = INT32_MIN;
	assert_field_json(&e, "sf32", "-2147483648");
	e.s32 = -7;
	assert_field_json(&e, "s32", "-7");
}
END_TEST

START_TEST(test_pbjson_encode_double_values)
{
	assert_double_json(1.5, "1.5");
	assert_double_json(0.1, "0.1");
	assert_double_json(-2.5, "-2.5");
	assert_double_json(3.0, "3");
	assert_double_json(0.0, "0");
	assert_double_json(-0.0, "0");
	assert_double_json(0.1 + 0.2, "0.30000000000000004");
	assert_double_json(123456789012.0, "123456789012");
	assert_double_json(DBL_MAX, "1.7976931348623157e+308");
	assert_double_json(1e21, "1e+21");
	assert_double_json(NAN, "\"NaN\"");
	assert_double_json(INFINITY, "\"Infinity\"");
	assert_double_json(-INFINITY, "\"-Infinity\"");
}
END_TEST

START_TEST(test_pbjson_encode_double_integral_without_exponent)
{
	/* JavaScript writes integral values below 1e21 with every digit: 100, not 1e+02. */
	assert_double_json(10.0, "10");
	assert_double_json(100.0, "100");
	assert_double_json(-1000.0, "-1000");
	assert_double_json(1e15, "1000000000000000");
	assert_double_json(1e20, "100000000000000000000");
}
END_TEST

START_TEST(test_pbjson_encode_double_small_as_javascript)
{
	/* JavaScript switches to exponents below 1e-6, and writes them without a padded exponent.
	 */
	assert_double_json(0.0001, "0.0001");
	assert_double_json(0.00001, "0.00001");
	assert_double_json(0.000001, "0.000001");
	assert_double_json(1e-7, "1e-7");
	assert_double_json(1.5e-10, "1.5e-10");
}
END_TEST

START_TEST(test_pbjson_encode_float_values)
{
	assert_float_json(1.5f, "1.5");
	assert_float_json(0.1f, "0.1");
	assert_float_json(3.0f, "3");
	assert_float_json(-0.25f, "-0.25");
	assert_float_json(16777216.0f, "16777216");
	assert_float_json(NAN, "\"NaN\"");
	assert_float_json(INFINITY, "\"Infinity\"");
	assert_float_json(-INFINITY, "\"-Infinity\"");
}
END_TEST

START_TEST(test_pbjson_encode_bytes_base64_padding)
{
	Sample__Everything e = SAMPLE__EVERYTHING__INIT;
	static const struct {
		const char *data;
		size_t len;
		const char *want;
	} cases[] = {
	    {"", 0, "\"\""},
	    {"\x00", 1, "\"AA==\""},
	    {"\x00\x01", 2, "\"AAE=\""},
	    {"\x00\x01\x02", 3, "\"AAEC\""},
	    {"f", 1, "\"Zg==\""},
	    {"fo", 2, "\"Zm8=\""},
	    {"foo", 3, "\"Zm9v\""},
	    {"foob", 4, "\"Zm9vYg==\""},
	    {"fooba", 5, "\"Zm9vYmE=\""},
	    {"foobar", 6, "\"Zm9vYmFy\""},
	    {"\xfb\xff", 2, "\"+/8=\""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		e.blob.data = (uint8_t *)cases[i].data;
		e.blob.len = cases[i].len;
		assert_field_json(&e, "blob", cases[i].want);
	}
}
END_TEST

START_TEST(test_pbjson_encode_enum_by_name)
{
	Sample__Everything e = SAMPLE__EVERYTHING__INIT;
	assert_field_json(&e, "color", "\"COLOR_UNSPECIFIED\"");
	e.color = SAMPLE__COLOR__RED;
	assert_field_json(&e, "color", "\"RED\"");
	e.color = SAMPLE__COLOR__GREEN;
	assert_field_json(&e, "color", "\"GREEN\"");
	e.color = (Sample__Color)42; /* a value from a newer schema: its number */
	assert_field_json(&e, "color", "42");
}
END_TEST

START_TEST(test_pbjson_encode_nested_and_repeated_messages)
{
	Sample__Everything e = SAMPLE__EVERYTHING__INIT;
	Sample__Inner inner = SAMPLE__INNER__INIT, a = SAMPLE__INNER__INIT, b = SAMPLE__INNER__INIT;
	Sample__Inner *list[] = {&a, &b};
	assert_field_json(&e, "inner", "null");
	inner.id = 9;
	inner.label = "nine";
	e.inner = &inner;
	assert_field_json(&e, "inner", "{\"id\":9,\"label\":\"nine\"}");
	a.id = 1;
	a.label = "a\"b";
	b.id = -2;
	e.n_inners = 2;
	e.inners = list;
	assert_field_json(&e, "inners",
			  "[{\"id\":1,\"label\":\"a\\\"b\"},{\"id\":-2,\"label\":\"\"}]");
}
END_TEST

START_TEST(test_pbjson_encode_oneof_only_set_member)
{
	Sample__Inner inner = SAMPLE__INNER__INIT;
	Sample__Everything e = SAMPLE__EVERYTHING__INIT;
	pbjson_buf buf;
	char *got;

	e.choice_case = SAMPLE__EVERYTHING__CHOICE_CHOICE_TEXT;
	e.choice_text = "pick";
	pbjson_buf_init(&buf);
	ck_assert_int_eq(pbjson_encode_message(&buf, &e.base), 0);
	got = buf_text(&buf);
	ck_assert_ptr_nonnull(
	    strstr(got, ",\"inners\":[],\"choiceText\":\"pick\",\"snakeCaseName\""));
	ck_assert_ptr_null(strstr(got, "choiceNumber"));
	free(got);

	e.choice_case = SAMPLE__EVERYTHING__CHOICE_CHOICE_NUMBER;
	e.choice_number = -3;
	pbjson_buf_reset(&buf);
	ck_assert_int_eq(pbjson_encode_message(&buf, &e.base), 0);
	got = buf_text(&buf);
	ck_assert_ptr_nonnull(strstr(got, ",\"inners\":[],\"choiceNumber\":-3,\"snakeCaseName\""));
	ck_assert_ptr_null(strstr(got, "choiceText"));
	free(got);

	e.choice_case = SAMPLE__EVERYTHING__CHOICE__NOT_SET;
	pbjson_buf_reset(&buf);
	ck_assert_int_eq(pbjson_encode_message(&buf, &e.base), 0);
	got = buf_text(&buf);
	ck_assert_ptr_nonnull(strstr(got, ",\"inners\":[],\"snakeCaseName\":\"\"}"));
	ck_assert_ptr_null(strstr(got, "choice"));
	free(got);
	pbjson_buf_fini(&buf);

	/* An inner message is unaffected by oneofs. */
	inner.id = 1;
	assert_message_json(&inner.base, "{\"id\":1,\"label\":\"\"}");
}
END_TEST

START_TEST(test_pbjson_encode_string_escapes)
{
	assert_string_json("", 0, "\"\"");
	assert_string_json("plain", 5, "\"plain\"");
	assert_string_json("\"\\\b\f\n\r\t", 7, "\"\\\"\\\\\\b\\f\\n\\r\\t\"");
	assert_string_json("a\"b", 3, "\"a\\\"b\"");
	assert_string_json("\x01", 1, "\"\\u0001\"");
	assert_string_json("\x0b", 1, "\"\\u000b\"");
	assert_string_json("\x1b", 1, "\"\\u001b\"");
	assert_string_json("\x1f", 1, "\"\\u001f\"");
	assert_string_json("a\0b", 3, "\"a\\u0000b\"");
	assert_string_json("\x7f", 1, "\"\x7f\"");
	assert_string_json("a/b", 3, "\"a/b\"");
	assert_string_json(" ~", 2, "\" ~\"");
}
END_TEST

START_TEST(test_pbjson_encode_string_valid_utf8_raw)
{
	assert_string_json("\xc3\xa9", 2, "\"\xc3\xa9\"");		   /* é */
	assert_string_json("\xe4\xb8\xad", 3, "\"\xe4\xb8\xad\"");	   /* 中 */
	assert_string_json("\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\""); /* 😀 */
	assert_string_json("\xe2\x80\xa8", 3, "\"\xe2\x80\xa8\"");	   /* U+2028 */
	assert_string_json("\xef\xbf\xbf", 3, "\"\xef\xbf\xbf\"");	   /* U+FFFF */
	assert_string_json("\xf4\x8f\xbf\xbf", 4, "\"\xf4\x8f\xbf\xbf\""); /* U+10FFFF */
	assert_string_json("caf\xc3\xa9 \xe4\xb8\xad\n", 10, "\"caf\xc3\xa9 \xe4\xb8\xad\\n\"");
}
END_TEST

START_TEST(test_pbjson_encode_string_invalid_utf8_replaced)
{
	assert_string_json("\x80", 1, "\"\\ufffd\"");
	assert_string_json("a\xc3", 2, "\"a\\ufffd\"");
	assert_string_json("\xc3(", 2, "\"\\ufffd(\"");
	assert_string_json("\xc0\xaf", 2, "\"\\ufffd\\ufffd\"");
	assert_string_json("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"");
	assert_string_json("\xf5", 1, "\"\\ufffd\"");
	assert_string_json("\xff", 1, "\"\\ufffd\"");
	assert_string_json("\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	assert_string_json("x\x80y", 3, "\"x\\ufffdy\"");
}
END_TEST

START_TEST(test_pbjson_encode_string_truncated_sequence_one_replacement)
{
	/* Node (WHATWG decoding) replaces a truncated sequence (the maximal subpart) by ONE U+FFFD:
	 * Buffer.from([0xe4, 0xb8, 0x78]).toString() is '\ufffdx'. */
	assert_string_json("\xe4\xb8x", 3, "\"\\ufffdx\"");
	assert_string_json("\xf0\x9f\x98", 3, "\"\\ufffd\"");
}
END_TEST

START_TEST(test_pbjson_encode_field_repeated_is_bare_array)
{
	Sample__Everything e = SAMPLE__EVERYTHING__INIT;
	int64_t numbers[] = {INT64_MIN, 0, 5};
	char *words[] = {"x", "", "\"q\""};
	assert_field_json(&e, "numbers", "[]");
	assert_field_json(&e, "words", "[]");
	assert_field_json(&e, "inners", "[]");
	e.n_numbers = 3;
	e.numbers = numbers;
	assert_field_json(&e, "numbers", "[-9223372036854775808,0,5]");
	e.n_words = 3;
	e.words = words;
	assert_field_json(&e, "words", "[\"x\",\"\",\"\\\"q\\\"\"]");
	e.text = "t";
	assert_field_json(&e, "text", "\"t\"");
}
END_TEST

START_TEST(test_pbjson_json_name)
{
	char out[64];
	pbjson_json_name("snake_case_name", out, sizeof(out));
	ck_assert_str_eq(out, "snakeCaseName");
	pbjson_json_name("created_by", out, sizeof(out));
	ck_assert_str_eq(out, "createdBy");
	pbjson_json_name("id", out, sizeof(out));
	ck_assert_str_eq(out, "id");
	pbjson_json_name("choice_text", out, sizeof(out));
	ck_assert_str_eq(out, "choiceText");
	pbjson_json_name("a_1b", out, sizeof(out));
	ck_assert_str_eq(out, "a1b");
	pbjson_json_name("", out, sizeof(out));
	ck_assert_str_eq(out, "");
	/* truncated to outlen - 1 bytes */
	pbjson_json_name("snake_case_name", out, 6);
	ck_assert_str_eq(out, "snake");
	pbjson_json_name("snake_case_name", out, 1);
	ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_pbjson_buf_reuse_after_reset)
{
	Posts__Post p = POSTS__POST__INIT;
	pbjson_buf buf;
	char *data;
	size_t cap;
	char *got;
	pbjson_buf_init(&buf);
	ck_assert_ptr_null(buf.data);
	ck_assert_uint_eq(buf.len, 0);
	p.id = 123;
	p.text = "a long enough text to be the first thing written in the buffer";
	ck_assert_int_eq(pbjson_encode_message(&buf, &p.base), 0);
	data = buf.data;
	cap = buf.cap;
	pbjson_buf_reset(&buf);
	ck_assert_uint_eq(buf.len, 0);
	ck_assert_int_eq(buf.failed, 0);
	p.id = 2;
	p.text = "x";
	ck_assert_int_eq(pbjson_encode_message(&buf, &p.base), 0);
	ck_assert_ptr_eq(buf.data, data); /* memory kept */
	ck_assert_uint_eq(buf.cap, cap);
	got = buf_text(&buf);
	ck_assert_str_eq(got, "{\"id\":2,\"thread\":0,\"text\":\"x\",\"user\":0}");
	free(got);
	pbjson_buf_append(&buf, "!", 1);
	ck_assert_uint_eq(buf.len, strlen("{\"id\":2,\"thread\":0,\"text\":\"x\",\"user\":0}!"));
	pbjson_buf_fini(&buf);
	ck_assert_ptr_null(buf.data);
	ck_assert_uint_eq(buf.len, 0);
	ck_assert_uint_eq(buf.cap, 0);
}
END_TEST

START_TEST(test_pbjson_buf_grows_for_long_output)
{
	pbjson_buf buf;
	char big[5000];
	memset(big, 'z', sizeof(big));
	pbjson_buf_init(&buf);
	ck_assert_int_eq(pbjson_encode_string(&buf, big, sizeof(big)), 0);
	ck_assert_uint_eq(buf.len, sizeof(big) + 2);
	ck_assert_int_eq(buf.data[0], '"');
	ck_assert_int_eq(buf.data[buf.len - 1], '"');
	ck_assert_int_eq(buf.data[2500], 'z');
	pbjson_buf_fini(&buf);
}
END_TEST

/* ---- decoding ------------------------------------------------------------------------------- */

START_TEST(test_pbjson_decode_json_and_proto_names)
{
	char err[256];
	Sample__Everything *e;
	e = (Sample__Everything *)decode_text(&sample__everything__descriptor,
					      "{\"snakeCaseName\":\"json\",\"i64\":5}", err,
					      sizeof(err));
	ck_assert_msg(e != NULL, "%s", err);
	ck_assert_str_eq(e->snake_case_name, "json");
	ck_assert_int_eq(e->i64, 5);
	ck_assert_str_eq(e->text, ""); /* absent fields keep their zero value */
	ck_assert_int_eq(e->i32, 0);
	ck_assert_ptr_null(e->inner);
	protobuf_c_message_free_unpacked(&e->base, NULL);

	e = (Sample__Everything *)decode_text(&sample__everything__descriptor,
					      "{\"snake_case_name\":\"proto\",\"choice_number\":4}",
					      err, sizeof(err));
	ck_assert_msg(e != NULL, "%s", err);
	ck_assert_str_eq(e->snake_case_name, "proto");
	ck_assert_int_eq(e->choice_case, SAMPLE__EVERYTHING__CHOICE_CHOICE_NUMBER);
	ck_assert_int_eq(e->choice_number, 4);
	protobuf_c_message_free_unpacked(&e->base, NULL);
}
END_TEST

START_TEST(test_pbjson_decode_scalars)
{
	char err[256];
	Sample__Everything *e = (Sample__Everything *)decode_text(
	    &sample__everything__descriptor,
	    "{\"i32\":-2147483648,\"i64\":-9223372036854775808,\"u32\":4294967295,"
	    "\"u64\":9223372036854775807,\"s32\":-5,\"s64\":9223372036854775807,\"f32\":7,"
	    "\"f64\":8,\"sf32\":-9,\"sf64\":-10,\"flt\":1.5,\"dbl\":0.1,\"flag\":true,"
	    "\"text\":\"h\\u00e9\\n\",\"color\":\"RED\"}",
	    err, sizeof(err));
	ck_assert_msg(e != NULL, "%s", err);
	ck_assert_int_eq(e->i32, INT32_MIN);
	ck_assert_int_eq(e->i64, INT64_MIN);
	ck_assert_uint_eq(e->u32, UINT32_MAX);
	ck_assert_uint_eq(e->u64, INT64_MAX);
	ck_assert_int_eq(e->s32, -5);
	ck_assert_int_eq(e->s64, INT64_MAX);
	ck_assert_uint_eq(e->f32, 7);
	ck_assert_uint_eq(e->f64, 8);
	ck_assert_int_eq(e->sf32, -9);
	ck_assert_int_eq(e->sf64, -10);
	ck_assert_float_eq(e->flt, 1.5f);
	ck_assert_double_eq(e->dbl, 0.1);
	ck_assert_int_eq(e->flag, 1);
	ck_assert_str_eq(e->text, "h\xc3\xa9\n");
	ck_assert_int_eq(e->color, SAMPLE__COLOR__RED);
	protobuf_c_message_free_unpacked(&e->base, NULL);

	/* an enum by number, and an integral real for an integer */
	e = (Sample__Everything *)decode_text(&sample__everything__descriptor,
					      "{\"color\":2,\"i64\":3.0}", err, sizeof(err));
	ck_assert_msg(e != NULL, "%s", err);
	ck_assert_int_eq(e->color, SAMPLE__COLOR__GREEN);
	ck_assert_int_eq(e->i64, 3);
	protobuf_c_message_free_unpacked(&e->base, NULL);
}
END_TEST

START_TEST(test_pbjson_decode_unknown_field_fails)
{
	assert_decode_fails("{\"i32\":1,\"bogus\":2}", "unknown field 'bogus'");
	assert_decode_fails("{\"inner\":{\"id\":1,\"nope\":true}}", "inner.nope");
	/* names are exact: neither case nor a mix of styles is accepted */
	assert_decode_fails("{\"SnakeCaseName\":\"x\"}", "SnakeCaseName");
	assert_decode_fails("{\"snake_caseName\":\"x\"}", "snake_caseName");
}
END_TEST

START_TEST(test_pbjson_decode_wrong_types_name_the_field)
{
	assert_decode_fails("{\"i32\":\"5\"}", "'i32'");
	assert_decode_fails("{\"i64\":\"5\"}", "'i64'");
	assert_decode_fails("{\"text\":5}", "'text'");
	assert_decode_fails("{\"text\":null}", "'text'");
	assert_decode_fails("{\"i64\":1.5}", "'i64'");
	assert_decode_fails("{\"i32\":2147483648}", "'i32'");
	assert_decode_fails("{\"i32\":-2147483649}", "'i32'");
	assert_decode_fails("{\"u32\":-1}", "'u32'");
	assert_decode_fails("{\"u32\":4294967296}", "'u32'");
	assert_decode_fails("{\"u64\":-1}", "'u64'");
	assert_decode_fails("{\"flag\":1}", "'flag'");
	assert_decode_fails("{\"dbl\":\"1\"}", "'dbl'");
	assert_decode_fails("{\"color\":\"PURPLE\"}", "'color'");
	assert_decode_fails("{\"color\":7}", "'color'");
	assert_decode_fails("{\"inner\":5}", "'inner'");
	assert_decode_fails("{\"inner\":[]}", "'inner'");
	assert_decode_fails("{\"numbers\":5}", "'numbers'");
	assert_decode_fails("{\"numbers\":[1,\"2\"]}", "'numbers[1]'");
	assert_decode_fails("{\"words\":[\"a\",3]}", "'words[1]'");
	assert_decode_fails("{\"inners\":[{\"id\":1},{\"id\":\"x\"}]}", "'inners[1].id'");
	assert_decode_fails("{\"inner\":{\"label\":false}}", "'inner.label'");
}
END_TEST

START_TEST(test_pbjson_decode_enum_number_out_of_range)
{
	/* 2^32 + 2 is no enum value, not GREEN (2) once truncated to an int */
	assert_decode_fails("{\"color\":4294967298}", "'color'");
	assert_decode_fails("{\"color\":-4294967295}", "'color'");
}
END_TEST

START_TEST(test_pbjson_decode_not_an_object_fails)
{
	char err[256] = "";
	json_t *arr = json_array();
	ck_assert_ptr_null(pbjson_decode(&sample__everything__descriptor, arr, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "object"));
	json_decref(arr);
}
END_TEST

START_TEST(test_pbjson_decode_nested_and_arrays)
{
	char err[256];
	Sample__Everything *e = (Sample__Everything *)decode_text(
	    &sample__everything__descriptor,
	    "{\"inner\":{\"id\":3,\"label\":\"three\"},\"numbers\":[1,-2,9223372036854775807],"
	    "\"words\":[\"a\",\"\",\"c\"],\"inners\":[{\"id\":1,\"label\":\"x\"},{\"id\":2}],"
	    "\"choiceText\":\"pick\"}",
	    err, sizeof(err));
	ck_assert_msg(e != NULL, "%s", err);
	ck_assert_ptr_nonnull(e->inner);
	ck_assert_int_eq(e->inner->id, 3);
	ck_assert_str_eq(e->inner->label, "three");
	ck_assert_uint_eq(e->n_numbers, 3);
	ck_assert_int_eq(e->numbers[0], 1);
	ck_assert_int_eq(e->numbers[1], -2);
	ck_assert_int_eq(e->numbers[2], INT64_MAX);
	ck_assert_uint_eq(e->n_words, 3);
	ck_assert_str_eq(e->words[0], "a");
	ck_assert_str_eq(e->words[1], "");
	ck_assert_str_eq(e->words[2], "c");
	ck_assert_uint_eq(e->n_inners, 2);
	ck_assert_int_eq(e->inners[0]->id, 1);
	ck_assert_str_eq(e->inners[0]->label, "x");
	ck_assert_int_eq(e->inners[1]->id, 2);
	ck_assert_str_eq(e->inners[1]->label, "");
	ck_assert_int_eq(e->choice_case, SAMPLE__EVERYTHING__CHOICE_CHOICE_TEXT);
	ck_assert_str_eq(e->choice_text, "pick");
	protobuf_c_message_free_unpacked(&e->base, NULL);

	e = (Sample__Everything *)decode_text(&sample__everything__descriptor,
					      "{\"numbers\":[],\"inners\":[]}", err, sizeof(err));
	ck_assert_msg(e != NULL, "%s", err);
	ck_assert_uint_eq(e->n_numbers, 0);
	ck_assert_uint_eq(e->n_inners, 0);
	protobuf_c_message_free_unpacked(&e->base, NULL);
}
END_TEST

START_TEST(test_pbjson_decode_null_message_field)
{
	char err[256];
	Sample__Everything *e = (Sample__Everything *)decode_text(
	    &sample__everything__descriptor, "{\"inner\":null,\"i32\":1}", err, sizeof(err));
	ck_assert_msg(e != NULL, "%s", err);
	ck_assert_ptr_null(e->inner);
	ck_assert_int_eq(e->i32, 1);
	protobuf_c_message_free_unpacked(&e->base, NULL);
}
END_TEST

START_TEST(test_pbjson_decode_failure_frees_partial_message)
{
	/* Under ASan's leak check: everything decoded before the failure is freed. */
	assert_decode_fails("{\"text\":\"abc\",\"words\":[\"a\",\"b\",1]}", "'words[2]'");
	assert_decode_fails("{\"inner\":{\"label\":\"l\"},\"inners\":[{\"label\":\"m\"},7]}",
			    "'inners[1]'");
	assert_decode_fails("{\"choiceText\":\"abc\",\"i32\":\"x\"}", "'i32'");
}
END_TEST

START_TEST(test_pbjson_decode_null_in_repeated_message_fails)
{
	/* A NULL element in a repeated message field cannot be packed (protobuf-c crashes), so
	 * the decoder must not produce one. */
	assert_decode_fails("{\"inners\":[{\"id\":1},null]}", "'inners[1]'");
}
END_TEST

START_TEST(test_pbjson_decode_two_oneof_members_fails)
{
	/* Both members of a oneof share storage; proto3 JSON rejects an object naming two. Here the
	 * string is overwritten by the number (and leaked). */
	assert_decode_fails("{\"choiceText\":\"abc\",\"choiceNumber\":5}", "choice");
}
END_TEST

START_TEST(test_pbjson_decode_two_oneof_members_number_first_fails)
{
	/* The reverse order: decoding the string must not free the number 5 as a pointer. */
	assert_decode_fails("{\"choiceNumber\":5,\"choiceText\":\"abc\"}", "choice");
}
END_TEST

START_TEST(test_pbjson_decode_float_out_of_range_fails)
{
	/* Found by tests/fuzz/fuzz_json_decode: 1e39 was stored as an infinite float, which the
	 * encoder writes as "Infinity", which the decoder then refuses. */
	char err[256];
	Sample__Everything *e;
	assert_decode_fails("{\"flt\":1e39}", "'flt'");
	assert_decode_fails("{\"flt\":-1e300}", "'flt'");
	assert_decode_fails("{\"flt\":3.4028236e38}", "'flt'");
	/* the largest float, as the encoder writes it, still decodes; doubles are unaffected */
	e = (Sample__Everything *)decode_text(&sample__everything__descriptor,
					      "{\"flt\":-3.4028235e+38,\"dbl\":1e300}", err,
					      sizeof(err));
	ck_assert_msg(e != NULL, "%s", err);
	ck_assert_float_eq(e->flt, -FLT_MAX);
	ck_assert_double_eq(e->dbl, 1e300);
	protobuf_c_message_free_unpacked(&e->base, NULL);
}
END_TEST

START_TEST(test_pbjson_decode_field_under_both_names_fails)
{
	/* A field named both ways was decoded twice: a repeated, message or bytes field leaked
	 * its first value. */
	char err[256] = "";
	json_error_t jerr;
	json_t *obj;
	assert_decode_fails("{\"snakeCaseName\":\"a\",\"snake_case_name\":\"b\"}", "given twice");
	assert_decode_fails("{\"choice_text\":\"a\",\"choiceText\":\"b\"}", "given twice");
	assert_decode_fails("{\"inner\":{\"id\":1},\"inners\":[{\"label\":\"x\",\"id\":2}],"
			    "\"snakeCaseName\":\"\",\"snake_case_name\":\"\"}",
			    "snakeCaseName");
	obj = json_loads("{\"latencyBuckets\":[1,2],\"latency_buckets\":[3]}", 0, &jerr);
	ck_assert_ptr_nonnull(obj);
	ck_assert_ptr_null(pbjson_decode(&mesh__method_stats__descriptor, obj, err, sizeof(err)));
	ck_assert_msg(strstr(err, "'latencyBuckets' is given twice") != NULL, "%s", err);
	json_decref(obj);
}
END_TEST

/* assert_blob asserts {"blob": text} decodes to the len bytes want. */
static void assert_blob(const char *text, const char *want, size_t len)
{
	char json[256], err[256];
	Sample__Everything *e;
	snprintf(json, sizeof(json), "{\"blob\":\"%s\"}", text);
	e = (Sample__Everything *)decode_text(&sample__everything__descriptor, json, err,
					      sizeof(err));
	ck_assert_msg(e != NULL, "%s: %s", json, err);
	ck_assert_msg(e->blob.len == len, "%s: %zu bytes, want %zu", json, e->blob.len, len);
	if (len > 0)
		ck_assert_mem_eq(e->blob.data, want, len);
	protobuf_c_message_free_unpacked(&e->base, NULL);
}

START_TEST(test_pbjson_decode_bytes_base64)
{
	/* proto3 JSON: bytes are base64, standard or URL-safe, padded or not */
	assert_blob("", "", 0);
	assert_blob("AA==", "\x00", 1);
	assert_blob("AAE=", "\x00\x01", 2);
	assert_blob("AAEC", "\x00\x01\x02", 3);
	assert_blob("Zm9vYmFy", "foobar", 6);
	assert_blob("Zm8", "fo", 2);
	assert_blob("+/8=", "\xfb\xff", 2);
	assert_blob("-_8", "\xfb\xff", 2);
	assert_decode_fails("{\"blob\":\"A\"}", "'blob'");
	assert_decode_fails("{\"blob\":\"Zm9v!\"}", "'blob'");
	assert_decode_fails("{\"blob\":5}", "'blob'");
}
END_TEST

START_TEST(test_pbjson_round_trip_post)
{
	static const char *const posts[] = {
	    "{\"id\":1,\"thread\":1,\"text\":\"Has anyone checked on the lich recently?\","
	    "\"user\":4}",
	    "{\"id\":9223372036854775807,\"thread\":0,\"text\":\"caf\xc3\xa9 \\\"q\\\" \\\\ "
	    "\\n\\u0001 \xf0\x9f\x98\x80\",\"user\":-1}",
	};
	for (size_t i = 0; i < sizeof(posts) / sizeof(posts[0]); i++) {
		char err[256];
		ProtobufCMessage *m =
		    decode_text(&posts__post__descriptor, posts[i], err, sizeof(err));
		ck_assert_msg(m != NULL, "%s: %s", posts[i], err);
		assert_message_json(m, posts[i]);
		protobuf_c_message_free_unpacked(m, NULL);
	}
}
END_TEST

START_TEST(test_pbjson_round_trip_everything)
{
	/* What the encoder writes, the decoder reads back: every field kind, bytes included. */
	static const char text[] =
	    "{\"i32\":-42,\"i64\":-9223372036854775808,\"u32\":4294967295,"
	    "\"u64\":9223372036854775807,\"s32\":-2147483648,\"s64\":9223372036854775807,"
	    "\"f32\":7,\"f64\":8,\"sf32\":-9,\"sf64\":-10,\"flt\":1.5,\"dbl\":0.1,\"flag\":true,"
	    "\"text\":\"hi\",\"blob\":\"AAEC\",\"color\":\"GREEN\","
	    "\"inner\":{\"id\":5,\"label\":\"in\"},\"numbers\":[1,-2,3],\"words\":[\"a\",\"b\"],"
	    "\"inners\":[{\"id\":1,\"label\":\"x\"},{\"id\":2,\"label\":\"\"}],"
	    "\"choiceText\":\"c\",\"snakeCaseName\":\"snake\"}";
	char err[256];
	ProtobufCMessage *m = decode_text(&sample__everything__descriptor, text, err, sizeof(err));
	ck_assert_msg(m != NULL, "%s", err);
	assert_message_json(m, text);
	protobuf_c_message_free_unpacked(m, NULL);
}
END_TEST

START_TEST(test_pbjson_round_trip_zero_everything)
{
	/* The zero message without its bytes field (see test_pbjson_round_trip_everything). */
	static const char text[] =
	    "{\"i32\":0,\"i64\":0,\"u32\":0,\"u64\":0,\"s32\":0,\"s64\":0,\"f32\":0,\"f64\":0,"
	    "\"sf32\":0,\"sf64\":0,\"flt\":0,\"dbl\":0,\"flag\":false,\"text\":\"\","
	    "\"color\":\"COLOR_UNSPECIFIED\",\"inner\":null,\"numbers\":[],\"words\":[],"
	    "\"inners\":[],\"snakeCaseName\":\"\"}";
	char err[256];
	ProtobufCMessage *m = decode_text(&sample__everything__descriptor, text, err, sizeof(err));
	Sample__Everything zero = SAMPLE__EVERYTHING__INIT;
	pbjson_buf a, b;
	ck_assert_msg(m != NULL, "%s", err);
	pbjson_buf_init(&a);
	pbjson_buf_init(&b);
	ck_assert_int_eq(pbjson_encode_message(&a, m), 0);
	ck_assert_int_eq(pbjson_encode_message(&b, &zero.base), 0);
	ck_assert_uint_eq(a.len, b.len);
	ck_assert_mem_eq(a.data, b.data, a.len);
	pbjson_buf_fini(&a);
	pbjson_buf_fini(&b);
	protobuf_c_message_free_unpacked(m, NULL);
}
END_TEST

/* ---- pbjson_load_array ---------------------------------------------------------------------- */

static void free_array(ProtobufCMessage **msgs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		protobuf_c_message_free_unpacked(msgs[i], NULL);
	free(msgs);
}

START_TEST(test_pbjson_load_array_good_file)
{
	char path[256], err[512] = "";
	ProtobufCMessage **msgs = NULL;
	size_t n = 99;
	write_file(tmpdir, "posts.json",
		   "[\n  {\"id\": 2, \"thread\": 1, \"text\": \"two\", \"user\": 4},\n"
		   "  {\"id\": 1, \"text\": \"one\"}\n]\n",
		   path, sizeof(path));
	ck_assert_msg(
	    pbjson_load_array(path, &posts__post__descriptor, &msgs, &n, err, sizeof(err)) == 0,
	    "%s", err);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(((Posts__Post *)msgs[0])->id, 2);
	ck_assert_str_eq(((Posts__Post *)msgs[0])->text, "two");
	ck_assert_int_eq(((Posts__Post *)msgs[0])->user, 4);
	ck_assert_int_eq(((Posts__Post *)msgs[1])->id, 1);
	ck_assert_int_eq(((Posts__Post *)msgs[1])->thread, 0);
	free_array(msgs, n);
}
END_TEST

START_TEST(test_pbjson_load_array_empty_array)
{
	char path[256], err[512] = "";
	ProtobufCMessage **msgs = NULL;
	size_t n = 99;
	write_file(tmpdir, "empty.json", "[]", path, sizeof(path));
	ck_assert_msg(
	    pbjson_load_array(path, &posts__post__descriptor, &msgs, &n, err, sizeof(err)) == 0,
	    "%s", err);
	ck_assert_uint_eq(n, 0);
	free_array(msgs, n);
}
END_TEST

START_TEST(test_pbjson_load_array_not_an_array)
{
	char path[256], err[512] = "";
	ProtobufCMessage **msgs = NULL;
	size_t n = 0;
	write_file(tmpdir, "obj.json", "{\"id\": 1}", path, sizeof(path));
	ck_assert_int_eq(
	    pbjson_load_array(path, &posts__post__descriptor, &msgs, &n, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, path) != NULL, "%s", err);
	ck_assert_msg(strstr(err, "array") != NULL, "%s", err);
	ck_assert_ptr_null(msgs);
}
END_TEST

START_TEST(test_pbjson_load_array_bad_element_names_index)
{
	char path[256], err[512] = "";
	ProtobufCMessage **msgs = NULL;
	size_t n = 0;
	write_file(tmpdir, "bad.json",
		   "[{\"id\": 1, \"text\": \"ok\"}, {\"id\": 2}, {\"id\": 3, \"txet\": \"typo\"}]",
		   path, sizeof(path));
	ck_assert_int_eq(
	    pbjson_load_array(path, &posts__post__descriptor, &msgs, &n, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, path) != NULL, "%s", err);
	ck_assert_msg(strstr(err, "element 2") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "txet") != NULL, "%s", err);

	write_file(tmpdir, "bad2.json", "[{\"id\": 1}, 5]", path, sizeof(path));
	ck_assert_int_eq(
	    pbjson_load_array(path, &posts__post__descriptor, &msgs, &n, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "element 1") != NULL, "%s", err);
}
END_TEST

START_TEST(test_pbjson_load_array_malformed_names_line)
{
	char path[256], err[512] = "", want[300];
	ProtobufCMessage **msgs = NULL;
	size_t n = 0;
	write_file(tmpdir, "broken.json", "[\n  {\"id\": 1},\n  {\"id\": }\n]\n", path,
		   sizeof(path));
	ck_assert_int_eq(
	    pbjson_load_array(path, &posts__post__descriptor, &msgs, &n, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:3:", path);
	ck_assert_msg(strstr(err, want) != NULL, "'%s' does not hold '%s'", err, want);
}
END_TEST

START_TEST(test_pbjson_load_array_missing_file)
{
	char path[256], err[512] = "";
	ProtobufCMessage **msgs = NULL;
	size_t n = 0;
	snprintf(path, sizeof(path), "%s/none.json", tmpdir);
	ck_assert_int_eq(
	    pbjson_load_array(path, &posts__post__descriptor, &msgs, &n, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, path) != NULL, "%s", err);
}
END_TEST

static Suite *pbjson_suite(void)
{
	Suite *s = suite_create("pbjson");
	TCase *enc = tcase_create("encode");
	TCase *dec = tcase_create("decode");
	TCase *load = tcase_create("load_array");

	tcase_add_test(enc, test_pbjson_encode_zero_message_writes_every_field);
	tcase_add_test(enc, test_pbjson_encode_calloc_message_writes_null_strings_as_empty);
	tcase_add_test(enc, test_pbjson_encode_every_field_set);
	tcase_add_test(enc, test_pbjson_encode_integer_extremes);
	tcase_add_test(enc, test_pbjson_encode_double_values);
	tcase_add_test(enc, test_pbjson_encode_double_integral_without_exponent);
	tcase_add_test(enc, test_pbjson_encode_double_small_as_javascript);
	tcase_add_test(enc, test_pbjson_encode_float_values);
	tcase_add_test(enc, test_pbjson_encode_bytes_base64_padding);
	tcase_add_test(enc, test_pbjson_encode_enum_by_name);
	tcase_add_test(enc, test_pbjson_encode_nested_and_repeated_messages);
	tcase_add_test(enc, test_pbjson_encode_oneof_only_set_member);
	tcase_add_test(enc, test_pbjson_encode_string_escapes);
	tcase_add_test(enc, test_pbjson_encode_string_valid_utf8_raw);
	tcase_add_test(enc, test_pbjson_encode_string_invalid_utf8_replaced);
	tcase_add_test(enc, test_pbjson_encode_string_truncated_sequence_one_replacement);
	tcase_add_test(enc, test_pbjson_encode_field_repeated_is_bare_array);
	tcase_add_test(enc, test_pbjson_json_name);
	tcase_add_test(enc, test_pbjson_buf_reuse_after_reset);
	tcase_add_test(enc, test_pbjson_buf_grows_for_long_output);
	suite_add_tcase(s, enc);

	tcase_add_test(dec, test_pbjson_decode_json_and_proto_names);
	tcase_add_test(dec, test_pbjson_decode_scalars);
	tcase_add_test(dec, test_pbjson_decode_unknown_field_fails);
	tcase_add_test(dec, test_pbjson_decode_wrong_types_name_the_field);
	tcase_add_test(dec, test_pbjson_decode_enum_number_out_of_range);
	tcase_add_test(dec, test_pbjson_decode_not_an_object_fails);
	tcase_add_test(dec, test_pbjson_decode_nested_and_arrays);
	tcase_add_test(dec, test_pbjson_decode_null_message_field);
	tcase_add_test(dec, test_pbjson_decode_failure_frees_partial_message);
	tcase_add_test(dec, test_pbjson_decode_null_in_repeated_message_fails);
	tcase_add_test(dec, test_pbjson_decode_two_oneof_members_fails);
	tcase_add_test(dec, test_pbjson_decode_two_oneof_members_number_first_fails);
	tcase_add_test(dec, test_pbjson_decode_bytes_base64);
	tcase_add_test(dec, test_pbjson_decode_float_out_of_range_fails);
	tcase_add_test(dec, test_pbjson_decode_field_under_both_names_fails);
	tcase_add_test(dec, test_pbjson_round_trip_post);
	tcase_add_test(dec, test_pbjson_round_trip_everything);
	tcase_add_test(dec, test_pbjson_round_trip_zero_everything);
	suite_add_tcase(s, dec);

	tcase_add_checked_fixture(load, tmpdir_setup, tmpdir_teardown);
	tcase_add_test(load, test_pbjson_load_array_good_file);
	tcase_add_test(load, test_pbjson_load_array_empty_array);
	tcase_add_test(load, test_pbjson_load_array_not_an_array);
	tcase_add_test(load, test_pbjson_load_array_bad_element_names_index);
	tcase_add_test(load, test_pbjson_load_array_malformed_names_line);
	tcase_add_test(load, test_pbjson_load_array_missing_file);
	suite_add_tcase(s, load);
	return s;
}

int main(void)
{
	return harness_run_suite(pbjson_suite(), 0);
}
