-- PATCH one entity's attributes: a new value on every request.
local counter = 0
request = function()
  counter = counter + 1
  local body = string.format(
    '{"intensity":{"type":"Property","value":%d},"averageVehicleSpeed":{"type":"Property","value":%d.5}}',
    counter, counter % 90)
  local headers = {["Content-Type"] = "application/json"}
  for name, value in pairs(wrk.headers) do headers[name] = value end  -- wrk -H (an API key)
  return wrk.format("PATCH", nil, headers, body)
end
