/* mr-body-takeover.c: a request body read off libsoup's connection, in a thread of its own.
 *
 * Why: libsoup 3.2 reads a request body 8 KiB at a time on the server thread, copying each
 * piece into a new GBytes for "got-chunk"; every small read also sends the client a TCP
 * window update, whose softirq work (the client's next transmit, on loopback) lands on the
 * server thread too. An upload then costs about 0.9 s of server-thread CPU per GiB
 * (docs/performance.md). Here the route takes the connection over once the headers are
 * read and a thread reads the body in 1 MiB reads straight into the buffer the route
 * consumes, so the bytes are copied once, from the socket, and the server thread is free.
 *
 * How, for an HTTP/1.x body with a Content-Length (anything else stays with libsoup):
 *  - when the headers arrive the message is paused, and the connection is stolen from an
 *    idle callback: stealing inside got-headers would leave libsoup's I/O loop running on
 *    freed state. The stolen stream is libsoup's own, whose buffered input still holds the
 *    body bytes read along with the headers, so they come out first;
 *  - "Expect: 100-continue" is answered here, since libsoup no longer will;
 *  - each buffer read is also emitted as "got-chunk" on the server thread (the journal
 *    counts the body size from it), and goes back to the reading thread once emitted;
 *  - at the end the route sets its reply on the message as usual; the server's
 *    request-finished (or request-aborted, when the client went away mid-body) is emitted,
 *    which libsoup never does for a stolen connection (the runner's journal, metrics and
 *    log follow it); then the reply is written, without blocking, in libsoup's format with
 *    "Connection: close" (the connection is no longer libsoup's to keep alive), and the
 *    stream is closed. */
#include <string.h>

#include "mr-body-takeover.h"
#include "mr-util.h"

#define BUFFER_SIZE (1024 * 1024)
#define N_BUFFERS 3                  /* one being read, one being emitted, one spare */
/* Smaller bodies stay with libsoup, on a connection kept alive: at this size its 8 KiB
 * reads cost the server thread a few milliseconds, about what a client pays to open a
 * new connection, and test suites make many small uploads */
#define MIN_LENGTH (1024 * 1024)

typedef struct {
  MrTbCall *call;
  MrToolboxRequest *request;         /* keeps call alive: stealing releases the request */
  SoupServerMessage *msg;
  SoupServer *server;
  GMainContext *context;             /* the server thread's */
  MrTbBodyFunc body_func;
  MrTbBodyDoneFunc done_func;
  gpointer user_data;
  GDestroyNotify destroy;
  gulong disconnected_id;
  gboolean gone;                     /* libsoup dropped the connection before the steal */
  gboolean expect_continue;
  goffset length;

  GIOStream *stream;
  GString *reply;                    /* being written */
  GThread *thread;
  GAsyncQueue *free_buffers;         /* guint8[BUFFER_SIZE], back from the server thread */
  guint n_buffers;
  goffset received;
} Takeover;

/* A buffer on its way to "got-chunk" and back */
typedef struct {
  SoupServerMessage *msg;
  GAsyncQueue *home;
  guint8 *data;
  gsize len;
} Chunk;

static void
takeover_free (Takeover *t)
{
  if (t->destroy)
    t->destroy (t->user_data);
  g_clear_object (&t->stream);
  if (t->reply)
    g_string_free (t->reply, TRUE);
  g_clear_pointer (&t->free_buffers, g_async_queue_unref);
  g_main_context_unref (t->context);
  g_object_unref (t->server);
  g_object_unref (t->msg);
  mr_toolbox_request_unref (t->request);
  g_free (t);
}

static void
chunk_return (gpointer data)
{
  Chunk *c = data;

  g_async_queue_push (c->home, c->data);
  g_async_queue_unref (c->home);
  g_object_unref (c->msg);
  g_free (c);
}

static gboolean
chunk_emit (gpointer data)
{
  Chunk *c = data;
  GBytes *bytes = g_bytes_new_with_free_func (c->data, c->len, chunk_return, c);

  g_signal_emit_by_name (c->msg, "got-chunk", bytes);
  g_bytes_unref (bytes);
  return G_SOURCE_REMOVE;
}

/* In the reading thread: a free buffer. A "got-chunk" handler that keeps its GBytes keeps
 * the buffer: then a new one is made rather than waiting for it. */
static guint8 *
next_buffer (Takeover *t)
{
  guint8 *buffer = g_async_queue_try_pop (t->free_buffers);

  if (buffer == NULL && t->n_buffers >= N_BUFFERS)
    buffer = g_async_queue_timeout_pop (t->free_buffers, G_USEC_PER_SEC);
  if (buffer == NULL)
    {
      buffer = g_malloc (BUFFER_SIZE);
      t->n_buffers++;
    }
  return buffer;
}

/* The status line and headers libsoup would write (soup-server-message-io-http1.c
 * write_headers), then the body. */
static GString *
serialize_reply (SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  SoupMessageBody *body = soup_server_message_get_response_body (msg);
  g_autoptr(GBytes) flat = NULL;
  GString *out = g_string_sized_new (512);
  SoupMessageHeadersIter iter;
  const char *name, *value;
  guint status;
  gsize len = 0;
  const char *data;

  if (soup_server_message_get_status (msg) == 0)
    soup_server_message_set_status (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, NULL);
  status = soup_server_message_get_status (msg);
  flat = soup_message_body_flatten (body);
  data = g_bytes_get_data (flat, &len);
  soup_message_headers_replace (headers, "Connection", "close");
  if (status == SOUP_STATUS_NO_CONTENT || status == SOUP_STATUS_NOT_MODIFIED)
    {
      soup_message_headers_remove (headers, "Content-Length");
      len = 0;
    }
  else if (soup_message_headers_get_encoding (headers) != SOUP_ENCODING_CONTENT_LENGTH ||
           soup_message_headers_get_content_length (headers) == 0)
    soup_message_headers_set_content_length (headers, len);
  g_string_append_printf (out, "HTTP/1.%c %u %s\r\n",
                          soup_server_message_get_http_version (msg) == SOUP_HTTP_1_0 ? '0' : '1',
                          status, soup_server_message_get_reason_phrase (msg));
  soup_message_headers_iter_init (&iter, headers);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    g_string_append_printf (out, "%s: %s\r\n", name, value);
  g_string_append (out, "\r\n");
  g_string_append_len (out, data, len);
  return out;
}

/* libsoup never tells the server of a stolen connection's end: we do, for the runner's
 * journal, metrics and log */
static void
tell_server (Takeover *t, gboolean failed)
{
  if (!t->gone)
    g_signal_emit_by_name (t->server, failed ? "request-aborted" : "request-finished", t->msg);
}

static void
on_reply_written (GObject *source, GAsyncResult *result, gpointer data)
{
  Takeover *t = data;

  g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, NULL);
  g_io_stream_close (t->stream, NULL, NULL);
  takeover_free (t);
}

/* Server thread: the body has ended (or the client went away). */
static gboolean
takeover_finish (gpointer data)
{
  Takeover *t = data;
  gboolean complete = t->stream != NULL && t->received == t->length;

  if (t->thread)
    g_thread_join (g_steal_pointer (&t->thread));
  t->done_func (t->call, complete, t->user_data);
  if (!complete)
    {
      /* closed before request-aborted: the keep-alive watch (mr-keepalive.c) then sees a
       * closed socket and leaves it alone */
      if (t->stream)
        g_io_stream_close (t->stream, NULL, NULL);
      tell_server (t, TRUE);
      takeover_free (t);
      return G_SOURCE_REMOVE;
    }
  t->reply = serialize_reply (t->msg);
  /* told before the reply goes out, as libsoup's path records a reply before writing it:
   * a client that has its reply finds the request in the journal */
  tell_server (t, soup_server_message_get_status (t->msg) == SOUP_STATUS_INTERNAL_SERVER_ERROR);
  /* written without blocking the server thread: a bulk upload's reply lists every file,
   * and a client need not read it */
  g_output_stream_write_all_async (g_io_stream_get_output_stream (t->stream), t->reply->str, t->reply->len,
                                   G_PRIORITY_DEFAULT, NULL, on_reply_written, t);
  return G_SOURCE_REMOVE;
}

static gpointer
read_thread (gpointer data)
{
  Takeover *t = data;
  GInputStream *in = g_io_stream_get_input_stream (t->stream);
  static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";
  gboolean broken = FALSE;

  if (t->expect_continue)
    broken = !g_output_stream_write_all (g_io_stream_get_output_stream (t->stream), continue_line,
                                         sizeof continue_line - 1, NULL, NULL, NULL);
  while (!broken && t->received < t->length)
    {
      guint8 *buffer = next_buffer (t);
      gssize n = g_input_stream_read (in, buffer, MIN (BUFFER_SIZE, t->length - t->received), NULL, NULL);
      Chunk *c;

      if (n <= 0)
        {
          g_async_queue_push (t->free_buffers, buffer);
          break;
        }
      t->received += n;
      t->body_func (buffer, n, t->user_data);
      c = g_new (Chunk, 1);
      c->msg = g_object_ref (t->msg);
      c->home = g_async_queue_ref (t->free_buffers);
      c->data = buffer;
      c->len = n;
      mr_idle_run_on (t->context, chunk_emit, c, NULL);
    }
  /* after the chunks: sources of one priority run in the order they were added */
  mr_idle_run_on (t->context, takeover_finish, t, NULL);
  return NULL;
}

static void
on_disconnected (SoupServerMessage *msg, Takeover *t)
{
  t->gone = TRUE;
}

static gboolean
takeover_start (gpointer data)
{
  Takeover *t = data;

  g_signal_handler_disconnect (t->msg, t->disconnected_id);
  if (t->gone)
    return takeover_finish (t);
  /* emits "disconnected", which releases the request (t->request keeps it) */
  t->stream = soup_server_message_steal_connection (t->msg);
  if (t->stream == NULL)
    {
      t->gone = TRUE;   /* the exchange was over: libsoup reported its end */
      return takeover_finish (t);
    }
  t->thread = g_thread_new ("mr-upload", read_thread, t);
  return G_SOURCE_REMOVE;
}

/**
 * mr_tb_take_over_body: (skip)
 * @call: a request whose headers were just read, on the server thread
 * @body_func: gets the body, in a thread
 * @done_func: on the server thread at the end: sets the reply
 * @user_data: for both
 * @destroy: (nullable): frees @user_data, on the server thread, after @done_func
 *
 * Reads the body of @call in a thread of its own and answers it with the reply
 * @done_func sets, on a connection then closed. Returns %FALSE, having done nothing, for
 * a request libsoup must keep (no Content-Length, HTTP/2, a server not known) or had
 * better keep (a body under 1 MiB): the caller then reads the body as usual.
 */
gboolean
mr_tb_take_over_body (MrTbCall *call, MrTbBodyFunc body_func, MrTbBodyDoneFunc done_func,
                      gpointer user_data, GDestroyNotify destroy)
{
  SoupServerMessage *msg = call->msg;
  SoupServer *server = mr_toolbox_request_get_server (call->request);
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  Takeover *t;

  if (server == NULL || soup_server_message_get_http_version (msg) > SOUP_HTTP_1_1 ||
      soup_message_headers_get_encoding (headers) != SOUP_ENCODING_CONTENT_LENGTH ||
      soup_message_headers_get_content_length (headers) < MIN_LENGTH ||
      soup_server_message_get_status (msg) != 0)
    return FALSE;

  t = g_new0 (Takeover, 1);
  t->call = call;
  t->request = mr_toolbox_request_ref (call->request);
  t->msg = g_object_ref (msg);
  t->server = g_object_ref (server);
  t->context = g_main_context_ref_thread_default ();
  t->body_func = body_func;
  t->done_func = done_func;
  t->user_data = user_data;
  t->destroy = destroy;
  t->length = soup_message_headers_get_content_length (headers);
  t->expect_continue = (soup_message_headers_get_expectations (headers) & SOUP_EXPECTATION_CONTINUE) != 0;
  t->free_buffers = g_async_queue_new_full (g_free);
  t->disconnected_id = g_signal_connect (msg, "disconnected", G_CALLBACK (on_disconnected), t);
  soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
  soup_server_message_pause (msg);
  mr_idle_run_on (t->context, takeover_start, t, NULL);
  return TRUE;
}
