/* mr-keepalive.c: a workaround for libsoup 3.2, which never notices a client that closes
 * an idle keep-alive connection.
 *
 * After a reply on a kept-alive connection libsoup creates the next message and waits for
 * its headers. If the client closes instead, the read fails before the message "started",
 * so no completion callback is set and nothing disconnects the connection: its socket
 * stays in CLOSE-WAIT for good, and a client that opens one connection per request
 * exhausts the server's descriptors.
 *
 * So each connection gets a watch of its own, attached with its first request. While the
 * connection is idle (between one request's end and the next one's start) it polls the
 * socket for what libsoup's own source polls it for, at a higher priority, so that it
 * looks first: when the end of stream is there (and no request bytes before it), the
 * client is gone, and we take the connection over with
 * soup_server_message_steal_connection() on its last message, which makes libsoup forget
 * it, and close it. Looking first matters: once libsoup has read that end itself, the
 * connection has no message I/O left and stealing it crashes libsoup. Readable without
 * POLLRDHUP means the next request, and libsoup goes on in the same main-loop turn; but
 * the kernel can also report a FIN still in flight that way, and then libsoup may read
 * the end before us. The watch remembers that it let libsoup read, and if the end shows
 * with no request started since, it closes the socket under libsoup instead of stealing
 * (the descriptor is freed; the little libsoup keeps of the connection goes with the
 * server). That way no syscall is spent on the usual request.
 *
 * The watch is set up once per connection and costs nothing per request: it says what
 * to poll for in its prepare function (nothing while a request is being served), whereas
 * adding a descriptor to a context, changing its condition or removing it wakes the
 * context up with a write each time. (A watch attached per request cost two such writes,
 * an allocation and a peek per request, a tenth of the CPU of a GET:
 * docs/performance.md.) Only a hang-up or error during a request, which poll reports
 * whatever the condition, takes the descriptor out of the poll set until the request's end,
 * so that the main loop does not spin on it.
 *
 * When libsoup closes the connection (not kept alive, an error, the server going away) or
 * someone who took it over does (a WebSocket, a tunnel), its descriptor polls as invalid,
 * or as the connection that has it by then, and the watch, finding its socket closed,
 * ends there without touching the descriptor. */
#define _GNU_SOURCE           /* POLLRDHUP */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include "mr-keepalive.h"

#define IDLE_EVENTS ((gushort) (G_IO_IN | POLLRDHUP))

typedef struct {
  GSource source;
  GPollFD pollfd;
  gboolean polled;            /* pollfd is in the context's poll set */
  GSocket *socket;            /* the connection's socket (a reference) */
  SoupServerMessage *last;    /* the latest finished message: its connection can be stolen */
  gboolean busy;              /* between a request's start and its end */
  gboolean stepped_aside;     /* idle, libsoup was let read: no request started since */
} Watch;

/* looked up on every request: interned once (a lookup takes GLib's global quark lock),
 * as G_DEFINE_QUARK does, without exporting a function */
static GQuark
watch_quark (void)
{
  static GQuark quark;

  if (G_UNLIKELY (quark == 0))
    quark = g_quark_from_static_string ("mr-keepalive-watch");
  return quark;
}

/* > 0: request bytes wait; 0: end of stream (or an error); < 0: nothing yet */
static int
peek_socket (Watch *w)
{
  char byte;
  ssize_t n = recv (w->pollfd.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

  if (n > 0)
    return 1;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return -1;
  return 0;
}

/* Called on every main-loop turn, for every connection: nothing but field reads unless
 * the descriptor is out of the poll set (then nothing else tells a closed socket). */
static gboolean
watch_prepare (GSource *source, gint *timeout)
{
  Watch *w = (Watch *) source;

  *timeout = -1;
  if (!w->polled && g_socket_is_closed (w->socket))
    return TRUE;              /* to end the watch */
  w->pollfd.events = w->busy ? 0 : IDLE_EVENTS;
  return FALSE;
}

static gboolean
watch_check (GSource *source)
{
  Watch *w = (Watch *) source;
  gushort revents = w->polled ? w->pollfd.revents : 0;

  if (revents == 0)
    return !w->polled && g_socket_is_closed (w->socket);
  /* a closed socket's descriptor polls as invalid, or as whatever connection has it now */
  if (g_socket_is_closed (w->socket))
    return TRUE;
  if (w->busy)
    return (revents & (G_IO_HUP | G_IO_ERR | G_IO_NVAL)) != 0;   /* to stop polling */
  if (!(revents & (POLLRDHUP | G_IO_HUP | G_IO_ERR | G_IO_NVAL)))
    {
      /* readable only: the next request, libsoup's turn now. (Or, rarely, an end still in
       * flight, which libsoup may then read first: remembered, see watch_dispatch().) */
      w->stepped_aside = TRUE;
      return FALSE;
    }
  /* the end: unless a request came before it (libsoup's turn), ours */
  return peek_socket (w) <= 0;
}

static gboolean
watch_dispatch (GSource *source, GSourceFunc unused, gpointer unused_data)
{
  Watch *w = (Watch *) source;
  g_autoptr(GIOStream) stream = NULL;
  int peeked;

  if (g_socket_is_closed (w->socket))
    return G_SOURCE_REMOVE;   /* libsoup, or whoever took it over, closed it */
  if (w->busy)
    {
      /* hung up during a request: libsoup finds out on its own; poll would keep
       * reporting it meanwhile */
      g_source_remove_poll (source, &w->pollfd);
      w->polled = FALSE;
      return G_SOURCE_CONTINUE;
    }
  peeked = peek_socket (w);
  if (peeked != 0)
    return G_SOURCE_CONTINUE; /* a request after all, or the end is not complete yet */
  if (w->stepped_aside)
    {
      /* libsoup had its turn at a readable socket that was the end, and no request came:
       * it may have read the end already, and stealing would crash it. Close the socket
       * under it: the descriptor is freed, and what libsoup keeps of the connection goes
       * with the server. */
      g_socket_close (w->socket, NULL);
      return G_SOURCE_REMOVE;
    }
  if (w->last)
    {
      stream = soup_server_message_steal_connection (w->last);
      if (stream)
        g_io_stream_close (stream, NULL, NULL);
    }
  return G_SOURCE_REMOVE;
}

static void
watch_finalize (GSource *source)
{
  Watch *w = (Watch *) source;

  g_object_set_qdata (G_OBJECT (w->socket), watch_quark (), NULL);
  g_object_unref (w->socket);
  g_clear_object (&w->last);
}

static GSourceFuncs watch_funcs = { watch_prepare, watch_check, watch_dispatch, watch_finalize, NULL, NULL };

static void
on_request_started (SoupServer *server, SoupServerMessage *msg, gpointer unused)
{
  GSocket *socket = soup_server_message_get_socket (msg);
  Watch *w;

  if (socket == NULL || g_socket_is_closed (socket))
    return;
  w = g_object_get_qdata (G_OBJECT (socket), watch_quark ());
  if (w == NULL)
    {
      /* Stealing the connection reads the peer's address, which fails, with a warning,
       * once the client has reset the connection (it closed it with some of our reply
       * unread): have libsoup read it, and cache it for the connection, while it is
       * sound */
      soup_server_message_get_remote_address (msg);
      w = (Watch *) g_source_new (&watch_funcs, sizeof (Watch));
      w->socket = g_object_ref (socket);
      w->pollfd.fd = g_socket_get_fd (socket);
      g_source_set_priority (&w->source, G_PRIORITY_HIGH);
      g_source_add_poll (&w->source, &w->pollfd);
      w->polled = TRUE;
      g_object_set_qdata (G_OBJECT (socket), watch_quark (), w);
      g_source_attach (&w->source, g_main_context_get_thread_default ());
      g_source_unref (&w->source);
    }
  w->busy = TRUE;
  w->stepped_aside = FALSE;
}

/* finished or aborted (libsoup says "aborted" for a 500 too, on a connection it may
 * keep alive): either libsoup closes the connection right after this, or it waits for
 * the next request, which our watch sees first */
static void
on_request_ended (SoupServer *server, SoupServerMessage *msg, gpointer unused)
{
  GSocket *socket = soup_server_message_get_socket (msg);
  Watch *w = socket ? g_object_get_qdata (G_OBJECT (socket), watch_quark ()) : NULL;

  if (w == NULL)
    return;
  w->busy = FALSE;
  g_set_object (&w->last, msg);
  if (!w->polled)
    {
      g_source_add_poll (&w->source, &w->pollfd);
      w->polled = TRUE;
    }
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
  g_signal_connect (server, "request-finished", G_CALLBACK (on_request_ended), NULL);
  g_signal_connect (server, "request-aborted", G_CALLBACK (on_request_ended), NULL);
}
