/* mr-docker-client.c: Docker Engine API calls with libcurl. */
#include <string.h>

#include <curl/curl.h>

#include "mr-docker-client.h"
#include "mr-error.h"

struct _MrDockerClient {
  char *host;          /* as configured, for messages */
  char *unix_path;     /* NULL for TCP */
  char *base_url;      /* http://docker/v1.41 or http://host:port/v1.41 */
};

/**
 * mr_docker_client_new: (skip)
 * @docker_host: (nullable): unix:///path, tcp://host:port or http://host:port; %NULL
 *   means #MR_DOCKER_DEFAULT_HOST
 * @api_version: (nullable): the API version to ask for, e.g. "1.41"; %NULL means the
 *   engine's own
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): a client
 */
MrDockerClient *
mr_docker_client_new (const char *docker_host, const char *api_version, GError **error)
{
  g_autoptr(MrDockerClient) client = g_new0 (MrDockerClient, 1);
  g_autofree char *prefix = api_version && *api_version ? g_strdup_printf ("/v%s", api_version) : g_strdup ("");
  const char *host = docker_host && *docker_host ? docker_host : MR_DOCKER_DEFAULT_HOST;

  client->host = g_strdup (host);
  if (g_str_has_prefix (host, "unix://"))
    {
      client->unix_path = g_strdup (host + strlen ("unix://"));
      if (*client->unix_path != '/')
        {
          g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "invalid DOCKER_HOST '%s' (expected unix:///absolute/path)", host);
          return NULL;
        }
      client->base_url = g_strconcat ("http://docker", prefix, NULL);
    }
  else if (g_str_has_prefix (host, "tcp://") || g_str_has_prefix (host, "http://"))
    {
      const char *rest = strstr (host, "://") + 3;
      gsize len = strlen (rest);
      while (len > 0 && rest[len - 1] == '/')
        len--;
      if (len == 0)
        {
          g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "invalid DOCKER_HOST '%s' (expected tcp://host:port)", host);
          return NULL;
        }
      client->base_url = g_strdup_printf ("http://%.*s%s", (int) len, rest, prefix);
    }
  else
    {
      g_set_error (error, MR_ERROR, MR_ERROR_CONFIG,
                   "unsupported DOCKER_HOST '%s' (expected unix:///path or tcp://host:port; TLS is not supported)", host);
      return NULL;
    }
  curl_global_init (CURL_GLOBAL_DEFAULT);
  return g_steal_pointer (&client);
}

void
mr_docker_client_free (MrDockerClient *client)
{
  if (client == NULL)
    return;
  g_free (client->host);
  g_free (client->unix_path);
  g_free (client->base_url);
  g_free (client);
}

const char *
mr_docker_client_get_host (MrDockerClient *client)
{
  return client->host;
}

static size_t
collect (char *data, size_t size, size_t n, void *user_data)
{
  g_byte_array_append (user_data, (const guint8 *) data, size * n);
  return size * n;
}

/* Runs one request; @unix_path may be NULL. */
static gboolean
perform (const char *url, const char *unix_path, const char *method, const char *content_type, GBytes *body,
         long timeout_ms, guint *status, GBytes **response, char *errbuf, CURLcode *code, long *os_errno)
{
  CURL *curl = curl_easy_init ();
  struct curl_slist *headers = NULL;
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autofree char *content_type_header = NULL;
  long http_status = 0;

  errbuf[0] = '\0';
  curl_easy_setopt (curl, CURLOPT_URL, url);
  if (unix_path)
    curl_easy_setopt (curl, CURLOPT_UNIX_SOCKET_PATH, unix_path);
  curl_easy_setopt (curl, CURLOPT_PROXY, "");            /* never through an http_proxy */
  curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);         /* threads */
  curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT_MS, MIN (timeout_ms, 5000L));
  curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt (curl, CURLOPT_WRITEDATA, out);
  curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, method);
  headers = curl_slist_append (headers, "Expect:");
  if (content_type)
    {
      content_type_header = g_strconcat ("Content-Type: ", content_type, NULL);
      headers = curl_slist_append (headers, content_type_header);
    }
  curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
  if (body)
    {
      gsize size;
      const void *data = g_bytes_get_data (body, &size);
      curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) size);
      curl_easy_setopt (curl, CURLOPT_POSTFIELDS, data ? data : "");
    }
  else if (strcmp (method, "POST") == 0 || strcmp (method, "PUT") == 0)
    {
      curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) 0);
      curl_easy_setopt (curl, CURLOPT_POSTFIELDS, "");
    }
  *code = curl_easy_perform (curl);
  curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &http_status);
  *os_errno = 0;
  curl_easy_getinfo (curl, CURLINFO_OS_ERRNO, os_errno);
  curl_slist_free_all (headers);
  curl_easy_cleanup (curl);
  if (*code != CURLE_OK)
    return FALSE;
  if (status)
    *status = (guint) http_status;
  if (response)
    *response = g_byte_array_free_to_bytes (g_steal_pointer (&out));
  return TRUE;
}

/**
 * mr_docker_client_call: (skip)
 */
gboolean
mr_docker_client_call (MrDockerClient *client, const char *method, const char *path, const char *content_type,
                       GBytes *body, guint timeout_sec, guint *status, GBytes **response, GError **error)
{
  g_autofree char *url = g_strconcat (client->base_url, path, NULL);
  char errbuf[CURL_ERROR_SIZE];
  CURLcode code;
  long os_errno;

  if (perform (url, client->unix_path, method, content_type, body, (long) timeout_sec * 1000, status, response,
               errbuf, &code, &os_errno))
    return TRUE;
  if (code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST)
    /* curl's own text names "docker port 80" for a socket: say what happened instead */
    g_set_error (error, MR_ERROR, MR_ERROR_UNAVAILABLE, "cannot reach the Docker engine at %s: %s%s%s%s",
                 client->host, curl_easy_strerror (code), os_errno ? " (" : "",
                 os_errno ? g_strerror ((int) os_errno) : "", os_errno ? ")" : "");
  else
    g_set_error (error, MR_ERROR, MR_ERROR_UNAVAILABLE, "Docker engine at %s: %s %s: %s",
                 client->host, method, path, *errbuf ? errbuf : curl_easy_strerror (code));
  return FALSE;
}

/**
 * mr_docker_error_message: (skip)
 * @response: (nullable): an engine response body
 *
 * Returns: (transfer full): the engine's "message", or the body as text
 */
char *
mr_docker_error_message (GBytes *response)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  gsize len = 0;
  const char *data = response ? g_bytes_get_data (response, &len) : NULL;
  JsonNode *root;

  if (data && len && json_parser_load_from_data (parser, data, len, NULL) &&
      (root = json_parser_get_root (parser)) && JSON_NODE_HOLDS_OBJECT (root) &&
      json_object_get_string_member_with_default (json_node_get_object (root), "message", NULL))
    return g_strdup (json_object_get_string_member (json_node_get_object (root), "message"));
  if (data && len)
    return g_strchomp (g_strndup (data, MIN (len, 500)));
  return g_strdup ("(no message)");
}

/**
 * mr_docker_client_call_json: (skip)
 */
JsonNode *
mr_docker_client_call_json (MrDockerClient *client, const char *method, const char *path, JsonNode *body,
                            guint timeout_sec, const guint *ok, guint *status, GError **error)
{
  g_autoptr(GBytes) request = NULL;
  g_autoptr(GBytes) response = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  guint code = 0;
  gsize len;
  const char *data;

  if (body)
    {
      g_autoptr(JsonGenerator) gen = json_generator_new ();
      gsize text_len;
      char *text;
      json_generator_set_root (gen, body);
      text = json_generator_to_data (gen, &text_len);
      request = g_bytes_new_take (text, text_len);
    }
  if (!mr_docker_client_call (client, method, path, body ? "application/json" : NULL, request, timeout_sec,
                              &code, &response, error))
    return NULL;
  if (status)
    *status = code;
  for (; *ok; ok++)
    if (*ok == code)
      break;
  if (*ok == 0)
    {
      g_autofree char *message = mr_docker_error_message (response);
      g_set_error (error, MR_ERROR, code == 404 ? MR_ERROR_NOT_FOUND : code == 409 ? MR_ERROR_CONFLICT : MR_ERROR_FAILED,
                   "Docker engine: %s %s: %u: %s", method, path, code, message);
      return NULL;
    }
  data = g_bytes_get_data (response, &len);
  if (data == NULL || len == 0)
    return json_node_new (JSON_NODE_NULL);
  /* not JSON (streamed progress, "OK") or only white space: nothing to parse */
  if (!json_parser_load_from_data (parser, data, len, NULL) || json_parser_get_root (parser) == NULL)
    return json_node_new (JSON_NODE_NULL);
  return json_node_copy (json_parser_get_root (parser));
}

/**
 * mr_docker_http_get: (skip)
 */
gboolean
mr_docker_http_get (const char *url, guint timeout_ms, guint *status, GBytes **response, GError **error)
{
  char errbuf[CURL_ERROR_SIZE];
  CURLcode code;
  long os_errno;

  if (perform (url, NULL, "GET", NULL, NULL, timeout_ms, status, response, errbuf, &code, &os_errno))
    return TRUE;
  g_set_error (error, MR_ERROR, MR_ERROR_BAD_GATEWAY, "GET %s: %s", url, *errbuf ? errbuf : curl_easy_strerror (code));
  return FALSE;
}
