/* The incremental multipart/form-data parser: any chunking gives the same parts. */
#include <string.h>

#include "mr-multipart.h"

typedef struct {
  char *name;
  char *filename;
  char *content_type;
  GByteArray *data;
  gboolean ended;
} Part;

typedef struct {
  GPtrArray *parts;
  guint data_calls;
  const char *fail_on;        /* fail part_begin for this name */
} Recorder;

static void
part_free (Part *p)
{
  g_free (p->name);
  g_free (p->filename);
  g_free (p->content_type);
  g_byte_array_unref (p->data);
  g_free (p);
}

static gboolean
rec_begin (SoupMessageHeaders *headers, gpointer user_data, GError **error)
{
  Recorder *r = user_data;
  Part *p = g_new0 (Part, 1);

  p->name = mr_multipart_part_get_param (headers, "name");
  p->filename = mr_multipart_part_get_param (headers, "filename");
  p->content_type = g_strdup (soup_message_headers_get_one (headers, "Content-Type"));
  p->data = g_byte_array_new ();
  g_ptr_array_add (r->parts, p);
  if (r->fail_on && g_strcmp0 (p->name, r->fail_on) == 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "refused");
      return FALSE;
    }
  return TRUE;
}

static gboolean
rec_data (const guint8 *data, gsize len, gpointer user_data, GError **error)
{
  Recorder *r = user_data;
  Part *p = r->parts->pdata[r->parts->len - 1];

  g_assert_cmpuint (len, >, 0);
  g_assert_false (p->ended);
  g_byte_array_append (p->data, data, len);
  r->data_calls++;
  return TRUE;
}

static gboolean
rec_end (gpointer user_data, GError **error)
{
  Recorder *r = user_data;
  Part *p = r->parts->pdata[r->parts->len - 1];

  g_assert_false (p->ended);
  p->ended = TRUE;
  return TRUE;
}

static const MrMultipartCallbacks callbacks = { rec_begin, rec_data, rec_end };

/* Feeds @body in chunks of @chunk bytes (0: all at once); returns the parts, or NULL
 * with @error set. */
static GPtrArray *
parse (const char *boundary, const char *body, gsize len, gsize chunk, Recorder *rec, GError **error)
{
  g_autoptr(MrMultipartParser) parser = NULL;
  gsize off = 0;

  rec->parts = g_ptr_array_new_with_free_func ((GDestroyNotify) part_free);
  rec->data_calls = 0;
  parser = mr_multipart_parser_new (boundary, &callbacks, rec);
  if (chunk == 0)
    chunk = MAX (len, 1);
  while (off < len)
    {
      gsize n = MIN (chunk, len - off);
      if (!mr_multipart_parser_feed (parser, body + off, n, error))
        return NULL;
      off += n;
    }
  if (!mr_multipart_parser_finish (parser, error))
    return NULL;
  g_assert_true (mr_multipart_parser_is_done (parser));
  return rec->parts;
}

static void
assert_part (GPtrArray *parts, guint i, const char *name, const char *filename, const char *data, gsize len)
{
  Part *p;

  g_assert_cmpuint (i, <, parts->len);
  p = parts->pdata[i];
  g_assert_cmpstr (p->name, ==, name);
  g_assert_cmpstr (p->filename, ==, filename);
  g_assert_true (p->ended);
  g_assert_cmpmem (p->data->data, p->data->len, data, len);
}

static const gsize chunk_sizes[] = { 0, 1, 2, 3, 5, 7, 13, 31, 64, 100 };

/* TypeScript (form-data) order: each path right before its file */
#define INTERLEAVED \
  "--X-BOUNDARY-42\r\n" \
  "Content-Disposition: form-data; name=\"files[0].path\"\r\n" \
  "\r\n" \
  "/home/daytona/a.txt\r\n" \
  "--X-BOUNDARY-42\r\n" \
  "Content-Disposition: form-data; name=\"files[0].file\"; filename=\"/home/daytona/a.txt\"\r\n" \
  "Content-Type: application/octet-stream\r\n" \
  "\r\n" \
  "line one\r\n--not the boundary\r\n--X-BOUNDARY-4\r\n\r\n\r\n" \
  "\r\n" \
  "--X-BOUNDARY-42\r\n" \
  "Content-Disposition: form-data; name=\"files[1].path\"\r\n" \
  "\r\n" \
  "rel/b.bin\r\n" \
  "--X-BOUNDARY-42\r\n" \
  "Content-Disposition: form-data; name=\"files[1].file\"; filename=\"rel/b.bin\"\r\n" \
  "\r\n" \
  "\r\n" \
  "--X-BOUNDARY-42--\r\n"

static void
test_interleaved (void)
{
  static const char first[] = "line one\r\n--not the boundary\r\n--X-BOUNDARY-4\r\n\r\n\r\n";

  for (guint i = 0; i < G_N_ELEMENTS (chunk_sizes); i++)
    {
      Recorder rec = { 0 };
      g_autoptr(GError) error = NULL;
      g_autoptr(GPtrArray) parts = parse ("X-BOUNDARY-42", INTERLEAVED, strlen (INTERLEAVED), chunk_sizes[i], &rec, &error);

      g_assert_no_error (error);
      g_assert_cmpuint (parts->len, ==, 4);
      assert_part (parts, 0, "files[0].path", NULL, "/home/daytona/a.txt", 19);
      assert_part (parts, 1, "files[0].file", "/home/daytona/a.txt", first, strlen (first));
      g_assert_cmpstr (((Part *) parts->pdata[1])->content_type, ==, "application/octet-stream");
      assert_part (parts, 2, "files[1].path", NULL, "rel/b.bin", 9);
      assert_part (parts, 3, "files[1].file", "rel/b.bin", "", 0);
    }
}

/* Python (httpx) order: every path first, then every file */
static void
test_paths_first (void)
{
  g_autoptr(GString) body = g_string_new (NULL);
  g_autofree guint8 *blob = g_malloc (70000);

  for (guint i = 0; i < 70000; i++)
    blob[i] = (guint8) (i * 7 + i / 251);
  for (int k = 0; k < 3; k++)
    g_string_append_printf (body, "--b\r\nContent-Disposition: form-data; name=\"files[%d].path\"\r\n\r\n/tmp/f%d\r\n", k, k);
  for (int k = 0; k < 3; k++)
    {
      g_string_append_printf (body, "--b\r\nContent-Disposition: form-data; name=\"files[%d].file\"; filename=\"/tmp/f%d\"\r\n"
                                    "Content-Type: application/octet-stream\r\n\r\n", k, k);
      g_string_append_len (body, (const char *) blob, 70000 / (k + 1));
      g_string_append (body, "\r\n");
    }
  g_string_append (body, "--b--\r\n");

  for (guint i = 0; i < G_N_ELEMENTS (chunk_sizes); i++)
    {
      Recorder rec = { 0 };
      g_autoptr(GError) error = NULL;
      g_autoptr(GPtrArray) parts = NULL;

      /* one-byte chunks of 140 KB take long enough; the others cover the splits */
      if (chunk_sizes[i] == 1)
        continue;
      parts = parse ("b", body->str, body->len, chunk_sizes[i], &rec, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (parts->len, ==, 6);
      for (int k = 0; k < 3; k++)
        {
          g_autofree char *name = g_strdup_printf ("files[%d].path", k);
          g_autofree char *file_name = g_strdup_printf ("files[%d].file", k);
          g_autofree char *path = g_strdup_printf ("/tmp/f%d", k);
          assert_part (parts, k, name, NULL, path, strlen (path));
          assert_part (parts, 3 + k, file_name, path, (const char *) blob, 70000 / (k + 1));
        }
    }
}

/* A delimiter split at every possible position between two chunks */
static void
test_split_boundary (void)
{
  static const char body[] = "--abc\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n0123456789\r\n--abc--\r\n";
  gsize len = strlen (body);

  for (gsize cut = 1; cut < len; cut++)
    {
      g_autoptr(MrMultipartParser) parser = NULL;
      g_autoptr(GError) error = NULL;
      g_autoptr(GPtrArray) parts = NULL;
      Recorder rec = { 0 };

      rec.parts = g_ptr_array_new_with_free_func ((GDestroyNotify) part_free);
      parts = rec.parts;
      parser = mr_multipart_parser_new ("abc", &callbacks, &rec);
      g_assert_true (mr_multipart_parser_feed (parser, body, cut, &error));
      g_assert_true (mr_multipart_parser_feed (parser, body + cut, len - cut, &error));
      g_assert_true (mr_multipart_parser_finish (parser, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (parts->len, ==, 1);
      assert_part (parts, 0, "f", NULL, "0123456789", 10);
    }
}

static void
test_preamble_padding_epilogue (void)
{
  static const char body[] =
    "this is a preamble\r\n--not\r\n"
    "--zz   \t\r\n"
    "content-disposition: form-data;\r\n"
    "  name=\"a\"\r\n"
    "X-Other: 1\r\n"
    "\r\n"
    "A\r\n"
    "--zz\n"
    "Content-Disposition: form-data; name=b\n"
    "\n"
    "B\r\n"
    "--zz--  trailing words\r\nepilogue --zz\r\n";

  for (guint i = 0; i < G_N_ELEMENTS (chunk_sizes); i++)
    {
      Recorder rec = { 0 };
      g_autoptr(GError) error = NULL;
      g_autoptr(GPtrArray) parts = parse ("zz", body, strlen (body), chunk_sizes[i], &rec, &error);

      g_assert_no_error (error);
      g_assert_cmpuint (parts->len, ==, 2);
      /* a folded header line, a lower-case header name, an unquoted value */
      assert_part (parts, 0, "a", NULL, "A", 1);
      assert_part (parts, 1, "b", NULL, "B", 1);
    }
}

static void
test_quoted_names (void)
{
  static const char body[] =
    "--q\r\n"
    "Content-Disposition: form-data; name=\"files[we\\\"ird; k=v].path\"; filename=\"C:\\\\dir\\\\x \\\"y\\\".txt\"\r\n"
    "\r\n"
    "data\r\n"
    "--q\r\n"
    "Content-Disposition: form-data; name=\"u\"; filename*=UTF-8''%C3%BC%20b.txt\r\n"
    "\r\n"
    "\r\n"
    "--q\r\n"
    "Content-Disposition: form-data; name=\"nofile\"\r\n"
    "\r\n"
    "x\r\n"
    "--q\r\n"
    "X-No-Disposition: here\r\n"
    "\r\n"
    "y\r\n"
    "--q--";
  Recorder rec = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) parts = parse ("q", body, strlen (body), 0, &rec, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (parts->len, ==, 4);
  /* quotes, semicolons and backslashes inside quoted strings; directories kept */
  assert_part (parts, 0, "files[we\"ird; k=v].path", "C:\\dir\\x \"y\".txt", "data", 4);
  assert_part (parts, 1, "u", "\xc3\xbc b.txt", "", 0);
  assert_part (parts, 2, "nofile", NULL, "x", 1);
  assert_part (parts, 3, NULL, NULL, "y", 1);
}

static void
assert_fails (const char *boundary, const char *body, int code, const char *message)
{
  for (guint i = 0; i < G_N_ELEMENTS (chunk_sizes); i++)
    {
      Recorder rec = { 0 };
      g_autoptr(GError) error = NULL;
      GPtrArray *parts = parse (boundary, body, strlen (body), chunk_sizes[i], &rec, &error);

      g_assert_null (parts);
      g_assert_error (error, MR_MULTIPART_ERROR, code);
      if (message)
        g_assert_cmpstr (error->message, ==, message);
      g_ptr_array_unref (rec.parts);
    }
}

static void
test_malformed (void)
{
  /* no delimiter at all */
  assert_fails ("b", "", MR_MULTIPART_ERROR_TRUNCATED, "multipart: NextPart: EOF");
  assert_fails ("b", "just some text\r\n", MR_MULTIPART_ERROR_TRUNCATED, "multipart: NextPart: EOF");
  /* cut in the headers, in the data, before the close delimiter */
  assert_fails ("b", "--b\r\nContent-Disposition: form-data; na", MR_MULTIPART_ERROR_TRUNCATED, "unexpected EOF");
  assert_fails ("b", "--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nsome data", MR_MULTIPART_ERROR_TRUNCATED, "unexpected EOF");
  assert_fails ("b", "--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nx\r\n--b\r\n", MR_MULTIPART_ERROR_TRUNCATED, "unexpected EOF");
  /* a header line without a colon */
  assert_fails ("b", "--b\r\nthis is not a header\r\n\r\nx\r\n--b--\r\n", MR_MULTIPART_ERROR_MALFORMED,
                "malformed MIME header line: this is not a header");
  /* garbage after a delimiter */
  assert_fails ("b", "--b\r\nA: 1\r\n\r\nx\r\n--b \t junk\r\n", MR_MULTIPART_ERROR_MALFORMED, NULL);
  assert_fails ("b", "--b\rX", MR_MULTIPART_ERROR_MALFORMED, NULL);
}

static void
test_headers_too_large (void)
{
  g_autoptr(GString) body = g_string_new ("--b\r\nX-Big: ");
  Recorder rec = { 0 };
  g_autoptr(GError) error = NULL;

  for (int i = 0; i < 70000; i++)
    g_string_append_c (body, 'a');
  g_string_append (body, "\r\n\r\nx\r\n--b--\r\n");
  g_assert_null (parse ("b", body->str, body->len, 4096, &rec, &error));
  g_assert_error (error, MR_MULTIPART_ERROR, MR_MULTIPART_ERROR_MALFORMED);
  g_ptr_array_unref (rec.parts);
}

static void
test_callback_error (void)
{
  Recorder rec = { .fail_on = "files[1].path" };
  g_autoptr(GError) error = NULL;
  g_autoptr(MrMultipartParser) parser = NULL;

  rec.parts = g_ptr_array_new_with_free_func ((GDestroyNotify) part_free);
  parser = mr_multipart_parser_new ("X-BOUNDARY-42", &callbacks, &rec);
  g_assert_false (mr_multipart_parser_feed (parser, INTERLEAVED, strlen (INTERLEAVED), &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FAILED);
  /* parsing stopped at the refused part; nothing is accepted after that */
  g_assert_cmpuint (rec.parts->len, ==, 3);
  g_clear_error (&error);
  g_assert_false (mr_multipart_parser_feed (parser, "x", 1, &error));
  g_assert_error (error, MR_MULTIPART_ERROR, MR_MULTIPART_ERROR_MALFORMED);
  g_clear_error (&error);
  g_assert_false (mr_multipart_parser_finish (parser, &error));
  g_ptr_array_unref (rec.parts);
}

static void
test_boundary_from_content_type (void)
{
  struct { const char *content_type, *boundary; } cases[] = {
    { "multipart/form-data; boundary=abc", "abc" },
    { "Multipart/Form-Data; charset=utf-8; boundary=\"a b:c\"", "a b:c" },
    { "multipart/form-data; boundary=--------------------------123456789012345678901234", "--------------------------123456789012345678901234" },
    { "multipart/mixed; boundary=m", "m" },
    { "multipart/form-data", NULL },
    { "multipart/form-data; boundary=", NULL },
    { "application/json", NULL },
    { "text/plain; boundary=x", NULL },
    { "", NULL },
    { NULL, NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *boundary = mr_multipart_get_boundary (cases[i].content_type);
      g_assert_cmpstr (boundary, ==, cases[i].boundary);
    }
}

/* The parser holds back no more than a delimiter's worth of data: big parts stream. */
static void
test_streams_data (void)
{
  g_autoptr(MrMultipartParser) parser = NULL;
  g_autoptr(GError) error = NULL;
  static const char head[] = "--s\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n";
  char block[8192];
  Recorder rec = { 0 };

  memset (block, 'z', sizeof block);
  rec.parts = g_ptr_array_new_with_free_func ((GDestroyNotify) part_free);
  parser = mr_multipart_parser_new ("s", &callbacks, &rec);
  g_assert_true (mr_multipart_parser_feed (parser, head, strlen (head), &error));
  for (int i = 0; i < 100; i++)
    {
      Part *p;
      g_assert_true (mr_multipart_parser_feed (parser, block, sizeof block, &error));
      p = rec.parts->pdata[0];
      g_assert_cmpuint (p->data->len, >=, (guint) ((i + 1) * sizeof block - strlen ("\r\n--s") + 1));
    }
  g_assert_true (mr_multipart_parser_feed (parser, "\r\n--s--\r\n", 9, &error));
  g_assert_true (mr_multipart_parser_finish (parser, &error));
  g_assert_cmpuint (((Part *) rec.parts->pdata[0])->data->len, ==, 100 * sizeof block);
  g_ptr_array_unref (rec.parts);
}

/* Part data of at least @min_len bytes: random bytes and near-delimiters of "boundary"
 * ("\r\n--boundar", "\r\n--boundaryX": the boundary followed by other bytes, ...). The
 * random bytes leave out what could complete a near-delimiter into a delimiter, and no
 * near-delimiter ends with a line end that a following "--boundary" would complete. */
static GByteArray *
near_delimiters (GRand *rand, gsize min_len)
{
  static const char *const traps[] = { "\r\n--bound", "\r\n--boundar", "\r\n--boundaryX", "\r\n--boundary-x",
                                       "\r\n-", "\r\n--", "--boundary", "\r\r\n--boundar\r" };
  GByteArray *data = g_byte_array_new ();

  while (data->len < min_len)
    {
      if (g_rand_int_range (rand, 0, 10) == 0)
        {
          const char *trap = traps[g_rand_int_range (rand, 0, G_N_ELEMENTS (traps))];
          g_byte_array_append (data, (const guint8 *) trap, strlen (trap));
        }
      else
        {
          guint8 byte = g_rand_int_range (rand, 0, 256);
          if (!strchr ("\r\n \t-y", byte))
            g_byte_array_append (data, &byte, 1);
        }
    }
  return data;
}

/* Cut in every chunk size from the delimiter's length up, with every shift of the
 * delimiters against the cuts: part data streams past the parser's buffer in the middle
 * of a part, and must come out the same. */
static void
test_part_data_any_chunking (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);
  const char *head1 = "--boundary\r\nContent-Disposition: form-data; name=\"a\"; filename=\"a.bin\"\r\n\r\n";
  const char *head2 = "\r\n--boundary\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\n";
  const char *tail = "\r\n--boundary--\r\n";

  for (gsize shift = 0; shift < 32; shift++)
    {
      g_autoptr(GByteArray) part1 = near_delimiters (rand, 600 + shift);
      g_autoptr(GByteArray) part2 = near_delimiters (rand, 200 + 3 * shift);
      g_autoptr(GByteArray) body = g_byte_array_new ();

      g_byte_array_append (body, (const guint8 *) head1, strlen (head1));
      g_byte_array_append (body, part1->data, part1->len);
      g_byte_array_append (body, (const guint8 *) head2, strlen (head2));
      g_byte_array_append (body, part2->data, part2->len);
      g_byte_array_append (body, (const guint8 *) tail, strlen (tail));
      for (gsize chunk = 12; chunk <= 64; chunk = chunk < 64 ? chunk + 1 : 65536)
        {
          g_autoptr(GError) error = NULL;
          g_autoptr(GPtrArray) parts = NULL;
          Recorder rec = { 0 };

          parts = parse ("boundary", (const char *) body->data, body->len, chunk, &rec, &error);
          g_assert_no_error (error);
          g_assert_cmpuint (parts->len, ==, 2);
          assert_part (parts, 0, "a", "a.bin", (const char *) part1->data, part1->len);
          assert_part (parts, 1, "b", NULL, (const char *) part2->data, part2->len);
        }
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/multipart/interleaved", test_interleaved);
  g_test_add_func ("/multipart/paths-first", test_paths_first);
  g_test_add_func ("/multipart/split-boundary", test_split_boundary);
  g_test_add_func ("/multipart/preamble-padding-epilogue", test_preamble_padding_epilogue);
  g_test_add_func ("/multipart/quoted-names", test_quoted_names);
  g_test_add_func ("/multipart/malformed", test_malformed);
  g_test_add_func ("/multipart/headers-too-large", test_headers_too_large);
  g_test_add_func ("/multipart/callback-error", test_callback_error);
  g_test_add_func ("/multipart/boundary-from-content-type", test_boundary_from_content_type);
  g_test_add_func ("/multipart/streams-data", test_streams_data);
  g_test_add_func ("/multipart/part-data-any-chunking", test_part_data_any_chunking);
  return g_test_run ();
}
