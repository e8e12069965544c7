/* Session log framing: marker-prefixed lines, marker stripping (also across chunk
 * boundaries), stdout/stderr demultiplexing and exit-code parsing. */
#include <string.h>

#include "mr-log-framing.h"

#define OUT MR_LOG_STDOUT_MARKER
#define ERR MR_LOG_STDERR_MARKER

static char *
to_string (GByteArray *bytes)
{
  return g_strndup ((const char *) bytes->data, bytes->len);
}

static void
assert_bytes (GByteArray *bytes, const char *expected)
{
  g_assert_cmpmem (bytes->data, bytes->len, expected, strlen (expected));
}

static void
test_framer_lines (void)
{
  g_autoptr(GByteArray) out = g_byte_array_new ();
  MrLineFramer f;

  mr_line_framer_init (&f, MR_LOG_STDOUT);
  mr_line_framer_feed (&f, (const guint8 *) "hello\nwor", 9, out);
  assert_bytes (out, OUT "hello\n");
  mr_line_framer_feed (&f, (const guint8 *) "ld\n\nlast", 8, out);
  assert_bytes (out, OUT "hello\n" OUT "world\n" OUT "\n");
  /* a final partial line gets its newline */
  mr_line_framer_finish (&f, out);
  assert_bytes (out, OUT "hello\n" OUT "world\n" OUT "\n" OUT "last\n");
  /* finishing twice adds nothing */
  mr_line_framer_finish (&f, out);
  assert_bytes (out, OUT "hello\n" OUT "world\n" OUT "\n" OUT "last\n");
  mr_line_framer_clear (&f);
}

/* Byte-at-a-time feeding gives the same log as one chunk: lines are atomic. */
static void
test_framer_chunking (void)
{
  const char *text = "a\nbb\n\nccc";
  g_autoptr(GByteArray) whole = g_byte_array_new ();
  g_autoptr(GByteArray) bytewise = g_byte_array_new ();
  MrLineFramer f;

  mr_log_frame_text (MR_LOG_STDERR, (const guint8 *) text, strlen (text), whole);
  mr_line_framer_init (&f, MR_LOG_STDERR);
  for (gsize i = 0; i < strlen (text); i++)
    mr_line_framer_feed (&f, (const guint8 *) text + i, 1, bytewise);
  mr_line_framer_finish (&f, bytewise);
  mr_line_framer_clear (&f);
  assert_bytes (whole, ERR "a\n" ERR "bb\n" ERR "\n" ERR "ccc\n");
  g_assert_cmpmem (whole->data, whole->len, bytewise->data, bytewise->len);
}

/* Two framers appending to one log interleave whole lines only. */
static void
test_framer_interleave (void)
{
  g_autoptr(GByteArray) log = g_byte_array_new ();
  MrLineFramer o, e;

  mr_line_framer_init (&o, MR_LOG_STDOUT);
  mr_line_framer_init (&e, MR_LOG_STDERR);
  mr_line_framer_feed (&o, (const guint8 *) "out1\nou", 7, log);
  mr_line_framer_feed (&e, (const guint8 *) "er", 2, log);
  mr_line_framer_feed (&o, (const guint8 *) "t2\n", 3, log);
  mr_line_framer_feed (&e, (const guint8 *) "r1\n", 3, log);
  mr_line_framer_finish (&o, log);
  mr_line_framer_finish (&e, log);
  assert_bytes (log, OUT "out1\n" OUT "out2\n" ERR "err1\n");
  mr_line_framer_clear (&o);
  mr_line_framer_clear (&e);
}

static void
test_strip_whole (void)
{
  const char *log = OUT "hello\n" ERR "oops\n" OUT "\n";
  g_autoptr(GByteArray) out = mr_log_strip_markers ((const guint8 *) log, strlen (log));
  g_autoptr(GByteArray) lone = mr_log_strip_markers ((const guint8 *) "a\001b\002\002", 5);

  assert_bytes (out, "hello\noops\n\n");
  /* bytes that only look like the start of a marker are kept */
  assert_bytes (lone, "a\001b\002\002");
}

/* A marker split across two (or three) chunks is still removed, whatever the cut. */
static void
test_strip_split_markers (void)
{
  const char *log = OUT "hello\n" ERR "oops\n" OUT "x\n";
  gsize len = strlen (log);

  for (gsize cut1 = 0; cut1 <= len; cut1++)
    for (gsize cut2 = cut1; cut2 <= len; cut2++)
      {
        g_autoptr(GByteArray) out = g_byte_array_new ();
        MrMarkerStripper s;

        mr_marker_stripper_init (&s);
        mr_marker_stripper_feed (&s, (const guint8 *) log, cut1, out);
        mr_marker_stripper_feed (&s, (const guint8 *) log + cut1, cut2 - cut1, out);
        mr_marker_stripper_feed (&s, (const guint8 *) log + cut2, len - cut2, out);
        mr_marker_stripper_finish (&s, out);
        assert_bytes (out, "hello\noops\nx\n");
      }
}

/* Held bytes that turn out not to be a marker come out at the next chunk or the end. */
static void
test_strip_held_bytes (void)
{
  g_autoptr(GByteArray) out = g_byte_array_new ();
  MrMarkerStripper s;

  mr_marker_stripper_init (&s);
  mr_marker_stripper_feed (&s, (const guint8 *) "a\001\001", 3, out);
  assert_bytes (out, "a");
  mr_marker_stripper_feed (&s, (const guint8 *) "b", 1, out);
  assert_bytes (out, "a\001\001b");
  mr_marker_stripper_feed (&s, (const guint8 *) "\002", 1, out);
  assert_bytes (out, "a\001\001b");
  mr_marker_stripper_finish (&s, out);
  assert_bytes (out, "a\001\001b\002");
}

static void
test_demux (void)
{
  const char *log = "junk" OUT "hello\n" ERR "oops\n" OUT "world\n" ERR "\n";
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autoptr(GByteArray) err = g_byte_array_new ();
  g_autofree char *out_text = NULL, *err_text = NULL;

  mr_log_demux ((const guint8 *) log, strlen (log), out, err);
  out_text = to_string (out);
  err_text = to_string (err);
  /* bytes before the first marker belong to no stream */
  g_assert_cmpstr (out_text, ==, "hello\nworld\n");
  g_assert_cmpstr (err_text, ==, "oops\n\n");
}

/* Framing then demultiplexing gives back each stream's text (a final newline added). */
static void
test_frame_demux_roundtrip (void)
{
  const char *o = "line one\nline two\npartial";
  const char *e = "warning: x\n";
  g_autoptr(GByteArray) log = g_byte_array_new ();
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autoptr(GByteArray) err = g_byte_array_new ();

  mr_log_frame_text (MR_LOG_STDOUT, (const guint8 *) o, strlen (o), log);
  mr_log_frame_text (MR_LOG_STDERR, (const guint8 *) e, strlen (e), log);
  mr_log_demux (log->data, log->len, out, err);
  assert_bytes (out, "line one\nline two\npartial\n");
  assert_bytes (err, "warning: x\n");
}

static void
test_exit_code (void)
{
  int code = 12345;

  g_assert_true (mr_log_parse_exit_code ("0\n", 2, &code));
  g_assert_cmpint (code, ==, 0);
  g_assert_true (mr_log_parse_exit_code ("137", 3, &code));
  g_assert_cmpint (code, ==, 137);
  g_assert_true (mr_log_parse_exit_code ("-1\n\n", 4, &code));
  g_assert_cmpint (code, ==, -1);
  code = 7;
  g_assert_false (mr_log_parse_exit_code ("", 0, &code));
  g_assert_false (mr_log_parse_exit_code ("\n", 1, &code));
  g_assert_false (mr_log_parse_exit_code ("12x\n", 4, &code));
  g_assert_false (mr_log_parse_exit_code (" 1\n", 3, &code));
  g_assert_false (mr_log_parse_exit_code ("1 \n", 3, &code));
  g_assert_false (mr_log_parse_exit_code ("99999999999999\n", 15, &code));
  g_assert_cmpint (code, ==, 7);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/log-framing/framer/lines", test_framer_lines);
  g_test_add_func ("/log-framing/framer/chunking", test_framer_chunking);
  g_test_add_func ("/log-framing/framer/interleave", test_framer_interleave);
  g_test_add_func ("/log-framing/strip/whole", test_strip_whole);
  g_test_add_func ("/log-framing/strip/split-markers", test_strip_split_markers);
  g_test_add_func ("/log-framing/strip/held-bytes", test_strip_held_bytes);
  g_test_add_func ("/log-framing/demux", test_demux);
  g_test_add_func ("/log-framing/frame-demux-roundtrip", test_frame_demux_roundtrip);
  g_test_add_func ("/log-framing/exit-code", test_exit_code);
  return g_test_run ();
}
