/* mr-child-process.c: spawning, watching and killing the toolbox's children
 * (mr-child-process.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mr-child-process.h"
#include "mr-util.h"

struct _MrChild {
  GPid pid;
  GSource *watch;
  gboolean running;
  int wait_status;
  MrChildExitFunc func;
  gpointer user_data;
  /* graceful termination in progress */
  GSource *terminate_timer;
  GArray *terminate_pids;
  gint64 terminate_deadline;
  MrChildTerminatedFunc terminated;
  gpointer terminated_data;
};

static void
child_setup (gpointer user_data)
{
  sigset_t none;

  /* its own process group, so that the whole tree can be killed at once */
  setpgid (0, 0);
  /* a clean signal state: Python (the GI tests) ignores SIGPIPE, and the server thread
   * may block signals; children must not inherit either */
  signal (SIGPIPE, SIG_DFL);
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
}

static void
on_child_exit (GPid pid, int wait_status, gpointer user_data)
{
  MrChild *child = user_data;

  child->running = FALSE;
  child->wait_status = wait_status;
  mr_source_clear (&child->watch);
  if (child->func)
    child->func (child, wait_status, child->user_data);
}

/**
 * mr_child_spawn: (skip)
 * @spec: what to run and its file descriptors (not closed here)
 * @func: (nullable): called on the thread-default context when the child exits
 * @user_data: data for @func
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the child, leader of a new process group
 */
MrChild *
mr_child_spawn (const MrChildSpec *spec, MrChildExitFunc func, gpointer user_data, GError **error)
{
  GSpawnFlags flags = G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH;
  g_auto(GStrv) envp = NULL;
  MrChild *child;
  GPid pid;
  int null_fd = -1;
  int fds[3] = { spec->stdin_fd, spec->stdout_fd, spec->stderr_fd };

  if (fds[0] < 0)
    flags |= G_SPAWN_STDIN_FROM_DEV_NULL;
  if (fds[1] < 0 || fds[2] < 0)
    {
      null_fd = open ("/dev/null", O_WRONLY | O_CLOEXEC);
      if (fds[1] < 0)
        fds[1] = null_fd;
      if (fds[2] < 0)
        fds[2] = null_fd;
    }
  if (spec->envp == NULL)
    envp = g_get_environ ();
  if (!g_spawn_async_with_pipes_and_fds (spec->cwd, spec->argv, spec->envp ? spec->envp : (const char * const *) envp,
                                         flags, child_setup, NULL,
                                         fds[0], fds[1], fds[2],
                                         spec->source_fds, spec->target_fds, spec->n_fds,
                                         &pid, NULL, NULL, NULL, error))
    {
      if (null_fd >= 0)
        close (null_fd);
      return NULL;
    }
  if (null_fd >= 0)
    close (null_fd);
  /* the parent sets the group too: no window in which a kill(-pid) could miss it */
  setpgid (pid, pid);

  child = g_new0 (MrChild, 1);
  child->pid = pid;
  child->running = TRUE;
  child->func = func;
  child->user_data = user_data;
  child->watch = g_child_watch_source_new (pid);
  g_source_set_callback (child->watch, (GSourceFunc) (void (*) (void)) on_child_exit, child, NULL);
  g_source_attach (child->watch, g_main_context_get_thread_default ());
  return child;
}

GPid
mr_child_get_pid (MrChild *child)
{
  return child->pid;
}

gboolean
mr_child_is_running (MrChild *child)
{
  return child->running;
}

int
mr_child_get_wait_status (MrChild *child)
{
  return child->wait_status;
}

/**
 * mr_child_exit_code: (skip)
 *
 * Returns: the exit status, or -1 for a death by signal (as Go's ExitCode())
 */
int
mr_child_exit_code (int wait_status)
{
  if (WIFEXITED (wait_status))
    return WEXITSTATUS (wait_status);
  return -1;
}

/**
 * mr_child_signal_group: (skip)
 *
 * Sends @signum to the child's process group (which outlives the child itself while
 * its members run). Does nothing once the child was reaped and its pid may be reused
 * by a new group, unless members of the old group still run.
 */
void
mr_child_signal_group (MrChild *child, int signum)
{
  if (child->running || kill (child->pid, 0) != 0)
    kill (-child->pid, signum);
}

/**
 * mr_process_group_exists: (skip)
 */
gboolean
mr_process_group_exists (GPid pgid)
{
  return kill (-pgid, 0) == 0 || errno == EPERM;
}

/* Parses "pid (comm) state ppid ..." from /proc/<pid>/stat. */
static gboolean
read_ppid (const char *pid_dir, GPid *ppid)
{
  g_autofree char *path = g_build_filename ("/proc", pid_dir, "stat", NULL);
  g_autofree char *text = NULL;
  const char *p;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return FALSE;
  p = strrchr (text, ')');
  if (p == NULL || p[1] != ' ' || p[2] == '\0' || p[3] != ' ')
    return FALSE;
  *ppid = (GPid) g_ascii_strtoll (p + 4, NULL, 10);
  return TRUE;
}

static void
collect (GHashTable *children, GPid pid, GArray *out)
{
  GArray *kids = g_hash_table_lookup (children, GINT_TO_POINTER (pid));

  for (guint i = 0; kids && i < kids->len; i++)
    {
      GPid kid = g_array_index (kids, GPid, i);
      collect (children, kid, out);
      g_array_append_val (out, kid);
    }
}

/**
 * mr_process_descendants: (skip)
 * @pid: a process
 *
 * Returns: (transfer full) (element-type GPid): the descendants of @pid found in /proc,
 *   deepest first (every process comes before its parent)
 */
GArray *
mr_process_descendants (GPid pid)
{
  g_autoptr(GHashTable) children = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) g_array_unref);
  g_autoptr(GDir) dir = g_dir_open ("/proc", 0, NULL);
  GArray *out = g_array_new (FALSE, FALSE, sizeof (GPid));
  const char *name;

  while (dir && (name = g_dir_read_name (dir)) != NULL)
    {
      GPid child, ppid;
      GArray *kids;

      if (!g_ascii_isdigit (name[0]) || !read_ppid (name, &ppid))
        continue;
      child = (GPid) g_ascii_strtoll (name, NULL, 10);
      kids = g_hash_table_lookup (children, GINT_TO_POINTER (ppid));
      if (kids == NULL)
        {
          kids = g_array_new (FALSE, FALSE, sizeof (GPid));
          g_hash_table_insert (children, GINT_TO_POINTER (ppid), kids);
        }
      g_array_append_val (kids, child);
    }
  collect (children, pid, out);
  return out;
}

static void
signal_pids (GArray *pids, int signum)
{
  for (guint i = 0; pids && i < pids->len; i++)
    kill (g_array_index (pids, GPid, i), signum);
}

/* Waits for a child that was just sent SIGKILL, without a child watch. */
static void
reap_now (MrChild *child)
{
  if (!child->running)
    return;
  mr_source_clear (&child->watch);
  while (waitpid (child->pid, &child->wait_status, 0) < 0 && errno == EINTR)
    ;
  child->running = FALSE;
}

/**
 * mr_child_kill_all: (skip)
 *
 * SIGKILL to the child's descendants, its process group and the child, and reaps the
 * child at once (a killed process exits promptly). The exit callback does not run.
 */
void
mr_child_kill_all (MrChild *child)
{
  g_autoptr(GArray) tree = child->running ? mr_process_descendants (child->pid) : NULL;

  signal_pids (tree, SIGKILL);
  signal_pids (child->terminate_pids, SIGKILL);
  mr_child_signal_group (child, SIGKILL);
  if (child->running)
    kill (child->pid, SIGKILL);
  reap_now (child);
}

static void
terminate_finish (MrChild *child)
{
  MrChildTerminatedFunc done = child->terminated;

  mr_child_kill_all (child);
  mr_source_clear (&child->terminate_timer);
  g_clear_pointer (&child->terminate_pids, g_array_unref);
  child->terminated = NULL;
  if (done)
    done (child->terminated_data);
}

static gboolean
any_alive (GArray *pids)
{
  for (guint i = 0; pids && i < pids->len; i++)
    if (kill (g_array_index (pids, GPid, i), 0) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
terminate_poll (gpointer user_data)
{
  MrChild *child = user_data;

  if ((!child->running && !mr_process_group_exists (child->pid) && !any_alive (child->terminate_pids)) ||
      g_get_monotonic_time () >= child->terminate_deadline)
    {
      terminate_finish (child);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

/**
 * mr_child_terminate: (skip)
 *
 * The session DELETE sequence (toolbox-api.md section 2.5). The exit callback of the
 * child still runs if it exits during the grace period.
 */
void
mr_child_terminate (MrChild *child, guint grace_ms, guint poll_ms,
                    MrChildTerminatedFunc done, gpointer user_data)
{
  g_return_if_fail (child->terminated == NULL);

  child->terminated = done;
  child->terminated_data = user_data;
  if (child->running)
    {
      child->terminate_pids = mr_process_descendants (child->pid);
      signal_pids (child->terminate_pids, SIGTERM);
      kill (child->pid, SIGTERM);
    }
  /* and whatever the group still holds (processes left by a shell that died) */
  mr_child_signal_group (child, SIGTERM);
  child->terminate_deadline = g_get_monotonic_time () + (gint64) grace_ms * 1000;
  child->terminate_timer = mr_timeout_add (poll_ms, terminate_poll, child);
}

/**
 * mr_child_release: (skip)
 *
 * Frees a child that was reaped, leaving its process group alone.
 */
void
mr_child_release (MrChild *child)
{
  if (child == NULL)
    return;
  g_return_if_fail (!child->running && child->terminated == NULL);
  g_clear_pointer (&child->terminate_pids, g_array_unref);
  g_free (child);
}

/**
 * mr_child_free: (skip)
 *
 * Kills whatever is left of the child's tree (mr_child_kill_all()) and frees it. A
 * pending termination is cut short: its callback does not run.
 */
void
mr_child_free (MrChild *child)
{
  if (child == NULL)
    return;
  child->terminated = NULL;
  mr_source_clear (&child->terminate_timer);
  mr_child_kill_all (child);
  g_clear_pointer (&child->terminate_pids, g_array_unref);
  g_free (child);
}
