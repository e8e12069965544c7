/* mr-docker-bundle.c: packs mock-runner-toolboxd with its shared libraries.
 *
 * The daemon is started through the packed dynamic loader with --library-path, not
 * with LD_LIBRARY_PATH: the loader option applies to the daemon alone, so the shells
 * and commands it starts for users load the image's own libraries, as they must. The
 * directory is named after a digest of the contents, so a new build of the daemon
 * never overwrites files a running one has mapped. */
#include <string.h>

#include <glib/gstdio.h>

#include "mr-docker-bundle.h"
#include "mr-tar.h"
#include "mr-error.h"

#define DAEMON_NAME "mock-runner-toolboxd"

/**
 * mr_docker_bundle_find_daemon: (skip)
 * @configured: (nullable): TOOLBOX_DAEMON_PATH, if set
 *
 * Returns: (transfer full) (nullable): the mock-runner-toolboxd to pack: the configured
 *   one, else the one next to the running program, else one on PATH, else the installed one
 */
char *
mr_docker_bundle_find_daemon (const char *configured)
{
  g_autofree char *self_exe = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *beside = NULL;
  char *found;

  if (configured && *configured)
    return g_strdup (configured);
  if (self_exe)
    {
      g_autofree char *dir = g_path_get_dirname (self_exe);
      beside = g_build_filename (dir, DAEMON_NAME, NULL);
      if (g_file_test (beside, G_FILE_TEST_IS_EXECUTABLE))
        return g_steal_pointer (&beside);
    }
  found = g_find_program_in_path (DAEMON_NAME);
  if (found)
    return found;
  found = g_build_filename (MR_BINDIR, DAEMON_NAME, NULL);
  if (g_file_test (found, G_FILE_TEST_IS_EXECUTABLE))
    return found;
  g_free (found);
  return NULL;
}

/**
 * mr_docker_bundle_parse_ldd: (skip)
 * @output: what `ldd PROGRAM` printed
 * @names: (element-type utf8): receives the library names (as the program asks for them)
 * @paths: (element-type utf8): receives where each was found
 * @loader: (out) (transfer full) (nullable): the dynamic loader's path, %NULL for a
 *   static program
 * @error: return location for a #GError
 *
 * Returns: %FALSE if a library is missing
 */
gboolean
mr_docker_bundle_parse_ldd (const char *output, GPtrArray *names, GPtrArray *paths, char **loader, GError **error)
{
  g_auto(GStrv) lines = g_strsplit (output, "\n", -1);

  *loader = NULL;
  for (char **l = lines; *l; l++)
    {
      g_autofree char *line = g_strstrip (g_strdup (*l));
      char *arrow = strstr (line, " => ");
      char *paren;

      if (*line == '\0' || strstr (line, "statically linked") || strstr (line, "not a dynamic executable"))
        continue;
      if (arrow)
        {
          char *path = arrow + 4;
          *arrow = '\0';
          if (g_str_has_prefix (path, "not found"))
            {
              g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "%s is not found (ldd)", line);
              return FALSE;
            }
          paren = strstr (path, " (");
          if (paren)
            *paren = '\0';
          if (*path != '/')
            continue;                   /* e.g. "linux-vdso.so.1 =>  (0x...)" */
          g_ptr_array_add (names, g_strdup (line));
          g_ptr_array_add (paths, g_strdup (path));
          continue;
        }
      paren = strstr (line, " (");
      if (paren)
        *paren = '\0';
      if (line[0] == '/')               /* the loader: "/lib64/ld-linux-x86-64.so.2 (0x...)" */
        {
          g_free (*loader);
          *loader = g_strdup (line);
        }
    }
  return TRUE;
}

static GBytes *
read_file (const char *path, GError **error)
{
  char *contents;
  gsize len;

  if (!g_file_get_contents (path, &contents, &len, error))
    return NULL;
  return g_bytes_new_take (contents, len);
}

static char *
start_script (const char *dir, const char *loader_name, const char *log_file)
{
  /* Started with `docker exec`: ends a daemon a previous runner left (the port is
   * taken otherwise), then becomes the daemon. Only shell builtins and sleep. */
  const char *run = loader_name
    ? "GIO_MODULE_DIR=\"$dir/gio-modules\" exec \"$dir/lib/%s\" --library-path \"$dir/lib\" \"$dir/bin/" DAEMON_NAME "\""
    : "GIO_MODULE_DIR=\"$dir/gio-modules\" exec \"$dir/bin/" DAEMON_NAME "\"%s";
  g_autofree char *exec_line = g_strdup_printf (run, loader_name ? loader_name : "");

  return g_strdup_printf (
    "#!/bin/sh\n"
    "# mock-runner docker toolbox backend: (re)starts the toolbox daemon on port 2280.\n"
    "dir='%s'\n"
    "# /dev/shm starts empty with the container: a pid there is of this run of it\n"
    "pidfile=/dev/shm/" DAEMON_NAME ".pid\n"
    "[ -d /dev/shm ] && [ -w /dev/shm ] || pidfile=/tmp/" DAEMON_NAME ".pid\n"
    "if [ -f \"$pidfile\" ]; then\n"
    "  read old < \"$pidfile\"\n"
    "  if [ -n \"$old\" ] && [ \"$old\" != \"$$\" ] && kill \"$old\" 2>/dev/null; then\n"
    "    n=0\n"
    "    while kill -0 \"$old\" 2>/dev/null && [ $n -lt 50 ]; do sleep 0.1 2>/dev/null || sleep 1; n=$((n+1)); done\n"
    "    kill -9 \"$old\" 2>/dev/null\n"
    "  fi\n"
    "fi\n"
    "echo $$ > \"$pidfile\"\n"
    "# the container's own output (docker logs, the seed's first troubleshooting step) says\n"
    "# what started and where its log is; the container's command is only sleep\n"
    "{ echo \"mock-runner-toolboxd: starting (pid $$), its output goes to %s in this container\" > /proc/1/fd/1; } 2>/dev/null\n"
    "%s --port 2280 \"$@\" >>'%s' 2>&1\n",
    dir, log_file, exec_line, log_file);
}

/**
 * mr_docker_bundle_new: (skip)
 * @daemon_path: mock-runner-toolboxd
 * @root: the directory the bundles go under in the container, e.g. /opt/mock-runner-toolbox
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the bundle
 */
MrDockerBundle *
mr_docker_bundle_new (const char *daemon_path, const char *root, GError **error)
{
  const char *argv[] = { "ldd", daemon_path, NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *loader = NULL;
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) contents = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr(GChecksum) digest = g_checksum_new (G_CHECKSUM_SHA256);
  g_autoptr(GBytes) program = NULL;
  g_autoptr(GBytes) loader_bytes = NULL;
  g_autoptr(GBytes) script = NULL;
  g_autoptr(MrTar) tar = NULL;
  g_autofree char *loader_name = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *rel = NULL;
  MrDockerBundle *bundle;
  int status = 0;

  if (!g_file_test (daemon_path, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "the toolbox daemon %s is not an executable file", daemon_path);
      return NULL;
    }
  /* ldd runs the dynamic loader on the program in list mode: our own program, trusted */
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status, error))
    {
      g_prefix_error (error, "cannot list the libraries of %s: ", daemon_path);
      return NULL;
    }
  if (!mr_docker_bundle_parse_ldd (out, names, paths, &loader, error))
    {
      g_prefix_error (error, "cannot pack %s: ", daemon_path);
      return NULL;
    }
  if (loader == NULL && names->len > 0)
    {
      g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "cannot pack %s: ldd names no dynamic loader", daemon_path);
      return NULL;
    }

  if (!(program = read_file (daemon_path, error)))
    return NULL;
  g_checksum_update (digest, g_bytes_get_data (program, NULL), g_bytes_get_size (program));
  for (guint i = 0; i < paths->len; i++)
    {
      GBytes *b = read_file (paths->pdata[i], error);
      if (b == NULL)
        return NULL;
      g_ptr_array_add (contents, b);
      g_checksum_update (digest, (const guchar *) names->pdata[i], -1);
      g_checksum_update (digest, g_bytes_get_data (b, NULL), g_bytes_get_size (b));
    }
  if (loader)
    {
      if (!(loader_bytes = read_file (loader, error)))
        return NULL;
      loader_name = g_path_get_basename (loader);
      g_checksum_update (digest, g_bytes_get_data (loader_bytes, NULL), g_bytes_get_size (loader_bytes));
    }

  bundle = g_new0 (MrDockerBundle, 1);
  bundle->dir = g_strdup_printf ("%s/%.12s", root, g_checksum_get_string (digest));
  bundle->start_script = g_strconcat (bundle->dir, "/start.sh", NULL);
  bundle->log_file = g_strdup ("/tmp/" DAEMON_NAME ".log");
  bundle->n_libraries = names->len;
  {
    char *text = start_script (bundle->dir, loader_name, bundle->log_file);
    script = g_bytes_new_take (text, strlen (text));
  }

  /* directories from the top, so that each exists before what goes in it */
  tar = mr_tar_new (g_get_real_time () / G_USEC_PER_SEC);
  rel = g_strdup (bundle->dir + 1);
  {
    g_auto(GStrv) parts = g_strsplit (rel, "/", -1);
    GString *path = g_string_new (NULL);
    for (char **p = parts; *p; p++)
      {
        if (path->len)
          g_string_append_c (path, '/');
        g_string_append (path, *p);
        if (!mr_tar_add_directory (tar, path->str, 0755, error))
          {
            g_string_free (path, TRUE);
            mr_docker_bundle_free (bundle);
            return NULL;
          }
      }
    g_string_free (path, TRUE);
  }
  dir = g_strdup (rel);
  {
    g_autofree char *bin = g_strconcat (dir, "/bin", NULL);
    g_autofree char *lib = g_strconcat (dir, "/lib", NULL);
    g_autofree char *gio = g_strconcat (dir, "/gio-modules", NULL);
    g_autofree char *prog = g_strconcat (dir, "/bin/" DAEMON_NAME, NULL);
    g_autofree char *start = g_strconcat (dir, "/start.sh", NULL);
    gboolean ok = mr_tar_add_directory (tar, bin, 0755, error) && mr_tar_add_directory (tar, lib, 0755, error) &&
                  mr_tar_add_directory (tar, gio, 0755, error) && mr_tar_add_file (tar, prog, 0755, program, error) &&
                  mr_tar_add_file (tar, start, 0755, script, error);
    for (guint i = 0; ok && i < names->len; i++)
      {
        g_autofree char *base = g_path_get_basename (names->pdata[i]);
        g_autofree char *name = g_strconcat (lib, "/", base, NULL);
        ok = mr_tar_add_file (tar, name, 0755, contents->pdata[i], error);
      }
    if (ok && loader)
      {
        g_autofree char *name = g_strconcat (lib, "/", loader_name, NULL);
        ok = mr_tar_add_file (tar, name, 0755, loader_bytes, error);
      }
    if (!ok)
      {
        mr_docker_bundle_free (bundle);
        return NULL;
      }
  }
  bundle->archive = mr_tar_finish (g_steal_pointer (&tar));
  return bundle;
}

void
mr_docker_bundle_free (MrDockerBundle *bundle)
{
  if (bundle == NULL)
    return;
  g_clear_pointer (&bundle->archive, g_bytes_unref);
  g_free (bundle->dir);
  g_free (bundle->start_script);
  g_free (bundle->log_file);
  g_free (bundle);
}
