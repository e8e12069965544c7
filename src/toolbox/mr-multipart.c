/* mr-multipart.c: an incremental multipart/form-data parser (RFC 2046, RFC 7578).
 *
 * Every delimiter, the first included, is matched as "\r\n--boundary": the buffer starts
 * with a virtual "\r\n" so that a body opening with the delimiter needs no special case.
 * A match only counts when the next bytes are "--" (the close delimiter), transport
 * padding or a line end; otherwise, as in Go's reader, the bytes are part data. While a
 * part's data streams, the last (delimiter length - 1) bytes are held back because they
 * may be the start of a delimiter that the next chunk completes. */
#define _GNU_SOURCE
#include <string.h>

#include "mr-multipart.h"

#define MAX_HEADER_BYTES (64 * 1024)    /* one part's header block */
#define MAX_PADDING 256                 /* transport padding after a delimiter */

G_DEFINE_QUARK (mr-multipart-error-quark, mr_multipart_error)

typedef enum {
  STATE_PREAMBLE,
  STATE_AFTER_DELIMITER,
  STATE_HEADERS,
  STATE_BODY,
  STATE_DONE,
  STATE_FAILED,
} State;

struct _MrMultipartParser {
  MrMultipartCallbacks callbacks;
  gpointer user_data;
  char *delimiter;            /* "\r\n--" boundary */
  gsize delimiter_len;
  State state;
  GByteArray *buf;
  gsize pos;                  /* bytes of buf already consumed */
  gboolean in_part;
  gsize header_bytes;
  SoupMessageHeaders *headers;
  GString *header_name;       /* the header being read (continuation lines extend it) */
  GString *header_value;
};

/**
 * mr_multipart_parser_new: (skip)
 * @boundary: the boundary parameter of the body's Content-Type
 * @callbacks: what to call for each part
 * @user_data: passed to the callbacks
 */
MrMultipartParser *
mr_multipart_parser_new (const char *boundary, const MrMultipartCallbacks *callbacks, gpointer user_data)
{
  MrMultipartParser *p = g_new0 (MrMultipartParser, 1);

  p->callbacks = *callbacks;
  p->user_data = user_data;
  p->delimiter = g_strconcat ("\r\n--", boundary, NULL);
  p->delimiter_len = strlen (p->delimiter);
  p->state = STATE_PREAMBLE;
  p->buf = g_byte_array_new ();
  g_byte_array_append (p->buf, (const guint8 *) "\r\n", 2);
  p->header_name = g_string_new (NULL);
  p->header_value = g_string_new (NULL);
  return p;
}

void
mr_multipart_parser_free (MrMultipartParser *parser)
{
  if (parser == NULL)
    return;
  g_free (parser->delimiter);
  g_byte_array_unref (parser->buf);
  g_clear_pointer (&parser->headers, soup_message_headers_unref);
  g_string_free (parser->header_name, TRUE);
  g_string_free (parser->header_value, TRUE);
  g_free (parser);
}

static gboolean
fail (MrMultipartParser *p, GError **error, MrMultipartError code, const char *message)
{
  p->state = STATE_FAILED;
  g_set_error_literal (error, MR_MULTIPART_ERROR, code, message);
  return FALSE;
}

static gboolean
callback_failed (MrMultipartParser *p)
{
  p->state = STATE_FAILED;
  return FALSE;
}

static gboolean
emit_data (MrMultipartParser *p, const guint8 *data, gsize len, GError **error)
{
  if (len == 0 || p->callbacks.part_data == NULL)
    return TRUE;
  if (!p->callbacks.part_data (data, len, p->user_data, error))
    return callback_failed (p);
  return TRUE;
}

static gboolean
end_part (MrMultipartParser *p, GError **error)
{
  if (!p->in_part)
    return TRUE;
  p->in_part = FALSE;
  if (p->callbacks.part_end && !p->callbacks.part_end (p->user_data, error))
    return callback_failed (p);
  g_clear_pointer (&p->headers, soup_message_headers_unref);
  return TRUE;
}

typedef enum {
  MATCH_NONE,       /* no delimiter in the data */
  MATCH_PARTIAL,    /* a delimiter at *at whose meaning needs more bytes */
  MATCH_DATA,       /* the boundary string at *at is followed by other bytes: data */
  MATCH_DELIMITER,  /* a delimiter at *at */
} Match;

static Match
find_delimiter (MrMultipartParser *p, const guint8 *data, gsize len, gsize *at)
{
  const guint8 *hit = memmem (data, len, p->delimiter, p->delimiter_len);
  gsize after;

  if (hit == NULL)
    return MATCH_NONE;
  *at = hit - data;
  after = *at + p->delimiter_len;
  if (after + 2 > len)
    return MATCH_PARTIAL;
  if (data[after] == '-')
    return data[after + 1] == '-' ? MATCH_DELIMITER : MATCH_DATA;
  if (data[after] == ' ' || data[after] == '\t' || data[after] == '\r' || data[after] == '\n')
    return MATCH_DELIMITER;
  return MATCH_DATA;
}

/* Preamble or part data: everything up to the next delimiter. */
static gboolean
step_until_delimiter (MrMultipartParser *p, gboolean *progress, GError **error)
{
  const guint8 *data = p->buf->data + p->pos;
  gsize len = p->buf->len - p->pos;
  gboolean body = p->state == STATE_BODY;
  gsize at = 0, keep;

  switch (find_delimiter (p, data, len, &at))
    {
    case MATCH_DELIMITER:
      if (body && !emit_data (p, data, at, error))
        return FALSE;
      p->pos += at + p->delimiter_len;
      p->state = STATE_AFTER_DELIMITER;
      *progress = TRUE;
      return TRUE;
    case MATCH_DATA:
      /* not a delimiter: its first byte is data, search again after it */
      if (body && !emit_data (p, data, at + 1, error))
        return FALSE;
      p->pos += at + 1;
      *progress = TRUE;
      return TRUE;
    case MATCH_PARTIAL:
      if (body && !emit_data (p, data, at, error))
        return FALSE;
      p->pos += at;
      return TRUE;
    case MATCH_NONE:
    default:
      keep = MIN (len, p->delimiter_len - 1);
      if (body && !emit_data (p, data, len - keep, error))
        return FALSE;
      p->pos += len - keep;
      return TRUE;
    }
}

static gboolean
step_after_delimiter (MrMultipartParser *p, gboolean *progress, GError **error)
{
  const guint8 *data = p->buf->data + p->pos;
  gsize len = p->buf->len - p->pos;
  gsize i;

  if (len >= 2 && data[0] == '-' && data[1] == '-')
    {
      if (!end_part (p, error))
        return FALSE;
      p->state = STATE_DONE;
      p->pos = p->buf->len;
      *progress = TRUE;
      return TRUE;
    }
  for (i = 0; i < len && (data[i] == ' ' || data[i] == '\t'); i++)
    ;
  if (i > MAX_PADDING)
    return fail (p, error, MR_MULTIPART_ERROR_MALFORMED, "multipart: boundary line too long");
  if (i == len)
    return TRUE;
  if (data[i] == '\n')
    i += 1;
  else if (data[i] == '\r')
    {
      if (i + 1 == len)
        return TRUE;
      if (data[i + 1] != '\n')
        return fail (p, error, MR_MULTIPART_ERROR_MALFORMED, "multipart: expecting a new Part; got line ending without LF");
      i += 2;
    }
  else
    return fail (p, error, MR_MULTIPART_ERROR_MALFORMED, "multipart: expecting a new Part");

  if (!end_part (p, error))
    return FALSE;
  p->pos += i;
  p->state = STATE_HEADERS;
  p->header_bytes = 0;
  p->headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_MULTIPART);
  g_string_truncate (p->header_name, 0);
  *progress = TRUE;
  return TRUE;
}

static void
flush_header (MrMultipartParser *p)
{
  if (p->header_name->len == 0)
    return;
  g_strstrip (p->header_value->str);
  p->header_value->len = strlen (p->header_value->str);
  soup_message_headers_append (p->headers, p->header_name->str, p->header_value->str);
  g_string_truncate (p->header_name, 0);
  g_string_truncate (p->header_value, 0);
}

static gboolean
step_headers (MrMultipartParser *p, gboolean *progress, GError **error)
{
  const guint8 *data = p->buf->data + p->pos;
  gsize len = p->buf->len - p->pos;
  const guint8 *nl = memchr (data, '\n', len);
  gsize line_len;
  const char *colon;
  g_autofree char *line = NULL;

  if (nl == NULL)
    {
      if (p->header_bytes + len > MAX_HEADER_BYTES)
        return fail (p, error, MR_MULTIPART_ERROR_MALFORMED, "multipart: part headers too large");
      return TRUE;
    }
  line_len = nl - data;
  p->header_bytes += line_len + 1;
  if (p->header_bytes > MAX_HEADER_BYTES)
    return fail (p, error, MR_MULTIPART_ERROR_MALFORMED, "multipart: part headers too large");
  p->pos += line_len + 1;
  *progress = TRUE;
  if (line_len > 0 && data[line_len - 1] == '\r')
    line_len--;

  if (line_len == 0)
    {
      flush_header (p);
      p->state = STATE_BODY;
      p->in_part = TRUE;
      if (p->callbacks.part_begin && !p->callbacks.part_begin (p->headers, p->user_data, error))
        return callback_failed (p);
      return TRUE;
    }
  if (memchr (data, '\0', line_len))
    return fail (p, error, MR_MULTIPART_ERROR_MALFORMED, "malformed MIME header: NUL byte");
  line = g_strndup ((const char *) data, line_len);
  if (line[0] == ' ' || line[0] == '\t')
    {
      if (p->header_name->len == 0)
        return fail (p, error, MR_MULTIPART_ERROR_MALFORMED, "malformed MIME header initial line");
      g_string_append_c (p->header_value, ' ');
      g_string_append (p->header_value, g_strstrip (line));
      return TRUE;
    }
  flush_header (p);
  colon = strchr (line, ':');
  if (colon == NULL || colon == line)
    {
      g_set_error (error, MR_MULTIPART_ERROR, MR_MULTIPART_ERROR_MALFORMED, "malformed MIME header line: %s", line);
      p->state = STATE_FAILED;
      return FALSE;
    }
  g_string_append_len (p->header_name, line, colon - line);
  g_strstrip (p->header_name->str);
  p->header_name->len = strlen (p->header_name->str);
  if (p->header_name->len == 0 || strpbrk (p->header_name->str, " \t"))
    {
      g_set_error (error, MR_MULTIPART_ERROR, MR_MULTIPART_ERROR_MALFORMED, "malformed MIME header line: %s", line);
      p->state = STATE_FAILED;
      return FALSE;
    }
  g_string_assign (p->header_value, colon + 1);
  return TRUE;
}

/* Part data in the middle of a part streams to the callback without being copied into
 * the buffer first, which cost as much as the rest of an upload's parsing: when no
 * delimiter starts in the held-back tail or in @data, the tail and all of @data but a new
 * tail are part data. Returns FALSE, having done nothing, when that does not hold; the
 * general path then takes the chunk. */
static gboolean
feed_part_data (MrMultipartParser *p, const guint8 *data, gsize len, gboolean *ok, GError **error)
{
  guint8 seam[512];
  gsize tail = p->buf->len - p->pos;
  gsize head = MIN (len, p->delimiter_len + 1);
  gsize keep;
  const guint8 *hit;

  if (p->state != STATE_BODY || tail >= p->delimiter_len || len < p->delimiter_len + 2 ||
      tail + head > sizeof seam)
    return FALSE;
  /* a delimiter starting in the tail ends in the first bytes of @data */
  memcpy (seam, p->buf->data + p->pos, tail);
  memcpy (seam + tail, data, head);
  hit = memmem (seam, tail + head, p->delimiter, p->delimiter_len);
  if ((hit && (gsize) (hit - seam) < tail) || memmem (data, len, p->delimiter, p->delimiter_len))
    return FALSE;

  keep = p->delimiter_len - 1;
  *ok = emit_data (p, p->buf->data + p->pos, tail, error) && emit_data (p, data, len - keep, error);
  g_byte_array_set_size (p->buf, 0);
  g_byte_array_append (p->buf, data + len - keep, keep);
  p->pos = 0;
  return TRUE;
}

/**
 * mr_multipart_parser_feed: (skip)
 *
 * Parses the next @len bytes of the body. Returns %FALSE with @error set when the body
 * is malformed or a callback failed; the parser is unusable afterwards. Bytes after the
 * close delimiter (the epilogue) are ignored.
 */
gboolean
mr_multipart_parser_feed (MrMultipartParser *parser, const void *data, gsize len, GError **error)
{
  gboolean progress = TRUE;
  gboolean ok = TRUE;

  if (parser->state == STATE_FAILED)
    {
      g_set_error_literal (error, MR_MULTIPART_ERROR, MR_MULTIPART_ERROR_MALFORMED, "multipart: parser failed earlier");
      return FALSE;
    }
  if (parser->state == STATE_DONE)
    return TRUE;
  if (feed_part_data (parser, data, len, &ok, error))
    return ok;
  g_byte_array_append (parser->buf, data, len);

  while (ok && progress && parser->state != STATE_DONE)
    {
      progress = FALSE;
      switch (parser->state)
        {
        case STATE_PREAMBLE:
        case STATE_BODY:
          ok = step_until_delimiter (parser, &progress, error);
          break;
        case STATE_AFTER_DELIMITER:
          ok = step_after_delimiter (parser, &progress, error);
          break;
        case STATE_HEADERS:
          ok = step_headers (parser, &progress, error);
          break;
        case STATE_DONE:
        case STATE_FAILED:
        default:
          break;
        }
    }
  if (parser->state == STATE_DONE)
    g_byte_array_set_size (parser->buf, 0);
  else
    g_byte_array_remove_range (parser->buf, 0, parser->pos);
  parser->pos = 0;
  return ok;
}

/**
 * mr_multipart_parser_finish: (skip)
 *
 * The body has ended. Returns %FALSE (MR_MULTIPART_ERROR_TRUNCATED) unless the close
 * delimiter was seen. The message texts follow Go's reader: "multipart: NextPart: EOF"
 * when no delimiter was found at all, "unexpected EOF" when the body stops inside.
 */
gboolean
mr_multipart_parser_finish (MrMultipartParser *parser, GError **error)
{
  switch (parser->state)
    {
    case STATE_DONE:
      return TRUE;
    case STATE_FAILED:
      g_set_error_literal (error, MR_MULTIPART_ERROR, MR_MULTIPART_ERROR_MALFORMED, "multipart: parser failed earlier");
      return FALSE;
    case STATE_PREAMBLE:
      return fail (parser, error, MR_MULTIPART_ERROR_TRUNCATED, "multipart: NextPart: EOF");
    default:
      return fail (parser, error, MR_MULTIPART_ERROR_TRUNCATED, "unexpected EOF");
    }
}

/**
 * mr_multipart_parser_is_done: (skip)
 *
 * Whether the close delimiter has been seen.
 */
gboolean
mr_multipart_parser_is_done (MrMultipartParser *parser)
{
  return parser->state == STATE_DONE;
}

/**
 * mr_multipart_get_boundary: (skip)
 * @content_type: (nullable): a Content-Type header value
 *
 * Returns: (nullable): the boundary if @content_type is multipart/form-data (or
 *   multipart/mixed, which Go's reader also accepts) with a usable boundary, else %NULL
 */
char *
mr_multipart_get_boundary (const char *content_type)
{
  g_autoptr(SoupMessageHeaders) h = NULL;
  g_autoptr(GHashTable) params = NULL;
  const char *type;
  const char *boundary;

  if (content_type == NULL)
    return NULL;
  h = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);
  soup_message_headers_replace (h, "Content-Type", content_type);
  type = soup_message_headers_get_content_type (h, &params);
  if (type == NULL || (g_ascii_strcasecmp (type, "multipart/form-data") != 0 &&
                       g_ascii_strcasecmp (type, "multipart/mixed") != 0))
    return NULL;
  boundary = params ? g_hash_table_lookup (params, "boundary") : NULL;
  if (boundary == NULL || *boundary == '\0' || strlen (boundary) > 200 || strpbrk (boundary, "\r\n"))
    return NULL;
  return g_strdup (boundary);
}

/**
 * mr_multipart_part_get_param: (skip)
 * @headers: a part's headers
 * @param: a Content-Disposition parameter, e.g. "name" or "filename"
 *
 * Unlike soup_message_headers_get_content_disposition(), keeps a filename's directory
 * components: the toolbox clients put whole paths there.
 *
 * Returns: (nullable): the parameter's (unquoted, unescaped) value
 */
char *
mr_multipart_part_get_param (SoupMessageHeaders *headers, const char *param)
{
  const char *value = soup_message_headers_get_one (headers, "Content-Disposition");
  g_autoptr(GHashTable) params = NULL;
  const char *found;

  if (value == NULL)
    return NULL;
  params = soup_header_parse_semi_param_list (value);
  found = g_hash_table_lookup (params, param);
  return found ? g_strdup (found) : NULL;
}
