/* mr-toolbox-children.c: ending and reaping children in the background.
 *
 * A short-lived thread per ended child waits for it (and sends the SIGKILL after the
 * grace period): unlike a child watch on the server's main context, it also reaps
 * children ended while the runner stops, when that context no longer runs. */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>

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
