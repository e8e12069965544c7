/* mr-ssh-local.h: the peers of the toolbox's own SSH server, which do the work in this
 * process: shells and commands (on pipes or a PTY), the sftp subsystem, and TCP
 * connections for port forwarding. Not installed. */
#pragma once

#include <sys/types.h>
#include <sys/ioctl.h>

#include "mr-ssh-conn.h"

G_BEGIN_DECLS

/* What every session of one server shares; read-only once made, so connection
 * threads read it without locks. */
typedef struct {
  gatomicrefcount ref;
  char *work_dir;
  char *shell;          /* GetShell(): for interactive shells on a PTY */
  char **environ;       /* the daemon's environment for children (HOME set) */
} MrSshLocalConfig;

MrSshLocalConfig *mr_ssh_local_config_new (const char *work_dir, const char *shell, char **environ);
MrSshLocalConfig *mr_ssh_local_config_ref (MrSshLocalConfig *config);
void              mr_ssh_local_config_unref (MrSshLocalConfig *config);

MrSshPeer *mr_ssh_session_peer_new (MrSshLocalConfig *config);
MrSshPeer *mr_ssh_tcpip_peer_new (const char *host, guint16 port, GError **error);

/* A child process, in its own session and process group. */
typedef struct {
  GPid pid;
  int pidfd;            /* readable once the child exits; -1 if the kernel has none */
  int in_fd;            /* stdin pipe, or the PTY master */
  int out_fd;           /* stdout pipe, or the PTY master (the same fd) */
  int err_fd;           /* stderr pipe; -1 on a PTY */
  gboolean pty;
  gboolean exited;
  int wait_status;
} MrSshChild;

gboolean mr_ssh_child_spawn (MrSshChild *child, const char *const *argv, const char *const *envp,
                             const char *cwd, const struct winsize *pty_size, GError **error);
/* Reaps the child if it has exited; TRUE once it has. */
gboolean mr_ssh_child_poll (MrSshChild *child);
/* Kills the child's process group if it still runs, reaps it and closes the fds. */
void     mr_ssh_child_destroy (MrSshChild *child);

/* "TERM" -> SIGTERM; unknown names give 0 */
int         mr_ssh_signal_from_name (const char *name);
const char *mr_ssh_signal_to_name (int signo);

G_END_DECLS
