/* mr-toolbox-children.c: ending and reaping children in the background. */
#include <signal.h>
#include <sys/wait.h>

#include "mr-toolbox-children.h"
#include "mr-util.h"

typedef struct {
  GPid pid;
  GSource *watch;
  GSource *escalate;
} Ending;

static void
ending_free (gpointer data)
{
  Ending *e = data;

  mr_source_clear (&e->escalate);
  g_free (e);
}

static void
on_reaped (GPid pid, gint status, gpointer data)
{
  g_spawn_close_pid (pid);
}

void
mr_tb_child_signal (GPid pid, int signum)
{
  if (kill (-pid, signum) != 0)
    kill (pid, signum);
}

static gboolean
on_escalate (gpointer data)
{
  Ending *e = data;

  mr_tb_child_signal (e->pid, SIGKILL);
  mr_source_clear (&e->escalate);
  return G_SOURCE_REMOVE;
}

void
mr_tb_child_end (GPid pid, int signum, guint grace_ms)
{
  Ending *e;

  if (pid <= 0)
    return;
  mr_tb_child_signal (pid, signum);
  e = g_new0 (Ending, 1);
  e->pid = pid;
  if (grace_ms > 0 && signum != SIGKILL)
    e->escalate = mr_timeout_add (grace_ms, on_escalate, e);
  /* the watch owns the record: its end (reaped, or its context destroyed) frees it */
  e->watch = g_child_watch_source_new (pid);
  g_source_set_callback (e->watch, G_SOURCE_FUNC (on_reaped), e, ending_free);
  g_source_attach (e->watch, g_main_context_get_thread_default ());
  g_source_unref (e->watch);
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
