-- wrk-create.lua: POST /sandboxes with a new sandbox id each time (wrk-runner.sh).
local n = 0

request = function()
  n = n + 1
  local headers = {}
  for k, v in pairs(wrk.headers) do headers[k] = v end
  headers["Content-Type"] = "application/json"
  local body = string.format('{"id":"create-%d","userId":"u","snapshot":"ubuntu:22.04","osUser":"daytona",' ..
                             '"cpuQuota":1,"memoryQuota":1,"storageQuota":3}', n)
  return wrk.format("POST", "/sandboxes", headers, body)
end
