/* mr-session.c: sessions and their commands (mr-session.h).
 *
 * For each exec, the toolbox creates <session dir>/<cmdId>/ with cmd.sh (the command
 * text), output.log and the FIFOs stdout.pipe, stderr.pipe (and input.pipe for async
 * commands), opens the FIFOs' read ends itself, then writes one line to the shell:
 *
 *   { . '<dir>/cmd.sh'; } 9>&- <STDIN >'<dir>/stdout.pipe' 2>'<dir>/stderr.pipe'; printf '%s %s\n' '<cmdId>' "$?" >&9
 *
 * Sourcing the file keeps the session semantics (cd, export, functions persist) and
 * keeps the command text from breaking the line around it. Fd 9 is the status pipe back
 * to the toolbox; the command itself does not inherit it. The toolbox holds a write end
 * of each output FIFO until the status line arrives, so that a FIFO only reaches end of
 * file once the command and everything it left holding its output are done; only then
 * is the exit code written (the at-mock race fixed). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gstdio.h>
#include <gio/gio.h>

#include "mr-session.h"
#include "mr-child-process.h"
#include "mr-fd-reader.h"
#include "mr-log-framing.h"
#include "mr-util.h"

#define STATUS_FD 9
#define TERMINATE_GRACE_MS 5000
#define TERMINATE_POLL_MS 100

struct _MrSessionStore {
  char *root;
  GHashTable *sessions;       /* id -> MrSession (a reference) */
  GPtrArray *ending;          /* MrSession being deleted (a reference each) */
  guint next_dir;
};

struct _MrSession {
  int ref;
  MrSessionStore *store;
  char *id;
  char *dir;
  gint64 created;
  MrChild *shell;
  int control_fd;             /* the shell's stdin, our end */
  int control_keep_fd;        /* the read end, kept open: writes never raise SIGPIPE */
  GByteArray *control_pending;
  GSource *control_source;
  MrFdReader *status;
  GByteArray *status_line;
  GPtrArray *commands;        /* MrSessionCommand, in order (a reference each) */
  gboolean dead;              /* the shell exited */
  gboolean gone;              /* deleted, or the store freed */
  MrSessionDeletedFunc deleted;
  gpointer deleted_data;
};

typedef struct {
  MrSessionCommand *command;
  int stream;                 /* 0 stdout, 1 stderr */
} ReaderData;

typedef struct {
  guint id;
  MrSessionCommandFunc func;
  gpointer user_data;
} Watch;

struct _MrSessionCommand {
  int ref;
  MrSession *session;         /* NULL once the session is freed */
  char *id;
  char *text;
  char *dir;
  char *log_path;
  gboolean async;
  gboolean suppress_echo;
  int log_fd;
  MrLineFramer framer[2];     /* stdout, stderr */
  MrFdReader *reader[2];
  ReaderData reader_data[2];
  gboolean eof[2];
  int dummy_fd[2];            /* our write ends of the output FIFOs */
  int input_fd;               /* async: input.pipe, read-write so it never blocks */
  GByteArray *input_pending;
  GSource *input_source;
  gboolean status_known;
  int exit_code;
  gboolean finished;
  gboolean gone;
  GArray *watches;            /* Watch */
  guint next_watch;
};

static void command_emit (MrSessionCommand *command, MrSessionEvent event);
static void command_check_finished (MrSessionCommand *command);

static void
close_fd (int *fd)
{
  if (*fd >= 0)
    close (*fd);
  *fd = -1;
}

/* rm -rf, without following symlinks */
static void
remove_tree (const char *path)
{
  struct stat st;

  if (lstat (path, &st) != 0)
    return;
  if (S_ISDIR (st.st_mode))
    {
      g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
      const char *name;
      while (dir && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          remove_tree (child);
        }
      g_rmdir (path);
    }
  else
    g_unlink (path);
}

/* Writes everything (a regular file: a short write only on a real error). */
static void
write_all (int fd, const guint8 *data, gsize len)
{
  while (len > 0)
    {
      gssize n = write (fd, data, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      data += n;
      len -= (gsize) n;
    }
}

/* Non-blocking writer with a queue: writes what the pipe takes now, the rest when it
 * becomes writable. */
typedef struct {
  int *fd;
  GByteArray **pending;
  GSource **source;
} QueuedWriter;

static gboolean flush_pending (int fd, GByteArray *pending);

static gboolean
on_writable (int fd, GIOCondition condition, gpointer user_data)
{
  QueuedWriter *w = user_data;

  if ((condition & G_IO_ERR) || flush_pending (*w->fd, *w->pending))
    {
      mr_source_clear (w->source);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

/* TRUE when everything was written (or the fd failed: the data is dropped) */
static gboolean
flush_pending (int fd, GByteArray *pending)
{
  while (pending->len > 0)
    {
      gssize n = write (fd, pending->data, pending->len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        return FALSE;
      if (n <= 0)
        {
          g_byte_array_set_size (pending, 0);
          return TRUE;
        }
      g_byte_array_remove_range (pending, 0, (guint) n);
    }
  return TRUE;
}

static void
queue_write (int *fd, GByteArray **pending, GSource **source, const guint8 *data, gsize len)
{
  QueuedWriter *w;

  if (*fd < 0)
    return;
  if (*pending == NULL)
    *pending = g_byte_array_new ();
  g_byte_array_append (*pending, data, len);
  if (*source || flush_pending (*fd, *pending))
    return;
  w = g_new0 (QueuedWriter, 1);
  w->fd = fd;
  w->pending = pending;
  w->source = source;
  *source = g_unix_fd_source_new (*fd, G_IO_OUT | G_IO_ERR);
  g_source_set_callback (*source, (GSourceFunc) (void (*) (void)) on_writable, w, g_free);
  g_source_attach (*source, g_main_context_get_thread_default ());
}

/* Commands ----------------------------------------------------------------------- */

MrSessionCommand *
mr_session_command_ref (MrSessionCommand *command)
{
  command->ref++;
  return command;
}

static void
command_close_inputs (MrSessionCommand *command)
{
  close_fd (&command->dummy_fd[0]);
  close_fd (&command->dummy_fd[1]);
  mr_source_clear (&command->input_source);
  close_fd (&command->input_fd);
}

/* Stops everything the command holds open (it keeps its log and state). */
static void
command_stop (MrSessionCommand *command)
{
  command_close_inputs (command);
  for (int i = 0; i < 2; i++)
    g_clear_pointer (&command->reader[i], mr_fd_reader_free);
  close_fd (&command->log_fd);
}

void
mr_session_command_unref (MrSessionCommand *command)
{
  if (--command->ref > 0)
    return;
  command_stop (command);
  for (int i = 0; i < 2; i++)
    mr_line_framer_clear (&command->framer[i]);
  g_clear_pointer (&command->input_pending, g_byte_array_unref);
  g_array_unref (command->watches);
  g_free (command->id);
  g_free (command->text);
  g_free (command->dir);
  g_free (command->log_path);
  g_free (command);
}

const char *
mr_session_command_get_id (MrSessionCommand *command)
{
  return command->id;
}

const char *
mr_session_command_get_text (MrSessionCommand *command)
{
  return command->text;
}

const char *
mr_session_command_get_log_path (MrSessionCommand *command)
{
  return command->log_path;
}

gboolean
mr_session_command_is_finished (MrSessionCommand *command)
{
  return command->finished;
}

gboolean
mr_session_command_is_gone (MrSessionCommand *command)
{
  return command->gone;
}

/* The exit code; meaningful once finished. */
int
mr_session_command_get_exit_code (MrSessionCommand *command)
{
  return command->exit_code;
}

guint
mr_session_command_watch (MrSessionCommand *command, MrSessionCommandFunc func, gpointer user_data)
{
  Watch w = { ++command->next_watch, func, user_data };

  g_array_append_val (command->watches, w);
  return w.id;
}

void
mr_session_command_unwatch (MrSessionCommand *command, guint id)
{
  for (guint i = 0; i < command->watches->len; i++)
    if (g_array_index (command->watches, Watch, i).id == id)
      {
        g_array_remove_index (command->watches, i);
        return;
      }
}

static void
command_emit (MrSessionCommand *command, MrSessionEvent event)
{
  g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (guint));

  /* watchers may unwatch (themselves or others) from their callback */
  mr_session_command_ref (command);
  for (guint i = 0; i < command->watches->len; i++)
    g_array_append_val (ids, g_array_index (command->watches, Watch, i).id);
  for (guint i = 0; i < ids->len; i++)
    for (guint j = 0; j < command->watches->len; j++)
      {
        Watch w = g_array_index (command->watches, Watch, j);
        if (w.id == g_array_index (ids, guint, i))
          {
            w.func (command, event, w.user_data);
            break;
          }
      }
  mr_session_command_unref (command);
}

static void
command_append_log (MrSessionCommand *command, GByteArray *framed)
{
  if (framed->len == 0 || command->log_fd < 0)
    return;
  write_all (command->log_fd, framed->data, framed->len);
  command_emit (command, MR_SESSION_EVENT_OUTPUT);
}

static void
command_check_finished (MrSessionCommand *command)
{
  g_autofree char *path = NULL;
  g_autofree char *text = NULL;

  if (command->finished || command->gone || !command->status_known || !command->eof[0] || !command->eof[1])
    return;
  command->finished = TRUE;
  close_fd (&command->log_fd);
  /* only now, with the output drained, is the exit code published */
  path = g_build_filename (command->dir, "exit_code", NULL);
  text = g_strdup_printf ("%d\n", command->exit_code);
  g_file_set_contents (path, text, -1, NULL);
  command_emit (command, MR_SESSION_EVENT_FINISHED);
}

static gboolean
on_command_output (const guint8 *data, gsize len, gpointer user_data)
{
  ReaderData *rd = user_data;
  MrSessionCommand *command = rd->command;
  int i = rd->stream;
  g_autoptr(GByteArray) framed = g_byte_array_new ();

  if (len > 0)
    {
      mr_line_framer_feed (&command->framer[i], data, len, framed);
      command_append_log (command, framed);
      return TRUE;
    }
  /* end of file: a final partial line still gets its newline */
  mr_line_framer_finish (&command->framer[i], framed);
  command->eof[i] = TRUE;
  g_clear_pointer (&command->reader[i], mr_fd_reader_free);
  mr_session_command_ref (command);
  command_append_log (command, framed);
  command_check_finished (command);
  mr_session_command_unref (command);
  return FALSE;
}

static void
command_set_status (MrSessionCommand *command, int exit_code)
{
  if (command->status_known)
    return;
  command->status_known = TRUE;
  command->exit_code = exit_code;
  /* from now on the FIFOs end when the last process holding them does */
  command_close_inputs (command);
  command_check_finished (command);
}

static GBytes *
read_file_bytes (const char *path, GError **error)
{
  char *contents = NULL;
  gsize len = 0;

  if (!g_file_get_contents (path, &contents, &len, error))
    return NULL;
  return g_bytes_new_take (contents, len);
}

GBytes *
mr_session_command_read_log (MrSessionCommand *command, GError **error)
{
  return read_file_bytes (command->log_path, error);
}

/**
 * mr_session_command_send_input: (skip)
 *
 * Feeds @data (a "\n" appended if missing) to an async command's stdin and, unless the
 * command was started with suppressInputEcho, echoes it into the log as stdout.
 * G_IO_ERROR_CLOSED when the command cannot take input any more.
 */
gboolean
mr_session_command_send_input (MrSessionCommand *command, const char *data, GError **error)
{
  g_autofree char *line = g_str_has_suffix (data, "\n") ? g_strdup (data) : g_strconcat (data, "\n", NULL);

  if (command->session == NULL || command->session->dead)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "session process has exited");
      return FALSE;
    }
  if (command->status_known)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "command has already completed with exit code %d",
                   command->exit_code);
      return FALSE;
    }
  if (command->input_fd < 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED,
                           "command does not accept input: only commands run with runAsync read from /input");
      return FALSE;
    }
  queue_write (&command->input_fd, &command->input_pending, &command->input_source,
               (const guint8 *) line, strlen (line));
  if (!command->suppress_echo)
    {
      g_autoptr(GByteArray) framed = g_byte_array_new ();
      mr_log_frame_text (MR_LOG_STDOUT, (const guint8 *) line, strlen (line), framed);
      command_append_log (command, framed);
    }
  return TRUE;
}

/* Sessions ----------------------------------------------------------------------- */

static MrSession *
session_ref (MrSession *session)
{
  session->ref++;
  return session;
}

static void
session_unref (MrSession *session)
{
  if (--session->ref > 0)
    return;
  for (guint i = 0; i < session->commands->len; i++)
    {
      MrSessionCommand *c = session->commands->pdata[i];
      command_stop (c);
      c->session = NULL;
    }
  g_ptr_array_unref (session->commands);
  mr_child_free (session->shell);
  mr_source_clear (&session->control_source);
  close_fd (&session->control_fd);
  close_fd (&session->control_keep_fd);
  g_clear_pointer (&session->control_pending, g_byte_array_unref);
  g_clear_pointer (&session->status, mr_fd_reader_free);
  g_byte_array_unref (session->status_line);
  g_free (session->id);
  g_free (session->dir);
  g_free (session);
}

const char *
mr_session_get_id (MrSession *session)
{
  return session->id;
}

GPid
mr_session_get_shell_pid (MrSession *session)
{
  return mr_child_get_pid (session->shell);
}

gboolean
mr_session_is_alive (MrSession *session)
{
  return !session->dead && !session->gone;
}

/**
 * mr_session_get_commands: (skip)
 *
 * Returns: (transfer none) (element-type MrSessionCommand): the commands, in order
 */
GPtrArray *
mr_session_get_commands (MrSession *session)
{
  return session->commands;
}

MrSessionCommand *
mr_session_lookup_command (MrSession *session, const char *id)
{
  for (guint i = 0; i < session->commands->len; i++)
    {
      MrSessionCommand *c = session->commands->pdata[i];
      if (strcmp (c->id, id) == 0)
        return c;
    }
  return NULL;
}

static void
handle_status_line (MrSession *session, const char *line)
{
  g_auto(GStrv) parts = g_strsplit (line, " ", 2);
  MrSessionCommand *command;
  int code;

  if (g_strv_length (parts) != 2 || !mr_log_parse_exit_code (parts[1], strlen (parts[1]), &code))
    return;
  command = mr_session_lookup_command (session, parts[0]);
  if (command)
    command_set_status (command, code);
}

static void
feed_status (MrSession *session, const guint8 *data, gsize len)
{
  const guint8 *nl;

  g_byte_array_append (session->status_line, data, len);
  while ((nl = memchr (session->status_line->data, '\n', session->status_line->len)) != NULL)
    {
      gsize n = nl - session->status_line->data;
      g_autofree char *line = g_strndup ((const char *) session->status_line->data, n);
      g_byte_array_remove_range (session->status_line, 0, n + 1);
      handle_status_line (session, line);
    }
}

static gboolean
on_status (const guint8 *data, gsize len, gpointer user_data)
{
  MrSession *session = user_data;

  if (len == 0)
    {
      g_clear_pointer (&session->status, mr_fd_reader_free);
      return FALSE;
    }
  session_ref (session);
  feed_status (session, data, len);
  session_unref (session);
  return TRUE;
}

/* Reads what the shell wrote on the status pipe before it died. */
static void
drain_status (MrSession *session)
{
  guint8 buffer[4096];
  gssize n;
  int fd;

  if (session->status == NULL)
    return;
  fd = mr_fd_reader_get_fd (session->status);
  while ((n = read (fd, buffer, sizeof buffer)) > 0)
    feed_status (session, buffer, (gsize) n);
}

static void
on_shell_exit (MrChild *child, int wait_status, gpointer user_data)
{
  MrSession *session = user_data;
  g_autoptr(GPtrArray) pending = g_ptr_array_new_with_free_func ((GDestroyNotify) mr_session_command_unref);

  session_ref (session);
  drain_status (session);
  session->dead = TRUE;
  for (guint i = 0; i < session->commands->len; i++)
    {
      MrSessionCommand *c = session->commands->pdata[i];
      if (!c->finished)
        g_ptr_array_add (pending, mr_session_command_ref (c));
    }
  for (guint i = 0; i < pending->len; i++)
    {
      MrSessionCommand *c = pending->pdata[i];
      /* at-mock gives a command whose shell died exit code 1 */
      if (!c->status_known)
        {
          c->status_known = TRUE;
          c->exit_code = 1;
          command_close_inputs (c);
        }
      command_emit (c, MR_SESSION_EVENT_SHELL_DIED);
      command_check_finished (c);
    }
  session_unref (session);
}

static gboolean
make_fifo (const char *path, GError **error)
{
  if (mkfifo (path, 0600) != 0)
    {
      int errsv = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv), "mkfifo %s: %s", path, g_strerror (errsv));
      return FALSE;
    }
  return TRUE;
}

static int
open_fd (const char *path, int flags, GError **error)
{
  int fd = open (path, flags | O_CLOEXEC, 0644);

  if (fd < 0)
    {
      int errsv = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv), "open %s: %s", path, g_strerror (errsv));
    }
  return fd;
}

/**
 * mr_session_exec: (skip)
 *
 * Starts @text in the session as command @id (queued behind the commands still running,
 * as the shell reads them in order). G_IO_ERROR_CLOSED if the shell has died.
 *
 * Returns: (transfer none) (nullable): the command
 */
MrSessionCommand *
mr_session_exec (MrSession *session, const char *id, const char *text, gboolean async,
                 gboolean suppress_input_echo, GError **error)
{
  g_autoptr(MrSessionCommand) command = NULL;
  g_autofree char *cmd_path = NULL, *out_path = NULL, *err_path = NULL, *in_path = NULL;
  g_autofree char *q_cmd = NULL, *q_out = NULL, *q_err = NULL, *q_in = NULL, *q_id = NULL, *line = NULL;
  const char *names[2];

  if (session->dead || session->gone)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "session cancelled");
      return NULL;
    }
  command = g_new0 (MrSessionCommand, 1);
  command->ref = 1;
  command->session = session;
  command->id = g_strdup (id);
  command->text = g_strdup (text);
  command->async = async;
  command->suppress_echo = suppress_input_echo;
  command->log_fd = command->input_fd = -1;
  command->dummy_fd[0] = command->dummy_fd[1] = -1;
  command->watches = g_array_new (FALSE, FALSE, sizeof (Watch));
  mr_line_framer_init (&command->framer[0], MR_LOG_STDOUT);
  mr_line_framer_init (&command->framer[1], MR_LOG_STDERR);
  command->dir = g_build_filename (session->dir, command->id, NULL);
  command->log_path = g_build_filename (command->dir, "output.log", NULL);
  cmd_path = g_build_filename (command->dir, "cmd.sh", NULL);
  out_path = g_build_filename (command->dir, "stdout.pipe", NULL);
  err_path = g_build_filename (command->dir, "stderr.pipe", NULL);
  in_path = g_build_filename (command->dir, "input.pipe", NULL);
  names[0] = out_path;
  names[1] = err_path;

  if (g_mkdir_with_parents (command->dir, 0755) != 0)
    {
      int errsv = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv), "failed to create log directory: %s",
                   g_strerror (errsv));
      return NULL;
    }
  if (!g_file_set_contents (cmd_path, text, -1, error))
    return NULL;
  if ((command->log_fd = open_fd (command->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, error)) < 0)
    return NULL;
  for (int i = 0; i < 2; i++)
    {
      int fd;
      if (!make_fifo (names[i], error))
        return NULL;
      /* the read end first (non-blocking), then our own write end, so that the FIFO
       * does not read as ended before the shell opens it */
      if ((fd = open_fd (names[i], O_RDONLY | O_NONBLOCK, error)) < 0)
        return NULL;
      if ((command->dummy_fd[i] = open_fd (names[i], O_WRONLY | O_NONBLOCK, error)) < 0)
        {
          close (fd);
          return NULL;
        }
      command->reader_data[i].command = command;
      command->reader_data[i].stream = i;
      command->reader[i] = mr_fd_reader_new (fd, on_command_output, &command->reader_data[i]);
    }
  if (async)
    {
      if (!make_fifo (in_path, error))
        return NULL;
      /* read-write: never blocks, and the command's open of the read side succeeds */
      if ((command->input_fd = open_fd (in_path, O_RDWR | O_NONBLOCK, error)) < 0)
        return NULL;
    }

  q_cmd = g_shell_quote (cmd_path);
  q_out = g_shell_quote (out_path);
  q_err = g_shell_quote (err_path);
  q_in = async ? g_shell_quote (in_path) : g_strdup ("/dev/null");
  q_id = g_shell_quote (command->id);
  line = g_strdup_printf ("{ . %s; } %d>&- <%s >%s 2>%s; printf '%%s %%s\\n' %s \"$?\" >&%d\n",
                          q_cmd, STATUS_FD, q_in, q_out, q_err, q_id, STATUS_FD);
  g_ptr_array_add (session->commands, mr_session_command_ref (command));
  queue_write (&session->control_fd, &session->control_pending, &session->control_source,
               (const guint8 *) line, strlen (line));
  return command;
}

/* The store ---------------------------------------------------------------------- */

/**
 * mr_session_store_new: (skip)
 *
 * A store with its own private directory for the session files, so that two toolboxes
 * never share one.
 */
MrSessionStore *
mr_session_store_new (GError **error)
{
  MrSessionStore *store;
  char *root = g_dir_make_tmp ("mr-sessions-XXXXXX", error);

  if (root == NULL)
    return NULL;
  store = g_new0 (MrSessionStore, 1);
  store->root = root;
  store->sessions = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) session_unref);
  store->ending = g_ptr_array_new ();
  return store;
}

const char *
mr_session_store_get_dir (MrSessionStore *store)
{
  return store->root;
}

/* Marks the session gone for its commands' watchers (followers close, sync waiters give
 * up) and stops reading its output. */
static void
session_mark_gone (MrSession *session)
{
  g_autoptr(GPtrArray) commands = g_ptr_array_copy (session->commands, (GCopyFunc) (void (*) (void)) mr_session_command_ref, NULL);

  g_ptr_array_set_free_func (commands, (GDestroyNotify) mr_session_command_unref);
  session->gone = TRUE;
  for (guint i = 0; i < commands->len; i++)
    {
      MrSessionCommand *c = commands->pdata[i];
      c->gone = TRUE;
      command_stop (c);
      command_emit (c, MR_SESSION_EVENT_GONE);
    }
}

/* Kills the session's processes now and frees it (reset, shutdown). */
static void
session_destroy_now (MrSession *session)
{
  MrSessionDeletedFunc done = session->deleted;

  session_mark_gone (session);
  mr_child_kill_all (session->shell);
  remove_tree (session->dir);
  session->deleted = NULL;
  if (done)
    done (session->deleted_data);
}

void
mr_session_store_free (MrSessionStore *store)
{
  GHashTableIter iter;
  gpointer value;

  if (store == NULL)
    return;
  g_hash_table_iter_init (&iter, store->sessions);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    session_destroy_now (value);
  g_hash_table_unref (store->sessions);
  while (store->ending->len > 0)
    {
      MrSession *s = g_ptr_array_steal_index (store->ending, store->ending->len - 1);
      session_destroy_now (s);
      session_unref (s);
    }
  g_ptr_array_unref (store->ending);
  remove_tree (store->root);
  g_free (store->root);
  g_free (store);
}

MrSession *
mr_session_store_lookup (MrSessionStore *store, const char *id)
{
  return g_hash_table_lookup (store->sessions, id);
}

static int
by_creation (gconstpointer a, gconstpointer b)
{
  const MrSession *sa = *(MrSession * const *) a, *sb = *(MrSession * const *) b;

  return sa->created < sb->created ? -1 : sa->created > sb->created;
}

/**
 * mr_session_store_list: (skip)
 *
 * Returns: (transfer container) (element-type MrSession): the sessions, oldest first
 */
GPtrArray *
mr_session_store_list (MrSessionStore *store)
{
  GPtrArray *list = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, store->sessions);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (list, value);
  g_ptr_array_sort (list, by_creation);
  return list;
}

/**
 * mr_session_store_create: (skip)
 *
 * Starts a session's shell in @cwd. G_IO_ERROR_EXISTS if @id is taken.
 *
 * Returns: (transfer none) (nullable): the session
 */
MrSession *
mr_session_store_create (MrSessionStore *store, const char *id, const char *shell, const char *cwd,
                         const char * const *envp, GError **error)
{
  const char *argv[] = { shell, NULL };
  int control[2] = { -1, -1 }, status[2] = { -1, -1 };
  int source_fds[1], target_fds[1] = { STATUS_FD };
  MrChildSpec spec = { 0 };
  MrSession *session;

  if (g_hash_table_contains (store->sessions, id))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_EXISTS, "session already exists");
      return NULL;
    }
  session = g_new0 (MrSession, 1);
  session->ref = 1;
  session->store = store;
  session->id = g_strdup (id);
  /* not the id itself: ids are client text, directory names must be safe */
  session->dir = g_strdup_printf ("%s/s%u", store->root, ++store->next_dir);
  session->created = g_get_monotonic_time ();
  session->commands = g_ptr_array_new_with_free_func ((GDestroyNotify) mr_session_command_unref);
  session->status_line = g_byte_array_new ();
  session->control_fd = session->control_keep_fd = -1;

  if (g_mkdir_with_parents (session->dir, 0755) != 0 ||
      !g_unix_open_pipe (control, FD_CLOEXEC, error) || !g_unix_open_pipe (status, FD_CLOEXEC, error))
    {
      if (error && *error == NULL)
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot create %s", session->dir);
      goto fail;
    }
  source_fds[0] = status[1];
  spec.argv = argv;
  spec.envp = envp;
  spec.cwd = cwd;
  spec.stdin_fd = control[0];
  spec.stdout_fd = -1;
  spec.stderr_fd = -1;
  spec.source_fds = source_fds;
  spec.target_fds = target_fds;
  spec.n_fds = 1;
  session->shell = mr_child_spawn (&spec, on_shell_exit, session, error);
  if (session->shell == NULL)
    goto fail;
  close_fd (&status[1]);
  session->control_fd = control[1];
  session->control_keep_fd = control[0];
  control[0] = control[1] = -1;
  g_unix_set_fd_nonblocking (session->control_fd, TRUE, NULL);
  session->status = mr_fd_reader_new (status[0], on_status, session);
  status[0] = -1;
  g_hash_table_insert (store->sessions, session->id, session);
  return session;

fail:
  for (int i = 0; i < 2; i++)
    {
      close_fd (&control[i]);
      close_fd (&status[i]);
    }
  remove_tree (session->dir);
  session_unref (session);
  return NULL;
}

static void
on_terminated (gpointer user_data)
{
  MrSession *session = user_data;
  MrSessionStore *store = session->store;
  MrSessionDeletedFunc done = session->deleted;

  g_ptr_array_remove (store->ending, session);
  remove_tree (session->dir);
  session->deleted = NULL;
  if (done)
    done (session->deleted_data);
  session_unref (session);
}

/**
 * mr_session_store_delete: (skip)
 *
 * Forgets @session at once (its commands' watchers get GONE), then ends its processes:
 * SIGTERM deepest first, up to 5 s for them to go, then SIGKILL; removes its files and
 * calls @done.
 */
void
mr_session_store_delete (MrSessionStore *store, MrSession *session, MrSessionDeletedFunc done, gpointer user_data)
{
  g_hash_table_steal (store->sessions, session->id);
  g_ptr_array_add (store->ending, session);
  session->deleted = done;
  session->deleted_data = user_data;
  session_mark_gone (session);
  mr_child_terminate (session->shell, TERMINATE_GRACE_MS, TERMINATE_POLL_MS, on_terminated, session);
}
