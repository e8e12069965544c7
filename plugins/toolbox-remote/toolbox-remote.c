/* toolbox-remote: every toolbox request of every sandbox goes to one toolbox daemon that
 * already runs somewhere (TOOLBOX_URL), for example a mock-runner-toolboxd started by
 * hand, in a VM or in a container the runner does not manage. Bodies are streamed and
 * WebSockets passed through (src/mr-forward.c); an unreachable daemon gives 502 with
 * the common error body.
 *
 * The runner does not own that daemon: it neither starts nor resets it. Health (/info)
 * is a GET /version asked when it is wanted. */
#include <string.h>

#include "mock-runner.h"
#include "mr-forward.h"

#define PROBE_TIMEOUT_SEC 2

#define MR_TYPE_TOOLBOX_REMOTE (mr_toolbox_remote_get_type ())
G_DECLARE_FINAL_TYPE (MrToolboxRemote, mr_toolbox_remote, MR, TOOLBOX_REMOTE, GObject)

struct _MrToolboxRemote {
  GObject parent_instance;
  MrRunner *runner;
  char *url;                 /* without a trailing "/" */
  char *host;
  guint16 port;
  char *version;             /* what the daemon last reported */
  MrForwarder *forwarder;
};

static void plugin_iface_init (MrPluginInterface *iface);
static void toolbox_iface_init (MrToolboxBackendInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (MrToolboxRemote, mr_toolbox_remote, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (MR_TYPE_PLUGIN, plugin_iface_init)
                               G_IMPLEMENT_INTERFACE (MR_TYPE_TOOLBOX_BACKEND, toolbox_iface_init))

static void
remote_handle_headers (MrToolboxBackend *backend, MrToolboxRequest *request)
{
  MrToolboxRemote *self = MR_TOOLBOX_REMOTE (backend);

  if (self->forwarder == NULL)
    self->forwarder = mr_forwarder_new (MR_FORWARD_ERROR_BODY | MR_FORWARD_LOGS_FOLLOW);
  mr_forwarder_forward (self->forwarder, request, self->url, mr_toolbox_request_get_path (request));
}

static gboolean
probe (MrToolboxRemote *self, GError **error)
{
  g_autofree char *version = NULL;

  if (!mr_forward_probe_version (self->url, PROBE_TIMEOUT_SEC, &version, error))
    return FALSE;
  g_free (self->version);
  self->version = g_steal_pointer (&version);
  return TRUE;
}

static gboolean
remote_check_health (MrToolboxBackend *backend, char **reason)
{
  MrToolboxRemote *self = MR_TOOLBOX_REMOTE (backend);
  g_autoptr(GError) error = NULL;

  if (probe (self, &error))
    return TRUE;
  if (reason)
    *reason = g_strdup_printf ("the toolbox daemon at %s does not answer: %s", self->url, error->message);
  return FALSE;
}

static gboolean
remote_ensure_running (MrToolboxBackend *backend, GError **error)
{
  /* not ours to start: a daemon that is down now may be back by the first request */
  return TRUE;
}

static char *
remote_get_daemon_version (MrToolboxBackend *backend)
{
  return g_strdup (MR_TOOLBOX_REMOTE (backend)->version);
}

static GIOStream *
remote_connect_port (MrToolboxBackend *backend, guint16 port, GCancellable *cancellable, GError **error)
{
  MrToolboxRemote *self = MR_TOOLBOX_REMOTE (backend);
  g_autoptr(GSocketClient) client = g_socket_client_new ();

  GSocketConnection *connection;

  g_socket_client_set_enable_proxy (client, FALSE);
  g_socket_client_set_timeout (client, 10);
  connection = g_socket_client_connect_to_host (client, self->host, port, cancellable, error);
  /* the connect timeout must not become an idle timeout of the relayed session */
  if (connection)
    g_socket_set_timeout (g_socket_connection_get_socket (connection), 0);
  return G_IO_STREAM (connection);
}

static void
toolbox_iface_init (MrToolboxBackendInterface *iface)
{
  iface->handle_headers = remote_handle_headers;
  iface->check_health = remote_check_health;
  iface->ensure_running = remote_ensure_running;
  iface->get_daemon_version = remote_get_daemon_version;
  iface->connect_port = remote_connect_port;
}

static gboolean
remote_setup (MrPlugin *plugin, MrRunner *runner, GError **error)
{
  MrToolboxRemote *self = MR_TOOLBOX_REMOTE (plugin);
  const char *url = mr_runner_get_option (runner, "TOOLBOX_URL");
  g_autoptr(GUri) uri = NULL;
  gsize len;

  self->runner = runner;
  if (url == NULL || *url == '\0')
    {
      g_set_error (error, MR_ERROR, MR_ERROR_CONFIG,
                   "TOOLBOX_URL is required (the toolbox daemon to forward to, e.g. http://127.0.0.1:2280)");
      return FALSE;
    }
  uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL || g_strcmp0 (g_uri_get_scheme (uri), "http") != 0 || g_uri_get_host (uri) == NULL ||
      *g_uri_get_host (uri) == '\0')
    {
      g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "invalid TOOLBOX_URL '%s' (expected http://HOST:PORT)", url);
      return FALSE;
    }
  len = strlen (url);
  while (len > 0 && url[len - 1] == '/')
    len--;
  self->url = g_strndup (url, len);
  self->host = g_strdup (g_uri_get_host (uri));
  self->port = g_uri_get_port (uri) > 0 ? g_uri_get_port (uri) : 80;
  return TRUE;
}

static gboolean
remote_start (MrPlugin *plugin, GError **error)
{
  MrToolboxRemote *self = MR_TOOLBOX_REMOTE (plugin);
  g_autoptr(GError) local = NULL;

  if (!probe (self, &local))
    g_warning ("toolbox-remote: the toolbox daemon at %s does not answer yet: %s", self->url, local->message);
  return TRUE;
}

static void
remote_stop (MrPlugin *plugin)
{
  MrToolboxRemote *self = MR_TOOLBOX_REMOTE (plugin);

  g_clear_pointer (&self->forwarder, mr_forwarder_free);
}

static void
remote_reset (MrPlugin *plugin)
{
  MrToolboxRemote *self = MR_TOOLBOX_REMOTE (plugin);

  /* the daemon is not ours to reset; what we relay for it is */
  if (self->forwarder)
    mr_forwarder_cancel_all (self->forwarder);
}

static void
plugin_iface_init (MrPluginInterface *iface)
{
  iface->setup = remote_setup;
  iface->start = remote_start;
  iface->stop = remote_stop;
  iface->reset = remote_reset;
}

static void
mr_toolbox_remote_init (MrToolboxRemote *self)
{
}

static void
mr_toolbox_remote_finalize (GObject *object)
{
  MrToolboxRemote *self = MR_TOOLBOX_REMOTE (object);

  g_clear_pointer (&self->forwarder, mr_forwarder_free);
  g_free (self->url);
  g_free (self->host);
  g_free (self->version);
  G_OBJECT_CLASS (mr_toolbox_remote_parent_class)->finalize (object);
}

static void
mr_toolbox_remote_class_init (MrToolboxRemoteClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mr_toolbox_remote_finalize;
}

static const MrPluginOption options[] = {
  { "TOOLBOX_URL", NULL, "The toolbox daemon every toolbox request goes to, e.g. http://127.0.0.1:2280 (required)" },
  { NULL, NULL, NULL }
};

MR_PLUGIN_DEFINE ("toolbox-remote", MR_PLUGIN_KIND_TOOLBOX,
                  "Forwards the toolbox API to a toolbox daemon that runs elsewhere (TOOLBOX_URL)",
                  mr_toolbox_remote_get_type, options);
