/* mr-keepalive.c: a workaround for libsoup 3.2, which never notices a client that closes
 * an idle keep-alive connection.
 *
 * After a reply on a kept-alive connection libsoup creates the next message and waits for
 * its headers. If the client closes instead, the read fails before the message "started",
 * so no completion callback is set and nothing disconnects the connection: its socket
 * stays in CLOSE-WAIT for good, and a client that opens one connection per request
 * exhausts the server's descriptors.
 *
 * So each connection that served a request gets a watch of its own for as long as it
 * lives: a poll on its descriptor for the peer's end of stream (POLLRDHUP) or an error,
 * never for data, so that it costs nothing per request (a watch per request, looking at
 * every request's first bytes, cost a quarter of the runner's throughput: see
 * docs/performance.md). When it fires on an idle connection with nothing left to read,
 * we take the connection over with soup_server_message_steal_connection(), which makes
 * libsoup forget it (and drop its own source: ours was attached first, so it runs first),
 * and close it.
 *
 * The end of stream can also come while a request is being served, or after a last
 * request still unread: libsoup must serve those first. The watch then stops polling
 * (the condition would hold, and fire, on every main-loop turn) and polls again when the
 * request is finished.
 *
 * When libsoup closes the connection itself (not kept alive, the server going away), the
 * closed descriptor polls as invalid and the watch ends, before anything touches the
 * descriptor. Should a new connection get the descriptor first, its own watch replaces
 * the stale one. */
#define _GNU_SOURCE           /* POLLRDHUP */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <glib-unix.h>

#include "mr-keepalive.h"

#define STATE_KEY "mr-keepalive"

typedef struct {
  GHashTable *watches;        /* descriptor -> Watch */
} Keepalive;

typedef struct {
  Keepalive *owner;
  int fd;
  GSocket *socket;
  GSource *source;            /* NULL while not polling */
  SoupServerMessage *last;    /* the last finished message: our way to its connection */
  gboolean busy;              /* between request-started and request-finished */
} Watch;

static void
watch_free (Watch *w)
{
  if (w->source)
    {
      g_source_destroy (w->source);
      g_source_unref (w->source);
    }
  g_clear_object (&w->last);
  g_object_unref (w->socket);
  g_free (w);
}

/* Forgets @w (and frees it). */
static void
watch_end (Watch *w)
{
  g_hash_table_remove (w->owner->watches, GINT_TO_POINTER (w->fd));
}

static gboolean on_peer_closed (int fd, GIOCondition condition, gpointer data);

static void
watch_poll (Watch *w)
{
  /* POLLRDHUP: the peer shut down its side; GLib passes the bits through to poll() */
  w->source = g_unix_fd_source_new (w->fd, (GIOCondition) (POLLRDHUP | G_IO_HUP | G_IO_ERR));
  g_source_set_callback (w->source, G_SOURCE_FUNC (on_peer_closed), w, NULL);
  g_source_attach (w->source, g_main_context_get_thread_default ());
}

/* Stops polling until the request in progress is finished. */
static void
watch_pause (Watch *w)
{
  g_source_destroy (w->source);
  g_clear_pointer (&w->source, g_source_unref);
}

static gboolean
on_peer_closed (int fd, GIOCondition condition, gpointer data)
{
  Watch *w = data;
  char byte;
  ssize_t n;
  g_autoptr(GIOStream) stream = NULL;

  if (g_socket_is_closed (w->socket))
    {
      /* libsoup closed it: its descriptor may be another's now */
      watch_end (w);
      return G_SOURCE_REMOVE;
    }
  if (w->busy)
    {
      watch_pause (w);
      return G_SOURCE_REMOVE;
    }
  n = recv (fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)))
    {
      watch_pause (w);   /* a last request before the end: libsoup's turn */
      return G_SOURCE_REMOVE;
    }

  stream = soup_server_message_steal_connection (w->last);
  if (stream)
    g_io_stream_close (stream, NULL, NULL);
  watch_end (w);
  return G_SOURCE_REMOVE;
}

/* The watch of @msg's connection, or NULL; a watch left for an earlier connection on the
 * same descriptor is dropped. */
static Watch *
lookup (Keepalive *k, SoupServerMessage *msg, GSocket **socket)
{
  Watch *w;

  *socket = soup_server_message_get_socket (msg);
  if (*socket == NULL)
    return NULL;
  w = g_hash_table_lookup (k->watches, GINT_TO_POINTER (g_socket_get_fd (*socket)));
  if (w && w->socket != *socket)
    {
      watch_end (w);
      w = NULL;
    }
  return w;
}

static void
on_request_started (SoupServer *server, SoupServerMessage *msg, Keepalive *k)
{
  GSocket *socket;
  Watch *w = lookup (k, msg, &socket);

  if (w)
    w->busy = TRUE;
  else
    /* A new connection. Stealing a connection reads the peer's address, which fails, with
     * a warning, once the client has reset the connection (it closed it with some of our
     * reply unread): have libsoup read it now, while the connection is sound. */
    soup_server_message_get_remote_address (msg);
}

static void
on_request_finished (SoupServer *server, SoupServerMessage *msg, Keepalive *k)
{
  GSocket *socket;
  Watch *w = lookup (k, msg, &socket);

  if (socket == NULL || g_socket_is_closed (socket))
    return;
  if (w == NULL)
    {
      w = g_new0 (Watch, 1);
      w->owner = k;
      w->fd = g_socket_get_fd (socket);
      w->socket = g_object_ref (socket);
      g_hash_table_insert (k->watches, GINT_TO_POINTER (w->fd), w);
    }
  w->busy = FALSE;
  g_set_object (&w->last, msg);
  if (w->source == NULL)
    watch_poll (w);
}

/* libsoup says "aborted" for a 500 too, on a connection it may keep: it is idle again all
 * the same (and if libsoup closes it, the watch sees the descriptor closed). */
static void
on_request_aborted (SoupServer *server, SoupServerMessage *msg, Keepalive *k)
{
  on_request_finished (server, msg, k);
}

static void
keepalive_free (Keepalive *k)
{
  g_hash_table_unref (k->watches);
  g_free (k);
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
  Keepalive *k = g_new0 (Keepalive, 1);

  k->watches = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) watch_free);
  g_object_set_data_full (G_OBJECT (server), STATE_KEY, k, (GDestroyNotify) keepalive_free);
  g_signal_connect (server, "request-started", G_CALLBACK (on_request_started), k);
  g_signal_connect (server, "request-finished", G_CALLBACK (on_request_finished), k);
  g_signal_connect (server, "request-aborted", G_CALLBACK (on_request_aborted), k);
}
