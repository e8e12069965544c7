/* mr-toolbox-git-run.c: git requests as asynchronous chains of `git` programs.
 *
 * Each git runs in its own session (setsid), so that killing its process group also
 * ends what it started (remote helpers, ssh), and so that nothing can prompt on a
 * terminal. GIT_TERMINAL_PROMPT=0 and no askpass make a missing credential an error
 * instead of a hang. The running jobs of a toolbox live in its "git" area, whose
 * destruction (reset, shutdown) kills them.
 *
 * The jobs of one repository run one after the other (a job holds its repository from
 * its first command to its answer), so that concurrent requests neither trip over
 * git's index.lock nor interleave their steps. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>

#include "mr-toolbox-git-run.h"
#include "mr-util.h"

#define GIT_AREA "git"

typedef struct {
  GList *jobs;
  GHashTable *busy;             /* repository path -> GQueue of jobs waiting for it */
} GitArea;

struct _MrGitJob {
  gatomicrefcount ref;
  MrTbCall *call;
  MrToolboxRequest *request;
  SoupServerMessage *msg;
  GitArea *area;                /* NULL once the area is gone */
  GCancellable *cancellable;
  GSubprocess *proc;            /* the git running now, if any */
  GBytes *out;
  GBytes *err;
  gulong finished_id;
  GSource *hangup_watch;        /* notices a client that goes away while we are paused */
  gboolean client_gone;
  gboolean msg_finished;        /* libsoup is done with the message: never touch it */
  gboolean done;                /* answered or abandoned */
  char *repo;
  char *lock;                   /* the repository this job holds or waits for */
  gboolean holds_lock;
  gboolean waiting;
  char **pending_args;          /* the command to run once the repository is free */
  GBytes *pending_input;
  char **env;
  char *username;
  char *password;
  MrGitStep next;
  gpointer data;
  GDestroyNotify data_destroy;
};

static void job_abort (MrGitJob *job);

static void
git_area_free (GitArea *area)
{
  GList *jobs = g_steal_pointer (&area->jobs);

  /* the jobs stay alive until their git returns; they only lose the area */
  for (GList *l = jobs; l; l = l->next)
    ((MrGitJob *) l->data)->area = NULL;
  for (GList *l = jobs; l; l = l->next)
    job_abort (l->data);
  g_list_free (jobs);
  g_hash_table_unref (area->busy);
  g_free (area);
}

static GitArea *
git_area (MrToolbox *toolbox)
{
  GitArea *area = mr_tb_area_get (toolbox, GIT_AREA);

  if (area == NULL)
    {
      area = g_new0 (GitArea, 1);
      area->busy = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_queue_free);
      mr_tb_area_set (toolbox, GIT_AREA, area, (GDestroyNotify) git_area_free);
    }
  return area;
}

static MrGitJob *
job_ref (MrGitJob *job)
{
  g_atomic_ref_count_inc (&job->ref);
  return job;
}

static void
job_unref (MrGitJob *job)
{
  if (!g_atomic_ref_count_dec (&job->ref))
    return;
  if (job->data_destroy)
    job->data_destroy (job->data);
  g_clear_object (&job->proc);
  g_clear_pointer (&job->out, g_bytes_unref);
  g_clear_pointer (&job->err, g_bytes_unref);
  g_object_unref (job->cancellable);
  g_object_unref (job->msg);
  mr_toolbox_request_unref (job->request);
  g_free (job->repo);
  g_free (job->lock);
  g_strfreev (job->pending_args);
  g_clear_pointer (&job->pending_input, g_bytes_unref);
  g_strfreev (job->env);
  if (job->password)
    memset (job->password, 0, strlen (job->password));
  g_free (job->username);
  g_free (job->password);
  g_free (job);
}

static void
kill_git (MrGitJob *job)
{
  const char *id;

  if (job->proc == NULL)
    return;
  id = g_subprocess_get_identifier (job->proc);    /* NULL once reaped */
  if (id)
    {
      pid_t pid = (pid_t) atoi (id);
      /* git is a session and process group leader (setsid in the child) */
      if (pid > 1 && kill (-pid, SIGKILL) != 0 && errno == ESRCH)
        kill (pid, SIGKILL);
    }
}

static void spawn_git (MrGitJob *job, const char * const *args, GBytes *input);
static void reply_cancelled (MrGitJob *job);

/* Takes the job's repository, or queues the job behind the one holding it. */
static gboolean
acquire_repository (MrGitJob *job)
{
  GQueue *waiting;

  if (job->lock == NULL || job->holds_lock || job->area == NULL)
    return TRUE;
  waiting = g_hash_table_lookup (job->area->busy, job->lock);
  if (waiting == NULL)
    {
      g_hash_table_insert (job->area->busy, g_strdup (job->lock), g_queue_new ());
      job->holds_lock = TRUE;
      return TRUE;
    }
  g_queue_push_tail (waiting, job);
  job->waiting = TRUE;
  return FALSE;
}

/* Hands the repository to the next waiting job, which starts its command. */
static void
release_repository (MrGitJob *job)
{
  GQueue *waiting;
  MrGitJob *next;

  if (!job->holds_lock || job->area == NULL)
    return;
  job->holds_lock = FALSE;
  waiting = g_hash_table_lookup (job->area->busy, job->lock);
  next = waiting ? g_queue_pop_head (waiting) : NULL;
  if (next == NULL)
    {
      g_hash_table_remove (job->area->busy, job->lock);
      return;
    }
  next->waiting = FALSE;
  next->holds_lock = TRUE;
  spawn_git (next, (const char * const *) next->pending_args, next->pending_input);
}

/* The job ends: no more answer is possible or wanted. */
static void
job_done (MrGitJob *job)
{
  if (job->done)
    return;
  job->done = TRUE;
  release_repository (job);
  if (job->area)
    job->area->jobs = g_list_remove (job->area->jobs, job);
  job->area = NULL;
  g_clear_signal_handler (&job->finished_id, job->msg);
  mr_source_clear (&job->hangup_watch);
  job_unref (job);
}

static void
job_abort (MrGitJob *job)
{
  g_cancellable_cancel (job->cancellable);
  kill_git (job);
  if (job->waiting && !job->done)
    {
      /* no git runs for it: it ends now */
      GQueue *waiting = job->area ? g_hash_table_lookup (job->area->busy, job->lock) : NULL;
      if (waiting)
        g_queue_remove (waiting, job);
      job->waiting = FALSE;
      reply_cancelled (job);
      job_done (job);
    }
}

static void
on_finished (SoupServerMessage *msg, MrGitJob *job)
{
  /* the client went away before the answer: stop working for it */
  job->msg_finished = TRUE;
  job->client_gone = TRUE;
  job_abort (job);
}

/* A paused message does not notice that its client closed the connection: watch the
 * socket, and take end-of-file for the client gone (anything else it sends ends the
 * watch: a client that talks is alive). */
static gboolean
on_client_readable (GSocket *socket, GIOCondition condition, gpointer data)
{
  MrGitJob *job = data;
  char byte;
  gssize n;

  if (!(condition & (G_IO_HUP | G_IO_ERR)))
    {
      n = recv (g_socket_get_fd (socket), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n > 0)
        return G_SOURCE_REMOVE;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return G_SOURCE_CONTINUE;
    }
  job->client_gone = TRUE;
  job_abort (job);
  return G_SOURCE_REMOVE;
}

MrGitJob *
mr_git_job_new (MrTbCall *call, const char *repo)
{
  MrGitJob *job = g_new0 (MrGitJob, 1);
  g_autofree char *ceiling = repo ? g_path_get_dirname (repo) : NULL;
  static const char *const unset[] = {
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE", "GIT_PREFIX", "GIT_ASKPASS",
    "SSH_ASKPASS", "GIT_EDITOR", "GIT_SEQUENCE_EDITOR", "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT", "LANGUAGE",
  };

  g_atomic_ref_count_init (&job->ref);
  job->call = call;
  job->request = mr_toolbox_request_ref (call->request);
  job->msg = g_object_ref (call->msg);
  job->cancellable = g_cancellable_new ();
  job->repo = g_strdup (repo);
  job->lock = g_strdup (repo);
  job->area = git_area (call->toolbox);
  job->area->jobs = g_list_prepend (job->area->jobs, job);

  job->env = mr_tb_child_environ (call->toolbox, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (unset); i++)
    job->env = g_environ_unsetenv (job->env, unset[i]);
  /* git's messages are matched in English; never ask a human for anything */
  job->env = g_environ_setenv (job->env, "LC_ALL", "C", TRUE);
  job->env = g_environ_setenv (job->env, "GIT_TERMINAL_PROMPT", "0", TRUE);
  if (g_environ_getenv (job->env, "GIT_SSH_COMMAND") == NULL)
    job->env = g_environ_setenv (job->env, "GIT_SSH_COMMAND", "ssh -o BatchMode=yes", TRUE);
  /* like go-git's PlainOpen: the repository is the directory given, not one above it */
  if (ceiling)
    job->env = g_environ_setenv (job->env, "GIT_CEILING_DIRECTORIES", ceiling, TRUE);

  soup_server_message_pause (call->msg);
  job->finished_id = g_signal_connect (call->msg, "finished", G_CALLBACK (on_finished), job);
  {
    GSocket *socket = soup_server_message_get_socket (call->msg);
    if (socket)
      {
        job->hangup_watch = g_socket_create_source (socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
        g_source_set_callback (job->hangup_watch, (GSourceFunc) (void (*) (void)) on_client_readable, job, NULL);
        g_source_attach (job->hangup_watch, g_main_context_get_thread_default ());
      }
  }
  return job;
}

MrTbCall *
mr_git_job_get_call (MrGitJob *job)
{
  return job->call;
}

const char *
mr_git_job_get_repo (MrGitJob *job)
{
  return job->repo;
}

void
mr_git_job_set_data (MrGitJob *job, gpointer data, GDestroyNotify destroy)
{
  if (job->data_destroy)
    job->data_destroy (job->data);
  job->data = data;
  job->data_destroy = destroy;
}

gpointer
mr_git_job_get_data (MrGitJob *job)
{
  return job->data;
}

void
mr_git_job_set_credentials (MrGitJob *job, const char *username, const char *password)
{
  g_clear_pointer (&job->username, g_free);
  g_clear_pointer (&job->password, g_free);
  if (username && password)
    {
      job->username = g_strdup (username);
      job->password = g_strdup (password);
    }
}

void
mr_git_job_set_lock (MrGitJob *job, const char *path)
{
  g_return_if_fail (!job->holds_lock && !job->waiting);
  g_free (job->lock);
  job->lock = g_strdup (path);
}

void
mr_git_job_setenv (MrGitJob *job, const char *name, const char *value)
{
  job->env = g_environ_setenv (job->env, name, value, TRUE);
}

static void
child_setup (gpointer data)
{
  setsid ();
}

static void
run_step (MrGitJob *job, int status)
{
  MrGitStep next = job->next;
  gsize out_len = 0;
  const char *out = job->out ? g_bytes_get_data (job->out, &out_len) : NULL;
  const char *err = job->err ? g_bytes_get_data (job->err, NULL) : NULL;
  MrGitResult result = { status, out ? out : "", out_len, err ? err : "" };

  job->next = NULL;
  job_ref (job);
  next (job, &result);
  /* a step must run another command or answer; never leave the client waiting */
  if (!job->done && job->proc == NULL && job->next == NULL)
    mr_git_job_reply_error (job, 500, "internal error: git step gave no answer");
  job_unref (job);
}

/* GBytes that end with a NUL that is not counted, so the text can be used as a string */
static GBytes *
terminated (GBytes *bytes)
{
  gsize len = 0;
  const char *data = bytes ? g_bytes_get_data (bytes, &len) : NULL;
  char *copy = g_malloc (len + 1);

  if (len)
    memcpy (copy, data, len);
  copy[len] = '\0';
  return g_bytes_new_with_free_func (copy, len, g_free, copy);
}

static void
on_waited (GObject *source, GAsyncResult *res, gpointer data)
{
  MrGitJob *job = data;
  GSubprocess *proc = G_SUBPROCESS (source);
  int status = -1;

  g_subprocess_wait_finish (proc, res, NULL);
  if (g_cancellable_is_cancelled (job->cancellable))
    {
      reply_cancelled (job);
      job_done (job);
      g_clear_object (&job->proc);
      job_unref (job);
      return;
    }
  if (g_subprocess_get_if_exited (proc))
    status = g_subprocess_get_exit_status (proc);
  g_clear_object (&job->proc);
  run_step (job, status);
  job_unref (job);
}

static void
on_communicated (GObject *source, GAsyncResult *res, gpointer data)
{
  MrGitJob *job = data;
  GSubprocess *proc = G_SUBPROCESS (source);
  g_autoptr(GBytes) out = NULL;
  g_autoptr(GBytes) err = NULL;
  g_autoptr(GError) error = NULL;

  g_subprocess_communicate_finish (proc, res, &out, &err, &error);
  g_clear_pointer (&job->out, g_bytes_unref);
  g_clear_pointer (&job->err, g_bytes_unref);
  job->out = terminated (out);
  job->err = terminated (err);
  if (error && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      /* git is killed so that waiting for it cannot hang */
      kill_git (job);
    }
  /* wait (again) even if communicate already saw the exit: it returns at once then */
  g_subprocess_wait_async (proc, NULL, on_waited, job);
}

void
mr_git_job_run (MrGitJob *job, const char * const *args, GBytes *input, MrGitStep next)
{
  g_return_if_fail (job->proc == NULL && !job->done && !job->waiting);
  job->next = next;
  if (g_cancellable_is_cancelled (job->cancellable))
    {
      /* reset or client gone between two commands */
      reply_cancelled (job);
      job_done (job);
      return;
    }
  if (!acquire_repository (job))
    {
      g_strfreev (job->pending_args);
      g_clear_pointer (&job->pending_input, g_bytes_unref);
      job->pending_args = g_strdupv ((char **) args);
      job->pending_input = input ? g_bytes_ref (input) : NULL;
      return;
    }
  spawn_git (job, args, input);
}

static void
spawn_git (MrGitJob *job, const char * const *args, GBytes *input)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;

  g_ptr_array_add (argv, g_strdup ("git"));
  /* go-git runs no hooks; a repository owned by another user is no reason to refuse */
  g_ptr_array_add (argv, g_strdup ("-c"));
  g_ptr_array_add (argv, g_strdup ("core.hooksPath=/dev/null"));
  g_ptr_array_add (argv, g_strdup ("-c"));
  g_ptr_array_add (argv, g_strdup ("safe.directory=*"));
  g_ptr_array_add (argv, g_strdup ("-c"));
  g_ptr_array_add (argv, g_strdup ("advice.detachedHead=false"));
  if (job->username && job->password)
    {
      /* only these credentials for this command: reset the helper list, then answer
       * from the environment of this one git */
      g_ptr_array_add (argv, g_strdup ("-c"));
      g_ptr_array_add (argv, g_strdup ("credential.helper="));
      g_ptr_array_add (argv, g_strdup ("-c"));
      g_ptr_array_add (argv, g_strdup ("credential.helper=!f() { test \"$1\" = get || exit 0; "
                                       "printf 'username=%s\\npassword=%s\\n' \"$MR_GIT_USERNAME\" \"$MR_GIT_PASSWORD\"; }; f"));
    }
  if (job->repo)
    {
      g_ptr_array_add (argv, g_strdup ("-C"));
      g_ptr_array_add (argv, g_strdup (job->repo));
    }
  for (const char * const *a = args; *a; a++)
    g_ptr_array_add (argv, g_strdup (*a));
  g_ptr_array_add (argv, NULL);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_set_environ (launcher, job->env);
  if (job->username && job->password)
    {
      g_subprocess_launcher_setenv (launcher, "MR_GIT_USERNAME", job->username, TRUE);
      g_subprocess_launcher_setenv (launcher, "MR_GIT_PASSWORD", job->password, TRUE);
    }
  g_subprocess_launcher_set_cwd (launcher, mr_toolbox_get_work_dir (job->call->toolbox));
  g_subprocess_launcher_set_child_setup (launcher, child_setup, NULL, NULL);
  job->proc = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  if (job->proc == NULL)
    {
      g_autofree char *text = g_strdup_printf ("fatal: cannot run git: %s", error->message);
      g_clear_pointer (&job->out, g_bytes_unref);
      g_clear_pointer (&job->err, g_bytes_unref);
      job->err = g_bytes_new (text, strlen (text) + 1);
      run_step (job, -1);
      return;
    }
  {
    /* with a stdin pipe, GSubprocess wants something to write: nothing closes it */
    g_autoptr(GBytes) nothing = g_bytes_new_static ("", 0);
    g_subprocess_communicate_async (job->proc, input ? input : nothing, job->cancellable, on_communicated,
                                    job_ref (job));
  }
}

void
mr_git_job_runv (MrGitJob *job, MrGitStep next, ...)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new ();
  va_list ap;
  const char *a;

  va_start (ap, next);
  while ((a = va_arg (ap, const char *)))
    g_ptr_array_add (args, (gpointer) a);
  va_end (ap);
  g_ptr_array_add (args, NULL);
  mr_git_job_run (job, (const char * const *) args->pdata, NULL, next);
}

/* Even for a client that is gone: libsoup then fails to write and frees the connection */
static void
answer (MrGitJob *job)
{
  if (job->done)
    return;
  g_clear_signal_handler (&job->finished_id, job->msg);
  if (!job->msg_finished)
    soup_server_message_unpause (job->msg);
  job_done (job);
}

static void
reply_cancelled (MrGitJob *job)
{
  mr_git_job_reply_error (job, 500, job->client_gone ? "git operation cancelled: the client went away"
                                                     : "git operation cancelled: the toolbox was reset");
}

void
mr_git_job_reply_empty (MrGitJob *job, guint status)
{
  if (!job->done && !job->msg_finished)
    mr_tb_reply_empty (job->call, status);
  answer (job);
}

void
mr_git_job_reply_json (MrGitJob *job, guint status, JsonNode *node)
{
  if (!job->done && !job->msg_finished)
    mr_tb_reply_json (job->call, status, node);
  answer (job);
}

void
mr_git_job_reply_error (MrGitJob *job, guint status, const char *message)
{
  if (!job->done && !job->msg_finished)
    mr_tb_reply_error (job->call, status, message);
  answer (job);
}

gboolean
mr_git_repository_exists (const char *path)
{
  g_autofree char *dotgit = g_build_filename (path, ".git", NULL);
  g_autofree char *head = g_build_filename (path, "HEAD", NULL);
  g_autofree char *objects = g_build_filename (path, "objects", NULL);
  g_autofree char *refs = g_build_filename (path, "refs", NULL);

  if (g_file_test (dotgit, G_FILE_TEST_EXISTS))
    return TRUE;
  return g_file_test (head, G_FILE_TEST_IS_REGULAR) && g_file_test (objects, G_FILE_TEST_IS_DIR) &&
         g_file_test (refs, G_FILE_TEST_IS_DIR);
}

MrGitJob *
mr_git_job_for_repo (MrTbCall *call, const char *path)
{
  g_autofree char *repo = mr_tb_resolve_path (call->toolbox, path);

  if (!mr_git_repository_exists (repo))
    {
      mr_tb_reply_error (call, 400, "repository does not exist");
      return NULL;
    }
  return mr_git_job_new (call, repo);
}

void
mr_git_step_reply_empty (MrGitJob *job, const MrGitResult *result, guint status)
{
  if (result->status != 0)
    {
      g_autofree char *message = mr_git_error_message (result);
      mr_git_job_reply_error (job, 400, message);
      return;
    }
  mr_git_job_reply_empty (job, status);
}

/* Error texts ------------------------------------------------------------------- */

static const struct {
  const char *git_text;
  const char *message;
} known_errors[] = {
  /* transport: go-git's transport errors */
  { "terminal prompts disabled", "authentication required" },
  { "Authentication failed", "authentication required" },
  { "could not read Username", "authentication required" },
  { "could not read Password", "authentication required" },
  { "returned error: 401", "authentication required" },
  { "returned error: 403", "authorization failed" },
  /* references */
  { "not found in upstream", "reference not found" },
  { "couldn't find remote ref", "reference not found" },
  { "unknown revision", "reference not found" },
  { "not a valid object name", "reference not found" },
  { "invalid reference", "reference not found" },
  { "reference is not a tree", "object not found" },
  /* repositories */
  { "not a git repository", "repository does not exist" },
  { "does not appear to be a git repository", "repository not found" },
  /* updates */
  { "Not possible to fast-forward", "non-fast-forward update" },
  { "non-fast-forward", "non-fast-forward update" },
  { "fetch first", "non-fast-forward update" },
  { "would be overwritten by", "worktree contains unstaged changes" },
};

static char *
fatal_line (const char *text)
{
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  const char *last = NULL;
  static const char *const prefixes[] = { "fatal: ", "error: " };

  for (guint p = 0; p < G_N_ELEMENTS (prefixes); p++)
    for (char **l = lines; *l; l++)
      if (g_str_has_prefix (*l, prefixes[p]))
        return g_strstrip (g_strdup (*l + strlen (prefixes[p])));
  for (char **l = lines; *l; l++)
    if (*g_strstrip (*l))
      last = *l;
  return g_strdup (last ? last : "git failed");
}

char *
mr_git_error_message (const MrGitResult *result)
{
  /* a remote name, not a path or URL, that does not exist */
  if (g_regex_match_simple ("^fatal: '[^'/:]*' does not appear to be a git repository", result->err,
                            G_REGEX_MULTILINE, 0))
    return g_strdup ("remote not found");
  if (g_regex_match_simple ("^error: remote .* already exists", result->err, G_REGEX_MULTILINE, 0))
    return g_strdup ("remote already exists");
  for (guint i = 0; i < G_N_ELEMENTS (known_errors); i++)
    if (strstr (result->err, known_errors[i].git_text) ||
        (result->out && strstr (result->out, known_errors[i].git_text)))
      return g_strdup (known_errors[i].message);
  if (g_regex_match_simple ("^fatal: repository '.*' (does not exist|not found)", result->err, G_REGEX_MULTILINE, 0))
    return g_strdup ("repository not found");
  return fatal_line (result->err);
}
