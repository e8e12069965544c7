/* mr-docker-client.h: a small Docker Engine API client over libcurl, on a unix socket
 * (DOCKER_HOST=unix:///path, the default being /var/run/docker.sock) or TCP
 * (tcp://host:port). No docker CLI. Calls block: make them from a worker thread, or
 * where blocking is fine (plugin start). A client may be used from several threads:
 * each call has its own curl handle. */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define MR_DOCKER_DEFAULT_HOST "unix:///var/run/docker.sock"

typedef struct _MrDockerClient MrDockerClient;

MrDockerClient *mr_docker_client_new (const char *docker_host, const char *api_version, GError **error);
void            mr_docker_client_free (MrDockerClient *client);
const char     *mr_docker_client_get_host (MrDockerClient *client);

/* One API call. @body may be NULL; @response (optional) gets the body whatever the
 * status. Only transport failures are errors here. */
gboolean        mr_docker_client_call (MrDockerClient *client, const char *method, const char *path,
                                       const char *content_type, GBytes *body, guint timeout_sec,
                                       guint *status, GBytes **response, GError **error);

/* A call whose success is one of the statuses in @ok (0-terminated); any other status
 * is an error carrying the engine's message. Returns the parsed JSON body (a JSON null
 * node for an empty body), or NULL on error. */
JsonNode       *mr_docker_client_call_json (MrDockerClient *client, const char *method, const char *path,
                                            JsonNode *body, guint timeout_sec, const guint *ok,
                                            guint *status, GError **error);

/* A plain HTTP GET (not the engine), e.g. the toolbox daemon's /version. */
gboolean        mr_docker_http_get (const char *url, guint timeout_ms, guint *status, GBytes **response,
                                    GError **error);

char           *mr_docker_error_message (GBytes *response);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MrDockerClient, mr_docker_client_free)

G_END_DECLS
