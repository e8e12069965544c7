/* mr-client-watch.h: notices that the client of a paused request went away.
 *
 * While a request waits (a sync exec, a quiet log tail) libsoup does not read its
 * connection, so a client that disconnects goes unnoticed until the next write. This
 * watches the connection for end of file instead, so that what was started for the
 * request can be stopped at once. */
#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

typedef struct _MrClientWatch MrClientWatch;

typedef void (*MrClientGoneFunc) (gpointer user_data);

MrClientWatch *mr_client_watch_new (SoupServerMessage *msg, MrClientGoneFunc func, gpointer user_data);
void           mr_client_watch_free (MrClientWatch *watch);

G_END_DECLS
