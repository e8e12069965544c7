/* mr-ssh-backend.c: the ssh gateway plugin interface. */
#include "mr-ssh-backend.h"

G_DEFINE_INTERFACE (MrSshBackend, mr_ssh_backend, MR_TYPE_PLUGIN)

static void
mr_ssh_backend_default_init (MrSshBackendInterface *iface)
{
}

/**
 * mr_ssh_backend_get_port:
 * @self: an ssh backend
 *
 * Returns: the listening port, or 0 when not listening
 */
guint16
mr_ssh_backend_get_port (MrSshBackend *self)
{
  MrSshBackendInterface *iface = MR_SSH_BACKEND_GET_IFACE (self);

  return iface->get_port ? iface->get_port (self) : 0;
}
