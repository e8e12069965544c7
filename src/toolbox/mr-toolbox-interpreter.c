/* mr-toolbox-interpreter.c: /process/interpreter, stateful Python contexts
 * (toolbox-api.md section 2.7).
 *
 * Each context is one long-running python3 worker (mr-toolbox-interpreter-worker.h),
 * written once per toolbox into a private directory. Commands go to its stdin as JSON
 * lines; results come back as JSON lines on a pipe of their own (fd 3 in the worker),
 * and whatever child processes write straight to fd 1 and 2 is read from two more
 * pipes and forwarded as stdout and stderr chunks.
 *
 * Executions arrive on the WebSocket /process/interpreter/execute and run one at a time
 * per context, first come first served; each client gets the chunks of its own run (the
 * at-mock daemon attaches one client per context, so a newer client steals the output
 * of an older one; that is not copied). A client that leaves stops its run (SIGINT, then
 * the worker is killed after the grace period, like a timeout). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <glib-unix.h>
#include <glib/gstdio.h>

#include "mr-toolbox-private.h"
#include "mr-toolbox-json-bind.h"
#include "mr-toolbox-children.h"
#include "mr-toolbox-interpreter-worker.h"
#include "mr-toolbox-ws.h"
#include "mr-util.h"

#define AREA "interpreter"
#define DEFAULT_CONTEXT        "default"
#define DEFAULT_TIMEOUT_MS     (600 * 1000)
#define INTERRUPT_GRACE_MS     2000
#define DELETE_GRACE_MS        2000
#define CLIENT_QUEUE_MAX       256
#define FIRST_MESSAGE_MAX      (16 * 1024 * 1024)
#define READ_CHUNK             16384
#define RAW_CHUNK              8192    /* bytes of child output per chunk */

typedef struct _InterpArea InterpArea;
typedef struct _Context Context;
typedef struct _Run Run;

typedef struct {
  int fd;
  GSource *source;
  GByteArray *buf;
} Pipe;

struct _Run {
  Context *ctx;
  MrTbWs *ws;                /* NULL once the client left */
  char *code;
  JsonNode *envs;            /* an object, or NULL */
  guint timeout_ms;          /* 0: none */
  GSource *timer;            /* the timeout, then the grace period after SIGINT */
  gboolean timed_out;
  gboolean interrupting;
};

struct _Context {
  InterpArea *area;
  char *id;
  char *cwd;
  gint64 created_us;
  GPid pid;                  /* 0 while inactive */
  int stdin_fd;
  GByteArray *stdin_buf;
  GSource *stdin_source;
  GSource *child_source;
  Pipe proto;
  Pipe out;
  Pipe err;
  GQueue waiting;            /* Run */
  Run *current;
  gboolean reaping;          /* reading a dead worker's last output: start nothing */
};

struct _InterpArea {
  MrToolbox *toolbox;
  GHashTable *contexts;      /* id -> Context, owned */
  GList *pendings;           /* Pending: sockets still waiting for their first message */
  char *dir;                 /* private directory holding the worker; NULL until needed */
  char *script;
};

static void start_next (Context *ctx);

/* Chunks ------------------------------------------------------------------------------ */

/* A chunk as clients get it: all five keys, "" where they do not apply. */
static char *
chunk_json (const char *type, const char *text, const char *name, const char *value, const char *traceback)
{
  g_autoptr(JsonObject) o = json_object_new ();
  g_autoptr(JsonNode) node = NULL;

  json_object_set_string_member (o, "type", type);
  json_object_set_string_member (o, "text", text ? text : "");
  json_object_set_string_member (o, "name", name ? name : "");
  json_object_set_string_member (o, "value", value ? value : "");
  json_object_set_string_member (o, "traceback", traceback ? traceback : "");
  node = json_node_init_object (json_node_alloc (), o);
  return json_to_string (node, FALSE);
}

/* Runs ---------------------------------------------------------------------------------- */

static void
run_free (Run *run)
{
  mr_source_clear (&run->timer);
  if (run->ws)
    mr_tb_ws_unref (run->ws);
  g_free (run->code);
  g_clear_pointer (&run->envs, json_node_unref);
  g_free (run);
}

static void
run_close (Run *run, gushort code, const char *reason)
{
  if (run->ws)
    {
      mr_tb_ws_close (run->ws, code, reason);
      g_clear_pointer (&run->ws, mr_tb_ws_unref);
    }
}

static void interrupt_run (Run *run);

static void
send_chunk (Run *run, const char *json)
{
  if (run->ws == NULL)
    return;
  if (mr_tb_ws_get_queued (run->ws) >= CLIENT_QUEUE_MAX)
    {
      mr_tb_ws_close_now (run->ws, 1008, "slow consumer");
      g_clear_pointer (&run->ws, mr_tb_ws_unref);
      interrupt_run (run);
      return;
    }
  mr_tb_ws_send_text (run->ws, json);
}

/* Ends the context's current run and starts the next one. */
static void
finish_current (Context *ctx, gushort code, const char *reason)
{
  Run *run = g_steal_pointer (&ctx->current);

  if (run == NULL)
    return;
  run_close (run, code, reason);
  run_free (run);
  start_next (ctx);
}

static void
finish_current_normally (Context *ctx)
{
  gboolean timed_out = ctx->current && ctx->current->timed_out;

  finish_current (ctx, timed_out ? 4008 : 1000, timed_out ? "execution timed out" : "");
}

/* The worker ------------------------------------------------------------------------------ */

static void
pipe_close (Pipe *p)
{
  mr_source_clear (&p->source);
  if (p->fd >= 0)
    close (p->fd);
  p->fd = -1;
  g_clear_pointer (&p->buf, g_byte_array_unref);
}

/* Forgets the worker (killing it if it still runs); the context becomes inactive. */
static void
worker_stop (Context *ctx, int signum, guint grace_ms)
{
  mr_source_clear (&ctx->child_source);
  mr_source_clear (&ctx->stdin_source);
  if (ctx->stdin_fd >= 0)
    close (ctx->stdin_fd);
  ctx->stdin_fd = -1;
  g_clear_pointer (&ctx->stdin_buf, g_byte_array_unref);
  pipe_close (&ctx->proto);
  pipe_close (&ctx->out);
  pipe_close (&ctx->err);
  if (ctx->pid > 0)
    mr_tb_child_end (ctx->pid, signum, grace_ms);
  ctx->pid = 0;
}

/* Valid UTF-8 for what @buf holds, keeping an incomplete last character for later. */
static char *
take_text (GByteArray *buf, gboolean final)
{
  gsize len = buf->len, keep = 0;
  char *text;

  if (!final)
    for (gsize back = 1; back <= 3 && back <= len; back++)
      {
        guint8 c = buf->data[len - back];
        if ((c & 0xc0) == 0x80)
          continue;   /* a continuation byte: look further back */
        if (c >= 0xc0)
          {
            gsize need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
            if (need > back)
              keep = back;
          }
        break;
      }
  text = g_utf8_make_valid ((const char *) buf->data, len - keep);
  g_byte_array_remove_range (buf, 0, (guint) (len - keep));
  return text;
}

/* Reads what a pipe has; FALSE at its end. */
static gboolean
pipe_read (Pipe *p)
{
  guint8 chunk[READ_CHUNK];

  for (int i = 0; i < 16; i++)
    {
      gssize n = read (p->fd, chunk, sizeof chunk);
      if (n > 0)
        g_byte_array_append (p->buf, chunk, (guint) n);
      else if (n < 0 && errno == EINTR)
        continue;
      else if (n < 0 && errno == EAGAIN)
        return TRUE;
      else
        return FALSE;
    }
  return TRUE;
}

/* Output child processes wrote to the worker's fd 1 or 2. */
static void
forward_raw (Context *ctx, Pipe *p, const char *type, gboolean final)
{
  g_autofree char *text = NULL;
  g_autofree char *json = NULL;

  if (p->buf == NULL || p->buf->len == 0)
    return;
  text = take_text (p->buf, final);
  /* in pieces, on character boundaries: clients limit the size of a message (1 MiB for
   * Python's websockets), and JSON escaping can make text six times longer */
  for (const char *start = text; *start && ctx->current; )
    {
      gsize len = strlen (start);
      const char *end = start + MIN (len, RAW_CHUNK);
      g_autofree char *piece = NULL;

      if (*end)
        end = g_utf8_find_prev_char (start, end + 1);
      if (end <= start)
        end = start + MIN (len, RAW_CHUNK);
      piece = g_strndup (start, end - start);
      json = chunk_json (type, piece, NULL, NULL, NULL);
      send_chunk (ctx->current, json);
      g_clear_pointer (&json, g_free);
      start = end;
    }
}

static void
drain_raw (Context *ctx)
{
  if (ctx->out.fd >= 0)
    pipe_read (&ctx->out);
  if (ctx->err.fd >= 0)
    pipe_read (&ctx->err);
  forward_raw (ctx, &ctx->out, "stdout", FALSE);
  forward_raw (ctx, &ctx->err, "stderr", FALSE);
}

static void
handle_worker_line (Context *ctx, const char *line, gsize len)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  JsonObject *o;
  const char *type;

  if (!json_parser_load_from_data (parser, line, len, NULL) ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    return;
  o = json_node_get_object (json_parser_get_root (parser));
  type = json_object_get_string_member_with_default (o, "type", "");
  if (strcmp (type, "control") == 0)
    {
      /* what child processes wrote before the run ended belongs to it */
      drain_raw (ctx);
      finish_current_normally (ctx);
    }
  else if (ctx->current && (strcmp (type, "stdout") == 0 || strcmp (type, "stderr") == 0 ||
                            strcmp (type, "error") == 0))
    {
      g_autofree char *json = chunk_json (type,
                                          json_object_get_string_member_with_default (o, "text", ""),
                                          json_object_get_string_member_with_default (o, "name", ""),
                                          json_object_get_string_member_with_default (o, "value", ""),
                                          json_object_get_string_member_with_default (o, "traceback", ""));
      send_chunk (ctx->current, json);
    }
}

static void
process_protocol (Context *ctx)
{
  while (ctx->proto.buf && ctx->proto.buf->len > 0)
    {
      guint8 *nl = memchr (ctx->proto.buf->data, '\n', ctx->proto.buf->len);
      gsize len;
      g_autofree char *line = NULL;

      if (nl == NULL)
        return;
      len = nl - ctx->proto.buf->data;
      line = g_strndup ((const char *) ctx->proto.buf->data, len);
      g_byte_array_remove_range (ctx->proto.buf, 0, (guint) len + 1);
      handle_worker_line (ctx, line, len);
    }
}

static gboolean
on_protocol_readable (gint fd, GIOCondition condition, gpointer data)
{
  Context *ctx = data;
  gboolean open = pipe_read (&ctx->proto);

  process_protocol (ctx);
  if (open || ctx->proto.fd < 0)
    return G_SOURCE_CONTINUE;
  /* the worker is ending: its exit comes from the child watch */
  mr_source_clear (&ctx->proto.source);
  return G_SOURCE_REMOVE;
}

static gboolean
on_raw_readable (gint fd, GIOCondition condition, gpointer data)
{
  Context *ctx = data;
  Pipe *p = fd == ctx->out.fd ? &ctx->out : &ctx->err;
  gboolean open = pipe_read (p);

  forward_raw (ctx, p, p == &ctx->out ? "stdout" : "stderr", !open);
  if (open)
    return G_SOURCE_CONTINUE;
  mr_source_clear (&p->source);
  return G_SOURCE_REMOVE;
}

static void
on_worker_exit (GPid pid, gint status, gpointer data)
{
  Context *ctx = data;
  gboolean timed_out = ctx->current && ctx->current->timed_out;

  mr_source_clear (&ctx->child_source);
  g_spawn_close_pid (pid);
  ctx->pid = 0;
  /* its last words are still in the pipes */
  ctx->reaping = TRUE;
  if (ctx->proto.fd >= 0)
    pipe_read (&ctx->proto);
  process_protocol (ctx);
  drain_raw (ctx);
  ctx->reaping = FALSE;
  worker_stop (ctx, 0, 0);
  if (ctx->current)
    finish_current (ctx, timed_out ? 4008 : 1001, timed_out ? "execution timed out" : "worker process ended");
  else
    start_next (ctx);
}

static gboolean flush_stdin (Context *ctx);

static gboolean
on_stdin_writable (gint fd, GIOCondition condition, gpointer data)
{
  Context *ctx = data;

  mr_source_clear (&ctx->stdin_source);
  flush_stdin (ctx);
  return G_SOURCE_REMOVE;
}

/* Writes the queued commands; FALSE if the worker stopped reading for good. */
static gboolean
flush_stdin (Context *ctx)
{
  while (ctx->stdin_buf && ctx->stdin_buf->len > 0)
    {
      gssize n = write (ctx->stdin_fd, ctx->stdin_buf->data, ctx->stdin_buf->len);
      if (n > 0)
        g_byte_array_remove_range (ctx->stdin_buf, 0, (guint) n);
      else if (n < 0 && errno == EINTR)
        continue;
      else if (n < 0 && errno == EAGAIN)
        {
          if (ctx->stdin_source == NULL)
            {
              ctx->stdin_source = g_unix_fd_source_new (ctx->stdin_fd, G_IO_OUT | G_IO_ERR | G_IO_HUP);
              g_source_set_callback (ctx->stdin_source, G_SOURCE_FUNC (on_stdin_writable), ctx, NULL);
              g_source_attach (ctx->stdin_source, g_main_context_get_thread_default ());
            }
          return TRUE;
        }
      else
        {
          /* EPIPE: the worker is dying; the child watch reports it */
          g_byte_array_set_size (ctx->stdin_buf, 0);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
write_worker_script (InterpArea *area, GError **error)
{
  if (area->script)
    return TRUE;
  /* private to this toolbox: two toolboxes in one process never share it */
  area->dir = g_dir_make_tmp ("mock-runner-interpreter-XXXXXX", error);
  if (area->dir == NULL)
    return FALSE;
  area->script = g_build_filename (area->dir, "repl_worker.py", NULL);
  if (!g_file_set_contents_full (area->script, mr_tb_interpreter_worker_py, -1,
                                 G_FILE_SET_CONTENTS_CONSISTENT, 0700, error))
    {
      g_clear_pointer (&area->script, g_free);
      g_rmdir (area->dir);
      g_clear_pointer (&area->dir, g_free);
      return FALSE;
    }
  return TRUE;
}

/* Between fork and exec: its own session, so that signals reach its children too. */
static void
worker_child_setup (gpointer data)
{
  setsid ();
}

static void
pipe_watch (Context *ctx, Pipe *p, int fd, GSourceFunc callback)
{
  p->fd = fd;
  p->buf = g_byte_array_new ();
  fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) | O_NONBLOCK);
  p->source = g_unix_fd_source_new (fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
  g_source_set_callback (p->source, callback, ctx, NULL);
  g_source_attach (p->source, g_main_context_get_thread_default ());
}

static gboolean
worker_start (Context *ctx, GError **error)
{
  InterpArea *area = ctx->area;
  g_autofree char *python = g_find_program_in_path ("python3");
  g_auto(GStrv) envp = NULL;
  int proto[2];
  gint source_fds[1], target_fds[] = { 3 };
  gint stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;
  GPid pid;
  gboolean ok;

  if (python == NULL)
    python = g_find_program_in_path ("python");
  if (python == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "python3 not found in PATH");
      return FALSE;
    }
  if (!write_worker_script (area, error))
    return FALSE;
  if (!g_file_test (ctx->cwd, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "chdir %s: no such file or directory", ctx->cwd);
      return FALSE;
    }
  if (!g_unix_open_pipe (proto, FD_CLOEXEC, error))
    return FALSE;
  {
    const char *argv[] = { python, area->script, "3", NULL };
    envp = mr_tb_child_environ (area->toolbox, NULL);
    source_fds[0] = proto[1];
    ok = g_spawn_async_with_pipes_and_fds (ctx->cwd, argv, (const char * const *) envp,
                                           G_SPAWN_DO_NOT_REAP_CHILD, worker_child_setup, NULL,
                                           -1, -1, -1, source_fds, target_fds, 1,
                                           &pid, &stdin_fd, &stdout_fd, &stderr_fd, error);
  }
  close (proto[1]);
  if (!ok)
    {
      close (proto[0]);
      return FALSE;
    }
  ctx->pid = pid;
  ctx->stdin_fd = stdin_fd;
  fcntl (stdin_fd, F_SETFL, fcntl (stdin_fd, F_GETFL) | O_NONBLOCK);
  ctx->stdin_buf = g_byte_array_new ();
  pipe_watch (ctx, &ctx->proto, proto[0], G_SOURCE_FUNC (on_protocol_readable));
  pipe_watch (ctx, &ctx->out, stdout_fd, G_SOURCE_FUNC (on_raw_readable));
  pipe_watch (ctx, &ctx->err, stderr_fd, G_SOURCE_FUNC (on_raw_readable));
  ctx->child_source = g_child_watch_source_new (pid);
  g_source_set_callback (ctx->child_source, G_SOURCE_FUNC (on_worker_exit), ctx, NULL);
  g_source_attach (ctx->child_source, g_main_context_get_thread_default ());
  return TRUE;
}

/* Interrupting ------------------------------------------------------------------------------ */

static gboolean
on_grace_over (gpointer data)
{
  Run *run = data;
  Context *ctx = run->ctx;
  gboolean timed_out = run->timed_out;

  mr_source_clear (&run->timer);
  /* the worker did not answer SIGINT: kill it; its state is lost */
  worker_stop (ctx, SIGKILL, 0);
  finish_current (ctx, timed_out ? 4008 : 1001, timed_out ? "execution timed out" : "worker process ended");
  return G_SOURCE_REMOVE;
}

/* SIGINT (KeyboardInterrupt) now, the worker killed after the grace period. */
static void
interrupt_run (Run *run)
{
  if (run->interrupting || run->ctx->current != run)
    return;
  run->interrupting = TRUE;
  mr_source_clear (&run->timer);
  if (run->ctx->pid > 0)
    mr_tb_child_signal (run->ctx->pid, SIGINT);
  run->timer = mr_timeout_add (INTERRUPT_GRACE_MS, on_grace_over, run);
}

static gboolean
on_run_timeout (gpointer data)
{
  Run *run = data;

  mr_source_clear (&run->timer);
  run->timed_out = TRUE;
  interrupt_run (run);
  return G_SOURCE_REMOVE;
}

/* Contexts ------------------------------------------------------------------------------ */

static void
on_run_client_closed (MrTbWs *ws, gushort code, gpointer data)
{
  Run *run = data;
  Context *ctx = run->ctx;

  g_clear_pointer (&run->ws, mr_tb_ws_unref);
  if (ctx->current == run)
    interrupt_run (run);
  else
    {
      g_queue_remove (&ctx->waiting, run);
      run_free (run);
    }
}

static void
start_next (Context *ctx)
{
  while (!ctx->reaping && ctx->current == NULL && !g_queue_is_empty (&ctx->waiting))
    {
      Run *run = g_queue_pop_head (&ctx->waiting);
      g_autoptr(JsonObject) command = json_object_new ();
      g_autoptr(JsonNode) node = NULL;
      g_autofree char *id = g_uuid_string_random ();
      g_autofree char *line = NULL;
      g_autoptr(GError) error = NULL;

      /* an inactive context is restarted (its state is lost) */
      if (ctx->pid <= 0 && !worker_start (ctx, &error))
        {
          run_close (run, 1008, "context is not active");
          run_free (run);
          continue;
        }
      ctx->current = run;
      json_object_set_string_member (command, "id", id);
      json_object_set_string_member (command, "code", run->code);
      if (run->envs)
        json_object_set_member (command, "envs", json_node_ref (run->envs));
      else
        json_object_set_null_member (command, "envs");
      node = json_node_init_object (json_node_alloc (), command);
      line = json_to_string (node, FALSE);
      g_byte_array_append (ctx->stdin_buf, (const guint8 *) line, strlen (line));
      g_byte_array_append (ctx->stdin_buf, (const guint8 *) "\n", 1);
      if (run->timeout_ms > 0)
        run->timer = mr_timeout_add (run->timeout_ms, on_run_timeout, run);
      flush_stdin (ctx);
    }
}

/* Only for reset and shutdown (DELETE closes its runs first): the main loop may not run
 * again, so the sockets are closed at once. */
static void
run_close_final (Run *run)
{
  if (run->ws)
    {
      mr_tb_ws_close_final (run->ws, 1001, "context shutdown");
      g_clear_pointer (&run->ws, mr_tb_ws_unref);
    }
  run_free (run);
}

static void
context_free (Context *ctx)
{
  Run *run;

  while ((run = g_queue_pop_head (&ctx->waiting)) != NULL)
    run_close_final (run);
  if ((run = g_steal_pointer (&ctx->current)) != NULL)
    run_close_final (run);
  worker_stop (ctx, SIGKILL, 0);
  g_free (ctx->id);
  g_free (ctx->cwd);
  g_free (ctx);
}

typedef struct {
  InterpArea *area;
  MrTbWs *ws;
} Pending;

static void pending_free (Pending *p);

static void
area_free (InterpArea *area)
{
  while (area->pendings)
    {
      Pending *p = area->pendings->data;
      mr_tb_ws_close_final (p->ws, 1001, "context shutdown");
      pending_free (p);
    }
  g_hash_table_unref (area->contexts);   /* kills every worker */
  if (area->script)
    g_unlink (area->script);
  if (area->dir)
    g_rmdir (area->dir);
  g_free (area->script);
  g_free (area->dir);
  g_free (area);
}

static InterpArea *
get_area (MrToolbox *toolbox)
{
  InterpArea *area = mr_tb_area_get (toolbox, AREA);

  if (area == NULL)
    {
      area = g_new0 (InterpArea, 1);
      area->toolbox = toolbox;
      area->contexts = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) context_free);
      mr_tb_area_set (toolbox, AREA, area, (GDestroyNotify) area_free);
    }
  return area;
}

static Context *
context_create (InterpArea *area, const char *id, const char *cwd, GError **error)
{
  Context *ctx = g_new0 (Context, 1);

  ctx->area = area;
  ctx->id = g_strdup (id);
  ctx->cwd = mr_tb_resolve_path (area->toolbox, cwd);
  ctx->created_us = g_get_real_time ();
  ctx->stdin_fd = ctx->proto.fd = ctx->out.fd = ctx->err.fd = -1;
  g_queue_init (&ctx->waiting);
  if (!worker_start (ctx, error))
    {
      context_free (ctx);
      return NULL;
    }
  g_hash_table_insert (area->contexts, ctx->id, ctx);
  return ctx;
}

static JsonNode *
context_info (Context *ctx)
{
  g_autoptr(JsonObject) o = json_object_new ();
  g_autofree char *created = mr_tb_format_rfc3339 (ctx->created_us / G_USEC_PER_SEC,
                                                   (ctx->created_us % G_USEC_PER_SEC) * 1000);

  json_object_set_string_member (o, "id", ctx->id);
  json_object_set_string_member (o, "cwd", ctx->cwd);
  json_object_set_string_member (o, "createdAt", created);
  json_object_set_boolean_member (o, "active", ctx->pid > 0);
  json_object_set_string_member (o, "language", "python");
  return json_node_init_object (json_node_alloc (), o);
}

/* REST routes ------------------------------------------------------------------------------ */

static void
handle_create_context (MrTbCall *call)
{
  InterpArea *area = get_area (call->toolbox);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) body = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *id = mr_tb_new_uuid (call->toolbox);
  const char *cwd = NULL, *language = NULL;
  Context *ctx;

  /* both fields are optional, and so (leniently) is the body */
  if (call->body && g_bytes_get_size (call->body) > 0)
    {
      body = mr_tb_parse_body_object (call, &error);
      if (body == NULL)
        {
          mr_tb_reply_error_printf (call, 400, "invalid request body: %s", error->message);
          return;
        }
      cwd = mr_tb_json_string (body, "cwd");
      language = mr_tb_json_string (body, "language");
    }
  if (language && *language && strcmp (language, "python") != 0)
    {
      mr_tb_reply_error_printf (call, 400, "unsupported language: %s (only 'python' is supported currently)",
                                language);
      return;
    }
  ctx = context_create (area, id, cwd && *cwd ? cwd : NULL, &error);
  if (ctx == NULL)
    {
      mr_tb_reply_error_printf (call, 500, "failed to create interpreter context: %s", error->message);
      return;
    }
  node = context_info (ctx);
  mr_tb_reply_json (call, 200, node);
}

static gint
compare_contexts (gconstpointer a, gconstpointer b)
{
  const Context *x = a, *y = b;

  if (x->created_us != y->created_us)
    return x->created_us < y->created_us ? -1 : 1;
  return strcmp (x->id, y->id);
}

static void
handle_list_contexts (MrTbCall *call)
{
  InterpArea *area = get_area (call->toolbox);
  g_autoptr(GList) contexts = g_list_sort (g_hash_table_get_values (area->contexts), compare_contexts);
  g_autoptr(JsonObject) o = json_object_new ();
  g_autoptr(JsonNode) node = NULL;
  JsonArray *array = json_array_new ();

  for (GList *l = contexts; l; l = l->next)
    if (strcmp (((Context *) l->data)->id, DEFAULT_CONTEXT) != 0)
      json_array_add_element (array, context_info (l->data));
  json_object_set_array_member (o, "contexts", array);
  node = json_node_init_object (json_node_alloc (), o);
  mr_tb_reply_json (call, 200, node);
}

static void
handle_delete_context (MrTbCall *call)
{
  InterpArea *area = get_area (call->toolbox);
  const char *id = mr_tb_param (call, "id");
  Context *ctx;
  g_autoptr(JsonObject) o = json_object_new ();
  g_autoptr(JsonNode) node = NULL;
  Run *run;

  if (strcmp (id, DEFAULT_CONTEXT) == 0)
    {
      mr_tb_reply_error (call, 400, "cannot delete default context");
      return;
    }
  ctx = g_hash_table_lookup (area->contexts, id);
  if (ctx == NULL)
    {
      mr_tb_reply_error_printf (call, 404, "context with ID '%s' not found", id);
      return;
    }
  /* SIGTERM, then SIGKILL after 2 s; its runs end with 1001 */
  while ((run = g_queue_pop_head (&ctx->waiting)) != NULL)
    {
      run_close (run, 1001, "context shutdown");
      run_free (run);
    }
  if ((run = g_steal_pointer (&ctx->current)) != NULL)
    {
      run_close (run, 1001, "context shutdown");
      run_free (run);
    }
  worker_stop (ctx, SIGTERM, DELETE_GRACE_MS);
  g_hash_table_remove (area->contexts, id);
  json_object_set_string_member (o, "message", "Context deleted successfully");
  node = json_node_init_object (json_node_alloc (), o);
  mr_tb_reply_json (call, 200, node);
}

/* Execute WebSocket ------------------------------------------------------------------------- */

static void
pending_free (Pending *p)
{
  p->area->pendings = g_list_remove (p->area->pendings, p);
  if (p->ws)
    mr_tb_ws_unref (p->ws);
  g_free (p);
}

static void
on_pending_closed (MrTbWs *ws, gushort code, gpointer data)
{
  pending_free (data);
}

static void
refuse (Pending *p, gushort code, const char *reason)
{
  mr_tb_ws_close (p->ws, code, reason);
  pending_free (p);
}

/* The first message: {code, contextId?, timeout?, envs?}. */
static void
on_first_message (MrTbWs *ws, gboolean is_text, GBytes *payload, gpointer data)
{
  Pending *p = data;
  InterpArea *area = p->area;
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  gsize len;
  const char *text = g_bytes_get_data (payload, &len);
  JsonObject *o;
  JsonNode *member;
  const char *code, *context_id = NULL;
  gdouble timeout_s = DEFAULT_TIMEOUT_MS / 1000.0;
  JsonNode *envs = NULL;
  Context *ctx;
  Run *run;

  if (len == 0 || !json_parser_load_from_data (parser, text, len, NULL) ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      refuse (p, 1002, "invalid JSON payload");
      return;
    }
  o = json_node_get_object (json_parser_get_root (parser));
  /* members of the wrong type fail the decoding, as in Go */
  if (((member = json_object_get_member (o, "code")) && !JSON_NODE_HOLDS_NULL (member) &&
       (!JSON_NODE_HOLDS_VALUE (member) || json_node_get_value_type (member) != G_TYPE_STRING)) ||
      ((member = json_object_get_member (o, "contextId")) && !JSON_NODE_HOLDS_NULL (member) &&
       (!JSON_NODE_HOLDS_VALUE (member) || json_node_get_value_type (member) != G_TYPE_STRING)) ||
      ((member = json_object_get_member (o, "timeout")) && !JSON_NODE_HOLDS_NULL (member) &&
       (!JSON_NODE_HOLDS_VALUE (member) || (json_node_get_value_type (member) != G_TYPE_INT64 &&
                                            json_node_get_value_type (member) != G_TYPE_DOUBLE))) ||
      ((member = json_object_get_member (o, "envs")) && !JSON_NODE_HOLDS_NULL (member) &&
       !JSON_NODE_HOLDS_OBJECT (member)))
    {
      refuse (p, 1002, "invalid JSON payload");
      return;
    }
  code = json_object_get_string_member_with_default (o, "code", "");
  if (code == NULL || *code == '\0')
    {
      refuse (p, 1008, "code is required");
      return;
    }
  member = json_object_get_member (o, "timeout");
  if (member && !JSON_NODE_HOLDS_NULL (member))
    timeout_s = json_node_get_double (member);
  if (timeout_s < 0)
    {
      refuse (p, 1008, "timeout must be greater than or equal to 0");
      return;
    }
  member = json_object_get_member (o, "envs");
  if (member && JSON_NODE_HOLDS_OBJECT (member))
    {
      JsonObjectIter iter;
      const char *key;
      JsonNode *value;
      json_object_iter_init (&iter, json_node_get_object (member));
      while (json_object_iter_next (&iter, &key, &value))
        if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING)
          {
            refuse (p, 1002, "invalid JSON payload");
            return;
          }
      envs = member;
    }
  context_id = json_object_get_string_member_with_default (o, "contextId", NULL);
  if (context_id == NULL || *context_id == '\0')
    {
      ctx = g_hash_table_lookup (area->contexts, DEFAULT_CONTEXT);
      if (ctx == NULL)
        {
          g_autoptr(GError) error = NULL;
          ctx = context_create (area, DEFAULT_CONTEXT, NULL, &error);
          if (ctx == NULL)
            {
              g_autofree char *reason = g_strdup_printf ("failed to get default context: %s", error->message);
              refuse (p, 1011, reason);
              return;
            }
        }
    }
  else if ((ctx = g_hash_table_lookup (area->contexts, context_id)) == NULL)
    {
      g_autofree char *reason = g_strdup_printf ("context not found: %s", context_id);
      refuse (p, 1008, reason);
      return;
    }

  run = g_new0 (Run, 1);
  run->ctx = ctx;
  run->ws = g_steal_pointer (&p->ws);
  run->code = g_strdup (code);
  run->envs = envs ? json_node_copy (envs) : NULL;
  run->timeout_ms = timeout_s > G_MAXUINT / 1000.0 ? G_MAXUINT : (guint) (timeout_s * 1000);
  mr_tb_ws_set_handlers (run->ws, NULL, on_run_client_closed, run);
  pending_free (p);
  g_queue_push_tail (&ctx->waiting, run);
  start_next (ctx);
}

static void
on_execute_ready (MrTbWs *ws, gpointer data)
{
  Pending *p = g_new0 (Pending, 1);

  /* the area tracks it: reset and shutdown close it too */
  p->area = get_area (data);
  p->area->pendings = g_list_prepend (p->area->pendings, p);
  p->ws = ws;
  mr_tb_ws_set_max_message (ws, FIRST_MESSAGE_MAX);
  mr_tb_ws_set_handlers (ws, on_first_message, on_pending_closed, p);
}

static void
handle_execute (MrTbCall *call)
{
  static const char *const preferred[] = { "X-Daytona-SDK-Version~", NULL };
  g_autofree char *protocol = mr_tb_ws_choose_protocol (call, preferred);

  if (!mr_tb_ws_accept (call, protocol, on_execute_ready, g_object_ref (call->toolbox), g_object_unref))
    mr_tb_reply_error (call, 400, "websocket: the client is not using the websocket protocol");
}

static const MrRoute routes[] = {
  { "POST", "/process/interpreter/context", handle_create_context, NULL, 0, "interpreter-context-create" },
  { "GET", "/process/interpreter/context", handle_list_contexts, NULL, 0, "interpreter-context-list" },
  { "DELETE", "/process/interpreter/context/{id}", handle_delete_context, NULL, 0, "interpreter-context-delete" },
  { "GET", "/process/interpreter/execute", handle_execute, NULL, 0, "interpreter-execute" },
};

void
mr_tb_register_interpreter (MrRouter *router)
{
  mr_router_add_all (router, routes, G_N_ELEMENTS (routes));
}
