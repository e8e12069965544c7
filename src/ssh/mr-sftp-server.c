/* mr-sftp-server.c: SFTP version 3 (draft-ietf-secsh-filexfer-02) plus the OpenSSH
 * extensions its clients use. One request at a time, answered in order. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>

#include "mr-sftp-server.h"

enum {
  FXP_INIT = 1, FXP_VERSION = 2, FXP_OPEN = 3, FXP_CLOSE = 4, FXP_READ = 5, FXP_WRITE = 6, FXP_LSTAT = 7,
  FXP_FSTAT = 8, FXP_SETSTAT = 9, FXP_FSETSTAT = 10, FXP_OPENDIR = 11, FXP_READDIR = 12, FXP_REMOVE = 13,
  FXP_MKDIR = 14, FXP_RMDIR = 15, FXP_REALPATH = 16, FXP_STAT = 17, FXP_RENAME = 18, FXP_READLINK = 19,
  FXP_SYMLINK = 20, FXP_STATUS = 101, FXP_HANDLE = 102, FXP_DATA = 103, FXP_NAME = 104, FXP_ATTRS = 105,
  FXP_EXTENDED = 200, FXP_EXTENDED_REPLY = 201,
};

enum {
  FX_OK = 0, FX_EOF = 1, FX_NO_SUCH_FILE = 2, FX_PERMISSION_DENIED = 3, FX_FAILURE = 4, FX_BAD_MESSAGE = 5,
  FX_OP_UNSUPPORTED = 8,
};

enum {
  ATTR_SIZE = 0x1, ATTR_UIDGID = 0x2, ATTR_PERMISSIONS = 0x4, ATTR_ACMODTIME = 0x8, ATTR_EXTENDED = 0x80000000,
};

enum {
  FXF_READ = 0x1, FXF_WRITE = 0x2, FXF_APPEND = 0x4, FXF_CREAT = 0x8, FXF_TRUNC = 0x10, FXF_EXCL = 0x20,
};

/* as OpenSSH's sftp-server */
#define MAX_PACKET (256 * 1024)
#define MAX_READ (MAX_PACKET - 1024)
#define MAX_HANDLES 256
#define NAMES_PER_READDIR 100

typedef struct {
  gboolean used;
  int fd;               /* a file, or -1 */
  DIR *dir;             /* a directory, or NULL */
  char *path;
} Handle;

typedef struct {
  int fd;
  char *work_dir;
  Handle handles[MAX_HANDLES];
  GByteArray *out;
} Sftp;

/* Reading requests -------------------------------------------------------------------- */

typedef struct {
  const guint8 *p;
  gsize left;
  gboolean bad;
} Reader;

static guint32
get_u32 (Reader *r)
{
  guint32 v;

  if (r->left < 4)
    {
      r->bad = TRUE;
      return 0;
    }
  v = ((guint32) r->p[0] << 24) | ((guint32) r->p[1] << 16) | ((guint32) r->p[2] << 8) | r->p[3];
  r->p += 4;
  r->left -= 4;
  return v;
}

static guint64
get_u64 (Reader *r)
{
  guint64 hi = get_u32 (r);

  return (hi << 32) | get_u32 (r);
}

static guint8
get_u8 (Reader *r)
{
  guint8 v;

  if (r->left < 1)
    {
      r->bad = TRUE;
      return 0;
    }
  v = r->p[0];
  r->p++;
  r->left--;
  return v;
}

/* Returns the bytes of a string (not NUL-terminated) and sets @len. */
static const guint8 *
get_bytes (Reader *r, guint32 *len)
{
  const guint8 *data;

  *len = get_u32 (r);
  if (r->bad || *len > r->left)
    {
      r->bad = TRUE;
      *len = 0;
      return NULL;
    }
  data = r->p;
  r->p += *len;
  r->left -= *len;
  return data;
}

static char *
get_string (Reader *r)
{
  guint32 len;
  const guint8 *data = get_bytes (r, &len);

  return r->bad ? NULL : g_strndup ((const char *) data, len);
}

typedef struct {
  guint32 flags;
  guint64 size;
  guint32 uid, gid, perms, atime, mtime;
} Attrs;

static void
get_attrs (Reader *r, Attrs *a)
{
  memset (a, 0, sizeof *a);
  a->flags = get_u32 (r);
  if (a->flags & ATTR_SIZE)
    a->size = get_u64 (r);
  if (a->flags & ATTR_UIDGID)
    {
      a->uid = get_u32 (r);
      a->gid = get_u32 (r);
    }
  if (a->flags & ATTR_PERMISSIONS)
    a->perms = get_u32 (r);
  if (a->flags & ATTR_ACMODTIME)
    {
      a->atime = get_u32 (r);
      a->mtime = get_u32 (r);
    }
  if (a->flags & ATTR_EXTENDED)
    {
      guint32 n = get_u32 (r);
      for (guint32 i = 0; i < n && !r->bad; i++)
        {
          guint32 len;
          get_bytes (r, &len);
          get_bytes (r, &len);
        }
    }
}

/* Writing replies ----------------------------------------------------------------------- */

static void
put_u32 (GByteArray *out, guint32 v)
{
  guint8 b[4] = { v >> 24, v >> 16, v >> 8, v };

  g_byte_array_append (out, b, 4);
}

static void
put_u64 (GByteArray *out, guint64 v)
{
  put_u32 (out, v >> 32);
  put_u32 (out, (guint32) v);
}

static void
put_u8 (GByteArray *out, guint8 v)
{
  g_byte_array_append (out, &v, 1);
}

static void
put_bytes (GByteArray *out, const void *data, gsize len)
{
  put_u32 (out, len);
  g_byte_array_append (out, data, len);
}

static void
put_string (GByteArray *out, const char *s)
{
  put_bytes (out, s, strlen (s));
}

static void
put_stat (GByteArray *out, const struct stat *st)
{
  put_u32 (out, ATTR_SIZE | ATTR_UIDGID | ATTR_PERMISSIONS | ATTR_ACMODTIME);
  put_u64 (out, st->st_size);
  put_u32 (out, st->st_uid);
  put_u32 (out, st->st_gid);
  put_u32 (out, st->st_mode);
  put_u32 (out, (guint32) st->st_atime);
  put_u32 (out, (guint32) st->st_mtime);
}

static void
begin (Sftp *s, guint8 type, guint32 id)
{
  g_byte_array_set_size (s->out, 0);
  put_u32 (s->out, 0);   /* length, set by send_reply() */
  put_u8 (s->out, type);
  if (type != FXP_VERSION)
    put_u32 (s->out, id);
}

static gboolean
write_all (int fd, const guint8 *data, gsize len)
{
  while (len > 0)
    {
      gssize n = send (fd, data, len, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      data += n;
      len -= n;
    }
  return TRUE;
}

static gboolean
send_reply (Sftp *s)
{
  guint32 len = s->out->len - 4;

  s->out->data[0] = len >> 24;
  s->out->data[1] = len >> 16;
  s->out->data[2] = len >> 8;
  s->out->data[3] = len;
  return write_all (s->fd, s->out->data, s->out->len);
}

static const char *
status_message (guint32 code)
{
  switch (code)
    {
    case FX_OK: return "Success";
    case FX_EOF: return "End of file";
    case FX_NO_SUCH_FILE: return "No such file";
    case FX_PERMISSION_DENIED: return "Permission denied";
    case FX_BAD_MESSAGE: return "Bad message";
    case FX_OP_UNSUPPORTED: return "Operation unsupported";
    case FX_FAILURE:
    default: return "Failure";
    }
}

static gboolean
send_status (Sftp *s, guint32 id, guint32 code)
{
  begin (s, FXP_STATUS, id);
  put_u32 (s->out, code);
  put_string (s->out, status_message (code));
  put_string (s->out, "");
  return send_reply (s);
}

static guint32
errno_status (int err)
{
  switch (err)
    {
    case 0: return FX_OK;
    case ENOENT: case ENOTDIR: case EBADF: case ELOOP: return FX_NO_SUCH_FILE;
    case EPERM: case EACCES: case EFAULT: return FX_PERMISSION_DENIED;
    case ENAMETOOLONG: case EINVAL: return FX_BAD_MESSAGE;
    case ENOSYS: return FX_OP_UNSUPPORTED;
    default: return FX_FAILURE;
    }
}

static gboolean
send_errno (Sftp *s, guint32 id, int ok)
{
  return send_status (s, id, ok ? FX_OK : errno_status (errno));
}

/* Paths and handles ------------------------------------------------------------------ */

static char *
resolve (Sftp *s, const char *path)
{
  if (path == NULL || *path == '\0')
    return g_strdup (s->work_dir);
  if (g_path_is_absolute (path))
    return g_strdup (path);
  return g_build_filename (s->work_dir, path, NULL);
}

static int
handle_new (Sftp *s, int fd, DIR *dir, const char *path)
{
  for (int i = 0; i < MAX_HANDLES; i++)
    if (!s->handles[i].used)
      {
        s->handles[i].used = TRUE;
        s->handles[i].fd = fd;
        s->handles[i].dir = dir;
        s->handles[i].path = g_strdup (path);
        return i;
      }
  return -1;
}

static void
handle_close (Handle *h)
{
  if (h->fd >= 0)
    close (h->fd);
  if (h->dir)
    closedir (h->dir);
  g_free (h->path);
  memset (h, 0, sizeof *h);
  h->fd = -1;
}

static Handle *
get_handle (Sftp *s, Reader *r)
{
  guint32 len;
  const guint8 *data = get_bytes (r, &len);
  char text[16];
  guint64 index;

  if (r->bad || len == 0 || len >= sizeof text)
    return NULL;
  memcpy (text, data, len);
  text[len] = '\0';
  if (!g_ascii_string_to_unsigned (text, 10, 0, MAX_HANDLES - 1, &index, NULL) || !s->handles[index].used)
    return NULL;
  return &s->handles[index];
}

static gboolean
send_handle (Sftp *s, guint32 id, int index)
{
  char text[16];

  g_snprintf (text, sizeof text, "%d", index);
  begin (s, FXP_HANDLE, id);
  put_string (s->out, text);
  return send_reply (s);
}

/* "drwxr-xr-x    2 user     group        4096 Jan  1 12:00 name", as ls -l */
static char *
long_name (const char *name, const struct stat *st)
{
  char mode[11] = "----------";
  char user[32], group[32], when[32];
  struct passwd pw, *pwp = NULL;
  struct group gr, *grp = NULL;
  char buf[1024];
  struct tm tm;
  time_t now = time (NULL);

  switch (st->st_mode & S_IFMT)
    {
    case S_IFDIR: mode[0] = 'd'; break;
    case S_IFLNK: mode[0] = 'l'; break;
    case S_IFCHR: mode[0] = 'c'; break;
    case S_IFBLK: mode[0] = 'b'; break;
    case S_IFIFO: mode[0] = 'p'; break;
    case S_IFSOCK: mode[0] = 's'; break;
    default: break;
    }
  for (int i = 0; i < 9; i++)
    if (st->st_mode & (1 << (8 - i)))
      mode[1 + i] = "rwxrwxrwx"[i];
  if (st->st_mode & S_ISUID)
    mode[3] = (st->st_mode & S_IXUSR) ? 's' : 'S';
  if (st->st_mode & S_ISGID)
    mode[6] = (st->st_mode & S_IXGRP) ? 's' : 'S';
  if (st->st_mode & S_ISVTX)
    mode[9] = (st->st_mode & S_IXOTH) ? 't' : 'T';

  if (getpwuid_r (st->st_uid, &pw, buf, sizeof buf, &pwp) == 0 && pwp)
    g_strlcpy (user, pwp->pw_name, sizeof user);
  else
    g_snprintf (user, sizeof user, "%u", (guint) st->st_uid);
  if (getgrgid_r (st->st_gid, &gr, buf, sizeof buf, &grp) == 0 && grp)
    g_strlcpy (group, grp->gr_name, sizeof group);
  else
    g_snprintf (group, sizeof group, "%u", (guint) st->st_gid);

  localtime_r (&st->st_mtime, &tm);
  /* recent files show the time, older ones the year */
  strftime (when, sizeof when, (now - st->st_mtime) < 180 * 24 * 3600 && st->st_mtime <= now + 3600
                               ? "%b %e %H:%M" : "%b %e  %Y", &tm);
  return g_strdup_printf ("%s %3u %-8s %-8s %8" G_GUINT64_FORMAT " %s %s", mode, (guint) st->st_nlink, user, group,
                          (guint64) st->st_size, when, name);
}

static gboolean
send_single_name (Sftp *s, guint32 id, const char *name)
{
  begin (s, FXP_NAME, id);
  put_u32 (s->out, 1);
  put_string (s->out, name);
  put_string (s->out, name);
  put_u32 (s->out, 0);   /* no attributes */
  return send_reply (s);
}

/* Requests --------------------------------------------------------------------------- */

static gboolean
do_init (Sftp *s, Reader *r)
{
  static const char *const extensions[][2] = {
    { "posix-rename@openssh.com", "1" },
    { "statvfs@openssh.com", "2" },
    { "hardlink@openssh.com", "1" },
    { "fsync@openssh.com", "1" },
    { "limits@openssh.com", "1" },
  };

  get_u32 (r);   /* the client's version: we speak 3 whatever it says */
  begin (s, FXP_VERSION, 0);
  put_u32 (s->out, 3);
  for (guint i = 0; i < G_N_ELEMENTS (extensions); i++)
    {
      put_string (s->out, extensions[i][0]);
      put_string (s->out, extensions[i][1]);
    }
  return send_reply (s);
}

static gboolean
do_open (Sftp *s, guint32 id, Reader *r)
{
  g_autofree char *name = get_string (r);
  guint32 pflags = get_u32 (r);
  g_autofree char *path = NULL;
  int flags = O_CLOEXEC | O_NOCTTY;
  mode_t mode;
  Attrs a;
  int fd, index;

  get_attrs (r, &a);
  if (r->bad)
    return send_status (s, id, FX_BAD_MESSAGE);
  if ((pflags & FXF_READ) && (pflags & FXF_WRITE))
    flags |= O_RDWR;
  else if (pflags & FXF_WRITE)
    flags |= O_WRONLY;
  else
    flags |= O_RDONLY;
  if (pflags & FXF_APPEND)
    flags |= O_APPEND;
  if (pflags & FXF_CREAT)
    flags |= O_CREAT;
  if (pflags & FXF_TRUNC)
    flags |= O_TRUNC;
  if (pflags & FXF_EXCL)
    flags |= O_EXCL;
  mode = (a.flags & ATTR_PERMISSIONS) ? (a.perms & 07777) : 0666;
  path = resolve (s, name);
  fd = open (path, flags, mode);
  if (fd < 0)
    return send_errno (s, id, FALSE);
  index = handle_new (s, fd, NULL, path);
  if (index < 0)
    {
      close (fd);
      return send_status (s, id, FX_FAILURE);
    }
  return send_handle (s, id, index);
}

static gboolean
do_close (Sftp *s, guint32 id, Reader *r)
{
  Handle *h = get_handle (s, r);
  int ok = 1;

  if (h == NULL)
    return send_status (s, id, FX_FAILURE);
  if (h->fd >= 0)
    {
      ok = close (h->fd) == 0;
      h->fd = -1;
    }
  handle_close (h);
  return send_errno (s, id, ok);
}

static gboolean
do_read (Sftp *s, guint32 id, Reader *r)
{
  Handle *h = get_handle (s, r);
  guint64 offset = get_u64 (r);
  guint32 len = get_u32 (r);
  gssize n;

  if (r->bad || h == NULL || h->fd < 0)
    return send_status (s, id, FX_FAILURE);
  len = MIN (len, MAX_READ);
  begin (s, FXP_DATA, id);
  put_u32 (s->out, 0);
  g_byte_array_set_size (s->out, s->out->len + len);
  do
    n = pread (h->fd, s->out->data + s->out->len - len, len, offset);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return send_errno (s, id, FALSE);
  if (n == 0 && len > 0)
    return send_status (s, id, FX_EOF);
  /* the data length, then drop what was not read */
  g_byte_array_set_size (s->out, s->out->len - len + n);
  {
    guint8 *p = s->out->data + s->out->len - n - 4;
    p[0] = n >> 24;
    p[1] = n >> 16;
    p[2] = n >> 8;
    p[3] = n;
  }
  return send_reply (s);
}

static gboolean
do_write (Sftp *s, guint32 id, Reader *r)
{
  Handle *h = get_handle (s, r);
  guint64 offset = get_u64 (r);
  guint32 len;
  const guint8 *data = get_bytes (r, &len);

  if (r->bad || h == NULL || h->fd < 0)
    return send_status (s, id, FX_FAILURE);
  while (len > 0)
    {
      gssize n = pwrite (h->fd, data, len, offset);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return send_errno (s, id, FALSE);
      data += n;
      len -= n;
      offset += n;
    }
  return send_status (s, id, FX_OK);
}

static gboolean
do_stat (Sftp *s, guint32 id, Reader *r, gboolean follow)
{
  g_autofree char *name = get_string (r);
  g_autofree char *path = NULL;
  struct stat st;

  if (r->bad)
    return send_status (s, id, FX_BAD_MESSAGE);
  path = resolve (s, name);
  if ((follow ? stat (path, &st) : lstat (path, &st)) != 0)
    return send_errno (s, id, FALSE);
  begin (s, FXP_ATTRS, id);
  put_stat (s->out, &st);
  return send_reply (s);
}

static gboolean
do_fstat (Sftp *s, guint32 id, Reader *r)
{
  Handle *h = get_handle (s, r);
  struct stat st;
  int ok;

  if (h == NULL)
    return send_status (s, id, FX_FAILURE);
  ok = h->fd >= 0 ? fstat (h->fd, &st) == 0 : stat (h->path, &st) == 0;
  if (!ok)
    return send_errno (s, id, FALSE);
  begin (s, FXP_ATTRS, id);
  put_stat (s->out, &st);
  return send_reply (s);
}

/* Applies @a to @path (or to @fd when >= 0); errno set on failure. */
static gboolean
apply_attrs (const char *path, int fd, const Attrs *a)
{
  if ((a->flags & ATTR_SIZE) && (fd >= 0 ? ftruncate (fd, a->size) : truncate (path, a->size)) != 0)
    return FALSE;
  if ((a->flags & ATTR_PERMISSIONS) && (fd >= 0 ? fchmod (fd, a->perms & 07777) : chmod (path, a->perms & 07777)) != 0)
    return FALSE;
  if ((a->flags & ATTR_ACMODTIME))
    {
      struct timeval tv[2] = { { a->atime, 0 }, { a->mtime, 0 } };
      if ((fd >= 0 ? futimes (fd, tv) : utimes (path, tv)) != 0)
        return FALSE;
    }
  if ((a->flags & ATTR_UIDGID) && (fd >= 0 ? fchown (fd, a->uid, a->gid) : chown (path, a->uid, a->gid)) != 0)
    return FALSE;
  return TRUE;
}

static gboolean
do_setstat (Sftp *s, guint32 id, Reader *r)
{
  g_autofree char *name = get_string (r);
  g_autofree char *path = NULL;
  Attrs a;

  get_attrs (r, &a);
  if (r->bad)
    return send_status (s, id, FX_BAD_MESSAGE);
  path = resolve (s, name);
  return send_errno (s, id, apply_attrs (path, -1, &a));
}

static gboolean
do_fsetstat (Sftp *s, guint32 id, Reader *r)
{
  Handle *h = get_handle (s, r);
  Attrs a;

  get_attrs (r, &a);
  if (r->bad || h == NULL)
    return send_status (s, id, FX_FAILURE);
  return send_errno (s, id, apply_attrs (h->path, h->fd, &a));
}

static gboolean
do_opendir (Sftp *s, guint32 id, Reader *r)
{
  g_autofree char *name = get_string (r);
  g_autofree char *path = NULL;
  DIR *dir;
  int index;

  if (r->bad)
    return send_status (s, id, FX_BAD_MESSAGE);
  path = resolve (s, name);
  dir = opendir (path);
  if (dir == NULL)
    return send_errno (s, id, FALSE);
  index = handle_new (s, -1, dir, path);
  if (index < 0)
    {
      closedir (dir);
      return send_status (s, id, FX_FAILURE);
    }
  return send_handle (s, id, index);
}

static gboolean
do_readdir (Sftp *s, guint32 id, Reader *r)
{
  Handle *h = get_handle (s, r);
  guint32 count = 0;
  gsize count_at;
  struct dirent *entry;

  if (h == NULL || h->dir == NULL)
    return send_status (s, id, FX_FAILURE);
  begin (s, FXP_NAME, id);
  count_at = s->out->len;
  put_u32 (s->out, 0);
  while (count < NAMES_PER_READDIR && (entry = readdir (h->dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (h->path, entry->d_name, NULL);
      g_autofree char *longname = NULL;
      struct stat st;

      if (lstat (child, &st) != 0)
        continue;
      longname = long_name (entry->d_name, &st);
      put_string (s->out, entry->d_name);
      put_string (s->out, longname);
      put_stat (s->out, &st);
      count++;
    }
  if (count == 0)
    return send_status (s, id, FX_EOF);
  s->out->data[count_at] = count >> 24;
  s->out->data[count_at + 1] = count >> 16;
  s->out->data[count_at + 2] = count >> 8;
  s->out->data[count_at + 3] = count;
  return send_reply (s);
}

static gboolean
do_path_op (Sftp *s, guint32 id, Reader *r, guint8 type)
{
  g_autofree char *name = get_string (r);
  g_autofree char *path = NULL;
  Attrs a = { 0 };
  int ok = 0;

  if (type == FXP_MKDIR)
    get_attrs (r, &a);
  if (r->bad)
    return send_status (s, id, FX_BAD_MESSAGE);
  path = resolve (s, name);
  switch (type)
    {
    case FXP_REMOVE: ok = unlink (path) == 0; break;
    case FXP_RMDIR: ok = rmdir (path) == 0; break;
    case FXP_MKDIR: ok = mkdir (path, (a.flags & ATTR_PERMISSIONS) ? (a.perms & 07777) : 0777) == 0; break;
    default: break;
    }
  return send_errno (s, id, ok);
}

static gboolean
do_realpath (Sftp *s, guint32 id, Reader *r)
{
  g_autofree char *name = get_string (r);
  g_autofree char *path = NULL;
  g_autofree char *real = NULL;

  if (r->bad)
    return send_status (s, id, FX_BAD_MESSAGE);
  path = resolve (s, name);
  real = realpath (path, NULL);
  /* a path that does not exist yet still has a canonical form */
  if (real == NULL)
    real = g_canonicalize_filename (path, NULL);
  return send_single_name (s, id, real);
}

static gboolean
do_two_paths (Sftp *s, guint32 id, Reader *r, const char *op)
{
  g_autofree char *first = get_string (r);
  g_autofree char *second = get_string (r);
  g_autofree char *a = NULL;
  g_autofree char *b = NULL;
  struct stat st;
  int ok = 0;

  if (r->bad)
    return send_status (s, id, FX_BAD_MESSAGE);
  b = resolve (s, second);
  if (strcmp (op, "symlink") == 0)
    /* OpenSSH sends (target, link) for SYMLINK, the reverse of the draft; its clients
     * expect its server's reading, which is this one. The target is kept as given. */
    ok = symlink (first, b) == 0;
  else
    {
      a = resolve (s, first);
      if (strcmp (op, "rename") == 0)
        {
          /* SFTP v3 rename does not replace an existing file */
          if (lstat (b, &st) == 0)
            return send_status (s, id, FX_FAILURE);
          ok = rename (a, b) == 0;
        }
      else if (strcmp (op, "posix-rename") == 0)
        ok = rename (a, b) == 0;
      else if (strcmp (op, "hardlink") == 0)
        ok = link (a, b) == 0;
    }
  return send_errno (s, id, ok);
}

static gboolean
do_readlink (Sftp *s, guint32 id, Reader *r)
{
  g_autofree char *name = get_string (r);
  g_autofree char *path = NULL;
  char target[PATH_MAX];
  gssize n;

  if (r->bad)
    return send_status (s, id, FX_BAD_MESSAGE);
  path = resolve (s, name);
  n = readlink (path, target, sizeof target - 1);
  if (n < 0)
    return send_errno (s, id, FALSE);
  target[n] = '\0';
  return send_single_name (s, id, target);
}

static gboolean
do_extended (Sftp *s, guint32 id, Reader *r)
{
  g_autofree char *request = get_string (r);

  if (r->bad)
    return send_status (s, id, FX_BAD_MESSAGE);
  if (strcmp (request, "posix-rename@openssh.com") == 0)
    return do_two_paths (s, id, r, "posix-rename");
  if (strcmp (request, "hardlink@openssh.com") == 0)
    return do_two_paths (s, id, r, "hardlink");
  if (strcmp (request, "fsync@openssh.com") == 0)
    {
      Handle *h = get_handle (s, r);
      if (h == NULL || h->fd < 0)
        return send_status (s, id, FX_FAILURE);
      return send_errno (s, id, fsync (h->fd) == 0);
    }
  if (strcmp (request, "limits@openssh.com") == 0)
    {
      begin (s, FXP_EXTENDED_REPLY, id);
      put_u64 (s->out, MAX_PACKET);
      put_u64 (s->out, MAX_READ);
      put_u64 (s->out, MAX_READ);
      put_u64 (s->out, MAX_HANDLES);
      return send_reply (s);
    }
  if (strcmp (request, "statvfs@openssh.com") == 0)
    {
      g_autofree char *name = get_string (r);
      g_autofree char *path = NULL;
      struct statvfs v;

      if (r->bad)
        return send_status (s, id, FX_BAD_MESSAGE);
      path = resolve (s, name);
      if (statvfs (path, &v) != 0)
        return send_errno (s, id, FALSE);
      begin (s, FXP_EXTENDED_REPLY, id);
      put_u64 (s->out, v.f_bsize);
      put_u64 (s->out, v.f_frsize);
      put_u64 (s->out, v.f_blocks);
      put_u64 (s->out, v.f_bfree);
      put_u64 (s->out, v.f_bavail);
      put_u64 (s->out, v.f_files);
      put_u64 (s->out, v.f_ffree);
      put_u64 (s->out, v.f_favail);
      put_u64 (s->out, v.f_fsid);
      put_u64 (s->out, ((v.f_flag & ST_RDONLY) ? 1 : 0) | ((v.f_flag & ST_NOSUID) ? 2 : 0));
      put_u64 (s->out, v.f_namemax);
      return send_reply (s);
    }
  return send_status (s, id, FX_OP_UNSUPPORTED);
}

/* Returns FALSE when the connection must end. */
static gboolean
dispatch (Sftp *s, const guint8 *packet, gsize len)
{
  Reader r = { packet, len, FALSE };
  guint8 type = get_u8 (&r);
  guint32 id;

  if (type == FXP_INIT)
    return do_init (s, &r);
  id = get_u32 (&r);
  if (r.bad)
    return FALSE;
  switch (type)
    {
    case FXP_OPEN: return do_open (s, id, &r);
    case FXP_CLOSE: return do_close (s, id, &r);
    case FXP_READ: return do_read (s, id, &r);
    case FXP_WRITE: return do_write (s, id, &r);
    case FXP_LSTAT: return do_stat (s, id, &r, FALSE);
    case FXP_STAT: return do_stat (s, id, &r, TRUE);
    case FXP_FSTAT: return do_fstat (s, id, &r);
    case FXP_SETSTAT: return do_setstat (s, id, &r);
    case FXP_FSETSTAT: return do_fsetstat (s, id, &r);
    case FXP_OPENDIR: return do_opendir (s, id, &r);
    case FXP_READDIR: return do_readdir (s, id, &r);
    case FXP_REMOVE:
    case FXP_RMDIR:
    case FXP_MKDIR: return do_path_op (s, id, &r, type);
    case FXP_REALPATH: return do_realpath (s, id, &r);
    case FXP_RENAME: return do_two_paths (s, id, &r, "rename");
    case FXP_READLINK: return do_readlink (s, id, &r);
    case FXP_SYMLINK: return do_two_paths (s, id, &r, "symlink");
    case FXP_EXTENDED: return do_extended (s, id, &r);
    default: return send_status (s, id, FX_OP_UNSUPPORTED);
    }
}

static gboolean
read_all (int fd, guint8 *buf, gsize len)
{
  while (len > 0)
    {
      gssize n = read (fd, buf, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      buf += n;
      len -= n;
    }
  return TRUE;
}

void
mr_sftp_serve (int fd, const char *work_dir)
{
  Sftp s = { 0 };
  guint8 *packet = g_malloc (MAX_PACKET);

  s.fd = fd;
  s.work_dir = g_strdup (work_dir ? work_dir : "/");
  s.out = g_byte_array_sized_new (MAX_PACKET);
  for (int i = 0; i < MAX_HANDLES; i++)
    s.handles[i].fd = -1;

  for (;;)
    {
      guint8 head[4];
      guint32 len;

      if (!read_all (fd, head, 4))
        break;
      len = ((guint32) head[0] << 24) | ((guint32) head[1] << 16) | ((guint32) head[2] << 8) | head[3];
      if (len == 0 || len > MAX_PACKET || !read_all (fd, packet, len))
        break;
      if (!dispatch (&s, packet, len))
        break;
    }

  for (int i = 0; i < MAX_HANDLES; i++)
    if (s.handles[i].used)
      handle_close (&s.handles[i]);
  g_byte_array_unref (s.out);
  g_free (s.work_dir);
  g_free (packet);
}
