/* mr-keepalive.c: a workaround for libsoup 3.2, which never notices a client that closes
 * an idle keep-alive connection.
 *
 * After a reply on a kept-alive connection libsoup creates the next message and waits for
 * its headers. If the client closes instead, the read fails before the message "started",
 * so no completion callback is set and nothing disconnects the connection: its socket
 * stays in CLOSE-WAIT for good, and a client that opens one connection per request
 * exhausts the server's descriptors.
 *
 * So after every finished request we watch the connection's socket too, at a higher
 * priority than libsoup's own source, so that we look first. Data means the next request
 * is arriving: we step aside. End of stream (or an error) means the client is gone: we take
 * the connection over with soup_server_message_steal_connection(), which makes libsoup
 * forget it (and drops its own source before it can run), and close it. */
#include <errno.h>
#include <sys/socket.h>

#include "mr-keepalive.h"

typedef struct {
  SoupServerMessage *msg;   /* the finished message: its connection is the one watched */
  GSource *source;          /* owned by the context; destroyed with it */
  gulong disconnected_id;
  gboolean dispatching;
} Watch;

static void
watch_free (Watch *w)
{
  if (w->disconnected_id)
    g_signal_handler_disconnect (w->msg, w->disconnected_id);
  g_object_unref (w->msg);
  g_free (w);
}

/* libsoup closed the connection itself (not kept alive, server shutdown, upgrade...) */
static void
on_disconnected (SoupServerMessage *msg, Watch *w)
{
  g_signal_handler_disconnect (msg, w->disconnected_id);
  w->disconnected_id = 0;
  if (!w->dispatching)
    g_source_destroy (w->source);
}

static gboolean
on_socket_ready (GSocket *socket, GIOCondition condition, gpointer data)
{
  Watch *w = data;
  char byte;
  ssize_t n;
  g_autoptr(GIOStream) stream = NULL;

  n = recv (g_socket_get_fd (socket), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)))
    return G_SOURCE_REMOVE;   /* the next request: libsoup's turn */

  w->dispatching = TRUE;
  stream = soup_server_message_steal_connection (w->msg);
  if (stream)
    g_io_stream_close (stream, NULL, NULL);
  return G_SOURCE_REMOVE;
}

static void
on_request_finished (SoupServer *server, SoupServerMessage *msg, gpointer unused)
{
  GSocket *socket = soup_server_message_get_socket (msg);
  Watch *w;

  if (socket == NULL || g_socket_is_closed (socket))
    return;
  w = g_new0 (Watch, 1);
  w->msg = g_object_ref (msg);
  w->source = g_socket_create_source (socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
  /* before libsoup's own source, which runs at the default priority */
  g_source_set_priority (w->source, G_PRIORITY_HIGH);
  g_source_set_callback (w->source, G_SOURCE_FUNC (on_socket_ready), w, (GDestroyNotify) watch_free);
  w->disconnected_id = g_signal_connect (msg, "disconnected", G_CALLBACK (on_disconnected), w);
  g_source_attach (w->source, g_main_context_get_thread_default ());
  g_source_unref (w->source);
}

/**
 * mr_keepalive_watch: (skip)
 * @server: a server
 *
 * Closes connections of @server that their client closed while they were kept alive.
 * Call once, on the thread that runs the server's context.
 */
void
mr_keepalive_watch (SoupServer *server)
{
  g_signal_connect (server, "request-finished", G_CALLBACK (on_request_finished), NULL);
}
