/* mr-ssh-backend.h: the interface of ssh gateway plugins. */
#pragma once

#include "mr-plugin.h"

G_BEGIN_DECLS

#define MR_TYPE_SSH_BACKEND (mr_ssh_backend_get_type ())
G_DECLARE_INTERFACE (MrSshBackend, mr_ssh_backend, MR, SSH_BACKEND, MrPlugin)

/**
 * MrSshBackendInterface:
 * @g_iface: the parent interface
 * @get_port: the port the gateway listens on, once started (0 before)
 *
 * An ssh gateway listens on its own port from MrPlugin.start() and routes channels to
 * the toolbox of the sandbox a client authenticates for.
 */
struct _MrSshBackendInterface {
  GTypeInterface g_iface;

  guint16 (*get_port) (MrSshBackend *self);
};

guint16 mr_ssh_backend_get_port (MrSshBackend *self);

G_END_DECLS
