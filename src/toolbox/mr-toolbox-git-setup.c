/* mr-toolbox-git-setup.c: the git routes the newer clients (toolbox client 0.218) add:
 * /git/init, /git/remotes, /git/config, /git/config/user, /git/credentials, /git/reset
 * and /git/restore. Status codes and messages follow the newer daemon: 201 for init and
 * remote add, 200 otherwise; every error is a 400 (Shape A), like the older git routes.
 *
 * "global" configuration is the toolbox user's: git runs with HOME set to the toolbox
 * home directory, so a runner's tests never touch the configuration of the machine. */
#include <string.h>

#include "mr-toolbox-git-run.h"
#include "mr-toolbox-json-bind.h"

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

static const char *
nonempty (const char *s)
{
  return s && *s ? s : NULL;
}

/* POST /git/init --------------------------------------------------------------------- */

static const MrTbField init_fields[] = {
  { "path", "Path", MR_TB_FIELD_STRING, TRUE },
  { "bare", "Bare", MR_TB_FIELD_BOOL, FALSE },
  { "initial_branch", "InitialBranch", MR_TB_FIELD_STRING, FALSE },
  { NULL }
};

static void
handle_init (MrTbCall *call)
{
  g_autoptr(JsonObject) body = mr_tb_bind_json_or_reply (call, "GitInitRequest", init_fields);
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *path = NULL;
  const char *branch;
  MrGitJob *job;

  if (body == NULL)
    return;
  path = mr_tb_resolve_path (call->toolbox, mr_tb_json_string (body, "path"));
  /* git would re-initialise quietly; go-git refuses */
  if (mr_git_repository_exists (path))
    {
      mr_tb_reply_error (call, 400, "repository already exists");
      return;
    }
  job = mr_git_job_new (call, NULL);
  mr_git_job_set_lock (job, path);
  g_ptr_array_add (args, g_strdup ("init"));
  g_ptr_array_add (args, g_strdup ("-q"));
  if (mr_tb_json_bool (body, "bare", FALSE))
    g_ptr_array_add (args, g_strdup ("--bare"));
  branch = nonempty (mr_tb_json_string (body, "initial_branch"));
  if (branch)
    g_ptr_array_add (args, g_strdup_printf ("--initial-branch=%s", branch));
  g_ptr_array_add (args, g_strdup ("--"));
  g_ptr_array_add (args, g_strdup (path));
  g_ptr_array_add (args, NULL);
  mr_git_job_run (job, (const char * const *) args->pdata, NULL, step_ok_201);
}

/* /git/remotes ----------------------------------------------------------------------- */

/* A remote URL without the password it may embed (the user name stays) */
static char *
redact_url (const char *url)
{
  const char *scheme_end = strstr (url, "://");
  const char *authority, *at, *colon, *slash;

  if (scheme_end == NULL)
    return g_strdup (url);       /* scp-like or a path */
  authority = scheme_end + 3;
  slash = strchr (authority, '/');
  at = strchr (authority, '@');
  if (at == NULL || (slash && at > slash))
    return g_strdup (url);
  colon = memchr (authority, ':', at - authority);
  if (colon == NULL)
    return g_strdup (url);
  return g_strdup_printf ("%.*s%s", (int) (colon - url), url, at);
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

static void
remotes_listed (MrGitJob *job, const MrGitResult *result)
{
  g_autoptr(JsonObject) o = json_object_new ();
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GPtrArray) names = g_ptr_array_new ();
  g_autoptr(GHashTable) urls = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  g_auto(GStrv) lines = NULL;
  JsonArray *remotes = json_array_new ();

  json_object_set_array_member (o, "remotes", remotes);
  node = json_node_init_object (json_node_alloc (), o);
  /* git config exits 1 when nothing matches: no remotes */
  if (result->status != 0 && result->status != 1)
    {
      g_autofree char *message = mr_git_error_message (result);
      mr_git_job_reply_error (job, 400, message);
      return;
    }
  lines = g_strsplit (result->out, "\n", -1);
  for (char **l = lines; *l; l++)
    {
      /* "remote.<name>.url <url>"; a name may hold dots */
      const char *space = strchr (*l, ' ');
      g_autofree char *key = NULL;
      char *name;
      if (space == NULL || !g_str_has_prefix (*l, "remote."))
        continue;
      key = g_strndup (*l, space - *l);
      if (!g_str_has_suffix (key, ".url") || strlen (key) <= strlen ("remote..url"))
        continue;
      name = g_strndup (key + strlen ("remote."), strlen (key) - strlen ("remote.") - strlen (".url"));
      if (g_hash_table_contains (seen, name))
        {
          g_free (name);         /* the first URL of a remote is its URL */
          continue;
        }
      g_hash_table_add (seen, name);
      g_ptr_array_add (names, name);
      g_hash_table_insert (urls, name, redact_url (space + 1));
    }
  g_ptr_array_sort (names, compare_names);
  for (guint i = 0; i < names->len; i++)
    {
      JsonObject *r = json_object_new ();
      json_object_set_string_member (r, "name", names->pdata[i]);
      json_object_set_string_member (r, "url", g_hash_table_lookup (urls, names->pdata[i]));
      json_array_add_object_element (remotes, r);
    }
  mr_git_job_reply_json (job, 200, node);
}

static void
handle_remotes_list (MrTbCall *call)
{
  const char *path = mr_tb_query (call, "path");
  MrGitJob *job;

  if (path == NULL || *path == '\0')
    {
      mr_tb_reply_error (call, 400, "path is required");
      return;
    }
  if ((job = mr_git_job_for_repo (call, path)) == NULL)
    return;
  mr_git_job_runv (job, remotes_listed, "config", "--local", "--get-regexp", "^remote\\..*\\.url$", NULL);
}

typedef struct {
  char *name;
  char *url;
  gboolean fetch;
} RemoteAdd;

static void
remote_add_free (RemoteAdd *r)
{
  g_free (r->name);
  g_free (r->url);
  g_free (r);
}

static void
remote_added (MrGitJob *job, const MrGitResult *result)
{
  RemoteAdd *r = mr_git_job_get_data (job);

  if (result->status != 0 || !r->fetch)
    {
      mr_git_step_reply_empty (job, result, 201);
      return;
    }
  mr_git_job_runv (job, step_ok_201, "-c", "http.sslVerify=false", "fetch", "-q", r->name, NULL);
}

static void
remote_removed (MrGitJob *job, const MrGitResult *result)
{
  RemoteAdd *r = mr_git_job_get_data (job);

  /* a missing section is fine: overwrite also adds */
  mr_git_job_runv (job, remote_added, "remote", "add", "--", r->name, r->url, NULL);
}

static const MrTbField remote_add_fields[] = {
  { "fetch", "Fetch", MR_TB_FIELD_BOOL, FALSE },
  { "name", "Name", MR_TB_FIELD_STRING, TRUE },
  { "overwrite", "Overwrite", MR_TB_FIELD_BOOL, FALSE },
  { "path", "Path", MR_TB_FIELD_STRING, TRUE },
  { "url", "URL", MR_TB_FIELD_STRING, TRUE },
  { NULL }
};

static void
handle_remote_add (MrTbCall *call)
{
  g_autoptr(JsonObject) body = mr_tb_bind_json_or_reply (call, "GitAddRemoteRequest", remote_add_fields);
  g_autofree char *section = NULL;
  RemoteAdd *r;
  MrGitJob *job;

  if (body == NULL || (job = mr_git_job_for_repo (call, mr_tb_json_string (body, "path"))) == NULL)
    return;
  r = g_new0 (RemoteAdd, 1);
  r->name = g_strdup (mr_tb_json_string (body, "name"));
  r->url = g_strdup (mr_tb_json_string (body, "url"));
  r->fetch = mr_tb_json_bool (body, "fetch", FALSE);
  mr_git_job_set_data (job, r, (GDestroyNotify) remote_add_free);
  if (mr_tb_json_bool (body, "overwrite", FALSE))
    {
      /* the configuration only, as go-git's DeleteRemote */
      section = g_strconcat ("remote.", r->name, NULL);
      mr_git_job_runv (job, remote_removed, "config", "--local", "--remove-section", section, NULL);
    }
  else
    mr_git_job_runv (job, remote_added, "remote", "add", "--", r->name, r->url, NULL);
}

/* /git/config ------------------------------------------------------------------------ */

/* "section.name" or "section.subsection.name" */
static gboolean
valid_config_key (const char *key)
{
  const char *first = strchr (key, '.');
  const char *last = strrchr (key, '.');

  return first && first != key && last[1] != '\0';
}

/* Checks scope, key and path; answers 400 and returns NULL on a bad one. Otherwise
 * returns the job (for the repository with the local scope) and the git option. */
static MrGitJob *
config_job (MrTbCall *call, const char *key, const char *scope, const char *path, const char **option)
{
  if (scope == NULL || *scope == '\0')
    scope = "global";
  if (strcmp (scope, "local") == 0 && (path == NULL || *path == '\0'))
    {
      mr_tb_reply_error (call, 400, "path is required when scope is local");
      return NULL;
    }
  if (key && !valid_config_key (key))
    {
      mr_tb_reply_error_printf (call, 400, "invalid config key \"%s\" (expected section.name or section.subsection.name)", key);
      return NULL;
    }
  if (strcmp (scope, "global") == 0)
    *option = "--global";
  else if (strcmp (scope, "system") == 0)
    *option = "--system";
  else if (strcmp (scope, "local") == 0)
    {
      *option = "--local";
      return mr_git_job_for_repo (call, path);
    }
  else
    {
      mr_tb_reply_error_printf (call, 400, "unsupported config scope \"%s\" (supported: global, local, system)", scope);
      return NULL;
    }
  return mr_git_job_new (call, NULL);
}

static void
config_read (MrGitJob *job, const MrGitResult *result)
{
  g_autoptr(JsonObject) o = json_object_new ();
  g_autoptr(JsonNode) node = NULL;

  if (result->status == 1)
    json_object_set_null_member (o, "value");     /* not set */
  else if (result->status == 0)
    {
      g_autofree char *value = g_strdup (result->out);
      gsize len = strlen (value);
      if (len && value[len - 1] == '\n')
        value[len - 1] = '\0';
      json_object_set_string_member (o, "value", value);
    }
  else
    {
      g_autofree char *message = mr_git_error_message (result);
      mr_git_job_reply_error (job, 400, message);
      return;
    }
  node = json_node_init_object (json_node_alloc (), o);
  mr_git_job_reply_json (job, 200, node);
}

static void
handle_config_get (MrTbCall *call)
{
  const char *key = mr_tb_query (call, "key");
  const char *option = NULL;
  MrGitJob *job;

  if (key == NULL || *key == '\0')
    {
      mr_tb_reply_error (call, 400, "key is required");
      return;
    }
  job = config_job (call, key, mr_tb_query (call, "scope"), mr_tb_query (call, "path"), &option);
  if (job)
    mr_git_job_runv (job, config_read, "config", option, "--get", "--", key, NULL);
}

static const MrTbField config_set_fields[] = {
  { "key", "Key", MR_TB_FIELD_STRING, TRUE },
  { "path", "Path", MR_TB_FIELD_STRING, FALSE },
  { "scope", "Scope", MR_TB_FIELD_STRING, FALSE },
  { "value", "Value", MR_TB_FIELD_STRING, TRUE },
  { NULL }
};

static void
handle_config_set (MrTbCall *call)
{
  g_autoptr(JsonObject) body = mr_tb_bind_json_or_reply (call, "GitSetConfigRequest", config_set_fields);
  const char *option = NULL;
  const char *key;
  MrGitJob *job;

  if (body == NULL)
    return;
  key = mr_tb_json_string (body, "key");
  job = config_job (call, key, mr_tb_json_string (body, "scope"), mr_tb_json_string (body, "path"), &option);
  if (job)
    mr_git_job_runv (job, step_ok_200, "config", option, "--replace-all", "--", key,
                     mr_tb_json_string (body, "value"), NULL);
}

typedef struct {
  char *option;
  char *email;
} UserConfig;

static void
user_config_free (UserConfig *u)
{
  g_free (u->option);
  g_free (u->email);
  g_free (u);
}

static void
user_name_set (MrGitJob *job, const MrGitResult *result)
{
  UserConfig *u = mr_git_job_get_data (job);

  if (result->status != 0)
    {
      mr_git_step_reply_empty (job, result, 200);
      return;
    }
  mr_git_job_runv (job, step_ok_200, "config", u->option, "--replace-all", "user.email", u->email, NULL);
}

static const MrTbField user_fields[] = {
  { "email", "Email", MR_TB_FIELD_STRING, TRUE },
  { "name", "Name", MR_TB_FIELD_STRING, TRUE },
  { "path", "Path", MR_TB_FIELD_STRING, FALSE },
  { "scope", "Scope", MR_TB_FIELD_STRING, FALSE },
  { NULL }
};

static void
handle_config_user (MrTbCall *call)
{
  g_autoptr(JsonObject) body = mr_tb_bind_json_or_reply (call, "GitConfigureUserRequest", user_fields);
  const char *option = NULL;
  UserConfig *u;
  MrGitJob *job;

  if (body == NULL)
    return;
  job = config_job (call, NULL, mr_tb_json_string (body, "scope"), mr_tb_json_string (body, "path"), &option);
  if (job == NULL)
    return;
  u = g_new0 (UserConfig, 1);
  u->option = g_strdup (option);
  u->email = g_strdup (mr_tb_json_string (body, "email"));
  mr_git_job_set_data (job, u, (GDestroyNotify) user_config_free);
  mr_git_job_runv (job, user_name_set, "config", option, "--replace-all", "user.name",
                   mr_tb_json_string (body, "name"), NULL);
}

/* POST /git/credentials -------------------------------------------------------------- */

static const MrTbField credentials_fields[] = {
  { "host", "Host", MR_TB_FIELD_STRING, FALSE },
  { "password", "Password", MR_TB_FIELD_STRING, TRUE },
  { "protocol", "Protocol", MR_TB_FIELD_STRING, FALSE },
  { "username", "Username", MR_TB_FIELD_STRING, TRUE },
  { NULL }
};

static void
credential_helper_set (MrGitJob *job, const MrGitResult *result)
{
  if (result->status != 0)
    {
      mr_git_step_reply_empty (job, result, 200);
      return;
    }
  /* the record goes through stdin, never the command line */
  mr_git_job_run (job, (const char *[]) { "credential", "approve", NULL }, mr_git_job_get_data (job), step_ok_200);
}

static void
handle_credentials (MrTbCall *call)
{
  g_autoptr(JsonObject) body = mr_tb_bind_json_or_reply (call, "GitAuthenticateRequest", credentials_fields);
  const char *fields[4];
  const char *host, *protocol;
  char *record;
  MrGitJob *job;

  if (body == NULL)
    return;
  host = nonempty (mr_tb_json_string (body, "host")) ? mr_tb_json_string (body, "host") : "github.com";
  protocol = nonempty (mr_tb_json_string (body, "protocol")) ? mr_tb_json_string (body, "protocol") : "https";
  fields[0] = mr_tb_json_string (body, "username");
  fields[1] = mr_tb_json_string (body, "password");
  fields[2] = host;
  fields[3] = protocol;
  /* the credential record is line based: a newline would add attributes */
  for (guint i = 0; i < G_N_ELEMENTS (fields); i++)
    if (strpbrk (fields[i], "\r\n"))
      {
        mr_tb_reply_error (call, 400, "credential fields must not contain newline or NUL characters");
        return;
      }
  job = mr_git_job_new (call, NULL);
  record = g_strdup_printf ("protocol=%s\nhost=%s\nusername=%s\npassword=%s\n\n", protocol, host, fields[0], fields[1]);
  mr_git_job_set_data (job, g_bytes_new_take (record, strlen (record)), (GDestroyNotify) g_bytes_unref);
  /* stored in plain text by git's "store" helper, in the toolbox user's home */
  mr_git_job_runv (job, credential_helper_set, "config", "--global", "--replace-all", "credential.helper", "store", NULL);
}

/* POST /git/reset, /git/restore ------------------------------------------------------ */

static const MrTbField reset_fields[] = {
  { "files", "Files", MR_TB_FIELD_STRING_ARRAY, FALSE },
  { "mode", "Mode", MR_TB_FIELD_STRING, FALSE },
  { "path", "Path", MR_TB_FIELD_STRING, TRUE },
  { "target", "Target", MR_TB_FIELD_STRING, FALSE },
  { NULL }
};

static void
handle_reset (MrTbCall *call)
{
  g_autoptr(JsonObject) body = mr_tb_bind_json_or_reply (call, "GitResetRequest", reset_fields);
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  g_auto(GStrv) files = NULL;
  const char *mode, *target;
  MrGitJob *job;

  if (body == NULL)
    return;
  mode = mr_tb_json_string (body, "mode");
  if (mode == NULL)
    mode = "";
  if (strcmp (mode, "") != 0 && strcmp (mode, "mixed") != 0 && strcmp (mode, "soft") != 0 &&
      strcmp (mode, "hard") != 0 && strcmp (mode, "merge") != 0 && strcmp (mode, "keep") != 0)
    {
      mr_tb_reply_error_printf (call, 400, "unsupported reset mode \"%s\" (supported: soft, mixed, hard, merge, keep)", mode);
      return;
    }
  if ((job = mr_git_job_for_repo (call, mr_tb_json_string (body, "path"))) == NULL)
    return;
  files = mr_tb_json_strv (body, "files");
  target = nonempty (mr_tb_json_string (body, "target"));
  g_ptr_array_add (args, g_strdup ("reset"));
  g_ptr_array_add (args, g_strdup ("-q"));
  /* paths take no mode flag for a mixed reset (git warns that it is deprecated) */
  if (*mode && !(files[0] && strcmp (mode, "mixed") == 0))
    g_ptr_array_add (args, g_strdup_printf ("--%s", mode));
  if (target)
    g_ptr_array_add (args, g_strdup (target));
  if (files[0])
    {
      g_ptr_array_add (args, g_strdup ("--"));
      for (char **f = files; *f; f++)
        g_ptr_array_add (args, g_strdup (*f));
    }
  g_ptr_array_add (args, NULL);
  mr_git_job_run (job, (const char * const *) args->pdata, NULL, step_ok_200);
}

static const MrTbField restore_fields[] = {
  { "files", "Files", MR_TB_FIELD_STRING_ARRAY, TRUE },
  { "path", "Path", MR_TB_FIELD_STRING, TRUE },
  { "source", "Source", MR_TB_FIELD_STRING, FALSE },
  { "staged", "Staged", MR_TB_FIELD_BOOL, FALSE },
  { "worktree", "Worktree", MR_TB_FIELD_BOOL, FALSE },
  { NULL }
};

static void
handle_restore (MrTbCall *call)
{
  g_autoptr(JsonObject) body = mr_tb_bind_json_or_reply (call, "GitRestoreRequest", restore_fields);
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  g_auto(GStrv) files = NULL;
  gboolean staged, worktree;
  const char *source;
  MrGitJob *job;

  if (body == NULL)
    return;
  files = mr_tb_json_strv (body, "files");
  if (files[0] == NULL)
    {
      mr_tb_reply_error (call, 400, "at least one path is required");
      return;
    }
  /* as `git restore`: the working tree unless told otherwise; staged alone means the index only */
  staged = mr_tb_json_bool (body, "staged", FALSE);
  worktree = mr_tb_json_has (body, "worktree") ? mr_tb_json_bool (body, "worktree", FALSE)
                                               : !mr_tb_json_has (body, "staged");
  if (!staged && !worktree)
    {
      mr_tb_reply_error (call, 400, "at least one of staged or worktree must be true");
      return;
    }
  if ((job = mr_git_job_for_repo (call, mr_tb_json_string (body, "path"))) == NULL)
    return;
  g_ptr_array_add (args, g_strdup ("restore"));
  if (staged)
    g_ptr_array_add (args, g_strdup ("--staged"));
  if (worktree)
    g_ptr_array_add (args, g_strdup ("--worktree"));
  source = nonempty (mr_tb_json_string (body, "source"));
  if (source)
    g_ptr_array_add (args, g_strdup_printf ("--source=%s", source));
  g_ptr_array_add (args, g_strdup ("--"));
  for (char **f = files; *f; f++)
    g_ptr_array_add (args, g_strdup (*f));
  g_ptr_array_add (args, NULL);
  mr_git_job_run (job, (const char * const *) args->pdata, NULL, step_ok_200);
}

static const MrRoute routes[] = {
  { "POST", "/git/init", handle_init, NULL, 0, "git-init" },
  { "GET", "/git/remotes", handle_remotes_list, NULL, 0, "git-remotes-list" },
  { "POST", "/git/remotes", handle_remote_add, NULL, 0, "git-remotes-add" },
  { "GET", "/git/config", handle_config_get, NULL, 0, "git-config-get" },
  { "POST", "/git/config", handle_config_set, NULL, 0, "git-config-set" },
  { "POST", "/git/config/user", handle_config_user, NULL, 0, "git-config-user" },
  { "POST", "/git/credentials", handle_credentials, NULL, 0, "git-credentials" },
  { "POST", "/git/reset", handle_reset, NULL, 0, "git-reset" },
  { "POST", "/git/restore", handle_restore, NULL, 0, "git-restore" },
};

void
mr_tb_register_git_setup (MrRouter *router)
{
  mr_router_add_all (router, routes, G_N_ELEMENTS (routes));
}
