/* toolbox-async-test: a toolbox backend that answers every request asynchronously, for
 * the journal tests of paused replies (the status is set only when the reply goes out).
 *
 *   .../toolbox/hold     waits until a request to .../toolbox/release
 *   .../toolbox/release  answers 204 and releases every held request with 200
 *   anything else        answered 200 from an idle callback */
#include "mock-runner.h"
#include "mr-util.h"

#define MR_TYPE_TOOLBOX_ASYNC (mr_toolbox_async_get_type ())
G_DECLARE_FINAL_TYPE (MrToolboxAsync, mr_toolbox_async, MR, TOOLBOX_ASYNC, GObject)

struct _MrToolboxAsync {
  GObject parent_instance;
  GPtrArray *held;          /* SoupServerMessage */
};

static void plugin_iface_init (MrPluginInterface *iface);
static void toolbox_iface_init (MrToolboxBackendInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (MrToolboxAsync, mr_toolbox_async, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (MR_TYPE_PLUGIN, plugin_iface_init)
                               G_IMPLEMENT_INTERFACE (MR_TYPE_TOOLBOX_BACKEND, toolbox_iface_init))

static void
answer (SoupServerMessage *msg, guint status)
{
  static const char body[] = "{\"answered\":true}";

  if (status != 204)
    soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_STATIC, body, sizeof body - 1);
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_unpause (msg);
}

static gboolean
answer_later (gpointer data)
{
  answer (data, 200);
  g_object_unref (data);
  return G_SOURCE_REMOVE;
}

static void
async_handle_body (MrToolboxBackend *backend, MrToolboxRequest *request)
{
  MrToolboxAsync *self = MR_TOOLBOX_ASYNC (backend);
  SoupServerMessage *msg = mr_toolbox_request_get_message (request);
  const char *path = mr_toolbox_request_get_path (request);
  GSource *source;

  soup_server_message_pause (msg);
  if (g_strcmp0 (path, "/hold") == 0)
    g_ptr_array_add (self->held, g_object_ref (msg));
  else if (g_strcmp0 (path, "/release") == 0)
    {
      for (guint i = 0; i < self->held->len; i++)
        answer (self->held->pdata[i], 200);
      g_ptr_array_set_size (self->held, 0);
      answer (msg, 204);
    }
  else
    {
      source = mr_idle_add (answer_later, g_object_ref (msg));
      g_source_unref (source);
    }
}

static void
toolbox_iface_init (MrToolboxBackendInterface *iface)
{
  iface->handle_body = async_handle_body;
}

static void
async_reset (MrPlugin *plugin)
{
  MrToolboxAsync *self = MR_TOOLBOX_ASYNC (plugin);

  for (guint i = 0; i < self->held->len; i++)
    answer (self->held->pdata[i], 200);
  g_ptr_array_set_size (self->held, 0);
}

/* at stop the connections are gone already: drop the held messages unanswered */
static void
async_stop (MrPlugin *plugin)
{
  g_ptr_array_set_size (MR_TOOLBOX_ASYNC (plugin)->held, 0);
}

static void
plugin_iface_init (MrPluginInterface *iface)
{
  iface->reset = async_reset;
  iface->stop = async_stop;
}

static void
mr_toolbox_async_init (MrToolboxAsync *self)
{
  self->held = g_ptr_array_new_with_free_func (g_object_unref);
}

static void
mr_toolbox_async_finalize (GObject *object)
{
  g_ptr_array_unref (MR_TOOLBOX_ASYNC (object)->held);
  G_OBJECT_CLASS (mr_toolbox_async_parent_class)->finalize (object);
}

static void
mr_toolbox_async_class_init (MrToolboxAsyncClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mr_toolbox_async_finalize;
}

MR_PLUGIN_DEFINE ("toolbox-async-test", MR_PLUGIN_KIND_TOOLBOX,
                  "Test fixture: answers toolbox requests asynchronously",
                  mr_toolbox_async_get_type, NULL);
