/* ssh-relay.h: the gateway's side of the toolbox's SSH server: one upstream SSH session
 * per client connection, and peers that relay each client channel to a channel of the
 * same kind on it (requests with their replies, data both ways, exit status back). */
#pragma once

#include "ssh/mr-ssh-conn.h"

G_BEGIN_DECLS

typedef struct _Upstream Upstream;

/* Logs in (as the Daytona runner does: user "daytona", password "sandbox-ssh") over
 * @fd, a connected socket to the toolbox's SSH server, which the upstream takes.
 * Blocking, bounded; mr_ssh_conn_interrupt() on @conn cuts it short. */
Upstream  *relay_upstream_connect (MrSshConn *conn, int fd, GError **error);
void       relay_upstream_prepare (Upstream *up, MrSshPollSet *set);
/* Moves the upstream's I/O along; FALSE once the upstream connection is gone. */
gboolean   relay_upstream_dispatch (Upstream *up);
void       relay_upstream_free (Upstream *up);

MrSshPeer *relay_open_session (Upstream *up, GError **error);
MrSshPeer *relay_open_direct_tcpip (Upstream *up, const char *host, guint16 port,
                                    const char *origin_host, guint16 origin_port, GError **error);

G_END_DECLS
