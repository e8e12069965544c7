"""Tier 3 toolbox routes: computer use (the daemon's answers without its plugin) and LSP
(the daemon's answers without a language server), through the runner's toolbox proxy."""
import pytest

SANDBOX = "tier3-sbx"

UNAVAILABLE = {
    "message": "Computer-use functionality is not available",
    "details": "The computer-use plugin failed to initialize due to missing dependencies in the runtime environment.",
    "solution": "Install the required X11 dependencies (x11-apps, xvfb, etc.) to enable computer-use functionality. "
                "Check the daemon logs for specific error details.",
}

# Every route of the daemon and of the official clients' ComputerUseApi (0.161 and 0.218)
COMPUTER_USE_ROUTES = [
    ("POST", "/computeruse/start"), ("POST", "/computeruse/stop"), ("GET", "/computeruse/status"),
    ("GET", "/computeruse/process-status"),
    ("GET", "/computeruse/process/xvfb/status"), ("POST", "/computeruse/process/xvfb/restart"),
    ("GET", "/computeruse/process/xvfb/logs"), ("GET", "/computeruse/process/xvfb/errors"),
    ("GET", "/computeruse/screenshot?showCursor=true"),
    ("GET", "/computeruse/screenshot/region?x=0&y=0&width=10&height=10"),
    ("GET", "/computeruse/screenshot/compressed?format=jpeg&quality=50&scale=0.5"),
    ("GET", "/computeruse/screenshot/region/compressed?X=0&Y=0&Width=5&Height=5"),
    ("GET", "/computeruse/mouse/position"), ("POST", "/computeruse/mouse/move"),
    ("POST", "/computeruse/mouse/click"), ("POST", "/computeruse/mouse/drag"), ("POST", "/computeruse/mouse/scroll"),
    ("POST", "/computeruse/keyboard/type"), ("POST", "/computeruse/keyboard/key"),
    ("POST", "/computeruse/keyboard/hotkey"),
    ("GET", "/computeruse/display/info"), ("GET", "/computeruse/display/windows"),
    ("GET", "/computeruse/a11y/tree"), ("POST", "/computeruse/a11y/find"),
    ("POST", "/computeruse/a11y/node/focus"), ("POST", "/computeruse/a11y/node/invoke"),
    ("POST", "/computeruse/a11y/node/value"),
    ("GET", "/computeruse/recordings"), ("POST", "/computeruse/recordings/start"),
    ("POST", "/computeruse/recordings/stop"), ("GET", "/computeruse/recordings/rec-1"),
    ("GET", "/computeruse/recordings/rec-1/download"), ("DELETE", "/computeruse/recordings/rec-1"),
]


@pytest.fixture(scope="module")
def call(runner):
    runner.create_sandbox(SANDBOX)

    def do(method, route, body=None, **kw):
        return runner.request(method, f"/sandboxes/{SANDBOX}/toolbox{route}", body=body, **kw)
    return do


@pytest.mark.parametrize("method,route", COMPUTER_USE_ROUTES)
def test_computer_use_is_unavailable(call, method, route):
    body = {"x": 1, "y": 2} if method == "POST" else None
    r = call(method, route, body)
    assert r.status == 503, r
    assert r.json() == UNAVAILABLE
    assert r.header("Content-Type").startswith("application/json")


def test_computer_use_unknown_route_is_not_found(call):
    for method, route in [("GET", "/computeruse/nothing"), ("DELETE", "/computeruse/start"),
                          ("GET", "/computeruse/mouse/click")]:
        r = call(method, route)
        assert r.status == 404 and r.text == "404 page not found", (method, route, r)


def error(r, status):
    assert r.status == status, r
    body = r.json()
    assert body["statusCode"] == status
    return body["message"]


def test_lsp_start_and_stop_fail_without_a_language_server(call):
    for lang in ("python", "typescript", "javascript"):
        body = {"languageId": lang, "pathToProject": "/tmp"}
        assert error(call("POST", "/lsp/start", body), 500) == "error starting LSP server"
        assert error(call("POST", "/lsp/stop", body), 500) == "error stopping LSP server"
    r = call("POST", "/lsp/start", {"languageId": "python", "pathToProject": "/tmp"})
    assert r.json()["code"] == "Internal Server Error" and r.json()["path"] == "/lsp/start"


def test_lsp_body_validation(call):
    assert error(call("POST", "/lsp/start", {"languageId": "python"}), 400) == (
        "invalid request body: Key: 'LspServerRequest.PathToProject' Error:Field validation for "
        "'PathToProject' failed on the 'required' tag")
    assert error(call("POST", "/lsp/did-open", {"languageId": "python", "pathToProject": "/p"}), 400) == (
        "invalid request body: Key: 'LspDocumentRequest.Uri' Error:Field validation for 'Uri' failed on the "
        "'required' tag")
    assert error(call("POST", "/lsp/completions", {}), 400).startswith(
        "invalid request body: Key: 'LspCompletionParams.LanguageId' Error:Field validation")
    assert error(call("POST", "/lsp/stop", None, raw_body=b"[1]",
                      headers={"Content-Type": "application/json"}), 400).startswith("invalid request body: ")


@pytest.mark.parametrize("route", ["/lsp/did-open", "/lsp/did-close", "/lsp/completions"])
def test_lsp_document_routes_without_server(call, route):
    doc = {"languageId": "python", "pathToProject": "/p", "uri": "file:///p/a.py",
           "position": {"line": 0, "character": 1}, "context": {"triggerKind": 1}}
    assert error(call("POST", route, doc), 400) == "server not initialized"
    assert error(call("POST", route, {**doc, "languageId": "typescript"}), 400) == "server not initialized"
    assert error(call("POST", route, {**doc, "languageId": "rust"}), 400) == "unsupported language: rust"


def test_lsp_symbol_queries(call):
    q = "/lsp/document-symbols"
    assert error(call("GET", q), 400) == "languageId is required"
    assert error(call("GET", q + "?languageId=python"), 400) == "pathToProject is required"
    assert error(call("GET", q + "?languageId=python&pathToProject=/p"), 400) == "uri is required"
    assert error(call("GET", q + "?languageId=python&pathToProject=/p&uri=file:///p/a.py"), 400) == \
        "server not initialized"
    assert error(call("GET", q + "?languageId=go&pathToProject=/p&uri=file:///p/a.go"), 400) == \
        "unsupported language: go"
    w = "/lsp/workspacesymbols"
    assert error(call("GET", w + "?languageId=python&pathToProject=/p"), 400) == "query is required"
    assert error(call("GET", w + "?query=f&pathToProject=/p"), 400) == "languageId is required"
    assert error(call("GET", w + "?query=f&languageId=python"), 400) == "pathToProject is required"
    assert error(call("GET", w + "?query=f&languageId=python&pathToProject=/p"), 400) == "server not initialized"
