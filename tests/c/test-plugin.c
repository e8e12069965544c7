/* Plugin discovery and loading: the search path, the ABI check, clear errors. */
#include <string.h>
#include <glib/gstdio.h>

#include "mock-runner.h"

static char *
test_module (const char *name)
{
  g_autofree char *file = g_strconcat (name, ".so", NULL);

  return g_build_filename (g_getenv ("G_TEST_BUILDDIR"), "c", file, NULL);
}

static void
test_find_builtin (void)
{
  g_auto(GStrv) path = mr_plugin_get_search_path ();
  const MrPluginKind kinds[] = { MR_PLUGIN_KIND_SANDBOX, MR_PLUGIN_KIND_IMAGE, MR_PLUGIN_KIND_TOOLBOX };
  const char *names[] = { "sandbox-memory", "image-memory", "toolbox-local" };

  for (guint i = 0; i < G_N_ELEMENTS (kinds); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(MrPluginInfo) info = mr_plugin_find ((const char * const *) path, kinds[i], names[i], &error);
      g_autoptr(MrPlugin) plugin = NULL;

      g_assert_no_error (error);
      g_assert_cmpstr (mr_plugin_info_get_name (info), ==, names[i]);
      plugin = mr_plugin_info_create (info, &error);
      g_assert_no_error (error);
      g_assert_true (g_type_is_a (G_OBJECT_TYPE (plugin), mr_plugin_kind_get_interface (kinds[i])));
    }
}

static void
test_skeleton (void)
{
  g_auto(GStrv) path = mr_plugin_get_search_path ();
  g_autoptr(GError) error = NULL;
  g_autoptr(MrPluginInfo) info = mr_plugin_find ((const char * const *) path, MR_PLUGIN_KIND_SANDBOX,
                                                 "sandbox-skeleton", &error);
  g_autoptr(MrPlugin) plugin = NULL;
  g_autoptr(MrSandbox) spec = mr_sandbox_new ("sk-1");
  g_autoptr(MrSandbox) got = NULL;
  g_autoptr(MrRunner) runner = mr_runner_new ();

  g_assert_no_error (error);
  plugin = mr_plugin_info_create (info, &error);
  g_assert_no_error (error);
  g_assert_true (mr_plugin_setup (plugin, runner, &error));
  g_assert_true (mr_sandbox_backend_create (MR_SANDBOX_BACKEND (plugin), spec, &error));
  got = mr_sandbox_backend_get (MR_SANDBOX_BACKEND (plugin), "sk-1");
  g_assert_cmpint (got->state, ==, MR_SANDBOX_STATE_STARTED);
  mr_plugin_reset (plugin);
  g_clear_pointer (&got, mr_sandbox_free);
  got = mr_sandbox_backend_get (MR_SANDBOX_BACKEND (plugin), "sk-1");
  g_assert_false (got->exists);
}

static void
test_missing (void)
{
  g_auto(GStrv) path = mr_plugin_get_search_path ();
  g_autoptr(GError) error = NULL;
  g_autoptr(MrPluginInfo) info = mr_plugin_find ((const char * const *) path, MR_PLUGIN_KIND_SANDBOX,
                                                 "sandbox-nope", &error);

  g_assert_null (info);
  g_assert_error (error, MR_ERROR, MR_ERROR_PLUGIN);
  g_assert_nonnull (strstr (error->message, "no sandbox plugin named 'sandbox-nope'"));
  g_assert_nonnull (strstr (error->message, "sandbox-memory"));   /* lists what is there */
  g_clear_error (&error);
  info = mr_plugin_find ((const char * const *) path, MR_PLUGIN_KIND_IMAGE, "sandbox-memory", &error);
  g_assert_null (info);
  g_assert_nonnull (strstr (error->message, "declares sandbox plugin 'sandbox-memory'"));
}

static void
test_bad_modules (void)
{
  struct { const char *module, *fragment; } cases[] = {
    { "plugin-bad-abi", "built for plugin ABI 42, but this mock-runner needs ABI 1" },
    { "plugin-none", "not a mock-runner plugin (no mr_plugin_descriptor symbol)" },
  };
  g_autofree char *junk = g_build_filename (g_get_tmp_dir (), "mr-junk-plugin.so", NULL);
  g_autoptr(GError) error = NULL;
  MrPluginInfo *info;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *file = test_module (cases[i].module);
      g_autoptr(GError) e = NULL;
      info = mr_plugin_load_file (file, &e);
      g_assert_null (info);
      g_assert_error (e, MR_ERROR, MR_ERROR_PLUGIN);
      g_assert_true (g_str_has_prefix (e->message, file));       /* names the file */
      g_assert_nonnull (strstr (e->message, cases[i].fragment));  /* and the reason */
    }

  g_assert_true (g_file_set_contents (junk, "not an ELF file", -1, NULL));
  info = mr_plugin_load_file (junk, &error);
  g_assert_null (info);
  g_assert_nonnull (strstr (error->message, "cannot load"));
  g_unlink (junk);
}

static void
test_wrong_type (void)
{
  g_autofree char *file = test_module ("plugin-wrong-type");
  g_autoptr(GError) error = NULL;
  g_autoptr(MrPluginInfo) info = mr_plugin_load_file (file, &error);
  g_autoptr(MrPlugin) plugin = NULL;

  g_assert_no_error (error);
  plugin = mr_plugin_info_create (info, &error);
  g_assert_null (plugin);
  g_assert_nonnull (strstr (error->message, "does not implement MrPlugin and MrImageBackend"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/plugin/find-builtin", test_find_builtin);
  g_test_add_func ("/plugin/skeleton", test_skeleton);
  g_test_add_func ("/plugin/missing", test_missing);
  g_test_add_func ("/plugin/bad-modules", test_bad_modules);
  g_test_add_func ("/plugin/wrong-type", test_wrong_type);
  return g_test_run ();
}
