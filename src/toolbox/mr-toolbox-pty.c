/* mr-toolbox-pty.c: /process/pty, interactive shells on pseudo-terminals shared by
 * any number of WebSocket clients (toolbox-api.md section 2.6).
 *
 * A session is `<GetShell()> -i -l` started with forkpty() in its own session (so
 * DELETE can kill the whole group), in the session's cwd, with the daemon environment
 * plus the session's envs. Its output is read from the master in chunks of at most
 * 32 KiB and broadcast as binary frames; every client frame is written raw to the
 * master. When the shell exits, each client gets a close frame carrying the exit code,
 * and the session is forgotten. All errors use Shape B ({"error": ...}).
 *
 * Besides the at-mock protocol, SDK 0.218 offers the subprotocol
 * X-Daytona-Pty-Exit-Control (then a {"type":"control","status":"exited",...} text
 * frame precedes the close) and uses GET /process/pty/create-connect, which creates a
 * session from its query (id, cols, rows, cwd; envs in an X-Daytona-Pty-Envs~<base64url
 * JSON> subprotocol) and attaches the socket in one round trip. */
#define _GNU_SOURCE   /* close_range() */
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <glib-unix.h>

#include "mr-toolbox-private.h"
#include "mr-toolbox-children.h"
#include "mr-toolbox-ws.h"
#include "mr-http.h"
#include "mr-util.h"

#define AREA "pty"
#define READ_CHUNK          (32 * 1024)
#define CLIENT_QUEUE_MAX    256
#define CLIENT_MESSAGE_MAX  (64 * 1024)
#define INPUT_BUFFER_MAX    (1024 * 1024)
#define MAX_DIMENSION       1000
#define DEFAULT_COLS        80
#define DEFAULT_ROWS        24
#define EXIT_CONTROL_PROTOCOL "X-Daytona-Pty-Exit-Control"
#define ENVS_PROTOCOL_PREFIX  "X-Daytona-Pty-Envs~"

typedef struct _PtyArea PtyArea;
typedef struct _PtySession PtySession;

typedef struct {
  PtySession *session;
  MrTbWs *ws;
  gboolean exit_control;     /* wants the "exited" control frame before the close */
} PtyClient;

struct _PtySession {
  PtyArea *area;
  char *id;
  char *cwd;
  GHashTable *envs;          /* as reported, TERM included */
  guint cols;
  guint rows;
  gint64 created_us;
  gboolean lazy;
  GPid pid;                  /* 0 until started, and once reaped */
  int master;
  GSource *read_source;
  GSource *write_source;
  GSource *child_source;
  GByteArray *input;         /* client bytes the master has not taken yet */
  GPtrArray *clients;        /* PtyClient, owned */
};

struct _PtyArea {
  MrToolbox *toolbox;
  GHashTable *sessions;      /* id -> PtySession, owned */
  gboolean destroying;       /* reset or shutdown: the main loop may not run again */
};

/* Helpers ------------------------------------------------------------------------- */

static JsonNode *
object_node (JsonObject *o)
{
  return json_node_init_object (json_node_alloc (), o);
}

static char *
control_error_text (const char *message)
{
  g_autoptr(JsonObject) o = json_object_new ();
  g_autoptr(JsonNode) node = NULL;

  json_object_set_string_member (o, "error", message);
  json_object_set_string_member (o, "status", "error");
  json_object_set_string_member (o, "type", "control");
  node = object_node (o);
  /* the message can hold a session id that is not UTF-8: a text frame must be */
  return mr_http_json_to_string (node);
}

static char *
exit_reason (int code)
{
  switch (code)
    {
    case 0: return NULL;
    case 130: return g_strdup ("Ctrl+C");
    case 137: return g_strdup ("SIGKILL");
    case 143: return g_strdup ("SIGTERM");
    default:
      return code > 128 ? g_strdup_printf ("signal %d", code - 128) : g_strdup ("non-zero exit");
    }
}

/* Clients -------------------------------------------------------------------------- */

static void
client_free (PtyClient *c)
{
  mr_tb_ws_unref (c->ws);
  g_free (c);
}

static void
on_client_closed (MrTbWs *ws, gushort code, gpointer data)
{
  PtyClient *c = data;

  /* closing a socket detaches that client only; the shell keeps running */
  g_ptr_array_remove (c->session->clients, c);
}

/* Sends every client the exit of the shell and closes its socket after its output. */
static void
close_clients (PtySession *s, int exit_code)
{
  gboolean final = s->area->destroying;
  g_autoptr(GPtrArray) clients = g_steal_pointer (&s->clients);
  g_autofree char *reason = exit_reason (exit_code);
  g_autofree char *close_reason = reason
      ? g_strdup_printf ("{\"exitCode\":%d,\"exitReason\":\"%s\"}", exit_code, reason)
      : g_strdup_printf ("{\"exitCode\":%d}", exit_code);
  g_autofree char *control = reason
      ? g_strdup_printf ("{\"type\":\"control\",\"status\":\"exited\",\"exitCode\":%d,\"exitReason\":\"%s\"}",
                         exit_code, reason)
      : g_strdup_printf ("{\"type\":\"control\",\"status\":\"exited\",\"exitCode\":%d}", exit_code);

  s->clients = g_ptr_array_new_with_free_func ((GDestroyNotify) client_free);
  for (guint i = 0; i < clients->len; i++)
    {
      PtyClient *c = clients->pdata[i];
      if (c->exit_control)
        mr_tb_ws_send_text (c->ws, control);
      if (final)
        mr_tb_ws_close_final (c->ws, exit_code == 0 ? 1000 : 1011, close_reason);
      else
        mr_tb_ws_close (c->ws, exit_code == 0 ? 1000 : 1011, close_reason);
    }
}

/* Every client gets the chunk, except those whose queue is full: they are dropped. */
static void
broadcast (PtySession *s, const guint8 *data, gsize len)
{
  g_autoptr(GPtrArray) snapshot = g_ptr_array_copy (s->clients, NULL, NULL);

  g_ptr_array_set_free_func (snapshot, NULL);   /* the copy inherited client_free */
  for (guint i = 0; i < snapshot->len; i++)
    {
      PtyClient *c = snapshot->pdata[i];
      /* sending may notice a dead socket and detach (free) a client */
      if (!g_ptr_array_find (s->clients, c, NULL))
        continue;
      if (mr_tb_ws_get_queued (c->ws) >= CLIENT_QUEUE_MAX)
        {
          mr_tb_ws_close_now (c->ws, 1008, "slow consumer");
          g_ptr_array_remove (s->clients, c);
          continue;
        }
      mr_tb_ws_send_binary (c->ws, data, len);
    }
}

/* The shell ------------------------------------------------------------------------ */

static void
stop_io (PtySession *s)
{
  mr_source_clear (&s->read_source);
  mr_source_clear (&s->write_source);
  if (s->master >= 0)
    {
      close (s->master);
      s->master = -1;
    }
}

static void
session_free (PtySession *s)
{
  stop_io (s);
  mr_source_clear (&s->child_source);
  if (s->pid > 0)
    mr_tb_child_end (s->pid, SIGKILL, 0);
  if (s->clients)
    close_clients (s, 137);
  g_ptr_array_unref (s->clients);
  g_byte_array_unref (s->input);
  g_hash_table_unref (s->envs);
  g_free (s->id);
  g_free (s->cwd);
  g_free (s);
}

/* Reads what the master has; FALSE at its end (every process closed the slave). */
static gboolean
read_master (PtySession *s, int rounds)
{
  guint8 buf[READ_CHUNK];

  for (int i = 0; i < rounds && s->master >= 0; i++)
    {
      gssize n = read (s->master, buf, sizeof buf);
      if (n > 0)
        broadcast (s, buf, n);
      else if (n < 0 && errno == EINTR)
        continue;
      else if (n < 0 && errno == EAGAIN)
        return TRUE;
      else
        return FALSE;   /* EIO once the slave is gone */
    }
  return TRUE;
}

static gboolean
on_master_readable (gint fd, GIOCondition condition, gpointer data)
{
  PtySession *s = data;

  if (read_master (s, 8))
    return G_SOURCE_CONTINUE;
  /* the exit status comes from the child watch */
  mr_source_clear (&s->read_source);
  return G_SOURCE_REMOVE;
}

static void flush_input (PtySession *s);

static gboolean
on_master_writable (gint fd, GIOCondition condition, gpointer data)
{
  PtySession *s = data;

  mr_source_clear (&s->write_source);
  flush_input (s);
  return G_SOURCE_REMOVE;
}

static void
flush_input (PtySession *s)
{
  while (s->input->len > 0 && s->master >= 0)
    {
      gssize n = write (s->master, s->input->data, s->input->len);
      if (n > 0)
        g_byte_array_remove_range (s->input, 0, (guint) n);
      else if (n < 0 && errno == EINTR)
        continue;
      else if (n < 0 && errno == EAGAIN)
        {
          if (s->write_source == NULL)
            {
              s->write_source = g_unix_fd_source_new (s->master, G_IO_OUT | G_IO_ERR | G_IO_HUP);
              g_source_set_callback (s->write_source, G_SOURCE_FUNC (on_master_writable), s, NULL);
              g_source_attach (s->write_source, g_main_context_get_thread_default ());
            }
          return;
        }
      else
        {
          g_byte_array_set_size (s->input, 0);   /* the shell is going away */
          return;
        }
    }
}

static void
on_shell_exit (GPid pid, gint status, gpointer data)
{
  PtySession *s = data;
  int code = mr_tb_child_exit_code (status);

  mr_source_clear (&s->child_source);
  g_spawn_close_pid (pid);
  s->pid = 0;
  /* what the shell wrote just before it exited is still in the master */
  read_master (s, 64);
  stop_io (s);
  close_clients (s, code);
  /* an exited shell's session is removed: a later GET answers 404 */
  g_hash_table_remove (s->area->sessions, s->id);
}

/* Between fork and exec: async-signal-safe calls only. */
static void G_GNUC_NORETURN
exec_shell (const char *cwd, const char *path, char **argv, char **envp)
{
  struct sigaction dfl;
  sigset_t none;

  memset (&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++)
    sigaction (sig, &dfl, NULL);   /* ignored signals would stay ignored across exec */
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
  if (chdir (cwd) != 0)
    _exit (127);
  /* the runner's sockets and other terminals' masters (a loop on kernels before 5.9) */
  if (close_range (3, ~0U, 0) != 0)
    for (int fd = 3; fd < 65536; fd++)
      close (fd);
  execve (path, argv, envp);
  _exit (127);
}

static gboolean
session_start (PtySession *s, GError **error)
{
  g_autofree char *shell = mr_tb_get_shell ();
  g_autofree char *path = g_path_is_absolute (shell) ? g_strdup (shell) : g_find_program_in_path (shell);
  g_auto(GStrv) envp = mr_tb_child_environ (s->area->toolbox, s->envs);
  char *argv[] = { path, (char *) "-i", (char *) "-l", NULL };
  struct winsize size = { .ws_row = s->rows, .ws_col = s->cols };
  int master = -1;
  pid_t pid;

  if (path == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "exec: \"%s\": executable file not found in $PATH", shell);
      return FALSE;
    }
  if (!g_file_test (s->cwd, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "chdir %s: no such file or directory", s->cwd);
      return FALSE;
    }
  pid = forkpty (&master, NULL, NULL, &size);
  if (pid < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "forkpty: %s", g_strerror (saved));
      return FALSE;
    }
  if (pid == 0)
    exec_shell (s->cwd, path, argv, envp);

  fcntl (master, F_SETFD, FD_CLOEXEC);
  fcntl (master, F_SETFL, fcntl (master, F_GETFL) | O_NONBLOCK);
  s->master = master;
  s->pid = pid;
  s->child_source = g_child_watch_source_new (pid);
  g_source_set_callback (s->child_source, G_SOURCE_FUNC (on_shell_exit), s, NULL);
  g_source_attach (s->child_source, g_main_context_get_thread_default ());
  s->read_source = g_unix_fd_source_new (master, G_IO_IN | G_IO_HUP | G_IO_ERR);
  g_source_set_callback (s->read_source, G_SOURCE_FUNC (on_master_readable), s, NULL);
  g_source_attach (s->read_source, g_main_context_get_thread_default ());
  return TRUE;
}

static gboolean
session_active (PtySession *s)
{
  return s->pid > 0;
}

/* Area ------------------------------------------------------------------------------ */

static void
area_free (PtyArea *area)
{
  /* every shell is killed and every client told so (session_free) */
  area->destroying = TRUE;
  g_hash_table_unref (area->sessions);
  g_free (area);
}

static PtyArea *
get_area (MrToolbox *toolbox)
{
  PtyArea *area = mr_tb_area_get (toolbox, AREA);

  if (area == NULL)
    {
      area = g_new0 (PtyArea, 1);
      area->toolbox = toolbox;
      area->sessions = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) session_free);
      mr_tb_area_set (toolbox, AREA, area, (GDestroyNotify) area_free);
    }
  return area;
}

static PtySession *
session_new (PtyArea *area, const char *id, const char *cwd, GHashTable *envs, guint cols, guint rows,
             gboolean lazy)
{
  PtySession *s = g_new0 (PtySession, 1);

  s->area = area;
  s->id = g_strdup (id);
  s->cwd = mr_tb_resolve_path (area->toolbox, cwd);
  s->envs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  if (envs)
    {
      GHashTableIter iter;
      gpointer k, v;
      g_hash_table_iter_init (&iter, envs);
      while (g_hash_table_iter_next (&iter, &k, &v))
        g_hash_table_insert (s->envs, g_strdup (k), g_strdup (v));
    }
  if (!g_hash_table_contains (s->envs, "TERM"))
    g_hash_table_insert (s->envs, g_strdup ("TERM"), g_strdup ("xterm-256color"));
  s->cols = cols ? cols : DEFAULT_COLS;
  s->rows = rows ? rows : DEFAULT_ROWS;
  s->created_us = g_get_real_time ();
  s->lazy = lazy;
  s->master = -1;
  s->input = g_byte_array_new ();
  s->clients = g_ptr_array_new_with_free_func ((GDestroyNotify) client_free);
  g_hash_table_insert (area->sessions, s->id, s);
  return s;
}

static JsonNode *
session_info (PtySession *s)
{
  g_autoptr(JsonObject) o = json_object_new ();
  JsonObject *envs = json_object_new ();
  g_autoptr(GList) keys = g_list_sort (g_hash_table_get_keys (s->envs), (GCompareFunc) strcmp);
  g_autofree char *created = mr_tb_format_rfc3339 (s->created_us / G_USEC_PER_SEC,
                                                   (s->created_us % G_USEC_PER_SEC) * 1000);

  for (GList *l = keys; l; l = l->next)
    json_object_set_string_member (envs, l->data, g_hash_table_lookup (s->envs, l->data));
  json_object_set_string_member (o, "id", s->id);
  json_object_set_string_member (o, "cwd", s->cwd);
  json_object_set_object_member (o, "envs", envs);
  json_object_set_int_member (o, "cols", s->cols);
  json_object_set_int_member (o, "rows", s->rows);
  json_object_set_string_member (o, "createdAt", created);
  json_object_set_boolean_member (o, "active", session_active (s));
  json_object_set_boolean_member (o, "lazyStart", s->lazy);
  return object_node (o);
}

/* Request parsing ------------------------------------------------------------------- */

/* A uint16 member as Go decodes it (absent or null: 0). */
static gboolean
get_dimension (JsonObject *o, const char *name, const char *type, guint *out, GError **error)
{
  JsonNode *node = json_object_get_member (o, name);
  gdouble value;

  *out = 0;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) ||
      (json_node_get_value_type (node) != G_TYPE_INT64 && json_node_get_value_type (node) != G_TYPE_DOUBLE))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "json: cannot unmarshal %s into Go struct field %s.%s of type uint16",
                   JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING ? "string"
                   : JSON_NODE_HOLDS_VALUE (node) ? "bool" : JSON_NODE_HOLDS_ARRAY (node) ? "array" : "object",
                   type, name);
      return FALSE;
    }
  value = json_node_get_double (node);
  if (value < 0 || value > 65535 || value != (gdouble) (gint64) value)
    {
      g_autofree char *text = json_to_string (node, FALSE);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "json: cannot unmarshal number %s into Go struct field %s.%s of type uint16", text, type, name);
      return FALSE;
    }
  *out = (guint) value;
  return TRUE;
}

static gboolean
get_string (JsonObject *o, const char *name, const char *type, const char **out, GError **error)
{
  JsonNode *node = json_object_get_member (o, name);

  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "json: cannot unmarshal %s into Go struct field %s.%s of type string",
                   JSON_NODE_HOLDS_OBJECT (node) ? "object" : JSON_NODE_HOLDS_ARRAY (node) ? "array" : "number",
                   type, name);
      return FALSE;
    }
  *out = json_node_get_string (node);
  return TRUE;
}

/* An object of strings (absent or null: NULL). */
static gboolean
get_envs (JsonObject *o, const char *type, GHashTable **out, GError **error)
{
  JsonNode *node = json_object_get_member (o, "envs");
  g_autoptr(GHashTable) envs = NULL;
  JsonObjectIter iter;
  const char *key;
  JsonNode *value;

  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "json: cannot unmarshal %s into Go struct field %s.envs of type map[string]string",
                   JSON_NODE_HOLDS_ARRAY (node) ? "array" : "value", type);
      return FALSE;
    }
  envs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  json_object_iter_init (&iter, json_node_get_object (node));
  while (json_object_iter_next (&iter, &key, &value))
    {
      if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "json: cannot unmarshal value into Go struct field %s.envs of type string", type);
          return FALSE;
        }
      g_hash_table_insert (envs, g_strdup (key), g_strdup (json_node_get_string (value)));
    }
  *out = g_steal_pointer (&envs);
  return TRUE;
}

static const char *
check_dimensions (guint cols, guint rows, gboolean create)
{
  if (cols > MAX_DIMENSION)
    return create ? "invalid value for cols - must be less than 1000" : "cols must be less than 1000";
  if (rows > MAX_DIMENSION)
    return create ? "invalid value for rows - must be less than 1000" : "rows must be less than 1000";
  return NULL;
}

/* REST routes ----------------------------------------------------------------------- */

static void
reply_object (MrTbCall *call, guint status, const char *name, const char *value)
{
  g_autoptr(JsonObject) o = json_object_new ();
  g_autoptr(JsonNode) node = NULL;

  json_object_set_string_member (o, name, value);
  node = object_node (o);
  mr_tb_reply_json (call, status, node);
}

static void
handle_create (MrTbCall *call)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) body = mr_tb_parse_body_object (call, &error);
  g_autoptr(GHashTable) envs = NULL;
  PtyArea *area = get_area (call->toolbox);
  const char *id = NULL, *cwd = NULL, *problem;
  guint cols = 0, rows = 0;
  gboolean lazy = FALSE;
  JsonNode *lazy_node;
  PtySession *s;

  if (body == NULL ||
      !get_string (body, "id", "PtyCreateRequest", &id, &error) ||
      !get_string (body, "cwd", "PtyCreateRequest", &cwd, &error) ||
      !get_envs (body, "PtyCreateRequest", &envs, &error) ||
      !get_dimension (body, "cols", "PtyCreateRequest", &cols, &error) ||
      !get_dimension (body, "rows", "PtyCreateRequest", &rows, &error))
    {
      mr_tb_reply_error_b (call, 400, error->message);
      return;
    }
  lazy_node = json_object_get_member (body, "lazyStart");
  if (lazy_node && !JSON_NODE_HOLDS_NULL (lazy_node))
    {
      if (!JSON_NODE_HOLDS_VALUE (lazy_node) || json_node_get_value_type (lazy_node) != G_TYPE_BOOLEAN)
        {
          mr_tb_reply_error_b (call, 400,
                               "json: cannot unmarshal value into Go struct field PtyCreateRequest.lazyStart of type bool");
          return;
        }
      lazy = json_node_get_boolean (lazy_node);
    }
  if (id == NULL || *id == '\0')
    {
      mr_tb_reply_error_b (call, 400, "session ID is required");
      return;
    }
  if ((problem = check_dimensions (cols, rows, TRUE)) != NULL)
    {
      mr_tb_reply_error_b (call, 400, problem);
      return;
    }
  if (g_hash_table_contains (area->sessions, id))
    {
      g_autofree char *message = g_strdup_printf ("PTY session with ID '%s' already exists", id);
      mr_tb_reply_error_b (call, 409, message);
      return;
    }
  s = session_new (area, id, cwd, envs, cols, rows, lazy);
  if (!lazy && !session_start (s, &error))
    {
      g_hash_table_remove (area->sessions, id);
      mr_tb_reply_error_b (call, 500, "failed to start PTY session");
      return;
    }
  reply_object (call, 201, "sessionId", id);
}

static gint
compare_sessions (gconstpointer a, gconstpointer b)
{
  const PtySession *x = a, *y = b;

  if (x->created_us != y->created_us)
    return x->created_us < y->created_us ? -1 : 1;
  return strcmp (x->id, y->id);
}

static void
handle_list (MrTbCall *call)
{
  PtyArea *area = get_area (call->toolbox);
  g_autoptr(GList) sessions = g_list_sort (g_hash_table_get_values (area->sessions), compare_sessions);
  g_autoptr(JsonObject) o = json_object_new ();
  g_autoptr(JsonNode) node = NULL;
  JsonArray *array = json_array_new ();

  for (GList *l = sessions; l; l = l->next)
    json_array_add_element (array, session_info (l->data));
  json_object_set_array_member (o, "sessions", array);
  node = object_node (o);
  mr_tb_reply_json (call, 200, node);
}

static void
handle_get (MrTbCall *call)
{
  PtySession *s = g_hash_table_lookup (get_area (call->toolbox)->sessions, mr_tb_param (call, "id"));
  g_autoptr(JsonNode) node = NULL;

  if (s == NULL)
    {
      mr_tb_reply_error_b (call, 404, "PTY session not found");
      return;
    }
  node = session_info (s);
  mr_tb_reply_json (call, 200, node);
}

static void
handle_delete (MrTbCall *call)
{
  PtyArea *area = get_area (call->toolbox);
  PtySession *s = g_hash_table_lookup (area->sessions, mr_tb_param (call, "id"));

  if (s == NULL)
    {
      mr_tb_reply_error_b (call, 404, "PTY session not found");
      return;
    }
  /* session_free kills the shell (SIGKILL) and closes the sockets with 137 */
  g_hash_table_remove (area->sessions, s->id);
  reply_object (call, 200, "message", "PTY session deleted");
}

static void
handle_resize (MrTbCall *call)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) body = mr_tb_parse_body_object (call, &error);
  const char *id = mr_tb_param (call, "id");
  const char *problem;
  guint cols = 0, rows = 0;
  PtySession *s;
  struct winsize size;
  g_autoptr(JsonNode) node = NULL;

  if (body == NULL ||
      !get_dimension (body, "cols", "PtyResizeRequest", &cols, &error) ||
      !get_dimension (body, "rows", "PtyResizeRequest", &rows, &error))
    {
      mr_tb_reply_error_b (call, 400, error->message);
      return;
    }
  if ((problem = check_dimensions (cols, rows, FALSE)) != NULL)
    {
      mr_tb_reply_error_b (call, 400, problem);
      return;
    }
  s = g_hash_table_lookup (get_area (call->toolbox)->sessions, id);
  if (s == NULL)
    {
      g_autofree char *message = g_strdup_printf ("PTY session %s not found", id);
      mr_tb_reply_error_b (call, 410, message);
      return;
    }
  if (!session_active (s))
    {
      mr_tb_reply_error_b (call, 500, "cannot resize inactive PTY session");
      return;
    }
  memset (&size, 0, sizeof size);
  size.ws_col = cols;
  size.ws_row = rows;
  /* the kernel sends SIGWINCH to the terminal's foreground process group */
  if (ioctl (s->master, TIOCSWINSZ, &size) != 0)
    {
      g_autofree char *message = g_strdup_printf ("failed to resize PTY: %s", g_strerror (errno));
      mr_tb_reply_error_b (call, 500, message);
      return;
    }
  s->cols = cols;
  s->rows = rows;
  node = session_info (s);
  mr_tb_reply_json (call, 200, node);
}

/* WebSocket routes ------------------------------------------------------------------- */

typedef struct {
  MrToolbox *toolbox;
  char *id;
  gboolean exit_control;
  gboolean create;           /* create-connect */
  char *create_error;        /* a request the creation refused */
  char *cwd;
  GHashTable *envs;
  guint cols;
  guint rows;
} Connect;

static void
connect_free (Connect *c)
{
  g_object_unref (c->toolbox);
  g_free (c->id);
  g_free (c->create_error);
  g_free (c->cwd);
  g_clear_pointer (&c->envs, g_hash_table_unref);
  g_free (c);
}

static void
on_client_message (MrTbWs *ws, gboolean is_text, GBytes *payload, gpointer data)
{
  PtyClient *c = data;
  PtySession *s = c->session;
  gsize len;
  const guint8 *bytes = g_bytes_get_data (payload, &len);

  if (!session_active (s) || len == 0)
    return;
  if (s->input->len + len > INPUT_BUFFER_MAX)
    return;   /* the shell stopped reading its terminal; keystrokes beyond 1 MiB are lost */
  g_byte_array_append (s->input, bytes, (guint) len);
  flush_input (s);
}

/* One text frame with the error, then the TCP connection ends without a close frame. */
static void
refuse (MrTbWs *ws, const char *prefix, const char *message)
{
  g_autofree char *full = g_strconcat (prefix, message, NULL);
  g_autofree char *text = control_error_text (full);

  mr_tb_ws_send_text (ws, text);
  mr_tb_ws_drop (ws);
  mr_tb_ws_unref (ws);
}

static void
on_connect_ready (MrTbWs *ws, gpointer data)
{
  Connect *c = data;
  PtyArea *area = get_area (c->toolbox);
  PtySession *s;
  PtyClient *client;
  g_autoptr(GError) error = NULL;

  if (c->create)
    {
      if (c->create_error)
        {
          refuse (ws, "Failed to create PTY session: ", c->create_error);
          return;
        }
      if (g_hash_table_contains (area->sessions, c->id))
        {
          g_autofree char *message = g_strdup_printf ("PTY session with ID '%s' already exists", c->id);
          refuse (ws, "Failed to create PTY session: ", message);
          return;
        }
      session_new (area, c->id, c->cwd, c->envs, c->cols, c->rows, FALSE);
    }
  s = g_hash_table_lookup (area->sessions, c->id);
  if (s == NULL)
    {
      g_autofree char *message = g_strdup_printf ("PTY session %s not found", c->id);
      refuse (ws, "Failed to connect to PTY session: ", message);
      return;
    }
  /* a lazy session's shell starts with its first client (create-connect's at once) */
  if (!session_active (s) && !session_start (s, &error))
    {
      g_autofree char *message = g_strdup_printf ("failed to start PTY session: %s", error->message);
      g_hash_table_remove (area->sessions, c->id);
      refuse (ws, c->create ? "Failed to create PTY session: " : "Failed to connect to PTY session: ", message);
      return;
    }

  client = g_new0 (PtyClient, 1);
  client->session = s;
  client->ws = ws;
  client->exit_control = c->exit_control;
  mr_tb_ws_set_max_message (ws, CLIENT_MESSAGE_MAX);
  mr_tb_ws_set_handlers (ws, on_client_message, on_client_closed, client);
  g_ptr_array_add (s->clients, client);
  mr_tb_ws_send_text (ws, "{\"status\":\"connected\",\"type\":\"control\"}");
}

static gboolean
accept_connect (MrTbCall *call, Connect *c)
{
  static const char *const preferred[] = { EXIT_CONTROL_PROTOCOL, "X-Daytona-SDK-Version~", NULL };
  g_autofree char *protocol = mr_tb_ws_choose_protocol (call, preferred);

  c->toolbox = g_object_ref (call->toolbox);
  c->exit_control = protocol && strcmp (protocol, EXIT_CONTROL_PROTOCOL) == 0;
  if (!mr_tb_ws_accept (call, protocol, on_connect_ready, c, (GDestroyNotify) connect_free))
    {
      mr_tb_reply_error_b (call, 400, "websocket: the client is not using the websocket protocol");
      return FALSE;
    }
  return TRUE;
}

static void
handle_connect (MrTbCall *call)
{
  Connect *c = g_new0 (Connect, 1);

  c->id = g_strdup (mr_tb_param (call, "id"));
  accept_connect (call, c);
}

/* The query's unsigned integer (absent: 0); FALSE if it is not one. */
static gboolean
query_dimension (MrTbCall *call, const char *name, guint *out)
{
  const char *text = mr_tb_query (call, name);
  guint64 value;

  *out = 0;
  if (text == NULL || *text == '\0')
    return TRUE;
  if (!g_ascii_string_to_unsigned (text, 10, 0, 65535, &value, NULL))
    return FALSE;
  *out = (guint) value;
  return TRUE;
}

static char *
decode_envs (const char *b64url, GHashTable **out)
{
  g_autofree char *b64 = g_strdup (b64url);
  g_autoptr(GString) padded = NULL;
  g_autofree guchar *json = NULL;
  gsize len = 0;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) wrapper = json_object_new ();
  JsonNode *root;

  g_strdelimit (b64, "-", '+');
  g_strdelimit (b64, "_", '/');
  padded = g_string_new (b64);
  while (padded->len % 4)
    g_string_append_c (padded, '=');
  json = g_base64_decode (padded->str, &len);
  /* an empty (or undecodable) value parses to no JSON at all: no root to copy */
  if (json == NULL || !json_parser_load_from_data (parser, (const char *) json, len, &error) ||
      (root = json_parser_get_root (parser)) == NULL)
    return g_strdup ("invalid envs subprotocol");
  json_object_set_member (wrapper, "envs", json_node_copy (root));
  if (!get_envs (wrapper, "PtyCreateRequest", out, &error))
    return g_strdup (error->message);
  return NULL;
}

static void
handle_create_connect (MrTbCall *call)
{
  Connect *c = g_new0 (Connect, 1);
  g_autofree char *envs = mr_tb_ws_offered_protocol_value (call, ENVS_PROTOCOL_PREFIX);
  const char *problem;

  c->create = TRUE;
  c->id = g_strdup (mr_tb_query (call, "id"));
  c->cwd = g_strdup (mr_tb_query (call, "cwd"));
  if (c->id == NULL || *c->id == '\0')
    c->create_error = g_strdup ("session ID is required");
  else if (!query_dimension (call, "cols", &c->cols) || !query_dimension (call, "rows", &c->rows))
    c->create_error = g_strdup ("invalid value for cols or rows");
  else if ((problem = check_dimensions (c->cols, c->rows, TRUE)) != NULL)
    c->create_error = g_strdup (problem);
  else if (envs)
    c->create_error = decode_envs (envs, &c->envs);
  accept_connect (call, c);
}

static const MrRoute routes[] = {
  { "POST", "/process/pty", handle_create, NULL, 0, "pty-create" },
  { "GET", "/process/pty", handle_list, NULL, 0, "pty-list" },
  /* before /process/pty/{id}, which it would otherwise match */
  { "GET", "/process/pty/create-connect", handle_create_connect, NULL, 0, "pty-create-connect" },
  { "GET", "/process/pty/{id}", handle_get, NULL, 0, "pty-get" },
  { "DELETE", "/process/pty/{id}", handle_delete, NULL, 0, "pty-delete" },
  { "POST", "/process/pty/{id}/resize", handle_resize, NULL, 0, "pty-resize" },
  { "GET", "/process/pty/{id}/connect", handle_connect, NULL, 0, "pty-connect" },
};

void
mr_tb_register_pty (MrRouter *router)
{
  mr_router_add_all (router, routes, G_N_ELEMENTS (routes));
}
