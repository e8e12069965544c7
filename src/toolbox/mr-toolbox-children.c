/* mr-toolbox-children.c: ending and reaping children in the background.
 *
 * A short-lived thread per ended child waits for it (and sends the SIGKILL after the
 * grace period): unlike a child watch on the server's main context, it also reaps
 * children ended while the runner stops, when that context no longer runs. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include <stdlib.h>

#include "mr-toolbox-children.h"

#define POLL_INTERVAL_US 20000

typedef struct {
  GPid pid;
  guint grace_ms;
} Ending;

void
mr_tb_child_signal (GPid pid, int signum)
{
  if (kill (-pid, signum) != 0)
    kill (pid, signum);
}

/* Every process of the session @sid except its leader: a shell's background jobs live in
 * process groups of their own, and survive the shell (Linux /proc). */
static void
signal_session (GPid sid, int signum)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc", 0, NULL);
  const char *name;

  while (dir && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = NULL;
      g_autofree char *stat = NULL;
      const char *end;
      int pid, ppid, pgrp, session;
      char state;

      if (!g_ascii_isdigit (name[0]))
        continue;
      path = g_build_filename ("/proc", name, "stat", NULL);
      /* "pid (comm) state ppid pgrp session ...": comm may hold spaces and parentheses */
      if (!g_file_get_contents (path, &stat, NULL, NULL) || (end = strrchr (stat, ')')) == NULL ||
          sscanf (end + 1, " %c %d %d %d", &state, &ppid, &pgrp, &session) != 4)
        continue;
      pid = atoi (name);
      if (session == sid && pid != sid)
        kill (pid, signum);
    }
}

/* TRUE once @pid is reaped (or is no child of ours any more). */
static gboolean
reaped (GPid pid, gboolean block)
{
  int status;
  pid_t r;

  do
    r = waitpid (pid, &status, block ? 0 : WNOHANG);
  while (r < 0 && errno == EINTR);
  return r != 0;
}

static gpointer
reap_thread (gpointer data)
{
  Ending *e = data;

  if (e->grace_ms > 0)
    {
      gint64 deadline = g_get_monotonic_time () + (gint64) e->grace_ms * 1000;
      while (!reaped (e->pid, FALSE))
        {
          if (g_get_monotonic_time () >= deadline)
            {
              mr_tb_child_signal (e->pid, SIGKILL);
              signal_session (e->pid, SIGKILL);
              reaped (e->pid, TRUE);
              break;
            }
          g_usleep (POLL_INTERVAL_US);
        }
    }
  else
    reaped (e->pid, TRUE);
  g_free (e);
  return NULL;
}

void
mr_tb_child_end (GPid pid, int signum, guint grace_ms)
{
  Ending *e;
  GThread *thread;

  if (pid <= 0)
    return;
  mr_tb_child_signal (pid, signum);
  signal_session (pid, signum);
  e = g_new0 (Ending, 1);
  e->pid = pid;
  e->grace_ms = signum == SIGKILL ? 0 : grace_ms;
  thread = g_thread_try_new ("mr-reaper", reap_thread, e, NULL);
  if (thread)
    g_thread_unref (thread);
  else
    {
      /* no thread: at least do not wait for a child that ignores the signal */
      if (signum != SIGKILL)
        mr_tb_child_signal (pid, SIGKILL);
      reaped (pid, FALSE);
      g_free (e);
    }
}

int
mr_tb_child_exit_code (int wait_status)
{
  if (WIFEXITED (wait_status))
    return WEXITSTATUS (wait_status);
  if (WIFSIGNALED (wait_status))
    return 128 + WTERMSIG (wait_status);
  return -1;
}
