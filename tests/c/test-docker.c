/* test-docker.c: the docker toolbox backend's pieces that need no engine: the tar
 * writer (checked against tar(1)), the Engine API bodies, inspect parsing, ldd parsing
 * and the daemon bundle. */
#include <string.h>

#include <glib/gstdio.h>

#include "mr-tar.h"
#include "mr-docker-spec.h"
#include "mr-docker-bundle.h"
#include "mr-docker-client.h"
#include "mr-error.h"

static char *
to_json (JsonNode *node)
{
  g_autoptr(JsonGenerator) gen = json_generator_new ();

  json_generator_set_root (gen, node);
  return json_generator_to_data (gen, NULL);
}

static JsonNode *
parse (const char *text)
{
  g_autoptr(JsonParser) parser = json_parser_new ();

  g_assert_true (json_parser_load_from_data (parser, text, -1, NULL));
  return json_node_copy (json_parser_get_root (parser));
}

/* Writes @archive to a file and lists it with tar(1): "type mode size name[ -> link]" lines. */
static char *
tar_listing (GBytes *archive, const char *extract_dir)
{
  g_autofree char *dir = g_dir_make_tmp ("mr-tar-XXXXXX", NULL);
  g_autofree char *file = g_build_filename (dir, "a.tar", NULL);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  int status;
  const char *list[] = { "tar", "-tvf", file, NULL };
  g_auto(GStrv) env = g_environ_setenv (g_environ_setenv (g_get_environ (), "TZ", "UTC0", TRUE), "LC_ALL", "C", TRUE);

  g_assert_true (g_file_set_contents (file, g_bytes_get_data (archive, NULL), g_bytes_get_size (archive), NULL));
  g_assert_true (g_spawn_sync (NULL, (char **) list, env, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status, &error));
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_cmpstr (err, ==, "");
  if (extract_dir)
    {
      const char *x[] = { "tar", "-xf", file, "-C", extract_dir, NULL };
      g_assert_true (g_spawn_sync (NULL, (char **) x, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, &status, NULL));
      g_assert_true (g_spawn_check_wait_status (status, NULL));
    }
  g_unlink (file);
  g_rmdir (dir);
  return g_steal_pointer (&out);
}

static void
test_tar_entries (void)
{
  g_autoptr(MrTar) tar = mr_tar_new (1700000000);
  g_autoptr(GBytes) hello = g_bytes_new_static ("hello\n", 6);
  g_autoptr(GBytes) big = NULL;
  g_autoptr(GBytes) archive = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *listing = NULL;
  g_autofree char *dir = g_dir_make_tmp ("mr-tar-x-XXXXXX", NULL);
  g_autofree char *contents = NULL;
  g_autofree char *path = NULL;
  g_autofree char *link = NULL;
  GString *long_name = g_string_new ("opt");
  guint8 *data = g_malloc (1000);
  gsize len;

  for (int i = 0; i < 1000; i++)
    data[i] = i % 251;
  big = g_bytes_new_take (data, 1000);
  for (int i = 0; i < 6; i++)
    g_string_append (long_name, "/a-rather-long-directory-name");
  g_assert_cmpuint (long_name->len, >, 100);

  g_assert_true (mr_tar_add_directory (tar, "opt", 0755, &error));
  g_assert_true (mr_tar_add_directory (tar, "/opt/tool/", 0700, &error));
  g_assert_true (mr_tar_add_file (tar, "opt/tool/hello.txt", 0644, hello, &error));
  g_assert_true (mr_tar_add_file (tar, "opt/tool/run", 0755, big, &error));
  g_assert_true (mr_tar_add_symlink (tar, "opt/tool/link", "hello.txt", &error));
  g_assert_true (mr_tar_add_directory (tar, long_name->str, 0755, &error));
  g_string_append (long_name, "/file");
  g_assert_true (mr_tar_add_file (tar, long_name->str, 0600, hello, &error));
  g_assert_no_error (error);
  archive = mr_tar_finish (g_steal_pointer (&tar));
  g_assert_cmpuint (g_bytes_get_size (archive) % 512, ==, 0);

  listing = tar_listing (archive, dir);
  g_assert_nonnull (strstr (listing, "drwxr-xr-x root/root"));
  g_assert_nonnull (strstr (listing, "drwx------ root/root         0 2023-11-14 22:13 opt/tool/"));
  g_assert_nonnull (strstr (listing, "-rw-r--r-- root/root         6 2023-11-14 22:13 opt/tool/hello.txt"));
  g_assert_nonnull (strstr (listing, "-rwxr-xr-x root/root      1000 2023-11-14 22:13 opt/tool/run"));
  g_assert_nonnull (strstr (listing, "opt/tool/link -> hello.txt"));
  g_assert_nonnull (strstr (listing, "/a-rather-long-directory-name/file"));

  path = g_build_filename (dir, "opt/tool/run", NULL);
  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  g_assert_cmpmem (contents, len, g_bytes_get_data (big, NULL), 1000);
  link = g_build_filename (dir, "opt/tool/link", NULL);
  g_free (contents);
  g_assert_true (g_file_get_contents (link, &contents, &len, NULL));
  g_assert_cmpstr (contents, ==, "hello\n");
  g_free (path);
  path = g_build_filename (dir, long_name->str, NULL);
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));

  {
    const char *rm[] = { "rm", "-rf", dir, NULL };
    g_spawn_sync (NULL, (char **) rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
  }
  g_string_free (long_name, TRUE);
}

static void
test_tar_refuses_what_ustar_cannot_hold (void)
{
  g_autoptr(MrTar) tar = mr_tar_new (0);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) empty = g_bytes_new_static ("", 0);
  char name[300];

  memset (name, 'x', sizeof name - 1);
  name[sizeof name - 1] = '\0';
  g_assert_false (mr_tar_add_file (tar, name, 0644, empty, &error));
  g_assert_error (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (mr_tar_add_file (tar, "", 0644, empty, &error));
  g_assert_error (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT);
}

static void
test_tar_read_first_file (void)
{
  g_autoptr(MrTar) tar = mr_tar_new (0);
  g_autoptr(GBytes) text = g_bytes_new_static ("log line 1\nlog line 2\n", 22);
  g_autoptr(GBytes) archive = NULL;
  g_autoptr(GBytes) read = NULL;
  g_autoptr(GBytes) junk = g_bytes_new_static ("not a tar", 9);
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;

  g_assert_true (mr_tar_add_directory (tar, "tmp", 0755, NULL));
  g_assert_true (mr_tar_add_file (tar, "tmp/x.log", 0644, text, NULL));
  archive = mr_tar_finish (g_steal_pointer (&tar));
  read = mr_tar_read_first_file (archive, &name, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (name, ==, "tmp/x.log");
  g_assert_true (g_bytes_equal (read, text));
  g_assert_null (mr_tar_read_first_file (junk, NULL, &error));
  g_assert_nonnull (error);
}

static void
test_create_body (void)
{
  const char *command[] = { "sleep", "infinity", NULL };
  MrDockerContainerSpec spec = {
    .image = "ubuntu:22.04",
    .command = command,
    .working_dir = "/home/daytona",
    .ulimits = "nofile=1024:2048, nproc=512",
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) body = mr_docker_spec_create_body (&spec, &error);
  g_autofree char *text = NULL;
  g_autoptr(JsonNode) published = NULL;
  g_autofree char *published_text = NULL;

  g_assert_no_error (error);
  text = to_json (body);
  g_assert_cmpstr (text, ==,
                   "{\"Image\":\"ubuntu:22.04\",\"Cmd\":[\"sleep\",\"infinity\"],\"WorkingDir\":\"/home/daytona\","
                   "\"Tty\":true,\"Labels\":{\"io.mock-runner.role\":\"toolbox\"},"
                   "\"HostConfig\":{\"RestartPolicy\":{\"Name\":\"unless-stopped\"},"
                   "\"Ulimits\":[{\"Name\":\"nofile\",\"Soft\":1024,\"Hard\":2048},"
                   "{\"Name\":\"nproc\",\"Soft\":512,\"Hard\":512}]}}");

  spec.ulimits = NULL;
  spec.publish = TRUE;
  spec.network = "my-net";
  published = mr_docker_spec_create_body (&spec, &error);
  published_text = to_json (published);
  g_assert_nonnull (strstr (published_text, "\"ExposedPorts\":{\"2280/tcp\":{}}"));
  g_assert_nonnull (strstr (published_text, "\"NetworkMode\":\"my-net\""));
  g_assert_nonnull (strstr (published_text,
                            "\"PortBindings\":{\"2280/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"\"}]}"));

  spec.ulimits = "nofile";
  g_assert_null (mr_docker_spec_create_body (&spec, &error));
  g_assert_error (error, MR_ERROR, MR_ERROR_CONFIG);
}

static void
test_ulimits (void)
{
  const char *bad[] = { "nofile", "=1", "nofile=x", "nofile=1:y", "nofile=1:2:3" };
  const char *good[] = { "", "nofile=1", "nofile=1:2,nproc=-1", " a=1 , b=2:3 ," };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_assert_false (mr_docker_spec_parse_ulimits (bad[i], NULL, &error));
      g_assert_error (error, MR_ERROR, MR_ERROR_CONFIG);
    }
  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    g_assert_true (mr_docker_spec_parse_ulimits (good[i], NULL, NULL));
}

static void
test_exec_body (void)
{
  const char *argv[] = { "/bin/sh", "/opt/x/start.sh", NULL };
  g_autoptr(JsonNode) body = mr_docker_spec_exec_body (argv);
  g_autofree char *text = to_json (body);

  g_assert_cmpstr (text, ==, "{\"AttachStdin\":false,\"AttachStdout\":false,\"AttachStderr\":false,\"Tty\":false,"
                             "\"Cmd\":[\"/bin/sh\",\"/opt/x/start.sh\"]}");
}

static void
test_inspect (void)
{
  /* shaped as podman 4.3 and Docker answer it */
  g_autoptr(JsonNode) running = parse (
    "{\"Id\":\"abc\",\"State\":{\"Status\":\"running\",\"Running\":true,\"Error\":\"\"},"
    "\"NetworkSettings\":{\"IPAddress\":\"\",\"Ports\":{\"2280/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"49153\"}]},"
    "\"Networks\":{\"zeta\":{\"IPAddress\":\"10.0.0.9\"},\"podman\":{\"IPAddress\":\"10.88.0.4\"}}}}");
  g_autoptr(JsonNode) exited = parse (
    "{\"Id\":\"def\",\"State\":{\"Status\":\"exited\",\"Running\":false,\"Error\":\"oom\"},"
    "\"NetworkSettings\":{\"IPAddress\":\"172.17.0.2\",\"Ports\":{}}}");
  MrDockerContainerState st;

  mr_docker_spec_parse_inspect (running, &st);
  g_assert_true (st.exists);
  g_assert_true (st.running);
  g_assert_cmpstr (st.id, ==, "abc");
  g_assert_cmpstr (st.status, ==, "running");
  g_assert_null (st.error);
  g_assert_cmpstr (st.ip, ==, "10.88.0.4");     /* first network by name */
  g_assert_cmpuint (st.published_port, ==, 49153);
  mr_docker_container_state_clear (&st);

  mr_docker_spec_parse_inspect (exited, &st);
  g_assert_true (st.exists);
  g_assert_false (st.running);
  g_assert_cmpstr (st.ip, ==, "172.17.0.2");
  g_assert_cmpstr (st.error, ==, "oom");
  g_assert_cmpuint (st.published_port, ==, 0);
  mr_docker_container_state_clear (&st);

  mr_docker_spec_parse_inspect (NULL, &st);
  g_assert_false (st.exists);
  g_assert_null (st.ip);
}

static void
test_pull_error (void)
{
  const char ok[] = "{\"status\":\"Pulling from library/ubuntu\"}\n{\"status\":\"Download complete\"}\n";
  const char bad[] = "{\"status\":\"Pulling\"}\n{\"errorDetail\":{\"message\":\"manifest unknown\"},\"error\":\"manifest unknown\"}\n";
  const char detail_only[] = "{\"errorDetail\":{\"message\":\"denied\"}}";
  g_autofree char *none = mr_docker_spec_pull_error (ok, strlen (ok));
  g_autofree char *message = mr_docker_spec_pull_error (bad, strlen (bad));
  g_autofree char *detail = mr_docker_spec_pull_error (detail_only, strlen (detail_only));

  g_assert_null (none);
  g_assert_cmpstr (message, ==, "manifest unknown");
  g_assert_cmpstr (detail, ==, "denied");
}

static void
test_error_message (void)
{
  g_autoptr(GBytes) json = g_bytes_new_static ("{\"message\":\"No such container: x\"}", 34);
  g_autoptr(GBytes) text = g_bytes_new_static ("plain failure\n", 14);
  g_autofree char *a = mr_docker_error_message (json);
  g_autofree char *b = mr_docker_error_message (text);
  g_autofree char *c = mr_docker_error_message (NULL);

  g_assert_cmpstr (a, ==, "No such container: x");
  g_assert_cmpstr (b, ==, "plain failure");
  g_assert_cmpstr (c, ==, "(no message)");
}

static void
test_docker_host (void)
{
  g_autoptr(GError) error = NULL;
  const char *bad[] = { "ssh://host", "unix://relative/path", "tcp://", "npipe:////./pipe/docker" };
  MrDockerClient *c;

  c = mr_docker_client_new (NULL, "1.41", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (mr_docker_client_get_host (c), ==, "unix:///var/run/docker.sock");
  mr_docker_client_free (c);
  c = mr_docker_client_new ("tcp://127.0.0.1:2375", NULL, &error);
  g_assert_no_error (error);
  mr_docker_client_free (c);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_null (mr_docker_client_new (bad[i], NULL, &error));
      g_assert_error (error, MR_ERROR, MR_ERROR_CONFIG);
      g_clear_error (&error);
    }
}

static void
test_no_engine (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *tmp = g_dir_make_tmp ("mr-noengine-XXXXXX", NULL);
  g_autofree char *host = g_strdup_printf ("unix://%s/docker.sock", tmp);
  g_autoptr(MrDockerClient) c = mr_docker_client_new (host, "1.41", &error);
  guint status = 0;

  g_assert_no_error (error);
  g_assert_false (mr_docker_client_call (c, "GET", "/_ping", NULL, NULL, 5, &status, NULL, &error));
  g_assert_error (error, MR_ERROR, MR_ERROR_UNAVAILABLE);
  /* one line that names the socket */
  g_assert_nonnull (strstr (error->message, host));
  g_assert_null (strchr (error->message, '\n'));
  g_rmdir (tmp);
}

static void
test_parse_ldd (void)
{
  const char *output =
    "\tlinux-vdso.so.1 (0x00007ffd5a9f2000)\n"
    "\tlibmockrunner-1.so.0 => /build/src/libmockrunner-1.so.0 (0x00007f0c1c000000)\n"
    "\tlibglib-2.0.so.0 => /lib/x86_64-linux-gnu/libglib-2.0.so.0 (0x00007f0c1be00000)\n"
    "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0c1bc00000)\n"
    "\t/lib64/ld-linux-x86-64.so.2 (0x00007f0c1c200000)\n";
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *loader = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (mr_docker_bundle_parse_ldd (output, names, paths, &loader, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (names->len, ==, 3);
  g_assert_cmpstr (names->pdata[0], ==, "libmockrunner-1.so.0");
  g_assert_cmpstr (paths->pdata[0], ==, "/build/src/libmockrunner-1.so.0");
  g_assert_cmpstr (paths->pdata[2], ==, "/lib/x86_64-linux-gnu/libc.so.6");
  g_assert_cmpstr (loader, ==, "/lib64/ld-linux-x86-64.so.2");

  g_clear_pointer (&loader, g_free);
  g_assert_false (mr_docker_bundle_parse_ldd ("\tlibmissing.so.1 => not found\n", names, paths, &loader, &error));
  g_assert_error (error, MR_ERROR, MR_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "libmissing.so.1"));
}

/* The real daemon, packed: it runs from the extracted bundle with only what the bundle
 * holds (the loader and --library-path), which is what an image without our libraries
 * gives it. */
static void
test_bundle_runs_the_daemon (void)
{
  const char *daemon = g_getenv ("MOCK_RUNNER_TOOLBOXD");
  g_autoptr(GError) error = NULL;
  g_autoptr(MrDockerBundle) bundle = NULL;
  g_autofree char *root = g_dir_make_tmp ("mr-bundle-XXXXXX", NULL);
  g_autofree char *listing = NULL;
  g_autofree char *script = NULL;
  g_autofree char *out = NULL;
  g_autofree char *lib_dir = NULL;
  g_autofree char *loader = NULL;
  g_autofree char *program = NULL;
  int status;

  if (daemon == NULL)
    {
      g_test_skip ("MOCK_RUNNER_TOOLBOXD is not set");
      return;
    }
  bundle = mr_docker_bundle_new (daemon, "/opt/mock-runner-toolbox", &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (bundle->dir, "/opt/mock-runner-toolbox/"));
  g_assert_cmpuint (strlen (bundle->dir), ==, strlen ("/opt/mock-runner-toolbox/") + 12);
  script = g_strconcat (bundle->dir, "/start.sh", NULL);
  g_assert_cmpstr (bundle->start_script, ==, script);
  g_clear_pointer (&script, g_free);
  g_assert_cmpuint (bundle->n_libraries, >, 3);

  listing = tar_listing (bundle->archive, root);
  g_assert_nonnull (strstr (listing, "/bin/mock-runner-toolboxd"));
  g_assert_nonnull (strstr (listing, "/lib/libmockrunner-1.so.0"));
  g_assert_nonnull (strstr (listing, "/lib/libglib-2.0.so.0"));
  g_assert_nonnull (strstr (listing, "/lib/libc.so.6"));
  g_assert_nonnull (strstr (listing, "/start.sh"));

  /* the start script only uses the loader it was given, never LD_LIBRARY_PATH */
  {
    g_autofree char *script_path = g_build_filename (root, bundle->start_script, NULL);
    g_assert_true (g_file_get_contents (script_path, &script, NULL, NULL));
    g_assert_nonnull (strstr (script, "--library-path \"$dir/lib\""));
    g_assert_null (strstr (script, "LD_LIBRARY_PATH"));
  }

  lib_dir = g_build_filename (root, bundle->dir, "lib", NULL);
  program = g_build_filename (root, bundle->dir, "bin", "mock-runner-toolboxd", NULL);
  {
    g_autoptr(GDir) dir = g_dir_open (lib_dir, 0, NULL);
    const char *name;
    while ((name = g_dir_read_name (dir)))
      if (g_str_has_prefix (name, "ld-"))
        loader = g_build_filename (lib_dir, name, NULL);
  }
  g_assert_nonnull (loader);
  {
    const char *argv[] = { loader, "--library-path", lib_dir, program, "--version", NULL };
    const char *envp[] = { "PATH=/nonexistent", NULL };
    g_assert_true (g_spawn_sync (NULL, (char **) argv, (char **) envp, 0, NULL, NULL, &out, NULL, &status, &error));
    g_assert_no_error (error);
    g_assert_true (g_spawn_check_wait_status (status, NULL));
    g_assert_true (g_str_has_prefix (out, "mock-runner-toolboxd "));
  }
  {
    const char *rm[] = { "rm", "-rf", root, NULL };
    g_spawn_sync (NULL, (char **) rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/docker/tar/entries", test_tar_entries);
  g_test_add_func ("/docker/tar/limits", test_tar_refuses_what_ustar_cannot_hold);
  g_test_add_func ("/docker/tar/read", test_tar_read_first_file);
  g_test_add_func ("/docker/spec/create", test_create_body);
  g_test_add_func ("/docker/spec/ulimits", test_ulimits);
  g_test_add_func ("/docker/spec/exec", test_exec_body);
  g_test_add_func ("/docker/spec/inspect", test_inspect);
  g_test_add_func ("/docker/spec/pull-error", test_pull_error);
  g_test_add_func ("/docker/client/error-message", test_error_message);
  g_test_add_func ("/docker/client/docker-host", test_docker_host);
  g_test_add_func ("/docker/client/no-engine", test_no_engine);
  g_test_add_func ("/docker/bundle/ldd", test_parse_ldd);
  g_test_add_func ("/docker/bundle/runs", test_bundle_runs_the_daemon);
  return g_test_run ();
}
