-- Batch upsert of new TrafficFlowObserved entities (3 numeric attributes each).
-- Arguments: entities per batch, then the first id number for this run.
local counter = 0
local threads = 0
local batch = 1000
local first = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  batch = tonumber(args[1]) or 1000
  first = tonumber(args[2]) or 0
end

request = function()
  local parts = {}
  local base = first + tid * 100000000 + counter * batch
  counter = counter + 1
  for i = 1, batch do
    parts[i] = string.format(
      '{"id":"urn:ngsi-ld:TrafficFlowObserved:%d","type":"TrafficFlowObserved",' ..
      '"intensity":{"type":"Property","value":%d},' ..
      '"averageVehicleSpeed":{"type":"Property","value":%d.5},' ..
      '"occupancy":{"type":"Property","value":0.%d}}',
      base + i, i, i % 90, i % 10)
  end
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, "[" .. table.concat(parts, ",") .. "]")
end
