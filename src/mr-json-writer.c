/* mr-json-writer.c: compact JSON, the same text json-glib's generator writes for the
 * same members (no spaces; '"', '\\' and control characters escaped, other bytes as
 * they are), without a node tree, a builder or a generator object per reply.
 *
 * Commas come from the text itself: a value or a member follows a comma unless it
 * opens the container or follows a member name, so no nesting stack is needed. */
#include <string.h>

#include "mr-json-writer.h"

/**
 * mr_json_writer_init: (skip)
 * @w: a writer on the stack
 *
 * Starts an empty text; end with mr_json_writer_finish().
 */
void
mr_json_writer_init (MrJsonWriter *w)
{
  w->out = g_string_sized_new (128);
}

static void
separate (MrJsonWriter *w)
{
  char last = w->out->len ? w->out->str[w->out->len - 1] : '\0';

  if (last != '\0' && last != '{' && last != '[' && last != ':')
    g_string_append_c (w->out, ',');
}

/* control characters, '"', '\\' and DEL: one lookup per byte rather than four tests */
static const guint8 needs_escape[256] = {
  [0x00 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, [0x7f] = 1,
};

static void
append_escaped (GString *out, const char *s)
{
  static const char hex[] = "0123456789abcdef";
  const unsigned char *run = (const unsigned char *) s;
  const unsigned char *p;

  g_string_append_c (out, '"');
  for (p = run; *p; p++)
    {
      const char *escape;
      char unicode[7];

      if (G_LIKELY (!needs_escape[*p]))
        continue;   /* runs of plain bytes are copied at once */
      switch (*p)
        {
        case '"': escape = "\\\""; break;
        case '\\': escape = "\\\\"; break;
        case '\b': escape = "\\b"; break;
        case '\f': escape = "\\f"; break;
        case '\n': escape = "\\n"; break;
        case '\r': escape = "\\r"; break;
        case '\t': escape = "\\t"; break;
        default:
          memcpy (unicode, "\\u00", 4);
          unicode[4] = hex[*p >> 4];
          unicode[5] = hex[*p & 0xf];
          unicode[6] = '\0';
          escape = unicode;
        }
      g_string_append_len (out, (const char *) run, p - run);
      g_string_append (out, escape);
      run = p + 1;
    }
  g_string_append_len (out, (const char *) run, p - run);
  g_string_append_c (out, '"');
}

/**
 * mr_json_writer_begin_object: (skip)
 * @w: a writer
 */
void
mr_json_writer_begin_object (MrJsonWriter *w)
{
  separate (w);
  g_string_append_c (w->out, '{');
}

/**
 * mr_json_writer_end_object: (skip)
 * @w: a writer
 */
void
mr_json_writer_end_object (MrJsonWriter *w)
{
  g_string_append_c (w->out, '}');
}

/**
 * mr_json_writer_member: (skip)
 * @w: a writer inside an object
 * @name: the member's name; its value is written next
 */
void
mr_json_writer_member (MrJsonWriter *w, const char *name)
{
  separate (w);
  append_escaped (w->out, name);
  g_string_append_c (w->out, ':');
}

/**
 * mr_json_writer_string: (skip)
 * @w: a writer
 * @value: (nullable): the string, or %NULL for null
 */
void
mr_json_writer_string (MrJsonWriter *w, const char *value)
{
  separate (w);
  if (value)
    append_escaped (w->out, value);
  else
    g_string_append (w->out, "null");
}

/**
 * mr_json_writer_boolean: (skip)
 * @w: a writer
 * @value: the value
 */
void
mr_json_writer_boolean (MrJsonWriter *w, gboolean value)
{
  separate (w);
  g_string_append (w->out, value ? "true" : "false");
}

/**
 * mr_json_writer_int: (skip)
 * @w: a writer
 * @value: the value
 */
void
mr_json_writer_int (MrJsonWriter *w, gint64 value)
{
  separate (w);
  g_string_append_printf (w->out, "%" G_GINT64_FORMAT, value);
}

/**
 * mr_json_writer_member_string: (skip)
 * @w: a writer inside an object
 * @name: the member's name
 * @value: (nullable): its value, or %NULL for null
 */
void
mr_json_writer_member_string (MrJsonWriter *w, const char *name, const char *value)
{
  mr_json_writer_member (w, name);
  mr_json_writer_string (w, value);
}

/**
 * mr_json_writer_finish: (skip)
 * @w: a writer
 * @length: (out) (optional): the length of the text
 *
 * Returns: (transfer full): the text; @w is empty afterwards
 */
char *
mr_json_writer_finish (MrJsonWriter *w, gsize *length)
{
  if (length)
    *length = w->out->len;
  return g_string_free (g_steal_pointer (&w->out), FALSE);
}
