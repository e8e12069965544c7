/* mr-toolbox-ws.h: a small server-side WebSocket (RFC 6455) over a stolen HTTP
 * connection, for the toolbox endpoints that need control SoupWebsocketConnection does
 * not give: a count of the frames not yet written (per-client queues that drop slow
 * consumers), close frames that go out *after* the data queued before them, and closing
 * the TCP connection without a close frame. Not installed.
 *
 * Everything runs in the thread-default main context of the thread that accepted the
 * connection. */
#pragma once

#include "mr-toolbox-private.h"

G_BEGIN_DECLS

typedef struct _MrTbWs MrTbWs;

/* A complete message from the client (fragments are joined; pings are answered). */
typedef void (*MrTbWsMessageFunc) (MrTbWs *ws, gboolean is_text, GBytes *payload, gpointer user_data);
/* The client went away: it sent a close frame (@code is its code, 1005 without one), the
 * connection ended (1006), or it broke the protocol (1002/1009 are sent to it). Called at
 * most once, never after the owner called one of the close functions. */
typedef void (*MrTbWsClosedFunc) (MrTbWs *ws, gushort code, gpointer user_data);
/* The upgrade completed: @ws is the caller's (transfer full). */
typedef void (*MrTbWsReadyFunc) (MrTbWs *ws, gpointer user_data);

/* Answers the handshake of @call with 101 (echoing @protocol, if not NULL) and calls
 * @ready once the 101 is written. Returns FALSE if the request is not a valid WebSocket
 * handshake; then nothing was answered and @destroy has been called. */
gboolean    mr_tb_ws_accept (MrTbCall *call, const char *protocol, MrTbWsReadyFunc ready,
                             gpointer user_data, GDestroyNotify destroy);
/* The subprotocol to echo: the first of @preferred the client offered (an entry ending
 * in "~" matches any offered token with that prefix), else the first it offered, else
 * NULL. Clients such as `ws` fail the handshake when none of their offers is echoed. */
char       *mr_tb_ws_choose_protocol (MrTbCall *call, const char * const *preferred);
/* Whether the client offered @protocol (exactly). */
gboolean    mr_tb_ws_offered_protocol (MrTbCall *call, const char *protocol);
/* The value of the first offered "<prefix><value>" token, or NULL. */
char       *mr_tb_ws_offered_protocol_value (MrTbCall *call, const char *prefix);

MrTbWs     *mr_tb_ws_ref (MrTbWs *ws);
void        mr_tb_ws_unref (MrTbWs *ws);
void        mr_tb_ws_set_handlers (MrTbWs *ws, MrTbWsMessageFunc message, MrTbWsClosedFunc closed,
                                   gpointer user_data);
void        mr_tb_ws_set_max_message (MrTbWs *ws, gsize max_message);
gboolean    mr_tb_ws_is_open (MrTbWs *ws);

/* Queue a message; FALSE (and nothing queued) once closing. */
gboolean    mr_tb_ws_send_text (MrTbWs *ws, const char *text);
gboolean    mr_tb_ws_send_binary (MrTbWs *ws, const void *data, gsize length);
/* Messages queued and not yet completely written to the socket. */
guint       mr_tb_ws_get_queued (MrTbWs *ws);

/* Closing. Each removes the handlers; the connection finishes by itself (the owner may
 * drop its reference at once). A @reason longer than 123 bytes is cut.
 *  close:      the close frame goes after everything queued so far;
 *  close_now:  unsent messages are dropped first (slow consumer);
 *  drop:       everything queued is written, then the TCP connection is closed without
 *              a close frame. */
void        mr_tb_ws_close (MrTbWs *ws, gushort code, const char *reason);
void        mr_tb_ws_close_now (MrTbWs *ws, gushort code, const char *reason);
void        mr_tb_ws_drop (MrTbWs *ws);
/* For reset and shutdown, when the main loop may not run again: like close, but what the
 * socket does not take at once is dropped and the connection is closed now, without
 * waiting for the client's close frame. Also ends a close already under way. */
void        mr_tb_ws_close_final (MrTbWs *ws, gushort code, const char *reason);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MrTbWs, mr_tb_ws_unref)

G_END_DECLS
