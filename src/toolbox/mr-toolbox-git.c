/* mr-toolbox-git.c: /git/clone, status, add, commit, branches, checkout, history, pull
 * and push, as the daemon serves them with go-git, done here with the `git` program.
 *
 * Every git error is a 400 (Shape A) whose message is go-git's where a client may test
 * it ("repository does not exist", "reference not found", "authentication required",
 * "cannot create empty commit: clean working tree"...). Lists are [] when empty, never
 * null. The newer clients' routes are in mr-toolbox-git-setup.c. */
#include <stdio.h>
#include <string.h>

#include "mr-toolbox-git-run.h"
#include "mr-toolbox-json-bind.h"

typedef struct {
  char *name;          /* branch, commit or target of the operation */
  char *remote;
  gboolean push;
  gboolean set_upstream;
} GitOp;

static void
git_op_free (GitOp *op)
{
  g_free (op->name);
  g_free (op->remote);
  g_free (op);
}

static GitOp *
job_op (MrGitJob *job)
{
  GitOp *op = mr_git_job_get_data (job);

  if (op == NULL)
    {
      op = g_new0 (GitOp, 1);
      mr_git_job_set_data (job, op, (GDestroyNotify) git_op_free);
    }
  return op;
}

static void
step_ok_200 (MrGitJob *job, const MrGitResult *result)
{
  mr_git_step_reply_empty (job, result, 200);
}

static void
step_ok_201 (MrGitJob *job, const MrGitResult *result)
{
  mr_git_step_reply_empty (job, result, 201);
}

static void
step_ok_204 (MrGitJob *job, const MrGitResult *result)
{
  mr_git_step_reply_empty (job, result, 204);
}

static void
reply_git_error (MrGitJob *job, const MrGitResult *result)
{
  g_autofree char *message = mr_git_error_message (result);

  mr_git_job_reply_error (job, 400, message);
}

static const char *
nonempty (const char *s)
{
  return s && *s ? s : NULL;
}

/* Query "path", required by the GET routes */
static const char *
query_path_or_reply (MrTbCall *call)
{
  const char *path = mr_tb_query (call, "path");

  if (path == NULL || *path == '\0')
    {
      mr_tb_reply_error (call, 400, "path is required");
      return NULL;
    }
  return path;
}

/* POST /git/clone ------------------------------------------------------------------ */

static const MrTbField clone_fields[] = {
  { "url", "URL", MR_TB_FIELD_STRING, TRUE },
  { "path", "Path", MR_TB_FIELD_STRING, TRUE },
  { "username", "Username", MR_TB_FIELD_STRING, FALSE },
  { "password", "Password", MR_TB_FIELD_STRING, FALSE },
  { "branch", "Branch", MR_TB_FIELD_STRING, FALSE },
  { "commit_id", "CommitID", MR_TB_FIELD_STRING, FALSE },
  { "depth", "Depth", MR_TB_FIELD_INT, FALSE },
  { "insecure_skip_tls", "InsecureSkipTLS", MR_TB_FIELD_BOOL, FALSE },
  { NULL }
};

static void
clone_checked_out (MrGitJob *job, const MrGitResult *result)
{
  if (result->status != 0)
    {
      reply_git_error (job, result);
      return;
    }
  mr_git_job_reply_empty (job, 200);
}

static void
clone_done (MrGitJob *job, const MrGitResult *result)
{
  GitOp *op = job_op (job);

  if (result->status != 0)
    {
      reply_git_error (job, result);
      return;
    }
  if (op->name == NULL)
    {
      mr_git_job_reply_empty (job, 200);
      return;
    }
  /* commit_id: a detached checkout of that commit after the clone */
  mr_git_job_runv (job, clone_checked_out, "-C", op->remote, "checkout", "-q", "--detach", op->name, "--", NULL);
}

static void
handle_clone (MrTbCall *call)
{
  g_autoptr(JsonObject) body = mr_tb_bind_json_or_reply (call, "GitCloneRequest", clone_fields);
  g_autofree char *path = NULL;
  g_autofree char *depth = NULL;
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  const char *branch;
  MrGitJob *job;
  GitOp *op;
  gint64 depth_value;

  if (body == NULL)
    return;
  path = mr_tb_resolve_path (call->toolbox, mr_tb_json_string (body, "path"));
  if (mr_git_repository_exists (path))
    {
      mr_tb_reply_error (call, 400, "repository already exists");
      return;
    }

  job = mr_git_job_new (call, NULL);
  mr_git_job_set_lock (job, path);
  op = job_op (job);
  op->name = g_strdup (nonempty (mr_tb_json_string (body, "commit_id")));
  op->remote = g_strdup (path);     /* where the commit is checked out */
  mr_git_job_set_credentials (job, mr_tb_json_string (body, "username"), mr_tb_json_string (body, "password"));

  /* TLS is not verified, as the daemon's clone does not verify it */
  g_ptr_array_add (args, g_strdup ("-c"));
  g_ptr_array_add (args, g_strdup ("http.sslVerify=false"));
  g_ptr_array_add (args, g_strdup ("clone"));
  g_ptr_array_add (args, g_strdup ("-q"));
  g_ptr_array_add (args, g_strdup ("--single-branch"));
  branch = nonempty (mr_tb_json_string (body, "branch"));
  if (branch)
    {
      g_ptr_array_add (args, g_strdup ("--branch"));
      g_ptr_array_add (args, g_strdup (branch));
    }
  depth_value = json_object_get_int_member_with_default (body, "depth", 0);
  if (depth_value > 0)
    {
      g_ptr_array_add (args, g_strdup ("--depth"));
      g_ptr_array_add (args, g_strdup_printf ("%" G_GINT64_FORMAT, depth_value));
    }
  g_ptr_array_add (args, g_strdup ("--"));
  g_ptr_array_add (args, g_strdup (mr_tb_json_string (body, "url")));
  g_ptr_array_add (args, g_strdup (path));
  g_ptr_array_add (args, NULL);
  mr_git_job_run (job, (const char * const *) args->pdata, NULL, clone_done);
}

/* GET /git/status -------------------------------------------------------------------- */

static const char *
status_name (char c)
{
  switch (c)
    {
    case '.': case ' ': return "Unmodified";
    case 'M': case 'T': return "Modified";
    case 'A': return "Added";
    case 'D': return "Deleted";
    case 'R': return "Renamed";
    case 'C': return "Copied";
    case 'U': return "Updated but unmerged";
    case '?': return "Untracked";
    default: return "Modified";
    }
}

static void
add_file_status (JsonArray *files, const char *name, const char *extra, char x, char y)
{
  JsonObject *f = json_object_new ();

  json_object_set_string_member (f, "name", name);
  json_object_set_string_member (f, "extra", extra ? extra : "");
  json_object_set_string_member (f, "staging", status_name (x));
  json_object_set_string_member (f, "worktree", status_name (y));
  json_array_add_object_element (files, f);
}

/* `git status --porcelain=v2 --branch -z`: NUL-terminated records; a rename or copy
 * ("2 ...") is followed by a record holding the original path. */
static JsonNode *
parse_status (const char *out, gsize len)
{
  g_autoptr(JsonObject) status = json_object_new ();
  JsonArray *files = json_array_new ();
  g_autofree char *head = NULL;
  g_autofree char *upstream = NULL;
  gboolean have_ab = FALSE;
  gint64 ahead = 0, behind = 0;
  const char *p = out, *end = out + len;

  while (p < end)
    {
      const char *record = p;
      p += strlen (p) + 1;
      if (g_str_has_prefix (record, "# branch.head "))
        head = g_strdup (record + strlen ("# branch.head "));
      else if (g_str_has_prefix (record, "# branch.upstream "))
        upstream = g_strdup (record + strlen ("# branch.upstream "));
      else if (g_str_has_prefix (record, "# branch.ab "))
        {
          have_ab = sscanf (record + strlen ("# branch.ab "), "+%" G_GINT64_FORMAT " -%" G_GINT64_FORMAT,
                            &ahead, &behind) == 2;
        }
      else if (record[0] == '1' && record[1] == ' ')
        {
          g_auto(GStrv) f = g_strsplit (record, " ", 9);
          if (g_strv_length (f) == 9)
            add_file_status (files, f[8], NULL, f[1][0], f[1][1]);
        }
      else if (record[0] == '2' && record[1] == ' ')
        {
          g_auto(GStrv) f = g_strsplit (record, " ", 10);
          const char *orig = p < end ? p : "";
          p += strlen (orig) + (p < end ? 1 : 0);
          if (g_strv_length (f) == 10)
            add_file_status (files, f[9], orig, f[1][0], f[1][1]);
        }
      else if (record[0] == 'u' && record[1] == ' ')
        {
          g_auto(GStrv) f = g_strsplit (record, " ", 11);
          if (g_strv_length (f) == 11)
            add_file_status (files, f[10], NULL, f[1][0], f[1][1]);
        }
      else if (record[0] == '?' && record[1] == ' ')
        add_file_status (files, record + 2, NULL, '?', '?');   /* go-git: Untracked on both sides */
    }

  if (head == NULL || strcmp (head, "(detached)") == 0)
    {
      json_object_set_string_member (status, "currentBranch", "HEAD");
      json_object_set_boolean_member (status, "detached", TRUE);
    }
  else
    {
      json_object_set_string_member (status, "currentBranch", head);
      json_object_set_boolean_member (status, "detached", FALSE);
    }
  json_object_set_array_member (status, "fileStatus", files);
  /* published: the upstream resolves (git reports ahead/behind only then) */
  json_object_set_boolean_member (status, "branchPublished", have_ab);
  json_object_set_int_member (status, "ahead", have_ab ? ahead : 0);
  json_object_set_int_member (status, "behind", have_ab ? behind : 0);
  json_object_set_string_member (status, "upstream", have_ab && upstream ? upstream : "");
  return json_node_init_object (json_node_alloc (), status);
}

static void
status_done (MrGitJob *job, const MrGitResult *result)
{
  g_autoptr(JsonNode) node = NULL;

  if (result->status != 0)
    {
      reply_git_error (job, result);
      return;
    }
  node = parse_status (result->out, result->out_len);
  mr_git_job_reply_json (job, 200, node);
}

static void
handle_status (MrTbCall *call)
{
  const char *path = query_path_or_reply (call);
  MrGitJob *job;

  if (path == NULL || (job = mr_git_job_for_repo (call, path)) == NULL)
    return;
  mr_git_job_runv (job, status_done, "--no-optional-locks", "status", "--porcelain=v2", "--branch", "-z",
                   "--untracked-files=all", NULL);
}

/* POST /git/add ---------------------------------------------------------------------- */

static const MrTbField add_fields[] = {
  { "path", "Path", MR_TB_FIELD_STRING, TRUE },
  { "files", "Files", MR_TB_FIELD_STRING_ARRAY, TRUE },
  { NULL }
};

static void
handle_add (MrTbCall *call)
{
  g_autoptr(JsonObject) body = mr_tb_bind_json_or_reply (call, "GitAddRequest", add_fields);
  g_auto(GStrv) files = NULL;
  g_autoptr(GPtrArray) args = g_ptr_array_new ();
  MrGitJob *job;

  if (body == NULL || (job = mr_git_job_for_repo (call, mr_tb_json_string (body, "path"))) == NULL)
    return;
  files = mr_tb_json_strv (body, "files");
  if (files[0] == NULL)
    {
      mr_git_job_reply_empty (job, 200);
      return;
    }
  /* the pathspecs are relative to the repository; removals are staged too */
  g_ptr_array_add (args, "add");
  g_ptr_array_add (args, "-A");
  g_ptr_array_add (args, "--");
  for (char **f = files; *f; f++)
    g_ptr_array_add (args, *f);
  g_ptr_array_add (args, NULL);
  mr_git_job_run (job, (const char * const *) args->pdata, NULL, step_ok_200);
}

/* POST /git/commit ------------------------------------------------------------------- */

static const MrTbField commit_fields[] = {
  { "path", "Path", MR_TB_FIELD_STRING, TRUE },
  { "message", "Message", MR_TB_FIELD_STRING, TRUE },
  { "author", "Author", MR_TB_FIELD_STRING, TRUE },
  { "email", "Email", MR_TB_FIELD_STRING, TRUE },
  { "allow_empty", "AllowEmpty", MR_TB_FIELD_BOOL, FALSE },
  { NULL }
};

static void
commit_hash (MrGitJob *job, const MrGitResult *result)
{
  g_autoptr(JsonObject) o = json_object_new ();
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *hash = g_strstrip (g_strdup (result->out));

  if (result->status != 0)
    {
      reply_git_error (job, result);
      return;
    }
  json_object_set_string_member (o, "hash", hash);
  node = json_node_init_object (json_node_alloc (), o);
  mr_git_job_reply_json (job, 200, node);
}

static void
commit_done (MrGitJob *job, const MrGitResult *result)
{
  if (result->status != 0)
    {
      /* nothing staged: go-git's ErrEmptyCommit */
      if (strstr (result->out, "nothing to commit") || strstr (result->out, "nothing added to commit") ||
          strstr (result->out, "no changes added to commit"))
        mr_git_job_reply_error (job, 400, "cannot create empty commit: clean working tree");
      else
        reply_git_error (job, result);
      return;
    }
  mr_git_job_runv (job, commit_hash, "rev-parse", "HEAD", NULL);
}

static void
handle_commit (MrTbCall *call)
{
  g_autoptr(JsonObject) body = mr_tb_bind_json_or_reply (call, "GitCommitRequest", commit_fields);
  const char *author, *email;
  MrGitJob *job;

  if (body == NULL || (job = mr_git_job_for_repo (call, mr_tb_json_string (body, "path"))) == NULL)
    return;
  /* the committer is the author, as in the daemon */
  author = mr_tb_json_string (body, "author");
  email = mr_tb_json_string (body, "email");
  mr_git_job_setenv (job, "GIT_AUTHOR_NAME", author);
  mr_git_job_setenv (job, "GIT_AUTHOR_EMAIL", email);
  mr_git_job_setenv (job, "GIT_COMMITTER_NAME", author);
  mr_git_job_setenv (job, "GIT_COMMITTER_EMAIL", email);
  if (mr_tb_json_bool (body, "allow_empty", FALSE))
    mr_git_job_runv (job, commit_done, "-c", "commit.gpgSign=false", "commit", "--no-verify", "--cleanup=verbatim",
                     "--allow-empty", "-m", mr_tb_json_string (body, "message"), NULL);
  else
    mr_git_job_runv (job, commit_done, "-c", "commit.gpgSign=false", "commit", "--no-verify", "--cleanup=verbatim",
                     "-m", mr_tb_json_string (body, "message"), NULL);
}

/* /git/branches ---------------------------------------------------------------------- */

static void
branches_listed (MrGitJob *job, const MrGitResult *result)
{
  g_autoptr(JsonObject) o = json_object_new ();
  g_autoptr(JsonNode) node = NULL;
  JsonArray *branches = json_array_new ();
  g_auto(GStrv) lines = NULL;
  const char *current = "";

  if (result->status != 0)
    {
      json_array_unref (branches);
      reply_git_error (job, result);
      return;
    }
  lines = g_strsplit (result->out, "\n", -1);
  for (char **l = lines; *l; l++)
    {
      /* "%(HEAD)%(refname)": "*" marks the checked-out branch */
      const char *ref = (*l)[0] ? *l + 1 : NULL;
      if (ref == NULL || !g_str_has_prefix (ref, "refs/heads/"))
        continue;
      ref += strlen ("refs/heads/");
      json_array_add_string_element (branches, ref);
      if ((*l)[0] == '*')
        current = ref;
    }
  json_object_set_array_member (o, "branches", branches);
  json_object_set_string_member (o, "current", current);
  node = json_node_init_object (json_node_alloc (), o);
  mr_git_job_reply_json (job, 200, node);
}

static void
handle_branches_list (MrTbCall *call)
{
  const char *path = query_path_or_reply (call);
  MrGitJob *job;

  if (path == NULL || (job = mr_git_job_for_repo (call, path)) == NULL)
    return;
  mr_git_job_runv (job, branches_listed, "for-each-ref", "--format=%(HEAD)%(refname)", "refs/heads/", NULL);
}

static const MrTbField branch_fields[] = {
  { "path", "Path", MR_TB_FIELD_STRING, TRUE },
  { "name", "Name", MR_TB_FIELD_STRING, TRUE },
  { NULL }
};

static void
handle_branch_create (MrTbCall *call)
{
  g_autoptr(JsonObject) body = mr_tb_bind_json_or_reply (call, "GitBranchRequest", branch_fields);
  MrGitJob *job;

  if (body == NULL || (job = mr_git_job_for_repo (call, mr_tb_json_string (body, "path"))) == NULL)
    return;
  /* created at HEAD and checked out */
  mr_git_job_runv (job, step_ok_201, "checkout", "-q", "-b", mr_tb_json_string (body, "name"), NULL);
}

static void
handle_branch_delete (MrTbCall *call)
{
  g_autoptr(JsonObject) body = mr_tb_bind_json_or_reply (call, "GitDeleteBranchRequest", branch_fields);
  g_autofree char *ref = NULL;
  MrGitJob *job;

  if (body == NULL || (job = mr_git_job_for_repo (call, mr_tb_json_string (body, "path"))) == NULL)
    return;
  /* the ref only, without safety checks, as go-git's RemoveReference */
  ref = g_strconcat ("refs/heads/", mr_tb_json_string (body, "name"), NULL);
  mr_git_job_runv (job, step_ok_204, "update-ref", "-d", ref, NULL);
}

/* POST /git/checkout ----------------------------------------------------------------- */

static const MrTbField checkout_fields[] = {
  { "path", "Path", MR_TB_FIELD_STRING, TRUE },
  { "branch", "Branch", MR_TB_FIELD_STRING, TRUE },
  { NULL }
};

static void
checkout_fail (MrGitJob *job, const char *reason)
{
  g_autofree char *message = g_strdup_printf ("failed to checkout branch or commit '%s': %s",
                                              job_op (job)->name, reason);

  mr_git_job_reply_error (job, 400, message);
}

static void
checkout_done (MrGitJob *job, const MrGitResult *result)
{
  g_autofree char *reason = NULL;

  if (result->status == 0)
    {
      mr_git_job_reply_empty (job, 200);
      return;
    }
  reason = mr_git_error_message (result);
  checkout_fail (job, reason);
}

static void
checkout_commit_resolved (MrGitJob *job, const MrGitResult *result)
{
  g_autofree char *sha = g_strstrip (g_strdup (result->out));

  if (result->status != 0 || *sha == '\0')
    {
      checkout_fail (job, "reference not found");
      return;
    }
  mr_git_job_runv (job, checkout_done, "checkout", "-q", "--detach", sha, "--", NULL);
}

static void
checkout_branch_looked_up (MrGitJob *job, const MrGitResult *result)
{
  GitOp *op = job_op (job);
  g_autofree char *commit = NULL;

  if (result->status == 0)
    {
      mr_git_job_runv (job, checkout_done, "checkout", "-q", op->name, "--", NULL);
      return;
    }
  /* not a branch: a commit */
  commit = g_strconcat (op->name, "^{commit}", NULL);
  mr_git_job_runv (job, checkout_commit_resolved, "rev-parse", "--verify", "--quiet", "--end-of-options",
                   commit, NULL);
}

static void
checkout_status_checked (MrGitJob *job, const MrGitResult *result)
{
  g_autofree char *ref = NULL;

  if (result->status != 0)
    {
      g_autofree char *reason = mr_git_error_message (result);
      checkout_fail (job, reason);
      return;
    }
  /* go-git refuses to check out over changes of tracked files not staged */
  for (const char *p = result->out; p < result->out + result->out_len; p += strlen (p) + 1)
    {
      /* "XY path", and after a rename or copy the original path as its own record */
      if (strlen (p) > 3 && p[1] != ' ')
        {
          checkout_fail (job, "worktree contains unstaged changes");
          return;
        }
      if ((p[0] == 'R' || p[0] == 'C') && p + strlen (p) + 1 < result->out + result->out_len)
        p += strlen (p) + 1;
    }
  ref = g_strconcat ("refs/heads/", job_op (job)->name, NULL);
  mr_git_job_runv (job, checkout_branch_looked_up, "show-ref", "--verify", "--quiet", ref, NULL);
}

static void
handle_checkout (MrTbCall *call)
{
  g_autoptr(JsonObject) body = mr_tb_bind_json_or_reply (call, "GitCheckoutRequest", checkout_fields);
  MrGitJob *job;

  if (body == NULL || (job = mr_git_job_for_repo (call, mr_tb_json_string (body, "path"))) == NULL)
    return;
  job_op (job)->name = g_strdup (mr_tb_json_string (body, "branch"));
  mr_git_job_runv (job, checkout_status_checked, "status", "--porcelain=v1", "-z", "--untracked-files=no", NULL);
}

/* GET /git/history ------------------------------------------------------------------- */

/* %aI gives "+00:00" where Go's RFC 3339 writes "Z" */
static char *
go_rfc3339 (const char *iso)
{
  gsize len = strlen (iso);

  if (len > 6 && (g_str_has_suffix (iso, "+00:00") || g_str_has_suffix (iso, "-00:00")))
    return g_strdup_printf ("%.*sZ", (int) (len - 6), iso);
  return g_strdup (iso);
}

static void
history_listed (MrGitJob *job, const MrGitResult *result)
{
  g_autoptr(JsonNode) node = NULL;
  JsonArray *commits = json_array_new ();
  const char *fields[5];
  guint n = 0;

  node = json_node_new (JSON_NODE_ARRAY);
  json_node_take_array (node, commits);
  if (result->status != 0)
    {
      /* a branch without commits has an empty history */
      if (strstr (result->err, "does not have any commits"))
        mr_git_job_reply_json (job, 200, node);
      else
        reply_git_error (job, result);
      return;
    }
  for (const char *p = result->out; p < result->out + result->out_len; p += strlen (p) + 1)
    {
      /* the records are "hash\0author\0email\0date\0message\0", messages never hold NULs */
      fields[n++] = p;
      if (n == G_N_ELEMENTS (fields))
        {
          JsonObject *c = json_object_new ();
          g_autofree char *date = go_rfc3339 (fields[3]);
          json_object_set_string_member (c, "hash", fields[0]);
          json_object_set_string_member (c, "author", fields[1]);
          json_object_set_string_member (c, "email", fields[2]);
          json_object_set_string_member (c, "message", fields[4]);
          json_object_set_string_member (c, "timestamp", date);
          json_array_add_object_element (commits, c);
          n = 0;
        }
    }
  mr_git_job_reply_json (job, 200, node);
}

static void
handle_history (MrTbCall *call)
{
  const char *path = query_path_or_reply (call);
  MrGitJob *job;

  if (path == NULL || (job = mr_git_job_for_repo (call, path)) == NULL)
    return;
  mr_git_job_runv (job, history_listed, "log", "-z", "--format=%H%x00%an%x00%ae%x00%aI%x00%B", NULL);
}

/* POST /git/pull, /git/push ---------------------------------------------------------- */

static const MrTbField pull_fields[] = {
  { "path", "Path", MR_TB_FIELD_STRING, TRUE },
  { "username", "Username", MR_TB_FIELD_STRING, FALSE },
  { "password", "Password", MR_TB_FIELD_STRING, FALSE },
  { "remote", "Remote", MR_TB_FIELD_STRING, FALSE },
  { "branch", "Branch", MR_TB_FIELD_STRING, FALSE },
  { "set_upstream", "SetUpstream", MR_TB_FIELD_BOOL, FALSE },
  { NULL }
};

static void
pull_or_push (MrGitJob *job)
{
  GitOp *op = job_op (job);
  g_autofree char *refspec = NULL;

  if (op->push)
    {
      /* the branch to the same name on the remote; "Everything up-to-date" succeeds */
      refspec = g_strdup_printf ("refs/heads/%s:refs/heads/%s", op->name, op->name);
      if (op->set_upstream)
        mr_git_job_runv (job, step_ok_200, "-c", "http.sslVerify=false", "push", "-q", "--set-upstream",
                         op->remote, refspec, NULL);
      else
        mr_git_job_runv (job, step_ok_200, "-c", "http.sslVerify=false", "push", "-q", op->remote, refspec, NULL);
    }
  else
    {
      /* fast-forward only; "Already up to date" succeeds */
      mr_git_job_runv (job, step_ok_200, "-c", "http.sslVerify=false", "pull", "-q", "--ff-only", "--no-rebase",
                       op->remote, op->name, NULL);
    }
}

static void
current_branch_found (MrGitJob *job, const MrGitResult *result)
{
  GitOp *op = job_op (job);
  g_autofree char *branch = g_strstrip (g_strdup (result->out));

  if (result->status != 0 || *branch == '\0')
    {
      /* detached HEAD: no branch to pull or push */
      mr_git_job_reply_error (job, 400, "reference not found");
      return;
    }
  op->name = g_steal_pointer (&branch);
  pull_or_push (job);
}

static void
handle_pull_push (MrTbCall *call, gboolean push)
{
  g_autoptr(JsonObject) body = mr_tb_bind_json_or_reply (call, "GitRepoRequest", pull_fields);
  MrGitJob *job;
  GitOp *op;

  if (body == NULL || (job = mr_git_job_for_repo (call, mr_tb_json_string (body, "path"))) == NULL)
    return;
  op = job_op (job);
  op->push = push;
  op->remote = g_strdup (nonempty (mr_tb_json_string (body, "remote")) ? mr_tb_json_string (body, "remote") : "origin");
  op->name = g_strdup (nonempty (mr_tb_json_string (body, "branch")));
  op->set_upstream = mr_tb_json_bool (body, "set_upstream", FALSE);
  mr_git_job_set_credentials (job, mr_tb_json_string (body, "username"), mr_tb_json_string (body, "password"));
  if (op->name)
    pull_or_push (job);
  else
    mr_git_job_runv (job, current_branch_found, "symbolic-ref", "-q", "--short", "HEAD", NULL);
}

static void
handle_pull (MrTbCall *call)
{
  handle_pull_push (call, FALSE);
}

static void
handle_push (MrTbCall *call)
{
  handle_pull_push (call, TRUE);
}

static const MrRoute routes[] = {
  { "POST", "/git/clone", handle_clone, NULL, 0, "git-clone" },
  { "GET", "/git/status", handle_status, NULL, 0, "git-status" },
  { "POST", "/git/add", handle_add, NULL, 0, "git-add" },
  { "POST", "/git/commit", handle_commit, NULL, 0, "git-commit" },
  { "GET", "/git/branches", handle_branches_list, NULL, 0, "git-branches-list" },
  { "POST", "/git/branches", handle_branch_create, NULL, 0, "git-branches-create" },
  { "DELETE", "/git/branches", handle_branch_delete, NULL, 0, "git-branches-delete" },
  { "POST", "/git/checkout", handle_checkout, NULL, 0, "git-checkout" },
  { "GET", "/git/history", handle_history, NULL, 0, "git-history" },
  { "POST", "/git/pull", handle_pull, NULL, 0, "git-pull" },
  { "POST", "/git/push", handle_push, NULL, 0, "git-push" },
};

void
mr_tb_register_git (MrRouter *router)
{
  mr_router_add_all (router, routes, G_N_ELEMENTS (routes));
  mr_tb_register_git_setup (router);
}
