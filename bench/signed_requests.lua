-- wrk script: replays pre-signed webhook deliveries, one line each: timestamp TAB signature TAB body.
-- Every delivery carries its own event id, so the engine's dedupe never short-circuits.
local deliveries = {}
local next_index = 1

function init(args)
  for line in io.lines(args[1]) do
    local stamp, signature, body = line:match("^([^\t]+)\t([^\t]+)\t(.*)$")
    deliveries[#deliveries + 1] = wrk.format("POST", args[2], {
      ["Content-Type"] = "application/json",
      ["X-WHOOP-Signature-Timestamp"] = stamp,
      ["X-WHOOP-Signature"] = signature,
    }, body)
  end
end

function request()
  local request = deliveries[next_index]
  next_index = next_index % #deliveries + 1
  return request
end
