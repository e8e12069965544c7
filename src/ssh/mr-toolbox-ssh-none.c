/* mr-toolbox-ssh-none.c: the toolbox SSH server when mock-runner is built without
 * libssh: creating one fails with a clear error. */
#include <gio/gio.h>

#include "mr-toolbox-ssh.h"

MrToolboxSsh *
mr_toolbox_ssh_new (MrToolbox *toolbox, GError **error)
{
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                       "mock-runner was built without libssh: no SSH server");
  return NULL;
}

guint16
mr_toolbox_ssh_listen (MrToolboxSsh *self, const char *host, guint16 port, GError **error)
{
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "no SSH server");
  return 0;
}

guint16
mr_toolbox_ssh_get_port (MrToolboxSsh *self)
{
  return 0;
}

void
mr_toolbox_ssh_close_sessions (MrToolboxSsh *self)
{
}

void
mr_toolbox_ssh_free (MrToolboxSsh *self)
{
}
