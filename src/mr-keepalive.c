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
 * forget it (and drops its own source before it can run), and close it.
 *
 * When libsoup closes the connection itself (not kept alive: right after
 * request-finished; or the server going away), the socket reads as closed when the watch
 * runs (a closed descriptor polls as invalid at once), and the watch ends before anything
 * touches the descriptor. That spares a "disconnected" handler per request, which would
 * cost as much as the watch itself (docs/performance.md). */
#include <errno.h>
#include <sys/socket.h>

#include "mr-keepalive.h"

/* @msg: the finished message, whose connection is the one watched (the source's data) */
static gboolean
on_socket_ready (GSocket *socket, GIOCondition condition, gpointer data)
{
  SoupServerMessage *msg = data;
  char byte;
  ssize_t n;
  g_autoptr(GIOStream) stream = NULL;

  if (g_socket_is_closed (socket))
    return G_SOURCE_REMOVE;   /* libsoup closed it: its descriptor may be another's now */
  n = recv (g_socket_get_fd (socket), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)))
    return G_SOURCE_REMOVE;   /* the next request: libsoup's turn */

  stream = soup_server_message_steal_connection (msg);
  if (stream)
    g_io_stream_close (stream, NULL, NULL);
  return G_SOURCE_REMOVE;
}

static void
on_request_finished (SoupServer *server, SoupServerMessage *msg, gpointer unused)
{
  GSocket *socket = soup_server_message_get_socket (msg);
  GSource *source;

  if (socket == NULL || g_socket_is_closed (socket))
    return;
  source = g_socket_create_source (socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
  /* before libsoup's own source, which runs at the default priority */
  g_source_set_priority (source, G_PRIORITY_HIGH);
  g_source_set_callback (source, G_SOURCE_FUNC (on_socket_ready), g_object_ref (msg), g_object_unref);
  g_source_attach (source, g_main_context_get_thread_default ());
  g_source_unref (source);
}

/* Stealing the connection reads the peer's address, which fails, with a warning, once
 * the client has reset the connection (it closed it with some of our reply unread): have
 * libsoup read it while the connection is sound. Once per connection; later requests find
 * it cached. */
static void
on_request_started (SoupServer *server, SoupServerMessage *msg, gpointer unused)
{
  soup_server_message_get_remote_address (msg);
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
  g_signal_connect (server, "request-started", G_CALLBACK (on_request_started), NULL);
  g_signal_connect (server, "request-finished", G_CALLBACK (on_request_finished), NULL);
}
