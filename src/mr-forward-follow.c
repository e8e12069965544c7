/* mr-forward-follow.c: the runner's special case for following session command logs
 * over plain HTTP (runner-api.md section 7.3). The daemon only follows logs over a
 * WebSocket, so the runner dials that WebSocket itself (with `follow=true` and nothing
 * else of the client's query or headers) and writes each message's payload to a
 * chunked application/octet-stream body, until the WebSocket closes. A failed dial is a
 * 400 "bad request: failed to create outgoing request: ...". */
#include <string.h>

#include "mr-forward-private.h"

#define MAX_MESSAGE (16 * 1024 * 1024)

typedef struct {
  SoupWebsocketConnection *ws;
} Follow;

static void
follow_release (MrForward *fwd)
{
  Follow *f = fwd->mode_data;

  if (f->ws == NULL)
    return;
  g_signal_handlers_disconnect_by_data (f->ws, fwd);
  if (soup_websocket_connection_get_state (f->ws) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close (f->ws, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, NULL);
  g_clear_object (&f->ws);
}

static void
follow_free (gpointer data)
{
  Follow *f = data;

  g_clear_object (&f->ws);
  g_free (f);
}

static void
on_message (SoupWebsocketConnection *ws, int type, GBytes *message, MrForward *fwd)
{
  if (fwd->done)
    return;
  soup_message_body_append_bytes (soup_server_message_get_response_body (fwd->msg), message);
  mr_forward_body_appended (fwd);
}

static void
on_closed (SoupWebsocketConnection *ws, MrForward *fwd)
{
  if (fwd->done)
    return;
  soup_message_body_complete (soup_server_message_get_response_body (fwd->msg));
  mr_forward_body_appended (fwd);
}

static void
on_ws_connected (GObject *source, GAsyncResult *result, gpointer data)
{
  MrForward *fwd = data;
  Follow *f = fwd->mode_data;
  g_autoptr(GError) error = NULL;
  SoupWebsocketConnection *ws = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &error);
  SoupMessageHeaders *headers;

  if (fwd->done)
    {
      if (ws)
        soup_websocket_connection_close (ws, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, NULL);
      g_clear_object (&ws);
      goto out;
    }
  if (ws == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    goto out;
  if (ws == NULL)
    {
      g_autofree char *message = g_strdup_printf ("bad request: failed to create outgoing request: %s", error->message);
      if (!g_error_matches (error, SOUP_WEBSOCKET_ERROR, SOUP_WEBSOCKET_ERROR_NOT_WEBSOCKET))
        mr_forward_notify_unreachable (fwd, error);
      mr_forward_fail (fwd, 400, "BAD_REQUEST", message);
      goto out;
    }
  f->ws = ws;
  soup_websocket_connection_set_max_incoming_payload_size (ws, MAX_MESSAGE);
  g_signal_connect (ws, "message", G_CALLBACK (on_message), fwd);
  g_signal_connect (ws, "closed", G_CALLBACK (on_closed), fwd);

  soup_server_message_set_status (fwd->msg, SOUP_STATUS_OK, NULL);
  headers = soup_server_message_get_response_headers (fwd->msg);
  soup_message_headers_replace (headers, "Content-Type", "application/octet-stream");
  soup_message_headers_set_encoding (headers, SOUP_ENCODING_CHUNKED);
  soup_message_body_set_accumulate (soup_server_message_get_response_body (fwd->msg), FALSE);
  mr_forward_respond (fwd);
out:
  mr_forward_unref (fwd);
}

void
mr_forward_start_follow (MrForward *fwd)
{
  Follow *f = g_new0 (Follow, 1);
  const char *question = strchr (fwd->target, '?');
  g_autofree char *path = question ? g_strndup (fwd->target, question - fwd->target) : g_strdup (fwd->target);
  g_autofree char *url = g_strdup_printf ("%s%s?follow=true", fwd->base_url, path);
  g_autoptr(SoupMessage) message = NULL;

  fwd->mode_data = f;
  fwd->mode_data_free = follow_free;
  fwd->release = follow_release;
  soup_message_body_set_accumulate (soup_server_message_get_request_body (fwd->msg), FALSE);
  message = soup_message_new ("GET", url);
  if (message == NULL)
    {
      g_autofree char *text = g_strdup_printf ("bad request: failed to create outgoing request: invalid URL %s", url);
      mr_forward_fail (fwd, 400, "BAD_REQUEST", text);
      return;
    }
  soup_session_websocket_connect_async (fwd->session, message, NULL, NULL, G_PRIORITY_DEFAULT, fwd->cancellable,
                                        on_ws_connected, mr_forward_ref (fwd));
}
