/* mr-toolbox-ssh.h: the toolbox's own SSH server, in the role of the Daytona daemon's
 * server on port 22220 (toolbox-api.md 5.4). Not installed.
 *
 * Any user name is accepted, with the password "sandbox-ssh" or any public key.
 * Sessions run shells and commands in the toolbox work directory (exec with its real
 * exit status, a shell on a PTY with window changes), serve the "sftp" subsystem, and
 * "direct-tcpip" channels connect to ports inside the toolbox. mock-runner-toolboxd
 * starts it (--ssh-port, default 22220); the toolbox-local plugin starts one on a
 * loopback port when the ssh gateway first asks for port 22220. Without libssh at
 * build time, mr_toolbox_ssh_new() fails with a clear error.
 *
 * Threading: create, listen, close and free from one thread (the owner); connections
 * are served on threads of their own and share only read-only settings. */
#pragma once

#include "toolbox/mr-toolbox.h"

G_BEGIN_DECLS

#define MR_TOOLBOX_SSH_PORT 22220
#define MR_TOOLBOX_SSH_USER "daytona"
#define MR_TOOLBOX_SSH_PASSWORD "sandbox-ssh"

typedef struct _MrToolboxSsh MrToolboxSsh;

/* The work directory, home and environment come from @toolbox, read now. */
MrToolboxSsh *mr_toolbox_ssh_new (MrToolbox *toolbox, GError **error);
guint16       mr_toolbox_ssh_listen (MrToolboxSsh *self, const char *host, guint16 port, GError **error);
guint16       mr_toolbox_ssh_get_port (MrToolboxSsh *self);
/* Ends every SSH session and what runs in it (reset); keeps listening. */
void          mr_toolbox_ssh_close_sessions (MrToolboxSsh *self);
void          mr_toolbox_ssh_free (MrToolboxSsh *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MrToolboxSsh, mr_toolbox_ssh_free)

G_END_DECLS
