/* The Go formats of FileInfo: FileMode.String(), Time.String() and RFC 3339. */
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "mr-toolbox-private.h"

static void
assert_mode (guint32 st_mode, const char *expected)
{
  g_autofree char *mode = mr_tb_format_mode (st_mode);

  g_assert_cmpstr (mode, ==, expected);
}

static void
test_mode_synthetic (void)
{
  assert_mode (S_IFREG | 0644, "-rw-r--r--");
  assert_mode (S_IFREG | 0, "----------");
  assert_mode (S_IFDIR | 0755, "drwxr-xr-x");
  assert_mode (S_IFDIR | S_ISVTX | 0777, "dtrwxrwxrwx");
  assert_mode (S_IFCHR | 0666, "Dcrw-rw-rw-");
  assert_mode (S_IFBLK | 0660, "Drw-rw----");
  assert_mode (S_IFREG | S_ISUID | 0755, "urwxr-xr-x");
  assert_mode (S_IFREG | S_ISGID | 0755, "grwxr-xr-x");
  assert_mode (S_IFDIR | S_ISGID | 02775 , "dgrwxrwxr-x");
  assert_mode (S_IFIFO | 0644, "prw-r--r--");
  assert_mode (S_IFSOCK | 0777, "Srwxrwxrwx");
  assert_mode (S_IFLNK | 0777, "Lrwxrwxrwx");
  /* no s/t substitution in the rwx part */
  assert_mode (S_IFREG | S_ISUID | S_ISGID | S_ISVTX | 0777, "ugtrwxrwxrwx");
}

static void
assert_path_mode (const char *path, const char *expected)
{
  struct stat st;

  g_assert_no_errno (stat (path, &st));
  assert_mode (st.st_mode, expected);
}

static void
test_mode_real_files (void)
{
  g_autofree char *dir = g_dir_make_tmp ("mr-format-XXXXXX", NULL);
  g_autofree char *file = g_build_filename (dir, "file", NULL);
  g_autofree char *fifo = g_build_filename (dir, "fifo", NULL);
  g_autofree char *setuid = g_build_filename (dir, "setuid", NULL);
  g_autofree char *sock = g_build_filename (dir, "sock", NULL);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  struct stat st;
  int fd;

  g_assert_nonnull (dir);
  g_assert_no_errno (chmod (dir, 0755));
  assert_path_mode (dir, "drwxr-xr-x");

  g_assert_true (g_file_set_contents (file, "x", 1, NULL));
  g_assert_no_errno (chmod (file, 0644));
  assert_path_mode (file, "-rw-r--r--");

  g_assert_true (g_file_set_contents (setuid, "x", 1, NULL));
  g_assert_no_errno (chmod (setuid, S_ISUID | 0755));
  assert_path_mode (setuid, "urwxr-xr-x");

  g_assert_no_errno (mkfifo (fifo, 0644));
  g_assert_no_errno (chmod (fifo, 0644));
  assert_path_mode (fifo, "prw-r--r--");

  fd = socket (AF_UNIX, SOCK_STREAM, 0);
  g_assert_cmpint (fd, >=, 0);
  g_strlcpy (addr.sun_path, sock, sizeof addr.sun_path);
  g_assert_no_errno (bind (fd, (struct sockaddr *) &addr, sizeof addr));
  g_assert_no_errno (chmod (sock, 0777));
  assert_path_mode (sock, "Srwxrwxrwx");
  close (fd);

  assert_path_mode ("/dev/null", "Dcrw-rw-rw-");
  /* /tmp is sticky and world-writable on every system we run on */
  g_assert_no_errno (stat ("/tmp", &st));
  if ((st.st_mode & 07777) == (S_ISVTX | 0777))
    assert_path_mode ("/tmp", "dtrwxrwxrwx");

  g_unlink (sock);
  g_unlink (fifo);
  g_unlink (setuid);
  g_unlink (file);
  g_rmdir (dir);
}

static void
test_go_time (void)
{
  struct { gint64 s, ns; const char *expected; } cases[] = {
    { 1736937045, 123456789, "2025-01-15 10:30:45.123456789 +0000 UTC" },
    { 1736937045, 0, "2025-01-15 10:30:45 +0000 UTC" },
    { 1736937045, 100000000, "2025-01-15 10:30:45.1 +0000 UTC" },
    { 1736937045, 120000, "2025-01-15 10:30:45.00012 +0000 UTC" },
    { 1736937045, 1, "2025-01-15 10:30:45.000000001 +0000 UTC" },
    { 0, 0, "1970-01-01 00:00:00 +0000 UTC" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *text = mr_tb_format_go_time (cases[i].s, cases[i].ns);
      g_assert_cmpstr (text, ==, cases[i].expected);
    }
}

static void
test_go_time_zone (void)
{
  g_autoptr(GTimeZone) zone = NULL;
  g_autofree char *text = NULL;

  /* the local zone's offset and abbreviation, as Go prints them */
  g_setenv ("TZ", "IST-5:30", TRUE);
  zone = g_time_zone_new_local ();
  if (g_time_zone_get_offset (zone, 0) != 19800)
    {
      g_setenv ("TZ", "UTC", TRUE);
      g_test_skip ("GLib does not read this POSIX TZ string");
      return;
    }
  text = mr_tb_format_go_time (1736937045, 500000000);
  g_setenv ("TZ", "UTC", TRUE);
  g_assert_cmpstr (text, ==, "2025-01-15 16:00:45.5 +0530 IST");
}

static void
test_rfc3339 (void)
{
  struct { gint64 s, ns; const char *expected; } cases[] = {
    { 1736937045, 123456789, "2025-01-15T10:30:45.123456789Z" },
    { 1736937045, 0, "2025-01-15T10:30:45Z" },
    { 1736937045, 120000000, "2025-01-15T10:30:45.12Z" },
    { 0, 5, "1970-01-01T00:00:00.000000005Z" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *text = mr_tb_format_rfc3339 (cases[i].s, cases[i].ns);
      g_assert_cmpstr (text, ==, cases[i].expected);
    }
}

int
main (int argc, char **argv)
{
  g_setenv ("TZ", "UTC", TRUE);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/toolbox-format/mode/synthetic", test_mode_synthetic);
  g_test_add_func ("/toolbox-format/mode/real-files", test_mode_real_files);
  g_test_add_func ("/toolbox-format/go-time", test_go_time);
  g_test_add_func ("/toolbox-format/go-time/zone", test_go_time_zone);
  g_test_add_func ("/toolbox-format/rfc3339", test_rfc3339);
  return g_test_run ();
}
