/* mr-toolbox-backend.h: the interface of toolbox plugins, which serve
 * ANY /sandboxes/{id}/toolbox/{path} (in-process, in a container, or remotely). */
#pragma once

#include <libsoup/soup.h>

#include "mr-plugin.h"

G_BEGIN_DECLS

#define MR_TYPE_TOOLBOX_REQUEST (mr_toolbox_request_get_type ())

typedef struct _MrToolboxRequest MrToolboxRequest;

GType              mr_toolbox_request_get_type (void) G_GNUC_CONST;
MrToolboxRequest  *mr_toolbox_request_new (SoupServerMessage *msg, const char *sandbox_id,
                                           const char *path, const char *prefix);
MrToolboxRequest  *mr_toolbox_request_ref (MrToolboxRequest *request);
void               mr_toolbox_request_unref (MrToolboxRequest *request);
SoupServerMessage *mr_toolbox_request_get_message (MrToolboxRequest *request);
void               mr_toolbox_request_set_server (MrToolboxRequest *request, SoupServer *server);
SoupServer        *mr_toolbox_request_get_server (MrToolboxRequest *request);
const char        *mr_toolbox_request_get_sandbox_id (MrToolboxRequest *request);
const char        *mr_toolbox_request_get_path (MrToolboxRequest *request);
const char        *mr_toolbox_request_get_prefix (MrToolboxRequest *request);
const char        *mr_toolbox_request_get_query (MrToolboxRequest *request);
void               mr_toolbox_request_set_data (MrToolboxRequest *request, gpointer data, GDestroyNotify destroy);
gpointer           mr_toolbox_request_get_data (MrToolboxRequest *request);
char              *mr_toolbox_request_rewrite_location (MrToolboxRequest *request, const char *location);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MrToolboxRequest, mr_toolbox_request_unref)

#define MR_TYPE_TOOLBOX_BACKEND (mr_toolbox_backend_get_type ())
G_DECLARE_INTERFACE (MrToolboxBackend, mr_toolbox_backend, MR, TOOLBOX_BACKEND, MrPlugin)

/**
 * MrToolboxBackendInterface:
 * @g_iface: the parent interface
 * @handle_headers: called when the request headers have been read, before the body.
 *   A backend that streams the request body connects to the message's "got-chunk"
 *   here (and turns accumulation off); it may also answer at once.
 * @handle_body: called when the whole body has been read, unless a status was set
 *   already. May be %NULL if handle_headers always takes the request over.
 * @ensure_running: make sure the toolbox can serve (start and create call this)
 * @check_health: whether the toolbox can serve now; on %FALSE sets @reason
 * @get_service_name: the name reported in /info serviceHealth, e.g. "toolbox"
 * @get_daemon_version: the version the toolbox daemon reports at GET /version
 * @connect_port: open a TCP connection to @port inside the toolbox (for ssh port
 *   forwarding); may be %NULL
 *
 * The runner strips the `/sandboxes/{id}/toolbox` prefix and `X-Daytona-Authorization`
 * before it hands a request over; the backend must answer every request it is given.
 */
struct _MrToolboxBackendInterface {
  GTypeInterface g_iface;

  void       (*handle_headers)     (MrToolboxBackend *self, MrToolboxRequest *request);
  void       (*handle_body)        (MrToolboxBackend *self, MrToolboxRequest *request);
  gboolean   (*ensure_running)     (MrToolboxBackend *self, GError **error);
  gboolean   (*check_health)       (MrToolboxBackend *self, char **reason);
  const char *(*get_service_name)  (MrToolboxBackend *self);
  char      *(*get_daemon_version) (MrToolboxBackend *self);
  GIOStream *(*connect_port)       (MrToolboxBackend *self, guint16 port, GCancellable *cancellable, GError **error);
};

void        mr_toolbox_backend_handle_headers (MrToolboxBackend *self, MrToolboxRequest *request);
void        mr_toolbox_backend_handle_body (MrToolboxBackend *self, MrToolboxRequest *request);
gboolean    mr_toolbox_backend_ensure_running (MrToolboxBackend *self, GError **error);
gboolean    mr_toolbox_backend_check_health (MrToolboxBackend *self, char **reason);
const char *mr_toolbox_backend_get_service_name (MrToolboxBackend *self);
char       *mr_toolbox_backend_get_daemon_version (MrToolboxBackend *self);
GIOStream  *mr_toolbox_backend_connect_port (MrToolboxBackend *self, guint16 port,
                                             GCancellable *cancellable, GError **error);

G_END_DECLS
