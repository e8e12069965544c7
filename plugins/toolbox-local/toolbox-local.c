/* toolbox-local: serves the toolbox API in-process, for every sandbox, from one shared
 * work directory: the embedded default, which needs no Docker. As in the seed's shared
 * container, all sandboxes see the same files and processes.
 *
 * Options: TOOLBOX_WORK_DIR (default: a "workspace" folder in the runner's private
 * directory) and TOOLBOX_HOME_DIR (default: the work directory). */
#include "mock-runner.h"
#include "toolbox/mr-toolbox.h"
#include "ssh/mr-toolbox-ssh.h"

#define MR_TYPE_TOOLBOX_LOCAL (mr_toolbox_local_get_type ())
G_DECLARE_FINAL_TYPE (MrToolboxLocal, mr_toolbox_local, MR, TOOLBOX_LOCAL, GObject)

struct _MrToolboxLocal {
  GObject parent_instance;
  MrRunner *runner;
  MrToolbox *toolbox;
  MrToolboxSsh *ssh;      /* the toolbox's SSH server, once the gateway asked for it */
};

static void plugin_iface_init (MrPluginInterface *iface);
static void toolbox_iface_init (MrToolboxBackendInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (MrToolboxLocal, mr_toolbox_local, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (MR_TYPE_PLUGIN, plugin_iface_init)
                               G_IMPLEMENT_INTERFACE (MR_TYPE_TOOLBOX_BACKEND, toolbox_iface_init))

static void
local_handle_headers (MrToolboxBackend *backend, MrToolboxRequest *request)
{
  mr_toolbox_handle_headers (MR_TOOLBOX_LOCAL (backend)->toolbox, request);
}

static void
local_handle_body (MrToolboxBackend *backend, MrToolboxRequest *request)
{
  mr_toolbox_handle_body (MR_TOOLBOX_LOCAL (backend)->toolbox, request);
}

static char *
local_get_daemon_version (MrToolboxBackend *backend)
{
  return g_strdup (mr_toolbox_get_version (MR_TOOLBOX_LOCAL (backend)->toolbox));
}

/* SSH ---------------------------------------------------------------------------------
 * Port 22220 of a Daytona sandbox is its daemon's SSH server, which the ssh gateway
 * dials. Here that server runs in process, on a loopback port of its own (two runners
 * must not collide on 22220), started the first time the gateway connects. */
static guint16
local_ssh_port (MrToolboxLocal *self, GError **error)
{
  if (self->ssh == NULL)
    {
      g_autoptr(MrToolboxSsh) ssh = mr_toolbox_ssh_new (self->toolbox, error);
      if (ssh == NULL || mr_toolbox_ssh_listen (ssh, "127.0.0.1", 0, error) == 0)
        return 0;
      self->ssh = g_steal_pointer (&ssh);
    }
  return mr_toolbox_ssh_get_port (self->ssh);
}

static GIOStream *
local_connect_port (MrToolboxBackend *backend, guint16 port, GCancellable *cancellable, GError **error)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();

  if (port == MR_TOOLBOX_SSH_PORT)
    {
      port = local_ssh_port (MR_TOOLBOX_LOCAL (backend), error);
      if (port == 0)
        return NULL;
    }

  return G_IO_STREAM (g_socket_client_connect_to_host (client, "127.0.0.1", port, cancellable, error));
}

static void
toolbox_iface_init (MrToolboxBackendInterface *iface)
{
  iface->handle_headers = local_handle_headers;
  iface->handle_body = local_handle_body;
  iface->get_daemon_version = local_get_daemon_version;
  iface->connect_port = local_connect_port;
}

static guint32
runner_random (gpointer runner)
{
  return mr_runner_random_int (runner);
}

static gboolean
local_setup (MrPlugin *plugin, MrRunner *runner, GError **error)
{
  MrToolboxLocal *self = MR_TOOLBOX_LOCAL (plugin);
  const char *work_dir = mr_runner_get_option (runner, "TOOLBOX_WORK_DIR");
  const char *home_dir = mr_runner_get_option (runner, "TOOLBOX_HOME_DIR");
  g_autofree char *state_dir = NULL;
  g_autofree char *default_work_dir = NULL;

  self->runner = runner;
  if (work_dir == NULL)
    {
      state_dir = mr_runner_get_state_dir (runner);
      if (state_dir == NULL)
        {
          g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "cannot create a private directory in %s", g_get_tmp_dir ());
          return FALSE;
        }
      default_work_dir = g_build_filename (state_dir, "workspace", NULL);
      work_dir = default_work_dir;
    }
  self->toolbox = mr_toolbox_new (work_dir, home_dir, error);
  if (self->toolbox == NULL)
    return FALSE;
  /* ids the toolbox makes follow the runner's seed */
  mr_toolbox_set_random_func (self->toolbox, runner_random, runner, NULL);
  return TRUE;
}

static void
local_stop (MrPlugin *plugin)
{
  MrToolboxLocal *self = MR_TOOLBOX_LOCAL (plugin);

  g_clear_pointer (&self->ssh, mr_toolbox_ssh_free);
  if (self->toolbox)
    mr_toolbox_shutdown (self->toolbox);
}

static void
local_reset (MrPlugin *plugin)
{
  MrToolboxLocal *self = MR_TOOLBOX_LOCAL (plugin);

  if (self->ssh)
    mr_toolbox_ssh_close_sessions (self->ssh);
  if (self->toolbox)
    mr_toolbox_reset (self->toolbox);
}

static void
plugin_iface_init (MrPluginInterface *iface)
{
  iface->setup = local_setup;
  iface->stop = local_stop;
  iface->reset = local_reset;
}

static void
mr_toolbox_local_init (MrToolboxLocal *self)
{
}

static void
mr_toolbox_local_dispose (GObject *object)
{
  MrToolboxLocal *self = MR_TOOLBOX_LOCAL (object);

  g_clear_pointer (&self->ssh, mr_toolbox_ssh_free);
  if (self->toolbox)
    mr_toolbox_shutdown (self->toolbox);
  g_clear_object (&self->toolbox);
  G_OBJECT_CLASS (mr_toolbox_local_parent_class)->dispose (object);
}

static void
mr_toolbox_local_class_init (MrToolboxLocalClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = mr_toolbox_local_dispose;
}

static const MrPluginOption options[] = {
  { "TOOLBOX_WORK_DIR", NULL, "Work directory shared by every sandbox [a private temporary folder]" },
  { "TOOLBOX_HOME_DIR", NULL, "Home directory reported to clients and used as $HOME [the work directory]" },
  { NULL, NULL, NULL }
};

MR_PLUGIN_DEFINE ("toolbox-local", MR_PLUGIN_KIND_TOOLBOX,
                  "Serves the toolbox API in-process from one shared work directory (no Docker)",
                  mr_toolbox_local_get_type, options);
