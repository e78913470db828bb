-- Telemetry: batch upserts of readings from a fixed pool of sensors (existing entities, 3 numeric
-- attributes each, new values every time). Arguments: entities per batch, sensors in the pool.
local counter = 0
local threads = 0
local batch = 1000
local pool = 10000

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  batch = tonumber(args[1]) or 1000
  pool = tonumber(args[2]) or 10000
end

request = function()
  local parts = {}
  local base = (tid * 7919 + counter * batch) % pool
  counter = counter + 1
  for i = 1, batch do
    local number = (base + i) % pool
    parts[i] = string.format(
      '{"id":"urn:ngsi-ld:TrafficFlowObserved:%d","type":"TrafficFlowObserved",' ..
      '"intensity":{"type":"Property","value":%d},' ..
      '"averageVehicleSpeed":{"type":"Property","value":%d.5},' ..
      '"occupancy":{"type":"Property","value":0.%d}}',
      number, (counter + i) % 1000, (counter + i) % 90, (counter + i) % 10)
  end
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, "[" .. table.concat(parts, ",") .. "]")
end
