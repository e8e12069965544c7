/* mr-forward-tunnel.c: WebSocket (and any other Upgrade) requests.
 *
 * The handshake is sent to the upstream on a connection of our own, as the client sent
 * it (minus what a proxy must not pass on). If the upstream switches protocols, its 101
 * goes back to the client and from then on the two connections are spliced: raw bytes
 * both ways, as Go's reverse proxy does in the real runner. Relaying bytes rather than
 * frames keeps everything the two ends negotiated (subprotocol, extensions such as
 * permessage-deflate, fragmentation, ping/pong, close codes and reasons) exactly as they
 * agreed it, with nothing to translate. If the upstream answers anything else, that
 * answer is relayed as an ordinary response. */
#include <string.h>

#include "mr-forward-private.h"
#include "mr-http.h"
#include "mr-error.h"
#include "mr-util.h"

#define MAX_HEAD (64 * 1024)
#define MAX_BODY (8 * 1024 * 1024)
#define LINGER_MS 5000

typedef enum {
  BODY_LENGTH,
  BODY_CHUNK_SIZE,
  BODY_CHUNK_DATA,
  BODY_CHUNK_END,
  BODY_TRAILER,
  BODY_TO_EOF,
} BodyState;

typedef struct {
  GSocketClient *client;
  GSocketConnection *upstream;
  GDataInputStream *up_in;
  char *host_port;
  char *base_path;               /* a path the upstream URL has, e.g. "/toolbox" ("" if none) */
  GString *head;
  SoupMessageHeaders *headers;
  guint status;
  char *reason;
  /* a non-101 answer */
  BodyState body_state;
  goffset remaining;
  GByteArray *body;
  /* the spliced connections */
  GBytes *early;                 /* what the upstream sent right after its 101 */
  GIOStream *client_stream;
  GSocket *client_socket;
  guint splices;
  GSource *linger;
} Tunnel;

static void
tunnel_free (gpointer data)
{
  Tunnel *t = data;

  mr_source_clear (&t->linger);
  g_clear_object (&t->client);
  if (t->upstream)
    g_io_stream_close (G_IO_STREAM (t->upstream), NULL, NULL);
  g_clear_object (&t->upstream);
  g_clear_object (&t->up_in);
  if (t->client_stream)
    g_io_stream_close (t->client_stream, NULL, NULL);
  g_clear_object (&t->client_stream);
  g_clear_object (&t->client_socket);
  g_free (t->host_port);
  g_free (t->base_path);
  if (t->head)
    g_string_free (t->head, TRUE);
  g_clear_pointer (&t->headers, soup_message_headers_unref);
  g_free (t->reason);
  g_clear_pointer (&t->body, g_byte_array_unref);
  g_clear_pointer (&t->early, g_bytes_unref);
  g_free (t);
}

static Tunnel *
tunnel_of (MrForward *fwd)
{
  return fwd->mode_data;
}

static void
tunnel_error (MrForward *fwd, const char *what, const GError *error)
{
  g_autoptr(GError) e = g_error_new (G_IO_ERROR, error ? error->code : G_IO_ERROR_FAILED, "%s%s%s", what,
                                     error ? ": " : "", error ? error->message : "");

  if (error && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  mr_forward_upstream_failed (fwd, e);
}

/* After the 101 ------------------------------------------------------------------------- */

static void
close_both (MrForward *fwd)
{
  Tunnel *t = tunnel_of (fwd);

  mr_source_clear (&t->linger);
  if (t->client_stream)
    g_io_stream_close (t->client_stream, NULL, NULL);
  if (t->upstream)
    g_io_stream_close (G_IO_STREAM (t->upstream), NULL, NULL);
}

static gboolean
on_linger_over (gpointer data)
{
  MrForward *fwd = data;

  g_cancellable_cancel (fwd->cancellable);
  close_both (fwd);
  return G_SOURCE_REMOVE;
}

static void
on_spliced (GObject *source, GAsyncResult *result, gpointer data)
{
  MrForward *fwd = data;
  Tunnel *t = tunnel_of (fwd);
  g_autoptr(GError) error = NULL;
  gboolean to_upstream = source == G_OBJECT (g_io_stream_get_output_stream (G_IO_STREAM (t->upstream)));

  if (g_output_stream_splice_finish (G_OUTPUT_STREAM (source), result, &error) < 0 &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED))
    g_debug ("tunnel %s%s: %s", fwd->base_url, fwd->target, error->message);

  if (--t->splices == 0)
    {
      close_both (fwd);
      mr_forward_finish (fwd);
    }
  else if (error == NULL)
    {
      /* One side is done sending: tell the other (half close) and give the remaining
       * direction a moment to deliver what is in flight, such as a close frame. */
      GSocket *peer = to_upstream ? g_socket_connection_get_socket (t->upstream) : t->client_socket;
      if (peer)
        g_socket_shutdown (peer, FALSE, TRUE, NULL);
      t->linger = mr_timeout_add (LINGER_MS, on_linger_over, fwd);
    }
  else
    {
      g_cancellable_cancel (fwd->cancellable);
      close_both (fwd);
    }
  mr_forward_unref (fwd);
}

static void
tunnel_stop (MrForward *fwd)
{
  g_cancellable_cancel (fwd->cancellable);
  close_both (fwd);
}

static void
splice_from_upstream (MrForward *fwd)
{
  Tunnel *t = tunnel_of (fwd);

  /* from the socket's own stream: a buffered stream in a splice can lose what it holds */
  g_output_stream_splice_async (g_io_stream_get_output_stream (t->client_stream),
                                g_io_stream_get_input_stream (G_IO_STREAM (t->upstream)),
                                G_OUTPUT_STREAM_SPLICE_NONE, G_PRIORITY_DEFAULT, fwd->cancellable,
                                on_spliced, mr_forward_ref (fwd));
}

static void
on_early_written (GObject *source, GAsyncResult *result, gpointer data)
{
  MrForward *fwd = data;
  g_autoptr(GError) error = NULL;

  if (g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    splice_from_upstream (fwd);
  else
    {
      /* counts as the end of the upstream-to-client direction */
      Tunnel *t = tunnel_of (fwd);
      g_cancellable_cancel (fwd->cancellable);
      close_both (fwd);
      if (--t->splices == 0)
        mr_forward_finish (fwd);
    }
  mr_forward_unref (fwd);
}

static void
on_switched (SoupServerMessage *msg, gpointer data)
{
  MrForward *fwd = data;
  Tunnel *t = tunnel_of (fwd);
  GSocket *socket;

  g_signal_handlers_disconnect_by_func (msg, on_switched, data);
  if (soup_server_message_get_status (msg) != SOUP_STATUS_SWITCHING_PROTOCOLS || fwd->done)
    return;
  socket = soup_server_message_get_socket (msg);
  t->client_socket = socket ? g_object_ref (socket) : NULL;
  g_object_ref (msg);
  t->client_stream = soup_server_message_steal_connection (msg);
  g_object_unref (msg);
  /* the message is over; the tunnel lives on, until a side closes or the owner stops it */
  mr_forward_release_message (fwd);
  fwd->stop = tunnel_stop;
  if (t->client_stream == NULL)
    {
      mr_forward_finish (fwd);
      return;
    }
  t->splices = 2;
  g_output_stream_splice_async (g_io_stream_get_output_stream (G_IO_STREAM (t->upstream)),
                                g_io_stream_get_input_stream (t->client_stream),
                                G_OUTPUT_STREAM_SPLICE_NONE, G_PRIORITY_DEFAULT, fwd->cancellable,
                                on_spliced, mr_forward_ref (fwd));
  /* What the upstream sent with its 101 (a first frame, often) was read into the
   * handshake's buffer: it goes first, then the socket is spliced as it is. */
  if (t->early && g_bytes_get_size (t->early) > 0)
    g_output_stream_write_all_async (g_io_stream_get_output_stream (t->client_stream),
                                     g_bytes_get_data (t->early, NULL), g_bytes_get_size (t->early),
                                     G_PRIORITY_DEFAULT, fwd->cancellable, on_early_written, mr_forward_ref (fwd));
  else
    splice_from_upstream (fwd);
}

static void
relay_switch (MrForward *fwd)
{
  Tunnel *t = tunnel_of (fwd);

  soup_server_message_set_status (fwd->msg, SOUP_STATUS_SWITCHING_PROTOCOLS, t->reason);
  mr_forward_copy_response_headers (fwd, t->headers, t->status, TRUE);
  /* mr_forward_finish() drops the exchange's reference only after the splices end */
  g_signal_connect (fwd->msg, "wrote-informational", G_CALLBACK (on_switched), fwd);
  mr_forward_respond (fwd);
}

/* Any other answer --------------------------------------------------------------------- */

static void read_body (MrForward *fwd);

static void
relay_answer (MrForward *fwd)
{
  Tunnel *t = tunnel_of (fwd);
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (fwd->msg);
  SoupMessageBody *body = soup_server_message_get_response_body (fwd->msg);

  soup_server_message_set_status (fwd->msg, t->status, t->reason);
  mr_forward_copy_response_headers (fwd, t->headers, t->status, FALSE);
  soup_message_body_truncate (body);
  soup_message_body_append (body, SOUP_MEMORY_COPY, t->body->data, t->body->len);
  soup_message_headers_set_content_length (headers, t->body->len);
  if (t->status == SOUP_STATUS_NO_CONTENT || t->status == SOUP_STATUS_NOT_MODIFIED)
    mr_http_keep_alive_without_body (fwd->msg);
  mr_forward_respond (fwd);
  g_io_stream_close (G_IO_STREAM (t->upstream), NULL, NULL);
}

static void
on_body_line (GObject *source, GAsyncResult *result, gpointer data)
{
  MrForward *fwd = data;
  Tunnel *t = tunnel_of (fwd);
  g_autoptr(GError) error = NULL;
  g_autofree char *line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), result, NULL, &error);

  if (fwd->done)
    goto out;
  if (line == NULL)
    {
      tunnel_error (fwd, "the upstream broke off its answer", error);
      goto out;
    }
  g_strchomp (line);
  switch (t->body_state)
    {
    case BODY_CHUNK_SIZE:
      {
        guint64 size;
        char *end = strchr (line, ';');
        if (end)
          *end = '\0';
        if (!g_ascii_string_to_unsigned (line, 16, 0, MAX_BODY, &size, NULL))
          {
            tunnel_error (fwd, "the upstream sent a bad chunk size", NULL);
            goto out;
          }
        t->remaining = size;
        t->body_state = size ? BODY_CHUNK_DATA : BODY_TRAILER;
        break;
      }
    case BODY_CHUNK_END:
      t->body_state = BODY_CHUNK_SIZE;
      break;
    case BODY_TRAILER:
      if (*line == '\0')
        {
          relay_answer (fwd);
          goto out;
        }
      break;
    default:
      g_assert_not_reached ();
    }
  read_body (fwd);
out:
  mr_forward_unref (fwd);
}

static void
on_body_bytes (GObject *source, GAsyncResult *result, gpointer data)
{
  MrForward *fwd = data;
  Tunnel *t = tunnel_of (fwd);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result, &error);
  gsize size;
  gconstpointer chunk;

  if (fwd->done)
    goto out;
  if (bytes == NULL)
    {
      tunnel_error (fwd, "the upstream broke off its answer", error);
      goto out;
    }
  chunk = g_bytes_get_data (bytes, &size);
  if (size == 0)
    {
      if (t->body_state == BODY_TO_EOF)
        relay_answer (fwd);
      else
        tunnel_error (fwd, "the upstream closed the connection in the middle of its answer", NULL);
      goto out;
    }
  if (t->body->len + size > MAX_BODY)
    {
      tunnel_error (fwd, "the upstream's answer to an upgrade request is too large", NULL);
      goto out;
    }
  g_byte_array_append (t->body, chunk, size);
  if (t->body_state != BODY_TO_EOF)
    {
      t->remaining -= size;
      if (t->remaining == 0)
        {
          if (t->body_state == BODY_LENGTH)
            {
              relay_answer (fwd);
              goto out;
            }
          t->body_state = BODY_CHUNK_END;
        }
    }
  read_body (fwd);
out:
  mr_forward_unref (fwd);
}

static void
read_body (MrForward *fwd)
{
  Tunnel *t = tunnel_of (fwd);

  switch (t->body_state)
    {
    case BODY_LENGTH:
    case BODY_CHUNK_DATA:
      g_input_stream_read_bytes_async (G_INPUT_STREAM (t->up_in), MIN (t->remaining, 64 * 1024), G_PRIORITY_DEFAULT,
                                       fwd->cancellable, on_body_bytes, mr_forward_ref (fwd));
      break;
    case BODY_TO_EOF:
      g_input_stream_read_bytes_async (G_INPUT_STREAM (t->up_in), 64 * 1024, G_PRIORITY_DEFAULT,
                                       fwd->cancellable, on_body_bytes, mr_forward_ref (fwd));
      break;
    default:
      g_data_input_stream_read_line_async (t->up_in, G_PRIORITY_DEFAULT, fwd->cancellable,
                                           on_body_line, mr_forward_ref (fwd));
    }
}

static void
start_body (MrForward *fwd)
{
  Tunnel *t = tunnel_of (fwd);
  const char *method = soup_server_message_get_method (fwd->msg);

  t->body = g_byte_array_new ();
  if (strcmp (method, "HEAD") == 0 || t->status == SOUP_STATUS_NO_CONTENT || t->status == SOUP_STATUS_NOT_MODIFIED ||
      (t->status >= 100 && t->status < 200))
    {
      relay_answer (fwd);
      return;
    }
  switch (soup_message_headers_get_encoding (t->headers))
    {
    case SOUP_ENCODING_CONTENT_LENGTH:
      t->remaining = soup_message_headers_get_content_length (t->headers);
      if (t->remaining > MAX_BODY)
        {
          tunnel_error (fwd, "the upstream's answer to an upgrade request is too large", NULL);
          return;
        }
      if (t->remaining == 0)
        {
          relay_answer (fwd);
          return;
        }
      t->body_state = BODY_LENGTH;
      break;
    case SOUP_ENCODING_CHUNKED:
      t->body_state = BODY_CHUNK_SIZE;
      break;
    default:
      t->body_state = BODY_TO_EOF;
    }
  read_body (fwd);
}

/* The handshake --------------------------------------------------------------------- */

static void
on_head_line (GObject *source, GAsyncResult *result, gpointer data)
{
  MrForward *fwd = data;
  Tunnel *t = tunnel_of (fwd);
  g_autoptr(GError) error = NULL;
  g_autofree char *line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), result, NULL, &error);
  SoupHTTPVersion version;

  if (fwd->done)
    goto out;
  if (line == NULL)
    {
      tunnel_error (fwd, error ? "cannot read the upstream's answer" : "the upstream closed the connection", error);
      goto out;
    }
  g_strchomp (line);
  if (*line != '\0')
    {
      g_string_append_printf (t->head, "%s\r\n", line);
      if (t->head->len > MAX_HEAD)
        tunnel_error (fwd, "the upstream's answer headers are too large", NULL);
      else
        g_data_input_stream_read_line_async (t->up_in, G_PRIORITY_DEFAULT, fwd->cancellable,
                                             on_head_line, mr_forward_ref (fwd));
      goto out;
    }
  g_string_append (t->head, "\r\n");
  t->headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_RESPONSE);
  if (!soup_headers_parse_response (t->head->str, t->head->len, t->headers, &version, &t->status, &t->reason))
    {
      tunnel_error (fwd, "the upstream's answer is not HTTP", NULL);
      goto out;
    }
  if (t->status == SOUP_STATUS_SWITCHING_PROTOCOLS)
    {
      gsize n = 0;
      const void *early = g_buffered_input_stream_peek_buffer (G_BUFFERED_INPUT_STREAM (t->up_in), &n);
      t->early = g_bytes_new (early, n);
      relay_switch (fwd);
    }
  else
    start_body (fwd);
out:
  mr_forward_unref (fwd);
}

static void
on_head_written (GObject *source, GAsyncResult *result, gpointer data)
{
  MrForward *fwd = data;
  Tunnel *t = tunnel_of (fwd);
  g_autoptr(GError) error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    tunnel_error (fwd, "cannot send the handshake upstream", error);
  else if (!fwd->done)
    g_data_input_stream_read_line_async (t->up_in, G_PRIORITY_DEFAULT, fwd->cancellable,
                                         on_head_line, mr_forward_ref (fwd));
  mr_forward_unref (fwd);
}

static void
on_connected (GObject *source, GAsyncResult *result, gpointer data)
{
  MrForward *fwd = data;
  Tunnel *t = tunnel_of (fwd);
  g_autoptr(GError) error = NULL;
  g_autoptr(SoupMessageHeaders) headers = NULL;
  SoupMessageHeadersIter iter;
  const char *name, *value;
  GString *head;
  gsize len;
  char *text;

  t->upstream = g_socket_client_connect_to_host_finish (G_SOCKET_CLIENT (source), result, &error);
  if (fwd->done)
    goto out;
  if (t->upstream == NULL)
    {
      tunnel_error (fwd, t->host_port, error);
      goto out;
    }
  /* the client's connect timeout must not become an idle timeout on the tunnel */
  g_socket_set_timeout (g_socket_connection_get_socket (t->upstream), 0);

  headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);
  mr_forward_copy_request_headers (fwd, headers, TRUE);
  head = g_string_new (NULL);
  g_string_append_printf (head, "%s %s%s HTTP/1.1\r\nHost: %s\r\n", soup_server_message_get_method (fwd->msg),
                          t->base_path, fwd->target, t->host_port);
  soup_message_headers_iter_init (&iter, headers);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    g_string_append_printf (head, "%s: %s\r\n", name, value);
  g_string_append (head, "\r\n");
  len = head->len;
  text = g_string_free (head, FALSE);
  g_object_set_data_full (G_OBJECT (t->upstream), "mr-handshake", text, g_free);

  t->up_in = g_data_input_stream_new (g_io_stream_get_input_stream (G_IO_STREAM (t->upstream)));
  g_data_input_stream_set_newline_type (t->up_in, G_DATA_STREAM_NEWLINE_TYPE_LF);
  g_filter_input_stream_set_close_base_stream (G_FILTER_INPUT_STREAM (t->up_in), FALSE);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (t->upstream)), text, len,
                                   G_PRIORITY_DEFAULT, fwd->cancellable, on_head_written, mr_forward_ref (fwd));
out:
  mr_forward_unref (fwd);
}

void
mr_forward_start_tunnel (MrForward *fwd)
{
  Tunnel *t = g_new0 (Tunnel, 1);
  g_autoptr(GUri) uri = g_uri_parse (fwd->base_url, G_URI_FLAGS_NONE, NULL);
  int port;

  fwd->mode_data = t;
  fwd->mode_data_free = tunnel_free;
  t->head = g_string_new (NULL);
  soup_message_body_set_accumulate (soup_server_message_get_request_body (fwd->msg), FALSE);
  if (uri == NULL || g_uri_get_host (uri) == NULL)
    {
      g_autoptr(GError) error = g_error_new (MR_ERROR, MR_ERROR_CONFIG, "invalid upstream URL %s", fwd->base_url);
      tunnel_error (fwd, "cannot forward", error);
      return;
    }
  port = g_uri_get_port (uri) > 0 ? g_uri_get_port (uri) : 80;
  t->base_path = g_strdup (g_uri_get_path (uri));
  if (g_str_has_suffix (t->base_path, "/"))
    t->base_path[strlen (t->base_path) - 1] = '\0';
  t->host_port = strchr (g_uri_get_host (uri), ':') ? g_strdup_printf ("[%s]:%d", g_uri_get_host (uri), port)
                                                    : g_strdup_printf ("%s:%d", g_uri_get_host (uri), port);
  t->client = g_socket_client_new ();
  g_socket_client_set_enable_proxy (t->client, FALSE);
  g_socket_client_set_timeout (t->client, 30);
  g_socket_client_connect_to_host_async (t->client, t->host_port, 80, fwd->cancellable, on_connected,
                                         mr_forward_ref (fwd));
}
