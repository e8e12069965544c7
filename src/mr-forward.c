/* mr-forward.c: forwards a toolbox request to an HTTP upstream; see mr-forward.h.
 *
 * A forward starts when the request's headers are read, so that the request body can
 * be streamed: chunks go from "got-chunk" into a pipe the HTTP client reads, and the
 * server message is paused while the pipe holds too much. When the body has been read
 * and the upstream has not answered yet, the message is paused until it does. The
 * response body is then read from the upstream and appended chunk by chunk, with no
 * more than HIGH_WATER bytes waiting to be written to the client.
 *
 * A forward ends when the server message finishes (or its connection is taken over);
 * that cancels whatever is still in flight upstream. While the message is paused the
 * server does not read the client socket, so a client that goes away would only be
 * noticed at the next write: a watch on the socket notices it at once. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "mr-forward-private.h"
#include "mr-error.h"
#include "mr-http.h"
#include "mr-util.h"

#define READ_SIZE (64 * 1024)
#define HIGH_WATER (1024 * 1024)
#define LOW_WATER (256 * 1024)

struct _MrForwarder {
  MrForwardFlags flags;
  SoupSession *session;
  GList *active;                   /* MrForward, not referenced */
  MrForwardFailedFunc failed;
  gpointer failed_data;
};

static void finish_forward (MrForward *fwd);

/* The forwarder ---------------------------------------------------------------------- */

/**
 * mr_forwarder_new: (skip)
 * @flags: how failures and special paths are handled
 *
 * Returns: (transfer full): a forwarder
 */
MrForwarder *
mr_forwarder_new (MrForwardFlags flags)
{
  MrForwarder *self = g_new0 (MrForwarder, 1);

  self->flags = flags;
  return self;
}

/* The HTTP client is made on first use, so that it belongs to the thread that serves. */
static SoupSession *
get_session (MrForwarder *self)
{
  if (self->session == NULL)
    {
      /* Many long requests (process execution, log streams) may be open at once, and
       * they may last: no connection limit worth the name, no I/O timeout. */
      self->session = soup_session_new_with_options ("max-conns", 4096, "max-conns-per-host", 4096,
                                                     "timeout", 0, "idle-timeout", 30, NULL);
      /* bodies pass through as they are; 401s and proxies are not ours to handle */
      soup_session_remove_feature_by_type (self->session, SOUP_TYPE_CONTENT_DECODER);
      soup_session_remove_feature_by_type (self->session, SOUP_TYPE_AUTH_MANAGER);
      soup_session_set_proxy_resolver (self->session, NULL);
    }
  return self->session;
}

/**
 * mr_forwarder_set_failed_func: (skip)
 * @self: a forwarder
 * @func: (nullable): called when an upstream cannot be reached
 * @user_data: data for @func
 */
void
mr_forwarder_set_failed_func (MrForwarder *self, MrForwardFailedFunc func, gpointer user_data)
{
  self->failed = func;
  self->failed_data = user_data;
}

/**
 * mr_forwarder_drop_connections: (skip)
 * @self: a forwarder
 *
 * Stops reusing the connections kept open to upstreams, for example because the
 * upstream moved: a pooled connection to an address that vanished (a removed
 * container) would otherwise hang the next request until TCP gives up. Requests in
 * flight finish on the connections they have.
 */
void
mr_forwarder_drop_connections (MrForwarder *self)
{
  /* each forward holds its own reference to the old client */
  g_clear_object (&self->session);
}

/**
 * mr_forwarder_cancel_all: (skip)
 * @self: a forwarder
 *
 * Ends every request in flight: the upstream exchanges are cancelled and the clients'
 * connections closed.
 */
void
mr_forwarder_cancel_all (MrForwarder *self)
{
  while (self->active)
    {
      MrForward *fwd = self->active->data;
      self->active = g_list_delete_link (self->active, self->active);
      fwd->owner = NULL;
      if (fwd->done && fwd->stop)
        fwd->stop (fwd);           /* a tunnel, which outlives its message */
      else
        mr_forward_abort_client (fwd);
    }
}

/**
 * mr_forwarder_fail_all: (skip)
 * @self: a forwarder
 * @error: why (its #MR_ERROR code chooses the status)
 *
 * Ends every request in flight because its upstream is known to be gone: those not
 * answered yet get @error as their answer, the others (and tunnels) are cut off. A
 * vanished upstream sends no reset, so without this they would wait for TCP to give up.
 */
void
mr_forwarder_fail_all (MrForwarder *self, const GError *error)
{
  while (self->active)
    {
      MrForward *fwd = self->active->data;
      self->active = g_list_delete_link (self->active, self->active);
      fwd->owner = NULL;
      if (fwd->done && fwd->stop)
        fwd->stop (fwd);
      else if (!fwd->responded && !fwd->done)
        {
          mr_forward_ref (fwd);
          g_cancellable_cancel (fwd->cancellable);
          mr_forward_fail_gerror (fwd, error);
          mr_forward_unref (fwd);
        }
      else
        mr_forward_abort_client (fwd);
    }
}

/**
 * mr_forwarder_get_active: (skip)
 * @self: a forwarder
 *
 * Returns: how many requests are in flight
 */
guint
mr_forwarder_get_active (MrForwarder *self)
{
  return g_list_length (self->active);
}

/**
 * mr_forwarder_free: (skip)
 * @self: a forwarder
 *
 * Cancels what is in flight and frees the forwarder.
 */
void
mr_forwarder_free (MrForwarder *self)
{
  if (self == NULL)
    return;
  mr_forwarder_cancel_all (self);
  if (self->session)
    soup_session_abort (self->session);
  g_clear_object (&self->session);
  g_free (self);
}

/* Headers ------------------------------------------------------------------------------ */

/**
 * mr_forward_is_hop_by_hop: (skip)
 * @name: a header name
 * @headers: the headers it belongs to (their Connection header names more)
 *
 * Returns: whether @name concerns one connection only and must not be forwarded
 */
gboolean
mr_forward_is_hop_by_hop (const char *name, SoupMessageHeaders *headers)
{
  static const char *const fixed[] = {
    "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
    "TE", "Trailer", "Transfer-Encoding", "Upgrade", NULL
  };

  for (guint i = 0; fixed[i]; i++)
    if (g_ascii_strcasecmp (name, fixed[i]) == 0)
      return TRUE;
  return soup_message_headers_header_contains (headers, "Connection", name);
}

gboolean
mr_forward_is_upgrade (SoupMessageHeaders *headers)
{
  return soup_message_headers_header_contains (headers, "Connection", "upgrade") &&
         soup_message_headers_get_one (headers, "Upgrade") != NULL;
}

/* Copies the client's request headers for the upstream. Host comes from the target and
 * the framing from the body; X-Daytona-Authorization is the runner's credential and is
 * never passed on. With @keep_upgrade the upgrade handshake headers are kept. */
void
mr_forward_copy_request_headers (MrForward *fwd, SoupMessageHeaders *to, gboolean keep_upgrade)
{
  SoupMessageHeaders *from = soup_server_message_get_request_headers (fwd->msg);
  SoupMessageHeadersIter iter;
  const char *name, *value;
  const char *client = mr_http_client_ip (fwd->msg);
  g_autofree char *forwarded_for = NULL;

  soup_message_headers_iter_init (&iter, from);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    {
      if (g_ascii_strcasecmp (name, "Host") == 0 || g_ascii_strcasecmp (name, "Content-Length") == 0 ||
          g_ascii_strcasecmp (name, "Expect") == 0 || g_ascii_strcasecmp (name, "X-Forwarded-For") == 0 ||
          g_ascii_strcasecmp (name, "X-Daytona-Authorization") == 0)
        continue;
      if (mr_forward_is_hop_by_hop (name, from) &&
          !(keep_upgrade && (g_ascii_strcasecmp (name, "Connection") == 0 || g_ascii_strcasecmp (name, "Upgrade") == 0)))
        continue;
      soup_message_headers_append (to, name, value);
    }
  value = soup_message_headers_get_list (from, "X-Forwarded-For");
  if (client)
    forwarded_for = value ? g_strdup_printf ("%s, %s", value, client) : g_strdup (client);
  else if (value)
    forwarded_for = g_strdup (value);
  if (forwarded_for)
    soup_message_headers_replace (to, "X-Forwarded-For", forwarded_for);
}

/* Replaces the response headers of the server message with the upstream's. Framing
 * headers are left to the caller. A root-relative redirect stays under the prefix the
 * client used. */
void
mr_forward_copy_response_headers (MrForward *fwd, SoupMessageHeaders *from, guint status, gboolean keep_upgrade)
{
  SoupMessageHeaders *to = soup_server_message_get_response_headers (fwd->msg);
  SoupMessageHeadersIter iter;
  const char *name, *value;
  /* the server's own decision to close this connection after the reply (the runner and
   * the toolbox make it for bodiless replies, mr_http_reply_bodiless()) survives the
   * upstream's headers */
  gboolean close_after = soup_message_headers_header_contains (to, "Connection", "close");

  soup_message_headers_clear (to);
  if (close_after && !keep_upgrade)
    soup_message_headers_replace (to, "Connection", "close");
  soup_message_headers_iter_init (&iter, from);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    {
      if (g_ascii_strcasecmp (name, "Content-Length") == 0)
        continue;
      if (mr_forward_is_hop_by_hop (name, from) &&
          !(keep_upgrade && (g_ascii_strcasecmp (name, "Connection") == 0 || g_ascii_strcasecmp (name, "Upgrade") == 0)))
        continue;
      if (status >= 300 && status < 400 && g_ascii_strcasecmp (name, "Location") == 0)
        {
          g_autofree char *location = mr_toolbox_request_rewrite_location (fwd->request, value);
          soup_message_headers_append (to, name, location);
          continue;
        }
      soup_message_headers_append (to, name, value);
    }
}

/* The forward's life ------------------------------------------------------------------ */

MrForward *
mr_forward_ref (MrForward *fwd)
{
  g_atomic_ref_count_inc (&fwd->ref);
  return fwd;
}

void
mr_forward_unref (MrForward *fwd)
{
  if (!g_atomic_ref_count_dec (&fwd->ref))
    return;
  if (fwd->mode_data_free)
    fwd->mode_data_free (fwd->mode_data);
  g_clear_object (&fwd->pipe);
  g_clear_object (&fwd->upstream_body);
  g_clear_object (&fwd->upstream);
  g_clear_object (&fwd->cancellable);
  g_clear_object (&fwd->session);
  g_clear_pointer (&fwd->request, mr_toolbox_request_unref);
  g_clear_object (&fwd->msg);
  g_free (fwd->base_url);
  g_free (fwd->target);
  g_free (fwd);
}

static void
disconnect (MrForward *fwd, gulong *id)
{
  if (*id)
    g_signal_handler_disconnect (fwd->msg, *id);
  *id = 0;
}

/* Lets go of the server message: its signals, the socket watch, the request body. */
void
mr_forward_release_message (MrForward *fwd)
{
  if (fwd->done)
    return;
  fwd->done = TRUE;
  disconnect (fwd, &fwd->got_chunk_id);
  disconnect (fwd, &fwd->got_body_id);
  disconnect (fwd, &fwd->finished_id);
  disconnect (fwd, &fwd->wrote_data_id);
  mr_source_clear (&fwd->hangup_watch);
  if (fwd->pipe)
    mr_forward_pipe_abort (fwd->pipe);
  if (fwd->release)
    fwd->release (fwd);
}

/* The exchange is over: stop everything upstream and let go. */
void
mr_forward_finish (MrForward *fwd)
{
  if (fwd->over)
    return;
  fwd->over = TRUE;
  mr_forward_release_message (fwd);
  g_cancellable_cancel (fwd->cancellable);
  if (fwd->owner)
    fwd->owner->active = g_list_remove (fwd->owner->active, fwd);
  fwd->owner = NULL;
  mr_forward_unref (fwd);      /* the reference the exchange held */
}

static void
finish_forward (MrForward *fwd)
{
  mr_forward_finish (fwd);
}

/* Closes the client's connection without an answer (or mid-answer): what a proxy does
 * when its upstream breaks off a response it has started to relay. */
void
mr_forward_abort_client (MrForward *fwd)
{
  g_autoptr(GIOStream) stream = NULL;

  if (fwd->done)
    return;
  mr_forward_ref (fwd);
  stream = soup_server_message_steal_connection (fwd->msg);
  if (stream)
    g_io_stream_close (stream, NULL, NULL);
  finish_forward (fwd);
  mr_forward_unref (fwd);
}

/* Lets the server message go on, if it waits for us. */
void
mr_forward_respond (MrForward *fwd)
{
  fwd->responded = TRUE;
  if (fwd->waiting && !fwd->done)
    {
      fwd->waiting = FALSE;
      soup_server_message_unpause (fwd->msg);
    }
}

/* Answers with an error status; the request body, if still coming, is dropped. */
void
mr_forward_fail (MrForward *fwd, guint status, const char *code, const char *message)
{
  if (fwd->done)
    return;
  if (fwd->responded)
    {
      mr_forward_abort_client (fwd);
      return;
    }
  if (fwd->pipe)
    mr_forward_pipe_discard (fwd->pipe);
  soup_message_body_set_accumulate (soup_server_message_get_request_body (fwd->msg), FALSE);
  if (fwd->flags & MR_FORWARD_ERROR_BODY)
    mr_http_reply_error (fwd->msg, status, code, message);
  else
    {
      soup_server_message_set_status (fwd->msg, status, NULL);
      soup_message_headers_set_content_length (soup_server_message_get_response_headers (fwd->msg), 0);
    }
  if (fwd->bp_paused)
    {
      fwd->bp_paused = FALSE;
      soup_server_message_unpause (fwd->msg);
    }
  mr_forward_respond (fwd);
}

void
mr_forward_fail_gerror (MrForward *fwd, const GError *error)
{
  g_autofree char *message = g_strconcat (mr_error_message_prefix (error), error->message, NULL);

  mr_forward_fail (fwd, mr_error_http_status (error), mr_error_http_code (error), message);
}

/* Tells the owner (a backend that may want to check on its toolbox). */
void
mr_forward_notify_unreachable (MrForward *fwd, const GError *error)
{
  if (fwd->owner && fwd->owner->failed && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    fwd->owner->failed (error, fwd->owner->failed_data);
}

/* The upstream could not be reached (or broke off before answering): 502. */
void
mr_forward_upstream_failed (MrForward *fwd, const GError *error)
{
  g_autoptr(GError) bad_gateway = g_error_new (MR_ERROR, MR_ERROR_BAD_GATEWAY, "%s%s: %s",
                                               fwd->base_url, fwd->target, error->message);

  if (fwd->done || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  mr_forward_notify_unreachable (fwd, error);
  mr_forward_fail_gerror (fwd, bad_gateway);
}

/* Server message signals ------------------------------------------------------------ */

static void
on_finished (SoupServerMessage *msg, MrForward *fwd)
{
  finish_forward (fwd);
}

static void
on_pipe_drained (gpointer data)
{
  MrForward *fwd = data;

  if (fwd->bp_paused && !fwd->done && mr_forward_pipe_get_queued (fwd->pipe) <= LOW_WATER)
    {
      fwd->bp_paused = FALSE;
      soup_server_message_unpause (fwd->msg);
    }
}

static void
on_got_chunk (SoupServerMessage *msg, GBytes *chunk, MrForward *fwd)
{
  if (fwd->pipe == NULL)
    return;
  mr_forward_pipe_push (fwd->pipe, chunk);
  if (!fwd->bp_paused && mr_forward_pipe_get_queued (fwd->pipe) > HIGH_WATER)
    {
      fwd->bp_paused = TRUE;
      soup_server_message_pause (msg);
    }
}

/* A client that closes its connection while we wait is seen here (an EOF when peeking);
 * data instead means a pipelined request, which is not ours to read: stop watching. */
static gboolean
on_client_readable (GSocket *socket, GIOCondition condition, gpointer data)
{
  MrForward *fwd = data;
  char c;
  ssize_t n = recv (g_socket_get_fd (socket), &c, 1, MSG_PEEK | MSG_DONTWAIT);

  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return G_SOURCE_CONTINUE;
  /* the source is destroyed with fwd->hangup_watch below, or by the return value */
  if (n > 0)
    {
      g_clear_pointer (&fwd->hangup_watch, g_source_unref);
      return G_SOURCE_REMOVE;
    }
  g_debug ("client of %s%s went away", fwd->base_url, fwd->target);
  mr_forward_abort_client (fwd);
  return G_SOURCE_REMOVE;
}

static void
watch_client (MrForward *fwd)
{
  GSocket *socket = soup_server_message_get_socket (fwd->msg);

  if (socket == NULL || fwd->hangup_watch || fwd->done)
    return;
  fwd->hangup_watch = g_socket_create_source (socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
  g_source_set_callback (fwd->hangup_watch, (GSourceFunc) (GCallback) on_client_readable, fwd, NULL);
  g_source_attach (fwd->hangup_watch, g_main_context_get_thread_default ());
}

static void
on_got_body (SoupServerMessage *msg, MrForward *fwd)
{
  fwd->body_done = TRUE;
  if (fwd->pipe)
    mr_forward_pipe_finish (fwd->pipe);
  if (fwd->done)
    return;
  watch_client (fwd);
  if (fwd->responded)
    return;
  /* the server would answer now: hold it until the upstream does */
  fwd->waiting = TRUE;
  soup_server_message_pause (msg);
}

/* Plain HTTP ------------------------------------------------------------------------ */

static void pump (MrForward *fwd);

static void
on_wrote_body_data (SoupServerMessage *msg, guint size, MrForward *fwd)
{
  fwd->in_flight -= MIN (fwd->in_flight, size);
  pump (fwd);
}

/* More of the response has been appended: let the server write it. */
void
mr_forward_body_appended (MrForward *fwd)
{
  /* while the request body is still being read, the server is not writing yet */
  if (fwd->body_done && !fwd->done)
    soup_server_message_unpause (fwd->msg);
}

static void
on_read (GObject *source, GAsyncResult *result, gpointer data)
{
  MrForward *fwd = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result, &error);

  fwd->reading = FALSE;
  if (fwd->done)
    goto out;
  if (bytes == NULL)
    {
      g_message ("forward %s%s: the response broke off: %s", fwd->base_url, fwd->target, error->message);
      mr_forward_abort_client (fwd);
      goto out;
    }
  if (g_bytes_get_size (bytes) == 0)
    {
      fwd->complete = TRUE;
      soup_message_body_complete (soup_server_message_get_response_body (fwd->msg));
      mr_forward_body_appended (fwd);
      goto out;
    }
  fwd->in_flight += g_bytes_get_size (bytes);
  soup_message_body_append_bytes (soup_server_message_get_response_body (fwd->msg), bytes);
  mr_forward_body_appended (fwd);
  pump (fwd);
out:
  mr_forward_unref (fwd);
}

static void
pump (MrForward *fwd)
{
  if (fwd->reading || fwd->complete || fwd->done || fwd->upstream_body == NULL || fwd->in_flight >= HIGH_WATER)
    return;
  fwd->reading = TRUE;
  g_input_stream_read_bytes_async (fwd->upstream_body, READ_SIZE, G_PRIORITY_DEFAULT, fwd->cancellable,
                                   on_read, mr_forward_ref (fwd));
}

static void
on_sent (GObject *source, GAsyncResult *result, gpointer data)
{
  MrForward *fwd = data;
  g_autoptr(GError) error = NULL;
  GInputStream *stream = soup_session_send_finish (SOUP_SESSION (source), result, &error);
  SoupMessageHeaders *up_headers, *headers;
  guint status;

  if (fwd->done)
    {
      g_clear_object (&stream);
      goto out;
    }
  if (stream == NULL)
    {
      mr_forward_upstream_failed (fwd, error);
      goto out;
    }
  fwd->upstream_body = stream;
  /* an upstream that answers before it has read the whole body does not want the rest */
  if (fwd->pipe && !fwd->body_done)
    {
      mr_forward_pipe_discard (fwd->pipe);
      on_pipe_drained (fwd);
    }

  status = soup_message_get_status (fwd->upstream);
  up_headers = soup_message_get_response_headers (fwd->upstream);
  headers = soup_server_message_get_response_headers (fwd->msg);
  soup_server_message_set_status (fwd->msg, status, soup_message_get_reason_phrase (fwd->upstream));
  mr_forward_copy_response_headers (fwd, up_headers, status, FALSE);
  if (status == SOUP_STATUS_NO_CONTENT || status == SOUP_STATUS_NOT_MODIFIED)
    {
      if (soup_message_headers_get_encoding (up_headers) == SOUP_ENCODING_CONTENT_LENGTH)
        soup_message_headers_set_content_length (headers, soup_message_headers_get_content_length (up_headers));
      mr_http_keep_alive_without_body (fwd->msg);
    }
  else if (soup_message_headers_get_encoding (up_headers) == SOUP_ENCODING_CONTENT_LENGTH)
    soup_message_headers_set_content_length (headers, soup_message_headers_get_content_length (up_headers));
  else
    soup_message_headers_set_encoding (headers, SOUP_ENCODING_CHUNKED);
  soup_message_body_set_accumulate (soup_server_message_get_response_body (fwd->msg), FALSE);
  fwd->wrote_data_id = g_signal_connect (fwd->msg, "wrote-body-data", G_CALLBACK (on_wrote_body_data), fwd);
  mr_forward_respond (fwd);
  pump (fwd);
out:
  mr_forward_unref (fwd);
}

static gboolean
request_has_body (SoupMessageHeaders *headers)
{
  switch (soup_message_headers_get_encoding (headers))
    {
    case SOUP_ENCODING_CHUNKED:
      return TRUE;
    case SOUP_ENCODING_CONTENT_LENGTH:
      return soup_message_headers_get_content_length (headers) > 0;
    default:
      return FALSE;
    }
}

static void
start_http (MrForward *fwd)
{
  SoupMessageHeaders *req = soup_server_message_get_request_headers (fwd->msg);
  g_autofree char *url = g_strconcat (fwd->base_url, fwd->target, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GUri) uri = g_uri_parse (url, SOUP_HTTP_URI_FLAGS, &error);

  soup_message_body_set_accumulate (soup_server_message_get_request_body (fwd->msg), FALSE);
  if (uri == NULL)
    {
      g_autofree char *message = g_strdup_printf ("bad request: invalid toolbox path %s: %s", fwd->target, error->message);
      mr_forward_fail (fwd, 400, "BAD_REQUEST", message);
      return;
    }
  fwd->upstream = soup_message_new_from_uri (soup_server_message_get_method (fwd->msg), uri);
  soup_message_add_flags (fwd->upstream, SOUP_MESSAGE_NO_REDIRECT);
  mr_forward_copy_request_headers (fwd, soup_message_get_request_headers (fwd->upstream), FALSE);
  if (request_has_body (req))
    {
      gboolean chunked = soup_message_headers_get_encoding (req) == SOUP_ENCODING_CHUNKED;

      fwd->pipe = mr_forward_pipe_new ();
      mr_forward_pipe_set_drain_func (fwd->pipe, on_pipe_drained, fwd);
      /* the whole Content-Type: a multipart body is nothing without its boundary */
      soup_message_set_request_body (fwd->upstream, soup_message_headers_get_one (req, "Content-Type"),
                                     G_INPUT_STREAM (fwd->pipe),
                                     chunked ? -1 : soup_message_headers_get_content_length (req));
      /* A streamed body cannot be sent again, as a retry on a stale pooled connection
       * would: a connection of its own, not kept afterwards (or they would pile up idle) */
      soup_message_add_flags (fwd->upstream, SOUP_MESSAGE_NEW_CONNECTION);
      soup_message_headers_replace (soup_message_get_request_headers (fwd->upstream), "Connection", "close");
      fwd->got_chunk_id = g_signal_connect (fwd->msg, "got-chunk", G_CALLBACK (on_got_chunk), fwd);
    }
  soup_session_send_async (fwd->session, fwd->upstream, G_PRIORITY_DEFAULT, fwd->cancellable,
                           on_sent, mr_forward_ref (fwd));
}

/* Entry ------------------------------------------------------------------------------ */

/**
 * mr_forward_is_logs_follow: (skip)
 * @path: the toolbox path
 * @query: (nullable): the raw query
 * @headers: the request headers
 *
 * Returns: whether this is the plain-HTTP session logs follow request the runner turns
 *   into a WebSocket read (runner-api.md section 7.3)
 */
gboolean
mr_forward_is_logs_follow (const char *path, const char *query, SoupMessageHeaders *headers)
{
  g_autoptr(GHashTable) form = NULL;

  if (mr_forward_is_upgrade (headers) || query == NULL ||
      !g_regex_match_simple ("^/process/session/.+/command/.+/logs$", path, 0, 0))
    return FALSE;
  form = soup_form_decode (query);
  return g_strcmp0 (g_hash_table_lookup (form, "follow"), "true") == 0;
}

/**
 * mr_forwarder_forward: (skip)
 * @self: a forwarder
 * @request: a request whose headers have just been read (its body has not)
 * @base_url: the upstream, "http://host:port"
 * @path: the path to request there, starting with "/", still percent-encoded; the
 *   request's query is added
 *
 * Forwards @request and answers it with what the upstream answers. Call it from the
 * headers phase (MrToolboxBackendInterface.handle_headers or a MR_TB_STREAM_BODY route);
 * the body phase needs nothing more.
 */
void
mr_forwarder_forward (MrForwarder *self, MrToolboxRequest *request, const char *base_url, const char *path)
{
  MrForward *fwd = g_new0 (MrForward, 1);
  const char *query = mr_toolbox_request_get_query (request);
  SoupMessageHeaders *headers;
  gsize base_len = strlen (base_url);

  g_atomic_ref_count_init (&fwd->ref);     /* held until the server message is done */
  fwd->owner = self;
  fwd->session = g_object_ref (get_session (self));
  fwd->flags = self->flags;
  fwd->request = mr_toolbox_request_ref (request);
  fwd->msg = g_object_ref (mr_toolbox_request_get_message (request));
  while (base_len > 0 && base_url[base_len - 1] == '/')
    base_len--;
  fwd->base_url = g_strndup (base_url, base_len);
  fwd->target = query ? g_strconcat (path, "?", query, NULL) : g_strdup (path);
  fwd->cancellable = g_cancellable_new ();
  self->active = g_list_prepend (self->active, fwd);
  headers = soup_server_message_get_request_headers (fwd->msg);

  fwd->finished_id = g_signal_connect (fwd->msg, "finished", G_CALLBACK (on_finished), fwd);
  fwd->got_body_id = g_signal_connect (fwd->msg, "got-body", G_CALLBACK (on_got_body), fwd);

  if ((self->flags & MR_FORWARD_LOGS_FOLLOW) && mr_forward_is_logs_follow (path, query, headers))
    mr_forward_start_follow (fwd);
  else if (mr_forward_is_upgrade (headers))
    mr_forward_start_tunnel (fwd);
  else
    start_http (fwd);
}

/* Probing ------------------------------------------------------------------------------ */

/**
 * mr_forward_probe_version: (skip)
 * @base_url: a toolbox daemon, "http://host:port"
 * @timeout_sec: bound on the whole exchange
 * @version: (out) (optional) (transfer full): what GET /version answered
 * @error: return location for a #GError
 *
 * Asks a toolbox daemon for its version, synchronously (with its own HTTP client, so
 * that it can be called from any thread).
 *
 * Returns: %TRUE if the daemon answered 200 with a JSON object holding "version"
 */
gboolean
mr_forward_probe_version (const char *base_url, guint timeout_sec, char **version, GError **error)
{
  g_autoptr(SoupSession) session = soup_session_new_with_options ("timeout", timeout_sec, NULL);
  g_autofree char *url = g_strconcat (base_url, g_str_has_suffix (base_url, "/") ? "version" : "/version", NULL);
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonNode *root;
  gsize len;
  const char *data;

  if (msg == NULL)
    {
      g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "invalid toolbox URL %s", base_url);
      return FALSE;
    }
  soup_session_set_proxy_resolver (session, NULL);
  soup_session_set_idle_timeout (session, timeout_sec);
  body = soup_session_send_and_read (session, msg, NULL, error);
  if (body == NULL)
    return FALSE;
  if (soup_message_get_status (msg) != SOUP_STATUS_OK)
    {
      g_set_error (error, MR_ERROR, MR_ERROR_BAD_GATEWAY, "GET %s answered %u", url, soup_message_get_status (msg));
      return FALSE;
    }
  data = g_bytes_get_data (body, &len);
  if (!json_parser_load_from_data (parser, data ? data : "", len, NULL) ||
      (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root) ||
      json_object_get_string_member_with_default (json_node_get_object (root), "version", NULL) == NULL)
    {
      g_set_error (error, MR_ERROR, MR_ERROR_BAD_GATEWAY, "GET %s did not answer a version", url);
      return FALSE;
    }
  if (version)
    *version = g_strdup (json_object_get_string_member (json_node_get_object (root), "version"));
  return TRUE;
}
