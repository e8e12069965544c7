/* mr-http.c: replies in the runner's wire format. Error bodies follow the common-go
 * middleware: RFC 3339 timestamps with trimmed nanoseconds, Content-Type without charset. */
#include <string.h>

#include "mr-http.h"
#include "mr-error.h"

/**
 * mr_http_format_timestamp:
 * @time: (nullable): a time, or %NULL for now
 *
 * Formats like Go's time.RFC3339Nano in UTC: trailing zeros of the fraction are
 * dropped, and the dot too when the fraction is zero.
 *
 * Returns: (transfer full): e.g. "2025-12-04T16:49:15.123456Z"
 */
char *
mr_http_format_timestamp (GDateTime *time)
{
  g_autoptr(GDateTime) utc = time ? g_date_time_to_utc (time) : g_date_time_new_now_utc ();
  g_autofree char *base = g_date_time_format (utc, "%Y-%m-%dT%H:%M:%S");
  char fraction[16];
  int usec = g_date_time_get_microsecond (utc);
  int len;

  if (usec == 0)
    return g_strconcat (base, "Z", NULL);
  len = g_snprintf (fraction, sizeof fraction, ".%06d", usec);
  while (len > 1 && fraction[len - 1] == '0')
    fraction[--len] = '\0';
  return g_strconcat (base, fraction, "Z", NULL);
}

/* Go's encoding/json, behind Gin in the runners and the daemon, writes <, > and & as
 * \u003c, \u003e, \u0026, and U+2028, U+2029 as \u2028, \u2029. In JSON text these
 * can only occur inside strings, so one pass over the generated text is enough. */
static char *
escape_like_go (char *text)
{
  GString *out;

  if (strpbrk (text, "<>&") == NULL && strstr (text, "\xe2\x80\xa8") == NULL &&
      strstr (text, "\xe2\x80\xa9") == NULL)
    return text;
  out = g_string_sized_new (strlen (text) + 16);
  for (const char *c = text; *c; c++)
    {
      if (*c == '<' || *c == '>' || *c == '&')
        g_string_append_printf (out, "\\u%04x", (guint) *c);
      else if ((guchar) c[0] == 0xe2 && (guchar) c[1] == 0x80 && ((guchar) c[2] == 0xa8 || (guchar) c[2] == 0xa9))
        {
          g_string_append_printf (out, "\\u%04x", (guint) ((guchar) c[2] == 0xa8 ? 0x2028 : 0x2029));
          c += 2;
        }
      else
        g_string_append_c (out, *c);
    }
  g_free (text);
  return g_string_free (out, FALSE);
}

/**
 * mr_http_json_to_string:
 * @node: a JSON node
 *
 * Returns: (transfer full): compact JSON text, escaped as Go's encoder does
 */
char *
mr_http_json_to_string (JsonNode *node)
{
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  char *text;

  json_generator_set_root (gen, node);
  text = json_generator_to_data (gen, NULL);
  /* Strings can hold client bytes that are not UTF-8 (a path segment %FF decodes to
   * 0xFF), which json-glib copies as they are: the body would be no JSON. Go's encoder
   * writes U+FFFD for each invalid byte; so do we. */
  if (!g_utf8_validate (text, -1, NULL))
    {
      char *valid = g_utf8_make_valid (text, -1);
      g_free (text);
      text = valid;
    }
  return escape_like_go (text);
}

static void
set_body (SoupServerMessage *msg, guint status, const char *content_type, char *text, gsize len)
{
  soup_server_message_set_status (msg, status, NULL);
  if (status == SOUP_STATUS_NO_CONTENT || status == SOUP_STATUS_NOT_MODIFIED)
    g_free (text);
  else
    soup_server_message_set_response (msg, content_type, SOUP_MEMORY_TAKE, text, len);
}

/**
 * mr_http_reply_json:
 * @msg: the message
 * @status: HTTP status
 * @node: the body
 */
void
mr_http_reply_json (SoupServerMessage *msg, guint status, JsonNode *node)
{
  char *text = mr_http_json_to_string (node);

  set_body (msg, status, MR_JSON_CONTENT_TYPE, text, strlen (text));
}

/**
 * mr_http_reply_json_text: (skip)
 * @msg: the message
 * @status: HTTP status
 * @text: (transfer full): JSON text, e.g. from #MrJsonWriter
 * @len: its length
 */
void
mr_http_reply_json_text (SoupServerMessage *msg, guint status, char *text, gsize len)
{
  set_body (msg, status, MR_JSON_CONTENT_TYPE, text, len);
}

/**
 * mr_http_reply_json_string:
 * @msg: the message
 * @status: HTTP status
 * @text: the text; the body is this text as a JSON string literal, e.g. "Sandbox started"
 */
void
mr_http_reply_json_string (SoupServerMessage *msg, guint status, const char *text)
{
  g_autoptr(JsonNode) node = json_node_init_string (json_node_alloc (), text);

  mr_http_reply_json (msg, status, node);
}

/**
 * mr_http_reply_bytes:
 * @msg: the message
 * @status: HTTP status
 * @content_type: the Content-Type
 * @bytes: the body
 */
void
mr_http_reply_bytes (SoupServerMessage *msg, guint status, const char *content_type, GBytes *bytes)
{
  gsize len;
  gconstpointer data = g_bytes_get_data (bytes, &len);

  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, content_type, SOUP_MEMORY_COPY, data, len);
}

/**
 * mr_http_error_body:
 * @status: HTTP status
 * @code: the code field, e.g. "NOT_FOUND"
 * @message: the message field
 * @path: the path field
 * @method: the method field
 *
 * Returns: (transfer full): the common error body
 */
JsonNode *
mr_http_error_body (guint status, const char *code, const char *message, const char *path, const char *method)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autofree char *timestamp = mr_http_format_timestamp (NULL);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "statusCode");
  json_builder_add_int_value (b, status);
  json_builder_set_member_name (b, "message");
  json_builder_add_string_value (b, message);
  json_builder_set_member_name (b, "code");
  json_builder_add_string_value (b, code);
  json_builder_set_member_name (b, "timestamp");
  json_builder_add_string_value (b, timestamp);
  json_builder_set_member_name (b, "path");
  json_builder_add_string_value (b, path);
  json_builder_set_member_name (b, "method");
  json_builder_add_string_value (b, method);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/**
 * mr_http_reply_error_at:
 * @msg: the message
 * @status: HTTP status
 * @code: the code field
 * @message: the message field
 * @path: the path field (the path the client's peer sees)
 */
void
mr_http_reply_error_at (SoupServerMessage *msg, guint status, const char *code,
                        const char *message, const char *path)
{
  g_autoptr(JsonNode) body = mr_http_error_body (status, code, message, path,
                                                 soup_server_message_get_method (msg));
  char *text = mr_http_json_to_string (body);

  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, text, strlen (text));
}

/**
 * mr_http_reply_error:
 * @msg: the message
 * @status: HTTP status
 * @code: the code field
 * @message: the message field
 */
void
mr_http_reply_error (SoupServerMessage *msg, guint status, const char *code, const char *message)
{
  mr_http_reply_error_at (msg, status, code, message, g_uri_get_path (soup_server_message_get_uri (msg)));
}

/**
 * mr_http_reply_gerror:
 * @msg: the message
 * @error: the error; #MR_ERROR codes choose status, code and message prefix
 */
void
mr_http_reply_gerror (SoupServerMessage *msg, const GError *error)
{
  g_autofree char *message = g_strconcat (mr_error_message_prefix (error), error->message, NULL);

  mr_http_reply_error (msg, mr_error_http_status (error), mr_error_http_code (error), message);
}

/**
 * mr_http_client_ip:
 * @msg: the message
 *
 * Returns: (transfer none) (nullable): the peer's address as text
 */
const char *
mr_http_client_ip (SoupServerMessage *msg)
{
  return soup_server_message_get_remote_host (msg);
}

/**
 * mr_http_request_has_body: (skip)
 * @msg: a message whose request headers were read
 *
 * Returns: whether request body chunks may arrive: a Content-Length above zero, or a
 *   chunked body (a request without either has no body, RFC 9112 section 6.3)
 */
gboolean
mr_http_request_has_body (SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);

  switch (soup_message_headers_get_encoding (headers))
    {
    case SOUP_ENCODING_NONE:
      return FALSE;
    case SOUP_ENCODING_CONTENT_LENGTH:
      return soup_message_headers_get_content_length (headers) > 0;
    default:
      return TRUE;
    }
}

static void
restore_zero_length (SoupServerMessage *msg, gpointer unused)
{
  soup_message_headers_set_content_length (soup_server_message_get_response_headers (msg), 0);
}

/**
 * mr_http_keep_alive_without_body: (skip)
 * @msg: a message answered with 204 or 304
 *
 * libsoup 3.2 removes the Content-Length of a 204 (and a 304 has none), then takes the
 * reply for one that ends at EOF and closes the connection without saying so, under a
 * client that means to reuse it. A zero length put back once the headers are on the wire
 * keeps the connection open and leaves the bytes sent as they were.
 */
void
mr_http_keep_alive_without_body (SoupServerMessage *msg)
{
  g_signal_connect (msg, "wrote-headers", G_CALLBACK (restore_zero_length), NULL);
}

/**
 * mr_http_reply_bodiless: (skip)
 * @msg: the message
 * @status: 204 or 304
 *
 * A reply without a body, on a connection that stays usable.
 */
void
mr_http_reply_bodiless (SoupServerMessage *msg, guint status)
{
  soup_server_message_set_status (msg, status, NULL);
  mr_http_keep_alive_without_body (msg);
}

/**
 * mr_http_redirect: (skip)
 * @msg: the message
 * @location: where to, usually a path
 *
 * gin's trailing-slash redirect: 301 for GET, 307 otherwise (so the method and body are
 * kept), with @location as given (soup_server_message_set_redirect() would make it an
 * absolute URL of this server, wrong behind a proxy).
 */
void
mr_http_redirect (SoupServerMessage *msg, const char *location)
{
  const char *method = soup_server_message_get_method (msg);
  gboolean get = g_strcmp0 (method, "GET") == 0 || g_strcmp0 (method, "HEAD") == 0;

  soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
  soup_server_message_set_status (msg, get ? SOUP_STATUS_MOVED_PERMANENTLY : SOUP_STATUS_TEMPORARY_REDIRECT, NULL);
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Location", location);
}
