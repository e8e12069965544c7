/* mr-ssh-server.h: an SSH listener: one thread accepts, one thread per connection
 * serves it (mr-ssh-conn.h) with the given role. Not installed.
 *
 * Thread safety: every function here is called from the thread that owns the server
 * (the runner's server thread, or a daemon's main thread). Roles run on connection
 * threads and must marshal anything that is not thread-safe to the owner themselves. */
#pragma once

#include "mr-ssh-conn.h"

G_BEGIN_DECLS

typedef struct _MrSshServer MrSshServer;

/* @host_key: the server's private host key (the server takes a reference). */
MrSshServer *mr_ssh_server_new (ssh_key host_key, const MrSshRoleOps *ops, gpointer role_data);
/* Listens on @host (an IP address; NULL: every interface) and @port (0: a free one);
 * returns the bound port, or 0 with @error set. */
guint16      mr_ssh_server_listen (MrSshServer *self, const char *host, guint16 port, GError **error);
guint16      mr_ssh_server_get_port (MrSshServer *self);
/* Ends every connection (killing what runs in them) and waits for them; keeps listening. */
void         mr_ssh_server_close_connections (MrSshServer *self);
/* Stops listening, ends every connection and frees the server. */
void         mr_ssh_server_free (MrSshServer *self);

/* Host keys */
ssh_key      mr_ssh_host_key_generate (enum ssh_keytypes_e type, int bits, GError **error);
/* Loads the private key at @path, or generates one of @type/@bits and saves it there
 * (mode 0600, parent directories created) when the file does not exist. */
ssh_key      mr_ssh_host_key_load_or_create (const char *path, enum ssh_keytypes_e type, int bits,
                                             gboolean *created, GError **error);

G_END_DECLS
