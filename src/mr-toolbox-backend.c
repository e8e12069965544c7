/* mr-toolbox-backend.c: the toolbox plugin interface and the request it is handed. */
#include <string.h>

#include "mr-toolbox-backend.h"
#include "mr-error.h"

struct _MrToolboxRequest {
  gatomicrefcount ref;
  SoupServerMessage *msg;
  SoupServer *server;         /* the server that received msg, when known */
  char *sandbox_id;
  char *path;
  char *prefix;
  gpointer data;
  GDestroyNotify data_destroy;
};

G_DEFINE_BOXED_TYPE (MrToolboxRequest, mr_toolbox_request, mr_toolbox_request_ref, mr_toolbox_request_unref)

/**
 * mr_toolbox_request_new:
 * @msg: the server message
 * @sandbox_id: (nullable): the sandbox the request is for
 * @path: the toolbox path with its leading "/", e.g. "/files/info"
 * @prefix: what the client put before @path, e.g. "/sandboxes/abc/toolbox"
 *
 * Returns: (transfer full): a new request
 */
MrToolboxRequest *
mr_toolbox_request_new (SoupServerMessage *msg, const char *sandbox_id, const char *path, const char *prefix)
{
  MrToolboxRequest *request = g_new0 (MrToolboxRequest, 1);

  g_atomic_ref_count_init (&request->ref);
  request->msg = g_object_ref (msg);
  request->sandbox_id = g_strdup (sandbox_id);
  request->path = g_strdup (path && *path ? path : "/");
  request->prefix = g_strdup (prefix ? prefix : "");
  return request;
}

/**
 * mr_toolbox_request_ref:
 * @request: a request
 *
 * Returns: (transfer full): @request
 */
MrToolboxRequest *
mr_toolbox_request_ref (MrToolboxRequest *request)
{
  g_atomic_ref_count_inc (&request->ref);
  return request;
}

/**
 * mr_toolbox_request_unref:
 * @request: (transfer full): a request
 */
void
mr_toolbox_request_unref (MrToolboxRequest *request)
{
  if (!g_atomic_ref_count_dec (&request->ref))
    return;
  if (request->data_destroy)
    request->data_destroy (request->data);
  g_object_unref (request->msg);
  g_clear_object (&request->server);
  g_free (request->sandbox_id);
  g_free (request->path);
  g_free (request->prefix);
  g_free (request);
}

/**
 * mr_toolbox_request_get_message:
 * @request: a request
 *
 * Returns: (transfer none): the server message
 */
SoupServerMessage *
mr_toolbox_request_get_message (MrToolboxRequest *request)
{
  return request->msg;
}

/**
 * mr_toolbox_request_set_server:
 * @request: a request
 * @server: (nullable): the server that received the request's message
 *
 * Tells the toolbox which server the message came from. A route that takes the
 * connection over (a large upload) needs it to report the end of the request, which
 * libsoup no longer does; without it such routes leave the connection to libsoup.
 */
void
mr_toolbox_request_set_server (MrToolboxRequest *request, SoupServer *server)
{
  g_set_object (&request->server, server);
}

/**
 * mr_toolbox_request_get_server:
 * @request: a request
 *
 * Returns: (transfer none) (nullable): the server set with mr_toolbox_request_set_server()
 */
SoupServer *
mr_toolbox_request_get_server (MrToolboxRequest *request)
{
  return request->server;
}

/**
 * mr_toolbox_request_get_sandbox_id:
 * @request: a request
 *
 * Returns: (transfer none) (nullable): the sandbox id
 */
const char *
mr_toolbox_request_get_sandbox_id (MrToolboxRequest *request)
{
  return request->sandbox_id;
}

/**
 * mr_toolbox_request_get_path:
 * @request: a request
 *
 * Returns: (transfer none): the toolbox path, starting with "/"
 */
const char *
mr_toolbox_request_get_path (MrToolboxRequest *request)
{
  return request->path;
}

/**
 * mr_toolbox_request_get_prefix:
 * @request: a request
 *
 * Returns: (transfer none): the path prefix the client used before the toolbox path
 */
const char *
mr_toolbox_request_get_prefix (MrToolboxRequest *request)
{
  return request->prefix;
}

/**
 * mr_toolbox_request_get_query:
 * @request: a request
 *
 * Returns: (transfer none) (nullable): the raw query string, without "?"
 */
const char *
mr_toolbox_request_get_query (MrToolboxRequest *request)
{
  return g_uri_get_query (soup_server_message_get_uri (request->msg));
}

/**
 * mr_toolbox_request_set_data:
 * @request: a request
 * @data: (nullable): backend data
 * @destroy: (nullable): frees @data
 *
 * Attaches backend data that lives as long as the request.
 */
void
mr_toolbox_request_set_data (MrToolboxRequest *request, gpointer data, GDestroyNotify destroy)
{
  if (request->data_destroy)
    request->data_destroy (request->data);
  request->data = data;
  request->data_destroy = destroy;
}

/**
 * mr_toolbox_request_get_data:
 * @request: a request
 *
 * Returns: (transfer none) (nullable): the backend data
 */
gpointer
mr_toolbox_request_get_data (MrToolboxRequest *request)
{
  return request->data;
}

/**
 * mr_toolbox_request_rewrite_location:
 * @request: a request
 * @location: a Location header from the toolbox
 *
 * Rewrites a root-relative redirect so that it stays under the prefix the client used
 * (as the Daytona proxy does), e.g. "/files/?path=x" becomes
 * "/sandboxes/abc/toolbox/files/?path=x". Absolute and relative URLs are kept.
 *
 * Returns: (transfer full): the Location to send
 */
char *
mr_toolbox_request_rewrite_location (MrToolboxRequest *request, const char *location)
{
  if (location[0] == '/' && location[1] != '/' && !g_str_has_prefix (location, request->prefix))
    return g_strconcat (request->prefix, location, NULL);
  return g_strdup (location);
}

G_DEFINE_INTERFACE (MrToolboxBackend, mr_toolbox_backend, MR_TYPE_PLUGIN)

static void
mr_toolbox_backend_default_init (MrToolboxBackendInterface *iface)
{
}

#define IFACE(self) MR_TOOLBOX_BACKEND_GET_IFACE (self)

/**
 * mr_toolbox_backend_handle_headers:
 * @self: a toolbox backend
 * @request: the request, its headers read
 */
void
mr_toolbox_backend_handle_headers (MrToolboxBackend *self, MrToolboxRequest *request)
{
  if (IFACE (self)->handle_headers)
    IFACE (self)->handle_headers (self, request);
}

/**
 * mr_toolbox_backend_handle_body:
 * @self: a toolbox backend
 * @request: the request, its body read
 */
void
mr_toolbox_backend_handle_body (MrToolboxBackend *self, MrToolboxRequest *request)
{
  if (IFACE (self)->handle_body)
    IFACE (self)->handle_body (self, request);
}

/**
 * mr_toolbox_backend_ensure_running:
 * @self: a toolbox backend
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the toolbox can serve
 */
gboolean
mr_toolbox_backend_ensure_running (MrToolboxBackend *self, GError **error)
{
  return IFACE (self)->ensure_running ? IFACE (self)->ensure_running (self, error) : TRUE;
}

/**
 * mr_toolbox_backend_check_health:
 * @self: a toolbox backend
 * @reason: (out) (optional) (nullable) (transfer full): why it is unhealthy
 *
 * Returns: %TRUE if healthy
 */
gboolean
mr_toolbox_backend_check_health (MrToolboxBackend *self, char **reason)
{
  if (reason)
    *reason = NULL;
  return IFACE (self)->check_health ? IFACE (self)->check_health (self, reason) : TRUE;
}

/**
 * mr_toolbox_backend_get_service_name:
 * @self: a toolbox backend
 *
 * Returns: (transfer none): the service name for /info serviceHealth
 */
const char *
mr_toolbox_backend_get_service_name (MrToolboxBackend *self)
{
  return IFACE (self)->get_service_name ? IFACE (self)->get_service_name (self) : "toolbox";
}

/**
 * mr_toolbox_backend_get_daemon_version:
 * @self: a toolbox backend
 *
 * Returns: (transfer full): the toolbox daemon version
 */
char *
mr_toolbox_backend_get_daemon_version (MrToolboxBackend *self)
{
  char *version = IFACE (self)->get_daemon_version ? IFACE (self)->get_daemon_version (self) : NULL;

  return version ? version : g_strdup (MR_DAEMON_VERSION);
}

/**
 * mr_toolbox_backend_connect_port:
 * @self: a toolbox backend
 * @port: a TCP port inside the toolbox
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): a connection to @port
 */
GIOStream *
mr_toolbox_backend_connect_port (MrToolboxBackend *self, guint16 port, GCancellable *cancellable, GError **error)
{
  if (IFACE (self)->connect_port == NULL)
    {
      g_set_error (error, MR_ERROR, MR_ERROR_UNAVAILABLE, "%s cannot connect to toolbox ports",
                   G_OBJECT_TYPE_NAME (self));
      return NULL;
    }
  return IFACE (self)->connect_port (self, port, cancellable, error);
}
