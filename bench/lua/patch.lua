-- PATCH one entity's attributes: a new value on every request.
local counter = 0
request = function()
  counter = counter + 1
  local body = string.format(
    '{"intensity":{"type":"Property","value":%d},"averageVehicleSpeed":{"type":"Property","value":%d.5}}',
    counter, counter % 90)
  return wrk.format("PATCH", nil, {["Content-Type"] = "application/json"}, body)
end
