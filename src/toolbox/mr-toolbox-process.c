/* mr-toolbox-process.c: POST /process/execute and POST /process/code-run
 * (toolbox-api.md sections 2.3, 2.4, 3.1, 3.2).
 *
 * How a command runs (also in docs/toolbox.md):
 *  - the at-mock SDK wrapper `sh -c "..."` is always split with the at-mock splitter
 *    and exec'd as argv: its `$(...)` must reach the inner sh untouched;
 *  - otherwise, when the request has `envs` or the command is not a plain argv (shell
 *    operators, expansions, globs, builtins...; see mr_command_line_is_plain_argv()),
 *    it runs as `<GetShell()> -c <command>`, which is what the latest SDK's raw
 *    commands need;
 *  - else the splitter's argv is exec'd directly, as at-mock did (so a program that
 *    does not exist answers exitCode -1 with the start error, not a shell's 127).
 *
 * Every run: stdin /dev/null; stdout and stderr on one pipe (kernel write order, not
 * trimmed); cwd relative to the work directory; its own process group. On timeout
 * (execute: absent or 0 means 360 s, as at-mock; code-run: absent or 0 means none, as
 * latest) the whole group and every descendant are killed and the answer is 408.
 * Nothing blocks the server thread: the output is read and the exit watched from the
 * thread-default main context. A run whose client disconnects, and every run at reset
 * or shutdown, is killed. Processes a command left behind in its group after exiting
 * (`server &`) are kept until reset or shutdown, which kill them. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib-unix.h>

#include "mr-toolbox-private.h"
#include "mr-child-process.h"
#include "mr-held-message.h"
#include "mr-command-line.h"
#include "mr-fd-reader.h"
#include "mr-log-framing.h"
#include "mr-util.h"

#define AREA "process"
#define DEFAULT_EXECUTE_TIMEOUT_S 360
#define MAX_OUTPUT (64 * 1024 * 1024)
#define ARTIFACT_MARKER "dtn_artifact_k39fd2:"

typedef struct _Run Run;

typedef struct {
  GPtrArray *runs;          /* Run, in flight */
  GPtrArray *lingering;     /* MrChild that exited while their group still ran */
} ProcessArea;

struct _Run {
  ProcessArea *area;        /* NULL once the area is destroyed */
  MrTbCall *call;           /* valid while the message is held */
  MrHeldMessage held;       /* the request, until answered */
  gboolean code_run;
  MrChild *child;
  MrFdReader *output;
  GByteArray *buffer;
  GSource *timeout;
  gboolean eof;
  gboolean timed_out;
  gboolean killed;
};

static void run_free (Run *run);

static void
area_free (ProcessArea *area)
{
  /* reset or shutdown: end every run (answered as killed) and every lingering group */
  while (area->runs->len > 0)
    {
      Run *run = g_ptr_array_steal_index (area->runs, area->runs->len - 1);
      run->area = NULL;
      run->killed = TRUE;
      mr_child_kill_all (run->child);
      g_clear_pointer (&run->output, mr_fd_reader_free);
      run->eof = TRUE;
      run_free (run);
    }
  g_ptr_array_unref (area->runs);
  g_ptr_array_unref (area->lingering);
  g_free (area);
}

static ProcessArea *
get_area (MrToolbox *toolbox)
{
  ProcessArea *area = mr_tb_area_get (toolbox, AREA);

  if (area == NULL)
    {
      area = g_new0 (ProcessArea, 1);
      area->runs = g_ptr_array_new ();
      area->lingering = g_ptr_array_new_with_free_func ((GDestroyNotify) mr_child_free);
      mr_tb_area_set (toolbox, AREA, area, (GDestroyNotify) area_free);
    }
  return area;
}

/* Forgets lingering groups that have ended by themselves. */
static void
prune_lingering (ProcessArea *area)
{
  for (guint i = area->lingering->len; i > 0; i--)
    {
      MrChild *child = area->lingering->pdata[i - 1];
      if (!mr_process_group_exists (mr_child_get_pid (child)))
        {
          g_ptr_array_steal_index_fast (area->lingering, i - 1);
          mr_child_release (child);
        }
    }
}

/* Replies ------------------------------------------------------------------------- */

/* Splits out the `dtn_artifact_k39fd2:` lines: their charts go to @charts, the other
 * lines are joined back with "\n". */
static char *
extract_artifacts (const char *output, JsonArray *charts)
{
  g_auto(GStrv) lines = g_strsplit (output, "\n", -1);
  GString *kept = g_string_new (NULL);
  gboolean first = TRUE;

  for (char **l = lines; *l; l++)
    {
      g_autoptr(JsonParser) parser = NULL;
      JsonNode *root;
      JsonObject *artifact;
      const char *payload;

      if (!g_str_has_prefix (*l, ARTIFACT_MARKER))
        {
          if (!first)
            g_string_append_c (kept, '\n');
          g_string_append (kept, *l);
          first = FALSE;
          continue;
        }
      payload = *l + strlen (ARTIFACT_MARKER);
      parser = json_parser_new ();
      if (!json_parser_load_from_data (parser, payload, -1, NULL))
        continue;
      root = json_parser_get_root (parser);
      if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
        continue;
      artifact = json_node_get_object (root);
      if (g_strcmp0 (json_object_get_string_member_with_default (artifact, "type", NULL), "chart") == 0 &&
          json_object_has_member (artifact, "value") &&
          JSON_NODE_HOLDS_OBJECT (json_object_get_member (artifact, "value")))
        json_array_add_element (charts, json_node_copy (json_object_get_member (artifact, "value")));
    }
  return g_string_free (kept, FALSE);
}

static void
reply_result (MrTbCall *call, int exit_code, const char *result, gboolean code_run)
{
  g_autoptr(JsonObject) o = json_object_new ();
  g_autoptr(JsonNode) node = NULL;

  json_object_set_int_member (o, "exitCode", exit_code);
  if (code_run)
    {
      JsonArray *charts = json_array_new ();
      g_autofree char *kept = extract_artifacts (result, charts);
      json_object_set_string_member (o, "result", kept);
      if (json_array_get_length (charts) > 0)
        {
          JsonObject *artifacts = json_object_new ();
          json_object_set_array_member (artifacts, "charts", charts);
          json_object_set_object_member (o, "artifacts", artifacts);
        }
      else
        json_array_unref (charts);
    }
  else
    json_object_set_string_member (o, "result", result);
  node = json_node_init_object (json_node_alloc (), o);
  mr_tb_reply_json (call, 200, node);
}

/* Answers the request, if it still waits. */
static void
run_answer (Run *run)
{
  g_autofree char *result = NULL;

  if (mr_held_message_get (&run->held) == NULL)
    return;
  if (run->timed_out)
    mr_tb_reply_error (run->call, 408, "command execution timeout");
  else
    {
      int code = run->killed || mr_child_is_running (run->child) ? -1
                 : mr_child_exit_code (mr_child_get_wait_status (run->child));
      result = mr_log_to_utf8 (run->buffer->data, run->buffer->len);
      reply_result (run->call, code, result, run->code_run);
    }
  mr_held_message_release (&run->held, TRUE);
}

static void
run_free (Run *run)
{
  run_answer (run);
  mr_source_clear (&run->timeout);
  g_clear_pointer (&run->output, mr_fd_reader_free);
  if (run->child)
    {
      if (!mr_child_is_running (run->child) && run->area &&
          mr_process_group_exists (mr_child_get_pid (run->child)))
        g_ptr_array_add (run->area->lingering, g_steal_pointer (&run->child));
      else
        g_clear_pointer (&run->child, mr_child_free);
    }
  if (run->area)
    g_ptr_array_remove (run->area->runs, run);
  g_byte_array_unref (run->buffer);
  g_free (run);
}

/* The run is over once the child exited and the pipe is closed (every process that
 * held it exited too), or once it was killed. */
static void
run_check_done (Run *run)
{
  if (run->killed || run->timed_out || (!mr_child_is_running (run->child) && run->eof))
    run_free (run);
}

static void
run_kill (Run *run)
{
  mr_child_kill_all (run->child);
  g_clear_pointer (&run->output, mr_fd_reader_free);
  run->eof = TRUE;
}

static gboolean
on_output (const guint8 *data, gsize len, gpointer user_data)
{
  Run *run = user_data;

  if (len == 0)
    {
      run->eof = TRUE;
      g_clear_pointer (&run->output, mr_fd_reader_free);
      run_check_done (run);
      return FALSE;
    }
  if (run->buffer->len < MAX_OUTPUT)
    g_byte_array_append (run->buffer, data, MIN (len, MAX_OUTPUT - run->buffer->len));
  return TRUE;
}

static void
on_child_exited (MrChild *child, int wait_status, gpointer user_data)
{
  run_check_done (user_data);
}

static gboolean
on_timeout (gpointer user_data)
{
  Run *run = user_data;

  mr_source_clear (&run->timeout);
  run->timed_out = TRUE;
  run_kill (run);
  run_check_done (run);
  return G_SOURCE_REMOVE;
}

/* The client went away (or the server, at shutdown): nobody waits for the result. */
static void
on_lost (gpointer user_data)
{
  Run *run = user_data;

  run->killed = TRUE;
  run_kill (run);
  run_check_done (run);
}

/* Go's error texts are lower case ("no such file or directory") */
static char *
errno_text (int errsv)
{
  g_autofree char *text = g_strdup (g_strerror (errsv));

  if (text[0])
    text[0] = g_ascii_tolower (text[0]);
  return g_steal_pointer (&text);
}

/* The start error, as Go's exec reports it, or NULL if the program can start. */
static char *
start_error (const char *cwd, const char *program, const char * const *envp)
{
  struct stat st;

  if (stat (cwd, &st) != 0)
    {
      g_autofree char *text = errno_text (errno);
      return g_strdup_printf ("chdir %s: %s", cwd, text);
    }
  if (!S_ISDIR (st.st_mode))
    {
      g_autofree char *text = errno_text (ENOTDIR);
      return g_strdup_printf ("chdir %s: %s", cwd, text);
    }
  if (strchr (program, '/') == NULL)
    {
      const char *path = g_environ_getenv ((char **) envp, "PATH");
      g_auto(GStrv) dirs = g_strsplit (path ? path : "/usr/local/bin:/usr/bin:/bin", ":", -1);
      for (char **d = dirs; *d; d++)
        {
          g_autofree char *candidate = g_build_filename (**d ? *d : ".", program, NULL);
          g_autofree char *full = g_canonicalize_filename (candidate, cwd);
          if (g_file_test (full, G_FILE_TEST_IS_EXECUTABLE) && !g_file_test (full, G_FILE_TEST_IS_DIR))
            return NULL;
        }
      return g_strdup_printf ("exec: \"%s\": executable file not found in $PATH", program);
    }
  else
    {
      g_autofree char *full = g_canonicalize_filename (program, cwd);
      if (access (full, X_OK) != 0)
        {
          g_autofree char *text = errno_text (errno);
          return g_strdup_printf ("fork/exec %s: %s", program, text);
        }
    }
  return NULL;
}

/* Starts @argv and answers when it is over. */
static void
run_start (MrTbCall *call, const char * const *argv, const char *cwd, GHashTable *envs,
           guint timeout_s, gboolean code_run)
{
  ProcessArea *area = get_area (call->toolbox);
  g_auto(GStrv) envp = mr_tb_child_environ (call->toolbox, envs);
  g_autofree char *cwd_path = mr_tb_resolve_path (call->toolbox, cwd);
  g_autofree char *failure = start_error (cwd_path, argv[0], (const char * const *) envp);
  g_autoptr(GError) error = NULL;
  MrChildSpec spec = { 0 };
  int pipe_fds[2];
  Run *run;

  if (failure)
    {
      reply_result (call, -1, failure, code_run);
      return;
    }
  if (!g_unix_open_pipe (pipe_fds, FD_CLOEXEC, &error))
    {
      reply_result (call, -1, error->message, code_run);
      return;
    }
  prune_lingering (area);

  run = g_new0 (Run, 1);
  run->area = area;
  run->call = call;
  run->code_run = code_run;
  run->buffer = g_byte_array_new ();
  spec.argv = argv;
  spec.envp = (const char * const *) envp;
  spec.cwd = cwd_path;
  spec.stdin_fd = -1;
  /* one pipe on both fds: the result keeps the kernel's write order */
  spec.stdout_fd = pipe_fds[1];
  spec.stderr_fd = pipe_fds[1];
  run->child = mr_child_spawn (&spec, on_child_exited, run, &error);
  close (pipe_fds[1]);
  if (run->child == NULL)
    {
      close (pipe_fds[0]);
      g_byte_array_unref (run->buffer);
      g_free (run);
      reply_result (call, -1, error->message, code_run);
      return;
    }

  g_ptr_array_add (area->runs, run);
  soup_server_message_pause (call->msg);
  mr_held_message_hold (&run->held, call->msg, TRUE, on_lost, run);
  run->output = mr_fd_reader_new (pipe_fds[0], on_output, run);
  if (timeout_s > 0)
    run->timeout = mr_timeout_add ((guint) MIN ((guint64) timeout_s * 1000, G_MAXUINT), on_timeout, run);
}

/* Request bodies ------------------------------------------------------------------- */

/* Reads an optional uint32 (null or absent -> @absent). FALSE if it is something else. */
static gboolean
get_uint32 (JsonObject *o, const char *name, guint *value, guint absent)
{
  JsonNode *node = json_object_get_member (o, name);
  gint64 v;

  *value = absent;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  v = json_node_get_int (node);
  if (v < 0 || v > G_MAXUINT32)
    return FALSE;
  *value = (guint) v;
  return TRUE;
}

/* Reads an optional string (null or absent -> NULL). FALSE if it is something else. */
static gboolean
get_string (JsonObject *o, const char *name, const char **value)
{
  JsonNode *node = json_object_get_member (o, name);

  *value = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return FALSE;
  *value = json_node_get_string (node);
  return TRUE;
}

/* Reads an optional map of strings into @envs (NULL when absent, null or empty). */
static gboolean
get_envs (JsonObject *o, const char *name, GHashTable **envs)
{
  JsonNode *node = json_object_get_member (o, name);
  JsonObject *map;
  g_autoptr(GList) members = NULL;

  *envs = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return FALSE;
  map = json_node_get_object (node);
  members = json_object_get_members (map);
  if (members == NULL)
    return TRUE;
  *envs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  for (GList *l = members; l; l = l->next)
    {
      JsonNode *v = json_object_get_member (map, l->data);
      if (!JSON_NODE_HOLDS_VALUE (v) || json_node_get_value_type (v) != G_TYPE_STRING)
        {
          g_clear_pointer (envs, g_hash_table_unref);
          return FALSE;
        }
      g_hash_table_insert (*envs, g_strdup (l->data), g_strdup (json_node_get_string (v)));
    }
  return TRUE;
}

/* 400 for the first invalid name, in a stable (sorted) order */
static gboolean
check_env_names (MrTbCall *call, GHashTable *envs)
{
  g_autoptr(GList) keys = envs ? g_list_sort (g_hash_table_get_keys (envs), (GCompareFunc) strcmp) : NULL;

  for (GList *l = keys; l; l = l->next)
    if (!mr_env_name_is_valid (l->data))
      {
        mr_tb_reply_error_printf (call, 400, "invalid environment variable name: '%s'", (const char *) l->data);
        return FALSE;
      }
  return TRUE;
}

/* POST /process/execute ---------------------------------------------------------- */

static void
handle_execute (MrTbCall *call)
{
  g_autoptr(JsonObject) body = mr_tb_parse_body_object (call, NULL);
  g_autoptr(GHashTable) envs = NULL;
  g_auto(GStrv) words = NULL;
  g_autofree char *shell = NULL;
  const char *command = NULL, *cwd = NULL;
  guint timeout = 0;

  /* at-mock answers every binding failure with the same text */
  if (body == NULL || !get_string (body, "command", &command) || command == NULL || *command == '\0' ||
      !get_string (body, "cwd", &cwd) || !get_uint32 (body, "timeout", &timeout, 0) ||
      !get_envs (body, "envs", &envs))
    {
      mr_tb_reply_error (call, 400, "command is required");
      return;
    }
  if (!check_env_names (call, envs))
    return;
  words = mr_command_line_split (command);
  if (words[0] == NULL)
    {
      mr_tb_reply_error (call, 400, "empty command");
      return;
    }
  if (timeout == 0)
    timeout = DEFAULT_EXECUTE_TIMEOUT_S;
  if (mr_command_line_needs_shell (command, envs != NULL))
    {
      const char *argv[4];
      shell = mr_tb_get_shell ();
      argv[0] = shell;
      argv[1] = "-c";
      argv[2] = command;
      argv[3] = NULL;
      run_start (call, argv, cwd, envs, timeout, FALSE);
    }
  else
    run_start (call, (const char * const *) words, cwd, envs, timeout, FALSE);
}

/* POST /process/code-run --------------------------------------------------------- */

/* The script the shell runs for @language (latest's commands), or NULL. */
static char *
code_run_script (const char *language, const char *code, const char * const *argv)
{
  g_autofree char *quoted_argv = mr_shell_quote_argv (argv);
  g_autofree char *b64 = NULL;

  if (strcmp (language, "python") == 0)
    {
      b64 = g_base64_encode ((const guchar *) code, strlen (code));
      return g_strdup_printf ("printf '%%s' '%s' | base64 -d | python3 -u -%s", b64, quoted_argv);
    }
  if (strcmp (language, "javascript") == 0)
    {
      /* `node - a b` has "-" in argv[1]; the prelude removes it */
      g_autofree char *full = g_strconcat ("process.argv.splice(1, 1);\n", code, NULL);
      b64 = g_base64_encode ((const guchar *) full, strlen (full));
      return g_strdup_printf ("printf '%%s' '%s' | base64 -d | node -%s", b64, quoted_argv);
    }
  if (strcmp (language, "typescript") == 0)
    {
      b64 = g_base64_encode ((const guchar *) code, strlen (code));
      return g_strdup_printf ("_f=\"${TMPDIR:-/tmp}/dtn_$$.ts\"; printf '%%s' '%s' | base64 -d > \"$_f\"; "
                              "npm_config_loglevel=error npx ts-node -T --ignore-diagnostics 5107 "
                              "-O '{\"module\":\"CommonJS\"}' \"$_f\"%s; _ec=$?; rm -f \"$_f\"; exit $_ec",
                              b64, quoted_argv);
    }
  return NULL;
}

static void
handle_code_run (MrTbCall *call)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) body = mr_tb_parse_body_object (call, &error);
  g_autoptr(GHashTable) envs = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autofree char *script = NULL;
  g_autofree char *shell = NULL;
  const char *code = NULL, *language = NULL;
  const char *run_argv[4];
  JsonNode *argv_node;
  guint timeout = 0;

  if (body == NULL)
    {
      mr_tb_reply_error_printf (call, 400, "invalid request body: %s", error->message);
      return;
    }
  if (!get_string (body, "code", &code) || !get_string (body, "language", &language) ||
      !get_uint32 (body, "timeout", &timeout, 0) || !get_envs (body, "envs", &envs))
    {
      mr_tb_reply_error (call, 400, "invalid request body: json: cannot unmarshal the request into CodeRunRequest");
      return;
    }
  argv_node = json_object_get_member (body, "argv");
  if (argv_node && JSON_NODE_HOLDS_ARRAY (argv_node))
    {
      JsonArray *a = json_node_get_array (argv_node);
      for (guint i = 0; i < json_array_get_length (a); i++)
        {
          JsonNode *e = json_array_get_element (a, i);
          if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_STRING)
            {
              mr_tb_reply_error (call, 400, "invalid request body: json: cannot unmarshal argv into []string");
              return;
            }
          g_ptr_array_add (argv, (gpointer) json_node_get_string (e));
        }
    }
  else if (argv_node && !JSON_NODE_HOLDS_NULL (argv_node))
    {
      mr_tb_reply_error (call, 400, "invalid request body: json: cannot unmarshal argv into []string");
      return;
    }
  g_ptr_array_add (argv, NULL);
  if (code == NULL || *code == '\0')
    {
      mr_tb_reply_error (call, 400, "invalid request body: Key: 'CodeRunRequest.Code' Error:Field validation for 'Code' failed on the 'required' tag");
      return;
    }
  if (language == NULL || *language == '\0')
    {
      mr_tb_reply_error (call, 400, "invalid request body: Key: 'CodeRunRequest.Language' Error:Field validation for 'Language' failed on the 'required' tag");
      return;
    }
  script = code_run_script (language, code, (const char * const *) argv->pdata);
  if (script == NULL)
    {
      mr_tb_reply_error_printf (call, 400, "bad request: unsupported language: %s", language);
      return;
    }
  if (!check_env_names (call, envs))
    return;
  shell = mr_tb_get_shell ();
  run_argv[0] = shell;
  run_argv[1] = "-c";
  run_argv[2] = script;
  run_argv[3] = NULL;
  run_start (call, run_argv, NULL, envs, timeout, TRUE);
}

static const MrRoute routes[] = {
  { "POST", "/process/execute", handle_execute, NULL, 0, "process-execute" },
  { "POST", "/process/code-run", handle_code_run, NULL, 0, "process-code-run" },
};

void
mr_tb_register_process (MrRouter *router)
{
  mr_router_add_all (router, routes, G_N_ELEMENTS (routes));
}
