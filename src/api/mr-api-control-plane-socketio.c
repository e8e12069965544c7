/* mr-api-control-plane-socketio.c: GET {prefix}/socket.io/, the SDK's event stream.
 *
 * Unless useDeprecatedPolling is set, SDK 0.2xx opens a socket.io connection (engine.io
 * protocol 4, websocket transport only) to {apiUrl}/socket.io/ and subscribes every
 * Sandbox object to state events; it polls when that fails. The facade has no events
 * to send, and how it refuses matters:
 *
 *  - a plain 404 fails the websocket handshake, and socket.io-client then retries with
 *    reconnection timers (up to 10 attempts, up to 30 s apart) that keep Node alive for
 *    minutes after the script is done (official-clients.md, pitfall 5);
 *  - completing the engine.io handshake and refusing the socket.io CONNECT with a
 *    CONNECT_ERROR packet makes the client give up at once, without reconnecting. And
 *    because the engine.io transport did open, the SDK has unref'd its socket, so
 *    nothing of it keeps the process alive.
 *
 * So the facade does the second: open packet, CONNECT_ERROR on CONNECT, close. The SDK
 * then polls GET {prefix}/sandbox/{id} (every second while it waits for a state). */
#include <string.h>

#include "mr-api-control-plane.h"
#include "mr-http.h"
#include "mr-util.h"

/* a client that never sends CONNECT is closed after this long */
#define HANDSHAKE_TIMEOUT_MS 10000

#define REFUSAL "44{\"message\":\"mock-runner does not stream events; the SDK polls instead\"}"

/* One websocket. The deadline source owns it: its destroy notify frees everything, when
 * the connection has closed, when the deadline gives up, or when the runner's context
 * goes away with its sources. */
typedef struct {
  SoupWebsocketConnection *conn;
  GSource *deadline;
} Client;

static void
client_free (gpointer data)
{
  Client *c = data;

  g_signal_handlers_disconnect_by_data (c->conn, c);
  /* still set when the runner's context destroyed the source */
  if (c->deadline)
    g_source_unref (g_steal_pointer (&c->deadline));
  g_object_unref (c->conn);
  g_free (c);
}

static void
on_closed (SoupWebsocketConnection *conn, Client *c)
{
  GSource *deadline = g_steal_pointer (&c->deadline);

  /* frees @c: nothing may touch it after this */
  g_source_destroy (deadline);
  g_source_unref (deadline);
}

static void
on_message (SoupWebsocketConnection *conn, gint type, GBytes *message, Client *c)
{
  gsize len;
  const char *data = g_bytes_get_data (message, &len);

  if (type != SOUP_WEBSOCKET_DATA_TEXT || len == 0)
    return;
  /* engine.io "4" (message) carrying socket.io "0" (CONNECT to a namespace) */
  if (len >= 2 && data[0] == '4' && data[1] == '0')
    {
      soup_websocket_connection_send_text (conn, REFUSAL);
      soup_websocket_connection_close (conn, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
    }
  else if (data[0] == '1')   /* engine.io close */
    soup_websocket_connection_close (conn, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
}

static gboolean
on_deadline (gpointer data)
{
  Client *c = data;

  if (soup_websocket_connection_get_state (c->conn) == SOUP_WEBSOCKET_STATE_OPEN)
    {
      /* wait once more for the close handshake to end, then give up on it */
      soup_websocket_connection_close (c->conn, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, NULL);
      return G_SOURCE_CONTINUE;
    }
  /* the context keeps the source alive until the callback returns */
  g_source_unref (g_steal_pointer (&c->deadline));
  return G_SOURCE_REMOVE;
}

static void
complete_upgrade (SoupServerMessage *msg, gpointer data)
{
  const char *sid = data;
  SoupMessageHeaders *req = soup_server_message_get_request_headers (msg);
  g_autoptr(GIOStream) stream = NULL;
  g_autofree char *open = NULL;
  Client *c;

  if (soup_server_message_get_status (msg) != SOUP_STATUS_SWITCHING_PROTOCOLS)
    return;
  g_object_ref (msg);
  stream = soup_server_message_steal_connection (msg);
  c = g_new0 (Client, 1);
  c->conn = soup_websocket_connection_new (stream, soup_server_message_get_uri (msg), SOUP_WEBSOCKET_CONNECTION_SERVER,
                                           soup_message_headers_get_one (req, "Origin"), NULL, NULL);
  g_signal_connect (c->conn, "message", G_CALLBACK (on_message), c);
  g_signal_connect (c->conn, "closed", G_CALLBACK (on_closed), c);
  c->deadline = mr_timeout_add_full (HANDSHAKE_TIMEOUT_MS, on_deadline, c, client_free);
  /* engine.io "0" (open): the client answers with a socket.io CONNECT */
  open = g_strdup_printf ("0{\"sid\":\"%s\",\"upgrades\":[],\"pingInterval\":25000,\"pingTimeout\":20000,"
                          "\"maxPayload\":1000000}", sid);
  soup_websocket_connection_send_text (c->conn, open);
  g_object_unref (msg);
}

static void
free_sid (gpointer data, GClosure *closure)
{
  g_free (data);
}

/* engine.io's error answer to a request it cannot serve */
static void
reply_engine_error (MrExchange *ex, int code, const char *message)
{
  g_autoptr(JsonObject) o = json_object_new ();
  g_autoptr(JsonNode) root = NULL;

  json_object_set_int_member (o, "code", code);
  json_object_set_string_member (o, "message", message);
  root = json_node_init_object (json_node_alloc (), o);
  mr_http_reply_json (ex->msg, 400, root);
}

/**
 * mr_cp_handle_socketio: (skip)
 * @ex: GET {prefix}/socket.io/?EIO=4&transport=websocket
 *
 * Accepts the websocket and refuses the socket.io connection on it (see above).
 */
void
mr_cp_handle_socketio (MrExchange *ex)
{
  g_autoptr(GError) error = NULL;

  if (g_strcmp0 (mr_exchange_query (ex, "EIO"), "4") != 0)
    {
      reply_engine_error (ex, 5, "Unsupported protocol version");
      return;
    }
  if (g_strcmp0 (mr_exchange_query (ex, "transport"), "websocket") != 0)
    {
      reply_engine_error (ex, 0, "Transport unknown");
      return;
    }
  if (!soup_websocket_server_check_handshake (ex->msg, NULL, NULL, NULL, &error))
    {
      reply_engine_error (ex, 3, "Bad request");
      return;
    }
  soup_websocket_server_process_handshake (ex->msg, NULL, NULL, NULL, NULL);
  g_signal_connect_data (ex->msg, "wrote-informational", G_CALLBACK (complete_upgrade),
                         mr_runner_random_hex (ex->runner, 10), free_sid, 0);
}
