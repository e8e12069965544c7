/* mr-toolbox-tier3.c: the routes clients may call but this toolbox does not provide:
 * /lsp/... and /computeruse/..., answering exactly what the daemon answers when no language
 * server can start and when the computer-use plugin is missing.
 *
 * LSP: no language server is ever started here, so /lsp/start is the daemon's 500
 * "error starting LSP server", /lsp/stop its 500 "error stopping LSP server", and the
 * document routes find no initialised server ("server not initialized", 400) after
 * the same parameter checks. Computer use: every route of the daemon (and of the newer
 * clients: a11y, recordings) answers the 503 "not available" body (Shape C). */
#include <string.h>

#include "mr-toolbox-json-bind.h"

/* LSP ------------------------------------------------------------------------------ */

static const MrTbField server_fields[] = {
  { "languageId", "LanguageId", MR_TB_FIELD_STRING, TRUE },
  { "pathToProject", "PathToProject", MR_TB_FIELD_STRING, TRUE },
  { NULL }
};

static const MrTbField document_fields[] = {
  { "languageId", "LanguageId", MR_TB_FIELD_STRING, TRUE },
  { "pathToProject", "PathToProject", MR_TB_FIELD_STRING, TRUE },
  { "uri", "Uri", MR_TB_FIELD_STRING, TRUE },
  { NULL }
};

static const MrTbField completion_fields[] = {
  { "languageId", "LanguageId", MR_TB_FIELD_STRING, TRUE },
  { "pathToProject", "PathToProject", MR_TB_FIELD_STRING, TRUE },
  { "uri", "Uri", MR_TB_FIELD_STRING, TRUE },
  { "position", "Position", MR_TB_FIELD_OBJECT, FALSE },
  { "context", "Context", MR_TB_FIELD_OBJECT, FALSE },
  { NULL }
};

/* The daemon's server lookup: only python and typescript have servers, and none of
 * them is initialised here. */
static void
reply_no_server (MrTbCall *call, const char *language)
{
  if (strcmp (language, "python") != 0 && strcmp (language, "typescript") != 0)
    mr_tb_reply_error_printf (call, 400, "unsupported language: %s", language);
  else
    mr_tb_reply_error (call, 400, "server not initialized");
}

static void
handle_lsp_start (MrTbCall *call)
{
  g_autoptr(JsonObject) body = mr_tb_bind_json_or_reply (call, "LspServerRequest", server_fields);

  if (body)
    mr_tb_reply_error (call, 500, "error starting LSP server");
}

static void
handle_lsp_stop (MrTbCall *call)
{
  g_autoptr(JsonObject) body = mr_tb_bind_json_or_reply (call, "LspServerRequest", server_fields);

  /* nothing was started, so there is no server to stop */
  if (body)
    mr_tb_reply_error (call, 500, "error stopping LSP server");
}

static void
handle_lsp_document (MrTbCall *call)
{
  g_autoptr(JsonObject) body = mr_tb_bind_json_or_reply (call, "LspDocumentRequest", document_fields);

  if (body)
    reply_no_server (call, mr_tb_json_string (body, "languageId"));
}

static void
handle_lsp_completions (MrTbCall *call)
{
  g_autoptr(JsonObject) body = mr_tb_bind_json_or_reply (call, "LspCompletionParams", completion_fields);

  if (body)
    reply_no_server (call, mr_tb_json_string (body, "languageId"));
}

/* Checks the required query parameters in order; answers the first missing one. */
static gboolean
require_query (MrTbCall *call, const char * const *names)
{
  for (; *names; names++)
    {
      const char *v = mr_tb_query (call, *names);
      if (v == NULL || *v == '\0')
        {
          mr_tb_reply_error_printf (call, 400, "%s is required", *names);
          return FALSE;
        }
    }
  return TRUE;
}

static void
handle_lsp_document_symbols (MrTbCall *call)
{
  static const char *const names[] = { "languageId", "pathToProject", "uri", NULL };

  if (require_query (call, names))
    reply_no_server (call, mr_tb_query (call, "languageId"));
}

static void
handle_lsp_workspace_symbols (MrTbCall *call)
{
  static const char *const names[] = { "query", "languageId", "pathToProject", NULL };

  if (require_query (call, names))
    reply_no_server (call, mr_tb_query (call, "languageId"));
}

/* Computer use ----------------------------------------------------------------------- */

/* Go writes gin.H members in key order */
static const char computer_use_unavailable[] =
  "{\"details\":\"The computer-use plugin failed to initialize due to missing dependencies in the runtime environment.\","
  "\"message\":\"Computer-use functionality is not available\","
  "\"solution\":\"Install the required X11 dependencies (x11-apps, xvfb, etc.) to enable computer-use functionality. "
  "Check the daemon logs for specific error details.\"}";

static void
handle_computer_use (MrTbCall *call)
{
  soup_server_message_set_status (call->msg, 503, NULL);
  soup_server_message_set_response (call->msg, "application/json; charset=utf-8", SOUP_MEMORY_STATIC,
                                    computer_use_unavailable, sizeof computer_use_unavailable - 1);
}

#define CU(method, path) { method, "/computeruse" path, handle_computer_use, NULL, 0, "computeruse" }

static const MrRoute routes[] = {
  { "POST", "/lsp/start", handle_lsp_start, NULL, 0, "lsp-start" },
  { "POST", "/lsp/stop", handle_lsp_stop, NULL, 0, "lsp-stop" },
  { "POST", "/lsp/did-open", handle_lsp_document, NULL, 0, "lsp-did-open" },
  { "POST", "/lsp/did-close", handle_lsp_document, NULL, 0, "lsp-did-close" },
  { "POST", "/lsp/completions", handle_lsp_completions, NULL, 0, "lsp-completions" },
  { "GET", "/lsp/document-symbols", handle_lsp_document_symbols, NULL, 0, "lsp-document-symbols" },
  { "GET", "/lsp/workspacesymbols", handle_lsp_workspace_symbols, NULL, 0, "lsp-workspace-symbols" },

  /* lifecycle and processes */
  CU ("POST", "/start"),
  CU ("POST", "/stop"),
  CU ("GET", "/status"),
  CU ("GET", "/process-status"),
  CU ("GET", "/process/{processName}/status"),
  CU ("POST", "/process/{processName}/restart"),
  CU ("GET", "/process/{processName}/logs"),
  CU ("GET", "/process/{processName}/errors"),
  /* screenshots */
  CU ("GET", "/screenshot"),
  CU ("GET", "/screenshot/region"),
  CU ("GET", "/screenshot/compressed"),
  CU ("GET", "/screenshot/region/compressed"),
  /* mouse and keyboard */
  CU ("GET", "/mouse/position"),
  CU ("POST", "/mouse/move"),
  CU ("POST", "/mouse/click"),
  CU ("POST", "/mouse/drag"),
  CU ("POST", "/mouse/scroll"),
  CU ("POST", "/keyboard/type"),
  CU ("POST", "/keyboard/key"),
  CU ("POST", "/keyboard/hotkey"),
  /* display */
  CU ("GET", "/display/info"),
  CU ("GET", "/display/windows"),
  /* accessibility tree (newer clients) */
  CU ("GET", "/a11y/tree"),
  CU ("POST", "/a11y/find"),
  CU ("POST", "/a11y/node/focus"),
  CU ("POST", "/a11y/node/invoke"),
  CU ("POST", "/a11y/node/value"),
  /* screen recordings (newer clients) */
  CU ("GET", "/recordings"),
  CU ("POST", "/recordings/start"),
  CU ("POST", "/recordings/stop"),
  CU ("GET", "/recordings/{id}"),
  CU ("GET", "/recordings/{id}/download"),
  CU ("DELETE", "/recordings/{id}"),
};

void
mr_tb_register_tier3 (MrRouter *router)
{
  mr_router_add_all (router, routes, G_N_ELEMENTS (routes));
}
