/* mr-toolbox-proxy.c: ANY /proxy/{port}/{path...} (toolbox-api.md section 2.11).
 *
 * The request goes to http://localhost:{port}/{path} with its query, bodies streamed
 * and WebSocket upgrades tunnelled (mr-forward.c); an unreachable port is a 502 with an
 * empty body. A root-relative redirect is kept under the prefix the client used, as
 * the runner's own forwarding does.
 *
 * Port 2280 is the daemon's own port: the Daytona proxy sends all toolbox traffic as
 * /proxy/2280/<path>. That is served here directly, by the toolbox itself, so that it
 * works however the toolbox is served (in the runner, or by mock-runner-toolboxd on
 * any port) and costs no extra connection. */
#include <string.h>

#include "mr-toolbox-private.h"
#include "mr-forward.h"

#define DAEMON_PORT 2280

static MrForwarder *
get_forwarder (MrToolbox *toolbox)
{
  MrForwarder *forwarder = mr_tb_area_get (toolbox, "proxy");

  if (forwarder == NULL)
    {
      forwarder = mr_forwarder_new (0);
      mr_tb_area_set (toolbox, "proxy", forwarder, (GDestroyNotify) mr_forwarder_free);
    }
  return forwarder;
}

/* "/proxy/3000/a/b" -> "/a/b"; "/proxy/3000" and "/proxy/3000/" -> "/" (still encoded) */
static char *
inner_path (const char *raw_path)
{
  const char *p = raw_path;

  for (int slashes = 0; *p && slashes < 3; p++)
    if (*p == '/' && ++slashes == 3)
      break;
  return g_strdup (*p ? p : "/");
}

/* Serving /proxy/2280/... in-process -------------------------------------------------- */

typedef struct {
  MrToolbox *toolbox;
  MrToolboxRequest *inner;
  SoupServerMessage *msg;
  gulong got_body_id, finished_id, disconnected_id;
} SelfCall;

static void
self_call_end (SelfCall *sc)
{
  g_signal_handler_disconnect (sc->msg, sc->got_body_id);
  g_signal_handler_disconnect (sc->msg, sc->finished_id);
  g_signal_handler_disconnect (sc->msg, sc->disconnected_id);
  mr_toolbox_request_unref (sc->inner);
  g_object_unref (sc->toolbox);
  g_free (sc);
}

static void
on_self_got_body (SoupServerMessage *msg, SelfCall *sc)
{
  /* the runner's body phase ran for the /proxy route, which streams: run the inner one */
  mr_toolbox_handle_body (sc->toolbox, sc->inner);
}

static void
on_self_finished (SoupServerMessage *msg, SelfCall *sc)
{
  self_call_end (sc);
}

static void
serve_self (MrTbCall *call, const char *path)
{
  SelfCall *sc = g_new0 (SelfCall, 1);
  g_autofree char *prefix = g_strdup_printf ("%s/proxy/%d", mr_toolbox_request_get_prefix (call->request), DAEMON_PORT);

  sc->toolbox = g_object_ref (call->toolbox);
  sc->msg = call->msg;
  /* no sandbox id: behind its own /proxy/2280 hop the request is the daemon's, not the
   * runner's, so the runner's special cases (the plain-HTTP logs follow) do not apply */
  sc->inner = mr_toolbox_request_new (call->msg, NULL, path, prefix);
  mr_toolbox_request_set_server (sc->inner, mr_toolbox_request_get_server (call->request));
  /* the handlers are disconnected when the message finishes, which breaks the cycle
   * message -> handler -> request -> message */
  sc->got_body_id = g_signal_connect (call->msg, "got-body", G_CALLBACK (on_self_got_body), sc);
  sc->finished_id = g_signal_connect (call->msg, "finished", G_CALLBACK (on_self_finished), sc);
  /* a connection taken over (a large upload) never finishes */
  sc->disconnected_id = g_signal_connect (call->msg, "disconnected", G_CALLBACK (on_self_finished), sc);
  mr_toolbox_handle_headers (call->toolbox, sc->inner);
}

/* The route -------------------------------------------------------------------------- */

static void
handle_proxy (MrTbCall *call)
{
  const char *port_text = mr_tb_param (call, "port");
  g_autofree char *path = inner_path (mr_toolbox_request_get_path (call->request));
  g_autofree char *base = NULL;
  guint64 port;

  if (!g_ascii_string_to_unsigned (port_text, 10, 1, 65535, &port, NULL))
    {
      soup_message_body_set_accumulate (soup_server_message_get_request_body (call->msg), FALSE);
      mr_tb_reply_error_printf (call, 400, "invalid port: %s", port_text);
      return;
    }
  if (port == DAEMON_PORT)
    {
      serve_self (call, path);
      return;
    }
  base = g_strdup_printf ("http://localhost:%" G_GUINT64_FORMAT, port);
  mr_forwarder_forward (get_forwarder (call->toolbox), call->request, base, path);
}

static const MrRoute routes[] = {
  { "*", "/proxy/{port}", handle_proxy, NULL, MR_TB_STREAM_BODY, "proxy" },
  { "*", "/proxy/{port}/*path", handle_proxy, NULL, MR_TB_STREAM_BODY, "proxy" },
};

void
mr_tb_register_proxy (MrRouter *router)
{
  mr_router_add_all (router, routes, G_N_ELEMENTS (routes));
}
