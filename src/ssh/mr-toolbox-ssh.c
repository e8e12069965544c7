/* mr-toolbox-ssh.c: the toolbox's SSH server: the daemon's authentication rules and
 * local peers on top of mr-ssh-server.c. */
#include <string.h>

#include <gio/gio.h>

#include "mr-toolbox-ssh.h"
#include "mr-ssh-server.h"
#include "mr-ssh-local.h"
#include "toolbox/mr-toolbox-private.h"

struct _MrToolboxSsh {
  MrSshServer *server;
  MrSshLocalConfig *config;
};

static gboolean
auth_password (MrSshConn *conn, const char *user, const char *password, char **banner)
{
  /* the daemon takes any user name with this password */
  return password != NULL && strcmp (password, MR_TOOLBOX_SSH_PASSWORD) == 0;
}

static gboolean
auth_pubkey (MrSshConn *conn, const char *user, ssh_key key, gboolean verified, char **banner)
{
  /* ... and any public key */
  return TRUE;
}

static MrSshPeer *
open_session (MrSshConn *conn, GError **error)
{
  MrToolboxSsh *self = mr_ssh_conn_get_role_data (conn);

  return mr_ssh_session_peer_new (self->config);
}

static MrSshPeer *
open_direct_tcpip (MrSshConn *conn, const char *host, guint16 port, const char *origin_host,
                   guint16 origin_port, GError **error)
{
  return mr_ssh_tcpip_peer_new (host, port, error);
}

static const MrSshRoleOps toolbox_role = {
  .auth_methods = SSH_AUTH_METHOD_PASSWORD | SSH_AUTH_METHOD_PUBLICKEY,
  .auth_password = auth_password,
  .auth_pubkey = auth_pubkey,
  .open_session = open_session,
  .open_direct_tcpip = open_direct_tcpip,
};

MrToolboxSsh *
mr_toolbox_ssh_new (MrToolbox *toolbox, GError **error)
{
  MrToolboxSsh *self;
  g_autofree char *shell = mr_tb_get_shell ();
  g_auto(GStrv) environ = mr_tb_child_environ (toolbox, NULL);
  ssh_key key;

  /* as the daemon: a new host key on every start */
  key = mr_ssh_host_key_generate (SSH_KEYTYPE_ED25519, 0, error);
  if (key == NULL)
    return NULL;
  self = g_new0 (MrToolboxSsh, 1);
  self->config = mr_ssh_local_config_new (mr_toolbox_get_work_dir (toolbox), shell, environ);
  self->server = mr_ssh_server_new (key, &toolbox_role, self);
  ssh_key_free (key);
  return self;
}

guint16
mr_toolbox_ssh_listen (MrToolboxSsh *self, const char *host, guint16 port, GError **error)
{
  return mr_ssh_server_listen (self->server, host, port, error);
}

guint16
mr_toolbox_ssh_get_port (MrToolboxSsh *self)
{
  return mr_ssh_server_get_port (self->server);
}

void
mr_toolbox_ssh_close_sessions (MrToolboxSsh *self)
{
  mr_ssh_server_close_connections (self->server);
}

void
mr_toolbox_ssh_free (MrToolboxSsh *self)
{
  if (self == NULL)
    return;
  mr_ssh_server_free (self->server);
  mr_ssh_local_config_unref (self->config);
  g_free (self);
}
