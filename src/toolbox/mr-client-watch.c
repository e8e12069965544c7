/* mr-client-watch.c: end-of-file detection on a paused request's connection
 * (mr-client-watch.h). */
#include <errno.h>
#include <sys/socket.h>

#include "mr-client-watch.h"
#include "mr-util.h"

struct _MrClientWatch {
  GSource *source;
  MrClientGoneFunc func;
  gpointer user_data;
};

static gboolean
on_socket_event (GSocket *socket, GIOCondition condition, gpointer user_data)
{
  MrClientWatch *watch = user_data;
  char byte;
  gssize n;

  if (!(condition & (G_IO_HUP | G_IO_ERR)))
    {
      n = recv (g_socket_get_fd (socket), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;
      if (n > 0)
        {
          /* a pipelined request or TLS data: not ours to read, and no longer a sign of
           * anything; stop watching */
          mr_source_clear (&watch->source);
          return G_SOURCE_REMOVE;
        }
    }
  mr_source_clear (&watch->source);
  watch->func (watch->user_data);
  return G_SOURCE_REMOVE;
}

/**
 * mr_client_watch_new: (skip)
 * @msg: a request whose whole body was read
 * @func: called once if the client closes the connection
 * @user_data: data for @func
 *
 * Returns: (transfer full): a watch; free it when the request is answered
 */
MrClientWatch *
mr_client_watch_new (SoupServerMessage *msg, MrClientGoneFunc func, gpointer user_data)
{
  MrClientWatch *watch = g_new0 (MrClientWatch, 1);
  GSocket *socket = soup_server_message_get_socket (msg);

  watch->func = func;
  watch->user_data = user_data;
  if (socket)
    {
      watch->source = g_socket_create_source (socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
      g_source_set_callback (watch->source, (GSourceFunc) (void (*) (void)) on_socket_event, watch, NULL);
      g_source_attach (watch->source, g_main_context_get_thread_default ());
    }
  return watch;
}

void
mr_client_watch_free (MrClientWatch *watch)
{
  if (watch == NULL)
    return;
  mr_source_clear (&watch->source);
  g_free (watch);
}
