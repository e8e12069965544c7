/* mr-toolbox-format.c: the Go formats clients of the toolbox see: FileMode.String(),
 * Time.String() and RFC 3339 with nanoseconds. */
#include <string.h>
#include <sys/stat.h>

#include "mr-toolbox-private.h"

/**
 * mr_tb_format_mode: (skip)
 *
 * Go's FileMode.String() for a stat() mode: the type and special letters in the order
 * "dalTLDpSugct?" (or a single "-"), then nine rwx characters. Setuid, setgid and
 * sticky only appear as letters, never as s/t in the rwx part.
 */
char *
mr_tb_format_mode (guint32 st_mode)
{
  GString *out = g_string_new (NULL);
  static const char rwx[] = "rwxrwxrwx";

  switch (st_mode & S_IFMT)
    {
    case S_IFDIR: g_string_append_c (out, 'd'); break;
    case S_IFLNK: g_string_append_c (out, 'L'); break;
    case S_IFBLK: g_string_append_c (out, 'D'); break;
    case S_IFCHR: g_string_append_c (out, 'D'); break;
    case S_IFIFO: g_string_append_c (out, 'p'); break;
    case S_IFSOCK: g_string_append_c (out, 'S'); break;
    default: break;
    }
  if (st_mode & S_ISUID)
    g_string_append_c (out, 'u');
  if (st_mode & S_ISGID)
    g_string_append_c (out, 'g');
  if ((st_mode & S_IFMT) == S_IFCHR)
    g_string_append_c (out, 'c');
  if (st_mode & S_ISVTX)
    g_string_append_c (out, 't');
  if (out->len == 0)
    g_string_append_c (out, '-');
  for (int i = 0; i < 9; i++)
    g_string_append_c (out, (st_mode & (1u << (8 - i))) ? rwx[i] : '-');
  return g_string_free (out, FALSE);
}

static void
append_fraction (GString *out, gint64 nanoseconds)
{
  char fraction[16];
  int len;

  if (nanoseconds <= 0)
    return;
  len = g_snprintf (fraction, sizeof fraction, ".%09" G_GINT64_FORMAT, nanoseconds);
  while (len > 1 && fraction[len - 1] == '0')
    fraction[--len] = '\0';
  g_string_append (out, fraction);
}

/**
 * mr_tb_format_go_time: (skip)
 *
 * Go's Time.String() in the local zone: "2006-01-02 15:04:05.999999999 -0700 MST",
 * trailing zeros of the fraction (and the dot) dropped.
 */
char *
mr_tb_format_go_time (gint64 seconds, gint64 nanoseconds)
{
  g_autoptr(GDateTime) t = g_date_time_new_from_unix_local (seconds);
  g_autofree char *base = NULL;
  g_autofree char *zone = NULL;
  GString *out;

  if (t == NULL)
    return g_strdup ("0001-01-01 00:00:00 +0000 UTC");
  base = g_date_time_format (t, "%Y-%m-%d %H:%M:%S");
  zone = g_date_time_format (t, " %z %Z");
  out = g_string_new (base);
  append_fraction (out, nanoseconds);
  g_string_append (out, zone);
  return g_string_free (out, FALSE);
}

/**
 * mr_tb_format_rfc3339: (skip)
 *
 * RFC 3339 in UTC with trimmed nanoseconds, as Go's time.RFC3339Nano.
 */
char *
mr_tb_format_rfc3339 (gint64 seconds, gint64 nanoseconds)
{
  g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc (seconds);
  g_autofree char *base = NULL;
  GString *out;

  if (t == NULL)
    return g_strdup ("0001-01-01T00:00:00Z");
  base = g_date_time_format (t, "%Y-%m-%dT%H:%M:%S");
  out = g_string_new (base);
  append_fraction (out, nanoseconds);
  g_string_append_c (out, 'Z');
  return g_string_free (out, FALSE);
}

/**
 * mr_tb_resolve_path: (skip)
 *
 * An absolute path for @path: relative paths resolve against the work directory, as
 * they resolve against the daemon's cwd.
 */
char *
mr_tb_resolve_path (MrToolbox *toolbox, const char *path)
{
  if (path == NULL || *path == '\0')
    path = ".";
  return g_canonicalize_filename (path, mr_toolbox_get_work_dir (toolbox));
}

/**
 * mr_tb_get_shell: (skip)
 *
 * The daemon's GetShell(): the first of /usr/bin/zsh, /bin/zsh, /usr/bin/bash, /bin/bash
 * listed in /etc/shells, else $SHELL, else "sh".
 */
char *
mr_tb_get_shell (void)
{
  static const char *const preferred[] = { "/usr/bin/zsh", "/bin/zsh", "/usr/bin/bash", "/bin/bash" };
  g_autofree char *shells = NULL;
  const char *env;

  if (g_file_get_contents ("/etc/shells", &shells, NULL, NULL))
    {
      g_auto(GStrv) lines = g_strsplit (shells, "\n", -1);
      for (guint i = 0; i < G_N_ELEMENTS (preferred); i++)
        for (char **l = lines; *l; l++)
          if (**l != '#' && strcmp (g_strstrip (*l), preferred[i]) == 0 &&
              g_file_test (preferred[i], G_FILE_TEST_IS_EXECUTABLE))
            return g_strdup (preferred[i]);
    }
  env = g_getenv ("SHELL");
  return g_strdup (env && *env ? env : "sh");
}

/**
 * mr_tb_child_environ: (skip)
 *
 * The environment of processes the toolbox starts: mr_tb_base_environ() plus @extra.
 */
char **
mr_tb_child_environ (MrToolbox *toolbox, GHashTable *extra)
{
  char **env = mr_tb_base_environ (toolbox);

  if (extra)
    {
      GHashTableIter iter;
      gpointer k, v;
      g_hash_table_iter_init (&iter, extra);
      while (g_hash_table_iter_next (&iter, &k, &v))
        /* a client's name that is empty or holds '=' names no variable (setenv() refuses
         * it, g_environ_setenv() fails a precondition): left out */
        if (*(const char *) k != '\0' && strchr (k, '=') == NULL)
          env = g_environ_setenv (env, k, v, TRUE);
    }
  return env;
}
