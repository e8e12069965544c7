/* mr-held-message.c: requests answered later (mr-held-message.h). */
#include <errno.h>
#include <sys/socket.h>

#include "mr-held-message.h"
#include "mr-util.h"

static void
detach (MrHeldMessage *held)
{
  mr_source_clear (&held->client_watch);
  if (held->msg && held->finished_id)
    {
      g_signal_handler_disconnect (held->msg, held->finished_id);
      g_signal_handler_disconnect (held->msg, held->disconnected_id);
      held->finished_id = held->disconnected_id = 0;
    }
}

static void
lost (MrHeldMessage *held)
{
  SoupServerMessage *msg = held->msg;

  detach (held);
  held->msg = NULL;
  if (held->lost)
    held->lost (held->user_data);
  g_clear_object (&msg);
}

static void
on_finished (SoupServerMessage *msg, MrHeldMessage *held)
{
  lost (held);
}

static gboolean
on_client_event (GSocket *socket, GIOCondition condition, gpointer user_data)
{
  MrHeldMessage *held = user_data;
  SoupServerMessage *msg;
  char byte;

  if (!(condition & (G_IO_HUP | G_IO_ERR)))
    {
      gssize n = recv (g_socket_get_fd (socket), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;
      if (n > 0)
        {
          /* a pipelined request or TLS data: not ours to read, no longer a sign of
           * anything; stop watching */
          mr_source_clear (&held->client_watch);
          return G_SOURCE_REMOVE;
        }
    }
  /* the client is gone: let libsoup find out by writing, then forget the message */
  msg = g_object_ref (held->msg);
  mr_source_clear (&held->client_watch);
  if (soup_server_message_get_status (msg) == 0)
    soup_server_message_set_status (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, NULL);
  soup_message_body_complete (soup_server_message_get_response_body (msg));
  detach (held);
  soup_server_message_unpause (msg);
  g_object_unref (msg);
  lost (held);
  return G_SOURCE_REMOVE;
}

/**
 * mr_held_message_hold: (skip)
 * @held: an unused holder (zero-filled)
 * @msg: the message (the caller paused it or streams it)
 * @watch_client: whether to watch the connection for the client going away (only while
 *   libsoup neither reads nor writes it: a paused message whose body was read)
 * @lost: called once if the message is lost before mr_held_message_release()
 * @user_data: data for @lost
 */
void
mr_held_message_hold (MrHeldMessage *held, SoupServerMessage *msg, gboolean watch_client,
                      MrHeldLostFunc lost_func, gpointer user_data)
{
  GSocket *socket;

  held->msg = g_object_ref (msg);
  held->lost = lost_func;
  held->user_data = user_data;
  held->finished_id = g_signal_connect (msg, "finished", G_CALLBACK (on_finished), held);
  held->disconnected_id = g_signal_connect (msg, "disconnected", G_CALLBACK (on_finished), held);
  socket = watch_client ? soup_server_message_get_socket (msg) : NULL;
  if (socket)
    {
      held->client_watch = g_socket_create_source (socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
      g_source_set_callback (held->client_watch, (GSourceFunc) (void (*) (void)) on_client_event, held, NULL);
      g_source_attach (held->client_watch, g_main_context_get_thread_default ());
    }
}

SoupServerMessage *
mr_held_message_get (MrHeldMessage *held)
{
  return held->msg;
}

void
mr_held_message_stop_watching_client (MrHeldMessage *held)
{
  mr_source_clear (&held->client_watch);
}

/**
 * mr_held_message_release: (skip)
 * @unpause: resume the message's I/O (after setting its answer)
 *
 * Stops holding the message; the lost callback will not run. Does nothing if the
 * message was lost or released already.
 */
void
mr_held_message_release (MrHeldMessage *held, gboolean unpause)
{
  SoupServerMessage *msg = held->msg;

  if (msg == NULL)
    return;
  detach (held);
  held->msg = NULL;
  if (unpause)
    soup_server_message_unpause (msg);
  g_object_unref (msg);
}
