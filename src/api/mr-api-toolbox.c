/* mr-api-toolbox.c: ANY /sandboxes/{id}/toolbox/{path...}, handed to the toolbox plugin.
 *
 * The route streams: it has no body limit and the plugin sees the request as soon as
 * its headers are read. Before that, the sandbox must be one whose container would be
 * running, with the real runners' errors otherwise (runner-api.md section 7.1);
 * TOOLBOX_ANY_SANDBOX=true restores the Go mock's "every id goes to the shared
 * toolbox" behaviour. */
#include "mr-runner-private.h"
#include "mr-http.h"

static gboolean
container_running (MrSandboxState state)
{
  return state == MR_SANDBOX_STATE_STARTED || state == MR_SANDBOX_STATE_STOPPING ||
         state == MR_SANDBOX_STATE_RESIZING;
}

/**
 * mr_api_toolbox_dispatch: (skip)
 * @ex: the exchange, its headers read
 * @sandbox_id: the sandbox the request is for
 * @path: the toolbox path with its leading "/"
 * @prefix: what the client put before @path (redirects are rewritten under it)
 *
 * Checks the sandbox and hands the request to the toolbox backend. Every route that serves
 * the toolbox API (the runner's and the control-plane facade's) goes through here, with
 * mr_api_toolbox_body() as its body handler.
 */
void
mr_api_toolbox_dispatch (MrExchange *ex, const char *sandbox_id, const char *path, const char *prefix)
{
  MrToolboxBackend *toolbox = mr_runner_get_toolbox_backend (ex->runner);

  if (!mr_runner_get_option_bool (ex->runner, "TOOLBOX_ANY_SANDBOX", FALSE))
    {
      g_autoptr(MrSandbox) sandbox = mr_sandbox_backend_get (mr_runner_get_sandbox_backend (ex->runner),
                                                             sandbox_id);
      if (!sandbox->exists || sandbox->state == MR_SANDBOX_STATE_DESTROYED)
        {
          g_autofree char *message = g_strdup_printf ("not found: sandbox container not found: no such container: %s",
                                                      sandbox_id);
          soup_message_body_set_accumulate (soup_server_message_get_request_body (ex->msg), FALSE);
          mr_http_reply_error (ex->msg, 404, "NOT_FOUND", message);
          return;
        }
      if (!container_running (sandbox->state))
        {
          soup_message_body_set_accumulate (soup_server_message_get_request_body (ex->msg), FALSE);
          mr_http_reply_error (ex->msg, 400, "BAD_REQUEST",
                               "bad request: no IP address found. Is the Sandbox started?");
          return;
        }
    }

  mr_exchange_set_toolbox (ex, mr_toolbox_request_new (ex->msg, sandbox_id, path, prefix));
  mr_toolbox_request_set_server (ex->toolbox, mr_runner_get_soup_server (ex->runner));
  mr_toolbox_backend_handle_headers (toolbox, ex->toolbox);
}

/**
 * mr_api_toolbox_body: (skip)
 * @ex: the exchange, its body read
 *
 * The body phase of a request mr_api_toolbox_dispatch() handed to the toolbox backend.
 */
void
mr_api_toolbox_body (MrExchange *ex)
{
  if (ex->toolbox)
    mr_toolbox_backend_handle_body (mr_runner_get_toolbox_backend (ex->runner), ex->toolbox);
}

static void
toolbox_headers (MrExchange *ex)
{
  g_autofree char *prefix = g_strdup_printf ("/sandboxes/%s/toolbox", ex->sandbox_id);

  mr_api_toolbox_dispatch (ex, ex->sandbox_id, mr_exchange_param (ex, "path"), prefix);
}

static const MrRoute routes[] = {
  { "*", "/sandboxes/{id}/toolbox/*path", mr_api_toolbox_body, toolbox_headers, MR_ROUTE_STREAM, "toolbox" },
};

void
mr_api_register_toolbox (MrRouter *router)
{
  mr_router_add_all (router, routes, G_N_ELEMENTS (routes));
}
