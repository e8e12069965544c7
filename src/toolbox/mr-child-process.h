/* mr-child-process.h: child processes of the toolbox, run without ever blocking the
 * server thread.
 *
 * Every child is the leader of its own process group, so that it and everything it
 * starts (unless they call setsid) can be killed together. Its exit is reported by a
 * child watch attached to the thread-default main context of the spawning thread. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _MrChild MrChild;

/* @wait_status is a waitpid() status (use WIFEXITED and friends) */
typedef void (*MrChildExitFunc) (MrChild *child, int wait_status, gpointer user_data);

typedef struct {
  const char * const *argv;
  const char * const *envp;       /* NULL: the runner's environment */
  const char *cwd;                /* NULL: the runner's cwd */
  int stdin_fd;                   /* -1: /dev/null */
  int stdout_fd;                  /* -1: /dev/null */
  int stderr_fd;                  /* -1: /dev/null */
  const int *source_fds;          /* extra fds, mapped to target_fds in the child */
  const int *target_fds;
  guint n_fds;
} MrChildSpec;

MrChild  *mr_child_spawn (const MrChildSpec *spec, MrChildExitFunc func, gpointer user_data, GError **error);
GPid      mr_child_get_pid (MrChild *child);
gboolean  mr_child_is_running (MrChild *child);
int       mr_child_get_wait_status (MrChild *child);
int       mr_child_exit_code (int wait_status);
void      mr_child_signal_group (MrChild *child, int signum);
void      mr_child_kill_all (MrChild *child);
void      mr_child_free (MrChild *child);
void      mr_child_release (MrChild *child);

/* Graceful end: SIGTERM to the descendants (deepest first) and to the child, then poll
 * every @poll_ms until the child and every process of the tree and group are gone, for
 * at most @grace_ms; then SIGKILL whatever is left. @done runs when it is over. */
typedef void (*MrChildTerminatedFunc) (gpointer user_data);
void      mr_child_terminate (MrChild *child, guint grace_ms, guint poll_ms,
                              MrChildTerminatedFunc done, gpointer user_data);

GArray   *mr_process_descendants (GPid pid);
gboolean  mr_process_group_exists (GPid pgid);

G_END_DECLS
