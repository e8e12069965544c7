/* mr-ssh-spawn.c: children of the toolbox's SSH server, on pipes or on a PTY.
 *
 * fork() and exec() by hand rather than g_spawn: a PTY child must become the session
 * leader of its terminal (setsid + TIOCSCTTY on the slave) and every child must get
 * back default signal handling (the runner ignores SIGPIPE and blocks it in SSH
 * threads; both would be inherited). Between fork and exec only async-signal-safe
 * calls are made; everything is prepared before the fork. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>

#include <glib-unix.h>
#include <gio/gio.h>

#include "mr-ssh-local.h"

static const struct {
  const char *name;
  int signo;
} signal_names[] = {
  { "ABRT", SIGABRT }, { "ALRM", SIGALRM }, { "FPE", SIGFPE }, { "HUP", SIGHUP }, { "ILL", SIGILL },
  { "INT", SIGINT }, { "KILL", SIGKILL }, { "PIPE", SIGPIPE }, { "QUIT", SIGQUIT }, { "SEGV", SIGSEGV },
  { "TERM", SIGTERM }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "BUS", SIGBUS }, { "CHLD", SIGCHLD },
  { "CONT", SIGCONT }, { "STOP", SIGSTOP }, { "TSTP", SIGTSTP }, { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU },
  { "WINCH", SIGWINCH },
};

int
mr_ssh_signal_from_name (const char *name)
{
  if (name == NULL)
    return 0;
  if (g_str_has_prefix (name, "SIG"))
    name += 3;
  for (guint i = 0; i < G_N_ELEMENTS (signal_names); i++)
    if (strcmp (signal_names[i].name, name) == 0)
      return signal_names[i].signo;
  return 0;
}

const char *
mr_ssh_signal_to_name (int signo)
{
  for (guint i = 0; i < G_N_ELEMENTS (signal_names); i++)
    if (signal_names[i].signo == signo)
      return signal_names[i].name;
  return NULL;
}

static int
open_pidfd (GPid pid)
{
#ifdef SYS_pidfd_open
  /* the raw syscall: older C libraries in toolbox images have no wrapper */
  return (int) syscall (SYS_pidfd_open, pid, 0);
#else
  return -1;
#endif
}

static void
close_fd (int *fd)
{
  if (*fd >= 0)
    close (*fd);
  *fd = -1;
}

static void
close_from (int lowest, int max_fd)
{
#ifdef SYS_close_range
  if (syscall (SYS_close_range, lowest, ~0U, 0) == 0)
    return;
#endif
  for (int fd = lowest; fd < max_fd; fd++)
    close (fd);
}

/* Opens a PTY pair, both ends close-on-exec (another thread may fork meanwhile). */
static gboolean
open_pty (int *master, int *slave, const struct winsize *size, GError **error)
{
  char name[128];
  int saved;

  *slave = -1;
  *master = posix_openpt (O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (*master < 0)
    goto fail;
  if (grantpt (*master) != 0 || unlockpt (*master) != 0 || ptsname_r (*master, name, sizeof name) != 0)
    goto fail;
  *slave = open (name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (*slave < 0)
    goto fail;
  if (size)
    ioctl (*master, TIOCSWINSZ, size);
  return TRUE;

fail:
  saved = errno;
  close_fd (master);
  close_fd (slave);
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot open a pseudo-terminal: %s",
               g_strerror (saved));
  return FALSE;
}

static gboolean
open_pipe (int fds[2], GError **error)
{
  if (pipe2 (fds, O_CLOEXEC) == 0)
    return TRUE;
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "cannot create a pipe: %s", g_strerror (errno));
  return FALSE;
}

/* In the child: only async-signal-safe calls. */
G_GNUC_NORETURN static void
child_exec (const char *path, char *const *argv, char *const *envp, const char *cwd,
            int in_fd, int out_fd, int err_fd, gboolean pty, int report_fd, int max_fd)
{
  struct sigaction dfl = { 0 };
  sigset_t none;
  int err;

  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; s++)
    if (s != SIGKILL && s != SIGSTOP)
      sigaction (s, &dfl, NULL);
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);

  setsid ();
  if (pty && ioctl (in_fd, TIOCSCTTY, 0) < 0)
    goto fail;
  if (dup2 (in_fd, 0) < 0 || dup2 (out_fd, 1) < 0 || dup2 (err_fd, 2) < 0)
    goto fail;
  /* a missing work directory is not fatal, as with the daemon */
  if (cwd && chdir (cwd) < 0 && chdir ("/") < 0)
    goto fail;
  if (report_fd < 3)
    goto fail;
  /* keep only 0, 1, 2 and the report pipe, which closes on exec */
  if (report_fd > 3)
    {
      dup2 (report_fd, 3);
      report_fd = 3;
    }
  fcntl (report_fd, F_SETFD, FD_CLOEXEC);
  close_from (4, max_fd);
  execve (path, argv, envp);

fail:
  err = errno;
  if (write (report_fd, &err, sizeof err) < 0)
    {
      /* nothing more can be done */
    }
  _exit (127);
}

gboolean
mr_ssh_child_spawn (MrSshChild *child, const char *const *argv, const char *const *envp,
                    const char *cwd, const struct winsize *pty_size, GError **error)
{
  int in_pipe[2] = { -1, -1 }, out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 }, report[2] = { -1, -1 };
  int master = -1, slave = -1;
  g_autofree char *path = NULL;
  struct rlimit limit;
  int max_fd = 4096;
  int child_errno = 0;
  gssize got;
  GPid pid;

  memset (child, 0, sizeof *child);
  child->pidfd = child->in_fd = child->out_fd = child->err_fd = -1;
  child->pty = pty_size != NULL;

  path = strchr (argv[0], '/') ? g_strdup (argv[0]) : g_find_program_in_path (argv[0]);
  if (path == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s: command not found", argv[0]);
      return FALSE;
    }
  if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < 65536)
    max_fd = (int) limit.rlim_cur;

  if (child->pty ? !open_pty (&master, &slave, pty_size, error)
                 : (!open_pipe (in_pipe, error) || !open_pipe (out_pipe, error) || !open_pipe (err_pipe, error)))
    goto fail;
  if (!open_pipe (report, error))
    goto fail;

  pid = fork ();
  if (pid < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "cannot fork: %s", g_strerror (errno));
      goto fail;
    }
  if (pid == 0)
    {
      if (child->pty)
        child_exec (path, (char *const *) argv, (char *const *) envp, cwd, slave, slave, slave, TRUE, report[1],
                    max_fd);
      else
        child_exec (path, (char *const *) argv, (char *const *) envp, cwd, in_pipe[0], out_pipe[1], err_pipe[1],
                    FALSE, report[1], max_fd);
    }

  close_fd (&report[1]);
  do
    got = read (report[0], &child_errno, sizeof child_errno);
  while (got < 0 && errno == EINTR);
  close_fd (&report[0]);
  if (got == sizeof child_errno)
    {
      waitpid (pid, NULL, 0);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (child_errno), "cannot run %s: %s", path,
                   g_strerror (child_errno));
      goto fail;
    }

  child->pid = pid;
  child->pidfd = open_pidfd (pid);
  if (child->pty)
    {
      close_fd (&slave);
      child->in_fd = child->out_fd = master;
      g_unix_set_fd_nonblocking (master, TRUE, NULL);
    }
  else
    {
      close_fd (&in_pipe[0]);
      close_fd (&out_pipe[1]);
      close_fd (&err_pipe[1]);
      child->in_fd = in_pipe[1];
      child->out_fd = out_pipe[0];
      child->err_fd = err_pipe[0];
      g_unix_set_fd_nonblocking (child->in_fd, TRUE, NULL);
      g_unix_set_fd_nonblocking (child->out_fd, TRUE, NULL);
      g_unix_set_fd_nonblocking (child->err_fd, TRUE, NULL);
    }
  return TRUE;

fail:
  close_fd (&master);
  close_fd (&slave);
  for (int i = 0; i < 2; i++)
    {
      close_fd (&in_pipe[i]);
      close_fd (&out_pipe[i]);
      close_fd (&err_pipe[i]);
      close_fd (&report[i]);
    }
  return FALSE;
}

gboolean
mr_ssh_child_poll (MrSshChild *child)
{
  int status;
  GPid r;

  if (child->exited || child->pid <= 0)
    return child->exited;
  do
    r = waitpid (child->pid, &status, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == child->pid)
    {
      child->exited = TRUE;
      child->wait_status = status;
    }
  else if (r < 0 && errno == ECHILD)
    {
      /* someone else reaped it: it is gone, its status unknown */
      child->exited = TRUE;
      child->wait_status = -1;
    }
  if (child->exited)
    close_fd (&child->pidfd);
  return child->exited;
}

void
mr_ssh_child_destroy (MrSshChild *child)
{
  if (child->pid > 0 && !mr_ssh_child_poll (child))
    {
      /* the whole process group: the shell and what it started */
      if (child->pty)
        kill (-child->pid, SIGHUP);
      kill (-child->pid, SIGKILL);
      kill (child->pid, SIGKILL);
      while (waitpid (child->pid, NULL, 0) < 0 && errno == EINTR)
        ;
      child->exited = TRUE;
    }
  close_fd (&child->pidfd);
  if (child->in_fd != child->out_fd)
    close_fd (&child->in_fd);
  child->in_fd = -1;
  close_fd (&child->out_fd);
  close_fd (&child->err_fd);
}
