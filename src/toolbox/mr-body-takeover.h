/* mr-body-takeover.h: reading a large request body off libsoup's connection in a thread
 * of its own (mr-body-takeover.c). Not installed. */
#pragma once

#include "mr-toolbox-private.h"

G_BEGIN_DECLS

/* Called in the reading thread with each piece of the body, in order. */
typedef void (*MrTbBodyFunc) (const guint8 *data, gsize len, gpointer user_data);

/* Called on the server thread once the body has ended. @complete: all of it was read,
 * and the function must set the reply on call->msg, which is then written; otherwise the
 * client went away and nothing will be answered. */
typedef void (*MrTbBodyDoneFunc) (MrTbCall *call, gboolean complete, gpointer user_data);

gboolean mr_tb_take_over_body (MrTbCall *call, MrTbBodyFunc body_func, MrTbBodyDoneFunc done_func,
                               gpointer user_data, GDestroyNotify destroy);

G_END_DECLS
