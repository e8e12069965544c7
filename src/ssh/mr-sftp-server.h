/* mr-sftp-server.h: an SFTP version 3 server on a byte stream, for the "sftp" subsystem
 * of the toolbox's SSH server. Not installed.
 *
 * It implements what OpenSSH's sftp and scp clients use (open, read, write, stat,
 * directory listing, mkdir, rmdir, remove, rename, links, setstat, realpath) and the
 * extensions posix-rename, hardlink, fsync, statvfs and limits @openssh.com. Relative
 * paths resolve against the toolbox work directory. Runs on its own thread with
 * blocking I/O; it needs no libssh, so it also works where no sftp-server is
 * installed (toolbox images). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Serves the client on @fd until it ends the stream (or breaks the protocol). Does not
 * close @fd. */
void mr_sftp_serve (int fd, const char *work_dir);

G_END_DECLS
