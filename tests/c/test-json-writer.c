/* The JSON writer used on hot routes: the same text as json-glib's generator for the
 * same object, so clients cannot tell which one answered. */
#include <string.h>
#include <json-glib/json-glib.h>

#include "mr-json-writer.h"
#include "mr-http.h"

/* Every byte from 1 to 127, quotes and backslashes included, and some UTF-8. */
static char *
awkward_string (void)
{
  GString *s = g_string_new (NULL);

  for (int c = 1; c < 128; c++)
    g_string_append_c (s, (char) c);
  g_string_append (s, "é日本\"\\/");
  return g_string_free (s, FALSE);
}

static void
test_same_as_json_glib (void)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *text = NULL;
  MrJsonWriter w;
  gsize len;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "state");
  json_builder_add_string_value (b, "started");
  json_builder_set_member_name (b, "na\"me");
  json_builder_add_string_value (b, "");
  json_builder_set_member_name (b, "recoverable");
  json_builder_add_boolean_value (b, FALSE);
  json_builder_set_member_name (b, "ok");
  json_builder_add_boolean_value (b, TRUE);
  json_builder_set_member_name (b, "n");
  json_builder_add_int_value (b, -42);
  json_builder_set_member_name (b, "nothing");
  json_builder_add_null_value (b);
  json_builder_set_member_name (b, "inner");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "a");
  json_builder_add_int_value (b, G_MAXINT64);
  json_builder_set_member_name (b, "b");
  json_builder_begin_object (b);
  json_builder_end_object (b);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "after");
  json_builder_add_string_value (b, "x");
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  expected = mr_http_json_to_string (root);

  mr_json_writer_init (&w);
  mr_json_writer_begin_object (&w);
  mr_json_writer_member_string (&w, "state", "started");
  mr_json_writer_member_string (&w, "na\"me", "");
  mr_json_writer_member (&w, "recoverable");
  mr_json_writer_boolean (&w, FALSE);
  mr_json_writer_member (&w, "ok");
  mr_json_writer_boolean (&w, TRUE);
  mr_json_writer_member (&w, "n");
  mr_json_writer_int (&w, -42);
  mr_json_writer_member_string (&w, "nothing", NULL);
  mr_json_writer_member (&w, "inner");
  mr_json_writer_begin_object (&w);
  mr_json_writer_member (&w, "a");
  mr_json_writer_int (&w, G_MAXINT64);
  mr_json_writer_member (&w, "b");
  mr_json_writer_begin_object (&w);
  mr_json_writer_end_object (&w);
  mr_json_writer_end_object (&w);
  mr_json_writer_member_string (&w, "after", "x");
  mr_json_writer_end_object (&w);
  text = mr_json_writer_finish (&w, &len);

  g_assert_cmpstr (text, ==, expected);
  g_assert_cmpuint (len, ==, strlen (expected));
}

static void
test_escapes (void)
{
  g_autofree char *awkward = awkward_string ();
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  MrJsonWriter w;

  mr_json_writer_init (&w);
  mr_json_writer_begin_object (&w);
  mr_json_writer_member_string (&w, awkward, awkward);
  mr_json_writer_end_object (&w);
  text = mr_json_writer_finish (&w, NULL);

  /* no raw control character: json-glib 1.6 leaves 0x1f raw, which strict parsers refuse */
  for (const char *p = text; *p; p++)
    g_assert_cmpint ((unsigned char) *p, >=, 0x20);
  g_assert_nonnull (strstr (text, "\\n\\u000b\\f\\r\\u000e"));
  g_assert_nonnull (strstr (text, "\\u001f !\\\"#"));
  g_assert_nonnull (strstr (text, "\\\\]^_`"));
  g_assert_nonnull (strstr (text, "~\\u007f"));

  /* and it reads back as what was written */
  g_assert_true (json_parser_load_from_data (parser, text, -1, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (json_parser_get_root (parser)), awkward),
                   ==, awkward);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/json-writer/same-as-json-glib", test_same_as_json_glib);
  g_test_add_func ("/json-writer/escapes", test_escapes);
  return g_test_run ();
}
