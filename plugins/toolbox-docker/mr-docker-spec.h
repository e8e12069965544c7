/* mr-docker-spec.h: the JSON the docker toolbox backend sends to the Engine API and
 * what it reads back, kept apart from the HTTP calls so that it can be unit tested. */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define MR_DOCKER_DAEMON_PORT 2280

typedef struct {
  const char *image;
  const char * const *command;     /* e.g. {"sleep", "infinity", NULL} */
  const char *working_dir;
  const char *network;             /* nullable: the engine's default */
  const char *ulimits;             /* nullable: "nofile=1024:1024,nproc=1024" */
  gboolean publish;                /* publish the daemon port on 127.0.0.1 */
} MrDockerContainerSpec;

typedef struct {
  gboolean exists;
  gboolean running;
  char *status;                    /* "running", "exited", ... */
  char *error;                     /* State.Error, if any */
  char *id;
  char *ip;                        /* first network address, if any */
  guint16 published_port;          /* host port of 2280/tcp on 127.0.0.1, if published */
} MrDockerContainerState;

JsonNode *mr_docker_spec_create_body (const MrDockerContainerSpec *spec, GError **error);
JsonNode *mr_docker_spec_exec_body (const char * const *argv);
gboolean  mr_docker_spec_parse_ulimits (const char *text, JsonBuilder *builder, GError **error);
void      mr_docker_spec_parse_inspect (JsonNode *inspect, MrDockerContainerState *state);
void      mr_docker_container_state_clear (MrDockerContainerState *state);
char     *mr_docker_spec_pull_error (const char *stream, gsize len);
char     *mr_docker_spec_escape (const char *segment);

G_END_DECLS
