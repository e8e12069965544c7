/* mr-held-message.h: a request the toolbox answers later (a sync exec, a session
 * DELETE, a streamed log), held safely.
 *
 * The message is kept paused (or streaming) until released. It can be lost before that
 * in three ways, each reported once through the lost callback, after which the message
 * must not be touched: it finished; the server dropped its connection (shutdown: its
 * I/O is gone, and unpausing it would be an error); or the client closed the
 * connection, which libsoup does not notice while it neither reads nor writes, so the
 * connection is watched for end of file. */
#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

typedef void (*MrHeldLostFunc) (gpointer user_data);

typedef struct {
  SoupServerMessage *msg;       /* NULL when released or lost */
  gulong finished_id;
  gulong disconnected_id;
  GSource *client_watch;
  MrHeldLostFunc lost;
  gpointer user_data;
} MrHeldMessage;

void               mr_held_message_hold (MrHeldMessage *held, SoupServerMessage *msg, gboolean watch_client,
                                         MrHeldLostFunc lost, gpointer user_data);
SoupServerMessage *mr_held_message_get (MrHeldMessage *held);
void               mr_held_message_stop_watching_client (MrHeldMessage *held);
void               mr_held_message_release (MrHeldMessage *held, gboolean unpause);

G_END_DECLS
