/* mr-log-framing.c: line framing, marker stripping, demultiplexing and exit-code
 * parsing of session logs. Pure functions, unit-tested in tests/c/test-log-framing.c. */
#include <string.h>

#include "mr-log-framing.h"

static const guint8 *
marker_for (MrLogStream stream)
{
  return (const guint8 *) (stream == MR_LOG_STDERR ? MR_LOG_STDERR_MARKER : MR_LOG_STDOUT_MARKER);
}

void
mr_line_framer_init (MrLineFramer *framer, MrLogStream stream)
{
  framer->stream = stream;
  framer->partial = g_byte_array_new ();
}

void
mr_line_framer_clear (MrLineFramer *framer)
{
  g_clear_pointer (&framer->partial, g_byte_array_unref);
}

static void
emit_line (MrLogStream stream, const guint8 *head, gsize head_len,
           const guint8 *tail, gsize tail_len, GByteArray *out)
{
  static const guint8 newline = '\n';

  g_byte_array_append (out, marker_for (stream), MR_LOG_MARKER_LEN);
  if (head_len)
    g_byte_array_append (out, head, head_len);
  if (tail_len)
    g_byte_array_append (out, tail, tail_len);
  g_byte_array_append (out, &newline, 1);
}

/**
 * mr_line_framer_feed: (skip)
 *
 * Appends to @out every line of @data completed by a "\n" (with the partial line held
 * from earlier chunks in front), framed with the stream's marker; keeps the rest.
 * Lines are written whole, so lines of two framers appended to one log never mix.
 */
void
mr_line_framer_feed (MrLineFramer *framer, const guint8 *data, gsize len, GByteArray *out)
{
  while (len > 0)
    {
      const guint8 *nl = memchr (data, '\n', len);
      gsize n;

      if (nl == NULL)
        {
          g_byte_array_append (framer->partial, data, len);
          return;
        }
      n = nl - data;
      emit_line (framer->stream, framer->partial->data, framer->partial->len, data, n, out);
      g_byte_array_set_size (framer->partial, 0);
      data += n + 1;
      len -= n + 1;
    }
}

/**
 * mr_line_framer_finish: (skip)
 *
 * At the end of the stream: a partial line is written with the "\n" it lacked.
 */
void
mr_line_framer_finish (MrLineFramer *framer, GByteArray *out)
{
  if (framer->partial->len == 0)
    return;
  emit_line (framer->stream, framer->partial->data, framer->partial->len, NULL, 0, out);
  g_byte_array_set_size (framer->partial, 0);
}

/**
 * mr_log_frame_text: (skip)
 *
 * Frames a whole text at once (every line, the last one ended if it is not).
 */
void
mr_log_frame_text (MrLogStream stream, const guint8 *data, gsize len, GByteArray *out)
{
  MrLineFramer framer;

  mr_line_framer_init (&framer, stream);
  mr_line_framer_feed (&framer, data, len, out);
  mr_line_framer_finish (&framer, out);
  mr_line_framer_clear (&framer);
}

void
mr_marker_stripper_init (MrMarkerStripper *stripper)
{
  stripper->n_held = 0;
}

static gboolean
is_marker_byte (guint8 b)
{
  return b == 1 || b == 2;
}

/* Whether data[0..n) (n < marker length) could be the start of a marker. */
static gboolean
is_marker_prefix (const guint8 *data, gsize n)
{
  for (gsize i = 0; i < n; i++)
    if (!is_marker_byte (data[i]) || data[i] != data[0])
      return FALSE;
  return n > 0;
}

static void
strip (MrMarkerStripper *stripper, const guint8 *data, gsize len, gboolean final, GByteArray *out)
{
  gsize i = 0;

  while (i < len)
    {
      gsize rest = len - i;

      if (is_marker_byte (data[i]))
        {
          if (rest >= MR_LOG_MARKER_LEN && data[i + 1] == data[i] && data[i + 2] == data[i])
            {
              i += MR_LOG_MARKER_LEN;
              continue;
            }
          if (!final && rest < MR_LOG_MARKER_LEN && is_marker_prefix (data + i, rest))
            {
              memcpy (stripper->held, data + i, rest);
              stripper->n_held = rest;
              return;
            }
        }
      g_byte_array_append (out, data + i, 1);
      i++;
    }
}

/**
 * mr_marker_stripper_feed: (skip)
 *
 * Appends @data without markers to @out; a possible marker start at the end is held
 * until the next chunk.
 */
void
mr_marker_stripper_feed (MrMarkerStripper *stripper, const guint8 *data, gsize len, GByteArray *out)
{
  if (stripper->n_held > 0)
    {
      g_autoptr(GByteArray) joined = g_byte_array_sized_new (stripper->n_held + len);
      g_byte_array_append (joined, stripper->held, stripper->n_held);
      g_byte_array_append (joined, data, len);
      stripper->n_held = 0;
      strip (stripper, joined->data, joined->len, FALSE, out);
      return;
    }
  strip (stripper, data, len, FALSE, out);
}

/**
 * mr_marker_stripper_finish: (skip)
 *
 * At the end of the stream: held bytes were not a marker after all.
 */
void
mr_marker_stripper_finish (MrMarkerStripper *stripper, GByteArray *out)
{
  if (stripper->n_held > 0)
    g_byte_array_append (out, stripper->held, stripper->n_held);
  stripper->n_held = 0;
}

/**
 * mr_log_strip_markers: (skip)
 *
 * Returns: (transfer full): @data without its markers
 */
GByteArray *
mr_log_strip_markers (const guint8 *data, gsize len)
{
  GByteArray *out = g_byte_array_sized_new (len);
  MrMarkerStripper stripper;

  mr_marker_stripper_init (&stripper);
  strip (&stripper, data, len, TRUE, out);
  return out;
}

static MrLogStream
marker_at (const guint8 *data, gsize len, gsize i)
{
  if (i + MR_LOG_MARKER_LEN > len)
    return 0;
  if (memcmp (data + i, MR_LOG_STDOUT_MARKER, MR_LOG_MARKER_LEN) == 0)
    return MR_LOG_STDOUT;
  if (memcmp (data + i, MR_LOG_STDERR_MARKER, MR_LOG_MARKER_LEN) == 0)
    return MR_LOG_STDERR;
  return 0;
}

/**
 * mr_log_demux: (skip)
 *
 * Each marker switches the current stream; the bytes up to the next marker belong to
 * it. Bytes before the first marker belong to no stream and are dropped.
 */
void
mr_log_demux (const guint8 *data, gsize len, GByteArray *out_stdout, GByteArray *out_stderr)
{
  MrLogStream current = 0;
  gsize i = 0;

  while (i < len)
    {
      MrLogStream m = marker_at (data, len, i);
      gsize start;

      if (m)
        {
          current = m;
          i += MR_LOG_MARKER_LEN;
          continue;
        }
      start = i;
      while (i < len && marker_at (data, len, i) == 0)
        i++;
      if (current == MR_LOG_STDOUT)
        g_byte_array_append (out_stdout, data + start, i - start);
      else if (current == MR_LOG_STDERR)
        g_byte_array_append (out_stderr, data + start, i - start);
    }
}

/**
 * mr_log_parse_exit_code: (skip)
 *
 * Parses the content of an exit_code file: a decimal integer with an optional sign,
 * trailing newlines removed, nothing else.
 */
gboolean
mr_log_parse_exit_code (const char *text, gsize len, int *exit_code)
{
  g_autofree char *copy = NULL;
  gint64 value;
  char *end = NULL;

  while (len > 0 && text[len - 1] == '\n')
    len--;
  if (len == 0 || len > 20)
    return FALSE;
  copy = g_strndup (text, len);
  if (strlen (copy) != len || g_ascii_isspace (copy[0]))
    return FALSE;
  value = g_ascii_strtoll (copy, &end, 10);
  if (end == copy || *end != '\0' || value < G_MININT || value > G_MAXINT)
    return FALSE;
  *exit_code = (int) value;
  return TRUE;
}

/**
 * mr_log_to_utf8: (skip)
 *
 * Returns: (transfer full): @data as valid UTF-8, invalid sequences and NUL bytes
 *   replaced by U+FFFD
 */
char *
mr_log_to_utf8 (const guint8 *data, gsize len)
{
  if (len == 0)
    return g_strdup ("");
  return g_utf8_make_valid ((const char *) data, (gssize) len);
}
