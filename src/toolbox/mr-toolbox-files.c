/* mr-toolbox-files.c: the /files routes of the toolbox (toolbox-api.md 2.2, 3.5, 7, 8).
 *
 * Three kinds of handlers:
 *  - plain operations (list, info, folder, delete, move, permissions, find, search,
 *    replace) run in a worker thread: a walk or a recursive delete of a big tree must not
 *    stall the server thread, which serves every sandbox. The message is paused
 *    meanwhile and the reply is set back on the server thread;
 *  - downloads (download, bulk-download) stream the response from disk one chunk at a
 *    time, refilled on "wrote-chunk", so memory stays flat whatever the file size;
 *  - uploads (upload, upload-v2, bulk-upload) stream the request body: they run when the
 *    headers arrive. A body with a Content-Length is read by a thread of its own off the
 *    connection, taken over from libsoup (mr-body-takeover.c), which feeds the multipart
 *    parser and writes the file data itself; any other body comes from libsoup chunk by
 *    chunk, fed to the parser on the server thread with the file data queued for a
 *    writer thread, pausing the message while too much is queued.
 *
 * Paths behave as in the daemon, whose cwd is the work directory: relative paths reach
 * the syscalls joined to the work directory but unchanged otherwise, and messages show
 * them as given; where the daemon makes a path absolute first (download, move,
 * permissions) they are cleaned lexically as Go's filepath.Abs does. Error texts are
 * Go's ("<op> <path>: <errno text>"). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mr-toolbox-private.h"
#include "mr-body-takeover.h"
#include "mr-multipart.h"
#include "mr-http.h"
#include "mr-dto.h"

#define CHUNK_SIZE (64 * 1024)             /* download read size */
#define WRITE_BATCH (1024 * 1024)          /* upload data handed to the writer thread at once */
#define PENDING_HIGH (8 * 1024 * 1024)     /* pause the upload above this much queued data */
#define PENDING_LOW (2 * 1024 * 1024)      /* and resume below this */
#define MAX_PATH_FIELD (64 * 1024)         /* a bulk-upload files[k].path value */
#define SCAN_LINE_MAX (64 * 1024)          /* find: Go's bufio.Scanner token limit */
#define BULK_BOUNDARY "DAYTONA-FILE-BOUNDARY"

/* Go-compatible paths and errors ------------------------------------------------ */

/* The path a syscall gets for @path when the cwd is @work_dir. An empty path stays
 * empty so that it fails like Go's (ENOENT). */
static char *
os_path (const char *work_dir, const char *path)
{
  if (path[0] == '/' || path[0] == '\0')
    return g_strdup (path);
  return g_strconcat (work_dir, "/", path, NULL);
}

/* Go's path.Clean */
static char *
go_clean (const char *path)
{
  gboolean rooted = path[0] == '/';
  g_auto(GStrv) parts = g_strsplit (path, "/", -1);
  GPtrArray *out = g_ptr_array_new ();
  GString *result = g_string_new (rooted ? "/" : "");

  for (char **p = parts; *p; p++)
    {
      if (**p == '\0' || strcmp (*p, ".") == 0)
        continue;
      if (strcmp (*p, "..") == 0)
        {
          if (out->len > 0 && strcmp (out->pdata[out->len - 1], "..") != 0)
            g_ptr_array_set_size (out, out->len - 1);
          else if (!rooted)
            g_ptr_array_add (out, "..");
          continue;
        }
      g_ptr_array_add (out, *p);
    }
  for (guint i = 0; i < out->len; i++)
    {
      if (i > 0)
        g_string_append_c (result, '/');
      g_string_append (result, out->pdata[i]);
    }
  g_ptr_array_unref (out);
  if (result->len == 0)
    g_string_assign (result, ".");
  return g_string_free (result, FALSE);
}

/* Go's filepath.Join for two elements */
static char *
go_join (const char *a, const char *b)
{
  g_autofree char *joined = NULL;

  if (*a == '\0')
    return go_clean (b);
  joined = g_strconcat (a, "/", b, NULL);
  return go_clean (joined);
}

/* Go's filepath.Abs with the cwd at @work_dir */
static char *
go_abs (const char *work_dir, const char *path)
{
  if (path[0] == '/')
    return go_clean (path);
  return go_join (work_dir, path);
}

/* Go's filepath.Base */
static char *
go_base (const char *path)
{
  gsize len = strlen (path);
  const char *slash;
  g_autofree char *trimmed = NULL;

  if (len == 0)
    return g_strdup (".");
  while (len > 0 && path[len - 1] == '/')
    len--;
  if (len == 0)
    return g_strdup ("/");
  trimmed = g_strndup (path, len);
  slash = strrchr (trimmed, '/');
  return g_strdup (slash ? slash + 1 : trimmed);
}

/* Go's filepath.Dir */
static char *
go_dir (const char *path)
{
  const char *slash = strrchr (path, '/');
  g_autofree char *head = slash ? g_strndup (path, slash - path + 1) : g_strdup ("");

  return go_clean (head);
}

/* The name os.Stat() reports: the path without trailing slashes and directories; "/"
 * for the root. */
static char *
os_basename (const char *path)
{
  gssize i = (gssize) strlen (path) - 1;
  g_autofree char *name = g_strdup (path);

  for (; i > 0 && name[i] == '/'; i--)
    name[i] = '\0';
  for (i--; i >= 0; i--)
    if (name[i] == '/')
      return g_strdup (name + i + 1);
  return g_steal_pointer (&name);
}

/* Go's syscall.Errno texts are glibc's with a lower-case first letter. */
static char *
errno_text (int err)
{
  char *text = g_strdup (g_strerror (err));

  text[0] = g_ascii_tolower (text[0]);
  return text;
}

/* "<op> <path>: <errno text>", as Go's *PathError */
static char *
path_error (const char *op, const char *path, int err)
{
  g_autofree char *text = errno_text (err);

  return g_strdup_printf ("%s %s: %s", op, path, text);
}

/* A Shape A error; paths in messages are bytes, JSON wants UTF-8 (Go writes U+FFFD). */
static void
reply_error (MrTbCall *call, guint status, const char *message)
{
  g_autofree char *valid = g_utf8_make_valid (message, -1);

  mr_tb_reply_error (call, status, valid);
}

/* mr_tb_reply_json() serializes @node; this one also frees it. */
static void
reply_json_take (MrTbCall *call, guint status, JsonNode *node)
{
  mr_tb_reply_json (call, status, node);
  json_node_unref (node);
}

/* The usual mapping: missing 404, permission 403, anything else 400. */
static guint
errno_status (int err)
{
  if (err == ENOENT)
    return 404;
  if (err == EACCES || err == EPERM)
    return 403;
  return 400;
}

/* Go's strconv.ParseUint (s, 8, 32) */
static gboolean
parse_octal_mode (const char *s, guint32 *mode)
{
  guint64 value = 0;

  if (s == NULL || *s == '\0')
    return FALSE;
  for (const char *p = s; *p; p++)
    {
      if (*p < '0' || *p > '7')
        return FALSE;
      value = value * 8 + (guint64) (*p - '0');
      if (value > G_MAXUINT32)
        return FALSE;
    }
  *mode = (guint32) value;
  return TRUE;
}

/* Go's strconv.Atoi */
static gboolean
parse_int (const char *s, gint64 *out)
{
  const char *p = s;
  gboolean negative = FALSE;
  guint64 value = 0;

  if (*p == '+' || *p == '-')
    negative = *p++ == '-';
  if (*p == '\0')
    return FALSE;
  for (; *p; p++)
    {
      if (!g_ascii_isdigit (*p))
        return FALSE;
      /* checked before it is computed: 2^64 + 1 would wrap around to 1 */
      if (value > ((guint64) G_MAXINT64 - (guint64) (*p - '0')) / 10)
        return FALSE;
      value = value * 10 + (guint64) (*p - '0');
    }
  *out = negative ? -(gint64) value : (gint64) value;
  return TRUE;
}

/* JSON ------------------------------------------------------------------------------ */

/* File names and contents are bytes; JSON strings must be UTF-8 (Go writes U+FFFD). */
static void
set_string (JsonObject *o, const char *member, const char *value)
{
  g_autofree char *valid = NULL;

  if (!g_utf8_validate (value, -1, NULL))
    value = valid = g_utf8_make_valid (value, -1);
  json_object_set_string_member (o, member, value);
}

static void
set_string_take (JsonObject *o, const char *member, char *value)
{
  set_string (o, member, value);
  g_free (value);
}

static JsonNode *
string_node (const char *value)
{
  g_autofree char *valid = NULL;

  if (!g_utf8_validate (value, -1, NULL))
    value = valid = g_utf8_make_valid (value, -1);
  return json_node_init_string (json_node_alloc (), value);
}

/* The FileInfo object, in the daemon's field order plus [latest] modifiedAt. */
static JsonObject *
file_info_object (const char *name, const struct stat *st)
{
  JsonObject *o = json_object_new ();
  char buf[32];

  set_string (o, "name", name);
  json_object_set_int_member (o, "size", st->st_size);
  set_string_take (o, "mode", mr_tb_format_mode (st->st_mode));
  set_string_take (o, "modTime", mr_tb_format_go_time (st->st_mtim.tv_sec, st->st_mtim.tv_nsec));
  set_string_take (o, "modifiedAt", mr_tb_format_rfc3339 (st->st_mtim.tv_sec, st->st_mtim.tv_nsec));
  json_object_set_boolean_member (o, "isDir", S_ISDIR (st->st_mode));
  g_snprintf (buf, sizeof buf, "%u", (unsigned) st->st_uid);
  json_object_set_string_member (o, "owner", buf);
  g_snprintf (buf, sizeof buf, "%u", (unsigned) st->st_gid);
  json_object_set_string_member (o, "group", buf);
  g_snprintf (buf, sizeof buf, "%04o", (unsigned) (st->st_mode & 0777));
  json_object_set_string_member (o, "permissions", buf);
  return o;
}

static JsonNode *
object_node (JsonObject *o)
{
  JsonNode *node = json_node_init_object (json_node_alloc (), o);

  json_object_unref (o);
  return node;
}

static JsonNode *
array_node (JsonArray *a)
{
  JsonNode *node = json_node_init_array (json_node_alloc (), a);

  json_array_unref (a);
  return node;
}

/* Operations in a worker thread ------------------------------------------------------ */

typedef struct _Op Op;
typedef void (*OpFunc) (Op *op);

struct _Op {
  MrTbCall *call;             /* valid while msg is referenced */
  SoupServerMessage *msg;     /* a reference */
  char *work_dir;
  GHashTable *query;          /* a reference; never modified after decoding */
  GBytes *body;               /* a reference, or NULL */
  OpFunc func;
  gulong finished_id;
  gboolean finished;
  /* the reply, set by func */
  guint status;
  JsonNode *json;             /* body of a success */
  char *message;              /* Shape A message of an error */
};

static const char *
op_query (Op *op, const char *name)
{
  const char *value = g_hash_table_lookup (op->query, name);

  return value ? value : "";
}

static void
op_reply_error (Op *op, guint status, char *message)
{
  op->status = status;
  g_free (op->message);
  op->message = message;
}

static void
op_reply_errno (Op *op, int err, const char *syscall, const char *path)
{
  op_reply_error (op, errno_status (err), path_error (syscall, path, err));
}

static void
op_reply_json (Op *op, guint status, JsonNode *json)
{
  op->status = status;
  g_clear_pointer (&op->json, json_node_unref);
  op->json = json;
}

/* The task may drop its data in the worker thread: everything that touches the
 * message is released in op_done(), on the server thread, instead. */
static void
op_free (Op *op)
{
  g_free (op->work_dir);
  g_clear_pointer (&op->query, g_hash_table_unref);
  g_clear_pointer (&op->body, g_bytes_unref);
  g_clear_pointer (&op->json, json_node_unref);
  g_free (op->message);
  g_free (op);
}

static void
op_on_finished (SoupServerMessage *msg, Op *op)
{
  op->finished = TRUE;
}

static void
op_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Op *op = task_data;

  op->func (op);
  g_task_return_boolean (task, TRUE);
}

static void
op_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Op *op = g_task_get_task_data (G_TASK (result));
  g_autoptr(SoupServerMessage) msg = g_steal_pointer (&op->msg);

  if (g_signal_handler_is_connected (msg, op->finished_id))
    g_signal_handler_disconnect (msg, op->finished_id);
  if (op->finished)
    return;
  if (op->status >= 400)
    reply_error (op->call, op->status, op->message ? op->message : "");
  else if (op->json)
    mr_tb_reply_json (op->call, op->status, op->json);
  else
    mr_tb_reply_empty (op->call, op->status ? op->status : 200);
  soup_server_message_unpause (msg);
}

static void
run_op (MrTbCall *call, OpFunc func)
{
  Op *op = g_new0 (Op, 1);
  GTask *task;

  op->call = call;
  op->msg = g_object_ref (call->msg);
  op->work_dir = g_strdup (mr_toolbox_get_work_dir (call->toolbox));
  op->query = g_hash_table_ref (call->query);
  op->body = call->body ? g_bytes_ref (call->body) : NULL;
  op->func = func;
  op->finished_id = g_signal_connect (op->msg, "finished", G_CALLBACK (op_on_finished), op);
  soup_server_message_pause (call->msg);
  task = g_task_new (NULL, NULL, op_done, NULL);
  g_task_set_task_data (task, op, (GDestroyNotify) op_free);
  g_task_run_in_thread (task, op_thread);
  g_object_unref (task);
}

/* Directory walks ------------------------------------------------------------------- */

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char * const *) a, *(char * const *) b);
}

/* The entries of a directory, sorted by name (Go's os.ReadDir order). Returns NULL
 * with errno set on failure; @op_name tells which step failed ("open" or "readdirent"). */
static GPtrArray *
read_dir_names (const char *os_dir, const char **op_name)
{
  int fd = open (os_dir, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  DIR *dir;
  struct dirent *entry;
  GPtrArray *names;
  struct stat st;
  int saved;

  *op_name = "open";
  if (fd < 0)
    return NULL;
  *op_name = "readdirent";
  if (fstat (fd, &st) != 0 || !S_ISDIR (st.st_mode))
    {
      saved = errno;
      if (!S_ISDIR (st.st_mode))
        saved = ENOTDIR;
      close (fd);
      errno = saved;
      return NULL;
    }
  dir = fdopendir (fd);
  if (dir == NULL)
    {
      saved = errno;
      close (fd);
      errno = saved;
      return NULL;
    }
  names = g_ptr_array_new_with_free_func (g_free);
  errno = 0;
  while ((entry = readdir (dir)) != NULL)
    {
      if (strcmp (entry->d_name, ".") != 0 && strcmp (entry->d_name, "..") != 0)
        g_ptr_array_add (names, g_strdup (entry->d_name));
      errno = 0;
    }
  saved = errno;
  closedir (dir);
  if (saved != 0)
    {
      g_ptr_array_unref (names);
      errno = saved;
      return NULL;
    }
  g_ptr_array_sort (names, compare_names);
  return names;
}

/* Go's filepath.Walk: lstat semantics, names in order, the visitor sees a directory
 * before its entries. A directory that cannot be read, or an entry that cannot be
 * lstat'ed, is skipped: that is what the daemon's visitors do with errors. */
typedef void (*WalkFunc) (const char *path, const char *os_path, const struct stat *st, gpointer data);

static void
walk_tree (const char *path, const char *os_path_, const struct stat *st, WalkFunc func, gpointer data)
{
  g_autoptr(GPtrArray) names = NULL;
  const char *op_name;

  if (!S_ISDIR (st->st_mode))
    {
      func (path, os_path_, st, data);
      return;
    }
  names = read_dir_names (os_path_, &op_name);
  if (names == NULL)
    return;
  func (path, os_path_, st, data);
  for (guint i = 0; i < names->len; i++)
    {
      g_autofree char *child = go_join (path, names->pdata[i]);
      g_autofree char *os_child = g_build_filename (os_path_, names->pdata[i], NULL);
      struct stat child_st;

      if (lstat (os_child, &child_st) != 0)
        continue;
      walk_tree (child, os_child, &child_st, func, data);
    }
}

static void
walk (const char *work_dir, const char *root, WalkFunc func, gpointer data)
{
  g_autofree char *os_root = os_path (work_dir, root);
  struct stat st;

  if (lstat (os_root, &st) == 0)
    walk_tree (root, os_root, &st, func, data);
}

/* F1: GET /files/ (and /files) -------------------------------------------------------- */

/* Adds the FileInfo of each of @names (entries of @os_dir, listed as @path) to @entries.
 * With @depth_left > 1 (the newer daemon's `depth`), a directory's own entries follow it;
 * symlinked directories are listed but not entered, so a link loop cannot recurse. */
static void
list_entries (JsonArray *entries, const char *path, const char *os_dir, GPtrArray *names,
              gint64 depth_left, gboolean with_path)
{
  for (guint i = 0; i < names->len; i++)
    {
      const char *name = names->pdata[i];
      g_autofree char *os_entry = g_build_filename (os_dir, name, NULL);
      g_autofree char *entry_path = go_join (path, name);
      JsonObject *info;
      struct stat st, lst;

      /* stat follows symlinks; entries whose stat fails (broken links) are skipped */
      if (stat (os_entry, &st) != 0)
        continue;
      info = file_info_object (name, &st);
      if (with_path)
        set_string (info, "path", entry_path);
      json_array_add_object_element (entries, info);
      if (depth_left > 1 && S_ISDIR (st.st_mode) && lstat (os_entry, &lst) == 0 && S_ISDIR (lst.st_mode))
        {
          const char *op_name;
          g_autoptr(GPtrArray) children = read_dir_names (os_entry, &op_name);

          /* an unreadable subdirectory is listed without its entries */
          if (children != NULL)
            list_entries (entries, entry_path, os_entry, children, depth_left - 1, with_path);
        }
    }
}

static void
op_list (Op *op)
{
  const char *path = op_query (op, "path");
  const char *depth_text = op_query (op, "depth");
  g_autofree char *os_dir = NULL;
  g_autoptr(GPtrArray) names = NULL;
  const char *op_name;
  JsonArray *entries;
  gint64 depth = 1;

  /* `depth` (toolbox client 0.218): how many levels to list, each entry then carrying
   * its `path`; absent, the at-mock answer (no `path`, so its field set is unchanged) */
  if (*depth_text != '\0' && (!parse_int (depth_text, &depth) || depth < 1))
    {
      op_reply_error (op, 400, g_strdup ("depth must be an integer of at least 1"));
      return;
    }
  if (*path == '\0')
    path = ".";
  os_dir = os_path (op->work_dir, path);
  names = read_dir_names (os_dir, &op_name);
  if (names == NULL)
    {
      op_reply_errno (op, errno, op_name, path);
      return;
    }
  entries = json_array_new ();
  list_entries (entries, path, os_dir, names, depth, *depth_text != '\0');
  op_reply_json (op, 200, array_node (entries));
}

/* F2: GET /files/info ------------------------------------------------------------------ */

static void
op_info (Op *op)
{
  const char *path = op_query (op, "path");
  g_autofree char *os_file = NULL;
  g_autofree char *name = NULL;
  struct stat st;

  if (*path == '\0')
    {
      op_reply_error (op, 400, g_strdup ("path is required"));
      return;
    }
  os_file = os_path (op->work_dir, path);
  if (stat (os_file, &st) != 0)
    {
      op_reply_errno (op, errno, "stat", path);
      return;
    }
  name = os_basename (path);
  op_reply_json (op, 200, object_node (file_info_object (name, &st)));
}

/* F7: POST /files/folder ---------------------------------------------------------------- */

/* Go's os.MkdirAll on @path (as given; syscalls relative to @work_dir). On failure
 * returns FALSE with errno set and *failed_path the path Go's error would name. */
static gboolean
mkdir_all (const char *work_dir, const char *path, mode_t mode, char **failed_path)
{
  g_autofree char *os_dir = os_path (work_dir, path);
  struct stat st;
  gsize len = strlen (path);
  int saved;

  if (stat (os_dir, &st) == 0)
    {
      if (S_ISDIR (st.st_mode))
        return TRUE;
      *failed_path = g_strdup (path);
      errno = ENOTDIR;
      return FALSE;
    }
  /* the parent: strip trailing slashes, then the last element */
  while (len > 0 && path[len - 1] == '/')
    len--;
  while (len > 0 && path[len - 1] != '/')
    len--;
  if (len > 1)
    {
      g_autofree char *parent = g_strndup (path, len - 1);
      if (!mkdir_all (work_dir, parent, mode, failed_path))
        return FALSE;
    }
  if (mkdir (os_dir, mode) != 0)
    {
      saved = errno;
      if (stat (os_dir, &st) == 0 && S_ISDIR (st.st_mode))
        return TRUE;
      *failed_path = g_strdup (path);
      errno = saved;
      return FALSE;
    }
  return TRUE;
}

static void
op_folder (Op *op)
{
  const char *path = op_query (op, "path");
  const char *mode_text = op_query (op, "mode");
  guint32 mode = 0755;
  g_autofree char *failed = NULL;

  if (*path == '\0')
    {
      op_reply_error (op, 400, g_strdup ("path is required"));
      return;
    }
  if (*mode_text && !parse_octal_mode (mode_text, &mode))
    {
      op_reply_error (op, 400, g_strdup ("invalid mode format"));
      return;
    }
  /* Go's os.FileMode keeps only the permission bits of a raw octal number */
  if (!mkdir_all (op->work_dir, path, mode & 0777, &failed))
    {
      op_reply_errno (op, errno, "mkdir", failed);
      return;
    }
  op->status = 201;
}

/* F8: DELETE /files/ (and /files) ------------------------------------------------------ */

/* Go's os.RemoveAll below an open directory; errors name the entry's path. */
static gboolean
remove_all_at (int parent_fd, const char *name, const char *path, char **failed_path)
{
  int fd, unlink_err, saved;
  DIR *dir;
  struct dirent *entry;
  gboolean ok = TRUE;

  if (unlinkat (parent_fd, name, 0) == 0 || errno == ENOENT)
    return TRUE;
  unlink_err = errno;
  fd = openat (parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    {
      /* not a directory after all: the unlink failure is the one to report */
      if (errno == ENOTDIR || errno == ELOOP)
        errno = unlink_err;
      goto fail;
    }
  dir = fdopendir (fd);
  if (dir == NULL)
    {
      saved = errno;
      close (fd);
      errno = saved;
      goto fail;
    }
  while (ok && (entry = readdir (dir)) != NULL)
    {
      g_autofree char *child = NULL;
      if (strcmp (entry->d_name, ".") == 0 || strcmp (entry->d_name, "..") == 0)
        continue;
      child = g_strconcat (path, "/", entry->d_name, NULL);
      ok = remove_all_at (dirfd (dir), entry->d_name, child, failed_path);
    }
  saved = errno;
  closedir (dir);
  errno = saved;
  if (!ok)
    return FALSE;
  if (unlinkat (parent_fd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
    return TRUE;

fail:
  saved = errno;
  *failed_path = g_strdup (path);
  errno = saved;
  return FALSE;
}

/* @os_target must be absolute and clean. The root itself is refused: the daemon runs in
 * a throwaway container, this one on a developer's machine. */
static gboolean
remove_all (const char *os_target, const char *path, char **failed_path)
{
  g_autofree char *os_parent = go_dir (os_target);
  g_autofree char *name = go_base (os_target);
  int fd, saved;
  gboolean ok;

  if (strcmp (os_target, "/") == 0)
    {
      *failed_path = g_strdup (path);
      errno = EBUSY;
      return FALSE;
    }
  fd = open (os_parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    {
      saved = errno;
      *failed_path = g_strdup (path);
      errno = saved;
      return FALSE;
    }
  ok = remove_all_at (fd, name, path, failed_path);
  saved = errno;
  close (fd);
  errno = saved;
  return ok;
}

static gboolean
ends_with_dot (const char *path)
{
  gsize len = strlen (path);

  return (len >= 1 && strcmp (path + len - 1, ".") == 0 && (len == 1 || path[len - 2] == '/')) ||
         (len >= 2 && strcmp (path + len - 2, "..") == 0 && (len == 2 || path[len - 3] == '/'));
}

static void
op_delete (Op *op)
{
  const char *path = op_query (op, "path");
  gboolean recursive = strcmp (op_query (op, "recursive"), "true") == 0;
  g_autofree char *os_target = NULL;
  g_autofree char *failed = NULL;
  struct stat st;

  if (*path == '\0')
    {
      op_reply_error (op, 400, g_strdup ("path is required"));
      return;
    }
  os_target = os_path (op->work_dir, path);
  if (stat (os_target, &st) != 0)
    {
      op_reply_errno (op, errno, "stat", path);
      return;
    }
  if (S_ISDIR (st.st_mode) && !recursive)
    {
      op_reply_error (op, 400, g_strdup ("cannot delete directory without recursive flag"));
      return;
    }
  if (!recursive)
    {
      if (unlink (os_target) != 0)
        op_reply_errno (op, errno, "remove", path);
      else
        op->status = 204;
      return;
    }
  if (ends_with_dot (path))
    {
      op_reply_error (op, 400, path_error ("RemoveAll", path, EINVAL));
      return;
    }
  {
    g_autofree char *clean_target = go_clean (os_target);
    if (!remove_all (clean_target, path, &failed))
      {
        op_reply_errno (op, errno, "unlinkat", failed);
        return;
      }
  }
  op->status = 204;
}

/* F9: POST /files/move -------------------------------------------------------------- */

typedef struct {
  char *error;        /* the first failure, Go's text */
} CopyState;

static gboolean
copy_file_contents (const char *src, const char *dst, mode_t mode, CopyState *cs)
{
  int in = open (src, O_RDONLY | O_CLOEXEC);
  int out;
  char *buf;
  gssize n = 0;

  if (in < 0)
    {
      cs->error = path_error ("open", src, errno);
      return FALSE;
    }
  out = open (dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode & 0777);
  if (out < 0)
    {
      cs->error = path_error ("open", dst, errno);
      close (in);
      return FALSE;
    }
  buf = g_malloc (CHUNK_SIZE);
  while ((n = read (in, buf, CHUNK_SIZE)) > 0)
    {
      gssize off = 0;
      while (off < n)
        {
          gssize w = write (out, buf + off, n - off);
          if (w < 0 && errno == EINTR)
            continue;
          if (w < 0)
            {
              cs->error = path_error ("write", dst, errno);
              goto done;
            }
          off += w;
        }
    }
  if (n < 0)
    cs->error = path_error ("read", src, errno);
done:
  g_free (buf);
  close (in);
  close (out);
  return cs->error == NULL;
}

/* The daemon's recursive copy: directories with their modes (mkdir -p), regular files
 * with theirs. Special files are skipped (opening a FIFO would block forever). */
static gboolean
copy_tree (const char *src, const char *dst, CopyState *cs)
{
  struct stat st;

  if (lstat (src, &st) != 0)
    {
      cs->error = path_error ("lstat", src, errno);
      return FALSE;
    }
  if (S_ISDIR (st.st_mode))
    {
      g_autoptr(GPtrArray) names = NULL;
      const char *op_name;
      g_autofree char *failed = NULL;

      if (!mkdir_all ("/", dst, st.st_mode & 0777, &failed))
        {
          cs->error = path_error ("mkdir", failed, errno);
          return FALSE;
        }
      names = read_dir_names (src, &op_name);
      if (names == NULL)
        {
          cs->error = path_error (op_name, src, errno);
          return FALSE;
        }
      for (guint i = 0; i < names->len; i++)
        {
          g_autofree char *s = g_build_filename (src, names->pdata[i], NULL);
          g_autofree char *d = g_build_filename (dst, names->pdata[i], NULL);
          if (!copy_tree (s, d, cs))
            return FALSE;
        }
      return TRUE;
    }
  if (S_ISLNK (st.st_mode))
    {
      /* a link is moved as a link (the daemon would copy what it points to) */
      g_autofree char *target = g_file_read_link (src, NULL);
      if (target == NULL || symlink (target, dst) != 0)
        {
          cs->error = path_error ("symlink", dst, errno);
          return FALSE;
        }
      return TRUE;
    }
  if (S_ISREG (st.st_mode))
    return copy_file_contents (src, dst, st.st_mode, cs);
  return TRUE;
}

static gboolean
is_inside (const char *dir, const char *path)
{
  gsize len = strlen (dir);

  return strncmp (dir, path, len) == 0 && (path[len] == '/' || (len == 1 && dir[0] == '/'));
}

static void
op_move (Op *op)
{
  const char *source = op_query (op, "source");
  const char *destination = op_query (op, "destination");
  g_autofree char *abs_source = NULL;
  g_autofree char *abs_destination = NULL;
  g_autofree char *destination_dir = NULL;
  g_autofree char *failed = NULL;
  CopyState cs = { NULL };
  struct stat st;
  int err;

  if (*source == '\0' || *destination == '\0')
    {
      op_reply_error (op, 400, g_strdup ("source and destination paths are required"));
      return;
    }
  abs_source = go_abs (op->work_dir, source);
  abs_destination = go_abs (op->work_dir, destination);
  if (stat (abs_source, &st) != 0)
    {
      op_reply_errno (op, errno, "stat", abs_source);
      return;
    }
  destination_dir = go_dir (abs_destination);
  if (stat (destination_dir, &st) != 0)
    {
      op_reply_errno (op, errno, "stat", destination_dir);
      return;
    }
  if (lstat (abs_destination, &st) == 0)
    {
      op_reply_error (op, 409, g_strdup ("destination already exists"));
      return;
    }
  if (rename (abs_source, abs_destination) == 0)
    {
      op->status = 200;
      return;
    }
  err = errno;
  /* A rename across devices (EXDEV) falls back to copy and delete, as the daemon does
   * for every rename failure; a directory moved into itself would copy forever, so
   * that one reports the rename error instead. */
  if (is_inside (abs_source, abs_destination))
    {
      g_autofree char *text = errno_text (err);
      op_reply_error (op, 400, g_strdup_printf ("failed to move file: rename %s %s: %s",
                                                abs_source, abs_destination, text));
      return;
    }
  if (!copy_tree (abs_source, abs_destination, &cs))
    {
      op_reply_error (op, 400, g_strdup_printf ("failed to move file: %s", cs.error));
      g_free (cs.error);
      return;
    }
  if (!remove_all (abs_source, abs_source, &failed))
    {
      JsonObject *o = json_object_new ();
      g_autofree char *reason = path_error ("unlinkat", failed, errno);
      g_autofree char *text = g_strdup_printf ("failed to delete source: %s", reason);

      json_object_set_string_member (o, "message", "file copied successfully but source could not be deleted");
      set_string (o, "error", text);
      op_reply_json (op, 200, object_node (o));
      return;
    }
  op->status = 200;
}

/* F10: POST /files/permissions ---------------------------------------------------------- */

static gboolean
lookup_user (const char *name, gint64 *uid)
{
  struct passwd pw, *result = NULL;
  char buf[4096];

  if (getpwnam_r (name, &pw, buf, sizeof buf, &result) != 0 || result == NULL)
    return FALSE;
  *uid = result->pw_uid;
  return TRUE;
}

static gboolean
lookup_group (const char *name, gint64 *gid)
{
  struct group gr, *result = NULL;
  char buf[16384];

  if (getgrnam_r (name, &gr, buf, sizeof buf, &result) != 0 || result == NULL)
    return FALSE;
  *gid = result->gr_gid;
  return TRUE;
}

static void
op_permissions (Op *op)
{
  const char *path = op_query (op, "path");
  const char *mode_text = op_query (op, "mode");
  const char *owner = op_query (op, "owner");
  const char *group = op_query (op, "group");
  g_autofree char *abs = NULL;
  gint64 uid = -1, gid = -1;
  guint32 mode;
  struct stat st;

  if (*path == '\0')
    {
      op_reply_error (op, 400, g_strdup ("path is required"));
      return;
    }
  abs = go_abs (op->work_dir, path);
  if (stat (abs, &st) != 0)
    {
      op_reply_errno (op, errno, "stat", abs);
      return;
    }
  if (*mode_text)
    {
      g_autofree char *reason = NULL;
      if (!parse_octal_mode (mode_text, &mode))
        {
          op_reply_error (op, 400, g_strdup ("invalid mode format"));
          return;
        }
      /* Go's os.FileMode(n) drops the raw setuid, setgid and sticky bits */
      if (chmod (abs, mode & 0777) != 0)
        {
          reason = path_error ("chmod", abs, errno);
          op_reply_error (op, 400, g_strdup_printf ("failed to change mode: %s", reason));
          return;
        }
    }
  if (*owner == '\0' && *group == '\0')
    {
      op->status = 200;
      return;
    }
  if (*owner && !parse_int (owner, &uid) && !lookup_user (owner, &uid))
    {
      op_reply_error (op, 400, g_strdup ("user not found"));
      return;
    }
  if (*group && !parse_int (group, &gid) && !lookup_group (group, &gid))
    {
      op_reply_error (op, 400, g_strdup ("group not found"));
      return;
    }
  if (chown (abs, (uid_t) uid, (gid_t) gid) != 0)
    {
      g_autofree char *reason = path_error ("chown", abs, errno);
      op_reply_error (op, 400, g_strdup_printf ("failed to change ownership: %s", reason));
      return;
    }
  op->status = 200;
}

/* F11: GET /files/find ----------------------------------------------------------------- */

typedef struct {
  const char *pattern;
  JsonArray *matches;
} FindState;

static void
add_match (FindState *fs, const char *path, guint line, const char *content, gsize len)
{
  JsonObject *o = json_object_new ();
  g_autofree char *text = g_strndup (content, len);

  set_string (o, "file", path);
  json_object_set_int_member (o, "line", line);
  set_string (o, "content", text);
  json_array_add_object_element (fs->matches, o);
}

static void
find_line (FindState *fs, const char *path, guint number, GByteArray *line)
{
  gsize len = line->len;

  if (len > 0 && line->data[len - 1] == '\r')
    len--;
  if (memmem (line->data, len, fs->pattern, strlen (fs->pattern)))
    add_match (fs, path, number, (const char *) line->data, len);
  g_byte_array_set_size (line, 0);
}

/* Go's bufio.Scanner over the file: lines split on "\n" with a trailing "\r" removed;
 * a line of 64 KiB or more stops the scan of that file. */
static void
find_in_file (const char *path, const char *os_file, const struct stat *st, gpointer data)
{
  FindState *fs = data;
  g_autoptr(GByteArray) line = NULL;
  g_autofree char *buf = NULL;
  gboolean first = TRUE, stop = FALSE;
  guint number = 0;
  gssize n;
  int fd;

  if (!S_ISREG (st->st_mode))
    return;
  fd = open (os_file, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  buf = g_malloc (CHUNK_SIZE);
  line = g_byte_array_new ();
  while (!stop && (n = read (fd, buf, CHUNK_SIZE)) > 0)
    {
      const char *p = buf, *end = buf + n;

      /* binary files (a NUL in the first 512 bytes) are skipped */
      if (first && memchr (buf, '\0', MIN (n, 512)))
        break;
      first = FALSE;
      while (p < end)
        {
          const char *nl = memchr (p, '\n', end - p);
          gsize take = (nl ? nl : end) - p;

          if (line->len + take >= SCAN_LINE_MAX)
            {
              stop = TRUE;
              break;
            }
          g_byte_array_append (line, (const guint8 *) p, take);
          if (nl == NULL)
            break;
          p = nl + 1;
          find_line (fs, path, ++number, line);
        }
    }
  if (!stop && line->len > 0)
    find_line (fs, path, ++number, line);
  close (fd);
}

static void
op_find (Op *op)
{
  const char *path = op_query (op, "path");
  const char *pattern = op_query (op, "pattern");
  FindState fs;

  if (*path == '\0' || *pattern == '\0')
    {
      op_reply_error (op, 400, g_strdup ("path and pattern are required"));
      return;
    }
  fs.pattern = pattern;
  fs.matches = json_array_new ();
  walk (op->work_dir, path, find_in_file, &fs);
  op_reply_json (op, 200, array_node (fs.matches));
}

/* F12: GET /files/search --------------------------------------------------------------- */

/* Go's path.Match, one character class or literal at a time. Returns the rest of @s
 * after matching @chunk's elements, or NULL; *bad is set for a malformed pattern. */
static gunichar
next_rune (const char **s)
{
  gunichar c = g_utf8_get_char_validated (*s, -1);

  if (c == (gunichar) -1 || c == (gunichar) -2)
    {
      (*s)++;
      return 0xFFFD;
    }
  *s = g_utf8_next_char (*s);
  return c;
}

static gboolean
get_escaped (const char **chunk, const char *end, gunichar *r)
{
  if (*chunk >= end || **chunk == '-' || **chunk == ']')
    return FALSE;
  if (**chunk == '\\')
    {
      (*chunk)++;
      if (*chunk >= end)
        return FALSE;
    }
  *r = next_rune (chunk);
  return *chunk <= end;
}

static const char *
match_chunk (const char *chunk, const char *end, const char *s, gboolean *bad)
{
  gboolean failed = FALSE;

  while (chunk < end)
    {
      if (!failed && *s == '\0')
        failed = TRUE;
      switch (*chunk)
        {
        case '[':
          {
            gunichar r = 0, lo, hi;
            gboolean negated, match = FALSE;
            int n = 0;

            if (!failed)
              r = next_rune (&s);
            chunk++;
            negated = chunk < end && *chunk == '^';
            if (negated)
              chunk++;
            for (;;)
              {
                if (chunk < end && *chunk == ']' && n > 0)
                  {
                    chunk++;
                    break;
                  }
                if (!get_escaped (&chunk, end, &lo))
                  {
                    *bad = TRUE;
                    return NULL;
                  }
                hi = lo;
                if (chunk < end && *chunk == '-')
                  {
                    chunk++;
                    if (!get_escaped (&chunk, end, &hi))
                      {
                        *bad = TRUE;
                        return NULL;
                      }
                  }
                if (lo <= r && r <= hi)
                  match = TRUE;
                n++;
              }
            if (match == negated)
              failed = TRUE;
            break;
          }
        case '?':
          if (!failed)
            {
              if (*s == '/')
                failed = TRUE;
              next_rune (&s);
            }
          chunk++;
          break;
        case '\\':
          chunk++;
          if (chunk >= end)
            {
              *bad = TRUE;
              return NULL;
            }
          G_GNUC_FALLTHROUGH;
        default:
          if (!failed)
            {
              if (*chunk != *s)
                failed = TRUE;
              s++;
            }
          chunk++;
          break;
        }
    }
  return failed ? NULL : s;
}

/* Splits off the leading run of '*' and the chunk up to the next unescaped '*' outside
 * brackets. */
static const char *
scan_chunk (const char *pattern, gboolean *star, const char **chunk_end)
{
  gboolean in_range = FALSE;
  const char *p;

  *star = FALSE;
  while (*pattern == '*')
    {
      pattern++;
      *star = TRUE;
    }
  for (p = pattern; *p; p++)
    {
      if (*p == '\\')
        {
          if (p[1])
            p++;
        }
      else if (*p == '[')
        in_range = TRUE;
      else if (*p == ']')
        in_range = FALSE;
      else if (*p == '*' && !in_range)
        break;
    }
  *chunk_end = p;
  return pattern;
}

static gboolean
go_match (const char *pattern, const char *name)
{
  gboolean bad = FALSE;

  while (*pattern)
    {
      gboolean star;
      const char *chunk_end;
      const char *chunk = scan_chunk (pattern, &star, &chunk_end);
      const char *t;

      pattern = chunk_end;
      if (star && chunk == chunk_end)
        return strchr (name, '/') == NULL;
      t = match_chunk (chunk, chunk_end, name, &bad);
      if (bad)
        return FALSE;
      if (t && (*t == '\0' || *pattern))
        {
          name = t;
          continue;
        }
      if (star)
        {
          gboolean found = FALSE;
          for (const char *i = name; *i && *i != '/'; i++)
            {
              t = match_chunk (chunk, chunk_end, i + 1, &bad);
              if (bad)
                return FALSE;
              if (t)
                {
                  if (*pattern == '\0' && *t != '\0')
                    continue;
                  name = t;
                  found = TRUE;
                  break;
                }
            }
          if (found)
            continue;
        }
      return FALSE;
    }
  return *name == '\0';
}

typedef struct {
  const char *pattern;
  JsonArray *files;
} SearchState;

static void
search_visit (const char *path, const char *os_file, const struct stat *st, gpointer data)
{
  SearchState *ss = data;
  g_autofree char *name = os_basename (path);

  if (go_match (ss->pattern, name))
    json_array_add_element (ss->files, string_node (path));
}

static void
op_search (Op *op)
{
  const char *path = op_query (op, "path");
  const char *pattern = op_query (op, "pattern");
  SearchState ss;
  JsonObject *o;

  if (*path == '\0' || *pattern == '\0')
    {
      op_reply_error (op, 400, g_strdup ("path and pattern are required"));
      return;
    }
  ss.pattern = pattern;
  ss.files = json_array_new ();
  walk (op->work_dir, path, search_visit, &ss);
  o = json_object_new ();
  json_object_set_array_member (o, "files", ss.files);
  op_reply_json (op, 200, object_node (o));
}

/* F13: POST /files/replace ------------------------------------------------------------- */

/* The daemon's ReplaceRequest; newValue is a *string: "" passes "required", null fails */
static const MrDtoField replace_fields[] = {
  { "files", "Files", MR_DTO_STRING_ARRAY, MR_DTO_REQUIRED, 0, NULL },
  { "pattern", "Pattern", MR_DTO_STRING, MR_DTO_REQUIRED, 0, NULL },
  { "newValue", "NewValue", MR_DTO_ANY, MR_DTO_REQUIRED, 0, NULL },
  { NULL, NULL, 0, 0, 0, NULL }
};
static const MrDtoSchema replace_request = { "ReplaceRequest", replace_fields };

/* os.ReadFile */
static char *
read_whole_file (const char *os_file, const char *file, GByteArray *content)
{
  int fd = open (os_file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  char *buf;
  struct stat st;
  gssize n;
  int err;

  if (fd < 0)
    return path_error ("open", file, errno);
  /* only regular files: a FIFO or a device could block the worker for good */
  if (fstat (fd, &st) != 0)
    st.st_mode = 0;
  if (!S_ISREG (st.st_mode))
    {
      err = S_ISDIR (st.st_mode) ? EISDIR : EINVAL;
      close (fd);
      return path_error ("read", file, err);
    }
  buf = g_malloc (CHUNK_SIZE);
  while ((n = read (fd, buf, CHUNK_SIZE)) != 0)
    {
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          err = errno;
          g_free (buf);
          close (fd);
          return path_error ("read", file, err);
        }
      g_byte_array_append (content, (guint8 *) buf, n);
    }
  g_free (buf);
  close (fd);
  return NULL;
}

static char *
replace_in_file (const char *os_file, const char *file, const char *pattern, const char *value)
{
  g_autoptr(GByteArray) content = g_byte_array_new ();
  g_autoptr(GString) out = NULL;
  gsize plen = strlen (pattern);
  const char *data, *p, *hit;
  char *failure;
  gsize len, off = 0;
  int fd;

  if ((failure = read_whole_file (os_file, file, content)) != NULL)
    return failure;
  data = (const char *) content->data;
  len = content->len;
  out = g_string_sized_new (len);
  for (p = data; (hit = memmem (p, len - (p - data), pattern, plen)) != NULL; p = hit + plen)
    {
      g_string_append_len (out, p, hit - p);
      g_string_append (out, value);
    }
  g_string_append_len (out, p, len - (p - data));
  /* os.WriteFile: create with 0644 or truncate keeping the mode */
  fd = open (os_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return path_error ("open", file, errno);
  while (off < out->len)
    {
      gssize w = write (fd, out->str + off, out->len - off);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        {
          int err = errno;
          close (fd);
          return path_error ("write", file, err);
        }
      off += w;
    }
  if (close (fd) != 0)
    return path_error ("close", file, errno);
  return NULL;
}

static void
op_replace (Op *op)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) body = mr_dto_bind (&replace_request, op->body, TRUE, &error);
  JsonNode *value;
  JsonArray *files, *results;
  const char *pattern;

  if (body == NULL)
    {
      op_reply_error (op, 400, g_strdup_printf ("invalid request body: %s", error->message));
      return;
    }
  value = json_object_get_member (body, "newValue");
  if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING)
    {
      op_reply_error (op, 400, g_strdup_printf ("invalid request body: json: cannot unmarshal %s into Go struct field ReplaceRequest.newValue of type string",
                                                JSON_NODE_HOLDS_OBJECT (value) ? "object" :
                                                JSON_NODE_HOLDS_ARRAY (value) ? "array" :
                                                json_node_get_value_type (value) == G_TYPE_BOOLEAN ? "bool" : "number"));
      return;
    }
  files = json_object_get_array_member (body, "files");
  pattern = json_object_get_string_member (body, "pattern");
  results = json_array_new ();
  for (guint i = 0; i < json_array_get_length (files); i++)
    {
      const char *file = json_array_get_string_element (files, i);
      g_autofree char *os_file = os_path (op->work_dir, file ? file : "");
      g_autofree char *failure = replace_in_file (os_file, file ? file : "", pattern, json_node_get_string (value));
      JsonObject *o = json_object_new ();

      set_string (o, "file", file ? file : "");
      json_object_set_boolean_member (o, "success", failure == NULL);
      if (failure)
        set_string (o, "error", failure);
      json_array_add_object_element (results, o);
    }
  op_reply_json (op, 200, array_node (results));
}

/* Handlers of the plain operations */
static void handle_list (MrTbCall *call) { run_op (call, op_list); }
static void handle_info (MrTbCall *call) { run_op (call, op_info); }
static void handle_folder (MrTbCall *call) { run_op (call, op_folder); }
static void handle_delete (MrTbCall *call) { run_op (call, op_delete); }
static void handle_move (MrTbCall *call) { run_op (call, op_move); }
static void handle_permissions (MrTbCall *call) { run_op (call, op_permissions); }
static void handle_find (MrTbCall *call) { run_op (call, op_find); }
static void handle_search (MrTbCall *call) { run_op (call, op_search); }
static void handle_replace (MrTbCall *call) { run_op (call, op_replace); }

/* Streamed responses ---------------------------------------------------------------- */

/* A response body produced from disk as the client takes it: every "wrote-chunk"
 * appends the next chunk (a literal, or up to CHUNK_SIZE bytes of the current file
 * segment), so at most about one chunk is held in memory. When the current segment is
 * used up, next() sets up the following one or says the body is complete. */
typedef struct _Stream Stream;
typedef gboolean (*StreamNext) (Stream *stream, gpointer data);

struct _Stream {
  SoupServerMessage *msg;
  gulong wrote_id;
  gulong finished_id;
  gboolean done;              /* the body is complete, or the client is gone */
  gboolean pad;               /* a Content-Length was promised: pad a file that shrank */
  gboolean appended;
  int fd;                     /* the file of the current segment, or -1 */
  goffset offset;
  goffset remaining;
  StreamNext next;
  gpointer data;
  GDestroyNotify destroy;
};

static void
stream_append (Stream *s, GBytes *bytes)
{
  soup_message_body_append_bytes (soup_server_message_get_response_body (s->msg), bytes);
  g_bytes_unref (bytes);
  s->appended = TRUE;
}

static void
stream_append_text (Stream *s, char *text)
{
  stream_append (s, g_bytes_new_take (text, strlen (text)));
}

/* The next @length bytes come from @fd at @offset; the stream owns @fd from now on. */
static void
stream_set_segment (Stream *s, int fd, goffset offset, goffset length)
{
  if (s->fd >= 0 && s->fd != fd)
    close (s->fd);
  s->fd = fd;
  s->offset = offset;
  s->remaining = length;
}

static void
stream_release (Stream *s)
{
  s->done = TRUE;
  if (s->fd >= 0)
    close (s->fd);
  s->fd = -1;
  s->remaining = 0;
  if (s->wrote_id && g_signal_handler_is_connected (s->msg, s->wrote_id))
    g_signal_handler_disconnect (s->msg, s->wrote_id);
  s->wrote_id = 0;
  if (s->destroy)
    s->destroy (s->data);
  s->destroy = NULL;
  s->data = NULL;
}

/* "finished" stays connected until here: it is what frees the stream */
static void
stream_free (Stream *s)
{
  stream_release (s);
  if (s->finished_id && g_signal_handler_is_connected (s->msg, s->finished_id))
    g_signal_handler_disconnect (s->msg, s->finished_id);
  g_free (s);
}

static void
stream_fill (Stream *s)
{
  s->appended = FALSE;
  while (!s->appended && !s->done)
    {
      if (s->remaining > 0)
        {
          gsize want = (gsize) MIN ((goffset) CHUNK_SIZE, s->remaining);
          char *buf = g_malloc (want);
          gssize n;

          do
            n = pread (s->fd, buf, want, s->offset);
          while (n < 0 && errno == EINTR);
          if (n <= 0)
            {
              if (!s->pad)
                {
                  /* the file shrank or failed: end the segment where it ends */
                  g_free (buf);
                  s->remaining = 0;
                  continue;
                }
              /* a Content-Length was promised: keep the framing intact */
              memset (buf, 0, want);
              n = want;
            }
          s->offset += n;
          s->remaining -= n;
          stream_append (s, g_bytes_new_take (buf, n));
          continue;
        }
      if (!s->next (s, s->data))
        {
          soup_message_body_complete (soup_server_message_get_response_body (s->msg));
          stream_release (s);
        }
    }
}

static void
stream_on_wrote_chunk (SoupServerMessage *msg, Stream *s)
{
  if (!s->done)
    stream_fill (s);
}

static void
stream_on_finished (SoupServerMessage *msg, Stream *s)
{
  /* complete, or the client went away: close the file and free the state now rather
   * than when the message goes (something may keep the message alive) */
  g_object_set_data (G_OBJECT (msg), "mr-files-stream", NULL);
}

/* Starts streaming the response body of @call: status and headers must be set. */
static void
stream_start (MrTbCall *call, gboolean pad, StreamNext next, gpointer data, GDestroyNotify destroy)
{
  Stream *s = g_new0 (Stream, 1);

  s->msg = call->msg;
  s->fd = -1;
  s->pad = pad;
  s->next = next;
  s->data = data;
  s->destroy = destroy;
  soup_message_body_set_accumulate (soup_server_message_get_response_body (call->msg), FALSE);
  g_object_set_data_full (G_OBJECT (call->msg), "mr-files-stream", s, (GDestroyNotify) stream_free);
  s->wrote_id = g_signal_connect (call->msg, "wrote-chunk", G_CALLBACK (stream_on_wrote_chunk), s);
  s->finished_id = g_signal_connect (call->msg, "finished", G_CALLBACK (stream_on_finished), s);
  stream_fill (s);
}

/* F3: GET /files/download ------------------------------------------------------------ */

typedef struct {
  goffset start;
  goffset length;
  char *header;               /* the part header of a multipart/byteranges body */
} Range;

typedef struct {
  int fd;                     /* handed to the stream with the first segment */
  GArray *ranges;
  guint index;
  char *boundary;             /* multipart/byteranges, or NULL */
  gboolean closed;
} Download;

static void
range_clear (Range *r)
{
  g_free (r->header);
}

static void
download_free (Download *d)
{
  g_array_unref (d->ranges);
  g_free (d->boundary);
  g_free (d);
}

static gboolean
download_next (Stream *s, gpointer data)
{
  Download *d = data;

  if (d->index < d->ranges->len)
    {
      Range *r = &g_array_index (d->ranges, Range, d->index++);
      if (r->header)
        stream_append_text (s, g_strdup (r->header));
      stream_set_segment (s, d->fd, r->start, r->length);
      return TRUE;
    }
  if (d->boundary && !d->closed)
    {
      d->closed = TRUE;
      stream_append_text (s, g_strdup_printf ("\r\n--%s--\r\n", d->boundary));
      return TRUE;
    }
  return FALSE;
}

/* Go's net/http parseRange. Returns FALSE for a syntax error; *no_overlap tells that
 * every range started past the end. */
static gboolean
parse_ranges (const char *header, goffset size, GArray *ranges, gboolean *no_overlap)
{
  g_auto(GStrv) specs = NULL;

  *no_overlap = FALSE;
  if (!g_str_has_prefix (header, "bytes="))
    return FALSE;
  specs = g_strsplit (header + strlen ("bytes="), ",", -1);
  for (char **spec = specs; *spec; spec++)
    {
      char *ra = g_strstrip (*spec);
      char *dash, *start_text, *end_text;
      gint64 start, end;
      Range r = { 0 };

      if (*ra == '\0')
        continue;
      dash = strchr (ra, '-');
      if (dash == NULL)
        return FALSE;
      *dash = '\0';
      start_text = g_strstrip (ra);
      end_text = g_strstrip (dash + 1);
      if (*start_text == '\0')
        {
          /* a suffix: the last N bytes */
          if (*end_text == '\0' || *end_text == '-' || !parse_int (end_text, &end) || end < 0)
            return FALSE;
          if (end > size)
            end = size;
          r.start = size - end;
          r.length = size - r.start;
        }
      else
        {
          if (!parse_int (start_text, &start) || start < 0 || *start_text == '+')
            return FALSE;
          if (start >= size)
            {
              *no_overlap = TRUE;
              continue;
            }
          r.start = start;
          if (*end_text == '\0')
            r.length = size - r.start;
          else
            {
              if (!parse_int (end_text, &end) || *end_text == '+' || *end_text == '-' || start > end)
                return FALSE;
              if (end >= size)
                end = size - 1;
              r.length = end - r.start + 1;
            }
        }
      if (r.length == 0)
        {
          *no_overlap = TRUE;
          continue;
        }
      g_array_append_val (ranges, r);
    }
  if (*no_overlap && ranges->len == 0)
    return FALSE;
  *no_overlap = FALSE;
  return TRUE;
}

static GDateTime *
header_time (SoupMessageHeaders *h, const char *name)
{
  const char *value = soup_message_headers_get_one (h, name);

  return value ? soup_date_time_new_from_http_string (value) : NULL;
}

static char *
random_boundary (MrToolbox *toolbox)
{
  return mr_tb_random_hex (toolbox, 30);
}

/* Content-Disposition of a download: unquoted as the daemon writes it when the name is
 * a plain token, else quoted with an RFC 5987 copy ([latest]). */
static char *
attachment_disposition (const char *name)
{
  gboolean plain = *name != '\0';
  GString *out;

  for (const char *p = name; *p && plain; p++)
    plain = g_ascii_isalnum (*p) || strchr ("!#$%&'*+-.^_`|~", *p);
  if (plain)
    return g_strdup_printf ("attachment; filename=%s", name);
  out = g_string_new ("attachment; filename=\"");
  for (const guchar *p = (const guchar *) name; *p; p++)
    {
      if (*p == '"' || *p == '\\')
        g_string_append_c (out, '\\');
      if (*p < 0x20 || *p == 0x7f)
        g_string_append_c (out, '_');
      else
        g_string_append_c (out, *p);
    }
  g_string_append (out, "\"; filename*=utf-8''");
  for (const guchar *p = (const guchar *) name; *p; p++)
    {
      if (g_ascii_isalnum (*p) || strchr ("!#$&+-.^_`|~", *p))
        g_string_append_c (out, *p);
      else
        g_string_append_printf (out, "%%%02X", *p);
    }
  return g_string_free (out, FALSE);
}

static void
reply_text (MrTbCall *call, guint status, const char *text)
{
  soup_server_message_set_status (call->msg, status, NULL);
  soup_message_headers_replace (soup_server_message_get_response_headers (call->msg),
                                "X-Content-Type-Options", "nosniff");
  soup_server_message_set_response (call->msg, "text/plain; charset=utf-8", SOUP_MEMORY_COPY, text, strlen (text));
}

static void
handle_download (MrTbCall *call)
{
  const char *path = mr_tb_query (call, "path");
  SoupMessageHeaders *req = soup_server_message_get_request_headers (call->msg);
  SoupMessageHeaders *resp = soup_server_message_get_response_headers (call->msg);
  g_autofree char *abs = NULL;
  g_autofree char *name = NULL;
  g_autofree char *disposition = NULL;
  g_autofree char *last_modified = NULL;
  g_autoptr(GDateTime) mtime = NULL;
  g_autoptr(GDateTime) since = NULL;
  g_autoptr(GArray) ranges = NULL;
  const char *range_header;
  gboolean no_overlap = FALSE;
  goffset total = 0;
  Download *d;
  struct stat st;
  int fd;

  if (path == NULL || *path == '\0')
    {
      reply_error (call, 400, "path is required");
      return;
    }
  abs = go_abs (mr_toolbox_get_work_dir (call->toolbox), path);
  if (stat (abs, &st) != 0)
    {
      int err = errno;
      g_autofree char *message = path_error ("stat", abs, err);
      reply_error (call, errno_status (err), message);
      return;
    }
  /* directories, and FIFOs or devices that would block or never end */
  if (!S_ISREG (st.st_mode))
    {
      reply_error (call, 400, "path must be a file");
      return;
    }
  fd = open (abs, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      int err = errno;
      g_autofree char *message = path_error ("open", abs, err);
      reply_error (call, errno_status (err), message);
      return;
    }

  name = go_base (abs);
  disposition = attachment_disposition (name);
  soup_message_headers_replace (resp, "Content-Description", "File Transfer");
  soup_message_headers_replace (resp, "Content-Transfer-Encoding", "binary");
  soup_message_headers_replace (resp, "Content-Disposition", disposition);
  soup_message_headers_replace (resp, "Expires", "0");
  soup_message_headers_replace (resp, "Cache-Control", "must-revalidate");
  soup_message_headers_replace (resp, "Pragma", "public");
  soup_message_headers_replace (resp, "Accept-Ranges", "bytes");
  /* net/http's conditional requests work on whole seconds */
  if (st.st_mtim.tv_sec != 0)
    {
      mtime = g_date_time_new_from_unix_utc (st.st_mtim.tv_sec);
      last_modified = soup_date_time_to_string (mtime, SOUP_DATE_HTTP);
      soup_message_headers_replace (resp, "Last-Modified", last_modified);
    }
  if (mtime && (since = header_time (req, "If-Unmodified-Since")) &&
      !soup_message_headers_get_one (req, "If-Match") && g_date_time_compare (mtime, since) > 0)
    {
      close (fd);
      mr_tb_reply_empty (call, 412);
      return;
    }
  g_clear_pointer (&since, g_date_time_unref);
  if (mtime && !soup_message_headers_get_one (req, "If-None-Match") &&
      (since = header_time (req, "If-Modified-Since")) && g_date_time_compare (mtime, since) <= 0)
    {
      close (fd);
      mr_http_reply_bodiless (call->msg, 304);
      return;
    }

  ranges = g_array_new (FALSE, TRUE, sizeof (Range));
  g_array_set_clear_func (ranges, (GDestroyNotify) range_clear);
  range_header = soup_message_headers_get_one (req, "Range");
  if (range_header && soup_message_headers_get_one (req, "If-Range"))
    {
      /* If-Range with a date that is not the file's, or an ETag (there is none): the
       * whole file */
      g_autoptr(GDateTime) if_range = header_time (req, "If-Range");
      if (mtime == NULL || if_range == NULL || g_date_time_compare (mtime, if_range) != 0)
        range_header = NULL;
    }
  if (range_header && !parse_ranges (range_header, st.st_size, ranges, &no_overlap))
    {
      close (fd);
      if (no_overlap)
        {
          g_autofree char *content_range = g_strdup_printf ("bytes */%" G_GOFFSET_FORMAT, (goffset) st.st_size);
          soup_message_headers_replace (resp, "Content-Range", content_range);
        }
      reply_text (call, 416, no_overlap ? "invalid range: failed to overlap\n" : "invalid range\n");
      return;
    }
  /* more bytes asked than the file has (overlapping ranges): the whole file */
  for (guint i = 0; i < ranges->len; i++)
    total += g_array_index (ranges, Range, i).length;
  if (total > st.st_size)
    g_array_set_size (ranges, 0);

  d = g_new0 (Download, 1);
  d->fd = fd;
  if (ranges->len == 0)
    {
      Range whole = { 0, st.st_size, NULL };
      soup_server_message_set_status (call->msg, 200, NULL);
      soup_message_headers_set_content_type (resp, "application/octet-stream", NULL);
      soup_message_headers_set_content_length (resp, st.st_size);
      g_array_append_val (ranges, whole);
    }
  else if (ranges->len == 1)
    {
      Range *r = &g_array_index (ranges, Range, 0);
      g_autofree char *content_range = g_strdup_printf ("bytes %" G_GOFFSET_FORMAT "-%" G_GOFFSET_FORMAT "/%" G_GOFFSET_FORMAT,
                                                        r->start, r->start + r->length - 1, (goffset) st.st_size);
      soup_server_message_set_status (call->msg, 206, NULL);
      soup_message_headers_set_content_type (resp, "application/octet-stream", NULL);
      soup_message_headers_replace (resp, "Content-Range", content_range);
      soup_message_headers_set_content_length (resp, r->length);
    }
  else
    {
      /* multipart/byteranges, as Go's multipart writer lays it out */
      g_autofree char *content_type = NULL;
      goffset length = 0;

      d->boundary = random_boundary (call->toolbox);
      for (guint i = 0; i < ranges->len; i++)
        {
          Range *r = &g_array_index (ranges, Range, i);
          r->header = g_strdup_printf ("%s--%s\r\nContent-Range: bytes %" G_GOFFSET_FORMAT "-%" G_GOFFSET_FORMAT "/%" G_GOFFSET_FORMAT
                                       "\r\nContent-Type: application/octet-stream\r\n\r\n",
                                       i == 0 ? "" : "\r\n", d->boundary, r->start, r->start + r->length - 1,
                                       (goffset) st.st_size);
          length += strlen (r->header) + r->length;
        }
      length += strlen ("\r\n----\r\n") + strlen (d->boundary);
      content_type = g_strdup_printf ("multipart/byteranges; boundary=%s", d->boundary);
      soup_server_message_set_status (call->msg, 206, NULL);
      soup_message_headers_replace (resp, "Content-Type", content_type);
      soup_message_headers_set_content_length (resp, length);
    }
  d->ranges = g_steal_pointer (&ranges);
  /* the first segment hands the file to the stream, which closes it */
  stream_start (call, TRUE, download_next, d, (GDestroyNotify) download_free);
}

/* F4: POST /files/bulk-download ---------------------------------------------------------- */

typedef struct {
  char *work_dir;
  char *method;
  GPtrArray *paths;
  guint index;
  gboolean closed;
} BulkDownload;

static void
bulk_download_free (BulkDownload *b)
{
  g_free (b->work_dir);
  g_free (b->method);
  g_ptr_array_unref (b->paths);
  g_free (b);
}

/* A Content-Disposition filename that echoes the requested path byte for byte: quoted,
 * with '"' and '\' escaped as Go's multipart writer does; names busboy would decode as
 * Latin-1 (non-ASCII) or that a header cannot carry get an RFC 5987 filename* too, which
 * busboy prefers. */
static void
append_disposition (GString *out, const char *field, const char *path)
{
  gboolean extended = FALSE;

  g_string_append_printf (out, "Content-Disposition: form-data; name=\"%s\"; filename=\"", field);
  for (const guchar *p = (const guchar *) path; *p; p++)
    {
      if (*p >= 0x80 || *p < 0x20 || *p == 0x7f)
        extended = TRUE;
      if (*p == '"' || *p == '\\')
        g_string_append_c (out, '\\');
      if (*p == '\r' || *p == '\n')
        g_string_append_printf (out, "%%%02X", *p);
      else
        g_string_append_c (out, *p);
    }
  g_string_append_c (out, '"');
  if (extended)
    {
      g_string_append (out, "; filename*=utf-8''");
      for (const guchar *p = (const guchar *) path; *p; p++)
        {
          if (g_ascii_isalnum (*p) || strchr ("!#$&+-.^_`|~", *p))
            g_string_append_c (out, *p);
          else
            g_string_append_printf (out, "%%%02X", *p);
        }
    }
  g_string_append (out, "\r\n");
}

/* Go's mime.TypeByExtension for the usual extensions; clients ignore it anyway. */
static const char *
mime_type_for (const char *path)
{
  static const struct { const char *ext, *type; } types[] = {
    { ".txt", "text/plain; charset=utf-8" }, { ".html", "text/html; charset=utf-8" },
    { ".htm", "text/html; charset=utf-8" }, { ".css", "text/css; charset=utf-8" },
    { ".js", "text/javascript; charset=utf-8" }, { ".mjs", "text/javascript; charset=utf-8" },
    { ".json", "application/json" }, { ".xml", "text/xml; charset=utf-8" },
    { ".pdf", "application/pdf" }, { ".png", "image/png" }, { ".jpg", "image/jpeg" },
    { ".jpeg", "image/jpeg" }, { ".gif", "image/gif" }, { ".svg", "image/svg+xml" },
    { ".webp", "image/webp" }, { ".wasm", "application/wasm" }, { ".avif", "image/avif" },
  };
  const char *dot = strrchr (path, '.');

  if (dot && !strchr (dot, '/'))
    for (guint i = 0; i < G_N_ELEMENTS (types); i++)
      if (g_ascii_strcasecmp (dot, types[i].ext) == 0)
        return types[i].type;
  return "application/octet-stream";
}

/* A [latest] error part: the Shape A object as JSON, so that the 0.218 SDK maps a 404
 * to DaytonaNotFoundError (older clients show the text). */
static void
append_error_part (GString *out, BulkDownload *b, const char *path, guint status, const char *code, const char *message)
{
  g_autoptr(JsonNode) body = NULL;
  g_autofree char *text = NULL;
  g_autofree char *safe_message = g_utf8_make_valid (message, -1);
  g_autofree char *safe_path = g_utf8_make_valid (path, -1);

  body = mr_http_error_body (status, code, safe_message, safe_path, b->method);
  text = mr_http_json_to_string (body);
  append_disposition (out, "error", path);
  g_string_append (out, "Content-Type: application/json; charset=utf-8\r\n\r\n");
  g_string_append (out, text);
}

static gboolean
bulk_download_next (Stream *s, gpointer data)
{
  BulkDownload *b = data;
  const char *path;
  g_autofree char *os_file = NULL;
  GString *out;
  struct stat st;
  int fd;

  if (b->index >= b->paths->len)
    {
      if (b->closed)
        return FALSE;
      b->closed = TRUE;
      stream_append_text (s, g_strdup ("\r\n--" BULK_BOUNDARY "--\r\n"));
      return TRUE;
    }
  path = b->paths->pdata[b->index];
  out = g_string_new (b->index == 0 ? "--" BULK_BOUNDARY "\r\n" : "\r\n--" BULK_BOUNDARY "\r\n");
  b->index++;
  os_file = os_path (b->work_dir, path);
  if (stat (os_file, &st) != 0)
    {
      int err = errno;
      g_autofree char *message = NULL;
      if (err == EACCES || err == EPERM)
        {
          message = g_strdup_printf ("permission denied: %s", path);
          append_error_part (out, b, path, 403, "FILE_ACCESS_DENIED", message);
        }
      else
        {
          message = g_strdup_printf ("file not found: %s", path);
          append_error_part (out, b, path, err == ENOENT || err == ENOTDIR ? 404 : 400,
                             err == ENOENT || err == ENOTDIR ? "FILE_NOT_FOUND" : "INVALID_FILE_PATH", message);
        }
    }
  else if (S_ISDIR (st.st_mode))
    {
      g_autofree char *message = g_strdup_printf ("path is a directory: %s", path);
      append_error_part (out, b, path, 400, "INVALID_FILE_PATH", message);
    }
  else if (!S_ISREG (st.st_mode))
    {
      g_autofree char *message = g_strdup_printf ("not a regular file: %s", path);
      append_error_part (out, b, path, 400, "INVALID_FILE_PATH", message);
    }
  else if ((fd = open (os_file, O_RDONLY | O_CLOEXEC)) < 0)
    {
      int err = errno;
      g_autofree char *reason = path_error ("open", path, err);
      g_autofree char *message = g_strdup_printf ("error opening file: %s", reason);
      gboolean denied = err == EACCES || err == EPERM;
      append_error_part (out, b, path, denied ? 403 : 500, denied ? "FILE_ACCESS_DENIED" : "FILE_READ_FAILED", message);
    }
  else
    {
      append_disposition (out, "file", path);
      g_string_append_printf (out, "Content-Length: %" G_GOFFSET_FORMAT "\r\n", (goffset) st.st_size);
      g_string_append_printf (out, "Content-Type: %s\r\n\r\n", mime_type_for (path));
      stream_set_segment (s, fd, 0, st.st_size);
    }
  stream_append_text (s, g_string_free (out, FALSE));
  return TRUE;
}

static GPtrArray *
parse_paths (GBytes *body)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  gsize len = 0;
  const char *data = body ? g_bytes_get_data (body, &len) : NULL;
  JsonNode *root, *member;
  JsonArray *array;

  if (data == NULL || len == 0 || !json_parser_load_from_data (parser, data, len, NULL))
    return NULL;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;
  member = json_object_get_member (json_node_get_object (root), "paths");
  if (member == NULL || !JSON_NODE_HOLDS_ARRAY (member))
    return NULL;
  array = json_node_get_array (member);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *e = json_array_get_element (array, i);
      if (JSON_NODE_HOLDS_NULL (e))
        g_ptr_array_add (paths, g_strdup (""));
      else if (JSON_NODE_HOLDS_VALUE (e) && json_node_get_value_type (e) == G_TYPE_STRING)
        g_ptr_array_add (paths, g_strdup (json_node_get_string (e)));
      else
        return NULL;
    }
  if (paths->len == 0)
    return NULL;
  return g_steal_pointer (&paths);
}

static void
handle_bulk_download (MrTbCall *call)
{
  BulkDownload *b;
  GPtrArray *paths = parse_paths (call->body);
  SoupMessageHeaders *resp = soup_server_message_get_response_headers (call->msg);

  if (paths == NULL)
    {
      mr_tb_reply_error_b (call, 400, "request body must be {\"paths\": [ ... ]} and non-empty");
      return;
    }
  b = g_new0 (BulkDownload, 1);
  b->work_dir = g_strdup (mr_toolbox_get_work_dir (call->toolbox));
  b->method = g_strdup (soup_server_message_get_method (call->msg));
  b->paths = paths;
  soup_server_message_set_status (call->msg, 200, NULL);
  soup_message_headers_replace (resp, "Content-Type", "multipart/form-data; boundary=" BULK_BOUNDARY);
  soup_message_headers_set_encoding (resp, SOUP_ENCODING_CHUNKED);
  stream_start (call, FALSE, bulk_download_next, b, (GDestroyNotify) bulk_download_free);
}

/* Streamed uploads ------------------------------------------------------------------- */

/* A file being written. The writer thread holds a reference per queued write, so the
 * descriptor closes when the last byte is on disk, even after the client is gone; and it
 * closes as soon as its part has ended and its writes are done, as the daemon closes each
 * file it wrote: a bulk upload of more files than the process may open must not fail. */
typedef struct {
  gint ref;
  int fd;
  char *dest;                 /* the destination as given, for messages and the reply */
  char *error;                /* the first failure ("write <dest>: ..." or "unexpected EOF") */
  guint64 bytes;              /* written so far */
  guint queued;               /* writes queued or being written (server thread) */
  gboolean ended;             /* its part is over: nothing more will be queued */
} Target;

static Target *
target_ref (Target *t)
{
  g_atomic_int_inc (&t->ref);
  return t;
}

/* Closes @t's file once nothing more is to be written to it. */
static void
target_maybe_close (Target *t)
{
  if (t->ended && t->queued == 0 && t->fd >= 0)
    {
      close (t->fd);
      t->fd = -1;
    }
}

/* @t's part is over: nothing more will be queued for it */
static void
target_end (Target *t)
{
  t->ended = TRUE;
  target_maybe_close (t);
}

/* one of @t's queued writes is done, or dropped */
static void
target_unqueue (Target *t)
{
  t->queued--;
  target_maybe_close (t);
}

static void
target_unref (Target *t)
{
  if (t == NULL || !g_atomic_int_dec_and_test (&t->ref))
    return;
  if (t->fd >= 0)
    close (t->fd);
  g_free (t->dest);
  g_free (t->error);
  g_free (t);
}

/* Creates (or truncates) @dest after creating its missing parents, as the daemon does.
 * On failure sets *status and *message (Go's texts, "mkdir …" or "open …"). */
static Target *
target_create (const char *work_dir, const char *dest, mode_t dir_mode, guint *status, char **message,
               char **failed_dir)
{
  g_autofree char *dir = go_dir (dest);
  g_autofree char *os_dest = os_path (work_dir, dest);
  g_autofree char *failed = NULL;
  Target *t;
  int fd;

  if (strcmp (dir, ".") != 0 && !mkdir_all (work_dir, dir, dir_mode, &failed))
    {
      int err = errno;
      *status = errno_status (err);
      *message = path_error ("mkdir", failed, err);
      if (failed_dir)
        *failed_dir = g_steal_pointer (&dir);
      return NULL;
    }
  /* O_NONBLOCK: opening a FIFO nobody reads must fail (ENXIO), not hang the server
   * thread; writes then block again, in the writer thread */
  fd = open (os_dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NONBLOCK, 0666);
  if (fd < 0)
    {
      int err = errno;
      *status = errno_status (err);
      *message = path_error ("open", dest, err);
      return NULL;
    }
  fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) & ~O_NONBLOCK);
  t = g_new0 (Target, 1);
  t->ref = 1;
  t->fd = fd;
  t->dest = g_strdup (dest);
  return t;
}

typedef struct {
  Target *target;
  GByteArray *data;
  guint64 written;
  char *error;
} WriteOp;

static void
write_op_free (WriteOp *op)
{
  target_unref (op->target);
  g_clear_pointer (&op->data, g_byte_array_unref);
  g_free (op->error);
  g_free (op);
}

typedef enum {
  UPLOAD_FORM,                /* /files/upload: multipart, field "file" */
  UPLOAD_FORM_V2,             /* /files/upload-v2: the same, or a raw body */
  UPLOAD_BULK,                /* /files/bulk-upload */
} UploadKind;

typedef enum {
  PART_IGNORED,
  PART_PATH,                  /* files[k].path: its text is collected */
  PART_FILE,                  /* file data for current */
} PartKind;

typedef struct {
  char *error;                /* a part that failed before writing, or NULL */
  Target *target;             /* the file it wrote, or NULL */
} BulkEntry;

typedef struct {
  gint ref;
  UploadKind kind;
  SoupServerMessage *msg;     /* NULL once the exchange is over */
  MrTbCall *call;
  char *work_dir;
  gulong chunk_id, body_id, finished_id;
  gboolean paused;            /* by us: too much queued, or waiting to reply */
  gboolean body_done;
  gboolean replied;
  gboolean direct;            /* the body comes from a takeover thread, which writes too */

  MrMultipartParser *parser;  /* NULL for a raw body */
  char *parse_error;
  PartKind part;
  char *part_key;
  GString *path_value;
  Target *current;

  /* upload and upload-v2 */
  char *dest;
  Target *single;
  gboolean single_seen;
  guint fail_status;          /* creating the file failed */
  char *fail_message;

  /* bulk-upload */
  GHashTable *dests;          /* k -> destination */
  GArray *entries;            /* BulkEntry, in the order of the parts */

  /* the writer: one thread job at a time, in order */
  GQueue queue;
  gsize pending;              /* bytes queued or being written */
  gboolean writing;
  /* written full batches, to fill again: fresh megabytes cost a page fault per 4 KiB,
   * as much as the rest of the upload's work on the server thread */
  GPtrArray *spare;           /* GByteArray */
} Upload;

static void
bulk_entry_clear (BulkEntry *e)
{
  g_free (e->error);
  target_unref (e->target);
}

static Upload *
upload_ref (Upload *u)
{
  u->ref++;
  return u;
}

static void
upload_unref (Upload *u)
{
  if (--u->ref > 0)
    return;
  g_queue_clear_full (&u->queue, (GDestroyNotify) write_op_free);
  g_clear_pointer (&u->spare, g_ptr_array_unref);
  g_free (u->work_dir);
  g_clear_pointer (&u->parser, mr_multipart_parser_free);
  g_free (u->parse_error);
  g_free (u->part_key);
  if (u->path_value)
    g_string_free (u->path_value, TRUE);
  target_unref (u->current);
  g_free (u->dest);
  target_unref (u->single);
  g_free (u->fail_message);
  g_clear_pointer (&u->dests, g_hash_table_unref);
  g_clear_pointer (&u->entries, g_array_unref);
  g_free (u);
}

/* The exchange is over (finished, or the message is going away): stop touching it.
 * Queued writes still complete and close their files. */
static void
upload_detach (Upload *u)
{
  if (u->msg == NULL)
    return;
  if (u->chunk_id && g_signal_handler_is_connected (u->msg, u->chunk_id))
    g_signal_handler_disconnect (u->msg, u->chunk_id);
  if (u->body_id && g_signal_handler_is_connected (u->msg, u->body_id))
    g_signal_handler_disconnect (u->msg, u->body_id);
  if (u->finished_id && g_signal_handler_is_connected (u->msg, u->finished_id))
    g_signal_handler_disconnect (u->msg, u->finished_id);
  u->msg = NULL;
  u->call = NULL;
  g_clear_pointer (&u->parser, mr_multipart_parser_free);
  g_clear_pointer (&u->current, target_unref);
  /* nothing will be answered: let the files close as soon as their writes are done */
  g_clear_pointer (&u->single, target_unref);
  if (u->entries)
    g_array_set_size (u->entries, 0);
}

static void
upload_on_message_gone (gpointer data)
{
  upload_detach (data);
  upload_unref (data);
}

static void upload_kick (Upload *u);
static void upload_progress (Upload *u);

/* Writes @len bytes to @fd; returns how many were, and sets *error on a failure. */
static gsize
write_fully (int fd, const char *dest, const guint8 *data, gsize len, char **error)
{
  gsize off = 0;

  while (off < len)
    {
      gssize w = write (fd, data + off, len - off);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        {
          *error = path_error ("write", dest, errno);
          break;
        }
      off += w;
    }
  return off;
}

static void
write_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  WriteOp *op = task_data;

  op->written = write_fully (op->target->fd, op->target->dest, op->data->data, op->data->len, &op->error);
  g_task_return_boolean (task, TRUE);
}

static void
write_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Upload *u = user_data;
  WriteOp *op = g_task_get_task_data (G_TASK (result));

  u->writing = FALSE;
  u->pending -= op->data->len;
  op->target->bytes += op->written;
  if (op->data->len >= WRITE_BATCH && (u->spare == NULL || u->spare->len < PENDING_HIGH / WRITE_BATCH + 2))
    {
      if (u->spare == NULL)
        u->spare = g_ptr_array_new_with_free_func ((GDestroyNotify) g_byte_array_unref);
      g_byte_array_set_size (op->data, 0);
      g_ptr_array_add (u->spare, g_steal_pointer (&op->data));
    }
  if (op->error && op->target->error == NULL)
    op->target->error = g_steal_pointer (&op->error);
  target_unqueue (op->target);
  upload_kick (u);
  upload_progress (u);
  upload_unref (u);
}

static void
upload_kick (Upload *u)
{
  WriteOp *op;
  GTask *task;

  while (!u->writing && (op = g_queue_pop_head (&u->queue)) != NULL)
    {
      /* a file that failed gets nothing more */
      if (op->target->error)
        {
          u->pending -= op->data->len;
          target_unqueue (op->target);
          write_op_free (op);
          continue;
        }
      u->writing = TRUE;
      task = g_task_new (NULL, NULL, write_done, upload_ref (u));
      g_task_set_task_data (task, op, (GDestroyNotify) write_op_free);
      g_task_run_in_thread (task, write_thread);
      g_object_unref (task);
    }
}

static void
upload_queue (Upload *u, Target *t, const guint8 *data, gsize len)
{
  WriteOp *tail = g_queue_peek_tail (&u->queue);

  if (t->error || len == 0)
    return;
  if (u->direct)
    {
      /* in the takeover thread, straight from its read buffer */
      t->bytes += write_fully (t->fd, t->dest, data, len, &t->error);
      return;
    }
  if (tail && tail->target == t && tail->data->len < WRITE_BATCH)
    {
      /* a batch that outgrows its first 64 KiB gets room for all of it at once: growing
       * by doubling copied a large upload twice over */
      if (tail->data->len <= 64 * 1024 && tail->data->len + len > 64 * 1024)
        {
          guint filled = tail->data->len;
          g_byte_array_set_size (tail->data, WRITE_BATCH + 64 * 1024);
          g_byte_array_set_size (tail->data, filled);
        }
      g_byte_array_append (tail->data, data, len);
    }
  else
    {
      WriteOp *op = g_new0 (WriteOp, 1);
      op->target = target_ref (t);
      t->queued++;
      op->data = u->spare && u->spare->len ? g_ptr_array_steal_index_fast (u->spare, u->spare->len - 1)
                                           : g_byte_array_sized_new (MAX (len, 64 * 1024));
      g_byte_array_append (op->data, data, len);
      g_queue_push_tail (&u->queue, op);
    }
  u->pending += len;
  upload_kick (u);
}

static void
upload_pause (Upload *u)
{
  if (!u->paused && u->msg)
    {
      u->paused = TRUE;
      soup_server_message_pause (u->msg);
    }
}

static void
upload_unpause (Upload *u)
{
  if (u->paused && u->msg)
    {
      u->paused = FALSE;
      soup_server_message_unpause (u->msg);
    }
}

static void
reply_bulk (Upload *u)
{
  JsonArray *errors = json_array_new ();
  JsonArray *files = json_array_new ();
  JsonObject *o = json_object_new ();
  guint status;

  for (guint i = 0; i < u->entries->len; i++)
    {
      BulkEntry *e = &g_array_index (u->entries, BulkEntry, i);
      if (e->error)
        json_array_add_element (errors, string_node (e->error));
      else if (e->target->error)
        {
          g_autofree char *text = g_strdup_printf ("%s: write: %s", e->target->dest, e->target->error);
          json_array_add_element (errors, string_node (text));
        }
      else
        {
          JsonObject *f = json_object_new ();
          set_string (f, "path", e->target->dest);
          json_object_set_int_member (f, "bytes", e->target->bytes);
          json_array_add_object_element (files, f);
        }
    }
  if (u->parse_error)
    {
      g_autofree char *text = g_strdup_printf ("reading part: %s", u->parse_error);
      json_array_add_element (errors, string_node (text));
    }
  status = json_array_get_length (errors) > 0 ? 400 : 200;
  if (status == 400)
    json_object_set_array_member (o, "errors", errors);
  else
    json_array_unref (errors);
  /* [latest] lists what was written; at-mock answered with an empty body, which the
   * SDKs ignore either way */
  json_object_set_array_member (o, "files", files);
  reply_json_take (u->call, status, object_node (o));
}

static void
reply_single (Upload *u)
{
  if (u->fail_message)
    reply_error (u->call, u->fail_status, u->fail_message);
  else if (u->parse_error)
    reply_error (u->call, 400, u->parse_error);
  else if (!u->single_seen)
    reply_error (u->call, 400, "http: no such file");
  else if (u->single->error)
    reply_error (u->call, 400, u->single->error);
  else if (u->kind == UPLOAD_FORM)
    mr_tb_reply_empty (u->call, 200);
  else
    {
      /* upload-v2 answers an UploadedFile */
      JsonObject *o = json_object_new ();
      g_autofree char *name = go_base (u->dest);
      set_string (o, "name", name);
      set_string (o, "path", u->dest);
      json_object_set_string_member (o, "type", "file");
      reply_json_take (u->call, 200, object_node (o));
    }
}

/* After each write and at the end of the body: resume reading once the queue has
 * drained enough, or answer once the body is read and every byte is written. */
static void
upload_progress (Upload *u)
{
  if (u->msg == NULL || u->replied)
    return;
  if (!u->body_done)
    {
      if (u->pending < PENDING_LOW)
        upload_unpause (u);
      return;
    }
  if (u->writing || !g_queue_is_empty (&u->queue))
    {
      upload_pause (u);
      return;
    }
  u->replied = TRUE;
  if (u->kind == UPLOAD_BULK)
    reply_bulk (u);
  else
    reply_single (u);
  upload_unpause (u);
}

/* Multipart parts ---------------------------------------------------------------------- */

/* The daemon's extractIndex: "files[<k>].path" -> "<k>" */
static char *
field_key (const char *name, const char *suffix)
{
  const char *start = g_str_has_prefix (name, "files[") ? name + strlen ("files[") : name;
  gsize len = strlen (start);
  g_autofree char *closing = g_strconcat ("]", suffix, NULL);

  if (g_str_has_suffix (start, closing))
    len -= strlen (closing);
  return g_strndup (start, len);
}

static void
bulk_add_error (Upload *u, char *error)
{
  BulkEntry e = { error, NULL };

  g_array_append_val (u->entries, e);
}

static gboolean
on_part_begin (SoupMessageHeaders *headers, gpointer user_data, GError **error)
{
  Upload *u = user_data;
  g_autofree char *name = mr_multipart_part_get_param (headers, "name");
  guint status = 0;
  g_autofree char *message = NULL;

  u->part = PART_IGNORED;
  if (name == NULL)
    return TRUE;
  if (u->kind != UPLOAD_BULK)
    {
      /* the first "file" field is the upload */
      if (strcmp (name, "file") != 0 || u->single_seen)
        return TRUE;
      u->single_seen = TRUE;
      u->single = target_create (u->work_dir, u->dest, u->kind == UPLOAD_FORM ? 0750 : 0755,
                                 &u->fail_status, &u->fail_message, NULL);
      if (u->single)
        {
          u->current = target_ref (u->single);
          u->part = PART_FILE;
        }
      return TRUE;
    }

  g_clear_pointer (&u->part_key, g_free);
  if (g_str_has_suffix (name, ".path"))
    {
      u->part = PART_PATH;
      u->part_key = field_key (name, ".path");
      g_string_truncate (u->path_value, 0);
    }
  else if (g_str_has_suffix (name, ".file"))
    {
      g_autofree char *key = field_key (name, ".file");
      const char *dest = g_hash_table_lookup (u->dests, key);
      g_autofree char *failed_dir = NULL;
      Target *t;
      BulkEntry e = { NULL, NULL };

      if (dest == NULL)
        {
          bulk_add_error (u, g_strdup_printf ("file[%s]: missing .path metadata", key));
          return TRUE;
        }
      t = target_create (u->work_dir, dest, 0755, &status, &message, &failed_dir);
      if (t == NULL)
        {
          /* "<dest>: mkdir <dir>: <MkdirAll's error>" or "<dest>: create: <os.Create's>" */
          bulk_add_error (u, failed_dir ? g_strdup_printf ("%s: mkdir %s: %s", dest, failed_dir, message)
                                        : g_strdup_printf ("%s: create: %s", dest, message));
          return TRUE;
        }
      e.target = t;
      g_array_append_val (u->entries, e);
      u->current = target_ref (t);
      u->part = PART_FILE;
    }
  return TRUE;
}

static gboolean
on_part_data (const guint8 *data, gsize len, gpointer user_data, GError **error)
{
  Upload *u = user_data;

  switch (u->part)
    {
    case PART_PATH:
      if (u->path_value->len + len > MAX_PATH_FIELD)
        {
          bulk_add_error (u, g_strdup_printf ("path[%s]: path too long", u->part_key));
          u->part = PART_IGNORED;
        }
      else
        g_string_append_len (u->path_value, (const char *) data, len);
      break;
    case PART_FILE:
      upload_queue (u, u->current, data, len);
      break;
    case PART_IGNORED:
    default:
      break;
    }
  return TRUE;
}

static gboolean
on_part_end (gpointer user_data, GError **error)
{
  Upload *u = user_data;

  if (u->part == PART_PATH)
    {
      /* [latest] trims the destination and refuses an empty one */
      g_autofree char *dest = g_strstrip (g_strdup (u->path_value->str));
      if (*dest == '\0' || memchr (u->path_value->str, '\0', u->path_value->len))
        bulk_add_error (u, g_strdup_printf ("path[%s]: empty path", u->part_key));
      else
        g_hash_table_replace (u->dests, g_strdup (u->part_key), g_steal_pointer (&dest));
    }
  if (u->current)
    target_end (u->current);
  g_clear_pointer (&u->current, target_unref);
  u->part = PART_IGNORED;
  return TRUE;
}

static const MrMultipartCallbacks part_callbacks = { on_part_begin, on_part_data, on_part_end };

/* The next piece of the body: to the parser, or to the file for a raw body. */
static void
upload_feed (const guint8 *data, gsize len, gpointer user_data)
{
  Upload *u = user_data;
  g_autoptr(GError) error = NULL;

  if (u->parser)
    {
      if (u->parse_error == NULL && !mr_multipart_parser_feed (u->parser, data, len, &error))
        u->parse_error = g_strdup (error->message);
    }
  else if (u->single && len > 0)
    upload_queue (u, u->single, data, len);
}

static void
upload_end_of_body (Upload *u)
{
  g_autoptr(GError) error = NULL;

  if (u->parser && u->parse_error == NULL && !mr_multipart_parser_finish (u->parser, &error))
    u->parse_error = g_strdup (error->message);
  /* a part cut short by the end of the body */
  if (u->current && u->part == PART_FILE && u->current->error == NULL)
    u->current->error = g_strdup (u->parse_error ? u->parse_error : "unexpected EOF");
  if (u->current)
    target_end (u->current);
  g_clear_pointer (&u->current, target_unref);
  u->body_done = TRUE;
}

static void
on_upload_chunk (SoupServerMessage *msg, GBytes *chunk, gpointer user_data)
{
  Upload *u = user_data;
  gsize len;
  const guint8 *data = g_bytes_get_data (chunk, &len);

  upload_feed (data, len, u);
  if (u->pending > PENDING_HIGH)
    upload_pause (u);
}

static void
on_upload_body (SoupServerMessage *msg, gpointer user_data)
{
  upload_end_of_body (user_data);
  upload_progress (user_data);
}

/* The takeover's end, on the server thread: every byte read is written already. A client
 * gone mid-body gets no answer; its files close with the upload. */
static void
on_direct_body_done (MrTbCall *call, gboolean complete, gpointer user_data)
{
  Upload *u = user_data;

  if (!complete)
    return;
  upload_end_of_body (u);
  upload_progress (u);
}

static void
on_upload_finished (SoupServerMessage *msg, gpointer user_data)
{
  /* drop our state now rather than when the message goes: something may keep the
   * message alive long after the exchange */
  g_object_set_data (G_OBJECT (msg), "mr-files-upload", NULL);
}

static void
start_upload (MrTbCall *call, UploadKind kind)
{
  SoupMessageHeaders *req = soup_server_message_get_request_headers (call->msg);
  g_autofree char *boundary = mr_multipart_get_boundary (soup_message_headers_get_one (req, "Content-Type"));
  const char *path = mr_tb_query (call, "path");
  Upload *u;

  /* the body is ours to read, chunk by chunk */
  soup_message_body_set_accumulate (soup_server_message_get_request_body (call->msg), FALSE);
  if (kind == UPLOAD_BULK && boundary == NULL)
    {
      JsonObject *o = json_object_new ();
      JsonArray *errors = json_array_new ();
      json_array_add_string_element (errors, "invalid multipart form");
      json_object_set_array_member (o, "errors", errors);
      reply_json_take (call, 400, object_node (o));
      return;
    }
  if (kind != UPLOAD_BULK && (path == NULL || *path == '\0'))
    {
      reply_error (call, 400, "path is required");
      return;
    }
  if (kind == UPLOAD_FORM && boundary == NULL)
    {
      reply_error (call, 400, "request Content-Type isn't multipart/form-data");
      return;
    }

  u = g_new0 (Upload, 1);
  u->ref = 1;
  u->kind = kind;
  u->msg = call->msg;
  u->call = call;
  u->work_dir = g_strdup (mr_toolbox_get_work_dir (call->toolbox));
  g_queue_init (&u->queue);
  if (kind == UPLOAD_BULK)
    {
      u->dests = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      u->entries = g_array_new (FALSE, TRUE, sizeof (BulkEntry));
      g_array_set_clear_func (u->entries, (GDestroyNotify) bulk_entry_clear);
      u->path_value = g_string_new (NULL);
    }
  else
    u->dest = g_strdup (path);

  if (boundary)
    u->parser = mr_multipart_parser_new (boundary, &part_callbacks, u);
  else
    {
      /* upload-v2 with a raw body: the whole body is the file */
      guint status = 0;
      g_autofree char *message = NULL;
      u->single_seen = TRUE;
      u->single = target_create (u->work_dir, u->dest, 0755, &status, &message, NULL);
      if (u->single == NULL)
        {
          reply_error (call, status, message);
          upload_unref (u);
          return;
        }
    }
  u->direct = TRUE;
  if (mr_tb_take_over_body (call, upload_feed, on_direct_body_done, u, (GDestroyNotify) upload_unref))
    return;
  u->direct = FALSE;
  g_object_set_data_full (G_OBJECT (call->msg), "mr-files-upload", u, upload_on_message_gone);
  u->chunk_id = g_signal_connect (call->msg, "got-chunk", G_CALLBACK (on_upload_chunk), u);
  u->body_id = g_signal_connect (call->msg, "got-body", G_CALLBACK (on_upload_body), u);
  u->finished_id = g_signal_connect (call->msg, "finished", G_CALLBACK (on_upload_finished), u);
}

static void handle_upload (MrTbCall *call) { start_upload (call, UPLOAD_FORM); }
static void handle_upload_v2 (MrTbCall *call) { start_upload (call, UPLOAD_FORM_V2); }
static void handle_bulk_upload (MrTbCall *call) { start_upload (call, UPLOAD_BULK); }

/* Routes -------------------------------------------------------------------------------- */

static const MrRoute routes[] = {
  { "GET", "/files", handle_list, NULL, 0, "files-list" },
  { "GET", "/files/", handle_list, NULL, 0, "files-list" },
  { "DELETE", "/files", handle_delete, NULL, 0, "files-delete" },
  { "DELETE", "/files/", handle_delete, NULL, 0, "files-delete" },
  { "GET", "/files/info", handle_info, NULL, 0, "files-info" },
  { "GET", "/files/download", handle_download, NULL, 0, "files-download" },
  { "POST", "/files/bulk-download", handle_bulk_download, NULL, 0, "files-bulk-download" },
  { "POST", "/files/upload", handle_upload, NULL, MR_TB_STREAM_BODY, "files-upload" },
  { "POST", "/files/upload-v2", handle_upload_v2, NULL, MR_TB_STREAM_BODY, "files-upload-v2" },
  { "POST", "/files/bulk-upload", handle_bulk_upload, NULL, MR_TB_STREAM_BODY, "files-bulk-upload" },
  { "POST", "/files/folder", handle_folder, NULL, 0, "files-folder" },
  { "POST", "/files/move", handle_move, NULL, 0, "files-move" },
  { "POST", "/files/permissions", handle_permissions, NULL, 0, "files-permissions" },
  { "GET", "/files/find", handle_find, NULL, 0, "files-find" },
  { "GET", "/files/search", handle_search, NULL, 0, "files-search" },
  { "POST", "/files/replace", handle_replace, NULL, 0, "files-replace" },
};

void
mr_tb_register_files (MrRouter *router)
{
  mr_router_add_all (router, routes, G_N_ELEMENTS (routes));
}
